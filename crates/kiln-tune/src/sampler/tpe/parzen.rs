//! TPE's Parzen estimator: a weighted mixture of product kernels, one per observed trial plus
//! a broad prior kernel, as Optuna's multivariate `_ParzenEstimator`.
//!
//! * Weights: 1 per observation, except that when there are more than 25 the older ones ramp
//!   linearly from 1/n up to 1 (Optuna's `default_weights`), plus the prior's weight 1.
//! * Numeric dimensions: truncated normal kernels on `[low, high]` (widened by half a step for
//!   integers and stepped floats, on `ln x` for log parameters), all with the multivariate
//!   bandwidth 0.2 · n^(−1/(d+4)) · range (Scott's rule as in Optuna), clipped by the "magic
//!   clip" to [range / min(100, n + 2), range]; the prior kernel is centred with σ = range.
//!   Discrete dimensions put each kernel's mass over the cell of half a step around each
//!   value.
//! * Categorical dimensions: per kernel, the observed choice gets 1 and every choice the prior
//!   weight / (n + 1), normalised (a smoothed histogram); the prior kernel is uniform.
//!
//! The continuous dimensions are stored kernel by kernel, in kernel widths, with each kernel's
//! constants (weight, σ, truncated mass, the square of its centre) folded into one number, so
//! that scoring a point costs a dot product per kernel.

use super::fast::{exp_nonpositive, ln_positive};
use super::normal::{Gaussian, LN_SQRT_2PI, LogMass, Tails, log_gauss_mass};
use super::scratch::Buffer;
use super::wide::widest;
use crate::space::{Distribution, on_grid};
use rand::Rng;

/// Weight of the prior kernel, relative to one recent observation (Optuna's `prior_weight`).
const PRIOR_WEIGHT: f64 = 1.0;

/// The multivariate bandwidth factor (Optuna's `SIGMA0_MAGNITUDE`).
const SIGMA0: f64 = 0.2;

/// The most recent observations that keep full weight (Optuna's `default_weights`).
const FLAT_WEIGHTS: usize = 25;

/// Kernels scored at a time before their scores are folded into the log-sum-exp.
const BLOCK: usize = 64;

/// A dimension's log masses are tabulated once there are this many kernel masses to compute
/// per table node, over all the dimensions that share the table (a node costs about as much
/// as three masses computed directly).
const TABLE_PAYS: usize = 4;

/// A running product of masses is folded into its logarithm before it can underflow.
const TINY_PRODUCT: f64 = 1e-200;

/// How one dimension of a group is modelled.
#[derive(Debug, Clone, Copy)]
pub(super) enum Axis {
    /// A number in `[low, high]`: on `ln x` when `log`, on the cells `low + k·step` when
    /// stepped (ints always are).
    Numeric {
        low: f64,
        high: f64,
        step: Option<f64>,
        log: bool,
    },
    /// The index of one of `n` choices.
    Categorical { n: usize },
}

impl Axis {
    /// The model of `d`.
    pub(super) fn of(d: &Distribution) -> Self {
        match d {
            Distribution::Float {
                low,
                high,
                log,
                step,
            } => Self::Numeric {
                low: *low,
                high: *high,
                step: *step,
                log: *log,
            },
            Distribution::Int {
                low,
                high,
                log,
                step,
            } => Self::Numeric {
                low: *low as f64,
                high: *high as f64,
                step: Some(*step as f64),
                log: *log,
            },
            Distribution::Categorical { choices } => Self::Categorical { n: choices.len() },
        }
    }
}

/// Where a numeric dimension lives: its bounds and the range its kernels model.
#[derive(Debug, Clone, Copy)]
struct Range {
    log: bool,
    low: f64,
    high: f64,
    /// The modelled range: widened by half a step when stepped, `ln` of it when log.
    t_low: f64,
    t_high: f64,
}

impl Range {
    fn new(low: f64, high: f64, step: Option<f64>, log: bool) -> Self {
        let half = step.map_or(0.0, |s| 0.5 * s);
        let mut range = Self {
            log,
            low,
            high,
            t_low: 0.0,
            t_high: 0.0,
        };
        range.t_low = range.to_model(low - half);
        range.t_high = range.to_model(high + half);
        range
    }

