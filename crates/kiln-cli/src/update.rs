//! `kiln update`: a trained model updated on new data, with what it forgot and learned.

use crate::commands::Print;
use clap::{Args, ValueEnum};
use kiln::KilnError;
use kiln::update::{Strategy, UpdateOptions, UpdateReport, update};
use std::path::PathBuf;

/// How to update.
#[derive(Clone, Copy, ValueEnum)]
pub enum StrategyArg {
    /// From the model's weights, on the new rows only.
    Finetune,
    /// From the model's weights, on the new rows mixed with the earlier rows the bundle keeps.
    Replay,
    /// From the model's weights, on the new rows only, holding each weight near its earlier
    /// value in proportion to how much it mattered for the earlier rows (elastic weight
    /// consolidation).
    Ewc,
    /// From fresh weights, on the new rows and the earlier rows the bundle keeps.
    Retrain,
}

impl StrategyArg {
    /// The library's strategy.
    pub fn strategy(self) -> Strategy {
        match self {
            StrategyArg::Finetune => Strategy::Finetune,
            StrategyArg::Replay => Strategy::Replay,
            StrategyArg::Ewc => Strategy::Ewc,
            StrategyArg::Retrain => Strategy::Retrain,
        }
    }
}

/// Arguments of `kiln update`.
#[derive(Args)]
pub struct UpdateArgs {
    /// The model bundle to update.
    pub model: PathBuf,
    /// New labelled data (CSV, Parquet) with the model's columns and target.
    pub data: PathBuf,
    /// How to train.
    #[arg(long, value_enum, default_value = "replay")]
    pub strategy: StrategyArg,
    /// Most earlier rows mixed in (replay, retrain) [default: all the bundle keeps, up to 2,000].
    #[arg(long, default_value_t = 0)]
    pub replay: usize,
    /// EWC penalty as a multiple of its Bayesian weight (earlier rows over new rows).
    #[arg(long, default_value_t = 1.0)]
    pub ewc_strength: f64,
    /// Seed of the split, the sampling and the training.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Where to write the new bundle [default: MODEL.updated.kiln].
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `kiln update`.
pub fn run(args: UpdateArgs, print: Print) -> Result<UpdateReport, KilnError> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| args.model.with_extension("updated.kiln"));
    crate::commands::check_folder_exists(&out)?;
    if !(args.ewc_strength.is_finite() && args.ewc_strength >= 0.0) {
        return Err(KilnError::Config(format!(
            "--ewc-strength must be a number at least 0, not {}",
            args.ewc_strength
        )));
    }
    let parent = kiln::Bundle::load(&args.model)?;
    let options = UpdateOptions {
        strategy: args.strategy.strategy(),
        replay: args.replay,
        ewc_strength: args.ewc_strength,
        seed: args.seed,
        ..UpdateOptions::default()
    };
    let run = update(&parent, &args.model, &args.data, &options)?;
    run.bundle.save(&out)?;
    let r = &run.report;
    match print {
        Print::Json => println!("{}", serde_json::json!({"model": out, "report": r})),
        Print::Text => {
            println!(
                "updated {} ({}) on {} new rows and {} earlier rows, {} epochs",
                args.model.display(),
                options.strategy.name(),
                r.trained_rows.0,
                r.trained_rows.1,
                r.epochs
            );
            println!(
                "  {} on earlier held-out rows ({}): {:.4} -> {:.4} (forgetting {:+.4})",
                r.metric, r.earlier_rows, r.earlier.0, r.earlier.1, r.forgetting
            );
            println!(
                "  {} on new held-out rows ({}):     {:.4} -> {:.4} (gain {:+.4})",
                r.metric, r.new_rows, r.new.0, r.new.1, r.gain
            );
            println!("model: {}", out.display());
        }
        Print::Nothing => {}
    }
    Ok(run.report)
}
