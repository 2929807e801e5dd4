//! A BERT encoder in burn (embeddings, then post-norm transformer layers with multi-head
//! self-attention and a GELU feed-forward block), built from a Hugging Face checkpoint's
//! `config.json` and weights.

use crate::TextError;
use crate::checkpoint::{Stored, Weights};
use crate::infer::Packed;
use burn::module::Param;
use burn::module::ParamId;
use burn::nn::{Embedding, LayerNorm, LayerNormConfig, Linear};
use burn::prelude::*;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

/// The architecture, as a Hugging Face BERT `config.json` gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    /// Tokens in the vocabulary.
    pub vocab_size: usize,
    /// Width of every hidden state.
    pub hidden_size: usize,
    /// Transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Width of the feed-forward block.
    pub intermediate_size: usize,
    /// Longest sequence the position embeddings cover.
    pub max_position_embeddings: usize,
    /// Segment types (2 for BERT).
    #[serde(default = "two")]
    pub type_vocab_size: usize,
    /// Layer norm's epsilon.
    #[serde(default = "bert_epsilon")]
    pub layer_norm_eps: f64,
    /// The feed-forward activation; Kiln runs "gelu" (the exact, erf-based one).
    #[serde(default = "gelu_name")]
    pub hidden_act: String,
    /// The padding token's id (0 for BERT's vocabularies).
    #[serde(default)]
    pub pad_token_id: u32,
}

/// BERT's segment type count.
fn two() -> usize {
    2
}

/// BERT's layer norm epsilon.
fn bert_epsilon() -> f64 {
    1e-12
}

/// BERT's activation.
fn gelu_name() -> String {
    "gelu".into()
}

impl BertConfig {
    /// Checks what Kiln can run, naming the `file` it came from.
    pub fn validate(&self, file: &str) -> Result<(), TextError> {
        let bad = |reason: String| {
            Err(TextError::Malformed {
                file: file.into(),
                reason,
            })
        };
        if self.hidden_act != "gelu" {
            return bad(format!(
                "hidden_act '{}' is not supported; Kiln runs BERT-family encoders with \"gelu\"",
                self.hidden_act
            ));
        }
        if self.num_attention_heads == 0
            || !self.hidden_size.is_multiple_of(self.num_attention_heads)
        {
            return bad(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        Ok(())
    }
}

/// One transformer layer: self-attention and a feed-forward block, each added to its input
/// and layer-normalised.
#[derive(Module, Debug)]
pub struct Layer {
    pub(crate) query: Linear,
    pub(crate) key: Linear,
    pub(crate) value: Linear,
    pub(crate) attention_out: Linear,
    pub(crate) attention_norm: LayerNorm,
    pub(crate) intermediate: Linear,
    pub(crate) output: Linear,
    pub(crate) output_norm: LayerNorm,
}

/// A BERT encoder: token, position and segment embeddings, then transformer layers.
#[derive(Module, Debug)]
pub struct Bert {
    pub(crate) word: Embedding,
    pub(crate) position: Embedding,
    pub(crate) segment: Embedding,
    pub(crate) norm: LayerNorm,
    pub(crate) layers: Vec<Layer>,
    heads: usize,
    eps: f64,
}

/// A tensor on `device` from stored values.
fn tensor<const D: usize>(stored: Stored, device: &Device) -> Tensor<D> {
    let shape: [usize; D] = stored.shape.try_into().expect("shape checked on take");
    Tensor::from_data(TensorData::new(stored.values, shape), device)
}

/// Builds the network's modules from a checkpoint's tensors.
struct Builder<'a> {
    weights: &'a mut Weights,
    config: &'a BertConfig,
    device: &'a Device,
}

impl Builder<'_> {
    /// A linear layer from PyTorch's `[out, in]` weight and its bias.
    fn linear(&mut self, name: &str, inputs: usize, outputs: usize) -> Result<Linear, TextError> {
        let weight: Tensor<2> = tensor(
            self.weights
                .take(&format!("{name}.weight"), &[outputs, inputs])?,
            self.device,
        );
        let bias: Tensor<1> = tensor(
            self.weights.take(&format!("{name}.bias"), &[outputs])?,
            self.device,
        );
        Ok(Linear {
            weight: Param::from_tensor(weight.transpose()),
            bias: Some(Param::from_tensor(bias)),
        })
    }

