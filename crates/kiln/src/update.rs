//! Continual learning: a trained model updated on new data without forgetting the old. The
//! bundle keeps a seeded sample of its training rows (replayed) and its test rows (to measure
//! forgetting); the update trains from the parent's weights (finetune, replay) or from scratch
//! (retrain) and records its lineage.

use crate::bundle::{Bundle, EncodedRows, LabelledRows, Lineage};
use crate::error::KilnError;
use crate::pipeline::{KEPT_ROWS, background_sample, labelled_sample, rows_of, score};
use burn::prelude::*;
use kiln_data::{read_table, split_indices};
use kiln_train::{Consolidation, Matrix, Metrics, Objective, WarmStart};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// How an update trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// From the parent's weights, on the new rows only.
    Finetune,
    /// From the parent's weights, on the new rows mixed with the kept earlier rows.
    Replay,
    /// From the parent's weights, on the new rows only, each weight held to its earlier value
    /// in proportion to how much it mattered for the kept earlier rows (elastic weight
    /// consolidation).
    Ewc,
    /// From fresh weights, on the new rows and the kept earlier rows.
    Retrain,
}

impl Strategy {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Finetune => "finetune",
            Strategy::Replay => "replay",
            Strategy::Ewc => "ewc",
            Strategy::Retrain => "retrain",
        }
    }
}

/// Settings of an update.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct UpdateOptions {
    /// How to train.
    pub strategy: Strategy,
    /// Most earlier rows mixed in (replay, retrain); 0: all the bundle keeps.
    pub replay: usize,
    /// Learning rate of a warm start, as a share of the parent's.
    pub learning_rate_scale: f64,
    /// EWC: the penalty's weight as a multiple of its Bayesian value (earlier rows the bundle
    /// stands for over new training rows).
    pub ewc_strength: f64,
    /// Seed of the split, the sampling and the training.
    pub seed: u64,
}

impl Default for UpdateOptions {
    fn default() -> Self {
        Self {
            strategy: Strategy::Replay,
            replay: 0,
            learning_rate_scale: 0.3,
            ewc_strength: 1.0,
            seed: 42,
        }
    }
}

/// A metric on the earlier and the new held-out rows, before and after the update.
#[derive(Debug, Clone, Serialize)]
pub struct UpdateReport {
    /// The strategy.
    pub strategy: Strategy,
    /// accuracy or rmse.
    pub metric: String,
    /// Earlier held-out rows (the parent's test rows).
    pub earlier_rows: usize,
    /// New held-out rows (a test split of the new data).
    pub new_rows: usize,
    /// On the earlier rows: the parent, then the update.
    pub earlier: (f64, f64),
    /// On the new rows: the parent, then the update.
    pub new: (f64, f64),
    /// What the update lost on the earlier rows (positive: forgot).
    pub forgetting: f64,
    /// What it gained on the new rows (positive: learned).
    pub gain: f64,
    /// Rows trained on: new, then earlier.
    pub trained_rows: (usize, usize),
    /// Epochs run.
    pub epochs: usize,
}

/// An updated bundle with its report.
#[derive(Debug)]
pub struct UpdateRun {
    /// The new bundle, ready to save.
    pub bundle: Bundle,
    /// What changed.
    pub report: UpdateReport,
}

