//! The pipeline: train a model from a table, evaluate it on labelled rows, predict new rows.

use crate::bundle::{Bundle, DataSummary, Manifest};
use crate::config::Config;
use crate::error::KilnError;
use crate::label_shift::{ClassShares, Priors};
use burn::prelude::Device;
use kiln_data::{
    Encoded, Preprocessor, Table, Task, infer_columns, infer_task, preprocess::FeatureEncoder,
    read_table, split_indices,
};
use kiln_train::{
    EpochReport, Matrix, Metrics, Objective, WarmStart, confusion_matrix, diagnose, fit_from,
};
use serde::Serialize;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// A callback run after every epoch with its figures.
pub type EpochObserver<'a> = &'a mut dyn FnMut(&EpochReport);

/// Ways for a caller to watch and stop training.
#[derive(Default)]
pub struct TrainHooks<'a> {
    /// Set to stop after the current epoch, keeping the best weights so far.
    pub stop: Option<&'a AtomicBool>,
    /// Called after every epoch.
    pub on_epoch: Option<EpochObserver<'a>>,
    /// Where to keep a checkpoint of the fit while it trains; a run of the same data,
    /// settings and seed that finds one there continues from it.
    pub checkpoint: Option<std::path::PathBuf>,
}

/// The stop flag of runs given none: never set.
static NEVER: AtomicBool = AtomicBool::new(false);

impl<'a> TrainHooks<'a> {
    /// The flag that asks training to stop (one that is never set when none was given).
    pub fn stop_flag(&self) -> &'a AtomicBool {
        self.stop.unwrap_or(&NEVER)
    }

    /// Tells the epoch observer, if any, about an epoch.
    pub fn observe(&mut self, report: &EpochReport) {
        if let Some(f) = self.on_epoch.as_mut() {
            f(report);
        }
    }
}

/// Training rows kept in a bundle for explanations, at most.
const BACKGROUND_ROWS: usize = 512;

/// Up to [`BACKGROUND_ROWS`] training rows spread evenly over the (shuffled, per-class)
/// training list, so every class is represented in proportion.
pub(crate) fn background_sample(encoded: &Encoded, train: &[usize]) -> crate::bundle::EncodedRows {
    let n = train.len().min(BACKGROUND_ROWS);
    let width = encoded.width;
    let mut values = Vec::with_capacity(n * width);
    for i in 0..n {
        let row = train[i * train.len() / n];
        values.extend_from_slice(&encoded.values[row * width..(row + 1) * width]);
    }
    crate::bundle::EncodedRows {
        rows: n,
        width,
        values,
    }
}

/// Most rows a bundle keeps with their targets, for replay and for measuring forgetting.
pub const KEPT_ROWS: usize = 2000;
/// Most values those rows may hold, so wide data keeps fewer rows and bundles stay small.
const KEPT_VALUES: usize = 400_000;

/// How many of `targets` (encoded) fall in each class; empty for regression.
pub(crate) fn class_rows(objective: &Objective, targets: impl Iterator<Item = f32>) -> Vec<usize> {
    let Objective::Classification { classes } = objective else {
        return Vec::new();
    };
    let mut counts = vec![0; *classes];
    for class in targets {
        if let Some(n) = counts.get_mut(class as usize) {
            *n += 1;
        }
    }
    counts
}

/// A seeded sample of at most [`KEPT_ROWS`] of `rows` (fewer for wide data), with their targets.
pub fn labelled_sample(
    encoded: &Encoded,
    y: &[f32],
    rows: &[usize],
    seed: u64,
) -> crate::bundle::LabelledRows {
    use rand::SeedableRng;
    use rand::seq::SliceRandom;
    let mut chosen = rows.to_vec();
    chosen.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(
        seed ^ 0x5eed_5a3b_1e00_0001,
    ));
    chosen.truncate(KEPT_ROWS.min((KEPT_VALUES / encoded.width.max(1)).max(100)));
    let (values, targets) = rows_of(encoded, y, &chosen);
    crate::bundle::LabelledRows {
        inputs: crate::bundle::EncodedRows {
            rows: chosen.len(),
            width: encoded.width,
            values,
        },
        targets,
        represents: rows.len(),
    }
}

/// The result of training: the bundle, ready to save.
#[derive(Debug)]
pub struct TrainRun {
    /// The trained model and its manifest.
    pub bundle: Bundle,
}

