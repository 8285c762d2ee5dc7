use berth_core::protocol::ErrorCode;
use serde_json::{Value, json};

use crate::support::*;

fn service(c: &berth_cluster::Cluster) -> Value {
    call(c, "DescribeServices", json!({"services": ["web"]}))["services"][0].clone()
}

fn messages(s: &Value) -> Vec<String> {
    s["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn service_reaches_steady_state_and_replaces_crashed_tasks() {
    let c = cluster(None).await;
    register(&c, "web", "nginx:1");
    let s = call(
        &c,
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 3}),
    );
    assert_eq!(s["service"]["status"], "ACTIVE");
    c.advance(60).await;
    let s = service(&c);
    assert_eq!(s["runningCount"], 3);
    assert_eq!(s["deployments"].as_array().unwrap().len(), 1);
    assert_eq!(s["deployments"][0]["rolloutState"], "COMPLETED");
    let m = messages(&s);
    assert!(
        m.iter()
            .any(|m| m == "(service web) has reached a steady state."),
        "{m:?}"
    );
    assert!(
        m.iter()
            .any(|m| m.starts_with("(service web) has started 3 tasks: (task ")),
        "{m:?}"
    );
    let tasks = call(&c, "ListTasks", json!({"serviceName": "web"}));
    let victim = tasks["taskArns"][0].as_str().unwrap().to_string();
    c.crash_task(&victim, 1).unwrap();
    c.advance(60).await;
    let s = service(&c);
    assert_eq!(s["runningCount"], 3);
    let tasks = call(&c, "ListTasks", json!({"serviceName": "web"}));
    assert!(
        !tasks["taskArns"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == &victim)
    );
    let e = err(
        &c,
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 1}),
    );
    assert_eq!(e.message, "Creation of service was not idempotent.");
    let e = err(&c, "DeleteService", json!({"service": "web"}));
    assert_eq!(e.code, ErrorCode::InvalidParameterException);
    call(
        &c,
        "DeleteService",
        json!({"service": "web", "force": true}),
    );
    c.advance(10).await;
    assert_eq!(service(&c)["status"], "INACTIVE");
    assert_eq!(
        call(&c, "ListServices", json!({}))["serviceArns"],
        json!([])
    );
}

