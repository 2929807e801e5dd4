//! 2-D convolution with stride 1 (any kernel size and zero padding, no groups or dilation) by
//! im2col and one GEMM per image, images in parallel. burn-flex derives the gradients from
//! other convolutions (a transposed one for the input, one over the swapped batch for the
//! weights) with their copies and scratch buffers; here the input gradient is one GEMM and a
//! col2im per image and the weight gradient one GEMM per image summed per thread.

use super::matmul::{View, matmul};
use super::{Tracked, par_filled, values};
use burn::prelude::*;
use burn::tensor::module;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, TensorData};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

/// Convolves `x` (`[batch, in, height, width]`) with `weight` (`[out, in, kh, kw]`) at stride
/// 1 with `padding` zeros on each side, then adds `bias` per output channel.
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    padding: [usize; 2],
) -> Tensor<4> {
    let fast = Geometry::of(&x, &weight, padding).and_then(|g| fast(&x, &weight, g));
    let out = fast.unwrap_or_else(|| {
        let options = ConvOptions::new([1, 1], padding, [1, 1], 1);
        module::conv2d(x, weight, None, options)
    });
    match bias {
        Some(bias) => {
            let channels = bias.dims()[0];
            out + bias.reshape([1, channels, 1, 1])
        }
        None => out,
    }
}

/// Runs the convolution with Kiln's kernels when both tensors live on flex (tracked or not).
fn fast(x: &Tensor<4>, weight: &Tensor<4>, geometry: Geometry) -> Option<Tensor<4>> {
    let tracked = (
        x.clone().try_into_primitive::<Autodiff<Flex>>(),
        weight.clone().try_into_primitive::<Autodiff<Flex>>(),
    );
    if let (Ok(x), Ok(weight)) = tracked {
        return Some(Tensor::from_primitive::<Autodiff<Flex>>(conv_tracked(
            x, weight, geometry,
        )));
    }
    let plain = (
        x.clone().try_into_primitive::<Flex>(),
        weight.clone().try_into_primitive::<Flex>(),
    );
    if let (Ok(x), Ok(weight)) = plain {
        return Some(Tensor::from_primitive::<Flex>(forward(
            &x, &weight, geometry,
        )));
    }
    None
}

/// The sizes of one convolution.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    batch: usize,
    inputs: usize,
    height: usize,
    width: usize,
    outputs: usize,
    kh: usize,
    kw: usize,
    ph: usize,
    pw: usize,
    out_h: usize,
    out_w: usize,
}

impl Geometry {
    /// The geometry, when Kiln's kernels handle these tensors (f32, matching channels, a
    /// non-empty output).
    fn of(x: &Tensor<4>, weight: &Tensor<4>, padding: [usize; 2]) -> Option<Self> {
        let [batch, inputs, height, width] = x.dims();
        let [outputs, weight_inputs, kh, kw] = weight.dims();
        let f32s = x.dtype() == DType::F32 && weight.dtype() == DType::F32;
        let out_h = (height + 2 * padding[0] + 1).checked_sub(kh)?;
        let out_w = (width + 2 * padding[1] + 1).checked_sub(kw)?;
        let sizes = [batch, inputs, outputs, kh, kw, out_h, out_w];
        (f32s && inputs == weight_inputs && !sizes.contains(&0)).then_some(Self {
            batch,
            inputs,
            height,
            width,
            outputs,
            kh,
            kw,
            ph: padding[0],
            pw: padding[1],
            out_h,
            out_w,
        })
    }

    /// Rows of an image's column matrix: one per input channel and kernel tap.
    fn taps(&self) -> usize {
        self.inputs * self.kh * self.kw
    }

    /// Output positions per image: the column matrix's columns.
    fn positions(&self) -> usize {
        self.out_h * self.out_w
    }

    fn image_len(&self) -> usize {
        self.inputs * self.height * self.width
    }

    fn output_len(&self) -> usize {
        self.outputs * self.positions()
    }

    /// For kernel column `kj`: the output columns that read a pixel inside the image (the
    /// others read padding), and the offset from output column to input column.
    fn inside(&self, kj: usize) -> (usize, usize, isize) {
        let lo = self.pw.saturating_sub(kj).min(self.out_w);
        let hi = (self.width + self.pw)
            .saturating_sub(kj)
            .min(self.out_w)
            .max(lo);
        (lo, hi, kj as isize - self.pw as isize)
    }

    /// The input row that output row `oy` reads through kernel row `ki`, if not padding.
    fn input_row(&self, oy: usize, ki: usize) -> Option<usize> {
        (oy + ki)
            .checked_sub(self.ph)
            .filter(|&row| row < self.height)
    }
}

