//! Profiling and validating data: the library side of `kiln profile` and `kiln validate`,
//! and the check `kiln train` makes of its own data.

use crate::bundle::Bundle;
use crate::error::KilnError;
use kiln_profile::validate::{against_schema, has_errors, intrinsic};
use kiln_profile::{
    Anomaly, AnomalyKind, Checks, DriftOptions, Pass, Profile, ProfileError, ProfileOptions,
    Progress, Schema, Severity, Validation, drift, profile_file,
};
use std::path::Path;

/// Profiles the table at `path`, reporting progress after each chunk.
pub fn profile(
    path: &Path,
    options: &ProfileOptions,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<Pass, KilnError> {
    Ok(profile_file(
        path,
        options,
        &Checks::default(),
        on_progress,
    )?)
}

/// What to validate data against.
#[derive(Debug, Clone, Default)]
pub struct ValidateInputs<'a> {
    /// A schema file (TOML).
    pub schema: Option<&'a Path>,
    /// A reference: a profile (.json), a model bundle (.kiln, its training profile) or data.
    pub reference: Option<&'a Path>,
    /// Drift test settings.
    pub drift: DriftOptions,
    /// Profiling settings (for the data and a data reference).
    pub profile: ProfileOptions,
}

/// Loads a reference profile from a profile file, a model bundle, or a data file.
pub fn reference_profile(
    path: &Path,
    options: &ProfileOptions,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<Profile, KilnError> {
    let name = path.to_string_lossy().to_lowercase();
    let file = path.display().to_string();
    if name.ends_with(".json") {
        let text = std::fs::read_to_string(path).map_err(|e| ProfileError::BadProfile {
            file: file.clone(),
            reason: e.to_string(),
        })?;
        Ok(Profile::from_json(&text, &file)?)
    } else if name.ends_with(".kiln") {
        let bundle = Bundle::load(path)?;
        bundle.manifest.profile.ok_or_else(|| KilnError::Bundle {
            path: file,
            problem: "holds no training profile (made by an older Kiln); use the training data or a profile as the reference".into(),
        })
    } else {
        Ok(profile(path, options, on_progress)?.profile)
    }
}

/// Validates the table at `data` against a schema and/or a reference: anomalies (the schema
/// given, or else one inferred from the reference) and drift (against the reference).
pub fn validate(
    data: &Path,
    inputs: &ValidateInputs,
    on_progress: &mut dyn FnMut(Progress),
) -> Result<Validation, KilnError> {
    if inputs.schema.is_none() && inputs.reference.is_none() {
        return Err(KilnError::Config(
            "validate needs --schema FILE or --reference PROFILE_OR_DATA (or both)".into(),
        ));
    }
    // Two tables are compared on every number (exact distances): a data reference keeps its
    // numbers, and then so does the data; a stored profile or a model's training profile holds
    // its row sample only.
    let keep = ProfileOptions {
        keep_values: true,
        ..inputs.profile.clone()
    };
    let reference = inputs
        .reference
        .map(|r| reference_profile(r, &keep, on_progress))
        .transpose()?;
    let options = ProfileOptions {
        keep_values: reference
            .as_ref()
            .is_some_and(|r| r.columns.iter().any(|c| c.values.is_some())),
        readings: reference
            .as_ref()
            .map(Profile::readings)
            .unwrap_or_default(),
        ..inputs.profile.clone()
    };
    let schema = match (inputs.schema, &reference) {
        (Some(path), _) => {
            let file = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|e| ProfileError::BadSchema {
                file: file.clone(),
                reason: format!("cannot read it: {e}"),
            })?;
            Schema::from_toml(&text, &file)?
        }
        (None, Some(reference)) => Schema::infer(reference),
        (None, None) => unreachable!("checked above"),
    };
    let pass = profile_file(data, &options, &schema.checks(), on_progress)?;
    let mut anomalies = against_schema(&schema, &pass);
    let drift = reference
        .as_ref()
        .map(|r| drift::compare(r, &pass.profile, &inputs.drift));
    if let Some(report) = &drift {
        for f in report.features.iter().filter(|f| f.drift) {
            let p = f
                .test
                .adjusted_p_value
                .map_or(String::new(), |p| format!(", corrected p-value {p:.3e}"));
            anomalies.push(Anomaly {
                severity: Severity::Error,
                kind: AnomalyKind::Drift,
                column: Some(f.column.clone()),
                count: None,
                example: None,
                message: format!(
                    "the distribution moved from the reference: {} = {:.4}{p} (threshold {})",
                    f.test.test, f.test.statistic, f.test.threshold
                ),
            });
        }
    }
    anomalies.sort_by_key(|a| std::cmp::Reverse(a.severity));
    let errors = anomalies
        .iter()
        .filter(|a| a.severity == Severity::Error)
        .count();
    Ok(Validation {
        data: data.display().to_string(),
        schema: inputs.schema.map(|p| p.display().to_string()),
        reference: inputs.reference.map(|p| p.display().to_string()),
        rows: pass.profile.rows,
        passed: !has_errors(&anomalies),
        errors,
        warnings: anomalies.len() - errors,
        anomalies,
        drift,
    })
}

/// The check `kiln train` makes of its own data: the profile (kept in the bundle) and its
/// anomalies. Error-level anomalies stop training unless `allow` is set; the rest become notes.
pub fn check_training_data(
    data: &Path,
    seed: u64,
    allow: bool,
) -> Result<(Profile, Vec<Anomaly>), KilnError> {
    let options = ProfileOptions {
        seed,
        ..ProfileOptions::default()
    };
    let pass = profile_file(data, &options, &Checks::default(), &mut |_| {})?;
    let anomalies = intrinsic(&pass);
    let errors: Vec<&Anomaly> = anomalies
        .iter()
        .filter(|a| a.severity == Severity::Error)
        .collect();
    if !errors.is_empty() && !allow {
        return Err(KilnError::Anomalies {
            file: data.display().to_string(),
            count: errors.len(),
            list: errors
                .iter()
                .map(|a| describe(a))
                .collect::<Vec<_>>()
                .join("; "),
        });
    }
    Ok((pass.profile, anomalies))
}

/// One anomaly in a line: where (line and column) and what is wrong.
pub fn describe(a: &Anomaly) -> String {
    match (&a.column, &a.example) {
        (Some(c), Some(e))
            if matches!(a.kind, AnomalyKind::TypeMismatch | AnomalyKind::NonFinite) =>
        {
            format!("line {}, column '{c}': {}", e.line, a.message)
        }
        (Some(c), _) => format!("column '{c}': {}", a.message),
        (None, _) => a.message.clone(),
    }
}
