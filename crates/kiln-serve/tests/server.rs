//! The server in process, driven through its router: answers equal `kiln predict`, versions
//! come and go with the disk, broken versions never displace working ones, and every refusal
//! is a 4xx or 503 with a JSON message.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use kiln::{Config, data::read_table};
use kiln_serve::{
    AppState, BatchPolicy, LogOptions, Metrics, PredictionLog, Registry, Source, VersionPolicy,
    router,
};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tower::ServiceExt;

/// A table with numeric and categorical columns and a few empty cells.
fn csv() -> String {
    let mut s = String::from("a,b,colour,label\n");
    for i in 0..240 {
        let a = ((i * 37) % 100) as f64 / 10.0;
        let b = ((i * 53) % 70) as f64 / 7.0;
        let colour = ["red", "green", "blue"][i % 3];
        let label = if a + b + if colour == "red" { 3.0 } else { 0.0 } > 10.0 {
            "yes"
        } else {
            "no"
        };
        let a = if i % 17 == 0 {
            String::new()
        } else {
            a.to_string()
        };
        s += &format!("{a},{b},{colour},{label}\n");
    }
    s
}

/// Two bundles trained once per test binary (seeds 1 and 2) and the table they came from.
fn bundles() -> &'static (tempfile::TempDir, PathBuf, PathBuf, PathBuf) {
    static BUNDLES: OnceLock<(tempfile::TempDir, PathBuf, PathBuf, PathBuf)> = OnceLock::new();
    BUNDLES.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("t.csv");
        std::fs::write(&data, csv()).unwrap();
        let mut paths = Vec::new();
        for seed in [1, 2] {
            let mut config = Config {
                seed,
                ..Config::default()
            };
            config.data.target = Some("label".into());
            config.train.epochs = 8;
            config.model.width = 32;
            let run = kiln::train(&data, &config, &mut Default::default()).unwrap();
            let path = dir.path().join(format!("m{seed}.kiln"));
            run.bundle.save(&path).unwrap();
            paths.push(path);
        }
        let (a, b) = (paths[0].clone(), paths[1].clone());
        (dir, data, a, b)
    })
}

fn policy() -> BatchPolicy {
    BatchPolicy {
        max_batch: 64,
        max_delay: Duration::from_millis(1),
        queue: 256,
    }
}

struct Server {
    registry: Arc<Registry>,
    app: axum::Router,
}

fn server(
    sources: Vec<Source>,
    versions: VersionPolicy,
    batch: BatchPolicy,
    token: Option<&str>,
    log: Option<Arc<PredictionLog>>,
) -> Server {
    let metrics = Metrics::new();
    let registry = Arc::new(Registry::new(sources, versions, batch, metrics.clone()));
    registry.sync();
    let app = router(AppState {
        registry: Arc::clone(&registry),
        metrics,
        log,
        token: token.map(str::to_string),
        timeout: Duration::from_secs(30),
        max_body: 64 * 1024,
    });
    Server { registry, app }
}

fn bundle_server() -> Server {
    server(
        vec![Source::Bundle(bundles().2.clone())],
        VersionPolicy::Latest(1),
        policy(),
        None,
        None,
    )
}

async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (StatusCode, Value, axum::http::HeaderMap) {
    let mut request = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let body = body.map_or(Body::empty(), |b| Body::from(b.to_string()));
    let response = app
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, value, headers)
}

/// The first `n` rows of the training table, without the label, as JSON columns.
fn columns(n: usize) -> (Vec<Value>, Vec<Value>, Vec<Value>) {
    let table = read_table(&bundles().1).unwrap();
    let col = |name: &str| -> Vec<Value> {
        table.column(name).unwrap().cells[..n]
            .iter()
            .map(kiln::data::Cell::to_json)
            .collect()
    };
    (col("a"), col("b"), col("colour"))
}

fn expected(n: usize) -> Vec<f32> {
    let bundle = kiln::Bundle::load(&bundles().2).unwrap();
    let mut table = read_table(&bundles().1).unwrap();
    for c in &mut table.columns {
        c.cells.truncate(n);
    }
    let p = kiln::predict(&bundle, &table, kiln::Priors::Training).unwrap();
    p.rows
        .iter()
        .flat_map(|r| r[1..].iter().map(|v| v.parse::<f32>().unwrap()))
        .collect()
}

