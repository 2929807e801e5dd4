//! Random, grid and TPE samplers: bounds, steps, log scales and conditions respected; the grid
//! covered once, skipping taken points; TPE better than random search, deterministic, and
//! spreading parallel workers with the constant liar.

use kiln_tune::sampler::{self, GridSampler, RandomSampler, Sampler, TpeSampler, trial_seed};
use kiln_tune::{Direction, Distribution, Param, Params, Space, Trial, TrialState};
use serde_json::{Value, json};
use std::collections::HashSet;

/// A finished trial.
fn complete(number: u64, params: Params, value: f64) -> Trial {
    Trial {
        number,
        state: TrialState::Complete,
        params,
        value: Some(value),
        intermediate: Vec::new(),
    }
}

/// A sequential study of `n` trials minimising `f`.
fn study(
    sampler: &dyn Sampler,
    space: &Space,
    n: u64,
    seed: u64,
    f: impl Fn(&Params) -> f64,
) -> Vec<Trial> {
    let mut trials: Vec<Trial> = Vec::new();
    for number in 0..n {
        let params = sampler.sample(
            space,
            &trials,
            Direction::Minimize,
            trial_seed(seed, number),
        );
        let value = f(&params);
        trials.push(complete(number, params, value));
    }
    trials
}

fn num(p: &Params, name: &str) -> f64 {
    p[name].as_f64().unwrap()
}

