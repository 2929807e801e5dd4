//! Kiln's model server. `kiln serve` answers the Open Inference Protocol v2 (KServe, Triton)
//! and TF Serving's REST predict API for bundles and model repositories, gathering concurrent
//! requests into batches, serving several versions with hot reload, and exporting Prometheus
//! metrics and a sampled prediction log for monitoring.

pub mod drift;
pub mod error;
pub mod http;
pub mod input;
pub mod metrics;
pub mod model;
pub mod prediction_log;
pub mod repository;
pub mod runner;
pub mod tfserving;
pub mod v2;

pub use http::{AppState, router};
pub use metrics::Metrics;
pub use prediction_log::{LogOptions, PredictionLog};
pub use repository::{Registry, Source, VersionPolicy};
pub use runner::BatchPolicy;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Everything `kiln serve` can be told.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Bundle files and model repository folders.
    pub paths: Vec<PathBuf>,
    /// Address to listen on.
    pub host: String,
    /// Port to listen on (0: any free port).
    pub port: u16,
    /// How requests are batched.
    pub batch: BatchPolicy,
    /// Threads for request handling and for the network (0: one per core).
    pub threads: usize,
    /// A file holding the bearer token clients must send.
    pub token_file: Option<PathBuf>,
    /// The largest request body accepted, in bytes.
    pub max_body: usize,
    /// The longest a request may take.
    pub timeout: Duration,
    /// How often model repositories are checked for new versions.
    pub poll: Duration,
    /// Which versions serve.
    pub versions: VersionPolicy,
    /// The prediction log, if any.
    pub log: Option<LogOptions>,
    /// Logs as JSON lines instead of text.
    pub json_logs: bool,
    /// Recent rows per model version compared with its training profile (0: no drift figures).
    pub drift_rows: usize,
    /// How often the drift figures are measured again.
    pub drift_every: Duration,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ServeError(pub String);

/// Loads the models, listens, calls `on_listening` with the address, and serves until Ctrl-C
/// or SIGTERM; then finishes the requests in flight and returns.
pub fn run(
    options: ServeOptions,
    on_listening: impl FnOnce(SocketAddr) + Send,
) -> Result<(), ServeError> {
    init_logs(options.json_logs);
    runtime(options.threads)?.block_on(serve(options, on_listening, shutdown_signal()))
}

/// A server running on its own threads, for programs that embed one (the demo, tests).
pub struct RunningServer {
    address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), ServeError>>>,
}

impl RunningServer {
    /// Loads the models and starts serving; returns once the server listens.
    pub fn start(options: ServeOptions) -> Result<Self, ServeError> {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (listening, address) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("kiln-serve".into())
            .spawn(move || {
                let on_listening = move |a| {
                    let _ = listening.send(a);
                };
                runtime(options.threads)?.block_on(serve(options, on_listening, async {
                    let _ = stopped.await;
                }))
            })
            .map_err(|e| ServeError(format!("cannot start the server's thread: {e}")))?;
        match address.recv() {
            Ok(address) => Ok(Self {
                address,
                stop: Some(stop),
                thread: Some(thread),
            }),
            // The server ended before listening: its error says why.
            Err(_) => Err(thread
                .join()
                .map_err(|_| ServeError("the server's thread panicked".into()))?
                .err()
                .unwrap_or_else(|| ServeError("the server stopped before listening".into()))),
        }
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Finishes the requests in flight and stops.
    pub fn stop(mut self) -> Result<(), ServeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(ServeError("the server's thread panicked".into())),
            None => Ok(()),
        }
    }
}

/// The request-handling threads; the network's own parallel loops share the same number (a
/// pool built earlier in the process is kept).
fn runtime(threads: usize) -> Result<tokio::runtime::Runtime, ServeError> {
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
        .map_err(|e| ServeError(format!("cannot start the server's threads: {e}")))
}

fn init_logs(json: bool) {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .with_target(false);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.with_ansi(false).try_init()
    };
}

