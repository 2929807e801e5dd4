//! Monitoring live traffic: the rows a model served (from `kiln serve`'s prediction log, or a
//! table of new data) cut into windows, each compared with the training profile kept in the
//! bundle: feature drift, prediction drift (predicted labels against the model's predictions on its training rows),
//! data-quality anomalies, and the model's quality once labels are known. A window alerts
//! when the data as a whole drifted, the predictions drifted, an error-level anomaly appeared,
//! or quality fell too far below the model's test score.

use crate::bundle::Bundle;
use crate::error::KilnError;
use kiln_data::{Cell, DataError, RecordStream, Table, read_table};
use kiln_profile::drift::{self, FeatureDrift};
use kiln_profile::validate::against_schema;
use kiln_profile::{
    Anomaly, Checks, DriftOptions, Profile, ProfileError, ProfileOptions, Schema, Severity,
};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

/// Rows a model served: its inputs, what it predicted, when, and under which request id.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// Where the rows came from.
    pub source: String,
    /// The model's feature columns, in its input order.
    pub columns: Vec<String>,
    /// Per column, one cell per row.
    pub cells: Vec<Vec<Cell>>,
    /// The predicted label (classification) or value (regression) of each row.
    pub predicted: Vec<Cell>,
    /// The true label or value of each row, where known.
    pub actual: Vec<Cell>,
    /// Milliseconds since 1970 when each row was served, where known.
    pub times: Vec<Option<u64>>,
    /// Each row's id (`REQUEST_ID` or `REQUEST_ID#ROW` for requests of several rows), where known.
    pub ids: Vec<Option<String>>,
}

impl Live {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.predicted.len()
    }
}

/// How rows are cut into windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Every row in one window.
    All,
    /// `size` rows per window, a new window every `step` rows (tumbling when equal).
    Rows {
        /// Rows per window.
        size: usize,
        /// Rows between window starts.
        step: usize,
    },
    /// Windows of this many milliseconds of serving time (tumbling).
    Millis(u64),
}

impl std::str::FromStr for Window {
    type Err = String;

    /// `all`, a row count (`5000`), or a duration (`30m`, `6h`, `1d`, `1w`).
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "window '{s}' is not 'all', a number of rows (5000) or a duration (30m, 6h, 1d, 1w)"
            )
        };
        if s == "all" {
            return Ok(Self::All);
        }
        if let Ok(n) = s.parse::<usize>() {
            return if n == 0 {
                Err(bad())
            } else {
                Ok(Self::Rows { size: n, step: n })
            };
        }
        let (number, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).ok_or_else(bad)?);
        let n: u64 = number.parse().map_err(|_| bad())?;
        let unit_ms = match unit {
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            _ => return Err(bad()),
        };
        if n == 0 {
            Err(bad())
        } else {
            Ok(Self::Millis(n * unit_ms))
        }
    }
}

/// When a window alerts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MonitorOptions {
    /// The drift tests' settings (those of `kiln validate`).
    pub drift: DriftOptions,
    /// Share of drifted features from which the data as a whole counts as drifted.
    pub drift_share: f64,
    /// Largest tolerated fall of accuracy (or rise of RMSE, relative) below the test score.
    pub max_quality_drop: f64,
    /// Fewest rows a window needs to be tested.
    pub min_rows: usize,
}

impl Default for MonitorOptions {
    fn default() -> Self {
        Self {
            drift: DriftOptions::default(),
            drift_share: 0.5,
            max_quality_drop: 0.05,
            min_rows: 30,
        }
    }
}

/// The drift of one feature in one window.
#[derive(Debug, Clone, Serialize)]
pub struct FeatureFigure {
    /// Column name.
    pub column: String,
    /// The test used.
    pub test: String,
    /// Its statistic or distance.
    pub statistic: f64,
    /// The corrected p-value, for tests with one.
    pub p_value: Option<f64>,
    /// Whether the feature drifted.
    pub drift: bool,
}

