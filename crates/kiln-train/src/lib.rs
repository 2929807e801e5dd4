//! Training: the fitting loop (AdamW, warm-up and cosine schedule, early stopping that
//! restores the best weights), learning curves with an overfitting check, prediction, and
//! the metrics that score a model.

pub mod augment;
pub mod checkpoint;
pub mod consolidation;
pub mod curve;
pub mod device;
pub mod fit;
pub mod metrics;
pub mod predict;

pub use augment::Augmentation;
pub use checkpoint::Checkpoint;
pub use consolidation::Consolidation;
pub use curve::{EpochRecord, diagnose};
pub use device::Compute;
pub use fit::{
    Batches, Checkpoints, ClassWeight, EpochReport, FitOutcome, Objective, TrainOptions, WarmStart,
    fit, fit_from,
};
pub use metrics::{Metrics, confusion_matrix};
pub use predict::{Matrix, Predictor, predict};
