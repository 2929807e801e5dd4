//! Test metrics: accuracy, macro F1, log loss and ROC AUC for classifiers; RMSE, MAE and R²
//! for regression; the confusion matrix.

use serde::{Deserialize, Serialize};

/// Scores of a model on a labelled set; only the task's metrics are present.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Share of rows whose most probable class is right.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// Unweighted mean of per-class F1 scores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub f1_macro: Option<f64>,
    /// Mean negative log-likelihood of the true class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_loss: Option<f64>,
    /// Area under the ROC curve (binary only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roc_auc: Option<f64>,
    /// Root mean squared error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rmse: Option<f64>,
    /// Mean absolute error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mae: Option<f64>,
    /// Coefficient of determination.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub r2: Option<f64>,
    /// Rows scored.
    pub rows: usize,
}

impl Metrics {
    /// Classification metrics from row-major probabilities `[rows, classes]` and labels.
    pub fn classification(probs: &[f32], classes: usize, labels: &[usize]) -> Self {
        let rows = labels.len();
        let predicted: Vec<usize> = (0..rows)
            .map(|r| argmax(&probs[r * classes..(r + 1) * classes]))
            .collect();
        let correct = predicted.iter().zip(labels).filter(|(p, l)| p == l).count();
        let log_loss = log_loss(probs, classes, labels, &[]);
        let cm = confusion_matrix(&predicted, labels, classes);
        let f1: Vec<f64> = (0..classes)
            .filter(|&c| cm[c].iter().sum::<usize>() > 0 || (0..classes).any(|a| cm[a][c] > 0))
            .map(|c| {
                let tp = cm[c][c] as f64;
                let actual: usize = cm[c].iter().sum();
                let pred: usize = (0..classes).map(|a| cm[a][c]).sum();
                if tp == 0.0 {
                    0.0
                } else {
                    2.0 * tp / (actual + pred) as f64
                }
            })
            .collect();
        let roc_auc = (classes == 2).then(|| {
            let scores: Vec<f64> = (0..rows).map(|r| f64::from(probs[r * 2 + 1])).collect();
            let positive: Vec<bool> = labels.iter().map(|&l| l == 1).collect();
            roc_auc(&scores, &positive)
        });
        Self {
            accuracy: Some(correct as f64 / rows.max(1) as f64),
            f1_macro: Some(f1.iter().sum::<f64>() / f1.len().max(1) as f64),
            log_loss: Some(log_loss),
            roc_auc: roc_auc.flatten(),
            rows,
            ..Self::default()
        }
    }

    /// Regression metrics from predictions and true values.
    pub fn regression(predicted: &[f32], actual: &[f32]) -> Self {
        let n = actual.len().max(1) as f64;
        let mean = actual.iter().map(|&y| f64::from(y)).sum::<f64>() / n;
        let (mut se, mut ae, mut tss) = (0.0, 0.0, 0.0);
        for (&p, &y) in predicted.iter().zip(actual) {
            let e = f64::from(p) - f64::from(y);
            se += e * e;
            ae += e.abs();
            tss += (f64::from(y) - mean).powi(2);
        }
        Self {
            rmse: Some((se / n).sqrt()),
            mae: Some(ae / n),
            r2: Some(if tss > 0.0 { 1.0 - se / tss } else { 0.0 }),
            rows: actual.len(),
            ..Self::default()
        }
    }

