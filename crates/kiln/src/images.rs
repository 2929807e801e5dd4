//! Training on image data: a folder of IDX files becomes rows of raw pixel values
//! (`pixel1` … `pixelN`, as Fashion-MNIST's CSV names them), a convolutional network learns
//! them with augmentation, and the bundle is an ordinary one, so evaluation, prediction and
//! serving take pixel rows as they take any table.

use crate::bundle::{Bundle, DataSummary, Manifest};
use crate::config::Config;
use crate::error::KilnError;
use crate::pipeline::{TrainHooks, TrainRun, labelled_sample, score};
use burn::prelude::Device;
use kiln_data::infer::ColumnKind;
use kiln_data::preprocess::{Feature, FeatureEncoder};
use kiln_data::{Encoded, ImageSet, Preprocessor, Target, Task, read_image_data, split_indices};
use kiln_model::{Body, ImageShape, NetworkConfig, PixelScale};
use kiln_train::{EpochReport, Matrix, Objective, diagnose, fit};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// The name of an image data set's label, as its bundle's target.
const LABEL: &str = "label";
/// Images per mini-batch unless the config says otherwise.
const IMAGE_BATCH: usize = 128;
/// Passes over the training images unless the config says otherwise: on Fashion-MNIST's
/// 50,400 training images, the default network's 15 epochs take about 13 minutes on 2 cores.
const IMAGE_EPOCHS: usize = 15;

/// The input column names of images with `len` values: `pixel1` … `pixel{len}`.
pub fn pixel_columns(len: usize) -> Vec<String> {
    (1..=len).map(|i| format!("pixel{i}")).collect()
}

