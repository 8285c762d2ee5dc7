use std::collections::HashSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use berth_cluster::{ClockMode, Cluster, Config};
use berth_server::serve::{AppState, ERROR_TYPE_HEADER, REQUEST_ID_HEADER, app};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const ECS: &str = "AmazonEC2ContainerServiceV20141113.";

async fn router() -> axum::Router {
    let cluster = Cluster::open(Config {
        clock: ClockMode::Manual,
        ..Config::default()
    })
    .await
    .unwrap();
    app(AppState::new(Arc::new(cluster)))
}

/// One POST; the status, the headers and the JSON body.
async fn post(
    app: &axum::Router,
    uri: &str,
    target: Option<&str>,
    body: impl Into<Body>,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = Request::post(uri).header("content-type", "application/x-amz-json-1.1");
    if let Some(t) = target {
        req = req.header("x-amz-target", t);
    }
    let resp = app
        .clone()
        .oneshot(req.body(body.into()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// The request id, checked to be a lower-case hyphenated UUID (8-4-4-4-12 hex digits).
fn request_id(headers: &HeaderMap) -> String {
    let id = headers
        .get(REQUEST_ID_HEADER)
        .unwrap_or_else(|| panic!("no x-amzn-RequestId in {headers:?}"))
        .to_str()
        .unwrap()
        .to_string();
    let groups: Vec<usize> = id.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12], "{id}");
    assert!(
        id.chars()
            .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "{id}"
    );
    id
}

fn error_type(headers: &HeaderMap) -> Option<&str> {
    headers.get(ERROR_TYPE_HEADER).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn every_ecs_answer_has_a_fresh_request_id() {
    let app = router().await;
    let mut ids = HashSet::new();
    for uri in ["/", "/_berth/api"] {
        let (s, h, _) = post(&app, uri, Some(&format!("{ECS}ListClusters")), "{}").await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(error_type(&h), None, "a success names no error type");
        assert!(ids.insert(request_id(&h)));
        let (s, h, _) = post(&app, uri, Some(&format!("{ECS}ListClusters")), "{}").await;
        assert_eq!(s, StatusCode::OK);
        assert!(ids.insert(request_id(&h)), "ids repeat: {ids:?}");
    }
}

#[tokio::test]
async fn every_ecs_error_has_a_request_id_and_its_error_type() {
    let app = router().await;
    let big = format!("{{\"family\": \"{}\"}}", "a".repeat(2 * 1024 * 1024));
    let cases: Vec<(Option<String>, String, StatusCode, &str)> = vec![
        // A handler's own error.
        (
            Some(format!("{ECS}ListTasks")),
            json!({"cluster": "nope"}).to_string(),
            StatusCode::BAD_REQUEST,
            "ClusterNotFoundException",
        ),
        // The validator's.
        (
            Some(format!("{ECS}RegisterTaskDefinition")),
            json!({"family": "x", "containerDefinitions": []}).to_string(),
            StatusCode::BAD_REQUEST,
            "ClientException",
        ),
        // Body parsing.
        (
            Some(format!("{ECS}ListClusters")),
            "{not json".into(),
            StatusCode::BAD_REQUEST,
            "SerializationException",
        ),
        // Routing: no target, an unknown action, an action Berth does not implement.
        (
            None,
            "{}".into(),
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
        ),
        (
            Some(format!("{ECS}Frobnicate")),
            "{}".into(),
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
        ),
        (
            Some(format!("{ECS}ExecuteCommand")),
            "{}".into(),
            StatusCode::BAD_REQUEST,
            "UnsupportedFeatureException",
        ),
        // The body limit, before any handler runs.
        (
            Some(format!("{ECS}RegisterTaskDefinition")),
            big,
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLargeException",
        ),
    ];
    for uri in ["/", "/_berth/api"] {
        for (target, body, status, code) in &cases {
            let (s, h, v) = post(&app, uri, target.as_deref(), body.clone()).await;
            assert_eq!((s, v["__type"].as_str()), (*status, Some(*code)), "{uri}");
            assert_eq!(error_type(&h), Some(*code), "{uri} {code}");
            request_id(&h);
        }
    }
}

#[tokio::test]
async fn auto_scaling_and_logs_answers_have_request_ids_too() {
    let app = router().await;
    let (s, h, _) = post(
        &app,
        "/",
        Some("AnyScaleFrontendService.DescribeScalableTargets"),
        json!({"ServiceNamespace": "ecs"}).to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(error_type(&h), None);
    request_id(&h);
    let (s, h, v) = post(&app, "/", Some("AnyScaleFrontendService.Frobnicate"), "{}").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(error_type(&h), v["__type"].as_str());
    request_id(&h);
    let (s, h, _) = post(
        &app,
        "/_berth/api",
        Some("Logs_20140328.DescribeLogGroups"),
        "{}",
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    request_id(&h);
    let (s, h, v) = post(
        &app,
        "/",
        Some("Logs_20140328.GetLogEvents"),
        json!({"logGroupName": "nope", "logStreamName": "nope"}).to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(error_type(&h), Some("ResourceNotFoundException"));
    assert_eq!(v["__type"], "ResourceNotFoundException");
    request_id(&h);
}

#[tokio::test]
async fn the_dashboard_and_the_event_stream_are_left_alone() {
    let app = router().await;
    for uri in ["/", "/ui/clusters", "/healthz", "/_berth/info"] {
        let resp = app
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{uri}");
        assert!(!resp.headers().contains_key(REQUEST_ID_HEADER), "{uri}");
    }
    // The stream's headers arrive at once; its body never ends, so it is not read.
    let resp = app
        .clone()
        .oneshot(Request::get("/_berth/events").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap()),
        Some("text/event-stream")
    );
    assert!(!resp.headers().contains_key(REQUEST_ID_HEADER));
}
