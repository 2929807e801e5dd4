//! Kiln's side of the SHAP benchmark (`bench/shap.sh` runs it beside `bench/shap_python.py`).
//!
//! ```text
//! kiln-shap prepare --model M.kiln --data D.csv --rows 0-9 --background K --seed S --out FILE.json
//! kiln-shap run     --model M.kiln --data D.csv --rows 0-9 --background K --seed S
//!                   --method kernel|exact [--samples N] [--sample-seed T] --out ATTRIBUTIONS.json
//! kiln-shap profile --model M.kiln --data D.csv --rows 0-9 [--background K --seed S]
//! ```
//!
//! Both build exactly what `kiln explain MODEL DATA --rows .. --background K --seed S` builds:
//! the data encoded with the bundle's preprocessor, the background as
//! `Background::kmeans(bundle background sample, K, seed)` (all stored rows when K is 0 or
//! at least their number), one feature group per original column, and (Kernel SHAP) the seed
//! `seed ^ row` for each row.
//!
//! `prepare` writes what the Python side needs to give shap the same inputs: the explained
//! rows, encoded; the background rows and their weights; and, to check a numpy
//! re-implementation of the network, Kiln's predictions for every encoded row of the data
//! and for the background rows.
//!
//! `profile` splits the cost of one model evaluation on this network into its parts (see
//! [`profile`]); it prints one JSON object.
//!
//! `--sample-seed T` (default: `--seed`) seeds Kernel SHAP's coalition sampling with
//! `T ^ row` while the background stays the one of `--seed`, so that the benchmark can
//! measure errors over several sampling seeds on one background; with `T = S` the
//! attributions are exactly those of `kiln explain --seed S`.
//!
//! `run` times the explanation of the rows in this process with `kiln::explain::BundleModel`
//! as the model (as `kiln explain` does), after one untimed warm-up prediction of 4,096
//! rows, and separately times the model's own `predict` calls (rows, calls, seconds). It
//! writes the attributions to `--out` and prints one JSON object on stdout.

use kiln::Bundle;
use kiln::explain::BundleModel;
use kiln_explain::{Attribution, Background, Groups, Model};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Rows of the untimed warm-up prediction, on both sides of the benchmark.
const WARMUP_ROWS: usize = 4096;

fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("kiln-shap: {message}");
    std::process::exit(1);
}

/// `--key value` options after the subcommand.
struct Options(HashMap<String, String>);

impl Options {
    fn parse(args: &[String]) -> Self {
        let mut map = HashMap::new();
        let mut it = args.iter();
        while let Some(key) = it.next() {
            let Some(name) = key.strip_prefix("--") else {
                fail(format!("unexpected argument '{key}'"));
            };
            let Some(value) = it.next() else {
                fail(format!("{key} needs a value"));
            };
            map.insert(name.to_string(), value.clone());
        }
        Self(map)
    }

    fn text(&self, key: &str) -> String {
        self.0
            .get(key)
            .cloned()
            .unwrap_or_else(|| fail(format!("--{key} is required")))
    }

    fn number(&self, key: &str, default: Option<u64>) -> u64 {
        match (self.0.get(key), default) {
            (Some(v), _) => v
                .parse()
                .unwrap_or_else(|_| fail(format!("--{key}: '{v}' is not a whole number"))),
            (None, Some(d)) => d,
            (None, None) => fail(format!("--{key} is required")),
        }
    }
}

/// Parses `0-9,15` into rows.
fn parse_rows(selection: &str) -> Vec<usize> {
    let number = |s: &str| {
        s.trim()
            .parse::<usize>()
            .unwrap_or_else(|_| fail(format!("--rows: '{s}' is not a row number")))
    };
    let mut rows = Vec::new();
    for part in selection.split(',').filter(|p| !p.trim().is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => rows.extend(number(a)..=number(b)),
            None => rows.push(number(part)),
        }
    }
    rows.sort_unstable();
    rows.dedup();
    if rows.is_empty() {
        fail("--rows selects no row");
    }
    rows
}

