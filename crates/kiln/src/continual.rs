//! The continual-learning loop over a registry: monitor the rows served since the last round
//! against the serving version, update it on their labels when drift is confirmed, and
//! promote the update through the gate. Every step is an event in the registry, and every
//! promotion can be rolled back.

use crate::bundle::Bundle;
use crate::error::KilnError;
use crate::monitor::{Baseline, Live, MonitorOptions, WindowReport, join_labels, read_live};
use crate::registry::{Gate, Promotion, Registry};
use crate::update::{UpdateOptions, UpdateReport, update};
use kiln_data::Cell;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Settings of the loop.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoopOptions {
    /// What counts as drift.
    pub monitor: MonitorOptions,
    /// How to update.
    pub update: UpdateOptions,
    /// What an update must meet to serve.
    pub gate: Gate,
    /// Fewest labelled new rows to update on; with fewer, the loop waits for labels.
    pub min_labelled: usize,
}

impl Default for LoopOptions {
    fn default() -> Self {
        Self {
            monitor: MonitorOptions::default(),
            update: UpdateOptions::default(),
            gate: Gate::default(),
            min_labelled: 100,
        }
    }
}

/// Where the loop stopped reading its source, kept in the registry between rounds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// The source read.
    pub source: String,
    /// Rows of it already judged.
    pub rows_seen: usize,
}

/// What one round saw and did.
#[derive(Debug, Clone, Serialize)]
pub struct Round {
    /// The version serving when the round began.
    pub serving: u64,
    /// New rows judged (those after `first_row`).
    pub rows: usize,
    /// First new row.
    pub first_row: usize,
    /// Labelled new rows.
    pub labelled: usize,
    /// The monitoring verdict on the new rows, when there were enough.
    pub window: Option<WindowReport>,
    /// waiting, no drift, waiting for labels, update failed, promoted or rejected.
    pub outcome: String,
    /// Why the update failed, when it did.
    pub error: Option<String>,
    /// The update, when one ran.
    pub update: Option<UpdateReport>,
    /// The candidate pushed and the gate's verdict, when an update ran.
    pub promotion: Option<Promotion>,
}

impl Round {
    /// Whether drift was found and not answered by a promotion.
    pub fn unresolved(&self) -> bool {
        matches!(
            self.outcome.as_str(),
            "waiting for labels" | "update failed" | "rejected"
        )
    }
}

fn progress_key(name: &str) -> String {
    format!("{name}/loop.json")
}

