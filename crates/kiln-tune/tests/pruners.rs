//! Median, ASHA and Hyperband pruners on synthetic learning curves: the clearly bad curve is
//! stopped, the good one is not, and ASHA stops most of a noisy crowd.

use kiln_tune::pruner::{self, AshaPruner, HyperbandPruner, MedianPruner, Pruner};
use kiln_tune::{Direction, Params, Trial, TrialState};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A validation-loss curve: `floor + 1 / (1 + step / 5)` plus noise of size `noise`.
fn curve(floor: f64, noise: f64, rng: &mut ChaCha8Rng) -> impl FnMut(u64) -> f64 + '_ {
    move |step| floor + 1.0 / (1.0 + step as f64 / 5.0) + noise * (rng.random::<f64>() - 0.5)
}

/// Runs trial `number` on `loss` for up to `steps` steps (1, 2, …), asking `pruner` after each
/// report; the finished (complete or pruned) trial.
fn run(
    pruner: &dyn Pruner,
    trials: &[Trial],
    number: u64,
    steps: u64,
    mut loss: impl FnMut(u64) -> f64,
) -> Trial {
    let mut t = Trial::running(number, Params::new());
    for step in 1..=steps {
        t.intermediate.push((step, loss(step)));
        if pruner.should_prune(&t, trials, Direction::Minimize) {
            t.state = TrialState::Pruned;
            return t;
        }
    }
    t.state = TrialState::Complete;
    t.value = t.last_step().map(|(_, v)| v);
    t
}

/// `n` finished trials of medium curves (floors 0.4–0.6), run one after another.
fn history(pruner: &dyn Pruner, n: u64, steps: u64, seed: u64) -> Vec<Trial> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut trials = Vec::new();
    for number in 0..n {
        let floor = 0.4 + 0.2 * rng.random::<f64>();
        let mut noise = ChaCha8Rng::seed_from_u64(seed * 1000 + number);
        let t = run(
            pruner,
            &trials,
            number,
            steps,
            curve(floor, 0.02, &mut noise),
        );
        trials.push(t);
    }
    trials
}

/// The step a trial was stopped at, if it was pruned.
fn pruned_at(t: &Trial) -> Option<u64> {
    (t.state == TrialState::Pruned).then(|| t.last_step().unwrap().0)
}

#[test]
fn median_prunes_the_bad_curve_and_keeps_the_good_one() {
    let median = MedianPruner::default();
    let trials = history(&pruner::NopPruner, 6, 30, 1);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let bad = run(&median, &trials, 6, 30, curve(1.5, 0.02, &mut rng));
    assert_eq!(
        pruned_at(&bad),
        Some(1),
        "the bad curve is above the median from step 1"
    );
    let good = run(&median, &trials, 7, 30, curve(0.1, 0.02, &mut rng));
    assert_eq!(good.state, TrialState::Complete);
    // A curve that starts badly but ends best: its best-so-far value is what counts.
    let late = run(&median, &trials, 8, 30, |s| if s < 3 { 3.0 } else { 0.05 });
    assert_eq!(pruned_at(&late), Some(1), "judged at each step, as Optuna");
    // Maximising: the mirror image.
    let flipped: Vec<Trial> = trials
        .iter()
        .map(|t| Trial {
            intermediate: t.intermediate.iter().map(|&(s, v)| (s, -v)).collect(),
            value: t.value.map(|v| -v),
            ..t.clone()
        })
        .collect();
    let mut worse = Trial::running(9, Params::new());
    worse.intermediate.push((1, -2.0));
    assert!(median.should_prune(&worse, &flipped, Direction::Maximize));
    worse.intermediate[0].1 = 0.0;
    assert!(!median.should_prune(&worse, &flipped, Direction::Maximize));
}

