//! Dense least squares by Householder QR, with an optional ridge penalty and several
//! right-hand sides, and the weighted ridge regression with intercept that LIME fits.

/// Relative size below which a diagonal entry of `R` counts as zero.
const RANK_TOLERANCE: f64 = 1e-10;

/// The solution of a least-squares problem.
pub(crate) struct LeastSquares {
    /// `cols × rhs` coefficients, row-major.
    pub coef: Vec<f64>,
    /// Whether `A` (with the ridge rows, if any) was numerically rank deficient: some
    /// `|R_kk| ≤ 1e-10 · max |R_jj|`, or fewer rows than columns. The coefficients of such
    /// directions are set to 0.
    pub rank_deficient: bool,
}

/// Minimises `‖A β − B‖² + ridge · ‖β‖²` for `A` (`rows × cols`) and `B` (`rows × rhs`), both
/// row-major, by Householder QR of `A` stacked on `√ridge · I` (no normal equations, so the
/// conditioning is that of `A`, not its square).
pub(crate) fn least_squares(
    a: &[f64],
    b: &[f64],
    rows: usize,
    cols: usize,
    rhs: usize,
    ridge: f64,
) -> LeastSquares {
    let extra = if ridge > 0.0 { cols } else { 0 };
    let h = rows + extra;
    let width = cols + rhs;
    // Column-major [A | B], with √ridge · I under A.
    let mut m = vec![0.0; h * width];
    for r in 0..rows {
        for c in 0..cols {
            m[c * h + r] = a[r * cols + c];
        }
        for j in 0..rhs {
            m[(cols + j) * h + r] = b[r * rhs + j];
        }
    }
    for c in 0..extra {
        m[c * h + rows + c] = ridge.sqrt();
    }

    let steps = cols.min(h);
    let mut diag = vec![0.0; cols];
    let mut v = vec![0.0; h];
    for k in 0..steps {
        let column = &m[k * h + k..(k + 1) * h];
        let norm = column.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm == 0.0 {
            continue;
        }
        let alpha = if column[0] > 0.0 { -norm } else { norm };
        let tail = h - k;
        v[..tail].copy_from_slice(column);
        v[0] -= alpha;
        let v_norm2: f64 = v[..tail].iter().map(|x| x * x).sum();
        diag[k] = alpha;
        m[k * h + k] = alpha;
        m[k * h + k + 1..(k + 1) * h].fill(0.0);
        if v_norm2 == 0.0 {
            continue;
        }
        for j in k + 1..width {
            let col = &mut m[j * h + k..(j + 1) * h];
            let dot: f64 = col.iter().zip(&v[..tail]).map(|(a, b)| a * b).sum();
            let factor = 2.0 * dot / v_norm2;
            for (a, b) in col.iter_mut().zip(&v[..tail]) {
                *a -= factor * b;
            }
        }
    }

    let largest = diag.iter().fold(0.0f64, |acc, d| acc.max(d.abs()));
    let negligible = |d: f64| d.abs() <= RANK_TOLERANCE * largest || d == 0.0;
    let rank_deficient = cols > h || diag.iter().any(|&d| negligible(d));
    let mut coef = vec![0.0; cols * rhs];
    for j in 0..rhs {
        for k in (0..steps).rev() {
            if negligible(diag[k]) {
                continue;
            }
            let mut s = m[(cols + j) * h + k];
            for c in k + 1..cols {
                s -= m[c * h + k] * coef[c * rhs + j];
            }
            coef[k * rhs + j] = s / diag[k];
        }
    }
    LeastSquares {
        coef,
        rank_deficient,
    }
}

/// A weighted ridge fit with an unpenalised intercept, as scikit-learn's `Ridge` with
/// `sample_weight`: minimises `Σ_r w_r (y_r − b − x_r·β)² + alpha · ‖β‖²`.
pub(crate) struct RidgeFit {
    /// One coefficient per column.
    pub coef: Vec<f64>,
    /// The intercept `b`.
    pub intercept: f64,
    /// Weighted coefficient of determination of the fit on its own data (1 when `y` is
    /// constant and fitted exactly, 0 when constant and not).
    pub r2: f64,
}

