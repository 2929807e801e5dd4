//! 2-D convolution with stride 1 (any kernel size and zero padding, no groups or dilation) by
//! im2col and one GEMM per image, images in parallel, the bias (and, for [`conv2d_relu`], ReLU)
//! applied in the same pass.
//! burn-flex derives the gradients from other convolutions (a transposed one for the input,
//! one over the swapped batch for the weights) with their copies and scratch buffers; here the
//! input gradient is one GEMM and a col2im per image and the weight gradient one GEMM per image
//! summed per thread.

use super::matmul::{View, matmul, matmul_into};
use super::{Tracked, channel_sum, par_filled, par_written, values};
use burn::prelude::*;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, TensorData};
use burn::tensor::{activation, module};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;
use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::ops::Range;

/// Convolves `x` (`[batch, in, height, width]`) with `weight` (`[out, in, kh, kw]`) at stride
/// 1 with `padding` zeros on each side, then adds `bias` per output channel.
pub fn conv2d(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    padding: [usize; 2],
) -> Tensor<4> {
    convolution(x, weight, bias, padding, false)
}

/// [`conv2d`] followed by ReLU, applied in the same pass over each image's output (and its
/// gradient in the backward pass) instead of two more passes over the whole batch.
pub fn conv2d_relu(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    padding: [usize; 2],
) -> Tensor<4> {
    convolution(x, weight, bias, padding, true)
}

fn convolution(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    padding: [usize; 2],
    relu: bool,
) -> Tensor<4> {
    let geometry = Geometry::of(&x, &weight, bias.as_ref(), padding, relu);
    if let Some(out) = geometry.and_then(|g| fast(&x, &weight, bias.as_ref(), g)) {
        return out;
    }
    let options = ConvOptions::new([1, 1], padding, [1, 1], 1);
    let out = module::conv2d(x, weight, bias, options);
    if relu { activation::relu(out) } else { out }
}

/// Runs the convolution with Kiln's kernels when every tensor lives on flex (all tracked by
/// autodiff, or none).
fn fast(
    x: &Tensor<4>,
    weight: &Tensor<4>,
    bias: Option<&Tensor<1>>,
    geometry: Geometry,
) -> Option<Tensor<4>> {
    let tracked = (
        x.clone().try_into_primitive::<Autodiff<Flex>>(),
        weight.clone().try_into_primitive::<Autodiff<Flex>>(),
        bias.map(|b| b.clone().try_into_primitive::<Autodiff<Flex>>()),
    );
    match tracked {
        (Ok(x), Ok(weight), None) => {
            let out = conv_tracked(Inputs::Plain([x, weight]), geometry);
            return Some(Tensor::from_primitive::<Autodiff<Flex>>(out));
        }
        (Ok(x), Ok(weight), Some(Ok(bias))) => {
            let out = conv_tracked(Inputs::Biased([x, weight, bias]), geometry);
            return Some(Tensor::from_primitive::<Autodiff<Flex>>(out));
        }
        _ => {}
    }
    let plain = (
        x.clone().try_into_primitive::<Flex>().ok()?,
        weight.clone().try_into_primitive::<Flex>().ok()?,
        bias.map(|b| b.clone().try_into_primitive::<Flex>().ok()),
    );
    let bias = match plain.2 {
        Some(bias) => Some(bias?),
        None => None,
    };
    let out = forward(&plain.0, &plain.1, bias.as_ref(), geometry);
    Some(Tensor::from_primitive::<Flex>(out))
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
    /// Whether ReLU follows the convolution.
    relu: bool,
}

