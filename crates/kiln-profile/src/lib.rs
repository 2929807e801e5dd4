//! Data profiling and validation for Kiln, in the manner of TensorFlow Data Validation:
//! a streaming, parallel, mergeable profile of every column ([`profile_file`]), an editable
//! schema inferred from it ([`Schema`]), anomalies against the schema or on their own
//! ([`validate`]), and drift between a reference and current data ([`drift::compare`]).

pub mod check;
pub mod column;
pub mod drift;
pub mod error;
pub mod profile;
pub mod report;
pub mod schema;
pub mod sketch;
pub mod summary;
pub mod validate;

pub use check::Checks;
pub use drift::{DriftOptions, DriftReport};
pub use error::ProfileError;
pub use kiln_data::Reading;
pub use profile::{Pass, Profile, ProfileOptions, Progress, profile_file};
pub use report::Validation;
pub use schema::Schema;
pub use validate::{Anomaly, AnomalyKind, Severity};
