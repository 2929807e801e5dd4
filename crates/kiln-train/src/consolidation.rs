//! Elastic weight consolidation (Kirkpatrick et al., 2017): while a trained network learns new
//! rows, a quadratic penalty `strength / 2 * sum_i F_i (w_i - w*_i)^2` holds each weight near
//! its earlier value `w*_i` in proportion to how much it mattered for the earlier rows, `F_i`
//! being the diagonal of the empirical Fisher information (the mean squared per-row gradient of
//! the loss) estimated on a sample of those rows.

use crate::fit::{Objective, copy_weights, training_loss};
use crate::predict::Matrix;
use burn::module::{ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use kiln_model::{Network, NetworkConfig};

/// Earlier rows used to estimate the Fisher information, at most.
pub const FISHER_ROWS: usize = 512;

/// The earlier weights and how much each mattered: what an update is held to.
#[derive(Debug, Clone, PartialEq)]
pub struct Consolidation {
    /// Every weight of the earlier network, in module order.
    anchor: Vec<f32>,
    /// The diagonal Fisher information of each weight on the earlier rows.
    fisher: Vec<f32>,
    /// The penalty's weight against the mean loss on the new rows.
    strength: f64,
}

impl Consolidation {
    /// Estimates the Fisher information of `model` (of shape `config`) on up to
    /// [`FISHER_ROWS`] of the `earlier` rows (class indices or values in the target's units), one
    /// row per gradient. `strength` weighs the penalty against the new rows' mean loss; the
    /// Bayesian reading of EWC sets it to (earlier rows represented) / (new training rows).
    pub fn estimate(
        model: &Network,
        config: &NetworkConfig,
        earlier: (Matrix, &[f32]),
        objective: &Objective,
        strength: f64,
    ) -> Self {
        let device = Device::flex().autodiff();
        let net = copy_weights(model, config, &device);
        let anchor = flatten_values(&net);
        let mut fisher = vec![0.0f32; anchor.len()];
        let (x, y) = earlier;
        let rows = x.rows.min(FISHER_ROWS);
        // Evenly spread over the rows, which are already a shuffled sample.
        let picked: Vec<usize> = (0..rows).map(|i| i * x.rows / rows.max(1)).collect();
        for &r in &picked {
            let input = x.tensor(r, r + 1, &device);
            let loss = training_loss(net.forward(input), &y[r..=r], objective, &[], &device);
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            let mut squares = SquaredGradients {
                grads: &grads,
                sums: &mut fisher,
                at: 0,
            };
            net.visit(&mut squares);
        }
        let n = picked.len().max(1) as f32;
        fisher.iter_mut().for_each(|f| *f /= n);
        Self {
            anchor,
            fisher,
            strength,
        }
    }

    /// The penalty's weight.
    pub fn strength(&self) -> f64 {
        self.strength
    }

    /// The mean Fisher information per weight: a scale for reports.
    pub fn mean_fisher(&self) -> f64 {
        self.fisher.iter().map(|&f| f64::from(f)).sum::<f64>() / self.fisher.len().max(1) as f64
    }

    /// The penalty's tensors on `device`, made once per fit.
    pub(crate) fn on(&self, device: &Device) -> Penalty {
        let n = self.anchor.len();
        Penalty {
            anchor: Tensor::from_data(TensorData::new(self.anchor.clone(), [n]), device),
            fisher: Tensor::from_data(
                TensorData::new(
                    self.fisher
                        .iter()
                        .map(|&f| f * (self.strength / 2.0) as f32)
                        .collect(),
                    [n],
                ),
                device,
            ),
        }
    }
}

/// [`Consolidation`] on a training device: added to each mini-batch's loss.
#[derive(Debug, Clone)]
pub struct Penalty {
    anchor: Tensor<1>,
    /// `F_i * strength / 2`.
    fisher: Tensor<1>,
}

impl Penalty {
    /// `sum_i F_i * strength / 2 * (w_i - w*_i)^2` for the weights of `model`, differentiable.
    pub fn of(&self, model: &Network) -> Tensor<1> {
        let mut parts = Flatten { parts: Vec::new() };
        model.visit(&mut parts);
        let weights = Tensor::cat(parts.parts, 0);
        ((weights - self.anchor.clone()).powi_scalar(2) * self.fisher.clone())
            .sum()
            .reshape([1])
    }
}

/// Collects every float parameter, flattened, in module order.
struct Flatten {
    parts: Vec<Tensor<1>>,
}

impl ModuleVisitor for Flatten {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        let n = t.shape().num_elements();
        self.parts.push(t.reshape([n]));
    }
}

/// Every weight of `model` as one vector, in module order.
fn flatten_values(model: &Network) -> Vec<f32> {
    let mut parts = Flatten { parts: Vec::new() };
    model.visit(&mut parts);
    parts
        .parts
        .into_iter()
        .flat_map(|t| t.into_data().try_to_vec::<f32>().expect("float weights"))
        .collect()
}

/// Adds each parameter's squared gradient to `sums`, in module order.
struct SquaredGradients<'a> {
    grads: &'a GradientsParams,
    sums: &'a mut [f32],
    at: usize,
}

impl ModuleVisitor for SquaredGradients<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let n = param.val().shape().num_elements();
        if let Some(g) = self.grads.get::<D>(param.id) {
            let g = g.into_data().try_to_vec::<f32>().expect("float gradients");
            for (s, v) in self.sums[self.at..self.at + n].iter_mut().zip(g) {
                *s += v * v;
            }
        }
        self.at += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_model::{Activation, Body, NetworkShape};

    fn config() -> NetworkConfig {
        NetworkConfig {
            inputs: 3,
            outputs: 2,
            body: Body::Tabular(NetworkShape {
                depth: 2,
                width: 8,
                dropout: 0.0,
                activation: Activation::Relu,
                layer_norm: false,
                ensemble: 2,
            }),
        }
    }

    #[test]
    fn the_penalty_is_zero_at_the_anchor_and_grows_with_distance() {
        let config = config();
        let model = config.init(&Device::flex(), 3);
        let x: Vec<f32> = (0..60).map(|i| ((i * 7) % 11) as f32 / 5.0 - 1.0).collect();
        let y: Vec<f32> = (0..20).map(|i| (i % 2) as f32).collect();
        let objective = Objective::Classification { classes: 2 };
        let c = Consolidation::estimate(
            &model,
            &config,
            (Matrix::new(&x, 20, 3), &y),
            &objective,
            4.0,
        );
        assert_eq!(c.anchor.len(), c.fisher.len());
        assert!(c.fisher.iter().all(|f| f.is_finite() && *f >= 0.0));
        assert!(c.mean_fisher() > 0.0, "the loss depends on the weights");
        let device = Device::flex().autodiff();
        let penalty = c.on(&device);
        let same = copy_weights(&model, &config, &device);
        let at_anchor: f32 = penalty.of(&same).into_scalar();
        assert!(
            at_anchor.abs() < 1e-9,
            "no penalty where the weights have not moved"
        );
        let other = config.init(&device, 99);
        let moved: f32 = penalty.of(&other).into_scalar();
        assert!(moved > 0.0);
        // Doubling the strength doubles the penalty.
        let twice = Consolidation {
            strength: 8.0,
            ..c.clone()
        }
        .on(&device);
        let doubled: f32 = twice.of(&other).into_scalar();
        assert!((doubled / moved - 2.0).abs() < 1e-4);
        // And it pulls: its gradient on a moved weight is non-zero.
        let grads = GradientsParams::from_grads(penalty.of(&other).backward(), &other);
        assert!(!grads.is_empty());
    }
}
