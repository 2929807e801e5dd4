//! Text for Kiln: BERT-family sentence encoders (all-MiniLM-L6-v2 and its kin) loaded from a
//! local Hugging Face checkpoint folder (`config.json`, `model.safetensors`, `tokenizer.json`
//! and the sentence-transformers pooling files), run in burn. Nothing is downloaded.

mod attention;
pub mod bert;
pub mod cache;
pub mod checkpoint;
pub mod encoder;
pub mod error;
mod infer;
pub mod shared;

pub use bert::{Bert, BertConfig};
pub use encoder::{Piece, Pooling, SentenceEncoder, read_config, read_weights};
pub use error::TextError;
pub use shared::{SharedEncoder, shared_encoder};
