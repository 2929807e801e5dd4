//! The model bundle: one self-contained, versioned file holding the weights (safetensors),
//! the preprocessing, the input schema, the config, metrics, learning curves, seed and Kiln
//! version, with a checksum. Written atomically; loading refuses corrupt or foreign files.
//!
//! Layout: `KILNMODL` magic, format version (u32 LE), manifest length (u64 LE), manifest
//! JSON, weights length (u64 LE), safetensors weights, SHA-256 of everything before it.

use crate::atomic::write_atomic;
use crate::config::Config;
use crate::error::KilnError;
use burn::prelude::*;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use kiln_data::{Preprocessor, Target};
use kiln_model::{Network, NetworkConfig};
use kiln_train::{Batches, EpochRecord, Metrics, Objective};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::Path;

/// The first bytes of every bundle.
const MAGIC: &[u8; 8] = b"KILNMODL";
/// The bundle layout version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Where the training data came from and how it was split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSummary {
    /// The training file.
    pub source: String,
    /// Rows in the file.
    pub rows: usize,
    /// Rows dropped because the target was missing.
    pub rows_without_target: usize,
    /// Training rows.
    pub train_rows: usize,
    /// Validation rows.
    pub valid_rows: usize,
    /// Test rows.
    pub test_rows: usize,
    /// Training rows of each class, in the target's class order (empty for regression, and
    /// after `kiln update`, whose kept sample of training rows stands for the mix it saw).
    #[serde(default)]
    pub class_rows: Vec<usize>,
}

/// Encoded training rows kept in the bundle: the background that explanations compare with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncodedRows {
    /// Rows held.
    pub rows: usize,
    /// Values per row (the network's inputs).
    pub width: usize,
    /// Row-major values.
    pub values: Vec<f32>,
}

/// Encoded rows with their encoded targets (class index, or value in the target's units).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelledRows {
    /// The inputs.
    pub inputs: EncodedRows,
    /// One target per row.
    pub targets: Vec<f32>,
    /// How many training rows these stand for (a sample of them).
    pub represents: usize,
}

/// Where an updated model came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lineage {
    /// SHA-256 of the parent bundle file.
    pub parent_sha256: String,
    /// The parent's training data, as its manifest names it.
    pub parent_data: String,
    /// The new data.
    pub data: String,
    /// SHA-256 of the new data file.
    pub data_sha256: String,
    /// finetune, replay or retrain.
    pub strategy: String,
    /// Earlier rows mixed into training.
    pub replayed_rows: usize,
    /// The parent's own lineage, most recent first.
    pub ancestors: Vec<String>,
}

/// Everything in a bundle but the weights.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Kiln version that wrote the bundle.
    pub kiln_version: String,
    /// The run's configuration.
    pub config: Config,
    /// The seed used (also in `config`).
    pub seed: u64,
    /// Target column, task and classes.
    pub target: Target,
    /// The fitted preprocessing (it defines the input schema).
    pub preprocessor: Preprocessor,
    /// The network's shape.
    pub network: NetworkConfig,
    /// The training objective, with the regression target's scale.
    pub objective: Objective,
    /// The data and its split.
    pub data: DataSummary,
    /// Metrics on the held-out test rows.
    pub test_metrics: Metrics,
    /// Metrics on the validation rows.
    pub valid_metrics: Metrics,
    /// Test confusion matrix, `[actual][predicted]` (classification only).
    pub confusion_matrix: Option<Vec<Vec<usize>>>,
    /// Per-epoch learning curve.
    pub curve: Vec<EpochRecord>,
    /// Epoch whose weights were kept.
    pub best_epoch: usize,
    /// Why training ended.
    pub stop_reason: String,
    /// Batch size, epoch budget and patience used.
    pub batches: Batches,
    /// Seconds spent training.
    pub train_seconds: f64,
    /// What Kiln decided and noticed, in words.
    pub notes: Vec<String>,
    /// The training data's profile: what serving and monitoring compare live data against.
    #[serde(default)]
    pub profile: Option<kiln_profile::Profile>,
    /// An evenly spread sample of the encoded training rows, for explanations.
    #[serde(default)]
    pub background: Option<EncodedRows>,
    /// A seeded sample of the training rows with their targets, replayed by `kiln update` so
    /// that an update does not forget the data before it.
    #[serde(default)]
    pub replay: Option<LabelledRows>,
    /// The test rows with their targets, to measure later what an update forgot.
    #[serde(default)]
    pub holdout: Option<LabelledRows>,
    /// Parent, data and strategy, for a model made by `kiln update`.
    #[serde(default)]
    pub lineage: Option<Lineage>,
}

