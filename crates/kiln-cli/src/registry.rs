//! `kiln registry`: model versions pushed, promoted through a gate, and rolled back.

use crate::commands::Print;
use clap::{Args, Subcommand};
use kiln::KilnError;
use kiln::registry::{Gate, ModelStatus, Promotion, Registry};
use serde_json::json;
use std::path::PathBuf;

/// Arguments of `kiln registry`.
#[derive(Args)]
pub struct RegistryArgs {
    /// The registry folder (also a `kiln serve` repository).
    #[arg(long, short, global = true)]
    pub registry: Option<String>,
    /// Print results as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub action: Action,
}

/// A registry action.
#[derive(Subcommand)]
pub enum Action {
    /// List models, or one model's versions, candidates and history.
    List {
        /// The model; all models when left out.
        name: Option<String>,
    },
    /// Add a model bundle as a candidate version (not served until promoted).
    Push {
        /// The bundle file.
        model: PathBuf,
        /// The model's name in the registry [default: the file name without extension].
        #[arg(long)]
        name: Option<String>,
    },
    /// Promote a candidate through the gate: it serves only if it is not worse than the
    /// serving version on the held-out rows by more than the margin. Exit code 1 when rejected.
    Promote {
        /// The model.
        name: String,
        /// The candidate [default: the newest].
        #[arg(long)]
        candidate: Option<u64>,
        #[command(flatten)]
        gate: GateArgs,
    },
    /// Retire the serving version so that the one before it serves again (kept, not deleted).
    Rollback {
        /// The model.
        name: String,
        /// Roll back to this version, retiring every newer one.
        #[arg(long)]
        to: Option<u64>,
    },
}

/// The promotion gate's settings.
#[derive(Args, Clone)]
pub struct GateArgs {
    /// Largest tolerated accuracy drop (classification), or relative RMSE rise (regression),
    /// against the serving version.
    #[arg(long, default_value_t = 0.01)]
    pub margin: f64,
    /// A labelled table to judge on [default: the candidate's kept held-out rows].
    #[arg(long)]
    pub holdout: Option<PathBuf>,
    /// Promote even if the gate rejects the candidate (the verdict is recorded).
    #[arg(long)]
    pub force: bool,
}

impl GateArgs {
    /// The gate, checked.
    pub fn gate(&self) -> Result<Gate, KilnError> {
        if !(self.margin.is_finite() && self.margin >= 0.0) {
            return Err(KilnError::Config(format!(
                "--margin must be a number at least 0, not {}",
                self.margin
            )));
        }
        Ok(Gate {
            margin: self.margin,
            holdout: self.holdout.clone(),
            force: self.force,
        })
    }
}

/// Runs `kiln registry`; `Ok(false)` when a promotion was rejected.
pub fn run(args: RegistryArgs) -> Result<bool, KilnError> {
    let print = Print::from_json_flag(args.json);
    let Some(location) = &args.registry else {
        return Err(KilnError::Config(
            "say which registry: --registry DIR (a folder; `kiln serve DIR` serves what it promotes)".into(),
        ));
    };
    let registry = Registry::open(location)?;
    match args.action {
        Action::List { name: None } => {
            let names = registry.models()?;
            let mut all = Vec::new();
            for name in &names {
                all.push(registry.status(name)?);
            }
            match print {
                Print::Json => println!(
                    "{}",
                    json!({"registry": registry.location(), "models": all})
                ),
                _ if all.is_empty() => println!(
                    "registry {} holds no models; add one with `kiln registry push MODEL --registry {}`",
                    registry.location(),
                    registry.location()
                ),
                _ => all.iter().for_each(|s| print_status(s, 3)),
            }
        }
        Action::List { name: Some(name) } => {
            let status = registry.status(&name)?;
            if status.entries.is_empty() {
                return Err(KilnError::Registry(format!(
                    "registry {} has no model '{name}' (models: {})",
                    registry.location(),
                    registry.models()?.join(", ")
                )));
            }
            match print {
                Print::Json => println!("{}", json!(status)),
                _ => print_status(&status, usize::MAX),
            }
        }
        Action::Push { model, name } => {
            let name = name.unwrap_or_else(|| {
                model
                    .file_stem()
                    .map_or("model".into(), |s| s.to_string_lossy().into_owned())
            });
            let n = registry.push(&name, &model)?;
            match print {
                Print::Json => println!("{}", json!({"model": name, "candidate": n})),
                _ => println!(
                    "pushed {} as candidate {n} of '{name}'; promote it with `kiln registry promote {name} --registry {}`",
                    model.display(),
                    registry.location()
                ),
            }
        }
        Action::Promote {
            name,
            candidate,
            gate,
        } => {
            let p = registry.promote(&name, candidate, &gate.gate()?)?;
            print_promotion(&name, &p, print);
            return Ok(p.version.is_some());
        }
        Action::Rollback { name, to } => {
            let before = registry.versions(&name)?.last().copied();
            let now = registry.rollback(&name, to)?;
            match print {
                Print::Json => {
                    println!(
                        "{}",
                        json!({"model": name, "retired_from": before, "serving": now})
                    )
                }
                _ => println!(
                    "rolled '{name}' back: version {now} serves (retired versions are kept under .kiln-registry)"
                ),
            }
        }
    }
    Ok(true)
}

/// Prints a promotion's verdict.
pub fn print_promotion(name: &str, p: &Promotion, print: Print) {
    match print {
        Print::Json => println!("{}", json!({"model": name, "promotion": p})),
        Print::Text => match p.version {
            Some(v) => println!(
                "promoted candidate {} of '{name}': version {v} serves ({})",
                p.candidate, p.gate.reason
            ),
            None => println!(
                "REJECTED candidate {} of '{name}': {}; the serving version is unchanged",
                p.candidate, p.gate.reason
            ),
        },
        Print::Nothing => {}
    }
}

fn print_status(s: &ModelStatus, events: usize) {
    println!(
        "{}: {}",
        s.name,
        s.serving.map_or("no version serves".into(), |v| format!(
            "version {v} serves"
        ))
    );
    for e in &s.entries {
        println!(
            "  {:>4}  {:<10} {:>18}  {:>9}  {}",
            e.version,
            e.state,
            e.metric
                .as_ref()
                .map_or("-".into(), |(m, v)| format!("{m} {v:.4}")),
            human_bytes(e.bytes),
            e.origin
        );
    }
    let skip = s.events.len().saturating_sub(events);
    for e in &s.events[skip..] {
        println!("  #{} {} v{}: {}", e.seq, e.action, e.version, e.detail);
    }
}

fn human_bytes(n: usize) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / f64::from(1 << 20))
    } else {
        format!("{:.0} KiB", n as f64 / 1024.0)
    }
}