#[test]
fn median_waits_for_startup_trials_and_warmup() {
    let median = MedianPruner::default();
    let four = history(&pruner::NopPruner, 4, 10, 3);
    let mut bad = Trial::running(100, Params::new());
    bad.intermediate.push((1, 9.0));
    assert!(
        !median.should_prune(&bad, &four, Direction::Minimize),
        "only 4 complete trials"
    );
    let five = history(&pruner::NopPruner, 5, 10, 3);
    assert!(median.should_prune(&bad, &five, Direction::Minimize));
    let patient = MedianPruner {
        n_warmup_steps: 3,
        ..MedianPruner::default()
    };
    assert!(
        !patient.should_prune(&bad, &five, Direction::Minimize),
        "step 1 is in the warm-up"
    );
    // A step no completed trial reported: nothing to compare with.
    let mut off = Trial::running(5, Params::new());
    off.intermediate.push((50, 9.0));
    assert!(!median.should_prune(&off, &five, Direction::Minimize));
    // NaN values only: pruned.
    let mut nan = Trial::running(6, Params::new());
    nan.intermediate.push((1, f64::NAN));
    assert!(median.should_prune(&nan, &five, Direction::Minimize));
}

#[test]
fn asha_prunes_the_bad_curve_at_the_first_rung_and_keeps_the_good_one() {
    let asha = AshaPruner {
        min_resource: Some(1),
        ..AshaPruner::default()
    };
    let trials = history(&asha, 12, 40, 5);
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let bad = run(&asha, &trials, 12, 40, curve(2.0, 0.02, &mut rng));
    assert_eq!(pruned_at(&bad), Some(1));
    let good = run(&asha, &trials, 13, 40, curve(0.0, 0.02, &mut rng));
    assert_eq!(
        good.state,
        TrialState::Complete,
        "{:?}",
        good.intermediate.last()
    );
    // Rungs at 1, 3, 9, 27: a curve in the pack that falls behind is stopped at a rung.
    let fading = run(&asha, &trials, 14, 40, |s| if s < 9 { 0.0 } else { 5.0 });
    assert_eq!(pruned_at(&fading), Some(9));
}

#[test]
fn asha_prunes_at_least_a_third_of_noisy_trials() {
    let asha = AshaPruner::default(); // automatic minimum resource, as Optuna's default
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let mut trials: Vec<Trial> = Vec::new();
    for number in 0..40 {
        let floor = rng.random::<f64>();
        let mut noise = ChaCha8Rng::seed_from_u64(100 + number);
        let t = run(&asha, &trials, number, 60, curve(floor, 0.3, &mut noise));
        trials.push(t);
    }
    let pruned = trials
        .iter()
        .filter(|t| t.state == TrialState::Pruned)
        .count();
    assert!(pruned >= 14, "{pruned} of 40 pruned");
    // The best floors survive more often than the worst.
    let complete = trials
        .iter()
        .filter(|t| t.state == TrialState::Complete)
        .count();
    assert!(complete >= 1, "nothing completed");
}

#[test]
fn asha_is_stateless_and_sees_every_trial_at_a_rung() {
    let asha = AshaPruner {
        min_resource: Some(2),
        reduction_factor: 2,
        min_early_stopping_rate: 0,
    };
    // Rung 0 at step 2. Three others recorded 0.1, 0.2, 0.3 there (one still running).
    let mk = |number: u64, state: TrialState, values: &[f64]| Trial {
        number,
        state,
        params: Params::new(),
        value: None,
        intermediate: values
            .iter()
            .enumerate()
            .map(|(i, &v)| (i as u64 + 1, v))
            .collect(),
    };
    let trials = vec![
        mk(0, TrialState::Complete, &[0.5, 0.1, 0.1, 0.1]),
        mk(1, TrialState::Pruned, &[0.5, 0.3]),
        mk(2, TrialState::Running, &[0.5, 0.2, 0.2]),
    ];
    // With its own value, four values at the rung: the best 4 / 2 = 2 go on.
    let mut t = mk(3, TrialState::Running, &[0.9, 0.15]);
    assert!(!asha.should_prune(&t, &trials, Direction::Minimize));
    t.intermediate[1].1 = 0.25;
    assert!(asha.should_prune(&t, &trials, Direction::Minimize));
    // Before the rung: never.
    t.intermediate.truncate(1);
    assert!(!asha.should_prune(&t, &trials, Direction::Minimize));
    // The trial itself in the list is not counted twice.
    let mut with_self = trials.clone();
    with_self.push(mk(3, TrialState::Running, &[0.9, 0.15]));
    let t = mk(3, TrialState::Running, &[0.9, 0.15]);
    assert!(!asha.should_prune(&t, &with_self, Direction::Minimize));
}

