//! Kiln's side of the TPE benchmark against Optuna (bench/tune.sh): minimises a standard test
//! function with Kiln's TPE sampler, one study per seed, and prints one JSON line per study
//! with the best value and the sampler overhead (wall time of the whole loop minus the time
//! spent evaluating the function, per trial; and the same with the process's CPU time, from
//! /proc/self/schedstat, which other processes on a busy machine do not inflate: given only
//! for studies of at least half a second of CPU, since that counter lags by up to a tick).
//!
//! ```sh
//! cargo run --release -p kiln-tune --example tune_bench -- FUNCTION TRIALS SEED...
//! ```
//!
//! FUNCTION is one of branin, hartmann6, rosenbrock10, ackley10, styblinski_tang10: the same
//! definitions, bounds and parameter names (x0, x1, …) as bench/tune_optuna.py.

use kiln_tune::sampler::{Sampler, TpeSampler, trial_seed};
use kiln_tune::{Direction, Distribution, Param, Space, Trial, TrialState};
use std::f64::consts::{E, PI, TAU};
use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

/// A test function: its name, per-dimension bounds and definition.
struct Function {
    name: &'static str,
    bounds: Vec<(f64, f64)>,
    f: fn(&[f64]) -> f64,
}

fn branin(x: &[f64]) -> f64 {
    let (b, c, t) = (5.1 / (4.0 * PI * PI), 5.0 / PI, 1.0 / (8.0 * PI));
    (x[1] - b * x[0] * x[0] + c * x[0] - 6.0).powi(2) + 10.0 * (1.0 - t) * x[0].cos() + 10.0
}

const HARTMANN_ALPHA: [f64; 4] = [1.0, 1.2, 3.0, 3.2];
const HARTMANN_A: [[f64; 6]; 4] = [
    [10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
    [0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
    [3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
    [17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
];
const HARTMANN_P: [[f64; 6]; 4] = [
    [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
    [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
    [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
    [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
];

fn hartmann6(x: &[f64]) -> f64 {
    -(0..4)
        .map(|i| {
            let inner: f64 = (0..6)
                .map(|j| HARTMANN_A[i][j] * (x[j] - HARTMANN_P[i][j]).powi(2))
                .sum();
            HARTMANN_ALPHA[i] * (-inner).exp()
        })
        .sum::<f64>()
}

fn rosenbrock(x: &[f64]) -> f64 {
    x.windows(2)
        .map(|w| 100.0 * (w[1] - w[0] * w[0]).powi(2) + (1.0 - w[0]).powi(2))
        .sum()
}

fn ackley(x: &[f64]) -> f64 {
    let n = x.len() as f64;
    let squares = x.iter().map(|v| v * v).sum::<f64>() / n;
    let cosines = x.iter().map(|v| (TAU * v).cos()).sum::<f64>() / n;
    -20.0 * (-0.2 * squares.sqrt()).exp() - cosines.exp() + 20.0 + E
}

fn styblinski_tang(x: &[f64]) -> f64 {
    0.5 * x
        .iter()
        .map(|v| v.powi(4) - 16.0 * v * v + 5.0 * v)
        .sum::<f64>()
}

fn functions() -> Vec<Function> {
    vec![
        Function {
            name: "branin",
            bounds: vec![(-5.0, 10.0), (0.0, 15.0)],
            f: branin,
        },
        Function {
            name: "hartmann6",
            bounds: vec![(0.0, 1.0); 6],
            f: hartmann6,
        },
        Function {
            name: "rosenbrock10",
            bounds: vec![(-5.0, 10.0); 10],
            f: rosenbrock,
        },
        Function {
            name: "ackley10",
            bounds: vec![(-32.768, 32.768); 10],
            f: ackley,
        },
        Function {
            name: "styblinski_tang10",
            bounds: vec![(-5.0, 5.0); 10],
            f: styblinski_tang,
        },
    ]
}

/// Shortest CPU time worth reporting: /proc/self/schedstat lags by up to a scheduler tick.
const MIN_CPU_S: f64 = 0.5;

/// CPU time of this (single-threaded) process so far, from Linux's /proc/self/schedstat
/// (nanoseconds on the CPU); `None` elsewhere.
fn cpu_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/self/schedstat").ok()?;
    let ns: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(ns * 1e-9)
}

/// One study of `trials` trials with `seed`; its JSON line.
fn study(function: &Function, trials: u64, seed: u64) -> String {
    let names: Vec<String> = (0..function.bounds.len())
        .map(|i| format!("x{i}"))
        .collect();
    let space = Space {
        params: names
            .iter()
            .zip(&function.bounds)
            .map(|(name, &(low, high))| Param::new(name, Distribution::float(low, high, false)))
            .collect(),
    };
    let sampler = TpeSampler::default();
    let mut history: Vec<Trial> = Vec::with_capacity(trials as usize);
    let mut best = f64::INFINITY;
    let mut objective_s = 0.0;
    let cpu_start = cpu_seconds();
    let start = Instant::now();
    for number in 0..trials {
        let params = sampler.sample(
            &space,
            &history,
            Direction::Minimize,
            trial_seed(seed, number),
        );
        let x: Vec<f64> = names
            .iter()
            .map(|n| params.get(n).and_then(|v| v.as_f64()).unwrap_or(f64::NAN))
            .collect();
        let t0 = Instant::now();
        let value = black_box((function.f)(black_box(&x)));
        objective_s += t0.elapsed().as_secs_f64();
        best = best.min(value);
        history.push(Trial {
            number,
            state: TrialState::Complete,
            params,
            value: Some(value),
            intermediate: Vec::new(),
        });
    }
    let total_s = start.elapsed().as_secs_f64();
    let cpu_s = cpu_seconds()
        .zip(cpu_start)
        .map(|(end, start)| end - start)
        .filter(|&c| c >= MIN_CPU_S);
    serde_json::json!({
        "tool": "kiln",
        "version": concat!("kiln-tune ", env!("CARGO_PKG_VERSION")),
        "function": function.name,
        "dims": function.bounds.len(),
        "trials": trials,
        "seed": seed,
        "best": best,
        "total_s": total_s,
        "objective_s": objective_s,
        "overhead_per_trial_s": (total_s - objective_s) / trials as f64,
        "cpu_s": cpu_s,
        "cpu_overhead_per_trial_s": cpu_s.map(|c| (c - objective_s) / trials as f64),
    })
    .to_string()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: tune_bench FUNCTION TRIALS SEED... \
                 (FUNCTION: branin, hartmann6, rosenbrock10, ackley10, styblinski_tang10)";
    let [name, trials, seeds @ ..] = args.as_slice() else {
        eprintln!("{usage}");
        return ExitCode::from(2);
    };
    let all = functions();
    let Some(function) = all.iter().find(|f| f.name == name) else {
        eprintln!("unknown function `{name}`; {usage}");
        return ExitCode::from(2);
    };
    let (Ok(trials), Ok(seeds)) = (
        trials.parse::<u64>(),
        seeds
            .iter()
            .map(|s| s.parse::<u64>())
            .collect::<Result<Vec<_>, _>>(),
    ) else {
        eprintln!("TRIALS and SEED must be non-negative integers; {usage}");
        return ExitCode::from(2);
    };
    if trials == 0 || seeds.is_empty() {
        eprintln!("{usage}");
        return ExitCode::from(2);
    }
    for seed in seeds {
        println!("{}", study(function, trials, seed));
    }
    ExitCode::SUCCESS
}
