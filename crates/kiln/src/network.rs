//! The network for a table's encoded rows: an MLP ensemble, or, when free text reaches the
//! network as tokens, a text network (a recurrent one, or a pretrained encoder to fine-tune,
//! whose checkpoint weights the training starts from).

use crate::config::Config;
use crate::error::KilnError;
use burn::prelude::Device;
use kiln_data::{Preprocessor, TextModel, Vocabulary};
use kiln_model::{Body, CellKind, Network, NetworkConfig, NetworkShape, TextReader, TokenSpan};
use std::path::Path;

/// The network `config` asks for over rows of `inputs` values encoded by `preprocessor`, with
/// `outputs` outputs.
pub fn network_for(
    preprocessor: &Preprocessor,
    inputs: usize,
    outputs: usize,
    config: &Config,
) -> Result<NetworkConfig, KilnError> {
    let spans = preprocessor.token_spans();
    let body = if spans.is_empty() {
        Body::Tabular(mlp_shape(
            &config.model,
            preprocessor.reads_text_as_values(),
        ))
    } else {
        let spans = spans
            .into_iter()
            .map(|(offset, slots)| {
                let reader = match &slots.vocabulary {
                    Vocabulary::Words { words } => TextReader::Recurrent {
                        cell: match config.preprocess.text_model {
                            TextModel::Lstm => CellKind::Lstm,
                            _ => CellKind::Gru,
                        },
                        vocabulary: words.len() + 1,
                        embedding: config.text.embedding,
                        hidden: config.text.hidden,
                    },
                    Vocabulary::Checkpoint { checkpoint, .. } => TextReader::Encoder {
                        bert: kiln_text::read_config(Path::new(checkpoint))
                            .map_err(|e| KilnError::Config(format!("--pretrained: {e}")))?,
                        trained_layers: config.text.finetune_layers,
                    },
                };
                Ok(TokenSpan {
                    offset,
                    length: slots.length,
                    reader,
                })
            })
            .collect::<Result<_, KilnError>>()?;
        Body::Text {
            spans,
            head: config.model.clone(),
        }
    };
    let network = NetworkConfig {
        inputs,
        outputs,
        body,
    };
    network.validate().map_err(KilnError::Config)?;
    Ok(network)
}

/// Dropout of the default MLP when free text reaches it as values: thousands of sparse
/// n-gram inputs (and sentence vectors) for each few rows overfit within a few epochs at the
/// tables' 0.3.
pub const TEXT_DROPOUT: f64 = 0.5;

/// The MLP `model` asks for: the default shape gets [`TEXT_DROPOUT`] when it `reads_text`;
/// a `[model]` section that changes anything is kept as written.
pub fn mlp_shape(model: &NetworkShape, reads_text: bool) -> NetworkShape {
    if reads_text && *model == NetworkShape::default() {
        NetworkShape {
            dropout: TEXT_DROPOUT,
            ..model.clone()
        }
    } else {
        model.clone()
    }
}

/// The network training starts from when it fine-tunes a pretrained encoder: freshly
/// initialised from `seed`, with the checkpoint's weights in the encoder. None when nothing
/// in `network` is pretrained.
pub fn pretrained_start(
    network: &NetworkConfig,
    config: &Config,
    seed: u64,
) -> Result<Option<Network>, KilnError> {
    let Body::Text { spans, .. } = &network.body else {
        return Ok(None);
    };
    let Some(bert) = spans.iter().find_map(|s| match &s.reader {
        TextReader::Encoder { bert, .. } => Some(bert),
        TextReader::Recurrent { .. } => None,
    }) else {
        return Ok(None);
    };
    let checkpoint = config.preprocess.pretrained.as_deref().ok_or_else(|| {
        KilnError::Config("fine-tuning needs --pretrained (preprocess.pretrained)".into())
    })?;
    let device = Device::flex();
    let weights = kiln_text::read_weights(Path::new(checkpoint), bert, &device)
        .map_err(|e| KilnError::Config(format!("--pretrained: {e}")))?;
    Ok(Some(network.init(&device, seed).with_pretrained(&weights)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_mlp_reading_text_gets_the_text_dropout_and_a_written_one_is_kept() {
        let default = NetworkShape::default();
        assert_eq!(mlp_shape(&default, true).dropout, TEXT_DROPOUT);
        assert_eq!(
            mlp_shape(&default, true),
            NetworkShape {
                dropout: TEXT_DROPOUT,
                ..default.clone()
            }
        );
        assert_eq!(mlp_shape(&default, false), default);
        let written = NetworkShape {
            width: 128,
            ..default
        };
        assert_eq!(mlp_shape(&written, true), written);
    }
}
