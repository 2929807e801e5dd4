//! Explaining a trained model: the bundle as a model the explanation methods can call, the
//! background kept in the bundle, the choice of method, and integrated gradients through
//! burn's autodiff. Attributions are per original column (a one-hot categorical gets one
//! value) and per output: class probabilities, or the prediction in the target's units.

use crate::bundle::Bundle;
use crate::error::KilnError;
use burn::prelude::*;
use kiln_data::{Table, Task};
use kiln_explain::{Attribution, Background, Groups, Importance, LimeOptions, Model};
use kiln_train::{Matrix, Objective, Predictor};
use serde::{Deserialize, Serialize};

/// Explanation methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Exact Shapley values when there are few features (at most 12), Kernel SHAP otherwise.
    Auto,
    /// Exact Shapley values over all coalitions.
    Exact,
    /// Kernel SHAP (Lundberg and Lee).
    Kernel,
    /// Permutation SHAP with antithetic permutations.
    Permutation,
    /// LIME: a sparse weighted linear surrogate around each row.
    Lime,
    /// Integrated gradients from the background's mean row.
    Ig,
    /// Permutation importance on labelled rows.
    Importance,
}

/// Path steps of the word attributions' integrated gradients.
const TOKEN_STEPS: usize = 64;
/// Path steps of integrated gradients through a pretrained encoder (each step runs the whole
/// encoder forward and back).
const ENCODER_STEPS: usize = 16;
/// Rows whose texts get word-piece attributions through a pretrained encoder (the first ones
/// explained): a few seconds each on a laptop CPU.
const ENCODER_ROWS: usize = 8;

/// Most features for which `Auto` computes exact Shapley values (4096 coalitions).
const AUTO_EXACT_FEATURES: usize = 12;

/// Settings of an explanation.
#[derive(Debug, Clone)]
pub struct ExplainOptions {
    /// The method.
    pub method: Method,
    /// Background rows: a k-means summary of the bundle's training sample with this many
    /// centres (0: the whole sample).
    pub background: usize,
    /// Coalitions (Kernel SHAP, LIME), permutations (permutation SHAP), path steps (IG) or
    /// repeats (importance); 0 chooses.
    pub samples: usize,
    /// Seed of every random step.
    pub seed: u64,
}

impl Default for ExplainOptions {
    fn default() -> Self {
        Self {
            method: Method::Auto,
            background: 16,
            samples: 0,
            seed: 42,
        }
    }
}

/// The attributions of one row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RowExplanation {
    /// 0-based data row in the table.
    pub row: usize,
    /// Per output: the expected output over the background (the SHAP base value), or the
    /// surrogate's intercept (LIME), or the output at the baseline (IG).
    pub base: Vec<f64>,
    /// Features × outputs, row-major.
    pub values: Vec<f64>,
    /// Per output: the model's output for the row.
    pub prediction: Vec<f64>,
    /// LIME only: the weighted R² of the surrogate per output.
    pub fit_r2: Option<Vec<f64>>,
}

/// What `explain` found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Explanation {
    /// The method used.
    pub method: Method,
    /// What the attributions are in, in words.
    pub output_space: String,
    /// Output names: class names, or the target's name.
    pub outputs: Vec<String>,
    /// Feature (original column) names.
    pub features: Vec<String>,
    /// Per explained row.
    pub rows: Vec<RowExplanation>,
    /// Permutation importance, for that method.
    pub importance: Option<Vec<Importance>>,
    /// Per explained row and feature, the feature's number (None for categories or missing),
    /// for colouring plots.
    pub feature_values: Vec<Vec<Option<f64>>>,
    /// Word attributions of free-text columns read as n-grams, per explained row.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tokens: Vec<TokenAttribution>,
    /// Decisions and caveats, in words.
    pub notes: Vec<String>,
}

/// A bundle as a model the explanation methods evaluate in large batches.
pub struct BundleModel<'a> {
    bundle: &'a Bundle,
    predictor: Predictor,
    device: Device,
}