/// Trains a convolutional network on the image data set in the folder `data`.
pub fn train_images(
    data: &Path,
    config: &Config,
    hooks: &mut TrainHooks,
) -> Result<TrainRun, KilnError> {
    config.validate().map_err(KilnError::Config)?;
    let images = read_image_data(data)?;
    let shape = ImageShape {
        channels: images.train.channels,
        height: images.train.height,
        width: images.train.width,
    };
    let classes = images.classes.len();
    let mut notes = vec![format!(
        "task: multiclass (image data: {} classes of {}×{} images with {} channel{})",
        classes,
        shape.height,
        shape.width,
        shape.channels,
        if shape.channels == 1 { "" } else { "s" }
    )];
    if classes < 2 {
        return Err(kiln_data::DataError::BadTarget {
            file: images.train.source.clone(),
            column: LABEL.into(),
            problem: "has a single class; at least two are needed to learn to tell them apart"
                .into(),
        }
        .into());
    }
    let all: Vec<usize> = (0..images.train.len()).collect();
    let test_fraction = match &images.test {
        Some(test) => {
            notes.push(format!(
                "test images: the data set's own test files ({} images)",
                test.len()
            ));
            0.0
        }
        None => config.data.test_fraction,
    };
    let split = split_indices(
        &all,
        Some(&images.train.labels),
        config.data.valid_fraction,
        test_fraction,
        config.seed,
    );
    let x_all = pixels(&images.train);
    let y_all: Vec<f32> = images.train.labels.iter().map(|&l| l as f32).collect();
    let width = shape.len();
    let encoded = Encoded {
        values: x_all,
        rows: images.train.len(),
        width,
        ignored_columns: Vec::new(),
        unseen_levels: Vec::new(),
    };
    let part = |rows: &[usize]| crate::pipeline::rows_of(&encoded, &y_all, rows);
    let (train_x, train_y) = part(&split.train);
    let (valid_x, valid_y) = part(&split.valid);
    let (test_encoded, test_y, test_rows) = match &images.test {
        Some(test) => {
            let y: Vec<f32> = test.labels.iter().map(|&l| l as f32).collect();
            let encoded = Encoded {
                values: pixels(test),
                rows: test.len(),
                width,
                ignored_columns: Vec::new(),
                unseen_levels: Vec::new(),
            };
            let rows: Vec<usize> = (0..test.len()).collect();
            (encoded, y, rows)
        }
        None => {
            let (x, y) = part(&split.test);
            let n = y.len();
            let encoded = Encoded {
                values: x,
                rows: n,
                width,
                ignored_columns: Vec::new(),
                unseen_levels: Vec::new(),
            };
            (encoded, y, (0..n).collect())
        }
    };
    let scale = pixel_scale(&train_x);
    let network = NetworkConfig {
        inputs: width,
        outputs: classes,
        body: Body::Conv {
            image: shape,
            shape: config.image.clone(),
            scale,
        },
    };
    network.validate().map_err(KilnError::Config)?;
    notes.push(format!("network: {}", network.describe()));
    notes.push(config.train.augment.describe(&shape));
    let objective = Objective::Classification { classes };
    let mut options = config.train.clone();
    if options.batch_size == 0 {
        options.batch_size = IMAGE_BATCH;
    }
    if options.epochs == 0 {
        options.epochs = IMAGE_EPOCHS;
    }
    let never = AtomicBool::new(false);
    let stop = hooks.stop.unwrap_or(&never);
    let mut ignore = |_: &EpochReport| {};
    let on_epoch: &mut dyn FnMut(&EpochReport) = match hooks.on_epoch.as_mut() {
        Some(f) => *f,
        None => &mut ignore,
    };
    let train_device = config.train.device.device().map_err(KilnError::Config)?;
    let started = Instant::now();
    let (vx, vy) = if split.valid.is_empty() {
        (&train_x, &train_y)
    } else {
        (&valid_x, &valid_y)
    };
    let outcome = fit(
        &network,
        (Matrix::new(&train_x, train_y.len(), width), &train_y),
        (Matrix::new(vx, vy.len(), width), vy),
        &objective,
        &options,
        config.seed,
        &train_device,
        stop,
        on_epoch,
    );
    let train_seconds = started.elapsed().as_secs_f64();
    notes.push(format!(
        "trained {} epochs of batch {} ({:.1} s in all, {:.0} images/s); {}; kept epoch {}",
        outcome.curve.len(),
        outcome.batches.batch_size,
        train_seconds,
        (train_y.len() * outcome.curve.len()) as f64 / train_seconds.max(1e-9),
        outcome.stop_reason,
        outcome.best_epoch
    ));
    notes.extend(diagnose(&outcome.curve, outcome.best_epoch, &objective));
    notes.push("no refit on training + validation images: the early-stopped model is kept".into());
    let device = Device::flex();
    let evaluate = |x: &[f32], y: &[f32]| {
        let out = kiln_train::predict(
            &outcome.model,
            Matrix::new(x, y.len(), width),
            &objective,
            &device,
        );
        score(&out, y, &objective)
    };
    let (valid_metrics, _) = evaluate(vx, vy);
    let (test_metrics, confusion) = evaluate(&test_encoded.values, &test_y);
    let columns = pixel_columns(width);
    let preprocessor = Preprocessor {
        features: columns
            .iter()
            .map(|c| Feature {
                column: c.clone(),
                kind: ColumnKind::Numeric,
                encoder: FeatureEncoder::Pixel,
            })
            .collect(),
        dropped: Vec::new(),
        target: LABEL.into(),
    };
    let manifest = Manifest {
        kiln_version: crate::VERSION.to_string(),
        config: config.clone(),
        seed: config.seed,
        target: Target {
            column: LABEL.into(),
            task: Task::Multiclass,
            classes: images.classes.clone(),
            reason: "image data: one class per label".into(),
        },
        preprocessor,
        network,
        objective,
        data: DataSummary {
            source: data.display().to_string(),
            rows: images.train.len() + images.test.as_ref().map_or(0, ImageSet::len),
            rows_without_target: 0,
            train_rows: split.train.len(),
            valid_rows: split.valid.len(),
            test_rows: test_y.len(),
        },
        test_metrics,
        valid_metrics,
        confusion_matrix: confusion,
        curve: outcome.curve,
        best_epoch: outcome.best_epoch,
        stop_reason: outcome.stop_reason,
        batches: outcome.batches,
        train_seconds,
        notes,
        profile: None,
        background: None,
        replay: Some(labelled_sample(&encoded, &y_all, &split.train, config.seed)),
        holdout: Some(labelled_sample(
            &test_encoded,
            &test_y,
            &test_rows,
            config.seed,
        )),
        lineage: None,
    };
    Ok(TrainRun {
        bundle: Bundle {
            manifest,
            model: outcome.model,
        },
    })
}

/// The pixels of every image as floats, image after image.
fn pixels(set: &ImageSet) -> Vec<f32> {
    set.pixels.iter().map(|&p| f32::from(p)).collect()
}

/// Mean and standard deviation of the training pixels.
fn pixel_scale(values: &[f32]) -> PixelScale {
    let n = values.len().max(1) as f64;
    let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = values
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    PixelScale {
        mean,
        std: var.sqrt().max(1e-6),
    }
}
