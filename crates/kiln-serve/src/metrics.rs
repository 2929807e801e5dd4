//! Prometheus metrics: requests, errors, latency, batch sizes and queue depth per model and
//! version, served as text at `GET /metrics`.

use std::sync::Arc;

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Every metric the server keeps; clones share them.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

/// The metrics behind a [`Metrics`] handle.
pub struct Inner {
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
    feature_drift: GaugeVec,
    feature_drifted: GaugeVec,
    drift: GaugeVec,
}

impl std::ops::Deref for Metrics {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// The metrics of one model version, resolved once so the request path only touches atomics.
#[derive(Clone)]
pub struct VersionMetrics {
    /// Requests answered 200, by protocol (v2, tfserving).
    pub ok: [IntCounter; 2],
    /// Latency of the requests answered 200.
    pub latency: prometheus::Histogram,
    /// Requests waiting to join a batch.
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
                "Requests waiting to join a batch of a model version.",
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
        let feature_drift = GaugeVec::new(
            Opts::new(
                "kiln_feature_drift",
                "Drift statistic of each feature over the recent rows (the test kiln monitor picks).",
            ),
            &["model", "version", "feature", "test"],
        )
        .expect("valid metric");
        let feature_drifted = GaugeVec::new(
            Opts::new(
                "kiln_feature_drifted",
                "1 when a feature drifted over the recent rows.",
            ),
            &["model", "version", "feature"],
        )
        .expect("valid metric");
        let drift = GaugeVec::new(
            Opts::new(
                "kiln_drift",
                "Drift over the recent rows: share of features drifted, prediction drift statistic, alert (0/1) and rows compared.",
            ),
            &["model", "version", "figure"],
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
            Box::new(feature_drift.clone()),
            Box::new(feature_drifted.clone()),
            Box::new(drift.clone()),
        ] {
            registry.register(metric).expect("metric names are unique");
        }
        Self(Arc::new(Inner {
            registry,
            requests,
            latency,
            batch_size,
            queue_depth,
            rows,
            log_dropped,
            versions_loaded,
            feature_drift,
            feature_drifted,
            drift,
        }))
    }

    /// Publishes a drift measurement of one model version.
    pub fn set_drift(&self, model: &str, version: &str, w: &kiln::monitor::WindowReport) {
        for f in &w.features {
            self.feature_drift
                .with_label_values(&[model, version, f.column.as_str(), f.test.as_str()])
                .set(f.statistic);
            self.feature_drifted
                .with_label_values(&[model, version, f.column.as_str()])
                .set(f64::from(u8::from(f.drift)));
        }
        let figure = |name: &str, value: f64| {
            self.drift
                .with_label_values(&[model, version, name])
                .set(value);
        };
        figure("share_drifted", w.share_drifted);
        figure("rows", w.rows as f64);
        figure("alert", f64::from(u8::from(w.alert)));
        if let Some(p) = &w.prediction_drift {
            figure("prediction", p.statistic);
            figure("prediction_drifted", f64::from(u8::from(p.drift)));
        }
    }

    /// The metrics of one model version.
    pub fn version(&self, model: &str, version: &str) -> VersionMetrics {
        let labels = [model, version];
        VersionMetrics {
            ok: ["v2", "tfserving"].map(|protocol| {
                self.requests
                    .with_label_values(&[model, version, protocol, "200"])
            }),
            latency: self.latency.with_label_values(&labels),
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