    /// A layer norm from its `weight` (scale) and `bias` (shift).
    fn norm(&mut self, name: &str) -> Result<LayerNorm, TextError> {
        let d = self.config.hidden_size;
        let mut norm = LayerNormConfig::new(d)
            .with_epsilon(self.config.layer_norm_eps)
            .init(self.device);
        norm.gamma = Param::from_tensor(tensor(
            self.weights.take(&format!("{name}.weight"), &[d])?,
            self.device,
        ));
        norm.beta = Some(Param::from_tensor(tensor(
            self.weights.take(&format!("{name}.bias"), &[d])?,
            self.device,
        )));
        Ok(norm)
    }

    /// An embedding table of `rows` vectors.
    fn embedding(&mut self, name: &str, rows: usize) -> Result<Embedding, TextError> {
        let d = self.config.hidden_size;
        Ok(Embedding {
            weight: Param::from_tensor(tensor(
                self.weights.take(&format!("{name}.weight"), &[rows, d])?,
                self.device,
            )),
        })
    }

    /// Transformer layer `i`.
    fn layer(&mut self, i: usize) -> Result<Layer, TextError> {
        let (h, f) = (self.config.hidden_size, self.config.intermediate_size);
        let at = |part: &str| format!("encoder.layer.{i}.{part}");
        Ok(Layer {
            query: self.linear(&at("attention.self.query"), h, h)?,
            key: self.linear(&at("attention.self.key"), h, h)?,
            value: self.linear(&at("attention.self.value"), h, h)?,
            attention_out: self.linear(&at("attention.output.dense"), h, h)?,
            attention_norm: self.norm(&at("attention.output.LayerNorm"))?,
            intermediate: self.linear(&at("intermediate.dense"), h, f)?,
            output: self.linear(&at("output.dense"), f, h)?,
            output_norm: self.norm(&at("output.LayerNorm"))?,
        })
    }
}

impl Bert {
    /// The encoder of `config` with the checkpoint's `weights`, on `device`.
    pub fn from_weights(
        config: &BertConfig,
        weights: &mut Weights,
        device: &Device,
    ) -> Result<Self, TextError> {
        let mut b = Builder {
            weights,
            config,
            device,
        };
        Ok(Self {
            word: b.embedding("embeddings.word_embeddings", config.vocab_size)?,
            position: b.embedding(
                "embeddings.position_embeddings",
                config.max_position_embeddings,
            )?,
            segment: b.embedding("embeddings.token_type_embeddings", config.type_vocab_size)?,
            norm: b.norm("embeddings.LayerNorm")?,
            layers: (0..config.num_hidden_layers)
                .map(|i| b.layer(i))
                .collect::<Result<_, _>>()?,
            heads: config.num_attention_heads,
            eps: config.layer_norm_eps,
        })
    }

    /// The encoder of `config` with every weight zero, to be overwritten by stored weights.
    pub fn blank(config: &BertConfig, device: &Device) -> Self {
        Self::from_weights(config, &mut Weights::blank(), device)
            .expect("blank weights have every shape")
    }

    /// Transformer layers.
    pub fn depth(&self) -> usize {
        self.layers.len()
    }

    /// Hidden states `[batch, tokens, hidden]` of token `ids` `[batch, tokens]`; `mask` is 1
    /// for real tokens and 0 for padding, which no token attends to.
    pub fn forward(&self, ids: Tensor<2, Int>, mask: Tensor<2>) -> Tensor<3> {
        let x = self.embed(ids);
        self.run_layers(x, mask, 0)
    }

    /// Values per hidden state.
    pub fn width(&self) -> usize {
        self.norm.gamma.dims()[0]
    }

    /// Attention heads per layer.
    pub(crate) fn heads(&self) -> usize {
        self.heads
    }

