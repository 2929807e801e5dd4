//! 2×2 max pooling: burn-flex's generic pooling gathers and scatters through 64-bit window
//! indices, which took a quarter of the CNN's training time. Here the forward pass keeps no
//! indices and the backward pass finds each window's winner again from the input and output,
//! both in parallel over image planes.

use super::{Tracked, dims4, par_filled, par_written, values};
use burn::prelude::*;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{DType, TensorData};
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::base::Checkpointer;
use burn_autodiff::checkpoint::strategy::NoCheckpointing;
use burn_autodiff::grads::Gradients;
use burn_autodiff::ops::{Backward, Ops, OpsKind};
use burn_flex::{Flex, FlexTensor};

/// 2×2 max pooling with stride 2 (a trailing odd row or column is dropped, as burn's and
/// PyTorch's floor mode do).
pub fn max_pool_2x2(x: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    if h >= 2 && w >= 2 && x.dtype() == DType::F32 {
        if let Ok(tracked) = x.clone().try_into_primitive::<Autodiff<Flex>>() {
            return Tensor::from_primitive::<Autodiff<Flex>>(pool_tracked(tracked));
        }
        if let Ok(plain) = x.clone().try_into_primitive::<Flex>() {
            return Tensor::from_primitive::<Flex>(pool_forward(&plain));
        }
    }
    max_pool2d(x, MaxPoolOptions::new([2, 2]).with_stride([2, 2]))
}

/// What the backward pass of a 2×2 max pool needs: its input and output (shared, not copied),
/// from which it finds each window's winner again.
#[derive(Debug, Clone)]
struct PoolState {
    x: FlexTensor,
    pooled: FlexTensor,
}

#[derive(Debug)]
struct MaxPool2x2;

impl Backward<Flex, 1> for MaxPool2x2 {
    type State = PoolState;

    fn backward(self, ops: Ops<PoolState, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [parent] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let Some(parent) = parent {
            grads.register::<Flex>(parent.id, pool_backward(&grad, &ops.state));
        }
    }
}

fn pool_tracked(x: Tracked) -> Tracked {
    let (x, guard) = x.into_parts();
    match MaxPool2x2
        .prepare::<NoCheckpointing>([guard])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let pooled = pool_forward(&x);
            let state = PoolState {
                x,
                pooled: pooled.clone(),
            };
            prep.finish(state, pooled)
        }
        OpsKind::UnTracked(prep) => prep.finish(pool_forward(&x)),
    }
}

/// The pooled images: each output is the largest of its window's four pixels.
fn pool_forward(x: &FlexTensor) -> FlexTensor {
    let [b, c, h, w] = dims4(x);
    let (ho, wo) = (h / 2, w / 2);
    let x = x.to_contiguous();
    let pixels = values(&x);
    // SAFETY: each chunk is one output plane of `ho` rows of `wo` values, and each of its
    // rows is written from a pair of input rows (there are `ho` pairs).
    let out = unsafe {
        par_written(b * c * ho * wo, ho * wo, |plane, out| {
            let src = &pixels[plane * h * w..(plane + 1) * h * w];
            for (pair, out) in src.chunks_exact(2 * w).zip(out.chunks_exact_mut(wo)) {
                let (top, bottom) = pair.split_at(w);
                for (j, out) in out.iter_mut().enumerate() {
                    let upper = top[2 * j].max(top[2 * j + 1]);
                    let lower = bottom[2 * j].max(bottom[2 * j + 1]);
                    out.write(upper.max(lower));
                }
            }
        })
    };
    FlexTensor::from_data(TensorData::new(out, [b, c, ho, wo]))
}

