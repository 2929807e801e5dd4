//! Batch normalisation of images followed by ReLU, fused into one kernel. burn computes a
//! training batch norm from a dozen whole-tensor operations (two of them transposing copies to
//! reach each channel's values) and ReLU from two more; here the forward pass reads the input
//! twice for each channel's statistics and once to write the output, and the backward pass
//! reads it twice, in parallel over channels and then over image planes.

use super::{LANES, Tracked, channel_planes, channel_sum, dims4, lane_sum, par_written, values};
use burn::nn::BatchNorm;
use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::{DType, TensorData};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;
use std::sync::Arc;

/// `norm` applied to images `[batch, channels, height, width]` as `BatchNorm::forward` does
/// (batch statistics while training under autodiff, which also move the running averages;
/// the running averages otherwise), then ReLU.
pub fn batch_norm_relu(norm: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    let training = x.device().is_autodiff() && norm.training.is_enabled();
    let fused = if training {
        train(norm, &x)
    } else {
        infer(norm, &x)
    };
    fused.unwrap_or_else(|| relu(norm.forward(x)))
}

/// Training mode through the fused kernel, when the tensors live on flex under autodiff.
fn train(norm: &BatchNorm, x: &Tensor<4>) -> Option<Tensor<4>> {
    let (gamma, beta) = (norm.gamma.val(), norm.beta.val());
    let f32s = [x.dtype(), gamma.dtype(), beta.dtype()] == [DType::F32; 3];
    let tracked = (
        x.clone().try_into_primitive::<Autodiff<Flex>>(),
        gamma.try_into_primitive::<Autodiff<Flex>>(),
        beta.try_into_primitive::<Autodiff<Flex>>(),
    );
    let (Ok(tracked_x), Ok(gamma), Ok(beta), true) = (tracked.0, tracked.1, tracked.2, f32s) else {
        return None;
    };
    let device = x.device();
    let (output, mean, variance) = norm_tracked(tracked_x, gamma, beta, norm.epsilon);
    let statistic = |v: Vec<f32>| {
        let len = v.len();
        Tensor::<1>::from_data(TensorData::new(v, [len]), &device)
    };
    let momentum = norm.momentum;
    let update = |state: &burn::module::RunningState<Tensor<1>>, batch: Vec<f32>| {
        let running = state.value_sync().to_device(&device);
        let batch = statistic(batch);
        state.update(
            running
                .mul_scalar(1.0 - momentum)
                .add(batch.mul_scalar(momentum))
                .detach(),
        );
    };
    update(&norm.running_mean, mean);
    update(&norm.running_var, variance);
    Some(Tensor::from_primitive::<Autodiff<Flex>>(output))
}

/// Inference mode (running averages) as one pass, when the tensor lives on flex without
/// autodiff.
fn infer(norm: &BatchNorm, x: &Tensor<4>) -> Option<Tensor<4>> {
    if x.dtype() != DType::F32 {
        return None;
    }
    let plain = x.clone().try_into_primitive::<Flex>().ok()?;
    let device = x.device();
    let mean = norm.running_mean.value_sync().to_device(&device);
    let variance = norm.running_var.value_sync().to_device(&device);
    let scale = norm
        .gamma
        .val()
        .div(variance.add_scalar(norm.epsilon).sqrt());
    let shift = norm.beta.val().sub(mean.mul(scale.clone()));
    let (Ok(scale), Ok(shift)) = (
        scale.into_data().convert::<f32>().try_into_vec::<f32>(),
        shift.into_data().convert::<f32>().try_into_vec::<f32>(),
    ) else {
        return None;
    };
    let output = affine_relu(&plain, &scale, &shift);
    Some(Tensor::from_primitive::<Flex>(output))
}

/// `relu(x * scale[c] + shift[c])` for every pixel of channel `c`.
fn affine_relu(x: &FlexTensor, scale: &[f32], shift: &[f32]) -> FlexTensor {
    let [b, c, h, w] = dims4(x);
    let x = x.to_contiguous();
    let pixels = values(&x);
    let plane = h * w;
    // SAFETY: each chunk is one plane, and every value of it is written.
    let out = unsafe {
        par_written(b * c * plane, plane, |i, out| {
            let (scale, shift) = (scale[i % c], shift[i % c]);
            for (o, &v) in out.iter_mut().zip(&pixels[i * plane..(i + 1) * plane]) {
                o.write((v * scale + shift).max(0.0));
            }
        })
    };
    FlexTensor::from_data(TensorData::new(out, [b, c, h, w]))
}