impl FeatureFigure {
    fn of(f: &FeatureDrift) -> Self {
        Self {
            column: f.column.clone(),
            test: f.test.test.clone(),
            statistic: f.test.statistic,
            p_value: f.test.adjusted_p_value,
            drift: f.drift,
        }
    }
}

/// The model's quality on a window's labelled rows.
#[derive(Debug, Clone, Serialize)]
pub struct Quality {
    /// Labelled rows.
    pub rows: usize,
    /// `accuracy` or `rmse`.
    pub metric: String,
    /// Its value on these rows.
    pub value: f64,
    /// Its value on the model's test rows.
    pub baseline: Option<f64>,
}

/// Everything measured on one window.
#[derive(Debug, Clone, Serialize)]
pub struct WindowReport {
    /// Position of the window, from 0.
    pub index: usize,
    /// Its first row (0-based, in the order read).
    pub first_row: usize,
    /// Its rows.
    pub rows: usize,
    /// When its first and last rows were served, where known (ms since 1970).
    pub time_range: Option<(u64, u64)>,
    /// Per feature drift.
    pub features: Vec<FeatureFigure>,
    /// Features that drifted.
    pub drifted: Vec<String>,
    /// Share of tested features that drifted.
    pub share_drifted: f64,
    /// Drift of the predictions against the model's predictions on its training rows.
    pub prediction_drift: Option<FeatureFigure>,
    /// Error-level anomalies, in words.
    pub errors: Vec<String>,
    /// Warnings, in words.
    pub warnings: Vec<String>,
    /// Quality on labelled rows.
    pub quality: Option<Quality>,
    /// Whether this window alerts.
    pub alert: bool,
    /// Why it alerts.
    pub reasons: Vec<String>,
}

/// A monitoring run.
#[derive(Debug, Clone, Serialize)]
pub struct MonitorReport {
    /// The model bundle.
    pub model: String,
    /// The live rows' source.
    pub source: String,
    /// Rows read.
    pub rows: usize,
    /// Rows with a known label.
    pub labelled: usize,
    /// Settings.
    pub options: MonitorOptions,
    /// Per window.
    pub windows: Vec<WindowReport>,
    /// Whether any window alerts.
    pub alert: bool,
}

/// Reads live rows: a prediction log folder (its rotated files, oldest first, then the current
/// one), a JSON-lines log file, or a table of new data (CSV, Parquet), which the model predicts.
pub fn read_live(bundle: &Bundle, path: &Path) -> Result<Live, KilnError> {
    let columns: Vec<String> = bundle
        .manifest
        .preprocessor
        .features
        .iter()
        .map(|f| f.column.clone())
        .collect();
    let name = path.to_string_lossy().to_lowercase();
    if path.is_dir() {
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(path)
            .map_err(|e| DataError::Io {
                file: path.display().to_string(),
                reason: e.to_string(),
            })?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("predictions-") && n.ends_with(".jsonl"))
            })
            .collect();
        files.sort();
        let current = path.join("predictions.jsonl");
        if current.is_file() {
            files.push(current);
        }
        if files.is_empty() {
            return Err(KilnError::Config(format!(
                "'{}' holds no prediction log (predictions.jsonl); start `kiln serve` with --prediction-log {}",
                path.display(),
                path.display()
            )));
        }
        let mut live = Live {
            source: path.display().to_string(),
            columns,
            ..Live::default()
        };
        live.cells = vec![Vec::new(); live.columns.len()];
        for file in files {
            read_log(&file, bundle, &mut live)?;
        }
        Ok(live)
    } else if name.ends_with(".jsonl") || name.ends_with(".json") {
        let mut live = Live {
            source: path.display().to_string(),
            columns,
            ..Live::default()
        };
        live.cells = vec![Vec::new(); live.columns.len()];
        read_log(path, bundle, &mut live)?;
        Ok(live)
    } else {
        live_from_table(bundle, read_table(path)?, columns)
    }
}