fn close(got: &Value, want: &[f32]) {
    let got: Vec<f64> = got
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!((g - f64::from(*w)).abs() < 2e-6, "{g} vs {w}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_input_form_answers_what_kiln_predict_answers() {
    let s = bundle_server();
    let n = 20;
    let (a, b, colour) = columns(n);
    let want = expected(n);
    // One input per column; the categorical column as BYTES with nulls for missing numbers.
    let by_column = json!({"id": "r1", "inputs": [
        {"name": "a", "shape": [n], "datatype": "FP64", "data": a},
        {"name": "b", "shape": [n, 1], "datatype": "FP32", "data": b},
        {"name": "colour", "shape": [n], "datatype": "BYTES", "data": colour},
    ]});
    let (status, body, _) = call(&s.app, "POST", "/v2/models/m1/infer", Some(by_column), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], "r1");
    assert_eq!(body["model_version"], "1");
    let probabilities = body["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "probabilities")
        .unwrap();
    assert_eq!(probabilities["shape"], json!([n, 2]));
    close(&probabilities["data"], &want);
    // One [rows, 3] BYTES tensor, rows in the model's input order.
    let meta = call(&s.app, "GET", "/v2/models/m1", None, &[]).await.1;
    let order: Vec<&str> = meta["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    let cell = |name: &str, i: usize| -> Value {
        let v = match name {
            "a" => &a[i],
            "b" => &b[i],
            _ => &colour[i],
        };
        match v {
            Value::Null => json!(""),
            Value::String(s) => json!(s),
            other => json!(other.to_string()),
        }
    };
    let flat: Vec<Value> = (0..n)
        .flat_map(|i| order.iter().map(move |c| cell(c, i)))
        .collect::<Vec<_>>();
    let whole = json!({"inputs": [{"name": "input", "shape": [n, 3], "datatype": "BYTES", "data": flat}], "outputs": [{"name": "probabilities"}]});
    let (status, body, _) = call(
        &s.app,
        "POST",
        "/v2/models/m1/versions/1/infer",
        Some(whole),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["outputs"].as_array().unwrap().len(),
        1,
        "only the requested output"
    );
    close(&body["outputs"][0]["data"], &want);
    // A category never seen in training is answered as none known, and counted.
    let purple = json!({"inputs": [{"name": "input", "shape": [1, 3], "datatype": "BYTES", "data": ["1", "2", "purple"]}]});
    let (status, body, _) = call(&s.app, "POST", "/v2/models/m1/infer", Some(purple), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["parameters"]["unseen_categories"],
        json!({"colour": 1})
    );
    // TF Serving, row format.
    let instances: Vec<Value> = (0..n)
        .map(|i| json!({"a": a[i], "b": b[i], "colour": colour[i]}))
        .collect();
    let (status, body, _) = call(
        &s.app,
        "POST",
        "/v1/models/m1:predict",
        Some(json!({"instances": instances})),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let flat: Vec<Value> = body["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["probabilities"].as_array().unwrap().clone())
        .collect();
    close(&Value::Array(flat), &want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_4xx_with_a_message_and_the_server_keeps_serving() {
    let s = bundle_server();
    let good = json!({"inputs": [{"name": "input", "shape": [1, 3], "datatype": "BYTES", "data": ["1", "2", "red"]}]});
    let cases = [
        (
            "/v2/models/nope/infer",
            json!({}),
            404,
            "no model named 'nope'",
        ),
        (
            "/v2/models/m1/versions/7/infer",
            good.clone(),
            404,
            "no version '7'",
        ),
        (
            "/v2/models/m1/infer",
            json!({"inputs": [{"name": "a", "shape": [2], "datatype": "FP32", "data": [1]}]}),
            400,
            "holds 2 values",
        ),
        (
            "/v2/models/m1/infer",
            json!({"inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "data": ["x"]}]}),
            400,
            "element 0",
        ),
        (
            "/v2/models/m1/infer",
            json!({"inputs": [{"name": "a", "shape": [1], "datatype": "FP32", "data": [1]}]}),
            400,
            "missing inputs",
        ),
        (
            "/v2/models/m1/infer",
            json!({"inputs": [{"name": "input", "shape": [1, 3], "datatype": "BYTES", "data": ["x", "2", "red"]}]}),
            400,
            "is not a number",
        ),
        (
            "/v2/models/m1/infer",
            json!({"inputs": [{"name": "input", "shape": [1, 3], "datatype": "BYTES", "data": ["1", "2", "red"]}], "outputs": [{"name": "logits"}]}),
            400,
            "no output named 'logits'",
        ),
        (
            "/v1/models/m1:predict",
            json!({"instances": [{"a": 1}]}),
            400,
            "instances[0]",
        ),
        (
            "/v1/models/m1:classify",
            json!({}),
            404,
            "not a TF Serving endpoint",
        ),
        ("/v3/anything", json!({}), 404, "no such endpoint"),
    ];
    for (uri, body, status, message) in cases {
        let (got, body, _) = call(&s.app, "POST", uri, Some(body), &[]).await;
        assert_eq!(got, status, "{uri}: {body}");
        let text = body["error"].as_str().unwrap_or_default();
        assert!(text.contains(message), "{uri}: '{text}' lacks '{message}'");
    }
    let request = Request::post("/v2/models/m1/infer")
        .body(Body::from("{\"inputs\": ["))
        .unwrap();
    let response = s.app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 400);
    let big = json!({"inputs": [{"name": "input", "shape": [1, 3], "datatype": "BYTES", "data": ["1".repeat(70_000), "2", "red"]}]});
    let (status, body, _) = call(&s.app, "POST", "/v2/models/m1/infer", Some(big), &[]).await;
    assert_eq!(status, 413, "{body}");
    assert!(body["error"].as_str().unwrap().contains("--max-body-bytes"));
    let (status, _, _) = call(&s.app, "POST", "/v2/models/m1/infer", Some(good), &[]).await;
    assert_eq!(status, 200, "still serving");
    let metrics = call(&s.app, "GET", "/metrics", None, &[]).await.1;
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains(
            r#"kiln_requests_total{model="m1",protocol="v2",status="200",version="1"} 1"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains(r#"status="400""#), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_required_everywhere_but_health() {
    let s = server(
        vec![Source::Bundle(bundles().2.clone())],
        VersionPolicy::Latest(1),
        policy(),
        Some("s3cret"),
        None,
    );
    assert_eq!(
        call(&s.app, "GET", "/v2/health/ready", None, &[]).await.0,
        200
    );
    let (status, body, headers) = call(&s.app, "GET", "/v2/models/m1", None, &[]).await;
    assert_eq!(status, 401);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("Authorization: Bearer")
    );
    assert_eq!(headers["www-authenticate"], "Bearer");
    assert_eq!(
        call(
            &s.app,
            "GET",
            "/v2/models/m1",
            None,
            &[("authorization", "Bearer wrong")]
        )
        .await
        .0,
        401
    );
    assert_eq!(call(&s.app, "GET", "/metrics", None, &[]).await.0, 401);
    assert_eq!(
        call(
            &s.app,
            "GET",
            "/v2/models/m1",
            None,
            &[("authorization", "Bearer s3cret")]
        )
        .await
        .0,
        200
    );
}

fn place(repo: &Path, version: u64, bundle: &Path) {
    // Built beside the repository, then renamed in: the server never sees half a folder.
    let staging = repo.parent().unwrap().join(format!("staging-{version}"));
    std::fs::create_dir_all(&staging).unwrap();
    std::fs::copy(bundle, staging.join("model.kiln")).unwrap();
    std::fs::rename(&staging, repo.join("m").join(version.to_string())).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_versions_replace_old_ones_and_broken_ones_never_do() {
    let root = tempfile::tempdir().unwrap();
    let repo = root.path().join("repo");
    std::fs::create_dir_all(repo.join("m")).unwrap();
    place(&repo, 1, &bundles().2);
    let s = server(
        vec![Source::Repository(repo.clone())],
        VersionPolicy::Latest(1),
        policy(),
        None,
        None,
    );
    let version = |s: &Server| s.registry.get("m", None).map(|m| m.version).unwrap();
    assert_eq!(version(&s), 1);
    // A half-copied version 2: version 1 keeps serving and the index says why 2 does not.
    std::fs::create_dir_all(repo.join("m/2")).unwrap();
    let bytes = std::fs::read(&bundles().2).unwrap();
    std::fs::write(repo.join("m/2/model.kiln"), &bytes[..bytes.len() / 2]).unwrap();
    s.registry.sync();
    assert_eq!(version(&s), 1);
    let (_, index, _) = call(&s.app, "POST", "/v2/repository/index", None, &[]).await;
    let v2 = index
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["version"] == "2")
        .unwrap();
    assert_eq!(v2["state"], "UNAVAILABLE");
    assert!(v2["reason"].as_str().unwrap().contains("corrupt"), "{v2}");
    // Version 3 is good: it serves, and version 1 is retired under the latest policy.
    place(&repo, 3, &bundles().3);
    s.registry.sync();
    assert_eq!(version(&s), 3);
    assert!(s.registry.get("m", Some("1")).is_err());
    // Fixing version 2's file makes it loadable, but 3 stays the newest.
    std::fs::copy(&bundles().2, repo.join("m/2/model.kiln")).unwrap();
    s.registry.sync();
    assert_eq!(s.registry.versions("m"), vec![3]);
    // Unload, then load again through the management API.
    assert_eq!(
        call(&s.app, "POST", "/v2/repository/models/m/unload", None, &[])
            .await
            .0,
        200
    );
    assert_eq!(
        call(&s.app, "GET", "/v2/health/ready", None, &[]).await.0,
        200,
        "an unloaded model does not make the server unready"
    );
    assert_eq!(
        call(&s.app, "GET", "/v2/models/m/ready", None, &[]).await.0,
        404
    );
    s.registry.sync();
    assert!(
        s.registry.versions("m").is_empty(),
        "polling does not reload an unloaded model"
    );
    let (status, body, _) = call(&s.app, "POST", "/v2/repository/models/m/load", None, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["versions"], json!(["3"]));
    assert_eq!(
        call(&s.app, "POST", "/v2/repository/models/../load", None, &[])
            .await
            .0,
        404
    );
    // Removing the folder retires the version.
    std::fs::remove_dir_all(repo.join("m/3")).unwrap();
    s.registry.sync();
    assert_eq!(s.registry.versions("m"), vec![2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_versions_serve_under_the_all_policy() {
    let root = tempfile::tempdir().unwrap();
    let repo = root.path().join("repo");
    std::fs::create_dir_all(repo.join("m")).unwrap();
    place(&repo, 1, &bundles().2);
    place(&repo, 2, &bundles().3);
    let s = server(
        vec![Source::Repository(repo)],
        VersionPolicy::All,
        policy(),
        None,
        None,
    );
    assert_eq!(s.registry.versions("m"), vec![1, 2]);
    let meta = call(&s.app, "GET", "/v2/models/m", None, &[]).await.1;
    assert_eq!(meta["versions"], json!(["1", "2"]));
    let row = json!({"inputs": [{"name": "input", "shape": [1, 3], "datatype": "BYTES", "data": ["1", "2", "red"]}]});
    for v in ["1", "2"] {
        let (status, body, _) = call(
            &s.app,
            "POST",
            &format!("/v2/models/m/versions/{v}/infer"),
            Some(row.clone()),
            &[],
        )
        .await;
        assert_eq!(
            (status, body["model_version"].as_str()),
            (StatusCode::OK, Some(v))
        );
    }
    let status = call(&s.app, "GET", "/v1/models/m", None, &[]).await.1;
    assert_eq!(status["model_version_status"][0]["version"], "2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_503_with_retry_after_and_batches_form_under_load() {
    let tight = BatchPolicy {
        max_batch: 4096,
        max_delay: Duration::ZERO,
        queue: 1,
    };
    let s = server(
        vec![Source::Bundle(bundles().2.clone())],
        VersionPolicy::Latest(1),
        tight,
        None,
        None,
    );
    let rows = 3000;
    let data: Vec<Value> = (0..rows)
        .flat_map(|i| [json!(i.to_string()), json!("2"), json!("red")])
        .collect();
    let body = json!({"inputs": [{"name": "input", "shape": [rows, 3], "datatype": "BYTES", "data": data}]});
    let max_body = body.to_string().len() * 2;
    let app = router(AppState {
        registry: Arc::clone(&s.registry),
        metrics: Metrics::new(),
        log: None,
        token: None,
        timeout: Duration::from_secs(60),
        max_body,
    });
    let calls: Vec<_> = (0..24)
        .map(|_| {
            let (app, body) = (app.clone(), body.clone());
            tokio::spawn(
                async move { call(&app, "POST", "/v2/models/m1/infer", Some(body), &[]).await },
            )
        })
        .collect();
    let mut busy = 0;
    for c in calls {
        let (status, body, headers) = c.await.unwrap();
        match status.as_u16() {
            200 => {}
            503 => {
                busy += 1;
                assert_eq!(headers["retry-after"], "1");
                assert!(body["error"].as_str().unwrap().contains("--queue"));
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(
        busy > 0,
        "24 concurrent 3000-row requests overflow a queue of 1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_batches_and_each_gets_its_own_rows() {
    let waiting = BatchPolicy {
        max_batch: 64,
        max_delay: Duration::from_millis(200),
        queue: 256,
    };
    let s = server(
        vec![Source::Bundle(bundles().2.clone())],
        VersionPolicy::Latest(1),
        waiting,
        None,
        None,
    );
    let n = 12;
    let (a, b, colour) = columns(n);
    let want = expected(n);
    let calls: Vec<_> = (0..n)
        .map(|i| {
            let app = s.app.clone();
            let body = json!({"inputs": [{"name": "input", "shape": [1, 3], "datatype": "BYTES",
                "data": [a[i].to_string(), b[i].to_string(), colour[i]]}]});
            tokio::spawn(
                async move { call(&app, "POST", "/v2/models/m1/infer", Some(body), &[]).await },
            )
        })
        .collect();
    for (i, c) in calls.into_iter().enumerate() {
        let (status, body, _) = c.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        close(&body["outputs"][1]["data"], &want[i * 2..(i + 1) * 2]);
    }
    let (_, metrics, _) = call(&s.app, "GET", "/metrics", None, &[]).await;
    let metrics = metrics.as_str().unwrap();
    let figure = |name: &str| -> f64 {
        let line = metrics
            .lines()
            .find(|l| l.starts_with(name) && l.contains("model=\"m1\""))
            .unwrap_or_else(|| panic!("no {name} in {metrics}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(figure("kiln_batch_size_sum"), n as f64);
    // Twelve requests sent at once, each allowed to wait 200 ms for others: far fewer batches.
    assert!(
        figure("kiln_batch_size_count") <= (n / 3) as f64,
        "{} batches for {n} concurrent requests",
        figure("kiln_batch_size_count")
    );
    assert_eq!(figure("kiln_queue_depth"), 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_on_recent_rows_is_published_as_gauges() {
    let metrics = Metrics::new();
    let registry = Arc::new(
        Registry::new(
            vec![Source::Bundle(bundles().2.clone())],
            VersionPolicy::Latest(1),
            policy(),
            metrics.clone(),
        )
        .with_drift_rows(200),
    );
    registry.sync();
    let app = router(AppState {
        registry: Arc::clone(&registry),
        metrics: metrics.clone(),
        log: None,
        token: None,
        timeout: Duration::from_secs(30),
        max_body: 1 << 20,
    });
    // Rows far from the training data in both numeric columns.
    let n = 150;
    let a: Vec<Value> = (0..n).map(|i| json!(50.0 + i as f64)).collect();
    let colour: Vec<Value> = (0..n)
        .map(|i| json!(["red", "green", "blue"][i % 3]))
        .collect();
    let body = json!({"inputs": [
        {"name": "a", "shape": [n], "datatype": "FP32", "data": a.clone()},
        {"name": "b", "shape": [n], "datatype": "FP32", "data": a},
        {"name": "colour", "shape": [n], "datatype": "BYTES", "data": colour},
    ]});
    assert_eq!(
        call(&app, "POST", "/v2/models/m1/infer", Some(body), &[])
            .await
            .0,
        200
    );
    let version = registry.get("m1", None).unwrap();
    version.drift.as_ref().expect("drift is watched").publish(
        &version,
        &metrics,
        &Default::default(),
    );
    let text = metrics.render();
    assert!(
        text.contains(r#"kiln_feature_drifted{feature="a",model="m1",version="1"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"kiln_drift{figure="rows",model="m1",version="1"} 150"#),
        "{text}"
    );
    assert!(
        text.contains(r#"kiln_drift{figure="alert",model="m1",version="1"} 1"#),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampled_rows_reach_the_prediction_log() {
    let dir = tempfile::tempdir().unwrap();
    let options = LogOptions {
        dir: dir.path().to_path_buf(),
        sample_rate: 1.0,
        max_bytes: 1 << 20,
        keep: 3,
        seed: 1,
    };
    let log = Arc::new(PredictionLog::start(options, Metrics::new()).unwrap());
    let s = server(
        vec![Source::Bundle(bundles().2.clone())],
        VersionPolicy::Latest(1),
        policy(),
        None,
        Some(Arc::clone(&log)),
    );
    let body = json!({"instances": [{"a": 1.5, "b": null, "colour": "red"}, {"a": 2, "b": 3, "colour": "blue"}]});
    let (status, reply, _) = call(&s.app, "POST", "/v1/models/m1:predict", Some(body), &[]).await;
    assert_eq!(status, 200);
    drop(s);
    Arc::try_unwrap(log)
        .ok()
        .expect("only the test holds the log")
        .close();
    let text = std::fs::read_to_string(dir.path().join("predictions.jsonl")).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(
        lines[0]["inputs"],
        json!({"a": 1.5, "b": null, "colour": "red"})
    );
    assert_eq!(
        lines[1]["outputs"]["label"],
        reply["predictions"][1]["label"]
    );
    assert_eq!(lines[0]["model"], "m1");
}