#[tokio::test]
async fn rolling_update_replaces_every_task() {
    let c = cluster(None).await;
    register(&c, "web", "nginx:1");
    register(&c, "web", "nginx:2");
    call(
        &c,
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web:1", "desiredCount": 2}),
    );
    c.advance(60).await;
    call(
        &c,
        "UpdateService",
        json!({"service": "web", "taskDefinition": "web:2"}),
    );
    c.advance(120).await;
    let s = service(&c);
    assert_eq!(s["deployments"].as_array().unwrap().len(), 1, "{s}");
    assert!(s["taskDefinition"].as_str().unwrap().ends_with("web:2"));
    let tasks = call(&c, "ListTasks", json!({"serviceName": "web"}));
    let d = call(&c, "DescribeTasks", json!({"tasks": tasks["taskArns"]}));
    assert_eq!(d["tasks"].as_array().unwrap().len(), 2);
    assert!(
        d["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["taskDefinitionArn"].as_str().unwrap().ends_with("web:2"))
    );
    let deps = call(&c, "ListServiceDeployments", json!({"service": "web"}));
    assert_eq!(deps["serviceDeployments"].as_array().unwrap().len(), 2);
    assert_eq!(deps["serviceDeployments"][0]["status"], "SUCCESSFUL");
    let arn = deps["serviceDeployments"][0]["serviceDeploymentArn"].clone();
    let dd = call(
        &c,
        "DescribeServiceDeployments",
        json!({"serviceDeploymentArns": [arn]}),
    );
    assert_eq!(
        dd["serviceDeployments"][0]["targetServiceRevision"]["runningTaskCount"],
        2
    );
    let rev = deps["serviceDeployments"][0]["targetServiceRevisionArn"].clone();
    let rv = call(
        &c,
        "DescribeServiceRevisions",
        json!({"serviceRevisionArns": [rev]}),
    );
    assert_eq!(
        rv["serviceRevisions"][0]["containerImages"][0]["image"],
        "nginx:2"
    );
}

#[tokio::test]
async fn circuit_breaker_rolls_back() {
    let c = cluster(None).await;
    register(&c, "web", "nginx:1");
    register(&c, "web", "nginx:broken");
    call(
        &c,
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web:1", "desiredCount": 2,
        "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": true, "rollback": true}}}),
    );
    c.advance(60).await;
    c.fail_next_starts(100).unwrap();
    call(
        &c,
        "UpdateService",
        json!({"service": "web", "taskDefinition": "web:2"}),
    );
    c.advance(30).await;
    c.fail_next_starts(0).unwrap();
    c.advance(120).await;
    let s = service(&c);
    assert!(
        s["taskDefinition"].as_str().unwrap().ends_with("web:1"),
        "{s}"
    );
    assert_eq!(s["runningCount"], 2);
    let m = messages(&s);
    assert!(m.iter().any(|m| m.contains("rolling back")), "{m:?}");
    let deps = call(&c, "ListServiceDeployments", json!({"service": "web"}));
    let statuses: Vec<&str> = deps["serviceDeployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["status"].as_str().unwrap())
        .collect();
    assert!(
        statuses.contains(&"ROLLBACK_SUCCESSFUL")
            || statuses.contains(&"ROLLBACK_FAILED")
            || statuses.contains(&"STOPPED"),
        "{statuses:?}"
    );
    let stopped = call(&c, "ListTasks", json!({"desiredStatus": "STOPPED"}));
    let d = call(
        &c,
        "DescribeTasks",
        json!({"tasks": stopped["taskArns"].as_array().unwrap().iter().take(100).collect::<Vec<_>>()}),
    );
    assert!(
        d["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["stopCode"] == "TaskFailedToStart")
    );
}

#[tokio::test]
async fn unplaceable_service_writes_the_ecs_event() {
    let c = cluster(None).await;
    call(
        &c,
        "RegisterTaskDefinition",
        json!({"family": "web", "containerDefinitions": [{"name": "a", "image": "x:1", "memory": 3000}]}),
    );
    call(
        &c,
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 4}),
    );
    c.advance(5).await;
    let s = service(&c);
    let m = messages(&s);
    assert!(
        m.iter().any(|m| m.starts_with("(service web) was unable to place a task because no container instance met all of its requirements.")),
        "{m:?}"
    );
}

/// The rollout state of the service `web` after `seconds` of cluster time.
async fn rollout_after(healthy_after: Option<u64>, seconds: u32) -> Value {
    let mut config = berth_cluster::Config {
        clock: berth_cluster::ClockMode::Manual,
        ..berth_cluster::Config::default()
    };
    if let Some(s) = healthy_after {
        config.task_healthy_after = std::time::Duration::from_secs(s);
    }
    let c = berth_cluster::Cluster::open(config).await.unwrap();
    register(&c, "web", "nginx:1");
    call(
        &c,
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 2}),
    );
    c.advance(seconds).await;
    call(&c, "DescribeServices", json!({"services": ["web"]}))["services"][0]["deployments"][0]
        ["rolloutState"]
        .clone()
}

#[tokio::test]
async fn task_healthy_after_shortens_local_deployments() {
    // ECS counts a task without a health check healthy after 40 s RUNNING.
    assert_eq!(rollout_after(None, 20).await, "IN_PROGRESS");
    assert_eq!(rollout_after(None, 50).await, "COMPLETED");
    // --task-healthy-after 5: tasks run after ~3 s, so the deployment completes well before 20 s.
    assert_eq!(rollout_after(Some(5), 12).await, "COMPLETED");
    assert_eq!(rollout_after(Some(5), 4).await, "IN_PROGRESS");
}

