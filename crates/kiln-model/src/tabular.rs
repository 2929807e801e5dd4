//! The tabular network: a shared first layer, then `ensemble` members that share every weight
//! matrix but each scale the hidden features with their own vector (BatchEnsemble's rank-one
//! adapter, as in TabM-mini), each with its own output head. Members are trained together and
//! their predictions averaged.

use burn::module::Param;
use burn::nn::{LayerNorm, LayerNormConfig, Linear};
use burn::prelude::*;
use burn::tensor::activation;
use rand::{Rng, RngCore};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The nonlinearity between layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// max(0, x).
    #[default]
    Relu,
    /// Gaussian error linear unit.
    Gelu,
    /// x * sigmoid(x).
    Silu,
}

impl Activation {
    fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Activation::Relu => activation::relu(x),
            Activation::Gelu => activation::gelu(x),
            Activation::Silu => activation::silu(x),
        }
    }

    fn code(self) -> usize {
        self as usize
    }

    pub(crate) fn from_code(code: usize) -> Self {
        match code {
            1 => Activation::Gelu,
            2 => Activation::Silu,
            _ => Activation::Relu,
        }
    }
}

/// The layer norms' epsilon (burn's default), which the host predictor uses too.
pub(crate) const LAYER_NORM_EPSILON: f64 = 1e-5;

/// The hidden part of a tabular network: the `[model]` section of a Kiln config. The data
/// decides the inputs and outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkShape {
    /// Hidden layers.
    pub depth: usize,
    /// Units per hidden layer.
    pub width: usize,
    /// Dropout probability after each hidden layer.
    pub dropout: f64,
    /// Nonlinearity: relu, gelu or silu.
    pub activation: Activation,
    /// Layer normalisation after each hidden linear layer.
    pub layer_norm: bool,
    /// Ensemble members sharing weights (1 gives a plain MLP).
    pub ensemble: usize,
}

impl Default for NetworkShape {
    fn default() -> Self {
        Self {
            depth: 3,
            width: 256,
            dropout: 0.3,
            activation: Activation::Relu,
            layer_norm: false,
            ensemble: 8,
        }
    }
}

impl NetworkShape {
    /// Checks the shape is buildable, naming the offending config key.
    pub fn validate(&self) -> Result<(), String> {
        if self.depth == 0 || self.width == 0 || self.ensemble == 0 {
            return Err("model.depth, model.width and model.ensemble must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!(
                "model.dropout must be in [0, 1), not {}",
                self.dropout
            ));
        }
        Ok(())
    }
}

impl NetworkShape {
    /// Builds a freshly initialised network with `inputs` inputs and `outputs` outputs, every
    /// weight drawn on the host from `rng`.
    pub(crate) fn init(
        &self,
        inputs: usize,
        outputs: usize,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> TabularNet {
        let shape = self;
        let mut block = |inputs: usize| Block {
            linear: Linear {
                weight: uniform(rng, [inputs, shape.width], inputs, device),
                bias: Some(uniform(rng, [shape.width], inputs, device)),
            },
            norm: shape.layer_norm.then(|| {
                LayerNormConfig::new(shape.width)
                    .with_epsilon(LAYER_NORM_EPSILON)
                    .init(device)
            }),
        };
        let hidden: Vec<Block> = (0..shape.depth)
            .map(|i| block(if i == 0 { inputs } else { shape.width }))
            .collect();
        let k = shape.ensemble;
        // Random ±1 signs make the members differ from the first step (TabM's initialisation).
        let adapter = (k > 1).then(|| {
            let signs: Vec<f32> = (0..k * shape.width)
                .map(|_| if rng.next_u32() & 1 == 0 { -1.0 } else { 1.0 })
                .collect();
            Param::from_tensor(Tensor::from_data(
                TensorData::new(signs, [k, shape.width]),
                device,
            ))
        });
        TabularNet {
            hidden,
            adapter,
            head_weight: uniform(rng, [k, shape.width, outputs], shape.width, device),
            head_bias: uniform(rng, [k, outputs], shape.width, device),
            dropout: shape.dropout,
            activation: shape.activation.code(),
            ensemble: k,
        }
    }
}

/// A parameter drawn uniformly from ±1/sqrt(fan_in) (PyTorch's default for linear layers).
pub(crate) fn uniform<const D: usize>(
    rng: &mut ChaCha8Rng,
    dims: [usize; D],
    fan_in: usize,
    device: &Device,
) -> Param<Tensor<D>> {
    let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
    let n: usize = dims.iter().product();
    let values: Vec<f32> = (0..n).map(|_| rng.random_range(-bound..bound)).collect();
    Param::from_tensor(Tensor::from_data(TensorData::new(values, dims), device))
}

/// One hidden layer: linear, optional layer norm (activation and dropout are applied by the net).
#[derive(Module, Debug)]
pub struct Block {
    pub(crate) linear: Linear,
    pub(crate) norm: Option<LayerNorm>,
}

/// The tabular network; see the module docs.
#[derive(Module, Debug)]
pub struct TabularNet {
    pub(crate) hidden: Vec<Block>,
    pub(crate) adapter: Option<Param<Tensor<2>>>,
    pub(crate) head_weight: Param<Tensor<3>>,
    pub(crate) head_bias: Param<Tensor<2>>,
    dropout: f64,
    pub(crate) activation: usize,
    ensemble: usize,
}

impl TabularNet {
    /// Per-member outputs `[batch, ensemble, outputs]` (logits, or standardised values),
    /// without dropout: for evaluation and prediction.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<3> {
        self.run(x, None)
    }