impl<'a> BundleModel<'a> {
    /// Wraps `bundle`, evaluated on the CPU.
    pub fn new(bundle: &'a Bundle) -> Self {
        Self {
            bundle,
            predictor: Predictor::new(&bundle.model),
            device: Device::flex(),
        }
    }
}

impl Model for BundleModel<'_> {
    fn inputs(&self) -> usize {
        self.bundle.manifest.network.inputs
    }

    fn outputs(&self) -> usize {
        self.bundle.manifest.network.outputs
    }

    fn predict(&self, x: &[f32], rows: usize) -> Vec<f64> {
        let m = &self.bundle.manifest;
        self.predictor
            .predict(
                Matrix::new(x, rows, m.network.inputs),
                &m.objective,
                &self.device,
            )
            .into_iter()
            .map(f64::from)
            .collect()
    }
}

fn explain_error(e: kiln_explain::ExplainError) -> KilnError {
    KilnError::Config(format!("explain: {e}"))
}

/// Explains `rows` (0-based data rows of `table`) of the model in `bundle`.
pub fn explain(
    bundle: &Bundle,
    table: &Table,
    rows: &[usize],
    options: &ExplainOptions,
) -> Result<Explanation, KilnError> {
    let m = &bundle.manifest;
    if m.image().is_some() {
        return Err(KilnError::Config(
            "this model reads images: explain it on image files (a file or a folder of them), which get heat maps, rather than on a table of pixels".into(),
        ));
    }
    let sample = m.background.as_ref().ok_or_else(|| {
        KilnError::Config(
            "this model holds no background sample (it was made by an older Kiln); retrain it to explain it".into(),
        )
    })?;
    let encoded = m.preprocessor.transform(table)?;
    if let Some(&bad) = rows.iter().find(|&&r| r >= encoded.rows) {
        return Err(KilnError::Config(format!(
            "--rows asks for row {bad}, but '{}' has {} data rows (rows count from 0)",
            table.source, encoded.rows
        )));
    }
    let width = encoded.width;
    let names: Vec<String> = m
        .preprocessor
        .features
        .iter()
        .map(|f| f.column.clone())
        .collect();
    let groups = Groups::from_sources(names.clone(), &m.preprocessor.input_sources());
    let model = BundleModel::new(bundle);
    let mut notes = Vec::new();
    let reads_tokens = matches!(m.network.body, kiln_model::Body::Text { .. });
    let background = if options.background == 0 || options.background >= sample.rows {
        Background::new(sample.values.clone(), sample.width).map_err(explain_error)?
    } else if reads_tokens {
        // Token numbers cannot be averaged into centres: keep whole rows.
        notes.push(format!(
            "background: a seeded sample of {} of the {} training rows kept in the model (texts read as tokens are not averaged)",
            options.background, sample.rows
        ));
        Background::sample(
            &sample.values,
            sample.rows,
            sample.width,
            options.background,
            options.seed,
        )
    } else {
        notes.push(format!(
            "background: a {}-centre k-means summary of {} training rows kept in the model",
            options.background, sample.rows
        ));
        Background::kmeans(
            &sample.values,
            sample.rows,
            sample.width,
            options.background,
            options.seed,
        )
    };
    let method = match options.method {
        Method::Auto if groups.len() <= AUTO_EXACT_FEATURES => Method::Exact,
        Method::Auto => Method::Kernel,
        other => other,
    };
    if reads_tokens && method == Method::Ig {
        return Err(KilnError::Config(
            "integrated gradients need a network differentiable in its inputs, and this model reads text as token numbers; use --method exact, kernel, permutation or lime".into(),
        ));
    }
    let (outputs, output_space) = match (&m.objective, m.target.task) {
        (Objective::Classification { .. }, _) => (
            m.target.classes.clone(),
            "probability of each class".to_string(),
        ),
        (Objective::Regression { .. }, Task::Regression) | (Objective::Regression { .. }, _) => (
            vec![m.target.column.clone()],
            format!("predicted {} in its own units", m.target.column),
        ),
    };
    let row_x = |r: usize| &encoded.values[r * width..(r + 1) * width];
    let mut explained = Vec::new();
    let mut importance = None;
    let samples = options.samples;
    match method {
        Method::Importance => {
            let target = m.target.encode(table)?;
            let labelled: Vec<usize> = rows
                .iter()
                .copied()
                .filter(|&r| target[r].is_some())
                .collect();
            if labelled.is_empty() {
                return Err(KilnError::Config(format!(
                    "permutation importance needs the target column '{}' with values in the explained rows",
                    m.target.column
                )));
            }
            let x: Vec<f32> = labelled.iter().flat_map(|&r| row_x(r).to_vec()).collect();
            let y: Vec<f32> = labelled.iter().map(|&r| target[r].unwrap_or(0.0)).collect();
            let objective = m.objective.clone();
            let scorer = move |predictions: &[f64]| score(predictions, &y, &objective);
            let repeats = if samples == 0 { 5 } else { samples };
            notes.push(format!(
                "importance: drop in {} when a column is shuffled, mean and spread over {repeats} shuffles",
                score_name(&m.objective)
            ));
            let mut ranked = kiln_explain::permutation_importance(
                &model,
                &groups,
                &x,
                labelled.len(),
                &scorer,
                repeats,
                options.seed,
            )
            .map_err(explain_error)?;
            ranked.sort_by(|a, b| b.mean.total_cmp(&a.mean));
            notes.push(format!(
                "importance measured on {} labelled rows",
                labelled.len()
            ));
            importance = Some(ranked);
        }
        _ => {
            for &r in rows {
                let x = row_x(r);
                let (attribution, fit_r2) = match method {
                    Method::Exact => (kiln_explain::exact(&model, &groups, &background, x), None),
                    Method::Kernel => {
                        let budget = if samples == 0 {
                            2 * groups.len() + 2048
                        } else {
                            samples
                        };
                        (
                            kiln_explain::kernel(
                                &model,
                                &groups,
                                &background,
                                x,
                                budget,
                                options.seed ^ r as u64,
                            ),
                            None,
                        )
                    }
                    Method::Permutation => {
                        let budget = if samples == 0 { 10 } else { samples };
                        (
                            kiln_explain::permutation(
                                &model,
                                &groups,
                                &background,
                                x,
                                budget,
                                options.seed ^ r as u64,
                            ),
                            None,
                        )
                    }
                    Method::Lime => {
                        let lime = kiln_explain::lime(
                            &model,
                            &groups,
                            &background,
                            x,
                            &LimeOptions {
                                samples: if samples == 0 { 5000 } else { samples },
                                kernel_width: None,
                                features: groups.len().clamp(1, 10),
                                discretize: true,
                                seed: options.seed ^ r as u64,
                            },
                        )
                        .map_err(explain_error)?;
                        (
                            Ok(Attribution {
                                base: lime.intercept,
                                values: lime.values,
                                prediction: lime.prediction,
                            }),
                            Some(lime.r2),
                        )
                    }
                    Method::Ig => (
                        Ok(integrated_gradients(
                            bundle,
                            &groups,
                            &background,
                            x,
                            if samples == 0 { 64 } else { samples },
                        )),
                        None,
                    ),
                    Method::Auto | Method::Importance => unreachable!("resolved above"),
                };
                let a = attribution.map_err(explain_error)?;
                explained.push(RowExplanation {
                    row: r,
                    base: a.base,
                    values: a.values,
                    prediction: a.prediction,
                    fit_r2,
                });
            }
        }
    }
    match method {
        Method::Exact => notes.push(format!(
            "exact Shapley values over all {} coalitions of {} features",
            1u64 << groups.len(),
            groups.len()
        )),
        Method::Kernel => notes.push("Kernel SHAP with paired coalition sampling; the attributions add up to the prediction exactly".into()),
        Method::Permutation => notes.push("permutation SHAP with antithetic permutations".into()),
        Method::Lime => notes.push("LIME: base is the surrogate's intercept, values its weights; fit_r2 says how well it fits".into()),
        Method::Ig => notes.push("integrated gradients from the background's mean row; the gap between base + Σ values and the prediction is the path integral's error".into()),
        _ => {}
    }
    let feature_values = rows
        .iter()
        .map(|&r| {
            names
                .iter()
                .map(|n| {
                    table.column(n).and_then(|c| match c.cells.get(r) {
                        Some(kiln_data::Cell::Num(v)) => Some(*v),
                        _ => None,
                    })
                })
                .collect()
        })
        .collect();
    let tokens = if method == Method::Importance {
        Vec::new()
    } else {
        token_attributions(bundle, table, &encoded, rows, TOKEN_STEPS)?
    };
    if !tokens.is_empty() && reads_tokens {
        notes.push("word attributions: the change in each output when the word (or, for a fine-tuned encoder, the word piece) is removed from the text (the tokens after it move up one place)".into());
    } else if !tokens.is_empty() {
        notes.push(format!("word attributions: integrated gradients ({TOKEN_STEPS} steps) over each text's n-gram inputs, from the same row with the text's words removed"));
    }
    let through_encoder = m.preprocessor.features.iter().any(|f| {
        matches!(&f.encoder, kiln_data::preprocess::FeatureEncoder::Text(t) if t.sentence.is_some())
    });
    if through_encoder && !tokens.is_empty() {
        notes.push(format!("word-piece attributions through the pretrained encoder (the first {ENCODER_ROWS} rows): integrated gradients with respect to its word embeddings, from [PAD] embeddings ([CLS] and [SEP] kept) to the text's own, the row's other inputs held ({ENCODER_STEPS} steps, doubled until the attributions add up to what the sentence vector changed within 5%)"));
    }
    Ok(Explanation {
        method,
        output_space,
        outputs,
        features: names,
        rows: explained,
        importance,
        feature_values,
        tokens,
        notes,
    })
}

