//! The promotion gate: a candidate serves only if it is not worse than the serving version on
//! the same held-out rows by more than a set margin.

use crate::bundle::Bundle;
use crate::error::KilnError;
use crate::pipeline::{evaluate, score};
use burn::prelude::*;
use kiln_train::{Matrix, Objective};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// What a candidate must meet to be promoted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gate {
    /// Largest tolerated accuracy drop (classification) or relative RMSE rise (regression).
    pub margin: f64,
    /// A labelled table to judge on; by default, the candidate's kept held-out rows.
    pub holdout: Option<PathBuf>,
    /// Promote whatever the verdict (the verdict is still recorded).
    pub force: bool,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            margin: 0.01,
            holdout: None,
            force: false,
        }
    }
}

/// The gate's verdict with its figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    /// accuracy or rmse.
    pub metric: String,
    /// The candidate's score.
    pub candidate: f64,
    /// The serving version and its score on the same rows, if one serves.
    pub serving: Option<(u64, f64)>,
    /// Rows judged on.
    pub rows: usize,
    /// Which rows: a file, or the candidate's kept held-out rows.
    pub rows_from: String,
    /// The margin applied.
    pub margin: f64,
    /// Whether the candidate may serve.
    pub passed: bool,
    /// Why, in words.
    pub reason: String,
}

impl Gate {
    /// Judges `candidate` against the serving version, if any.
    pub fn judge(
        &self,
        candidate: &Bundle,
        serving: Option<(u64, &Bundle)>,
    ) -> Result<GateResult, KilnError> {
        let objective = &candidate.manifest.objective;
        if let Some((v, s)) = serving {
            let same_task = std::mem::discriminant(objective)
                == std::mem::discriminant(&s.manifest.objective)
                && candidate.manifest.target.column == s.manifest.target.column;
            if !same_task {
                return Err(KilnError::Registry(format!(
                    "the candidate predicts {} ({}) but version {v} predicts {} ({}): push it under another model name",
                    candidate.manifest.target.column,
                    objective.metric_name(),
                    s.manifest.target.column,
                    s.manifest.objective.metric_name()
                )));
            }
        }
        let (rows_from, rows, scores) = match &self.holdout {
            Some(path) => {
                let table = kiln_data::read_table(path)?;
                let mut scores = vec![headline(
                    candidate,
                    &evaluate(candidate, &table, crate::Priors::Training)?.metrics,
                )];
                if let Some((_, s)) = serving {
                    scores.push(headline(
                        s,
                        &evaluate(s, &table, crate::Priors::Training)?.metrics,
                    ));
                }
                (path.display().to_string(), table.n_rows(), scores)
            }
            None => {
                let kept = candidate.manifest.holdout.as_ref().ok_or_else(|| {
                    KilnError::Registry(
                        "the candidate keeps no held-out rows (made by an older Kiln); pass --holdout FILE to judge it".into(),
                    )
                })?;
                let mut scores = vec![score_kept(candidate, kept)];
                if let Some((v, s)) = serving {
                    if s.manifest.preprocessor != candidate.manifest.preprocessor {
                        return Err(KilnError::Registry(format!(
                            "the candidate encodes its inputs differently from version {v}, so its kept held-out rows cannot score both; pass --holdout FILE (a labelled table) to judge them on"
                        )));
                    }
                    scores.push(score_kept(s, kept));
                }
                (
                    "the candidate's kept held-out rows".to_string(),
                    kept.targets.len(),
                    scores,
                )
            }
        };
        let metric = objective.metric_name().to_string();
        let cand = scores[0];
        let lower_is_better = matches!(objective, Objective::Regression { .. });
        let (passed, reason) = match (serving, scores.get(1)) {
            (Some((v, _)), Some(&base)) => {
                let worse_by = if lower_is_better {
                    (cand - base) / base.abs().max(f64::EPSILON)
                } else {
                    base - cand
                };
                let ok = worse_by <= self.margin + 1e-12 && cand.is_finite();
                let margin = if lower_is_better {
                    format!("{:.1}%", self.margin * 100.0)
                } else {
                    format!("{:.4}", self.margin)
                };
                (
                    ok,
                    format!(
                        "{metric} {cand:.4} against version {v}'s {base:.4} on {rows} rows ({}; margin {margin})",
                        if ok {
                            "within the margin"
                        } else {
                            "worse by more than the margin"
                        }
                    ),
                )
            }
            _ => (
                cand.is_finite(),
                format!("{metric} {cand:.4} on {rows} rows; no version serves yet"),
            ),
        };
        let (passed, reason) = if self.force && !passed {
            (true, format!("forced past the gate: {reason}"))
        } else {
            (passed, reason)
        };
        Ok(GateResult {
            metric,
            candidate: cand,
            serving: serving.map(|(v, _)| v).zip(scores.get(1).copied()),
            rows,
            rows_from,
            margin: self.margin,
            passed,
            reason,
        })
    }
}

fn headline(bundle: &Bundle, metrics: &kiln_train::Metrics) -> f64 {
    bundle.manifest.objective.headline(metrics)
}

/// The bundle's headline metric on encoded held-out rows.
fn score_kept(bundle: &Bundle, kept: &crate::bundle::LabelledRows) -> f64 {
    let m = &bundle.manifest;
    let out = kiln_train::predict(
        &bundle.model,
        Matrix::new(&kept.inputs.values, kept.targets.len(), kept.inputs.width),
        &m.objective,
        &Device::flex(),
    );
    headline(bundle, &score(&out, &kept.targets, &m.objective).0)
}