    /// As [`Bert::forward`], but the embeddings and the first `frozen` layers are taken as
    /// fixed: they run on plain buffers (the packed inference, built once per encoder and
    /// kept), outside autodiff, so no gradient reaches them and none of their work is
    /// recorded; the layers above run in burn. For fine-tuning the top layers only. The
    /// real tokens of each row must come first, padding after.
    pub fn forward_frozen(&self, ids: Tensor<2, Int>, mask: Tensor<2>, frozen: usize) -> Tensor<3> {
        let frozen = frozen.min(self.layers.len());
        if frozen == 0 {
            return self.forward(ids, mask);
        }
        let [batch, tokens] = ids.dims();
        let packed = self.frozen_part(frozen);
        let ids: Vec<i64> = ids
            .into_data()
            .convert::<i64>()
            .try_into_vec()
            .expect("int tensor");
        let real: Vec<f32> = mask
            .clone()
            .into_data()
            .convert::<f32>()
            .try_into_vec()
            .expect("float tensor");
        let seqs: Vec<Vec<u32>> = (0..batch)
            .map(|b| {
                (0..tokens)
                    .take_while(|&t| real[b * tokens + t] > 0.5)
                    .map(|t| ids[b * tokens + t] as u32)
                    .collect()
            })
            .collect();
        let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
        let states = packed.forward(&refs);
        let h = self.width();
        let mut padded = vec![0f32; batch * tokens * h];
        let mut at = 0;
        for (b, s) in seqs.iter().enumerate() {
            let n = s.len() * h;
            padded[b * tokens * h..b * tokens * h + n].copy_from_slice(&states[at..at + n]);
            at += n;
        }
        let below = Tensor::from_data(TensorData::new(padded, [batch, tokens, h]), &mask.device());
        self.run_layers(below, mask, frozen)
    }

    /// The packed copy of the embeddings and first `frozen` layers, made on first use and
    /// kept by the word embeddings' parameter id: frozen weights never change, so a copy
    /// serves every later batch of the same encoder.
    fn frozen_part(&self, frozen: usize) -> Arc<Packed> {
        static KEPT: Mutex<Vec<(ParamId, usize, Arc<Packed>)>> = Mutex::new(Vec::new());
        let id = self.word.weight.id;
        let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, _, p)) = kept.iter().find(|(i, n, _)| *i == id && *n == frozen) {
            return p.clone();
        }
        let packed = Arc::new(Packed::of(self, frozen, self.eps));
        // A few encoders at most (a served model's versions); the oldest goes first.
        if kept.len() >= 4 {
            kept.remove(0);
        }
        kept.push((id, frozen, packed.clone()));
        packed
    }

    /// The word embeddings of token `ids` `[batch, tokens]`, before positions are added.
    pub fn word_embeddings(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        self.word.forward(ids)
    }

    /// As [`Bert::forward`], from the tokens' word embeddings `[batch, tokens, hidden]` (see
    /// [`Bert::word_embeddings`]) instead of their ids: the input that integrated gradients
    /// move along.
    pub fn forward_words(&self, words: Tensor<3>, mask: Tensor<2>) -> Tensor<3> {
        let x = self.embed_words(words);
        self.run_layers(x, mask, 0)
    }

    /// The embedded, normalised tokens.
    fn embed(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        self.embed_words(self.word.forward(ids))
    }

    /// Word embeddings with positions and segments added, normalised.
    fn embed_words(&self, words: Tensor<3>) -> Tensor<3> {
        let [batch, tokens, _] = words.dims();
        let device = words.device();
        let positions = Tensor::<1, Int>::arange(0..tokens as i64, &device)
            .reshape([1, tokens])
            .expand([batch, tokens]);
        let segments = Tensor::<2, Int>::zeros([batch, tokens], &device);
        self.norm
            .forward(words + self.position.forward(positions) + self.segment.forward(segments))
    }

    /// Layers `first..` applied to `x`.
    fn run_layers(&self, mut x: Tensor<3>, mask: Tensor<2>, first: usize) -> Tensor<3> {
        let blocked = blocked(mask);
        for layer in self.layers.iter().skip(first) {
            x = layer.forward(x, blocked.clone(), self.heads);
        }
        x
    }
}

/// True where a key is padding, for every query `[batch, 1, tokens, tokens]` (the fused
/// attention shares it across heads without copying), from `mask` (1 for real tokens).
fn blocked(mask: Tensor<2>) -> Tensor<4, Bool> {
    let [batch, tokens] = mask.dims();
    mask.lower_elem(0.5)
        .reshape([batch, 1, 1, tokens])
        .expand([batch, 1, tokens, tokens])
}

