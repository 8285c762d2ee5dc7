use berth_cluster::{ClockMode, Cluster, Config, InstanceSpec};
use berth_core::protocol::ErrorCode;
use serde_json::{Value, json};

use crate::support::*;

/// Two `stack=prod` instances and one `stack=test` instance.
async fn stacks() -> (Cluster, Vec<String>, String) {
    let spec = |count, stack: &str| InstanceSpec {
        count,
        attributes: vec![("stack".into(), Some(stack.into()))],
        ..InstanceSpec::default()
    };
    let c = Cluster::open(Config {
        clock: ClockMode::Manual,
        instances: vec![spec(2, "prod"), spec(1, "test")],
        ..Config::default()
    })
    .await
    .unwrap();
    let mut prod = Vec::new();
    let mut test = String::new();
    for arn in instances(&c) {
        let d = call(
            &c,
            "DescribeContainerInstances",
            json!({"containerInstances": [arn]}),
        );
        let attrs = d["containerInstances"][0]["attributes"].as_array().unwrap();
        if attrs
            .iter()
            .any(|a| a["name"] == "stack" && a["value"] == "prod")
        {
            prod.push(arn);
        } else {
            test = arn;
        }
    }
    (c, prod, test)
}

fn instances(c: &Cluster) -> Vec<String> {
    call(c, "ListContainerInstances", json!({}))["containerInstanceArns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

fn agent(c: &Cluster) -> Value {
    call(
        c,
        "CreateService",
        json!({
            "serviceName": "agent",
            "taskDefinition": "agent",
            "schedulingStrategy": "DAEMON",
            "placementConstraints": [{"type": "memberOf", "expression": "attribute:stack == prod"}],
        }),
    )
}

fn service(c: &Cluster) -> Value {
    call(c, "DescribeServices", json!({"services": ["agent"]}))["services"][0].clone()
}

/// (task id, container instance ARN, task definition ARN) of the service's RUNNING-desired tasks.
fn daemon_tasks(c: &Cluster) -> Vec<(String, String, String)> {
    let arns = call(c, "ListTasks", json!({"serviceName": "agent"}))["taskArns"].clone();
    if arns.as_array().unwrap().is_empty() {
        return Vec::new();
    }
    let d = call(c, "DescribeTasks", json!({"tasks": arns}));
    d["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["taskArn"].as_str().unwrap().to_string(),
                t["containerInstanceArn"].as_str().unwrap().to_string(),
                t["taskDefinitionArn"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn on(tasks: &[(String, String, String)]) -> Vec<String> {
    let mut v: Vec<String> = tasks.iter().map(|t| t.1.clone()).collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn daemon_runs_one_task_per_matching_instance() {
    let (c, prod, test) = stacks().await;
    register(&c, "agent", "agent:1");
    let s = agent(&c)["service"].clone();
    assert_eq!(s["schedulingStrategy"], "DAEMON");
    assert_eq!(s["deploymentConfiguration"]["maximumPercent"], 100);
    assert_eq!(s["deploymentConfiguration"]["minimumHealthyPercent"], 0);
    c.advance(60).await;
    let s = service(&c);
    assert_eq!(s["desiredCount"], 2);
    assert_eq!(s["runningCount"], 2);
    assert_eq!(on(&daemon_tasks(&c)), sorted(prod.clone()));
    let events: Vec<&str> = s["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(events.contains(&"(service agent) has reached a steady state."));
    assert!(
        events
            .iter()
            .any(|m| m.starts_with("(service agent) has started 2 tasks: (task "))
    );
    let listed = call(&c, "ListServices", json!({"schedulingStrategy": "DAEMON"}));
    assert_eq!(listed["serviceArns"].as_array().unwrap().len(), 1);

    // The test instance starts to match: it gets a daemon task.
    call(
        &c,
        "PutAttributes",
        json!({"attributes": [{"name": "stack", "value": "prod", "targetId": test}]}),
    );
    c.advance(10).await;
    assert_eq!(service(&c)["desiredCount"], 3);
    assert_eq!(
        on(&daemon_tasks(&c)),
        sorted(vec![prod[0].clone(), prod[1].clone(), test.clone()])
    );

    // It stops matching again: its daemon task is stopped.
    call(
        &c,
        "PutAttributes",
        json!({"attributes": [{"name": "stack", "value": "test", "targetId": test}]}),
    );
    c.advance(10).await;
    let s = service(&c);
    assert_eq!(s["desiredCount"], 2);
    assert_eq!(s["runningCount"], 2);
    assert_eq!(on(&daemon_tasks(&c)), sorted(prod.clone()));
    let stopped = call(
        &c,
        "ListTasks",
        json!({"serviceName": "agent", "desiredStatus": "STOPPED"}),
    );
    let d = call(&c, "DescribeTasks", json!({"tasks": stopped["taskArns"]}));
    assert_eq!(d["tasks"][0]["containerInstanceArn"], test.as_str());
    assert_eq!(d["tasks"][0]["stopCode"], "ServiceSchedulerInitiated");
}

#[tokio::test]
async fn daemon_follows_draining_and_deregistration() {
    let (c, prod, _) = stacks().await;
    register(&c, "agent", "agent:1");
    agent(&c);
    c.advance(60).await;
    assert_eq!(service(&c)["runningCount"], 2);

    // DRAINING: the daemon task there is stopped; ACTIVE again: it comes back.
    call(
        &c,
        "UpdateContainerInstancesState",
        json!({"containerInstances": [prod[0]], "status": "DRAINING"}),
    );
    c.advance(10).await;
    assert_eq!(on(&daemon_tasks(&c)), vec![prod[1].clone()]);
    assert_eq!(service(&c)["desiredCount"], 1);
    call(
        &c,
        "UpdateContainerInstancesState",
        json!({"containerInstances": [prod[0]], "status": "ACTIVE"}),
    );
    c.advance(60).await;
    assert_eq!(on(&daemon_tasks(&c)), sorted(prod.clone()));
    assert_eq!(service(&c)["runningCount"], 2);

    // Deregistered: its daemon task goes.
    call(
        &c,
        "DeregisterContainerInstance",
        json!({"containerInstance": prod[1], "force": true}),
    );
    c.advance(10).await;
    assert_eq!(on(&daemon_tasks(&c)), vec![prod[0].clone()]);
    let s = service(&c);
    assert_eq!(
        (s["desiredCount"].clone(), s["runningCount"].clone()),
        (json!(1), json!(1))
    );
}

#[tokio::test]
async fn daemon_deployment_replaces_every_task() {
    let (c, prod, _) = stacks().await;
    register(&c, "agent", "agent:1");
    agent(&c);
    c.advance(60).await;
    let v2 = register(&c, "agent", "agent:2")["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .unwrap()
        .to_string();
    call(
        &c,
        "UpdateService",
        json!({"service": "agent", "taskDefinition": "agent:2"}),
    );
    // min 0 / max 100: the old tasks stop before the new ones start, never more than 2 live.
    for _ in 0..60 {
        c.advance(1).await;
        assert!(daemon_tasks(&c).len() <= 2);
    }
    let tasks = daemon_tasks(&c);
    assert_eq!(on(&tasks), sorted(prod.clone()));
    assert!(tasks.iter().all(|t| t.2 == v2), "{tasks:?}");
    let s = service(&c);
    assert_eq!(s["deployments"].as_array().unwrap().len(), 1);
    assert_eq!(s["deployments"][0]["rolloutState"], "COMPLETED");
    assert_eq!(s["runningCount"], 2);

    // DAEMON has no desired count to set; deleting needs no force.
    let e = err(
        &c,
        "UpdateService",
        json!({"service": "agent", "desiredCount": 3}),
    );
    assert_eq!(e.code, ErrorCode::InvalidParameterException);
    call(&c, "DeleteService", json!({"service": "agent"}));
    c.advance(10).await;
    assert!(daemon_tasks(&c).is_empty());
    assert_eq!(service(&c)["status"], "INACTIVE");
}

#[tokio::test]
async fn daemon_rejects_fargate_and_strategies() {
    let c = cluster(None).await;
    register(&c, "agent", "agent:1");
    for extra in [
        json!({"launchType": "FARGATE"}),
        json!({"placementStrategy": [{"type": "spread", "field": "instanceId"}]}),
    ] {
        let mut body =
            json!({"serviceName": "a", "taskDefinition": "agent", "schedulingStrategy": "DAEMON"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let e = err(&c, "CreateService", body);
        assert_eq!(e.code, ErrorCode::InvalidParameterException, "{e}");
    }
    // Three default instances, no constraints: three daemon tasks.
    call(
        &c,
        "CreateService",
        json!({"serviceName": "agent", "taskDefinition": "agent", "schedulingStrategy": "DAEMON"}),
    );
    c.advance(60).await;
    assert_eq!(service(&c)["runningCount"], 3);
    assert_eq!(daemon_tasks(&c).len(), 3);
}
