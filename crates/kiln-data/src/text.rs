//! Free-text columns as network inputs: a TF-IDF bag of word n-grams fitted on the training
//! texts (needs nothing but the data), and, when a checkpoint is given, a pretrained
//! sentence encoder's vectors beside it.

use crate::error::DataError;
use crate::preprocess::PreprocessOptions;
use crate::table::Column;
use crate::tokens::{TextModel, TokenSlots};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The fitted transform of one free-text column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextEncoder {
    /// Pretrained sentence vectors, when a checkpoint was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentence: Option<SentenceVectors>,
    /// The bag of word n-grams, unless switched off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ngrams: Option<NgramBag>,
    /// The text's token numbers, for a network that reads words in order; they come last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<TokenSlots>,
}

/// A pretrained encoder's sentence vector, each value standardised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentenceVectors {
    /// The encoder's checkpoint folder.
    pub checkpoint: String,
    /// SHA-256 of its model.safetensors, checked when the encoder is loaded.
    pub sha256: String,
    /// Training mean of each vector value.
    pub mean: Vec<f32>,
    /// Training standard deviation of each vector value.
    pub std: Vec<f32>,
}

/// Word unigrams and bigrams weighted by TF-IDF (sublinear term frequency, smoothed inverse
/// document frequency), each row scaled to unit length as in scikit-learn's TfidfVectorizer,
/// then by the square root of the number of terms, so that the inputs' mean square is one, as
/// for standardised columns, and the network learns from words as readily as from them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NgramBag {
    /// The terms with an input, most frequent in training documents first; a bigram is two
    /// words joined by a space.
    pub terms: Vec<String>,
    /// Inverse document frequency of each term.
    pub idf: Vec<f32>,
}

impl TextEncoder {
    /// Number of network inputs.
    pub fn width(&self) -> usize {
        self.sentence_width()
            + self.ngrams.as_ref().map_or(0, |b| b.terms.len())
            + self.tokens.as_ref().map_or(0, |t| t.length)
    }

    /// Inputs before the token numbers, which come last.
    pub fn tokens_start(&self) -> usize {
        self.width() - self.tokens.as_ref().map_or(0, |t| t.length)
    }

    /// Number of sentence-vector inputs, which come first; the n-gram inputs follow them.
    pub fn sentence_width(&self) -> usize {
        self.sentence.as_ref().map_or(0, |s| s.mean.len())
    }

    /// Fits the column's transform on the texts at `rows` as `options` say: token numbers for
    /// a sequence model; otherwise sentence vectors when a checkpoint is given, and a bag of
    /// n-grams unless its vocabulary is zero.
    pub fn fit(
        column: &Column,
        rows: &[usize],
        options: &PreprocessOptions,
    ) -> Result<Self, DataError> {
        let texts = texts_of(column, rows.iter().copied());
        let checkpoint = options.pretrained.as_deref();
        let tokens = match (options.text_model, checkpoint) {
            (TextModel::Bag, _) => None,
            (TextModel::Finetune, Some(c)) => {
                Some(TokenSlots::fit_checkpoint(c, options.max_tokens)?)
            }
            (TextModel::Finetune, None) => {
                return Err(DataError::BadValue {
                    file: String::new(),
                    line: 0,
                    column: column.name.clone(),
                    problem: "fine-tuning needs a pretrained encoder; give --pretrained (preprocess.pretrained) with the checkpoint folder".into(),
                });
            }
            (TextModel::Gru | TextModel::Lstm, _) => Some(TokenSlots::fit_words(
                &texts,
                options.token_vocabulary,
                options.max_tokens,
            )),
        };
        if tokens.is_some() {
            return Ok(Self {
                sentence: None,
                ngrams: None,
                tokens,
            });
        }
        let sentence = match checkpoint {
            Some(c) => Some(SentenceVectors::fit(column, &texts, c)?),
            None => None,
        };
        let ngrams =
            (options.text_vocabulary > 0).then(|| NgramBag::fit(&texts, options.text_vocabulary));
        Ok(Self {
            sentence,
            ngrams,
            tokens: None,
        })
    }

