//! `kiln loop`: monitor → update when drift is confirmed → gate → promote, once or on a
//! schedule, over a registry that `kiln serve` follows.

use crate::commands::Print;
use crate::registry::{GateArgs, print_promotion};
use crate::update::StrategyArg;
use clap::Args;
use kiln::KilnError;
use kiln::continual::{LoopOptions, Round, run_round};
use kiln::monitor::MonitorOptions;
use kiln::registry::Registry;
use kiln::update::UpdateOptions;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Arguments of `kiln loop`.
#[derive(Args)]
pub struct LoopArgs {
    /// The registry folder (the one `kiln serve` follows).
    #[arg(long, short)]
    pub registry: String,
    /// The model in the registry.
    #[arg(long)]
    pub name: String,
    /// The live rows: a prediction log folder or file, or a table of new data; each round
    /// judges the rows added since the last.
    #[arg(long)]
    pub log: PathBuf,
    /// Labels joined to the rows by request id (a table's own target column needs none).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Run a round this often (30s, 10m, 1h) until interrupted [default: once].
    #[arg(long, value_parser = crate::tune::parse_duration)]
    pub every: Option<Duration>,
    /// How to update on drift.
    #[arg(long, value_enum, default_value = "replay")]
    pub strategy: StrategyArg,
    /// Fewest labelled new rows to update on.
    #[arg(long, default_value_t = 100)]
    pub min_labelled: usize,
    /// Share of drifted features from which the data as a whole drifted.
    #[arg(long, default_value_t = 0.5)]
    pub drift_share: f64,
    #[command(flatten)]
    pub gate: GateArgs,
    /// Seed of the updates.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Print each round as one JSON line.
    #[arg(long)]
    pub json: bool,
}

/// Runs `kiln loop`; `Ok(false)` when the last round found drift it could not answer (no
/// labels yet, or the update failed the gate).
pub fn run(args: LoopArgs, print: Print) -> Result<bool, KilnError> {
    if !(0.0..=1.0).contains(&args.drift_share) {
        return Err(KilnError::Config(format!(
            "--drift-share must be between 0 and 1, not {}",
            args.drift_share
        )));
    }
    let registry = Registry::open(&args.registry)?;
    let options = LoopOptions {
        monitor: MonitorOptions {
            drift_share: args.drift_share,
            ..MonitorOptions::default()
        },
        update: UpdateOptions {
            strategy: args.strategy.strategy(),
            seed: args.seed,
            ..UpdateOptions::default()
        },
        gate: args.gate.gate()?,
        min_labelled: args.min_labelled,
    };
    let stop = crate::progress::stop_on_ctrl_c("stopping after this round");
    loop {
        let started = Instant::now();
        let round = run_round(
            &registry,
            &args.name,
            &args.log,
            args.labels.as_deref(),
            &options,
        )?;
        report(&args.name, &round, print);
        let Some(every) = args.every else {
            return Ok(!round.unresolved());
        };
        while started.elapsed() < every {
            if stop.load(Ordering::SeqCst) {
                return Ok(!round.unresolved());
            }
            std::thread::sleep(Duration::from_millis(200).min(every));
        }
    }
}

fn report(name: &str, r: &Round, print: Print) {
    match print {
        Print::Json => println!("{}", serde_json::to_string(r).expect("rounds serialise")),
        Print::Text => {
            println!(
                "'{name}' version {}: rows {}..{} ({} labelled): {}",
                r.serving,
                r.first_row,
                r.first_row + r.rows,
                r.labelled,
                r.outcome
            );
            if let Some(w) = &r.window {
                for reason in &w.reasons {
                    println!("  {reason}");
                }
            }
            if let Some(e) = &r.error {
                println!("  update failed: {e}");
            }
            if let Some(u) = &r.update {
                println!(
                    "  update ({}): {} on earlier rows {:.4} -> {:.4}, on new rows {:.4} -> {:.4}",
                    u.strategy.name(),
                    u.metric,
                    u.earlier.0,
                    u.earlier.1,
                    u.new.0,
                    u.new.1
                );
            }
            if let Some(p) = &r.promotion {
                print!("  ");
                print_promotion(name, p, print);
            }
        }
        Print::Nothing => {}
    }
}
