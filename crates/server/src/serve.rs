//! `berth serve`: the embedded cluster's AWS APIs, the dashboard and its change stream over
//! HTTP on 127.0.0.1.
//!
//! Routes (the dashboard's contract with its tests is `e2e/CONTRACT.md`):
//! - `POST /` — the AWS JSON endpoint, by `X-Amz-Target`: ECS
//!   (`AmazonEC2ContainerServiceV20141113.<Action>`), Application Auto Scaling
//!   (`AnyScaleFrontendService.<Action>`) and CloudWatch Logs (`Logs_20140328.<Action>`) in
//!   JSON 1.1, CloudWatch metrics (`GraniteServiceVersion20100801.<Action>`) in JSON 1.0 (its
//!   errors also carry `x-amzn-query-error: <awsQuery code>;Sender`, as CloudWatch is
//!   awsQuery-compatible). SigV4 headers are accepted and not verified (the server only listens
//!   on loopback). A `Content-Encoding: gzip` body (SDKs compress large PutMetricData
//!   requests) is inflated first.
//! - `POST /service/{service}/operation/{operation}` — the Smithy RPC v2 CBOR protocol
//!   ([`crate::cbor`]), which the current AWS CLI and SDKs use for CloudWatch
//!   (`GraniteServiceVersion20100801`): the same operations and answers, transcoded.
//! - `POST /_berth/api` — the dashboard's same-origin route to the same handler: same body,
//!   same `X-Amz-Target`, same backend, same answers.
//!
//!   Every answer of these two routes, success or error, carries a fresh `x-amzn-RequestId`
//!   (UUID-shaped, as AWS JSON services send it; SDKs copy it into their response metadata and
//!   retry logs), and every error also `x-amzn-ErrorType` (the exception name, which smithy-rs and
//!   the JavaScript SDK v3 read). The id is added by one layer on these routes only: the change
//!   stream, the dashboard's files and the test-control API do not get one, as they are not AWS
//!   operations. The id is not stored or logged: nothing on the server can be looked up by it.
//! - `GET /_berth/events` — the change stream (server-sent events, [`crate::events`]).
//! - `GET /_berth/info` — server facts: version, backend, runtime, region, account, clock.
//! - `GET /`, `/ui`, `/ui/*`, `/assets/*` — the dashboard ([`crate::assets`]).
//! - `GET /healthz` — `ok`.
//! - `POST /_berth/reset`, `/advance`, `/fail-starts`, `/crash`, `/health`, `/metric`,
//!   `/alarm` — the test-control API of the embedded cluster.
//!
//! [`app`] builds the router from an [`AppState`] whose [`Backend`] is the embedded cluster
//! today and the upstream proxy later: everything the routes need from a backend (actions,
//! the change feed, its facts) goes through that trait.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::map_response;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use berth_cluster::apis::{Api, ApiFault};
use berth_cluster::changes::ChangeFeed;
use berth_cluster::{ClockMode, Cluster};
use berth_core::protocol::{AwsError, CONTENT_TYPE, ErrorCode, action_from_target};
use serde::Serialize;
use serde_json::{Value, json};

use crate::assets::{self, UiSource};
use crate::cbor;

/// Largest request body accepted, in bytes.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Longest a request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The response header that names an AWS request (`x-amzn-RequestId`; header names are
/// case-insensitive, HTTP/1.1 servers send them lower-case).
pub const REQUEST_ID_HEADER: &str = "x-amzn-requestid";

/// The response header that names the exception of a failed AWS request (`x-amzn-ErrorType`).
pub const ERROR_TYPE_HEADER: &str = "x-amzn-errortype";

