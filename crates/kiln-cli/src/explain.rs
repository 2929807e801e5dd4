//! `kiln explain`: why a model predicts what it predicts, per row and overall.

use crate::commands::{Print, check_folder_exists};
use kiln::explain::{ExplainOptions, Explanation, Method, TokenAttribution, TokenMethod};
use kiln::report_types::{BeeswarmFeature, Report, Section};
use kiln::{Bundle, KilnError};
use std::path::{Path, PathBuf};

/// Rows explained when `--rows` is not given.
const DEFAULT_ROWS: usize = 100;
/// Rows drawn as waterfalls in the report.
const WATERFALLS: usize = 3;

/// Explanation methods on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MethodArg {
    /// Exact Shapley values for up to 12 features, Kernel SHAP beyond.
    Auto,
    /// Exact Shapley values (all coalitions; at most 20 features).
    Exact,
    /// Kernel SHAP.
    Kernel,
    /// Permutation SHAP.
    Permutation,
    /// LIME.
    Lime,
    /// Integrated gradients.
    Ig,
    /// Plain gradients (saliency) of the predicted class's probability: image models only.
    Gradient,
    /// The drop in the predicted class's probability when patches turn black: image models
    /// only (the default for models on a pretrained network's features).
    Occlusion,
    /// Permutation importance (needs the target column).
    Importance,
}

impl From<MethodArg> for Method {
    fn from(m: MethodArg) -> Self {
        match m {
            MethodArg::Auto => Method::Auto,
            MethodArg::Exact => Method::Exact,
            MethodArg::Kernel => Method::Kernel,
            MethodArg::Permutation => Method::Permutation,
            MethodArg::Lime => Method::Lime,
            MethodArg::Ig | MethodArg::Gradient | MethodArg::Occlusion => Method::Ig,
            MethodArg::Importance => Method::Importance,
        }
    }
}

/// `kiln explain`: heat maps for an image model given image files, attributions per column
/// otherwise.
pub fn run(args: ExplainArgs, print: Print) -> Result<(), KilnError> {
    if kiln::images::is_image_input(&args.data) {
        return explain_images(args, print);
    }
    if matches!(args.method, MethodArg::Gradient | MethodArg::Occlusion) {
        return Err(KilnError::Config(
            "--method gradient and occlusion draw heat maps for an image model: pass image files; for a table use ig, kernel, exact, permutation, lime or importance".into(),
        ));
    }
    explain(args, print).map(|_| ())
}

/// Heat maps over image files: a PNG with a row per image (image, heat map, overlay).
fn explain_images(args: ExplainArgs, print: Print) -> Result<(), KilnError> {
    use kiln::saliency::{IG_STEPS, Saliency};
    let bundle = Bundle::load(&args.model)?;
    let method = match args.method {
        MethodArg::Auto if bundle.manifest.preprocessor.backbone.is_some() => Saliency::Occlusion,
        MethodArg::Auto | MethodArg::Ig => Saliency::IntegratedGradients,
        MethodArg::Gradient => Saliency::Gradient,
        MethodArg::Occlusion => Saliency::Occlusion,
        other => {
            return Err(KilnError::Config(format!(
                "--method {} explains tables; for images use ig (integrated gradients, the default), gradient or occlusion",
                clap::ValueEnum::to_possible_value(&other)
                    .map_or_else(String::new, |v| v.get_name().to_string())
            )));
        }
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.model.with_extension("heatmaps.png"));
    if !out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("png"))
    {
        return Err(KilnError::Config(format!(
            "--out '{}': heat maps are written as a PNG picture; give a name ending in .png",
            out.display()
        )));
    }
    check_folder_exists(&out)?;
    let limit = match &args.rows {
        Some(s) => s.parse::<usize>().map_err(|_| {
            KilnError::Config(format!(
                "--rows '{s}': for image files give how many to explain, such as 16"
            ))
        })?,
        None => DEFAULT_IMAGES,
    };
    let steps = if args.samples > 0 {
        args.samples
    } else {
        IG_STEPS
    };
    let started = std::time::Instant::now();
    let (png, images) = kiln::saliency::explain_images(&bundle, &args.data, method, steps, limit)?;
    let seconds = started.elapsed().as_secs_f64();
    kiln::atomic::write_atomic(&out, &png).map_err(|e| KilnError::write(&out, e))?;
    match print {
        Print::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "method": method,
                "picture": out,
                "images": images,
                "seconds": seconds,
            }))
            .expect("explanations serialise")
        ),
        Print::Text => {
            println!(
                "wrote {}: a row per image (the image, its heat map, the two laid over each other); red pixels raise the predicted class's probability{}",
                out.display(),
                match method {
                    Saliency::Gradient => " most when changed (gradient size)",
                    Saliency::IntegratedGradients =>
                        ", blue ones lower it (integrated gradients from a black image)",
                    Saliency::Occlusion =>
                        ", blue ones lower it (the mean drop in probability when a patch over the pixel turns black)",
                }
            );
            for e in &images {
                println!(
                    "  row {:>2}  {}  {} (p = {:.3}; attributions sum to {:+.3})",
                    e.row, e.file, e.class, e.probability, e.total
                );
            }
            println!("{:.2} s", seconds);
        }
        Print::Nothing => {}
    }
    Ok(())
}