/// The inputs of an explanation, built as `kiln explain` builds them.
struct Setup {
    bundle: Bundle,
    /// All rows of the data, encoded (`n × width`).
    encoded: Vec<f32>,
    n: usize,
    width: usize,
    rows: Vec<usize>,
    groups: Groups,
    background: Background,
}

impl Setup {
    fn load(o: &Options) -> Self {
        let model = PathBuf::from(o.text("model"));
        let data = PathBuf::from(o.text("data"));
        let rows = parse_rows(&o.text("rows"));
        let k = o.number("background", Some(16)) as usize;
        let seed = o.number("seed", Some(42));
        let bundle = Bundle::load(&model).unwrap_or_else(|e| fail(e));
        let table = kiln::data::read_table(&data).unwrap_or_else(|e| fail(e));
        let m = &bundle.manifest;
        let encoded = m.preprocessor.transform(&table).unwrap_or_else(|e| fail(e));
        if let Some(bad) = rows.iter().find(|&&r| r >= encoded.rows) {
            fail(format!(
                "row {bad} is beyond the {} data rows of {}",
                encoded.rows,
                data.display()
            ));
        }
        let names: Vec<String> = m
            .preprocessor
            .features
            .iter()
            .map(|f| f.column.clone())
            .collect();
        let groups = Groups::from_sources(names, &m.preprocessor.input_sources());
        let sample = m
            .background
            .as_ref()
            .unwrap_or_else(|| fail("the bundle holds no background sample"));
        // As kiln::explain::explain.
        let background = if k == 0 || k >= sample.rows {
            Background::new(sample.values.clone(), sample.width).unwrap_or_else(|e| fail(e))
        } else {
            Background::kmeans(&sample.values, sample.rows, sample.width, k, seed)
        };
        Self {
            encoded: encoded.values,
            n: encoded.rows,
            width: encoded.width,
            rows,
            groups,
            background,
            bundle,
        }
    }

    fn row(&self, r: usize) -> &[f32] {
        &self.encoded[r * self.width..(r + 1) * self.width]
    }
}

fn matrix(values: &[f32], width: usize) -> Value {
    Value::Array(
        values
            .chunks_exact(width)
            .map(|r| json!(r))
            .collect::<Vec<_>>(),
    )
}

fn write_json(path: &Path, value: &Value) {
    let text = serde_json::to_string(value).unwrap_or_else(|e| fail(e));
    std::fs::write(path, text).unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
}

fn prepare(o: &Options) {
    let s = Setup::load(o);
    let m = &s.bundle.manifest;
    let model = BundleModel::new(&s.bundle);
    let outputs = model.outputs();
    let explained: Vec<f32> = s.rows.iter().flat_map(|&r| s.row(r).to_vec()).collect();
    let predictions = model.predict(&s.encoded, s.n);
    let background_predictions = model.predict(&s.background.rows, s.background.n);
    let out = json!({
        "kiln_version": m.kiln_version,
        "network": m.network,
        "objective": m.objective,
        "classes": m.target.classes,
        "features": s.groups.names,
        "input_sources": m.preprocessor.input_sources(),
        "width": s.width,
        "outputs": outputs,
        "rows": s.rows,
        "x": matrix(&explained, s.width),
        "background": {
            "n": s.background.n,
            "values": matrix(&s.background.rows, s.width),
            "weights": s.background.weights,
            "predictions": background_predictions
                .chunks(outputs)
                .map(|p| json!(p))
                .collect::<Vec<_>>(),
        },
        "check": {
            "x": matrix(&s.encoded, s.width),
            "predictions": predictions
                .chunks(outputs)
                .map(|p| json!(p))
                .collect::<Vec<_>>(),
        },
    });
    write_json(Path::new(&o.text("out")), &out);
    println!(
        "{}",
        json!({"rows": s.rows.len(), "data_rows": s.n, "width": s.width,
               "features": s.groups.len(), "background": s.background.n})
    );
}