    /// Writes each row's inputs into `out` (row-major, `width` per row) from `offset` on.
    pub fn encode(
        &self,
        column: &Column,
        out: &mut [f32],
        width: usize,
        offset: usize,
    ) -> Result<(), DataError> {
        let texts = texts_of(column, 0..column.cells.len());
        if let Some(s) = &self.sentence {
            s.encode(column, &texts, out, width, offset)?;
        }
        if let Some(b) = &self.ngrams {
            b.encode(&texts, out, width, offset + self.sentence_width());
        }
        if let Some(t) = &self.tokens {
            t.encode(column, &texts, out, width, offset + self.tokens_start())?;
        }
        Ok(())
    }
}

/// Each cell of `column` at `rows` as text (missing cells are empty text).
fn texts_of(column: &Column, rows: impl Iterator<Item = usize>) -> Vec<String> {
    rows.map(|r| column.cells[r].as_text()).collect()
}

impl SentenceVectors {
    /// The training texts' sentence vectors give each value's mean and spread.
    fn fit(column: &Column, texts: &[String], checkpoint: &str) -> Result<Self, DataError> {
        let encoder = shared_encoder(checkpoint)?;
        let vectors = embed(&encoder, column, texts, checkpoint)?;
        let dim = encoder.encoder().dim();
        let n = texts.len().max(1) as f64;
        let mut mean = vec![0f64; dim];
        for v in vectors.chunks(dim) {
            for (m, &x) in mean.iter_mut().zip(v) {
                *m += f64::from(x) / n;
            }
        }
        let mut var = vec![0f64; dim];
        for v in vectors.chunks(dim) {
            for ((s, &x), m) in var.iter_mut().zip(v).zip(&mean) {
                *s += (f64::from(x) - m).powi(2) / n;
            }
        }
        Ok(Self {
            checkpoint: checkpoint.to_string(),
            sha256: encoder.sha256().to_string(),
            mean: mean.iter().map(|&m| m as f32).collect(),
            std: var
                .iter()
                .map(|&v| if v > 1e-12 { v.sqrt() as f32 } else { 1.0 })
                .collect(),
        })
    }

    /// Writes the standardised sentence vector of each text, after checking that the
    /// checkpoint is the one the model was trained with.
    fn encode(
        &self,
        column: &Column,
        texts: &[String],
        out: &mut [f32],
        width: usize,
        offset: usize,
    ) -> Result<(), DataError> {
        let shared = checked_encoder(&self.checkpoint, &self.sha256)?;
        let vectors = embed(&shared, column, texts, &self.checkpoint)?;
        let dim = self.mean.len();
        for (row, v) in vectors.chunks(dim).enumerate() {
            let dst = &mut out[row * width + offset..row * width + offset + dim];
            for (((d, &x), m), s) in dst.iter_mut().zip(v).zip(&self.mean).zip(&self.std) {
                *d = (x - m) / s;
            }
        }
        Ok(())
    }
}

/// The shared encoder of a checkpoint folder, after checking that its weights are the ones a
/// model was trained with (SHA-256 `sha256`).
pub fn checked_encoder(
    checkpoint: &str,
    sha256: &str,
) -> Result<std::sync::Arc<kiln_text::SharedEncoder>, DataError> {
    let shared = shared_encoder(checkpoint)?;
    if shared.sha256() != sha256 {
        return Err(DataError::Malformed {
            file: format!("{checkpoint}/model.safetensors"),
            format: "sentence-encoder checkpoint".into(),
            reason: format!(
                "its SHA-256 is {}, but the model was trained with {sha256}; put the original checkpoint back in that folder",
                shared.sha256(),
            ),
        });
    }
    Ok(shared)
}

/// The shared encoder of a checkpoint folder, as a data error when it cannot be loaded.
pub(crate) fn shared_encoder(
    checkpoint: &str,
) -> Result<std::sync::Arc<kiln_text::SharedEncoder>, DataError> {
    kiln_text::shared_encoder(std::path::Path::new(checkpoint)).map_err(|e| DataError::Malformed {
        file: checkpoint.to_string(),
        format: "sentence-encoder checkpoint".into(),
        reason: e.to_string(),
    })
}

