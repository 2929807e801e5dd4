//! 2×2 max pooling: burn-flex's generic pooling gathers and scatters through 64-bit window
//! indices and a zeroed gradient buffer, which took a quarter of the CNN's training time. Here
//! the forward pass keeps which of the four pixels won (one byte per output) and the backward
//! pass writes every input gradient exactly once, both in parallel over image planes.

use super::{Tracked, values};
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
use rayon::prelude::*;
use std::sync::Arc;

/// 2×2 max pooling with stride 2 (a trailing odd row or column is dropped, as burn's and
/// PyTorch's floor mode do).
pub fn max_pool_2x2(x: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    if h >= 2 && w >= 2 && x.dtype() == DType::F32 {
        if let Ok(tracked) = x.clone().try_into_primitive::<Autodiff<Flex>>() {
            return Tensor::from_primitive::<Autodiff<Flex>>(pool_tracked(tracked));
        }
        if let Ok(plain) = x.clone().try_into_primitive::<Flex>() {
            return Tensor::from_primitive::<Flex>(pool_forward(&plain).0);
        }
    }
    max_pool2d(x, MaxPoolOptions::new([2, 2]).with_stride([2, 2]))
}

/// What the backward pass of a 2×2 max pool needs: the input's shape and, per output, which
/// pixel of its window won (0-3, row-major).
#[derive(Debug, Clone)]
struct PoolState {
    input: [usize; 4],
    winners: Arc<Vec<u8>>,
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
    let (primitive, guard) = x.into_parts();
    match MaxPool2x2
        .prepare::<NoCheckpointing>([guard])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let (output, state) = pool_forward(&primitive);
            prep.finish(state, output)
        }
        OpsKind::UnTracked(prep) => prep.finish(pool_forward(&primitive).0),
    }
}

/// The pooled images and, for each output, the winning pixel of its window.
fn pool_forward(x: &FlexTensor) -> (FlexTensor, PoolState) {
    let input = super::dims4(x);
    let [b, c, h, w] = input;
    let (ho, wo) = (h / 2, w / 2);
    let x = x.to_contiguous();
    let pixels = values(&x);
    let mut out = vec![0f32; b * c * ho * wo];
    let mut winners = vec![0u8; out.len()];
    out.par_chunks_mut(ho * wo)
        .zip(winners.par_chunks_mut(ho * wo))
        .enumerate()
        .for_each(|(plane, (out, winners))| {
            let src = &pixels[plane * h * w..(plane + 1) * h * w];
            let rows = src.chunks_exact(2 * w).zip(out.chunks_exact_mut(wo));
            for ((pair, out), winners) in rows.zip(winners.chunks_exact_mut(wo)) {
                let (top, bottom) = pair.split_at(w);
                for j in 0..wo {
                    let window = [top[2 * j], top[2 * j + 1], bottom[2 * j], bottom[2 * j + 1]];
                    let mut best = 0;
                    for (k, &v) in window.iter().enumerate().skip(1) {
                        if v > window[best] || (v.is_nan() && !window[best].is_nan()) {
                            best = k;
                        }
                    }
                    out[j] = window[best];
                    winners[j] = best as u8;
                }
            }
        });
    let output = FlexTensor::from_data(TensorData::new(out, [b, c, ho, wo]));
    let state = PoolState {
        input,
        winners: Arc::new(winners),
    };
    (output, state)
}

/// The gradient of the pool's input: each output's gradient goes to its window's winner, zero
/// to the other three pixels and to a dropped odd row or column.
fn pool_backward(grad: &FlexTensor, state: &PoolState) -> FlexTensor {
    let grad = grad.to_contiguous();
    let [b, c, h, w] = state.input;
    let (ho, wo) = (h / 2, w / 2);
    let grads = values(&grad);
    let winners = &state.winners;
    let mut input_grad = vec![0f32; b * c * h * w];
    input_grad
        .par_chunks_mut(h * w)
        .enumerate()
        .for_each(|(plane, dst)| {
            let g = &grads[plane * ho * wo..(plane + 1) * ho * wo];
            let won = &winners[plane * ho * wo..(plane + 1) * ho * wo];
            let rows = dst.chunks_exact_mut(2 * w).zip(g.chunks_exact(wo));
            for ((pair, g), won) in rows.zip(won.chunks_exact(wo)) {
                let (top, bottom) = pair.split_at_mut(w);
                for j in 0..wo {
                    let (g, k) = (g[j], won[j]);
                    let pick = |winner: u8| if k == winner { g } else { 0.0 };
                    top[2 * j] = pick(0);
                    top[2 * j + 1] = pick(1);
                    bottom[2 * j] = pick(2);
                    bottom[2 * j + 1] = pick(3);
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
