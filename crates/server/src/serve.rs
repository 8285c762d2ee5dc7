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
use crate::audit::{Audit, AuditConfig, CallRecord, Identity, Mode};
use crate::catalog::{self, Operation, Service};
use crate::cbor;
use crate::credentials::{KeyRing, Role};
use crate::guard::{BindPolicy, Guard, HostPolicy};
use crate::session::{AuthMode, Caller, Refusal, Sessions, role_name};
use crate::sigv4::{Principal, Verifier};
use crate::upstream::{Policy, Target, Upstream, UpstreamConfig};

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
    /// Runs one action and answers the JSON bytes to send (by default [`Backend::call`]'s
    /// answer, serialised; the embedded cluster writes its most-read answers straight to bytes).
    fn call_json(&self, action: String, body: Vec<u8>) -> BoxFuture<'_, Result<Vec<u8>, AwsError>> {
        Box::pin(async move {
            let value = self.call(action, body).await?;
            // Straight into bytes: `Value`'s `Display` goes through `fmt::Formatter` for every
            // token, which cost ~10 % of the server's CPU under the BENCHMARKS.md request mix.
            serde_json::to_vec(&value)
                .map_err(|e| AwsError::new(ErrorCode::ServerException, e.to_string()))
        })
    }
    /// The embedded cluster, for the test-control API (`None` for a proxy).
    fn cluster(&self) -> Option<&Cluster>;
    /// The feed `GET /_berth/events` streams (`None`: this backend publishes no changes). The
    /// embedded cluster publishes its commits; a proxy would publish what its polling finds
    /// into a [`ChangeFeed`] of its own.
    fn changes(&self) -> Option<ChangeFeed>;
    /// What `GET /_berth/info` says about the backend.
    fn info(&self) -> BackendInfo;
    /// How polling the upstream goes (`None`: the backend is not polled).
    fn poll_status(&self) -> Option<tokio::sync::watch::Receiver<crate::poll::PollStatus>> {
        None
    }
}

impl Backend for Cluster {
    fn call(&self, action: String, body: Vec<u8>) -> BoxFuture<'_, Result<Value, AwsError>> {
        Box::pin(async move { Cluster::call(self, &action, body).await })
    }
    fn call_json(&self, action: String, body: Vec<u8>) -> BoxFuture<'_, Result<Vec<u8>, AwsError>> {
        Box::pin(async move { Cluster::call_json(self, &action, body).await })
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
            runtime: self.runtime_name().into(),
            region: c.region.clone(),
            account: c.account.clone(),
            clock: match c.clock {
                ClockMode::System => "system",
                ClockMode::Manual => "manual",
            }
            .into(),
            read_only: false,
            now: self.now().timestamp_millis() as f64 / 1000.0,
            upstream: None,
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
    /// Upstream mode: where calls go and how the change stream learns of changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<UpstreamInfo>,
}

/// Upstream mode's facts for `GET /_berth/info`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpstreamInfo {
    /// The endpoint (`https://ecs.<region>.amazonaws.com` or the `--upstream-url`).
    pub url: String,
    /// The region calls are signed for.
    pub region: String,
    /// Always true: the change stream comes from polling.
    pub polled: bool,
    /// Seconds between polls (more after errors).
    pub interval_seconds: f64,
}

/// The router's state.
#[derive(Clone)]
pub struct AppState {
    /// The backend.
    pub backend: Arc<dyn Backend>,
    /// Where the dashboard's files come from.
    pub ui: UiSource,
    /// Who may call, and what is recorded.
    pub security: Arc<Security>,
}

/// Whether the AWS API checks SigV4 signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SigV4Mode {
    /// Signatures are accepted unchecked (loopback only).
    Off,
    /// Every call must be signed with a key of the credentials file.
    Verify,
}

/// Everything between the socket and the backend: the `Host` guard, SigV4, dashboard sessions,
/// the operation policy and the audit trail.
pub struct Security {
    /// The `Host` allow-list.
    pub guard: Arc<Guard>,
    /// Dashboard sessions.
    pub sessions: Sessions,
    /// SigV4 verification of `POST /` (`None`: off).
    pub verifier: Option<Verifier>,
    /// Which operations pass (allow-list, `--allow`/`--deny`, `--read-only`).
    pub policy: Policy,
    /// The audit trail.
    pub audit: Audit,
    /// The upstream proxy, in upstream mode.
    pub upstream: Option<Arc<Upstream>>,
    /// Account id of the principals' ARNs.
    pub account: String,
    warned_real_key: std::sync::atomic::AtomicBool,
}

