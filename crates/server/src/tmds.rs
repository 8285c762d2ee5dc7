//! The task metadata endpoint v4 (TMDS) that containers of the Docker runtime reach through
//! `ECS_CONTAINER_METADATA_URI_V4` = `http://<bridge gateway>:<port>/v4/<token>`.
//!
//! **What it serves.** [`router`] answers, for GET only, the five routes the ECS agent registers
//! on EC2 (`ecs-agent/tmds/handlers/v4/handlers.go`, `agent/handlers/task_server_setup.go`):
//!
//! | route | answer |
//! |---|---|
//! | `/v4/{token}` | the container JSON |
//! | `/v4/{token}/task` | the task JSON with every container in `Containers` |
//! | `/v4/{token}/taskWithTags` | the same plus `TaskTags` and `ContainerInstanceTags` |
//! | `/v4/{token}/stats` | the container's Docker stats, `{}` while there are none |
//! | `/v4/{token}/task/stats` | Docker stats keyed by Docker container id, `{}` for a container without |
//!
//! The JSON is built by the cluster ([`Cluster::task_metadata`], `berth_cluster::metadata`); the
//! token is `<task id>-<container index in the task definition>-<mac>` (see
//! `berth_cluster::metadata::token`). An unknown token is a 404 whose
//! body is the agent's message as a JSON string (`"V4 container metadata handler: unable to get
//! container ID from request: …"`), as the agent writes it.
//!
//! **What it does not serve, and why.** This router is bound on the Docker bridge's gateway, so
//! every container on the host can reach it; it therefore carries nothing but task metadata:
//! - no AWS API, dashboard or test control (those stay on the main listener and its auth);
//! - no credentials endpoint (`/v2/credentials/…`): Berth issues no task-role credentials;
//! - no v2/v3 routes, no `/v4/{token}/tasks` or `/tasks/stats` (the EC2 agent does not register
//!   them either), no agent introspection (`/v1/metadata`), no task-protection or
//!   fault-injection routes; other methods answer 405 and other paths 404.
//!
//! **Stats.** Docker stats come through a [`StatsSource`]: given Docker ids, it returns the
//! stats JSON of those it has. [`router`] asks the cluster's runtime
//! ([`Cluster::container_stats`]); [`router_with_stats`] takes any source,
//! e.g. `Arc::new(move |ids| { let c = cluster.clone(); Box::pin(async move {
//! c.container_stats(ids).await }) })`. A source that takes longer than [`STATS_TIMEOUT`] is
//! given up on (the answer is then `{}` per container), so a slow Docker daemon cannot pile up
//! requests here.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use berth_cluster::Cluster;
use berth_cluster::metadata::TaskMetadata;
use berth_cluster::runtime::BoxFuture;
use serde_json::{Map, Value};

/// Where Docker stats come from: called with Docker container ids, it returns the stats JSON
/// (Docker's `ContainerStats`, optionally with `network_rate_stats`) of those it has; ids it
/// leaves out are answered with `{}`.
pub type StatsSource =
    Arc<dyn Fn(Vec<String>) -> BoxFuture<'static, HashMap<String, Value>> + Send + Sync>;

/// How long a stats request waits for its [`StatsSource`].
pub const STATS_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`StatsSource`] that has no stats (every container answers `{}`).
pub fn no_stats() -> StatsSource {
    Arc::new(|_| Box::pin(async { HashMap::new() }))
}

/// The metadata endpoint over `cluster`, without stats (see [`router_with_stats`]).
pub fn router(cluster: Cluster) -> Router {
    let c = cluster.clone();
    let stats: StatsSource = Arc::new(move |ids| {
        let c = c.clone();
        Box::pin(async move { c.container_stats(ids).await })
    });
    router_with_stats(cluster, stats)
}

/// The metadata endpoint over `cluster`, with Docker stats from `stats`.
pub fn router_with_stats(cluster: Cluster, stats: StatsSource) -> Router {
    Router::new()
        .route("/v4/{token}", get(container))
        .route("/v4/{token}/task", get(task))
        .route("/v4/{token}/taskWithTags", get(task_with_tags))
        .route("/v4/{token}/stats", get(container_stats))
        .route("/v4/{token}/task/stats", get(task_stats))
        .with_state(Tmds {
            cluster,
            stats,
            stats_timeout: STATS_TIMEOUT,
        })
}

#[derive(Clone)]
struct Tmds {
    cluster: Cluster,
    stats: StatsSource,
    /// [`STATS_TIMEOUT`] (shorter in tests).
    stats_timeout: Duration,
}