/// Updates `parent` (read from `parent_path`) on the labelled table `data`.
pub fn update(
    parent: &Bundle,
    parent_path: &Path,
    data: &Path,
    options: &UpdateOptions,
) -> Result<UpdateRun, KilnError> {
    let m = &parent.manifest;
    let file = parent_path.display().to_string();
    let (Some(replay), Some(holdout)) = (&m.replay, &m.holdout) else {
        return Err(KilnError::Bundle {
            path: file,
            problem: "keeps no earlier rows (made by an older Kiln); train it again to update it"
                .into(),
        });
    };
    let table = read_table(data)?;
    let target = m.target.encode(&table)?;
    let encoded = m.preprocessor.transform(&table)?;
    let labelled: Vec<usize> = (0..table.n_rows())
        .filter(|&r| target[r].is_some())
        .collect();
    if labelled.len() < 10 {
        return Err(kiln_data::DataError::BadTarget {
            file: table.source.clone(),
            column: m.target.column.clone(),
            problem: format!(
                "has {} labelled rows; an update needs at least 10",
                labelled.len()
            ),
        }
        .into());
    }
    let y_all: Vec<f32> = target.iter().map(|v| v.unwrap_or(f32::NAN)).collect();
    let classification = matches!(m.objective, Objective::Classification { .. });
    let strata: Option<Vec<usize>> =
        classification.then(|| labelled.iter().map(|&r| y_all[r] as usize).collect());
    let config = &m.config;
    let split = split_indices(
        &labelled,
        strata.as_deref(),
        config.data.valid_fraction_of(labelled.len()),
        config.data.test_fraction,
        options.seed,
    );
    let width = encoded.width;
    let (new_x, new_y) = rows_of(&encoded, &y_all, &split.train);
    let (valid_x, valid_y) = rows_of(&encoded, &y_all, &split.valid);
    let (test_x, test_y) = rows_of(&encoded, &y_all, &split.test);
    // Earlier rows mixed in, a seeded subset when fewer are asked for.
    let earlier = match options.strategy {
        Strategy::Finetune | Strategy::Ewc => subset(replay, 0, options.seed),
        _ => subset(
            replay,
            if options.replay == 0 {
                replay.targets.len()
            } else {
                options.replay
            },
            options.seed,
        ),
    };
    let mut train_x = new_x.clone();
    let mut train_y = new_y.clone();
    train_x.extend_from_slice(&earlier.inputs.values);
    train_y.extend_from_slice(&earlier.targets);
    let rows = train_y.len();
    let (vx, vy) = if valid_y.is_empty() {
        (&train_x, &train_y)
    } else {
        (&valid_x, &valid_y)
    };
    let mut train_options = config.train.clone();
    let warm = options.strategy != Strategy::Retrain;
    if warm {
        train_options.learning_rate *= options.learning_rate_scale;
    }
    let device = config.train.device.device().map_err(KilnError::Config)?;
    let never = AtomicBool::new(false);
    let train = (Matrix::new(&train_x, rows, width), train_y.as_slice());
    let valid = (Matrix::new(vx, vy.len(), width), vy.as_slice());
    let consolidation = (options.strategy == Strategy::Ewc).then(|| {
        let strength = options.ewc_strength * replay.represents as f64 / rows.max(1) as f64;
        let kept = Matrix::new(&replay.inputs.values, replay.targets.len(), width);
        Consolidation::estimate(
            &parent.model,
            &m.network,
            (kept, &replay.targets),
            &m.objective,
            strength,
        )
    });
    let outcome = kiln_train::fit_from(
        warm.then_some(WarmStart {
            model: &parent.model,
            consolidation: consolidation.as_ref(),
        }),
        &m.network,
        train,
        valid,
        &m.objective,
        &train_options,
        options.seed,
        &device,
        &never,
        &mut |_| {},
        None,
    );
    let cpu = Device::flex();
    let evaluate = |model: &kiln_model::Network, x: &[f32], y: &[f32]| -> Metrics {
        let out = kiln_train::predict(model, Matrix::new(x, y.len(), width), &m.objective, &cpu);
        score(&out, y, &m.objective).0
    };
    let headline = |metrics: &Metrics| m.objective.headline(metrics);
    let (old_x, old_y) = (&holdout.inputs.values, &holdout.targets);
    let earlier_before = headline(&evaluate(&parent.model, old_x, old_y));
    let earlier_after = headline(&evaluate(&outcome.model, old_x, old_y));
    let new_before = headline(&evaluate(&parent.model, &test_x, &test_y));
    let new_metrics = evaluate(&outcome.model, &test_x, &test_y);
    let new_after = headline(&new_metrics);
    // For RMSE lower is better: forgetting is a rise, gain a fall.
    let sign = if classification { 1.0 } else { -1.0 };
    let report = UpdateReport {
        strategy: options.strategy,
        metric: m.objective.metric_name().into(),
        earlier_rows: old_y.len(),
        new_rows: test_y.len(),
        earlier: (earlier_before, earlier_after),
        new: (new_before, new_after),
        forgetting: sign * (earlier_before - earlier_after),
        gain: sign * (new_after - new_before),
        trained_rows: (new_y.len(), earlier.targets.len()),
        epochs: outcome.curve.len(),
    };
    let parent_bytes = std::fs::read(parent_path).map_err(|e| KilnError::Bundle {
        path: file.clone(),
        problem: format!("cannot read it: {e}"),
    })?;
    let data_bytes = std::fs::read(data).map_err(|e| kiln_data::DataError::Io {
        file: data.display().to_string(),
        reason: e.to_string(),
    })?;
    let mut ancestors = Vec::new();
    if let Some(l) = &m.lineage {
        ancestors.push(format!(
            "{} on {} ({})",
            l.strategy, l.data, l.parent_sha256
        ));
        ancestors.extend(l.ancestors.iter().cloned());
    }
    let lineage = Lineage {
        parent_sha256: hex(&Sha256::digest(&parent_bytes)),
        parent_data: m.data.source.clone(),
        data: data.display().to_string(),
        data_sha256: hex(&Sha256::digest(&data_bytes)),
        strategy: options.strategy.name().into(),
        replayed_rows: earlier.targets.len(),
        ancestors,
    };
    let mut manifest = m.clone();
    manifest.test_metrics = new_metrics;
    manifest.valid_metrics = evaluate(&outcome.model, vx, vy);
    manifest.curve = outcome.curve;
    manifest.best_epoch = outcome.best_epoch;
    manifest.stop_reason = outcome.stop_reason;
    manifest.batches = outcome.batches;
    manifest.seed = options.seed;
    manifest.data.source = data.display().to_string();
    manifest.data.class_rows.clear();
    manifest.notes.push(format!(
        "updated ({}) on {} new rows and {} earlier rows: {} {:.4} -> {:.4} on earlier held-out rows, {:.4} -> {:.4} on new ones",
        options.strategy.name(), new_y.len(), earlier.targets.len(), report.metric,
        earlier_before, earlier_after, new_before, new_after
    ));
    // The kept rows now stand for all the data seen: earlier and new in proportion.
    let fresh = labelled_sample(&encoded, &y_all, &split.train, options.seed);
    manifest.replay = Some(blend(replay, &fresh, options.seed));
    let new_holdout = labelled_sample(&encoded, &y_all, &split.test, options.seed);
    manifest.holdout = Some(blend(holdout, &new_holdout, options.seed));
    manifest.lineage = Some(lineage);
    // Monitoring compares live data with the data the model last learned from.
    if m.profile.is_some() {
        let (profile, _) = crate::validation::check_training_data(data, options.seed, true)?;
        manifest.profile = Some(profile);
        manifest.background = Some(background_sample(&encoded, &split.train));
        manifest.notes.push(format!(
            "drift is now measured against {}, the data of this update",
            data.display()
        ));
    }
    Ok(UpdateRun {
        bundle: Bundle {
            manifest,
            model: outcome.model,
        },
        report,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A seeded subset of at most `n` of the kept rows.
fn subset(rows: &LabelledRows, n: usize, seed: u64) -> LabelledRows {
    let total = rows.targets.len();
    let mut order: Vec<usize> = (0..total).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(
        seed ^ 0x7265_706c_6179,
    ));
    order.truncate(n.min(total));
    pick(rows, &order, rows.represents)
}

fn pick(rows: &LabelledRows, order: &[usize], represents: usize) -> LabelledRows {
    let w = rows.inputs.width;
    let mut values = Vec::with_capacity(order.len() * w);
    for &r in order {
        values.extend_from_slice(&rows.inputs.values[r * w..(r + 1) * w]);
    }
    LabelledRows {
        inputs: EncodedRows {
            rows: order.len(),
            width: w,
            values,
        },
        targets: order.iter().map(|&r| rows.targets[r]).collect(),
        represents,
    }
}

/// Kept rows standing for both `old` and `new`, each in proportion to the rows it represents.
fn blend(old: &LabelledRows, new: &LabelledRows, seed: u64) -> LabelledRows {
    let total = old.represents + new.represents;
    let room = KEPT_ROWS.min(old.targets.len() + new.targets.len());
    let from_old = ((room * old.represents) as f64 / total.max(1) as f64).round() as usize;
    let from_old = from_old
        .min(old.targets.len())
        .max(room.saturating_sub(new.targets.len()));
    let mut a = subset(old, from_old, seed);
    let b = subset(new, room - from_old, seed ^ 1);
    a.inputs.values.extend_from_slice(&b.inputs.values);
    a.inputs.rows += b.inputs.rows;
    a.targets.extend_from_slice(&b.targets);
    a.represents = total;
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: usize, value: f32, represents: usize) -> LabelledRows {
        LabelledRows {
            inputs: EncodedRows {
                rows: n,
                width: 2,
                values: vec![value; n * 2],
            },
            targets: vec![value; n],
            represents,
        }
    }

    #[test]
    fn kept_rows_blend_in_proportion_to_what_they_stand_for() {
        let b = blend(&rows(1500, 0.0, 9000), &rows(1500, 1.0, 3000), 7);
        assert_eq!(b.targets.len(), 2000);
        let new = b.targets.iter().filter(|&&t| t == 1.0).count();
        assert_eq!(new, 500, "a quarter of the data is new");
        assert_eq!(b.represents, 12_000);
        assert_eq!(b.inputs.values.len(), 4000);
        let s = subset(&rows(10, 3.0, 10), 4, 1);
        assert_eq!((s.targets.len(), s.inputs.rows), (4, 4));
    }
}
