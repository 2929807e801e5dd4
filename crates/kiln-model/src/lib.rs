//! Network architectures Kiln chooses from the data: for tables, an MLP whose later layers are
//! a parameter-efficient ensemble (TabM-style, Gorishniy et al., ICLR 2025) over
//! piecewise-linear encoded inputs; for images, a convolutional network; for free text read as
//! tokens, a recurrent network or a fine-tuned pretrained encoder under the same MLP head.

pub mod conv;
pub mod kernels;
pub mod network;
pub mod predictor;
pub mod sequence;
pub mod tabular;

pub use conv::{ConvNet, ConvShape, ImageShape, PixelScale};
pub use network::{Body, Network, NetworkConfig};
pub use predictor::TabularPredictor;
pub use sequence::{CellKind, TextNet, TextReader, TextShape, TokenSpan};
pub use tabular::{Activation, NetworkShape, TabularNet};
