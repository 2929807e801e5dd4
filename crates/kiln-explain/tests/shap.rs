//! Shapley methods: local accuracy, agreement with exact values, analytic values of linear
//! models, determinism and input errors.

mod common;

use common::{Linear, Net, layout, max_diff, table, width};
use kiln_explain::{
    Attribution, Background, ExplainError, FnModel, Groups, Model, exact, kernel, permutation,
};

struct Case {
    net: Net,
    groups: Groups,
    background: Background,
    rows: Vec<Vec<f32>>,
}

fn case(features: usize) -> Case {
    let w = width(features);
    let data = table(features, 200, 11);
    let background = Background::sample(&data, 200, w, 12, 5);
    let rows = (0..3).map(|r| data[r * w..(r + 1) * w].to_vec()).collect();
    Case {
        net: Net::new(w, 2),
        groups: layout(features),
        background,
        rows,
    }
}

fn assert_local_accuracy(a: &Attribution, what: &str) {
    assert_eq!(a.values.len(), a.features() * a.outputs());
    assert!(
        a.local_accuracy_gap() < 1e-5,
        "{what}: gap {}",
        a.local_accuracy_gap()
    );
}

#[test]
fn local_accuracy_of_every_method() {
    let c = case(8);
    for x in &c.rows {
        let e = exact(&c.net, &c.groups, &c.background, x).unwrap();
        let k = kernel(&c.net, &c.groups, &c.background, x, 60, 1).unwrap();
        let p = permutation(&c.net, &c.groups, &c.background, x, 3, 1).unwrap();
        for (a, what) in [(&e, "exact"), (&k, "kernel"), (&p, "permutation")] {
            assert_eq!((a.features(), a.outputs()), (8, 3));
            assert_local_accuracy(a, what);
            assert_eq!(a.prediction, c.net.predict(x, 1));
            // The base is the weighted mean prediction over the background.
            let all = c.net.predict(&c.background.rows, c.background.n);
            for k in 0..3 {
                let mean: f64 = (0..c.background.n).map(|b| all[b * 3 + k]).sum::<f64>()
                    / c.background.n as f64;
                assert!((a.base[k] - mean).abs() < 1e-12);
            }
        }
        // The attributions are not trivially zero, and differ between outputs.
        assert!(e.values.iter().map(|v| v.abs()).sum::<f64>() > 0.05);
        // Probabilities sum to 1, so the attributions of the 3 outputs cancel per feature.
        for i in 0..8 {
            let s: f64 = (0..3).map(|k| e.value(i, k)).sum();
            assert!(s.abs() < 1e-9);
        }
    }
}

#[test]
fn kernel_with_a_full_budget_is_exact() {
    // 8 features: 2^8 − 2 = 254 coalitions, so any budget of at least 254 enumerates all.
    let c = case(8);
    for x in &c.rows {
        let e = exact(&c.net, &c.groups, &c.background, x).unwrap();
        for samples in [254, 256, 2000] {
            let k = kernel(&c.net, &c.groups, &c.background, x, samples, 9).unwrap();
            let diff = max_diff(&k.values, &e.values);
            assert!(diff < 1e-9, "samples {samples}: {diff:e}");
        }
        // One coalition short of the full enumeration is an approximation.
        let k = kernel(&c.net, &c.groups, &c.background, x, 200, 9).unwrap();
        assert!(max_diff(&k.values, &e.values) > 1e-12);
    }
}

#[test]
fn sampled_kernel_agrees_with_exact() {
    // 10 features, 2^10 − 2 = 1022 coalitions. Budget 900: sizes 1–3 and 7–9 enumerated
    // (350), 550 of the 672 coalitions of sizes 4–6 sampled. Budget 700: 350 sampled.
    let c = case(10);
    for x in &c.rows {
        let e = exact(&c.net, &c.groups, &c.background, x).unwrap();
        let mut errors = Vec::new();
        for samples in [300, 700, 900] {
            let k = kernel(&c.net, &c.groups, &c.background, x, samples, 4).unwrap();
            assert_local_accuracy(&k, "kernel");
            errors.push(max_diff(&k.values, &e.values));
        }
        assert!(errors[2] < 1e-3, "kernel 900: {:e}", errors[2]);
        assert!(errors[1] < 2.5e-3, "kernel 700: {:e}", errors[1]);
        assert!(errors[0] > errors[2], "{errors:?}");
    }
}