/// The 1-minute load average (other work on the machine while measuring), if known.
fn load1() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// A model that times its own `predict` calls.
struct Timed<'a> {
    inner: BundleModel<'a>,
    nanos: AtomicU64,
    rows: AtomicU64,
    calls: AtomicU64,
}

impl Model for Timed<'_> {
    fn inputs(&self) -> usize {
        self.inner.inputs()
    }

    fn outputs(&self) -> usize {
        self.inner.outputs()
    }

    fn predict(&self, x: &[f32], rows: usize) -> Vec<f64> {
        let start = Instant::now();
        let out = self.inner.predict(x, rows);
        self.nanos
            .fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.rows.fetch_add(rows as u64, Ordering::Relaxed);
        self.calls.fetch_add(1, Ordering::Relaxed);
        out
    }
}

fn run(o: &Options) {
    let s = Setup::load(o);
    let method = o.text("method");
    let seed = o.number("seed", Some(42));
    let sample_seed = o.number("sample-seed", Some(seed));
    let samples = match method.as_str() {
        "kernel" => o.number("samples", None) as usize,
        "exact" => 0,
        other => fail(format!("--method must be kernel or exact, not '{other}'")),
    };
    let model = Timed {
        inner: BundleModel::new(&s.bundle),
        nanos: AtomicU64::new(0),
        rows: AtomicU64::new(0),
        calls: AtomicU64::new(0),
    };
    // Warm-up: one untimed prediction of WARMUP_ROWS rows (the background, repeated).
    let warm: Vec<f32> = s
        .background
        .rows
        .iter()
        .copied()
        .cycle()
        .take(WARMUP_ROWS * s.width)
        .collect();
    std::hint::black_box(model.inner.predict(&warm, WARMUP_ROWS));

    let mut explained = Vec::new();
    let start = Instant::now();
    for &r in &s.rows {
        let x = s.row(r);
        let a: Attribution = match method.as_str() {
            "kernel" => kiln_explain::kernel(
                &model,
                &s.groups,
                &s.background,
                x,
                samples,
                sample_seed ^ r as u64,
            ),
            _ => kiln_explain::exact(&model, &s.groups, &s.background, x),
        }
        .unwrap_or_else(|e| fail(e));
        explained.push(json!({
            "row": r, "base": a.base, "values": a.values, "prediction": a.prediction,
        }));
    }
    let total = start.elapsed().as_secs_f64();
    let model_s = model.nanos.load(Ordering::Relaxed) as f64 * 1e-9;
    let model_rows = model.rows.load(Ordering::Relaxed);
    let rows = s.rows.len();
    write_json(
        Path::new(&o.text("out")),
        &json!({
            "tool": "kiln", "method": method, "samples": samples,
            "features": s.groups.names, "outputs": model.outputs(), "rows": explained,
        }),
    );
    println!(
        "{}",
        json!({
            "kind": "timing",
            "tool": "kiln",
            "version": format!("kiln {} (burn flex backend, in-process)", kiln::VERSION),
            "method": method,
            "samples": samples,
            "sample_seed": sample_seed,
            "background": s.background.n,
            "features": s.groups.len(),
            "rows": rows,
            "total_s": total,
            "per_row_s": total / rows as f64,
            "model_s": model_s,
            "model_rows": model_rows,
            "model_calls": model.calls.load(Ordering::Relaxed),
            "model_rows_per_s": model_rows as f64 / model_s.max(1e-12),
            "overhead_s": total - model_s,
            "load1": load1(),
        })
    );
}

