//! Prediction with a tabular network on the host: its weights are copied out of burn once, then
//! each batch runs through every layer in blocks of rows, one block per task on all cores, so a
//! block's activations stay in cache from the first layer to the heads. Every layer is one GEMM
//! with its bias, layer norm and activation applied in place, instead of a tensor operation per
//! step with a pass over memory and a dispatch each.

use crate::kernels::LANES;
use crate::kernels::matmul::{View, matmul};
use crate::tabular::{Activation, LAYER_NORM_EPSILON, TabularNet};
use burn::module::Param;
use burn::prelude::*;
use rayon::prelude::*;
use std::cell::RefCell;

/// Matrix rows (table rows × members) per block: enough for an efficient GEMM, few enough
/// that a block's activations stay in the core's cache. Fixed, so that a row's result does not
/// depend on the number of threads.
const BLOCK_MATRIX_ROWS: usize = 128;

/// A tabular network's weights on the host, ready to predict; see the module docs.
#[derive(Debug, Clone)]
pub struct TabularPredictor {
    inputs: usize,
    width: usize,
    outputs: usize,
    members: usize,
    activation: Activation,
    first: Dense,
    hidden: Vec<Dense>,
    /// The members' ±1 signs `[members, width]`, when there is more than one member.
    adapter: Option<Vec<f32>>,
    /// Per-member head weights, transposed to `[members, outputs, width]`.
    head_weight: Vec<f32>,
    /// Per-member head biases `[members, outputs]`.
    head_bias: Vec<f32>,
}

/// One hidden layer: `inputs × width` weights, bias, optional layer norm.
#[derive(Debug, Clone)]
struct Dense {
    inputs: usize,
    weight: Vec<f32>,
    bias: Vec<f32>,
    norm: Option<Norm>,
}

/// Layer-norm scale and shift.
#[derive(Debug, Clone)]
struct Norm {
    gamma: Vec<f32>,
    beta: Option<Vec<f32>>,
}

/// The values of a parameter, row-major.
fn host<const D: usize>(p: &Param<Tensor<D>>) -> Vec<f32> {
    p.val()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("f32 parameters")
}

impl TabularPredictor {
    /// Copies the weights of `net` to the host.
    pub fn new(net: &TabularNet) -> Self {
        let dense = |block: &crate::tabular::Block| {
            let [inputs, _] = block.linear.weight.dims();
            Dense {
                inputs,
                weight: host(&block.linear.weight),
                bias: match &block.linear.bias {
                    Some(b) => host(b),
                    None => vec![0.0; block.linear.weight.dims()[1]],
                },
                norm: block.norm.as_ref().map(|n| Norm {
                    gamma: host(&n.gamma),
                    beta: n.beta.as_ref().map(host),
                }),
            }
        };
        let first = dense(&net.hidden[0]);
        let hidden: Vec<Dense> = net.hidden[1..].iter().map(dense).collect();
        let [members, width, outputs] = net.head_weight.dims();
        let head = host(&net.head_weight);
        let mut head_weight = vec![0.0; head.len()];
        for m in 0..members {
            for j in 0..width {
                for o in 0..outputs {
                    head_weight[(m * outputs + o) * width + j] =
                        head[(m * width + j) * outputs + o];
                }
            }
        }
        Self {
            inputs: first.inputs,
            width,
            outputs,
            members,
            activation: Activation::from_code(net.activation),
            first,
            hidden,
            adapter: net.adapter.as_ref().map(host),
            head_weight,
            head_bias: host(&net.head_bias),
        }
    }

    /// Values per input row.
    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// Ensemble members, whose outputs [`Self::forward`] gives side by side.
    pub fn members(&self) -> usize {
        self.members
    }

    /// Outputs per member.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// Per-member outputs `[rows, members, outputs]` (logits, or standardised values) for the
    /// `rows` rows of `x` (row-major, [`Self::inputs`] values each), as
    /// [`TabularNet::forward`] computes them; blocks run on all cores.
    pub fn forward(&self, x: &[f32], rows: usize) -> Vec<f32> {
        self.forward_blocks(x, rows, true)
    }

