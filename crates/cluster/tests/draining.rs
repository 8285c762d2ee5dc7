use berth_cluster::Cluster;
use serde_json::{Value, json};

use crate::support::*;

fn first_instance(c: &Cluster) -> String {
    call(c, "ListContainerInstances", json!({}))["containerInstanceArns"][0]
        .as_str()
        .unwrap()
        .to_string()
}

/// The service's tasks that are not STOPPED: (task ARN, instance ARN, desiredStatus, lastStatus).
fn web_tasks(c: &Cluster) -> Vec<(String, String, String, String)> {
    let mut arns: Vec<Value> = Vec::new();
    for desired in ["RUNNING", "STOPPED"] {
        let l = call(
            c,
            "ListTasks",
            json!({"serviceName": "web", "desiredStatus": desired}),
        );
        arns.extend(l["taskArns"].as_array().unwrap().iter().cloned());
    }
    if arns.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    for chunk in arns.chunks(100) {
        let d = call(c, "DescribeTasks", json!({"tasks": chunk}));
        for t in d["tasks"].as_array().unwrap() {
            if t["lastStatus"] == "STOPPED" {
                continue;
            }
            out.push((
                t["taskArn"].as_str().unwrap().to_string(),
                t["containerInstanceArn"].as_str().unwrap().to_string(),
                t["desiredStatus"].as_str().unwrap().to_string(),
                t["lastStatus"].as_str().unwrap().to_string(),
            ));
        }
    }
    out
}

fn drain(c: &Cluster, instance: &str, status: &str) -> Value {
    call(
        c,
        "UpdateContainerInstancesState",
        json!({"containerInstances": [instance], "status": status}),
    )
}

fn messages(c: &Cluster) -> Vec<String> {
    call(c, "DescribeServices", json!({"services": ["web"]}))["services"][0]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn draining_starts_replacements_first_with_default_limits() {
    let c = cluster(None).await;
    register(&c, "web", "nginx:1");
    register(&c, "batch", "batch:1");
    call(
        &c,
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 3}),
    );
    c.advance(60).await;
    let x = first_instance(&c);
    let standalone = call(
        &c,
        "StartTask",
        json!({"taskDefinition": "batch", "containerInstances": [x]}),
    )["tasks"][0]["taskArn"]
        .as_str()
        .unwrap()
        .to_string();
    c.advance(5).await;
    let on_x = |c: &Cluster| {
        web_tasks(c)
            .into_iter()
            .filter(|t| t.1 == x && t.2 == "RUNNING")
            .count()
    };
    assert_eq!(on_x(&c), 1, "spread puts one task on each instance");
    let d = drain(&c, &x, "DRAINING");
    assert_eq!(d["containerInstances"][0]["status"], "DRAINING");

    // min 100 / max 200: the task on the draining instance keeps running until its replacement
    // is healthy; never fewer than 3 running, never more than 6 live.
    c.advance(1).await;
    assert_eq!(on_x(&c), 1);
    assert_eq!(
        web_tasks(&c).len(),
        4,
        "a replacement starts elsewhere first"
    );
    for _ in 0..90 {
        c.advance(1).await;
        let tasks = web_tasks(&c);
        let running = tasks
            .iter()
            .filter(|t| t.3 == "RUNNING" && t.2 == "RUNNING")
            .count();
        assert!(running >= 3, "{tasks:?}");
        assert!(tasks.len() <= 6);
    }
    let tasks = web_tasks(&c);
    assert_eq!(tasks.len(), 3, "{tasks:?}");
    assert!(tasks.iter().all(|t| t.1 != x));
    assert!(
        messages(&c)
            .iter()
            .any(|m| m.starts_with("(service web) has stopped 1 running tasks: (task ")),
        "{:?}",
        messages(&c)
    );
    let d = call(&c, "DescribeTasks", json!({"tasks": [standalone]}));
    assert_eq!(
        d["tasks"][0]["lastStatus"], "RUNNING",
        "standalone tasks stay"
    );
    let s = call(
        &c,
        "DescribeContainerInstances",
        json!({"containerInstances": [x]}),
    );
    assert_eq!(s["containerInstances"][0]["runningTasksCount"], 1);

    // ACTIVE again: placement uses it again.
    drain(&c, &x, "ACTIVE");
    call(
        &c,
        "UpdateService",
        json!({"service": "web", "desiredCount": 6}),
    );
    c.advance(60).await;
    assert!(on_x(&c) >= 1);
    assert_eq!(web_tasks(&c).len(), 6);
}

#[tokio::test]
async fn draining_stops_first_when_maximum_percent_leaves_no_room() {
    let c = cluster(None).await;
    register(&c, "web", "nginx:1");
    call(
        &c,
        "CreateService",
        json!({
            "serviceName": "web", "taskDefinition": "web", "desiredCount": 3,
            "deploymentConfiguration": {"maximumPercent": 100, "minimumHealthyPercent": 50},
        }),
    );
    c.advance(60).await;
    let x = first_instance(&c);
    drain(&c, &x, "DRAINING");
    c.tick().await;
    let tasks = web_tasks(&c);
    // ceil(3 × 50%) = 2 healthy must stay: the task on x may stop; no room to start first
    // (its replacement starts once it has stopped).
    let on_x: Vec<_> = tasks.iter().filter(|t| t.1 == x).collect();
    assert!(on_x.iter().all(|t| t.2 == "STOPPED"), "{tasks:?}");
    assert_eq!(tasks.iter().filter(|t| t.2 == "RUNNING").count(), 2);
    c.advance(60).await;
    let tasks = web_tasks(&c);
    assert_eq!(tasks.len(), 3);
    assert!(tasks.iter().all(|t| t.1 != x && t.3 == "RUNNING"));
}

#[tokio::test]
async fn service_tasks_of_a_force_deregistered_instance_are_replaced_elsewhere() {
    let c = cluster(None).await;
    register(&c, "web", "nginx:1");
    call(
        &c,
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 3}),
    );
    c.advance(60).await;
    let before = web_tasks(&c);
    assert_eq!(before.len(), 3);
    let gone = before[0].1.clone();
    let e = err(
        &c,
        "DeregisterContainerInstance",
        json!({"containerInstance": gone}),
    );
    assert_eq!(
        e.message,
        "Found running tasks on the instance. Stop them first, or deregister with force."
    );
    call(
        &c,
        "DeregisterContainerInstance",
        json!({"containerInstance": gone, "force": true}),
    );
    c.advance(60).await;
    let after = web_tasks(&c);
    let running: Vec<_> = after.iter().filter(|t| t.3 == "RUNNING").collect();
    assert_eq!(running.len(), 3, "{after:?}");
    assert!(
        running.iter().all(|t| t.1 != gone),
        "no service task left on the deregistered instance: {after:?}"
    );
    let s = &call(&c, "DescribeServices", json!({"services": ["web"]}))["services"][0];
    assert_eq!(s["runningCount"], 3);
}