impl Geometry {
    /// The geometry, when Kiln's kernels handle these tensors (f32, matching channels and
    /// bias, a non-empty output).
    fn of(
        x: &Tensor<4>,
        weight: &Tensor<4>,
        bias: Option<&Tensor<1>>,
        padding: [usize; 2],
        relu: bool,
    ) -> Option<Self> {
        let [batch, inputs, height, width] = x.dims();
        let [outputs, weight_inputs, kh, kw] = weight.dims();
        let bias_fits = bias.is_none_or(|b| b.dims()[0] == outputs && b.dtype() == DType::F32);
        let f32s = x.dtype() == DType::F32 && weight.dtype() == DType::F32 && bias_fits;
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
            relu,
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

    /// Tap (ki, kj) as one shifted copy of the plane, when output rows are as wide as input
    /// rows.
    fn span(&self, ki: usize, kj: usize) -> Option<Span> {
        if self.out_w != self.width {
            return None;
        }
        let width = self.width;
        let top = self.ph.saturating_sub(ki).min(self.out_h);
        let bottom = (self.height + self.ph)
            .saturating_sub(ki)
            .min(self.out_h)
            .max(top);
        let (lo, hi, dx) = self.inside(kj);
        let shift = (ki as isize - self.ph as isize) * width as isize + dx;
        let rows = top * width..bottom * width;
        let plane = (self.height * width) as isize;
        let start = (-shift).clamp(rows.start as isize, rows.end as isize);
        let end = (plane - shift).clamp(start, rows.end as isize);
        Some(Span {
            copy: start as usize..end as usize,
            shift,
            rows,
            columns: lo..hi,
        })
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
                if let Some(span) = g.span(ki, kj) {
                    row[..span.copy.start].fill(0.0);
                    row[span.copy.end..].fill(0.0);
                    let pixels = span.pixels();
                    row[span.copy.clone()].copy_from_slice(&channel[pixels]);
                    span.clear_padding_columns(row, g.out_w);
                    continue;
                }
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
/// [`im2col`]. `cols` is scratch: the values read from padding are zeroed on the way.
fn col2im(g: &Geometry, cols: &mut [f32], image: &mut [f32]) {
    let plane = g.height * g.width;
    let mut rows = cols.chunks_exact_mut(g.positions());
    for channel in image.chunks_exact_mut(plane) {
        for ki in 0..g.kh {
            for kj in 0..g.kw {
                let row = rows.next().expect("one row per tap");
                if let Some(span) = g.span(ki, kj) {
                    span.clear_padding_columns(row, g.out_w);
                    let pixels = &mut channel[span.pixels()];
                    for (d, s) in pixels.iter_mut().zip(&row[span.copy]) {
                        *d += s;
                    }
                    continue;
                }
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

/// What one tap of a convolution with output rows as wide as the input's (`kw = 2·pw + 1`,
/// the usual "same" padding) reads: the whole input plane shifted by one offset, so a row of
/// the column matrix is one contiguous copy instead of one short copy per output row.
struct Span {
    /// The output positions whose pixel lies inside the plane (position `p` reads `p + shift`).
    copy: Range<usize>,
    shift: isize,
    /// The output positions on rows that read an input row (not padding above or below).
    rows: Range<usize>,
    /// On those rows, the output columns that read inside the input row.
    columns: Range<usize>,
}

impl Span {
    /// The input pixels the copied positions read.
    fn pixels(&self) -> Range<usize> {
        let start = (self.copy.start as isize + self.shift) as usize;
        start..start + self.copy.len()
    }

    /// Zeroes, on the rows that read the image, the columns that read padding left or right
    /// (the shifted copy put the neighbouring input row's edge pixels there).
    fn clear_padding_columns(&self, row: &mut [f32], width: usize) {
        if self.columns == (0..width) {
            return;
        }
        // One strided pass per padded column: a `fill` per row would call memset for one or
        // two values at a time.
        let lines = &mut row[self.rows.clone()];
        for column in (0..self.columns.start).chain(self.columns.end..width) {
            for value in lines.iter_mut().skip(column).step_by(width) {
                *value = 0.0;
            }
        }
    }
}

/// The convolution's output, `[batch, outputs, out_h, out_w]`.
fn forward(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: Option<&FlexTensor>,
    g: Geometry,
) -> FlexTensor {
    let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
    let bias = bias.map(FlexTensor::to_contiguous);
    let out = convolve(values(&x), values(&weight), bias.as_ref().map(values), g);
    let shape = [g.batch, g.outputs, g.out_h, g.out_w];
    FlexTensor::from_data(TensorData::new(out, shape))
}

/// The convolution of row-major images with row-major weights (and a bias per output
/// channel): one im2col and one GEMM per image.
fn convolve(pixels: &[f32], weights: &[f32], bias: Option<&[f32]>, g: Geometry) -> Vec<f32> {
    let weights = View::new(weights, g.outputs, g.taps());
    let image = |b: usize, out: &mut [MaybeUninit<f32>]| {
        with_columns(g, |cols| {
            im2col(
                &g,
                &pixels[b * g.image_len()..(b + 1) * g.image_len()],
                cols,
            );
            let cols = View::new(cols, g.taps(), g.positions());
            let out = match bias {
                Some(bias) => {
                    for (row, &value) in out.chunks_exact_mut(g.positions()).zip(bias) {
                        row.fill(MaybeUninit::new(value));
                    }
                    // SAFETY: every row was just filled with its channel's bias.
                    let out = unsafe { &mut *(out as *mut [MaybeUninit<f32>] as *mut [f32]) };
                    matmul(out, weights, cols, true);
                    out
                }
                None => matmul_into(out, weights, cols),
            };
            if g.relu {
                out.iter_mut()
                    .for_each(|v| *v = if *v > 0.0 { *v } else { 0.0 });
            }
        });
    };
    // SAFETY: each chunk is one image's output, written whole by the bias rows and the GEMM
    // or by the GEMM alone.
    unsafe { par_written(g.batch * g.output_len(), g.output_len(), image) }
}

/// Runs `f` on this thread's column-matrix buffer, sized for `g`: kept from call to call
/// instead of allocated and zeroed for every batch, so it holds earlier values and `f` must
/// write all it reads (im2col and an overwriting GEMM do).
fn with_columns<R>(g: Geometry, f: impl FnOnce(&mut [f32]) -> R) -> R {
    thread_local! {
        static COLUMNS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    }
    let len = g.taps() * g.positions();
    COLUMNS.with_borrow_mut(|cols| {
        if cols.len() < len {
            cols.resize(len, 0.0);
        }
        f(&mut cols[..len])
    })
}

/// The output gradient through the ReLU: zero where the output is not positive (as burn's
/// `relu` has it), one image at a time.
fn through_relu(grad: &[f32], output: &[f32], g: Geometry) -> Vec<f32> {
    // SAFETY: every value of each chunk is written.
    unsafe {
        par_written(grad.len(), g.output_len(), |b, part| {
            let range = b * g.output_len()..b * g.output_len() + part.len();
            for ((d, &grad), &out) in part
                .iter_mut()
                .zip(&grad[range.clone()])
                .zip(&output[range])
            {
                d.write(if out > 0.0 { grad } else { 0.0 });
            }
        })
    }
}

/// Images per partial sum of the weight gradient: a fixed grouping, so that the sum comes out
/// the same to the last bit whatever the number of threads and however rayon's work stealing
/// splits the batch.
const IMAGES_PER_PARTIAL_SUM: usize = 8;

/// The gradient of the weights: the sum over images of the output gradient times the
/// transposed column matrix, summed in fixed groups of images and then group by group in order.
fn weight_grad(x: &FlexTensor, grad: &[f32], g: Geometry) -> FlexTensor {
    let x = x.to_contiguous();
    let pixels = values(&x);
    let size = g.outputs * g.taps();
    let partials: Vec<Vec<f32>> = (0..g.batch.div_ceil(IMAGES_PER_PARTIAL_SUM))
        .into_par_iter()
        .map(|group| {
            let mut sum = vec![0f32; size];
            let first = group * IMAGES_PER_PARTIAL_SUM;
            for b in first..(first + IMAGES_PER_PARTIAL_SUM).min(g.batch) {
                with_columns(g, |cols| {
                    im2col(
                        &g,
                        &pixels[b * g.image_len()..(b + 1) * g.image_len()],
                        cols,
                    );
                    let grad = &grad[b * g.output_len()..(b + 1) * g.output_len()];
                    let grad = View::new(grad, g.outputs, g.positions());
                    let cols_t = View::new(cols, g.taps(), g.positions()).t();
                    matmul(&mut sum, grad, cols_t, true);
                });
            }
            sum
        })
        .collect();
    let mut partials = partials.into_iter();
    let mut sum = partials.next().unwrap_or_else(|| vec![0f32; size]);
    for partial in partials {
        sum.iter_mut().zip(&partial).for_each(|(a, b)| *a += b);
    }
    FlexTensor::from_data(TensorData::new(sum, [g.outputs, g.inputs, g.kh, g.kw]))
}

/// The gradient of the input: per image, the transposed weights times the output gradient,
/// folded back onto the pixels (col2im). (Convolving the output gradient with the flipped
/// kernel instead, a GEMM shaped like the forward one, measured 15% slower end to end.)
fn input_grad(weight: &FlexTensor, grad: &[f32], g: Geometry) -> FlexTensor {
    let weight = weight.to_contiguous();
    let weights = values(&weight);
    let shape = [g.batch, g.inputs, g.height, g.width];
    let weights_t = View::new(weights, g.outputs, g.taps()).t();
    let input = par_filled(g.batch * g.image_len(), g.image_len(), |b, image| {
        with_columns(g, |cols| {
            let grad = &grad[b * g.output_len()..(b + 1) * g.output_len()];
            let grad = View::new(grad, g.outputs, g.positions());
            matmul(cols, weights_t, grad, false);
            col2im(&g, cols, image);
        });
    });
    FlexTensor::from_data(TensorData::new(input, shape))
}

/// The gradient of the bias: the output gradient summed per channel.
fn bias_grad(grad: &[f32], g: Geometry) -> FlexTensor {
    let sums: Vec<f32> = (0..g.outputs)
        .into_par_iter()
        .map(|channel| channel_sum(grad, channel, g.outputs, g.positions()) as f32)
        .collect();
    FlexTensor::from_data(TensorData::new(sums, [g.outputs]))
}

/// What the backward pass needs: the image and weights (shared, not copied), the output when
/// ReLU follows, and the sizes.
#[derive(Debug, Clone)]
struct ConvState {
    x: FlexTensor,
    weight: FlexTensor,
    output: Option<FlexTensor>,
    geometry: Geometry,
}

/// The tracked inputs: image and weights, and the bias when there is one.
enum Inputs {
    Plain([Tracked; 2]),
    Biased([Tracked; 3]),
}

/// The convolution as an autodiff operation with `N` inputs (image, weights, and bias when
/// `N` is 3).
#[derive(Debug)]
struct Conv2dStride1<const N: usize>;

impl<const N: usize> Backward<Flex, N> for Conv2dStride1<N> {
    type State = ConvState;

    fn backward(self, ops: Ops<ConvState, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node).to_contiguous();
        let state = ops.state;
        let masked = state
            .output
            .as_ref()
            .map(|out| through_relu(values(&grad), values(out), state.geometry));
        let grad = masked.as_deref().unwrap_or(values(&grad));
        let mut parents = ops.parents.into_iter();
        let (x_parent, weight_parent) = (parents.next().flatten(), parents.next().flatten());
        if let Some(parent) = parents.next().flatten() {
            grads.register::<Flex>(parent.id, bias_grad(grad, state.geometry));
        }
        if let Some(parent) = weight_parent {
            let weight_grad = weight_grad(&state.x, grad, state.geometry);
            grads.register::<Flex>(parent.id, weight_grad);
        }
        if let Some(parent) = x_parent {
            let input_grad = input_grad(&state.weight, grad, state.geometry);
            grads.register::<Flex>(parent.id, input_grad);
        }
    }
}

fn conv_tracked(inputs: Inputs, geometry: Geometry) -> Tracked {
    match inputs {
        Inputs::Plain(inputs) => record(Conv2dStride1::<2>, inputs, geometry),
        Inputs::Biased(inputs) => record(Conv2dStride1::<3>, inputs, geometry),
    }
}

/// Runs the convolution and records it on the autodiff graph.
fn record<const N: usize>(op: Conv2dStride1<N>, inputs: [Tracked; N], g: Geometry) -> Tracked {
    let (primitives, nodes): (Vec<FlexTensor>, Vec<_>) =
        inputs.into_iter().map(Tracked::into_parts).unzip();
    let nodes = nodes
        .try_into()
        .unwrap_or_else(|_| unreachable!("one node per input"));
    let (x, weight, bias) = (&primitives[0], &primitives[1], primitives.get(2));
    let output = forward(x, weight, bias, g);
    match op
        .prepare::<NoCheckpointing>(nodes)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let state = ConvState {
                x: x.clone(),
                weight: weight.clone(),
                output: g.relu.then(|| output.clone()),
                geometry: g,
            };
            prep.finish(state, output)
        }
        OpsKind::UnTracked(prep) => prep.finish(output),
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

    /// Output, input gradient, weight gradient and (when `biased`) bias gradient under a
    /// weighted sum, with ReLU after the convolution when `relu`.
    fn run(
        ours: bool,
        kernel: [usize; 2],
        padding: [usize; 2],
        biased: bool,
        relu: bool,
    ) -> Vec<TensorData> {
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
        let used_bias = biased.then(|| bias.clone());
        let out = if ours {
            let g = Geometry::of(&x, &w, used_bias.as_ref(), padding, relu).unwrap();
            let fast = fast(&x, &w, used_bias.as_ref(), g).expect("Kiln's kernel runs");
            // The same as the public function's.
            let public = if relu {
                conv2d_relu(x.clone(), w.clone(), used_bias.clone(), padding)
            } else {
                conv2d(x.clone(), w.clone(), used_bias.clone(), padding)
            };
            fast.clone()
                .into_data()
                .assert_approx_eq::<f32>(&public.into_data(), Tolerance::absolute(0.0));
            fast
        } else if relu {
            // burn's ReLU after Kiln's unfused convolution (checked against burn's without
            // ReLU), so that both sides mask the same pre-activations: a sum that is zero up
            // to rounding may land on either side of zero in two summation orders.
            activation::relu(conv2d(x.clone(), w.clone(), used_bias, padding))
        } else {
            let options = ConvOptions::new([1, 1], padding, [1, 1], 1);
            module::conv2d(x.clone(), w.clone(), used_bias, options)
        };
        let dims = out.dims();
        let scale = tensor(|i| (i % 7) as f32 - 3.0, dims, &device);
        let grads = (out.clone() * scale).sum().backward();
        let mut results = vec![
            out.into_data(),
            x.grad(&grads).unwrap().into_data(),
            w.grad(&grads).unwrap().into_data(),
        ];
        if biased {
            results.push(bias.grad(&grads).unwrap().into_data());
        }
        results
    }

    #[test]
    fn the_convolution_and_its_gradients_match_burns() {
        for (kernel, padding) in [
            ([3, 3], [1, 1]),
            ([3, 3], [0, 0]),
            ([2, 3], [1, 0]),
            ([1, 1], [0, 0]),
            ([5, 5], [3, 3]),
            ([1, 1], [1, 1]),
            // Output rows as wide as the input's: one shifted copy per tap.
            ([5, 5], [2, 2]),
            ([3, 1], [1, 0]),
            ([5, 3], [1, 1]),
            ([1, 3], [0, 1]),
        ] {
            for (biased, relu) in [(true, false), (false, false), (true, true), (false, true)] {
                let ours = run(true, kernel, padding, biased, relu);
                let burns = run(false, kernel, padding, biased, relu);
                assert_eq!(ours.len(), burns.len());
                for (a, b) in ours.iter().zip(&burns) {
                    assert_eq!(
                        a.shape(),
                        b.shape(),
                        "kernel {kernel:?} padding {padding:?} relu {relu}"
                    );
                    a.assert_approx_eq::<f32>(b, Tolerance::absolute(1e-4));
                }
            }
        }
    }

    #[test]
    fn the_weight_gradient_sums_every_image_alike_on_any_number_of_threads() {
        // 20 images: two full groups of partial sums and a shorter one.
        let weight_grad = |threads: usize, ours: bool| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let device = Device::flex().autodiff();
                let x = tensor(
                    |i| ((i * 7) % 13) as f32 / 3.0 - 2.0,
                    [20, 3, 6, 6],
                    &device,
                );
                let w = tensor(|i| (i % 5) as f32 * 0.3 - 0.6, [4, 3, 3, 3], &device);
                let w = w.require_grad();
                let y = if ours {
                    conv2d(x, w.clone(), None, [1, 1])
                } else {
                    let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
                    module::conv2d(x, w.clone(), None, options)
                };
                let weights = tensor(|i| ((i * 5) % 11) as f32 - 5.0, [20, 4, 6, 6], &device);
                let grads = (y * weights).sum().backward();
                w.grad(&grads).unwrap().into_data()
            })
        };
        let one = weight_grad(1, true);
        let values = |d: &TensorData| d.try_to_vec::<f32>().unwrap();
        assert_eq!(values(&one), values(&weight_grad(3, true)), "bit for bit");
        one.assert_approx_eq::<f32>(&weight_grad(1, false), Tolerance::absolute(1e-2));
    }

    #[test]
    fn inference_without_autodiff_gives_the_same_output() {
        let device = Device::flex();
        let x = tensor(|i| (i % 9) as f32 - 4.0, [2, 3, 5, 5], &device);
        let w = tensor(|i| (i % 4) as f32 * 0.25, [2, 3, 3, 3], &device);
        let bias = Tensor::<1>::from_data(TensorData::new(vec![0.5f32, -2.0], [2]), &device);
        for bias in [None, Some(bias)] {
            let g = Geometry::of(&x, &w, bias.as_ref(), [1, 1], false).unwrap();
            let ours = fast(&x, &w, bias.as_ref(), g).expect("Kiln's kernel runs");
            let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
            let burns = module::conv2d(x.clone(), w.clone(), bias, options);
            let tolerance = Tolerance::absolute(1e-5);
            ours.into_data()
                .assert_approx_eq::<f32>(&burns.into_data(), tolerance);
        }
    }
}