/// The word attributions of the first `rows` distinct rows (each row's methods together).
fn first_rows(tokens: &[TokenAttribution], rows: usize) -> impl Iterator<Item = &TokenAttribution> {
    let mut seen = Vec::new();
    tokens.iter().filter(move |t| {
        if !seen.contains(&t.row) {
            seen.push(t.row);
        }
        seen.len() <= rows && seen.contains(&t.row)
    })
}

/// Image files explained when --rows does not say.
const DEFAULT_IMAGES: usize = 16;

/// Options of `kiln explain`.
#[derive(clap::Args)]
pub struct ExplainArgs {
    /// The model bundle.
    pub model: PathBuf,
    /// A table with the model's feature columns (and its target, for importance); for an image
    /// model, an image file or a folder of them, explained as heat maps in a PNG.
    pub data: PathBuf,
    /// The method.
    #[arg(long, value_enum, default_value_t = MethodArg::Auto)]
    pub method: MethodArg,
    /// Rows to explain, counted from 0: e.g. `0-9,15,40-` [default: the first 100]; for image
    /// files, how many to explain [default: 16].
    #[arg(long)]
    pub rows: Option<String>,
    /// Background: k-means centres summarising the training sample in the model (0: all of it).
    #[arg(long, default_value_t = 16)]
    pub background: usize,
    /// Coalitions (kernel, lime), permutations, IG steps or importance repeats [default: chosen].
    #[arg(long, default_value_t = 0)]
    pub samples: usize,
    /// Seed of every random step.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Write the attributions here: .csv (a row per explained row and output) or .json; for
    /// image files, the heat-map picture (.png) [default: MODEL.heatmaps.png].
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Write an HTML report (importance, beeswarm, waterfalls) here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Print everything as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Parses a row selection such as `0-9,15,40-` into sorted distinct rows below `rows`.
pub fn parse_rows(selection: &str, rows: usize) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for part in selection
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let number = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| format!("--rows: '{part}' is not a row number or a range like 3-7"))
        };
        let (start, end) = match part.split_once('-') {
            Some((a, "")) => (number(a)?, rows.saturating_sub(1)),
            Some((a, b)) => (number(a)?, number(b)?),
            None => {
                let n = number(part)?;
                (n, n)
            }
        };
        if start > end {
            return Err(format!("--rows: range '{part}' runs backwards"));
        }
        if start >= rows {
            return Err(format!(
                "--rows: row {start} does not exist; the data has {rows} rows, counted from 0"
            ));
        }
        out.extend(start..=end.min(rows - 1));
    }
    out.sort_unstable();
    out.dedup();
    if out.is_empty() {
        return Err("--rows selects no row".into());
    }
    Ok(out)
}

