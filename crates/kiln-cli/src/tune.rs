//! `kiln tune`: hyperparameter search over a persistent study, with worker processes here and
//! workers started on other machines joining through the same storage URL.

use crate::commands::{Print, check_folder_exists};
use crate::progress::stop_on_ctrl_c;
use kiln::report_types::{Report, ScatterPanel, Section, Series};
use kiln::tune::{StudySpec, WorkerSummary, apply, best_trial, enqueue, open_study, run_worker};

use kiln::study::{TrialRecord, TrialState};
use kiln::{Config, KilnError};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Options of `kiln tune`.
#[derive(clap::Args)]
pub struct TuneArgs {
    /// The table (.csv, .tsv, .csv.gz or .parquet).
    pub data: PathBuf,
    /// The column to predict.
    #[arg(long, short)]
    pub target: Option<String>,
    /// A TOML config; its `[tune]` section sets the defaults of the options below and the
    /// search space (`[tune.space.NAME]`).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Trials in the whole study [default: 30].
    #[arg(long)]
    pub trials: Option<usize>,
    /// Stop taking new trials after this long: 90s, 20m, 2h [default: no limit].
    #[arg(long)]
    pub timeout: Option<String>,
    /// tpe, random or grid [default: tpe].
    #[arg(long)]
    pub sampler: Option<String>,
    /// none, median, asha or hyperband [default: asha].
    #[arg(long)]
    pub pruner: Option<String>,
    /// Score each trial by K-fold cross-validation [default: one validation split].
    #[arg(long)]
    pub cv: Option<usize>,
    /// sqlite://PATH or postgres://USER@HOST:PORT/DB [default: sqlite://DATA.study.db].
    #[arg(long)]
    pub storage: Option<String>,
    /// Study name [default: DATA's name]; workers with the same storage and name share it.
    #[arg(long)]
    pub study: Option<String>,
    /// Worker processes on this machine.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Seed of the sampler and of training.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where to write the model retrained with the best parameters [default: DATA.tuned.kiln].
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Where to write the tuning report [default: the model's name with .tune.html].
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Run a trial with these parameters before any sampled one: `name=value,...` with names
    /// of the search space (missing ones are sampled); repeat for more trials.
    #[arg(long, value_name = "PARAMS", conflicts_with = "worker_only")]
    pub enqueue: Vec<String>,
    /// Only run trials (no final model): what `--workers` starts, and what other machines run.
    #[arg(long)]
    pub worker_only: bool,
    /// Print the results as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Parses 90, 90s, 20m or 2h into a duration.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, unit) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => (&t[..i], &t[i..]),
        None => (t, "s"),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("'{text}' is not a duration like 90s, 20m or 2h"))?;
    let seconds = match unit {
        "s" | "sec" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("unknown unit '{unit}' in '{text}'; use s, m or h")),
    };
    if !(seconds > 0.0 && seconds.is_finite()) {
        return Err(format!("a duration must be positive, not '{text}'"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Command-line arguments without `--enqueue PARAMS` (or `--enqueue=PARAMS`).
fn without_enqueue(args: impl Iterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut skip_next = false;
    for arg in args {
        if std::mem::take(&mut skip_next) {
            continue;
        }
        match arg.as_str() {
            "--enqueue" => skip_next = true,
            a if a.starts_with("--enqueue=") => {}
            _ => out.push(arg),
        }
    }
    out
}

fn stem(data: &Path) -> String {
    let name = data
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "study".into());
    name.trim_end_matches(".gz")
        .rsplit_once('.')
        .map_or(name.as_str(), |(s, _)| s)
        .to_string()
}

/// The run's config: the file's, then the options given here.
fn config_of(args: &TuneArgs) -> Result<Config, KilnError> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path).map_err(KilnError::Config)?,
        None => Config::default(),
    };
    if let Some(t) = &args.target {
        config.data.target = Some(t.clone());
    }
    if let Some(s) = args.seed {
        config.seed = s;
    }
    config.resolve_pretrained().map_err(KilnError::Config)?;
    let tune = &mut config.tune;
    if let Some(n) = args.trials {
        tune.trials = n;
    }
    if let Some(t) = &args.timeout {
        tune.timeout_seconds = parse_duration(t)
            .map_err(|e| KilnError::Config(format!("--timeout: {e}")))?
            .as_secs_f64();
    }
    if let Some(s) = &args.sampler {
        tune.sampler = s.clone();
    }
    if let Some(p) = &args.pruner {
        tune.pruner = p.clone();
    }
    if let Some(k) = args.cv {
        tune.cv = k;
    }
    if tune.trials == 0 {
        return Err(KilnError::Config("--trials must be at least 1".into()));
    }
    Ok(config)
}

