//! Multiple-testing corrections for testing many columns at once. A column drifts when its
//! *adjusted* p-value is below the chosen alpha.

use serde::{Deserialize, Serialize};

/// How to adjust a family of p-values for multiple testing (serialised as `"none"`, `"bonferroni"` or `"benjamini_hochberg"`; `"fdr"`, `"fdr_bh"` and `"bh"` also read as the latter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Correction {
    /// Use the raw p-values.
    None,
    /// Bonferroni: controls the family-wise error rate; `min(1, p m)`.
    Bonferroni,
    /// Benjamini-Hochberg step-up: controls the false discovery rate.
    #[serde(alias = "fdr", alias = "fdr_bh", alias = "bh")]
    BenjaminiHochberg,
}

/// Adjusted p-values, in the input's order, for `p_values` under `correction`.
///
/// * `Bonferroni`: `min(1, p m)` for `m` tests.
/// * `BenjaminiHochberg`: with `p_(1) <= ... <= p_(m)`, the adjusted value of `p_(i)` is
///   `min over j >= i of min(1, p_(j) m / j)`, as `scipy.stats.false_discovery_control(p)` and
///   statsmodels' `multipletests(p, method='fdr_bh')`; it is monotone in `p`.
///
/// Values outside `[0, 1]` are clamped to it first. A NaN p-value stays NaN in the output
/// (it never counts as a discovery) but still counts as one of the `m` tests, ranked as if it
/// were 1, which is the conservative choice.
pub fn adjust(p_values: &[f64], correction: Correction) -> Vec<f64> {
    let clamped = p_values.iter().map(|p| p.clamp(0.0, 1.0));
    let m = p_values.len() as f64;
    match correction {
        Correction::None => clamped.collect(),
        // `f64::min` would turn NaN into 1.
        Correction::Bonferroni => clamped
            .map(|p| if p.is_nan() { p } else { (p * m).min(1.0) })
            .collect(),
        Correction::BenjaminiHochberg => {
            let p: Vec<f64> = clamped.collect();
            let mut order: Vec<usize> = (0..p.len()).collect();
            // Ascending, NaN last (ranked as the largest p-values).
            order.sort_by(|&i, &j| {
                p[i].is_nan()
                    .cmp(&p[j].is_nan())
                    .then(p[i].total_cmp(&p[j]))
            });
            let mut adjusted = p.clone();
            let mut running = 1.0f64;
            for (rank, &i) in order.iter().enumerate().rev() {
                if p[i].is_nan() {
                    continue;
                }
                running = running.min(p[i] * m / (rank + 1) as f64);
                adjusted[i] = running;
            }
            adjusted
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ks_two_sample;
    use crate::test_util::SplitMix64;

    const ALL: [Correction; 3] = [
        Correction::None,
        Correction::Bonferroni,
        Correction::BenjaminiHochberg,
    ];

    #[test]
    fn empty_and_single() {
        for c in ALL {
            assert!(adjust(&[], c).is_empty());
            assert_eq!(adjust(&[0.03], c), vec![0.03]);
        }
    }

    #[test]
    fn bonferroni_multiplies_and_caps() {
        let adjusted = adjust(&[0.01, 0.2, 0.5], Correction::Bonferroni);
        for (a, e) in adjusted.iter().zip([0.03, 0.6, 1.0]) {
            assert!((a - e).abs() < 1e-15, "{adjusted:?}");
        }
    }

    #[test]
    fn benjamini_hochberg_is_monotone_and_bounded() {
        let mut rng = SplitMix64::new(99);
        let p: Vec<f64> = (0..200).map(|_| rng.uniform().powi(3)).collect();
        let adjusted = adjust(&p, Correction::BenjaminiHochberg);
        let bonferroni = adjust(&p, Correction::Bonferroni);
        for i in 0..p.len() {
            assert!(adjusted[i] >= p[i] && adjusted[i] <= 1.0 && adjusted[i] <= bonferroni[i]);
            for j in 0..p.len() {
                if p[i] <= p[j] {
                    assert!(adjusted[i] <= adjusted[j], "not monotone at {i}, {j}");
                }
            }
        }
    }

    #[test]
    fn benjamini_hochberg_worked_example() {
        // Sorted p: 0.01, 0.02, 0.03, 0.5 with m = 4: 0.04, 0.04, 0.04, 0.5.
        let adjusted = adjust(&[0.03, 0.5, 0.01, 0.02], Correction::BenjaminiHochberg);
        let expected = [0.04, 0.5, 0.04, 0.04];
        for (a, e) in adjusted.iter().zip(expected) {
            assert!((a - e).abs() < 1e-15, "{adjusted:?}");
        }
    }

    #[test]
    fn nan_and_out_of_range_inputs() {
        let adjusted = adjust(&[f64::NAN, 0.01, -0.5, 1.5], Correction::BenjaminiHochberg);
        assert!(adjusted[0].is_nan());
        assert_eq!(&adjusted[1..], &[0.02, 0.0, 1.0]);
        let bonferroni = adjust(&[f64::NAN, 0.01], Correction::Bonferroni);
        assert!(bonferroni[0].is_nan() && bonferroni[1] == 0.02);
    }

    #[test]
    fn serde_names_and_aliases() {
        let names = ["\"none\"", "\"bonferroni\"", "\"benjamini_hochberg\""];
        for (c, name) in ALL.iter().zip(names) {
            assert_eq!(serde_json::to_string(c).unwrap(), name);
            assert_eq!(serde_json::from_str::<Correction>(name).unwrap(), *c);
        }
        for alias in ["\"fdr\"", "\"fdr_bh\"", "\"bh\""] {
            assert_eq!(
                serde_json::from_str::<Correction>(alias).unwrap(),
                Correction::BenjaminiHochberg
            );
        }
        assert!(serde_json::from_str::<Correction>("\"holm\"").is_err());
    }

    /// KS p-values for 20 columns: `drifted` of them shifted by half a standard deviation.
    fn column_p_values(seed: u64, drifted: usize) -> Vec<f64> {
        let mut rng = SplitMix64::new(seed);
        (0..20)
            .map(|col| {
                let reference = rng.normals(400, 0.0);
                let shift = if col < drifted { 0.5 } else { 0.0 };
                let current = rng.normals(300, shift);
                ks_two_sample(&reference, &current).unwrap().p_value
            })
            .collect()
    }

    #[test]
    fn clean_null_sample_raises_no_alarm() {
        let p = column_p_values(2024, 0);
        let adjusted = adjust(&p, Correction::BenjaminiHochberg);
        assert!(
            adjusted.iter().all(|&q| q >= 0.05),
            "false alarm: {adjusted:?}"
        );
    }

    #[test]
    fn drifted_columns_are_found_and_only_they() {
        let p = column_p_values(2025, 3);
        let adjusted = adjust(&p, Correction::BenjaminiHochberg);
        let flagged: Vec<usize> = (0..20).filter(|&i| adjusted[i] < 0.05).collect();
        assert_eq!(flagged, vec![0, 1, 2], "{adjusted:?}");
    }
}
