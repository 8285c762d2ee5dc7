use std::io::Write;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use berth_cluster::{ClockMode, Cluster, Config};
use berth_server::cbor;
use berth_server::serve::{AppState, app};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const CBOR_PATH: &str = "/service/GraniteServiceVersion20100801/operation/";

async fn send(app: &axum::Router, req: Request<Body>) -> (StatusCode, HeaderMap, Vec<u8>) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes().to_vec();
    (parts.status, parts.headers, bytes)
}

async fn json_call(
    app: &axum::Router,
    uri: &str,
    target: &str,
    body: Value,
) -> (StatusCode, HeaderMap, Value) {
    let req = Request::post(uri)
        .header("x-amz-target", target)
        .header("content-type", "application/x-amz-json-1.0")
        .body(Body::from(body.to_string()))
        .unwrap();
    let (s, h, b) = send(app, req).await;
    (s, h, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

fn cbor_request(op: &str) -> axum::http::request::Builder {
    Request::post(format!("{CBOR_PATH}{op}"))
        .header("smithy-protocol", "rpc-v2-cbor")
        .header("content-type", "application/cbor")
        .header("accept", "application/cbor")
}

/// The `web` service with 2 tasks and 10 complete minutes of metrics; the minute boundary that
/// ends them.
async fn cluster_with_web() -> (axum::Router, i64) {
    let cluster = Cluster::open(Config {
        clock: ClockMode::Manual,
        ..Config::default()
    })
    .await
    .unwrap();
    let app = app(AppState::new(Arc::new(cluster)));
    let ecs = "AmazonEC2ContainerServiceV20141113.";
    for (action, body) in [
        (
            "RegisterTaskDefinition",
            json!({"family": "web", "containerDefinitions": [{"name": "app", "image": "nginx:1", "memory": 128, "cpu": 256}]}),
        ),
        (
            "CreateService",
            json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 2}),
        ),
    ] {
        let req = Request::post("/")
            .header("x-amz-target", format!("{ecs}{action}"))
            .header("content-type", "application/x-amz-json-1.1")
            .body(Body::from(body.to_string()))
            .unwrap();
        assert_eq!(send(&app, req).await.0, StatusCode::OK);
    }
    let req = Request::post("/_berth/advance")
        .body(Body::from(json!({"seconds": 610}).to_string()))
        .unwrap();
    let (_, _, b) = send(&app, req).await;
    let now: Value = serde_json::from_slice(&b).unwrap();
    (app, now["now"].as_f64().unwrap() as i64 / 60 * 60)
}