/// The sentence vectors of `texts`, row after row.
fn embed(
    encoder: &kiln_text::SharedEncoder,
    column: &Column,
    texts: &[String],
    checkpoint: &str,
) -> Result<Vec<f32>, DataError> {
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    encoder.embed(&refs).map_err(|e| DataError::BadValue {
        file: checkpoint.to_string(),
        line: 0,
        column: column.name.clone(),
        problem: e.to_string(),
    })
}

/// Byte ranges of the words of `text`: runs of two or more letters, digits or underscores.
pub(crate) fn word_ranges(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = None;
    let mut chars = 0;
    for (i, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        if c.is_alphanumeric() || c == '_' {
            start.get_or_insert(i);
            chars += 1;
        } else if let Some(s) = start.take() {
            if chars >= 2 {
                ranges.push(s..i);
            }
            chars = 0;
        }
    }
    ranges
}

/// Lower-cased words of two or more letters or digits.
pub(crate) fn words(text: &str) -> Vec<String> {
    word_ranges(text)
        .into_iter()
        .map(|r| text[r].to_lowercase())
        .collect()
}

/// `text` as spans in order: each word with `weight(word, previous word, next word)` (words
/// lower-cased, as the n-grams read them), and the text between words with none.
pub fn word_spans<W>(
    text: &str,
    weight: impl Fn(&str, Option<&str>, Option<&str>) -> Option<W>,
) -> Vec<(String, Option<W>)> {
    let ranges = word_ranges(text);
    let lower: Vec<String> = ranges
        .iter()
        .map(|r| text[r.clone()].to_lowercase())
        .collect();
    let mut spans = Vec::new();
    let mut at = 0;
    for (i, r) in ranges.iter().enumerate() {
        if r.start > at {
            spans.push((text[at..r.start].to_string(), None));
        }
        let before = i.checked_sub(1).map(|p| lower[p].as_str());
        let after = lower.get(i + 1).map(String::as_str);
        spans.push((
            text[r.clone()].to_string(),
            weight(&lower[i], before, after),
        ));
        at = r.end;
    }
    if at < text.len() {
        spans.push((text[at..].to_string(), None));
    }
    spans
}

/// Each word of `text`, then each pair of neighbouring words, with its count.
fn term_counts(text: &str) -> HashMap<String, u32> {
    let words = words(text);
    let mut counts: HashMap<String, u32> = HashMap::new();
    for w in &words {
        *counts.entry(w.clone()).or_default() += 1;
    }
    for pair in words.windows(2) {
        *counts
            .entry(format!("{} {}", pair[0], pair[1]))
            .or_default() += 1;
    }
    counts
}

/// The `limit` terms found in the most `texts` (at least two of them), with their document
/// counts, most frequent first (ties in term order); `terms(text)` lists a text's distinct
/// terms.
pub(crate) fn most_frequent(
    texts: &[String],
    limit: usize,
    terms: impl Fn(&str) -> Vec<String> + Sync,
) -> Vec<(String, u32)> {
    let df = texts
        .par_iter()
        .fold(HashMap::<String, u32>::new, |mut df, text| {
            for term in terms(text) {
                *df.entry(term).or_default() += 1;
            }
            df
        })
        .reduce(HashMap::new, |a, b| {
            let (mut big, small) = if a.len() >= b.len() { (a, b) } else { (b, a) };
            for (term, n) in small {
                *big.entry(term).or_default() += n;
            }
            big
        });
    let mut ranked: Vec<(String, u32)> = df.into_iter().filter(|(_, n)| *n >= 2).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(limit);
    ranked
}

impl NgramBag {
    /// The `vocabulary` terms found in the most training texts (at least two of them).
    pub fn fit(texts: &[String], vocabulary: usize) -> Self {
        let ranked = most_frequent(texts, vocabulary, |text| {
            term_counts(text).into_keys().collect()
        });
        let n = texts.len() as f64;
        Self {
            idf: ranked
                .iter()
                .map(|(_, d)| (((1.0 + n) / (1.0 + f64::from(*d))).ln() + 1.0) as f32)
                .collect(),
            terms: ranked.into_iter().map(|(t, _)| t).collect(),
        }
    }

