//! The tree-structured Parzen estimator (Bergstra et al., 2011) as Optuna's `TPESampler` with
//! `multivariate=True`, `constant_liar=True` and its other defaults.
//!
//! After [`TpeSampler::n_startup_trials`] finished trials (random until then), the trials are
//! split into the best γ(n) and the rest ([`split`]), and each is modelled by a Parzen
//! estimator: l(x) over the good trials, g(x) over the others ([`parzen`]). The sampler
//! draws [`TpeSampler::n_ei_candidates`] candidates from l and keeps the one with the largest
//! l(x)/g(x), which maximises expected improvement under TPE's model.
//!
//! Multivariate: the parameters of a group are modelled jointly (product kernels), not one by
//! one. Groups follow the conditions: first the unconditional parameters, then the parameters
//! that their values activate, and so on; each group is modelled on the trials where all its
//! parameters were active (as Optuna's `group=True` decomposition).

mod fast;
mod normal;
mod parzen;
mod scratch;
mod split;
mod wide;

use super::{Sampler, random, rng};
use crate::space::{Param, Params, Space};
use crate::trial::{Direction, Trial};
use parzen::{Axis, Parzen};
use rand::Rng;
use scratch::Buffer;
use split::Split;

/// TPE, multivariate, with the constant liar for running trials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TpeSampler {
    /// Finished (complete or pruned) trials needed before TPE takes over from random search.
    pub n_startup_trials: usize,
    /// Candidates drawn from l(x) per group, of which the best l(x)/g(x) is kept.
    pub n_ei_candidates: usize,
    /// Count running trials among the bad ones, as if they were about to return the worst
    /// value, so that parallel workers spread out instead of sampling the same region.
    pub constant_liar: bool,
}

impl Default for TpeSampler {
    /// Optuna's defaults: 10 startup trials, 24 candidates; the constant liar on.
    fn default() -> Self {
        Self {
            n_startup_trials: 10,
            n_ei_candidates: 24,
            constant_liar: true,
        }
    }
}

impl Sampler for TpeSampler {
    fn sample(&self, space: &Space, trials: &[Trial], direction: Direction, seed: u64) -> Params {
        let mut rng = rng(seed);
        let finished = trials.iter().filter(|t| split::is_finished(t)).count();
        if finished < self.n_startup_trials {
            return random::sample_space(space, &mut rng);
        }
        let split = split::split(trials, direction, self.constant_liar);
        space.fill(|group, params| self.sample_group(group, &split, &mut rng, params))
    }
}

impl TpeSampler {
    /// Draws the parameters of one group jointly into `params`.
    fn sample_group(
        &self,
        group: &[&Param],
        split: &Split<'_>,
        rng: &mut impl Rng,
        params: &mut Params,
    ) {
        let mut dims: Vec<&Param> = Vec::with_capacity(group.len());
        for p in group {
            if let Some(only) = p.distribution.single() {
                params.insert(p.name.clone(), only);
            } else if p.distribution.check().is_ok() {
                dims.push(p);
            }
        }
        if dims.is_empty() {
            return;
        }
        // In name order, the order of a trial's parameters, so that `observations` reads
        // each trial's in one walk and writes them in order.
        dims.sort_by(|a, b| a.name.cmp(&b.name));
        let axes: Vec<Axis> = dims.iter().map(|p| Axis::of(&p.distribution)).collect();
        let estimator = |trials: &[&Trial]| {
            let (obs, n) = observations(&dims, trials);
            Parzen::new(&axes, &obs, n)
        };
        let below = estimator(&split.below);
        let above = estimator(&split.above);
        let candidates = below.sample(rng, self.n_ei_candidates.max(1));
        let score: Vec<f64> = below
            .log_pdf(&candidates)
            .iter()
            .zip(above.log_pdf(&candidates))
            .map(|(l, g)| {
                if (l - g).is_nan() {
                    f64::NEG_INFINITY
                } else {
                    l - g
                }
            })
            .collect();
        let best = (0..score.len())
            .reduce(|a, b| if score[b] > score[a] { b } else { a })
            .unwrap_or(0);
        let d = dims.len();
        for (p, &x) in dims.iter().zip(&candidates[best * d..(best + 1) * d]) {
            params.insert(p.name.clone(), p.distribution.value_at(x));
        }
    }
}

/// The values of `dims` (sorted by name) in each trial where all of them are active and
/// valid, row by row, and the number of rows. A trial's parameters are walked once, in name
/// order, beside the dimensions.
fn observations(dims: &[&Param], trials: &[&Trial]) -> (Buffer, usize) {
    debug_assert!(dims.is_sorted_by(|a, b| a.name < b.name));
    let mut obs = Buffer::with_capacity(trials.len() * dims.len());
    let mut n = 0;
    'trials: for t in trials {
        let start = obs.len();
        let mut entries = t.params.iter();
        for p in dims {
            let value = loop {
                match entries.next() {
                    Some((name, v)) if same_name(name, &p.name) => break v,
                    Some((name, _)) if *name < p.name => continue,
                    _ => {
                        obs.truncate(start);
                        continue 'trials;
                    }
                }
            };
            match p.distribution.index_of(value) {
                Some(x) => obs.push(x),
                None => {
                    obs.truncate(start);
                    continue 'trials;
                }
            }
        }
        n += 1;
    }
    (obs, n)
}

/// Whether two parameter names are equal, compared byte by byte: names are short, and this
/// beats a call to `memcmp` in a loop over thousands of trials.
#[inline]
fn same_name(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}
