//! Scaled dot-product attention for inference, computed straight on the projections' memory:
//! per text and head, one product for the scores, a softmax, one product for the context,
//! written into place. Padding is left out rather than masked: a text of `len` real tokens
//! costs `len`² scores per head, not `tokens`², and no head's scores or context is copied
//! between layouts. burn's fused attention (scalar exponentials, a mask test per score) took
//! a quarter of the encoder's time.

use crate::bert::exp_neg;
use gemm::{Parallelism, gemm};
use rayon::prelude::*;

/// Lanes of the reductions over a score row (sums and maxima kept in registers).
const LANES: usize = 8;

/// Where a batch's texts lie in the query, key and value matrices: text `i` is rows
/// `texts[i].0 ..` (`texts[i].1` of them, its real tokens), each `stride` numbers apart; and
/// how their `heads · width` columns split into heads.
pub(crate) struct Rows<'a> {
    /// (first row, real tokens) per text, in row order.
    pub(crate) texts: &'a [(usize, usize)],
    /// Numbers from one row to the next in `q`, `k` and `v`.
    pub(crate) stride: usize,
    /// Attention heads.
    pub(crate) heads: usize,
    /// Columns per head.
    pub(crate) width: usize,
}

/// softmax(q·kᵀ/√width)·v per head over each text's real tokens, into `out` (rows of
/// `heads · width` numbers, numbered as in `rows`; the rows of no text are left as they are).
/// `q`, `k` and `v` start at the text rows' first number of their block.
pub(crate) fn attention(q: &[f32], k: &[f32], v: &[f32], rows: &Rows<'_>, out: &mut [f32]) {
    let (heads, width) = (rows.heads, rows.width);
    let hidden = heads * width;
    let scale = 1.0 / (width as f32).sqrt();
    let stride = rows.stride;
    // Each text's output rows, split off in order.
    let mut parts: Vec<(&mut [f32], usize, usize)> = Vec::with_capacity(rows.texts.len());
    let mut rest = out;
    let mut at = 0;
    for &(first, len) in rows.texts {
        let (_, tail) = std::mem::take(&mut rest).split_at_mut((first - at) * hidden);
        let (mine, tail) = tail.split_at_mut(len * hidden);
        parts.push((mine, first, len));
        rest = tail;
        at = first + len;
    }
    parts.into_par_iter().for_each(|(out, first, len)| {
        if len == 0 {
            return;
        }
        let mut scores = vec![0f32; len * len];
        let mut inverse = vec![0f32; len];
        for h in 0..heads {
            let head = first * stride + h * width;
            // SAFETY: every matrix below lies inside its slice: rows r < len of the text
            // start at (first + r)·stride in q, k and v, and columns h·width + c < hidden ≤
            // stride; the scores are len × len; the context rows are `out`'s len rows.
            unsafe {
                // scores[i][j] = scale · Σ_c q[i][c] · k[j][c]
                gemm(
                    len,
                    len,
                    width,
                    scores.as_mut_ptr(),
                    1,
                    len as isize,
                    false,
                    q[head..].as_ptr(),
                    1,
                    stride as isize,
                    k[head..].as_ptr(),
                    stride as isize,
                    1,
                    0.0,
                    scale,
                    false,
                    false,
                    false,
                    Parallelism::None,
                );
            }
            pulp::Arch::new().dispatch(SoftmaxRows {
                scores: &mut scores,
                inverse: &mut inverse,
            });
            let context = &mut out[h * width..];
            // SAFETY: as above.
            unsafe {
                gemm(
                    len,
                    width,
                    len,
                    context.as_mut_ptr(),
                    1,
                    hidden as isize,
                    false,
                    scores.as_ptr(),
                    1,
                    len as isize,
                    v[head..].as_ptr(),
                    1,
                    stride as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    Parallelism::None,
                );
            }
            for (row, inv) in context.chunks_mut(hidden).zip(&inverse) {
                row[..width].iter_mut().for_each(|x| *x *= inv);
            }
        }
    });
}

