//! Accuracy with no options on the team's real data sets (`../shared/datasets`, present in CI
//! and developer checkouts; skipped with a message where absent). Thresholds are the
//! foundation issue's: each must be met at the default seed.

use std::path::PathBuf;
use std::process::Command;

fn shared() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets");
    dir.is_dir().then_some(dir)
}

/// Trains with no options; returns the test metrics and the wall time in seconds.
fn train(file: &str, target: &str) -> Option<(serde_json::Value, f64)> {
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
        ])
        .current_dir(out.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    Some((v["test_metrics"].clone(), start.elapsed().as_secs_f64()))
}

fn check_accuracy(file: &str, target: &str, at_least: f64) {
    if let Some((m, secs)) = train(file, target) {
        let acc = m["accuracy"].as_f64().unwrap();
        eprintln!("{file}: test accuracy {acc:.4} in {secs:.1} s");
        assert!(acc >= at_least, "{file}: accuracy {acc} < {at_least}");
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
    if let Some((m, secs)) = train("winequality-red.csv", "quality") {
        let rmse = m["rmse"]
            .as_f64()
            .expect("quality is inferred as regression");
        eprintln!("winequality-red.csv: test RMSE {rmse:.4} in {secs:.1} s");
        assert!(rmse <= 0.68, "rmse {rmse}");
    }
}