fn read_log(path: &Path, bundle: &Bundle, live: &mut Live) -> Result<(), KilnError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| DataError::Io {
        file: file.clone(),
        reason: e.to_string(),
    })?;
    let regression = bundle.manifest.target.classes.is_empty();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |problem: String| DataError::BadValue {
            file: file.clone(),
            line: i as u64 + 1,
            column: String::new(),
            problem,
        };
        let v: Value = serde_json::from_str(line)
            .map_err(|e| bad(format!("not a prediction log line: {e}")))?;
        let inputs = v
            .get("inputs")
            .and_then(Value::as_object)
            .ok_or_else(|| bad("it has no \"inputs\" object".into()))?;
        for (c, column) in live.columns.iter().enumerate() {
            live.cells[c].push(inputs.get(column).map_or(Cell::Missing, json_cell));
        }
        let outputs = v.get("outputs");
        let predicted = if regression {
            outputs
                .and_then(|o| o.get("prediction"))
                .map_or(Cell::Missing, json_cell)
        } else {
            outputs
                .and_then(|o| o.get("label"))
                .map_or(Cell::Missing, json_cell)
        };
        live.predicted.push(predicted);
        live.actual.push(Cell::Missing);
        live.times
            .push(v.get("timestamp_ms").and_then(Value::as_u64));
        live.ids.push(v.get("id").and_then(Value::as_str).map(|id| {
            match v.get("row").and_then(Value::as_u64) {
                Some(row) => format!("{id}#{row}"),
                None => id.to_string(),
            }
        }));
    }
    Ok(())
}

/// A logged value as a cell, as the server read it from the request.
fn json_cell(v: &Value) -> Cell {
    Cell::from_json(v).unwrap_or_else(|| Cell::Text(v.to_string()))
}

/// Live rows from a table: the model predicts them; the target column, if present, holds the labels.
fn live_from_table(bundle: &Bundle, table: Table, columns: Vec<String>) -> Result<Live, KilnError> {
    let predictions = crate::predict(
        bundle,
        &predictable(bundle, &table),
        crate::Priors::Training,
    )?;
    let regression = bundle.manifest.target.classes.is_empty();
    let predicted = predictions
        .rows
        .iter()
        .map(|r| {
            if regression {
                r[0].parse().map_or(Cell::Missing, Cell::Num)
            } else {
                Cell::Text(r[0].clone())
            }
        })
        .collect();
    let target = &bundle.manifest.target.column;
    let rows = table.n_rows();
    let actual = table.column(target).map_or_else(
        || vec![Cell::Missing; rows],
        |c| c.cells.iter().map(|l| label(bundle, l)).collect(),
    );
    let ids = table.column("id").map_or_else(
        || vec![None; rows],
        |c| c.cells.iter().map(|v| Some(v.as_text())).collect(),
    );
    let cells = columns
        .iter()
        .map(|name| {
            table
                .column(name)
                .map_or_else(|| vec![Cell::Missing; rows], |c| c.cells.clone())
        })
        .collect();
    Ok(Live {
        source: table.source.clone(),
        columns,
        cells,
        predicted,
        actual,
        times: vec![None; rows],
        ids,
    })
}

/// A label as the model's target reads it: a formatted number ("$1,200") as its value.
fn label(bundle: &Bundle, cell: &Cell) -> Cell {
    let format = bundle.manifest.target.format;
    match cell {
        Cell::Text(text) if !format.is_plain() => {
            format.parse(text).map_or(Cell::Missing, Cell::Num)
        }
        other => other.clone(),
    }
}