/// The score permutation importance compares: accuracy for classifiers, minus RMSE for
/// regression (higher is better for both).
fn score(predictions: &[f64], y: &[f32], objective: &Objective) -> f64 {
    match objective {
        Objective::Classification { classes } => {
            let correct = predictions
                .chunks(*classes)
                .zip(y)
                .filter(|(p, label)| {
                    let best = p
                        .iter()
                        .enumerate()
                        .max_by(|a, b| a.1.total_cmp(b.1))
                        .map_or(0, |(i, _)| i);
                    best == **label as usize
                })
                .count();
            correct as f64 / y.len().max(1) as f64
        }
        Objective::Regression { .. } => {
            let mse = predictions
                .iter()
                .zip(y)
                .map(|(p, &t)| (p - f64::from(t)).powi(2))
                .sum::<f64>()
                / y.len().max(1) as f64;
            -mse.sqrt()
        }
    }
}

fn score_name(objective: &Objective) -> &'static str {
    match objective {
        Objective::Classification { .. } => "accuracy",
        Objective::Regression { .. } => "RMSE",
    }
}

/// Integrated gradients (Sundararajan et al.) of every output from the background's weighted
/// mean row to `x`, by the midpoint rule with `steps` points, summed per feature group.
pub fn integrated_gradients(
    bundle: &Bundle,
    groups: &Groups,
    background: &Background,
    x: &[f32],
    steps: usize,
) -> Attribution {
    let outputs = bundle.manifest.network.outputs;
    let mut baseline = vec![0f32; x.len()];
    for b in 0..background.n {
        let w = background.weights[b] as f32;
        for (acc, v) in baseline.iter_mut().zip(background.row(b)) {
            *acc += w * v;
        }
    }
    let per_input = input_gradients(bundle, &baseline, x, steps);
    let mut values = vec![0f64; groups.len() * outputs];
    for (f, columns) in groups.columns.iter().enumerate() {
        for k in 0..outputs {
            values[f * outputs + k] = columns.iter().map(|&j| per_input[j * outputs + k]).sum();
        }
    }
    let ends = BundleModel::new(bundle).predict(&[baseline, x.to_vec()].concat(), 2);
    Attribution {
        base: ends[..outputs].to_vec(),
        values,
        prediction: ends[outputs..].to_vec(),
    }
}

