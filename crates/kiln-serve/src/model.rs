//! One loaded model version: its input signature, its preprocessing and the batching queue in
//! front of its network.

use crate::drift::DriftWatch;
use crate::error::ApiError;
use crate::metrics::{Metrics, VersionMetrics};
use crate::runner::{BatchPolicy, Runner};
use kiln::Bundle;
use kiln::data::{ColumnKind, Preprocessor, Table};
use kiln::training::Objective;
use std::path::PathBuf;
use std::sync::Arc;

/// How a feature column is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// A number (FP32 in metadata; any numeric datatype or BOOL accepted).
    Number,
    /// A yes/no value (FP32 0/1 in metadata; BOOL, numbers or yes/no text accepted).
    Boolean,
    /// A category or free text (BYTES).
    Category,
}

/// A model version's interface: its inputs in order, its task and classes.
#[derive(Debug, Clone)]
pub struct Signature {
    /// Feature columns, in the order of the single-tensor form.
    pub inputs: Vec<(String, InputKind)>,
    /// The target column the model predicts.
    pub target: String,
    /// Class names for classifiers (output order of `probabilities`); empty for regression.
    pub classes: Arc<Vec<String>>,
}

impl Signature {
    /// Whether the model is a classifier.
    pub fn is_classifier(&self) -> bool {
        !self.classes.is_empty()
    }

    /// Where the input of this name is, if the model has one.
    pub fn position(&self, name: &str) -> Option<usize> {
        self.inputs.iter().position(|(n, _)| n == name)
    }

    /// The input names, quoted and comma-separated, for messages.
    pub fn names(&self) -> String {
        let names: Vec<String> = self.inputs.iter().map(|(n, _)| format!("'{n}'")).collect();
        names.join(", ")
    }
}

/// The network's answer for some rows.
#[derive(Debug, Clone)]
pub struct Outputs {
    /// Rows answered.
    pub rows: usize,
    /// Probabilities, `rows * classes`, for classifiers; one value per row for regression.
    pub values: Vec<f32>,
    /// Per categorical input, how many rows held a category never seen in training (encoded
    /// as no known category).
    pub unseen_categories: Vec<(String, usize)>,
}

impl Outputs {
    /// The index of the most probable class of each row.
    pub fn labels(&self, classes: usize) -> Vec<usize> {
        self.values
            .chunks(classes.max(1))
            .map(kiln::training::metrics::argmax)
            .collect()
    }
}

/// A loaded, serving model version.
pub struct ModelVersion {
    /// The model's name.
    pub name: String,
    /// The version number.
    pub version: u64,
    /// The bundle file it came from.
    pub path: PathBuf,
    /// Its inputs and outputs.
    pub signature: Signature,
    /// Recent rows compared with the training profile, when drift is watched.
    pub drift: Option<DriftWatch>,
    /// Its metrics.
    pub metrics: VersionMetrics,
    preprocessor: Preprocessor,
    runner: Runner,
}

impl ModelVersion {
    /// Loads a bundle and prepares its network for batched prediction.
    pub fn load(
        name: &str,
        version: u64,
        path: PathBuf,
        policy: BatchPolicy,
        metrics: &Metrics,
        drift_rows: usize,
    ) -> Result<Self, String> {
        let bundle = Bundle::load(&path).map_err(|e| e.to_string())?;
        // Bundles without a training profile (older ones) serve without drift figures.
        let drift = (drift_rows > 0)
            .then(|| kiln::monitor::Baseline::of(&bundle, &path.display().to_string()).ok())
            .flatten();
        let Bundle { manifest, model } = bundle;
        let preprocessor = manifest.preprocessor;
        preprocessor.check_pretrained().map_err(|e| e.to_string())?;
        let inputs: Vec<(String, InputKind)> = preprocessor
            .features
            .iter()
            .map(|f| {
                let kind = match f.kind {
                    ColumnKind::Numeric => InputKind::Number,
                    ColumnKind::Boolean => InputKind::Boolean,
                    ColumnKind::Categorical | ColumnKind::Text | ColumnKind::Date => {
                        InputKind::Category
                    }
                };
                (f.column.clone(), kind)
            })
            .collect();
        let classes = match manifest.objective {
            Objective::Classification { .. } => Arc::new(manifest.target.classes.clone()),
            Objective::Regression { .. } => Arc::new(Vec::new()),
        };
        let drift = drift.map(|baseline| {
            let names = inputs
                .iter()
                .map(|(n, _): &(String, InputKind)| n.clone())
                .collect();
            DriftWatch::new(baseline, names, drift_rows)
        });
        let signature = Signature {
            inputs,
            target: manifest.target.column.clone(),
            classes,
        };
        let version_label = version.to_string();
        let version_metrics: VersionMetrics = metrics.version(name, &version_label);
        let runner = Runner::new(
            &model,
            manifest.objective,
            preprocessor.width(),
            policy,
            version_metrics.clone(),
        );
        Ok(Self {
            name: name.to_string(),
            version,
            path,
            signature,
            drift,
            metrics: version_metrics,
            preprocessor,
            runner,
        })
    }

    /// Encodes a table of raw cells and runs it through the network.
    pub async fn infer(&self, table: &Table) -> Result<Outputs, ApiError> {
        let encoded = self
            .preprocessor
            .transform(table)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let rows = encoded.rows;
        let values = self.runner.run(encoded.values, rows).await?;
        let outputs = Outputs {
            rows,
            values,
            unseen_categories: encoded.unseen_levels,
        };
        if let Some(drift) = &self.drift {
            drift.record(table, &outputs, &self.signature.classes);
        }
        Ok(outputs)
    }
}

/// The signature the unit tests use: a number `x` and a category `c`, with these classes.
#[cfg(test)]
pub(crate) fn test_signature(classes: &[&str]) -> Signature {
    Signature {
        inputs: vec![
            ("x".into(), InputKind::Number),
            ("c".into(), InputKind::Category),
        ],
        target: "y".into(),
        classes: Arc::new(classes.iter().map(|c| c.to_string()).collect()),
    }
}