    /// Writes each text's TF-IDF vector, of length √(number of terms).
    pub fn encode(&self, texts: &[String], out: &mut [f32], width: usize, offset: usize) {
        let index: HashMap<&str, usize> = self
            .terms
            .iter()
            .enumerate()
            .map(|(i, t)| (t.as_str(), i))
            .collect();
        let k = self.terms.len();
        out.par_chunks_mut(width)
            .zip(texts.par_iter())
            .for_each(|(row, text)| {
                let dst = &mut row[offset..offset + k];
                dst.fill(0.0);
                for (term, tf) in term_counts(text) {
                    if let Some(&i) = index.get(term.as_str()) {
                        dst[i] = (1.0 + (tf as f32).ln()) * self.idf[i];
                    }
                }
                let norm = dst.iter().map(|v| v * v).sum::<f32>().sqrt();
                if norm > 0.0 {
                    let scale = (k as f32).sqrt() / norm;
                    dst.iter_mut().for_each(|v| *v *= scale);
                }
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn words_are_lower_cased_and_single_letters_dropped() {
        assert_eq!(
            words("Win a FREE prize, now!"),
            ["win", "free", "prize", "now"]
        );
        let counts = term_counts("free money free money");
        assert_eq!(counts["free"], 2);
        assert_eq!(counts["free money"], 2);
        assert_eq!(counts["money free"], 1);
    }

    #[test]
    fn word_spans_cover_the_text_and_see_the_neighbouring_words() {
        let spans = word_spans("Win a FREE prize!", |w, before, after| {
            Some(format!(
                "{}<{w}>{}",
                before.unwrap_or("^"),
                after.unwrap_or("$")
            ))
        });
        let text: String = spans.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(text, "Win a FREE prize!");
        let weighted: Vec<(&str, &str)> = spans
            .iter()
            .filter_map(|(t, w)| w.as_deref().map(|w| (t.as_str(), w)))
            .collect();
        assert_eq!(
            weighted,
            [
                ("Win", "^<win>free"),
                ("FREE", "win<free>prize"),
                ("prize", "free<prize>$")
            ]
        );
    }

    #[test]
    fn vocabulary_keeps_the_most_frequent_terms_seen_twice() {
        let bag = NgramBag::fit(
            &texts(&["free money now", "free money", "free lunch", "unique words"]),
            2,
        );
        assert_eq!(bag.terms, ["free", "free money"]);
        // idf = ln((1 + 4) / (1 + df)) + 1.
        assert!((bag.idf[0] - ((5.0f32 / 4.0).ln() + 1.0)).abs() < 1e-6);
        assert!((bag.idf[1] - ((5.0f32 / 3.0).ln() + 1.0)).abs() < 1e-6);
    }

    #[test]
    fn rows_are_scaled_tf_idf_vectors_and_unknown_text_is_zero() {
        let bag = NgramBag {
            terms: vec!["spam".into(), "ham".into()],
            idf: vec![2.0, 1.0],
        };
        let mut out = vec![9.0; 2 * 3];
        bag.encode(&texts(&["spam spam ham", "nothing known"]), &mut out, 3, 0);
        // spam: (1 + ln 2) * 2, ham: 1 * 1, then scaled to length √2 (two terms).
        let (s, h) = ((1.0 + 2f32.ln()) * 2.0, 1.0f32);
        let norm = (s * s + h * h).sqrt() / 2f32.sqrt();
        assert!((out[0] - s / norm).abs() < 1e-6 && (out[1] - h / norm).abs() < 1e-6);
        assert_eq!(&out[3..5], &[0.0, 0.0], "no known term gives zeros");
        assert_eq!(
            (out[2], out[5]),
            (9.0, 9.0),
            "inputs past the bag are left alone"
        );
    }
}
