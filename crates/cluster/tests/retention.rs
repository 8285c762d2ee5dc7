use std::time::Duration;

use berth_cluster::{ClockMode, Cluster, Config};
use serde_json::json;

use crate::support::*;

async fn open(dir: &std::path::Path) -> Cluster {
    Cluster::open(Config {
        data_dir: Some(dir.into()),
        clock: ClockMode::Manual,
        retention: Duration::from_secs(600),
        ..Config::default()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn stopped_tasks_events_and_deployments_are_purged_after_the_retention() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path()).await;
    register(&c, "web", "nginx:1");
    register(&c, "web", "nginx:2");
    call(
        &c,
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web:1", "desiredCount": 1}),
    );
    let task = call(&c, "RunTask", json!({"taskDefinition": "web:1"}))["tasks"][0]["taskArn"]
        .as_str()
        .unwrap()
        .to_string();
    c.advance(60).await;
    call(&c, "StopTask", json!({"task": task}));
    call(
        &c,
        "UpdateService",
        json!({"service": "web", "taskDefinition": "web:2"}),
    );
    c.advance(120).await;
    let deployments = |c: &Cluster| {
        call(c, "ListServiceDeployments", json!({"service": "web"}))["serviceDeployments"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(deployments(&c), 2);
    // Within the retention the stopped task is still described.
    let d = call(&c, "DescribeTasks", json!({"tasks": [task]}));
    assert_eq!(d["tasks"][0]["lastStatus"], "STOPPED");
    let events = |c: &Cluster| {
        call(c, "DescribeServices", json!({"services": ["web"]}))["services"][0]["events"]
            .as_array()
            .unwrap()
            .len()
    };
    assert!(events(&c) > 0);

    c.advance(700).await;
    let d = call(&c, "DescribeTasks", json!({"tasks": [task]}));
    assert_eq!(d["failures"][0]["reason"], "MISSING");
    assert_eq!(events(&c), 0, "events older than the retention are gone");
    assert_eq!(deployments(&c), 1, "the replaced deployment is gone");
    let running = call(&c, "ListTasks", json!({"serviceName": "web"}));
    assert_eq!(running["taskArns"].as_array().unwrap().len(), 1);

    // The purge is durable.
    drop(c);
    let c = open(dir.path()).await;
    let d = call(&c, "DescribeTasks", json!({"tasks": [task]}));
    assert_eq!(d["failures"][0]["reason"], "MISSING");
    assert_eq!(deployments(&c), 1);
}

#[tokio::test]
async fn inactive_services_are_purged_after_the_retention_and_stay_purged_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let c = open(dir.path()).await;
    register(&c, "web", "nginx:1");
    call(
        &c,
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 1}),
    );
    c.advance(60).await;
    call(
        &c,
        "DeleteService",
        json!({"service": "web", "force": true}),
    );
    c.advance(30).await;
    let d = call(&c, "DescribeServices", json!({"services": ["web"]}));
    assert_eq!(d["services"][0]["status"], "INACTIVE", "{d:#}");
    // Still describable within the retention (10 min here)…
    c.advance(500).await;
    let d = call(&c, "DescribeServices", json!({"services": ["web"]}));
    assert_eq!(d["services"][0]["status"], "INACTIVE", "{d:#}");
    // …then forgotten, as ECS purges INACTIVE services.
    c.advance(200).await;
    let d = call(&c, "DescribeServices", json!({"services": ["web"]}));
    assert_eq!(d["services"], json!([]), "{d:#}");
    assert_eq!(d["failures"][0]["reason"], "MISSING", "{d:#}");
    drop(c);
    let c = open(dir.path()).await;
    let d = call(&c, "DescribeServices", json!({"services": ["web"]}));
    assert_eq!(d["failures"][0]["reason"], "MISSING", "{d:#}");
    // The name is free again.
    call(
        &c,
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 1}),
    );
}