impl Security {
    /// Loopback defaults: no SigV4, no login, every known operation, an in-memory audit trail.
    pub fn open(account: &str, region: &str) -> Security {
        Security {
            guard: Arc::new(Guard::default()),
            sessions: Sessions::new(AuthMode::None, false, 0, None),
            verifier: None,
            policy: Policy::default(),
            audit: Audit::open(AuditConfig::new(None, region, account)),
            upstream: None,
            account: account.to_string(),
            warned_real_key: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl AppState {
    /// State over `backend`, serving the embedded dashboard, with loopback security defaults.
    pub fn new(backend: Arc<dyn Backend>) -> AppState {
        let info = backend.info();
        AppState {
            backend,
            ui: UiSource::Embedded,
            security: Arc::new(Security::open(&info.account, &info.region)),
        }
    }

    /// The same state with this security setup.
    pub fn with_security(mut self, security: Security) -> AppState {
        self.security = Arc::new(security);
        self
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
        resp.extensions_mut()
            .insert(error_info(e.code.as_str(), &e.message));
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
    let guard = state.security.guard.clone();
    Router::new()
        .route("/", post(aws_api).get(assets::index))
        .route("/ui", get(assets::index))
        .route("/ui/", get(assets::index))
        .route("/ui/{*rest}", get(assets::index))
        .route("/assets/{*path}", get(assets::asset))
        .route("/healthz", get(|| async { "ok" }))
        .route("/_berth/api", post(dashboard_api))
        .route(
            "/service/{service}/operation/{operation}",
            post(rpc_v2_cbor).layer(map_response(with_request_id)),
        )
        .route("/_berth/session", get(session_info))
        .route("/_berth/login", post(login))
        .route("/_berth/logout", post(logout))
        .route("/_berth/events", get(crate::events::events))
        .route("/_berth/info", get(info))
        .route("/_berth/reset", post(control_reset))
        .route("/_berth/advance", post(control_advance))
        .route("/_berth/fail-starts", post(control_fail_starts))
        .route("/_berth/crash", post(control_crash))
        .route("/_berth/health", post(control_health))
        .route("/_berth/metric", post(control_metric))
        .route("/_berth/alarm", post(control_alarm))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            dashboard_gate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            guard,
            crate::guard::layer,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Which door an AWS call came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Door {
    /// `POST /`: AWS clients, SigV4 when verification is on.
    Aws,
    /// `POST /_berth/api`: the dashboard, with its session.
    Dashboard,
}

/// Who made a call, as far as the server could tell.
#[derive(Debug, Clone)]
enum Who {
    /// A verified SigV4 key.
    Key(Principal),
    /// A dashboard session (or, without login, the local user).
    Dashboard(Caller),
    /// An unverified AWS client; the access key id its `Authorization` header claims.
    Unverified(Option<String>),
}

impl Who {
    fn role(&self) -> Role {
        match self {
            Who::Key(p) => p.role,
            Who::Dashboard(c) => c.role,
            Who::Unverified(_) => Role::Operator,
        }
    }

    fn arn(&self, account: &str) -> String {
        match self {
            Who::Key(p) => format!("arn:aws:iam::{account}:user/{}", p.profile),
            Who::Dashboard(c) => format!("arn:aws:iam::{account}:user/{}", c.user),
            Who::Unverified(_) => format!("arn:aws:iam::{account}:user/local"),
        }
    }

    fn identity(&self) -> Identity {
        match self {
            Who::Key(p) => Identity::SigV4Key {
                access_key_id: p.access_key_id.clone(),
                profile: p.profile.clone(),
                role: role_name(p.role).to_string(),
            },
            Who::Dashboard(c) => Identity::Session {
                session_id_prefix: c.session.clone().unwrap_or_else(|| "local".into()),
                profile: Some(c.user.clone()),
                role: role_name(c.role).to_string(),
            },
            Who::Unverified(akid) => Identity::Anonymous {
                claimed_access_key_id: akid.clone(),
            },
        }
    }
}

/// An AWS error as a response (status from its code).
fn aws_error(e: AwsError) -> Response {
    ApiError(e).into_response()
}

/// Who is calling through `door`, or the refusal.
fn identify(
    state: &AppState,
    door: Door,
    parts: &axum::http::request::Parts,
    body: &[u8],
    refuse: fn(AwsError) -> Response,
) -> Result<Who, Box<Response>> {
    let sec = &state.security;
    match door {
        Door::Dashboard => sec
            .sessions
            .authorize(&parts.headers, true)
            .map(Who::Dashboard)
            .map_err(|r| Box::new(refusal(r))),
        Door::Aws => {
            let Some(verifier) = &sec.verifier else {
                let claimed = crate::sigv4::claimed_access_key_id(&parts.headers);
                if let Some(k) = claimed
                    .as_deref()
                    .filter(|k| crate::credentials::is_real_aws_key(k))
                {
                    if !sec
                        .warned_real_key
                        .swap(true, std::sync::atomic::Ordering::Relaxed)
                    {
                        tracing::warn!(
                            access_key_id = k,
                            "a real AWS access key id signed a call to the local endpoint: \
                             check that this client is not pointed here by mistake"
                        );
                    }
                }
                return Ok(Who::Unverified(claimed));
            };
            let query = parts.uri.query().unwrap_or("");
            verifier
                .verify(
                    parts.method.as_str(),
                    parts.uri.path(),
                    query,
                    &parts.headers,
                    body,
                    std::time::SystemTime::now(),
                )
                .map(Who::Key)
                .map_err(|e| Box::new(refuse(e)))
        }
    }
}

/// A refused dashboard call: 401 or 403, in AWS JSON form.
fn refusal(r: Refusal) -> Response {
    let status = StatusCode::from_u16(r.status()).unwrap_or(StatusCode::FORBIDDEN);
    let body = json!({"__type": "AccessDeniedException", "message": r.message()}).to_string();
    let mut resp = (status, body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    resp.headers_mut().insert(
        ERROR_TYPE_HEADER,
        HeaderValue::from_static("AccessDeniedException"),
    );
    resp.extensions_mut()
        .insert(error_info("AccessDeniedException", r.message()));
    resp
}

/// Whether `op` may run for `who`: the policy (allow-list, `--allow`/`--deny`,
/// `--read-only`), then the caller's role.
fn authorize(state: &AppState, op: &Operation, who: &Who) -> Result<(), AwsError> {
    let sec = &state.security;
    let arn = who.arn(&sec.account);
    sec.policy.check(op, &arn)?;
    if !op.read_only && who.role() == Role::Viewer {
        return Err(AwsError::new(
            ErrorCode::AccessDeniedException,
            format!(
                "User: {arn} is not authorized to perform: {}:{} on resource: * because its role is viewer, which may only read",
                op.service.iam_prefix(),
                op.name
            ),
        ));
    }
    Ok(())
}

/// `POST /`: the AWS endpoint.
async fn aws_api(State(state): State<AppState>, req: axum::extract::Request) -> Response {
    aws_call(state, Door::Aws, req).await
}

/// `POST /_berth/api`: the dashboard's door to the same operations.
async fn dashboard_api(State(state): State<AppState>, req: axum::extract::Request) -> Response {
    aws_call(state, Door::Dashboard, req).await
}

/// One AWS call through either JSON door (see [`gated`]).
async fn aws_call(state: AppState, door: Door, req: axum::extract::Request) -> Response {
    let (parts, body) = req.into_parts();
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let op = catalog::from_target(&target);
    let body = match read_encoded_body(&parts.headers, body).await {
        Ok(b) => b,
        Err(e) => {
            return with_id(
                e.into_response(),
                &uuid::Uuid::new_v4().hyphenated().to_string(),
            );
        }
    };
    let gate = Gate {
        door,
        parts: &parts,
        name: target.rsplit('.').next().unwrap_or("").to_string(),
        op,
        refuse: aws_error,
        audit_body: None,
    };
    let st = state.clone();
    let headers = parts.headers.clone();
    gated(&state, gate, body, move |body| async move {
        dispatch(&st, op, &target, &headers, body).await
    })
    .await
}

/// What [`gated`] needs to know about a call.
struct Gate<'a> {
    door: Door,
    parts: &'a axum::http::request::Parts,
    /// The operation's name as the client sent it (for unknown operations).
    name: String,
    op: Option<&'static Operation>,
    /// How a refusal is written in this protocol.
    refuse: fn(AwsError) -> Response,
    /// The request as JSON for the audit trail, when the wire body is not JSON (CBOR).
    audit_body: Option<Vec<u8>>,
}

/// Gives an answer its request id, unless it has one (an upstream's answer keeps the
/// upstream's).
fn with_id(mut resp: Response, request_id: &str) -> Response {
    if resp.headers().contains_key(REQUEST_ID_HEADER) {
        return resp;
    }
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert(REQUEST_ID_HEADER, v);
    }
    resp
}

/// The checks around every AWS call, whatever its door and protocol: identify the caller
/// (SigV4 or the dashboard session), check the operation (policy and role), refuse mutating
/// calls while the audit trail cannot be written, `run` it, record it when it changed
/// something, was refused or failed (durably, before the answer leaves), and give the answer
/// its request id.
async fn gated<F, Fut>(state: &AppState, gate: Gate<'_>, body: Vec<u8>, run: F) -> Response
where
    F: FnOnce(Vec<u8>) -> Fut,
    Fut: Future<Output = Response>,
{
    let started = std::time::Instant::now();
    let request_id = uuid::Uuid::new_v4().hyphenated().to_string();
    let Gate {
        door,
        parts,
        name,
        op,
        refuse,
        audit_body,
    } = gate;
    let mut who = None;
    let outcome = match identify(state, door, parts, &body, refuse) {
        Err(resp) => Err(*resp),
        Ok(w) => {
            let checked = match op {
                Some(op) => authorize(state, op, &w).map_err(refuse),
                // An operation the catalogue does not know cannot be shown to only read: a
                // caller who may only read does not get to try it (fail closed).
                None if w.role() == Role::Viewer || state.security.policy.read_only() => {
                    Err(refuse(AwsError::new(
                        ErrorCode::AccessDeniedException,
                        format!(
                            "User: {} is not authorized to perform: {name} on resource: * because it is not a known read-only operation",
                            w.arn(&state.security.account)
                        ),
                    )))
                }
                None => Ok(()),
            };
            who = Some(w);
            checked
        }
    };
    let mutating = op.is_none_or(|o| !o.read_only);
    let resp = match outcome {
        Err(resp) => resp,
        Ok(()) => match state.security.audit.healthy() {
            Err(e) if mutating => refuse(AwsError::new(
                ErrorCode::ServerException,
                format!("The audit trail cannot be written, so nothing is changed: {e}"),
            )),
            _ => run(body.clone()).await,
        },
    };
    if resp.status().is_success() && !mutating {
        return with_id(resp, &request_id);
    }
    let (resp, elements) = response_elements(resp).await;
    let (code, message) = error_of(&resp);
    let request_id = resp
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .map_or(request_id, str::to_string);
    let rec = CallRecord {
        time: std::time::SystemTime::now(),
        event_source: op.map_or("unknown", |o| o.service.event_source()),
        event_name: op.map_or(name.as_str(), |o| o.name),
        read_only: op.is_some_and(|o| o.read_only),
        identity: who.as_ref().map_or_else(
            || Identity::Anonymous {
                claimed_access_key_id: crate::sigv4::claimed_access_key_id(&parts.headers),
            },
            Who::identity,
        ),
        source_ip: parts
            .extensions
            .get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map_or_else(|| "127.0.0.1".into(), |c| c.0.ip().to_string()),
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
        request_id: &request_id,
        request_body: audit_body.as_deref().unwrap_or(&body),
        error_code: code.as_deref(),
        error_message: message.as_deref(),
        response_elements: elements.as_deref(),
        mode: if state.security.upstream.is_some() {
            Mode::Upstream
        } else {
            Mode::Local
        },
        duration_ms: started.elapsed().as_millis() as u64,
    };
    let resp = match state.security.audit.record(rec).await {
        Ok(()) => resp,
        Err(e) => {
            tracing::error!(error = %e, "the audit trail could not be written");
            refuse(AwsError::new(
                ErrorCode::ServerException,
                format!("The call ran, but the audit trail could not record it: {e}"),
            ))
        }
    };
    with_id(resp, &request_id)
}

/// A successful JSON answer's body, for the audit trail's `responseElements` (the body is
/// read and put back; answers are whole in memory already).
async fn response_elements(resp: Response) -> (Response, Option<axum::body::Bytes>) {
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/x-amz-json"));
    if !resp.status().is_success() || !json {
        return (resp, None);
    }
    let (parts, body) = resp.into_parts();
    match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => (
            Response::from_parts(parts, Body::from(bytes.clone())),
            Some(bytes),
        ),
        Err(e) => {
            tracing::error!(error = %e, "an answer could not be read back for the audit trail");
            (
                aws_error(AwsError::new(
                    ErrorCode::ServerException,
                    "The answer could not be read.",
                )),
                None,
            )
        }
    }
}

/// The error code and message of an error response, for the audit trail: from the
/// [`ErrorInfo`] its writer left, else `x-amzn-ErrorType`, else the status.
fn error_of(resp: &Response) -> (Option<String>, Option<String>) {
    if resp.status().is_success() {
        return (None, None);
    }
    if let Some(i) = resp.extensions().get::<ErrorInfo>() {
        return (Some(i.code.clone()), Some(i.message.clone()));
    }
    let code = resp
        .headers()
        .get(ERROR_TYPE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(':').next().unwrap_or(v).to_string())
        .unwrap_or_else(|| resp.status().as_u16().to_string());
    (Some(code), None)
}

/// The code and message of an error answer, kept beside the response for the audit trail.
#[derive(Debug, Clone)]
struct ErrorInfo {
    code: String,
    message: String,
}

fn error_info(code: &str, message: &str) -> ErrorInfo {
    ErrorInfo {
        code: code.to_string(),
        message: message.to_string(),
    }
}

/// Runs an admitted call.
async fn dispatch(
    state: &AppState,
    op: Option<&'static Operation>,
    target: &str,
    headers: &HeaderMap,
    body: Vec<u8>,
) -> Response {
    if target.is_empty() {
        return aws_error(AwsError::new(
            ErrorCode::UnknownOperationException,
            "Missing X-Amz-Target header.",
        ));
    }
    if let Some(op) = op.filter(|o| o.service == Service::CloudTrail) {
        if op.name != "LookupEvents" {
            return aws_error(AwsError::new(
                ErrorCode::UnknownOperationException,
                format!(
                    "Berth's audit trail answers CloudTrail's LookupEvents only, not {}.",
                    op.name
                ),
            ));
        }
        return match state.security.audit.lookup_events(&body).await {
            Ok(v) => json_answer(StatusCode::OK, &v, CONTENT_TYPE),
            Err(f) => fault_answer(&f, CONTENT_TYPE),
        };
    }
    if let Some(up) = &state.security.upstream {
        let Some(op) = op else {
            return aws_error(AwsError::new(
                ErrorCode::UnknownOperationException,
                format!(
                    "Unknown operation {target}: the proxy forwards only the operations of the API models it was built from."
                ),
            ));
        };
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(CONTENT_TYPE);
        return match up.forward(op, target, content_type, body.into()).await {
            Ok(f) => {
                let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_GATEWAY);
                let info = (!status.is_success()).then(|| {
                    let e = crate::upstream::upstream_error(f.status, &f.headers, &f.body);
                    error_info(e.code.as_str(), &e.message)
                });
                let mut resp = (status, f.body).into_response();
                for (k, v) in f.headers {
                    resp.headers_mut().insert(k, v);
                }
                if let Some(i) = info {
                    resp.extensions_mut().insert(i);
                }
                resp
            }
            Err(e) => aws_error(e),
        };
    }
    match local(state, target, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn json_answer(status: StatusCode, v: &Value, content_type: &'static str) -> Response {
    let mut resp = (status, v.to_string()).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

fn fault_answer(f: &ApiFault, content_type: &'static str) -> Response {
    let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut resp = json_answer(status, &f.to_json(), content_type);
    if let Ok(v) = HeaderValue::from_str(&f.code) {
        resp.headers_mut().insert(ERROR_TYPE_HEADER, v);
    }
    resp.extensions_mut()
        .insert(error_info(&f.code, &f.message));
    resp
}

/// The embedded cluster's answer.
async fn local(state: &AppState, target: &str, body: Vec<u8>) -> Result<Response, ApiError> {
    if let Some((api, action)) = Api::from_target(target) {
        let action = action.to_string();
        return other_api(state, api, action, body).await;
    }
    let action = action_from_target(target)?.to_string();
    let bytes = tokio::time::timeout(REQUEST_TIMEOUT, state.backend.call_json(action, body))
        .await
        .map_err(|_| AwsError::new(ErrorCode::ServerException, "The request timed out."))??;
    let mut resp = (StatusCode::OK, bytes).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(resp)
}

/// The dashboard's own routes (`/_berth/*` but login, logout and session, which answer
/// everyone): a session when login is on, and the CSRF value on every `POST`. The AWS door of
/// the dashboard (`/_berth/api`) checks its session in [`aws_call`], so the audit trail sees
/// refusals there.
async fn dashboard_gate(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = req.uri().path();
    let open = matches!(
        path,
        "/_berth/login" | "/_berth/logout" | "/_berth/session" | "/_berth/api"
    ) || !path.starts_with("/_berth/");
    if open {
        return next.run(req).await;
    }
    let post = req.method() == axum::http::Method::POST;
    match state.security.sessions.authorize(req.headers(), post) {
        Err(r) => refusal(r),
        Ok(c) if post && c.role == Role::Viewer => refusal_viewer(),
        Ok(_) => next.run(req).await,
    }
}

fn refusal_viewer() -> Response {
    let mut resp = aws_error(AwsError::new(
        ErrorCode::AccessDeniedException,
        "The test-control API changes the cluster, and your role is viewer.",
    ));
    *resp.status_mut() = StatusCode::FORBIDDEN;
    resp
}

/// `GET /_berth/session`: the login mode and, when signed in, the role and CSRF value.
async fn session_info(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let mut resp = axum::Json(state.security.sessions.info(&headers)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `POST /_berth/login {"token"} | {"accessKeyId","secretAccessKey"}`.
async fn login(State(state): State<AppState>, body: Body) -> Response {
    let v = match control_json(body).await {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let mut resp = match state.security.sessions.login(&v) {
        Ok((cookie, info)) => {
            let mut r = axum::Json(info).into_response();
            r.headers_mut().insert(header::SET_COOKIE, cookie);
            r
        }
        Err(message) => {
            tracing::warn!(%message, "a dashboard sign-in was refused");
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(json!({"message": message})),
            )
                .into_response()
        }
    };
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// `POST /_berth/logout`.
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let cookie = state.security.sessions.logout(&headers);
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(header::SET_COOKIE, cookie);
    resp
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

/// `GET /_berth/info`: the server's version and the backend's facts.
async fn info(State(state): State<AppState>) -> Response {
    let mut v = json!({"version": env!("CARGO_PKG_VERSION")});
    let read_only = state.security.policy.read_only();
    if let (Some(o), Ok(Value::Object(facts))) = (
        v.as_object_mut(),
        serde_json::to_value(state.backend.info()),
    ) {
        o.extend(facts);
        if read_only {
            o.insert("readOnly".into(), Value::Bool(true));
        }
        o.insert("auth".into(), json!(state.security.sessions.mode()));
        o.insert(
            "sigv4".into(),
            json!(if state.security.verifier.is_some() {
                "verify"
            } else {
                "off"
            }),
        );
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

/// Where upstream mode forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamTarget {
    /// Real AWS, by region.
    Aws,
    /// Any ECS-compatible endpoint.
    Url(String),
}

/// What `berth serve` was asked for.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The embedded cluster (its data directory also holds the audit trail and, by default,
    /// the credentials file).
    pub cluster: berth_cluster::Config,
    /// Address and port to listen on.
    pub bind: SocketAddr,
    /// Serve the dashboard from this folder.
    pub ui_dir: Option<std::path::PathBuf>,
    /// Extra `Host` names answered.
    pub allowed_hosts: Vec<String>,
    /// SigV4 verification of `POST /`.
    pub sigv4: SigV4Mode,
    /// The keys file (default `<data-dir>/credentials`, else `~/.config/berth/credentials`).
    pub credentials_file: Option<std::path::PathBuf>,
    /// Dashboard login.
    pub auth: AuthMode,
    /// Upstream mode, instead of the embedded cluster.
    pub upstream: Option<UpstreamTarget>,
    /// Upstream: the AWS profile.
    pub profile: Option<String>,
    /// Upstream: the region (default: the profile's or `AWS_REGION`).
    pub region: Option<String>,
    /// Upstream: never ask the instance metadata service.
    pub no_imds: bool,
    /// Only reads pass.
    pub read_only: bool,
    /// `--allow` patterns.
    pub allow: Vec<String>,
    /// `--deny` patterns.
    pub deny: Vec<String>,
    /// How long audit records are kept.
    pub audit_retention: Duration,
    /// Upstream: how often the change stream polls.
    pub poll_interval: Duration,
    /// Where the embedded cluster's tasks run.
    pub runtime: crate::runtime::RuntimeChoice,
    /// Docker runtime: how long a stopped task's containers stay.
    pub task_cleanup_wait: Duration,
}

/// The credentials file's path.
fn credentials_path(o: &ServeOptions) -> Result<std::path::PathBuf, String> {
    if let Some(p) = &o.credentials_file {
        return Ok(p.clone());
    }
    if let Some(d) = &o.cluster.data_dir {
        return Ok(d.join("credentials"));
    }
    let home = std::env::var_os("XDG_CONFIG_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".config")))
        .ok_or(
            "cannot find a place for the credentials file: give --credentials-file or --data-dir",
        )?;
    Ok(home.join("berth").join("credentials"))
}

/// Starts the cluster (or the upstream proxy) and serves until the process is stopped.
///
/// # Errors
///
/// A message when the options are unsafe or inconsistent, the cluster cannot open its data
/// directory, the credentials cannot be read, or the port cannot be bound.
pub async fn serve(o: ServeOptions) -> Result<(), String> {
    BindPolicy {
        sigv4: o.sigv4 == SigV4Mode::Verify,
        login: o.auth == AuthMode::Token,
    }
    .check(o.bind)?;
    let keys = if o.sigv4 == SigV4Mode::Verify || o.auth == AuthMode::Token {
        let path = credentials_path(&o)?;
        let (keys, created) = KeyRing::load_or_create(&path)?;
        if created {
            eprintln!(
                "berth: created {} with a new operator key (its profile is [operator]); point AWS clients at it with AWS_SHARED_CREDENTIALS_FILE={} AWS_PROFILE=operator",
                path.display(),
                path.display()
            );
        }
        Some(keys)
    } else {
        None
    };
    let listener = tokio::net::TcpListener::bind(o.bind)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", o.bind))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;

    let region = o.region.clone().unwrap_or_else(|| o.cluster.region.clone());
    let policy = Policy::new(&o.allow, &o.deny, o.read_only)?;
    let (backend, upstream): (Arc<dyn Backend>, Option<Arc<Upstream>>) = match &o.upstream {
        None => {
            let cluster =
                crate::runtime::open_cluster(o.runtime, o.task_cleanup_wait, &o.cluster).await?;
            cluster.spawn_reconciler();
            (Arc::new(cluster), None)
        }
        Some(target) => {
            let cfg = UpstreamConfig {
                target: match target {
                    UpstreamTarget::Aws => Target::Aws,
                    UpstreamTarget::Url(u) => Target::Url(u.clone()),
                },
                region: o.region.clone(),
                profile: o.profile.clone(),
                no_imds: o.no_imds,
                credentials: None,
            };
            let up = Arc::new(Upstream::new(cfg).await?);
            let proxy = crate::proxy::ProxyBackend::spawn(up.clone(), o.poll_interval, o.read_only);
            (Arc::new(proxy), Some(up))
        }
    };
    // Berth's own principals (keys, sessions) live in the account of `--account`, in both
    // modes: an upstream's account is not known to the proxy.
    let account = o.cluster.account.clone();
    let mut security = Security::open(&account, &region);
    security.guard = Arc::new(Guard {
        hosts: HostPolicy::new(&o.allowed_hosts, Some(o.bind.ip())),
    });
    security.sessions = Sessions::new(o.auth, o.read_only, local.port(), keys.clone());
    if o.sigv4 == SigV4Mode::Verify {
        security.verifier = keys.map(Verifier::new);
    }
    security.policy = policy;
    security.upstream = upstream;
    let mut audit = AuditConfig::new(o.cluster.data_dir.clone(), region.clone(), account);
    audit.retention = o.audit_retention;
    security.audit = Audit::open(audit);
    if let Err(e) = security.audit.healthy() {
        tracing::error!(error = %e, "the audit trail cannot be written: every call that changes something will be refused until it can");
    }
    let mut state = AppState::new(backend).with_security(security);
    if let Some(dir) = o.ui_dir {
        state = state.with_ui_dir(dir);
    }
    tracing::info!(%local, "berth serve: ready");
    eprintln!("berth: listening on http://{local}");
    if let Some(token) = state.security.sessions.login_token() {
        eprintln!("berth: login at http://{local}/#token={token}");
    }
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
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
            "Only the embedded cluster answers Application Auto Scaling, CloudWatch Logs, CloudWatch, Secrets Manager and SSM.",
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
    body: Vec<u8>,
) -> Result<Response, ApiError> {
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
        resp.extensions_mut()
            .insert(error_info(&f.code, &f.message));
        let h = resp.headers_mut();
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
    resp.extensions_mut()
        .insert(error_info(&f.code, &f.message));
    resp
}

/// `POST /service/{service}/operation/{operation}`: CloudWatch over Smithy RPC v2 CBOR,
/// transcoded to and from the JSON documents the cluster answers (see [`crate::cbor`]).
async fn rpc_v2_cbor(
    State(state): State<AppState>,
    axum::extract::Path((service, operation)): axum::extract::Path<(String, String)>,
    req: axum::extract::Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let headers = &parts.headers;
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
    let body = match read_encoded_body(headers, body).await {
        Ok(b) => b,
        Err(ApiError(e)) => return cbor_error(&ApiFault::from(e)),
    };
    let op = catalog::find(Service::CloudWatch, &operation);
    let gate = Gate {
        door: Door::Aws,
        parts: &parts,
        name: operation.clone(),
        op,
        refuse: |e| cbor_error(&ApiFault::from(e)),
        audit_body: cbor::decode_request(&body)
            .ok()
            .map(|v| v.to_string().into_bytes()),
    };
    let st = state.clone();
    gated(&state, gate, body, move |body| async move {
        cbor_call(&st, op, &operation, &body).await
    })
    .await
}

/// Runs one admitted CloudWatch call of the CBOR protocol: on the embedded cluster, or
/// upstream as awsJson1_0 (which CloudWatch also speaks), the answer transcoded either way.
async fn cbor_call(
    state: &AppState,
    op: Option<&'static Operation>,
    operation: &str,
    body: &[u8],
) -> Response {
    let fault = |code: &str, status: u16, message: String| ApiFault {
        code: code.into(),
        message,
        status,
        message_member: "message",
        query_code: None,
    };
    let json = match cbor::decode_request(body) {
        Ok(v) => v,
        Err(e) => return cbor_error(&fault("SerializationException", 400, e.to_string())),
    };
    let result = if let Some(up) = &state.security.upstream {
        let Some(op) = op else {
            return cbor_error(&fault(
                "UnknownOperationException",
                400,
                format!("Unknown CloudWatch operation {operation}."),
            ));
        };
        match up
            .forward(
                op,
                op.target,
                "application/x-amz-json-1.0",
                json.to_string().into(),
            )
            .await
        {
            Ok(f) if f.status == 200 => serde_json::from_slice::<Value>(&f.body).map_err(|e| {
                fault(
                    "ServerException",
                    502,
                    format!("The upstream's answer is not JSON: {e}"),
                )
            }),
            Ok(f) => {
                let e = crate::upstream::upstream_error(f.status, &f.headers, &f.body);
                Err(fault(e.code.as_str(), f.status, e.message))
            }
            Err(e) => Err(ApiFault::from(e)),
        }
    } else {
        match run_other(
            state,
            Api::CloudWatch,
            operation,
            json.to_string().into_bytes(),
        )
        .await
        {
            Ok(r) => r,
            Err(ApiError(e)) => Err(ApiFault::from(e)),
        }
    };
    match result {
        Ok(v) => {
            let mut resp = if Api::CloudWatch.has_output(operation) {
                let bytes = cbor::encode(&v, &|p| Api::CloudWatch.is_timestamp(operation, p));
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
