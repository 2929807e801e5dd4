//! Hyperparameter tuning: a worker that takes trials from a persistent study (SQLite or
//! PostgreSQL), samples their parameters from the search space, trains with them while the
//! pruner watches each epoch's validation loss, and records the result. Any number of
//! workers, in this process or others, on this machine or others, share one study.

use crate::config::Config;
use crate::error::KilnError;
use crate::pipeline::{Prepared, prepare};
use kiln_data::{Preprocessor, split_indices};
use kiln_study::{Direction as StoredDirection, Storage, TrialRecord, TrialState as Stored};
use kiln_train::{EpochReport, Matrix, Objective, WarmStart, fit_from};
use kiln_tune::{Direction, Params, Pruner, Sampler, Space, Trial, TrialState};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant};

/// The `[tune]` section of a config: how a study runs and what it searches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TuneOptions {
    /// Trials in the whole study (all workers together).
    pub trials: usize,
    /// Seconds after which workers take no new trial (0: no limit).
    pub timeout_seconds: f64,
    /// tpe, random or grid.
    pub sampler: String,
    /// none, median, asha or hyperband.
    pub pruner: String,
    /// Folds of cross-validation per trial (0 or 1: one validation split).
    pub cv: usize,
    /// Seconds without a heartbeat after which a running trial counts as dead and is retried.
    pub grace_seconds: f64,
    /// The search space: parameters named by config key (`learning_rate` or
    /// `train.learning_rate`); empty: the default space for tables.
    pub space: Option<Space>,
}

impl Default for TuneOptions {
    fn default() -> Self {
        Self {
            trials: 30,
            timeout_seconds: 0.0,
            sampler: "tpe".into(),
            pruner: "asha".into(),
            cv: 0,
            grace_seconds: 60.0,
            space: None,
        }
    }
}

/// Sets the config keys named by a trial's parameters: a dotted path (`model.width`) or a
/// key name found in exactly one section (`width`).
pub fn apply(config: &Config, params: &Params) -> Result<Config, KilnError> {
    let mut tree =
        toml::Value::try_from(config).map_err(|e| KilnError::Config(format!("config: {e}")))?;
    for (name, value) in params {
        let path: Vec<String> = if name.contains('.') {
            name.split('.').map(String::from).collect()
        } else {
            let sections: Vec<String> = tree
                .as_table()
                .into_iter()
                .flat_map(|t| t.iter())
                .filter(|(_, v)| v.as_table().is_some_and(|s| s.contains_key(name)))
                .map(|(k, _)| k.clone())
                .collect();
            match sections.as_slice() {
                [one] => vec![one.clone(), name.clone()],
                [] => {
                    return Err(KilnError::Config(format!(
                        "tune.space names '{name}', which is no config key; use a key of `kiln config`, e.g. train.learning_rate"
                    )));
                }
                many => {
                    return Err(KilnError::Config(format!(
                        "tune.space names '{name}', a key of several sections ({}); write it as section.{name}",
                        many.join(", ")
                    )));
                }
            }
        };
        let mut node = &mut tree;
        for key in &path[..path.len() - 1] {
            node = node.get_mut(key).ok_or_else(|| {
                KilnError::Config(format!("tune.space: no config section '{key}'"))
            })?;
        }
        let leaf = path.last().expect("a non-empty path");
        let table = node.as_table_mut().ok_or_else(|| {
            KilnError::Config(format!("tune.space: '{name}' is not a config key"))
        })?;
        let new = toml::Value::try_from(value)
            .map_err(|e| KilnError::Config(format!("tune.space: '{name}': {e}")))?;
        table.insert(leaf.clone(), new);
    }
    let text = toml::to_string(&tree).map_err(|e| KilnError::Config(e.to_string()))?;
    Config::from_toml(&text).map_err(|e| KilnError::Config(format!("a tuned config: {e}")))
}

/// What one worker did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WorkerSummary {
    /// Trials this worker completed.
    pub completed: usize,
    /// Trials it pruned.
    pub pruned: usize,
    /// Trials that failed (an error in training).
    pub failed: usize,
    /// Trials of dead workers it failed and re-enqueued.
    pub retried: usize,
}

