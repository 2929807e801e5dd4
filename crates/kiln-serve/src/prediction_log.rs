//! The prediction log that monitoring reads: a sampled share of the rows served, with their
//! inputs as sent and the model's outputs, appended as JSON lines by a background thread (never
//! on the request path) to `DIR/predictions.jsonl`, which is rotated by size.

use crate::metrics::Metrics;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use kiln::data::Table;
use serde_json::{Map, Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where and how much to log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogOptions {
    /// The folder that holds the log files.
    pub dir: PathBuf,
    /// Share of requests logged, in [0, 1].
    pub sample_rate: f64,
    /// Size at which the current file is rotated.
    pub max_bytes: u64,
    /// Rotated files kept; older ones are deleted.
    pub keep: usize,
    /// Seed of the sampling.
    pub seed: u64,
}

/// One served request's rows, waiting to be written.
struct Record {
    time_ms: u128,
    model: String,
    version: u64,
    id: Option<String>,
    table: Table,
    values: Vec<f32>,
    classes: Arc<Vec<String>>,
}

/// The handle the request path uses: samples requests and queues them for the writer.
pub struct PredictionLog {
    queue: Option<Sender<Record>>,
    sample_rate: f64,
    seed: u64,
    counter: AtomicU64,
    metrics: Metrics,
    writer: Option<std::thread::JoinHandle<()>>,
}

/// The name of the file being written.
pub const CURRENT: &str = "predictions.jsonl";

impl PredictionLog {
    /// Creates the folder and starts the writer thread.
    pub fn start(options: LogOptions, metrics: Metrics) -> Result<Self, String> {
        std::fs::create_dir_all(&options.dir).map_err(|e| {
            format!(
                "cannot create the prediction log folder '{}': {e}",
                options.dir.display()
            )
        })?;
        let file = open(&options.dir)?;
        let (queue, records) = crossbeam_channel::bounded(4096);
        let sample_rate = options.sample_rate;
        let seed = options.seed;
        let writer = std::thread::Builder::new()
            .name("kiln-prediction-log".into())
            .spawn(move || write_loop(records, file, &options))
            .map_err(|e| format!("cannot start the prediction log writer: {e}"))?;
        Ok(Self {
            queue: Some(queue),
            sample_rate,
            seed,
            counter: AtomicU64::new(0),
            metrics,
            writer: Some(writer),
        })
    }

    /// Whether the next request is sampled (a seeded hash of its sequence number).
    pub fn sample(&self) -> bool {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let h = splitmix64(n ^ self.seed);
        ((h >> 11) as f64) / ((1u64 << 53) as f64) < self.sample_rate
    }

    /// Queues a served request's rows (with the request's id, which labels join on later);
    /// drops them, and counts the drop, if the writer is behind.
    pub fn offer(
        &self,
        model: &str,
        version: u64,
        id: Option<String>,
        table: Table,
        values: Vec<f32>,
        classes: Arc<Vec<String>>,
    ) {
        let Some(queue) = &self.queue else { return };
        let rows = table.n_rows() as u64;
        let record = Record {
            time_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis()),
            model: model.to_string(),
            version,
            id,
            table,
            values,
            classes,
        };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = queue.try_send(record) {
            self.metrics.log_dropped.inc_by(rows);
        }
    }

    /// Writes what is queued and closes the file.
    pub fn close(mut self) {
        self.queue.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn open(dir: &Path) -> Result<std::fs::File, String> {
    let path = dir.join(CURRENT);
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| format!("cannot open the prediction log '{}': {e}", path.display()))
}

fn write_loop(records: Receiver<Record>, file: std::fs::File, options: &LogOptions) {
    let mut size = file.metadata().map_or(0, |m| m.len());
    let mut out = std::io::BufWriter::new(file);
    let mut line = Vec::new();
    loop {
        let record = match records.recv_timeout(Duration::from_millis(500)) {
            Ok(r) => r,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                let _ = out.flush();
                continue;
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        };
        for row in 0..record.table.n_rows() {
            line.clear();
            serde_json::to_writer(&mut line, &row_json(&record, row)).expect("JSON to memory");
            line.push(b'\n');
            if let Err(e) = out.write_all(&line) {
                tracing::warn!(error = %e, "cannot write the prediction log");
                continue;
            }
            size += line.len() as u64;
        }
        if records.is_empty() {
            let _ = out.flush();
        }
        if size >= options.max_bytes {
            match rotate(out, options) {
                Ok(file) => {
                    out = std::io::BufWriter::new(file);
                    size = 0;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot rotate the prediction log; logging stops");
                    return;
                }
            }
        }
    }
    let _ = out.flush();
}

/// Renames the full file aside, deletes the oldest beyond `keep`, and opens a new one.
fn rotate(
    out: std::io::BufWriter<std::fs::File>,
    options: &LogOptions,
) -> Result<std::fs::File, String> {
    let file = out.into_inner().map_err(|e| e.to_string())?;
    file.sync_all().map_err(|e| e.to_string())?;
    drop(file);
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    let rotated = options.dir.join(format!("predictions-{stamp}.jsonl"));
    std::fs::rename(options.dir.join(CURRENT), &rotated).map_err(|e| e.to_string())?;
    let mut old: Vec<PathBuf> = std::fs::read_dir(&options.dir)
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("predictions-") && n.ends_with(".jsonl"))
        })
        .collect();
    old.sort();
    let excess = old.len().saturating_sub(options.keep);
    for path in &old[..excess] {
        let _ = std::fs::remove_file(path);
    }
    open(&options.dir)
}

