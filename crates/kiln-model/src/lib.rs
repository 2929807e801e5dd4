//! Network architectures. For tables: an MLP whose later layers are a parameter-efficient
//! ensemble (TabM-style, Gorishniy et al., ICLR 2025) over piecewise-linear encoded inputs.

pub mod tabular;

pub use tabular::{Activation, NetworkConfig, NetworkShape, TabularNet};