/// Integrated gradients of every output per network input (inputs × outputs, row-major) along
/// the straight path from `baseline` to `x`, by the midpoint rule with `steps` points. The
/// output is the ensemble members' mean probability, or value in the target's units.
fn input_gradients(bundle: &Bundle, baseline: &[f32], x: &[f32], steps: usize) -> Vec<f64> {
    let m = &bundle.manifest;
    let width = x.len();
    let steps = steps.max(1);
    let path: Vec<f32> = (0..steps)
        .flat_map(|s| {
            let alpha = (s as f32 + 0.5) / steps as f32;
            baseline
                .iter()
                .zip(x)
                .map(move |(b, xi)| b + alpha * (xi - b))
                .collect::<Vec<_>>()
        })
        .collect();
    let ad = Device::flex().autodiff();
    let model = bundle.model.clone().to_device(&ad);
    let outputs = m.network.outputs;
    let mut values = vec![0f64; width * outputs];
    for k in 0..outputs {
        let input = Tensor::<2>::from_data(TensorData::new(path.clone(), [steps, width]), &ad)
            .require_grad();
        // [steps, members, outputs].
        let out = model.forward(input.clone());
        let members = out.dims()[1];
        let value = match &m.objective {
            Objective::Classification { .. } => burn::tensor::activation::softmax(out, 2)
                .slice([0..steps, 0..members, k..k + 1])
                .sum()
                .div_scalar(members as f64),
            Objective::Regression { std, .. } => out.sum().mul_scalar(*std / members as f64),
        };
        let grads = value.backward();
        let g = input
            .grad(&grads)
            .map(|t| t.into_data().try_into_vec::<f32>().unwrap_or_default())
            .unwrap_or_default();
        if g.len() != steps * width {
            continue;
        }
        for j in 0..width {
            let mean_grad: f64 =
                (0..steps).map(|s| f64::from(g[s * width + j])).sum::<f64>() / steps as f64;
            values[j * outputs + k] = f64::from(x[j] - baseline[j]) * mean_grad;
        }
    }
    values
}

