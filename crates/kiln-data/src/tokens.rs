//! Free text as a sequence of token numbers, for networks that read the words in order (a
//! recurrent network, or a pretrained encoder being fine-tuned). Each text fills a fixed
//! number of inputs: token `i` of the vocabulary is written as `i + 1`, and 0 marks the
//! padding after the text's last token, so the values stay exact in f32 and a network can
//! tell real tokens from padding.

use crate::error::DataError;
use crate::table::Column;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// How free-text columns are modelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextModel {
    /// A bag of word n-grams, and a frozen pretrained encoder's sentence vectors when a
    /// checkpoint is given.
    #[default]
    Bag,
    /// A GRU over the words, trained from scratch.
    Gru,
    /// An LSTM over the words, trained from scratch.
    Lstm,
    /// The pretrained encoder itself, its top layers trained with the rest of the network.
    Finetune,
}

impl TextModel {
    /// Whether text reaches the network as token numbers.
    pub fn reads_tokens(self) -> bool {
        self != TextModel::Bag
    }
}

/// The fitted token inputs of one free-text column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenSlots {
    /// Inputs per text: its first `length` tokens, then padding.
    pub length: usize,
    /// Where the token numbers come from.
    pub vocabulary: Vocabulary,
}

/// A tokenizer and its vocabulary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Vocabulary {
    /// Lower-cased words (runs of two or more letters or digits); token 0 stands for every
    /// word not listed, token `i + 1` for `words[i]`.
    Words {
        /// The words with a token, most frequent in training texts first.
        words: Vec<String>,
    },
    /// The tokenizer of a pretrained checkpoint ([CLS] … [SEP], its own token numbers).
    Checkpoint {
        /// The checkpoint folder.
        checkpoint: String,
        /// SHA-256 of its model.safetensors, checked before tokenizing.
        sha256: String,
    },
}

impl Vocabulary {
    /// Distinct token numbers the network must embed.
    pub fn size(&self) -> Option<usize> {
        match self {
            Vocabulary::Words { words } => Some(words.len() + 1),
            Vocabulary::Checkpoint { .. } => None,
        }
    }
}

impl TokenSlots {
    /// A word vocabulary of the `vocabulary` words found in the most training `texts` (at
    /// least two of them), each text read up to `length` words.
    pub fn fit_words(texts: &[String], vocabulary: usize, length: usize) -> Self {
        let ranked = crate::text::most_frequent(texts, vocabulary, |text| {
            let mut words = crate::text::words(text);
            words.sort_unstable();
            words.dedup();
            words
        });
        Self {
            length,
            vocabulary: Vocabulary::Words {
                words: ranked.into_iter().map(|(w, _)| w).collect(),
            },
        }
    }

    /// The tokenizer of the checkpoint folder `checkpoint`, each text read up to `length`
    /// tokens (or the checkpoint's own limit, if lower).
    pub fn fit_checkpoint(checkpoint: &str, length: usize) -> Result<Self, DataError> {
        let shared = crate::text::shared_encoder(checkpoint)?;
        Ok(Self {
            length: length.min(shared.encoder().max_length()),
            vocabulary: Vocabulary::Checkpoint {
                checkpoint: checkpoint.to_string(),
                sha256: shared.sha256().to_string(),
            },
        })
    }

    /// The part of `text` each of its tokens stands for, in token order (as many as the
    /// text fills, at most `length`): a byte range of the text, or None for a token added
    /// around it (such as [CLS] and [SEP]).
    pub fn pieces(&self, text: &str) -> Result<Vec<kiln_text::Piece>, DataError> {
        let mut pieces: Vec<kiln_text::Piece> = match &self.vocabulary {
            Vocabulary::Words { .. } => crate::text::word_ranges(text)
                .into_iter()
                .map(Some)
                .collect(),
            Vocabulary::Checkpoint { checkpoint, sha256 } => {
                let shared = crate::text::checked_encoder(checkpoint, sha256)?;
                shared
                    .encoder()
                    .token_pieces(text)
                    .map_err(|e| DataError::Malformed {
                        file: checkpoint.clone(),
                        format: "sentence-encoder checkpoint".into(),
                        reason: e.to_string(),
                    })?
                    .into_iter()
                    .map(|(_, piece)| piece)
                    .collect()
            }
        };
        pieces.truncate(self.length);
        Ok(pieces)
    }

    /// Writes each text's token numbers (plus one; zero after the text) into `out`
    /// (row-major, `width` per row) from `offset` on.
    pub fn encode(
        &self,
        column: &Column,
        texts: &[String],
        out: &mut [f32],
        width: usize,
        offset: usize,
    ) -> Result<(), DataError> {
        let write = |row: &mut [f32], tokens: &mut dyn Iterator<Item = usize>| {
            let dst = &mut row[offset..offset + self.length];
            dst.fill(0.0);
            for (d, t) in dst.iter_mut().zip(tokens) {
                *d = (t + 1) as f32;
            }
        };
        match &self.vocabulary {
            Vocabulary::Words { words } => {
                let index: HashMap<&str, usize> = words
                    .iter()
                    .enumerate()
                    .map(|(i, w)| (w.as_str(), i + 1))
                    .collect();
                out.par_chunks_mut(width)
                    .zip(texts.par_iter())
                    .for_each(|(row, text)| {
                        let words = crate::text::words(text);
                        let mut tokens = words
                            .iter()
                            .map(|w| index.get(w.as_str()).copied().unwrap_or(0));
                        write(row, &mut tokens);
                    });
            }
            Vocabulary::Checkpoint { checkpoint, sha256 } => {
                let shared = crate::text::checked_encoder(checkpoint, sha256)?;
                let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
                let ids = shared
                    .encoder()
                    .tokenize(&refs)
                    .map_err(|e| DataError::BadValue {
                        file: checkpoint.clone(),
                        line: 0,
                        column: column.name.clone(),
                        problem: e.to_string(),
                    })?;
                for (row, ids) in out.chunks_mut(width).zip(&ids) {
                    write(row, &mut ids.iter().map(|&t| t as usize));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::Cell;

    fn texts(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn words_seen_twice_get_tokens_most_frequent_first() {
        let slots = TokenSlots::fit_words(
            &texts(&["free money now", "Free money", "free lunch", "unique words"]),
            10,
            4,
        );
        assert_eq!(
            slots.vocabulary,
            Vocabulary::Words {
                words: vec!["free".into(), "money".into()]
            }
        );
        assert_eq!(slots.vocabulary.size(), Some(3));
    }

    #[test]
    fn texts_become_token_numbers_then_padding() {
        let slots = TokenSlots {
            length: 3,
            vocabulary: Vocabulary::Words {
                words: vec!["free".into(), "money".into()],
            },
        };
        let t = texts(&["Money for free, free!", "free", ""]);
        let column = Column {
            name: "text".into(),
            cells: t.iter().map(|s| Cell::Text(s.clone())).collect(),
        };
        let mut out = vec![9.0; 3 * 4];
        slots.encode(&column, &t, &mut out, 4, 1).unwrap();
        // "money" is token 2 (written 3), "for" is unknown (token 0, written 1), "free" is
        // token 1 (written 2); the fourth word is past the limit.
        assert_eq!(&out[0..4], &[9.0, 3.0, 1.0, 2.0]);
        assert_eq!(&out[4..8], &[9.0, 2.0, 0.0, 0.0], "padding after the text");
        assert_eq!(
            &out[8..12],
            &[9.0, 0.0, 0.0, 0.0],
            "empty text is all padding"
        );
    }
}