    /// The metrics as (name, value) pairs in a fixed order.
    pub fn pairs(&self) -> Vec<(&'static str, f64)> {
        [
            ("accuracy", self.accuracy),
            ("f1_macro", self.f1_macro),
            ("log_loss", self.log_loss),
            ("roc_auc", self.roc_auc),
            ("rmse", self.rmse),
            ("mae", self.mae),
            ("r2", self.r2),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
    }
}

/// Mean cross-entropy of row-major probabilities against `labels`, each row weighted by its
/// class's entry in `weights` (empty: all rows alike).
pub fn log_loss(probs: &[f32], classes: usize, labels: &[usize], weights: &[f32]) -> f64 {
    labels
        .iter()
        .enumerate()
        .map(|(r, &l)| {
            let w = weights.get(l).map_or(1.0, |&w| f64::from(w));
            -w * f64::from(probs[r * classes + l]).clamp(1e-15, 1.0).ln()
        })
        .sum::<f64>()
        / labels.len().max(1) as f64
}

/// Index of the largest value (the first on ties).
pub fn argmax(values: &[f32]) -> usize {
    values
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, &v)| {
            if v > best.1 { (i, v) } else { best }
        })
        .0
}

/// `matrix[actual][predicted]` counts.
pub fn confusion_matrix(predicted: &[usize], actual: &[usize], classes: usize) -> Vec<Vec<usize>> {
    let mut m = vec![vec![0; classes]; classes];
    for (&p, &a) in predicted.iter().zip(actual) {
        m[a][p] += 1;
    }
    m
}

/// ROC AUC by the rank statistic, ties counted half; `None` when one class is absent.
fn roc_auc(scores: &[f64], positive: &[bool]) -> Option<f64> {
    let n_pos = positive.iter().filter(|&&p| p).count();
    let n_neg = positive.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += (i..=j).filter(|&t| positive[order[t]]).count() as f64 * avg_rank;
        i = j + 1;
    }
    Some((rank_sum - (n_pos * (n_pos + 1)) as f64 / 2.0) / (n_pos * n_neg) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_metrics_match_hand_computation() {
        // rows: (p0, p1) ; labels
        let probs = [0.9, 0.1, 0.2, 0.8, 0.6, 0.4, 0.3, 0.7];
        let labels = [0, 1, 1, 1];
        let m = Metrics::classification(&probs, 2, &labels);
        assert_eq!(m.accuracy, Some(0.75));
        let ll = -(0.9f64.ln() + 0.8f64.ln() + 0.4f64.ln() + 0.7f64.ln()) / 4.0;
        assert!((m.log_loss.unwrap() - ll).abs() < 1e-6);
        // class 0: tp 1, fp 1, fn 0 -> f1 2/3; class 1: tp 2, fp 0, fn 1 -> f1 0.8
        assert!((m.f1_macro.unwrap() - (2.0 / 3.0 + 0.8) / 2.0).abs() < 1e-9);
        // positives scores 0.8, 0.4, 0.7 vs negative 0.1: all above -> AUC 1
        assert_eq!(m.roc_auc, Some(1.0));
    }

    #[test]
    fn auc_counts_ties_half_and_needs_both_classes() {
        assert_eq!(roc_auc(&[0.5, 0.5], &[true, false]), Some(0.5));
        assert_eq!(roc_auc(&[0.1, 0.9, 0.4], &[true, false, false]), Some(0.0));
        assert_eq!(roc_auc(&[0.5], &[true]), None);
    }

    #[test]
    fn regression_metrics_match_hand_computation() {
        let m = Metrics::regression(&[1.0, 2.0, 4.0], &[1.0, 3.0, 5.0]);
        assert!((m.rmse.unwrap() - (2.0f64 / 3.0).sqrt()).abs() < 1e-9);
        assert!((m.mae.unwrap() - 2.0 / 3.0).abs() < 1e-9);
        // tss = (1-3)^2 + 0 + (5-3)^2 = 8; r2 = 1 - 2/8
        assert!((m.r2.unwrap() - 0.75).abs() < 1e-9);
        assert!(m.accuracy.is_none());
    }

    #[test]
    fn confusion_matrix_is_actual_by_predicted() {
        let m = confusion_matrix(&[0, 2, 2], &[0, 1, 2], 3);
        assert_eq!(m, vec![vec![1, 0, 0], vec![0, 0, 1], vec![0, 0, 1]]);
    }
}
