//! Integrated gradients through a frozen pretrained sentence encoder: each word piece's share
//! of what the text's sentence vector changes in a prediction, along the straight path from
//! [PAD] word embeddings (the added [CLS] and [SEP] kept) to the text's own, through the
//! encoder, its pooling, the stored standardisation and the trained network, the row's other
//! inputs held as they are.

use crate::bundle::Bundle;
use crate::error::KilnError;
use crate::explain::{TokenAttribution, TokenMethod, piece_attribution};
use burn::prelude::*;
use burn::tensor::activation::softmax;
use kiln_data::text::SentenceVectors;
use kiln_text::{Bert, Pooling, SharedEncoder};
use kiln_train::Objective;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

/// Path points run forward and back together.
const PATH_BATCH: usize = 16;
/// The most path steps: the steps double from the asked number until the attributions add
/// up to the change in the output within 5%, or this many are reached.
const MOST_STEPS: usize = 256;

/// A checkpoint's encoder on an autodiff device, for gradients with respect to its input.
pub struct EncoderPath {
    shared: Arc<SharedEncoder>,
    bert: Bert,
    pad: u32,
    device: Device,
}

impl EncoderPath {
    /// Loads the encoder behind `sentence` (checked by its SHA-256) for differentiation.
    pub fn load(sentence: &SentenceVectors) -> Result<Self, KilnError> {
        let shared = kiln_data::text::checked_encoder(&sentence.checkpoint, &sentence.sha256)?;
        let dir = Path::new(&sentence.checkpoint);
        let device = Device::flex().autodiff();
        let failed = |e: kiln_text::TextError| {
            KilnError::Config(format!("the encoder at '{}': {e}", sentence.checkpoint))
        };
        let config = kiln_text::read_config(dir).map_err(failed)?;
        let bert = kiln_text::read_weights(dir, &config, &device).map_err(failed)?;
        Ok(Self {
            shared,
            bert,
            pad: config.pad_token_id,
            device,
        })
    }

    /// Integrated gradients of each output with respect to the word embeddings of `text`,
    /// whose standardised sentence vector is `span` of the encoded row `x`, summed per word
    /// piece. The attributions add up to the prediction minus the output for the [PAD] text,
    /// up to the path integral's error: `steps` midpoints, doubled until that error is within
    /// 5% (or 256 steps).
    #[allow(clippy::too_many_arguments)]
    pub fn attribute(
        &self,
        bundle: &Bundle,
        x: &[f32],
        span: Range<usize>,
        sentence: &SentenceVectors,
        text: &str,
        steps: usize,
        row: usize,
        column: &str,
    ) -> Result<TokenAttribution, KilnError> {
        let m = &bundle.manifest;
        let encoder = self.shared.encoder();
        let pieces = encoder
            .token_pieces(text)
            .map_err(|e| KilnError::Config(format!("row {row}, column '{column}': {e}")))?;
        if pieces.is_empty() {
            return Err(KilnError::Config(format!(
                "row {row}, column '{column}': the encoder's tokenizer gives no tokens for this text"
            )));
        }
        let tokens = pieces.len();
        let ids: Vec<i64> = pieces.iter().map(|(id, _)| i64::from(*id)).collect();
        let base_ids: Vec<i64> = pieces
            .iter()
            .map(|(id, piece)| i64::from(if piece.is_some() { self.pad } else { *id }))
            .collect();
        let embed = |ids: Vec<i64>| -> Vec<f32> {
            let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, tokens]), &self.device);
            self.bert
                .word_embeddings(ids)
                .into_data()
                .convert::<f32>()
                .try_into_vec()
                .expect("float tensor")
        };
        let (words, base) = (embed(ids), embed(base_ids));
        let outputs = m.network.outputs;
        let model = bundle.model.clone().to_device(&self.device);
        let path = EmbeddingPath {
            encoder: &self.bert,
            pooling: encoder.pooling(),
            normalize: encoder.normalizes(),
            model: &model,
            objective: &m.objective,
            outputs,
            x,
            span,
            sentence,
            words: &words,
            base: &base,
            tokens,
            device: &self.device,
        };
        let ends = path.run(&[0.0, 1.0], None).0;
        let ends: Vec<f64> = ends.iter().map(|&v| f64::from(v)).collect();
        // Two-class probabilities sum to one: the first class's attributions are the second's,
        // negated.
        let two_classes = matches!(m.objective, Objective::Classification { .. }) && outputs == 2;
        let mut per_output = vec![vec![0f64; tokens]; outputs];
        let mut steps = steps.max(1);
        loop {
            let alphas: Vec<f32> = (0..steps)
                .map(|s| (s as f32 + 0.5) / steps as f32)
                .collect();
            for (k, totals) in per_output.iter_mut().enumerate() {
                if two_classes && k == 0 {
                    continue;
                }
                totals.fill(0.0);
                for chunk in alphas.chunks(PATH_BATCH) {
                    let (_, sums) = path.run(chunk, Some((k, 1.0 / steps as f32)));
                    totals.iter_mut().zip(sums).for_each(|(t, v)| *t += v);
                }
            }
            // Checked on the last output: the midpoint rule needs more steps where the
            // output turns sharply (a saturating probability).
            let k = outputs - 1;
            let gap = ends[outputs + k] - ends[k];
            let total: f64 = per_output[k].iter().sum();
            if (total - gap).abs() <= 0.05 * gap.abs() + 0.005 || steps * 2 > MOST_STEPS {
                break;
            }
            steps *= 2;
        }
        if two_classes {
            per_output[0] = per_output[1].iter().map(|v| -v).collect();
        }
        let effects: Vec<(Range<usize>, Vec<f64>)> = pieces
            .iter()
            .enumerate()
            .filter_map(|(t, (_, piece))| {
                piece
                    .clone()
                    .map(|p| (p, (0..outputs).map(|k| per_output[k][t]).collect()))
            })
            .collect();
        Ok(piece_attribution(
            row,
            column,
            TokenMethod::Encoder,
            text,
            effects,
            ends[..outputs].to_vec(),
            ends[outputs..].to_vec(),
        ))
    }
}

