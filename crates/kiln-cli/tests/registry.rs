//! `kiln registry` and `kiln loop` end to end: a candidate that fails the gate leaves the
//! serving version untouched; a rollback brings the previous version back while `kiln serve`
//! keeps answering; the loop updates a drifted model and promotes the update.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

mod common;
use common::kiln;
#[path = "common/regimes.rs"]
mod regimes;
use regimes::table;
#[path = "common/server.rs"]
mod server;
use server::Server;

fn ok(o: &std::process::Output) -> serde_json::Value {
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null)
}

fn train(dir: &Path, data: &str, seed: &str, out: &str) {
    ok(&kiln(
        &[
            "train", data, "--target", "label", "--epochs", "15", "--seed", seed, "--out", out,
        ],
        dir,
    ));
}

fn status(dir: &Path) -> serde_json::Value {
    ok(&kiln(
        &["registry", "list", "m", "-r", "reg", "--json"],
        dir,
    ))
}

/// The history's actions, oldest first.
fn actions(status: &serde_json::Value) -> Vec<&str> {
    status["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect()
}

const ROW: &str = r#"{"inputs":[{"name":"x1","shape":[1],"datatype":"FP32","data":[-1.0]},{"name":"x2","shape":[1],"datatype":"FP32","data":[1.0]}]}"#;

#[test]
fn a_rejected_candidate_changes_nothing_and_rollback_keeps_the_server_answering() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("old.csv"), table(400, false, 1)).unwrap();
    std::fs::write(d.join("old_test.csv"), table(200, false, 5)).unwrap();
    std::fs::write(d.join("new.csv"), table(400, true, 2)).unwrap();
    train(d, "old.csv", "1", "good.kiln");
    train(d, "old.csv", "2", "good2.kiln");
    // Learned the other regime: wrong on the old one.
    train(d, "new.csv", "1", "bad.kiln");

    ok(&kiln(
        &["registry", "push", "good.kiln", "--name", "m", "-r", "reg"],
        d,
    ));
    let first = ok(&kiln(
        &["registry", "promote", "m", "-r", "reg", "--json"],
        d,
    ));
    assert_eq!(first["promotion"]["version"], 1, "{first}");
    let v1 = d.join("reg/m/1/model.kiln");
    let v1_bytes = std::fs::read(&v1).unwrap();

    ok(&kiln(
        &["registry", "push", "bad.kiln", "--name", "m", "-r", "reg"],
        d,
    ));
    let o = kiln(
        &[
            "registry",
            "promote",
            "m",
            "-r",
            "reg",
            "--holdout",
            "old_test.csv",
            "--json",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(1), "a rejection exits 1");
    let rejected: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let gate = &rejected["promotion"]["gate"];
    assert_eq!(gate["passed"], false, "{rejected}");
    assert!(gate["candidate"].as_f64().unwrap() + 0.2 < gate["serving"][1].as_f64().unwrap());
    assert_eq!(status(d)["serving"], 1);
    assert_eq!(
        std::fs::read(&v1).unwrap(),
        v1_bytes,
        "the serving bundle is untouched"
    );
    assert!(
        !d.join("reg/m/2").exists(),
        "the rejected candidate never served"
    );

    ok(&kiln(
        &["registry", "push", "good2.kiln", "--name", "m", "-r", "reg"],
        d,
    ));
    let promoted = ok(&kiln(
        &[
            "registry",
            "promote",
            "m",
            "-r",
            "reg",
            "--holdout",
            "old_test.csv",
            "--margin",
            "0.1",
            "--json",
        ],
        d,
    ));
    assert_eq!(promoted["promotion"]["version"], 3, "{promoted}");

    let server = Arc::new(Server::start(d, &["reg", "--poll-ms", "100"]));
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.request("GET", "/v2/health/ready", "").0 != 200 {
        assert!(Instant::now() < deadline, "the server never became ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (code, body) = server.request("POST", "/v2/models/m/infer", ROW);
    assert_eq!(
        (code, body["model_version"].as_str()),
        (200, Some("3")),
        "{body}"
    );

    // Clients keep asking while the rollback happens.
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(AtomicUsize::new(0));
    let client = {
        let (server, stop, failures, answered) = (
            server.clone(),
            stop.clone(),
            failures.clone(),
            answered.clone(),
        );
        std::thread::spawn(move || {
            let mut versions = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let (code, body) = server.request("POST", "/v2/models/m/infer", ROW);
                if code == 200 {
                    answered.fetch_add(1, Ordering::SeqCst);
                    let v = body["model_version"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    if versions.last() != Some(&v) {
                        versions.push(v);
                    }
                } else {
                    failures.fetch_add(1, Ordering::SeqCst);
                }
            }
            versions
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let rolled = ok(&kiln(
        &["registry", "rollback", "m", "-r", "reg", "--json"],
        d,
    ));
    assert_eq!(rolled["serving"], 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, body) = server.request("POST", "/v2/models/m/infer", ROW);
        if body["model_version"] == "1" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server never fell back to version 1"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    let versions = client.join().unwrap();
    assert_eq!(
        failures.load(Ordering::SeqCst),
        0,
        "every request was answered"
    );
    assert!(answered.load(Ordering::SeqCst) > 10);
    assert_eq!(
        versions,
        ["3", "1"],
        "version 3, then version 1, nothing else"
    );
    let s = status(d);
    assert_eq!(s["serving"], 1);
    let states: Vec<(u64, String)> = s["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["version"].as_u64().unwrap(),
                e["state"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            (3, "retired".to_string()),
            (2, "candidate".to_string()),
            (1, "serving".to_string())
        ]
    );
    assert_eq!(
        actions(&s),
        [
            "push", "promote", "push", "reject", "push", "promote", "rollback"
        ]
    );
    Arc::try_unwrap(server)
        .ok()
        .expect("the client is done")
        .stop();

    // Nothing left to roll back to; unknown names and candidates are clear errors.
    let o = kiln(&["registry", "rollback", "m", "-r", "reg"], d);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("nothing to roll back to"));
    let o = kiln(
        &["registry", "promote", "m", "-r", "reg", "--candidate", "9"],
        d,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no candidate 9"));
    let o = kiln(
        &["registry", "push", "old.csv", "--name", "m", "-r", "reg"],
        d,
    );
    assert_eq!(o.status.code(), Some(3), "a table is not a bundle");
    let o = kiln(&["registry", "list"], d);
    assert!(String::from_utf8_lossy(&o.stderr).contains("--registry"));
    let o = kiln(
        &["loop", "-r", "reg", "--name", "../m", "--log", "old.csv"],
        d,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot name a model"));
}

#[test]
fn the_loop_updates_a_drifted_model_and_promotes_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("old.csv"), table(400, false, 1)).unwrap();
    train(d, "old.csv", "1", "m.kiln");
    ok(&kiln(&["registry", "push", "m.kiln", "-r", "reg"], d));
    ok(&kiln(&["registry", "promote", "m", "-r", "reg"], d));

    // Rows like the training rows: no drift, nothing to do.
    std::fs::write(d.join("live.csv"), table(200, false, 7)).unwrap();
    let args = [
        "loop", "-r", "reg", "--name", "m", "--log", "live.csv", "--json",
    ];
    let calm = ok(&kiln(&args, d));
    assert_eq!(calm["outcome"], "no drift", "{calm}");
    assert_eq!(calm["rows"], 200);
    // Then the world changes: the next round sees only the new rows.
    let mut live = std::fs::read_to_string(d.join("live.csv")).unwrap();
    live += table(300, true, 8).split_once('\n').unwrap().1;
    std::fs::write(d.join("live.csv"), live).unwrap();
    let round = ok(&kiln(&args, d));
    assert_eq!(round["first_row"], 200, "{round}");
    assert_eq!(round["rows"], 300);
    assert_eq!(round["window"]["alert"], true);
    assert_eq!(round["outcome"], "promoted", "{round}");
    let update = &round["update"];
    assert!(update["new"][1].as_f64().unwrap() > update["new"][0].as_f64().unwrap() + 0.3);
    assert_eq!(round["promotion"]["version"], 2);
    let again = ok(&kiln(&args, d));
    assert_eq!(again["outcome"], "waiting", "no new rows: {again}");
    // Drift again, but labelled with a class the model never saw: the update fails, on record,
    // and version 2 keeps serving.
    let mut live = std::fs::read_to_string(d.join("live.csv")).unwrap();
    live += &table(200, false, 9)
        .split_once('\n')
        .unwrap()
        .1
        .replace("yes", "maybe");
    std::fs::write(d.join("live.csv"), live).unwrap();
    let o = kiln(&args, d);
    assert_eq!(o.status.code(), Some(1), "drift left unanswered exits 1");
    let failed: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(failed["outcome"], "update failed", "{failed}");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("not seen in training")
    );

    let s = status(d);
    assert_eq!(s["serving"], 2);
    let o = kiln(&["inspect", "reg/m/2/model.kiln", "--json"], d);
    let manifest: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let data = manifest["lineage"]["data"].as_str().unwrap();
    assert!(
        d.join(data).is_file(),
        "the rows the update trained on are kept: {data}"
    );
    assert_eq!(
        actions(&s),
        [
            "push",
            "promote",
            "check",
            "drift",
            "push",
            "promote",
            "drift",
            "update failed"
        ]
    );
}