/// A boxed future (the backend trait is used as `Arc<dyn Backend>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What answers ECS actions: the embedded cluster now, the upstream proxy later.
pub trait Backend: Send + Sync {
    /// Runs one action.
    fn call(&self, action: String, body: Vec<u8>) -> BoxFuture<'_, Result<Value, AwsError>>;
    /// The embedded cluster, for the test-control API (`None` for a proxy).
    fn cluster(&self) -> Option<&Cluster>;
    /// The feed `GET /_berth/events` streams (`None`: this backend publishes no changes). The
    /// embedded cluster publishes its commits; a proxy would publish what its polling finds
    /// into a [`ChangeFeed`] of its own.
    fn changes(&self) -> Option<ChangeFeed>;
    /// What `GET /_berth/info` says about the backend.
    fn info(&self) -> BackendInfo;
}

impl Backend for Cluster {
    fn call(&self, action: String, body: Vec<u8>) -> BoxFuture<'_, Result<Value, AwsError>> {
        Box::pin(async move { Cluster::call(self, &action, body).await })
    }
    fn cluster(&self) -> Option<&Cluster> {
        Some(self)
    }
    fn changes(&self) -> Option<ChangeFeed> {
        Some(Cluster::changes(self).clone())
    }
    fn info(&self) -> BackendInfo {
        let c = self.config();
        BackendInfo {
            backend: "local".into(),
            runtime: "sim".into(),
            region: c.region.clone(),
            account: c.account.clone(),
            clock: match c.clock {
                ClockMode::System => "system",
                ClockMode::Manual => "manual",
            }
            .into(),
            read_only: false,
            now: self.now().timestamp_millis() as f64 / 1000.0,
        }
    }
}

/// Facts about a backend, for `GET /_berth/info` (camelCase on the wire).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendInfo {
    /// `local` (the embedded cluster) or, later, `aws` / `url` (the upstream proxy).
    pub backend: String,
    /// Where tasks run: `sim` (the simulated runtime), later `docker`; `aws` upstream.
    pub runtime: String,
    /// Region of the ARNs.
    pub region: String,
    /// Account id of the ARNs.
    pub account: String,
    /// `system` or `manual` (time moves only through `POST /_berth/advance`).
    pub clock: String,
    /// Whether mutating actions are refused.
    pub read_only: bool,
    /// The backend's clock, in epoch seconds: a manual test clock can run hours ahead of the
    /// browser's, and the dashboard ages stopped tasks by it.
    pub now: f64,
}

/// The router's state.
#[derive(Clone)]
pub struct AppState {
    /// The backend.
    pub backend: Arc<dyn Backend>,
    /// Where the dashboard's files come from.
    pub ui: UiSource,
}

impl AppState {
    /// State over `backend`, serving the embedded dashboard.
    pub fn new(backend: Arc<dyn Backend>) -> AppState {
        AppState {
            backend,
            ui: UiSource::Embedded,
        }
    }

    /// The same state serving the dashboard from `dir` instead (`berth serve --ui-dir`).
    pub fn with_ui_dir(mut self, dir: impl Into<std::path::PathBuf>) -> AppState {
        self.ui = UiSource::Dir(dir.into());
        self
    }
}

/// The one error type of the server: written as the AWS JSON error; internals are logged.
#[derive(Debug)]
pub struct ApiError(pub AwsError);

impl From<AwsError> for ApiError {
    fn from(e: AwsError) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        if status.is_server_error() {
            tracing::error!(
                code = e.code.as_str(),
                message = e.message,
                "request failed"
            );
        } else {
            tracing::debug!(
                code = e.code.as_str(),
                message = e.message,
                "request rejected"
            );
        }
        let mut resp = (status, e.to_json().to_string()).into_response();
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if let Ok(v) = HeaderValue::from_str(e.code.as_str()) {
            h.insert(ERROR_TYPE_HEADER, v);
        }
        resp
    }
}

/// Gives an AWS operation's answer its `x-amzn-RequestId`: a fresh random (version 4) UUID per
/// request, as AWS sends. A response that already names one keeps it.
async fn with_request_id(mut resp: Response) -> Response {
    if !resp.headers().contains_key(REQUEST_ID_HEADER) {
        let id = uuid::Uuid::new_v4().hyphenated().to_string();
        if let Ok(v) = HeaderValue::from_str(&id) {
            resp.headers_mut().insert(REQUEST_ID_HEADER, v);
        }
    }
    resp
}

