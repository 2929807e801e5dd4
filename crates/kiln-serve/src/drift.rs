//! Drift on live traffic, as `kiln monitor` measures it: each model version keeps its most
//! recent rows, and a background task compares them with the version's training profile and
//! publishes the figures as Prometheus gauges.

use crate::metrics::Metrics;
use crate::model::{ModelVersion, Outputs};
use kiln::data::{Cell, Table};
use kiln::monitor::{Baseline, Live, MonitorOptions};
use std::collections::VecDeque;
use std::sync::Mutex;

/// The recent rows of one model version and what they are compared with.
pub struct DriftWatch {
    baseline: Baseline,
    inputs: Vec<String>,
    capacity: usize,
    recent: Mutex<VecDeque<(Vec<Cell>, Cell)>>,
}

impl DriftWatch {
    /// Watches up to `capacity` recent rows of the model's `inputs` against `baseline`.
    pub fn new(baseline: Baseline, inputs: Vec<String>, capacity: usize) -> Self {
        Self {
            baseline,
            inputs,
            capacity,
            recent: Mutex::new(VecDeque::with_capacity(capacity)),
        }
    }

    /// Keeps a served request's rows (in the model's input order) and predictions.
    pub fn record(&self, table: &Table, outputs: &Outputs, classes: &[String]) {
        let mut finder = table.finder();
        let columns: Vec<Option<&kiln::data::Column>> =
            self.inputs.iter().map(|name| finder.find(name)).collect();
        let labels = (!classes.is_empty()).then(|| outputs.labels(classes.len()));
        let mut recent = self.recent.lock().expect("drift buffer lock");
        let skip = outputs.rows.saturating_sub(self.capacity);
        for row in skip..outputs.rows {
            if recent.len() == self.capacity {
                recent.pop_front();
            }
            let cells = columns
                .iter()
                .map(|c| c.map_or(Cell::Missing, |c| c.cells[row].clone()))
                .collect();
            let predicted = match &labels {
                Some(l) => Cell::Text(classes[l[row]].clone()),
                None => Cell::Num(f64::from(outputs.values[row])),
            };
            recent.push_back((cells, predicted));
        }
    }

    /// Compares the recent rows with the baseline and sets the version's gauges.
    pub fn publish(&self, model: &ModelVersion, metrics: &Metrics, options: &MonitorOptions) {
        let live = {
            let recent = self.recent.lock().expect("drift buffer lock");
            if recent.len() < options.min_rows {
                return;
            }
            let names = self.inputs.clone();
            let mut cells = vec![Vec::with_capacity(recent.len()); names.len()];
            let mut predicted = Vec::with_capacity(recent.len());
            for (row, p) in recent.iter() {
                for (column, cell) in cells.iter_mut().zip(row) {
                    column.push(cell.clone());
                }
                predicted.push(p.clone());
            }
            let n = predicted.len();
            Live {
                source: format!("{} version {}", model.name, model.version),
                columns: names,
                cells,
                predicted,
                actual: vec![Cell::Missing; n],
                times: vec![None; n],
                ids: vec![None; n],
            }
        };
        match self.baseline.window(&live, 0, 0..live.rows(), options) {
            Ok(report) => metrics.set_drift(&model.name, &model.version.to_string(), &report),
            Err(e) => {
                tracing::warn!(model = %model.name, version = model.version, error = %e, "cannot measure drift")
            }
        }
    }
}
