//! A sentence encoder as sentence-transformers defines one: a tokenizer, a BERT-family
//! network, pooling of its token states (mean over real tokens, the first token, or the
//! maximum), and optionally L2 normalisation, read from a checkpoint folder.

use crate::TextError;
use crate::bert::{Bert, BertConfig};
use crate::checkpoint::Weights;
use crate::infer::Packed;
use burn::prelude::*;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use tokenizers::{Tokenizer, TruncationParams};

/// How token states become one vector per text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    /// The mean over real (unpadded) tokens.
    Mean,
    /// The first token's state ([CLS]).
    Cls,
    /// The elementwise maximum over real tokens.
    Max,
}

/// sentence-transformers' `1_Pooling/config.json`.
#[derive(Debug, Deserialize)]
struct PoolingFile {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
}

/// sentence-transformers' `sentence_bert_config.json`.
#[derive(Debug, Deserialize)]
struct SentenceFile {
    max_seq_length: usize,
}

/// One entry of sentence-transformers' `modules.json`.
#[derive(Debug, Deserialize)]
struct ModuleEntry {
    #[serde(rename = "type")]
    kind: String,
}

/// The network, in the form its device runs best.
#[derive(Debug)]
enum Network {
    /// burn's modules, which autodiff can differentiate.
    Burn(Box<Bert>),
    /// Plain buffers for fast inference on the CPU.
    Packed(Packed),
}

/// Texts encoded in one pass of the network.
const BATCH: usize = 32;

/// A loaded sentence encoder: texts in, one vector of [`SentenceEncoder::dim`] values out.
#[derive(Debug)]
pub struct SentenceEncoder {
    tokenizer: Tokenizer,
    network: Network,
    config: BertConfig,
    pooling: Pooling,
    normalize: bool,
    max_length: usize,
    device: Device,
}

/// Reads and parses a JSON file of the checkpoint.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, TextError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| TextError::Io {
        file: file.clone(),
        reason: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| TextError::Malformed {
        file,
        reason: format!("not the JSON expected here: {e}"),
    })
}

/// The part of a text a token stands for: a byte range of the text, or None for a token added
/// around it (such as [CLS] and [SEP]).
pub type Piece = Option<std::ops::Range<usize>>;

/// The checked architecture of the checkpoint folder `dir` (its `config.json`).
pub fn read_config(dir: &Path) -> Result<BertConfig, TextError> {
    let config_path = dir.join("config.json");
    let config: BertConfig = read_json(&config_path)?;
    config.validate(&config_path.display().to_string())?;
    Ok(config)
}

/// The encoder of `config` with the weights of the checkpoint folder `dir`, on `device`.
pub fn read_weights(dir: &Path, config: &BertConfig, device: &Device) -> Result<Bert, TextError> {
    let mut weights = Weights::read(&dir.join("model.safetensors"))?;
    Bert::from_weights(config, &mut weights, device)
}

impl SentenceEncoder {
    /// Loads the checkpoint folder `dir`: `config.json`, `model.safetensors`, `tokenizer.json`
    /// and, when present, sentence-transformers' `1_Pooling/config.json` (mean pooling
    /// otherwise), `modules.json` (normalisation) and `sentence_bert_config.json` (the token
    /// limit; otherwise the position embeddings' length).
    pub fn load(dir: &Path) -> Result<Self, TextError> {
        Self::load_on(dir, Device::flex())
    }