/// `kiln tune`.
pub fn tune(args: TuneArgs, print: Print) -> Result<(), KilnError> {
    let config = config_of(&args)?;
    if config.data.target.is_none() {
        return Err(KilnError::Config(
            "no target column given; pass --target COLUMN".into(),
        ));
    }
    let name = stem(&args.data);
    let storage = args
        .storage
        .clone()
        .unwrap_or_else(|| format!("sqlite://{name}.study.db"));
    let study = args.study.clone().unwrap_or_else(|| name.clone());
    let model_path = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{name}.tuned.kiln")));
    let report_path = args
        .report
        .clone()
        .unwrap_or_else(|| model_path.with_extension("tune.html"));
    if !args.worker_only {
        for path in [&model_path, &report_path] {
            check_folder_exists(path)?;
        }
    }
    // Opening the study first creates it once, before workers race to.
    let opened = open_study(&storage, &study, &config)?;
    if !args.enqueue.is_empty() {
        let numbers = enqueue(&opened, &config, &args.enqueue)?;
        eprintln!("enqueued trial(s) {numbers:?} in study '{study}'");
    }
    drop(opened);
    let stop = stop_on_ctrl_c("starting no new trial; the study resumes where it stopped");
    let mut children = Vec::new();
    if !args.worker_only {
        let exe = std::env::current_exe()
            .map_err(|e| KilnError::Config(format!("cannot find the kiln program: {e}")))?;
        // The same command in the same folder, as a worker only: it resolves the same
        // storage and study.
        // Workers run the queue; only this process fills it.
        let mut child_args = without_enqueue(std::env::args().skip(1));
        child_args.push("--worker-only".into());
        for w in 1..args.workers {
            let child = std::process::Command::new(&exe)
                .args(&child_args)
                .stdout(std::process::Stdio::null())
                .spawn()
                .map_err(|e| KilnError::Config(format!("cannot start worker {w}: {e}")))?;
            children.push(child);
        }
    }
    let worker = format!(
        "{}-{}",
        std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into()),
        std::process::id()
    );
    let summary = run_worker(&StudySpec {
        data: &args.data,
        config: &config,
        storage: &storage,
        study: &study,
        worker: &worker,
        stop: &stop,
    });
    for mut child in children {
        let _ = child.wait();
    }
    let summary: WorkerSummary = summary?;
    if args.worker_only {
        if print == Print::Json {
            println!(
                "{}",
                serde_json::to_string(&summary).expect("summaries serialise")
            );
        }
        return Ok(());
    }
    let (rt, store, id) = open_study(&storage, &study, &config)?;
    let trials = rt.block_on(store.trials(id))?;
    let best = best_trial(&trials).ok_or_else(|| {
        KilnError::Config(format!(
            "study '{study}' has no complete trial yet; run more trials"
        ))
    })?;
    let params = kiln::tune::params_of(&best.params);
    let baseline = kiln::tune::baseline(&args.data, &config)?;
    // A short study may find nothing better than the starting config: then keep it.
    let kept_baseline = best.value.is_none_or(|v| baseline < v);
    let tuned = if kept_baseline {
        config.clone()
    } else {
        apply(&config, &params)?
    };
    let run = kiln::train(&args.data, &tuned, &mut kiln::TrainHooks::default())?;
    run.bundle.save(&model_path)?;
    let html = kiln::report_types::render_html(&report(&trials, &study, &storage));
    kiln::atomic::write_atomic(&report_path, html.as_bytes())
        .map_err(|e| KilnError::write(&report_path, e))?;
    let count = |s: TrialState| trials.iter().filter(|t| t.state == s).count();
    let (complete, pruned, failed) = (
        count(TrialState::Complete),
        count(TrialState::Pruned),
        count(TrialState::Failed),
    );
    let m = &run.bundle.manifest;
    match print {
        Print::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "study": study,
                "storage": storage,
                "trials": trials.len(),
                "complete": complete,
                "pruned": pruned,
                "failed": failed,
                "best_trial": best.number,
                "best_value": best.value,
                "best_params": best.params,
                "baseline_value": baseline,
                "kept_untuned_config": kept_baseline,
                "model": model_path,
                "report": report_path,
                "test_metrics": m.test_metrics,
            }))
            .expect("json")
        ),
        Print::Text => {
            println!(
                "study '{study}' ({storage}): {} trials: {complete} complete, {pruned} pruned, {failed} failed",
                trials.len()
            );
            println!(
                "best: trial {} with validation loss {:.5} (the untuned config scores {baseline:.5})",
                best.number,
                best.value.unwrap_or(f64::NAN)
            );
            for (k, v) in &params {
                println!("  {k} = {v}");
            }
            println!(
                "retrained with them: test metrics ({} rows):",
                m.data.test_rows
            );
            crate::commands::print_metrics(&m.test_metrics);
            println!(
                "model:  {}\nreport: {}",
                model_path.display(),
                report_path.display()
            );
        }
        Print::Nothing => {}
    }
    Ok(())
}

