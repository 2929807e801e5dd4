//! Sliding-window operators: convolution (1-D and 2-D, grouped, dilated, any padding) and
//! max or average pooling, with their geometry checked before burn sees them.

use super::{Inputs, as_float};
use crate::op::{AutoPad, Window};
use crate::value::Float;
use burn::tensor::module::{avg_pool2d, conv2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions};

/// The most output positions per channel a window operator may produce (guards against
/// absurd padding in a damaged file).
const MAX_POSITIONS: usize = 1 << 26;

/// A window's strides, dilations and (start, end) padding per spatial axis.
struct Geometry {
    strides: Vec<usize>,
    dilations: Vec<usize>,
    pads: Vec<(usize, usize)>,
}

/// The geometry of `window` with `kernel` over spatial sizes `input`, checked to give at
/// least one output position per axis.
fn geometry(window: &Window, input: &[usize], kernel: &[usize]) -> Result<Geometry, String> {
    let n = input.len();
    let per_axis = |v: &[usize], name: &str| -> Result<Vec<usize>, String> {
        match v.len() {
            0 => Ok(vec![1; n]),
            l if l == n => Ok(v.to_vec()),
            l => Err(format!(
                "its {name} {v:?} has {l} values for {n} spatial axes"
            )),
        }
    };
    if kernel.len() != n || kernel.contains(&0) {
        return Err(format!(
            "its kernel {kernel:?} does not fit {n} spatial axes (sizes of 1 or more)"
        ));
    }
    let strides = per_axis(&window.strides, "strides")?;
    let dilations = per_axis(&window.dilations, "dilations")?;
    let span = |i: usize| {
        (kernel[i] - 1)
            .saturating_mul(dilations[i])
            .saturating_add(1)
    };
    let pads: Vec<(usize, usize)> = match window.auto_pad {
        AutoPad::NotSet => match window.pads.len() {
            0 => vec![(0, 0); n],
            l if l == 2 * n => (0..n)
                .map(|i| (window.pads[i], window.pads[n + i]))
                .collect(),
            l => {
                return Err(format!(
                    "its pads {:?} has {l} values; {n} spatial axes need {}",
                    window.pads,
                    2 * n
                ));
            }
        },
        AutoPad::Valid => vec![(0, 0); n],
        AutoPad::SameUpper | AutoPad::SameLower => (0..n)
            .map(|i| {
                let out = input[i].div_ceil(strides[i]);
                let total = out
                    .saturating_sub(1)
                    .saturating_mul(strides[i])
                    .saturating_add(span(i))
                    .saturating_sub(input[i]);
                let (small, big) = (total / 2, total - total / 2);
                if window.auto_pad == AutoPad::SameUpper {
                    (small, big)
                } else {
                    (big, small)
                }
            })
            .collect(),
    };
    let mut positions = 1usize;
    for i in 0..n {
        let padded = input[i].saturating_add(pads[i].0).saturating_add(pads[i].1);
        if padded < span(i) {
            return Err(format!(
                "its input's spatial size {input:?}, padded by {pads:?}, is smaller than its \
                 window {kernel:?} (dilations {dilations:?}); give it a larger input"
            ));
        }
        positions = positions.saturating_mul((padded - span(i)) / strides[i] + 1);
    }
    if positions > MAX_POSITIONS {
        return Err(format!(
            "with padding {pads:?} its output would have {positions} positions per channel, \
             more than Kiln allows ({MAX_POSITIONS})"
        ));
    }
    Ok(Geometry {
        strides,
        dilations,
        pads,
    })
}

/// `v` (one or two spatial values) as two, a 1-D value going to the second axis.
fn lift<T: Copy>(v: &[T], fill: T) -> [T; 2] {
    if v.len() == 1 {
        [fill, v[0]]
    } else {
        [v[0], v[1]]
    }
}

