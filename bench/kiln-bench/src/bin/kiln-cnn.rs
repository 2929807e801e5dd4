//! Kiln's side of the CNN benchmark (`bench/cnn.sh` runs it beside `bench/cnn_torch.py`): the
//! same images, models, batch and optimiser as the PyTorch side, timed the same way.
//!
//! ```text
//! kiln-cnn --data DIR [--model reference|kiln] [--rows N] [--epochs N] [--batch N]
//! ```
//!
//! `--data DIR` is a folder of Fashion-MNIST IDX files, read with
//! `kiln::data::read_image_data`; the first `--rows` training images (default 10,000) are
//! used. Models:
//!
//! - `reference`: the "2-conv CNN", defined below as a small burn module: Conv2d(1, 32, 3),
//!   ReLU, Conv2d(32, 64, 3), ReLU, 2×2 max pooling, Linear(64·12·12, 128), ReLU,
//!   Linear(128, classes); pixels standardised inside `forward`. Trained by the loop in
//!   [`train_reference`] (cross-entropy, Adam).
//! - `kiln`: Kiln's own CNN, `kiln_model::ConvShape::default()`, built through
//!   `NetworkConfig` as `kiln train` builds it for image data and trained with
//!   `kiln_train::fit::run_epoch` (no augmentation, no EWC penalty, constant learning rate).
//!
//! Both: Adam (AdamW without weight decay), lr 1e-3, batch 128, 1 warm-up epoch then
//! `--epochs` timed epochs (default 2) over seeded shuffles, keeping the last partial batch;
//! inference in eval mode without autodiff, batches of 1,000 over all rows, 1 warm-up pass
//! then 3 timed passes. Prints one JSON object on stdout; progress goes to stderr.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::activation::{log_softmax, relu};
use kiln_model::kernels::{conv2d_relu, max_pool_2x2};
use kiln_model::{Body, ConvShape, ImageShape, NetworkConfig, PixelScale};
use kiln_train::fit::run_epoch;
use kiln_train::predict::combine_members;
use kiln_train::{Matrix, Objective};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

// The allocator the `kiln` command uses, so the benchmark measures what users run.
use kiln_alloc as _;

const BATCH: usize = 128;
const INFER_BATCH: usize = 1000;
const INFER_REPEATS: usize = 3;
const LEARNING_RATE: f64 = 1e-3;

fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("kiln-cnn: {message}");
    std::process::exit(2);
}

/// `--key value` pairs.
struct Options(HashMap<String, String>);

impl Options {
    fn parse(args: &[String]) -> Self {
        let mut map = HashMap::new();
        let mut it = args.iter();
        while let Some(key) = it.next() {
            let Some(name) = key.strip_prefix("--") else {
                fail(format!(
                    "unexpected argument '{key}'; usage: kiln-cnn --data DIR \
                     [--model reference|kiln] [--rows N] [--epochs N] [--batch N]"
                ));
            };
            let Some(value) = it.next() else {
                fail(format!("{key} needs a value"));
            };
            map.insert(name.to_string(), value.clone());
        }
        for key in map.keys() {
            if !["data", "model", "rows", "epochs", "batch"].contains(&key.as_str()) {
                fail(format!("unknown option --{key}"));
            }
        }
        Self(map)
    }

    fn text(&self, key: &str, default: Option<&str>) -> String {
        match (self.0.get(key), default) {
            (Some(v), _) => v.clone(),
            (None, Some(d)) => d.to_string(),
            (None, None) => fail(format!("--{key} is required")),
        }
    }

    /// A whole number of at least 1.
    fn count(&self, key: &str, default: usize) -> usize {
        match self.0.get(key) {
            None => default,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if n >= 1 => n,
                _ => fail(format!(
                    "--{key} must be a whole number of at least 1, not '{v}'"
                )),
            },
        }
    }
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