impl Tmds {
    /// The metadata of `token`, or the agent's 404 for the route (`prefix` names the handler
    /// and `lookup` what it failed to find, as in the agent's messages). Read on the blocking
    /// pool: the cluster's lock is held across durable commits.
    async fn lookup(
        &self,
        token: String,
        prefix: &str,
        lookup: &str,
    ) -> Result<TaskMetadata, Failure> {
        let cluster = self.cluster.clone();
        let (token, found) = tokio::task::spawn_blocking(move || {
            let found = cluster.task_metadata(&token);
            (token, found)
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "task metadata lookup panicked");
            Failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                "failed to get task metadata".into(),
            )
        })?;
        found.ok_or_else(|| {
            let message = format!("{prefix}: unable to get {lookup} from v3 endpoint ID: {token}");
            Failure(StatusCode::NOT_FOUND, message)
        })
    }

    /// Stats for `ids`, `{}` for each the source has none for (or all when it times out).
    async fn stats(&self, ids: &[String]) -> Map<String, Value> {
        let mut got = if ids.is_empty() {
            HashMap::new()
        } else {
            tokio::time::timeout(self.stats_timeout, (self.stats)(ids.to_vec()))
                .await
                .unwrap_or_else(|_| {
                    tracing::warn!("container stats timed out");
                    HashMap::new()
                })
        };
        ids.iter()
            .map(|id| {
                let s = got.remove(id).unwrap_or_else(|| Value::Object(Map::new()));
                (id.clone(), s)
            })
            .collect()
    }
}

/// The agent's error answer: the status (404 for an unknown token) with the message as a JSON
/// string.
#[derive(Debug)]
struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, Json(Value::String(self.1))).into_response()
    }
}

const CONTAINER_LOOKUP: &str = "container ID from request: unable to get docker ID";
const TASK_LOOKUP: &str = "task arn from request: unable to get task Arn";

async fn container(
    State(s): State<Tmds>,
    Path(token): Path<String>,
) -> Result<Json<Value>, Failure> {
    let md = s
        .lookup(token, "V4 container metadata handler", CONTAINER_LOOKUP)
        .await?;
    Ok(Json(md.container))
}

async fn task(State(s): State<Tmds>, Path(token): Path<String>) -> Result<Json<Value>, Failure> {
    let md = s
        .lookup(token, "V4 task metadata handler", TASK_LOOKUP)
        .await?;
    Ok(Json(md.task))
}

async fn task_with_tags(
    State(s): State<Tmds>,
    Path(token): Path<String>,
) -> Result<Json<Value>, Failure> {
    let md = s
        .lookup(token, "V4 task metadata handler", TASK_LOOKUP)
        .await?;
    Ok(Json(md.task_with_tags))
}

async fn container_stats(
    State(s): State<Tmds>,
    Path(token): Path<String>,
) -> Result<Json<Value>, Failure> {
    let md = s
        .lookup(token, "V4 container stats handler", TASK_LOOKUP)
        .await?;
    let ids: Vec<String> = md.docker_id.into_iter().collect();
    let stats = s.stats(&ids).await.into_iter().next().map(|(_, v)| v);
    Ok(Json(stats.unwrap_or_else(|| Value::Object(Map::new()))))
}

