//! `kiln serve` as a process: it prints its address, answers over HTTP, picks up a version
//! dropped into its repository, refuses bad start-up options with clear errors, and on SIGTERM
//! finishes and exits 0.

use std::path::Path;
use std::time::{Duration, Instant};

mod common;
use common::kiln;
#[path = "common/server.rs"]
mod server;
use server::Server;

/// Trains two small models (seeds 1 and 2) on a table with numeric and categorical columns.
fn trained(dir: &Path) {
    let mut s = String::from("a,b,colour,label\n");
    for i in 0..200 {
        let a = ((i * 37) % 100) as f64 / 10.0;
        let b = ((i * 53) % 70) as f64 / 7.0;
        let colour = ["red", "green", "blue"][i % 3];
        let label = if a + b > 10.0 { "yes" } else { "no" };
        s += &format!("{a},{b},{colour},{label}\n");
    }
    std::fs::write(dir.join("t.csv"), s).unwrap();
    for seed in ["1", "2"] {
        let out = format!("m{seed}.kiln");
        let o = kiln(
            &[
                "train", "t.csv", "--target", "label", "--epochs", "5", "--seed", seed, "--out",
                &out,
            ],
            dir,
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
}

const ROW: &str = r#"{"inputs":[{"name":"a","shape":[1],"datatype":"FP32","data":[4.5]},{"name":"b","shape":[1],"datatype":"FP32","data":[7]},{"name":"colour","shape":[1],"datatype":"BYTES","data":["red"]}]}"#;

#[test]
fn serves_picks_up_new_versions_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    trained(dir.path());
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join("m/1")).unwrap();
    std::fs::copy(dir.path().join("m1.kiln"), repo.join("m/1/model.kiln")).unwrap();
    let server = Server::start(dir.path(), &["repo", "--poll-ms", "100"]);
    assert_eq!(server.request("GET", "/v2/health/ready", "").0, 200);
    let (status, body) = server.request("POST", "/v2/models/m/infer", ROW);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model_version"], "1");
    let v1 = body["outputs"][1]["data"].clone();
    // Version 2, staged beside the repository and renamed into it.
    std::fs::create_dir_all(dir.path().join("staging")).unwrap();
    std::fs::copy(
        dir.path().join("m2.kiln"),
        dir.path().join("staging/model.kiln"),
    )
    .unwrap();
    std::fs::rename(dir.path().join("staging"), repo.join("m/2")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let body = loop {
        let (status, body) = server.request("POST", "/v2/models/m/infer", ROW);
        assert_eq!(status, 200, "{body}");
        if body["model_version"] == "2" {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "version 2 was not picked up in 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_ne!(body["outputs"][1]["data"], v1, "a different model answers");
    let (status, body) = server.request("GET", "/metrics", "");
    assert_eq!(
        (status, body),
        (200, serde_json::Value::Null),
        "metrics are text"
    );
    assert!(
        server.stop().success(),
        "SIGTERM ends the server with exit code 0"
    );
}

#[test]
fn bad_start_up_options_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let o = kiln(&["serve", "missing.kiln", "--port", "0"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cannot read 'missing.kiln'"), "{err}");
    std::fs::write(dir.path().join("junk.kiln"), "not a model").unwrap();
    let o = kiln(&["serve", "junk.kiln", "--port", "0"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no model could be served") && err.contains("not a Kiln model bundle"),
        "{err}"
    );
    std::fs::write(dir.path().join("token"), "\n").unwrap();
    let o = kiln(
        &["serve", "junk.kiln", "--auth-token-file", "token"],
        dir.path(),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("token file 'token' is empty"), "{err}");
    let o = kiln(&["serve", "junk.kiln", "--versions", "newest"], dir.path());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("latest, latest:N, all"),
        "{err}"
    );
}