/// A table read, its target encoded and its columns planned: what training and tuning share.
pub struct Prepared {
    /// The table.
    pub table: Table,
    /// The target column, task and classes.
    pub target: kiln_data::Target,
    /// Encoded target per row (NaN where missing).
    pub y_all: Vec<f32>,
    /// Rows with a target value.
    pub labelled: Vec<usize>,
    /// Each feature column's role.
    pub plans: Vec<kiln_data::ColumnPlan>,
    /// Rows without a target value.
    pub rows_without_target: usize,
    /// Decisions so far, in words.
    pub notes: Vec<String>,
}

/// Reads the table at `data` and prepares it as `config` says; `anomalies` become notes.
pub fn prepare(
    data: &Path,
    config: &Config,
    anomalies: &[kiln_profile::Anomaly],
) -> Result<Prepared, KilnError> {
    if kiln_data::is_image_data(data) {
        return Err(KilnError::Config(format!(
            "'{}' is a folder of images: `kiln train` trains on it, but this command needs a table (CSV, TSV or Parquet); to try other network shapes, set [image] in a config for `kiln train`",
            data.display()
        )));
    }
    let table = read_table(data)?;
    let target_name = config.data.target.clone().ok_or_else(|| {
        KilnError::Config(format!(
            "no target column given; pass --target COLUMN (columns: {})",
            table
                .columns
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let target = infer_task(&table, &target_name, config.data.task)?;
    let encoded_target = target.encode(&table)?;
    let labelled: Vec<usize> = (0..table.n_rows())
        .filter(|&r| encoded_target[r].is_some())
        .collect();
    let y_all: Vec<f32> = encoded_target
        .iter()
        .map(|v| v.unwrap_or(f32::NAN))
        .collect();
    let mut notes = vec![format!("task: {} ({})", target.task, target.reason)];
    for a in anomalies {
        let level = match a.severity {
            kiln_profile::Severity::Error => "error",
            kiln_profile::Severity::Warning => "warning",
        };
        notes.push(format!("data {level}: {}", crate::validation::describe(a)));
    }
    let rows_without_target = table.n_rows() - labelled.len();
    if rows_without_target > 0 {
        notes.push(format!(
            "{rows_without_target} rows have no target value and were left out"
        ));
    }
    if labelled.len() < 10 {
        return Err(kiln_data::DataError::BadTarget {
            file: table.source.clone(),
            column: target_name,
            problem: format!(
                "has only {} labelled rows; at least 10 are needed to train and test",
                labelled.len()
            ),
        }
        .into());
    }
    let mut plans = infer_columns(&table, &target_name)?;
    for name in &config.data.drop {
        match plans.iter_mut().find(|p| p.name == *name) {
            Some(p) => p.use_as = Err(kiln_data::infer::DropReason::Requested),
            None => {
                return Err(KilnError::Config(format!(
                    "data.drop names column '{name}', which '{}' does not have",
                    table.source
                )));
            }
        }
    }
    Ok(Prepared {
        table,
        target,
        y_all,
        labelled,
        plans,
        rows_without_target,
        notes,
    })
}

/// Trains a model on the table at `data` as `config` says; a folder of image data trains a
/// convolutional network instead ([`crate::images`]).
pub fn train(data: &Path, config: &Config, hooks: &mut TrainHooks) -> Result<TrainRun, KilnError> {
    config.validate().map_err(KilnError::Config)?;
    if let Some(input) = crate::images::read_images(data, config)? {
        return crate::images::train_on_images(data, input, config, hooks);
    }
    let (profile, anomalies) =
        crate::validation::check_training_data(data, config.seed, config.data.allow_anomalies)?;
    let Prepared {
        table,
        target,
        y_all,
        labelled,
        plans,
        rows_without_target,
        mut notes,
    } = prepare(data, config, &anomalies)?;
    let target_name = target.column.clone();
    let strata: Option<Vec<usize>> = target
        .task
        .is_classification()
        .then(|| labelled.iter().map(|&r| y_all[r] as usize).collect());
    let split = split_indices(
        &labelled,
        strata.as_deref(),
        config.data.valid_fraction_of(labelled.len()),
        config.data.test_fraction,
        config.seed,
    );
    notes.extend(config.data.valid_cap_note(labelled.len()));
    let preprocessor = Preprocessor::fit(
        &table,
        &plans,
        &target_name,
        &split.train,
        &config.preprocess,
    )?;
    for (column, reason) in &preprocessor.dropped {
        notes.push(format!("column '{column}' not used: {reason}"));
    }
    notes.extend(formatted_number_notes(&preprocessor));
    for feature in &preprocessor.features {
        if let FeatureEncoder::Date { format, .. } = &feature.encoder {
            notes.push(format!(
                "column '{}' read as dates written like {}: the network sees where each lies in time and in the {}",
                feature.column,
                kiln_data::date::example(format),
                if kiln_data::date::has_time(format) {
                    "year, week and day"
                } else {
                    "year and week"
                }
            ));
        }
    }
    let encoded = preprocessor.transform(&table)?;
    let objective = match target.task {
        Task::Regression => {
            let ys: Vec<f64> = split.train.iter().map(|&r| f64::from(y_all[r])).collect();
            let mean = ys.iter().sum::<f64>() / ys.len() as f64;
            let var = ys.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / ys.len() as f64;
            Objective::Regression {
                mean,
                std: if var > 0.0 { var.sqrt() } else { 1.0 },
            }
        }
        _ => Objective::Classification {
            classes: target.classes.len(),
        },
    };
    let outputs = match objective {
        Objective::Classification { classes } => classes,
        Objective::Regression { .. } => 1,
    };
    let network = crate::network::network_for(&preprocessor, encoded.width, outputs, config)?;
    let start = crate::network::pretrained_start(&network, config, config.seed)?;
    let warm_start = start.as_ref().map(|model| WarmStart {
        model,
        consolidation: None,
    });
    let part = |rows: &[usize]| rows_of(&encoded, &y_all, rows);
    let (train_x, train_y) = part(&split.train);
    let (valid_x, valid_y) = part(&split.valid);
    let (test_x, test_y) = part(&split.test);
    let (vx, vy) = if split.valid.is_empty() {
        (&train_x, &train_y)
    } else {
        (&valid_x, &valid_y)
    };
    let stop = hooks.stop_flag();
    let train_device = config.train.device.device().map_err(KilnError::Config)?;
    let started = Instant::now();
    let checkpoint = hooks.checkpoint.clone();
    let outcome = crate::resume::with_checkpoints(checkpoint.as_deref(), &mut notes, |kept| {
        fit_from(
            warm_start,
            &network,
            (
                Matrix::new(&train_x, split.train.len(), encoded.width),
                &train_y,
            ),
            (Matrix::new(vx, vy.len(), encoded.width), vy),
            &objective,
            &config.train,
            config.seed,
            &train_device,
            stop,
            &mut |report| hooks.observe(report),
            kept,
        )
    });
    let device = Device::flex();
    let score = |model: &kiln_model::Network, x: &[f32], y: &[f32]| {
        let out = kiln_train::predict(
            model,
            Matrix::new(x, y.len(), encoded.width),
            &objective,
            &device,
        );
        score(&out, y, &objective)
    };
    // Validation metrics belong to the early-stopped model, the last one that never saw them.
    let (valid_metrics, _) = score(&outcome.model, vx, vy);
    let mut final_model = outcome.model;
    let mut notes_after = Vec::new();
    // A time limit covers the refit too: it gets what the first fit left.
    let limit = config.train.max_seconds;
    let time_left = (limit > 0.0).then(|| limit - started.elapsed().as_secs_f64());
    if config.train.refit && time_left.is_some_and(|left| left <= 0.0) {
        notes_after
            .push("no refit on training + validation rows: the time limit was spent".to_string());
    } else if config.train.refit && !split.valid.is_empty() && !stop.load(Ordering::Relaxed) {
        // Refit on training + validation rows for the epochs early stopping chose: small
        // tables gain a fifth more data; the test rows stay unseen.
        let rows: Vec<usize> = split.train.iter().chain(&split.valid).copied().collect();
        let (all_x, all_y) = part(&rows);
        let options = kiln_train::TrainOptions {
            epochs: outcome.best_epoch,
            batch_size: outcome.batches.batch_size,
            max_seconds: time_left.unwrap_or(0.0),
            ..config.train.clone()
        };
        let refit = fit_from(
            warm_start,
            &network,
            (Matrix::new(&all_x, rows.len(), encoded.width), &all_y),
            (Matrix::new(&[], 0, encoded.width), &[]),
            &objective,
            &options,
            config.seed,
            &train_device,
            stop,
            &mut |_| {},
            None,
        );
        if stop.load(Ordering::Relaxed) {
            notes_after.push(
                "refit on training + validation rows interrupted; kept the early-stopped model"
                    .to_string(),
            );
        } else {
            final_model = refit.model;
            let ran = refit.curve.len();
            let why = if ran < outcome.best_epoch {
                format!(
                    "of the {} early stopping chose, to fit the time limit",
                    outcome.best_epoch
                )
            } else {
                "the count early stopping chose".to_string()
            };
            notes_after.push(format!(
                "refit on training + validation rows ({}) for {ran} epochs, {why}",
                rows.len(),
            ));
        }
    }
    let train_seconds = started.elapsed().as_secs_f64();
    notes.push(format!(
        "trained {} epochs of batch {} ({:.1} s in all); {}; kept epoch {}",
        outcome.curve.len(),
        outcome.batches.batch_size,
        train_seconds,
        outcome.stop_reason,
        outcome.best_epoch
    ));
    notes.extend(diagnose(&outcome.curve, outcome.best_epoch, &objective));
    notes.extend(notes_after);
    let (test_metrics, confusion) = score(&final_model, &test_x, &test_y);
    let train_class_rows = class_rows(&objective, split.train.iter().map(|&r| y_all[r]));
    let manifest = Manifest {
        kiln_version: crate::VERSION.to_string(),
        config: config.clone(),
        seed: config.seed,
        target,
        preprocessor,
        network,
        objective,
        data: DataSummary {
            source: table.source.clone(),
            rows: table.n_rows(),
            rows_without_target,
            train_rows: split.train.len(),
            valid_rows: split.valid.len(),
            test_rows: split.test.len(),
            class_rows: train_class_rows,
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
        profile: Some(profile),
        background: Some(background_sample(&encoded, &split.train)),
        replay: Some(labelled_sample(&encoded, &y_all, &split.train, config.seed)),
        holdout: Some(labelled_sample(&encoded, &y_all, &split.test, config.seed)),
        lineage: None,
    };
    Ok(TrainRun {
        bundle: Bundle {
            manifest,
            model: final_model,
        },
    })
}

/// The encoded inputs and targets of the given rows.
pub(crate) fn rows_of(encoded: &Encoded, y: &[f32], rows: &[usize]) -> (Vec<f32>, Vec<f32>) {
    let w = encoded.width;
    let mut x = Vec::with_capacity(rows.len() * w);
    for &r in rows {
        x.extend_from_slice(&encoded.values[r * w..(r + 1) * w]);
    }
    (x, rows.iter().map(|&r| y[r]).collect())
}

/// Metrics (and the confusion matrix for classifiers) of outputs against targets.
pub(crate) fn score(
    out: &[f32],
    y: &[f32],
    objective: &Objective,
) -> (Metrics, Option<Vec<Vec<usize>>>) {
    match objective {
        Objective::Classification { classes } => {
            let labels: Vec<usize> = y.iter().map(|&v| v as usize).collect();
            let predicted = kiln_train::fit::predicted_classes(out, *classes);
            (
                Metrics::classification(out, *classes, &labels),
                Some(confusion_matrix(&predicted, &labels, *classes)),
            )
        }
        Objective::Regression { .. } => (Metrics::regression(out, y), None),
    }
}

/// Metrics of a model on a labelled table.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// The metrics by name.
    #[serde(flatten)]
    pub metrics: Metrics,
    /// `[actual][predicted]` counts (classification only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confusion_matrix: Option<Vec<Vec<usize>>>,
    /// Rows skipped because their target was empty.
    pub rows_without_target: usize,
    /// Things worth knowing about the input (unseen categories, ignored columns).
    pub notes: Vec<String>,
    /// The class shares the probabilities were adjusted to, with [`Priors::Adapted`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_shares: Option<ClassShares>,
}

/// Scores `bundle` on the labelled rows of `table`, its probabilities under `priors`.
pub fn evaluate(bundle: &Bundle, table: &Table, priors: Priors) -> Result<Evaluation, KilnError> {
    let m = &bundle.manifest;
    let encoded_target = m.target.encode(table)?;
    let encoded = m.preprocessor.transform(table)?;
    let rows: Vec<usize> = (0..table.n_rows())
        .filter(|&r| encoded_target[r].is_some())
        .collect();
    if rows.is_empty() {
        return Err(kiln_data::DataError::BadTarget {
            file: table.source.clone(),
            column: m.target.column.clone(),
            problem: "has no values, so there is nothing to evaluate against".into(),
        }
        .into());
    }
    let y_all: Vec<f32> = encoded_target
        .iter()
        .map(|v| v.unwrap_or(f32::NAN))
        .collect();
    let (x, y) = rows_of(&encoded, &y_all, &rows);
    let mut out = kiln_train::predict(
        &bundle.model,
        Matrix::new(&x, rows.len(), encoded.width),
        &m.objective,
        &Device::flex(),
    );
    let class_shares = priors.apply(bundle, &mut out)?;
    let (metrics, confusion_matrix) = score(&out, &y, &m.objective);
    let mut notes = input_notes(&encoded);
    notes.extend(class_shares.as_ref().map(ClassShares::describe));
    Ok(Evaluation {
        metrics,
        confusion_matrix,
        rows_without_target: table.n_rows() - rows.len(),
        notes,
        class_shares,
    })
}

/// Predictions for every row of a table.
#[derive(Debug, Clone)]
pub struct Predictions {
    /// Column names of the output.
    pub header: Vec<String>,
    /// One row of cells per input row.
    pub rows: Vec<Vec<String>>,
    /// Things worth knowing about the input.
    pub notes: Vec<String>,
}

impl Predictions {
    /// The predictions as CSV text.
    pub fn to_csv(&self) -> String {
        let mut w = csv_line(&self.header);
        for row in &self.rows {
            w.push_str(&csv_line(row));
        }
        w
    }
}

fn csv_line(cells: &[String]) -> String {
    let quoted: Vec<String> = cells
        .iter()
        .map(|c| {
            if c.contains([',', '"', '\n']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                c.clone()
            }
        })
        .collect();
    quoted.join(",") + "\n"
}

/// Predicts every row of `table`: the predicted class and each class's probability (under
/// `priors`), or the predicted value.
pub fn predict(bundle: &Bundle, table: &Table, priors: Priors) -> Result<Predictions, KilnError> {
    let m = &bundle.manifest;
    let encoded = m.preprocessor.transform(table)?;
    let mut out = kiln_train::predict(
        &bundle.model,
        Matrix::new(&encoded.values, encoded.rows, encoded.width),
        &m.objective,
        &Device::flex(),
    );
    let class_shares = priors.apply(bundle, &mut out)?;
    let (header, rows) = match m.objective {
        Objective::Classification { classes } => {
            let mut header = vec![m.target.column.clone()];
            header.extend(m.target.classes.iter().map(|c| format!("probability_{c}")));
            let rows = out
                .chunks(classes)
                .map(|p| {
                    let best = kiln_train::metrics::argmax(p);
                    let mut row = vec![m.target.classes[best].clone()];
                    row.extend(p.iter().map(|v| format!("{v:.6}")));
                    row
                })
                .collect();
            (header, rows)
        }
        Objective::Regression { .. } => (
            vec![m.target.column.clone()],
            out.iter().map(|v| vec![format!("{v}")]).collect(),
        ),
    };
    let mut notes = input_notes(&encoded);
    notes.extend(class_shares.as_ref().map(ClassShares::describe));
    Ok(Predictions {
        header,
        rows,
        notes,
    })
}

fn input_notes(encoded: &Encoded) -> Vec<String> {
    let mut notes = Vec::new();
    if !encoded.ignored_columns.is_empty() {
        notes.push(format!(
            "columns not used by the model were ignored: {}",
            encoded.ignored_columns.join(", ")
        ));
    }
    for (column, n) in &encoded.unseen_levels {
        notes.push(format!(
            "column '{column}': {n} rows hold a category not seen in training (encoded as no known category)"
        ));
    }
    notes
}

/// One note per number format the table's columns are written in, naming the columns.
fn formatted_number_notes(preprocessor: &Preprocessor) -> Vec<String> {
    [
        kiln_data::NumberFormat::Point,
        kiln_data::NumberFormat::Comma,
    ]
    .into_iter()
    .filter_map(|format| {
        let columns: Vec<String> = preprocessor
            .features
            .iter()
            .filter(|f| f.encoder.number_format() == format)
            .map(|f| format!("'{}'", f.column))
            .collect();
        let named = match columns.len() {
            0 => return None,
            1 => format!("column {}", columns[0]),
            n if n <= 4 => format!("columns {}", columns.join(", ")),
            n => format!("{n} columns ({}, ...)", columns[..3].join(", ")),
        };
        Some(format!("{named} read as numbers written{}", format.like()))
    })
    .collect()
}