/// Fits [`RidgeFit`] to `x` (`rows × cols`, row-major, only the columns in `use_cols`), `y`
/// and non-negative weights `w` with a positive sum.
pub(crate) fn weighted_ridge(
    x: &[f64],
    cols: usize,
    use_cols: &[usize],
    y: &[f64],
    w: &[f64],
    alpha: f64,
) -> RidgeFit {
    let rows = y.len();
    let total: f64 = w.iter().sum();
    let k = use_cols.len();
    let mean_x: Vec<f64> = use_cols
        .iter()
        .map(|&c| (0..rows).map(|r| w[r] * x[r * cols + c]).sum::<f64>() / total)
        .collect();
    let mean_y = (0..rows).map(|r| w[r] * y[r]).sum::<f64>() / total;
    // Centre, then scale rows by √w: the intercept drops out of the penalised problem.
    let mut a = vec![0.0; rows * k];
    let mut b = vec![0.0; rows];
    for r in 0..rows {
        let s = w[r].sqrt();
        for (i, &c) in use_cols.iter().enumerate() {
            a[r * k + i] = s * (x[r * cols + c] - mean_x[i]);
        }
        b[r] = s * (y[r] - mean_y);
    }
    let coef = least_squares(&a, &b, rows, k, 1, alpha).coef;
    let intercept = mean_y - coef.iter().zip(&mean_x).map(|(c, m)| c * m).sum::<f64>();
    let (mut residual, mut spread) = (0.0, 0.0);
    for r in 0..rows {
        let fit = intercept
            + use_cols
                .iter()
                .zip(&coef)
                .map(|(&c, b)| b * x[r * cols + c])
                .sum::<f64>();
        residual += w[r] * (y[r] - fit).powi(2);
        spread += w[r] * (y[r] - mean_y).powi(2);
    }
    let r2 = if spread > 0.0 {
        1.0 - residual / spread
    } else if residual <= f64::EPSILON * (1.0 + mean_y * mean_y) * total {
        1.0
    } else {
        0.0
    };
    let mut full = vec![0.0; cols];
    for (&c, &b) in use_cols.iter().zip(&coef) {
        full[c] = b;
    }
    RidgeFit {
        coef: full,
        intercept,
        r2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solves_overdetermined_systems_with_two_right_hand_sides() {
        // y1 = 2 a − b + 0.5 c, y2 = −a + 3 c, exactly.
        let a = [
            1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 2.0, -1.0, 0.5,
        ];
        let mut b = Vec::new();
        for r in a.chunks(3) {
            b.push(2.0 * r[0] - r[1] + 0.5 * r[2]);
            b.push(-r[0] + 3.0 * r[2]);
        }
        let s = least_squares(&a, &b, 5, 3, 2, 0.0);
        assert!(!s.rank_deficient);
        let want = [2.0, -1.0, -1.0, 0.0, 0.5, 3.0];
        for (got, want) in s.coef.iter().zip(want) {
            assert!((got - want).abs() < 1e-12, "{:?}", s.coef);
        }
    }

    #[test]
    fn ridge_matches_the_closed_form_and_flags_rank_deficiency() {
        // One column: β = Σ a b / (Σ a² + λ).
        let a = [1.0, 2.0, 3.0];
        let b = [1.0, 1.0, 2.0];
        let s = least_squares(&a, &b, 3, 1, 1, 0.5);
        assert!((s.coef[0] - 9.0 / 14.5).abs() < 1e-12);
        // Two identical columns: rank deficient without ridge, fine with it.
        let a = [1.0, 1.0, 2.0, 2.0, 3.0, 3.0];
        assert!(least_squares(&a, &b, 3, 2, 1, 0.0).rank_deficient);
        let s = least_squares(&a, &b, 3, 2, 1, 1e-8);
        assert!(!s.rank_deficient);
        assert!((s.coef[0] - s.coef[1]).abs() < 1e-6);
        assert!(least_squares(&a, &b, 1, 2, 1, 0.0).rank_deficient);
    }

    #[test]
    fn weighted_ridge_recovers_a_line_and_its_r2() {
        let x: Vec<f64> = (0..20).map(|i| i as f64).collect();
        let y: Vec<f64> = x.iter().map(|v| 3.0 - 2.0 * v).collect();
        let w: Vec<f64> = (0..20).map(|i| 1.0 + (i % 3) as f64).collect();
        let fit = weighted_ridge(&x, 1, &[0], &y, &w, 0.0);
        assert!((fit.coef[0] + 2.0).abs() < 1e-10);
        assert!((fit.intercept - 3.0).abs() < 1e-9);
        assert!((fit.r2 - 1.0).abs() < 1e-12);
        let noisy: Vec<f64> = y
            .iter()
            .enumerate()
            .map(|(i, v)| v + (i % 2) as f64 * 8.0)
            .collect();
        let fit = weighted_ridge(&x, 1, &[0], &noisy, &w, 1.0);
        assert!(fit.r2 < 0.99 && fit.r2 > 0.5, "{}", fit.r2);
        let flat = weighted_ridge(&x, 1, &[], &[4.0; 20], &w, 1.0);
        assert_eq!((flat.intercept, flat.r2), (4.0, 1.0));
    }
}
