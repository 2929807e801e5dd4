//! The HTTP layer: routes for both protocols, health, repository management and metrics, with
//! thin middleware for the bearer token, the request timeout and the body limit.

use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::model::ModelVersion;
use crate::prediction_log::PredictionLog;
use crate::repository::Registry;
use crate::{tfserving, v2};
use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The models being served.
    pub registry: Arc<Registry>,
    /// The metrics.
    pub metrics: Metrics,
    /// The prediction log, if one was asked for.
    pub log: Option<Arc<PredictionLog>>,
    /// The bearer token every endpoint but health needs, if set.
    pub token: Option<String>,
    /// The longest a request may take.
    pub timeout: Duration,
    /// The largest request body accepted, in bytes.
    pub max_body: usize,
}

/// The server's routes and middleware.
pub fn router(state: AppState) -> Router {
    // One reference count per request instead of one per shared field.
    let state = Arc::new(state);
    let routes = Router::new()
        .route("/v2/health/live", get(|| async { Json(json!({"live": true})) }))
        .route("/v2/health/ready", get(server_ready))
        .route("/v2", get(server_metadata))
        .route("/v2/models/{model}", get(model_metadata))
        .route("/v2/models/{model}/versions/{version}", get(version_metadata))
        .route("/v2/models/{model}/ready", get(model_ready))
        .route("/v2/models/{model}/versions/{version}/ready", get(version_ready))
        .route("/v2/models/{model}/infer", post(infer))
        .route("/v2/models/{model}/versions/{version}/infer", post(infer_version))
        .route("/v2/repository/index", post(repository_index))
        .route("/v2/repository/models/{model}/load", post(load))
        .route("/v2/repository/models/{model}/unload", post(unload))
        .route("/v1/models/{target}", get(tf_status).post(tf_predict))
        .route("/v1/models/{model}/versions/{target}", get(tf_version_status).post(tf_version_predict))
        .route("/metrics", get(metrics))
        .fallback(|| async {
            ApiError::not_found(
                "no such endpoint; see /v2 (Open Inference Protocol), /v1/models/NAME:predict (TF Serving) and /metrics",
            )
        })
        .layer(middleware::from_fn_with_state(state.clone(), timeout));
    // Without a token there is nothing to check: no layer, rather than one that passes all.
    let routes = match &state.token {
        Some(token) => routes.layer(middleware::from_fn_with_state(
            Arc::<str>::from(token.as_str()),
            authorize,
        )),
        None => routes,
    };
    routes
        .layer(DefaultBodyLimit::max(state.max_body))
        .with_state(state)
}

/// Refuses requests without the bearer `token`, but for health checks.
async fn authorize(State(token): State<Arc<str>>, request: Request, next: Next) -> Response {
    if request.uri().path().starts_with("/v2/health/") {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given.is_some_and(|g| constant_time_eq(g.as_bytes(), token.as_bytes())) {
        return next.run(request).await;
    }
    let mut response = ApiError::new(
        StatusCode::UNAUTHORIZED,
        if given.is_some() {
            "the bearer token is wrong; send the token in the server's --auth-token-file"
        } else {
            "this server needs a bearer token: send the header 'Authorization: Bearer TOKEN' with the token in the server's --auth-token-file"
        },
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Answers 503 when a request takes longer than the server's timeout.
async fn timeout(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(state.timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::unavailable(
            format!(
                "the request took longer than the server's limit of {} ms (--request-timeout-ms); retry, send fewer rows, or raise the limit",
                state.timeout.as_millis()
            ),
            1,
        )
        .into_response(),
    }
}

async fn server_ready(State(state): State<Arc<AppState>>) -> Response {
    if state.registry.ready() {
        Json(json!({"ready": true})).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"ready": false})),
        )
            .into_response()
    }
}

async fn server_metadata() -> Json<serde_json::Value> {
    Json(json!({
        "name": "kiln",
        "version": kiln::VERSION,
        "extensions": ["model_repository", "binary_tensor_data"],
    }))
}

async fn model_metadata(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
) -> Result<Response, ApiError> {
    let m = state.registry.get(&model, None)?;
    Ok(Json(v2::metadata(&m, &state.registry.versions(&model))).into_response())
}

async fn version_metadata(
    State(state): State<Arc<AppState>>,
    Path((model, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let m = state.registry.get(&model, Some(&version))?;
    Ok(Json(v2::metadata(&m, &[m.version])).into_response())
}

async fn model_ready(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
) -> Result<Response, ApiError> {
    state.registry.get(&model, None)?;
    Ok(Json(json!({"name": model, "ready": true})).into_response())
}

async fn version_ready(
    State(state): State<Arc<AppState>>,
    Path((model, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    state.registry.get(&model, Some(&version))?;
    Ok(Json(json!({"name": model, "version": version, "ready": true})).into_response())
}

async fn infer(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
    JsonLength(json_len): JsonLength,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    infer_v2(state, model, None, json_len, body).await
}

async fn infer_version(
    State(state): State<Arc<AppState>>,
    Path((model, version)): Path<(String, String)>,
    JsonLength(json_len): JsonLength,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    infer_v2(state, model, Some(version), json_len, body).await
}

/// The `Inference-Header-Content-Length` header, the only one inference reads: extracting the
/// whole `HeaderMap` would copy every header of every request.
struct JsonLength(Option<HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for JsonLength {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.headers.get(v2::BINARY_HEADER).cloned()))
    }
}

/// The request body, or an error that says why it could not be read.
fn body_bytes(state: &AppState, body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        let status = rejection.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                status,
                format!(
                    "the request body is larger than the server's limit of {} bytes (--max-body-bytes); send fewer rows per request",
                    state.max_body
                ),
            )
        } else {
            ApiError::new(status, format!("cannot read the request body: {}", rejection.body_text()))
        }
    })
}

