//! Kiln's own CPU kernels for the image network's hottest operations, written as burn autodiff
//! operations on the flex backend (forward and backward both ours); on any other backend, or
//! any other element type, burn's own operation runs instead, so callers need not care.

mod conv;
pub(crate) mod matmul;
mod norm;
mod pool;

pub use conv::{conv2d, conv2d_relu};
pub use norm::batch_norm_relu;
pub use pool::max_pool_2x2;

use burn::tensor::{BackendPrimitive, Float};
use burn_autodiff::Autodiff;
use burn_flex::{Flex, FlexTensor};
use std::mem::MaybeUninit;

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

/// The planes of channel `c` across a batch laid out `[batch, channels, plane]`.
fn channel_planes(
    data: &[f32],
    c: usize,
    channels: usize,
    plane: usize,
) -> impl Iterator<Item = &[f32]> {
    data.chunks_exact(plane).skip(c).step_by(channels)
}

/// The sum of channel `c`'s values across a batch laid out `[batch, channels, plane]`
/// (each plane summed in f32, the planes in f64).
fn channel_sum(data: &[f32], c: usize, channels: usize, plane: usize) -> f64 {
    channel_planes(data, c, channels, plane)
        .map(|p| f64::from(lane_sum(p, |v| v)))
        .sum()
}

/// Partial sums a reduction keeps side by side, so that its loop vectorises: one running f32
/// sum is a chain of dependent additions the compiler may not reorder.
pub(crate) const LANES: usize = 16;

/// The sum of `f(v)` over `values`, in [`LANES`] partial sums.
fn lane_sum(values: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut lanes = [0f32; LANES];
    let chunks = values.chunks_exact(LANES);
    let rest: f32 = chunks.remainder().iter().map(|&v| f(v)).sum();
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += f(v);
        }
    }
    lanes.iter().sum::<f32>() + rest
}

/// A vector of `len` values made in parallel, `chunk` values at a time: `fill(i, values)`
/// writes the `i`-th chunk, handed over zeroed. Each chunk is zeroed by its worker just before
/// it is written, while it is in cache, instead of the whole vector up front on one thread as
/// `vec![0.0; len]` does.
fn par_filled<F>(len: usize, chunk: usize, fill: F) -> Vec<f32>
where
    F: Fn(usize, &mut [f32]) + Sync + Send,
{
    // SAFETY: each chunk is initialised (zeroed) before `fill` sees it as `f32`s, which
    // `MaybeUninit<f32>` has the layout of.
    unsafe {
        par_written(len, chunk, |i, part| {
            part.fill(MaybeUninit::new(0.0));
            let part = &mut *(part as *mut [MaybeUninit<f32>] as *mut [f32]);
            fill(i, part);
        })
    }
}

/// As [`par_filled`], but each chunk is handed over uninitialised, for kernels that write every
/// value themselves (a GEMM that overwrites its output, an elementwise map) and so need no
/// zeroing first.
///
/// # Safety
/// `fill` must initialise every element of each chunk it is given.
unsafe fn par_written<F>(len: usize, chunk: usize, fill: F) -> Vec<f32>
where
    F: Fn(usize, &mut [MaybeUninit<f32>]) + Sync + Send,
{
    use rayon::prelude::*;
    let mut values = Vec::with_capacity(len);
    values.spare_capacity_mut()[..len]
        .par_chunks_mut(chunk.max(1))
        .enumerate()
        .for_each(|(i, part)| fill(i, part));
    // SAFETY: the chunks cover the first `len` elements, and the caller's `fill` initialised
    // each of them.
    unsafe { values.set_len(len) };
    values
}
