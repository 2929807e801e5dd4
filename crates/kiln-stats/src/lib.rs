//! Two-sample statistics for Kiln's data validation and drift monitoring.
//!
//! Every function here reproduces a named scipy (or Evidently) computation, and
//! `tests/golden.rs` checks the statistics and p-values against values that scipy produced
//! (`tests/golden/make_golden.py`) to 1e-6:
//!
//! * [`ks_two_sample`]: two-sided two-sample Kolmogorov-Smirnov, as `scipy.stats.ks_2samp`
//!   (exact p-value up to 10 000 rows per sample, `scipy.stats.kstwo` beyond), with
//!   [`kstwo_sf`] exposing the one-sample distribution that the large-sample branch uses;
//! * [`chi_squared`], [`chi_squared_counts`] and [`z_test_proportions`] for categorical and
//!   binary columns;
//! * [`wasserstein`], [`wasserstein_normed`], [`jensen_shannon`] and [`psi`] as distances;
//! * [`quantile_edges`], [`histogram_edges`] and [`bin_counts`] to turn raw numbers into the
//!   bin counts that the distances take;
//! * [`adjust`] with a [`Correction`] for testing many columns at once: a column drifts when
//!   its adjusted p-value is below the chosen alpha.
//!
//! Conventions: no function panics on user input. Where a statistic is undefined (empty
//! input, mismatched lengths, NaN in a sample, negative counts) the function returns `None`
//! (or an empty `Vec` for the binning helpers), and each function's documentation says
//! exactly when. Callers drop missing values before calling.

#![warn(missing_docs)]

mod bins;
mod categorical;
mod correction;
mod distance;
mod kolmogorov;
mod ks;
mod sort;
#[cfg(test)]
mod test_util;

pub use bins::{bin_counts, histogram_edges, quantile_edges};
pub use categorical::{
    NEW_CATEGORY_PSEUDO_COUNT, chi_squared, chi_squared_counts, chi_squared_homogeneity,
    z_test_proportions,
};
pub use correction::{Correction, adjust};
pub use distance::{MIN_NORM_STD, PSI_FLOOR, jensen_shannon, psi, wasserstein, wasserstein_normed};
pub use kolmogorov::kstwo_sf;
pub use ks::ks_two_sample;
pub use sort::sorted;

use serde::{Deserialize, Serialize};

/// The result of a hypothesis test: its statistic and its p-value in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TestOutcome {
    /// The test statistic (KS distance D, chi-squared sum, z score, ...).
    pub statistic: f64,
    /// The probability, under the null hypothesis, of a statistic at least this extreme.
    pub p_value: f64,
}