async fn infer_v2(
    state: Arc<AppState>,
    name: String,
    version: Option<String>,
    json_len: Option<HeaderValue>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let start = Instant::now();
    let mut served: Option<Arc<ModelVersion>> = None;
    let result = async {
        let body = body_bytes(&state, body)?;
        let model = state.registry.get(&name, version.as_deref())?;
        served = Some(Arc::clone(&model));
        let json_len = json_len
            .map(|v| {
                v.to_str()
                    .ok()
                    .and_then(|s| s.trim().parse::<usize>().ok())
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "the Inference-Header-Content-Length header must be a whole number",
                        )
                    })
            })
            .transpose()?;
        let (request, binary) = v2::parse(&body, json_len)?;
        let table = v2::table(&request, &binary, &model.signature)?;
        let outputs = model.infer(&table).await?;
        let response = Json(v2::response(&request, &model, &outputs)?).into_response();
        log_prediction(&state, &model, request.id.clone(), table, outputs.values);
        Ok::<_, ApiError>(response)
    }
    .await;
    finish(&state, "v2", served.as_deref(), start, result)
}

/// Counts the answer in the metrics and turns an error into its response.
fn finish(
    state: &AppState,
    protocol: &str,
    model: Option<&ModelVersion>,
    start: Instant,
    result: Result<Response, ApiError>,
) -> Response {
    let response = result.unwrap_or_else(|e| {
        tracing::debug!(status = e.status.as_u16(), error = %e.message, "request refused");
        e.into_response()
    });
    let status = response.status().as_u16();
    if let Some(m) = model.filter(|_| status == 200) {
        // The common case touches only counters resolved when the version loaded.
        m.metrics.ok[usize::from(protocol != "v2")].inc();
        m.metrics.latency.observe(start.elapsed().as_secs_f64());
        return response;
    }
    let (name, version) = model.map_or((String::new(), String::new()), |m| {
        (m.name.clone(), m.version.to_string())
    });
    state.metrics.record(
        &name,
        &version,
        protocol,
        response.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    response
}

fn log_prediction(
    state: &AppState,
    model: &ModelVersion,
    id: Option<String>,
    table: kiln::data::Table,
    values: Vec<f32>,
) {
    if let Some(log) = &state.log
        && log.sample()
    {
        log.offer(
            &model.name,
            model.version,
            id,
            table,
            values,
            Arc::clone(&model.signature.classes),
        );
    }
}

async fn repository_index(State(state): State<Arc<AppState>>) -> Response {
    let registry = Arc::clone(&state.registry);
    let index = tokio::task::spawn_blocking(move || registry.index())
        .await
        .unwrap_or_default();
    let list: Vec<serde_json::Value> = index
        .into_iter()
        .map(|s| json!({"name": s.name, "version": s.version.to_string(), "state": s.state, "reason": s.reason}))
        .collect();
    Json(list).into_response()
}

async fn load(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
) -> Result<Response, ApiError> {
    let registry = Arc::clone(&state.registry);
    let name = model.clone();
    let versions = tokio::task::spawn_blocking(move || registry.load(&name))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("loading failed: {e}"),
            )
        })??;
    Ok(Json(
        json!({"name": model, "versions": versions.iter().map(u64::to_string).collect::<Vec<_>>()}),
    )
    .into_response())
}

async fn unload(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
) -> Result<Response, ApiError> {
    state.registry.unload(&model)?;
    Ok(Json(json!({"name": model, "unloaded": true})).into_response())
}

/// Splits TF Serving's `NAME:predict` path segment.
fn predict_target(target: &str) -> Result<&str, ApiError> {
    target.strip_suffix(":predict").ok_or_else(|| {
        ApiError::not_found(format!(
            "'{target}' is not a TF Serving endpoint; use POST /v1/models/NAME:predict or /v1/models/NAME/versions/N:predict"
        ))
    })
}

async fn tf_status(
    State(state): State<Arc<AppState>>,
    Path(model): Path<String>,
) -> Result<Response, ApiError> {
    state.registry.get(&model, None)?;
    Ok(Json(tfserving::status(&state.registry.versions(&model))).into_response())
}

async fn tf_version_status(
    State(state): State<Arc<AppState>>,
    Path((model, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let m = state.registry.get(&model, Some(&version))?;
    Ok(Json(tfserving::status(&[m.version])).into_response())
}

async fn tf_predict(
    State(state): State<Arc<AppState>>,
    Path(target): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    predict_tf(state, target, None, body).await
}

async fn tf_version_predict(
    State(state): State<Arc<AppState>>,
    Path((model, target)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    predict_tf(state, model, Some(target), body).await
}

/// TF Serving predict: `target` is `NAME:predict`, or the model name when `version` is
/// `N:predict`.
async fn predict_tf(
    state: Arc<AppState>,
    target: String,
    version: Option<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let start = Instant::now();
    let mut served: Option<Arc<ModelVersion>> = None;
    let result = async {
        let (name, version) = match &version {
            None => (predict_target(&target)?, None),
            Some(v) => (target.as_str(), Some(predict_target(v)?)),
        };
        let body = body_bytes(&state, body)?;
        let model = state.registry.get(name, version)?;
        served = Some(Arc::clone(&model));
        let (table, format) = tfserving::table(&body, &model.signature)?;
        let outputs = model.infer(&table).await?;
        let response = tfserving::response(&model, &outputs, format);
        log_prediction(&state, &model, None, table, outputs.values);
        Ok::<_, ApiError>(Json(response).into_response())
    }
    .await;
    finish(&state, "tfserving", served.as_deref(), start, result)
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