#[test]
fn permutation_converges_to_exact() {
    // 8 features, 4 background rows: 8000 antithetic pairs = 16 000 walks of 7 evaluations.
    let c = case(8);
    let background = Background::sample(&c.background.rows, c.background.n, 12, 4, 0);
    let x = &c.rows[0];
    let e = exact(&c.net, &c.groups, &background, x).unwrap();
    let few = permutation(&c.net, &c.groups, &background, x, 50, 8).unwrap();
    let many = permutation(&c.net, &c.groups, &background, x, 8000, 8).unwrap();
    let (few, many) = (
        max_diff(&few.values, &e.values),
        max_diff(&many.values, &e.values),
    );
    assert!(many < 1e-3, "permutation 8000: {many:e}");
    assert!(many < few, "{many:e} vs {few:e}");
}

/// φ_g = Σ_{c ∈ g} w_c (x_c − E_bg[x_c]) per output.
fn linear_shap(model: &Linear, groups: &Groups, background: &Background, x: &[f32]) -> Vec<f64> {
    let weights: f64 = background.weights.iter().sum();
    let mut values = Vec::new();
    for columns in &groups.columns {
        for k in 0..2 {
            let phi: f64 = columns
                .iter()
                .map(|&c| {
                    let mean: f64 = (0..background.n)
                        .map(|b| background.weights[b] * f64::from(background.row(b)[c]))
                        .sum::<f64>()
                        / weights;
                    model.w[k][c] * (f64::from(x[c]) - mean)
                })
                .sum();
            values.push(phi);
        }
    }
    values
}

#[test]
fn linear_models_get_their_analytic_values() {
    for features in [8, 10] {
        let w = width(features);
        let model = Linear::new(w);
        let groups = layout(features);
        let data = table(features, 300, 3);
        // Unequal weights: a k-means summary.
        let background = Background::kmeans(&data, 300, w, 15, 1);
        let x = &data[7 * w..8 * w];
        let want = linear_shap(&model, &groups, &background, x);
        let e = exact(&model, &groups, &background, x).unwrap();
        let k_full = kernel(&model, &groups, &background, x, 5000, 2).unwrap();
        // A linear model is additive, so even a thin sampled design is solved exactly.
        let k_thin = kernel(&model, &groups, &background, x, 40, 2).unwrap();
        let p = permutation(&model, &groups, &background, x, 1, 2).unwrap();
        for (a, what) in [
            (e, "exact"),
            (k_full, "kernel"),
            (k_thin, "kernel 40"),
            (p, "perm"),
        ] {
            let diff = max_diff(&a.values, &want);
            assert!(diff < 1e-9, "{features} features, {what}: {diff:e}");
        }
    }
}

#[test]
fn same_seed_same_result() {
    let c = case(10);
    let x = &c.rows[1];
    let k1 = kernel(&c.net, &c.groups, &c.background, x, 300, 42).unwrap();
    let k2 = kernel(&c.net, &c.groups, &c.background, x, 300, 42).unwrap();
    let k3 = kernel(&c.net, &c.groups, &c.background, x, 300, 43).unwrap();
    assert_eq!(k1, k2);
    assert_ne!(k1.values, k3.values);
    let p1 = permutation(&c.net, &c.groups, &c.background, x, 5, 42).unwrap();
    let p2 = permutation(&c.net, &c.groups, &c.background, x, 5, 42).unwrap();
    let p3 = permutation(&c.net, &c.groups, &c.background, x, 5, 43).unwrap();
    assert_eq!(p1, p2);
    assert_ne!(p1.values, p3.values);
}

#[test]
fn features_that_never_vary_get_zero() {
    // Feature 2 (column 4) equals x's value in every background row.
    let c = case(8);
    let x = c.rows[0].clone();
    let mut background = c.background.clone();
    for b in 0..background.n {
        background.rows[b * background.width + 4] = x[4];
    }
    for a in [
        exact(&c.net, &c.groups, &background, &x).unwrap(),
        kernel(&c.net, &c.groups, &background, &x, 100, 0).unwrap(),
        permutation(&c.net, &c.groups, &background, &x, 10, 0).unwrap(),
    ] {
        assert_eq!(&a.values[2 * 3..3 * 3], &[0.0; 3]);
        assert!(a.value(0, 0) != 0.0);
        assert_local_accuracy(&a, "dummy");
    }
    // A background equal to x: everything is 0 and base = prediction.
    let same = Background::new(x.repeat(3), x.len()).unwrap();
    let a = exact(&c.net, &c.groups, &same, &x).unwrap();
    assert!(a.values.iter().all(|v| *v == 0.0));
    assert_local_accuracy(&a, "constant");
}