    /// [`Self::forward`] with every block on the calling thread, for callers whose other
    /// cores have other work (a server under load).
    pub fn forward_on_this_thread(&self, x: &[f32], rows: usize) -> Vec<f32> {
        self.forward_blocks(x, rows, false)
    }

    fn forward_blocks(&self, x: &[f32], rows: usize, parallel: bool) -> Vec<f32> {
        assert_eq!(x.len(), rows * self.inputs, "predictor input size");
        let block = (BLOCK_MATRIX_ROWS / self.members).max(1);
        let per_row = self.members * self.outputs;
        let mut out = vec![0.0; rows * per_row];
        if parallel && rows > block {
            x.par_chunks(block * self.inputs.max(1))
                .zip(out.par_chunks_mut(block * per_row))
                .for_each(|(x, out)| self.block(x, out.len() / per_row, out));
        } else {
            // No hand-off to the pool's threads: one block, or a caller that asked for none.
            let x_blocks = x.chunks(block * self.inputs.max(1));
            for (x, out) in x_blocks.zip(out.chunks_mut(block * per_row)) {
                self.block(x, out.len() / per_row, out);
            }
        }
        out
    }

    /// Runs `rows` rows through the network into `out`.
    fn block(&self, x: &[f32], rows: usize, out: &mut [f32]) {
        thread_local! {
            static SCRATCH: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
        }
        SCRATCH.with_borrow_mut(|(a, b)| {
            let k = self.members;
            let w = self.width;
            let len = rows * k * w;
            if a.len() < len {
                a.resize(len, 0.0);
                b.resize(len, 0.0);
            }
            let (mut h, mut next) = (&mut a[..len], &mut b[..len]);
            self.layer(
                &self.first,
                View::new(x, rows, self.inputs),
                &mut next[..rows * w],
            );
            match &self.adapter {
                Some(signs) => {
                    for (r, row) in next[..rows * w].chunks_exact(w).enumerate() {
                        for (m, member) in h[r * k * w..(r + 1) * k * w]
                            .chunks_exact_mut(w)
                            .enumerate()
                        {
                            for ((v, &x), &s) in member.iter_mut().zip(row).zip(&signs[m * w..]) {
                                *v = x * s;
                            }
                        }
                    }
                }
                None => std::mem::swap(&mut h, &mut next),
            }
            for dense in &self.hidden {
                self.layer(dense, View::new(h, rows * k, w), next);
                std::mem::swap(&mut h, &mut next);
            }
            let heads = h.chunks_exact(w).zip(out.chunks_exact_mut(self.outputs));
            for (i, (features, out)) in heads.enumerate() {
                let m = i % k;
                for (o, value) in out.iter_mut().enumerate() {
                    let weights = &self.head_weight[(m * self.outputs + o) * w..][..w];
                    *value = self.head_bias[m * self.outputs + o] + dot(features, weights);
                }
            }
        });
    }

    /// `dst` becomes the activation of `dense` applied to `x`.
    fn layer(&self, dense: &Dense, x: View, dst: &mut [f32]) {
        let width = dense.bias.len();
        for row in dst.chunks_exact_mut(width) {
            row.copy_from_slice(&dense.bias);
        }
        matmul(dst, x, View::new(&dense.weight, dense.inputs, width), true);
        for row in dst.chunks_exact_mut(width) {
            if let Some(norm) = &dense.norm {
                layer_norm(row, norm);
            }
            match self.activation {
                Activation::Relu => row.iter_mut().for_each(|v| *v = v.max(0.0)),
                Activation::Gelu => row.iter_mut().for_each(|v| {
                    *v = 0.5 * *v * (1.0 + libm::erff(*v / std::f32::consts::SQRT_2))
                }),
                Activation::Silu => row.iter_mut().for_each(|v| *v /= 1.0 + (-*v).exp()),
            }
        }
    }
}