/// The gradient of the pool's input: each output's gradient goes to the first pixel of its
/// window (row-major) that equals the output, zero to the others and to a dropped odd row or
/// column.
fn pool_backward(grad: &FlexTensor, state: &PoolState) -> FlexTensor {
    let [b, c, h, w] = dims4(&state.x);
    let (ho, wo) = (h / 2, w / 2);
    let (grad, x, pooled) = (
        grad.to_contiguous(),
        state.x.to_contiguous(),
        state.pooled.to_contiguous(),
    );
    let (grads, pixels, pooled) = (values(&grad), values(&x), values(&pooled));
    let input_grad = par_filled(b * c * h * w, h * w, |plane, dst| {
        let src = &pixels[plane * h * w..(plane + 1) * h * w];
        let outputs = plane * ho * wo..(plane + 1) * ho * wo;
        let (g, best) = (&grads[outputs.clone()], &pooled[outputs]);
        let rows = src.chunks_exact(2 * w).zip(dst.chunks_exact_mut(2 * w));
        for ((src, dst), (g, best)) in rows.zip(g.chunks_exact(wo).zip(best.chunks_exact(wo))) {
            let (top, bottom) = src.split_at(w);
            let (top_grad, bottom_grad) = dst.split_at_mut(w);
            // Selects, not branches: after ReLU many windows tie at zero, and which pixel
            // wins is unpredictable.
            for j in 0..wo {
                let (g, best) = (g[j], best[j]);
                let first = top[2 * j] == best;
                let second = !first && top[2 * j + 1] == best;
                let third = !(first || second) && bottom[2 * j] == best;
                let fourth = !(first || second || third);
                let pick = |won: bool| if won { g } else { 0.0 };
                top_grad[2 * j] = pick(first);
                top_grad[2 * j + 1] = pick(second);
                bottom_grad[2 * j] = pick(third);
                bottom_grad[2 * j + 1] = pick(fourth);
            }
        }
    });
    FlexTensor::from_data(TensorData::new(input_grad, [b, c, h, w]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Tolerance;

    fn image(device: &Device) -> Tensor<4> {
        // Two planes of 5×4 pixels with distinct values, so every window has one winner.
        let values: Vec<f32> = (0..40).map(|i| ((i * 17) % 41) as f32 - 20.0).collect();
        Tensor::<4>::from_data(TensorData::new(values, [1, 2, 5, 4]), device)
    }

    #[test]
    fn pooling_matches_burns_max_pool_forward_and_backward() {
        let device = Device::flex().autodiff();
        let weights: Vec<f32> = (0..8).map(|i| i as f32 - 3.5).collect();
        let weights = Tensor::<4>::from_data(TensorData::new(weights, [1, 2, 2, 2]), &device);
        let mut results = Vec::new();
        for ours in [true, false] {
            let x = image(&device).require_grad();
            // Kiln's training device is the one the fast path serves.
            assert!(x.clone().try_into_primitive::<Autodiff<Flex>>().is_ok());
            let pooled = if ours {
                max_pool_2x2(x.clone())
            } else {
                max_pool2d(x.clone(), MaxPoolOptions::new([2, 2]).with_stride([2, 2]))
            };
            let loss = (pooled.clone() * weights.clone()).sum();
            let grads = loss.backward();
            let grad = x.grad(&grads).expect("the input has a gradient");
            results.push((pooled.into_data(), grad.into_data()));
        }
        let (ours, burns) = (&results[0], &results[1]);
        ours.0
            .assert_approx_eq::<f32>(&burns.0, Tolerance::absolute(0.0));
        ours.1
            .assert_approx_eq::<f32>(&burns.1, Tolerance::absolute(0.0));
        // The dropped fifth row gets no gradient.
        let grad = ours.1.clone().try_into_vec::<f32>().unwrap();
        assert!(grad[16..20].iter().all(|&g| g == 0.0));
        assert_eq!(grad.iter().filter(|&&g| g != 0.0).count(), 8);
    }

    #[test]
    fn a_tied_window_sends_its_gradient_to_its_first_pixel() {
        let device = Device::flex().autodiff();
        // Two windows: all four pixels tied at zero (as after ReLU), and the last two tied.
        let values = vec![0.0f32, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 1.0];
        let x =
            Tensor::<4>::from_data(TensorData::new(values, [1, 1, 2, 4]), &device).require_grad();
        let weights =
            Tensor::<4>::from_data(TensorData::new(vec![2.0f32, 3.0], [1, 1, 1, 2]), &device);
        let grads = (max_pool_2x2(x.clone()) * weights).sum().backward();
        let grad = x
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        assert_eq!(grad, [2.0, 0.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn pooling_without_autodiff_gives_the_window_maxima() {
        let device = Device::flex();
        assert!(image(&device).try_into_primitive::<Flex>().is_ok());
        let pooled = max_pool_2x2(image(&device))
            .into_data()
            .try_into_vec::<f32>()
            .unwrap();
        let values: Vec<f32> = (0..40).map(|i| ((i * 17) % 41) as f32 - 20.0).collect();
        let expected: Vec<f32> = (0..2)
            .flat_map(|plane| (0..2).flat_map(move |i| (0..2).map(move |j| (plane, i, j))))
            .map(|(plane, i, j)| {
                let at = |r: usize, c: usize| values[plane * 20 + r * 4 + c];
                at(2 * i, 2 * j)
                    .max(at(2 * i, 2 * j + 1))
                    .max(at(2 * i + 1, 2 * j))
                    .max(at(2 * i + 1, 2 * j + 1))
            })
            .collect();
        assert_eq!(pooled, expected);
    }
}
