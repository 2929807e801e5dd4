//! `kiln profile` and `kiln validate` end to end on the bundled breast cancer table: a clean
//! held-out split passes (exit 0); a copy damaged five ways fails (exit 1) with each anomaly
//! reported against its column.

use std::path::Path;
use std::process::Output;

mod common;
use common::kiln;

const BREAST_CANCER: &str = include_str!("../../../datasets/breast_cancer.csv");

/// Writes the reference (four rows of five), the held-out fifth, and the held-out rows
/// damaged: `concavity_mean` dropped, text in `texture_mean`, `perimeter_mean` shifted,
/// 30% of `area_mean` missing and a new diagnosis label.
fn write_files(dir: &Path) {
    let mut lines = BREAST_CANCER.lines();
    let header = lines.next().unwrap();
    let names: Vec<&str> = header.split(',').collect();
    let col = |n: &str| names.iter().position(|c| *c == n).unwrap();
    let (mut reference, mut clean, mut damaged) =
        (format!("{header}\n"), format!("{header}\n"), String::new());
    let drop = col("concavity_mean");
    let mut kept: Vec<&str> = names.clone();
    kept.remove(drop);
    damaged += &(kept.join(",") + "\n");
    for (i, line) in lines.enumerate() {
        if i % 5 != 4 {
            reference += &format!("{line}\n");
            continue;
        }
        clean += &format!("{line}\n");
        let mut cells: Vec<String> = line.split(',').map(String::from).collect();
        let k = i / 5;
        if k == 3 {
            cells[col("texture_mean")] = "twelve".into();
        }
        let p = col("perimeter_mean");
        cells[p] = format!("{:.3}", cells[p].parse::<f64>().unwrap() + 40.0);
        if k % 10 < 3 {
            cells[col("area_mean")].clear();
        }
        if k % 8 == 0 {
            cells[col("diagnosis")] = "uncertain".into();
        }
        cells.remove(drop);
        damaged += &(cells.join(",") + "\n");
    }
    for (name, text) in [
        ("reference.csv", reference),
        ("clean.csv", clean),
        ("damaged.csv", damaged),
    ] {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

#[test]
fn a_clean_split_passes_and_each_damage_is_found_with_its_column() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_files(d);
    let clean = kiln(
        &[
            "validate",
            "clean.csv",
            "--reference",
            "reference.csv",
            "--json",
        ],
        d,
    );
    let v: serde_json::Value = serde_json::from_slice(&clean.stdout).unwrap();
    assert_eq!(clean.status.code(), Some(0), "{v:#}");
    assert_eq!(v["errors"], 0);
    assert_eq!(v["drift"]["drifted"], 0);

    let o = kiln(
        &[
            "validate",
            "damaged.csv",
            "--reference",
            "reference.csv",
            "--json",
            "--report",
            "v.html",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let found: Vec<(String, String, String)> = v["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["severity"].as_str().unwrap().to_string(),
                a["kind"].as_str().unwrap().to_string(),
                a["column"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    for (kind, column) in [
        ("missing_column", "concavity_mean"),
        ("type_mismatch", "texture_mean"),
        ("drift", "perimeter_mean"),
        ("missing_rate", "area_mean"),
        ("out_of_domain", "diagnosis"),
    ] {
        assert!(
            found.contains(&("error".into(), kind.into(), column.into())),
            "no {kind} error for {column} in {found:?}"
        );
    }
    let text_error = v["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "type_mismatch")
        .unwrap();
    assert_eq!(text_error["example"]["value"], "twelve");
    assert_eq!(text_error["example"]["line"], 5);
    let html = std::fs::read_to_string(d.join("v.html")).unwrap();
    assert!(html.contains("perimeter_mean") && html.contains("<svg"));
}

#[test]
fn a_written_schema_validates_and_a_profile_serves_as_reference() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_files(d);
    let o = kiln(
        &[
            "profile",
            "reference.csv",
            "--out",
            "p.json",
            "--schema",
            "s.toml",
            "--report",
            "p.html",
        ],
        d,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let schema = std::fs::read_to_string(d.join("s.toml")).unwrap();
    assert!(schema.contains("name = \"diagnosis\"") && schema.contains("domain"));
    let ok = kiln(&["validate", "clean.csv", "--schema", "s.toml"], d);
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    let bad = kiln(&["validate", "damaged.csv", "--schema", "s.toml"], d);
    assert_eq!(bad.status.code(), Some(1));
    let out = String::from_utf8_lossy(&bad.stdout);
    assert!(
        out.contains("'uncertain'") && out.contains("concavity_mean"),
        "{out}"
    );
    // Profiles merge: the reference profiled in two parts equals it profiled whole.
    let text = std::fs::read_to_string(d.join("reference.csv")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let header = lines.remove(0);
    let (a, b) = lines.split_at(200);
    std::fs::write(d.join("a.csv"), format!("{header}\n{}\n", a.join("\n"))).unwrap();
    std::fs::write(d.join("b.csv"), format!("{header}\n{}\n", b.join("\n"))).unwrap();
    let o = kiln(&["profile", "a.csv", "--out", "a.json"], d);
    assert!(o.status.success());
    let whole = kiln(&["profile", "reference.csv", "--json"], d);
    let merged = kiln(&["profile", "a.json", "b.csv", "--json"], d);
    let stats = |o: &Output| {
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["summary"]["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["count"].clone(), c["distinct"].clone(), c["top"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(stats(&whole), stats(&merged));
    let by_profile = kiln(&["validate", "damaged.csv", "--reference", "p.json"], d);
    assert_eq!(by_profile.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&by_profile.stdout).contains("DRIFT"));
}

#[test]
fn validate_without_a_schema_or_reference_and_a_bad_schema_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_files(d);
    let o = kiln(&["validate", "clean.csv"], d);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--schema"));
    std::fs::write(
        d.join("bad.toml"),
        "[[column]]\nname = \"x\"\ntype = \"number\"\n",
    )
    .unwrap();
    let o = kiln(&["validate", "clean.csv", "--schema", "bad.toml"], d);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("bad.toml"));
    std::fs::write(d.join("bad.json"), "{}").unwrap();
    let o = kiln(&["validate", "clean.csv", "--reference", "bad.json"], d);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a Kiln profile"));
}