/// An unpadded convolution layer and its ReLU, run by Kiln's convolution kernel as one pass, as
/// Kiln's own CNN runs its layers.
fn convolve_relu(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    conv2d_relu(
        x,
        conv.weight.val(),
        conv.bias.as_ref().map(|b| b.val()),
        [0, 0],
    )
}

/// The "2-conv CNN" of the benchmark: two unpadded 3×3 convolutions with ReLU, one 2×2 max
/// pooling, a hidden layer of 128 and the output layer; no dropout, no batch norm. Reads rows
/// of raw pixel values and standardises them itself, as Kiln's `ConvNet` does.
#[derive(Module, Debug)]
struct Reference {
    conv1: Conv2d,
    conv2: Conv2d,
    fc1: Linear,
    fc2: Linear,
    image: [usize; 3],
    mean: f64,
    std: f64,
}

impl Reference {
    fn new(image: ImageShape, scale: PixelScale, classes: usize, device: &Device) -> Self {
        let features = 64 * ((image.height - 4) / 2) * ((image.width - 4) / 2);
        Self {
            conv1: Conv2dConfig::new([image.channels, 32], [3, 3]).init(device),
            conv2: Conv2dConfig::new([32, 64], [3, 3]).init(device),
            fc1: LinearConfig::new(features, 128).init(device),
            fc2: LinearConfig::new(128, classes).init(device),
            image: [image.channels, image.height, image.width],
            mean: scale.mean,
            std: if scale.std > 0.0 { scale.std } else { 1.0 },
        }
    }

    /// Logits `[batch, classes]` for rows of raw pixel values `[batch, c·h·w]`.
    fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [batch, _] = x.dims();
        let [c, h, w] = self.image;
        let x = x.sub_scalar(self.mean).div_scalar(self.std);
        let x: Tensor<4> = x.reshape([batch, c, h, w]);
        let x = convolve_relu(&self.conv1, x);
        let x = convolve_relu(&self.conv2, x);
        let x = max_pool_2x2(x);
        let features = x.dims()[1..].iter().product::<usize>();
        let x: Tensor<2> = x.reshape([batch, features]);
        let x = relu(self.fc1.forward(x));
        self.fc2.forward(x)
    }
}

/// Copies the given rows of `x` (`width` values each) and their labels into new buffers.
fn gather(x: &[f32], width: usize, y: &[f32], rows: &[usize]) -> (Vec<f32>, Vec<i64>) {
    let mut bx = Vec::with_capacity(rows.len() * width);
    let mut by = Vec::with_capacity(rows.len());
    for &r in rows {
        bx.extend_from_slice(&x[r * width..(r + 1) * width]);
        by.push(y[r] as i64);
    }
    (bx, by)
}

/// One epoch of the reference model over `order` in batches of `batch`: cross-entropy,
/// backward, Adam step. Returns the model and the mean loss, weighted by batch size.
fn train_reference(
    mut model: Reference,
    optim: &mut ModuleOptimizer,
    data: (Matrix, &[f32]),
    order: &[usize],
    batch: usize,
    device: &Device,
) -> (Reference, f64) {
    let (x, y) = data;
    let mut total = 0.0;
    for chunk in order.chunks(batch) {
        let n = chunk.len();
        let (bx, by) = gather(x.values, x.width, y, chunk);
        let inputs = Tensor::<2>::from_data(TensorData::new(bx, [n, x.width]), device);
        let labels = Tensor::<1, Int>::from_data(TensorData::new(by, [n]), device).reshape([n, 1]);
        let loss = log_softmax(model.forward(inputs), 1)
            .gather(1, labels)
            .mean()
            .neg();
        total += f64::from(loss.clone().into_scalar::<f32>()) * n as f64;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(LEARNING_RATE, model, grads);
    }
    (model, total / order.len().max(1) as f64)
}

/// What one run measured.
struct Measured {
    train_rates: Vec<f64>,
    infer: f64,
    final_loss: f64,
    params: usize,
}