/// The tuning report: history, best so far, parameter importance and slice plots.
fn report(trials: &[TrialRecord], study: &str, storage: &str) -> Report {
    // Pruned trials are drawn with the loss they had when stopped.
    let done: Vec<&TrialRecord> = trials
        .iter()
        .filter(|t| {
            matches!(t.state, TrialState::Complete | TrialState::Pruned)
                && t.value.is_some_and(f64::is_finite)
        })
        .collect();
    let mut best = f64::INFINITY;
    let best_so_far: Vec<(f64, f64)> = done
        .iter()
        .filter(|t| t.state == TrialState::Complete)
        .map(|t| {
            best = best.min(t.value.unwrap_or(f64::INFINITY));
            (t.number as f64, best)
        })
        .collect();
    let names: Vec<String> = {
        let mut n: Vec<String> = done
            .iter()
            .filter_map(|t| t.params.as_object())
            .flat_map(|o| o.keys().cloned())
            .collect();
        n.sort();
        n.dedup();
        n
    };
    let shade = |t: &TrialRecord| t.number as f64 / trials.len().max(1) as f64;
    let mut panels = Vec::new();
    let mut importance = Vec::new();
    for name in &names {
        let mut categories: Vec<String> = Vec::new();
        let mut points = Vec::new();
        let mut shades = Vec::new();
        for t in &done {
            let Some(v) = t.params.get(name) else {
                continue;
            };
            let x = match v.as_f64() {
                Some(x) => x,
                None => {
                    let label = v.to_string();
                    let i = categories
                        .iter()
                        .position(|c| *c == label)
                        .unwrap_or_else(|| {
                            categories.push(label);
                            categories.len() - 1
                        });
                    i as f64
                }
            };
            points.push((x, t.value.unwrap_or(f64::NAN)));
            shades.push(shade(t));
        }
        importance.push((name.clone(), rank_correlation(&points).abs()));
        let positive = points.iter().all(|(x, _)| *x > 0.0);
        let spread = points.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max)
            / points.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
        panels.push(ScatterPanel {
            title: name.clone(),
            x_label: name.clone(),
            log_x: categories.is_empty() && positive && spread > 20.0,
            points,
            shade: shades,
            categories: (!categories.is_empty()).then_some(categories),
        });
    }
    importance.sort_by(|a, b| b.1.total_cmp(&a.1));
    let history = ScatterPanel {
        title: "complete and pruned trials (pruned: their loss when stopped)".into(),
        x_label: "trial".into(),
        log_x: false,
        points: done
            .iter()
            .map(|t| (t.number as f64, t.value.unwrap_or(f64::NAN)))
            .collect(),
        shade: done.iter().map(|t| shade(t)).collect(),
        categories: None,
    };
    let count = |s: TrialState| trials.iter().filter(|t| t.state == s).count();
    Report {
        title: format!("kiln tune: {study}"),
        subtitle: format!("Kiln {} · {storage}", kiln::VERSION),
        sections: vec![
            Section::KeyValues {
                title: "Study".into(),
                rows: vec![
                    ("trials".into(), trials.len().to_string()),
                    ("complete".into(), count(TrialState::Complete).to_string()),
                    ("pruned".into(), count(TrialState::Pruned).to_string()),
                    ("failed".into(), count(TrialState::Failed).to_string()),
                ],
            },
            Section::Scatter {
                title: "Optimisation history".into(),
                y_label: "validation loss".into(),
                panels: vec![history],
            },
            Section::LineChart {
                title: "Best so far".into(),
                x_label: "trial".into(),
                y_label: "best validation loss".into(),
                series: vec![Series {
                    name: "best".into(),
                    points: best_so_far,
                }],
                marker: None,
            },
            Section::BarChart {
                title: "Parameter importance (|Spearman correlation| with the loss)".into(),
                value_label: "|rank correlation|".into(),
                bars: importance,
            },
            Section::Scatter {
                title: "Slices: the loss against each parameter".into(),
                y_label: "validation loss".into(),
                panels,
            },
        ],
    }
}