    /// A value in the modelled scale (`ln x` for log dimensions, whose values are positive;
    /// the clamp only keeps a speculatively computed logarithm off negative numbers).
    #[inline(always)]
    fn to_model(self, x: f64) -> f64 {
        if self.log {
            x.max(f64::MIN_POSITIVE).ln()
        } else {
            x
        }
    }

    /// The kernels' widths with `n` observations in `d` dimensions: every observation's
    /// kernel has the same σ; the prior's is as wide as the range.
    fn widths(self, n: usize, d: usize) -> (f64, f64) {
        let range = self.t_high - self.t_low;
        let bandwidth = SIGMA0 * (n.max(1) as f64).powf(-1.0 / (d as f64 + 4.0)) * range;
        let min_sigma = range / (n as f64 + 2.0).min(100.0);
        (bandwidth.clamp(min_sigma, range), range)
    }

    /// The prior kernel's centre, the middle of the modelled range.
    fn middle(self) -> f64 {
        0.5 * (self.t_low + self.t_high)
    }

    /// A draw from N(`mu`, `sigma`) truncated to the modelled range, in the value's scale.
    fn draw(self, rng: &mut impl Rng, gaussian: &mut Gaussian, mu: f64, sigma: f64) -> f64 {
        let z = gaussian.truncated(rng, (self.t_low - mu) / sigma, (self.t_high - mu) / sigma);
        let t = (mu + sigma * z).clamp(self.t_low, self.t_high);
        let x = if self.log { t.exp() } else { t };
        x.clamp(self.low, self.high)
    }
}

/// A continuous dimension: its position in a point, its range and its kernels' widths.
#[derive(Debug, Clone, Copy)]
struct Continuous {
    pos: usize,
    range: Range,
    /// 1/σ of every observation's kernel.
    inv_sigma: f64,
    /// The prior kernel's centre and 1/σ.
    prior_mu: f64,
    prior_inv_sigma: f64,
}

/// The kernels of one discrete or categorical dimension.
enum Kernels {
    /// Truncated normals integrated over the cells of a stepped range. Kernels often share
    /// (μ, σ) (observed integers repeat), so masses are computed per distinct pair.
    Discrete {
        range: Range,
        step: f64,
        /// The index of the last cell.
        last: f64,
        /// Distinct (μ, σ, ln mass inside the range).
        distinct: Vec<(f64, f64, f64)>,
        /// Per kernel, its entry in `distinct`.
        which: Vec<usize>,
    },
    /// Per kernel (row), the probability of each of `n` choices, and its logarithm.
    Categorical {
        n: usize,
        probs: Vec<f64>,
        log_probs: Vec<f64>,
    },
}

/// A mixture of product kernels over the dimensions of a group.
pub(super) struct Parzen {
    /// Kernel weights, summing to 1: the observations' in order, then the prior's.
    weights: Buffer,
    /// Per kernel: ln weight plus, for every continuous dimension, −ln σ − ln √(2π) − ln(mass
    /// inside the range), and for the observations' kernels −|μ/σ|²/2 (see `log_pdf`).
    base: Buffer,
    continuous: Vec<Continuous>,
    /// Per observation kernel and continuous dimension, μ − the modelled range's start, in
    /// kernel widths; kernel by kernel.
    centred: Buffer,
    /// The other dimensions: their position in a point and their kernels.
    others: Vec<(usize, Kernels)>,
}

/// The log of a product kernel's normaliser (√(2π) σ times its mass inside the range, over
/// the continuous dimensions), accumulated dimension by dimension: masses of kernels centred
/// inside their range are multiplied, so that the kernel needs one logarithm.
#[derive(Clone, Copy)]
struct Normaliser {
    mass: f64,
    log: f64,
}

impl Normaliser {
    /// Starts from `log` (the Σ ln(√(2π) σ) part, when known).
    fn new(log: f64) -> Self {
        Self { mass: 1.0, log }
    }

    /// One dimension, with standardised bounds `a` < `b`.
    #[inline(always)]
    fn add(&mut self, tails: Tails, a: f64, b: f64) {
        if a <= 0.0 && b >= 0.0 {
            self.mass *= tails.central_mass(a, b);
            if self.mass < TINY_PRODUCT {
                self.log += self.mass.ln();
                self.mass = 1.0;
            }
        } else {
            self.log += log_gauss_mass(a, b);
        }
    }