impl Layer {
    /// The layer applied to `x` `[batch, tokens, hidden]`; no query attends to the keys
    /// `blocked` marks (`[batch, 1, tokens, tokens]`).
    fn forward(&self, x: Tensor<3>, blocked: Tensor<4, Bool>, heads: usize) -> Tensor<3> {
        let [batch, tokens, hidden] = x.dims();
        let width = hidden / heads;
        let split = |t: Tensor<3>| t.reshape([batch, tokens, heads, width]).swap_dims(1, 2);
        let q = split(self.query.forward(x.clone()));
        let k = split(self.key.forward(x.clone()));
        let v = split(self.value.forward(x.clone()));
        // softmax(q·kᵀ/√width, padding masked)·v in one fused operation: the scores of a
        // batch (heads × tokens² per text) are never materialised as a tensor.
        let context = attention(
            q,
            k,
            v,
            Some(blocked),
            None,
            AttentionModuleOptions::default(),
        )
        .swap_dims(1, 2)
        .reshape([batch, tokens, hidden]);
        let x = self
            .attention_norm
            .forward(self.attention_out.forward(context) + x);
        let inner = self.intermediate.forward(x.clone());
        // The fast GELU works on plain values; under autodiff, burn's keeps the gradient.
        let inner = if inner.is_autodiff() {
            burn::tensor::activation::gelu(inner)
        } else {
            gelu(inner)
        };
        self.output_norm.forward(self.output.forward(inner) + x)
    }
}

/// The exact (erf-based) GELU, x · Φ(x), computed on all cores with a branch-free erf (Abramowitz
/// and Stegun 7.1.26, error under 2e-7) that the compiler vectorises; burn's GELU calls a
/// scalar erf per value, which was a tenth of the encoder's time.
fn gelu(x: Tensor<3>) -> Tensor<3> {
    let device = x.device();
    let shape = x.dims();
    let mut values = x
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("float tensor");
    gelu_in_place(&mut values);
    Tensor::from_data(TensorData::new(values, shape), &device)
}

/// The exact GELU of every value, in place, on all cores, in loops compiled for the widest
/// vectors the CPU has.
pub(crate) fn gelu_in_place(values: &mut [f32]) {
    use rayon::prelude::*;
    values
        .par_chunks_mut(1 << 14)
        .for_each(|chunk| pulp::Arch::new().dispatch(Gelu(chunk)));
}

/// GELU in place over a chunk, run through pulp's dispatch so that its loop is compiled for
/// the widest vectors the CPU has.
struct Gelu<'a>(&'a mut [f32]);

impl pulp::WithSimd for Gelu<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        for v in self.0 {
            let x = *v;
            *v = 0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

/// erf(x), branch-free, absolute error under 2e-7 (Abramowitz and Stegun 7.1.26).
#[inline(always)]
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_8 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let y = 1.0 - poly * exp_neg(a * a);
    y.copysign(x)
}

/// 1.5 · 2²³: adding and subtracting it rounds an f32 of magnitude below 2²² to an integer.
const ROUND: f32 = 12_582_912.0;

/// e^-x for x ≥ 0, branch-free (range reduction to 2^n · e^r with |r| ≤ ln 2 / 2 and a
/// degree-6 polynomial, relative error about 1e-7); values below e^-87 become 0.
#[inline(always)]
pub(crate) fn exp_neg(x: f32) -> f32 {
    let y = (-x).max(-87.0);
    // Rounded by adding and subtracting 1.5 · 2²³ (|y · log₂e| < 126): `f32::round` is a
    // library call on baseline x86-64, which stopped the loop from vectorising.
    let n = (y * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = y - n * 0.693_145_75 - n * 1.428_606_8e-6;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    let out = p * scale;
    if x > 87.0 { 0.0 } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_gelu_matches_the_exact_one() {
        let device = Device::flex();
        let xs: Vec<f32> = (-4000..=4000).map(|i| i as f32 * 0.0025).collect();
        let n = xs.len();
        let t = Tensor::<3>::from_data(TensorData::new(xs.clone(), [1, 1, n]), &device);
        let fast = gelu(t.clone()).into_data().try_into_vec::<f32>().unwrap();
        let exact = burn::tensor::activation::gelu(t)
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        let worst = fast
            .iter()
            .zip(&exact)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 2e-6, "largest difference {worst}");
        assert_eq!(exp_neg(0.0), 1.0);
        assert!((exp_neg(1.0) - (-1f32).exp()).abs() < 1e-7);
        assert_eq!(exp_neg(100.0), 0.0);
    }
}
