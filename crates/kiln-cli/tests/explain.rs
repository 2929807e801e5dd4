//! `kiln explain` end to end: attributions per original column that add up to the model's
//! output (local accuracy), exact values where cheap, every method runnable, clear errors.

use std::path::Path;

mod common;
use common::kiln;

/// Trains a small model on a table with three numeric features and a three-level category.
fn trained(dir: &Path) {
    let mut s = String::from("a,b,c,colour,label\n");
    for i in 0..300 {
        let a = ((i * 37) % 100) as f64 / 10.0;
        let b = ((i * 53) % 70) as f64 / 7.0;
        let c = ((i * 11) % 13) as f64;
        let colour = ["red", "green", "blue"][i % 3];
        let score = a + b + if colour == "red" { 3.0 } else { 0.0 };
        let label = if score > 10.0 { "yes" } else { "no" };
        s += &format!("{a},{b},{c},{colour},{label}\n");
    }
    std::fs::write(dir.join("t.csv"), s).unwrap();
    let o = kiln(
        &[
            "train", "t.csv", "--target", "label", "--epochs", "15", "--out", "m.kiln",
        ],
        dir,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn explain(dir: &Path, method: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["explain", "m.kiln", "t.csv", "--method", method, "--json"];
    args.extend_from_slice(extra);
    let o = kiln(&args, dir);
    assert!(
        o.status.success(),
        "{method}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["explanation"].clone()
}

/// The largest |base + Σ values − prediction| over rows and outputs.
fn local_accuracy_gap(e: &serde_json::Value) -> f64 {
    let k = e["outputs"].as_array().unwrap().len();
    let mut worst: f64 = 0.0;
    for r in e["rows"].as_array().unwrap() {
        let values: Vec<f64> = r["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        for o in 0..k {
            let sum: f64 = values.iter().skip(o).step_by(k).sum();
            let gap = r["base"][o].as_f64().unwrap() + sum - r["prediction"][o].as_f64().unwrap();
            worst = worst.max(gap.abs());
        }
    }
    worst
}

#[test]
fn shap_methods_add_up_to_the_prediction_per_original_column() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    trained(d);
    let exact = explain(d, "auto", &["--rows", "0-4"]);
    assert_eq!(
        exact["method"], "exact",
        "four features: auto picks exact values"
    );
    assert_eq!(
        exact["features"],
        serde_json::json!(["a", "b", "c", "colour"])
    );
    assert_eq!(exact["outputs"], serde_json::json!(["no", "yes"]));
    assert_eq!(exact["rows"].as_array().unwrap().len(), 5);
    assert!(local_accuracy_gap(&exact) < 1e-5);
    for method in ["kernel", "permutation"] {
        let e = explain(d, method, &["--rows", "0-4"]);
        assert!(local_accuracy_gap(&e) < 1e-5, "{method}");
        // With every coalition affordable (2^4), Kernel SHAP is exact; permutation SHAP with
        // its default 10 antithetic permutations is close.
        let tolerance = if method == "kernel" { 1e-6 } else { 0.05 };
        for (a, b) in e["rows"]
            .as_array()
            .unwrap()
            .iter()
            .zip(exact["rows"].as_array().unwrap())
        {
            for (x, y) in a["values"]
                .as_array()
                .unwrap()
                .iter()
                .zip(b["values"].as_array().unwrap())
            {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                assert!((x - y).abs() <= tolerance, "{method}: {x} vs exact {y}");
            }
        }
    }
    // The probability of "yes" rises with a: a's attribution toward "yes" is positive for a
    // row with a large a and negative for a row with a small one.
    let e = explain(d, "exact", &["--rows", "1,3"]);
    let value = |row: usize| e["rows"][row]["values"][1].as_f64().unwrap(); // feature a, output yes
    // rows 1 and 3 have a = 3.7 and a = 1.1
    assert!(value(0) > value(1), "{} vs {}", value(0), value(1));
}

#[test]
fn other_methods_run_and_write_their_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    trained(d);
    let ig = explain(d, "ig", &["--rows", "0-9", "--samples", "256"]);
    // Integrated gradients: completeness holds up to the path integral's error.
    assert!(
        local_accuracy_gap(&ig) < 0.05,
        "gap {}",
        local_accuracy_gap(&ig)
    );
    let lime = explain(d, "lime", &["--rows", "0-1"]);
    assert!(lime["rows"][0]["fit_r2"].as_array().is_some());
    let importance = explain(d, "importance", &[]);
    let ranked = importance["importance"].as_array().unwrap();
    assert_eq!(ranked.len(), 4);
    // c never mattered to the label.
    assert_eq!(ranked.last().unwrap()["name"], "c", "{ranked:?}");
    let o = kiln(
        &[
            "explain", "m.kiln", "t.csv", "--rows", "0-19", "--out", "a.csv", "--report", "r.html",
        ],
        d,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(d.join("a.csv")).unwrap();
    assert!(csv.starts_with("row,output,base,a,b,c,colour,prediction"));
    assert_eq!(csv.lines().count(), 1 + 20 * 2);
    let html = std::fs::read_to_string(d.join("r.html")).unwrap();
    assert!(html.contains("Global importance") && html.contains("<circle"));
}

#[test]
fn bad_requests_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    trained(d);
    let o = kiln(&["explain", "m.kiln", "t.csv", "--rows", "400"], d);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("300 rows"));
    std::fs::write(d.join("other.csv"), "x,y\n1,2\n").unwrap();
    let o = kiln(&["explain", "m.kiln", "other.csv"], d);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("'a'"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