/// Normalises `row` to mean 0 and variance 1 (biased), then scales and shifts it.
fn layer_norm(row: &mut [f32], norm: &Norm) {
    let n = row.len() as f32;
    let mean = row.iter().sum::<f32>() / n;
    let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    let scale = 1.0 / (var + LAYER_NORM_EPSILON as f32).sqrt();
    for (i, v) in row.iter_mut().enumerate() {
        let z = (*v - mean) * scale * norm.gamma[i];
        *v = match &norm.beta {
            Some(beta) => z + beta[i],
            None => z,
        };
    }
}

/// The dot product of `a` and `b`, in [`LANES`] partial sums so that it vectorises.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let rest: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            lanes[i] += x[i] * y[i];
        }
    }
    lanes.iter().sum::<f32>() + rest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Body, Network, NetworkConfig, NetworkShape};
    use burn::tensor::Distribution;

    /// A network of the given shape with random layer-norm scales and shifts, so that the
    /// comparison exercises them too.
    fn network(activation: Activation, layer_norm: bool, ensemble: usize) -> TabularNet {
        let device = Device::flex();
        let config = NetworkConfig {
            inputs: 7,
            outputs: 3,
            body: Body::Tabular(NetworkShape {
                depth: 3,
                width: 40,
                dropout: 0.2,
                activation,
                layer_norm,
                ensemble,
            }),
        };
        let Network::Tabular(mut net) = config.init(&device, 5) else {
            panic!("a tabular config builds a tabular network");
        };
        for block in &mut net.hidden {
            if let Some(norm) = &mut block.norm {
                let random = || Tensor::<1>::random([40], Distribution::Normal(0.5, 0.5), &device);
                norm.gamma = Param::from_tensor(random());
                norm.beta = Some(Param::from_tensor(random()));
            }
        }
        net
    }

    #[test]
    fn the_host_predictor_computes_what_the_network_computes() {
        let device = Device::flex();
        let rows = 70;
        let x = Tensor::<2>::random([rows, 7], Distribution::Normal(0.0, 2.0), &device);
        let values = x.to_data().try_into_vec::<f32>().unwrap();
        for activation in [Activation::Relu, Activation::Gelu, Activation::Silu] {
            for layer_norm in [false, true] {
                for ensemble in [1, 4] {
                    let net = network(activation, layer_norm, ensemble);
                    let expected = net
                        .forward(x.clone())
                        .into_data()
                        .try_into_vec::<f32>()
                        .unwrap();
                    let got = TabularPredictor::new(&net).forward(&values, rows);
                    assert_eq!(got.len(), rows * ensemble * 3);
                    let worst = got
                        .iter()
                        .zip(&expected)
                        .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
                        .fold(0f32, f32::max);
                    assert!(
                        worst < 1e-5,
                        "{activation:?}, layer norm {layer_norm}, {ensemble} members: off by {worst}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_row_gets_the_same_prediction_alone_as_in_a_batch() {
        let net = network(Activation::Relu, false, 8);
        let predictor = TabularPredictor::new(&net);
        let x: Vec<f32> = (0..50 * 7).map(|i| ((i * 37) % 11) as f32 - 5.0).collect();
        let all = predictor.forward(&x, 50);
        // The blocks are the same on one thread as on all cores, so the results are too.
        assert_eq!(predictor.forward_on_this_thread(&x, 50), all);
        let per_row = 8 * 3;
        for r in [0, 17, 49] {
            let alone = predictor.forward(&x[r * 7..(r + 1) * 7], 1);
            for (a, b) in alone.iter().zip(&all[r * per_row..(r + 1) * per_row]) {
                assert!((a - b).abs() < 1e-5, "row {r}: {a} alone, {b} in the batch");
            }
        }
        assert!(predictor.forward(&[], 0).is_empty());
    }
}
