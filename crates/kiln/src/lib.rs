//! Kiln's library API: the pipeline from a table to a trained model bundle, evaluation and
//! prediction. The `kiln` command-line tool is a thin layer over these functions.
//!
//! ```no_run
//! use kiln::{Config, train};
//! let mut config = Config::default();
//! config.data.target = Some("diagnosis".into());
//! let run = train(std::path::Path::new("breast_cancer.csv"), &config, &mut Default::default()).unwrap();
//! run.bundle.save(std::path::Path::new("model.kiln")).unwrap();
//! ```

pub mod atomic;
pub mod bundle;
pub mod config;
pub mod continual;
pub mod encoder_gradients;
pub mod error;
pub mod explain;
pub mod images;
pub mod label_shift;
pub mod monitor;
pub mod network;
pub mod picture;
pub mod pipeline;
pub mod preview;
pub mod registry;
pub mod report;
mod resume;
pub mod saliency;
pub mod tune;
pub mod update;
pub mod validation;

pub use bundle::{Bundle, Manifest};
pub use config::Config;
pub use error::KilnError;
pub use label_shift::{ClassShares, Priors};
pub use pipeline::{Evaluation, Predictions, TrainHooks, TrainRun, evaluate, predict, train};

pub use kiln_data as data;
pub use kiln_model as model;
pub use kiln_profile as profile;
pub use kiln_report as report_types;
pub use kiln_study as study;
pub use kiln_train as training;
pub use kiln_tune as tune_types;

/// This build's version, recorded in every bundle.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
