//! Grid search: every combination of all categorical choices and a few points per numeric
//! axis, visited once each in a seeded shuffled order.
//!
//! The order depends only on [`GridSampler::order_seed`], so every worker of a study walks the
//! same order and takes the first point that no trial (running ones included) holds yet: the
//! workers share the grid instead of repeating each other. Conditional parameters are part of
//! the grid; points that differ only in inactive parameters are the same point. Once every
//! point is taken, the sampler returns random grid points (seeded by the trial).

use super::{Sampler, rng};
use crate::mix::splitmix64;
use crate::space::{Distribution, Params, Space, on_grid, same_value};
use crate::trial::{Direction, Trial};
use rand::Rng;
use serde_json::Value;
use std::collections::HashSet;

/// A point's coordinate for a parameter that is not active there.
const INACTIVE: u32 = u32::MAX;

/// The most combinations [`GridSampler::grid_size`] enumerates to count distinct points.
const MAX_ENUMERATED: u64 = 10_000_000;

/// Grid search over all categorical choices × `points_per_axis` points per numeric axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GridSampler {
    /// Points per numeric axis, evenly spaced (on the log scale for log parameters) and
    /// including both ends; stepped and integer axes with fewer values take them all.
    pub points_per_axis: usize,
    /// Seed of the visiting order, the same for every trial of a study (e.g. the study seed).
    pub order_seed: u64,
}

impl Default for GridSampler {
    fn default() -> Self {
        Self {
            points_per_axis: 5,
            order_seed: 0,
        }
    }
}

impl Sampler for GridSampler {
    fn sample(&self, space: &Space, trials: &[Trial], _: Direction, seed: u64) -> Params {
        let grid = Grid::new(space, self.points_per_axis);
        let taken = grid.taken(trials);
        let Some(size) = grid.size() else {
            // Too many points to number: any random point of the grid.
            let mut rng = rng(seed);
            let coords: Vec<u32> = grid
                .axes
                .iter()
                .map(|a| rng.random_range(0..a.len().max(1)) as u32)
                .collect();
            return grid.params(&grid.resolve(&coords));
        };
        let order = Shuffle::new(size, self.order_seed);
        let free = (0..size)
            .map(|i| grid.resolve(&grid.coords(order.apply(i))))
            .find(|point| !taken.contains(point));
        let point = free.unwrap_or_else(|| {
            let i = rng(seed).random_range(0..size);
            grid.resolve(&grid.coords(i))
        });
        grid.params(&point)
    }
}

impl GridSampler {
    /// The number of distinct grid points (conditional parameters counted only where active);
    /// `None` when there are too many to count (past `u64`, or, with conditions, which are
    /// counted by enumeration, past ten million combinations).
    pub fn grid_size(&self, space: &Space) -> Option<u64> {
        let grid = Grid::new(space, self.points_per_axis);
        let size = grid.size()?;
        if space.params.iter().all(|p| p.condition.is_none()) {
            return Some(size);
        }
        if size > MAX_ENUMERATED {
            return None;
        }
        let points: HashSet<Vec<u32>> = (0..size).map(|i| grid.resolve(&grid.coords(i))).collect();
        Some(points.len() as u64)
    }

    /// Whether every grid point is held by a trial, so that a study can stop.
    pub fn is_exhausted(&self, space: &Space, trials: &[Trial]) -> bool {
        let grid = Grid::new(space, self.points_per_axis);
        let taken = grid.taken(trials);
        grid.size()
            .is_some_and(|size| (0..size).all(|i| taken.contains(&grid.resolve(&grid.coords(i)))))
    }
}

/// The grid of a space: the values of each axis and the conditions between axes.
struct Grid<'a> {
    space: &'a Space,
    /// Per parameter, its grid values (empty for a parameter that cannot be drawn).
    axes: Vec<Vec<Value>>,
    /// Per parameter with a condition: its parent's index and, per parent value, whether it
    /// activates the parameter.
    gates: Vec<Option<(usize, Vec<bool>)>>,
    /// Parameters in an order where parents come before children; parameters whose condition
    /// can never hold (a missing parent, a cycle) are left out.
    order: Vec<usize>,
}

impl<'a> Grid<'a> {
    fn new(space: &'a Space, points_per_axis: usize) -> Self {
        let axes: Vec<Vec<Value>> = space
            .params
            .iter()
            .map(|p| axis(&p.distribution, points_per_axis.max(1)))
            .collect();
        let gates: Vec<Option<(usize, Vec<bool>)>> = space
            .params
            .iter()
            .map(|p| {
                let c = p.condition.as_ref()?;
                let parent = space.params.iter().position(|q| q.name == c.parent);
                Some(match parent {
                    Some(j) => (j, axes[j].iter().map(|v| c.holds(v)).collect()),
                    None => (usize::MAX, Vec::new()),
                })
            })
            .collect();
        let mut order = Vec::new();
        let mut placed = vec![false; axes.len()];
        loop {
            let before = order.len();
            for i in 0..axes.len() {
                let ready = match &gates[i] {
                    None => true,
                    Some((j, _)) => placed.get(*j).copied().unwrap_or(false),
                };
                if !placed[i] && ready && !axes[i].is_empty() {
                    placed[i] = true;
                    order.push(i);
                }
            }
            if order.len() == before {
                break;
            }
        }
        Self {
            space,
            axes,
            gates,
            order,
        }
    }