/// Median seconds of `repeats` calls of `f`, after one untimed call.
fn median_seconds<T>(repeats: usize, mut f: impl FnMut() -> T) -> f64 {
    std::hint::black_box(f());
    let mut times: Vec<f64> = (0..repeats)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Where one model evaluation goes, on 32,768 masked rows of the benchmark (the first row
/// against the background, repeated), in rows per second:
///
/// * `predict`: `BundleModel::predict`, what the explanation methods call (batches of
///   2,048 rows: copy in, `TabularNet::forward`, copy out, softmax and member mean on the
///   host);
/// * `forward`: `TabularNet::forward` on one 2,048-row batch, read back to the host;
/// * `hidden_3d` / `hidden_2d`: one hidden `Linear` (width × width, the model's own size)
///   on the members' features as the network holds them, `[2048, k, width]`, and the same
///   values as one `[2048·k, width]` matrix.
fn profile(o: &Options) {
    use burn::module::Param;
    use burn::nn::Linear;
    use burn::prelude::*;

    let s = Setup::load(o);
    let m = &s.bundle.manifest;
    let model = BundleModel::new(&s.bundle);
    let batch = 2048usize;
    let rows = 16 * batch;
    let x: Vec<f32> = s
        .background
        .rows
        .iter()
        .copied()
        .cycle()
        .take(rows * s.width)
        .collect();
    let predict = median_seconds(5, || model.predict(&x, rows));
    let device = Device::flex();
    let input = || {
        Tensor::<2>::from_data(
            TensorData::new(x[..batch * s.width].to_vec(), [batch, s.width]),
            &device,
        )
    };
    let forward = median_seconds(9, || {
        s.bundle
            .model
            .forward(input())
            .into_data()
            .try_into_vec::<f32>()
            .unwrap()
    });
    let kiln_model::Body::Tabular(shape) = &m.network.body else {
        panic!("the SHAP benchmark trains a tabular model");
    };
    let (k, width) = (shape.ensemble, shape.width);
    let values: Vec<f32> = (0..batch * k * width)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
        .collect();
    let weights: Vec<f32> = (0..width * width)
        .map(|i| ((i * 104_729) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    let linear = Linear {
        weight: Param::from_tensor(Tensor::<2>::from_data(
            TensorData::new(weights, [width, width]),
            &device,
        )),
        bias: Some(Param::from_tensor(Tensor::<1>::zeros([width], &device))),
    };
    let h3 = Tensor::<3>::from_data(TensorData::new(values.clone(), [batch, k, width]), &device);
    let h2 = Tensor::<2>::from_data(TensorData::new(values, [batch * k, width]), &device);
    let hidden_3d = median_seconds(9, || {
        linear
            .forward(h3.clone())
            .into_data()
            .try_into_vec::<f32>()
            .unwrap()
    });
    let hidden_2d = median_seconds(9, || {
        linear
            .forward(h2.clone())
            .into_data()
            .try_into_vec::<f32>()
            .unwrap()
    });
    // Multiply-adds per row of the network (the members' hidden layers dominate).
    let depth = shape.depth;
    let macs =
        (s.width * width + k * (depth - 1) * width * width + k * width * m.network.outputs) as f64;
    let gflops = |rows: f64, seconds: f64| 2.0 * macs * rows / seconds / 1e9;
    let layer_gflops = |seconds: f64| 2.0 * (batch * k * width * width) as f64 / seconds / 1e9;
    println!(
        "{}",
        json!({
            "kind": "profile",
            "tool": "kiln",
            "multiply_adds_per_row": macs,
            "predict_rows_per_s": rows as f64 / predict,
            "predict_gflops": gflops(rows as f64, predict),
            "forward_rows_per_s": batch as f64 / forward,
            "forward_gflops": gflops(batch as f64, forward),
            "hidden_3d_s": hidden_3d,
            "hidden_3d_gflops": layer_gflops(hidden_3d),
            "hidden_2d_s": hidden_2d,
            "hidden_2d_gflops": layer_gflops(hidden_2d),
            "batch": batch,
            "ensemble": k,
            "width": width,
            "load1": load1(),
        })
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        fail("usage: kiln-shap prepare|run --model M --data D --rows A-B ... (see the source)");
    };
    let options = Options::parse(rest);
    match command.as_str() {
        "prepare" => prepare(&options),
        "run" => run(&options),
        "profile" => profile(&options),
        other => fail(format!(
            "unknown subcommand '{other}' (prepare, run or profile)"
        )),
    }
}
