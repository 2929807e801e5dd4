//! `kiln update` end to end: replaying the earlier rows the bundle keeps forgets far less than
//! fine-tuning on the new rows alone, and the update records its lineage.

use std::path::Path;

mod common;
use common::kiln;

/// Rows in which x1 says which regime holds: before the change (x1 < 0) the label follows
/// x2 > 0; after it (x1 > 0) the label follows x2 < 0.
fn table(rows: usize, after: bool, seed: u64) -> String {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut uniform = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut s = String::from("x1,x2,label\n");
    for _ in 0..rows {
        let x1 = uniform() * 2.0 * if after { 1.0 } else { -1.0 };
        let x2 = uniform() * 4.0 - 2.0;
        let positive = if after { x2 < 0.0 } else { x2 > 0.0 };
        s += &format!("{x1:.4},{x2:.4},{}\n", if positive { "yes" } else { "no" });
    }
    s
}

fn update(dir: &Path, strategy: &str) -> serde_json::Value {
    let out = format!("{strategy}.kiln");
    let o = kiln(
        &[
            "update",
            "m.kiln",
            "new.csv",
            "--strategy",
            strategy,
            "--seed",
            "3",
            "--out",
            &out,
            "--json",
        ],
        dir,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn replay_forgets_less_than_finetuning_and_lineage_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("old.csv"), table(500, false, 1)).unwrap();
    std::fs::write(d.join("new.csv"), table(500, true, 2)).unwrap();
    let o = kiln(
        &[
            "train", "old.csv", "--target", "label", "--epochs", "20", "--out", "m.kiln",
        ],
        d,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let finetune = update(d, "finetune");
    let replay = update(d, "replay");
    let f = &finetune["report"];
    let r = &replay["report"];
    let before = r["earlier"][0].as_f64().unwrap();
    assert!(
        before > 0.9,
        "the first model learned the first regime: {r}"
    );
    let forgot = |v: &serde_json::Value| v["forgetting"].as_f64().unwrap();
    assert!(
        forgot(f) > 0.5,
        "fine-tuning on the new regime alone forgets the old: {f}"
    );
    assert!(
        forgot(r) < 0.25 && forgot(r) < forgot(f) / 3.0,
        "replay keeps most of the old regime: {r} against {f}"
    );
    assert!(
        r["new"][1].as_f64().unwrap() > 0.85,
        "replay learns the new regime: {r}"
    );
    assert!(
        r["trained_rows"][1].as_u64().unwrap() > 0,
        "earlier rows were replayed"
    );
    assert_eq!(f["trained_rows"][1], 0);

    let o = kiln(&["inspect", "replay.kiln", "--json"], d);
    let manifest: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let lineage = &manifest["lineage"];
    assert_eq!(lineage["strategy"], "replay");
    assert_eq!(lineage["parent_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(lineage["data"], "new.csv");

    let o = kiln(&["update", "m.kiln", "missing.csv"], d);
    assert_eq!(o.status.code(), Some(2));
}
