//! `kiln profile` and `kiln validate`: statistics, schema, anomalies and drift of a table.

use crate::commands::{Print, check_folder_exists};
use crate::progress::PassBar;
use kiln::KilnError;
use kiln::profile::summary::{DatasetSummary, summarize};
use kiln::profile::{DriftOptions, ProfileOptions, Schema, Severity, Validation};
use kiln::validation::{ValidateInputs, describe};
use std::path::{Path, PathBuf};

/// Options of `kiln profile`.
#[derive(clap::Args)]
pub struct ProfileArgs {
    /// The table (.csv, .tsv, .csv.gz or .parquet); several tables or profiles (.json) with
    /// the same columns are profiled and merged into one profile, as a cluster would.
    #[arg(required = true, num_args = 1..)]
    pub data: Vec<PathBuf>,
    /// Where to write the profile (JSON: a summary and the mergeable sketches).
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Write an HTML report with every column's distribution here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Write the inferred schema (TOML, to tighten by hand) here.
    #[arg(long)]
    pub schema: Option<PathBuf>,
    /// Seed of the row sample kept for drift tests [default: 42].
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Worker threads [default: one per core].
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Options of `kiln validate`.
#[derive(clap::Args)]
pub struct ValidateArgs {
    /// The table to check.
    pub data: PathBuf,
    /// A schema (TOML, from `kiln profile --schema`) to check against.
    #[arg(long)]
    pub schema: Option<PathBuf>,
    /// A reference to test drift against, and to infer the schema from when none is given:
    /// a profile (.json), a model (.kiln: its training data) or a table.
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// Write an HTML report here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Significance level of the drift tests, after correction.
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    /// Correction for testing many features at once.
    #[arg(long, value_enum, default_value_t = CorrectionArg::Fdr)]
    pub correction: CorrectionArg,
    /// Print the whole result as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Multiple-testing corrections.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum CorrectionArg {
    /// Benjamini-Hochberg false-discovery rate.
    Fdr,
    /// Bonferroni (family-wise error).
    Bonferroni,
    /// No correction.
    None,
}

pub(crate) fn subtitle() -> String {
    format!("Kiln {}", kiln::VERSION)
}

pub(crate) fn write(path: &Path, text: &str) -> Result<(), KilnError> {
    kiln::atomic::write_atomic(path, text.as_bytes()).map_err(|e| KilnError::write(path, e))
}

/// `kiln profile`.
pub fn profile(args: ProfileArgs, print: Print) -> Result<(), KilnError> {
    for path in [&args.out, &args.report, &args.schema]
        .into_iter()
        .flatten()
    {
        check_folder_exists(path)?;
    }
    let options = ProfileOptions {
        seed: args.seed,
        threads: args.threads,
        ..ProfileOptions::default()
    };
    let started = std::time::Instant::now();
    let mut merged: Option<kiln::profile::Profile> = None;
    for input in &args.data {
        let bar = PassBar::new("profiling");
        let part = kiln::validation::reference_profile(input, &options, &mut |p| bar.update(p));
        bar.finish();
        let part = part?;
        match &mut merged {
            None => merged = Some(part),
            Some(whole) => whole.merge(part)?,
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let profile = &merged.expect("clap requires one input");
    if let Some(out) = &args.out {
        write(out, &profile.to_json())?;
    }
    if let Some(path) = &args.schema {
        write(
            path,
            &Schema::infer(profile).to_toml(&profile.source, profile.rows),
        )?;
    }
    if let Some(path) = &args.report {
        let report = kiln::profile::report::profile_report(profile, &subtitle());
        write(path, &kiln::report_types::render_html(&report))?;
    }
    let summary = summarize(profile);
    match print {
        Print::Nothing => {}
        Print::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "summary": summary,
                "seconds": seconds,
                "rows_per_second": profile.rows as f64 / seconds.max(1e-9),
            }))
            .expect("summaries serialise")
        ),
        Print::Text => print_summary(&summary, seconds),
    }
    for (what, path) in [
        ("profile", &args.out),
        ("schema", &args.schema),
        ("report", &args.report),
    ] {
        if let Some(p) = path.as_ref().filter(|_| print != Print::Nothing) {
            eprintln!("wrote {what} {}", p.display());
        }
    }
    Ok(())
}