/// The rules `berth validate` applies to service and RunTask inputs that the handlers did not
/// check before: the cluster answers them with the same texts (ECS's, from public reports).
#[tokio::test]
async fn the_cluster_answers_the_validator_s_request_rules() {
    let c = cluster(None).await;
    call(
        &c,
        "RegisterTaskDefinition",
        json!({"family": "web", "containerDefinitions": [{"name": "app", "image": "nginx:1",
            "memory": 128, "portMappings": [{"containerPort": 80}]}]}),
    );
    let lb = |name: &str, port: i64| {
        json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 1,
            "loadBalancers": [{"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/tg/0123456789abcdef",
                "containerName": name, "containerPort": port}]})
    };
    let e = err(&c, "CreateService", lb("nope", 80));
    assert_eq!(e.code, ErrorCode::InvalidParameterException);
    assert_eq!(
        e.message,
        "The container nope does not exist in the task definition."
    );
    let e = err(&c, "CreateService", lb("app", 8080));
    assert_eq!(
        e.message,
        "The container app did not have a container port 8080 defined."
    );
    // Its valid neighbour passes.
    call(&c, "CreateService", lb("app", 80));
    let e = err(
        &c,
        "CreateService",
        json!({"serviceName": "d", "taskDefinition": "web", "schedulingStrategy": "DAEMON", "desiredCount": 2}),
    );
    assert_eq!(
        e.message,
        "The daemon scheduling strategy does not support a desired count for services. Remove the desired count value and try again"
    );
    let e = err(
        &c,
        "RunTask",
        json!({"taskDefinition": "web", "launchType": "EC2", "platformVersion": "LATEST"}),
    );
    assert_eq!(
        e.message,
        "The platform version must be null when specifying an EC2 launch type."
    );
}

/// ECS refuses a `distinctInstance` constraint with an expression when the service is created
/// (hashicorp/terraform#11446), not later at placement.
#[tokio::test]
async fn a_distinct_instance_expression_is_refused_at_create_service() {
    let c = cluster(None).await;
    register(&c, "web", "nginx:1");
    let e = err(
        &c,
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 1,
            "placementConstraints": [{"type": "distinctInstance", "expression": ""}]}),
    );
    assert_eq!(e.code, ErrorCode::InvalidParameterException);
    assert_eq!(
        e.message,
        "distinctInstance expression should not be specified."
    );
    call(
        &c,
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 1,
            "placementConstraints": [{"type": "distinctInstance"}]}),
    );
}

/// A `taskDefinition` that cannot name a revision gets ECS's answers before any lookup:
/// `Invalid revision number.` (hashicorp/terraform-provider-aws#30313, hashicorp/terraform#17746)
/// and `Family contains invalid characters.` (aws/aws-cli#6774, an image URL passed instead).
#[tokio::test]
async fn task_definition_references_that_cannot_be_revisions_get_ecs_s_answers() {
    let c = cluster(None).await;
    register(&c, "web", "nginx:1");
    let create = |td: &str| json!({"serviceName": "web", "taskDefinition": td, "desiredCount": 1});
    let e = err(
        &c,
        "CreateService",
        create("arn:aws:ecs:us-east-1:000000000000:task-definition/web:1}"),
    );
    assert_eq!(e.code, ErrorCode::InvalidParameterException);
    assert_eq!(e.message, "Invalid revision number.");
    let e = err(&c, "CreateService", create("web:latest"));
    assert_eq!(e.message, "Invalid revision number.");
    let e = err(
        &c,
        "CreateService",
        create("763412864755.dkr.ecr.eu-west-2.amazonaws.com/twm_kestrel_connectivity"),
    );
    assert_eq!(e.code, ErrorCode::ClientException);
    assert_eq!(e.message, "Family contains invalid characters.");
    let e = err(&c, "CreateService", create("nope"));
    assert_eq!(e.message, "TaskDefinition not found.");
    call(
        &c,
        "CreateService",
        create("arn:aws:ecs:us-east-1:000000000000:task-definition/web:1"),
    );
    let e = err(
        &c,
        "UpdateService",
        json!({"service": "web", "taskDefinition": "web:x"}),
    );
    assert_eq!(e.message, "Invalid revision number.");
}

fn fargate_td(c: &berth_cluster::Cluster) {
    call(
        c,
        "RegisterTaskDefinition",
        json!({"family": "fg", "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc",
            "cpu": "256", "memory": "512",
            "containerDefinitions": [{"name": "app", "image": "nginx:1", "portMappings": [{"containerPort": 80}]}]}),
    );
}

fn vpc() -> Value {
    json!({"awsvpcConfiguration": {"subnets": ["subnet-1"]}})
}

