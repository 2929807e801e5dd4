//! The `kiln` command-line tool: a thin layer over the `kiln` library.

mod commands;
mod continual;
mod data;
mod demo;
mod explain;
mod monitor;
mod progress;
mod registry;
mod serve;
mod tune;
mod update;

use clap::{Parser, Subcommand};
// Linked for its global allocator (mimalloc).
use kiln_alloc as _;

use std::path::PathBuf;

/// Kiln: from a raw table to a trained, evaluated neural network.
#[derive(Parser)]
#[command(name = "kiln", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a network on a CSV or Parquet table and write a model bundle and an HTML report.
    Train(commands::TrainArgs),
    /// Profile a table: per-column type, missing, distinct, statistics, quantiles, top values.
    Profile(data::ProfileArgs),
    /// Check a table against a schema and/or a reference: anomalies and drift. Exit code 1
    /// when an error-level anomaly is found.
    Validate(data::ValidateArgs),
    /// Explain a model's predictions: SHAP (exact, kernel, permutation), LIME, integrated
    /// gradients or permutation importance, per original column.
    Explain(explain::ExplainArgs),
    /// Tune hyperparameters: TPE, random or grid search with pruning and cross-validation, on
    /// a study in SQLite or PostgreSQL that many worker processes and machines can share.
    Tune(tune::TuneArgs),
    /// Monitor live traffic against a model's training profile: feature and prediction drift,
    /// data errors and, with labels, quality, window by window. Exit code 1 on an alert.
    Monitor(monitor::MonitorArgs),
    /// Update a model on new labelled data (finetune, replay or retrain), reporting what it
    /// forgot on the earlier held-out rows and learned on the new ones.
    Update(update::UpdateArgs),
    /// Model registry: push candidates, promote them through a quality gate, roll back. Its
    /// folder is a `kiln serve` repository, so serving follows promotions and rollbacks.
    Registry(registry::RegistryArgs),
    /// The continual-learning loop, once or on a schedule: monitor the rows served since the
    /// last round, update on drift, promote through the gate. Exit code 1 when drift was found
    /// and not answered (labels missing, or the update rejected).
    Loop(continual::LoopArgs),
    /// Serve models over HTTP: Open Inference Protocol v2 (KServe, Triton) and TF Serving's
    /// REST API, with dynamic batching, versions, hot reload, Prometheus metrics and a
    /// prediction log.
    Serve(serve::ServeArgs),
    /// Score a model on labelled rows or images: accuracy, F1, log loss, ROC AUC or RMSE, MAE, R².
    Evaluate {
        /// The model bundle.
        model: PathBuf,
        /// A table with the model's feature columns and its target column; for an image model,
        /// also an image data set's folder (IDX files or class sub-folders), scored on its own
        /// test images when it has them, otherwise on all of them.
        data: PathBuf,
        /// Print the metrics as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Estimate each class's share of these rows from the model's own probabilities (EM,
        /// no labels used) and adjust the probabilities to it: for data whose class mix has
        /// changed since training (label shift).
        #[arg(long)]
        adapt_priors: bool,
    },
    /// Predict every row of a table, or every image file, with a model; writes a CSV of
    /// predictions and class probabilities.
    Predict {
        /// The model bundle.
        model: PathBuf,
        /// A table with the model's feature columns, in any order; for an image model, also an
        /// image file or a folder of them (PNG, JPEG, BMP, GIF, WebP; sub-folders included).
        data: PathBuf,
        /// Write the CSV here instead of to stdout.
        #[arg(long, short)]
        out: Option<PathBuf>,
        /// Write JSON (one object per row, numbers as numbers) instead of CSV.
        #[arg(long)]
        json: bool,
        /// Estimate each class's share of these rows from the model's own probabilities (EM)
        /// and adjust the probabilities to it: for a batch whose class mix has changed since
        /// training (label shift).
        #[arg(long)]
        adapt_priors: bool,
    },
    /// Show what a model bundle holds: task, columns, network, metrics.
    Inspect {
        /// The model bundle.
        model: PathBuf,
        /// Print the whole manifest as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show what image augmentation does: a PNG grid of training images, each followed by
    /// augmented copies drawn as training draws them.
    Augment(commands::AugmentArgs),
    /// Print the configuration with every default, as TOML to edit into a kiln.toml.
    Config,
    /// Run the whole pipeline on the bundled breast cancer data set.
    Demo {
        /// Folder for the demo's files.
        #[arg(long, default_value = "kiln-demo")]
        out: PathBuf,
        /// Print the results as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
}

/// Lets a closed pipe end the program quietly, as it ends other command-line tools
/// (`kiln profile data.csv | head`), instead of panicking in a print. Sockets are unaffected:
/// the server's writes ask for an error instead of the signal.
fn quiet_broken_pipes() {
    #[cfg(unix)]
    // SAFETY: restores a signal's default action, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn main() {
    quiet_broken_pipes();
    kiln_alloc::keep_freed_memory();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(args) => {
            let print = commands::Print::from_json_flag(args.json);
            commands::train(args, print).map(|_| ())
        }
        Command::Profile(args) => {
            let print = commands::Print::from_json_flag(args.json);
            data::profile(args, print)
        }
        Command::Validate(args) => {
            let print = commands::Print::from_json_flag(args.json);
            match data::validate(args, print) {
                Ok(v) if !v.passed => std::process::exit(1),
                other => other.map(|_| ()),
            }
        }
        Command::Explain(args) => {
            let print = commands::Print::from_json_flag(args.json);
            explain::run(args, print)
        }
        Command::Tune(args) => {
            let print = commands::Print::from_json_flag(args.json);
            tune::tune(args, print)
        }
        Command::Serve(args) => serve::serve(args),
        Command::Update(args) => {
            let print = commands::Print::from_json_flag(args.json);
            update::run(args, print).map(|_| ())
        }
        Command::Registry(args) => match registry::run(args) {
            Ok(false) => std::process::exit(1),
            other => other.map(|_| ()),
        },
        Command::Loop(args) => {
            let print = commands::Print::from_json_flag(args.json);
            match continual::run(args, print) {
                Ok(false) => std::process::exit(1),
                other => other.map(|_| ()),
            }
        }
        Command::Monitor(args) => {
            let print = commands::Print::from_json_flag(args.json);
            match monitor::run(args, print) {
                Ok(true) => std::process::exit(1),
                other => other.map(|_| ()),
            }
        }
        Command::Evaluate {
            model,
            data,
            json,
            adapt_priors,
        } => commands::evaluate(
            &model,
            &data,
            commands::priors(adapt_priors),
            commands::Print::from_json_flag(json),
        )
        .map(|_| ()),
        Command::Predict {
            model,
            data,
            out,
            json,
            adapt_priors,
        } => commands::predict(
            &model,
            &data,
            commands::priors(adapt_priors),
            out.as_deref(),
            json,
        ),
        Command::Inspect { model, json } => commands::inspect(&model, json),
        Command::Augment(args) => commands::augment(args),
        Command::Config => {
            print!("{}", kiln::Config::default().to_toml());
            Ok(())
        }
        Command::Demo { out, json } => demo::run(&out, json),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}