/// What the backward pass needs: the input and output (shared, not copied), each channel's
/// mean, 1/std and scale.
#[derive(Debug, Clone)]
struct NormState {
    x: FlexTensor,
    y: FlexTensor,
    mean: Arc<Vec<f32>>,
    inv_std: Arc<Vec<f32>>,
    gamma: Arc<Vec<f32>>,
}

#[derive(Debug)]
struct BatchNormRelu;

impl Backward<Flex, 3> for BatchNormRelu {
    type State = NormState;

    fn backward(self, ops: Ops<NormState, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x_parent, gamma_parent, beta_parent] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node).to_contiguous();
        let state = ops.state;
        let [b, c, h, w] = dims4(&state.x);
        let plane = h * w;
        let count = (b * plane) as f32;
        let (x, y) = (state.x.to_contiguous(), state.y.to_contiguous());
        let (x, y, dy) = (values(&x), values(&y), values(&grad));
        // Per channel: the sums of the (ReLU-masked) output gradient and of it times x̂.
        let sums: Vec<(f32, f32)> = (0..c)
            .into_par_iter()
            .map(|ch| {
                let (mean, inv_std) = (state.mean[ch], state.inv_std[ch]);
                let planes = channel_planes(x, ch, c, plane)
                    .zip(channel_planes(y, ch, c, plane))
                    .zip(channel_planes(dy, ch, c, plane));
                let (mut beta, mut gamma) = (0f64, 0f64);
                for ((x, y), dy) in planes {
                    let (sb, sg) = masked_sums(x, y, dy, mean, inv_std);
                    beta += f64::from(sb);
                    gamma += f64::from(sg);
                }
                (beta as f32, gamma as f32)
            })
            .collect();
        if let Some(parent) = x_parent {
            // SAFETY: each chunk is one plane, and every value of it is written.
            let dx = unsafe {
                par_written(b * c * plane, plane, |i, out| {
                    let ch = i % c;
                    let (mean, inv_std) = (state.mean[ch], state.inv_std[ch]);
                    let (sum_beta, sum_gamma) = sums[ch];
                    let k = state.gamma[ch] * inv_std / count;
                    let range = i * plane..(i + 1) * plane;
                    let planes = x[range.clone()]
                        .iter()
                        .zip(&y[range.clone()])
                        .zip(&dy[range]);
                    for (o, ((&x, &y), &dy)) in out.iter_mut().zip(planes) {
                        let g = if y > 0.0 { dy } else { 0.0 };
                        let x_hat = (x - mean) * inv_std;
                        o.write(k * (count * g - sum_beta - x_hat * sum_gamma));
                    }
                })
            };
            let dx = FlexTensor::from_data(TensorData::new(dx, [b, c, h, w]));
            grads.register::<Flex>(parent.id, dx);
        }
        let per_channel = |pick: fn(&(f32, f32)) -> f32| {
            let v: Vec<f32> = sums.iter().map(pick).collect();
            FlexTensor::from_data(TensorData::new(v, [c]))
        };
        if let Some(parent) = gamma_parent {
            grads.register::<Flex>(parent.id, per_channel(|s| s.1));
        }
        if let Some(parent) = beta_parent {
            grads.register::<Flex>(parent.id, per_channel(|s| s.0));
        }
    }
}

/// Over one plane: the sums of the output gradient `dy` where the output `y` is positive
/// (after ReLU), and of it times the normalised input `(x - mean) · inv_std`, each kept in
/// [`LANES`] partial sums so that the loop vectorises.
fn masked_sums(x: &[f32], y: &[f32], dy: &[f32], mean: f32, inv_std: f32) -> (f32, f32) {
    let term = |x: f32, y: f32, dy: f32| {
        let g = if y > 0.0 { dy } else { 0.0 };
        (g, g * (x - mean) * inv_std)
    };
    let (mut beta, mut gamma) = ([0f32; LANES], [0f32; LANES]);
    let chunks = x
        .chunks_exact(LANES)
        .zip(y.chunks_exact(LANES))
        .zip(dy.chunks_exact(LANES));
    for ((x, y), dy) in chunks {
        for i in 0..LANES {
            let (b, g) = term(x[i], y[i], dy[i]);
            beta[i] += b;
            gamma[i] += g;
        }
    }
    let done = x.len() / LANES * LANES;
    let (mut sb, mut sg) = (beta.iter().sum::<f32>(), gamma.iter().sum::<f32>());
    for i in done..x.len() {
        let (b, g) = term(x[i], y[i], dy[i]);
        sb += b;
        sg += g;
    }
    (sb, sg)
}