    /// ln(weight / normaliser), given ln weight; a logarithm only where masses were
    /// multiplied.
    #[inline(always)]
    fn weigh(&self, ln_weight: f64) -> f64 {
        let log = if self.mass == 1.0 {
            self.log
        } else {
            // The product stays above TINY_PRODUCT · (smallest central mass): positive, normal.
            self.log + ln_positive(self.mass)
        };
        ln_weight - log
    }
}

/// Optuna's `default_weights(n)`: 1 each, except that past 25 observations the older ones
/// ramp linearly from 1/n to 1 (in trial-number order).
fn observation_weights(n: usize) -> Buffer {
    let mut w = Buffer::with_capacity(n + 1);
    let ramp = n.saturating_sub(FLAT_WEIGHTS);
    let start = 1.0 / n as f64;
    w.extend((0..ramp).map(|i| match ramp {
        1 => start,
        _ => start + (1.0 - start) * i as f64 / (ramp - 1) as f64,
    }));
    w.resize(n, 1.0);
    w
}

impl Parzen {
    /// The estimator of `n` observations of the dimensions `axes`: `obs` holds them row by row
    /// (numbers as themselves, categories as indices), oldest trial first.
    pub(super) fn new(axes: &[Axis], obs: &[f64], n: usize) -> Self {
        Self::build_widest(axes, obs, n)
    }

    widest! {
        /// [`Parzen::build`] for the widest vectors the CPU has.
        fn build_widest(axes: &[Axis], obs: &[f64], n: usize) -> Parzen = Parzen::build
    }

    /// [`Parzen::new`], inlined into each vector width's copy.
    #[inline(always)]
    fn build(axes: &[Axis], obs: &[f64], n: usize) -> Self {
        let d = axes.len();
        let mut weights = observation_weights(n);
        weights.push(if n == 0 { 1.0 } else { PRIOR_WEIGHT });
        let total: f64 = weights.iter().sum();
        weights.iter_mut().for_each(|w| *w /= total);
        let column = |j: usize| (0..n).map(move |i| obs[i * d + j]);

        let mut continuous = Vec::new();
        let mut others = Vec::new();
        for (pos, axis) in axes.iter().enumerate() {
            match *axis {
                Axis::Numeric {
                    low,
                    high,
                    step: None,
                    log,
                } => continuous.push((pos, Range::new(low, high, None, log))),
                Axis::Numeric {
                    low,
                    high,
                    step: Some(step),
                    log,
                } => {
                    let range = Range::new(low, high, Some(step), log);
                    others.push((pos, discrete(range, step, column(pos), n, d)));
                }
                Axis::Categorical { n: choices } => {
                    others.push((pos, categorical(choices, column(pos), n)));
                }
            }
        }

        let dc = continuous.len();
        // ln(weight / normaliser) per kernel, the normalisers over the continuous dimensions:
        // ln weight first, for all kernels in one loop that vectorises.
        let mut base = Buffer::with_capacity(n + 1);
        base.extend(weights.iter().map(|&w| ln_positive(w)));
        let continuous: Vec<Continuous> = continuous
            .into_iter()
            .map(|(pos, range)| {
                let (sigma, prior_sigma) = range.widths(n, d);
                Continuous {
                    pos,
                    range,
                    inv_sigma: 1.0 / sigma,
                    prior_mu: range.middle(),
                    prior_inv_sigma: 1.0 / prior_sigma,
                }
            })
            .collect();
        let tails = Tails::new();
        // Every observation's kernel shares σ per dimension: Σ ln(√(2π) σ) once for all.
        let shared: f64 = continuous
            .iter()
            .map(|c| LN_SQRT_2PI - c.inv_sigma.ln())
            .sum();
        let mut centred = Buffer::filled(0.0, n * dc);
        // With many kernels, each dimension's log masses come from a table (all observation
        // kernels share σ there, so the mass depends on the kernel's position only); dimensions
        // as many kernel widths wide (parameters with the same range) share one.
        let widths: Vec<f64> = continuous
            .iter()
            .map(|c| (c.range.t_high - c.range.t_low) * c.inv_sigma)
            .collect();
        let mut store: Vec<(f64, LogMass)> = Vec::new();
        let tables: Vec<Option<usize>> = widths
            .iter()
            .map(|&width| {
                let sharing = widths.iter().filter(|&&w| w == width).count();
                if n * sharing < TABLE_PAYS * LogMass::nodes(width) {
                    return None;
                }
                let known = store.iter().position(|(w, _)| *w == width);
                Some(known.unwrap_or_else(|| {
                    store.push((width, LogMass::new(tails, width)));
                    store.len() - 1
                }))
            })
            .collect();
        let rows = obs
            .chunks_exact(d.max(1))
            .zip(centred.chunks_exact_mut(dc.max(1)));
        for (b, (row, out)) in base.iter_mut().zip(rows) {
            let mut normaliser = Normaliser::new(shared);
            let mut half_norm = 0.0;
            for (j, (o, c)) in out.iter_mut().zip(&continuous).enumerate() {
                let m = c.range.to_model(row[c.pos]);
                *o = (m - c.range.t_low) * c.inv_sigma;
                half_norm += 0.5 * *o * *o;
                match tables[j] {
                    Some(t) => normaliser.log += store[t].1.at(*o),
                    None => normaliser.add(tails, -*o, (c.range.t_high - m) * c.inv_sigma),
                }
            }
            // −|μ/σ|²/2 of the kernel's exponent, see `log_pdf`.
            *b = normaliser.weigh(*b) - half_norm;
        }
        let mut prior = Normaliser::new(0.0);
        for c in &continuous {
            prior.log += LN_SQRT_2PI - c.prior_inv_sigma.ln();
            prior.add(
                tails,
                (c.range.t_low - c.prior_mu) * c.prior_inv_sigma,
                (c.range.t_high - c.prior_mu) * c.prior_inv_sigma,
            );
        }
        base[n] = prior.weigh(base[n]);
        Self {
            weights,
            base,
            continuous,
            centred,
            others,
        }
    }