/// A copy of `table` the model can predict whatever is wrong with it: absent feature columns
/// added empty, text in numeric features and values that are not dates in date features made
/// missing. Monitoring reports those faults as data errors instead of stopping at the first one.
fn predictable(bundle: &Bundle, table: &Table) -> Table {
    let mut out = table.clone();
    for feature in &bundle.manifest.preprocessor.features {
        let numeric = feature.kind == kiln_data::ColumnKind::Numeric;
        let format = feature.encoder.number_format();
        match out.columns.iter_mut().find(|c| c.name == feature.column) {
            Some(column) if numeric => {
                for cell in &mut column.cells {
                    if let Cell::Text(text) = cell {
                        *cell = format.parse(text).map_or(Cell::Missing, Cell::Num);
                    }
                }
            }
            Some(column) => {
                if let kiln_data::preprocess::FeatureEncoder::Date { format, .. } = &feature.encoder
                {
                    for cell in &mut column.cells {
                        let text = cell.as_text();
                        if kiln_data::date::parse(format, &text).is_none() {
                            *cell = Cell::Missing;
                        }
                    }
                }
            }
            None => out.columns.push(kiln_data::Column {
                name: feature.column.clone(),
                cells: vec![Cell::Missing; table.n_rows()],
            }),
        }
    }
    out
}

/// Joins labels (a table with an `id` column and the target column) to the live rows by id.
pub fn join_labels(bundle: &Bundle, live: &mut Live, labels: &Path) -> Result<usize, KilnError> {
    let table = read_table(labels)?;
    let target = &bundle.manifest.target.column;
    let id_column = table.column("id").ok_or_else(|| DataError::MissingColumn {
        file: table.source.clone(),
        column: "id".into(),
        hint: ": labels are joined to served rows by the request id (REQUEST_ID, or REQUEST_ID#ROW for requests of several rows)".into(),
    })?;
    let label_column = table
        .column(target)
        .ok_or_else(|| DataError::MissingColumn {
            file: table.source.clone(),
            column: target.clone(),
            hint: ", the model's target, which holds the labels".into(),
        })?;
    let by_id: HashMap<String, &Cell> = id_column
        .cells
        .iter()
        .map(Cell::as_text)
        .zip(label_column.cells.iter())
        .collect();
    let mut joined = 0;
    for (row, id) in live.ids.iter().enumerate() {
        if let Some(label_cell) = id.as_ref().and_then(|id| by_id.get(id)) {
            live.actual[row] = label(bundle, label_cell);
            joined += 1;
        }
    }
    Ok(joined)
}

/// Monitors live rows window by window against the bundle's training profile.
pub fn monitor(
    bundle: &Bundle,
    model: &str,
    live: &Live,
    options: &MonitorOptions,
    window: Window,
) -> Result<MonitorReport, KilnError> {
    let baseline = Baseline::of(bundle, model)?;
    let windows = cut(live, window);
    if windows.is_empty() {
        return Err(KilnError::Config(format!(
            "'{}' holds no rows to monitor",
            live.source
        )));
    }
    let mut reports = Vec::new();
    for (index, range) in windows.into_iter().enumerate() {
        if range.len() < options.min_rows && index > 0 {
            continue;
        }
        reports.push(baseline.window(live, index, range, options)?);
    }
    let labelled = live
        .actual
        .iter()
        .filter(|c| !matches!(c, Cell::Missing))
        .count();
    Ok(MonitorReport {
        model: model.to_string(),
        source: live.source.clone(),
        rows: live.rows(),
        labelled,
        options: *options,
        alert: reports.iter().any(|w| w.alert),
        windows: reports,
    })
}

/// The row ranges of the windows.
fn cut(live: &Live, window: Window) -> Vec<std::ops::Range<usize>> {
    let n = live.rows();
    match window {
        Window::All => std::iter::once(0..n).filter(|r| !r.is_empty()).collect(),
        Window::Rows { size, step } => {
            let mut out = Vec::new();
            let mut start = 0;
            while start < n {
                out.push(start..(start + size).min(n));
                if start + size >= n {
                    break;
                }
                start += step.max(1);
            }
            out
        }
        Window::Millis(ms) => {
            let mut out: Vec<std::ops::Range<usize>> = Vec::new();
            let mut bucket_of_start = None;
            for (row, t) in live.times.iter().enumerate() {
                let bucket = t.map(|t| t / ms);
                match out.last_mut() {
                    Some(r) if bucket == bucket_of_start || bucket.is_none() => r.end = row + 1,
                    _ => {
                        out.push(row..row + 1);
                        bucket_of_start = bucket;
                    }
                }
            }
            out
        }
    }
}