/// A study's settings as a worker needs them.
pub struct StudySpec<'a> {
    /// The table to tune on.
    pub data: &'a Path,
    /// The base config (the tuned keys are overwritten per trial).
    pub config: &'a Config,
    /// Storage URL.
    pub storage: &'a str,
    /// Study name.
    pub study: &'a str,
    /// This worker's name (host and process).
    pub worker: &'a str,
    /// Stop taking trials when set.
    pub stop: &'a AtomicBool,
}

/// The space a config asks for.
pub fn space_of(config: &Config) -> Result<Space, KilnError> {
    let space = config
        .tune
        .space
        .clone()
        .unwrap_or_else(Space::default_for_tabular);
    space
        .validate()
        .map_err(|e| KilnError::Config(format!("tune.space: {e}")))?;
    Ok(space)
}

fn runtime() -> Result<tokio::runtime::Runtime, KilnError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| KilnError::Config(format!("cannot start the storage runtime: {e}")))
}

/// Opens (or creates) the study; returns the storage, the runtime driving it and the study key.
pub fn open_study(storage: &str, study: &str, config: &Config) -> Result<OpenStudy, KilnError> {
    let rt = runtime()?;
    let store = rt.block_on(Storage::open(storage))?;
    let settings = serde_json::json!({ "config": config });
    let id = rt.block_on(store.study(study, StoredDirection::Minimize, &settings))?;
    Ok((rt, store, id))
}

/// A study opened by [`open_study`]: the runtime its storage runs on, the storage, the
/// study's id.
pub type OpenStudy = (tokio::runtime::Runtime, Storage, i64);

/// Adds trials with the given parameters (each checked against the search space) to the
/// opened study, to be run before any sampled trial; returns their trial numbers.
pub fn enqueue(
    (rt, store, id): &OpenStudy,
    config: &Config,
    trials: &[String],
) -> Result<Vec<i64>, KilnError> {
    let space = space_of(config)?;
    let fixed: Vec<Params> = trials
        .iter()
        .map(|text| {
            space
                .parse_params(text)
                .map_err(|e| KilnError::Config(format!("--enqueue '{text}': {e}")))
        })
        .collect::<Result<_, _>>()?;
    fixed
        .iter()
        .map(|params| {
            let value = serde_json::to_value(params).unwrap_or_default();
            Ok(rt.block_on(store.enqueue(*id, &value))?)
        })
        .collect()
}

