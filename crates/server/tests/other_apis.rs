use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use berth_cluster::{ClockMode, Cluster, Config};
use berth_server::serve::{AppState, app};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

async fn router() -> axum::Router {
    let cluster = Cluster::open(Config {
        clock: ClockMode::Manual,
        ..Config::default()
    })
    .await
    .unwrap();
    app(AppState::new(Arc::new(cluster)))
}

async fn post(
    app: &axum::Router,
    uri: &str,
    target: Option<&str>,
    body: Value,
) -> (StatusCode, Option<String>, Value) {
    let mut req = Request::post(uri).header("content-type", "application/x-amz-json-1.1");
    if let Some(t) = target {
        req = req.header("x-amz-target", t);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let etype = resp
        .headers()
        .get("x-amzn-errortype")
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        etype,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn autoscaling_and_logs_share_the_endpoint() {
    let app = router().await;
    let key = json!({"ServiceNamespace": "ecs", "ResourceId": "service/default/web",
        "ScalableDimension": "ecs:service:DesiredCount", "MinCapacity": 1, "MaxCapacity": 3});
    let (s, t, v) = post(
        &app,
        "/",
        Some("AnyScaleFrontendService.RegisterScalableTarget"),
        key.clone(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(t.as_deref(), Some("ValidationException"));
    assert_eq!(
        v,
        json!({"__type": "ValidationException", "Message": "ECS service doesn't exist: service/default/web"})
    );
    let ecs = "AmazonEC2ContainerServiceV20141113.";
    post(&app, "/", Some(&format!("{ecs}RegisterTaskDefinition")), json!({"family": "web",
        "containerDefinitions": [{"name": "app", "image": "nginx:1", "memory": 128,
            "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "web", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "p"}}}]})).await;
    let (s, _, _) = post(
        &app,
        "/",
        Some(&format!("{ecs}CreateService")),
        json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 1}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, v) = post(
        &app,
        "/",
        Some("AnyScaleFrontendService.RegisterScalableTarget"),
        key,
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v["ScalableTargetARN"].is_string());
    let (s, _, v) = post(&app, "/", Some("AnyScaleFrontendService.PutScalingPolicy"), json!({
        "PolicyName": "cpu", "PolicyType": "TargetTrackingScaling", "ServiceNamespace": "ecs",
        "ResourceId": "service/default/web", "ScalableDimension": "ecs:service:DesiredCount",
        "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 50.0, "ScaleOutCooldown": 0,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}}})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    for _ in 0..3 {
        let (s, _, v) = post(
            &app,
            "/_berth/metric",
            None,
            json!({"resourceId": "service/default/web", "value": 90.0}),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        post(&app, "/_berth/advance", None, json!({"seconds": 60})).await;
    }
    let (_, _, v) = post(
        &app,
        "/",
        Some("AnyScaleFrontendService.DescribeScalingActivities"),
        json!({"ServiceNamespace": "ecs"}),
    )
    .await;
    assert_eq!(
        v["ScalingActivities"][0]["Description"], "Setting desired count to 2.",
        "{v}"
    );
    let (s, _, v) = post(
        &app,
        "/_berth/metric",
        None,
        json!({"resourceId": "service/default/nope", "value": 1}),
    )
    .await;
    assert_eq!(
        (s, v["__type"].as_str()),
        (StatusCode::BAD_REQUEST, Some("InvalidParameterException"))
    );
    // The task's awslogs stream.
    let (s, _, v) = post(
        &app,
        "/",
        Some("Logs_20140328.DescribeLogStreams"),
        json!({"logGroupName": "web"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let stream = v["logStreams"][0]["logStreamName"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(stream.starts_with("p/app/"), "{stream}");
    let (s, _, v) = post(
        &app,
        "/",
        Some("Logs_20140328.GetLogEvents"),
        json!({"logGroupName": "web", "logStreamName": stream}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v["events"][0]["message"],
        "[berth] container app started: image nginx:1 (its default command)"
    );
    assert!(v["nextForwardToken"].as_str().unwrap().starts_with("f/"));
    let (s, t, v) = post(
        &app,
        "/",
        Some("Logs_20140328.GetLogEvents"),
        json!({"logGroupName": "nope", "logStreamName": "x"}),
    )
    .await;
    assert_eq!(
        (s, t.as_deref()),
        (StatusCode::BAD_REQUEST, Some("ResourceNotFoundException"))
    );
    assert_eq!(v["message"], "The specified log group does not exist.");
    let (s, t, _) = post(&app, "/", Some("Logs_20140328.TailLogs"), json!({})).await;
    assert_eq!(
        (s, t.as_deref()),
        (StatusCode::BAD_REQUEST, Some("UnknownOperationException"))
    );
    let (s, _, v) = post(
        &app,
        "/",
        Some("AnyScaleFrontendService.DescribeScalableTargets"),
        json!({"ServiceNamespace": "ecs"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["ScalableTargets"].as_array().unwrap().len(), 1);
}
