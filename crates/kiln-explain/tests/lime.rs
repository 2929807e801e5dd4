//! LIME: recovery of linear models, feature selection, valid perturbations, determinism.

mod common;

use common::{Net, layout, table, width};
use kiln_explain::{Background, ExplainError, FnModel, Groups, LimeOptions, lime};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const W: [f64; 10] = [3.0, -2.0, 1.0, -0.5, 0.0, 0.25, 4.0, -3.5, 0.1, 2.0];

fn linear() -> FnModel<impl Fn(&[f32], usize) -> Vec<f64> + Sync> {
    FnModel::new(10, 1, |x: &[f32], rows: usize| {
        x.chunks_exact(10)
            .take(rows)
            .map(|r| 1.0 + r.iter().zip(W).map(|(&v, w)| w * f64::from(v)).sum::<f64>())
            .collect()
    })
}

/// 400 rows uniform on [0, 1), and a row at 2 in every column (above all the data).
fn uniform_data() -> (Background, Vec<f32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let rows: Vec<f32> = (0..4000).map(|_| rng.random::<f32>()).collect();
    (Background::new(rows, 10).unwrap(), vec![2.0; 10])
}

fn options(features: usize, discretize: bool) -> LimeOptions {
    LimeOptions {
        samples: 3000,
        kernel_width: None,
        features,
        discretize,
        seed: 5,
    }
}

#[test]
fn recovers_a_linear_model() {
    let (data, x) = uniform_data();
    let model = linear();
    let groups = Groups::singletons(10, &[]);
    // Expected weight of "kept": w · (x − mean replacement), the replacement's mean being 0.5
    // (any row) or 0.375 (rows below the top quartile, x's bin).
    for (discretize, mean) in [(false, 0.5), (true, 0.375)] {
        let e = lime(&model, &groups, &data, &x, &options(10, discretize)).unwrap();
        assert!(e.r2[0] > 0.9, "R² {}", e.r2[0]);
        for (j, w) in W.iter().enumerate() {
            let want = w * (2.0 - mean);
            assert!(
                (e.values[j] - want).abs() < 0.03 * want.abs() + 0.05,
                "{j}: {} vs {want}",
                e.values[j]
            );
            if w.abs() >= 0.25 {
                assert_eq!(e.values[j].signum(), w.signum(), "sign of {j}");
            }
        }
        // Order of the weights' sizes.
        let mut by_value: Vec<usize> = (0..10).collect();
        by_value.sort_by(|&a, &b| e.values[b].abs().total_cmp(&e.values[a].abs()));
        let mut by_weight: Vec<usize> = (0..10).collect();
        by_weight.sort_by(|&a, &b| W[b].abs().total_cmp(&W[a].abs()));
        assert_eq!(by_value[..8], by_weight[..8]);
        let prediction = 1.0 + 2.0 * W.iter().sum::<f64>();
        assert!((e.prediction[0] - prediction).abs() < 1e-9);
        assert!((e.local_prediction[0] - prediction).abs() < 0.05 * prediction.abs());
        let sum: f64 = e.intercept[0] + e.values.iter().sum::<f64>();
        assert!((sum - e.local_prediction[0]).abs() < 1e-9);
    }
}

#[test]
fn keeps_the_strongest_features() {
    let (data, x) = uniform_data();
    let model = linear();
    let groups = Groups::singletons(10, &[]);
    let nonzero = |features: usize| -> Vec<usize> {
        let e = lime(&model, &groups, &data, &x, &options(features, false)).unwrap();
        (0..10).filter(|&j| e.values[j] != 0.0).collect()
    };
    // Forward selection (≤ 6 features) and highest weights (more).
    assert_eq!(nonzero(3), vec![0, 6, 7]);
    assert_eq!(nonzero(1), vec![6]);
    assert_eq!(nonzero(8), vec![0, 1, 2, 3, 5, 6, 7, 9]);
}

#[test]
fn perturbations_keep_one_hot_groups_valid() {
    let w = width(8);
    let groups = layout(8);
    let net = Net::new(w, 2);
    // The net, refusing any row whose one-hot groups are broken.
    let checked = FnModel::new(w, 3, |x: &[f32], rows: usize| {
        for row in x.chunks_exact(w) {
            assert_eq!(row[1] + row[2] + row[3], 1.0);
            assert_eq!(row[5] + row[11], 1.0);
        }
        kiln_explain::Model::predict(&net, x, rows)
    });
    let data = table(8, 300, 4);
    let background = Background::new(data.clone(), w).unwrap();
    let x = &data[..w];
    for discretize in [false, true] {
        let opts = LimeOptions {
            samples: 500,
            discretize,
            ..LimeOptions::default()
        };
        let e = lime(&checked, &groups, &background, x, &opts).unwrap();
        assert_eq!((e.values.len(), e.r2.len(), e.intercept.len()), (24, 3, 3));
        assert!(e.r2.iter().all(|r| (0.0..=1.0).contains(r)), "{:?}", e.r2);
        assert!(e.values.iter().any(|v| *v != 0.0));
    }
}

#[test]
fn same_seed_same_result_and_errors() {
    let (data, x) = uniform_data();
    let model = linear();
    let groups = Groups::singletons(10, &[]);
    let a = lime(&model, &groups, &data, &x, &options(4, true)).unwrap();
    let b = lime(&model, &groups, &data, &x, &options(4, true)).unwrap();
    assert_eq!(a, b);
    let c = lime(
        &model,
        &groups,
        &data,
        &x,
        &LimeOptions {
            seed: 6,
            ..options(4, true)
        },
    )
    .unwrap();
    assert_ne!(a.values, c.values);

    let bad = |o: LimeOptions| lime(&model, &groups, &data, &x, &o).err();
    assert!(matches!(
        bad(LimeOptions {
            samples: 0,
            ..options(4, true)
        }),
        Some(ExplainError::InvalidOption(_))
    ));
    assert!(matches!(
        bad(LimeOptions {
            features: 0,
            ..options(4, true)
        }),
        Some(ExplainError::InvalidOption(_))
    ));
    assert!(matches!(
        bad(LimeOptions {
            kernel_width: Some(-1.0),
            ..options(4, true)
        }),
        Some(ExplainError::InvalidOption(_))
    ));
    assert!(matches!(
        lime(&model, &groups, &data, &x[..3], &options(4, true)),
        Err(ExplainError::WidthMismatch { .. })
    ));
    let empty = Background::new(Vec::new(), 10).unwrap();
    assert_eq!(
        lime(&model, &groups, &empty, &x, &options(4, true)),
        Err(ExplainError::Empty("background"))
    );
    // One sample (x itself): nothing to fit, no panic.
    let one = lime(
        &model,
        &groups,
        &data,
        &x,
        &LimeOptions {
            samples: 1,
            ..options(4, true)
        },
    )
    .unwrap();
    assert!(one.values.iter().all(|v| *v == 0.0));
}