    /// The number of dimensions of a point.
    fn dims(&self) -> usize {
        self.continuous.len() + self.others.len()
    }

    /// `count` draws from the mixture, row by row in the form [`Parzen::new`] takes.
    pub(super) fn sample(&self, rng: &mut impl Rng, count: usize) -> Vec<f64> {
        let mut cumulative = self.weights.clone();
        let mut acc = 0.0;
        for w in &mut cumulative {
            acc += *w;
            *w = acc;
        }
        let (d, dc, n) = (self.dims(), self.continuous.len(), self.weights.len() - 1);
        let mut out = vec![0.0; count * d];
        let mut gaussian = Gaussian::default();
        for point in out.chunks_exact_mut(d) {
            let u: f64 = rng.random::<f64>() * acc;
            let k = cumulative.partition_point(|&c| c <= u).min(n);
            for (jj, c) in self.continuous.iter().enumerate() {
                let (mu, sigma) = if k < n {
                    let sigma = 1.0 / c.inv_sigma;
                    (c.range.t_low + self.centred[k * dc + jj] * sigma, sigma)
                } else {
                    (c.prior_mu, 1.0 / c.prior_inv_sigma)
                };
                point[c.pos] = c.range.draw(rng, &mut gaussian, mu, sigma);
            }
            for (j, kernels) in &self.others {
                point[*j] = draw(kernels, k, rng, &mut gaussian);
            }
        }
        out
    }

    /// The log density (log probability for discrete and categorical dimensions) of each row
    /// of `points`. Kernels are scored in blocks, each folded into a running log-sum-exp per
    /// point, so that memory stays small and the inner loops run over the points.
    pub(super) fn log_pdf(&self, points: &[f64]) -> Vec<f64> {
        Self::score_widest(self, points)
    }

    widest! {
        /// [`Parzen::score`] for the widest vectors the CPU has.
        fn score_widest(parzen: &Parzen, points: &[f64]) -> Vec<f64> = Parzen::score
    }

