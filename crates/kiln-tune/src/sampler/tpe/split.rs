//! TPE's split of the trials into the good ("below") and the rest ("above"), as Optuna's
//! single-objective `_split_trials`.
//!
//! The best γ(n) = min(⌈n/10⌉, 25) of the n finished trials are good: complete trials by
//! value first, then pruned trials, ranked by how far they got and then by their last
//! intermediate value. With the constant liar, running trials count among the rest, as if they
//! were about to return the worst value, so that parallel workers look elsewhere.

use crate::trial::{Direction, Trial, TrialState};
use std::cmp::Ordering;

/// The trials each Parzen estimator is built from, each list in trial-number order.
pub(super) struct Split<'a> {
    /// The best trials.
    pub(super) below: Vec<&'a Trial>,
    /// The others (running trials included with the constant liar).
    pub(super) above: Vec<&'a Trial>,
}

/// How many of `n` finished trials are good: min(⌈0.1·n⌉, 25), Optuna's `default_gamma`.
fn gamma(n: usize) -> usize {
    n.div_ceil(10).min(25)
}

/// Whether a trial has a result TPE learns from: complete with a value that is not NaN, or
/// pruned. Failed and waiting trials, and running ones, are not finished.
pub(super) fn is_finished(t: &Trial) -> bool {
    match t.state {
        TrialState::Complete => t.value.is_some_and(|v| !v.is_nan()),
        TrialState::Pruned => true,
        _ => false,
    }
}

/// Orders pruned trials best first: further steps first, then better last intermediate
/// values (NaN last); trials that reported nothing come after all others.
fn compare_pruned(a: &Trial, b: &Trial, direction: Direction) -> Ordering {
    match (a.last_step(), b.last_step()) {
        (Some((sa, va)), Some((sb, vb))) => sb.cmp(&sa).then(direction.compare(va, vb)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// Splits `trials` into good and other ones.
pub(super) fn split(trials: &[Trial], direction: Direction, constant_liar: bool) -> Split<'_> {
    let mut complete: Vec<usize> = Vec::new();
    let mut pruned: Vec<usize> = Vec::new();
    for (i, t) in trials.iter().enumerate() {
        match t.state {
            TrialState::Pruned => pruned.push(i),
            TrialState::Complete if is_finished(t) => complete.push(i),
            _ => {}
        }
    }
    let mut n_below = gamma(complete.len() + pruned.len());
    let by_value = |a: &usize, b: &usize| {
        let (a, b) = (&trials[*a], &trials[*b]);
        direction
            .compare(a.value.unwrap_or(f64::NAN), b.value.unwrap_or(f64::NAN))
            .then(a.number.cmp(&b.number))
    };
    let by_progress = |a: &usize, b: &usize| {
        let (a, b) = (&trials[*a], &trials[*b]);
        compare_pruned(a, b, direction).then(a.number.cmp(&b.number))
    };
    // Mark the best of the complete trials, then (if γ is not reached) of the pruned ones.
    let mut good = vec![false; trials.len()];
    for (mut group, order) in [
        (complete, &by_value as &dyn Fn(&usize, &usize) -> Ordering),
        (pruned, &by_progress),
    ] {
        let k = n_below.min(group.len());
        if k > 0 && k < group.len() {
            group.select_nth_unstable_by(k - 1, order);
        }
        for &i in &group[..k] {
            good[i] = true;
        }
        n_below -= k;
    }
    let mut below = Vec::new();
    let mut above = Vec::with_capacity(trials.len());
    for (t, &is_good) in trials.iter().zip(&good) {
        if is_good {
            below.push(t);
        } else if is_finished(t) || (constant_liar && t.state == TrialState::Running) {
            above.push(t);
        }
    }
    for side in [&mut below, &mut above] {
        if !side.is_sorted_by_key(|t| t.number) {
            side.sort_by_key(|t| t.number);
        }
    }
    Split { below, above }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::Params;

    fn trial(number: u64, state: TrialState, value: Option<f64>, steps: &[(u64, f64)]) -> Trial {
        Trial {
            number,
            state,
            params: Params::new(),
            value,
            intermediate: steps.to_vec(),
        }
    }

    fn numbers(ts: &[&Trial]) -> Vec<u64> {
        ts.iter().map(|t| t.number).collect()
    }

    #[test]
    fn gamma_is_a_tenth_capped_at_25() {
        assert_eq!(
            [0, 1, 10, 11, 100, 250, 251, 5000].map(gamma),
            [0, 1, 1, 2, 10, 25, 25, 25]
        );
    }

    #[test]
    fn complete_trials_rank_before_pruned_and_running_go_above() {
        let mut trials: Vec<Trial> = (0..18)
            .map(|i| trial(i, TrialState::Complete, Some(i as f64), &[]))
            .collect();
        // Pruned: 18 reached step 5, 19 only step 2 with a better value; 20 reported nothing.
        trials.push(trial(18, TrialState::Pruned, None, &[(4, 1.0), (5, 9.0)]));
        trials.push(trial(19, TrialState::Pruned, None, &[(2, -5.0)]));
        trials.push(trial(20, TrialState::Pruned, None, &[]));
        trials.push(trial(21, TrialState::Running, None, &[]));
        trials.push(trial(22, TrialState::Failed, None, &[]));
        // 21 finished trials: γ = 3, all taken by the three best complete ones.
        let s = split(&trials, Direction::Minimize, true);
        assert_eq!(numbers(&s.below), [0, 1, 2]);
        assert!(numbers(&s.above).contains(&21) && !numbers(&s.above).contains(&22));
        assert_eq!(s.above.len(), 21 - 3 + 1);
        let s = split(&trials, Direction::Maximize, false);
        assert_eq!(numbers(&s.below), [15, 16, 17]);
        assert!(!numbers(&s.above).contains(&21));

        // With only two complete trials the third good one is the pruned trial that got
        // furthest (step 5), not the one with the better value at step 2.
        let few: Vec<Trial> = trials
            .iter()
            .filter(|t| t.number < 2 || t.number >= 18)
            .cloned()
            .collect();
        let s = split(&few, Direction::Minimize, true);
        assert_eq!(numbers(&s.below), [0]);
        let mut more = few.clone();
        more.extend((30..40).map(|i| trial(i, TrialState::Complete, Some(100.0 + i as f64), &[])));
        // 15 finished: γ = 2 → trial 0 and trial 1.
        assert_eq!(
            numbers(&split(&more, Direction::Minimize, true).below),
            [0, 1]
        );
        let pruned_first: Vec<Trial> = few.iter().filter(|t| t.number >= 18).cloned().collect();
        let mut many = pruned_first.clone();
        many.extend((30..42).map(|i| trial(i, TrialState::Pruned, None, &[(1, 0.0)])));
        // 15 pruned trials: γ = 2 → 18 (step 5) then 19 (step 2).
        assert_eq!(
            numbers(&split(&many, Direction::Minimize, true).below),
            [18, 19]
        );
    }
}