/// `kiln explain`.
pub fn explain(args: ExplainArgs, print: Print) -> Result<Explanation, KilnError> {
    for path in [&args.out, &args.report].into_iter().flatten() {
        check_folder_exists(path)?;
    }
    let bundle = Bundle::load(&args.model)?;
    let table = kiln::data::read_table(&args.data)?;
    let n = table.n_rows();
    let method: Method = args.method.into();
    let rows = match &args.rows {
        Some(s) => parse_rows(s, n).map_err(KilnError::Config)?,
        None if method == Method::Importance => (0..n).collect(),
        None => (0..n.min(DEFAULT_ROWS)).collect(),
    };
    let options = ExplainOptions {
        method,
        background: args.background,
        samples: args.samples,
        seed: args.seed,
    };
    let started = std::time::Instant::now();
    let mut e = kiln::explain::explain(&bundle, &table, &rows, &options)?;
    let seconds = started.elapsed().as_secs_f64();
    if args.rows.is_none() && method != Method::Importance && n > DEFAULT_ROWS {
        e.notes.push(format!(
            "explained the first {DEFAULT_ROWS} of {n} rows; choose others with --rows"
        ));
    }
    if let Some(path) = &args.out {
        let text = if path.extension().is_some_and(|x| x == "json") {
            serde_json::to_string_pretty(&e).expect("explanations serialise")
        } else {
            to_csv(&e)
        };
        kiln::atomic::write_atomic(path, text.as_bytes())
            .map_err(|err| KilnError::write(path, err))?;
    }
    if let Some(path) = &args.report {
        let html = kiln::report_types::render_html(&report(&e, &args.model, &args.data));
        kiln::atomic::write_atomic(path, html.as_bytes())
            .map_err(|err| KilnError::write(path, err))?;
    }
    match print {
        Print::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "explanation": e,
                "seconds": seconds,
            }))
            .expect("explanations serialise")
        ),
        Print::Text => print_text(&e, seconds),
        Print::Nothing => {}
    }
    Ok(e)
}

/// The output whose attributions a row is summarised by: the positive class of a binary
/// classifier, the predicted class of a multiclass one, the value of a regression.
fn focus(e: &Explanation, prediction: &[f64]) -> usize {
    match e.outputs.len() {
        1 => 0,
        2 => 1,
        _ => prediction
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(i, _)| i),
    }
}

/// Mean |attribution| per feature over the rows (toward each row's focus output).
fn global_importance(e: &Explanation) -> Vec<(String, f64)> {
    let k = e.outputs.len();
    let mut totals: Vec<(String, f64)> = e
        .features
        .iter()
        .enumerate()
        .map(|(f, name)| {
            let sum: f64 = e
                .rows
                .iter()
                .map(|r| r.values[f * k + focus(e, &r.prediction)].abs())
                .sum();
            (name.clone(), sum / e.rows.len().max(1) as f64)
        })
        .collect();
    totals.sort_by(|a, b| b.1.total_cmp(&a.1));
    totals
}

fn to_csv(e: &Explanation) -> String {
    let mut out = format!("row,output,base,{},prediction\n", e.features.join(","));
    let k = e.outputs.len();
    for r in &e.rows {
        for (o, name) in e.outputs.iter().enumerate() {
            let values: Vec<String> = (0..e.features.len())
                .map(|f| format!("{:.6}", r.values[f * k + o]))
                .collect();
            out += &format!(
                "{},{},{:.6},{},{:.6}\n",
                r.row,
                name,
                r.base[o],
                values.join(","),
                r.prediction[o]
            );
        }
    }
    if let Some(importance) = &e.importance {
        out = String::from("feature,importance,std\n");
        for i in importance {
            out += &format!("{},{:.6},{:.6}\n", i.name, i.mean, i.std);
        }
    }
    out
}