/// The HTTP application.
pub fn app(state: AppState) -> Router {
    // The AWS endpoint and its same-origin twin answer AWS operations: each answer, success or
    // error, gets a request id. The layer sits on the POST handlers only, so `GET /` (the
    // dashboard), the assets and the event stream pass untouched.
    let aws = || post(api).layer(map_response(with_request_id));
    Router::new()
        .route("/", aws().get(assets::index))
        .route("/ui", get(assets::index))
        .route("/ui/", get(assets::index))
        .route("/ui/{*rest}", get(assets::index))
        .route("/assets/{*path}", get(assets::asset))
        .route("/healthz", get(|| async { "ok" }))
        .route("/_berth/api", aws())
        .route(
            "/service/{service}/operation/{operation}",
            post(rpc_v2_cbor).layer(map_response(with_request_id)),
        )
        .route("/_berth/events", get(crate::events::events))
        .route("/_berth/info", get(info))
        .route("/_berth/reset", post(control_reset))
        .route("/_berth/advance", post(control_advance))
        .route("/_berth/fail-starts", post(control_fail_starts))
        .route("/_berth/crash", post(control_crash))
        .route("/_berth/health", post(control_health))
        .route("/_berth/metric", post(control_metric))
        .route("/_berth/alarm", post(control_alarm))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

async fn read_body(body: Body) -> Result<Vec<u8>, ApiError> {
    match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => Ok(b.to_vec()),
        Err(_) => Err(ApiError(AwsError::new(
            ErrorCode::RequestEntityTooLargeException,
            format!("Request body is larger than {BODY_LIMIT} bytes or could not be read."),
        ))),
    }
}

/// The request body, inflated when it is `Content-Encoding: gzip` (at most [`BODY_LIMIT`]
/// bytes either way).
async fn read_encoded_body(headers: &HeaderMap, body: Body) -> Result<Vec<u8>, ApiError> {
    let raw = read_body(body).await?;
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
    if !gzip {
        return Ok(raw);
    }
    use std::io::Read;
    let mut out = Vec::new();
    let read = flate2::read::GzDecoder::new(raw.as_slice())
        .take(BODY_LIMIT as u64 + 1)
        .read_to_end(&mut out);
    match read {
        Ok(n) if n <= BODY_LIMIT => Ok(out),
        Ok(_) => Err(ApiError(AwsError::new(
            ErrorCode::RequestEntityTooLargeException,
            format!("Request body is larger than {BODY_LIMIT} bytes once inflated."),
        ))),
        Err(e) => Err(ApiError(AwsError::new(
            ErrorCode::SerializationException,
            format!("The request body is not valid gzip: {e}"),
        ))),
    }
}

async fn api(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            AwsError::new(
                ErrorCode::UnknownOperationException,
                "Missing X-Amz-Target header.",
            )
        })?;
    if let Some((api, action)) = Api::from_target(target) {
        let action = action.to_string();
        return other_api(&state, api, action, &headers, body).await;
    }
    let action = action_from_target(target)?.to_string();
    let body = read_body(body).await?;
    let value = tokio::time::timeout(REQUEST_TIMEOUT, state.backend.call(action, body))
        .await
        .map_err(|_| AwsError::new(ErrorCode::ServerException, "The request timed out."))??;
    // Straight into bytes: `Value`'s `Display` goes through `fmt::Formatter` for every token,
    // which cost ~10 % of the server's CPU under the BENCHMARKS.md request mix.
    let bytes = serde_json::to_vec(&value)
        .map_err(|e| AwsError::new(ErrorCode::ServerException, e.to_string()))?;
    let mut resp = (StatusCode::OK, bytes).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(resp)
}