/// What live windows are compared with, prepared once from a bundle (a server keeps one per
/// model version).
#[derive(Debug, Clone)]
pub struct Baseline {
    /// The training data's profile.
    data: Profile,
    /// The schema inferred from it.
    schema: Schema,
    /// The model's predictions on its kept training rows, profiled under the target's name.
    predictions: Option<Profile>,
    /// The target column.
    target: String,
    /// Whether the model is a regression.
    regression: bool,
    /// Accuracy (classification) or RMSE (regression) on the model's test rows.
    test_score: Option<f64>,
}

impl Baseline {
    /// The baseline of a bundle (`model` names it in messages).
    pub fn of(bundle: &Bundle, model: &str) -> Result<Self, KilnError> {
        let m = &bundle.manifest;
        let data = m.profile.clone().ok_or_else(|| KilnError::Bundle {
            path: model.to_string(),
            problem: if m.image().is_some() {
                "reads images, and monitoring compares table columns with the training data's profile, which image models do not keep; image models are not monitored yet".into()
            } else {
                "holds no training profile (made by an older Kiln); train it again to monitor it"
                    .into()
            },
        })?;
        let regression = m.target.classes.is_empty();
        Ok(Self {
            schema: Schema::infer(&data),
            data,
            predictions: prediction_reference(bundle, model)?,
            target: m.target.column.clone(),
            regression,
            test_score: if regression {
                m.test_metrics.rmse
            } else {
                m.test_metrics.accuracy
            },
        })
    }

    /// Compares the rows `range` of `live` with the baseline.
    pub fn window(
        &self,
        live: &Live,
        index: usize,
        range: std::ops::Range<usize>,
        options: &MonitorOptions,
    ) -> Result<WindowReport, KilnError> {
        window_report(self, live, index, range, options)
    }
}

/// The profile of the model's own predictions on the training rows kept in the bundle: what
/// live predictions are compared with (the training labels differ from any model's predictions).
fn prediction_reference(bundle: &Bundle, source: &str) -> Result<Option<Profile>, KilnError> {
    let Some(rows) = &bundle.manifest.background else {
        return Ok(None);
    };
    let m = &bundle.manifest;
    let out = kiln_train::predict(
        &bundle.model,
        kiln_train::Matrix::new(&rows.values, rows.rows, rows.width),
        &m.objective,
        &burn::prelude::Device::flex(),
    );
    let predicted: Vec<Cell> = match m.objective {
        kiln_train::Objective::Classification { classes } => out
            .chunks(classes)
            .map(|p| Cell::Text(m.target.classes[kiln_train::metrics::argmax(p)].clone()))
            .collect(),
        kiln_train::Objective::Regression { .. } => {
            out.iter().map(|v| Cell::Num(f64::from(*v))).collect()
        }
    };
    let live = Live {
        source: source.to_string(),
        predicted,
        ..Live::default()
    };
    Ok(Some(
        profile_window(&live, &m.target.column, 0..rows.rows, Vec::new())?.profile,
    ))
}

