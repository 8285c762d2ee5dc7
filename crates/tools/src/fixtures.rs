//! Inputs for benchmarks (native in `benches/validate.rs`, in the browser in
//! `e2e/bench/tools.mjs`), built here so both measure exactly the same text.

use serde_json::{Value, json};

/// A pretty-printed task definition with `containers` containers, each with ports, environment,
/// secrets, logs and a health check (what a real service's containers carry). More than 10
/// containers is an error ECS reports, which the validator finds like any other.
pub fn task_definition(containers: usize) -> String {
    let defs: Vec<Value> = (0..containers)
        .map(|i| {
            let port = 8000 + i;
            json!({
                "name": format!("app-{i}"),
                "image": format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/app-{i}:1.4.{i}"),
                "cpu": 64,
                "memory": 256,
                "memoryReservation": 128,
                "essential": i == 0,
                "portMappings": [{"containerPort": port, "hostPort": 0, "protocol": "tcp"}],
                "environment": [
                    {"name": "LOG_LEVEL", "value": "info"},
                    {"name": "PORT", "value": port.to_string()},
                    {"name": "AWS_REGION", "value": "us-east-1"},
                    {"name": "FEATURE_FLAGS", "value": "search,checkout,recommendations"}
                ],
                "secrets": [
                    {"name": "DB_PASSWORD", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/prod/db-password"}
                ],
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": "/ecs/bench",
                        "awslogs-region": "us-east-1",
                        "awslogs-stream-prefix": format!("app-{i}")
                    }
                },
                "healthCheck": {
                    "command": ["CMD-SHELL", format!("curl -f http://localhost:{port}/health || exit 1")],
                    "interval": 30,
                    "timeout": 5,
                    "retries": 3,
                    "startPeriod": 10
                },
                "ulimits": [{"name": "nofile", "softLimit": 65536, "hardLimit": 65536}]
            })
        })
        .collect();
    let td = json!({
        "family": "bench",
        "taskRoleArn": "arn:aws:iam::123456789012:role/bench-task",
        "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
        "networkMode": "bridge",
        "requiresCompatibilities": ["EC2"],
        "containerDefinitions": defs,
        "tags": [{"key": "team", "value": "platform"}]
    });
    serde_json::to_string_pretty(&td).unwrap_or_default()
}

/// An `explain` input: `instances` container instances as DescribeContainerInstances returns
/// them (three zones, two tasks each, every fifth one short of memory, every seventh draining),
/// their tasks as DescribeTasks returns them, and a service task that needs 512 CPU units,
/// 1024 MiB and an `m5` instance.
pub fn cluster(instances: usize) -> String {
    let arn =
        |i: usize| format!("arn:aws:ecs:us-east-1:123456789012:container-instance/bench/{i:032x}");
    let res = |cpu: usize, mem: usize, ports: &[&str]| {
        json!([
            {"name": "CPU", "type": "INTEGER", "integerValue": cpu},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": mem},
            {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ports},
            {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []}
        ])
    };
    const ZONES: [&str; 3] = ["us-east-1a", "us-east-1b", "us-east-1c"];
    let reserved = ["22", "2375", "2376", "51678", "51679"];
    let mut insts = Vec::with_capacity(instances);
    let mut tasks = Vec::with_capacity(instances * 2);
    for i in 0..instances {
        let short = i % 5 == 0;
        let (task_cpu, task_mem) = if short { (512, 3584) } else { (256, 1024) };
        insts.push(json!({
            "containerInstanceArn": arn(i),
            "ec2InstanceId": format!("i-{i:017x}"),
            "status": if i % 7 == 3 { "DRAINING" } else { "ACTIVE" },
            "agentConnected": true,
            "versionInfo": {"agentVersion": "1.89.0"},
            "registeredAt": 1_767_225_600 + i,
            "runningTasksCount": 2,
            "pendingTasksCount": 0,
            "registeredResources": res(2048, 7680, &reserved),
            "remainingResources": res(2048 - 2 * task_cpu, 7680 - 2 * task_mem, &reserved),
            "attributes": [
                {"name": "ecs.availability-zone", "value": ZONES[i % 3]},
                {"name": "ecs.instance-type", "value": if i % 4 == 1 { "c5.large" } else { "m5.large" }},
                {"name": "ecs.os-type", "value": "linux"},
                {"name": "com.amazonaws.ecs.capability.docker-remote-api.1.21"}
            ]
        }));
        for k in 0..2 {
            tasks.push(json!({
                "taskArn": format!("arn:aws:ecs:us-east-1:123456789012:task/bench/{:032x}", i * 2 + k),
                "containerInstanceArn": arn(i),
                "group": if k == 0 { "service:web" } else { "service:worker" },
                "lastStatus": "RUNNING",
                "desiredStatus": "RUNNING",
                "cpu": task_cpu.to_string(),
                "memory": task_mem.to_string(),
                "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7",
                "containers": [{"name": "app", "cpu": task_cpu.to_string(), "memory": task_mem.to_string(), "networkBindings": []}]
            }));
        }
    }
    let input = json!({
        "instances": insts,
        "tasks": tasks,
        "taskDefinition": {
            "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:8",
            "family": "web",
            "revision": 8,
            "containerDefinitions": [{"name": "app", "image": "nginx:1.27", "cpu": 512, "memory": 1024,
                "portMappings": [{"containerPort": 80, "hostPort": 0, "protocol": "tcp"}]}]
        },
        "group": "service:web",
        "placementConstraints": [{"type": "memberOf", "expression": "attribute:ecs.instance-type =~ m5.*"}],
        "placementStrategy": [],
        "seed": 0
    });
    serde_json::to_string(&input).unwrap_or_default()
}
