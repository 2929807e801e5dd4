//! `kiln monitor` end to end: drift is flagged in the windows where it appears and not in a
//! control stream from the training distribution; prediction logs join their labels by id.

use std::path::Path;

mod common;
use common::kiln;

/// A seeded stream of normal draws (xorshift + Box-Muller).
struct Normal(u64);

impl Normal {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    fn next(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-12), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// `rows` rows; from row `shift_from` on, x1 and x2 move and colour's mix changes.
fn table(rows: usize, shift_from: usize, seed: u64) -> String {
    let mut n = Normal(seed);
    let mut s = String::from("x1,x2,colour,label\n");
    for i in 0..rows {
        let shifted = i >= shift_from;
        let x1 = n.next() + if shifted { 1.5 } else { 0.0 };
        let x2 = n.next() * if shifted { 2.0 } else { 1.0 };
        let u = n.uniform();
        let colour = if u < if shifted { 0.7 } else { 0.2 } {
            "red"
        } else if u < 0.85 {
            "green"
        } else {
            "blue"
        };
        let label =
            if x1 + 0.5 * x2 + if colour == "red" { 0.8 } else { 0.0 } + 0.5 * n.next() > 0.4 {
                "yes"
            } else {
                "no"
            };
        s += &format!("{x1:.4},{x2:.4},{colour},{label}\n");
    }
    s
}

/// Trains `m.kiln` on `rows` rows of the training distribution.
fn train(dir: &Path, rows: usize, seed: u64, epochs: &str) {
    std::fs::write(dir.join("train.csv"), table(rows, usize::MAX, seed)).unwrap();
    let o = kiln(
        &[
            "train",
            "train.csv",
            "--target",
            "label",
            "--epochs",
            epochs,
            "--out",
            "m.kiln",
        ],
        dir,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn monitor(dir: &Path, args: &[&str]) -> (i32, serde_json::Value) {
    let mut all = vec!["monitor", "m.kiln", "--json"];
    all.extend_from_slice(args);
    let o = kiln(&all, dir);
    let code = o.status.code().unwrap();
    assert!(code <= 1, "{}", String::from_utf8_lossy(&o.stderr));
    (
        code,
        serde_json::from_slice(&o.stdout).expect("one JSON report"),
    )
}

#[test]
fn drift_is_flagged_where_it_appears_and_not_in_a_control_stream() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    train(d, 800, 1, "10");
    std::fs::write(d.join("stream.csv"), table(2000, 1000, 2)).unwrap();
    std::fs::write(d.join("control.csv"), table(2000, usize::MAX, 3)).unwrap();

    let (code, r) = monitor(
        d,
        &[
            "--log",
            "stream.csv",
            "--window",
            "500",
            "--report",
            "m.html",
        ],
    );
    assert_eq!(code, 1, "drift alerts");
    let windows = r["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 4);
    let share = |w: &serde_json::Value| w["share_drifted"].as_f64().unwrap();
    assert!(share(&windows[0]) < 0.5 && share(&windows[1]) < 0.5, "{r}");
    for w in &windows[2..] {
        assert_eq!(share(w), 1.0, "every feature moved: {w}");
        assert!(
            w["reasons"][0].as_str().unwrap().starts_with("data drift"),
            "{w}"
        );
    }
    assert_eq!(r["labelled"], 2000, "the table's own labels are used");
    let html = std::fs::read_to_string(d.join("m.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("Drift statistic per feature"));

    let (_, r) = monitor(d, &["--log", "control.csv", "--window", "500"]);
    for w in r["windows"].as_array().unwrap() {
        assert!(share(w) < 0.5, "no data drift in the control: {w}");
    }
}

#[test]
fn a_prediction_log_is_read_and_labels_join_by_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    train(d, 400, 4, "5");
    // Lines as `kiln serve --prediction-log` writes them: one request of two rows, one of one.
    std::fs::create_dir(d.join("log")).unwrap();
    let mut lines = String::new();
    let mut labels = String::from("id,label\n");
    for i in 0..60 {
        let (id, row) = (format!("req{}", i / 2), i % 2);
        let predicted = if i % 3 == 0 { "no" } else { "yes" };
        lines += &format!(
            "{{\"timestamp_ms\":{},\"model\":\"m\",\"version\":1,\"id\":\"{id}\",\"row\":{row},\"inputs\":{{\"x1\":{},\"x2\":null,\"colour\":\"red\"}},\"outputs\":{{\"label\":\"{predicted}\",\"probabilities\":[0.4,0.6]}}}}\n",
            1_700_000_010_000u64 + i * 1000,
            i as f64 / 30.0
        );
        labels += &format!("{id}#{row},{}\n", if i % 2 == 0 { "yes" } else { "no" });
    }
    std::fs::write(d.join("log/predictions.jsonl"), lines).unwrap();
    std::fs::write(d.join("labels.csv"), labels).unwrap();
    let (_, r) = monitor(
        d,
        &["--log", "log", "--labels", "labels.csv", "--window", "30s"],
    );
    assert_eq!(r["rows"], 60);
    assert_eq!(r["labelled"], 60);
    let windows = r["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 2, "two 30-second windows: {r}");
    let q = &windows[0]["quality"];
    assert_eq!(q["metric"], "accuracy");
    assert_eq!(q["rows"], 30);
    // Rows 0..30: predicted "no" when i % 3 == 0, labelled "yes" when i is even.
    let right = (0..30).filter(|i| (i % 3 == 0) == (i % 2 == 1)).count();
    assert!(
        (q["value"].as_f64().unwrap() - right as f64 / 30.0).abs() < 1e-9,
        "{q}"
    );

    let o = kiln(&["monitor", "m.kiln", "--log", "nowhere"], d);
    assert_eq!(o.status.code(), Some(2));
    let o = kiln(
        &["monitor", "m.kiln", "--log", "log", "--labels", "train.csv"],
        d,
    );
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("'id'"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = kiln(&["monitor", "m.kiln", "--log", "log", "--window", "5q"], d);
    assert!(String::from_utf8_lossy(&o.stderr).contains("not 'all', a number of rows"));
}
