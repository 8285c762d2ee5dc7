//! Rule tests for the service and `RunTask` validators, and kind detection on real files.
//!
//! Every code in [`request_rules::CATALOGUE`] has at least one case that makes it fire (code,
//! severity, JSON pointer, and for ECS's own messages the exact text) and the smallest change
//! that makes it go away again, as the task-definition tests do. The cases mutate four valid
//! documents — a Fargate service behind an ALB, an EC2 service with placement rules, a DAEMON
//! service, a Fargate `RunTask` — each checked against its task definition. Then: the forms
//! (ecspresso definitions, `UpdateService`, described services, `describe-services` output),
//! the fixtures in `testdata/services`, kind detection over the task-definition corpus, and
//! property tests (no panics, spans inside the text, every code catalogued).

use super::*;
use crate::json;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Base documents
// ---------------------------------------------------------------------------------------------

const TG: &str =
    "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef";
const ROLE: &str = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole";

/// The Fargate task definition `web`: awsvpc, container `app` on port 80, no health check.
fn web_td() -> Value {
    json!({
        "family": "web",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "executionRoleArn": ROLE,
        "containerDefinitions": [{
            "name": "app",
            "image": "nginx:1.27",
            "portMappings": [{"containerPort": 80}, {"containerPortRange": "9000-9010"}]
        }]
    })
}

/// The EC2 task definition `worker`: bridge mode, containers `app` (8080) and `sidecar`.
fn worker_td() -> Value {
    json!({
        "family": "worker",
        "networkMode": "bridge",
        "requiresCompatibilities": ["EC2"],
        "containerDefinitions": [
            {"name": "app", "image": "example/app:2.1", "memory": 512,
             "portMappings": [{"containerPort": 8080, "hostPort": 0}]},
            {"name": "sidecar", "image": "example/sidecar:1.0", "memory": 128, "essential": false}
        ]
    })
}

fn network() -> Value {
    json!({"awsvpcConfiguration": {"subnets": ["subnet-1", "subnet-2"], "securityGroups": ["sg-1"], "assignPublicIp": "DISABLED"}})
}

/// A valid Fargate service behind an ALB (runs `web`).
fn fargate() -> Value {
    json!({
        "serviceName": "web",
        "cluster": "prod",
        "taskDefinition": "web:3",
        "desiredCount": 2,
        "launchType": "FARGATE",
        "platformVersion": "LATEST",
        "networkConfiguration": network(),
        "loadBalancers": [{"targetGroupArn": TG, "containerName": "app", "containerPort": 80}],
        "healthCheckGracePeriodSeconds": 30,
        "deploymentConfiguration": {"maximumPercent": 200, "minimumHealthyPercent": 100,
            "deploymentCircuitBreaker": {"enable": true, "rollback": true}},
        "deploymentController": {"type": "ECS"},
        "tags": [{"key": "team", "value": "edge"}]
    })
}

/// A valid EC2 service with placement rules behind an ALB target group, which follows the
/// container's dynamic host port (runs `worker`).
fn ec2() -> Value {
    json!({
        "serviceName": "worker",
        "taskDefinition": "worker",
        "desiredCount": 3,
        "launchType": "EC2",
        "placementConstraints": [
            {"type": "memberOf", "expression": "attribute:ecs.instance-type =~ t3.*"},
            {"type": "distinctInstance"}
        ],
        "placementStrategy": [
            {"type": "spread", "field": "attribute:ecs.availability-zone"},
            {"type": "binpack", "field": "memory"}
        ],
        "loadBalancers": [{"targetGroupArn": TG, "containerName": "app", "containerPort": 8080}]
    })
}

/// A valid DAEMON service (runs `worker`).
fn daemon() -> Value {
    json!({
        "serviceName": "agent",
        "taskDefinition": "worker",
        "schedulingStrategy": "DAEMON",
        "launchType": "EC2",
        "placementConstraints": [{"type": "memberOf", "expression": "attribute:ecs.os-type == linux"}],
        "deploymentConfiguration": {"maximumPercent": 100, "minimumHealthyPercent": 0}
    })
}

/// A valid `UpdateService` request moving the Fargate service to Spot capacity (runs `web`).
fn update_fargate() -> Value {
    json!({
        "cluster": "prod",
        "service": "web",
        "taskDefinition": "web:4",
        "capacityProviderStrategy": [{"capacityProvider": "FARGATE", "base": 1, "weight": 1},
                                     {"capacityProvider": "FARGATE_SPOT", "weight": 3}],
        "forceNewDeployment": true
    })
}

/// A valid Fargate `RunTask` input (runs `web`).
fn run_task() -> Value {
    json!({
        "cluster": "prod",
        "taskDefinition": "web:3",
        "count": 1,
        "launchType": "FARGATE",
        "networkConfiguration": network(),
        "startedBy": "ci/deploy-42",
        "group": "migrations",
        "overrides": {"containerOverrides": [{"name": "app", "command": ["./migrate"]}]}
    })
}

fn del(v: &mut Value, key: &str) {
    if let Some(o) = v.as_object_mut() {
        o.remove(key);
    }
}

fn td_of(doc: &Value) -> TaskDefinition {
    let report = validate_task_definition(&doc.to_string(), &Options::default());
    assert!(!report.has_errors(), "{:?}", report.diagnostics);
    report.task_definition().expect("a task definition")
}

/// Which validator a case runs, and against which task definition.
#[derive(Clone, Copy)]
enum Against {
    Service(Option<fn() -> Value>),
    RunTask(Option<fn() -> Value>),
}

fn validate(doc: &Value, against: Against) -> (String, Report) {
    let text = serde_json::to_string_pretty(doc).expect("a Value serialises");
    let report = match against {
        Against::Service(td) => {
            let td = td.map(|t| td_of(&t()));
            validate_service(
                &text,
                &ServiceOptions {
                    task_definition: td.as_ref(),
                },
            )
        }
        Against::RunTask(td) => {
            let td = td.map(|t| td_of(&t()));
            validate_run_task(
                &text,
                &RunTaskOptions {
                    task_definition: td.as_ref(),
                },
            )
        }
    };
    (text, report)
}

