//! Drift and continual learning on real data: 50 years of daily weather (`datasets/rainfall.csv.gz`,
//! NOAA, public domain), read in time order. A model trained on the first 10 years is monitored
//! on years 40-45 (drift) and on a shuffled control (none), then updated on those years: replay
//! keeps the first years while learning the new ones, where fine-tuning forgets the first years.

use std::io::Read;
use std::path::Path;

mod common;
use common::kiln;

/// Days in a year, as the slices count them.
const YEAR: usize = 365;

/// The bundled table's header (without `day`) and rows in time order (each without `day`).
fn rainfall() -> (String, Vec<String>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets/rainfall.csv.gz");
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&path).expect("bundled rainfall data"))
        .read_to_string(&mut text)
        .unwrap();
    let mut lines = text.lines().map(|l| {
        let (day, rest) = l.split_once(',').unwrap();
        assert!(day == "day" || day.parse::<usize>().is_ok());
        rest.to_string()
    });
    let header = lines.next().unwrap();
    (header, lines.collect())
}

/// Writes `rows` under `header` to `dir/name`.
fn write(dir: &Path, name: &str, header: &str, rows: &[&String]) {
    let mut text = format!("{header}\n");
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    std::fs::write(dir.join(name), text).unwrap();
}

/// Splits `rows` into training rows and every fifth row held out.
fn held_out(rows: &[String]) -> (Vec<&String>, Vec<&String>) {
    let (mut train, mut hold) = (Vec::new(), Vec::new());
    for (i, row) in rows.iter().enumerate() {
        if i % 5 == 4 { &mut hold } else { &mut train }.push(row);
    }
    (train, hold)
}

fn run_ok(args: &[&str], dir: &Path) -> serde_json::Value {
    let o = kiln(args, dir);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null)
}

fn accuracy(dir: &Path, model: &str, data: &str) -> f64 {
    run_ok(&["evaluate", model, data, "--json"], dir)["accuracy"]
        .as_f64()
        .unwrap()
}

/// `kiln monitor MODEL --log DATA` in yearly windows: the exit code and the windows.
fn monitor(dir: &Path, model: &str, data: &str) -> (i32, Vec<serde_json::Value>) {
    let o = kiln(
        &["monitor", model, "--log", data, "--window", "365", "--json"],
        dir,
    );
    let report: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&o.stderr)));
    let windows = report["windows"].as_array().unwrap().clone();
    (o.status.code().unwrap(), windows)
}

#[test]
fn drift_is_flagged_in_later_years_and_replay_learns_them_without_forgetting() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (header, rows) = rainfall();
    assert!(rows.len() > 45 * YEAR, "50 years of days");
    let (train, old_hold) = held_out(&rows[..10 * YEAR]);
    let (new, new_hold) = held_out(&rows[40 * YEAR..45 * YEAR]);
    write(d, "train.csv", &header, &train);
    write(d, "old_hold.csv", &header, &old_hold);
    write(d, "new.csv", &header, &new);
    write(d, "new_hold.csv", &header, &new_hold);
    run_ok(
        &[
            "train",
            "train.csv",
            "--target",
            "rain",
            "--seed",
            "1",
            "-o",
            "m.kiln",
        ],
        d,
    );

    // Years 40-45 drift: every yearly window alerts, on most features.
    let (code, windows) = monitor(d, "m.kiln", "new.csv");
    assert_eq!(code, 1, "drift alerts");
    assert_eq!(windows.len(), 4);
    for w in &windows {
        assert!(w["share_drifted"].as_f64().unwrap() >= 0.5, "{w}");
        assert!(
            w["reasons"][0].as_str().unwrap().starts_with("data drift"),
            "{w}"
        );
    }

    // Control: the same days shuffled, trained on and monitored alike, raise nothing.
    let mut shuffled: Vec<&String> = rows.iter().collect();
    let mut state = 7u64;
    for i in (1..shuffled.len()).rev() {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        shuffled.swap(i, (state >> 33) as usize % (i + 1));
    }
    write(d, "s_train.csv", &header, &shuffled[..8 * YEAR]);
    write(d, "s_stream.csv", &header, &shuffled[8 * YEAR..12 * YEAR]);
    run_ok(
        &[
            "train",
            "s_train.csv",
            "--target",
            "rain",
            "--seed",
            "1",
            "--epochs",
            "10",
            "-o",
            "s.kiln",
        ],
        d,
    );
    let (code, windows) = monitor(d, "s.kiln", "s_stream.csv");
    assert_eq!(windows.len(), 4);
    for w in &windows {
        assert_eq!(w["alert"], false, "no drift in the shuffled control: {w}");
    }
    assert_eq!(code, 0);

    // Updates on years 40-45, scored on held-out days of the first years and of the new ones.
    let score = |model: &str| {
        (
            accuracy(d, model, "old_hold.csv"),
            accuracy(d, model, "new_hold.csv"),
        )
    };
    let (old0, new0) = score("m.kiln");
    for strategy in ["finetune", "replay"] {
        let out = format!("{strategy}.kiln");
        run_ok(
            &[
                "update",
                "m.kiln",
                "new.csv",
                "--strategy",
                strategy,
                "--seed",
                "1",
                "-o",
                &out,
                "--json",
            ],
            d,
        );
    }
    let (old_f, new_f) = score("finetune.kiln");
    let (old_r, new_r) = score("replay.kiln");
    let summary = format!(
        "original {old0:.3}/{new0:.3}, finetune {old_f:.3}/{new_f:.3}, replay {old_r:.3}/{new_r:.3}"
    );
    eprintln!("held-out accuracy, first years / years 40-45: {summary}");
    assert!(
        old0 > 0.75,
        "the first model learned the first years: {summary}"
    );
    assert!(
        new0 < old0 - 0.1,
        "it is worse on the later years: {summary}"
    );
    assert!(
        old_f < old0 - 0.1,
        "fine-tuning forgets the first years: {summary}"
    );
    assert!(
        old_r > old0 - 0.02,
        "replay keeps the first years within 2 points: {summary}"
    );
    assert!(
        new_r > new0 + 0.1,
        "replay learns the later years: {summary}"
    );
}
