//! Kiln's exact statistics equal pandas' on the team's shared data sets (`../shared/datasets`,
//! skipped with a message where absent). The expected values come from
//! `tests/pandas/make_expected.py`, committed with its output.

use kiln_profile::summary::summarize;
use kiln_profile::{Checks, ProfileOptions, profile_file};
use std::path::PathBuf;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn exact_statistics_equal_pandas() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../../../shared/datasets");
    if !shared.is_dir() {
        eprintln!("skipped: ../shared/datasets not found");
        return;
    }
    let text = std::fs::read_to_string(root.join("tests/pandas/expected.json")).unwrap();
    let expected: serde_json::Value = serde_json::from_str(&text).unwrap();
    let files = expected["files"].as_object().unwrap();
    assert_eq!(files.len(), 5);
    for (name, want) in files {
        let pass = profile_file(
            &shared.join(name),
            &ProfileOptions::default(),
            &Checks::default(),
            &mut |_| {},
        )
        .unwrap();
        let summary = summarize(&pass.profile);
        assert_eq!(summary.rows, want["rows"].as_u64().unwrap(), "{name}");
        let columns = want["columns"].as_object().unwrap();
        assert_eq!(summary.columns.len(), columns.len(), "{name}");
        for c in &summary.columns {
            let w = &columns[&c.name];
            let at = format!("{name} column {}", c.name);
            assert_eq!(c.count, w["count"].as_u64().unwrap(), "{at} count");
            assert_eq!(c.missing, w["missing"].as_u64().unwrap(), "{at} missing");
            assert!(
                c.distinct.exact,
                "{at}: small data counts distinct values exactly"
            );
            assert_eq!(
                c.distinct.value as u64,
                w["distinct"].as_u64().unwrap(),
                "{at} distinct"
            );
            if let Some(min) = w.get("min") {
                let n = c.numeric.as_ref().expect("a numeric column");
                for (what, got, want) in [
                    ("min", n.min, min.as_f64().unwrap()),
                    ("max", n.max, w["max"].as_f64().unwrap()),
                    ("mean", n.mean, w["mean"].as_f64().unwrap()),
                    ("std", n.std.unwrap(), w["std"].as_f64().unwrap()),
                ] {
                    assert!(close(got, want), "{at} {what}: kiln {got}, pandas {want}");
                }
            }
        }
    }
}