fn gmd(end: i64) -> Value {
    json!({
        "MetricDataQueries": [
            {"Id": "cpu", "Label": "CPU %", "MetricStat": {"Metric": {"Namespace": "AWS/ECS", "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "ClusterName", "Value": "default"}, {"Name": "ServiceName", "Value": "web"}]},
                "Period": 60, "Stat": "Average"}},
            {"Id": "memory", "MetricStat": {"Metric": {"Namespace": "AWS/ECS", "MetricName": "MemoryUtilization",
                "Dimensions": [{"Name": "ClusterName", "Value": "default"}, {"Name": "ServiceName", "Value": "web"}]},
                "Period": 60, "Stat": "Average"}}
        ],
        "StartTime": end - 600,
        "EndTime": end,
        "ScanBy": "TimestampAscending"
    })
}

#[tokio::test]
async fn the_dashboard_gets_metrics_over_json_1_0() {
    let (app, end) = cluster_with_web().await;
    let target = "GraniteServiceVersion20100801.GetMetricData";
    let (s, h, v) = json_call(&app, "/_berth/api", target, gmd(end)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(h["content-type"], "application/x-amz-json-1.0");
    assert!(h.contains_key("x-amzn-requestid"));
    let cpu = &v["MetricDataResults"][0];
    assert_eq!(
        (
            cpu["Id"].as_str(),
            cpu["Label"].as_str(),
            cpu["StatusCode"].as_str()
        ),
        (Some("cpu"), Some("CPU %"), Some("Complete"))
    );
    let ts: Vec<i64> = cpu["Timestamps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_i64().unwrap())
        .collect();
    assert_eq!(ts, (0..10).map(|i| end - 600 + 60 * i).collect::<Vec<_>>());
    assert_eq!(cpu["Values"].as_array().unwrap().len(), 10);
    assert_eq!(v["MetricDataResults"][1]["Label"], "MemoryUtilization");
    assert_eq!(v["Messages"], json!([]));
    // The AWS endpoint answers the same.
    let (_, _, same) = json_call(&app, "/", target, gmd(end)).await;
    assert_eq!(same, v);
    // Errors: the exception name, and the awsQuery code SDKs read.
    let (s, h, e) = json_call(&app, "/_berth/api", "GraniteServiceVersion20100801.GetMetricStatistics",
        json!({"Namespace": "AWS/ECS", "MetricName": "CPUUtilization", "StartTime": end - 600, "EndTime": end, "Period": 90, "Statistics": ["Average"]})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        e,
        json!({"__type": "InvalidParameterValueException", "message": "The parameter Period must be a multiple of 60."})
    );
    assert_eq!(h["x-amzn-query-error"], "InvalidParameterValue;Sender");
    assert_eq!(h["x-amzn-errortype"], "InvalidParameterValueException");
}

#[tokio::test]
async fn rpc_v2_cbor_answers_what_json_answers_with_tagged_timestamps() {
    let (app, end) = cluster_with_web().await;
    let req = json!({"Namespace": "AWS/ECS", "MetricName": "CPUUtilization",
        "Dimensions": [{"Name": "ClusterName", "Value": "default"}, {"Name": "ServiceName", "Value": "web"}],
        "StartTime": end - 600, "EndTime": end, "Period": 300, "Statistics": ["Average", "SampleCount"]});
    let (_, _, want) = json_call(
        &app,
        "/",
        "GraniteServiceVersion20100801.GetMetricStatistics",
        req.clone(),
    )
    .await;
    let body = cbor::encode(&req, &|p: &[&str]| p == ["StartTime"] || p == ["EndTime"]);
    let (s, h, b) = send(
        &app,
        cbor_request("GetMetricStatistics")
            .body(Body::from(body.clone()))
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["smithy-protocol"], "rpc-v2-cbor");
    assert_eq!(h["content-type"], "application/cbor");
    assert!(h.contains_key("x-amzn-requestid"));
    let raw: ciborium::Value = ciborium::de::from_reader(b.as_slice()).unwrap();
    let dps = raw
        .as_map()
        .unwrap()
        .iter()
        .find(|(k, _)| k.as_text() == Some("Datapoints"))
        .unwrap()
        .1
        .as_array()
        .unwrap();
    assert_eq!(dps.len(), 2);
    for d in dps {
        let ts = d
            .as_map()
            .unwrap()
            .iter()
            .find(|(k, _)| k.as_text() == Some("Timestamp"))
            .unwrap();
        assert!(matches!(ts.1, ciborium::Value::Tag(1, _)), "{:?}", ts.1);
    }
    assert_eq!(cbor::decode_request(&b).unwrap(), want);

    // Errors: the absolute shape id, the message, the query code; no X-Amzn-ErrorType.
    let bad = cbor::encode(
        &json!({"MetricDataQueries": [], "StartTime": end - 60, "EndTime": end}),
        &|_| false,
    );
    let (s, h, b) = send(
        &app,
        cbor_request("GetMetricData")
            .body(Body::from(bad.clone()))
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(h["smithy-protocol"], "rpc-v2-cbor");
    assert_eq!(h["x-amzn-query-error"], "MissingParameter;Sender");
    assert!(!h.contains_key("x-amzn-errortype"));
    assert_eq!(
        cbor::decode_request(&b).unwrap(),
        json!({
        "__type": "com.amazonaws.cloudwatch#MissingRequiredParameterException",
        "message": "The parameter MetricDataQueries is required."})
    );
}

#[tokio::test]
async fn put_metric_data_over_cbor_answers_no_body_and_takes_gzip() {
    let (app, end) = cluster_with_web().await;
    let put = json!({"Namespace": "App", "MetricData": [{"MetricName": "Queue", "Value": 4.0, "Timestamp": end - 30}]});
    let body = cbor::encode(&put, &|p: &[&str]| p == ["MetricData", "Timestamp"]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&body).unwrap();
    let gz = gz.finish().unwrap();
    let (s, h, b) = send(
        &app,
        cbor_request("PutMetricData")
            .header("content-encoding", "gzip")
            .body(Body::from(gz.clone()))
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{:?}", cbor::decode_request(&b));
    assert!(b.is_empty(), "PutMetricData has no output");
    assert_eq!(h["smithy-protocol"], "rpc-v2-cbor");
    assert!(!h.contains_key("content-type"));
    let (_, _, v) = json_call(&app, "/", "GraniteServiceVersion20100801.GetMetricStatistics",
        json!({"Namespace": "App", "MetricName": "Queue", "StartTime": end - 60, "EndTime": end, "Period": 60, "Statistics": ["Sum"]})).await;
    assert_eq!(v["Datapoints"][0]["Sum"], 4.0, "{v}");
    assert_eq!(v["Datapoints"][0]["Unit"], "None");
}

#[tokio::test]
async fn requests_the_protocol_forbids_are_refused() {
    let (app, _) = cluster_with_web().await;
    let body = cbor::encode(&json!({}), &|_| false);
    let with_target = cbor_request("ListMetrics")
        .header("x-amz-target", "GraniteServiceVersion20100801.ListMetrics")
        .body(Body::from(body.clone()))
        .unwrap();
    assert_eq!(send(&app, with_target).await.0, StatusCode::BAD_REQUEST);
    let no_protocol = Request::post(format!("{CBOR_PATH}ListMetrics"))
        .body(Body::from(body.clone()))
        .unwrap();
    assert_eq!(send(&app, no_protocol).await.0, StatusCode::BAD_REQUEST);
    let other = Request::post("/service/AmazonEC2ContainerServiceV20141113/operation/ListClusters")
        .header("smithy-protocol", "rpc-v2-cbor")
        .body(Body::from(body.clone()))
        .unwrap();
    assert_eq!(send(&app, other).await.0, StatusCode::NOT_FOUND);
    let (s, _, b) = send(
        &app,
        cbor_request("ListMetrics")
            .body(Body::from(vec![0xffu8]))
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        cbor::decode_request(&b).unwrap()["__type"],
        "com.amazonaws.cloudwatch#SerializationException"
    );
    // A fully qualified service name is routed the same.
    let q = Request::post(
        "/service/com.amazonaws.cloudwatch.GraniteServiceVersion20100801/operation/ListMetrics",
    )
    .header("smithy-protocol", "rpc-v2-cbor")
    .body(Body::from(body))
    .unwrap();
    let (s, _, b) = send(&app, q).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        cbor::decode_request(&b).unwrap()["Metrics"]
            .as_array()
            .unwrap()
            .len()
            >= 4
    );
}