fn short(v: f64) -> String {
    if v.abs() >= 1e5 || (v != 0.0 && v.abs() < 1e-3) {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

fn print_summary(s: &DatasetSummary, seconds: f64) {
    println!(
        "{}: {} rows, {} columns, {} duplicate rows ({:.2} s)",
        s.source,
        s.rows,
        s.columns.len(),
        s.duplicate_rows,
        seconds
    );
    println!(
        "{:<24} {:<12} {:>8} {:>9} {:>11} {:>11} {:>11}  top",
        "column", "type", "missing", "distinct", "min", "mean", "max"
    );
    for c in &s.columns {
        let n = c.numeric.as_ref();
        let dates = matches!(c.reading, kiln::profile::Reading::Dates(_));
        let (kind, value): (String, fn(f64) -> String) = match dates {
            true => ("date".into(), kiln::data::date::day_name),
            false => (c.kind.to_string(), short),
        };
        let top: Vec<String> = c
            .top
            .iter()
            .take(3)
            .map(|t| format!("{} ({})", t.value, t.count))
            .collect();
        println!(
            "{:<24} {:<12} {:>7.1}% {:>9} {:>11} {:>11} {:>11}  {}",
            c.name,
            kind,
            c.missing_rate * 100.0,
            format!(
                "{}{}",
                if c.distinct.exact { "" } else { "~" },
                c.distinct.value
            ),
            n.map_or(String::new(), |n| value(n.min)),
            n.map_or(String::new(), |n| value(n.mean)),
            n.map_or(String::new(), |n| value(n.max)),
            if n.is_some() && c.distinct.value > 20.0 {
                String::new()
            } else {
                top.join(", ")
            }
        );
    }
}

/// `kiln validate`.
pub fn validate(args: ValidateArgs, print: Print) -> Result<Validation, KilnError> {
    if let Some(path) = &args.report {
        check_folder_exists(path)?;
    }
    if !(0.0..1.0).contains(&args.alpha) || args.alpha == 0.0 {
        return Err(KilnError::Config(format!(
            "--alpha must be between 0 and 1, not {}",
            args.alpha
        )));
    }
    let inputs = ValidateInputs {
        schema: args.schema.as_deref(),
        reference: args.reference.as_deref(),
        drift: DriftOptions {
            alpha: args.alpha,
            correction: match args.correction {
                CorrectionArg::Fdr => kiln::profile::drift::Correction::BenjaminiHochberg,
                CorrectionArg::Bonferroni => kiln::profile::drift::Correction::Bonferroni,
                CorrectionArg::None => kiln::profile::drift::Correction::None,
            },
            ..DriftOptions::default()
        },
        profile: ProfileOptions::default(),
    };
    let bar = PassBar::new("validating");
    let result = kiln::validation::validate(&args.data, &inputs, &mut |p| bar.update(p));
    bar.finish();
    let v = result?;
    if let Some(path) = &args.report {
        let report = kiln::profile::report::validation_report(&v, &subtitle());
        write(path, &kiln::report_types::render_html(&report))?;
    }
    match print {
        Print::Json => println!(
            "{}",
            serde_json::to_string_pretty(&v).expect("validations serialise")
        ),
        Print::Text => print_validation(&v),
        Print::Nothing => {}
    }
    if let Some(path) = args.report.as_ref().filter(|_| print != Print::Nothing) {
        eprintln!("wrote report {}", path.display());
    }
    Ok(v)
}

/// Prints a validation's verdict, anomalies and drift tests for people.
pub fn print_validation(v: &Validation) {
    println!(
        "{}: {} rows: {} ({} error(s), {} warning(s))",
        v.data,
        v.rows,
        if v.passed { "passed" } else { "FAILED" },
        v.errors,
        v.warnings
    );
    for a in &v.anomalies {
        let level = match a.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        println!("  {level}: {}", describe(a));
    }
    if let Some(d) = &v.drift {
        println!(
            "drift: {} of {} features moved ({:?} correction, alpha {})",
            d.drifted,
            d.features.len(),
            d.options.correction,
            d.options.alpha
        );
        for f in &d.features {
            println!(
                "  {:<24} {:<15} {:>10} {:>12}  {}",
                f.column,
                f.test.test,
                short(f.test.statistic),
                f.test
                    .adjusted_p_value
                    .map_or(String::new(), |p| format!("p={}", short(p))),
                if f.drift { "DRIFT" } else { "ok" }
            );
        }
        for s in &d.skipped {
            println!("  {:<24} not tested: {}", s.column, s.reason);
        }
    }
}