    /// Per-member outputs with dropout, its masks drawn from `noise`: for training.
    pub fn forward_train(&self, x: Tensor<2>, noise: &mut ChaCha8Rng) -> Tensor<3> {
        self.run(x, Some(noise))
    }

    fn run(&self, x: Tensor<2>, mut noise: Option<&mut ChaCha8Rng>) -> Tensor<3> {
        let act = Activation::from_code(self.activation);
        let [batch, _] = x.dims();
        let mut layers = self.hidden.iter();
        let first = layers.next().expect("at least one hidden layer");
        let mut h = self.drop(act.apply(first.apply(x)), noise.as_deref_mut());
        let width = h.dims()[1];
        let k = self.ensemble;
        let Some(adapter) = &self.adapter else {
            // One member: stay in two dimensions, which is faster for the same result.
            for block in layers {
                h = self.drop(act.apply(block.apply(h)), noise.as_deref_mut());
            }
            let outputs = self.head_weight.dims()[2];
            let w = self.head_weight.val().reshape([width, outputs]);
            let out = h.matmul(w) + self.head_bias.val();
            return out.reshape([batch, 1, outputs]);
        };
        let mut h: Tensor<3> =
            h.unsqueeze_dim::<3>(1).expand([batch, k, width]) * adapter.val().unsqueeze_dim::<3>(0);
        for block in layers {
            h = self.drop(act.apply(block.apply(h)), noise.as_deref_mut());
        }
        // Per-member heads: [k, batch, width] x [k, width, outputs].
        let out = h.swap_dims(0, 1).matmul(self.head_weight.val());
        let out = out + self.head_bias.val().unsqueeze_dim::<3>(1);
        out.swap_dims(0, 1)
    }

    fn drop<const D: usize>(&self, x: Tensor<D>, noise: Option<&mut ChaCha8Rng>) -> Tensor<D> {
        crate::conv::dropout(x, self.dropout, noise)
    }

    /// Number of ensemble members.
    pub fn ensemble(&self) -> usize {
        self.ensemble
    }
}

impl Block {
    fn apply<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let y = self.linear.forward(x);
        match &self.norm {
            Some(norm) => norm.forward(y),
            None => y,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    use crate::{Body, NetworkConfig};

    fn config(ensemble: usize) -> NetworkConfig {
        NetworkConfig {
            inputs: 5,
            outputs: 3,
            body: Body::Tabular(NetworkShape {
                depth: 2,
                width: 8,
                dropout: 0.1,
                activation: Activation::Relu,
                layer_norm: true,
                ensemble,
            }),
        }
    }

    #[test]
    fn output_shape_is_batch_members_outputs() {
        let device = Device::flex();
        for k in [1, 4] {
            let net = config(k).init(&device, 1);
            let y = net.forward(Tensor::zeros([7, 5], &device));
            assert_eq!(y.dims(), [7, k, 3]);
        }
    }

    #[test]
    fn members_differ_but_share_weights() {
        let device = Device::flex();
        let net = config(4).init(&device, 3);
        let x = Tensor::<2>::random([2, 5], Distribution::Normal(0.0, 1.0), &device);
        let y = net.forward(x).into_data().try_into_vec::<f32>().unwrap();
        assert_ne!(y[0..3], y[3..6], "members give different outputs");
        let plain = config(1).init(&device, 3).num_params();
        assert!(
            net.num_params() < plain * 2,
            "members share the hidden weights"
        );
    }

    #[test]
    fn bad_shapes_are_refused_with_the_field_name() {
        let mut shape = NetworkShape {
            dropout: 1.0,
            ..NetworkShape::default()
        };
        assert!(shape.validate().unwrap_err().contains("dropout"));
        shape.dropout = 0.0;
        shape.depth = 0;
        assert!(shape.validate().unwrap_err().contains("depth"));
    }
}
