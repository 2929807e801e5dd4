//! A BERT encoder's forward pass for inference on the CPU, on plain buffers: the batch's real
//! tokens packed row after row (no padding anywhere), each layer's query, key and value
//! projections as one matrix product, biases, residuals, GELU and layer norms folded into
//! the passes that produce them, and the same buffers reused from layer to layer. burn's
//! tensors ([`Bert::forward`]) remain the differentiable path; this one gives the same
//! states (a test compares them) at a fraction of the memory traffic.

use crate::attention::{Rows, attention};
use crate::bert::{Bert, gelu_in_place};
use burn::module::Param;
use burn::nn::{LayerNorm, Linear};
use burn::prelude::*;
use gemm::{Parallelism, gemm};
use rayon::prelude::*;

/// A matrix `x · W` multiplies by: `W` row-major `[inputs, outputs]`, and its bias.
#[derive(Debug)]
struct Dense {
    weight: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

impl Dense {
    /// Several linear layers of the same input side by side (their outputs concatenated).
    fn of(layers: &[&Linear]) -> Self {
        let parts: Vec<(Vec<f32>, Vec<f32>, usize, usize)> = layers
            .iter()
            .map(|l| {
                let [inputs, outputs] = l.weight.val().dims();
                let bias = l.bias.as_ref().map_or(vec![0.0; outputs], values);
                (values(&l.weight), bias, inputs, outputs)
            })
            .collect();
        let inputs = parts[0].2;
        let outputs: usize = parts.iter().map(|p| p.3).sum();
        let mut weight = Vec::with_capacity(inputs * outputs);
        for i in 0..inputs {
            for (w, _, _, o) in &parts {
                weight.extend_from_slice(&w[i * o..(i + 1) * o]);
            }
        }
        let bias = parts.iter().flat_map(|p| p.1.iter().copied()).collect();
        Self {
            weight,
            bias,
            inputs,
            outputs,
        }
    }

    /// `out = start + x · W` for the `rows` rows of `x`, where `start` is what
    /// [`Dense::start`] left in `out`.
    fn apply(&self, x: &[f32], rows: usize, out: &mut [f32], parallelism: Parallelism) {
        // SAFETY: x holds rows × inputs numbers, W inputs × outputs, out rows × outputs.
        unsafe {
            gemm(
                rows,
                self.outputs,
                self.inputs,
                out.as_mut_ptr(),
                1,
                self.outputs as isize,
                true,
                x.as_ptr(),
                1,
                self.inputs as isize,
                self.weight.as_ptr(),
                1,
                self.outputs as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            );
        }
    }

    /// Sets each row of `out` to the bias, plus the same row of `residual` when given: the
    /// start that [`Dense::apply`] adds the product to.
    fn start(&self, out: &mut [f32], residual: Option<&[f32]>) {
        let rows = out.par_chunks_mut(self.outputs);
        match residual {
            None => rows.for_each(|row| row.copy_from_slice(&self.bias)),
            Some(residual) => rows
                .zip(residual.par_chunks(self.outputs))
                .for_each(|(row, r)| {
                    for ((o, x), b) in row.iter_mut().zip(r).zip(&self.bias) {
                        *o = x + b;
                    }
                }),
        }
    }
}

/// A layer norm's scale and shift.
#[derive(Debug)]
struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
    eps: f32,
}

impl Norm {
    fn of(norm: &LayerNorm, eps: f64) -> Self {
        let gamma = values(&norm.gamma);
        let beta = norm.beta.as_ref().map_or(vec![0.0; gamma.len()], values);
        Self {
            gamma,
            beta,
            eps: eps as f32,
        }
    }

    /// Normalises every row of `x` in place.
    fn apply(&self, x: &mut [f32]) {
        let width = self.gamma.len();
        x.par_chunks_mut(width).for_each(|row| {
            let n = width as f32;
            let mean = row.iter().sum::<f32>() / n;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
            let inv = 1.0 / (var + self.eps).sqrt();
            for ((v, g), b) in row.iter_mut().zip(&self.gamma).zip(&self.beta) {
                *v = (*v - mean) * inv * g + b;
            }
        });
    }
}

/// One transformer layer's weights.
#[derive(Debug)]
struct Block {
    qkv: Dense,
    out: Dense,
    attention_norm: Norm,
    inner: Dense,
    output: Dense,
    output_norm: Norm,
}

