//! Kiln's own CPU kernels for the image network's hottest operations, written as burn autodiff
//! operations on the flex backend (forward and backward both ours); on any other backend, or
//! any other element type, burn's own operation runs instead, so callers need not care.

mod conv;
mod matmul;
mod pool;

pub use conv::conv2d;
pub use pool::max_pool_2x2;

use burn::tensor::{BackendPrimitive, Float};
use burn_autodiff::Autodiff;
use burn_flex::{Flex, FlexTensor};

/// A float tensor under autodiff on the flex backend.
type Tracked = <Float as BackendPrimitive<Autodiff<Flex>>>::Primitive;

/// The f32 values of a contiguous tensor, in row-major order.
fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>()
        .expect("kernels read f32 tensors made contiguous first")
}

/// The shape of a 4-dimensional tensor.
fn dims4(t: &FlexTensor) -> [usize; 4] {
    let shape = t.layout().shape();
    [shape[0], shape[1], shape[2], shape[3]]
}