    /// [`Parzen::log_pdf`], inlined into each vector width's copy.
    #[inline(always)]
    fn score(&self, points: &[f64]) -> Vec<f64> {
        let (d, dc) = (self.dims().max(1), self.continuous.len());
        let m = points.len() / d;
        if m == 0 {
            return Vec::new();
        }
        let n = self.weights.len() - 1;
        // Points' continuous coordinates in kernel widths from the range's start, one
        // dimension at a time; and the prior kernel's scores.
        // −|x − μ|²/2 = −|x|²/2 + x·μ − |μ|²/2 in kernel widths: `base` holds −|μ|²/2 of each
        // observation kernel, the points' −|x|²/2 is the same for every such kernel and is
        // added after the sum over kernels, which leaves a dot product per kernel and point.
        // The prior kernel (its own σ) is scored in full, then shifted by +|x|²/2 to match.
        let mut xs = vec![0.0; dc * m];
        let mut half_norm = vec![0.0; m];
        let mut prior = vec![self.base[n]; m];
        for (jj, c) in self.continuous.iter().enumerate() {
            let column = xs[jj * m..(jj + 1) * m]
                .iter_mut()
                .zip(&mut prior)
                .zip(&mut half_norm);
            for (((x, p), h), point) in column.zip(points.chunks_exact(d)) {
                let t = c.range.to_model(point[c.pos]);
                *x = (t - c.range.t_low) * c.inv_sigma;
                *h += 0.5 * *x * *x;
                let z = (t - c.prior_mu) * c.prior_inv_sigma;
                *p -= 0.5 * z * z;
            }
        }
        for (p, h) in prior.iter_mut().zip(&half_norm) {
            *p += h;
        }
        let others: Vec<Prepared<'_>> = self
            .others
            .iter()
            .map(|(pos, kernels)| Prepared::new(kernels, points, d, *pos))
            .collect();
        let mut total = LogSumExp::new(m);
        let mut block = vec![0.0; BLOCK * m];
        for start in (0..=n).step_by(BLOCK) {
            let end = (start + BLOCK).min(n + 1);
            let rows = &mut block[..(end - start) * m];
            for (k, out) in (start..end).zip(rows.chunks_exact_mut(m)) {
                if k == n {
                    out.copy_from_slice(&prior);
                } else {
                    dot_scores(self.base[k], &self.centred[k * dc..(k + 1) * dc], &xs, out);
                }
                for p in &others {
                    p.add(k, out);
                }
            }
            total.add(rows);
        }
        let mut scores = total.finish();
        for (s, h) in scores.iter_mut().zip(&half_norm) {
            *s -= h;
        }
        scores
    }
}

/// `out[c] = base + Σ_j xs[j·m + c] · mu[j]` for the m points, eight at a time so that the
/// sums stay in registers.
#[inline(always)]
fn dot_scores(base: f64, mu: &[f64], xs: &[f64], out: &mut [f64]) {
    let m = out.len();
    let mut chunks = out.chunks_exact_mut(8);
    let mut c0 = 0;
    for chunk in &mut chunks {
        let mut acc = [base; 8];
        for (&mj, x) in mu.iter().zip(xs.chunks_exact(m)) {
            for (a, &xc) in acc.iter_mut().zip(&x[c0..c0 + 8]) {
                *a += xc * mj;
            }
        }
        chunk.copy_from_slice(&acc);
        c0 += 8;
    }
    for (i, o) in chunks.into_remainder().iter_mut().enumerate() {
        *o = base
            + mu.iter()
                .zip(xs.chunks_exact(m))
                .map(|(&mj, x)| x[c0 + i] * mj)
                .sum::<f64>();
    }
}

/// A discrete or categorical dimension's log probabilities at a set of points, ready to add
/// kernel by kernel.
enum Prepared<'a> {
    /// cells[u·m + c]: ln P(the cell of point c) under distinct kernel u.
    Cells { cells: Vec<f64>, which: &'a [usize] },
    /// The points' choices and the kernels' log probabilities (a row per kernel).
    Choices {
        index: Vec<usize>,
        n: usize,
        log_probs: &'a [f64],
    },
}

