//! Kiln's side of the MLP benchmark (`bench/run_mlp.sh` runs it beside PyTorch): the same
//! network, data shape, batch and optimiser as `bench/mlp_torch.py`, timed the same way.
//! Prints one JSON object on stdout.

use burn::optim::AdamWConfig;
use burn::prelude::*;
use kiln_model::{Activation, Body, NetworkConfig, NetworkShape};
use kiln_train::fit::run_epoch;
use kiln_train::{Matrix, Objective, Predictor};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

const ROWS: usize = 20_000;
const FEATURES: usize = 64;
const HIDDEN: usize = 256;
const CLASSES: usize = 10;
const BATCH: usize = 256;
const EPOCHS: usize = 5;

/// Standard normal by Box-Muller.
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

/// The benchmark's data: Gaussian features, labels from a random linear map plus noise.
fn make_data() -> (Vec<f32>, Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let x: Vec<f32> = (0..ROWS * FEATURES)
        .map(|_| normal(&mut rng) as f32)
        .collect();
    let w: Vec<f64> = (0..FEATURES * CLASSES).map(|_| normal(&mut rng)).collect();
    let y = (0..ROWS)
        .map(|r| {
            let scores: Vec<f64> = (0..CLASSES)
                .map(|c| {
                    (0..FEATURES)
                        .map(|f| f64::from(x[r * FEATURES + f]) * w[f * CLASSES + c])
                        .sum::<f64>()
                        + 0.5 * normal(&mut rng)
                })
                .collect();
            (0..CLASSES)
                .max_by(|&a, &b| scores[a].total_cmp(&scores[b]))
                .unwrap() as f32
        })
        .collect();
    (x, y)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    let pos = (sorted.len() - 1) as f64 * q / 100.0;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

fn main() {
    if std::env::args().nth(1).as_deref() != Some("mlp") {
        eprintln!("usage: kiln-bench mlp");
        std::process::exit(2);
    }
    let (x, y) = make_data();
    let matrix = Matrix::new(&x, ROWS, FEATURES);
    let objective = Objective::Classification { classes: CLASSES };
    let config = NetworkConfig {
        inputs: FEATURES,
        outputs: CLASSES,
        body: Body::Tabular(NetworkShape {
            depth: 2,
            width: HIDDEN,
            dropout: 0.1,
            activation: Activation::Relu,
            layer_norm: false,
            ensemble: 1,
        }),
    };
    let device = Device::flex();
    let ad = device.clone().autodiff();
    let mut model = config.init(&ad, 0);
    // AdamW without weight decay is Adam.
    let mut optim = AdamWConfig::new().with_weight_decay(0.0).init();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut noise = ChaCha8Rng::seed_from_u64(2);
    let mut order: Vec<usize> = (0..ROWS).collect();
    let mut rates = Vec::new();
    let mut final_loss = 0.0;
    for epoch in 0..=EPOCHS {
        let start = Instant::now();
        order.shuffle(&mut rng);
        let (next, loss) = run_epoch(
            model,
            &mut optim,
            (matrix, &y),
            &order,
            BATCH,
            &mut |_| 1e-3,
            1.0,
            &mut noise,
            None,
            (&objective, &[]),
            None,
            &ad,
        );
        model = next;
        let secs = start.elapsed().as_secs_f64();
        eprintln!("epoch {epoch}: {secs:.3} s, loss {loss:.4}");
        if epoch > 0 {
            rates.push(ROWS as f64 / secs);
            final_loss = loss;
        }
    }
    let eval = model.valid();
    // Prediction as Kiln runs it (`kiln predict`, `kiln serve`): weights on the host, once.
    let predictor = Predictor::new(&eval);
    let rows = |s: usize, e: usize| {
        Matrix::new(
            &matrix.values[s * matrix.width..e * matrix.width],
            e - s,
            matrix.width,
        )
    };
    let infer_pass = || {
        let start = Instant::now();
        let mut s = 0;
        while s < ROWS {
            let e = (s + BATCH).min(ROWS);
            let out = predictor.predict(rows(s, e), &objective, &device);
            std::hint::black_box(out);
            s = e;
        }
        ROWS as f64 / start.elapsed().as_secs_f64()
    };
    infer_pass();
    let infer = median((0..5).map(|_| infer_pass()).collect());
    let one = |i: usize| {
        let start = Instant::now();
        let out = predictor.predict(rows(i, i + 1), &objective, &device);
        std::hint::black_box(out);
        start.elapsed().as_secs_f64() * 1000.0
    };
    for i in 0..100 {
        one(i);
    }
    let mut lat: Vec<f64> = (0..1000).map(|i| one(i % ROWS)).collect();
    lat.sort_by(f64::total_cmp);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "{}",
        serde_json::json!({
            "framework": "kiln",
            "version": format!("kiln {} (burn 0.22.1, flex backend)", env!("CARGO_PKG_VERSION")),
            "threads": threads,
            "train_samples_per_s": median(rates),
            "infer_samples_per_s": infer,
            "batch1_latency_ms_p50": percentile(&lat, 50.0),
            "batch1_latency_ms_p99": percentile(&lat, 99.0),
            "train_epochs": EPOCHS,
            "final_train_loss": final_loss,
        })
    );
}
