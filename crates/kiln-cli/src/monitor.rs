//! `kiln monitor`: drift, data quality and model quality of live traffic, window by window.

use crate::commands::Print;
use crate::data::{subtitle, write};
use clap::Args;
use kiln::KilnError;
use kiln::monitor::{MonitorOptions, MonitorReport, Window, join_labels, monitor, read_live};
use kiln::profile::DriftOptions;
use std::path::PathBuf;

/// Arguments of `kiln monitor`.
#[derive(Args)]
pub struct MonitorArgs {
    /// The model bundle (its training profile is the reference).
    pub model: PathBuf,
    /// The live rows: a prediction log folder (`kiln serve --prediction-log DIR`), a log file
    /// (.jsonl), or a table of new data (CSV, Parquet), which the model predicts.
    #[arg(long)]
    pub log: PathBuf,
    /// A table of labels joined to the rows by `id` (the request id, or REQUEST_ID#ROW), with
    /// the target column; a data table's own target column needs none.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Window: `all`, a number of rows, or a duration of serving time (30m, 6h, 1d, 1w).
    #[arg(long, default_value = "all")]
    pub window: Window,
    /// Rows between the starts of row windows (less than --window: sliding windows).
    #[arg(long)]
    pub step: Option<usize>,
    /// Share of drifted features from which the data as a whole drifted.
    #[arg(long, default_value_t = 0.5)]
    pub drift_share: f64,
    /// Largest tolerated accuracy drop (or relative RMSE rise) below the test score.
    #[arg(long, default_value_t = 0.05)]
    pub max_quality_drop: f64,
    /// Significance level of the drift tests with p-values.
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    /// Write an HTML report here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Print the report as one JSON line.
    #[arg(long)]
    pub json: bool,
}

/// Runs `kiln monitor`; `Ok(true)` when a window alerts.
pub fn run(args: MonitorArgs, print: Print) -> Result<bool, KilnError> {
    if let Some(path) = &args.report {
        crate::commands::check_folder_exists(path)?;
    }
    for (name, v) in [
        ("--drift-share", args.drift_share),
        ("--max-quality-drop", args.max_quality_drop),
    ] {
        if !(0.0..=1.0).contains(&v) {
            return Err(KilnError::Config(format!(
                "{name} must be between 0 and 1, not {v}"
            )));
        }
    }
    if !(args.alpha > 0.0 && args.alpha < 1.0) {
        return Err(KilnError::Config(format!(
            "--alpha must be between 0 and 1, not {}",
            args.alpha
        )));
    }
    let window = match (args.window, args.step) {
        (Window::Rows { size, .. }, Some(step)) if step > 0 => Window::Rows { size, step },
        (_, Some(_)) => {
            return Err(KilnError::Config(
                "--step needs a row window (--window N) and must be at least 1".into(),
            ));
        }
        (w, None) => w,
    };
    let bundle = kiln::Bundle::load(&args.model)?;
    let mut live = read_live(&bundle, &args.log)?;
    if let Some(labels) = &args.labels {
        join_labels(&bundle, &mut live, labels)?;
    }
    let options = MonitorOptions {
        drift: DriftOptions {
            alpha: args.alpha,
            ..DriftOptions::default()
        },
        drift_share: args.drift_share,
        max_quality_drop: args.max_quality_drop,
        ..MonitorOptions::default()
    };
    let report = monitor(
        &bundle,
        &args.model.display().to_string(),
        &live,
        &options,
        window,
    )?;
    if let Some(path) = &args.report {
        write(
            path,
            &kiln::report_types::render_html(&report.html(&subtitle())),
        )?;
    }
    match print {
        Print::Json => println!(
            "{}",
            serde_json::to_string(&report).expect("reports serialise")
        ),
        Print::Text => print_report(&report),
        Print::Nothing => {}
    }
    if let Some(path) = args.report.as_ref().filter(|_| print == Print::Text) {
        eprintln!("wrote report {}", path.display());
    }
    Ok(report.alert)
}

fn print_report(r: &MonitorReport) {
    println!(
        "{}: {} rows ({} labelled) in {} window(s) against the training profile of {}",
        r.source,
        r.rows,
        r.labelled,
        r.windows.len(),
        r.model
    );
    println!(
        "{:>6} {:>9} {:>7} {:>9} {:>18} {:>18}  verdict",
        "window", "first row", "rows", "drifted", "prediction drift", "quality"
    );
    for w in &r.windows {
        println!(
            "{:>6} {:>9} {:>7} {:>8.0}% {:>18} {:>18}  {}",
            w.index,
            w.first_row,
            w.rows,
            w.share_drifted * 100.0,
            w.prediction_drift.as_ref().map_or("-".into(), |p| format!(
                "{:.3}{}",
                p.statistic,
                if p.drift { " DRIFT" } else { "" }
            )),
            w.quality
                .as_ref()
                .map_or("-".into(), |q| format!("{} {:.4}", q.metric, q.value)),
            if w.alert { "ALERT" } else { "ok" }
        );
        for reason in &w.reasons {
            println!("         {reason}");
        }
    }
    println!(
        "{}",
        if r.alert {
            "ALERT: at least one window crossed a threshold (exit code 1)"
        } else {
            "no alert"
        }
    );
}
