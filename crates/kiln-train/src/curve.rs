//! Learning curves: what each epoch measured, and a reading of the curve for overfitting.

use crate::fit::Objective;
use serde::{Deserialize, Serialize};

/// The figures of one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Loss on (a sample of) the training rows, dropout off.
    pub train_loss: f64,
    /// Loss on the validation rows.
    pub valid_loss: f64,
    /// The task's headline metric on the training rows (accuracy, or RMSE).
    pub train_metric: f64,
    /// The same metric on the validation rows.
    pub valid_metric: f64,
    /// Learning rate at the end of the epoch.
    pub learning_rate: f64,
    /// Seconds since training started.
    pub seconds: f64,
}

/// Warnings a careful practitioner would draw from the curve: overfitting, or underfitting.
pub fn diagnose(curve: &[EpochRecord], best_epoch: usize, objective: &Objective) -> Vec<String> {
    let metric = objective.metric_name();
    let mut notes = Vec::new();
    let Some(best) = curve.iter().find(|r| r.epoch == best_epoch) else {
        return notes;
    };
    let last = curve
        .last()
        .expect("a curve with a best epoch is not empty");
    let rise = (last.valid_loss - best.valid_loss) / best.valid_loss.abs().max(1e-12);
    if last.epoch > best.epoch && rise > 0.1 && last.train_loss < best.train_loss {
        notes.push(format!(
            "overfitting: validation loss rose {:.0}% after epoch {} while training loss kept falling; the weights of epoch {} were kept. More data, dropout or weight decay would help.",
            rise * 100.0,
            best.epoch,
            best.epoch
        ));
    }
    // A gap in the headline metric: accuracy points, or RMSE relative to the training RMSE.
    let material = match objective {
        Objective::Classification { .. } => best.train_metric - best.valid_metric > 0.05,
        Objective::Regression { .. } => {
            best.valid_metric > 1.25 * best.train_metric
                && best.valid_metric - best.train_metric > 1e-9
        }
    };
    if material {
        notes.push(format!(
            "train/validation gap at the kept epoch: {metric} {:.3} on training rows vs {:.3} on validation rows (loss {:.3} vs {:.3}); the model fits the training rows better than new ones.",
            best.train_metric, best.valid_metric, best.train_loss, best.valid_loss
        ));
    }
    if best.epoch == last.epoch && curve.len() > 1 {
        notes.push(format!(
            "validation loss was still improving at the last epoch ({}); more epochs may help.",
            last.epoch
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLASSES: Objective = Objective::Classification { classes: 2 };

    fn record(epoch: usize, train_loss: f64, valid_loss: f64) -> EpochRecord {
        EpochRecord {
            epoch,
            train_loss,
            valid_loss,
            train_metric: 1.0 - train_loss,
            valid_metric: 1.0 - valid_loss,
            learning_rate: 1e-3,
            seconds: epoch as f64,
        }
    }

    #[test]
    fn rising_validation_loss_is_called_overfitting() {
        let curve = vec![
            record(1, 0.5, 0.5),
            record(2, 0.3, 0.35),
            record(3, 0.1, 0.6),
        ];
        let notes = diagnose(&curve, 2, &CLASSES);
        assert!(
            notes.iter().any(|n| n.starts_with("overfitting")),
            "{notes:?}"
        );
    }

    #[test]
    fn a_healthy_curve_gives_no_overfitting_warning() {
        let curve = vec![
            record(1, 0.5, 0.5),
            record(2, 0.3, 0.31),
            record(3, 0.29, 0.32),
        ];
        assert!(diagnose(&curve, 2, &CLASSES).is_empty());
    }

    #[test]
    fn a_material_metric_gap_is_reported_and_a_small_one_is_not() {
        let mut gap = record(1, 0.1, 0.4);
        gap.train_metric = 0.99;
        gap.valid_metric = 0.90;
        let notes = diagnose(&[gap.clone()], 1, &CLASSES);
        assert!(
            notes.iter().any(|n| n.starts_with("train/validation gap")),
            "{notes:?}"
        );
        gap.valid_metric = 0.97;
        assert!(diagnose(&[gap], 1, &CLASSES).is_empty());
    }

    #[test]
    fn still_improving_at_the_end_is_reported() {
        let curve = vec![record(1, 0.5, 0.5), record(2, 0.3, 0.31)];
        let notes = diagnose(&curve, 2, &CLASSES);
        assert!(
            notes.iter().any(|n| n.contains("still improving")),
            "{notes:?}"
        );
    }
}
