//! Errors about ONNX files and the tensors given to them, each saying what is wrong and what
//! to do.

use thiserror::Error;

/// Everything that can be wrong with an ONNX file or with running it.
#[derive(Debug, Error)]
pub enum OnnxError {
    /// The file could not be read.
    #[error("cannot read '{file}': {reason}")]
    Io {
        /// The file.
        file: String,
        /// The operating system's reason.
        reason: String,
    },
    /// The file is not an ONNX model at all.
    #[error("'{file}' is not an ONNX model: {reason}")]
    NotOnnx {
        /// The file.
        file: String,
        /// What the decoder found.
        reason: String,
    },
    /// A node uses an operator Kiln cannot run.
    #[error(
        "'{file}': node '{node}' uses the operator '{op}', which Kiln's ONNX runner does not \
         support (it runs: {supported}); export the model with supported operators, or \
         simplify it (onnxsim) so the operator is folded away"
    )]
    UnsupportedOp {
        /// The file.
        file: String,
        /// The operator, with its domain when that is not ONNX's own.
        op: String,
        /// The node's name (or its first output's, when it has none).
        node: String,
        /// The operators Kiln runs, comma-separated.
        supported: String,
    },
    /// A tensor or value has an element type Kiln cannot compute with.
    #[error(
        "'{file}': '{what}' has element type {data_type}; Kiln runs FLOAT models (with INT32 \
         and INT64 shape values); convert the model to float32"
    )]
    UnsupportedType {
        /// The file.
        file: String,
        /// The tensor, value or node concerned.
        what: String,
        /// The type's ONNX name.
        data_type: String,
    },
    /// The file decodes, but the graph in it is inconsistent or uses a feature Kiln lacks.
    #[error("'{file}': {reason}")]
    Malformed {
        /// The file.
        file: String,
        /// What is wrong and what to do.
        reason: String,
    },
    /// The tensor given to the model does not fit its declared input.
    #[error("the input does not fit the model: {0}")]
    Input(String),
    /// A node could not compute its output from the values it was given.
    #[error("node '{node}' ({op}) failed: {reason}")]
    Node {
        /// The node's name.
        node: String,
        /// Its operator.
        op: String,
        /// What is wrong.
        reason: String,
    },
    /// Features were asked for, but the graph has no final MatMul or Gemm to read them at.
    #[error(
        "the model has no final MatMul or Gemm node with constant weights, so it has no \
         penultimate features; use run() for its output"
    )]
    NoFeatures,
}