async fn task_stats(
    State(s): State<Tmds>,
    Path(token): Path<String>,
) -> Result<Json<Map<String, Value>>, Failure> {
    let md = s
        .lookup(token, "V4 task stats handler", TASK_LOOKUP)
        .await?;
    Ok(Json(s.stats(&md.docker_ids).await))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Method, Request, header};
    use berth_cluster::metadata::token;
    use berth_cluster::{ClockMode, Config};
    use http_body_util::BodyExt;
    use serde_json::json;
    use tower::ServiceExt;

    async fn cluster_with_task() -> (Cluster, String) {
        let c = Cluster::open(Config {
            clock: ClockMode::Manual,
            ..Config::default()
        })
        .await
        .unwrap();
        let call = |action: &str, body: Value| {
            c.call_blocking(action, body.to_string().as_bytes())
                .unwrap_or_else(|e| panic!("{action}: {e}"))
        };
        call(
            "RegisterTaskDefinition",
            json!({"family": "web", "containerDefinitions": [
                {"name": "app", "image": "nginx:1", "memory": 128},
                {"name": "log", "image": "busybox", "memory": 32, "essential": false}
            ]}),
        );
        let r = call(
            "RunTask",
            json!({"taskDefinition": "web", "tags": [{"key": "k", "value": "v"}]}),
        );
        let arn = r["tasks"][0]["taskArn"].as_str().unwrap();
        let id = arn.rsplit('/').next().unwrap().to_string();
        c.advance(4).await;
        (c, id)
    }

    async fn get(app: &Router, path: &str) -> (StatusCode, Option<String>, Value) {
        request(app, Method::GET, path).await
    }

    async fn request(
        app: &Router,
        method: Method,
        path: &str,
    ) -> (StatusCode, Option<String>, Value) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let ct = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, ct, body)
    }

    #[tokio::test]
    async fn container_task_and_tags() {
        let (c, id) = cluster_with_task().await;
        let app = router(c.clone());
        let tok = token(&c.config().metadata_key, &id, 1);
        let (status, ct, body) = get(&app, &format!("/v4/{tok}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ct.as_deref(), Some("application/json"));
        assert_eq!(body, c.task_metadata(&tok).unwrap().container);
        assert_eq!(body["Name"], "log");
        assert_eq!(body["KnownStatus"], "RUNNING");

        let (status, _, task) = get(&app, &format!("/v4/{tok}/task")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            task["TaskARN"].as_str().unwrap().rsplit('/').next(),
            Some(id.as_str())
        );
        assert_eq!(task["Containers"].as_array().unwrap().len(), 2);
        assert!(task.get("TaskTags").is_none());

        let (status, _, tagged) = get(&app, &format!("/v4/{tok}/taskWithTags")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(tagged["TaskTags"], json!({"k": "v"}));
    }

    #[tokio::test]
    async fn unknown_tokens_are_the_agents_404() {
        let (c, id) = cluster_with_task().await;
        let app = router(c.clone());
        let bad = token(&c.config().metadata_key, &id, 2);
        for (path, message) in [
            (
                format!("/v4/{bad}"),
                format!(
                    "V4 container metadata handler: unable to get container ID from request: \
                     unable to get docker ID from v3 endpoint ID: {bad}"
                ),
            ),
            (
                format!("/v4/{bad}/task"),
                format!(
                    "V4 task metadata handler: unable to get task arn from request: unable to \
                     get task Arn from v3 endpoint ID: {bad}"
                ),
            ),
            (
                "/v4/nope/taskWithTags".into(),
                "V4 task metadata handler: unable to get task arn from request: unable to get \
                 task Arn from v3 endpoint ID: nope"
                    .into(),
            ),
            (
                "/v4/nope/stats".into(),
                "V4 container stats handler: unable to get task arn from request: unable to \
                 get task Arn from v3 endpoint ID: nope"
                    .into(),
            ),
            (
                "/v4/nope/task/stats".into(),
                "V4 task stats handler: unable to get task arn from request: unable to get \
                 task Arn from v3 endpoint ID: nope"
                    .into(),
            ),
        ] {
            let (status, ct, body) = get(&app, &path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(ct.as_deref(), Some("application/json"), "{path}");
            assert_eq!(body, Value::String(message), "{path}");
        }
    }

    #[tokio::test]
    async fn only_the_v4_get_routes() {
        let (c, id) = cluster_with_task().await;
        let app = router(c.clone());
        let tok = token(&c.config().metadata_key, &id, 0);
        for path in [
            "/".to_string(),
            "/v2/credentials/x".into(),
            "/v3/x".into(),
            "/v1/metadata".into(),
            format!("/v4/{tok}/tasks"),
            format!("/v4/{tok}/tasks/stats"),
            format!("/v4/{tok}/task/protection/v1/state"),
            "/healthz".into(),
        ] {
            let (status, _, _) = get(&app, &path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
        for method in [Method::POST, Method::PUT, Method::DELETE] {
            let (status, _, _) = request(&app, method.clone(), &format!("/v4/{tok}")).await;
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        }
    }

    #[tokio::test]
    async fn stats_are_empty_objects_without_docker_ids() {
        let (c, id) = cluster_with_task().await;
        let called = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = called.clone();
        let stats: StatsSource = Arc::new(move |_| {
            seen.store(true, std::sync::atomic::Ordering::SeqCst);
            Box::pin(async { HashMap::new() })
        });
        let app = router_with_stats(c.clone(), stats);
        let tok = token(&c.config().metadata_key, &id, 0);
        let (status, _, body) = get(&app, &format!("/v4/{tok}/stats")).await;
        assert_eq!((status, body), (StatusCode::OK, json!({})));
        let (status, _, body) = get(&app, &format!("/v4/{tok}/task/stats")).await;
        assert_eq!((status, body), (StatusCode::OK, json!({})));
        // The simulated runtime reports no Docker ids, so the source is never asked.
        assert!(!called.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[tokio::test]
    async fn stats_are_keyed_by_docker_id_and_filled_in() {
        let (c, _) = cluster_with_task().await;
        let stats: StatsSource = Arc::new(|ids: Vec<String>| {
            Box::pin(async move {
                ids.into_iter()
                    .filter(|id| id != "b")
                    .map(|id| {
                        let v = json!({"id": id, "memory_stats": {"usage": 1}});
                        (id, v)
                    })
                    .collect()
            })
        });
        let s = Tmds {
            cluster: c,
            stats,
            stats_timeout: STATS_TIMEOUT,
        };
        let ids = vec!["a".to_string(), "b".to_string()];
        let got = s.stats(&ids).await;
        assert_eq!(
            Value::Object(got),
            json!({"a": {"id": "a", "memory_stats": {"usage": 1}}, "b": {}})
        );
        assert!(s.stats(&[]).await.is_empty());
    }

    #[tokio::test]
    async fn slow_stats_give_empty_objects() {
        let (c, _) = cluster_with_task().await;
        let stats: StatsSource = Arc::new(|_| {
            Box::pin(async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                HashMap::from([("a".to_string(), json!({"late": true}))])
            })
        });
        let s = Tmds {
            cluster: c,
            stats,
            stats_timeout: Duration::from_millis(20),
        };
        let got = s.stats(&["a".to_string()]).await;
        assert_eq!(Value::Object(got), json!({"a": {}}));
    }
}