#[test]
fn hyperband_prunes_the_bad_curve_within_its_bracket_and_keeps_the_good_one() {
    let hyperband = HyperbandPruner {
        max_resource: Some(81),
        ..HyperbandPruner::default()
    };
    // η = 3 from 1 to 81 steps: five brackets, first rungs at 1, 3, 9, 27 and 81.
    let brackets: Vec<usize> = (0..400).map(|n| hyperband.bracket(n, 81)).collect();
    for b in 0..5 {
        assert!(brackets.contains(&b), "bracket {b} unused");
    }
    let share0 = brackets.iter().filter(|&&b| b == 0).count() as f64 / 400.0;
    assert!(
        (0.45..0.7).contains(&share0),
        "bracket 0 holds 81/143 of the trials: {share0}"
    );

    let trials = history(&hyperband, 60, 81, 7);
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let mut judged = [false; 5];
    for number in 60..200u64 {
        let b = hyperband.bracket(number, 81);
        let peers = trials
            .iter()
            .filter(|t| hyperband.bracket(t.number, 81) == b)
            .count();
        if peers == 0 || judged[b] {
            continue;
        }
        judged[b] = true;
        let bad = run(&hyperband, &trials, number, 81, curve(2.0, 0.02, &mut rng));
        assert_eq!(pruned_at(&bad), Some(3u64.pow(b as u32)), "bracket {b}");
        let good = run(&hyperband, &trials, number, 81, curve(0.0, 0.02, &mut rng));
        assert_eq!(good.state, TrialState::Complete, "bracket {b}");
    }
    assert_eq!(judged, [true; 5], "brackets with trials to compare against");
}

#[test]
fn hyperband_judges_a_trial_only_against_its_own_bracket() {
    let hyperband = HyperbandPruner {
        max_resource: Some(27),
        ..HyperbandPruner::default()
    };
    let in_zero: Vec<u64> = (0..200)
        .filter(|&n| hyperband.bracket(n, 27) == 0)
        .take(3)
        .collect();
    let elsewhere: Vec<u64> = (0..200)
        .filter(|&n| hyperband.bracket(n, 27) != 0)
        .take(5)
        .collect();
    let done = |number: u64, value: f64| Trial {
        number,
        state: TrialState::Complete,
        params: Params::new(),
        value: Some(value),
        intermediate: (1..=27).map(|s| (s, value)).collect(),
    };
    // Other brackets did far better; bracket 0 did worse than our trial.
    let mut trials: Vec<Trial> = elsewhere.iter().map(|&n| done(n, 0.01)).collect();
    trials.extend(in_zero[..2].iter().map(|&n| done(n, 0.9)));
    let mut t = Trial::running(in_zero[2], Params::new());
    t.intermediate.push((1, 0.5));
    assert!(!hyperband.should_prune(&t, &trials, Direction::Minimize));
    t.intermediate[0].1 = 1.0;
    assert!(hyperband.should_prune(&t, &trials, Direction::Minimize));
    // With no completed trial and no max resource, Optuna's "auto" waits.
    let auto = HyperbandPruner::default();
    assert!(!auto.should_prune(&t, &[], Direction::Minimize));
}

#[test]
fn pruners_by_name() {
    let trials = history(&pruner::NopPruner, 8, 20, 9);
    let mut bad = Trial::running(8, Params::new());
    bad.intermediate.push((1, 50.0));
    for name in ["median", "asha", "hyperband"] {
        let p = pruner::by_name(name, Some(20)).unwrap();
        assert!(
            p.should_prune(&bad, &trials, Direction::Minimize) || name == "hyperband",
            "{name}"
        );
    }
    let none = pruner::by_name("none", None).unwrap();
    assert!(!none.should_prune(&bad, &trials, Direction::Minimize));
    let err = pruner::by_name("patient", None).err().unwrap().to_string();
    assert!(err.contains("patient") && err.contains("median"), "{err}");
}