/// Each row of `scores` (as many as `inverse` holds) replaced by its exponentials as
/// [`softmax_unnormalised`] leaves them, and 1 / their sum in `inverse`; run through pulp's
/// dispatch, compiled for the widest vectors the CPU has.
struct SoftmaxRows<'a> {
    scores: &'a mut [f32],
    inverse: &'a mut [f32],
}

impl pulp::WithSimd for SoftmaxRows<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let len = self.inverse.len();
        for (row, inv) in self.scores.chunks_exact_mut(len).zip(self.inverse) {
            *inv = 1.0 / softmax_unnormalised(row);
        }
    }
}

/// Replaces `row` by e^(row − max row) and returns the sum, in loops that vectorise.
#[inline(always)]
fn softmax_unnormalised(row: &mut [f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (m, &x) in lanes.iter_mut().zip(chunk) {
            *m = m.max(x);
        }
    }
    let max = chunks
        .remainder()
        .iter()
        .chain(&lanes)
        .fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let mut sums = [0f32; LANES];
    let mut chunks = row.chunks_exact_mut(LANES);
    for chunk in &mut chunks {
        for (s, x) in sums.iter_mut().zip(chunk) {
            *x = exp_neg(max - *x);
            *s += *x;
        }
    }
    let mut sum: f32 = sums.iter().sum();
    for x in chunks.into_remainder() {
        *x = exp_neg(max - *x);
        sum += *x;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Attention computed the plain way, in f64, masking keys past each text's length.
    fn reference(
        q: &[f32],
        k: &[f32],
        v: &[f32],
        lengths: &[usize],
        t: usize,
        heads: usize,
    ) -> Vec<f64> {
        let hidden = q.len() / lengths.len() / t;
        let w = hidden / heads;
        let mut out = vec![0f64; q.len()];
        for (b, &len) in lengths.iter().enumerate() {
            for h in 0..heads {
                for i in 0..len {
                    let at = |m: &[f32], r: usize, c: usize| {
                        f64::from(m[(b * t + r) * hidden + h * w + c])
                    };
                    let s: Vec<f64> = (0..len)
                        .map(|j| {
                            (0..w).map(|c| at(q, i, c) * at(k, j, c)).sum::<f64>()
                                / (w as f64).sqrt()
                        })
                        .collect();
                    let max = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = s.iter().map(|x| (x - max).exp()).collect();
                    let total: f64 = e.iter().sum();
                    for c in 0..w {
                        out[(b * t + i) * hidden + h * w + c] =
                            (0..len).map(|j| e[j] / total * at(v, j, c)).sum();
                    }
                }
            }
        }
        out
    }

    #[test]
    fn matches_plain_attention_and_ignores_padding() {
        let (t, heads, hidden) = (13, 3, 12);
        let lengths = [13, 5, 0];
        let n = lengths.len() * t * hidden;
        let value = |i: usize, salt: f32| ((i as f32 * 0.618 + salt).fract() - 0.5) * 4.0;
        let q: Vec<f32> = (0..n).map(|i| value(i, 0.1)).collect();
        let k: Vec<f32> = (0..n).map(|i| value(i, 0.3)).collect();
        let mut v: Vec<f32> = (0..n).map(|i| value(i, 0.7)).collect();
        let texts: Vec<(usize, usize)> = lengths
            .iter()
            .enumerate()
            .map(|(b, &len)| (b * t, len))
            .collect();
        let rows = Rows {
            texts: &texts,
            stride: hidden,
            heads,
            width: hidden / heads,
        };
        let run = |v: &[f32]| {
            let mut out = vec![0f32; n];
            attention(&q, &k, v, &rows, &mut out);
            out
        };
        let got = run(&v);
        let want = reference(&q, &k, &v, &lengths, t, heads);
        let worst = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (f64::from(*a) - b).abs())
            .fold(0.0, f64::max);
        assert!(worst < 1e-5, "largest difference {worst}");
        // Values at padded keys change nothing.
        for r in 5..t {
            v[(t + r) * hidden..(t + r + 1) * hidden].fill(1e6);
        }
        assert_eq!(run(&v), got);
    }
}