/// How word attributions were computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenMethod {
    /// Integrated gradients over the n-gram inputs, from the row with the text's words removed.
    Ngrams,
    /// Integrated gradients through a frozen pretrained encoder's word embeddings, from
    /// [PAD]'s embedding in place of every word piece.
    Encoder,
    /// The change when each token alone is removed, for models reading tokens in order.
    Removal,
}

/// How the words of one row's free-text column moved each output.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenAttribution {
    /// 0-based data row.
    pub row: usize,
    /// The text column.
    pub column: String,
    /// How the attributions were computed.
    pub method: TokenMethod,
    /// Per output: the model's output for the row with this text's words removed (the
    /// baseline of the path; through an encoder, the words' embeddings set to [PAD]'s).
    pub without_words: Vec<f64>,
    /// Per output: the model's output for the row.
    pub prediction: Vec<f64>,
    /// Each n-gram (or, for a model reading words in order, each word) of the text that the
    /// model reads, with its attribution per output: integrated gradients, which add up to
    /// prediction − without_words up to the path integral's error, or for words in order the
    /// change in each output when that word is removed. Largest |attribution| toward the last
    /// output first.
    pub terms: Vec<(String, Vec<f64>)>,
    /// The text as spans, each word with its attribution per output (its unigram's plus half
    /// of each bigram it is part of, or its removal's effect); spans between words, and words
    /// past the model's token limit, have none.
    pub spans: Vec<(String, Option<Vec<f64>>)>,
}

