//! Accuracy with no options on the team's real data sets (`../shared/datasets`, present in CI
//! and developer checkouts; skipped with a message where absent). Thresholds are the
//! foundation issue's. Each is checked on the mean of three seeds (the default, 42, and the two
//! after it): on wine's 36 test rows one row is 2.8 points, so a single split measures luck.

use std::path::PathBuf;
use std::process::Command;

fn shared() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets");
    dir.is_dir().then_some(dir)
}

/// The seeds every check averages over, starting at the default.
const SEEDS: [u64; 3] = [42, 43, 44];

/// Trains with no options but the seed; returns the test metrics and the wall time in seconds.
fn train(file: &str, target: &str, seed: u64) -> Option<(serde_json::Value, f64)> {
    let Some(dir) = shared() else {
        eprintln!("skipped: ../shared/datasets not found");
        return None;
    };
    let out = tempfile::tempdir().unwrap();
    let start = std::time::Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args([
            "train",
            dir.join(file).to_str().unwrap(),
            "--target",
            target,
            "--json",
            "--seed",
            &seed.to_string(),
        ])
        .current_dir(out.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    Some((v["test_metrics"].clone(), start.elapsed().as_secs_f64()))
}

/// The mean of `metric` on the test split over [`SEEDS`], or `None` where the data is absent.
fn mean_metric(file: &str, target: &str, metric: &str) -> Option<f64> {
    let mut values = Vec::new();
    for seed in SEEDS {
        let (m, secs) = train(file, target, seed)?;
        let value = m[metric]
            .as_f64()
            .unwrap_or_else(|| panic!("{file}: no {metric} in {m}"));
        eprintln!("{file}: seed {seed}: test {metric} {value:.4} in {secs:.1} s");
        values.push(value);
    }
    Some(values.iter().sum::<f64>() / values.len() as f64)
}

fn check_accuracy(file: &str, target: &str, at_least: f64) {
    if let Some(acc) = mean_metric(file, target, "accuracy") {
        assert!(acc >= at_least, "{file}: mean accuracy {acc} < {at_least}");
    }
}

#[test]
fn breast_cancer_reaches_95_percent() {
    check_accuracy("breast_cancer.csv", "diagnosis", 0.95);
}

#[test]
fn wine_reaches_95_percent() {
    check_accuracy("wine.csv", "cultivar", 0.95);
}

#[test]
fn iris_reaches_93_percent() {
    check_accuracy("iris.csv", "species", 0.93);
}

#[test]
fn digits_reaches_96_percent() {
    check_accuracy("digits.csv", "digit", 0.96);
}

#[test]
fn wine_quality_is_regression_with_rmse_at_most_068() {
    if let Some(rmse) = mean_metric("winequality-red.csv", "quality", "rmse") {
        assert!(rmse <= 0.68, "mean rmse {rmse}");
    }
}