impl Manifest {
    /// The size of the images the model reads, when it reads images (through its own
    /// convolutions or a pretrained network's features).
    pub fn image(&self) -> Option<kiln_model::ImageShape> {
        self.network.image().or_else(|| {
            self.preprocessor
                .backbone
                .as_ref()
                .map(|b| kiln_model::ImageShape {
                    channels: b.image[0],
                    height: b.image[1],
                    width: b.image[2],
                })
        })
    }
}

/// A trained model with everything needed to use it.
#[derive(Debug)]
pub struct Bundle {
    /// Everything but the weights.
    pub manifest: Manifest,
    /// The network, in eval mode.
    pub model: Network,
}

impl Bundle {
    /// The bundle as bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>, String> {
        let manifest = serde_json::to_vec(&self.manifest).map_err(|e| e.to_string())?;
        let mut store = SafetensorsStore::from_bytes(None).metadata("format", "kiln");
        self.model
            .save_into(&mut store)
            .map_err(|e| e.to_string())?;
        let weights = store.get_bytes().map_err(|e| e.to_string())?;
        let mut out = Vec::with_capacity(manifest.len() + weights.len() + 64);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(manifest.len() as u64).to_le_bytes());
        out.extend_from_slice(&manifest);
        out.extend_from_slice(&(weights.len() as u64).to_le_bytes());
        out.extend_from_slice(&weights);
        let digest = Sha256::digest(&out);
        out.extend_from_slice(&digest);
        Ok(out)
    }

    /// Writes the bundle atomically.
    pub fn save(&self, path: &Path) -> Result<(), KilnError> {
        let bytes = self.to_bytes().map_err(|e| KilnError::write(path, e))?;
        write_atomic(path, &bytes).map_err(|e| KilnError::write(path, e))
    }

    /// Reads and checks a bundle file.
    pub fn load(path: &Path) -> Result<Self, KilnError> {
        let shown = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| KilnError::Bundle {
            path: shown.clone(),
            problem: format!("cannot read it: {e}"),
        })?;
        Self::from_bytes(&bytes).map_err(|problem| KilnError::Bundle {
            path: shown,
            problem,
        })
    }

    /// Parses and checks bundle bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() < 8 || &bytes[..8] != MAGIC {
            return Err("not a Kiln model bundle (it does not start with the Kiln signature); pass a file written by `kiln train`".into());
        }
        let truncated = || {
            "the file is truncated or corrupt; train the model again or restore it from a copy"
                .to_string()
        };
        let version =
            u32::from_le_bytes(bytes.get(8..12).ok_or_else(truncated)?.try_into().unwrap());
        if version != FORMAT_VERSION {
            return Err(format!(
                "bundle format {version} is not supported by Kiln {} (it reads format {FORMAT_VERSION}); use the Kiln version that wrote it",
                crate::VERSION
            ));
        }
        if bytes.len() < 12 + 8 + 8 + 32 {
            return Err(truncated());
        }
        let (body, digest) = bytes.split_at(bytes.len() - 32);
        if Sha256::digest(body).as_slice() != digest {
            return Err("checksum mismatch: the file is corrupt or was modified; train the model again or restore it from a copy".into());
        }
        let mut at = 12;
        let mut section = |bytes: &[u8]| -> Result<std::ops::Range<usize>, String> {
            let len = u64::from_le_bytes(
                bytes
                    .get(at..at + 8)
                    .ok_or_else(truncated)?
                    .try_into()
                    .unwrap(),
            ) as usize;
            let start = at + 8;
            let end = start
                .checked_add(len)
                .filter(|&e| e <= body.len())
                .ok_or_else(truncated)?;
            at = end;
            Ok(start..end)
        };
        let manifest_range = section(body)?;
        let weights_range = section(body)?;
        let manifest: Manifest = serde_json::from_slice(&body[manifest_range]).map_err(|e| {
            format!("its manifest cannot be read ({e}); was it written by another Kiln version?")
        })?;
        manifest.network.validate()?;
        let device = Device::flex();
        // The initial values are overwritten by the stored weights.
        let mut model = manifest.network.init(&device, 0);
        let mut store = SafetensorsStore::from_bytes(Some(body[weights_range].to_vec()));
        model
            .load_from(&mut store)
            .map_err(|e| format!("its weights do not fit the network it describes: {e}"))?;
        Ok(Self {
            manifest,
            model: model.valid(),
        })
    }
}