/// Rows per second of one pass of `forward` over all rows of `x` in batches of `INFER_BATCH`.
fn infer_pass(x: Matrix, device: &Device, forward: &dyn Fn(Tensor<2>)) -> f64 {
    let start = Instant::now();
    let mut s = 0;
    while s < x.rows {
        let e = (s + INFER_BATCH).min(x.rows);
        forward(x.tensor(s, e, device));
        s = e;
    }
    x.rows as f64 / start.elapsed().as_secs_f64()
}

/// The median of `INFER_REPEATS` timed inference passes after one untimed warm-up pass.
fn infer_rate(x: Matrix, device: &Device, forward: &dyn Fn(Tensor<2>)) -> f64 {
    let warm = infer_pass(x, device, forward);
    eprintln!("inference warm-up pass: {warm:.1} samples/s");
    median(
        (1..=INFER_REPEATS)
            .map(|rep| {
                let rate = infer_pass(x, device, forward);
                eprintln!("inference pass {rep}/{INFER_REPEATS}: {rate:.1} samples/s");
                rate
            })
            .collect(),
    )
}

/// Runs the warm-up epoch and `epochs` timed epochs of `epoch` (which trains the model it
/// holds once over the order given); the samples/s of each timed epoch and the last loss.
fn timed_epochs(
    rows: usize,
    epochs: usize,
    mut epoch: impl FnMut(&[usize]) -> f64,
) -> (Vec<f64>, f64) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut order: Vec<usize> = (0..rows).collect();
    let mut rates = Vec::new();
    let mut final_loss = f64::NAN;
    for e in 0..=epochs {
        let start = Instant::now();
        order.shuffle(&mut rng);
        let loss = epoch(&order[..]);
        let secs = start.elapsed().as_secs_f64();
        let rate = rows as f64 / secs;
        if e == 0 {
            eprintln!("warm-up epoch: {secs:.3} s, {rate:.1} samples/s, loss {loss:.4}");
        } else {
            eprintln!("epoch {e}/{epochs}: {secs:.3} s, {rate:.1} samples/s, loss {loss:.4}");
            rates.push(rate);
            final_loss = loss;
        }
    }
    (rates, final_loss)
}