async fn serve(
    options: ServeOptions,
    on_listening: impl FnOnce(SocketAddr),
    stop_when: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    if options.paths.is_empty() {
        return Err(ServeError(
            "no model given; pass a bundle (model.kiln) or a model repository folder".into(),
        ));
    }
    let token = match &options.token_file {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ServeError(format!(
                    "cannot read the token file '{}': {e}",
                    path.display()
                ))
            })?;
            let token = text.trim().to_string();
            if token.is_empty() {
                return Err(ServeError(format!(
                    "the token file '{}' is empty; put the token in it",
                    path.display()
                )));
            }
            Some(token)
        }
    };
    let sources = sources(&options.paths)?;
    let metrics = Metrics::new();
    let registry = Arc::new(
        Registry::new(
            sources,
            options.versions.clone(),
            options.batch,
            metrics.clone(),
        )
        .with_drift_rows(options.drift_rows),
    );
    let first = Arc::clone(&registry);
    tokio::task::spawn_blocking(move || first.sync())
        .await
        .map_err(|e| ServeError(format!("loading the models failed: {e}")))?;
    if registry.index().iter().all(|s| s.state != "READY") {
        let problems: Vec<String> = registry
            .index()
            .into_iter()
            .filter(|s| s.state != "READY")
            .map(|s| format!("{} version {}: {}", s.name, s.version, s.reason))
            .collect();
        return Err(ServeError(format!(
            "no model could be served{}",
            if problems.is_empty() {
                "; the repository holds no NAME/VERSION/model.kiln folders".to_string()
            } else {
                format!(": {}", problems.join("; "))
            }
        )));
    }
    let log = match options.log.clone() {
        Some(log_options) => Some(Arc::new(
            PredictionLog::start(log_options, metrics.clone()).map_err(ServeError)?,
        )),
        None => None,
    };
    let metrics_for_drift = metrics.clone();
    let state = AppState {
        registry: Arc::clone(&registry),
        metrics,
        log: log.clone(),
        token,
        timeout: options.timeout,
        max_body: options.max_body,
    };
    let address = format!("{}:{}", options.host, options.port);
    let listener = tokio::net::TcpListener::bind(&address).await.map_err(|e| {
        ServeError(format!(
            "cannot listen on {address}: {e}; choose another --port or --host"
        ))
    })?;
    let bound = listener
        .local_addr()
        .map_err(|e| ServeError(format!("cannot read the listening address: {e}")))?;
    tracing::info!(address = %bound, "serving");
    on_listening(bound);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let poller = tokio::spawn(poll(Arc::clone(&registry), options.poll, stopped.clone()));
    let drift = tokio::spawn(measure_drift(
        Arc::clone(&registry),
        metrics_for_drift,
        options.drift_every,
        stopped,
    ));
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(stop_when)
        .await;
    let _ = stop.send(true);
    let _ = poller.await;
    let _ = drift.await;
    if let Some(log) = log
        && let Ok(log) = Arc::try_unwrap(log)
    {
        tokio::task::spawn_blocking(move || log.close()).await.ok();
    }
    tracing::info!("stopped");
    served.map_err(|e| ServeError(format!("the server failed: {e}")))
}

/// The sources behind the paths, refusing two models with the same name.
fn sources(paths: &[PathBuf]) -> Result<Vec<Source>, ServeError> {
    let mut out = Vec::new();
    let mut bundle_names: Vec<String> = Vec::new();
    for path in paths {
        let source = Source::from_path(path).map_err(ServeError)?;
        if let Source::Bundle(p) = &source {
            let name = repository::bundle_model_name(p);
            if bundle_names.contains(&name) {
                return Err(ServeError(format!(
                    "two bundles are named '{name}'; rename one, or lay them out as a model repository (NAME/VERSION/model.kiln)"
                )));
            }
            bundle_names.push(name);
        }
        out.push(source);
    }
    Ok(out)
}

/// Brings the registry in step with the disk every `every` until told to stop.
async fn poll(
    registry: Arc<Registry>,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        let r = Arc::clone(&registry);
        let _ = tokio::task::spawn_blocking(move || r.sync()).await;
    }
}

/// Measures drift on every serving version's recent rows every `every` until told to stop.
async fn measure_drift(
    registry: Arc<Registry>,
    metrics: Metrics,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let options = kiln::monitor::MonitorOptions::default();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        let (r, m) = (Arc::clone(&registry), metrics.clone());
        let _ = tokio::task::spawn_blocking(move || {
            for version in r.serving() {
                if let Some(watch) = &version.drift {
                    watch.publish(&version, &m, &options);
                }
            }
        })
        .await;
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}
