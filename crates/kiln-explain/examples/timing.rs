//! Timings of the Shapley methods on cheap models (run with `--release`):
//! exact SHAP for 12 features and kernel SHAP with 2048 samples for 30 features, each with
//! a 20-row background.

use std::hint::black_box;
use std::time::Instant;

use kiln_explain::{Background, FnModel, Groups, Model, exact, kernel, permutation};

/// A cheap model: one linear output per row.
fn linear(width: usize) -> impl Model {
    FnModel::new(width, 1, move |x: &[f32], rows: usize| {
        x.chunks_exact(width)
            .take(rows)
            .map(|r| {
                r.iter()
                    .enumerate()
                    .map(|(i, &v)| (i as f64 * 0.1 - 1.0) * f64::from(v))
                    .sum()
            })
            .collect()
    })
}

/// A model that does no work: the cost of building the masked rows alone.
fn free(width: usize) -> impl Model {
    FnModel::new(width, 1, move |x: &[f32], rows: usize| {
        black_box(x);
        vec![0.0; rows]
    })
}

fn data(width: usize, rows: usize) -> Vec<f32> {
    (0..width * rows)
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect()
}

fn time<T>(label: &str, rows: f64, repeats: u32, mut f: impl FnMut() -> T) {
    black_box(f());
    let start = Instant::now();
    for _ in 0..repeats {
        black_box(f());
    }
    let s = start.elapsed().as_secs_f64() / f64::from(repeats);
    println!(
        "{label:<44} {:>9.2} ms  {:>7.1} M rows/s",
        s * 1e3,
        rows / s / 1e6
    );
}

fn main() {
    let bg_rows = 20;
    for (features, samples) in [(12usize, 0usize), (30, 2048)] {
        let width = features;
        let all = data(width, 200);
        let background = Background::new(all[..bg_rows * width].to_vec(), width).unwrap();
        let groups = Groups::singletons(width, &[]);
        let x = all[150 * width..151 * width].to_vec();
        let (cheap, none) = (linear(width), free(width));
        if features <= 20 {
            let rows = ((1usize << features) - 1) as f64 * bg_rows as f64;
            time(
                &format!("exact, {features} features, linear"),
                rows,
                10,
                || exact(&cheap, &groups, &background, &x).unwrap(),
            );
            time(
                &format!("exact, {features} features, no-op model"),
                rows,
                10,
                || exact(&none, &groups, &background, &x).unwrap(),
            );
        } else {
            let rows = samples as f64 * bg_rows as f64;
            time(
                &format!("kernel {samples}, {features} features, linear"),
                rows,
                10,
                || kernel(&cheap, &groups, &background, &x, samples, 1).unwrap(),
            );
            time(
                &format!("kernel {samples}, {features} features, no-op"),
                rows,
                10,
                || kernel(&none, &groups, &background, &x, samples, 1).unwrap(),
            );
            let rows = 2.0 * 100.0 * (features - 1) as f64 * bg_rows as f64;
            time(
                &format!("permutation 100, {features} features, linear"),
                rows,
                10,
                || permutation(&cheap, &groups, &background, &x, 100, 1).unwrap(),
            );
        }
    }
}