impl<'a> Prepared<'a> {
    /// The dimension at `pos` of `points` (rows `d` wide).
    fn new(kernels: &'a Kernels, points: &[f64], d: usize, pos: usize) -> Self {
        let xs = points.chunks_exact(d).map(|p| p[pos]);
        match kernels {
            Kernels::Discrete {
                range,
                step,
                distinct,
                which,
                ..
            } => {
                let bounds: Vec<(f64, f64)> = xs
                    .map(|x| {
                        (
                            range.to_model(x - 0.5 * step),
                            range.to_model(x + 0.5 * step),
                        )
                    })
                    .collect();
                let mut cells = Vec::with_capacity(distinct.len() * bounds.len());
                for &(mu, s, total) in distinct {
                    cells.extend(
                        bounds
                            .iter()
                            .map(|&(lo, hi)| log_gauss_mass((lo - mu) / s, (hi - mu) / s) - total),
                    );
                }
                Self::Cells { cells, which }
            }
            Kernels::Categorical { n, log_probs, .. } => Self::Choices {
                index: xs.map(|x| (x as usize).min(n - 1)).collect(),
                n: *n,
                log_probs,
            },
        }
    }

    /// Adds kernel `k`'s log probabilities of the points to `out`.
    #[inline(always)]
    fn add(&self, k: usize, out: &mut [f64]) {
        match self {
            Self::Cells { cells, which } => {
                let m = out.len();
                let u = which[k];
                for (o, cell) in out.iter_mut().zip(&cells[u * m..(u + 1) * m]) {
                    *o += cell;
                }
            }
            Self::Choices {
                index,
                n,
                log_probs,
            } => {
                let row = &log_probs[k * n..(k + 1) * n];
                for (o, &i) in out.iter_mut().zip(index) {
                    *o += row[i];
                }
            }
        }
    }
}

/// A running ln Σ exp per point, fed blocks of kernel scores.
struct LogSumExp {
    max: Vec<f64>,
    sum: Vec<f64>,
    block_max: Vec<f64>,
}

impl LogSumExp {
    fn new(m: usize) -> Self {
        Self {
            max: vec![f64::NEG_INFINITY; m],
            sum: vec![0.0; m],
            block_max: vec![f64::NEG_INFINITY; m],
        }
    }

    /// Folds in `rows`, a block of kernels' scores (one row per kernel, one entry per point).
    #[inline(always)]
    fn add(&mut self, rows: &[f64]) {
        let m = self.max.len();
        self.block_max.copy_from_slice(&self.max);
        for row in rows.chunks_exact(m) {
            for (bm, &s) in self.block_max.iter_mut().zip(row) {
                *bm = bm.max(s);
            }
        }
        for ((sum, old), &new) in self.sum.iter_mut().zip(&self.max).zip(&self.block_max) {
            *sum *= exp_nonpositive(old - new);
        }
        // Eight points at a time down all the rows, so that their sums stay in registers.
        let lanes = m - m % 8;
        for c0 in (0..lanes).step_by(8) {
            let mut acc: [f64; 8] = self.sum[c0..c0 + 8].try_into().expect("8 sums");
            let mx = &self.block_max[c0..c0 + 8];
            for row in rows.chunks_exact(m) {
                for ((a, &s), &mx) in acc.iter_mut().zip(&row[c0..c0 + 8]).zip(mx) {
                    *a += exp_nonpositive(s - mx);
                }
            }
            self.sum[c0..c0 + 8].copy_from_slice(&acc);
        }
        for row in rows.chunks_exact(m) {
            let rest = self.sum[lanes..].iter_mut().zip(&self.block_max[lanes..]);
            for ((sum, &mx), &s) in rest.zip(&row[lanes..]) {
                *sum += exp_nonpositive(s - mx);
            }
        }
        self.max.copy_from_slice(&self.block_max);
    }

    /// ln Σ exp per point (−∞ where every score was −∞).
    fn finish(&self) -> Vec<f64> {
        self.max
            .iter()
            .zip(&self.sum)
            .map(|(&mx, &s)| if mx.is_finite() { mx + s.ln() } else { mx })
            .collect()
    }
}