    /// The number of combinations of axis values; `None` past `u64`.
    fn size(&self) -> Option<u64> {
        self.axes
            .iter()
            .try_fold(1u64, |n, a| n.checked_mul(a.len().max(1) as u64))
    }

    /// The axis coordinates of combination `index` (mixed radix, first parameter fastest).
    fn coords(&self, mut index: u64) -> Vec<u32> {
        self.axes
            .iter()
            .map(|a| {
                let radix = a.len().max(1) as u64;
                let c = index % radix;
                index /= radix;
                c as u32
            })
            .collect()
    }

    /// The point that `coords` stands for: the coordinates of active parameters, [`INACTIVE`]
    /// for the others, so that combinations differing only in inactive parameters are equal.
    fn resolve(&self, coords: &[u32]) -> Vec<u32> {
        let mut point = vec![INACTIVE; coords.len()];
        for &i in &self.order {
            let active = match &self.gates[i] {
                None => true,
                Some((j, opens)) => point
                    .get(*j)
                    .is_some_and(|&c| c != INACTIVE && opens[c as usize]),
            };
            if active {
                point[i] = coords[i];
            }
        }
        point
    }

    /// The points held by `trials` (any state); trials with values off the grid hold none.
    fn taken(&self, trials: &[Trial]) -> HashSet<Vec<u32>> {
        trials
            .iter()
            .filter_map(|t| {
                self.space
                    .params
                    .iter()
                    .zip(&self.axes)
                    .map(|(p, axis)| match t.params.get(&p.name) {
                        None => Some(INACTIVE),
                        Some(v) => axis.iter().position(|a| same_value(a, v)).map(|c| c as u32),
                    })
                    .collect::<Option<Vec<u32>>>()
            })
            .collect()
    }

    /// The parameter values of `point`.
    fn params(&self, point: &[u32]) -> Params {
        self.space
            .params
            .iter()
            .zip(&self.axes)
            .zip(point)
            .filter(|(_, c)| **c != INACTIVE)
            .map(|((p, axis), c)| (p.name.clone(), axis[*c as usize].clone()))
            .collect()
    }
}

/// The grid values of one distribution with `n >= 1` points per numeric axis.
fn axis(d: &Distribution, n: usize) -> Vec<Value> {
    if d.check().is_err() {
        return Vec::new();
    }
    let t = |j: usize| {
        if n == 1 {
            0.5
        } else {
            j as f64 / (n - 1) as f64
        }
    };
    match *d {
        Distribution::Float {
            low,
            high,
            step: Some(step),
            ..
        } => {
            let k = d.last_step().unwrap_or(0);
            spread(k, n)
                .into_iter()
                .map(|i| Value::from(on_grid(low, high, step, i as f64)))
                .collect()
        }
        Distribution::Float { low, high, .. } if low == high => vec![Value::from(low)],
        Distribution::Float { low, high, log, .. } => (0..n)
            .map(|j| {
                let x = match j {
                    0 if n > 1 => low,
                    _ if j + 1 == n && n > 1 => high,
                    _ if log => (low.ln() + t(j) * (high.ln() - low.ln())).exp(),
                    _ => low + t(j) * (high - low),
                };
                Value::from(x)
            })
            .collect(),
        Distribution::Int {
            low,
            high,
            log,
            step,
        } => {
            let k = d.last_step().unwrap_or(0);
            let mut values: Vec<i64> = if log && (k as usize) >= n {
                let (a, b) = ((low as f64).ln(), (high as f64).ln());
                (0..n)
                    .map(|j| ((a + t(j) * (b - a)).exp().round() as i64).clamp(low, high))
                    .collect()
            } else {
                spread(k, n)
                    .into_iter()
                    .map(|i| on_grid(low as f64, high as f64, step as f64, i as f64) as i64)
                    .collect()
            };
            values.dedup();
            values.into_iter().map(Value::from).collect()
        }
        Distribution::Categorical { ref choices } => choices.clone(),
    }
}

/// `n` indices spread evenly over `0..=k` (all of them when there are at most `n`).
fn spread(k: u64, n: usize) -> Vec<u64> {
    if k < n as u64 {
        return (0..=k).collect();
    }
    let mut out: Vec<u64> = (0..n)
        .map(|j| {
            if n == 1 {
                k / 2
            } else {
                (j as f64 * k as f64 / (n - 1) as f64).round() as u64
            }
        })
        .collect();
    out.dedup();
    out
}

/// A seeded permutation of `0..n`: a four-round Feistel network on the smallest even number
/// of bits that covers `n`, cycle-walked back into range.
struct Shuffle {
    n: u64,
    half: u32,
    keys: [u64; 4],
}

impl Shuffle {
    fn new(n: u64, seed: u64) -> Self {
        let bits = 64 - n.saturating_sub(1).leading_zeros();
        let mut keys = [0; 4];
        let mut state = seed;
        for k in &mut keys {
            state = splitmix64(state);
            *k = state;
        }
        Self {
            n,
            half: bits.div_ceil(2).max(1),
            keys,
        }
    }

    /// The `i`-th element of the permutation (`i < n`).
    fn apply(&self, i: u64) -> u64 {
        let mask = (1u64 << self.half) - 1;
        let mut x = i;
        loop {
            let (mut left, mut right) = (x >> self.half, x & mask);
            for key in self.keys {
                let f = splitmix64(right ^ key) & mask;
                (left, right) = (right, left ^ f);
            }
            x = (left << self.half) | right;
            if x < self.n {
                return x;
            }
        }
    }
}