#[test]
fn bad_inputs_are_errors() {
    let c = case(8);
    let x = &c.rows[0];
    let bg = &c.background;
    let g = &c.groups;
    let short = &x[..5];
    let run = |model: &dyn Model, groups: &Groups, bg: &Background, x: &[f32]| {
        [
            exact(model, groups, bg, x).err(),
            kernel(model, groups, bg, x, 10, 0).err(),
            permutation(model, groups, bg, x, 1, 0).err(),
        ]
    };
    for e in run(&c.net, g, bg, short) {
        assert!(matches!(
            e,
            Some(ExplainError::WidthMismatch {
                what: "row to explain",
                ..
            })
        ));
    }
    let empty = Background::new(Vec::new(), x.len()).unwrap();
    for e in run(&c.net, g, &empty, x) {
        assert_eq!(e, Some(ExplainError::Empty("background")));
    }
    let narrow = Background::new(vec![0.0; 10], 5).unwrap();
    for e in run(&c.net, g, &narrow, x) {
        assert!(matches!(
            e,
            Some(ExplainError::WidthMismatch {
                what: "background width",
                ..
            })
        ));
    }
    let mut broken = bg.clone();
    broken.weights[0] = -1.0;
    for e in run(&c.net, g, &broken, x) {
        assert!(matches!(e, Some(ExplainError::InvalidBackground(_))));
    }
    let partial = Groups {
        names: vec!["a".into()],
        columns: vec![vec![0, 1]],
    };
    for e in run(&c.net, &partial, bg, x) {
        assert!(matches!(e, Some(ExplainError::InvalidGroups(_))));
    }
    // A model that returns too few values.
    let liar = FnModel::new(x.len(), 2, |_: &[f32], rows: usize| vec![0.0; rows]);
    for e in run(&liar, g, bg, x) {
        assert!(matches!(
            e,
            Some(ExplainError::WidthMismatch {
                what: "model predictions",
                ..
            })
        ));
    }
    assert!(matches!(
        kernel(&c.net, g, bg, x, 0, 0),
        Err(ExplainError::InvalidOption(_))
    ));
    assert!(matches!(
        permutation(&c.net, g, bg, x, 0, 0),
        Err(ExplainError::InvalidOption(_))
    ));

    // 21 varying features are too many for exact, but fine for the samplers.
    let wide = Linear::new(21);
    let singles = Groups::singletons(21, &[]);
    let data = table(8, 1, 0).repeat(2);
    let data: Vec<f32> = data.iter().chain(&data[..18]).copied().collect();
    let x: Vec<f32> = data[..21].iter().map(|v| v + 1.0).collect();
    let bg21 = Background::new(data, 21).unwrap();
    assert_eq!(
        exact(&wide, &singles, &bg21, &x),
        Err(ExplainError::TooManyFeatures {
            features: 21,
            max: 20
        })
    );
    let k = kernel(&wide, &singles, &bg21, &x, 200, 0).unwrap();
    assert_local_accuracy(&k, "kernel 21");
    // A thin system (10 coalitions for 20 unknowns) takes the ridge and stays finite.
    let thin = kernel(&wide, &singles, &bg21, &x, 10, 0).unwrap();
    assert!(thin.values.iter().all(|v| v.is_finite()));
    assert_local_accuracy(&thin, "kernel 21, 10 samples");
    assert_local_accuracy(
        &permutation(&wide, &singles, &bg21, &x, 2, 0).unwrap(),
        "perm 21",
    );
}

#[test]
fn one_and_two_feature_games() {
    let model = FnModel::new(2, 1, |x: &[f32], rows: usize| {
        x.chunks_exact(2)
            .take(rows)
            .map(|r| f64::from(r[0]) * f64::from(r[1]) + f64::from(r[0]))
            .collect()
    });
    let bg = Background::new(vec![0.0, 0.0, 1.0, 2.0], 2).unwrap();
    let x = [2.0, 3.0];
    // Two players: φ_0 = ½[(v(0)−v(∅)) + (v(01)−v(1))].
    let groups = Groups::singletons(2, &[]);
    let e = exact(&model, &groups, &bg, &x).unwrap();
    let v_empty = (0.0 + 3.0) / 2.0;
    let v0 = (2.0 + (2.0 * 2.0 + 2.0)) / 2.0;
    let v1 = (0.0 + (1.0 * 3.0 + 1.0)) / 2.0;
    let v01 = 8.0;
    let phi0 = 0.5 * ((v0 - v_empty) + (v01 - v1));
    assert!((e.value(0, 0) - phi0).abs() < 1e-12);
    for samples in [1, 2, 5] {
        let k = kernel(&model, &groups, &bg, &x, samples, 0).unwrap();
        assert!(max_diff(&k.values, &e.values) < 1e-12, "samples {samples}");
    }
    // One group holding both columns: it gets everything.
    let one = Groups {
        names: vec!["both".into()],
        columns: vec![vec![0, 1]],
    };
    for a in [
        exact(&model, &one, &bg, &x).unwrap(),
        kernel(&model, &one, &bg, &x, 3, 0).unwrap(),
        permutation(&model, &one, &bg, &x, 1, 0).unwrap(),
    ] {
        assert!((a.values[0] - (8.0 - v_empty)).abs() < 1e-12);
    }
}