/// Word attributions of each free-text column, for each row: integrated gradients over the
/// word n-gram inputs, from the row with the column's words removed to the row itself, so each
/// word the model reads gets its share of the difference; integrated gradients through a
/// frozen pretrained encoder's word embeddings, per word piece (the first few rows); or, for
/// a model reading tokens in order, each token's removal. Empty for models reading no text.
pub fn token_attributions(
    bundle: &Bundle,
    table: &Table,
    encoded: &kiln_data::Encoded,
    rows: &[usize],
    steps: usize,
) -> Result<Vec<TokenAttribution>, KilnError> {
    let m = &bundle.manifest;
    let outputs = m.network.outputs;
    let width = encoded.width;
    let mut found = Vec::new();
    let mut offset = 0;
    for feature in &m.preprocessor.features {
        let start = offset;
        offset += feature.encoder.width();
        let kiln_data::preprocess::FeatureEncoder::Text(text) = &feature.encoder else {
            continue;
        };
        let Some(column) = table.column(&feature.column) else {
            continue;
        };
        if let Some(slots) = &text.tokens {
            let span = start + text.tokens_start()..start + text.width();
            for &r in rows {
                let x = &encoded.values[r * width..(r + 1) * width];
                let text = column.cells[r].as_text();
                // A text the tokenizer cannot read was refused when it was encoded.
                let Ok(pieces) = slots.pieces(&text) else {
                    continue;
                };
                found.push(token_occlusion(
                    bundle,
                    x,
                    span.clone(),
                    &pieces,
                    r,
                    feature,
                    &text,
                ));
            }
            continue;
        }
        if let Some(sentence) = &text.sentence {
            let path = crate::encoder_gradients::EncoderPath::load(sentence)?;
            let span = start..start + text.sentence_width();
            for &r in rows.iter().take(ENCODER_ROWS) {
                let x = &encoded.values[r * width..(r + 1) * width];
                found.push(path.attribute(
                    bundle,
                    x,
                    span.clone(),
                    sentence,
                    &column.cells[r].as_text(),
                    ENCODER_STEPS,
                    r,
                    &feature.column,
                )?);
            }
        }
        let Some(bag) = &text.ngrams else { continue };
        let block = start + text.sentence_width();
        let block = block..block + bag.terms.len();
        let model = BundleModel::new(bundle);
        for &r in rows {
            let x = &encoded.values[r * width..(r + 1) * width];
            let mut baseline = x.to_vec();
            baseline[block.clone()].fill(0.0);
            let per_input = input_gradients(bundle, &baseline, x, steps);
            let ends = model.predict(&[baseline.clone(), x.to_vec()].concat(), 2);
            let mut terms: Vec<(String, Vec<f64>)> = block
                .clone()
                .filter(|&j| x[j] != 0.0)
                .map(|j| {
                    (
                        bag.terms[j - block.start].clone(),
                        per_input[j * outputs..(j + 1) * outputs].to_vec(),
                    )
                })
                .collect();
            terms.sort_by(|a, b| b.1[outputs - 1].abs().total_cmp(&a.1[outputs - 1].abs()));
            let weight: std::collections::HashMap<&str, &[f64]> = terms
                .iter()
                .map(|(t, v)| (t.as_str(), v.as_slice()))
                .collect();
            let spans =
                kiln_data::text::word_spans(&column.cells[r].as_text(), |word, before, after| {
                    let mut total = vec![0f64; outputs];
                    let mut known = false;
                    let halves = [
                        before.map(|b| format!("{b} {word}")),
                        after.map(|a| format!("{word} {a}")),
                    ];
                    for (term, share) in std::iter::once((word.to_string(), 1.0))
                        .chain(halves.into_iter().flatten().map(|t| (t, 0.5)))
                    {
                        if let Some(v) = weight.get(term.as_str()) {
                            known = true;
                            total.iter_mut().zip(*v).for_each(|(t, x)| *t += share * x);
                        }
                    }
                    known.then_some(total)
                });
            found.push(TokenAttribution {
                row: r,
                column: feature.column.clone(),
                method: TokenMethod::Ngrams,
                without_words: ends[..outputs].to_vec(),
                prediction: ends[outputs..].to_vec(),
                terms,
                spans,
            });
        }
    }
    // Row by row, each row's attributions together (stable: the encoder's before the n-grams').
    found.sort_by_key(|t| t.row);
    Ok(found)
}