/// Spreads one image into its column matrix (`taps × positions`): row (channel, ki, kj) holds,
/// for every output position, the pixel that tap reads there (zero in the padding).
fn im2col(g: &Geometry, image: &[f32], cols: &mut [f32]) {
    let plane = g.height * g.width;
    let mut rows = cols.chunks_exact_mut(g.positions());
    for channel in image.chunks_exact(plane) {
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = rows.next().expect("one row per tap");
                let (lo, hi, shift) = g.inside(kj);
                for (oy, dst) in row.chunks_exact_mut(g.out_w).enumerate() {
                    let Some(iy) = g.input_row(oy, ki) else {
                        dst.fill(0.0);
                        continue;
                    };
                    let src = &channel[iy * g.width..(iy + 1) * g.width];
                    dst[..lo].fill(0.0);
                    dst[hi..].fill(0.0);
                    let start = (lo as isize + shift) as usize;
                    dst[lo..hi].copy_from_slice(&src[start..start + hi - lo]);
                }
            }
        }
    }
}

/// Adds a column matrix's values back onto the pixels they were read from: the adjoint of
/// [`im2col`].
fn col2im(g: &Geometry, cols: &[f32], image: &mut [f32]) {
    let plane = g.height * g.width;
    let mut rows = cols.chunks_exact(g.positions());
    for channel in image.chunks_exact_mut(plane) {
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = rows.next().expect("one row per tap");
                let (lo, hi, shift) = g.inside(kj);
                for (oy, src) in row.chunks_exact(g.out_w).enumerate() {
                    let Some(iy) = g.input_row(oy, ki) else {
                        continue;
                    };
                    let start = iy * g.width + (lo as isize + shift) as usize;
                    let dst = &mut channel[start..start + hi - lo];
                    for (d, s) in dst.iter_mut().zip(&src[lo..hi]) {
                        *d += s;
                    }
                }
            }
        }
    }
}

/// The convolution's output, `[batch, outputs, out_h, out_w]`.
fn forward(x: &FlexTensor, weight: &FlexTensor, g: Geometry) -> FlexTensor {
    let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
    let (pixels, weights) = (values(&x), values(&weight));
    let weights = View::new(weights, g.outputs, g.taps());
    let out = par_filled(
        g.batch * g.output_len(),
        g.output_len(),
        || vec![0f32; g.taps() * g.positions()],
        |cols, b, out| {
            im2col(
                &g,
                &pixels[b * g.image_len()..(b + 1) * g.image_len()],
                cols,
            );
            matmul(
                out,
                weights,
                View::new(cols, g.taps(), g.positions()),
                false,
            );
        },
    );
    let shape = [g.batch, g.outputs, g.out_h, g.out_w];
    FlexTensor::from_data(TensorData::new(out, shape))
}

/// The gradient of the weights: the sum over images of the output gradient times the
/// transposed column matrix.
fn weight_grad(x: &FlexTensor, grad: &[f32], g: Geometry) -> FlexTensor {
    let x = x.to_contiguous();
    let pixels = values(&x);
    let size = g.outputs * g.taps();
    let sum = (0..g.batch)
        .into_par_iter()
        .fold(
            || (vec![0f32; size], vec![0f32; g.taps() * g.positions()]),
            |(mut sum, mut cols), b| {
                im2col(
                    &g,
                    &pixels[b * g.image_len()..(b + 1) * g.image_len()],
                    &mut cols,
                );
                let grad = &grad[b * g.output_len()..(b + 1) * g.output_len()];
                let grad = View::new(grad, g.outputs, g.positions());
                let cols_t = View::new(&cols, g.taps(), g.positions()).t();
                matmul(&mut sum, grad, cols_t, true);
                (sum, cols)
            },
        )
        .map(|(sum, _)| sum)
        .reduce(
            || vec![0f32; size],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                a
            },
        );
    FlexTensor::from_data(TensorData::new(sum, [g.outputs, g.inputs, g.kh, g.kw]))
}

/// The gradient of the input: per image, the transposed weights times the output gradient,
/// folded back onto the pixels.
fn input_grad(weight: &FlexTensor, grad: &[f32], g: Geometry) -> FlexTensor {
    let weight = weight.to_contiguous();
    let weights_t = View::new(values(&weight), g.outputs, g.taps()).t();
    let input = par_filled(
        g.batch * g.image_len(),
        g.image_len(),
        || vec![0f32; g.taps() * g.positions()],
        |cols, b, image| {
            let grad = &grad[b * g.output_len()..(b + 1) * g.output_len()];
            let grad = View::new(grad, g.outputs, g.positions());
            matmul(cols, weights_t, grad, false);
            col2im(&g, cols, image);
        },
    );
    let shape = [g.batch, g.inputs, g.height, g.width];
    FlexTensor::from_data(TensorData::new(input, shape))
}