fn window_report(
    baseline: &Baseline,
    live: &Live,
    index: usize,
    range: std::ops::Range<usize>,
    options: &MonitorOptions,
) -> Result<WindowReport, KilnError> {
    let target = &baseline.target;
    let profile = profile_window(live, target, range.clone(), baseline.data.readings())?;
    let (reference, schema) = (&baseline.data, &baseline.schema);
    let mut anomalies: Vec<Anomaly> = against_schema(schema, &profile);
    // The predicted column stands in for the target: its unseen labels are not data errors.
    anomalies.retain(|a| a.column.as_deref() != Some(target.as_str()));
    // A distance measured on a small window is mostly sampling noise, so small windows get
    // the tests with p-values, whatever the reference's size (distances serve large windows).
    let mut drift_options = options.drift;
    if range.len() as u64 <= drift_options.small_reference {
        drift_options.small_reference = u64::MAX;
    }
    let drift = drift::compare(reference, &profile.profile, &drift_options);
    let prediction_drift = match &baseline.predictions {
        Some(predictions) => drift::compare(predictions, &profile.profile, &drift_options)
            .features
            .iter()
            .find(|f| &f.column == target)
            .map(FeatureFigure::of),
        None => drift
            .features
            .iter()
            .find(|f| &f.column == target)
            .map(FeatureFigure::of),
    };
    let features: Vec<FeatureFigure> = drift
        .features
        .iter()
        .filter(|f| &f.column != target)
        .map(FeatureFigure::of)
        .collect();
    let drifted: Vec<String> = features
        .iter()
        .filter(|f| f.drift)
        .map(|f| f.column.clone())
        .collect();
    let share_drifted = if features.is_empty() {
        0.0
    } else {
        drifted.len() as f64 / features.len() as f64
    };
    let describe = |a: &Anomaly| crate::validation::describe(a);
    let errors: Vec<String> = anomalies
        .iter()
        .filter(|a| a.severity == Severity::Error)
        .map(describe)
        .collect();
    let warnings: Vec<String> = anomalies
        .iter()
        .filter(|a| a.severity == Severity::Warning)
        .map(describe)
        .collect();
    let quality = quality(baseline, live, range.clone());
    let mut reasons = Vec::new();
    if !features.is_empty() && share_drifted >= options.drift_share {
        reasons.push(format!(
            "data drift: {} of {} features moved ({:.0}% >= {:.0}%): {}",
            drifted.len(),
            features.len(),
            share_drifted * 100.0,
            options.drift_share * 100.0,
            drifted.join(", ")
        ));
    }
    if let Some(p) = prediction_drift.as_ref().filter(|p| p.drift) {
        reasons.push(format!(
            "prediction drift: {} = {:.4} against the model's predictions on its training rows",
            p.test, p.statistic
        ));
    }
    if !errors.is_empty() {
        reasons.push(format!(
            "{} data error(s): {}",
            errors.len(),
            errors.join("; ")
        ));
    }
    if let Some(q) = &quality
        && let Some(base) = q.baseline
    {
        let worse = if q.metric == "accuracy" {
            base - q.value > options.max_quality_drop
        } else {
            q.value > base * (1.0 + options.max_quality_drop)
        };
        if worse {
            reasons.push(format!(
                "quality: {} {:.4} on {} labelled rows against {:.4} on the test rows",
                q.metric, q.value, q.rows, base
            ));
        }
    }
    let time_range = {
        let times: Vec<u64> = live.times[range.clone()]
            .iter()
            .flatten()
            .copied()
            .collect();
        times.first().zip(times.last()).map(|(a, b)| (*a, *b))
    };
    Ok(WindowReport {
        index,
        first_row: range.start,
        rows: range.len(),
        time_range,
        features,
        drifted,
        share_drifted,
        prediction_drift,
        errors,
        warnings,
        quality,
        alert: !reasons.is_empty(),
        reasons,
    })
}