fn codes(report: &Report) -> Vec<(&'static str, String)> {
    report
        .diagnostics
        .iter()
        .map(|d| (d.code, d.path.clone()))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The case table machinery
// ---------------------------------------------------------------------------------------------

struct Case {
    name: &'static str,
    base: fn() -> Value,
    against: Against,
    bad: fn(&mut Value),
    fix: fn(&mut Value),
    code: &'static str,
    path: &'static str,
    severity: Severity,
    /// ECS's exact message, for the rules the catalogue marks `ECS`.
    message: Option<&'static str>,
}

const FARGATE: Against = Against::Service(Some(web_td));
const EC2: Against = Against::Service(Some(worker_td));
const RUN: Against = Against::RunTask(Some(web_td));

fn case(
    name: &'static str,
    base: fn() -> Value,
    against: Against,
    bad: fn(&mut Value),
    fix: fn(&mut Value),
) -> Case {
    Case {
        name,
        base,
        against,
        bad,
        fix,
        code: "",
        path: "",
        severity: Severity::Error,
        message: None,
    }
}

impl Case {
    fn error(self, code: &'static str, path: &'static str) -> Self {
        Self {
            code,
            path,
            severity: Severity::Error,
            ..self
        }
    }
    fn warning(self, code: &'static str, path: &'static str) -> Self {
        Self {
            code,
            path,
            severity: Severity::Warning,
            ..self
        }
    }
    fn ecs(self, message: &'static str) -> Self {
        Self {
            message: Some(message),
            ..self
        }
    }
}

fn check_case(c: &Case) -> Option<String> {
    let mut doc = (c.base)();
    (c.bad)(&mut doc);
    let (text, report) = validate(&doc, c.against);
    let mut problems = Vec::new();
    let hit = report
        .diagnostics
        .iter()
        .find(|d| d.code == c.code && d.path == c.path && d.severity == c.severity);
    match hit {
        None => problems.push(format!(
            "expected {} {} at {:?}",
            c.severity, c.code, c.path
        )),
        Some(d) => {
            if let Some(m) = c.message {
                if d.message != m {
                    problems.push(format!("message {:?} is not ECS's {:?}", d.message, m));
                }
            }
            let span = d.span.expect("every diagnostic of a text has a span");
            // An unknown member underlines its name, anything else the value at the path.
            if c.code == "unknown-member" {
                let key = format!("\"{}\"", c.path.rsplit('/').next().unwrap_or_default());
                if text[span.start..span.end] != key {
                    problems.push(format!(
                        "span shows {:?}, not {key}",
                        &text[span.start..span.end]
                    ));
                }
            } else if let Some(v) = doc
                .pointer(c.path)
                .filter(|v| !v.is_object() && !v.is_array())
            {
                let shown = &text[span.start..span.end];
                if shown != serde_json::to_string(v).expect("scalar") {
                    problems.push(format!("span shows {shown:?}, not the value {v}"));
                }
            }
        }
    }
    let mut good = doc;
    (c.fix)(&mut good);
    let (_, fixed) = validate(&good, c.against);
    if fixed.diagnostics.iter().any(|d| d.code == c.code) || fixed.has_errors() {
        problems.push(format!(
            "the fixed document still has findings: {:?}",
            codes(&fixed)
        ));
    }
    (!problems.is_empty()).then(|| {
        format!(
            "case {:?}: {}\n    findings: {:?}",
            c.name,
            problems.join("; "),
            codes(&report)
        )
    })
}

fn check_cases(cases: &[Case]) {
    let failures: Vec<String> = cases.iter().filter_map(check_case).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn all_cases() -> Vec<Case> {
    [
        shared_cases(),
        service_cases(),
        daemon_cases(),
        run_task_cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

// ---------------------------------------------------------------------------------------------
// Case tables
// ---------------------------------------------------------------------------------------------

fn shared_cases() -> Vec<Case> {
    vec![
        case("launch type and strategy", fargate, FARGATE,
            |d| d["capacityProviderStrategy"] = json!([{"capacityProvider": "FARGATE", "weight": 1}]),
            |d| del(d, "launchType"))
            .error("launch-type-and-capacity-provider", "/launchType")
            .ecs("Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again."),
        case("two bases", fargate, FARGATE,
            |d| { del(d, "launchType"); d["capacityProviderStrategy"] = json!([
                {"capacityProvider": "FARGATE", "base": 1, "weight": 1},
                {"capacityProvider": "FARGATE_SPOT", "base": 2, "weight": 1}]); },
            |d| d["capacityProviderStrategy"][1]["base"] = json!(0))
            .error("capacity-provider-strategy", "/capacityProviderStrategy/1/base"),
        case("no weight", fargate, FARGATE,
            |d| { del(d, "launchType"); d["capacityProviderStrategy"] = json!([{"capacityProvider": "FARGATE", "base": 1}]); },
            |d| d["capacityProviderStrategy"][0]["weight"] = json!(1))
            .error("capacity-provider-strategy", "/capacityProviderStrategy"),
        case("provider twice", fargate, FARGATE,
            |d| { del(d, "launchType"); d["capacityProviderStrategy"] = json!([
                {"capacityProvider": "FARGATE", "weight": 1}, {"capacityProvider": "FARGATE", "weight": 2}]); },
            |d| d["capacityProviderStrategy"][1]["capacityProvider"] = json!("FARGATE_SPOT"))
            .error("capacity-provider-strategy", "/capacityProviderStrategy/1/capacityProvider"),
        case("Fargate and Auto Scaling group providers together", fargate, FARGATE,
            |d| { del(d, "launchType"); d["capacityProviderStrategy"] = json!([
                {"capacityProvider": "FARGATE", "weight": 1}, {"capacityProvider": "asg-spot", "weight": 2}]); },
            |d| d["capacityProviderStrategy"][1]["capacityProvider"] = json!("FARGATE_SPOT"))
            .error("capacity-provider-strategy", "/capacityProviderStrategy/1/capacityProvider")
            .ecs("A capacity provider strategy cannot contain a mix of capacity providers using Auto Scaling groups and Fargate providers. Specify one or the other and try again."),
        case("Fargate launch of an EC2 task definition", ec2, EC2,
            |d| { d["launchType"] = json!("FARGATE"); del(d, "placementConstraints"); del(d, "placementStrategy"); },
            |d| d["launchType"] = json!("EC2"))
            .error("launch-type-compatibility", "/launchType")
            .ecs("Task definition does not support launch_type FARGATE."),
        case("Fargate providers for an EC2 task definition", ec2, EC2,
            |d| { del(d, "launchType"); del(d, "placementConstraints"); del(d, "placementStrategy");
                  d["capacityProviderStrategy"] = json!([{"capacityProvider": "FARGATE_SPOT", "weight": 1}]); },
            |d| { del(d, "capacityProviderStrategy"); d["launchType"] = json!("EC2"); })
            .error("launch-type-compatibility", "/capacityProviderStrategy")
            .ecs("Task definition does not support launch_type FARGATE."),
        case("platform version on EC2", ec2, EC2,
            |d| d["platformVersion"] = json!("LATEST"),
            |d| del(d, "platformVersion"))
            .error("platform-version-ec2", "/platformVersion")
            .ecs("The platform version must be null when specifying an EC2 launch type."),
        case("awsvpc without network configuration", fargate, FARGATE,
            |d| del(d, "networkConfiguration"),
            |d| d["networkConfiguration"] = network())
            .error("network-configuration-required", "/networkConfiguration")
            .ecs("Network Configuration must be provided when networkMode 'awsvpc' is specified."),
        case("Fargate without network configuration, no task definition", fargate, Against::Service(None),
            |d| d["networkConfiguration"] = json!({}),
            |d| d["networkConfiguration"] = network())
            .error("network-configuration-required", "/networkConfiguration/awsvpcConfiguration")
            .ecs("Network Configuration must be provided when networkMode 'awsvpc' is specified."),
        case("RunTask without network configuration", run_task, RUN,
            |d| del(d, "networkConfiguration"),
            |d| d["networkConfiguration"] = network())
            .error("network-configuration-required", "/networkConfiguration")
            .ecs("Network Configuration must be provided when networkMode 'awsvpc' is specified."),
        case("network configuration for bridge", ec2, EC2,
            |d| d["networkConfiguration"] = network(),
            |d| del(d, "networkConfiguration"))
            .error("network-configuration-not-awsvpc", "/networkConfiguration")
            .ecs("Network Configuration is not valid for the given networkMode of this task definition."),
        case("public IP on EC2", fargate, FARGATE,
            |d| { d["launchType"] = json!("EC2"); del(d, "platformVersion");
                  d["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] = json!("ENABLED"); },
            |d| d["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] = json!("DISABLED"))
            .error("assign-public-ip", "/networkConfiguration/awsvpcConfiguration/assignPublicIp")
            .ecs("Assign public IP is not supported for this launch type."),
        case("no subnets", fargate, FARGATE,
            |d| d["networkConfiguration"]["awsvpcConfiguration"]["subnets"] = json!([]),
            |d| d["networkConfiguration"] = network())
            .error("network-configuration", "/networkConfiguration/awsvpcConfiguration/subnets")
            // As ECS answered it in awslabs/fargatecli#73.
            .ecs("subnets can not be empty."),
        case("six security groups", run_task, RUN,
            |d| d["networkConfiguration"]["awsvpcConfiguration"]["securityGroups"] = json!(["sg-1", "sg-2", "sg-3", "sg-4", "sg-5", "sg-6"]),
            |d| d["networkConfiguration"] = network())
            .error("network-configuration", "/networkConfiguration/awsvpcConfiguration/securityGroups"),
        case("distinctInstance with an expression", ec2, EC2,
            |d| d["placementConstraints"][1]["expression"] = json!("attribute:ecs.instance-type == t3.small"),
            |d| del(&mut d["placementConstraints"][1], "expression"))
            .error("request-placement-constraint", "/placementConstraints/1/expression")
            // ECS's text (hashicorp/terraform#11446).
            .ecs("distinctInstance expression should not be specified."),
        case("memberOf without an expression", ec2, EC2,
            |d| del(&mut d["placementConstraints"][0], "expression"),
            |d| d["placementConstraints"][0]["expression"] = json!("attribute:stack exists"))
            .error("request-placement-constraint", "/placementConstraints/0"),
        case("expression that does not parse", ec2, EC2,
            |d| d["placementConstraints"][0]["expression"] = json!("attribute:ecs.instance-type =="),
            |d| d["placementConstraints"][0]["expression"] = json!("attribute:ecs.instance-type == t3.small"))
            .error("request-placement-constraint", "/placementConstraints/0/expression"),
        case("eleven constraints", ec2, EC2,
            |d| d["placementConstraints"] = json!(vec![json!({"type": "memberOf", "expression": "attribute:a exists"}); 11]),
            |d| d["placementConstraints"] = json!([{"type": "memberOf", "expression": "attribute:a exists"}]))
            .error("request-placement-constraint", "/placementConstraints"),
        case("binpack by disk", ec2, EC2,
            |d| d["placementStrategy"][1]["field"] = json!("disk"),
            |d| d["placementStrategy"][1]["field"] = json!("cpu"))
            .error("placement-strategy", "/placementStrategy/1/field"),
        case("spread without a field", ec2, EC2,
            |d| del(&mut d["placementStrategy"][0], "field"),
            |d| d["placementStrategy"][0]["field"] = json!("instanceId"))
            .error("placement-strategy", "/placementStrategy/0"),
        case("six strategies", ec2, EC2,
            |d| d["placementStrategy"] = json!(vec![json!({"type": "spread", "field": "host"}); 6]),
            |d| d["placementStrategy"] = json!([{"type": "spread", "field": "host"}]))
            .error("placement-strategy", "/placementStrategy"),
        case("random with a field", ec2, EC2,
            |d| d["placementStrategy"] = json!([{"type": "random", "field": "memory"}]),
            |d| d["placementStrategy"] = json!([{"type": "random"}]))
            .warning("placement-strategy", "/placementStrategy/0/field"),
        case("placement constraints on Fargate", fargate, FARGATE,
            |d| d["placementConstraints"] = json!([{"type": "distinctInstance"}]),
            |d| del(d, "placementConstraints"))
            .error("placement-constraints-fargate", "/placementConstraints")
            // GetSimpl/cloudlift#138, hashicorp/terraform-provider-aws#26337
            .ecs("Placement constraints are not supported with FARGATE launch type."),
        case("placement constraints with Fargate providers", run_task, RUN,
            |d| { del(d, "launchType"); d["capacityProviderStrategy"] = json!([{"capacityProvider": "FARGATE_SPOT", "weight": 1}]);
                  d["placementConstraints"] = json!([{"type": "memberOf", "expression": "attribute:ecs.availability-zone == eu-west-1a"}]); },
            |d| del(d, "placementConstraints"))
            .error("placement-constraints-fargate", "/placementConstraints")
            .ecs("Placement constraints are not supported with FARGATE launch type."),
        case("placement on Fargate", fargate, FARGATE,
            |d| d["placementStrategy"] = json!([{"type": "spread", "field": "attribute:ecs.availability-zone"}]),
            |d| del(d, "placementStrategy"))
            .warning("placement-fargate", "/placementStrategy"),
        case("cluster name with a space", fargate, FARGATE,
            |d| d["cluster"] = json!("prod cluster"),
            |d| d["cluster"] = json!("arn:aws:ecs:eu-west-1:123456789012:cluster/prod"))
            .error("cluster-name", "/cluster"),
        case("task definition reference", run_task, RUN,
            |d| d["taskDefinition"] = json!("web:0"),
            |d| d["taskDefinition"] = json!("arn:aws:ecs:eu-west-1:123456789012:task-definition/web:3"))
            .error("task-definition-reference", "/taskDefinition"),
        case("revision that is not a number", fargate, FARGATE,
            |d| d["taskDefinition"] = json!("arn:aws:ecs:eu-west-1:123456789012:task-definition/web:5}"),
            |d| d["taskDefinition"] = json!("arn:aws:ecs:eu-west-1:123456789012:task-definition/web:5"))
            .error("task-definition-reference", "/taskDefinition")
            // hashicorp/terraform-provider-aws#30313
            .ecs("Invalid revision number."),
        case("image URL as the task definition", fargate, FARGATE,
            |d| d["taskDefinition"] = json!("763412864755.dkr.ecr.eu-west-2.amazonaws.com/web"),
            |d| d["taskDefinition"] = json!("web"))
            .error("task-definition-reference", "/taskDefinition")
            // aws/aws-cli#6774
            .ecs("Family contains invalid characters."),
        case("another family than the task definition", fargate, FARGATE,
            |d| d["taskDefinition"] = json!("api:3"),
            |d| d["taskDefinition"] = json!("web"))
            .warning("task-definition-reference", "/taskDefinition"),
        case("reserved tag", fargate, FARGATE,
            |d| d["tags"] = json!([{"key": "aws:team", "value": "x"}]),
            |d| d["tags"] = json!([{"key": "team", "value": "x"}]))
            .error("tags", "/tags/0/key"),
        case("template in a container name", fargate, FARGATE,
            |d| d["loadBalancers"][0]["containerName"] = json!("{{ must_env `CONTAINER` }}"),
            |d| d["loadBalancers"][0]["containerName"] = json!("app"))
            .warning("template-placeholder", "/loadBalancers/0/containerName"),
        case("unknown member", fargate, FARGATE,
            |d| d["desiredcount"] = json!(2),
            |d| del(d, "desiredcount"))
            .warning("unknown-member", "/desiredcount"),
        case("launch type enum", run_task, RUN,
            |d| d["launchType"] = json!("fargate"),
            |d| d["launchType"] = json!("FARGATE"))
            .error("enum", "/launchType"),
        case("RunTask needs a task definition", run_task, RUN,
            |d| del(d, "taskDefinition"),
            |d| d["taskDefinition"] = json!("web"))
            .error("required", "/taskDefinition"),
    ]
}

fn service_cases() -> Vec<Case> {
    vec![
        case("service name", fargate, FARGATE,
            |d| d["serviceName"] = json!("web service"),
            |d| d["serviceName"] = json!("web-service"))
            .error("service-name", "/serviceName"),
        case("negative desired count", fargate, FARGATE,
            |d| d["desiredCount"] = json!(-1),
            |d| d["desiredCount"] = json!(0))
            .error("desired-count", "/desiredCount"),
        case("desired count above the quota", fargate, FARGATE,
            |d| d["desiredCount"] = json!(6000),
            |d| d["desiredCount"] = json!(5000))
            .warning("desired-count", "/desiredCount"),
        case("desired count missing", fargate, FARGATE,
            |d| del(d, "desiredCount"),
            |d| d["desiredCount"] = json!(1))
            .warning("desired-count-required", "/desiredCount"),
        case("grace period without load balancer", fargate, FARGATE,
            |d| del(d, "loadBalancers"),
            |d| del(d, "healthCheckGracePeriodSeconds"))
            .warning("health-check-grace-period", "/healthCheckGracePeriodSeconds")
            .ecs("Health check grace period is only valid for services configured to use load balancers"),
        case("target group and load balancer name", fargate, FARGATE,
            |d| d["loadBalancers"][0]["loadBalancerName"] = json!("classic"),
            |d| del(&mut d["loadBalancers"][0], "loadBalancerName"))
            .error("load-balancer", "/loadBalancers/0/loadBalancerName"),
        case("Classic Load Balancer with awsvpc", fargate, FARGATE,
            |d| { del(&mut d["loadBalancers"][0], "targetGroupArn"); d["loadBalancers"][0]["loadBalancerName"] = json!("classic"); },
            |d| { del(&mut d["loadBalancers"][0], "loadBalancerName"); d["loadBalancers"][0]["targetGroupArn"] = json!(TG); })
            .error("load-balancer", "/loadBalancers/0/loadBalancerName"),
        case("no container port", fargate, FARGATE,
            |d| del(&mut d["loadBalancers"][0], "containerPort"),
            |d| d["loadBalancers"][0]["containerPort"] = json!(80))
            .error("load-balancer", "/loadBalancers/0"),
        case("six target groups", fargate, FARGATE,
            |d| d["loadBalancers"] = json!((0..6).map(|i| json!({"targetGroupArn": format!("{TG}{i}"), "containerName": "app", "containerPort": 80})).collect::<Vec<_>>()),
            |d| d["loadBalancers"] = json!([{"targetGroupArn": TG, "containerName": "app", "containerPort": 80}]))
            .error("load-balancer", "/loadBalancers"),
        case("same entry twice", fargate, FARGATE,
            |d| d["loadBalancers"] = json!([{"targetGroupArn": TG, "containerName": "app", "containerPort": 80}, {"targetGroupArn": TG, "containerName": "app", "containerPort": 80}]),
            |d| d["loadBalancers"][1]["containerPort"] = json!(9005))
            .error("load-balancer", "/loadBalancers/1"),
        case("no container name", fargate, FARGATE,
            |d| del(&mut d["loadBalancers"][0], "containerName"),
            |d| d["loadBalancers"][0]["containerName"] = json!("app"))
            .error("load-balancer-container-name", "/loadBalancers/0")
            .ecs("Container Name can not be blank."),
        case("container not in the task definition", fargate, FARGATE,
            |d| d["loadBalancers"][0]["containerName"] = json!("web"),
            |d| d["loadBalancers"][0]["containerName"] = json!("app"))
            .error("load-balancer-container-unknown", "/loadBalancers/0/containerName")
            .ecs("The container web does not exist in the task definition."),
        case("port the container does not map", fargate, FARGATE,
            |d| d["loadBalancers"][0]["containerPort"] = json!(8080),
            |d| d["loadBalancers"][0]["containerPort"] = json!(9002))
            .error("load-balancer-container-port", "/loadBalancers/0/containerPort")
            .ecs("The container app did not have a container port 8080 defined."),
        case("role with awsvpc", fargate, FARGATE,
            |d| d["role"] = json!("ecsServiceRole"),
            |d| del(d, "role"))
            .error("service-role", "/role")
            // hashicorp/terraform-provider-aws#4657
            .ecs("You cannot specify an IAM role for services that require a service linked role."),
        case("role without a load balancer", ec2, EC2,
            |d| { d["role"] = json!("arn:aws:iam::123456789012:role/ecsServiceRole"); del(d, "loadBalancers"); },
            |d| d["loadBalancers"] = json!([{"targetGroupArn": TG, "containerName": "app", "containerPort": 8080}]))
            .error("service-role", "/role")
            // cloudposse/terraform-aws-ecs-alb-service-task#118
            .ecs("You cannot specify an IAM role for services that require a service linked role."),
        case("role with two target groups", ec2, EC2,
            |d| { d["role"] = json!("ecsServiceRole");
                  d["loadBalancers"] = json!([{"targetGroupArn": TG, "containerName": "app", "containerPort": 8080},
                                              {"targetGroupArn": format!("{TG}2"), "containerName": "app", "containerPort": 8080}]); },
            |d| d["loadBalancers"].as_array_mut().expect("list").truncate(1))
            .error("service-role", "/role")
            // aws/containers-roadmap#461
            .ecs("You cannot specify an IAM role for services that require a service linked role."),
        case("Classic Load Balancer and a dynamic host port", ec2, EC2,
            |d| { del(&mut d["loadBalancers"][0], "targetGroupArn"); d["loadBalancers"][0]["loadBalancerName"] = json!("classic"); },
            |d| { del(&mut d["loadBalancers"][0], "loadBalancerName"); d["loadBalancers"][0]["targetGroupArn"] = json!(TG); })
            .error("load-balancer-host-port", "/loadBalancers/0/containerPort")
            // aws/aws-sdk-js#1397, hashicorp/terraform#9285
            .ecs("A host port mapping for the container port 8080 is required."),
        case("service registry with a port and a container", fargate, FARGATE,
            |d| d["serviceRegistries"] = json!([{"registryArn": "arn:aws:servicediscovery:eu-west-1:123456789012:service/srv-1", "port": 80, "containerName": "app"}]),
            |d| del(&mut d["serviceRegistries"][0], "containerName"))
            .error("service-registry-port", "/serviceRegistries/0/port")
            // cloudposse/terraform-aws-ecs-web-app#208
            .ecs("Specify a value for either 'port' or the 'containerName' and 'containerPort' combination, but not both. Remove one and retry."),
        case("service registry in bridge mode without a container", ec2, EC2,
            |d| d["serviceRegistries"] = json!([{"registryArn": "arn:aws:servicediscovery:us-east-2:224588347132:service/srv-l2ijonw3ungcigcj"}]),
            |d| { d["serviceRegistries"][0]["containerName"] = json!("app"); d["serviceRegistries"][0]["containerPort"] = json!(8080); })
            .error("service-registry-container", "/serviceRegistries/0")
            // techservicesillinois/terraform-aws-ecs-service#16
            .ecs("When specifying 'host' or 'bridge' for networkMode, values for 'containerName' and 'containerPort' must be specified from the task definition. Registry: arn:aws:servicediscovery:us-east-2:224588347132:service/srv-l2ijonw3ungcigcj"),
        case("strategy change without a forced deployment", update_fargate, FARGATE,
            |d| del(d, "forceNewDeployment"),
            |d| d["forceNewDeployment"] = json!(true))
            .warning("capacity-provider-update", "/capacityProviderStrategy")
            // kayac/ecspresso#481, aws/aws-cdk#34631
            .ecs("When switching from launch type to capacity provider strategy on an existing service, or making a change to a capacity provider strategy on a service that is already using one, you must force a new deployment."),
        case("two service registries", fargate, FARGATE,
            |d| d["serviceRegistries"] = json!([{"registryArn": "arn:aws:servicediscovery:eu-west-1:123456789012:service/srv-1"}, {"registryArn": "arn:aws:servicediscovery:eu-west-1:123456789012:service/srv-2"}]),
            |d| d["serviceRegistries"] = json!([{"registryArn": "arn:aws:servicediscovery:eu-west-1:123456789012:service/srv-1"}]))
            .error("service-registries", "/serviceRegistries/1"),
        case("negative minimum healthy percent", fargate, FARGATE,
            |d| d["deploymentConfiguration"]["minimumHealthyPercent"] = json!(-10),
            |d| d["deploymentConfiguration"]["minimumHealthyPercent"] = json!(50))
            .error("deployment-configuration", "/deploymentConfiguration/minimumHealthyPercent"),
        case("deployment that can neither start nor stop", fargate, FARGATE,
            |d| d["deploymentConfiguration"]["maximumPercent"] = json!(100),
            |d| d["deploymentConfiguration"]["minimumHealthyPercent"] = json!(50))
            .warning("deployment-stuck", "/deploymentConfiguration/maximumPercent")
            .ecs("service (web) was unable to stop or start tasks during a deployment because of the service deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again."),
        case("CodeDeploy without a target group", fargate, FARGATE,
            |d| { d["deploymentController"]["type"] = json!("CODE_DEPLOY"); del(d, "loadBalancers"); del(d, "healthCheckGracePeriodSeconds"); },
            |d| d["loadBalancers"] = json!([{"targetGroupArn": TG, "containerName": "app", "containerPort": 80}]))
            .error("deployment-controller", "/deploymentController/type"),
        case("EXTERNAL with a task definition", fargate, FARGATE,
            |d| d["deploymentController"]["type"] = json!("EXTERNAL"),
            |d| { for k in ["taskDefinition", "loadBalancers", "networkConfiguration", "launchType", "healthCheckGracePeriodSeconds"] { del(d, k); } })
            .error("external-task-set-members", "/taskDefinition")
            .ecs("TaskDefinition must be blank."),
        case("EXTERNAL with load balancers", fargate, FARGATE,
            |d| { d["deploymentController"]["type"] = json!("EXTERNAL"); for k in ["taskDefinition", "networkConfiguration", "launchType"] { del(d, k); } },
            |d| del(d, "loadBalancers"))
            .error("external-task-set-members", "/loadBalancers")
            .ecs("LoadBalancers must be empty or null."),
    ]
}

fn daemon_cases() -> Vec<Case> {
    vec![
        case("daemon with a desired count", daemon, EC2,
            |d| d["desiredCount"] = json!(1),
            |d| del(d, "desiredCount"))
            .error("daemon-desired-count", "/desiredCount")
            .ecs("The daemon scheduling strategy does not support a desired count for services. Remove the desired count value and try again"),
        case("daemon with placement strategies", daemon, EC2,
            |d| d["placementStrategy"] = json!([{"type": "spread", "field": "instanceId"}]),
            |d| del(d, "placementStrategy"))
            .error("daemon-placement-strategy", "/placementStrategy")
            .ecs("The daemon scheduling strategy does not support placement strategies. Remove the placement strategy and try again"),
        case("daemon with capacity providers", daemon, EC2,
            |d| { del(d, "launchType"); d["capacityProviderStrategy"] = json!([{"capacityProvider": "asg-provider", "weight": 1}]); },
            |d| { del(d, "capacityProviderStrategy"); d["launchType"] = json!("EC2"); })
            .error("daemon-capacity-provider", "/capacityProviderStrategy")
            .ecs("Specifying a capacity provider strategy is not supported when you create a service using the DAEMON scheduling strategy."),
        case("daemon on Fargate", daemon, Against::Service(None),
            |d| d["launchType"] = json!("FARGATE"),
            |d| d["launchType"] = json!("EC2"))
            .error("daemon-launch-type", "/launchType"),
        case("daemon with CodeDeploy", daemon, EC2,
            |d| d["deploymentController"] = json!({"type": "CODE_DEPLOY"}),
            |d| d["deploymentController"] = json!({"type": "ECS"}))
            .error("daemon-deployment-controller", "/deploymentController/type"),
        case("daemon maximum percent", daemon, EC2,
            |d| d["deploymentConfiguration"]["maximumPercent"] = json!(200),
            |d| d["deploymentConfiguration"]["maximumPercent"] = json!(100))
            .error("deployment-configuration", "/deploymentConfiguration/maximumPercent")
            // aws/aws-cdk#2209
            .ecs("The daemon scheduling strategy does not support values above 100 for maximumPercent on a deployment configuration. Change the maximumPercent value to 100, and try again"),
    ]
}

fn run_task_cases() -> Vec<Case> {
    vec![
        case(
            "count above 10",
            run_task,
            RUN,
            |d| d["count"] = json!(11),
            |d| d["count"] = json!(10),
        )
        .error("run-task-count", "/count"),
        case(
            "startedBy with a space",
            run_task,
            RUN,
            |d| d["startedBy"] = json!("ci deploy"),
            |d| d["startedBy"] = json!("ci-deploy"),
        )
        .error("started-by", "/startedBy"),
        case(
            "long group",
            run_task,
            RUN,
            |d| d["group"] = json!("g".repeat(256)),
            |d| d["group"] = json!("g".repeat(255)),
        )
        .error("task-group", "/group"),
        case(
            "override without a name",
            run_task,
            RUN,
            |d| del(&mut d["overrides"]["containerOverrides"][0], "name"),
            |d| d["overrides"]["containerOverrides"][0]["name"] = json!("app"),
        )
        .error("container-override", "/overrides/containerOverrides/0"),
        case(
            "container overridden twice",
            run_task,
            RUN,
            |d| {
                d["overrides"]["containerOverrides"] =
                    json!([{"name": "app", "command": ["a"]}, {"name": "app", "cpu": 128}])
            },
            |d| {
                d["overrides"]["containerOverrides"] =
                    json!([{"name": "app", "command": ["a"], "cpu": 128}])
            },
        )
        .warning("container-override", "/overrides/containerOverrides/1/name"),
        case(
            "override of a container not in the task definition",
            run_task,
            RUN,
            |d| d["overrides"]["containerOverrides"][0]["name"] = json!("migrate"),
            |d| d["overrides"]["containerOverrides"][0]["name"] = json!("app"),
        )
        .error(
            "container-override-unknown",
            "/overrides/containerOverrides/0/name",
        )
        .ecs("Override for container named migrate is not a container in the TaskDefinition."),
        case(
            "overrides above 8192 characters",
            run_task,
            RUN,
            |d| {
                d["overrides"]["containerOverrides"][0]["command"] =
                    json!(["sh", "-c", "x".repeat(9000)])
            },
            |d| {
                d["overrides"]["containerOverrides"][0]["command"] =
                    json!(["sh", "-c", "x".repeat(100)])
            },
        )
        .error("overrides-size", "/overrides")
        .ecs("Container Overrides length must be at most 8192"),
        case(
            "task memory override below a container's",
            run_task,
            RUN,
            |d| {
                d["overrides"]["memory"] = json!("1280");
                d["overrides"]["containerOverrides"][0]["memory"] = json!(2048);
            },
            |d| d["overrides"]["memory"] = json!("2048"),
        )
        .error("task-memory-override", "/overrides/memory")
        // artilleryio/artillery#591 (--launch-config '{"cpu":1024,"memory":1280}')
        .ecs("'memory' setting for container 'app' is greater than for task."),
    ]
}

// ---------------------------------------------------------------------------------------------
// Table tests
// ---------------------------------------------------------------------------------------------

#[test]
fn base_documents_are_clean() {
    for (name, doc, against) in [
        ("fargate", fargate(), FARGATE),
        ("fargate without td", fargate(), Against::Service(None)),
        ("ec2", ec2(), EC2),
        ("daemon", daemon(), EC2),
        ("run task", run_task(), RUN),
        ("run task without td", run_task(), Against::RunTask(None)),
        ("update", update_fargate(), FARGATE),
    ] {
        let (_, report) = validate(&doc, against);
        assert!(
            report.diagnostics.is_empty(),
            "{name}: {:?}",
            report.diagnostics
        );
        assert!(!report.syntax_error);
    }
    let (_, report) = validate(&fargate(), FARGATE);
    assert_eq!(report.kind, InputKind::Service);
    assert_eq!(report.request_form, Some(RequestForm::CreateService));
    let (_, report) = validate(&run_task(), RUN);
    assert_eq!(report.kind, InputKind::RunTask);
    assert_eq!(report.request_form, Some(RequestForm::RunTask));
}

#[test]
fn shared_rules() {
    check_cases(&shared_cases());
}

#[test]
fn service_rules() {
    check_cases(&service_cases());
}

#[test]
fn daemon_rules() {
    check_cases(&daemon_cases());
}

#[test]
fn run_task_rules() {
    check_cases(&run_task_cases());
}

/// Every catalogued code has a case, and every code whose text is ECS's own is checked verbatim.
#[test]
fn every_catalogued_rule_has_a_case() {
    let cases = all_cases();
    let mut missing = Vec::new();
    for (code, description) in request_rules::CATALOGUE {
        if !cases.iter().any(|c| c.code == *code) {
            missing.push(format!("{code}: no case"));
        }
        if description.starts_with("ECS")
            && !cases.iter().any(|c| c.code == *code && c.message.is_some())
        {
            missing.push(format!("{code}: ECS's message is not checked"));
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
    assert_eq!(REQUEST_RULES, request_rules::CATALOGUE);
    assert_eq!(all_rules().count(), RULES.len() + REQUEST_RULES.len());
    let mut names: Vec<_> = cases.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names are unique");
}

/// The cluster's texts are kept word for word where it has one (the lead wires the cluster to
/// these rules); a change here must change the cluster too.
#[test]
fn messages_shared_with_the_cluster() {
    let (_, r) = validate(
        &json!({"serviceName": "a b", "desiredCount": -1}),
        Against::Service(None),
    );
    let messages: Vec<_> = r.diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert!(messages.contains(&"Service name can have up to 255 characters: letters (upper and lower case), numbers, underscores and hyphens."));
    assert!(messages.contains(&"desiredCount must be between 0 and 5000."));
    let (_, r) = validate(
        &json!({"taskDefinition": "x", "count": 0, "startedBy": "a b"}),
        Against::RunTask(None),
    );
    let messages: Vec<_> = r.diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert!(messages.contains(&"count must be between 1 and 10."));
    assert!(messages.contains(&"startedBy can have up to 128 letters (uppercase and lowercase), numbers, hyphens, forward slashes and underscores."));
}

// ---------------------------------------------------------------------------------------------
// Forms
// ---------------------------------------------------------------------------------------------

fn service_report(text: &str) -> Report {
    validate_service(text, &ServiceOptions::default())
}

#[test]
fn ecspresso_definitions_need_no_service_name() {
    let mut doc = fargate();
    del(&mut doc, "serviceName");
    del(&mut doc, "taskDefinition");
    // Read-only members copied from describe-services are accepted.
    doc["runningCount"] = json!(0);
    doc["pendingCount"] = json!(0);
    doc["platformFamily"] = json!("Linux");
    let (_, report) = validate(&doc, FARGATE);
    assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics);
    assert_eq!(report.request_form, Some(RequestForm::ServiceDefinition));
    // ecspresso writes an empty launch type beside a capacity provider strategy.
    doc["launchType"] = json!("");
    doc["capacityProviderStrategy"] = json!([{"capacityProvider": "FARGATE", "weight": 1}]);
    let (_, report) = validate(&doc, FARGATE);
    assert_eq!(codes(&report), [("empty-enum", "/launchType".to_string())]);
}

#[test]
fn update_service_keeps_what_it_leaves_out() {
    // No network configuration, no desired count, no load balancers: all kept as they are.
    let text = r#"{"cluster": "prod", "service": "web", "taskDefinition": "web:4", "forceNewDeployment": true,
                   "healthCheckGracePeriodSeconds": 60}"#;
    let td = td_of(&web_td());
    let report = validate_service(
        text,
        &ServiceOptions {
            task_definition: Some(&td),
        },
    );
    assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics);
    assert_eq!(report.request_form, Some(RequestForm::UpdateService));
    // `service` is required; `serviceName` is not a member of UpdateService.
    let report = service_report(r#"{"service": "web", "serviceName": "web", "desiredCount": -2}"#);
    assert_eq!(
        codes(&report),
        [
            ("unknown-member", "/serviceName".to_string()),
            ("desired-count", "/desiredCount".to_string()),
        ]
    );
}

#[test]
fn described_services_accept_read_only_members() {
    let service = json!({
        "serviceArn": "arn:aws:ecs:eu-west-1:123456789012:service/prod/agent",
        "serviceName": "agent",
        "clusterArn": "arn:aws:ecs:eu-west-1:123456789012:cluster/prod",
        "status": "ACTIVE",
        "desiredCount": 3, "runningCount": 3, "pendingCount": 0,
        "launchType": "EC2",
        "taskDefinition": "arn:aws:ecs:eu-west-1:123456789012:task-definition/worker:7",
        "deploymentConfiguration": {"maximumPercent": 100, "minimumHealthyPercent": 0},
        "deployments": [{"id": "ecs-svc/1234567890123456789", "status": "PRIMARY", "desiredCount": 3,
                         "createdAt": "2024-05-01T10:00:00+00:00"}],
        "events": [{"id": "e1", "createdAt": 1714557600.5, "message": "(service agent) has reached a steady state."}],
        "createdAt": "2024-05-01T10:00:00+00:00",
        "placementConstraints": [], "placementStrategy": [],
        "schedulingStrategy": "DAEMON",
        "deploymentController": {"type": "ECS"},
        "createdBy": "arn:aws:iam::123456789012:role/admin",
        "enableECSManagedTags": false, "propagateTags": "NONE", "enableExecuteCommand": false
    });
    let td = td_of(&worker_td());
    let text = serde_json::to_string_pretty(&service).unwrap();
    let report = validate_service(
        &text,
        &ServiceOptions {
            task_definition: Some(&td),
        },
    );
    // A DAEMON service's desiredCount is ECS's echo of the instance count, not an input.
    assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics);
    assert_eq!(report.request_form, Some(RequestForm::Service));

    // describe-services output: every service, with paths into the array.
    let mut broken = service.clone();
    broken["placementStrategy"] = json!([{"type": "binpack", "field": "disk"}]);
    let describe = json!({"services": [service, broken], "failures": [], "ResponseMetadata": {}});
    let text = serde_json::to_string_pretty(&describe).unwrap();
    let report = validate_service(
        &text,
        &ServiceOptions {
            task_definition: Some(&td),
        },
    );
    assert_eq!(report.request_form, Some(RequestForm::DescribeServices));
    assert_eq!(
        codes(&report),
        [
            (
                "daemon-placement-strategy",
                "/services/1/placementStrategy".to_string()
            ),
            (
                "placement-strategy",
                "/services/1/placementStrategy/0/field".to_string()
            ),
            ("unknown-member", "/ResponseMetadata".to_string()),
        ]
    );
    let d = &report.diagnostics[1];
    let span = d.span.unwrap();
    assert_eq!(&text[span.start..span.end], "\"disk\"");

    // create-service output.
    let wrapped = json!({"service": {"serviceName": "web", "launchType": "EC2", "platformVersion": "LATEST", "desiredCount": 1}});
    let report = service_report(&wrapped.to_string());
    assert_eq!(report.request_form, Some(RequestForm::Service));
    assert_eq!(
        codes(&report),
        [(
            "platform-version-ec2",
            "/service/platformVersion".to_string()
        )]
    );
}

#[test]
fn syntax_and_type_errors() {
    for (kind, report) in [
        (InputKind::Service, service_report("{\"serviceName\": }")),
        (
            InputKind::RunTask,
            validate_run_task("{\"count\": }", &RunTaskOptions::default()),
        ),
    ] {
        assert!(report.syntax_error);
        assert_eq!(report.kind, kind);
        assert_eq!(report.diagnostics[0].code, "json-syntax");
    }
    let report = service_report("[1]");
    assert_eq!(codes(&report), [("type", String::new())]);
    assert_eq!(
        report.diagnostics[0].message,
        "A service definition must be a JSON object, found array."
    );
    let report = validate_run_task("\"x\"", &RunTaskOptions::default());
    assert_eq!(
        report.diagnostics[0].message,
        "A RunTask input must be a JSON object, found string."
    );
    // Ill-typed members are reported and left out; the rules still see the rest.
    let report = service_report(
        r#"{"serviceName": "web", "desiredCount": "2", "launchType": "FARGATE", "schedulingStrategy": "DAEMON"}"#,
    );
    assert_eq!(
        codes(&report),
        [
            // A missing member is shown at the opening of the object that lacks it.
            (
                "network-configuration-required",
                "/networkConfiguration".to_string()
            ),
            ("type", "/desiredCount".to_string()),
            ("daemon-launch-type", "/launchType".to_string()),
        ]
    );
    let report = service_report(r#"{"services": {"serviceName": "web"}}"#);
    assert_eq!(codes(&report), [("type", "/services".to_string())]);
}

#[test]
fn task_definition_of_a_report() {
    let report = validate_task_definition(&web_td().to_string(), &Options::default());
    let td = report.task_definition().unwrap();
    assert_eq!(td.family.as_deref(), Some("web"));
    assert_eq!(
        td.compatibilities,
        Some(vec![Compatibility::Ec2, Compatibility::Fargate])
    );
    // Rejected by ECS: compatibilities unknown, so the launch type is not checked against them.
    let mut bad = web_td();
    bad["networkMode"] = json!("bridge");
    let report = validate_task_definition(&bad.to_string(), &Options::default());
    assert!(report.has_errors());
    assert_eq!(report.task_definition().unwrap().compatibilities, None);
    assert!(
        validate_task_definition("[]", &Options::default())
            .task_definition()
            .is_none()
    );
}

// ---------------------------------------------------------------------------------------------
// Real files
// ---------------------------------------------------------------------------------------------

fn testdata(dir: &str) -> Vec<(String, String)> {
    let root = format!("{}/../../testdata/{dir}", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<(String, String)> = std::fs::read_dir(&root)
        .expect("testdata is there")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).expect("a readable file");
            (name, text)
        })
        .collect();
    files.sort();
    files
}

/// No corpus task definition is taken for a service or a RunTask input.
#[test]
fn corpus_task_definitions_are_task_definitions() {
    let files = testdata("corpus/taskdefs");
    assert_eq!(files.len(), 142);
    for (name, text) in &files {
        let kind = detect_kind(text);
        assert!(
            matches!(kind, Some(InputKind::TaskDefinition) | None),
            "{name}: {kind:?}"
        );
    }
    let detected = files
        .iter()
        .filter(|(_, t)| detect_kind(t) == Some(InputKind::TaskDefinition))
        .count();
    assert_eq!(
        detected,
        files.len(),
        "every corpus file has a telling member"
    );
}

/// The fixtures of `testdata/services` (SOURCES.tsv says where each comes from and what it
/// holds): their kind, and exactly the findings SOURCES.tsv expects.
#[test]
fn service_fixtures() {
    let files = testdata("services");
    let daemon_td = files
        .iter()
        .find(|(n, _)| n.starts_with("010-"))
        .map(|(_, t)| validate_task_definition(t, &Options::default()))
        .and_then(|r| r.task_definition())
        .expect("010 is a task definition");
    let expected: &[(&str, InputKind, &[&str])] = &[
        ("001-", InputKind::Service, &["empty-enum"]),
        ("002-", InputKind::Service, &[]),
        ("003-", InputKind::Service, &["required", "empty-enum"]),
        ("004-", InputKind::Service, &[]),
        ("005-", InputKind::Service, &[]),
        ("006-", InputKind::Service, &["required"]),
        ("007-", InputKind::Service, &[]),
        ("008-", InputKind::Service, &[]),
        ("009-", InputKind::Service, &[]),
        ("010-", InputKind::TaskDefinition, &["image-latest"]),
        ("011-", InputKind::Service, &["assign-public-ip"]),
        ("012-", InputKind::RunTask, &[]),
        ("013-", InputKind::RunTask, &[]),
    ];
    assert_eq!(files.len(), expected.len());
    for ((name, text), (prefix, kind, found)) in files.iter().zip(expected) {
        assert!(name.starts_with(prefix), "{name}");
        assert_eq!(detect_kind(text), Some(*kind), "{name}");
        let report = match kind {
            InputKind::Service => service_report(text),
            InputKind::RunTask => validate_run_task(text, &RunTaskOptions::default()),
            InputKind::TaskDefinition => validate_task_definition(text, &Options::default()),
        };
        let got: Vec<_> = report.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(got, *found, "{name}: {:?}", report.diagnostics);
        assert_eq!(report.kind, *kind);
    }
    // The DAEMON definition against its host-mode task definition.
    let (_, daemon_text) = &files[8];
    let report = validate_service(
        daemon_text,
        &ServiceOptions {
            task_definition: Some(&daemon_td),
        },
    );
    assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics);
}

// ---------------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------------

mod props {
    use super::*;
    use proptest::prelude::*;

    fn spans_in_text(text: &str, report: &Report) -> Result<(), TestCaseError> {
        for d in &report.diagnostics {
            let span = d
                .span
                .ok_or_else(|| TestCaseError::fail(format!("{} has no span", d.code)))?;
            prop_assert!(span.start <= span.end && span.end <= text.len());
            prop_assert!(text.is_char_boundary(span.start) && text.is_char_boundary(span.end));
            prop_assert_eq!(
                (span.line, span.column),
                json::line_column(text, span.start)
            );
            prop_assert!(
                all_rules().any(|(c, _)| *c == d.code),
                "{} is not catalogued",
                d.code
            );
        }
        Ok(())
    }

    const WORDS: &[&str] = &[
        "",
        "FARGATE",
        "EC2",
        "DAEMON",
        "REPLICA",
        "CODE_DEPLOY",
        "awsvpc",
        "app",
        "web",
        "spread",
        "binpack",
        "random",
        "memberOf",
        "distinctInstance",
        "attribute:x ==",
        "{{ x }}",
        "arn:",
        "ENABLED",
        "FARGATE_SPOT",
        "LATEST",
    ];

    fn mutate(doc: &mut Value, path: &[usize], choice: usize, depth: usize) {
        let leaf = |choice: usize| match choice % 6 {
            0 => Value::Null,
            1 => json!(WORDS[choice % WORDS.len()]),
            2 => json!((choice as i64) - 3),
            3 => json!([]),
            4 => json!({}),
            _ => json!(choice % 2 == 0),
        };
        let Some((&i, rest)) = path.split_first() else {
            *doc = leaf(choice);
            return;
        };
        match doc {
            Value::Object(map) if !map.is_empty() => {
                let key = map.keys().nth(i % map.len()).cloned().unwrap_or_default();
                if rest.is_empty() || depth > 5 {
                    map.insert(key, leaf(choice));
                } else if let Some(v) = map.get_mut(&key) {
                    mutate(v, rest, choice, depth + 1);
                }
            }
            Value::Array(items) if !items.is_empty() => {
                let n = items.len();
                mutate(&mut items[i % n], rest, choice, depth + 1);
            }
            _ => *doc = leaf(choice),
        }
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in any::<String>()) {
            let r = service_report(&text);
            spans_in_text(&text, &r)?;
            let r = validate_run_task(&text, &RunTaskOptions::default());
            spans_in_text(&text, &r)?;
            let _ = detect_kind(&text);
        }

        #[test]
        fn mutated_inputs_never_panic(
            which in 0usize..4,
            path in proptest::collection::vec(0usize..12, 1..5),
            choice in 0usize..120,
        ) {
            let (mut doc, against) = match which {
                0 => (fargate(), FARGATE),
                1 => (ec2(), EC2),
                2 => (daemon(), EC2),
                _ => (run_task(), RUN),
            };
            mutate(&mut doc, &path, choice, 0);
            let (text, report) = validate(&doc, against);
            spans_in_text(&text, &report)?;
        }
    }
}
