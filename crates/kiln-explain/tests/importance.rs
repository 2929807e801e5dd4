//! Permutation importance: an ignored feature scores 0, the dominant one ranks first.

mod common;

use kiln_explain::{ExplainError, FnModel, Groups, permutation_importance};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// f = 3·x0 + 0.5·x1 + 1·(one-hot x3/x4 level) ; x2 is ignored.
fn model() -> FnModel<impl Fn(&[f32], usize) -> Vec<f64> + Sync> {
    FnModel::new(5, 1, |x: &[f32], rows: usize| {
        x.chunks_exact(5)
            .take(rows)
            .map(|r| 3.0 * f64::from(r[0]) + 0.5 * f64::from(r[1]) + f64::from(r[4]))
            .collect()
    })
}

fn data(rows: usize) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut x = Vec::new();
    for _ in 0..rows {
        let level = rng.random::<bool>();
        x.extend_from_slice(&[
            rng.random::<f32>() * 2.0 - 1.0,
            rng.random::<f32>() * 2.0 - 1.0,
            rng.random::<f32>() * 2.0 - 1.0,
            f32::from(u8::from(!level)),
            f32::from(u8::from(level)),
        ]);
    }
    x
}

#[test]
fn ranks_dominant_first_and_ignored_at_zero() {
    let rows = 400;
    let x = data(rows);
    let m = model();
    let target: Vec<f64> = kiln_explain::Model::predict(&m, &x, rows);
    // Score: negative mean squared error against the model's own predictions.
    let score = |p: &[f64]| -> f64 {
        -p.iter()
            .zip(&target)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            / p.len() as f64
    };
    let groups = Groups::from_sources(
        vec!["x0".into(), "x1".into(), "x2".into(), "level".into()],
        &[0, 1, 2, 3, 3],
    );
    let imp = permutation_importance(&m, &groups, &x, rows, &score, 5, 7).unwrap();
    let names: Vec<&str> = imp.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["x0", "x1", "x2", "level"]);
    let mut ranked: Vec<usize> = (0..4).collect();
    ranked.sort_by(|&a, &b| imp[b].mean.total_cmp(&imp[a].mean));
    assert_eq!(ranked, [0, 3, 1, 2]);
    assert_eq!((imp[2].mean, imp[2].std), (0.0, 0.0));
    // Shuffling x0 (uniform on [−1, 1]) costs E[(3(x0 − x0'))²] = 9 · 2 · 1/3 = 6.
    assert!((imp[0].mean - 6.0).abs() < 0.6, "{}", imp[0].mean);
    // The one-hot pair moves together: the drop is E[(l − l')²] = ½.
    assert!((imp[3].mean - 0.5).abs() < 0.1, "{}", imp[3].mean);
    assert!(imp.iter().all(|i| i.std >= 0.0) && imp[0].std > 0.0);

    let again = permutation_importance(&m, &groups, &x, rows, &score, 5, 7).unwrap();
    assert_eq!(imp, again);
    let other = permutation_importance(&m, &groups, &x, rows, &score, 5, 8).unwrap();
    assert_ne!(imp, other);
}

#[test]
fn bad_inputs_are_errors() {
    let x = data(10);
    let m = model();
    let score = |p: &[f64]| p.iter().sum::<f64>();
    let groups = Groups::singletons(5, &[]);
    assert!(matches!(
        permutation_importance(&m, &groups, &x, 10, &score, 0, 0),
        Err(ExplainError::InvalidOption(_))
    ));
    assert!(matches!(
        permutation_importance(&m, &groups, &x, 11, &score, 1, 0),
        Err(ExplainError::WidthMismatch { .. })
    ));
    assert_eq!(
        permutation_importance(&m, &groups, &[], 0, &score, 1, 0),
        Err(ExplainError::Empty("data"))
    );
    let short = Groups::singletons(4, &[]);
    assert!(matches!(
        permutation_importance(&m, &short, &x, 10, &score, 1, 0),
        Err(ExplainError::InvalidGroups(_))
    ));
}