/// Profiles a window's inputs and predictions (the predictions under the target's name),
/// reading columns as `readings` says (the training profile's readings).
fn profile_window(
    live: &Live,
    target: &str,
    range: std::ops::Range<usize>,
    readings: Vec<(String, kiln_profile::Reading)>,
) -> Result<kiln_profile::Pass, KilnError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let header: Vec<&str> = live
        .columns
        .iter()
        .map(String::as_str)
        .chain(std::iter::once(target))
        .collect();
    let write_err = |e: csv::Error| KilnError::Config(format!("cannot assemble the window: {e}"));
    writer.write_record(&header).map_err(write_err)?;
    for row in range {
        let record: Vec<String> = live
            .cells
            .iter()
            .map(|c| c[row].as_text())
            .chain(std::iter::once(live.predicted[row].as_text()))
            .collect();
        writer.write_record(&record).map_err(write_err)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| KilnError::Config(format!("cannot assemble the window: {e}")))?;
    let mut stream =
        RecordStream::from_csv_reader(Box::new(std::io::Cursor::new(bytes)), &live.source)?;
    let options = ProfileOptions {
        threads: 1,
        readings,
        ..ProfileOptions::default()
    };
    let pass = kiln_profile::profile::profile_stream(
        &mut stream,
        &options,
        &Checks::default(),
        &mut |_| {},
    )
    .map_err(|e: ProfileError| KilnError::from(e))?;
    Ok(pass)
}

/// Accuracy or RMSE on a window's labelled rows, with the model's test score beside it.
fn quality(baseline: &Baseline, live: &Live, range: std::ops::Range<usize>) -> Option<Quality> {
    let regression = baseline.regression;
    let pairs: Vec<(&Cell, &Cell)> = range
        .map(|r| (&live.predicted[r], &live.actual[r]))
        .filter(|(p, a)| !matches!(a, Cell::Missing) && !matches!(p, Cell::Missing))
        .collect();
    if pairs.is_empty() {
        return None;
    }
    if regression {
        let errors: Vec<f64> = pairs
            .iter()
            .filter_map(|(p, a)| match (p, a) {
                (Cell::Num(p), Cell::Num(a)) => Some(p - a),
                _ => None,
            })
            .collect();
        if errors.is_empty() {
            return None;
        }
        let rmse = (errors.iter().map(|e| e * e).sum::<f64>() / errors.len() as f64).sqrt();
        Some(Quality {
            rows: errors.len(),
            metric: "rmse".into(),
            value: rmse,
            baseline: baseline.test_score,
        })
    } else {
        let right = pairs
            .iter()
            .filter(|(p, a)| p.as_text() == a.as_text())
            .count();
        Some(Quality {
            rows: pairs.len(),
            metric: "accuracy".into(),
            value: right as f64 / pairs.len() as f64,
            baseline: baseline.test_score,
        })
    }
}