/// ECS's texts for a service `role`, a Classic Load Balancer on a dynamic host port and service
/// registries, each beside the valid neighbour that passes.
#[tokio::test]
async fn service_role_classic_load_balancer_and_registries_get_ecs_s_texts() {
    let c = cluster(None).await;
    call(
        &c,
        "RegisterTaskDefinition",
        json!({"family": "web", "containerDefinitions": [{"name": "app", "image": "nginx:1",
            "memory": 128, "portMappings": [{"containerPort": 80}]}]}),
    );
    call(
        &c,
        "RegisterTaskDefinition",
        json!({"family": "static", "containerDefinitions": [{"name": "app", "image": "nginx:1",
            "memory": 128, "portMappings": [{"containerPort": 80, "hostPort": 80}]}]}),
    );
    let tg = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/tg/0123456789abcdef";
    // A role without a load balancer (cloudposse/terraform-aws-ecs-alb-service-task#118).
    let e = err(
        &c,
        "CreateService",
        json!({"serviceName": "a", "taskDefinition": "web", "desiredCount": 1, "role": "ecsServiceRole"}),
    );
    assert_eq!(e.code, ErrorCode::InvalidParameterException);
    assert_eq!(
        e.message,
        "You cannot specify an IAM role for services that require a service linked role."
    );
    // With one target group the role is taken.
    call(
        &c,
        "CreateService",
        json!({"serviceName": "a", "taskDefinition": "web", "desiredCount": 1, "role": "ecsServiceRole",
            "loadBalancers": [{"targetGroupArn": tg, "containerName": "app", "containerPort": 80}]}),
    );
    // A Classic Load Balancer needs a static host port (aws/aws-sdk-js#1397, hashicorp/terraform#9285).
    let clb = |td: &str| {
        json!({"serviceName": "b", "taskDefinition": td, "desiredCount": 1,
            "loadBalancers": [{"loadBalancerName": "classic", "containerName": "app", "containerPort": 80}]})
    };
    let e = err(&c, "CreateService", clb("web"));
    assert_eq!(e.code, ErrorCode::InvalidParameterException);
    assert_eq!(
        e.message,
        "A host port mapping for the container port 80 is required."
    );
    call(&c, "CreateService", clb("static"));
    // Service registries (techservicesillinois/terraform-aws-ecs-service#16,
    // cloudposse/terraform-aws-ecs-web-app#208).
    let srv = "arn:aws:servicediscovery:us-east-2:224588347132:service/srv-l2ijonw3ungcigcj";
    let registry = |r: Value| json!({"serviceName": "c", "taskDefinition": "web", "desiredCount": 1, "serviceRegistries": [r]});
    let e = err(&c, "CreateService", registry(json!({"registryArn": srv})));
    assert_eq!(
        e.message,
        format!(
            "When specifying 'host' or 'bridge' for networkMode, values for 'containerName' and 'containerPort' must be specified from the task definition. Registry: {srv}"
        )
    );
    let e = err(
        &c,
        "CreateService",
        registry(
            json!({"registryArn": srv, "port": 80, "containerName": "app", "containerPort": 80}),
        ),
    );
    assert_eq!(
        e.message,
        "Specify a value for either 'port' or the 'containerName' and 'containerPort' combination, but not both. Remove one and retry."
    );
    call(
        &c,
        "CreateService",
        registry(json!({"registryArn": srv, "containerName": "app", "containerPort": 80})),
    );
}