/// A 1-D or 2-D convolution of inputs X, W and optional B.
pub fn conv(inputs: &mut Inputs, window: &Window, group: usize) -> Result<Float, String> {
    let x = inputs.float(0)?;
    let w = inputs.float(1)?;
    let b = inputs.optional(2).map(|b| as_float(b, 2)).transpose()?;
    if !(x.rank() == 3 || x.rank() == 4) || w.rank() != x.rank() {
        return Err(format!(
            "input {:?} with weight {:?}: Kiln runs 1-D and 2-D convolutions ([N, C, L] or \
             [N, C, H, W], with a weight of the same rank)",
            x.shape, w.shape
        ));
    }
    let (n, c, m) = (x.shape[0], x.shape[1], w.shape[0]);
    if w.shape[1] * group != c || m % group != 0 {
        return Err(format!(
            "its weight {:?} with group {group} needs {} input channels (and output channels \
             a multiple of {group}), but the input {:?} has {c}",
            w.shape,
            w.shape[1] * group,
            x.shape
        ));
    }
    let kernel = w.shape[2..].to_vec();
    if let Some(k) = &window.kernel
        && *k != kernel
    {
        return Err(format!(
            "its kernel_shape {k:?} disagrees with its weight {:?}",
            w.shape
        ));
    }
    if let Some(b) = &b
        && b.shape != [m]
    {
        return Err(format!(
            "its bias has shape {:?}, but the weight has {m} output channels",
            b.shape
        ));
    }
    let g = geometry(window, &x.shape[2..], &kernel)?;
    let one_d = x.rank() == 3;
    let pads = if one_d {
        [(0, 0), g.pads[0]]
    } else {
        [g.pads[0], g.pads[1]]
    };
    let (xt, wt) = if one_d {
        (
            x.tensor.reshape([n, c, 1, x.shape[2]]),
            w.tensor.reshape([m, c / group, 1, kernel[0]]),
        )
    } else {
        (x.tensor, w.tensor)
    };
    let options =
        ConvOptions::new_with_padding(lift(&g.strides, 1), pads, lift(&g.dilations, 1), group);
    let y = conv2d(xt, wt, b.map(|b| b.tensor.reshape([m])), options);
    let [_, _, oh, ow] = y.dims();
    Ok(if one_d {
        Float::new(y.reshape([1, n, m, ow]), vec![n, m, ow])
    } else {
        Float::new(y, vec![n, m, oh, ow])
    })
}

/// Max pooling (`average` is `None`) or average pooling (`Some(count_include_pad)`).
pub fn pool(x: Float, window: &Window, average: Option<bool>) -> Result<Float, String> {
    if !(x.rank() == 3 || x.rank() == 4) {
        return Err(format!(
            "its input has shape {:?}; Kiln pools [N, C, L] and [N, C, H, W] tensors",
            x.shape
        ));
    }
    let kernel = window.kernel.clone().unwrap_or_default();
    let g = geometry(window, &x.shape[2..], &kernel)?;
    if g.pads
        .iter()
        .zip(&kernel)
        .any(|(&(b, e), &k)| b >= k || e >= k)
    {
        return Err(format!(
            "its padding {:?} is not smaller than its window {kernel:?}",
            g.pads
        ));
    }
    let one_d = x.rank() == 3;
    let (n, c) = (x.shape[0], x.shape[1]);
    let xt = if one_d {
        x.tensor.reshape([n, c, 1, x.shape[2]])
    } else {
        x.tensor
    };
    let kernel = lift(&kernel, 1);
    let strides = lift(&g.strides, 1);
    let pads = if one_d {
        [(0, 0), g.pads[0]]
    } else {
        [g.pads[0], g.pads[1]]
    };
    let y = match average {
        None => max_pool2d(
            xt,
            MaxPoolOptions::new(kernel)
                .with_stride(strides)
                .with_padding_pairs(pads)
                .with_dilation(lift(&g.dilations, 1))
                .with_ceil_mode(window.ceil_mode),
        ),
        Some(count_include_pad) => avg_pool2d(
            xt,
            AvgPoolOptions::new(kernel)
                .with_stride(strides)
                .with_padding_pairs(pads)
                .with_count_include_pad(count_include_pad)
                .with_ceil_mode(window.ceil_mode),
        ),
    };
    let [_, _, oh, ow] = y.dims();
    Ok(if one_d {
        Float::new(y.reshape([1, n, c, ow]), vec![n, c, ow])
    } else {
        Float::new(y, vec![n, c, oh, ow])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_puts_the_odd_pixel_at_the_end() {
        let window = Window {
            kernel: Some(vec![3]),
            strides: vec![2],
            pads: vec![],
            dilations: vec![],
            auto_pad: AutoPad::SameUpper,
            ceil_mode: false,
        };
        let g = geometry(&window, &[8], &[3]).unwrap();
        assert_eq!(g.pads, vec![(0, 1)]);
    }
}
