//! `kiln update` end to end: replaying the earlier rows the bundle keeps forgets far less than
//! fine-tuning on the new rows alone, and the update records its lineage.

use std::path::Path;

mod common;
use common::kiln;
#[path = "common/regimes.rs"]
mod regimes;
use regimes::table;

fn update(dir: &Path, strategy: &str, extra: &[&str]) -> serde_json::Value {
    let out = format!("{strategy}.kiln");
    let mut args = vec![
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
    ];
    args.extend_from_slice(extra);
    let o = kiln(&args, dir);
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

    let finetune = update(d, "finetune", &[]);
    let replay = update(d, "replay", &[]);
    // EWC held hard to the old weights: it forgets less than fine-tuning.
    let ewc = update(d, "ewc", &["--ewc-strength", "100000"]);
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
    let e = &ewc["report"];
    assert_eq!(e["trained_rows"][1], 0, "EWC trains on the new rows only");
    assert!(
        forgot(e) < forgot(f) - 0.2,
        "the penalty holds on to the old regime: {e} against {f}"
    );

    let o = kiln(&["inspect", "replay.kiln", "--json"], d);
    let manifest: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let lineage = &manifest["lineage"];
    assert_eq!(lineage["strategy"], "replay");
    assert_eq!(lineage["parent_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(lineage["data"], "new.csv");

    let o = kiln(&["update", "m.kiln", "missing.csv"], d);
    assert_eq!(o.status.code(), Some(2));
    let o = kiln(&["update", "m.kiln", "new.csv", "--ewc-strength", "-1"], d);
    assert_eq!(o.status.code(), Some(2));
}