/// Stored parameters (a JSON object) as a parameter map; anything else is no parameters.
pub fn params_of(stored: &serde_json::Value) -> Params {
    stored
        .as_object()
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// A stored trial as the samplers and pruners see it.
fn to_trial(t: &TrialRecord) -> Trial {
    let params = params_of(&t.params);
    Trial {
        number: t.number as u64,
        state: match t.state {
            Stored::Waiting => TrialState::Waiting,
            Stored::Running => TrialState::Running,
            Stored::Complete => TrialState::Complete,
            Stored::Pruned => TrialState::Pruned,
            Stored::Failed => TrialState::Failed,
        },
        params,
        value: t.value,
        intermediate: t
            .intermediate
            .iter()
            .map(|(s, v)| (*s as u64, *v))
            .collect(),
    }
}

/// Trials that count toward the budget: finished well, or running.
/// A worker gives up after this many of its trials fail one after another.
const MAX_FAILURES_IN_A_ROW: usize = 5;

fn counted(trials: &[TrialRecord]) -> usize {
    trials
        .iter()
        .filter(|t| matches!(t.state, Stored::Complete | Stored::Pruned | Stored::Running))
        .count()
}

/// Runs one worker until the study has its trials, the timeout passes or `stop` is set.
pub fn run_worker(spec: &StudySpec) -> Result<WorkerSummary, KilnError> {
    let config = spec.config;
    let tune = &config.tune;
    let space = space_of(config)?;
    let sampler: Box<dyn Sampler> = kiln_tune::sampler::by_name(&tune.sampler)
        .map_err(|e| KilnError::Config(format!("tune.sampler: {e}")))?;
    let max_epochs = (config.train.epochs > 0).then_some(config.train.epochs as u64);
    let pruner: Box<dyn Pruner> = kiln_tune::pruner::by_name(&tune.pruner, max_epochs)
        .map_err(|e| KilnError::Config(format!("tune.pruner: {e}")))?;
    let (rt, store, study) = open_study(spec.storage, spec.study, config)?;
    let prepared = prepare(spec.data, config, &[])?;
    let grace = Duration::from_secs_f64(tune.grace_seconds.max(1.0));
    let started = Instant::now();
    let mut summary = WorkerSummary::default();

    // Heartbeats come from their own thread, so a long epoch never looks like a dead worker.
    let current = Arc::new(AtomicI64::new(0));
    let finished = Arc::new(AtomicBool::new(false));
    let beat = {
        let (current, finished) = (current.clone(), finished.clone());
        let url = spec.storage.to_string();
        let every = (grace / 4).max(Duration::from_millis(250));
        std::thread::spawn(move || -> Result<(), KilnError> {
            let rt = runtime()?;
            let store = rt.block_on(Storage::open(&url))?;
            let mut last = Instant::now() - every;
            while !finished.load(Ordering::Relaxed) {
                let id = current.load(Ordering::Relaxed);
                if id != 0 && last.elapsed() >= every {
                    rt.block_on(store.heartbeat(id))?;
                    last = Instant::now();
                }
                // Short naps, so the worker's end is not held up by a long interval.
                std::thread::sleep(Duration::from_millis(50));
            }
            Ok(())
        })
    };

    let result = (|| -> Result<(), KilnError> {
        let mut failures_in_a_row = 0;
        loop {
            if spec.stop.load(Ordering::Relaxed)
                || (tune.timeout_seconds > 0.0
                    && started.elapsed().as_secs_f64() > tune.timeout_seconds)
            {
                return Ok(());
            }
            summary.retried += rt.block_on(store.fail_stale(study, grace))?.len();
            let trials = rt.block_on(store.trials(study))?;
            let waiting = trials.iter().any(|t| t.state == Stored::Waiting);
            if counted(&trials) >= tune.trials && !waiting {
                // Running trials may belong to dead workers: wait until each finishes or is
                // failed (and re-enqueued) after the grace period.
                if trials.iter().any(|t| t.state == Stored::Running) {
                    std::thread::sleep((grace / 4).max(Duration::from_millis(100)));
                    continue;
                }
                return Ok(());
            }
            let claimed = rt.block_on(store.claim(study, spec.worker))?;
            current.store(claimed.id, Ordering::Relaxed);
            // Fixed parameters (an enqueued trial, a retry) are used as they are; where a trial
            // was enqueued with some of them, the sampler draws the rest.
            let fixed = claimed.params.as_ref().map(params_of);
            let params: Params = match fixed {
                Some(fixed) if space.covers(&fixed) => fixed,
                fixed => {
                    let seen: Vec<Trial> = rt
                        .block_on(store.trials(study))?
                        .iter()
                        .filter(|t| t.id != claimed.id)
                        .map(to_trial)
                        .collect();
                    let sampled = sampler.sample(
                        &space,
                        &seen,
                        Direction::Minimize,
                        kiln_tune::sampler::trial_seed(config.seed, claimed.number as u64),
                    );
                    match fixed {
                        Some(fixed) => space.complete(&fixed, &sampled),
                        None => sampled,
                    }
                }
            };
            rt.block_on(store.set_params(
                claimed.id,
                &serde_json::to_value(&params).unwrap_or_default(),
            ))?;
            let outcome = apply(config, &params).and_then(|trial_config| {
                evaluate(&prepared, &trial_config, &mut |epoch, loss| {
                    rt.block_on(store.report(claimed.id, epoch as i64, loss))?;
                    let all = rt.block_on(store.trials(study))?;
                    let mine = all
                        .iter()
                        .find(|t| t.id == claimed.id)
                        .map(to_trial)
                        .unwrap_or_else(|| Trial::running(claimed.number as u64, params.clone()));
                    let others: Vec<Trial> = all.iter().map(to_trial).collect();
                    Ok(pruner.should_prune(&mine, &others, Direction::Minimize))
                })
            });
            current.store(0, Ordering::Relaxed);
            match outcome {
                Ok(Evaluated { value, pruned }) => {
                    let state = if pruned {
                        Stored::Pruned
                    } else {
                        Stored::Complete
                    };
                    failures_in_a_row = 0;
                    if rt.block_on(store.finish(claimed.id, state, Some(value)))? {
                        if pruned {
                            summary.pruned += 1;
                        } else {
                            summary.completed += 1;
                        }
                    }
                }
                Err(e) => {
                    rt.block_on(store.finish(claimed.id, Stored::Failed, None))?;
                    summary.failed += 1;
                    failures_in_a_row += 1;
                    eprintln!("trial {} failed: {e}", claimed.number);
                    // A config error fails every trial alike, and failed trials do not count
                    // towards the budget: stop rather than fail forever.
                    if matches!(e, KilnError::Config(_))
                        || failures_in_a_row >= MAX_FAILURES_IN_A_ROW
                    {
                        return Err(e);
                    }
                }
            }
        }
    })();
    finished.store(true, Ordering::Relaxed);
    let beat = beat.join();
    result?;
    if let Ok(Err(e)) = beat {
        return Err(e);
    }
    Ok(summary)
}

/// The objective value of `config` itself (no tuned keys), scored as every trial is: the
/// baseline that tuning must beat.
pub fn baseline(data: &Path, config: &Config) -> Result<f64, KilnError> {
    let prepared = prepare(data, config, &[])?;
    Ok(evaluate(&prepared, config, &mut |_, _| Ok(false))?.value)
}

/// A trial's result: its objective value (the best validation loss, averaged over folds) and
/// whether the pruner stopped it.
struct Evaluated {
    value: f64,
    pruned: bool,
}

/// Trains with `config` on the prepared data and returns the best validation loss; with
/// `tune.cv` ≥ 2, the mean over stratified folds of the rows outside the test split.
/// `on_epoch(epoch, loss)` reports each epoch of the first fold and says whether to prune.
fn evaluate(
    p: &Prepared,
    config: &Config,
    on_epoch: &mut dyn FnMut(usize, f64) -> Result<bool, KilnError>,
) -> Result<Evaluated, KilnError> {
    let strata: Option<Vec<usize>> = p
        .target
        .task
        .is_classification()
        .then(|| p.labelled.iter().map(|&r| p.y_all[r] as usize).collect());
    let split = split_indices(
        &p.labelled,
        strata.as_deref(),
        config.data.valid_fraction_of(p.labelled.len()),
        config.data.test_fraction,
        config.seed,
    );
    let folds: Vec<(Vec<usize>, Vec<usize>)> = if config.tune.cv >= 2 {
        let pool: Vec<usize> = split.train.iter().chain(&split.valid).copied().collect();
        kfold(&pool, config.tune.cv, |r| {
            strata.as_ref().map(|_| p.y_all[r] as usize)
        })
    } else {
        vec![(split.train.clone(), split.valid.clone())]
    };
    let mut losses = Vec::new();
    let mut pruned = false;
    let mut failure: Option<KilnError> = None;
    for (f, (train, valid)) in folds.iter().enumerate() {
        let preprocessor = Preprocessor::fit(
            &p.table,
            &p.plans,
            &p.target.column,
            train,
            &config.preprocess,
        )?;
        let encoded = preprocessor.transform(&p.table)?;
        let take = |rows: &[usize]| {
            let w = encoded.width;
            let mut x = Vec::with_capacity(rows.len() * w);
            for &r in rows {
                x.extend_from_slice(&encoded.values[r * w..(r + 1) * w]);
            }
            (x, rows.iter().map(|&r| p.y_all[r]).collect::<Vec<f32>>())
        };
        let (tx, ty) = take(train);
        let (vx, vy) = take(valid);
        let objective = objective_of(p, &ty);
        let outputs = match objective {
            Objective::Classification { classes } => classes,
            Objective::Regression { .. } => 1,
        };
        let network = crate::network::network_for(&preprocessor, encoded.width, outputs, config)?;
        let start = crate::network::pretrained_start(&network, config, config.seed)?;
        let stop = AtomicBool::new(false);
        let device = config.train.device.device().map_err(KilnError::Config)?;
        let outcome = fit_from(
            start.as_ref().map(|model| WarmStart {
                model,
                consolidation: None,
            }),
            &network,
            (Matrix::new(&tx, train.len(), encoded.width), &ty),
            (Matrix::new(&vx, valid.len(), encoded.width), &vy),
            &objective,
            &config.train,
            config.seed,
            &device,
            &stop,
            &mut |report: &EpochReport| {
                if f > 0 || failure.is_some() {
                    return;
                }
                match on_epoch(report.record.epoch, report.record.valid_loss) {
                    Ok(true) => {
                        pruned = true;
                        stop.store(true, Ordering::Relaxed);
                    }
                    Ok(false) => {}
                    Err(e) => {
                        failure = Some(e);
                        stop.store(true, Ordering::Relaxed);
                    }
                }
            },
            None,
        );
        if let Some(e) = failure {
            return Err(e);
        }
        let best = outcome
            .curve
            .iter()
            .map(|r| r.valid_loss)
            .fold(f64::INFINITY, f64::min);
        losses.push(best);
        if pruned {
            break;
        }
    }
    Ok(Evaluated {
        value: losses.iter().sum::<f64>() / losses.len().max(1) as f64,
        pruned,
    })
}

fn objective_of(p: &Prepared, train_y: &[f32]) -> Objective {
    if p.target.task.is_classification() {
        Objective::Classification {
            classes: p.target.classes.len(),
        }
    } else {
        let n = train_y.len().max(1) as f64;
        let mean = train_y.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = train_y
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        Objective::Regression {
            mean,
            std: if var > 0.0 { var.sqrt() } else { 1.0 },
        }
    }
}

/// Stratified k folds of `rows` (dealt round-robin within each class, in the given order,
/// which is already shuffled by the split): (train, validation) per fold.
fn kfold(
    rows: &[usize],
    k: usize,
    class: impl Fn(usize) -> Option<usize>,
) -> Vec<(Vec<usize>, Vec<usize>)> {
    let mut by_class: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for &r in rows {
        by_class.entry(class(r).unwrap_or(0)).or_default().push(r);
    }
    let mut fold_of = std::collections::HashMap::new();
    let mut next = 0;
    for members in by_class.values() {
        for &r in members {
            fold_of.insert(r, next % k);
            next += 1;
        }
    }
    (0..k)
        .map(|f| {
            let (valid, train): (Vec<usize>, Vec<usize>) =
                rows.iter().partition(|r| fold_of[*r] == f);
            (train, valid)
        })
        .collect()
}

/// The best complete trial of a study, if any.
pub fn best_trial(trials: &[TrialRecord]) -> Option<&TrialRecord> {
    trials
        .iter()
        .filter(|t| t.state == Stored::Complete && t.value.is_some_and(f64::is_finite))
        .min_by(|a, b| {
            a.value
                .unwrap_or(f64::INFINITY)
                .total_cmp(&b.value.unwrap_or(f64::INFINITY))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_set_config_keys_by_name_or_path() {
        let mut params = Params::new();
        params.insert("learning_rate".into(), serde_json::json!(0.01));
        params.insert("model.width".into(), serde_json::json!(64));
        params.insert("batch_size".into(), serde_json::json!(128));
        let c = apply(&Config::default(), &params).unwrap();
        assert_eq!(c.train.learning_rate, 0.01);
        assert_eq!(c.model.width, 64);
        assert_eq!(c.train.batch_size, 128);
        params.insert("nonsense".into(), serde_json::json!(1));
        let err = apply(&Config::default(), &params).unwrap_err().to_string();
        assert!(err.contains("nonsense"), "{err}");
    }

    #[test]
    fn every_default_parameter_names_one_config_key() {
        let space = Space::default_for_tabular();
        let params = kiln_tune::sampler::by_name("random").unwrap().sample(
            &space,
            &[],
            Direction::Minimize,
            1,
        );
        assert_eq!(params.len(), space.params.len());
        apply(&Config::default(), &params).unwrap();
    }

    #[test]
    fn folds_partition_the_rows_and_keep_classes_balanced() {
        let rows: Vec<usize> = (0..30).collect();
        let folds = kfold(&rows, 3, |r| Some(r % 2));
        for (train, valid) in &folds {
            assert_eq!(train.len() + valid.len(), 30);
            assert_eq!(valid.len(), 10);
            assert_eq!(valid.iter().filter(|r| *r % 2 == 0).count(), 5);
        }
        let mut all: Vec<usize> = folds.iter().flat_map(|f| f.1.clone()).collect();
        all.sort_unstable();
        assert_eq!(all, rows);
    }
}