/// `GET /_berth/info`: the server's version and the backend's facts.
async fn info(State(state): State<AppState>) -> Response {
    let mut v = json!({"version": env!("CARGO_PKG_VERSION")});
    if let (Some(o), Ok(Value::Object(facts))) = (
        v.as_object_mut(),
        serde_json::to_value(state.backend.info()),
    ) {
        o.extend(facts);
    }
    axum::Json(v).into_response()
}

fn control(state: &AppState) -> Result<&Cluster, ApiError> {
    state.backend.cluster().ok_or_else(|| {
        ApiError(AwsError::new(
            ErrorCode::UnsupportedFeatureException,
            "The test-control API needs the embedded cluster.",
        ))
    })
}

async fn control_json(body: Body) -> Result<Value, ApiError> {
    let bytes = read_body(body).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError(AwsError::new(
            ErrorCode::SerializationException,
            e.to_string(),
        ))
    })
}

fn ok(cluster: &Cluster) -> Response {
    axum::Json(json!({"now": cluster.now().timestamp_millis() as f64 / 1000.0})).into_response()
}

async fn control_reset(State(state): State<AppState>) -> Result<Response, ApiError> {
    let c = control(&state)?;
    c.reset().await.map_err(|e| {
        tracing::error!(error = %e, "reset failed");
        ApiError(AwsError::new(ErrorCode::ServerException, "Reset failed."))
    })?;
    Ok(ok(c))
}

async fn control_advance(State(state): State<AppState>, body: Body) -> Result<Response, ApiError> {
    let c = control(&state)?;
    let v = control_json(body).await?;
    let secs = v
        .get("seconds")
        .and_then(Value::as_u64)
        .unwrap_or(0)
        .min(86_400) as u32;
    c.advance(secs).await;
    Ok(ok(c))
}

async fn control_fail_starts(
    State(state): State<AppState>,
    body: Body,
) -> Result<Response, ApiError> {
    let c = control(&state)?;
    let v = control_json(body).await?;
    c.fail_next_starts(v.get("count").and_then(Value::as_u64).unwrap_or(1) as u32)?;
    Ok(ok(c))
}

fn task_param(v: &Value) -> Result<String, ApiError> {
    v.get("task")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ApiError(AwsError::invalid_parameter("task is required.")))
}

async fn control_crash(State(state): State<AppState>, body: Body) -> Result<Response, ApiError> {
    let c = control(&state)?;
    let v = control_json(body).await?;
    let code = v.get("exitCode").and_then(Value::as_i64).unwrap_or(1) as i32;
    c.crash_task(&task_param(&v)?, code)?;
    Ok(ok(c))
}

async fn control_health(State(state): State<AppState>, body: Body) -> Result<Response, ApiError> {
    let c = control(&state)?;
    let v = control_json(body).await?;
    let healthy = v.get("healthy").and_then(Value::as_bool).unwrap_or(false);
    c.set_task_health(&task_param(&v)?, healthy)?;
    Ok(ok(c))
}

/// Starts the cluster and serves until the process is stopped; `ui_dir` serves the dashboard
/// from that folder instead of the embedded one.
///
/// # Errors
///
/// A message when the cluster cannot open its data directory or the port cannot be bound.
pub async fn serve(
    config: berth_cluster::Config,
    port: u16,
    ui_dir: Option<std::path::PathBuf>,
) -> Result<(), String> {
    let cluster = Cluster::open(config).await.map_err(|e| e.to_string())?;
    cluster.spawn_reconciler();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%local, "berth serve: ECS API ready");
    eprintln!("berth: listening on http://{local}");
    let mut state = AppState::new(Arc::new(cluster));
    if let Some(dir) = ui_dir {
        state = state.with_ui_dir(dir);
    }
    axum::serve(listener, app(state))
        .await
        .map_err(|e| e.to_string())
}

/// The response header that carries an awsQuery-compatible service's query error code
/// (`<code>;Sender`), from which SDKs take the error code.
pub const QUERY_ERROR_HEADER: &str = "x-amzn-query-error";