/// Token attributions of a text read as tokens in order (`span` of the row `x`, the tokens
/// standing for `pieces` of `text`): each token's is the change in each output when it is
/// removed (the tokens after it move up one place), all variants predicted in one batch.
/// Tokens added around the text ([CLS], [SEP]) are kept.
fn token_occlusion(
    bundle: &Bundle,
    x: &[f32],
    span: std::ops::Range<usize>,
    pieces: &[kiln_text::Piece],
    row: usize,
    feature: &kiln_data::preprocess::Feature,
    text: &str,
) -> TokenAttribution {
    let outputs = bundle.manifest.network.outputs;
    let n = x[span.clone()].iter().take_while(|&&v| v > 0.0).count();
    let removed: Vec<usize> = (0..n.min(pieces.len()))
        .filter(|&i| pieces[i].is_some())
        .collect();
    let mut batch = Vec::with_capacity((removed.len() + 2) * x.len());
    batch.extend_from_slice(x);
    let mut empty = x.to_vec();
    empty[span.clone()].fill(0.0);
    batch.extend_from_slice(&empty);
    for &i in &removed {
        let mut without = x.to_vec();
        let dst = &mut without[span.clone()];
        dst.copy_within(i + 1..n, i);
        dst[n - 1] = 0.0;
        batch.extend_from_slice(&without);
    }
    let out = BundleModel::new(bundle).predict(&batch, removed.len() + 2);
    let prediction = out[..outputs].to_vec();
    let effects = removed
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            let piece = pieces[i]
                .clone()
                .expect("only pieces of the text are removed");
            let o = &out[(k + 2) * outputs..(k + 3) * outputs];
            (
                piece,
                prediction.iter().zip(o).map(|(p, v)| p - v).collect(),
            )
        })
        .collect();
    piece_attribution(
        row,
        &feature.column,
        TokenMethod::Removal,
        text,
        effects,
        out[outputs..2 * outputs].to_vec(),
        prediction,
    )
}

/// The attribution of one text from each piece's (byte range's) effect per output, pieces in
/// text order: the text as spans (pieces with their effect, the text between them without),
/// and the pieces as terms, largest |effect| toward the last output first.
pub(crate) fn piece_attribution(
    row: usize,
    column: &str,
    method: TokenMethod,
    text: &str,
    effects: Vec<(std::ops::Range<usize>, Vec<f64>)>,
    without_words: Vec<f64>,
    prediction: Vec<f64>,
) -> TokenAttribution {
    let mut spans = Vec::new();
    let mut at = 0;
    for (piece, effect) in effects {
        if piece.start < at || piece.end > text.len() {
            continue;
        }
        if piece.start > at {
            spans.push((text[at..piece.start].to_string(), None));
        }
        spans.push((text[piece.clone()].to_string(), Some(effect)));
        at = piece.end;
    }
    if at < text.len() {
        spans.push((text[at..].to_string(), None));
    }
    let last = prediction.len().saturating_sub(1);
    let mut terms: Vec<(String, Vec<f64>)> = spans
        .iter()
        .filter_map(|(t, v)| v.as_ref().map(|v| (t.to_lowercase(), v.clone())))
        .collect();
    terms.sort_by(|a, b| b.1[last].abs().total_cmp(&a.1[last].abs()));
    TokenAttribution {
        row,
        column: column.to_string(),
        method,
        without_words,
        prediction,
        terms,
        spans,
    }
}
