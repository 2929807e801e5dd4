//! Random search: every active parameter drawn independently and uniformly (log-uniformly on a
//! log scale, uniformly over the allowed values when stepped).

use super::{Sampler, rng};
use crate::space::{Distribution, Params, Space, on_grid};
use crate::trial::{Direction, Trial};
use rand::Rng;
use serde_json::Value;

/// Uniform random search; it ignores the trials so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RandomSampler;

impl Sampler for RandomSampler {
    fn sample(&self, space: &Space, _: &[Trial], _: Direction, seed: u64) -> Params {
        sample_space(space, &mut rng(seed))
    }
}

/// Random values for the active parameters of `space`.
pub(super) fn sample_space(space: &Space, rng: &mut impl Rng) -> Params {
    space.fill(|group, params| {
        for p in group {
            if let Some(v) = draw(&p.distribution, rng) {
                params.insert(p.name.clone(), v);
            }
        }
    })
}

/// One random value of `d`; `None` when `d` has no value (an invalid distribution).
pub(super) fn draw(d: &Distribution, rng: &mut impl Rng) -> Option<Value> {
    let u: f64 = rng.random();
    match *d {
        Distribution::Float {
            low,
            high,
            log,
            step,
        } => {
            if !(low <= high && low.is_finite() && high.is_finite()) {
                return None;
            }
            let x = match (step, d.last_step()) {
                (Some(step), Some(k)) => on_grid(low, high, step, (u * (k as f64 + 1.0)).floor()),
                (Some(_), None) => return None,
                (None, _) if log && low > 0.0 => (low.ln() + u * (high.ln() - low.ln()))
                    .exp()
                    .clamp(low, high),
                (None, _) => (low + u * (high - low)).min(high),
            };
            Some(Value::from(x))
        }
        Distribution::Int {
            low,
            high,
            log,
            step,
        } => {
            let k = d.last_step()?;
            let x = if log && low >= 1 && step == 1 {
                // As Optuna: log-uniform over [low - 0.5, high + 0.5], rounded.
                let (a, b) = ((low as f64 - 0.5).ln(), (high as f64 + 0.5).ln());
                (a + u * (b - a))
                    .exp()
                    .round()
                    .clamp(low as f64, high as f64)
            } else {
                let i = (u * (k as f64 + 1.0)).floor().min(k as f64);
                on_grid(low as f64, high as f64, step as f64, i)
            };
            Some(Value::from(x as i64))
        }
        Distribution::Categorical { ref choices } => {
            let i = ((u * choices.len() as f64) as usize).min(choices.len().checked_sub(1)?);
            choices.get(i).cloned()
        }
    }
}
