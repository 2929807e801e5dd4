//! ONNX for Kiln: small convolutional networks (MobileNet-style classifiers and the like)
//! read from an `.onnx` file and run in burn on the CPU, as a classifier or as a frozen
//! feature extractor. The file is decoded with a hand-declared subset of `onnx.proto`; every
//! node must be one of [`SUPPORTED_OPS`], which is checked when the model loads.

pub mod error;
mod exec;
mod fold;
mod graph;
pub mod model;
mod op;
pub mod proto;
mod value;

pub use error::OnnxError;
pub use model::OnnxModel;
pub use op::SUPPORTED_OPS;
