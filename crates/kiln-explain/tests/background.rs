//! Background summaries: k-means weights, cluster count, valid one-hot values, determinism.

mod common;

use common::{layout, table, width};
use kiln_explain::Background;

#[test]
fn kmeans_summarises_with_valid_values() {
    let w = width(8);
    let rows = 300;
    let data = table(8, rows, 9);
    let b = Background::kmeans(&data, rows, w, 10, 4);
    assert_eq!((b.n, b.width, b.rows.len()), (10, w, 10 * w));
    assert!((b.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    // Weights are cluster shares: multiples of 1/rows, none empty.
    for weight in &b.weights {
        let count = weight * rows as f64;
        assert!((count - count.round()).abs() < 1e-9 && count >= 1.0);
    }
    let groups = layout(8);
    for r in 0..b.n {
        let row = b.row(r);
        for onehot in [&groups.columns[1], &groups.columns[3]] {
            assert!(
                onehot.iter().all(|&c| row[c] == 0.0 || row[c] == 1.0),
                "{row:?}"
            );
        }
        // Every value occurs in its column of the data.
        for (c, v) in row.iter().enumerate() {
            assert!((0..rows).any(|i| data[i * w + c] == *v));
        }
    }
    assert!(b.validate().is_ok());
    assert_eq!(b, Background::kmeans(&data, rows, w, 10, 4));
    assert_ne!(b, Background::kmeans(&data, rows, w, 10, 5));
}
