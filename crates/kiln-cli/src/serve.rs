//! `kiln serve`: the model server's command line.

use clap::Args;
use kiln::KilnError;
use kiln_serve::{BatchPolicy, LogOptions, ServeOptions, VersionPolicy};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `kiln serve`.
#[derive(Args)]
pub struct ServeArgs {
    /// Model bundles (served as version 1 of the model named after the file) and model
    /// repository folders (NAME/VERSION/model.kiln, watched for new versions).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on; 0 picks a free one (printed on stdout).
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Most rows run through the network together.
    #[arg(long, default_value_t = 256)]
    max_batch: usize,
    /// Longest a request waits for others to join its batch, in milliseconds. With 0, requests
    /// that arrive while a batch runs form the next batch, so batches grow with load at no cost
    /// in latency when idle.
    #[arg(long, default_value_t = 0)]
    max_delay_ms: u64,
    /// Most requests waiting per model version; more are answered 503 with Retry-After.
    #[arg(long, default_value_t = 1024)]
    queue: usize,
    /// Threads for requests and for the network [default: one per core].
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// A file holding a bearer token that every request but health checks must send.
    #[arg(long)]
    auth_token_file: Option<PathBuf>,
    /// Largest request body accepted, in bytes (larger: 413).
    #[arg(long, default_value_t = 8 << 20)]
    max_body_bytes: usize,
    /// Longest a request may take, in milliseconds (longer: 503).
    #[arg(long, default_value_t = 30_000)]
    request_timeout_ms: u64,
    /// How often model repositories are checked for new or changed versions, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    poll_ms: u64,
    /// Which versions serve: latest, latest:N, all, or numbers such as 1,3. Requests that
    /// name no version go to the newest serving version.
    #[arg(long, default_value = "latest")]
    versions: VersionPolicy,
    /// Append a sample of the rows served, with their predictions, as JSON lines to
    /// DIR/predictions.jsonl (rotated by size) for monitoring.
    #[arg(long, value_name = "DIR")]
    prediction_log: Option<PathBuf>,
    /// Share of requests written to the prediction log, in [0, 1].
    #[arg(long, default_value_t = 1.0)]
    log_sample_rate: f64,
    /// Size at which the prediction log file is rotated, in bytes.
    #[arg(long, default_value_t = 64 << 20)]
    log_max_bytes: u64,
    /// Rotated prediction log files kept.
    #[arg(long, default_value_t = 20)]
    log_keep: usize,
    /// Seed of the prediction log's sampling.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Recent rows per model version compared with its training profile for the drift gauges
    /// at /metrics (kiln_drift, kiln_feature_drift); 0 turns drift figures off.
    #[arg(long, default_value_t = 1000)]
    drift_rows: usize,
    /// Seconds between drift measurements.
    #[arg(long, default_value_t = 30)]
    drift_every_s: u64,
    /// Write the server's logs as JSON lines.
    #[arg(long)]
    json_logs: bool,
}

/// Serves until Ctrl-C or SIGTERM.
pub fn serve(args: ServeArgs) -> Result<(), KilnError> {
    if !(0.0..=1.0).contains(&args.log_sample_rate) {
        return Err(KilnError::Config(format!(
            "--log-sample-rate must be between 0 and 1, not {}",
            args.log_sample_rate
        )));
    }
    if args.max_batch == 0 || args.queue == 0 {
        return Err(KilnError::Config(
            "--max-batch and --queue must be at least 1".into(),
        ));
    }
    let log = args.prediction_log.map(|dir| LogOptions {
        dir,
        sample_rate: args.log_sample_rate,
        max_bytes: args.log_max_bytes.max(1),
        keep: args.log_keep,
        seed: args.seed,
    });
    let options = ServeOptions {
        paths: args.paths,
        host: args.host,
        port: args.port,
        batch: BatchPolicy {
            max_batch: args.max_batch,
            max_delay: Duration::from_millis(args.max_delay_ms),
            queue: args.queue,
        },
        threads: args.threads,
        token_file: args.auth_token_file,
        max_body: args.max_body_bytes,
        timeout: Duration::from_millis(args.request_timeout_ms.max(1)),
        poll: Duration::from_millis(args.poll_ms.max(10)),
        versions: args.versions,
        log,
        json_logs: args.json_logs,
        drift_rows: args.drift_rows,
        drift_every: Duration::from_secs(args.drift_every_s.max(1)),
    };
    kiln_serve::run(options, |address| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on http://{address}");
        let _ = out.flush();
    })
    .map_err(|e| KilnError::Config(e.0))
}
