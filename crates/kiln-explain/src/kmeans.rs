//! A k-means summary of the data as a weighted background (as shap's `kmeans`).

use rand::Rng;

use crate::Background;
use crate::sampling::{WeightedIndex, rng};

/// Most Lloyd iterations.
const MAX_ITERATIONS: usize = 50;

fn distance2(a: &[f32], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&a, &b)| {
            let d = f64::from(a) - b;
            d * d
        })
        .sum()
}

/// Index and squared distance of the centroid nearest to `row` (ties: the lowest index).
fn nearest(row: &[f32], centroids: &[Vec<f64>]) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (c, centroid) in centroids.iter().enumerate() {
        let d = distance2(row, centroid);
        if d < best.1 {
            best = (c, d);
        }
    }
    best
}

impl Background {
    /// A `k`-row summary of the `rows × width` row-major data `x`: k-means with k-means++
    /// initialisation (seeded) and at most 50 Lloyd iterations; weights are the clusters'
    /// shares of the rows.
    ///
    /// As in shap's `kmeans`, each centroid value is then snapped to the nearest value that
    /// occurs in its column of the data, so one-hot and other discrete columns keep valid
    /// values (0/1 stays 0/1). An empty cluster in a Lloyd step is re-seeded with the row
    /// farthest from its centroid. The result has fewer than `k` rows only when the data has
    /// fewer than `k` distinct rows; with `k >= rows` it is the data itself with equal
    /// weights. Deterministic for a seed; `rows` is clamped to the whole rows in `x`, and no
    /// data or `k == 0` gives an empty background.
    pub fn kmeans(x: &[f32], rows: usize, width: usize, k: usize, seed: u64) -> Self {
        let rows = rows.min(x.len().checked_div(width).unwrap_or(0));
        if k >= rows || width == 0 || k == 0 {
            let n = if k == 0 || width == 0 { 0 } else { rows };
            return Self {
                rows: x[..n * width].to_vec(),
                n,
                width,
                weights: vec![1.0 / n.max(1) as f64; n],
            };
        }
        let row = |r: usize| &x[r * width..(r + 1) * width];
        let mut rng = rng(seed);

        // k-means++: the first centre uniformly, then each next one with probability
        // proportional to the squared distance to the nearest centre so far.
        let first = rng.random_range(0..rows);
        let mut centroids: Vec<Vec<f64>> = vec![row(first).iter().map(|&v| v.into()).collect()];
        let mut d2: Vec<f64> = (0..rows)
            .map(|r| distance2(row(r), &centroids[0]))
            .collect();
        while centroids.len() < k {
            let Some(pick) = WeightedIndex::new(d2.iter().copied()) else {
                break; // every row coincides with a centre: fewer distinct rows than k
            };
            let next: Vec<f64> = row(pick.draw(&mut rng)).iter().map(|&v| v.into()).collect();
            for (r, d) in d2.iter_mut().enumerate() {
                *d = d.min(distance2(row(r), &next));
            }
            centroids.push(next);
        }
        let k = centroids.len();

        // Lloyd iterations.
        let mut assignment = vec![usize::MAX; rows];
        for _ in 0..MAX_ITERATIONS {
            let mut changed = false;
            let mut distances = vec![0.0; rows];
            for r in 0..rows {
                let (c, d) = nearest(row(r), &centroids);
                distances[r] = d;
                if assignment[r] != c {
                    assignment[r] = c;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
            let mut sums = vec![vec![0.0f64; width]; k];
            let mut counts = vec![0usize; k];
            for (r, &c) in assignment.iter().enumerate() {
                counts[c] += 1;
                for (s, &v) in sums[c].iter_mut().zip(row(r)) {
                    *s += f64::from(v);
                }
            }
            for c in 0..k {
                if counts[c] > 0 {
                    for (centre, s) in centroids[c].iter_mut().zip(&sums[c]) {
                        *centre = s / counts[c] as f64;
                    }
                } else {
                    // Re-seed an empty cluster with the row farthest from its centroid.
                    let far = (0..rows)
                        .max_by(|&a, &b| distances[a].total_cmp(&distances[b]).then(b.cmp(&a)))
                        .unwrap_or(0);
                    centroids[c] = row(far).iter().map(|&v| v.into()).collect();
                    distances[far] = 0.0;
                }
            }
        }
        let mut counts = vec![0usize; k];
        for r in 0..rows {
            counts[nearest(row(r), &centroids).0] += 1;
        }

        // Snap each value to the nearest one in its column of the data.
        let columns: Vec<Vec<f32>> = (0..width)
            .map(|j| {
                let mut values: Vec<f32> = (0..rows).map(|r| x[r * width + j]).collect();
                values.sort_unstable_by(f32::total_cmp);
                values.dedup_by(|a, b| a.to_bits() == b.to_bits());
                values
            })
            .collect();
        let mut out = Vec::with_capacity(k * width);
        let mut weights = Vec::with_capacity(k);
        for (centroid, &count) in centroids.iter().zip(&counts) {
            if count == 0 {
                continue;
            }
            for (j, &value) in centroid.iter().enumerate() {
                out.push(snap(&columns[j], value));
            }
            weights.push(count as f64 / rows as f64);
        }
        Self {
            n: weights.len(),
            rows: out,
            width,
            weights,
        }
    }
}

/// The value of the sorted `column` nearest to `value` (ties: the smaller one).
fn snap(column: &[f32], value: f64) -> f32 {
    let i = column.partition_point(|&v| f64::from(v) < value);
    let mut best = column[i.min(column.len() - 1)];
    if i > 0 {
        let below = column[i - 1];
        if (value - f64::from(below)).abs() <= (f64::from(best) - value).abs() {
            best = below;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separated_clusters_are_found() {
        // Three well-separated blobs of 10, 20 and 30 rows.
        let mut x = Vec::new();
        for (centre, count) in [(0.0f32, 10), (10.0, 20), (20.0, 30)] {
            for i in 0..count {
                x.extend_from_slice(&[centre + (i % 3) as f32 * 0.1, -centre]);
            }
        }
        let b = Background::kmeans(&x, 60, 2, 3, 3);
        assert_eq!(b.n, 3);
        let mut got: Vec<(f32, f64)> = (0..3).map(|c| (b.row(c)[1], b.weights[c])).collect();
        got.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert_eq!(
            got,
            vec![(-20.0, 0.5), (-10.0, 1.0 / 3.0), (0.0, 1.0 / 6.0)]
        );
    }

    #[test]
    fn fewer_distinct_rows_than_k() {
        let x = vec![1.0f32, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 4.0, 1.0, 2.0];
        let b = Background::kmeans(&x, 5, 2, 4, 0);
        assert_eq!(b.n, 2);
        assert!((b.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(Background::kmeans(&x, 5, 2, 0, 0).n, 0);
        assert_eq!(Background::kmeans(&x, 5, 2, 9, 0).n, 5);
    }

    #[test]
    fn snap_picks_the_nearest_value() {
        let column = [0.0, 1.0, 5.0];
        assert_eq!(snap(&column, 0.4), 0.0);
        assert_eq!(snap(&column, 0.5), 0.0);
        assert_eq!(snap(&column, 0.6), 1.0);
        assert_eq!(snap(&column, 9.0), 5.0);
        assert_eq!(snap(&column, -9.0), 0.0);
    }
}