fn print_text(e: &Explanation, seconds: f64) {
    match e.importance {
        Some(_) => println!("permutation importance in {seconds:.2} s"),
        None => println!(
            "{:?} explanation of {} row(s) in {:.2} s; attributions are in: {}",
            e.method,
            e.rows.len(),
            seconds,
            e.output_space
        ),
    }
    for note in &e.notes {
        println!("  - {note}");
    }
    if let Some(importance) = &e.importance {
        println!("permutation importance (score drop when shuffled):");
        for i in importance {
            println!("  {:<28} {:>9.4} ± {:.4}", i.name, i.mean, i.std);
        }
        return;
    }
    println!("mean |attribution| (global importance):");
    for (name, v) in global_importance(e).iter().take(10) {
        println!("  {name:<28} {v:>10.5}");
    }
    for t in first_rows(&e.tokens, 3) {
        let o = focus(e, &t.prediction);
        println!(
            "row {} '{}': words moved {} from {:.4} ({}) to {:.4}; largest:",
            t.row,
            t.column,
            e.outputs[o],
            t.without_words[o],
            match t.method {
                TokenMethod::Encoder => "their embeddings set to [PAD]'s, through the encoder",
                _ => "without them",
            },
            t.prediction[o]
        );
        let mut terms: Vec<&(String, Vec<f64>)> = t.terms.iter().collect();
        terms.sort_by(|a, b| b.1[o].abs().total_cmp(&a.1[o].abs()));
        for (term, v) in terms.iter().take(5) {
            println!("  {term:<28} {:>+10.5}", v[o]);
        }
    }
    for r in e.rows.iter().take(3) {
        let o = focus(e, &r.prediction);
        let k = e.outputs.len();
        let mut top: Vec<(usize, f64)> = (0..e.features.len())
            .map(|f| (f, r.values[f * k + o]))
            .collect();
        top.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
        println!(
            "row {}: {} = {:.4} (base {:.4}); largest contributions:",
            r.row, e.outputs[o], r.prediction[o], r.base[o]
        );
        for (f, v) in top.iter().take(5) {
            println!("  {:<28} {:>+10.5}", e.features[*f], v);
        }
    }
}

/// Characters of a text drawn in the report; longer texts are cut there.
const SHOWN_TEXT: usize = 4000;

/// The first [`SHOWN_TEXT`] characters of a text's spans, each word weighted for `output`.
fn shown_spans(spans: &[(String, Option<Vec<f64>>)], output: usize) -> Vec<(String, Option<f64>)> {
    let mut shown = 0;
    let mut out = Vec::new();
    for (text, w) in spans {
        if shown >= SHOWN_TEXT {
            out.push((" …".to_string(), None));
            break;
        }
        shown += text.chars().count();
        out.push((text.clone(), w.as_ref().map(|w| w[output])));
    }
    out
}

