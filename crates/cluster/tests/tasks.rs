use berth_core::protocol::ErrorCode;
use serde_json::json;

use berth_cluster::{ClockMode, Cluster, Config, InstanceSpec};

use crate::support::*;

#[tokio::test]
async fn run_task_lifecycle_to_running_and_stopped() {
    let c = cluster(None).await;
    register(&c, "web", "nginx:1");
    let r = call(
        &c,
        "RunTask",
        json!({"taskDefinition": "web", "count": 2, "startedBy": "me"}),
    );
    assert_eq!(r["tasks"].as_array().unwrap().len(), 2);
    assert_eq!(r["tasks"][0]["lastStatus"], "PROVISIONING");
    assert_eq!(r["tasks"][0]["group"], "family:web");
    let arn = r["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    assert!(arn.starts_with("arn:aws:ecs:us-east-1:000000000000:task/default/"));
    assert_eq!(arn.rsplit('/').next().unwrap().len(), 32);
    c.advance(1).await;
    let d = call(&c, "DescribeTasks", json!({"tasks": [arn]}));
    assert_eq!(d["tasks"][0]["lastStatus"], "PENDING");
    c.advance(3).await;
    let d = call(&c, "DescribeTasks", json!({"tasks": [arn]}));
    assert_eq!(d["tasks"][0]["lastStatus"], "RUNNING");
    assert!(d["tasks"][0]["startedAt"].is_number());
    call(&c, "StopTask", json!({"task": arn, "reason": "done"}));
    let d = call(&c, "DescribeTasks", json!({"tasks": [arn]}));
    assert_eq!(d["tasks"][0]["desiredStatus"], "STOPPED");
    c.advance(3).await;
    let d = call(&c, "DescribeTasks", json!({"tasks": [arn, "0123"]}));
    let t = &d["tasks"][0];
    assert_eq!(t["lastStatus"], "STOPPED");
    assert_eq!(t["stopCode"], "UserInitiated");
    assert_eq!(t["stoppedReason"], "done");
    assert_eq!(t["containers"][0]["exitCode"], 0);
    assert_eq!(d["failures"][0]["reason"], "MISSING");
    let l = call(&c, "ListTasks", json!({"desiredStatus": "STOPPED"}));
    assert_eq!(l["taskArns"], json!([arn]));
    let l = call(&c, "ListTasks", json!({"startedBy": "me"}));
    assert_eq!(l["taskArns"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn run_task_errors_and_failures() {
    let c = cluster(None).await;
    register(&c, "web", "nginx:1");
    let e = err(&c, "RunTask", json!({"taskDefinition": "web", "count": 11}));
    assert_eq!(e.code, ErrorCode::InvalidParameterException);
    let e = err(
        &c,
        "RunTask",
        json!({"taskDefinition": "web", "launchType": "FARGATE"}),
    );
    assert_eq!(
        e.message,
        "Task definition does not support launch_type FARGATE."
    );
    let e = err(&c, "DescribeTasks", json!({"tasks": []}));
    assert_eq!(e.message, "Tasks cannot be empty.");
    let e = err(
        &c,
        "RunTask",
        json!({"taskDefinition": "web", "count": "two"}),
    );
    assert_eq!(e.code, ErrorCode::SerializationException);
    // 3 instances of 4096 MiB: a task of 5000 MiB never fits.
    call(
        &c,
        "RegisterTaskDefinition",
        json!({"family": "big", "containerDefinitions": [{"name": "a", "image": "x:1", "memory": 5000}]}),
    );
    let r = call(&c, "RunTask", json!({"taskDefinition": "big"}));
    assert_eq!(r["tasks"], json!([]));
    assert_eq!(r["failures"][0]["reason"], "RESOURCE:MEMORY");
    let r = call(
        &c,
        "RunTask",
        json!({"taskDefinition": "web", "count": 3,
        "placementConstraints": [{"type": "memberOf", "expression": "attribute:ecs.availability-zone == us-east-1a"}]}),
    );
    let inst: std::collections::BTreeSet<&str> = r["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["availabilityZone"].as_str().unwrap())
        .collect();
    assert_eq!(inst.into_iter().collect::<Vec<_>>(), vec!["us-east-1a"]);
}

#[tokio::test]
async fn list_tasks_pages_over_more_than_100() {
    let c = cluster(None).await;
    call(
        &c,
        "RegisterTaskDefinition",
        json!({"family": "tiny", "containerDefinitions": [{"name": "a", "image": "x:1", "memory": 4, "cpu": 1}]}),
    );
    for _ in 0..25 {
        call(
            &c,
            "RunTask",
            json!({"taskDefinition": "tiny", "count": 10}),
        );
    }
    let mut all = Vec::new();
    let mut token = serde_json::Value::Null;
    loop {
        let l = call(
            &c,
            "ListTasks",
            json!({"nextToken": token, "family": "tiny"}),
        );
        let page = l["taskArns"].as_array().unwrap().clone();
        assert!(page.len() <= 100);
        all.extend(page);
        token = l["nextToken"].clone();
        if token.is_null() {
            break;
        }
    }
    assert_eq!(all.len(), 250);
    let uniq: std::collections::BTreeSet<_> = all.iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(uniq.len(), 250);
    // Every way ListTasks walks its tasks pages in id order, each task once: the STOPPED ones
    // (all tasks), one instance's, and the live set with a small page.
    let pages = |filter: serde_json::Value, size: i32| {
        let mut all: Vec<String> = Vec::new();
        let mut token = serde_json::Value::Null;
        loop {
            let mut req = filter.clone();
            req["nextToken"] = token;
            req["maxResults"] = json!(size);
            let l = call(&c, "ListTasks", req);
            let page = l["taskArns"].as_array().unwrap();
            assert!(page.len() <= size as usize);
            all.extend(page.iter().map(|a| a.as_str().unwrap().to_string()));
            token = l["nextToken"].clone();
            if token.is_null() {
                return all;
            }
        }
    };
    let id = |arn: &String| arn.rsplit('/').next().unwrap().to_string();
    let in_order = |arns: &[String]| arns.windows(2).all(|w| id(&w[0]) < id(&w[1]));
    let live = pages(json!({}), 7);
    assert_eq!(live.len(), 250);
    assert!(in_order(&live));
    for arn in &live[..30] {
        call(&c, "StopTask", json!({"task": arn}));
    }
    let stopped = pages(json!({"desiredStatus": "STOPPED"}), 7);
    assert_eq!(stopped, live[..30].to_vec());
    let d = call(&c, "DescribeTasks", json!({"tasks": [live[40]]}));
    let instance = d["tasks"][0]["containerInstanceArn"].clone();
    let one = pages(json!({"containerInstance": instance}), 3);
    let whole = call(&c, "ListTasks", json!({"containerInstance": instance}));
    assert_eq!(json!(one), whole["taskArns"]);
    assert!(one.len() > 3 && in_order(&one), "{one:?}");
    let e = err(&c, "ListTasks", json!({"nextToken": "zz"}));
    assert_eq!(e.code, ErrorCode::InvalidParameterException);
}

#[tokio::test]
async fn fargate_and_crash() {
    let c = cluster(None).await;
    call(
        &c,
        "RegisterTaskDefinition",
        json!({"family": "fg", "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc",
        "cpu": "256", "memory": "512", "containerDefinitions": [{"name": "a", "image": "x:1"}]}),
    );
    let e = err(
        &c,
        "RunTask",
        json!({"taskDefinition": "fg", "launchType": "FARGATE"}),
    );
    assert_eq!(
        e.message,
        "Network Configuration must be provided when networkMode 'awsvpc' is specified."
    );
    let r = call(
        &c,
        "RunTask",
        json!({"taskDefinition": "fg", "launchType": "FARGATE",
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}}}),
    );
    let arn = r["tasks"][0]["taskArn"].as_str().unwrap().to_string();
    assert_eq!(r["tasks"][0]["launchType"], "FARGATE");
    // The task's ENI: PRECREATED in the request's first subnet, ATTACHED from PENDING on (the
    // simulated runtime has no address to add), DELETED once stopped.
    let eni = &r["tasks"][0]["attachments"];
    assert_eq!(eni.as_array().unwrap().len(), 1, "{eni}");
    assert_eq!(eni[0]["type"], "ElasticNetworkInterface");
    assert_eq!(eni[0]["status"], "PRECREATED");
    assert_eq!(
        eni[0]["details"],
        json!([{"name": "subnetId", "value": "subnet-1"}])
    );
    let id = eni[0]["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 36);
    c.advance(1).await;
    let d = call(&c, "DescribeTasks", json!({"tasks": [arn]}));
    assert_eq!(d["tasks"][0]["lastStatus"], "PENDING");
    assert_eq!(d["tasks"][0]["attachments"][0]["status"], "ATTACHED");
    c.advance(3).await;
    let d = call(&c, "DescribeTasks", json!({"tasks": [arn]}));
    assert_eq!(d["tasks"][0]["lastStatus"], "RUNNING");
    assert_eq!(d["tasks"][0]["attachments"][0]["status"], "ATTACHED");
    assert_eq!(d["tasks"][0]["attachments"][0]["id"], id.as_str());
    c.crash_task(&arn, 137).unwrap();
    c.advance(2).await;
    let d = call(&c, "DescribeTasks", json!({"tasks": [arn]}));
    assert_eq!(d["tasks"][0]["lastStatus"], "STOPPED");
    assert_eq!(d["tasks"][0]["attachments"][0]["status"], "DELETED");
    assert_eq!(
        d["tasks"][0]["attachments"][0]["details"],
        json!([{"name": "subnetId", "value": "subnet-1"}])
    );
    // A bridge-mode task has no ENI.
    register(&c, "web", "nginx:1");
    let r = call(&c, "RunTask", json!({"taskDefinition": "web"}));
    assert_eq!(r["tasks"][0]["attachments"], json!([]));
    assert_eq!(d["tasks"][0]["stopCode"], "EssentialContainerExited");
    assert_eq!(d["tasks"][0]["containers"][0]["exitCode"], 137);
}

/// RunTask keeps the cluster's placement state between calls; interleaved with stops, other
/// placements, instance changes and reconciler passes it must still plan like a fresh one (a
/// debug build checks every kept plan against `Placer::new`).
#[tokio::test]
async fn run_task_reuses_placement_state_across_changes() {
    let c = Cluster::open(Config {
        clock: ClockMode::Manual,
        instances: vec![InstanceSpec {
            count: 12,
            cpu: 8192,
            memory: 16384,
            ..InstanceSpec::default()
        }],
        ..Config::default()
    })
    .await
    .unwrap();
    register(&c, "web", "nginx:1");
    let strategies = [
        json!([]),
        json!([{"type": "binpack", "field": "memory"}]),
        json!([{"type": "spread", "field": "attribute:ecs.availability-zone"},
               {"type": "binpack", "field": "cpu"}]),
        json!([{"type": "spread", "field": "instanceId"}]),
        json!([{"type": "random"}]),
    ];
    let mut arns = Vec::new();
    for k in 0..60usize {
        let mut body = json!({
            "taskDefinition": "web",
            "count": 1 + k % 4,
            "placementStrategy": strategies[k % strategies.len()],
            "group": format!("g{}", k % 3),
        });
        if k % 7 == 0 {
            body["placementConstraints"] = json!([{"type": "distinctInstance"}]);
        }
        if k % 11 == 0 {
            body["placementConstraints"] = json!([{"type": "memberOf",
                "expression": "runningTasksCount < 4"}]);
        }
        let r = call(&c, "RunTask", body);
        for t in r["tasks"].as_array().unwrap() {
            arns.push(t["taskArn"].as_str().unwrap().to_string());
        }
        if k % 5 == 4 {
            let arn = arns.remove(k % arns.len());
            call(&c, "StopTask", json!({"task": arn}));
        }
        if k % 9 == 8 {
            c.advance(2).await;
        }
        if k == 30 {
            let l = call(&c, "ListContainerInstances", json!({}));
            let ci = l["containerInstanceArns"][0].as_str().unwrap().to_string();
            call(
                &c,
                "UpdateContainerInstancesState",
                json!({"containerInstances": [ci], "status": "DRAINING"}),
            );
        }
    }
    assert!(arns.len() > 60);
}

/// ECS answers RunTask on an INACTIVE revision with InvalidParameterException
/// (DefangLabs/defang#775) and UpdateService with ClientException, both `TaskDefinition is
/// inactive`.
#[tokio::test]
async fn an_inactive_revision_is_refused_with_each_operation_s_exception() {
    let c = cluster(None).await;
    register(&c, "web", "nginx:1");
    register(&c, "web", "nginx:2");
    call(
        &c,
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web:2", "desiredCount": 1}),
    );
    call(
        &c,
        "DeregisterTaskDefinition",
        json!({"taskDefinition": "web:1"}),
    );
    let e = err(&c, "RunTask", json!({"taskDefinition": "web:1"}));
    assert_eq!(e.code, ErrorCode::InvalidParameterException);
    assert_eq!(e.message, "TaskDefinition is inactive");
    let e = err(
        &c,
        "UpdateService",
        json!({"service": "web", "taskDefinition": "web:1"}),
    );
    assert_eq!(e.code, ErrorCode::ClientException);
    assert_eq!(e.message, "TaskDefinition is inactive");
    // The active neighbour runs.
    call(&c, "RunTask", json!({"taskDefinition": "web:2"}));
}

/// RunTask with a capacity provider the cluster does not have (dask/dask-cloudprovider#328) and a
/// task memory override below a container's memory (artilleryio/artillery#591), each beside the
/// valid neighbour that runs.
#[tokio::test]
async fn unassociated_providers_and_small_memory_overrides_get_ecs_s_texts() {
    let c = cluster(None).await;
    register(&c, "web", "nginx:1");
    call(
        &c,
        "RegisterTaskDefinition",
        json!({"family": "fg", "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc",
        "cpu": "256", "memory": "512", "containerDefinitions": [{"name": "a", "image": "x:1"}]}),
    );
    // A cluster created without capacity providers (`default` has FARGATE and FARGATE_SPOT).
    call(&c, "CreateCluster", json!({"clusterName": "bare"}));
    let spot = json!({"cluster": "bare", "taskDefinition": "fg",
        "capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
        "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}}});
    let e = err(&c, "RunTask", spot.clone());
    assert_eq!(e.code, ErrorCode::InvalidParameterException);
    assert_eq!(
        e.message,
        "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again."
    );
    call(
        &c,
        "PutClusterCapacityProviders",
        json!({"cluster": "bare", "capacityProviders": ["FARGATE", "FARGATE_SPOT"],
            "defaultCapacityProviderStrategy": []}),
    );
    let r = call(&c, "RunTask", spot);
    assert_eq!(r["tasks"][0]["capacityProviderName"], "FARGATE_SPOT");
    // `web`'s container has memory 256.
    let e = err(
        &c,
        "RunTask",
        json!({"taskDefinition": "web", "overrides": {"memory": "128"}}),
    );
    assert_eq!(e.code, ErrorCode::InvalidParameterException);
    assert_eq!(
        e.message,
        "'memory' setting for container 'app' is greater than for task."
    );
    call(
        &c,
        "RunTask",
        json!({"taskDefinition": "web", "overrides": {"memory": "512"}}),
    );
}

/// The server's path (answers written straight to bytes) says exactly what the `Value` path
/// says, for the actions that have one, found and missing members, with and without tags.
#[tokio::test]
async fn answers_written_straight_to_bytes_equal_the_value_answers() {
    let c = cluster(None).await;
    register(&c, "web", "nginx:1");
    call(
        &c,
        "CreateService",
        json!({"serviceName": "svc", "taskDefinition": "web", "desiredCount": 2,
               "tags": [{"key": "team", "value": "a"}]}),
    );
    let r = call(
        &c,
        "RunTask",
        json!({"taskDefinition": "web", "count": 3, "tags": [{"key": "k", "value": "v"}]}),
    );
    c.advance(5).await;
    let mut arns: Vec<serde_json::Value> = r["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["taskArn"].clone())
        .collect();
    arns.push(json!("0123"));
    let same = |c: &Cluster, cases: &[(&str, serde_json::Value)]| {
        for (action, body) in cases {
            let body = body.to_string();
            let value = c.call_blocking(action, body.as_bytes());
            let bytes = c.call_json_blocking(action, body.as_bytes());
            match (value, bytes) {
                (Ok(v), Ok(b)) => {
                    assert_eq!(
                        serde_json::from_slice::<serde_json::Value>(&b).unwrap(),
                        v,
                        "{action} {body}"
                    );
                    assert_eq!(
                        b,
                        serde_json::to_vec(&v).unwrap(),
                        "{action} {body}: same bytes"
                    );
                }
                (Err(a), Err(b)) => assert_eq!((a.code, a.message), (b.code, b.message)),
                (a, b) => panic!("{action} {body}: {a:?} vs {b:?}"),
            }
        }
    };
    // Those every task or service of which is found are answered from the kept views from
    // their second time on (see `same` twice below).
    let cases = [
        ("DescribeTasks", json!({"tasks": arns[..3]})),
        ("DescribeServices", json!({"services": ["svc"]})),
        ("DescribeTasks", json!({"tasks": arns})),
        ("DescribeTasks", json!({"tasks": arns, "include": ["TAGS"]})),
        ("DescribeTasks", json!({"tasks": []})),
        ("DescribeServices", json!({"services": ["svc", "nope"]})),
        (
            "DescribeServices",
            json!({"services": ["svc"], "include": ["TAGS"]}),
        ),
        (
            "DescribeServices",
            json!({"cluster": "nope", "services": ["svc"]}),
        ),
        ("ListTasks", json!({})),
    ];
    same(&c, &cases);
    same(&c, &cases);
    // Cached views follow the changes: a stopped task, an instance's architecture.
    call(&c, "StopTask", json!({"task": arns[0], "reason": "bye"}));
    let instance =
        call(&c, "ListContainerInstances", json!({}))["containerInstanceArns"][0].clone();
    call(
        &c,
        "PutAttributes",
        json!({"attributes": [{"name": "ecs.cpu-architecture", "value": "arm64",
                               "targetType": "container-instance", "targetId": instance}]}),
    );
    same(&c, &cases);
    same(&c, &cases);
    let d = call(&c, "DescribeTasks", json!({"tasks": [arns[0]]}));
    assert_eq!(d["tasks"][0]["desiredStatus"], "STOPPED");
    let d = call(&c, "DescribeTasks", json!({"tasks": [arns[1]]}));
    assert_eq!(d["tasks"][0]["attributes"][0]["value"], "arm64");
    // A service's kept view follows its own changes and its tasks'.
    let svc = |c: &Cluster| -> serde_json::Value {
        let b = c
            .call_json_blocking("DescribeServices", br#"{"services":["svc"]}"#)
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&b).unwrap()["services"][0].clone()
    };
    assert_eq!(svc(&c)["runningCount"], 2);
    call(
        &c,
        "UpdateService",
        json!({"service": "svc", "desiredCount": 3}),
    );
    assert_eq!(svc(&c)["desiredCount"], 3);
    c.advance(5).await;
    assert_eq!(svc(&c)["runningCount"], 3);
    let task = call(&c, "ListTasks", json!({"serviceName": "svc"}))["taskArns"][0].clone();
    call(&c, "StopTask", json!({"task": task}));
    assert_eq!(svc(&c)["runningCount"], 2, "a stopped task is not counted");
    same(&c, &cases);
}

/// The writes whose answers are written out after the state lock is let go (RunTask,
/// StartTask, RegisterTaskDefinition) answer what a read right after them says, on both paths
/// (bytes for the server, a `Value` for callers in process), and their errors are unchanged.
#[tokio::test]
async fn write_answers_made_after_the_lock_match_what_reads_say() {
    let c = cluster(None).await;
    let body = json!({"family": "late", "containerDefinitions": [
        {"name": "app", "image": "nginx:1", "memory": 64, "portMappings": [{"containerPort": 80}]}]});
    let bytes = c
        .call_json_blocking("RegisterTaskDefinition", body.to_string().as_bytes())
        .unwrap();
    let registered: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let described = call(
        &c,
        "DescribeTaskDefinition",
        json!({"taskDefinition": "late:1"}),
    );
    assert_eq!(registered["taskDefinition"], described["taskDefinition"]);
    assert_eq!(registered["taskDefinition"]["revision"], 1);
    assert_eq!(
        registered["taskDefinition"]["containerDefinitions"][0]["essential"],
        true
    );
    let again = call(&c, "RegisterTaskDefinition", body);
    assert_eq!(again["taskDefinition"]["revision"], 2);
    assert_eq!(
        again["taskDefinition"]["taskDefinitionArn"],
        call(
            &c,
            "DescribeTaskDefinition",
            json!({"taskDefinition": "late"})
        )["taskDefinition"]["taskDefinitionArn"]
    );
    let e = c
        .call_json_blocking("RegisterTaskDefinition", br#"{"family": "late"}"#)
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::ClientException, "{e:?}");

    let bytes = c
        .call_json_blocking(
            "RunTask",
            json!({"taskDefinition": "late:1", "count": 2})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
    let ran: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let arns: Vec<_> = ran["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["taskArn"].clone())
        .collect();
    assert_eq!(arns.len(), 2);
    assert_eq!(ran["failures"], json!([]));
    let described = call(&c, "DescribeTasks", json!({"tasks": arns}));
    assert_eq!(ran["tasks"], described["tasks"]);
    let value = call(&c, "RunTask", json!({"taskDefinition": "late:1"}));
    assert_eq!(value["tasks"][0]["lastStatus"], "PROVISIONING");
    assert_eq!(value["failures"], json!([]));
}

/// A pass with more runtime events than one slice (the reconciler applies them a slice at a
/// time, letting the state lock go in between) applies every one of them, once.
#[tokio::test]
async fn a_pass_with_hundreds_of_events_applies_each_once() {
    let c = cluster(None).await;
    call(
        &c,
        "RegisterTaskDefinition",
        json!({"family": "tiny", "containerDefinitions": [
            {"name": "app", "image": "busybox", "memory": 4, "cpu": 1, "essential": true}
        ]}),
    );
    let mut arns = Vec::new();
    for _ in 0..20 {
        let r = call(
            &c,
            "RunTask",
            json!({"taskDefinition": "tiny", "count": 10}),
        );
        assert_eq!(r["failures"], json!([]), "{r}");
        for t in r["tasks"].as_array().unwrap() {
            arns.push(t["taskArn"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(arns.len(), 200);
    let count = |status: &str| {
        arns.chunks(100)
            .map(|a| {
                let d = call(&c, "DescribeTasks", json!({"tasks": a}));
                d["tasks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|t| t["lastStatus"] == status)
                    .count()
            })
            .sum::<usize>()
    };
    // 200 PENDING events come due in one pass, then 200 RUNNING ones.
    c.advance(1).await;
    assert_eq!(count("PENDING"), 200);
    c.advance(2).await;
    assert_eq!(count("RUNNING"), 200);
    let ci = call(&c, "DescribeClusters", json!({}));
    assert_eq!(ci["clusters"][0]["runningTasksCount"], 200, "{ci}");
    assert_eq!(ci["clusters"][0]["pendingTasksCount"], 0, "{ci}");
}

/// The views DescribeTasks and DescribeServices answer from without the state lock go with what
/// they were made from: a reset forgets them, and a deleted cluster answers
/// `ClusterNotFoundException`, not what it held (created again, it shows its history again).
#[tokio::test]
async fn kept_views_go_with_a_reset_and_a_deleted_cluster() {
    let c = cluster(None).await;
    let json = |action: &str, body: serde_json::Value| {
        c.call_json_blocking(action, body.to_string().as_bytes())
            .map(|b| serde_json::from_slice::<serde_json::Value>(&b).unwrap())
    };
    register(&c, "web", "nginx:1");
    call(&c, "CreateCluster", json!({"clusterName": "other"}));
    let svc = json!({"cluster": "other", "services": ["svc"]});
    call(
        &c,
        "CreateService",
        json!({"cluster": "other", "serviceName": "svc", "taskDefinition": "web", "desiredCount": 0}),
    );
    call(
        &c,
        "DeleteService",
        json!({"cluster": "other", "service": "svc"}),
    );
    c.advance(5).await;
    for _ in 0..2 {
        let d = json("DescribeServices", svc.clone()).unwrap();
        assert_eq!(d["services"][0]["status"], "INACTIVE");
    }
    call(&c, "DeleteCluster", json!({"cluster": "other"}));
    let e = json("DescribeServices", svc.clone()).unwrap_err();
    assert_eq!(e.code, ErrorCode::ClusterNotFoundException);
    call(&c, "CreateCluster", json!({"clusterName": "other"}));
    let d = json("DescribeServices", svc).unwrap();
    assert_eq!(d["services"][0]["status"], "INACTIVE");

    let run = call(&c, "RunTask", json!({"taskDefinition": "web"}));
    let tasks = json!({"tasks": [run["tasks"][0]["taskArn"]]});
    for _ in 0..2 {
        let d = json("DescribeTasks", tasks.clone()).unwrap();
        assert_eq!(d["tasks"][0]["lastStatus"], "PROVISIONING");
    }
    c.reset().await.unwrap();
    let d = json("DescribeTasks", tasks).unwrap();
    assert_eq!(d["tasks"], json!([]));
    assert_eq!(d["failures"][0]["reason"], "MISSING");
}

#[tokio::test]
async fn under_the_simulated_runtime_a_secret_that_does_not_resolve_fails_the_start_as_under_docker()
 {
    let c = cluster(None).await;
    c.call_api_blocking(
        berth_cluster::apis::Api::Ssm,
        "PutParameter",
        br#"{"Name": "/app/present", "Value": "v", "Type": "String"}"#,
    )
    .unwrap();
    let with = |secret: &str| {
        json!({"family": format!("f{}", secret.len()), "executionRoleArn": "arn:aws:iam::000000000000:role/exec",
            "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 32,
            "secrets": [{"name": "X", "valueFrom": secret}]}]})
    };
    call(&c, "RegisterTaskDefinition", with("/app/present"));
    call(&c, "RegisterTaskDefinition", with("/app/absent-one"));
    let run = |family: &str| {
        call(&c, "RunTask", json!({"taskDefinition": family}))["tasks"][0]["taskArn"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let good = run(&format!("f{}", "/app/present".len()));
    let bad = run(&format!("f{}", "/app/absent-one".len()));
    c.advance(5).await;
    let d = call(&c, "DescribeTasks", json!({"tasks": [good, bad]}));
    let by = |arn: &str| {
        d["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["taskArn"] == arn)
            .unwrap()
            .clone()
    };
    assert_eq!(by(&good)["lastStatus"], "RUNNING", "{d:#}");
    let t = by(&bad);
    assert_eq!(t["lastStatus"], "STOPPED", "{t:#}");
    assert_eq!(t["stopCode"], "TaskFailedToStart", "{t:#}");
    assert_eq!(
        t["stoppedReason"],
        "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): invalid parameters: /app/absent-one",
        "{t:#}"
    );
}
