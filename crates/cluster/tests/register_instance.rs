use berth_cluster::Cluster;
use berth_cluster::changes::ChangeKind;
use berth_core::protocol::ErrorCode;
use serde_json::{Value, json};

use crate::support::*;

fn doc(instance_id: &str, az: &str, instance_type: &str) -> String {
    json!({
        "accountId": "000000000000",
        "architecture": "x86_64",
        "availabilityZone": az,
        "imageId": "ami-0123456789abcdef0",
        "instanceId": instance_id,
        "instanceType": instance_type,
        "pendingTime": "2024-05-01T10:00:00Z",
        "privateIp": "10.0.1.17",
        "region": "us-east-1",
        "version": "2017-09-30"
    })
    .to_string()
}

fn total(cpu: i64, memory: i64) -> Value {
    json!([
        {"name": "CPU", "type": "INTEGER", "integerValue": cpu},
        {"name": "MEMORY", "type": "INTEGER", "integerValue": memory},
        {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22", "2375", "2376", "51678", "51679"]},
        {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []}
    ])
}

fn resource(list: &Value, name: &str) -> Value {
    let r = list
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {list}"));
    if r["type"] == "INTEGER" {
        r["integerValue"].clone()
    } else {
        r["stringSetValue"].clone()
    }
}

fn attr(ci: &Value, name: &str) -> Option<Value> {
    ci["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name)
        .map(|a| a.get("value").cloned().unwrap_or(Value::Null))
}

fn describe(c: &Cluster, arn: &str) -> Value {
    let d = call(
        c,
        "DescribeContainerInstances",
        json!({"containerInstances": [arn], "include": ["TAGS"]}),
    );
    assert_eq!(d["failures"], json!([]), "{d}");
    d["containerInstances"][0].clone()
}

fn instance_count(c: &Cluster) -> usize {
    call(c, "ListContainerInstances", json!({}))["containerInstanceArns"]
        .as_array()
        .unwrap()
        .len()
}

fn register_big(c: &Cluster, memory: i64) -> Value {
    call(
        c,
        "RegisterContainerInstance",
        json!({
            "cluster": "default",
            "instanceIdentityDocument": doc("i-0b1g0000000000001", "us-east-1b", "m5.2xlarge"),
            "instanceIdentityDocumentSignature": "c2lnbmF0dXJl",
            "totalResources": total(8192, memory),
        }),
    )["containerInstance"]
        .clone()
}

#[tokio::test]
async fn registered_instance_is_described_with_the_document_and_its_resources() {
    let c = cluster(None).await;
    let before = instance_count(&c);
    let r = call(
        &c,
        "RegisterContainerInstance",
        json!({
            "instanceIdentityDocument": doc("i-0abc1234def567890", "us-east-1d", "m5.xlarge"),
            "instanceIdentityDocumentSignature": "c2lnbmF0dXJl",
            "totalResources": [
                {"name": "CPU", "type": "INTEGER", "integerValue": 4096},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": 15000},
                {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22", "8080"]},
                {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": ["53"]}
            ],
            "versionInfo": {"agentVersion": "1.82.1", "agentHash": "abc", "dockerVersion": "DockerVersion: 20.10.25"},
            "attributes": [
                {"name": "stack", "value": "prod"},
                {"name": "com.amazonaws.ecs.capability.logging-driver.awslogs"}
            ],
            "tags": [{"key": "team", "value": "berth"}]
        }),
    )["containerInstance"]
        .clone();
    let arn = r["containerInstanceArn"].as_str().unwrap().to_string();
    assert!(
        arn.starts_with("arn:aws:ecs:us-east-1:000000000000:container-instance/default/"),
        "{arn}"
    );
    assert_eq!(r["tags"], json!([{"key": "team", "value": "berth"}]));
    assert_eq!(instance_count(&c), before + 1);

    let ci = describe(&c, &arn);
    assert_eq!(ci, r, "the answer is what DescribeContainerInstances shows");
    assert_eq!(ci["ec2InstanceId"], "i-0abc1234def567890");
    assert_eq!(ci["status"], "ACTIVE");
    assert_eq!(ci["agentConnected"], true);
    assert_eq!(ci["version"], 1);
    assert_eq!(ci["runningTasksCount"], 0);
    assert_eq!(ci["pendingTasksCount"], 0);
    assert_eq!(ci["versionInfo"]["agentVersion"], "1.82.1");
    assert_eq!(
        ci["registeredAt"].as_f64().unwrap() as i64,
        c.now().timestamp()
    );
    for (name, value) in [
        ("ecs.availability-zone", json!("us-east-1d")),
        ("ecs.instance-type", json!("m5.xlarge")),
        ("ecs.ami-id", json!("ami-0123456789abcdef0")),
        ("ecs.os-type", json!("linux")),
        ("ecs.os-family", json!("LINUX")),
        ("ecs.cpu-architecture", json!("x86_64")),
        ("ecs.capability.container-health-check", Value::Null),
        (
            "com.amazonaws.ecs.capability.docker-remote-api.1.44",
            Value::Null,
        ),
        ("stack", json!("prod")),
        (
            "com.amazonaws.ecs.capability.logging-driver.awslogs",
            Value::Null,
        ),
    ] {
        assert_eq!(attr(&ci, name), Some(value), "{name}");
    }
    for list in ["registeredResources", "remainingResources"] {
        assert_eq!(resource(&ci[list], "CPU"), 4096, "{list}");
        assert_eq!(resource(&ci[list], "MEMORY"), 15000, "{list}");
        assert_eq!(
            resource(&ci[list], "PORTS"),
            json!(["22", "8080"]),
            "{list}"
        );
        assert_eq!(resource(&ci[list], "PORTS_UDP"), json!(["53"]), "{list}");
    }
    // The cluster query language sees the document's attributes.
    let l = call(
        &c,
        "ListContainerInstances",
        json!({"filter": "attribute:ecs.instance-type == m5.xlarge and attribute:ecs.availability-zone == us-east-1d"}),
    );
    assert_eq!(l["containerInstanceArns"], json!([arn]));
    let cl = call(&c, "DescribeClusters", json!({}));
    assert_eq!(
        cl["clusters"][0]["registeredContainerInstancesCount"],
        before as i64 + 1
    );
}

#[tokio::test]
async fn a_bare_registration_gets_an_instance_id_and_the_agents_reserved_ports() {
    let c = cluster(None).await;
    let r = call(
        &c,
        "RegisterContainerInstance",
        json!({"totalResources": [
            {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 2048}
        ]}),
    )["containerInstance"]
        .clone();
    let ec2 = r["ec2InstanceId"].as_str().unwrap();
    assert!(
        ec2.starts_with("i-") && ec2.len() == 19 && ec2[2..].bytes().all(|b| b.is_ascii_hexdigit()),
        "{ec2}"
    );
    assert_eq!(
        resource(&r["registeredResources"], "PORTS"),
        json!(["22", "2375", "2376", "51678", "51679", "51680"])
    );
    assert_eq!(resource(&r["registeredResources"], "PORTS_UDP"), json!([]));
    assert_eq!(attr(&r, "ecs.availability-zone"), Some(json!("us-east-1a")));
    assert_eq!(attr(&r, "ecs.instance-type"), None, "no document, no type");
    // ECS answers container instances with `tags: []` (docs/ecs-response-shapes.md).
    assert_eq!(r["tags"], json!([]));
    // Not idempotent, as in ECS: the same document registers a second container instance.
    let body = json!({
        "instanceIdentityDocument": doc("i-0abc1234def567890", "us-east-1a", "t3.small"),
        "totalResources": total(2048, 1900),
    });
    let a = call(&c, "RegisterContainerInstance", body.clone());
    let b = call(&c, "RegisterContainerInstance", body);
    assert_ne!(
        a["containerInstance"]["containerInstanceArn"],
        b["containerInstance"]["containerInstanceArn"]
    );
    assert_eq!(
        a["containerInstance"]["ec2InstanceId"],
        b["containerInstance"]["ec2InstanceId"]
    );
}

#[tokio::test]
async fn re_registration_keeps_the_arn_the_tasks_and_the_attributes() {
    let c = cluster(None).await;
    let first = register_big(&c, 8000);
    let arn = first["containerInstanceArn"].as_str().unwrap().to_string();
    register(&c, "web", "nginx:1"); // 256 CPU, 256 MiB
    let task = call(
        &c,
        "StartTask",
        json!({"taskDefinition": "web", "containerInstances": [arn]}),
    )["tasks"][0]["taskArn"]
        .as_str()
        .unwrap()
        .to_string();
    c.advance(5).await;
    call(
        &c,
        "PutAttributes",
        json!({"attributes": [{"name": "rack", "value": "r1", "targetId": arn}]}),
    );
    let v = describe(&c, &arn)["version"].as_i64().unwrap();

    let again = call(
        &c,
        "RegisterContainerInstance",
        json!({
            "instanceIdentityDocument": doc("i-0b1g0000000000001", "us-east-1b", "m5.2xlarge"),
            "totalResources": total(8192, 16000),
            "containerInstanceArn": arn,
            "versionInfo": {"agentVersion": "1.90.0"},
        }),
    )["containerInstance"]
        .clone();
    assert_eq!(again["containerInstanceArn"], json!(arn));
    assert_eq!(again["ec2InstanceId"], first["ec2InstanceId"]);
    assert_eq!(again["registeredAt"], first["registeredAt"]);
    assert_eq!(again["version"], v + 1);
    assert_eq!(again["runningTasksCount"], 1);
    assert_eq!(again["versionInfo"]["agentVersion"], "1.90.0");
    assert_eq!(attr(&again, "rack"), Some(json!("r1")));
    assert_eq!(resource(&again["registeredResources"], "MEMORY"), 16000);
    assert_eq!(
        resource(&again["remainingResources"], "MEMORY"),
        16000 - 256,
        "the running task still holds its memory"
    );
    assert_eq!(resource(&again["remainingResources"], "CPU"), 8192 - 256);
    let d = call(&c, "DescribeTasks", json!({"tasks": [task]}));
    assert_eq!(d["tasks"][0]["lastStatus"], "RUNNING");
    assert_eq!(d["tasks"][0]["containerInstanceArn"], json!(arn));
    // The id alone works too.
    let id = arn.rsplit('/').next().unwrap();
    let by_id = call(
        &c,
        "RegisterContainerInstance",
        json!({"totalResources": total(8192, 16000), "containerInstanceArn": id}),
    );
    assert_eq!(
        by_id["containerInstance"]["containerInstanceArn"],
        json!(arn)
    );
    // Stopping the task gives everything back.
    call(&c, "StopTask", json!({"task": task}));
    c.advance(5).await;
    let ci = describe(&c, &arn);
    assert_eq!(resource(&ci["remainingResources"], "MEMORY"), 16000);
    assert_eq!(ci["runningTasksCount"], 0);
}

#[tokio::test]
async fn registering_a_big_enough_instance_places_the_pending_service_task() {
    let c = cluster(None).await;
    call(
        &c,
        "RegisterTaskDefinition",
        json!({"family": "big", "containerDefinitions": [{"name": "a", "image": "x:1", "memory": 6000, "cpu": 512}]}),
    );
    call(
        &c,
        "CreateService",
        json!({"serviceName": "big", "taskDefinition": "big", "desiredCount": 1}),
    );
    c.advance(10).await;
    let s = &call(&c, "DescribeServices", json!({"services": ["big"]}))["services"][0];
    assert_eq!(s["runningCount"], 0);
    assert_eq!(s["pendingCount"], 0);
    let events: Vec<&str> = s["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(
        events.iter().any(|m| m.starts_with(
            "(service big) was unable to place a task because no container instance met all of its requirements."
        ) && m.contains("insufficient memory")),
        "{events:?}"
    );

    let seq = c.changes().seq();
    let ci = register_big(&c, 8192);
    let arn = ci["containerInstanceArn"].as_str().unwrap().to_string();
    let id = arn.rsplit('/').next().unwrap();
    let feed = c.changes().since(seq).unwrap();
    assert!(
        feed.iter().any(|s| s.change.kind == ChangeKind::Instance
            && s.change.name == id
            && s.change.arn.as_deref() == Some(arn.as_str())
            && s.change.cluster.as_deref() == Some("default")),
        "{feed:?}"
    );

    // The next reconciler pass places the task on the new instance; it then starts.
    c.advance(0).await;
    let s = &call(&c, "DescribeServices", json!({"services": ["big"]}))["services"][0];
    assert_eq!(
        s["runningCount"].as_i64().unwrap() + s["pendingCount"].as_i64().unwrap(),
        1,
        "{s}"
    );
    c.advance(5).await;
    let s = &call(&c, "DescribeServices", json!({"services": ["big"]}))["services"][0];
    assert_eq!(s["runningCount"], 1, "{s}");
    let tasks = call(&c, "ListTasks", json!({"serviceName": "big"}))["taskArns"].clone();
    let d = call(&c, "DescribeTasks", json!({"tasks": tasks}));
    assert_eq!(d["tasks"][0]["lastStatus"], "RUNNING");
    assert_eq!(d["tasks"][0]["containerInstanceArn"], json!(arn));
    let ci = describe(&c, &arn);
    assert_eq!(resource(&ci["remainingResources"], "MEMORY"), 8192 - 6000);
    assert_eq!(ci["runningTasksCount"], 1);
}

#[tokio::test]
async fn registered_instances_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let arn;
    {
        let c = cluster(Some(dir.path())).await;
        arn = register_big(&c, 9000)["containerInstanceArn"]
            .as_str()
            .unwrap()
            .to_string();
    }
    let c = cluster(Some(dir.path())).await;
    let ci = describe(&c, &arn);
    assert_eq!(resource(&ci["registeredResources"], "MEMORY"), 9000);
    assert_eq!(attr(&ci, "ecs.instance-type"), Some(json!("m5.2xlarge")));
    assert_eq!(ci["status"], "ACTIVE");
}

#[tokio::test]
async fn bad_registrations_get_ecs_errors_and_change_nothing() {
    let c = cluster(None).await;
    let before = instance_count(&c);
    let seq = c.changes().seq();
    let ok = |extra: Value| {
        let mut b = json!({
            "instanceIdentityDocument": doc("i-0abc1234def567890", "us-east-1a", "m5.large"),
            "totalResources": total(2048, 7000),
        });
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let e = err(
        &c,
        "RegisterContainerInstance",
        ok(json!({"cluster": "nope"})),
    );
    assert_eq!(
        (e.code, e.message.as_str()),
        (ErrorCode::ClusterNotFoundException, "Cluster not found.")
    );
    for (extra, code, needle) in [
        (
            json!({"totalResources": null}),
            ErrorCode::InvalidParameterException,
            "must include CPU and MEMORY",
        ),
        (
            json!({"totalResources": [{"name": "CPU", "type": "INTEGER", "integerValue": 1024}]}),
            ErrorCode::InvalidParameterException,
            "must include CPU and MEMORY",
        ),
        (
            json!({"totalResources": [
                {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
                {"name": "MEMORY", "type": "STRINGSET", "stringSetValue": ["2048"]}
            ]}),
            ErrorCode::InvalidParameterException,
            "MEMORY: it must be of type INTEGER",
        ),
        (
            json!({"totalResources": [
                {"name": "CPU", "type": "INTEGER", "integerValue": -1},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": 2048}
            ]}),
            ErrorCode::InvalidParameterException,
            "non-negative integer",
        ),
        (
            json!({"totalResources": [
                {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": 2048},
                {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22", "70000"]}
            ]}),
            ErrorCode::InvalidParameterException,
            "Invalid port '70000'",
        ),
        (
            json!({"totalResources": [
                {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
                {"name": "CPU", "type": "INTEGER", "integerValue": 2048},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": 2048}
            ]}),
            ErrorCode::InvalidParameterException,
            "more than once",
        ),
        (
            json!({"instanceIdentityDocument": "{not json"}),
            ErrorCode::InvalidParameterException,
            "not a valid instance identity document",
        ),
        (
            json!({"instanceIdentityDocument": "[1, 2]"}),
            ErrorCode::InvalidParameterException,
            "not a valid instance identity document",
        ),
        (
            json!({"attributes": [{"name": "bad name!"}]}),
            ErrorCode::InvalidParameterException,
            "Invalid attribute name",
        ),
        (
            json!({"tags": [{"key": "aws:owner", "value": "x"}]}),
            ErrorCode::InvalidParameterException,
            "reserved prefix",
        ),
        (
            json!({"platformDevices": [{"type": "GPU"}]}),
            ErrorCode::InvalidParameterException,
            "platformDevices",
        ),
        (
            json!({"containerInstanceArn": "arn:aws:ecs:us-east-1:000000000000:container-instance/default/0123456789abcdef0123456789abcdef"}),
            ErrorCode::InvalidParameterException,
            "was not found",
        ),
    ] {
        let e = err(&c, "RegisterContainerInstance", ok(extra.clone()));
        assert_eq!(e.code, code, "{extra}: {}", e.message);
        assert!(e.message.contains(needle), "{extra}: {}", e.message);
    }
    assert_eq!(instance_count(&c), before, "nothing was registered");
    assert_eq!(c.changes().seq(), seq, "nothing was committed");

    // Re-registration checks: another cluster's ARN, another EC2 instance, another instance
    // type, a deregistered instance.
    let ci = call(&c, "RegisterContainerInstance", ok(json!({})))["containerInstance"].clone();
    let arn = ci["containerInstanceArn"].as_str().unwrap().to_string();
    call(&c, "CreateCluster", json!({"clusterName": "other"}));
    let e = err(
        &c,
        "RegisterContainerInstance",
        ok(json!({"cluster": "other", "containerInstanceArn": arn})),
    );
    assert_eq!(
        e.code,
        ErrorCode::InvalidParameterException,
        "{}",
        e.message
    );
    let e = err(
        &c,
        "RegisterContainerInstance",
        ok(json!({
            "containerInstanceArn": arn,
            "instanceIdentityDocument": doc("i-0ffff00000000000f", "us-east-1a", "m5.large"),
        })),
    );
    assert_eq!(e.code, ErrorCode::ClientException, "{}", e.message);
    let e = err(
        &c,
        "RegisterContainerInstance",
        ok(json!({
            "containerInstanceArn": arn,
            "instanceIdentityDocument": doc("i-0abc1234def567890", "us-east-1a", "m5.xlarge"),
        })),
    );
    let id = arn.rsplit('/').next().unwrap();
    assert_eq!(
        (e.code, e.message),
        (
            ErrorCode::ClientException,
            format!(
                "Container instance type changes are not supported. Container instance {id} was previously registered as m5.large."
            )
        )
    );
    call(
        &c,
        "DeregisterContainerInstance",
        json!({"containerInstance": arn}),
    );
    let e = err(
        &c,
        "RegisterContainerInstance",
        ok(json!({"containerInstanceArn": arn})),
    );
    assert_eq!(e.code, ErrorCode::ClientException, "{}", e.message);
    assert!(e.message.contains("deregistered"), "{}", e.message);
    assert_eq!(describe(&c, &arn)["status"], "INACTIVE");
}

#[tokio::test]
async fn gpus_come_from_total_resources_or_platform_devices() {
    let c = cluster(None).await;
    let r = call(
        &c,
        "RegisterContainerInstance",
        json!({
            "totalResources": total(4096, 8000),
            "platformDevices": [{"id": "GPU-aaaa", "type": "GPU"}, {"id": "GPU-bbbb", "type": "GPU"}],
        }),
    )["containerInstance"]
        .clone();
    assert_eq!(resource(&r["registeredResources"], "GPU"), 2);
    assert_eq!(resource(&r["remainingResources"], "GPU"), 2);
    let mut t = total(4096, 8000);
    t.as_array_mut().unwrap().push(
        json!({"name": "GPU", "type": "STRINGSET", "stringSetValue": ["GPU-1", "GPU-2", "GPU-3"]}),
    );
    let r = call(
        &c,
        "RegisterContainerInstance",
        json!({"totalResources": t}),
    )["containerInstance"]
        .clone();
    assert_eq!(resource(&r["registeredResources"], "GPU"), 3);
}