impl MonitorReport {
    /// The HTML report: drift and quality over the windows, each feature's drift per window,
    /// and every alert with its reasons.
    pub fn html(&self, subtitle: &str) -> kiln_report::Report {
        use kiln_report::{Level, Section, Series};
        let x = |w: &WindowReport| w.index as f64;
        let mut series = vec![Series {
            name: "share of features drifted".into(),
            points: self
                .windows
                .iter()
                .map(|w| (x(w), w.share_drifted))
                .collect(),
        }];
        if self.windows.iter().any(|w| w.quality.is_some()) {
            series.push(Series {
                name: "quality (accuracy or RMSE) on labelled rows".into(),
                points: self
                    .windows
                    .iter()
                    .filter_map(|w| w.quality.as_ref().map(|q| (x(w), q.value)))
                    .collect(),
            });
        }
        let columns: Vec<String> = self
            .windows
            .first()
            .map(|w| w.features.iter().map(|f| f.column.clone()).collect())
            .unwrap_or_default();
        let heat: Vec<Vec<f64>> = self
            .windows
            .iter()
            .map(|w| {
                columns
                    .iter()
                    .map(|c| {
                        w.features
                            .iter()
                            .find(|f| &f.column == c)
                            .map_or(0.0, |f| f.statistic)
                    })
                    .collect()
            })
            .collect();
        let alerts: Vec<(Level, String)> = self
            .windows
            .iter()
            .filter(|w| w.alert)
            .map(|w| {
                (
                    Level::Warning,
                    format!(
                        "window {} (rows {}-{}): {}",
                        w.index,
                        w.first_row,
                        w.first_row + w.rows - 1,
                        w.reasons.join("; ")
                    ),
                )
            })
            .collect();
        let table_rows: Vec<Vec<String>> = self
            .windows
            .iter()
            .map(|w| {
                vec![
                    w.index.to_string(),
                    w.first_row.to_string(),
                    w.rows.to_string(),
                    format!("{:.0}%", w.share_drifted * 100.0),
                    w.prediction_drift.as_ref().map_or("-".into(), |p| {
                        format!("{:.3}{}", p.statistic, if p.drift { " DRIFT" } else { "" })
                    }),
                    w.quality
                        .as_ref()
                        .map_or("-".into(), |q| format!("{} {:.4}", q.metric, q.value)),
                    if w.alert { "ALERT".into() } else { "ok".into() },
                ]
            })
            .collect();
        kiln_report::Report {
            title: format!("kiln monitor: {}", self.source),
            subtitle: subtitle.to_string(),
            sections: vec![
                Section::KeyValues {
                    title: "Summary".into(),
                    rows: vec![
                        ("model".into(), self.model.clone()),
                        ("rows".into(), self.rows.to_string()),
                        ("labelled rows".into(), self.labelled.to_string()),
                        ("windows".into(), self.windows.len().to_string()),
                        (
                            "alert".into(),
                            if self.alert {
                                "yes".into()
                            } else {
                                "no".into()
                            },
                        ),
                    ],
                },
                Section::Notes {
                    title: "Alerts".into(),
                    items: if alerts.is_empty() {
                        vec![(Level::Info, "no window alerts".into())]
                    } else {
                        alerts
                    },
                },
                Section::LineChart {
                    title: "Drift and quality per window".into(),
                    x_label: "window".into(),
                    y_label: "share / metric".into(),
                    series,
                    marker: None,
                },
                Section::Heatmap {
                    title: "Drift statistic per feature and window".into(),
                    row_axis: "window".into(),
                    col_axis: "feature".into(),
                    row_labels: self.windows.iter().map(|w| w.index.to_string()).collect(),
                    col_labels: columns,
                    values: heat,
                },
                Section::Table {
                    title: "Windows".into(),
                    header: [
                        "window",
                        "first row",
                        "rows",
                        "drifted",
                        "prediction drift",
                        "quality",
                        "verdict",
                    ]
                    .map(String::from)
                    .to_vec(),
                    rows: table_rows,
                },
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_as_all_rows_or_durations() {
        assert_eq!("all".parse::<Window>(), Ok(Window::All));
        assert_eq!(
            "500".parse::<Window>(),
            Ok(Window::Rows {
                size: 500,
                step: 500
            })
        );
        assert_eq!("30m".parse::<Window>(), Ok(Window::Millis(1_800_000)));
        assert_eq!("1d".parse::<Window>(), Ok(Window::Millis(86_400_000)));
        for bad in ["0", "3x", "h", "-5", ""] {
            assert!(bad.parse::<Window>().is_err(), "{bad}");
        }
    }

    fn live(times: Vec<Option<u64>>) -> Live {
        Live {
            predicted: vec![Cell::Missing; times.len()],
            times,
            ..Live::default()
        }
    }

    #[test]
    fn rows_are_cut_into_tumbling_sliding_and_time_windows() {
        let l = live(vec![None; 10]);
        assert_eq!(
            cut(&l, Window::Rows { size: 4, step: 4 }),
            vec![0..4, 4..8, 8..10]
        );
        assert_eq!(
            cut(&l, Window::Rows { size: 4, step: 2 }),
            vec![0..4, 2..6, 4..8, 6..10]
        );
        assert_eq!(cut(&l, Window::All), vec![0..10]);
        let l = live(vec![
            Some(0),
            Some(500),
            Some(1000),
            None,
            Some(2500),
            Some(2999),
        ]);
        assert_eq!(cut(&l, Window::Millis(1000)), vec![0..2, 2..4, 4..6]);
    }
}