/// What the backward pass needs: both inputs (shared, not copied) and the sizes.
#[derive(Debug, Clone)]
struct ConvState {
    x: FlexTensor,
    weight: FlexTensor,
    geometry: Geometry,
}

#[derive(Debug)]
struct Conv2dStride1;

impl Backward<Flex, 2> for Conv2dStride1 {
    type State = ConvState;

    fn backward(self, ops: Ops<ConvState, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x_parent, weight_parent] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node).to_contiguous();
        let state = ops.state;
        if let Some(parent) = weight_parent {
            let weight_grad = weight_grad(&state.x, values(&grad), state.geometry);
            grads.register::<Flex>(parent.id, weight_grad);
        }
        if let Some(parent) = x_parent {
            let input_grad = input_grad(&state.weight, values(&grad), state.geometry);
            grads.register::<Flex>(parent.id, input_grad);
        }
    }
}

fn conv_tracked(x: Tracked, weight: Tracked, geometry: Geometry) -> Tracked {
    let (x, x_node) = x.into_parts();
    let (weight, weight_node) = weight.into_parts();
    match Conv2dStride1
        .prepare::<NoCheckpointing>([x_node, weight_node])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let output = forward(&x, &weight, geometry);
            let state = ConvState {
                x,
                weight,
                geometry,
            };
            prep.finish(state, output)
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(&x, &weight, geometry)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Tolerance;

    fn tensor(values: impl Fn(usize) -> f32, shape: [usize; 4], device: &Device) -> Tensor<4> {
        let n = shape.iter().product();
        Tensor::<4>::from_data(TensorData::new((0..n).map(values).collect(), shape), device)
    }

    /// Output, input gradient, weight gradient and bias gradient under a weighted sum.
    fn run(ours: bool, kernel: [usize; 2], padding: [usize; 2]) -> Vec<TensorData> {
        let device = Device::flex().autodiff();
        let x = tensor(
            |i| ((i * 37) % 23) as f32 / 7.0 - 1.5,
            [3, 2, 6, 5],
            &device,
        );
        let w = tensor(
            |i| ((i * 11) % 13) as f32 / 5.0 - 1.2,
            [4, 2, kernel[0], kernel[1]],
            &device,
        );
        let bias =
            Tensor::<1>::from_data(TensorData::new(vec![0.5, -1.0, 0.25, 2.0], [4]), &device);
        let (x, w, bias) = (x.require_grad(), w.require_grad(), bias.require_grad());
        let out = if ours {
            assert!(x.clone().try_into_primitive::<Autodiff<Flex>>().is_ok());
            conv2d(x.clone(), w.clone(), Some(bias.clone()), padding)
        } else {
            let options = ConvOptions::new([1, 1], padding, [1, 1], 1);
            module::conv2d(x.clone(), w.clone(), Some(bias.clone()), options)
        };
        let dims = out.dims();
        let scale = tensor(|i| (i % 7) as f32 - 3.0, dims, &device);
        let grads = (out.clone() * scale).sum().backward();
        vec![
            out.into_data(),
            x.grad(&grads).unwrap().into_data(),
            w.grad(&grads).unwrap().into_data(),
            bias.grad(&grads).unwrap().into_data(),
        ]
    }

    #[test]
    fn the_convolution_and_its_gradients_match_burns() {
        for (kernel, padding) in [
            ([3, 3], [1, 1]),
            ([3, 3], [0, 0]),
            ([2, 3], [1, 0]),
            ([1, 1], [0, 0]),
            ([5, 5], [3, 3]),
        ] {
            let (ours, burns) = (run(true, kernel, padding), run(false, kernel, padding));
            for (a, b) in ours.iter().zip(&burns) {
                assert_eq!(
                    a.shape(),
                    b.shape(),
                    "kernel {kernel:?} padding {padding:?}"
                );
                a.assert_approx_eq::<f32>(b, Tolerance::absolute(1e-4));
            }
        }
    }

    #[test]
    fn inference_without_autodiff_gives_the_same_output() {
        let device = Device::flex();
        let x = tensor(|i| (i % 9) as f32 - 4.0, [2, 3, 5, 5], &device);
        let w = tensor(|i| (i % 4) as f32 * 0.25, [2, 3, 3, 3], &device);
        assert!(x.clone().try_into_primitive::<Flex>().is_ok());
        let ours = conv2d(x.clone(), w.clone(), None, [1, 1]).into_data();
        let burns = module::conv2d(x, w, None, ConvOptions::new([1, 1], [1, 1], [1, 1], 1));
        ours.assert_approx_eq::<f32>(&burns.into_data(), Tolerance::absolute(1e-5));
    }
}