/// Runs one action of a non-ECS API on the embedded cluster.
async fn run_other(
    state: &AppState,
    api: Api,
    action: &str,
    body: Vec<u8>,
) -> Result<Result<Value, ApiFault>, ApiError> {
    let cluster = state.backend.cluster().ok_or_else(|| {
        AwsError::new(
            ErrorCode::UnknownOperationException,
            "Only the embedded cluster answers Application Auto Scaling, CloudWatch Logs and CloudWatch.",
        )
    })?;
    Ok(
        tokio::time::timeout(REQUEST_TIMEOUT, cluster.call_api(api, action, body))
            .await
            .map_err(|_| AwsError::new(ErrorCode::ServerException, "The request timed out."))?,
    )
}

/// Application Auto Scaling, CloudWatch Logs and CloudWatch (JSON 1.0): answered by the
/// embedded cluster, with their own error shapes.
async fn other_api(
    state: &AppState,
    api: Api,
    action: String,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read_encoded_body(headers, body).await?;
    let result = run_other(state, api, &action, body).await?;
    let (status, value, fault) = match result {
        Ok(v) => (StatusCode::OK, v, None),
        Err(f) => (
            StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_REQUEST),
            f.to_json(),
            Some(f),
        ),
    };
    let mut resp = (status, value.to_string()).into_response();
    let h = resp.headers_mut();
    let content_type = if api == Api::CloudWatch {
        "application/x-amz-json-1.0"
    } else {
        CONTENT_TYPE
    };
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(f) = fault {
        if let Ok(v) = HeaderValue::from_str(&f.code) {
            h.insert(ERROR_TYPE_HEADER, v);
        }
        if let Some(v) = f.query_error().and_then(|q| HeaderValue::from_str(&q).ok()) {
            h.insert(QUERY_ERROR_HEADER, v);
        }
    }
    Ok(resp)
}

/// A Smithy RPC v2 CBOR error: `{"__type": "<namespace>#<code>", "<message member>": text}`
/// with the protocol's headers (and no `X-Amzn-ErrorType`, which the protocol leaves out).
fn cbor_error(f: &ApiFault) -> Response {
    let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_REQUEST);
    if status.is_server_error() {
        tracing::error!(code = f.code, message = f.message, "request failed");
    }
    let mut body = serde_json::Map::new();
    body.insert(
        "__type".into(),
        json!(format!(
            "{}#{}",
            berth_cluster::apis::CLOUDWATCH_SHAPE_NAMESPACE,
            f.code
        )),
    );
    body.insert(f.message_member.into(), json!(f.message));
    let mut resp = (status, cbor::encode(&Value::Object(body), &|_| false)).into_response();
    let h = resp.headers_mut();
    h.insert("smithy-protocol", HeaderValue::from_static(cbor::PROTOCOL));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(cbor::CONTENT_TYPE),
    );
    if let Some(v) = f.query_error().and_then(|q| HeaderValue::from_str(&q).ok()) {
        h.insert(QUERY_ERROR_HEADER, v);
    }
    resp
}