/// Spearman's rank correlation of the points' x and y (0 when undefined).
fn rank_correlation(points: &[(f64, f64)]) -> f64 {
    let n = points.len();
    if n < 3 {
        return 0.0;
    }
    let ranks = |values: Vec<f64>| {
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
        let mut r = vec![0.0; n];
        let mut i = 0;
        while i < n {
            let mut j = i;
            while j + 1 < n && values[order[j + 1]] == values[order[i]] {
                j += 1;
            }
            for &o in &order[i..=j] {
                r[o] = (i + j) as f64 / 2.0;
            }
            i = j + 1;
        }
        r
    };
    let rx = ranks(points.iter().map(|p| p.0).collect());
    let ry = ranks(points.iter().map(|p| p.1).collect());
    let mean = (n as f64 - 1.0) / 2.0;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in rx.iter().zip(&ry) {
        sxy += (a - mean) * (b - mean);
        sxx += (a - mean).powi(2);
        syy += (b - mean).powi(2);
    }
    if sxx == 0.0 || syy == 0.0 {
        0.0
    } else {
        sxy / (sxx * syy).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_get_the_command_without_its_enqueued_trials() {
        let args = [
            "t.csv",
            "--enqueue",
            "width=8",
            "--trials",
            "3",
            "--enqueue=width=9",
        ];
        assert_eq!(
            without_enqueue(args.iter().map(|a| a.to_string())),
            ["t.csv", "--trials", "3"]
        );
    }

    #[test]
    fn durations_parse_with_units_and_bad_ones_say_why() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert!(parse_duration("soon").unwrap_err().contains("soon"));
        assert!(parse_duration("5d").unwrap_err().contains("'d'"));
    }

    #[test]
    fn rank_correlation_sees_monotone_relations() {
        let up: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, (i * i) as f64)).collect();
        assert!((rank_correlation(&up) - 1.0).abs() < 1e-12);
        let down: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, -(i as f64))).collect();
        assert!((rank_correlation(&down) + 1.0).abs() < 1e-12);
    }
}