fn best(trials: &[Trial]) -> f64 {
    trials
        .iter()
        .filter_map(|t| t.value)
        .fold(f64::INFINITY, f64::min)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Floats (plain, log, stepped), ints (plain, log, stepped), a categorical and two conditional
/// parameters.
fn mixed_space() -> Space {
    Space::new(vec![
        Param::new("x", Distribution::float(-3.0, 2.0, false)),
        Param::new("lr", Distribution::float(1e-5, 1e-1, true)),
        Param::new(
            "dropout",
            Distribution::Float {
                low: 0.0,
                high: 0.5,
                log: false,
                step: Some(0.1),
            },
        ),
        Param::new("width", Distribution::int(16, 1024, true)),
        Param::new("depth", Distribution::int(1, 6, false)),
        Param::new(
            "batch",
            Distribution::Int {
                low: 32,
                high: 512,
                log: false,
                step: 32,
            },
        ),
        Param::new(
            "optimizer",
            Distribution::categorical(["sgd", "adam", "lion"]),
        ),
        Param::new("momentum", Distribution::float(0.0, 0.99, false)).when("optimizer", ["sgd"]),
        Param::new("beta2", Distribution::float(0.9, 0.9999, false))
            .when("optimizer", ["adam", "lion"]),
    ])
    .unwrap()
}

/// Checks every value of `p` against `space`: present exactly when active, within bounds,
/// on its step, an integer for ints, one of the choices for categoricals.
fn assert_valid(space: &Space, p: &Params) {
    for param in &space.params {
        let active = match &param.condition {
            None => true,
            Some(c) => p.get(&c.parent).is_some_and(|v| c.values.contains(v)),
        };
        assert_eq!(p.contains_key(&param.name), active, "{}: {p:?}", param.name);
        let Some(v) = p.get(&param.name) else {
            continue;
        };
        match &param.distribution {
            Distribution::Float {
                low, high, step, ..
            } => {
                let x = v.as_f64().unwrap();
                assert!((*low..=*high).contains(&x), "{}={x}", param.name);
                if let Some(step) = step {
                    let k = (x - low) / step;
                    assert!((k - k.round()).abs() < 1e-9, "{}={x} off step", param.name);
                }
            }
            Distribution::Int {
                low, high, step, ..
            } => {
                let x = v
                    .as_i64()
                    .unwrap_or_else(|| panic!("{}={v} not an int", param.name));
                assert!(
                    (*low..=*high).contains(&x) && (x - low) % step == 0,
                    "{}={x}",
                    param.name
                );
            }
            Distribution::Categorical { choices } => assert!(choices.contains(v)),
        }
    }
    assert_eq!(
        p.len(),
        space
            .params
            .iter()
            .filter(|q| p.contains_key(&q.name))
            .count()
    );
}

#[test]
fn random_sampler_respects_bounds_steps_log_scale_and_conditions() {
    let space = mixed_space();
    let trials = study(&RandomSampler, &space, 2000, 7, |_| 0.0);
    for t in &trials {
        assert_valid(&space, &t.params);
    }
    let values = |name: &str| -> Vec<f64> {
        trials
            .iter()
            .filter_map(|t| t.params.get(name))
            .map(|v| v.as_f64().unwrap())
            .collect()
    };
    // Log scale: about half of the draws below the geometric middle 1e-3, not 1%.
    let lr = values("lr");
    let below = lr.iter().filter(|&&x| x < 1e-3).count() as f64 / lr.len() as f64;
    assert!((0.45..0.55).contains(&below), "share below 1e-3: {below}");
    let width = values("width");
    let narrow = width.iter().filter(|&&x| x < 128.0).count() as f64 / width.len() as f64;
    assert!(
        (0.4..0.6).contains(&narrow),
        "share of widths < 128: {narrow}"
    );
    // Every step value and every int is reached, including both ends.
    let distinct = |name: &str| {
        values(name)
            .iter()
            .map(|x| x.to_bits())
            .collect::<HashSet<_>>()
            .len()
    };
    assert_eq!(distinct("dropout"), 6);
    assert_eq!(distinct("depth"), 6);
    assert_eq!(distinct("batch"), 16);
    // Conditions: momentum only with sgd (about a third of the trials).
    let sgd = trials
        .iter()
        .filter(|t| t.params["optimizer"] == "sgd")
        .count();
    assert_eq!(values("momentum").len(), sgd);
    assert_eq!(values("beta2").len(), trials.len() - sgd);
    assert!((500..830).contains(&sgd), "{sgd}");
    // Seeded: the same seed gives the same values, another seed others.
    let again = study(&RandomSampler, &space, 50, 7, |_| 0.0);
    assert!(again.iter().zip(&trials).all(|(a, b)| a.params == b.params));
    let other = study(&RandomSampler, &space, 50, 8, |_| 0.0);
    assert!(other.iter().zip(&trials).any(|(a, b)| a.params != b.params));
}

#[test]
fn grid_covers_every_point_exactly_once_then_reports_exhaustion() {
    let space = Space::new(vec![
        Param::new("act", Distribution::categorical(["relu", "gelu"])),
        Param::new("lr", Distribution::float(1e-4, 1e-0, true)),
        Param::new("depth", Distribution::int(1, 3, false)),
        Param::new("width", Distribution::int(16, 1024, true)),
    ])
    .unwrap();
    let grid = GridSampler::default();
    // 2 choices × 5 learning rates × 3 depths × 5 widths.
    assert_eq!(grid.grid_size(&space), Some(150));
    let trials = study(&grid, &space, 150, 3, |_| 0.0);
    let points: HashSet<String> = trials
        .iter()
        .map(|t| serde_json::to_string(&t.params).unwrap())
        .collect();
    assert_eq!(points.len(), 150, "a point came twice");
    for t in &trials {
        assert_valid(&space, &t.params);
    }
    let lrs: HashSet<u64> = trials
        .iter()
        .map(|t| num(&t.params, "lr").to_bits())
        .collect();
    let mut lrs: Vec<f64> = lrs.into_iter().map(f64::from_bits).collect();
    lrs.sort_by(f64::total_cmp);
    let want = [1e-4, 1e-3, 1e-2, 1e-1, 1.0];
    assert!(
        lrs.iter()
            .zip(want)
            .all(|(a, b)| (a / b - 1.0).abs() < 1e-12),
        "{lrs:?}"
    );
    let widths: HashSet<i64> = trials
        .iter()
        .map(|t| t.params["width"].as_i64().unwrap())
        .collect();
    // Log-spaced: 16 · 4^k, rounded.
    assert_eq!(widths, HashSet::from([16, 45, 128, 362, 1024]));
    assert!(grid.is_exhausted(&space, &trials));
    assert!(!grid.is_exhausted(&space, &trials[..149]));
    // Exhausted: still a valid grid point.
    let extra = grid.sample(&space, &trials, Direction::Minimize, 99);
    assert!(points.contains(&serde_json::to_string(&extra).unwrap()));
    // The order is shuffled (not the first axis fastest) and seeded by `order_seed`.
    let firsts: Vec<&Value> = trials[..6].iter().map(|t| &t.params["act"]).collect();
    assert!(firsts.windows(2).any(|w| w[0] == w[1]), "{firsts:?}");
    let other = GridSampler {
        order_seed: 1,
        ..GridSampler::default()
    };
    let reordered = study(&other, &space, 10, 3, |_| 0.0);
    assert!(
        reordered
            .iter()
            .zip(&trials)
            .any(|(a, b)| a.params != b.params)
    );
}

#[test]
fn grid_skips_points_taken_by_running_and_finished_trials() {
    let space = Space::new(vec![
        Param::new("a", Distribution::int(0, 3, false)),
        Param::new("b", Distribution::categorical(["x", "y"])),
    ])
    .unwrap();
    let grid = GridSampler::default();
    // Eight points. Three are held: one running, one complete, one failed.
    let held = [
        json!({"a": 2, "b": "x"}),
        json!({"a": 0, "b": "y"}),
        json!({"a": 3, "b": "y"}),
    ];
    let mut trials: Vec<Trial> = held
        .iter()
        .enumerate()
        .map(|(i, p)| complete(i as u64, serde_json::from_value(p.clone()).unwrap(), 1.0))
        .collect();
    trials[0].state = TrialState::Running;
    trials[0].value = None;
    trials[2].state = TrialState::Failed;
    // Parallel workers each sample after the others registered their (running) trials.
    let mut seen: HashSet<String> = held.iter().map(|p| p.to_string()).collect();
    for number in 3..8 {
        let p = grid.sample(&space, &trials, Direction::Minimize, number);
        assert!(
            seen.insert(serde_json::to_string(&p).unwrap()),
            "{p:?} was taken"
        );
        trials.push(Trial::running(number, p));
    }
    assert_eq!(seen.len(), 8);
    assert!(grid.is_exhausted(&space, &trials));
}

#[test]
fn grid_treats_inactive_parameters_as_absent() {
    let space = Space::new(vec![
        Param::new("kind", Distribution::categorical(["linear", "mlp"])),
        Param::new("depth", Distribution::int(1, 3, false)).when("kind", ["mlp"]),
        Param::new(
            "dropout",
            Distribution::Float {
                low: 0.0,
                high: 0.4,
                log: false,
                step: Some(0.2),
            },
        )
        .when("kind", ["mlp"]),
    ])
    .unwrap();
    let grid = GridSampler::default();
    // linear: 1 point; mlp: 3 depths × 3 dropouts.
    assert_eq!(grid.grid_size(&space), Some(10));
    let trials = study(&grid, &space, 10, 0, |_| 0.0);
    let points: HashSet<String> = trials
        .iter()
        .map(|t| serde_json::to_string(&t.params).unwrap())
        .collect();
    assert_eq!(points.len(), 10);
    for t in &trials {
        assert_valid(&space, &t.params);
    }
    assert!(grid.is_exhausted(&space, &trials));
}

fn xy_space(low: f64, high: f64) -> Space {
    Space::new(vec![
        Param::new("x", Distribution::float(low, high, false)),
        Param::new("y", Distribution::float(low, high, false)),
    ])
    .unwrap()
}

fn quadratic(p: &Params) -> f64 {
    (num(p, "x") - 1.3).powi(2) + 2.0 * (num(p, "y") + 0.7).powi(2)
}

fn branin(p: &Params) -> f64 {
    let (x1, x2) = (num(p, "x1"), num(p, "x2"));
    let pi = std::f64::consts::PI;
    let (b, c, t) = (5.1 / (4.0 * pi * pi), 5.0 / pi, 1.0 / (8.0 * pi));
    (x2 - b * x1 * x1 + c * x1 - 6.0).powi(2) + 10.0 * (1.0 - t) * x1.cos() + 10.0
}

/// Median best value over `seeds` studies of 60 trials.
fn median_best(sampler: &dyn Sampler, space: &Space, f: fn(&Params) -> f64) -> f64 {
    median(
        (0..11)
            .map(|seed| best(&study(sampler, space, 60, seed, f)))
            .collect(),
    )
}

#[test]
fn tpe_beats_random_search_on_a_quadratic_and_on_branin() {
    let tpe = TpeSampler::default();
    let space = xy_space(-5.0, 5.0);
    let (t, r) = (
        median_best(&tpe, &space, quadratic),
        median_best(&RandomSampler, &space, quadratic),
    );
    assert!(t < 0.5 * r, "quadratic: TPE {t}, random {r}");
    let branin_space = Space::new(vec![
        Param::new("x1", Distribution::float(-5.0, 10.0, false)),
        Param::new("x2", Distribution::float(0.0, 15.0, false)),
    ])
    .unwrap();
    let (t, r) = (
        median_best(&tpe, &branin_space, branin),
        median_best(&RandomSampler, &branin_space, branin),
    );
    assert!(t < r, "Branin: TPE {t}, random {r}");
    // Branin's minimum is 0.398; TPE gets close in 60 evaluations.
    assert!(t < 1.0, "Branin: TPE {t}");
}

#[test]
fn tpe_is_deterministic_for_a_seed() {
    let tpe = TpeSampler::default();
    let space = mixed_space();
    let f = |p: &Params| {
        num(p, "x").powi(2)
            + num(p, "depth")
            + p.get("momentum").map_or(0.5, |m| m.as_f64().unwrap())
    };
    let a = study(&tpe, &space, 40, 5, f);
    let b = study(&tpe, &space, 40, 5, f);
    assert!(a.iter().zip(&b).all(|(x, y)| x.params == y.params));
    let c = study(&tpe, &space, 40, 6, f);
    assert!(a.iter().zip(&c).skip(10).any(|(x, y)| x.params != y.params));
    // The same trials and seed give the same sample whatever else happened in the process.
    let once = tpe.sample(&space, &a, Direction::Minimize, 123);
    let twice = tpe.sample(&space, &a, Direction::Minimize, 123);
    assert_eq!(once, twice);
}

#[test]
fn tpe_handles_categorical_and_conditional_parameters() {
    let tpe = TpeSampler::default();
    let space = mixed_space();
    // Adam with beta2 near 0.99 and a learning rate near 1e-3 is best; sgd is poor.
    let f = |p: &Params| {
        let lr = (num(p, "lr").log10() + 3.0).powi(2);
        let depth = (num(p, "depth") - 3.0).abs() * 0.1;
        let opt = match p["optimizer"].as_str().unwrap() {
            "adam" => (num(p, "beta2") - 0.99).abs() * 10.0,
            "lion" => 1.0,
            _ => 2.0 + num(p, "momentum"),
        };
        lr + depth + opt
    };
    let trials = study(&tpe, &space, 80, 1, f);
    for t in &trials {
        assert_valid(&space, &t.params);
    }
    let late_adam = trials[40..]
        .iter()
        .filter(|t| t.params["optimizer"] == "adam")
        .count();
    assert!(late_adam >= 25, "adam in {late_adam} of the last 40 trials");
    let late_lr = median(
        trials[40..]
            .iter()
            .map(|t| num(&t.params, "lr").log10())
            .collect(),
    );
    assert!(
        (-3.7..-2.3).contains(&late_lr),
        "median log10 lr of the last 40: {late_lr}"
    );
    // And maximising the negated objective behaves the same.
    let mut max_trials: Vec<Trial> = Vec::new();
    for number in 0..60 {
        let p = tpe.sample(
            &space,
            &max_trials,
            Direction::Maximize,
            trial_seed(9, number),
        );
        let v = -f(&p);
        max_trials.push(complete(number, p, v));
    }
    let adam = max_trials[30..]
        .iter()
        .filter(|t| t.params["optimizer"] == "adam")
        .count();
    assert!(adam >= 18, "maximise: adam in {adam} of the last 30 trials");
}

#[test]
fn tpe_samples_the_default_tabular_space() {
    let space = Space::default_for_tabular();
    let tpe = TpeSampler::default();
    let f = |p: &Params| {
        (num(p, "learning_rate").log10() + 2.5).powi(2)
            + (num(p, "width").log2() - 8.0).powi(2) * 0.1
            + num(p, "model.dropout")
    };
    let trials = study(&tpe, &space, 40, 2, f);
    for t in &trials {
        assert_valid(&space, &t.params);
    }
    assert!(best(&trials) < best(&trials[..10]));
}

#[test]
fn constant_liar_moves_away_from_running_trials() {
    let space = xy_space(-5.0, 5.0);
    let history = study(&RandomSampler, &space, 30, 11, quadratic);
    let liar = TpeSampler::default();
    let honest = TpeSampler {
        constant_liar: false,
        ..TpeSampler::default()
    };
    let distance =
        |a: &Params, b: &Params| (num(a, "x") - num(b, "x")).hypot(num(a, "y") - num(b, "y"));
    let mut moved = 0;
    for seed in 0..20 {
        let next = honest.sample(&space, &history, Direction::Minimize, seed);
        // Four workers are already evaluating exactly that point.
        let mut trials = history.clone();
        for i in 0..4 {
            trials.push(Trial::running(30 + i, next.clone()));
        }
        // Without the liar, running trials are ignored: the same point again.
        assert_eq!(
            honest.sample(&space, &trials, Direction::Minimize, seed),
            next
        );
        let spread = liar.sample(&space, &trials, Direction::Minimize, seed);
        if distance(&spread, &next) > 0.5 {
            moved += 1;
        }
    }
    assert!(moved >= 18, "moved away in {moved} of 20 cases");
}

#[test]
fn tpe_ranks_pruned_trials_by_progress_then_value() {
    // No trial completed. Ten were pruned late (step 9) near A = (-3, -3), ten early (step 1)
    // near B = (3, 3) with far better values: the late ones count as the good ones.
    let space = xy_space(-5.0, 5.0);
    let mut trials = Vec::new();
    for i in 0..20u64 {
        let (centre, step, value) = if i % 2 == 0 {
            (-3.0, 9, 5.0)
        } else {
            (3.0, 1, 0.1)
        };
        let offset = (i as f64 * 0.37).sin() * 0.5;
        let params: Params =
            serde_json::from_value(json!({"x": centre + offset, "y": centre - offset})).unwrap();
        trials.push(Trial {
            number: i,
            state: TrialState::Pruned,
            params,
            value: None,
            intermediate: (1..=step).map(|s| (s, value + i as f64 * 1e-3)).collect(),
        });
    }
    let tpe = TpeSampler::default();
    let near_a = (0..30)
        .map(|seed| tpe.sample(&space, &trials, Direction::Minimize, seed))
        .filter(|p| {
            (num(p, "x") + 3.0).hypot(num(p, "y") + 3.0)
                < (num(p, "x") - 3.0).hypot(num(p, "y") - 3.0)
        })
        .count();
    assert!(
        near_a >= 20,
        "{near_a} of 30 samples nearer the late-pruned trials"
    );
}

#[test]
fn samplers_by_name() {
    for name in ["tpe", "random", "grid"] {
        let s = sampler::by_name(name).unwrap();
        let p = s.sample(&mixed_space(), &[], Direction::Minimize, 1);
        assert_valid(&mixed_space(), &p);
    }
    let err = sampler::by_name("cmaes").err().unwrap().to_string();
    assert!(
        err.contains("cmaes") && err.contains("tpe, random, grid"),
        "{err}"
    );
}