/// Normalises with the batch's statistics, scales, shifts and applies ReLU; returns the output
/// and each channel's mean and (biased) variance.
fn norm_tracked(
    x: Tracked,
    gamma: Tracked,
    beta: Tracked,
    epsilon: f64,
) -> (Tracked, Vec<f32>, Vec<f32>) {
    let (x, x_node) = x.into_parts();
    let (gamma, gamma_node) = gamma.into_parts();
    let (beta, beta_node) = beta.into_parts();
    let gamma = gamma.to_contiguous();
    let beta = beta.to_contiguous();
    let x = x.to_contiguous();
    let [b, c, h, w] = dims4(&x);
    let plane = h * w;
    let count = (b * plane) as f64;
    let pixels = values(&x);
    // Two passes per channel: the mean, then the mean squared deviation.
    let stats: Vec<(f32, f32)> = (0..c)
        .into_par_iter()
        .map(|ch| {
            let sum = channel_sum(pixels, ch, c, plane);
            let mean = (sum / count) as f32;
            let squares: f64 = channel_planes(pixels, ch, c, plane)
                .map(|p| f64::from(lane_sum(p, |v| (v - mean) * (v - mean))))
                .sum();
            (mean, (squares / count) as f32)
        })
        .collect();
    let mean: Vec<f32> = stats.iter().map(|s| s.0).collect();
    let variance: Vec<f32> = stats.iter().map(|s| s.1).collect();
    let inv_std: Vec<f32> = variance
        .iter()
        .map(|&v| 1.0 / (f64::from(v) + epsilon).sqrt() as f32)
        .collect();
    let (gammas, betas) = (values(&gamma), values(&beta));
    let scale: Vec<f32> = (0..c).map(|ch| gammas[ch] * inv_std[ch]).collect();
    let shift: Vec<f32> = (0..c).map(|ch| betas[ch] - mean[ch] * scale[ch]).collect();
    let y = affine_relu(&x, &scale, &shift);
    let output = match BatchNormRelu
        .prepare::<NoCheckpointing>([x_node, gamma_node, beta_node])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let state = NormState {
                x,
                y: y.clone(),
                mean: Arc::new(mean.clone()),
                inv_std: Arc::new(inv_std),
                gamma: Arc::new(gammas.to_vec()),
            };
            prep.finish(state, y)
        }
        OpsKind::UnTracked(prep) => prep.finish(y),
    };
    (output, mean, variance)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::BatchNormConfig;
    use burn::tensor::Tolerance;

    /// Planes of 30 values: one run of `LANES` partial sums and a remainder.
    fn images(device: &Device) -> Tensor<4> {
        let values: Vec<f32> = (0..3 * 4 * 6 * 5)
            .map(|i| ((i * 29) % 31) as f32 / 6.0 - 2.0)
            .collect();
        Tensor::<4>::from_data(TensorData::new(values, [3, 4, 6, 5]), device)
    }

    /// Output, input gradient, gamma and beta gradients and the running averages after one
    /// training step; then the output of the same layer in inference mode.
    fn run(ours: bool) -> Vec<TensorData> {
        let device = Device::flex().autodiff();
        let mut norm = BatchNormConfig::new(4).init(&device);
        let gamma: Vec<f32> = vec![1.5, -0.5, 1.0, 0.25];
        norm.gamma = burn::module::Param::from_tensor(Tensor::from_data(
            TensorData::new(gamma, [4]),
            &device,
        ));
        let x = images(&device).require_grad();
        let y = if ours {
            // The fused kernel itself, not a fallback.
            train(&norm, &x).expect("the training kernel takes flex autodiff tensors")
        } else {
            relu(norm.forward(x.clone()))
        };
        let weights = images(&device).detach().sin();
        let grads = (y.clone() * weights).sum().backward();
        let mut out = vec![
            y.into_data(),
            x.grad(&grads).unwrap().into_data(),
            norm.gamma.grad(&grads).unwrap().into_data(),
            norm.beta.grad(&grads).unwrap().into_data(),
            norm.running_mean.value().into_data(),
            norm.running_var.value().into_data(),
        ];
        let inference = norm.valid();
        let x = images(&Device::flex());
        let y = if ours {
            infer(&inference, &x).expect("the inference kernel takes flex tensors")
        } else {
            relu(inference.forward(x))
        };
        out.push(y.into_data());
        out
    }

    #[test]
    fn the_fused_kernel_matches_burns_batch_norm_and_relu() {
        let (ours, burns) = (run(true), run(false));
        for (i, (a, b)) in ours.iter().zip(&burns).enumerate() {
            assert_eq!(a.shape(), b.shape(), "result {i}");
            a.assert_approx_eq::<f32>(b, Tolerance::absolute(1e-4));
        }
    }
}