/// One text's straight path from [PAD] embeddings to its own, through the encoder, the pooling,
/// the standardisation and the network.
struct EmbeddingPath<'a> {
    encoder: &'a Bert,
    pooling: Pooling,
    normalize: bool,
    model: &'a kiln_model::Network,
    objective: &'a Objective,
    outputs: usize,
    x: &'a [f32],
    span: Range<usize>,
    sentence: &'a SentenceVectors,
    words: &'a [f32],
    base: &'a [f32],
    tokens: usize,
    device: &'a Device,
}

impl EmbeddingPath<'_> {
    /// The outputs at the points `alphas` along the path (point after point), and, with
    /// `pick` = (output k, weight), the weighted sum over the points of each token's gradient
    /// of output k times its embedding's change along the path.
    fn run(&self, alphas: &[f32], pick: Option<(usize, f32)>) -> (Vec<f32>, Vec<f64>) {
        let (rows, tokens, outputs) = (alphas.len(), self.tokens, self.outputs);
        let hidden = self.words.len() / tokens;
        let points: Vec<f32> = alphas
            .iter()
            .flat_map(|&a| {
                self.words
                    .iter()
                    .zip(self.base)
                    .map(move |(w, b)| b + a * (w - b))
            })
            .collect();
        let e =
            Tensor::<3>::from_data(TensorData::new(points, [rows, tokens, hidden]), self.device);
        let e = if pick.is_some() { e.require_grad() } else { e };
        let states = self
            .encoder
            .forward_words(e.clone(), Tensor::ones([rows, tokens], self.device));
        let pooled: Tensor<2> = match self.pooling {
            Pooling::Mean => states.mean_dim(1),
            Pooling::Cls => states.slice([0..rows, 0..1, 0..hidden]),
            Pooling::Max => states.max_dim(1),
        }
        .reshape([rows, hidden]);
        let pooled = if self.normalize {
            let norm = pooled
                .clone()
                .powf_scalar(2.0)
                .sum_dim(1)
                .sqrt()
                .clamp_min(1e-12);
            pooled / norm
        } else {
            pooled
        };
        let row_of = |v: &[f32]| {
            Tensor::<2>::from_data(TensorData::new(v.to_vec(), [1, v.len()]), self.device)
        };
        let vector = (pooled - row_of(&self.sentence.mean)) / row_of(&self.sentence.std);
        let fixed = |range: Range<usize>| {
            let values: Vec<f32> = (0..rows)
                .flat_map(|_| self.x[range.clone()].to_vec())
                .collect();
            Tensor::<2>::from_data(TensorData::new(values, [rows, range.len()]), self.device)
        };
        let mut parts = Vec::new();
        if self.span.start > 0 {
            parts.push(fixed(0..self.span.start));
        }
        parts.push(vector);
        if self.span.end < self.x.len() {
            parts.push(fixed(self.span.end..self.x.len()));
        }
        let out = self.model.forward(Tensor::cat(parts, 1));
        let value = match self.objective {
            Objective::Classification { .. } => softmax(out, 2).mean_dim(1),
            Objective::Regression { mean, std } => {
                out.mean_dim(1).mul_scalar(*std).add_scalar(*mean)
            }
        }
        .reshape([rows, outputs]);
        let values: Vec<f32> = value
            .clone()
            .into_data()
            .convert::<f32>()
            .try_into_vec()
            .expect("float tensor");
        let Some((k, weight)) = pick else {
            return (values, Vec::new());
        };
        let mut chosen = vec![0f32; rows * outputs];
        for r in 0..rows {
            chosen[r * outputs + k] = weight;
        }
        let chosen = Tensor::<2>::from_data(TensorData::new(chosen, [rows, outputs]), self.device);
        let grads = (value * chosen).sum().backward();
        let g: Vec<f32> = e
            .grad(&grads)
            .and_then(|t| t.into_data().convert::<f32>().try_into_vec().ok())
            .unwrap_or_default();
        let mut sums = vec![0f64; tokens];
        if g.len() != rows * tokens * hidden {
            return (values, sums);
        }
        for (t, sum) in sums.iter_mut().enumerate() {
            let at = t * hidden;
            let change = self.words[at..at + hidden]
                .iter()
                .zip(&self.base[at..at + hidden])
                .map(|(w, b)| w - b);
            let change: Vec<f32> = change.collect();
            *sum = (0..rows)
                .map(|r| {
                    let grad = &g[(r * tokens) * hidden + at..(r * tokens) * hidden + at + hidden];
                    grad.iter()
                        .zip(&change)
                        .map(|(g, c)| f64::from(*g) * f64::from(*c))
                        .sum::<f64>()
                })
                .sum();
        }
        (values, sums)
    }
}