fn report(e: &Explanation, model: &Path, data: &Path) -> Report {
    let mut sections = vec![Section::KeyValues {
        title: "Explanation".into(),
        rows: vec![
            ("model".into(), model.display().to_string()),
            ("data".into(), data.display().to_string()),
            ("method".into(), format!("{:?}", e.method).to_lowercase()),
            ("attributions in".into(), e.output_space.clone()),
            ("rows explained".into(), e.rows.len().to_string()),
        ],
    }];
    if let Some(importance) = &e.importance {
        sections.push(Section::BarChart {
            title: "Permutation importance".into(),
            value_label: "score drop when the column is shuffled".into(),
            bars: importance
                .iter()
                .map(|i| (i.name.clone(), i.mean))
                .collect(),
        });
    } else {
        let global = global_importance(e);
        sections.push(Section::BarChart {
            title: "Global importance".into(),
            value_label: "mean |attribution|".into(),
            bars: global.clone(),
        });
        let k = e.outputs.len();
        let features = global
            .iter()
            .take(20)
            .map(|(name, _)| {
                let f = e.features.iter().position(|n| n == name).unwrap_or(0);
                let raw: Vec<Option<f64>> = e.feature_values.iter().map(|v| v[f]).collect();
                let (lo, hi) = raw
                    .iter()
                    .flatten()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                        (lo.min(*v), hi.max(*v))
                    });
                BeeswarmFeature {
                    name: name.clone(),
                    values: e
                        .rows
                        .iter()
                        .map(|r| r.values[f * k + focus(e, &r.prediction)])
                        .collect(),
                    colour: raw
                        .iter()
                        .map(|v| v.map(|v| if hi > lo { (v - lo) / (hi - lo) } else { 0.5 }))
                        .collect(),
                }
            })
            .collect();
        sections.push(Section::Beeswarm {
            title: "Attributions of every explained row".into(),
            value_label: "attribution".into(),
            features,
        });
        for (i, r) in e.rows.iter().enumerate().take(WATERFALLS) {
            let o = focus(e, &r.prediction);
            let mut contributions: Vec<(String, f64)> = e
                .features
                .iter()
                .enumerate()
                .map(|(f, name)| {
                    let label = match e.feature_values[i][f] {
                        Some(v) => format!("{name} = {v}"),
                        None => name.clone(),
                    };
                    (label, r.values[f * k + o])
                })
                .collect();
            contributions.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
            sections.push(Section::Waterfall {
                title: format!("Row {}: {}", r.row, e.outputs[o]),
                base: r.base[o],
                prediction: r.prediction[o],
                value_label: e.output_space.clone(),
                contributions,
            });
        }
    }
    for t in first_rows(&e.tokens, WATERFALLS) {
        let o = focus(e, &t.prediction);
        let (seen, how) = match t.method {
            TokenMethod::Ngrams => (
                " (n-grams)",
                format!(
                    "{:.4} with these words removed. Red words push toward {}, blue ones away (integrated gradients; a word's weight is its own plus half of each word pair it begins or ends)",
                    t.without_words[o], e.outputs[o]
                ),
            ),
            TokenMethod::Encoder => (
                " (through the pretrained encoder)",
                format!(
                    "{:.4} with every word piece's embedding set to [PAD]'s. Red word pieces push toward {}, blue ones away (integrated gradients with respect to the encoder's word embeddings, the row's other inputs held)",
                    t.without_words[o], e.outputs[o]
                ),
            ),
            TokenMethod::Removal => (
                "",
                format!(
                    "{:.4} with the whole text removed. Red words push toward {}, blue ones away (each word's weight: the change when it alone is removed)",
                    t.without_words[o], e.outputs[o]
                ),
            ),
        };
        sections.push(Section::HighlightedText {
            title: format!("Row {}: the words of '{}'{seen}", t.row, t.column),
            caption: format!("{} = {:.4}; {how}.", e.outputs[o], t.prediction[o]),
            spans: shown_spans(&t.spans, o),
        });
    }
    sections.push(Section::Notes {
        title: "Notes".into(),
        items: e
            .notes
            .iter()
            .map(|n| (kiln::report_types::Level::Info, n.clone()))
            .collect(),
    });
    Report {
        title: format!("kiln explain: {}", model.display()),
        subtitle: format!("Kiln {}", kiln::VERSION),
        sections,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_selections_parse_and_bad_ones_say_why() {
        assert_eq!(parse_rows("0-2,5,4", 10).unwrap(), vec![0, 1, 2, 4, 5]);
        assert_eq!(parse_rows("8-", 10).unwrap(), vec![8, 9]);
        assert!(parse_rows("12", 10).unwrap_err().contains("10 rows"));
        assert!(parse_rows("5-3", 10).unwrap_err().contains("backwards"));
        assert!(parse_rows("a", 10).unwrap_err().contains("'a'"));
    }
}