fn row_json(record: &Record, row: usize) -> Value {
    let mut inputs = Map::new();
    for column in &record.table.columns {
        inputs.insert(column.name.clone(), column.cells[row].to_json());
    }
    let outputs = if record.classes.is_empty() {
        json!({ "prediction": record.values[row] })
    } else {
        let k = record.classes.len();
        let p = &record.values[row * k..(row + 1) * k];
        let best = kiln::training::metrics::argmax(p);
        json!({ "label": record.classes[best], "probabilities": p })
    };
    let mut line = json!({
        "timestamp_ms": record.time_ms as u64,
        "model": record.model,
        "version": record.version,
        "inputs": inputs,
        "outputs": outputs,
    });
    if let Some(id) = &record.id {
        line["id"] = json!(id);
        line["row"] = json!(row);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln::data::{Cell, Column};

    fn table() -> Table {
        Table {
            source: "request".into(),
            columns: vec![
                Column {
                    name: "x".into(),
                    cells: vec![Cell::Num(1.5), Cell::Missing],
                },
                Column {
                    name: "c".into(),
                    cells: vec![Cell::Text("r".into()), Cell::Text("s".into())],
                },
            ],
            lines: Vec::new(),
        }
    }

    fn options(dir: &Path, sample_rate: f64, max_bytes: u64) -> LogOptions {
        LogOptions {
            dir: dir.to_path_buf(),
            sample_rate,
            max_bytes,
            keep: 2,
            seed: 7,
        }
    }

    #[test]
    fn rows_are_written_as_json_lines_and_files_rotate() {
        let dir = tempfile::tempdir().unwrap();
        let log = PredictionLog::start(options(dir.path(), 1.0, 400), Metrics::new()).unwrap();
        let classes = Arc::new(vec!["a".to_string(), "b".to_string()]);
        for _ in 0..5 {
            assert!(log.sample());
            log.offer(
                "m",
                3,
                Some("r7".into()),
                table(),
                vec![0.25, 0.75, 0.9, 0.1],
                classes.clone(),
            );
        }
        log.close();
        let mut lines = Vec::new();
        let mut files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in &files {
            lines.extend(
                std::fs::read_to_string(f)
                    .unwrap()
                    .lines()
                    .map(str::to_string),
            );
        }
        assert!(
            files.len() <= 3,
            "rotated files beyond keep are deleted: {files:?}"
        );
        assert!(files.len() >= 2, "the log rotated: {files:?}");
        let first: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(first["inputs"], json!({"x": 1.5, "c": "r"}));
        assert_eq!(first["outputs"]["label"], "b");
        assert_eq!(first["version"], 3);
        assert_eq!((&first["id"], &first["row"]), (&json!("r7"), &json!(0)));
        let second: Value = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(second["inputs"]["x"], Value::Null);
        assert_eq!(second["outputs"]["label"], "a");
    }

    #[test]
    fn sampling_keeps_about_the_rate_asked_for_and_is_seeded() {
        let dir = tempfile::tempdir().unwrap();
        let a = PredictionLog::start(options(dir.path(), 0.1, 1 << 20), Metrics::new()).unwrap();
        let picks: Vec<bool> = (0..10_000).map(|_| a.sample()).collect();
        let kept = picks.iter().filter(|&&p| p).count();
        assert!((800..1200).contains(&kept), "{kept} of 10000 at rate 0.1");
        let b = PredictionLog::start(options(dir.path(), 0.1, 1 << 20), Metrics::new()).unwrap();
        assert!(
            picks.iter().all(|&p| p == b.sample()),
            "same seed, same sample"
        );
        a.close();
        b.close();
    }
}