    /// As [`SentenceEncoder::load`], with the network on `device` (an autodiff device to
    /// differentiate through it).
    pub fn load_on(dir: &Path, device: Device) -> Result<Self, TextError> {
        if !dir.is_dir() {
            return Err(TextError::Io {
                file: dir.display().to_string(),
                reason: "not a folder; give the checkpoint folder holding config.json, model.safetensors and tokenizer.json".into(),
            });
        }
        let path = |name: &str| -> PathBuf { dir.join(name) };
        let config = read_config(dir)?;
        let pooling = match path("1_Pooling/config.json") {
            p if p.is_file() => {
                let f: PoolingFile = read_json(&p)?;
                match (
                    f.pooling_mode_mean_tokens,
                    f.pooling_mode_cls_token,
                    f.pooling_mode_max_tokens,
                ) {
                    (true, false, false) => Pooling::Mean,
                    (false, true, false) => Pooling::Cls,
                    (false, false, true) => Pooling::Max,
                    _ => {
                        return Err(TextError::Malformed {
                            file: p.display().to_string(),
                            reason: "exactly one of mean, cls and max pooling must be on".into(),
                        });
                    }
                }
            }
            _ => Pooling::Mean,
        };
        let normalize = match path("modules.json") {
            p if p.is_file() => read_json::<Vec<ModuleEntry>>(&p)?
                .iter()
                .any(|m| m.kind.ends_with("Normalize")),
            _ => false,
        };
        let max_length = match path("sentence_bert_config.json") {
            p if p.is_file() => read_json::<SentenceFile>(&p)?.max_seq_length,
            _ => config.max_position_embeddings,
        }
        .min(config.max_position_embeddings);
        let tokenizer_path = path("tokenizer.json");
        let mut tokenizer =
            Tokenizer::from_file(&tokenizer_path).map_err(|e| TextError::Malformed {
                file: tokenizer_path.display().to_string(),
                reason: format!("not a Hugging Face tokenizer.json ({e})"),
            })?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length,
                ..TruncationParams::default()
            }))
            .map_err(|e| TextError::Tokenizer(e.to_string()))?;
        let bert = read_weights(dir, &config, &device)?;
        let network = if device.is_autodiff() {
            Network::Burn(Box::new(bert))
        } else {
            Network::Packed(Packed::of(&bert, bert.depth(), config.layer_norm_eps))
        };
        Ok(Self {
            tokenizer,
            network,
            config,
            pooling,
            normalize,
            max_length,
            device,
        })
    }

    /// Values per text vector.
    pub fn dim(&self) -> usize {
        self.config.hidden_size
    }

    /// The most tokens read from one text; longer texts are cut.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// How token states are pooled.
    pub fn pooling(&self) -> Pooling {
        self.pooling
    }

    /// Whether vectors are scaled to unit length.
    pub fn normalizes(&self) -> bool {
        self.normalize
    }

    /// The token ids of each text, as the network reads them ([CLS] … [SEP], cut to the
    /// token limit).
    pub fn tokenize(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>, TextError> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| TextError::Tokenizer(e.to_string()))?;
        Ok(encodings.iter().map(|e| e.get_ids().to_vec()).collect())
    }

    /// The token ids of `text` as [`SentenceEncoder::tokenize`] gives them, each with the
    /// byte range of the text it stands for (None for [CLS], [SEP] and other added tokens).
    pub fn token_pieces(&self, text: &str) -> Result<Vec<(u32, Piece)>, TextError> {
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| TextError::Tokenizer(e.to_string()))?;
        Ok(encoding
            .get_ids()
            .iter()
            .zip(encoding.get_offsets())
            .zip(encoding.get_special_tokens_mask())
            .map(|((&id, &(start, end)), &special)| (id, (special == 0).then_some(start..end)))
            .collect())
    }

    /// One vector per text, text after text (`texts.len() × dim()` values). Texts are
    /// encoded in batches of similar length, so padding costs little.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<f32>, TextError> {
        self.embed_reporting(texts, &mut |_| {})
    }

    /// As [`SentenceEncoder::embed`], calling `done(n)` after each batch with the texts
    /// embedded so far.
    pub fn embed_reporting(
        &self,
        texts: &[&str],
        done: &mut dyn FnMut(usize),
    ) -> Result<Vec<f32>, TextError> {
        let ids = self.tokenize(texts)?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(ids[i].len()));
        let dim = self.dim();
        let mut out = vec![0f32; texts.len() * dim];
        let mut finished = 0;
        for chunk in order.chunks(BATCH) {
            let vectors = self.embed_ids(chunk.iter().map(|&i| ids[i].as_slice()));
            for (k, &i) in chunk.iter().enumerate() {
                out[i * dim..(i + 1) * dim].copy_from_slice(&vectors[k * dim..(k + 1) * dim]);
            }
            finished += chunk.len();
            done(finished);
        }
        Ok(out)
    }

    /// Pooled (and, if configured, normalised) vectors of token id sequences.
    fn embed_ids<'a>(&self, seqs: impl Iterator<Item = &'a [u32]>) -> Vec<f32> {
        let seqs: Vec<&[u32]> = seqs.collect();
        let hidden = self.dim();
        let states = match &self.network {
            Network::Packed(packed) => packed.forward(&seqs),
            Network::Burn(bert) => self.burn_states(bert, &seqs),
        };
        let mut out = vec![0f32; seqs.len() * hidden];
        let mut first = 0;
        for (s, vector) in seqs.iter().zip(out.chunks_exact_mut(hidden)) {
            let rows = states[first * hidden..(first + s.len()) * hidden].chunks_exact(hidden);
            first += s.len();
            match self.pooling {
                Pooling::Mean => {
                    for row in rows {
                        vector.iter_mut().zip(row).for_each(|(v, x)| *v += x);
                    }
                    let n = s.len().max(1) as f32;
                    vector.iter_mut().for_each(|v| *v /= n);
                }
                Pooling::Cls => {
                    if let Some(row) = rows.into_iter().next() {
                        vector.copy_from_slice(row);
                    }
                }
                Pooling::Max => {
                    vector.fill(f32::NEG_INFINITY);
                    for row in rows {
                        vector.iter_mut().zip(row).for_each(|(v, x)| *v = v.max(*x));
                    }
                    if s.is_empty() {
                        vector.fill(0.0);
                    }
                }
            }
            if self.normalize {
                let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                vector.iter_mut().for_each(|v| *v /= norm);
            }
        }
        out
    }

    /// The final hidden states of `seqs` through burn's modules, packed as
    /// [`Packed::forward`] gives them (each sequence's real tokens, one row each).
    fn burn_states(&self, bert: &Bert, seqs: &[&[u32]]) -> Vec<f32> {
        let batch = seqs.len();
        let tokens = seqs.iter().map(|s| s.len()).max().unwrap_or(0).max(1);
        let mut ids = vec![0i64; batch * tokens];
        let mut mask = vec![0f32; batch * tokens];
        for (b, s) in seqs.iter().enumerate() {
            for (t, &id) in s.iter().enumerate() {
                ids[b * tokens + t] = i64::from(id);
                mask[b * tokens + t] = 1.0;
            }
        }
        let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [batch, tokens]), &self.device);
        let mask = Tensor::<2>::from_data(TensorData::new(mask, [batch, tokens]), &self.device);
        let padded = bert
            .forward(ids, mask)
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .expect("float tensor");
        let hidden = self.dim();
        seqs.iter()
            .enumerate()
            .flat_map(|(b, s)| &padded[b * tokens * hidden..(b * tokens + s.len()) * hidden])
            .copied()
            .collect()
    }
}