/// The kernels of a stepped dimension with observations `xs`.
fn discrete(range: Range, step: f64, xs: impl Iterator<Item = f64>, n: usize, d: usize) -> Kernels {
    let (sigma, prior_sigma) = range.widths(n, d);
    let mut mu: Vec<f64> = xs.map(|x| range.to_model(x)).collect();
    mu.push(range.middle());
    let width = |k: usize| if k < n { sigma } else { prior_sigma };
    let mut order: Vec<usize> = (0..mu.len()).collect();
    order.sort_by(|&a, &b| mu[a].total_cmp(&mu[b]).then(width(a).total_cmp(&width(b))));
    let mut distinct: Vec<(f64, f64, f64)> = Vec::new();
    let mut which = vec![0; mu.len()];
    for k in order {
        let (m, s) = (mu[k], width(k));
        if distinct
            .last()
            .is_none_or(|&(pm, ps, _)| pm != m || ps != s)
        {
            let total = log_gauss_mass((range.t_low - m) / s, (range.t_high - m) / s);
            distinct.push((m, s, total));
        }
        which[k] = distinct.len() - 1;
    }
    Kernels::Discrete {
        range,
        step,
        last: ((range.high - range.low) / step + 1e-9).floor(),
        distinct,
        which,
    }
}

/// The kernels of a categorical dimension with `choices` choices and observed indices `xs`.
fn categorical(choices: usize, xs: impl Iterator<Item = f64>, n: usize) -> Kernels {
    let c = choices.max(1);
    let mut probs = Vec::with_capacity((n + 1) * c);
    let smoothing = PRIOR_WEIGHT / (n + 1) as f64;
    let row_total = smoothing * c as f64 + 1.0;
    for x in xs {
        let start = probs.len();
        probs.resize(start + c, smoothing / row_total);
        probs[start + (x as usize).min(c - 1)] += 1.0 / row_total;
    }
    probs.resize(probs.len() + c, 1.0 / c as f64);
    let log_probs = probs.iter().map(|p| p.ln()).collect();
    Kernels::Categorical {
        n: c,
        probs,
        log_probs,
    }
}