/// Runs one round for model `name` of `registry` on the rows of `source` (a prediction log or
/// a table) not judged before, with labels joined from `labels` if given.
pub fn run_round(
    registry: &Registry,
    name: &str,
    source: &Path,
    labels: Option<&Path>,
    options: &LoopOptions,
) -> Result<Round, KilnError> {
    let (serving, bundle) = registry.serving(name)?.ok_or_else(|| {
        KilnError::Registry(format!(
            "no version of '{name}' serves in registry '{}'; push one and promote it first",
            registry.location()
        ))
    })?;
    let mut live = read_live(&bundle, source)?;
    if let Some(labels) = labels {
        join_labels(&bundle, &mut live, labels)?;
    }
    let shown = source.display().to_string();
    let progress: Progress = registry
        .get_json(&progress_key(name))?
        .filter(|p: &Progress| p.source == shown && p.rows_seen <= live.rows())
        .unwrap_or(Progress {
            source: shown.clone(),
            rows_seen: 0,
        });
    let range = progress.rows_seen..live.rows();
    let labelled = range
        .clone()
        .filter(|&r| !matches!(live.actual[r], Cell::Missing))
        .count();
    let mut round = Round {
        serving,
        rows: range.len(),
        first_row: range.start,
        labelled,
        window: None,
        outcome: "waiting".into(),
        error: None,
        update: None,
        promotion: None,
    };
    if range.len() < options.monitor.min_rows.max(1) {
        return Ok(round);
    }
    let baseline = Baseline::of(&bundle, name)?;
    let window = baseline.window(&live, 0, range.clone(), &options.monitor)?;
    let alert = window.alert;
    let reasons = window.reasons.join("; ");
    round.window = Some(window);
    let seen = Progress {
        source: shown,
        rows_seen: range.end,
    };
    if !alert {
        round.outcome = "no drift".into();
        registry.record(
            name,
            "check",
            serving,
            format!("rows {}..{}: no drift", range.start, range.end),
            None,
        )?;
        registry.put_json(&progress_key(name), &seen)?;
        return Ok(round);
    }
    if labelled < options.min_labelled.max(10) {
        // The rows stay unjudged, so the next round sees them again with their labels.
        round.outcome = "waiting for labels".into();
        registry.record(
            name,
            "drift",
            serving,
            format!(
                "rows {}..{}: {reasons}; {labelled} labelled, waiting for {}",
                range.start,
                range.end,
                options.min_labelled.max(10)
            ),
            None,
        )?;
        return Ok(round);
    }
    registry.record(
        name,
        "drift",
        serving,
        format!(
            "rows {}..{}: {reasons}; updating on {labelled} labelled rows",
            range.start, range.end
        ),
        None,
    )?;
    let work = tempfile::tempdir()
        .map_err(|e| KilnError::Registry(format!("cannot make a working folder: {e}")))?;
    let parent_path = work.path().join(format!("{name}-{serving}.kiln"));
    bundle.save(&parent_path)?;
    // The rows trained on stay in the registry, so the lineage names a file that exists.
    let data_name = format!("{name}-rows-{}-{}.csv", range.start, range.end);
    let rows_csv = labelled_csv(&bundle, &live, range.clone())?;
    let kept = registry.keep_data(name, &data_name, &rows_csv)?;
    let data_path = if Path::new(&kept).is_file() {
        std::path::PathBuf::from(&kept)
    } else {
        let local = work.path().join(&data_name);
        std::fs::write(&local, &rows_csv).map_err(|e| KilnError::write(&local, e))?;
        local
    };
    let mut run = match update(&bundle, &parent_path, &data_path, &options.update) {
        Ok(run) => run,
        Err(e) => {
            // The serving version stays; the failure is on record and the rows are judged
            // again next round (after the data is fixed).
            round.outcome = "update failed".into();
            round.error = Some(e.to_string());
            registry.record(name, "update failed", serving, e.to_string(), None)?;
            return Ok(round);
        }
    };
    let manifest = &mut run.bundle.manifest;
    manifest.data.source = kept.clone();
    if let Some(lineage) = manifest.lineage.as_mut() {
        lineage.data = kept;
    }
    let bytes = run
        .bundle
        .to_bytes()
        .map_err(|e| KilnError::Registry(format!("cannot encode the updated model: {e}")))?;
    let candidate = registry.push_bytes(
        name,
        &bytes,
        &format!(
            "from a {} update of version {serving} on rows {}..{} of {}",
            options.update.strategy.name(),
            range.start,
            range.end,
            source.display()
        ),
    )?;
    let promotion = registry.promote(name, Some(candidate), &options.gate)?;
    round.outcome = if promotion.version.is_some() {
        "promoted"
    } else {
        "rejected"
    }
    .into();
    round.update = Some(run.report);
    round.promotion = Some(promotion);
    registry.put_json(&progress_key(name), &seen)?;
    Ok(round)
}

/// The labelled rows of `range` as CSV text with the model's columns and target.
fn labelled_csv(
    bundle: &Bundle,
    live: &Live,
    range: std::ops::Range<usize>,
) -> Result<Vec<u8>, KilnError> {
    let failed =
        |e: csv::Error| KilnError::Registry(format!("cannot write the new rows as CSV: {e}"));
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header = live.columns.clone();
    header.push(bundle.manifest.target.column.clone());
    w.write_record(&header).map_err(failed)?;
    for r in range.filter(|&r| !matches!(live.actual[r], Cell::Missing)) {
        let mut record: Vec<String> = live.cells.iter().map(|c| c[r].as_text()).collect();
        record.push(live.actual[r].as_text());
        w.write_record(&record).map_err(failed)?;
    }
    w.into_inner()
        .map_err(|e| KilnError::Registry(format!("cannot write the new rows as CSV: {e}")))
}