/// A BERT encoder's weights, laid out for [`Packed::forward`].
#[derive(Debug)]
pub(crate) struct Packed {
    word: Vec<f32>,
    position: Vec<f32>,
    segment: Vec<f32>,
    norm: Norm,
    blocks: Vec<Block>,
    hidden: usize,
    heads: usize,
}

/// A parameter's values, row-major.
fn values<const D: usize>(p: &Param<Tensor<D>>) -> Vec<f32> {
    p.val()
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("float tensor")
}

impl Packed {
    /// The weights of `bert`'s embeddings and its first `layers` layers (layer norms with
    /// epsilon `eps`).
    pub(crate) fn of(bert: &Bert, layers: usize, eps: f64) -> Self {
        Self {
            word: values(&bert.word.weight),
            position: values(&bert.position.weight),
            segment: values(&bert.segment.weight),
            norm: Norm::of(&bert.norm, eps),
            blocks: bert.layers[..layers.min(bert.layers.len())]
                .iter()
                .map(|l| Block {
                    qkv: Dense::of(&[&l.query, &l.key, &l.value]),
                    out: Dense::of(&[&l.attention_out]),
                    attention_norm: Norm::of(&l.attention_norm, eps),
                    inner: Dense::of(&[&l.intermediate]),
                    output: Dense::of(&[&l.output]),
                    output_norm: Norm::of(&l.output_norm, eps),
                })
                .collect(),
            hidden: bert.width(),
            heads: bert.heads(),
        }
    }

    /// The hidden states after the packed layers of the token id sequences `seqs`, packed: sequence after
    /// sequence, one row of `hidden` numbers per token.
    pub(crate) fn forward(&self, seqs: &[&[u32]]) -> Vec<f32> {
        let h = self.hidden;
        let mut texts = Vec::with_capacity(seqs.len());
        let mut total = 0;
        for s in seqs {
            texts.push((total, s.len()));
            total += s.len();
        }
        // Embeddings: word + position + segment 0, then the layer norm.
        let mut x = vec![0f32; total * h];
        for (s, &(first, _)) in seqs.iter().zip(&texts) {
            for (pos, &id) in s.iter().enumerate() {
                let row = &mut x[(first + pos) * h..(first + pos + 1) * h];
                let word = &self.word[id as usize * h..(id as usize + 1) * h];
                let position = &self.position[pos * h..(pos + 1) * h];
                for (((v, w), p), g) in row.iter_mut().zip(word).zip(position).zip(&self.segment) {
                    *v = w + p + g;
                }
            }
        }
        self.norm.apply(&mut x);
        let mut qkv = vec![0f32; total * 3 * h];
        let mut context = vec![0f32; total * h];
        let mut mid = vec![0f32; total * h];
        let rows = Rows {
            texts: &texts,
            stride: 3 * h,
            heads: self.heads,
            width: h / self.heads.max(1),
        };
        for b in &self.blocks {
            b.qkv.start(&mut qkv, None);
            b.qkv.apply(&x, total, &mut qkv, all_threads());
            attention(&qkv, &qkv[h..], &qkv[2 * h..], &rows, &mut context);
            // mid = norm(x + bias + context · W)
            b.out.start(&mut mid, Some(&x));
            b.out.apply(&context, total, &mut mid, all_threads());
            b.attention_norm.apply(&mut mid);
            // x = norm(mid + bias + gelu(mid · W1 + b1) · W2), a block of rows at a time so
            // that the wide inner activations stay in cache between the two products.
            b.output.start(&mut x, Some(&mid));
            x.par_chunks_mut(BLOCK_ROWS * h)
                .zip(mid.par_chunks(BLOCK_ROWS * h))
                .for_each_init(Vec::new, |inner, (x, mid)| {
                    let rows = mid.len() / h;
                    inner.resize(rows * b.inner.outputs, 0.0);
                    b.inner.start(inner, None);
                    b.inner.apply(mid, rows, inner, Parallelism::None);
                    gelu_in_place(inner);
                    b.output.apply(inner, rows, x, Parallelism::None);
                });
            b.output_norm.apply(&mut x);
        }
        x
    }
}

/// Rows of a block of the feed-forward part: its inner activations (rows × the inner width,
/// 1.5 MB for MiniLM) stay in a core's cache.
const BLOCK_ROWS: usize = 256;

/// A matrix product spread over all of rayon's threads.
fn all_threads() -> Parallelism {
    Parallelism::Rayon(rayon::current_num_threads())
}