/// One draw from kernel `k` of a discrete or categorical dimension.
fn draw(kernels: &Kernels, k: usize, rng: &mut impl Rng, gaussian: &mut Gaussian) -> f64 {
    match kernels {
        Kernels::Discrete {
            range,
            step,
            last,
            distinct,
            which,
        } => {
            let (m, s, _) = distinct[which[k]];
            let x = range.draw(rng, gaussian, m, s);
            let cell = ((x - range.low) / step).round().clamp(0.0, *last);
            on_grid(range.low, range.high, *step, cell)
        }
        Kernels::Categorical { n, probs, .. } => {
            let row = &probs[k * n..(k + 1) * n];
            let mut u: f64 = rng.random();
            for (i, p) in row.iter().enumerate() {
                u -= p;
                if u < 0.0 {
                    return i as f64;
                }
            }
            (n - 1) as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn weights_ramp_like_optuna() {
        assert_eq!(*observation_weights(3), [1.0; 3]);
        let w = observation_weights(30);
        assert_eq!(w.len(), 30);
        // numpy.linspace(1/30, 1, 5) then 25 ones.
        let ramp = [
            1.0 / 30.0,
            0.275,
            0.516_666_666_666_666_7,
            0.758_333_333_333_333_3,
            1.0,
        ];
        for (got, want) in w.iter().zip(ramp) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
        assert!(w[5..].iter().all(|&x| x == 1.0));
        assert_eq!(
            *observation_weights(26),
            [vec![1.0 / 26.0], vec![1.0; 25]].concat()
        );
    }

    #[test]
    fn densities_integrate_to_one() {
        // A continuous, a log, an int and a categorical dimension, with three observations.
        let axes = [
            Axis::Numeric {
                low: -1.0,
                high: 2.0,
                step: None,
                log: false,
            },
            Axis::Numeric {
                low: 0.1,
                high: 10.0,
                step: None,
                log: true,
            },
            Axis::Numeric {
                low: 1.0,
                high: 6.0,
                step: Some(1.0),
                log: false,
            },
            Axis::Categorical { n: 3 },
        ];
        let obs = [0.5, 1.0, 2.0, 0.0, 1.9, 9.0, 6.0, 2.0, -0.7, 0.2, 3.0, 2.0];
        let p = Parzen::new(&axes, &obs, 3);
        // Integrate dimension by dimension on a grid: Σ over ints and choices, midpoint rule
        // over x and ln y (the log dimension's density is over ln y).
        let m = 120;
        let (lx, ly) = (3.0 / m as f64, (100.0f64).ln() / m as f64);
        let mut points = Vec::new();
        for i in 0..m {
            for j in 0..m {
                for k in 1..=6 {
                    for c in 0..3 {
                        let x = -1.0 + (i as f64 + 0.5) * lx;
                        let y = (0.1f64.ln() + (j as f64 + 0.5) * ly).exp();
                        points.extend([x, y, k as f64, c as f64]);
                    }
                }
            }
        }
        let total: f64 = p.log_pdf(&points).iter().map(|l| l.exp() * lx * ly).sum();
        assert!((total - 1.0).abs() < 2e-3, "total mass {total}");
    }

    #[test]
    fn many_kernels_use_the_mass_table_and_still_integrate_to_one() {
        // 3000 observations in one dimension, crowded at the range's ends where truncation
        // matters most.
        let axes = [Axis::Numeric {
            low: 0.0,
            high: 1.0,
            step: None,
            log: false,
        }];
        let obs: Vec<f64> = (0..3000)
            .map(|i| {
                let u = (i as f64 * 0.618_033_988_749_895).fract();
                if i % 2 == 0 {
                    u * u * u
                } else {
                    1.0 - u * u * u
                }
            })
            .collect();
        let p = Parzen::new(&axes, &obs, obs.len());
        let m = 20_000;
        let points: Vec<f64> = (0..m).map(|i| (i as f64 + 0.5) / m as f64).collect();
        let total: f64 = p.log_pdf(&points).iter().map(|l| l.exp() / m as f64).sum();
        assert!((total - 1.0).abs() < 1e-4, "total mass {total}");
    }

    #[test]
    fn vector_copies_compute_the_same_bits_as_the_portable_code() {
        // Mixed dimensions, enough kernels for the mass tables.
        let axes = [
            Axis::Numeric {
                low: -5.0,
                high: 10.0,
                step: None,
                log: false,
            },
            Axis::Numeric {
                low: 1e-5,
                high: 1.0,
                step: None,
                log: true,
            },
            Axis::Numeric {
                low: 1.0,
                high: 8.0,
                step: Some(1.0),
                log: false,
            },
            Axis::Categorical { n: 3 },
        ];
        let n = 2000;
        let obs: Vec<f64> = (0..n)
            .flat_map(|i| {
                let u = (i as f64 * 0.618_033_988_749_895).fract();
                [
                    -5.0 + 15.0 * u,
                    1e-5_f64.powf(u),
                    1.0 + (i % 8) as f64,
                    (i % 3) as f64,
                ]
            })
            .collect();
        let (wide, portable) = (Parzen::new(&axes, &obs, n), Parzen::build(&axes, &obs, n));
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&wide.base), bits(&portable.base));
        assert_eq!(bits(&wide.centred), bits(&portable.centred));
        let points = wide.sample(&mut rand::rngs::StdRng::seed_from_u64(3), 50);
        assert_eq!(bits(&wide.log_pdf(&points)), bits(&portable.score(&points)));
    }

    #[test]
    fn samples_respect_bounds_and_steps() {
        let axes = [
            Axis::Numeric {
                low: 32.0,
                high: 512.0,
                step: Some(1.0),
                log: true,
            },
            Axis::Numeric {
                low: 0.0,
                high: 1.0,
                step: Some(0.25),
                log: false,
            },
            Axis::Numeric {
                low: 1e-4,
                high: 1e-1,
                step: None,
                log: true,
            },
        ];
        let obs = [32.0, 0.0, 1e-4, 512.0, 1.0, 0.05, 100.0, 0.5, 0.1];
        let p = Parzen::new(&axes, &obs, 3);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let s = p.sample(&mut rng, 500);
        for point in s.chunks_exact(3) {
            assert!(
                (32.0..=512.0).contains(&point[0]) && point[0].fract() == 0.0,
                "{point:?}"
            );
            assert!([0.0, 0.25, 0.5, 0.75, 1.0].contains(&point[1]), "{point:?}");
            assert!((1e-4..=1e-1).contains(&point[2]), "{point:?}");
        }
    }
}