fn main() {
    kiln_alloc::keep_freed_memory();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = Options::parse(&args);
    let data_dir = PathBuf::from(options.text("data", None));
    let model_name = options.text("model", Some("reference"));
    if model_name != "reference" && model_name != "kiln" {
        fail(format!(
            "--model must be reference or kiln, not '{model_name}'"
        ));
    }
    let rows = options.count("rows", 10_000);
    let epochs = options.count("epochs", 2);
    let batch = options.count("batch", BATCH);

    let data = kiln::data::read_image_data(&data_dir, &kiln::data::ImageOptions::default())
        .unwrap_or_else(|e| fail(format!("cannot read {}: {e}", data_dir.display())));
    let train = &data.train;
    if rows > train.len() {
        fail(format!(
            "--rows {rows}: {} has only {} training images",
            data_dir.display(),
            train.len()
        ));
    }
    let image = ImageShape {
        channels: train.channels,
        height: train.height,
        width: train.width,
    };
    let width = image.len();
    let classes = data.classes.len();
    let x: Vec<f32> = train.pixels[..rows * width]
        .iter()
        .map(|&p| f32::from(p))
        .collect();
    let y: Vec<f32> = train.labels[..rows].iter().map(|&l| l as f32).collect();
    let n = x.len() as f64;
    let pixel_mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let pixel_std = (x
        .iter()
        .map(|&v| (f64::from(v) - pixel_mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    let scale = PixelScale {
        mean: pixel_mean,
        std: pixel_std,
    };
    eprintln!(
        "data: {rows} images {}x{}x{}, {classes} classes, pixel mean {pixel_mean:.4}, std {pixel_std:.4}",
        image.channels, image.height, image.width
    );
    let matrix = Matrix::new(&x, rows, width);

    let device = Device::flex();
    let ad = device.clone().autodiff();
    // AdamW without weight decay is Adam.
    let mut optim = AdamWConfig::new().with_weight_decay(0.0).init();

    let (measured, arch) = if model_name == "kiln" {
        let shape = ConvShape::default();
        let arch = json!({
            "stages": shape.stages,
            "convs_per_stage": shape.convs_per_stage,
            "hidden": shape.hidden,
            "dropout": shape.dropout,
        });
        let config = NetworkConfig {
            inputs: width,
            outputs: classes,
            body: Body::Conv {
                image,
                shape,
                scale,
            },
        };
        config
            .validate()
            .unwrap_or_else(|e| fail(format!("Kiln's default CNN does not fit the data: {e}")));
        eprintln!("model kiln: {}", config.describe());
        let objective = Objective::Classification { classes };
        let mut model = Some(config.init(&ad, 0));
        let params = Module::num_params(model.as_ref().unwrap());
        let mut noise = ChaCha8Rng::seed_from_u64(2);
        let (train_rates, final_loss) = timed_epochs(rows, epochs, |order| {
            let (next, loss) = run_epoch(
                model.take().unwrap(),
                &mut optim,
                (matrix, &y),
                order,
                batch,
                &mut |_| LEARNING_RATE,
                1.0,
                &mut noise,
                None,
                (&objective, &[]),
                None,
                &ad,
            );
            model = Some(next);
            loss
        });
        let eval = model.unwrap().valid();
        let infer = infer_rate(matrix, &device, &|t: Tensor<2>| {
            let out = eval.forward(t);
            let [_, members, width] = out.dims();
            let raw = out.into_data().try_into_vec::<f32>().expect("f32 outputs");
            std::hint::black_box(combine_members(&raw, members, width, &objective));
        });
        let measured = Measured {
            train_rates,
            infer,
            final_loss,
            params,
        };
        (measured, arch)
    } else {
        if image.channels != 1 || image.height < 6 || image.width < 6 {
            fail(format!(
                "the reference model reads grey images of at least 6×6, not {}×{}×{}",
                image.channels, image.height, image.width
            ));
        }
        // The backend's generator draws the initial weights (burn's default initialisers).
        ad.seed(0);
        let mut model = Some(Reference::new(image, scale, classes, &ad));
        let params = Module::num_params(model.as_ref().unwrap());
        let (train_rates, final_loss) = timed_epochs(rows, epochs, |order| {
            let (next, loss) = train_reference(
                model.take().unwrap(),
                &mut optim,
                (matrix, &y),
                order,
                batch,
                &ad,
            );
            model = Some(next);
            loss
        });
        let eval = model.unwrap().valid();
        let infer = infer_rate(matrix, &device, &|t: Tensor<2>| {
            std::hint::black_box(eval.forward(t).into_data());
        });
        let measured = Measured {
            train_rates,
            infer,
            final_loss,
            params,
        };
        (
            measured,
            json!({"convs": [32, 64], "kernel": 3, "pool": 2, "hidden": 128}),
        )
    };
    eprintln!("{} parameters and buffers", measured.params);

    // burn's flex backend runs on rayon's global pool, which RAYON_NUM_THREADS sizes.
    let threads = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    println!(
        "{}",
        json!({
            "framework": "kiln",
            "version": format!("kiln {} (burn 0.22.1, flex backend)", env!("CARGO_PKG_VERSION")),
            "threads": threads,
            "model": model_name,
            "arch": arch,
            "params": measured.params,
            "rows": rows,
            "batch": batch,
            "pixel_mean": pixel_mean,
            "pixel_std": pixel_std,
            "train_samples_per_s": median(measured.train_rates),
            "infer_samples_per_s": measured.infer,
            "final_train_loss": measured.final_loss,
            "epochs": epochs,
        })
    );
}