/// Placement constraints with Fargate (GetSimpl/cloudlift#138,
/// hashicorp/terraform-provider-aws#26337), also through the cluster's default strategy; and a
/// capacity provider strategy change on UpdateService without a forced deployment
/// (kayac/ecspresso#481, aws/aws-cdk#34631).
#[tokio::test]
async fn fargate_placement_constraints_and_strategy_changes_get_ecs_s_texts() {
    let c = cluster(None).await;
    fargate_td(&c);
    let constraints = json!([{"type": "memberOf", "expression": "attribute:ecs.availability-zone == us-east-1a"}]);
    let e = err(
        &c,
        "CreateService",
        json!({"serviceName": "w", "taskDefinition": "fg", "desiredCount": 1, "launchType": "FARGATE",
            "networkConfiguration": vpc(), "placementConstraints": constraints}),
    );
    assert_eq!(e.code, ErrorCode::InvalidParameterException);
    assert_eq!(
        e.message,
        "Placement constraints are not supported with FARGATE launch type."
    );
    call(
        &c,
        "PutClusterCapacityProviders",
        json!({"cluster": "default", "capacityProviders": ["FARGATE", "FARGATE_SPOT"],
            "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}]}),
    );
    // Fargate by the cluster's default strategy: the request alone does not say so.
    let e = err(
        &c,
        "CreateService",
        json!({"serviceName": "w", "taskDefinition": "fg", "desiredCount": 1,
            "networkConfiguration": vpc(), "placementConstraints": constraints}),
    );
    assert_eq!(
        e.message,
        "Placement constraints are not supported with FARGATE launch type."
    );
    call(
        &c,
        "CreateService",
        json!({"serviceName": "w", "taskDefinition": "fg", "desiredCount": 1,
            "networkConfiguration": vpc(),
            "capacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}]}),
    );
    let spot = json!([{"capacityProvider": "FARGATE_SPOT", "weight": 1}]);
    let e = err(
        &c,
        "UpdateService",
        json!({"service": "w", "capacityProviderStrategy": spot}),
    );
    assert_eq!(e.code, ErrorCode::InvalidParameterException);
    assert_eq!(
        e.message,
        "When switching from launch type to capacity provider strategy on an existing service, or making a change to a capacity provider strategy on a service that is already using one, you must force a new deployment."
    );
    // The same strategy needs no new deployment; a change with one is taken.
    call(
        &c,
        "UpdateService",
        json!({"service": "w", "capacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}]}),
    );
    let s = call(
        &c,
        "UpdateService",
        json!({"service": "w", "capacityProviderStrategy": spot, "forceNewDeployment": true}),
    );
    assert_eq!(s["service"]["capacityProviderStrategy"], spot);
    let e = err(
        &c,
        "UpdateService",
        json!({"service": "w", "placementConstraints": constraints}),
    );
    assert_eq!(
        e.message,
        "Placement constraints are not supported with FARGATE launch type."
    );
}

/// The DAEMON scheduler's texts: a capacity provider strategy, given or the cluster's default
/// (aws/containers-roadmap#692), maximumPercent above 100 (aws/aws-cdk#2209), and a desired count
/// on UpdateService (fabfuel/ecs-deploy#59).
#[tokio::test]
async fn daemon_services_get_ecs_s_texts() {
    let c = cluster(None).await;
    register(&c, "agent", "agent:1");
    let daemon = |extra: Value| {
        let mut body = json!({"serviceName": "agent", "taskDefinition": "agent", "schedulingStrategy": "DAEMON"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let strategy_text = "Specifying a capacity provider strategy is not supported when you create a service using the DAEMON scheduling strategy.";
    let e = err(
        &c,
        "CreateService",
        daemon(json!({"capacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}]})),
    );
    assert_eq!(e.code, ErrorCode::InvalidParameterException);
    assert_eq!(e.message, strategy_text);
    let e = err(
        &c,
        "CreateService",
        daemon(json!({"deploymentConfiguration": {"maximumPercent": 200}})),
    );
    assert_eq!(
        e.message,
        "The daemon scheduling strategy does not support values above 100 for maximumPercent on a deployment configuration. Change the maximumPercent value to 100, and try again"
    );
    call(
        &c,
        "PutClusterCapacityProviders",
        json!({"cluster": "default", "capacityProviders": ["FARGATE"],
            "defaultCapacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}]}),
    );
    let e = err(&c, "CreateService", daemon(json!({})));
    assert_eq!(e.message, strategy_text);
    // `--launch-type EC2` is the fix the thread found.
    call(&c, "CreateService", daemon(json!({"launchType": "EC2"})));
    let e = err(
        &c,
        "UpdateService",
        json!({"service": "agent", "desiredCount": 2}),
    );
    assert_eq!(
        e.message,
        "The daemon scheduling strategy does not support a desired count for services. Remove the desired count value and try again"
    );
    call(
        &c,
        "UpdateService",
        json!({"service": "agent", "forceNewDeployment": true}),
    );
}