/// `POST /service/{service}/operation/{operation}`: CloudWatch over Smithy RPC v2 CBOR,
/// transcoded to and from the JSON documents the cluster answers (see [`crate::cbor`]).
async fn rpc_v2_cbor(
    State(state): State<AppState>,
    axum::extract::Path((service, operation)): axum::extract::Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let fault = |code: &str, status: u16, message: String| ApiFault {
        code: code.into(),
        message,
        status,
        message_member: "message",
        query_code: None,
    };
    // The protocol forbids X-Amz-Target on its requests, and claims only those that name it.
    if headers.contains_key("x-amz-target") || headers.contains_key("x-amzn-target") {
        return cbor_error(&fault(
            "SerializationException",
            400,
            "Smithy RPC v2 CBOR requests must not carry X-Amz-Target.".into(),
        ));
    }
    let protocol = headers.get("smithy-protocol").and_then(|v| v.to_str().ok());
    if protocol != Some(cbor::PROTOCOL) {
        return cbor_error(&fault(
            "SerializationException",
            400,
            format!(
                "Smithy RPC v2 CBOR requests carry the header Smithy-Protocol: {}.",
                cbor::PROTOCOL
            ),
        ));
    }
    let name = berth_cluster::apis::CLOUDWATCH_PREFIX.trim_end_matches('.');
    let qualified = format!("{}.{name}", berth_cluster::apis::CLOUDWATCH_SHAPE_NAMESPACE);
    if service != name && service != qualified {
        return cbor_error(&fault(
            "UnknownOperationException",
            404,
            format!("Unknown service {service}: this endpoint serves {name} (CloudWatch)."),
        ));
    }
    let body = match read_encoded_body(&headers, body).await {
        Ok(b) => b,
        Err(ApiError(e)) => return cbor_error(&ApiFault::from(e)),
    };
    let json = match cbor::decode_request(&body) {
        Ok(v) => v,
        Err(e) => return cbor_error(&fault("SerializationException", 400, e.to_string())),
    };
    let result = match run_other(
        &state,
        Api::CloudWatch,
        &operation,
        json.to_string().into_bytes(),
    )
    .await
    {
        Ok(r) => r,
        Err(ApiError(e)) => Err(ApiFault::from(e)),
    };
    match result {
        Ok(v) => {
            let mut resp = if Api::CloudWatch.has_output(&operation) {
                let bytes = cbor::encode(&v, &|p| Api::CloudWatch.is_timestamp(&operation, p));
                let mut r = (StatusCode::OK, bytes).into_response();
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(cbor::CONTENT_TYPE),
                );
                r
            } else {
                StatusCode::OK.into_response()
            };
            resp.headers_mut()
                .insert("smithy-protocol", HeaderValue::from_static(cbor::PROTOCOL));
            resp
        }
        Err(f) => cbor_error(&f),
    }
}

/// `/_berth/metric {"resourceId", "metric", "value"}`: one datapoint for a scalable target's
/// policies (`metric` defaults to `ECSServiceAverageCPUUtilization`); for the ECS CPU and memory
/// metrics it also pins the service's `AWS/ECS` series for the current minute.
async fn control_metric(State(state): State<AppState>, body: Body) -> Result<Response, ApiError> {
    let c = control(&state)?;
    let v = control_json(body).await?;
    let rid = v
        .get("resourceId")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError(AwsError::invalid_parameter("resourceId is required.")))?;
    let metric = v
        .get("metric")
        .and_then(Value::as_str)
        .unwrap_or("ECSServiceAverageCPUUtilization");
    let value = v
        .get("value")
        .and_then(Value::as_f64)
        .ok_or_else(|| ApiError(AwsError::invalid_parameter("value must be a number.")))?;
    let mut out = c.put_metric(rid, metric, value)?;
    out["now"] = json!(c.now().timestamp_millis() as f64 / 1000.0);
    Ok(axum::Json(out).into_response())
}

/// `/_berth/alarm {"resourceId", "policyName", "alarm": {MetricName, Threshold,
/// ComparisonOperator, EvaluationPeriods}}`: the CloudWatch alarm that invokes a step policy.
async fn control_alarm(State(state): State<AppState>, body: Body) -> Result<Response, ApiError> {
    let c = control(&state)?;
    let v = control_json(body).await?;
    let field = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError(AwsError::invalid_parameter(format!("{k} is required."))))
    };
    let alarm = serde_json::from_value(v.get("alarm").cloned().unwrap_or_default())
        .map_err(|e| ApiError(AwsError::invalid_parameter(format!("alarm: {e}"))))?;
    c.attach_step_alarm(field("resourceId")?, field("policyName")?, alarm)?;
    Ok(ok(c))
}
