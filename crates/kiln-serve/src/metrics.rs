//! Prometheus metrics: requests, errors, latency, batch sizes and queue depth per model and
//! version, served as text at `GET /metrics`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Every metric the server keeps.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    batch_size: HistogramVec,
    queue_depth: IntGaugeVec,
    rows: IntCounterVec,
    /// Rows the prediction log dropped because its writer fell behind.
    pub log_dropped: IntCounter,
    /// Model versions loaded and serving.
    pub versions_loaded: IntGauge,
}

/// The metrics of one model version, resolved once so the request path only touches atomics.
#[derive(Clone)]
pub struct VersionMetrics {
    /// Requests waiting for the batching thread.
    pub queue_depth: IntGauge,
    /// Rows per batch run.
    pub batch_size: prometheus::Histogram,
    /// Rows run through the network.
    pub rows: IntCounter,
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "kiln_requests_total",
                "Requests answered, by model, version, protocol and HTTP status.",
            ),
            &["model", "version", "protocol", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "kiln_request_duration_seconds",
                "Time from a request's arrival to its answer, by model and version.",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0, 2.5, 5.0, 10.0,
            ]),
            &["model", "version"],
        )
        .expect("valid metric");
        let batch_size = HistogramVec::new(
            HistogramOpts::new("kiln_batch_size", "Rows per batch run through a network.")
                .buckets(prometheus::exponential_buckets(1.0, 2.0, 12).expect("valid buckets")),
            &["model", "version"],
        )
        .expect("valid metric");
        let queue_depth = IntGaugeVec::new(
            Opts::new(
                "kiln_queue_depth",
                "Requests waiting for a model version's batching thread.",
            ),
            &["model", "version"],
        )
        .expect("valid metric");
        let rows = IntCounterVec::new(
            Opts::new(
                "kiln_inference_rows_total",
                "Rows run through each model version.",
            ),
            &["model", "version"],
        )
        .expect("valid metric");
        let log_dropped = IntCounter::new(
            "kiln_prediction_log_dropped_total",
            "Sampled rows the prediction log dropped because its writer fell behind.",
        )
        .expect("valid metric");
        let versions_loaded = IntGauge::new(
            "kiln_model_versions_loaded",
            "Model versions loaded and serving.",
        )
        .expect("valid metric");
        for metric in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(batch_size.clone()),
            Box::new(queue_depth.clone()),
            Box::new(rows.clone()),
            Box::new(log_dropped.clone()),
            Box::new(versions_loaded.clone()),
        ] {
            registry.register(metric).expect("metric names are unique");
        }
        Self {
            registry,
            requests,
            latency,
            batch_size,
            queue_depth,
            rows,
            log_dropped,
            versions_loaded,
        }
    }

    /// The metrics of one model version.
    pub fn version(&self, model: &str, version: &str) -> VersionMetrics {
        let labels = [model, version];
        VersionMetrics {
            queue_depth: self.queue_depth.with_label_values(&labels),
            batch_size: self.batch_size.with_label_values(&labels),
            rows: self.rows.with_label_values(&labels),
        }
    }

    /// Counts one answered request and its latency.
    pub fn record(&self, model: &str, version: &str, protocol: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        self.requests
            .with_label_values(&[model, version, protocol, status.as_str()])
            .inc();
        if status.starts_with('2') {
            self.latency
                .with_label_values(&[model, version])
                .observe(seconds);
        }
    }

    /// Every metric in Prometheus's text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding cannot fail");
        String::from_utf8(out).expect("Prometheus text is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
