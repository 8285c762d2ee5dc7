//! Rule tests for the task-definition validator.
//!
//! Every code in [`rules::CATALOGUE`] has at least one case that makes it fire (code, severity,
//! JSON pointer and, for ECS's own messages, the exact text) and the smallest change that makes
//! it go away again. The cases are tables of mutations of two valid documents: a Fargate task and
//! an EC2 bridge task. Property tests then check that no input makes the validator panic or point
//! outside the text, and that generated task definitions round-trip through the model.

use super::*;
use crate::json;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Base documents and mutation helpers
// ---------------------------------------------------------------------------------------------

const ROLE: &str = "arn:aws:iam::123456789012:role/ecsTaskExecutionRole";
const SECRET: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db-password";
const ECR_IMAGE: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/web:1.0";
const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const WINDOWS: &str = "WINDOWS_SERVER_2022_CORE";
/// ECS's answer to an unusable task cpu, as AWS's troubleshooting page quotes it ("Invalid CPU or
/// memory value specified"; cloudlytics.com/compliance-controls/amazon_ecs_10 cites the page).
const CPU_INVALID: &str = "Invalid 'cpu' setting for task. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.";

fn logs(group: &str) -> Value {
    json!({
        "logDriver": "awslogs",
        "options": {"awslogs-group": group, "awslogs-region": "eu-west-1", "awslogs-stream-prefix": "ecs"}
    })
}

fn health() -> Value {
    json!({"command": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"], "interval": 30, "timeout": 5, "retries": 3, "startPeriod": 10})
}

/// A valid Fargate task: awsvpc, 256/512, execution role, awslogs, one container.
fn fargate() -> Value {
    json!({
        "family": "web",
        "executionRoleArn": ROLE,
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{
            "name": "app",
            "image": "nginx:1.27",
            "essential": true,
            "portMappings": [{"containerPort": 80, "protocol": "tcp"}],
            "logConfiguration": logs("/ecs/web"),
            "healthCheck": health()
        }]
    })
}

/// A valid EC2 task in bridge mode: no task-level cpu/memory, an essential app and a sidecar.
fn ec2() -> Value {
    json!({
        "family": "worker",
        "networkMode": "bridge",
        "requiresCompatibilities": ["EC2"],
        "containerDefinitions": [
            {
                "name": "app",
                "image": "example/app:2.1",
                "memory": 512,
                "essential": true,
                "portMappings": [{"containerPort": 8080, "hostPort": 0}],
                "logConfiguration": logs("/ecs/worker"),
                "healthCheck": health()
            },
            {
                "name": "sidecar",
                "image": "example/sidecar:1.0",
                "memory": 128,
                "essential": false,
                "logConfiguration": logs("/ecs/worker")
            }
        ]
    })
}

fn c0(d: &mut Value) -> &mut Value {
    &mut d["containerDefinitions"][0]
}

fn c1(d: &mut Value) -> &mut Value {
    &mut d["containerDefinitions"][1]
}

fn del(v: &mut Value, key: &str) {
    if let Some(o) = v.as_object_mut() {
        o.remove(key);
    }
}

fn pretty(doc: &Value) -> String {
    serde_json::to_string_pretty(doc).expect("a Value serialises")
}

fn run_with(doc: &Value, options: &Options) -> (String, Report) {
    let text = pretty(doc);
    let report = validate_task_definition(&text, options);
    (text, report)
}

fn run(doc: &Value) -> Report {
    run_with(doc, &Options::default()).1
}

fn codes(report: &Report) -> Vec<(&'static str, String)> {
    report
        .diagnostics
        .iter()
        .map(|d| (d.code, d.path.clone()))
        .collect()
}

/// Whether `message` is `template` with each `<n>` standing for one or more digits.
fn matches_template(message: &str, template: &str) -> bool {
    let mut parts = template.split("<n>");
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = message.strip_prefix(first) else {
        return false;
    };
    for part in parts {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        match rest[digits..].strip_prefix(part) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.is_empty()
}

// ---------------------------------------------------------------------------------------------
// The case table machinery
// ---------------------------------------------------------------------------------------------

/// One rule case: `bad` applied to `base` must produce the finding; `fix` applied after `bad`
/// (the smallest change that repairs it) must give a document without that code and no errors.
struct Case {
    name: &'static str,
    base: fn() -> Value,
    bad: fn(&mut Value),
    fix: fn(&mut Value),
    code: &'static str,
    path: &'static str,
    severity: Severity,
    /// ECS's exact message (`<n>` matches digits), for the rules the catalogue marks `ECS`.
    message: Option<&'static str>,
}

fn case(name: &'static str, base: fn() -> Value, bad: fn(&mut Value), fix: fn(&mut Value)) -> Case {
    Case {
        name,
        base,
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

/// Runs one case; returns what is wrong with it, if anything.
fn check_case(c: &Case) -> Option<String> {
    let mut doc = (c.base)();
    (c.bad)(&mut doc);
    let (text, report) = run_with(&doc, &Options::default());
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
                if !matches_template(&d.message, m) {
                    problems.push(format!("message {:?} is not ECS's {:?}", d.message, m));
                }
            }
            // The span underlines the value at the path when the path exists and is a scalar.
            let span = d.span.expect("every diagnostic of a text has a span");
            // (An unknown member underlines its name instead.)
            if c.code == "unknown-member" {
                let key = format!("\"{}\"", c.path.rsplit('/').next().unwrap_or_default());
                if text[span.start..span.end] != key {
                    problems.push(format!(
                        "span shows {:?}, not the member name {key}",
                        &text[span.start..span.end]
                    ));
                }
            } else if let Some(v) = doc
                .pointer(c.path)
                .filter(|v| !v.is_object() && !v.is_array())
            {
                let shown = &text[span.start..span.end];
                if shown != serde_json::to_string(v).expect("scalar") {
                    problems.push(format!(
                        "span shows {shown:?}, not the value {v} at {}",
                        c.path
                    ));
                }
            }
        }
    }
    for d in &report.diagnostics {
        let s = d.span.expect("span");
        if s.start > s.end || s.end > text.len() {
            problems.push(format!("span {s:?} of {} is outside the text", d.code));
        }
    }
    let mut good = doc;
    (c.fix)(&mut good);
    let fixed = run(&good);
    if fixed.diagnostics.iter().any(|d| d.code == c.code) || fixed.has_errors() {
        problems.push(format!(
            "the fixed document still has findings: {:?}",
            codes(&fixed)
        ));
    }
    if problems.is_empty() {
        None
    } else {
        Some(format!(
            "case {:?}: {}\n    findings: {:?}",
            c.name,
            problems.join("; "),
            codes(&report)
        ))
    }
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
        schema_cases(),
        task_cases(),
        container_cases(),
        resource_cases(),
        launch_type_cases(),
        port_cases(),
        reference_cases(),
        volume_cases(),
        secret_and_log_cases(),
        parameter_cases(),
        warning_cases(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

// ---------------------------------------------------------------------------------------------
// Case tables
// ---------------------------------------------------------------------------------------------

fn schema_cases() -> Vec<Case> {
    vec![
        case(
            "container memory as a string",
            fargate,
            |d| c0(d)["memory"] = json!("512"),
            |d| c0(d)["memory"] = json!(512),
        )
        .error("type", "/containerDefinitions/0/memory"),
        case(
            "essential as a string",
            ec2,
            |d| c0(d)["essential"] = json!("true"),
            |d| c0(d)["essential"] = json!(true),
        )
        .error("type", "/containerDefinitions/0/essential"),
        case(
            "family missing",
            fargate,
            |d| del(d, "family"),
            |d| d["family"] = json!("web"),
        )
        .error("required", "/family"),
        case(
            "containerDefinitions missing",
            fargate,
            |d| del(d, "containerDefinitions"),
            |d| d["containerDefinitions"] = fargate()["containerDefinitions"].clone(),
        )
        .error("required", "/containerDefinitions"),
        case(
            "logDriver missing",
            ec2,
            |d| del(&mut c0(d)["logConfiguration"], "logDriver"),
            |d| c0(d)["logConfiguration"]["logDriver"] = json!("awslogs"),
        )
        .error(
            "required",
            "/containerDefinitions/0/logConfiguration/logDriver",
        ),
        case(
            "network mode typo",
            fargate,
            |d| d["networkMode"] = json!("awsvcp"),
            |d| d["networkMode"] = json!("awsvpc"),
        )
        .error("enum", "/networkMode"),
        case(
            "protocol upper case",
            fargate,
            |d| c0(d)["portMappings"][0]["protocol"] = json!("TCP"),
            |d| c0(d)["portMappings"][0]["protocol"] = json!("tcp"),
        )
        .error("enum", "/containerDefinitions/0/portMappings/0/protocol"),
        case(
            "empty network mode",
            ec2,
            |d| d["networkMode"] = json!(""),
            |d| d["networkMode"] = json!("bridge"),
        )
        .warning("empty-enum", "/networkMode"),
        case(
            "empty tag key",
            ec2,
            |d| d["tags"] = json!([{"key": "", "value": "x"}]),
            |d| d["tags"][0]["key"] = json!("team"),
        )
        .error("length", "/tags/0/key"),
        case(
            "memory beyond 32 bits",
            fargate,
            |d| c0(d)["memory"] = json!(3_000_000_000_i64),
            |d| c0(d)["memory"] = json!(512),
        )
        .error("range", "/containerDefinitions/0/memory"),
        case(
            "comma in a tag value",
            ec2,
            |d| d["tags"] = json!([{"key": "team", "value": "a,b"}]),
            |d| d["tags"][0]["value"] = json!("a-b"),
        )
        .error("pattern", "/tags/0/value"),
        case(
            "misspelt member",
            fargate,
            |d| c0(d)["Memory"] = json!(512),
            |d| {
                del(c0(d), "Memory");
                c0(d)["memory"] = json!(512);
            },
        )
        .warning("unknown-member", "/containerDefinitions/0/Memory"),
        case(
            "unknown top-level member",
            ec2,
            |d| d["revisionNote"] = json!("x"),
            |d| del(d, "revisionNote"),
        )
        .warning("unknown-member", "/revisionNote"),
        case(
            "deprecated inferenceAccelerators",
            ec2,
            |d| {
                d["inferenceAccelerators"] =
                    json!([{"deviceName": "eia", "deviceType": "eia2.medium"}])
            },
            |d| del(d, "inferenceAccelerators"),
        )
        .warning("deprecated", "/inferenceAccelerators"),
    ]
}

fn task_cases() -> Vec<Case> {
    vec![
        case("family with a space", fargate, |d| d["family"] = json!("web app"), |d| d["family"] = json!("web-app")).error("family-invalid", "/family"),
        case("family of 256 characters", fargate, |d| d["family"] = json!("f".repeat(256)), |d| d["family"] = json!("f".repeat(255)))
            .error("family-invalid", "/family"),
        case("family empty", fargate, |d| d["family"] = json!(""), |d| d["family"] = json!("w")).error("family-invalid", "/family"),
        case(
            "no containers",
            fargate,
            |d| d["containerDefinitions"] = json!([]),
            |d| d["containerDefinitions"] = fargate()["containerDefinitions"].clone(),
        )
        .error("containers-empty", "/containerDefinitions")
        .ecs("Container list cannot be empty."),
        case(
            "eleven containers",
            ec2,
            |d| {
                let list = d["containerDefinitions"].as_array_mut().expect("list");
                for i in 2..11 {
                    let mut extra = list[1].clone();
                    extra["name"] = json!(format!("sidecar{i}"));
                    list.push(extra);
                }
            },
            |d| {
                d["containerDefinitions"].as_array_mut().expect("list").pop();
            },
        )
        .error("containers-too-many", "/containerDefinitions")
        .ecs("Too many containers."),
        case(
            "over 64 KiB",
            fargate,
            |d| {
                let env: Vec<Value> = (0..700).map(|i| json!({"name": format!("VAR_{i}"), "value": "x".repeat(100)})).collect();
                c0(d)["environment"] = Value::Array(env);
            },
            |d| c0(d)["environment"].as_array_mut().expect("list").truncate(10),
        )
        .error("size-limit", "")
        .ecs("Actual length: '<n>'. Max allowed length is '65536' bytes."),
        case("task cpu not a number", fargate, |d| d["cpu"] = json!("lots"), |d| d["cpu"] = json!("256"))
            .error("task-cpu-invalid", "/cpu")
            .ecs(CPU_INVALID),
        case("task cpu fraction of a unit", fargate, |d| d["cpu"] = json!("0.0001 vCPU"), |d| d["cpu"] = json!("0.25 vCPU")).error("task-cpu-invalid", "/cpu"),
        case("task memory not a number", fargate, |d| d["memory"] = json!("lots"), |d| d["memory"] = json!("0.5 GB")).error("task-memory-invalid", "/memory"),
        case("aws: tag key", ec2, |d| d["tags"] = json!([{"key": "aws:team", "value": "x"}]), |d| d["tags"][0]["key"] = json!("team")).error("tags", "/tags/0/key"),
        case(
            "duplicate tag key",
            ec2,
            |d| d["tags"] = json!([{"key": "team", "value": "a"}, {"key": "team", "value": "b"}]),
            |d| d["tags"][1]["key"] = json!("owner"),
        )
        .error("tags", "/tags/1/key"),
        case(
            "51 tags",
            ec2,
            |d| d["tags"] = Value::Array((0..51).map(|i| json!({"key": format!("k{i}"), "value": "v"})).collect()),
            |d| {
                d["tags"].as_array_mut().expect("list").pop();
            },
        )
        .error("tags", "/tags"),
        case("51 tags are too long a list", ec2, |d| d["tags"] = Value::Array((0..51).map(|i| json!({"key": format!("k{i}"), "value": "v"})).collect()), |d| {
            d["tags"].as_array_mut().expect("list").pop();
        })
        .error("length", "/tags"),
        case("ephemeral storage 20 GiB", fargate, |d| d["ephemeralStorage"] = json!({"sizeInGiB": 20}), |d| d["ephemeralStorage"]["sizeInGiB"] = json!(21))
            .error("ephemeral-storage", "/ephemeralStorage/sizeInGiB"),
        case("ephemeral storage 201 GiB", fargate, |d| d["ephemeralStorage"] = json!({"sizeInGiB": 201}), |d| d["ephemeralStorage"]["sizeInGiB"] = json!(200))
            .error("ephemeral-storage", "/ephemeralStorage/sizeInGiB"),
        case(
            "placement constraint not CQL",
            ec2,
            |d| d["placementConstraints"] = json!([{"type": "memberOf", "expression": "runningTasksCount =~ 1"}]),
            |d| d["placementConstraints"][0]["expression"] = json!("attribute:ecs.instance-type =~ t3.*"),
        )
        .error("placement-constraint", "/placementConstraints/0/expression"),
        case(
            "placement constraint without expression",
            ec2,
            |d| d["placementConstraints"] = json!([{"type": "memberOf"}]),
            |d| d["placementConstraints"][0]["expression"] = json!("attribute:ecs.os-type == linux"),
        )
        .error("placement-constraint", "/placementConstraints/0"),
        case(
            "placement constraint over 2000 characters",
            ec2,
            |d| d["placementConstraints"] = json!([{"type": "memberOf", "expression": format!("attribute:a == {}", "b".repeat(2000))}]),
            |d| d["placementConstraints"][0]["expression"] = json!("attribute:a == b"),
        )
        .error("placement-constraint", "/placementConstraints/0/expression"),
        case(
            "eleven placement constraints",
            ec2,
            |d| d["placementConstraints"] = Value::Array(vec![json!({"type": "memberOf", "expression": "attribute:ecs.os-type == linux"}); 11]),
            |d| {
                d["placementConstraints"].as_array_mut().expect("list").pop();
            },
        )
        .error("placement-constraint", "/placementConstraints"),
        case(
            "distinctInstance in a task definition",
            ec2,
            |d| d["placementConstraints"] = json!([{"type": "distinctInstance"}]),
            |d| d["placementConstraints"] = json!([{"type": "memberOf", "expression": "attribute:ecs.os-type == linux"}]),
        )
        .error("placement-constraint-type", "/placementConstraints/0/type")
        // aws-samples/aws-cdk-examples#628
        .ecs("constraint.type 'distinctInstance' is not supported."),
        case(
            "task role that is a cluster ARN",
            ec2,
            |d| d["taskRoleArn"] = json!("arn:aws:ecs:eu-west-1:123456789012:cluster/prod"),
            |d| d["taskRoleArn"] = json!("arn:aws:iam::123456789012:role/service-role/worker"),
        )
        .error("role-invalid", "/taskRoleArn")
        // aws-samples/aws-modern-application-workshop#9 (a cluster ARN and a stack ARN given as
        // the roles); fabfuel/ecs-deploy#231.
        .ecs("Role is not valid"),
        case(
            "execution role that is a stack ARN",
            fargate,
            |d| d["executionRoleArn"] = json!("arn:aws:cloudformation:eu-west-1:123456789012:stack/web/0a1b2c3d"),
            |d| d["executionRoleArn"] = json!("ecsTaskExecutionRole"),
        )
        .error("role-invalid", "/executionRoleArn")
        .ecs("Role is not valid"),
    ]
}

fn container_cases() -> Vec<Case> {
    vec![
        case(
            "container without name",
            fargate,
            |d| del(c0(d), "name"),
            |d| c0(d)["name"] = json!("app"),
        )
        .error("container-name-required", "/containerDefinitions/0/name")
        .ecs("Container.name should not be null or empty."),
        case(
            "container with empty name",
            fargate,
            |d| c0(d)["name"] = json!(""),
            |d| c0(d)["name"] = json!("app"),
        )
        .error("container-name-required", "/containerDefinitions/0/name")
        .ecs("Container.name should not be null or empty."),
        case(
            "container name with a space",
            fargate,
            |d| c0(d)["name"] = json!("my app"),
            |d| c0(d)["name"] = json!("my-app"),
        )
        .error("container-name-invalid", "/containerDefinitions/0/name")
        // ansible/ansible#22860
        .ecs("Container.name contains invalid characters."),
        case(
            "two containers named app",
            ec2,
            |d| c1(d)["name"] = json!("app"),
            |d| c1(d)["name"] = json!("sidecar"),
        )
        .error("container-name-duplicate", "/containerDefinitions/1/name")
        // Shippable/support#2946, metaps/genova#291
        .ecs("Container names must be unique within a Task Definition."),
        case(
            "container without image",
            fargate,
            |d| del(c0(d), "image"),
            |d| c0(d)["image"] = json!("nginx:1.27"),
        )
        .error("image-required", "/containerDefinitions/0/image")
        .ecs("Container.image should not be null or empty."),
        case(
            "container with empty image",
            fargate,
            |d| c0(d)["image"] = json!(""),
            |d| c0(d)["image"] = json!("nginx:1.27"),
        )
        .error("image-required", "/containerDefinitions/0/image")
        .ecs("Container.image should not be null or empty."),
        case(
            "short digest",
            fargate,
            |d| c0(d)["image"] = json!("nginx@sha256:abc"),
            |d| c0(d)["image"] = json!(format!("nginx@{DIGEST}")),
        )
        .error("image-invalid", "/containerDefinitions/0/image"),
        case(
            "md5 digest",
            fargate,
            |d| c0(d)["image"] = json!("nginx@md5:0123456789abcdef0123456789abcdef"),
            |d| c0(d)["image"] = json!(format!("nginx@{DIGEST}")),
        )
        .error("image-invalid", "/containerDefinitions/0/image"),
        case(
            "image of 258 characters",
            fargate,
            |d| c0(d)["image"] = json!(format!("{}:1", "a".repeat(256))),
            |d| c0(d)["image"] = json!(format!("{}:1", "a".repeat(253))),
        )
        .error("image-invalid", "/containerDefinitions/0/image"),
        case(
            "long image with digest",
            fargate,
            |d| c0(d)["image"] = json!(format!("{}@{DIGEST}", "a".repeat(256))),
            |d| c0(d)["image"] = json!(format!("{}@{DIGEST}", "a".repeat(255))),
        )
        .error("image-invalid", "/containerDefinitions/0/image"),
        case(
            "image with a semicolon",
            fargate,
            |d| c0(d)["image"] = json!("nginx:1.27;rm"),
            |d| c0(d)["image"] = json!("nginx:1.27"),
        )
        .warning("image-invalid", "/containerDefinitions/0/image"),
        case(
            "no essential container",
            ec2,
            |d| c0(d)["essential"] = json!(false),
            |d| c0(d)["essential"] = json!(true),
        )
        .error("essential-required", "/containerDefinitions"),
    ]
}

fn resource_cases() -> Vec<Case> {
    vec![
        case("EC2 task cpu 64", ec2, |d| d["cpu"] = json!("64"), |d| d["cpu"] = json!("128")).error("task-cpu-range", "/cpu").ecs(CPU_INVALID),
        case("EC2 task cpu 200000", ec2, |d| d["cpu"] = json!("200000"), |d| d["cpu"] = json!("196608")).error("task-cpu-range", "/cpu"),
        case("EC2 container without memory", ec2, |d| del(c0(d), "memory"), |d| c0(d)["memory"] = json!(256))
            .error("container-memory-required", "/containerDefinitions/0")
            .ecs("Invalid setting for container 'app'. At least one of 'memory' or 'memoryReservation' must be specified."),
        case("EC2 container with memory 0", ec2, |d| c1(d)["memory"] = json!(0), |d| d["memory"] = json!("1024"))
            .error("container-memory-required", "/containerDefinitions/1")
            .ecs("Invalid setting for container 'sidecar'. At least one of 'memory' or 'memoryReservation' must be specified."),
        case("reservation above memory", ec2, |d| c0(d)["memoryReservation"] = json!(1024), |d| c0(d)["memoryReservation"] = json!(512))
            .error("memory-reservation-exceeds-memory", "/containerDefinitions/0/memoryReservation"),
        case("reservations above task memory", fargate, |d| c0(d)["memoryReservation"] = json!(1024), |d| c0(d)["memoryReservation"] = json!(512))
            .error("memory-reservation-sum", "/containerDefinitions")
            .ecs("The sum of all container 'memoryReservation' values cannot be greater than the value of the task 'memory'."),
        case("container memory above task memory", fargate, |d| c0(d)["memory"] = json!(1024), |d| c0(d)["memory"] = json!(512))
            .error("container-memory-exceeds-task", "/containerDefinitions/0/memory")
            // pulumi/pulumi-awsx#1220 and #188
            .ecs("The 'memory' setting for container 'app' is greater than for the task."),
        case("container cpu above task cpu", fargate, |d| c0(d)["cpu"] = json!(512), |d| c0(d)["cpu"] = json!(256))
            .error("container-cpu-sum", "/containerDefinitions"),
        case(
            "container cpus add up above task cpu",
            ec2,
            |d| {
                d["cpu"] = json!("1024");
                c0(d)["cpu"] = json!(512);
                c1(d)["cpu"] = json!(513);
            },
            |d| c1(d)["cpu"] = json!(512),
        )
        .error("container-cpu-sum", "/containerDefinitions"),
    ]
}

fn launch_type_cases() -> Vec<Case> {
    vec![
        case("Fargate in bridge mode", fargate, |d| d["networkMode"] = json!("bridge"), |d| d["networkMode"] = json!("awsvpc"))
            .error("fargate-network-mode", "/networkMode")
            .ecs("Fargate only supports network mode ‘awsvpc’."),
        case("Fargate without network mode", fargate, |d| del(d, "networkMode"), |d| d["networkMode"] = json!("awsvpc"))
            .error("fargate-network-mode", "/networkMode")
            .ecs("Fargate only supports network mode ‘awsvpc’."),
        case("Fargate without cpu", fargate, |d| del(d, "cpu"), |d| d["cpu"] = json!("256"))
            .error("fargate-cpu-required", "/cpu")
            .ecs("Fargate requires that 'cpu' be defined at the task level."),
        case("Fargate without memory", fargate, |d| del(d, "memory"), |d| d["memory"] = json!("512"))
            .error("fargate-memory-required", "/memory")
            .ecs("Fargate requires that 'memory' be defined at the task level."),
        // The text as ECS answered it: aws-games/cloud-game-development-toolkit#737 (1024 CPU,
        // 1024 memory), towardsthecloud/aws-cdk-examples#1 (512/512).
        case("Fargate 256 cpu with 4096 memory", fargate, |d| d["memory"] = json!("4096"), |d| d["cpu"] = json!("512"))
            .error("fargate-cpu-memory", "/memory")
            .ecs("No Fargate configuration exists for given values: 256 CPU, 4096 memory. See the Amazon ECS documentation for the valid values."),
        case("Fargate 1024 cpu with 1024 memory", fargate, |d| {
            d["cpu"] = json!("1024");
            d["memory"] = json!("1024");
        }, |d| d["memory"] = json!("2048"))
            .error("fargate-cpu-memory", "/memory")
            .ecs("No Fargate configuration exists for given values: 1024 CPU, 1024 memory. See the Amazon ECS documentation for the valid values."),
        case("Fargate cpu 300", fargate, |d| d["cpu"] = json!("300"), |d| d["cpu"] = json!("256"))
            .error("fargate-cpu-memory", "/cpu")
            .ecs(CPU_INVALID),
        case(
            "Fargate 8 vCPU with 18 GB",
            fargate,
            |d| {
                d["cpu"] = json!("8 vCPU");
                d["memory"] = json!("18 GB");
            },
            |d| d["memory"] = json!("20 GB"),
        )
        .error("fargate-cpu-memory", "/memory"),
        case("Fargate ipcMode", fargate, |d| d["ipcMode"] = json!("task"), |d| del(d, "ipcMode"))
            .error("fargate-unsupported", "/ipcMode")
            .ecs("Tasks using the Fargate launch type do not support ipcMode."),
        case("Fargate pidMode host", fargate, |d| d["pidMode"] = json!("host"), |d| d["pidMode"] = json!("task")).error("fargate-unsupported", "/pidMode"),
        case(
            "Fargate placement constraints",
            fargate,
            |d| d["placementConstraints"] = json!([{"type": "memberOf", "expression": "attribute:ecs.os-type == linux"}]),
            |d| del(d, "placementConstraints"),
        )
        .error("fargate-unsupported", "/placementConstraints"),
        case(
            "Fargate docker volume",
            fargate,
            |d| d["volumes"] = json!([{"name": "data", "dockerVolumeConfiguration": {"scope": "task"}}]),
            |d| d["volumes"] = json!([{"name": "data"}]),
        )
        .error("fargate-unsupported", "/volumes/0/dockerVolumeConfiguration"),
        case(
            "Fargate host sourcePath",
            fargate,
            |d| d["volumes"] = json!([{"name": "data", "host": {"sourcePath": "/data"}}]),
            |d| d["volumes"][0]["host"] = json!({}),
        )
        .error("fargate-unsupported", "/volumes/0/host/sourcePath")
        // cloudposse/terraform-aws-ecs-alb-service-task#174
        .ecs("Fargate compatible task definitions do not support sourcePath"),
        case(
            "firelens S3 configuration on Fargate",
            fargate,
            |d| {
                d["containerDefinitions"].as_array_mut().expect("list").push(json!({"name": "log_router", "image": "amazon/aws-for-fluent-bit:2.32.0", "essential": true,
                    "firelensConfiguration": {"type": "fluentbit", "options": {"config-file-type": "s3",
                        "config-file-value": "arn:aws:s3:::some-bucket/fluentbit.conf"}},
                    "logConfiguration": logs("/ecs/firelens")}));
            },
            |d| {
                c1(d)["firelensConfiguration"]["options"] = json!({"config-file-type": "file", "config-file-value": "/fluent-bit/etc/extra.conf"});
            },
        )
        .error("firelens-config-file", "/containerDefinitions/1/firelensConfiguration/options/config-file-type")
        // aws/aws-sdk#311: Fargate answers this whatever the ARN.
        .ecs("Invalid arn syntax."),
        case("Fargate privileged", fargate, |d| c0(d)["privileged"] = json!(true), |d| c0(d)["privileged"] = json!(false))
            .error("fargate-unsupported", "/containerDefinitions/0/privileged")
            .ecs("Tasks using the Fargate launch type do not support privileged."),
        case("Fargate dnsServers", fargate, |d| c0(d)["dnsServers"] = json!(["10.0.0.2"]), |d| c0(d)["dnsServers"] = json!([]))
            .error("fargate-unsupported", "/containerDefinitions/0/dnsServers"),
        case("Fargate dnsSearchDomains", fargate, |d| c0(d)["dnsSearchDomains"] = json!(["corp"]), |d| del(c0(d), "dnsSearchDomains"))
            .error("fargate-unsupported", "/containerDefinitions/0/dnsSearchDomains"),
        case("Fargate dockerSecurityOptions", fargate, |d| c0(d)["dockerSecurityOptions"] = json!(["no-new-privileges"]), |d| del(c0(d), "dockerSecurityOptions"))
            .error("fargate-unsupported", "/containerDefinitions/0/dockerSecurityOptions"),
        case("Fargate disableNetworking", fargate, |d| c0(d)["disableNetworking"] = json!(true), |d| del(c0(d), "disableNetworking"))
            .error("fargate-unsupported", "/containerDefinitions/0/disableNetworking"),
        case("Fargate links", fargate, |d| c0(d)["links"] = json!(["app"]), |d| del(c0(d), "links")).error("fargate-unsupported", "/containerDefinitions/0/links"),
        case("Fargate GPU", fargate, |d| c0(d)["resourceRequirements"] = json!([{"type": "GPU", "value": "1"}]), |d| del(c0(d), "resourceRequirements"))
            .error("fargate-unsupported", "/containerDefinitions/0/resourceRequirements/0"),
        case(
            "Fargate devices",
            fargate,
            |d| c0(d)["linuxParameters"] = json!({"devices": [{"hostPath": "/dev/fuse"}]}),
            |d| c0(d)["linuxParameters"] = json!({"initProcessEnabled": true}),
        )
        .error("fargate-unsupported", "/containerDefinitions/0/linuxParameters/devices"),
        case("Fargate shared memory", fargate, |d| c0(d)["linuxParameters"] = json!({"sharedMemorySize": 64}), |d| c0(d)["linuxParameters"] = json!({}))
            .error("fargate-unsupported", "/containerDefinitions/0/linuxParameters/sharedMemorySize"),
        case(
            "Fargate tmpfs",
            fargate,
            |d| c0(d)["linuxParameters"] = json!({"tmpfs": [{"containerPath": "/tmp", "size": 64}]}),
            |d| c0(d)["linuxParameters"] = json!({}),
        )
        .error("fargate-unsupported", "/containerDefinitions/0/linuxParameters/tmpfs"),
        case("Fargate maxSwap", fargate, |d| c0(d)["linuxParameters"] = json!({"maxSwap": 0}), |d| c0(d)["linuxParameters"] = json!({}))
            .error("fargate-unsupported", "/containerDefinitions/0/linuxParameters/maxSwap"),
        case("Fargate swappiness", fargate, |d| c0(d)["linuxParameters"] = json!({"swappiness": 10}), |d| c0(d)["linuxParameters"] = json!({}))
            .error("fargate-unsupported", "/containerDefinitions/0/linuxParameters/swappiness"),
        case(
            "Fargate NET_ADMIN",
            fargate,
            |d| c0(d)["linuxParameters"] = json!({"capabilities": {"add": ["NET_ADMIN"]}}),
            |d| c0(d)["linuxParameters"]["capabilities"]["add"][0] = json!("SYS_PTRACE"),
        )
        .error("fargate-unsupported", "/containerDefinitions/0/linuxParameters/capabilities/add/0"),
        case("Fargate json-file logs", fargate, |d| c0(d)["logConfiguration"] = json!({"logDriver": "json-file"}), |d| c0(d)["logConfiguration"] = logs("/ecs/web"))
            .error("fargate-log-driver", "/containerDefinitions/0/logConfiguration/logDriver"),
        case("Fargate awslogs without role", fargate, |d| del(d, "executionRoleArn"), |d| d["executionRoleArn"] = json!(ROLE))
            .error("fargate-execution-role-logs", "/containerDefinitions/0/logConfiguration/logDriver")
            .ecs("Fargate requires task definition to have execution role ARN to support log driver awslogs."),
        case(
            "Fargate ECR image without role",
            fargate,
            |d| {
                del(d, "executionRoleArn");
                c0(d)["image"] = json!(ECR_IMAGE);
            },
            |d| d["executionRoleArn"] = json!(ROLE),
        )
        .error("fargate-execution-role-ecr", "/containerDefinitions/0/image")
        .ecs("Fargate requires task definition to have execution role ARN to support ECR images."),
        case("Fargate stopTimeout 300", fargate, |d| c0(d)["stopTimeout"] = json!(300), |d| c0(d)["stopTimeout"] = json!(120))
            .error("fargate-timeout", "/containerDefinitions/0/stopTimeout"),
        case("Fargate startTimeout 1", fargate, |d| c0(d)["startTimeout"] = json!(1), |d| c0(d)["startTimeout"] = json!(2))
            .error("fargate-timeout", "/containerDefinitions/0/startTimeout"),
        case(
            "Fargate Windows with 256 cpu",
            fargate,
            |d| d["runtimePlatform"] = json!({"operatingSystemFamily": WINDOWS, "cpuArchitecture": "X86_64"}),
            |d| {
                d["cpu"] = json!("1024");
                d["memory"] = json!("2048");
            },
        )
        .error("fargate-windows", "/cpu")
        .ecs(CPU_INVALID),
        case(
            "Fargate Windows on ARM",
            fargate,
            |d| {
                d["runtimePlatform"] = json!({"operatingSystemFamily": WINDOWS, "cpuArchitecture": "ARM64"});
                d["cpu"] = json!("1024");
                d["memory"] = json!("2048");
            },
            |d| d["runtimePlatform"]["cpuArchitecture"] = json!("X86_64"),
        )
        .error("fargate-windows", "/runtimePlatform/cpuArchitecture"),
        case(
            "EXTERNAL with awsvpc",
            ec2,
            |d| {
                d["requiresCompatibilities"] = json!(["EXTERNAL"]);
                d["networkMode"] = json!("awsvpc");
            },
            |d| d["networkMode"] = json!("host"),
        )
        .error("external-unsupported", "/networkMode"),
        case(
            "EXTERNAL with EFS",
            ec2,
            |d| {
                d["requiresCompatibilities"] = json!(["EC2", "EXTERNAL"]);
                d["volumes"] = json!([{"name": "shared", "efsVolumeConfiguration": {"fileSystemId": "fs-12345678"}}]);
            },
            |d| d["volumes"] = json!([{"name": "shared"}]),
        )
        .error("external-unsupported", "/volumes/0/efsVolumeConfiguration"),
    ]
}

fn port_cases() -> Vec<Case> {
    vec![
        case("awsvpc host port differs", fargate, |d| c0(d)["portMappings"][0]["hostPort"] = json!(8080), |d| c0(d)["portMappings"][0]["hostPort"] = json!(80))
            .error("network-mode-ports", "/containerDefinitions/0/portMappings/0/hostPort")
            .ecs("When networkMode=awsvpc, the host ports and container ports in port mappings must match."),
        case(
            "host mode host port differs",
            ec2,
            |d| {
                d["networkMode"] = json!("host");
                c0(d)["portMappings"][0]["hostPort"] = json!(9090);
            },
            |d| c0(d)["portMappings"][0]["hostPort"] = json!(8080),
        )
        .error("network-mode-ports", "/containerDefinitions/0/portMappings/0/hostPort"),
        case("ports with network mode none", ec2, |d| d["networkMode"] = json!("none"), |d| del(c0(d), "portMappings"))
            .error("network-mode-ports", "/containerDefinitions/0/portMappings"),
        case("mapping without containerPort", fargate, |d| c0(d)["portMappings"] = json!([{"protocol": "tcp"}]), |d| c0(d)["portMappings"][0]["containerPort"] = json!(80))
            .error("container-port-invalid", "/containerDefinitions/0/portMappings/0")
            .ecs("Invalid 'containerPort' setting for container 'app'."),
        case("containerPort 70000", fargate, |d| c0(d)["portMappings"][0]["containerPort"] = json!(70000), |d| c0(d)["portMappings"][0]["containerPort"] = json!(80))
            .error("container-port-invalid", "/containerDefinitions/0/portMappings/0/containerPort")
            .ecs("Invalid 'containerPort' setting for container 'app'."),
        case("containerPort 0", ec2, |d| c0(d)["portMappings"][0]["containerPort"] = json!(0), |d| c0(d)["portMappings"][0]["containerPort"] = json!(1))
            .error("container-port-invalid", "/containerDefinitions/0/portMappings/0/containerPort"),
        case(
            "port range backwards",
            ec2,
            |d| c0(d)["portMappings"] = json!([{"containerPortRange": "9000-8000"}]),
            |d| c0(d)["portMappings"][0]["containerPortRange"] = json!("8000-9000"),
        )
        .error("port-range-invalid", "/containerDefinitions/0/portMappings/0/containerPortRange"),
        case(
            "port range in host mode",
            ec2,
            |d| {
                d["networkMode"] = json!("host");
                c0(d)["portMappings"] = json!([{"containerPortRange": "8000-8010"}]);
            },
            |d| d["networkMode"] = json!("bridge"),
        )
        .error("port-range-invalid", "/containerDefinitions/0/portMappings/0/containerPortRange"),
        case(
            "port range with hostPort",
            ec2,
            |d| c0(d)["portMappings"] = json!([{"containerPortRange": "8000-8010", "hostPort": 8000}]),
            |d| del(&mut c0(d)["portMappings"][0], "hostPort"),
        )
        .error("port-range-invalid", "/containerDefinitions/0/portMappings/0"),
        case(
            "overlapping port ranges",
            ec2,
            |d| c0(d)["portMappings"] = json!([{"containerPortRange": "8000-8010"}, {"containerPortRange": "8005-8020"}]),
            |d| c0(d)["portMappings"][1]["containerPortRange"] = json!("8011-8020"),
        )
        .error("port-range-invalid", "/containerDefinitions/0/portMappings/1/containerPortRange"),
        case(
            "container port mapped twice",
            fargate,
            |d| c0(d)["portMappings"] = json!([{"containerPort": 80}, {"containerPort": 80}]),
            |d| c0(d)["portMappings"][1]["containerPort"] = json!(443),
        )
        .error("port-duplicate", "/containerDefinitions/0/portMappings/1/containerPort"),
        case(
            "static host port used by two containers",
            ec2,
            |d| {
                c0(d)["portMappings"][0]["hostPort"] = json!(8080);
                c1(d)["portMappings"] = json!([{"containerPort": 9090, "hostPort": 8080}]);
            },
            |d| c1(d)["portMappings"][0]["hostPort"] = json!(8081),
        )
        .error("port-duplicate", "/containerDefinitions/1/portMappings/0"),
        case(
            "awsvpc port in two containers",
            fargate,
            |d| {
                let mut other = c0(d).clone();
                other["name"] = json!("other");
                other["essential"] = json!(false);
                d["containerDefinitions"].as_array_mut().expect("list").push(other);
            },
            |d| c1(d)["portMappings"][0]["containerPort"] = json!(81),
        )
        .error("port-duplicate", "/containerDefinitions/1/portMappings/0"),
        case("upper-case port name", fargate, |d| c0(d)["portMappings"][0]["name"] = json!("Web"), |d| c0(d)["portMappings"][0]["name"] = json!("web"))
            .error("port-name-invalid", "/containerDefinitions/0/portMappings/0/name"),
        case("port name starting with -", fargate, |d| c0(d)["portMappings"][0]["name"] = json!("-web"), |d| c0(d)["portMappings"][0]["name"] = json!("web-"))
            .error("port-name-invalid", "/containerDefinitions/0/portMappings/0/name"),
        case(
            "port name used twice",
            fargate,
            |d| c0(d)["portMappings"] = json!([{"containerPort": 80, "name": "web"}, {"containerPort": 443, "name": "web"}]),
            |d| c0(d)["portMappings"][1]["name"] = json!("web-tls"),
        )
        .error("port-name-invalid", "/containerDefinitions/0/portMappings/1/name"),
    ]
}

fn reference_cases() -> Vec<Case> {
    vec![
        case(
            "links in awsvpc",
            ec2,
            |d| {
                d["networkMode"] = json!("awsvpc");
                c0(d)["links"] = json!(["sidecar"]);
            },
            |d| d["networkMode"] = json!("bridge"),
        )
        .error("links-network-mode", "/containerDefinitions/0/links")
        .ecs("Links are not supported when networkMode=awsvpc."),
        case(
            "links in host mode",
            ec2,
            |d| {
                d["networkMode"] = json!("host");
                c0(d)["links"] = json!(["sidecar"]);
            },
            |d| del(c0(d), "links"),
        )
        .error("links-network-mode", "/containerDefinitions/0/links"),
        case("link to unknown container", ec2, |d| c0(d)["links"] = json!(["db"]), |d| c0(d)["links"] = json!(["sidecar:side"]))
            .error("link-unknown", "/containerDefinitions/0/links/0"),
        case("link to itself", ec2, |d| c0(d)["links"] = json!(["app"]), |d| c0(d)["links"] = json!(["sidecar"])).error("link-unknown", "/containerDefinitions/0/links/0"),
        case("link with two colons", ec2, |d| c0(d)["links"] = json!(["sidecar:a:b"]), |d| c0(d)["links"] = json!(["sidecar:a"]))
            .error("link-unknown", "/containerDefinitions/0/links/0"),
        case("hostname in awsvpc", fargate, |d| c0(d)["hostname"] = json!("web"), |d| del(c0(d), "hostname"))
            .error("hostname-awsvpc", "/containerDefinitions/0/hostname")
            .ecs("hostname is not supported on container when networkMode=awsvpc."),
        case(
            "extraHosts in awsvpc",
            ec2,
            |d| {
                d["networkMode"] = json!("awsvpc");
                c0(d)["extraHosts"] = json!([{"hostname": "db", "ipAddress": "10.0.0.1"}]);
            },
            |d| d["networkMode"] = json!("bridge"),
        )
        .error("extra-hosts-awsvpc", "/containerDefinitions/0/extraHosts"),
        case(
            "depends on unknown container",
            ec2,
            |d| c0(d)["dependsOn"] = json!([{"containerName": "db", "condition": "START"}]),
            |d| c0(d)["dependsOn"][0]["containerName"] = json!("sidecar"),
        )
        .error("depends-on-unknown", "/containerDefinitions/0/dependsOn/0/containerName")
        .ecs("Cannot depend on container + 'db' because it does not exist"),
        case(
            "SUCCESS on an essential container",
            ec2,
            |d| {
                c1(d)["essential"] = json!(true);
                c1(d)["healthCheck"] = health();
                c0(d)["dependsOn"] = json!([{"containerName": "sidecar", "condition": "SUCCESS"}]);
            },
            |d| c1(d)["essential"] = json!(false),
        )
        .error("depends-on-essential", "/containerDefinitions/0/dependsOn/0/condition")
        .ecs("A dependency container with SUCCESS or COMPLETE condition cannot be an essential container"),
        case(
            "COMPLETE on a container essential by default",
            ec2,
            |d| {
                del(c1(d), "essential");
                c1(d)["healthCheck"] = health();
                c0(d)["dependsOn"] = json!([{"containerName": "sidecar", "condition": "COMPLETE"}]);
            },
            |d| c0(d)["dependsOn"][0]["condition"] = json!("START"),
        )
        .error("depends-on-essential", "/containerDefinitions/0/dependsOn/0/condition")
        .ecs("A dependency container with SUCCESS or COMPLETE condition cannot be an essential container"),
        case(
            "HEALTHY without a health check",
            ec2,
            |d| c0(d)["dependsOn"] = json!([{"containerName": "sidecar", "condition": "HEALTHY"}]),
            |d| c1(d)["healthCheck"] = health(),
        )
        .error("depends-on-healthy", "/containerDefinitions/0/dependsOn/0/condition"),
        case(
            "dependsOn cycle",
            ec2,
            |d| {
                c0(d)["dependsOn"] = json!([{"containerName": "sidecar", "condition": "START"}]);
                c1(d)["dependsOn"] = json!([{"containerName": "app", "condition": "START"}]);
            },
            |d| del(c1(d), "dependsOn"),
        )
        .error("depends-on-cycle", "/containerDefinitions/1/dependsOn"),
        case(
            "dependsOn itself",
            ec2,
            |d| c0(d)["dependsOn"] = json!([{"containerName": "app", "condition": "START"}]),
            |d| c0(d)["dependsOn"][0]["containerName"] = json!("sidecar"),
        )
        .error("depends-on-cycle", "/containerDefinitions/0/dependsOn"),
        case(
            "volumesFrom unknown container",
            ec2,
            |d| c0(d)["volumesFrom"] = json!([{"sourceContainer": "db"}]),
            |d| c0(d)["volumesFrom"][0]["sourceContainer"] = json!("sidecar"),
        )
        .error("volumes-from-unknown", "/containerDefinitions/0/volumesFrom/0/sourceContainer"),
        case(
            "volumesFrom itself",
            ec2,
            |d| c0(d)["volumesFrom"] = json!([{"sourceContainer": "app"}]),
            |d| c0(d)["volumesFrom"][0]["sourceContainer"] = json!("sidecar"),
        )
        .error("volumes-from-unknown", "/containerDefinitions/0/volumesFrom/0/sourceContainer"),
        case(
            "proxy for an unknown container",
            fargate,
            |d| d["proxyConfiguration"] = json!({"type": "APPMESH", "containerName": "envoy", "properties": [{"name": "AppPorts", "value": "80"}]}),
            |d| d["proxyConfiguration"]["containerName"] = json!("app"),
        )
        .error("proxy-configuration", "/proxyConfiguration/containerName"),
        case(
            "proxy in bridge mode",
            ec2,
            |d| d["proxyConfiguration"] = json!({"type": "APPMESH", "containerName": "sidecar"}),
            |d| d["networkMode"] = json!("awsvpc"),
        )
        .error("proxy-configuration", "/proxyConfiguration"),
        case(
            "unknown proxy property",
            fargate,
            |d| d["proxyConfiguration"] = json!({"type": "APPMESH", "containerName": "app", "properties": [{"name": "AppPort", "value": "80"}]}),
            |d| d["proxyConfiguration"]["properties"][0]["name"] = json!("AppPorts"),
        )
        .error("proxy-configuration", "/proxyConfiguration/properties/0/name"),
    ]
}

fn volume_cases() -> Vec<Case> {
    vec![
        case(
            "mount of an unknown volume",
            ec2,
            |d| c0(d)["mountPoints"] = json!([{"sourceVolume": "data", "containerPath": "/data"}]),
            |d| d["volumes"] = json!([{"name": "data"}]),
        )
        .error("mount-unknown-volume", "/containerDefinitions/0/mountPoints/0/sourceVolume")
        // ansible/ansible#35751, wellcomecollection/platform#677
        .ecs("Unknown volume 'data'."),
        case(
            "mount without containerPath",
            ec2,
            |d| {
                d["volumes"] = json!([{"name": "data"}]);
                c0(d)["mountPoints"] = json!([{"sourceVolume": "data"}]);
            },
            |d| c0(d)["mountPoints"][0]["containerPath"] = json!("/data"),
        )
        .error("mount-unknown-volume", "/containerDefinitions/0/mountPoints/0"),
        case("two volumes named data", ec2, |d| d["volumes"] = json!([{"name": "data"}, {"name": "data"}]), |d| d["volumes"][1]["name"] = json!("logs"))
            .error("volume-invalid", "/volumes/1/name"),
        case("volume name with a space", ec2, |d| d["volumes"] = json!([{"name": "my data"}]), |d| d["volumes"][0]["name"] = json!("my-data"))
            .error("volume-invalid", "/volumes/0/name"),
        case(
            "EFS volume without a name",
            ec2,
            |d| d["volumes"] = json!([{"efsVolumeConfiguration": {"fileSystemId": "fs-12345678"}}]),
            |d| d["volumes"][0]["name"] = json!("efs"),
        )
        .error("volume-invalid", "/volumes/0/name"),
        case(
            "volume of two types",
            ec2,
            |d| d["volumes"] = json!([{"name": "data", "host": {}, "dockerVolumeConfiguration": {"scope": "task"}}]),
            |d| del(&mut d["volumes"][0], "host"),
        )
        .error("volume-invalid", "/volumes/0"),
        case(
            "EFS access point with a root directory",
            ec2,
            |d| {
                d["volumes"] = json!([{"name": "efs", "efsVolumeConfiguration": {
                    "fileSystemId": "fs-12345678", "rootDirectory": "/data", "transitEncryption": "ENABLED",
                    "authorizationConfig": {"accessPointId": "fsap-12345678"}}}]);
            },
            |d| d["volumes"][0]["efsVolumeConfiguration"]["rootDirectory"] = json!("/"),
        )
        .error("volume-invalid", "/volumes/0/efsVolumeConfiguration/rootDirectory"),
        case(
            "EFS access point without transit encryption",
            ec2,
            |d| {
                d["volumes"] = json!([{"name": "efs", "efsVolumeConfiguration": {
                    "fileSystemId": "fs-12345678", "authorizationConfig": {"accessPointId": "fsap-12345678"}}}]);
            },
            |d| d["volumes"][0]["efsVolumeConfiguration"]["transitEncryption"] = json!("ENABLED"),
        )
        .error("volume-invalid", "/volumes/0/efsVolumeConfiguration/transitEncryption"),
        case(
            "EFS IAM without transit encryption",
            ec2,
            |d| {
                d["volumes"] = json!([{"name": "efs", "efsVolumeConfiguration": {
                    "fileSystemId": "fs-12345678", "transitEncryption": "DISABLED", "authorizationConfig": {"iam": "ENABLED"}}}]);
            },
            |d| d["volumes"][0]["efsVolumeConfiguration"]["transitEncryption"] = json!("ENABLED"),
        )
        .error("volume-invalid", "/volumes/0/efsVolumeConfiguration/transitEncryption"),
        case(
            "autoprovision of a task-scoped volume",
            ec2,
            |d| d["volumes"] = json!([{"name": "data", "dockerVolumeConfiguration": {"scope": "task", "autoprovision": true}}]),
            |d| d["volumes"][0]["dockerVolumeConfiguration"]["scope"] = json!("shared"),
        )
        .error("volume-invalid", "/volumes/0/dockerVolumeConfiguration/autoprovision"),
        case(
            "two volumes configured at launch",
            ec2,
            |d| d["volumes"] = json!([{"name": "a", "configuredAtLaunch": true}, {"name": "b", "configuredAtLaunch": true}]),
            |d| d["volumes"][1]["configuredAtLaunch"] = json!(false),
        )
        .error("volume-invalid", "/volumes/1/configuredAtLaunch"),
    ]
}

fn secret_and_log_cases() -> Vec<Case> {
    vec![
        case("secrets without execution role", ec2, |d| c0(d)["secrets"] = json!([{"name": "DB_PASSWORD", "valueFrom": SECRET}]), |d| d["executionRoleArn"] = json!(ROLE))
            .error("secrets-execution-role", "/containerDefinitions/0/secrets")
            .ecs("When you are specifying container secrets, you must also specify a value for 'executionRoleArn'."),
        case(
            "log secretOptions without execution role",
            ec2,
            |d| c0(d)["logConfiguration"]["secretOptions"] = json!([{"name": "token", "valueFrom": SECRET}]),
            |d| d["executionRoleArn"] = json!(ROLE),
        )
        .error("secrets-execution-role", "/containerDefinitions/0/logConfiguration/secretOptions")
        .ecs("When you are specifying container secrets, you must also specify a value for 'executionRoleArn'."),
        case(
            "secret valueFrom that is no parameter name",
            ec2,
            |d| {
                d["executionRoleArn"] = json!(ROLE);
                c0(d)["secrets"] = json!([{"name": "JWT_KEY", "valueFrom": "ssm:jwt key"}]);
            },
            |d| c0(d)["secrets"][0]["valueFrom"] = json!("/copilot/app/test/secrets/JWT_KEY"),
        )
        .error("secret-parameter-name", "/containerDefinitions/0/secrets/0/valueFrom")
        // aws/copilot-cli#3446
        .ecs("The Systems Manager parameter name specified for secret JWT_KEY is invalid. The parameter name can be up to 2048 characters and include the following letters and symbols: a-zA-Z0-9_.-"),
        case(
            "firelens S3 configuration named by URL",
            ec2,
            |d| {
                c1(d)["firelensConfiguration"] = json!({"type": "fluentbit", "options": {"config-file-type": "s3",
                    "config-file-value": "s3://some-bucket/fluentbit.conf"}});
            },
            |d| c1(d)["firelensConfiguration"]["options"]["config-file-value"] = json!("arn:aws:s3:::some-bucket/fluentbit.conf"),
        )
        .error("firelens-config-file", "/containerDefinitions/1/firelensConfiguration/options/config-file-value")
        .ecs("Invalid arn syntax."),
        case(
            "environment variable twice",
            ec2,
            |d| c0(d)["environment"] = json!([{"name": "MODE", "value": "a"}, {"name": "MODE", "value": "b"}]),
            |d| c0(d)["environment"][1]["name"] = json!("LEVEL"),
        )
        .warning("secret-duplicate", "/containerDefinitions/0/environment/1/name"),
        case(
            "secret with the name of a variable",
            fargate,
            |d| {
                c0(d)["environment"] = json!([{"name": "DB_PASSWORD_FILE", "value": "/run/pw"}]);
                c0(d)["secrets"] = json!([{"name": "DB_PASSWORD_FILE", "valueFrom": SECRET}]);
            },
            |d| c0(d)["secrets"][0]["name"] = json!("DB_PASSWORD"),
        )
        .error("secret-duplicate", "/containerDefinitions/0/secrets/0/name"),
        case(
            "awslogs without region",
            ec2,
            |d| del(&mut c0(d)["logConfiguration"]["options"], "awslogs-region"),
            |d| c0(d)["logConfiguration"]["options"]["awslogs-region"] = json!("eu-west-1"),
        )
        .error("log-options", "/containerDefinitions/0/logConfiguration/options")
        .ecs("Log driver awslogs requires options: awslogs-region"),
        case(
            "awslogs without options",
            fargate,
            |d| del(&mut c0(d)["logConfiguration"], "options"),
            |d| c0(d)["logConfiguration"] = logs("/ecs/web"),
        )
        .error("log-options", "/containerDefinitions/0/logConfiguration/options")
        // klothoplatform/klotho#892
        .ecs("Log driver awslogs requires options: awslogs-region, awslogs-group"),
        case(
            "awsfirelens without a router",
            ec2,
            |d| c0(d)["logConfiguration"] = json!({"logDriver": "awsfirelens", "options": {"Name": "cloudwatch"}}),
            |d| c1(d)["firelensConfiguration"] = json!({"type": "fluentbit"}),
        )
        .error("firelens", "/containerDefinitions/0/logConfiguration/logDriver"),
        case(
            "two firelens routers",
            ec2,
            |d| {
                c0(d)["firelensConfiguration"] = json!({"type": "fluentbit"});
                c1(d)["firelensConfiguration"] = json!({"type": "fluentd"});
            },
            |d| del(c1(d), "firelensConfiguration"),
        )
        .error("firelens", "/containerDefinitions/1/firelensConfiguration"),
    ]
}

fn parameter_cases() -> Vec<Case> {
    vec![
        case("health check interval 4", ec2, |d| c0(d)["healthCheck"]["interval"] = json!(4), |d| c0(d)["healthCheck"]["interval"] = json!(5))
            .error("health-check", "/containerDefinitions/0/healthCheck/interval"),
        case("health check timeout 61", ec2, |d| c0(d)["healthCheck"]["timeout"] = json!(61), |d| c0(d)["healthCheck"]["timeout"] = json!(60))
            .error("health-check", "/containerDefinitions/0/healthCheck/timeout"),
        case("health check retries 0", ec2, |d| c0(d)["healthCheck"]["retries"] = json!(0), |d| c0(d)["healthCheck"]["retries"] = json!(1))
            .error("health-check", "/containerDefinitions/0/healthCheck/retries"),
        case("health check startPeriod 301", ec2, |d| c0(d)["healthCheck"]["startPeriod"] = json!(301), |d| c0(d)["healthCheck"]["startPeriod"] = json!(300))
            .error("health-check", "/containerDefinitions/0/healthCheck/startPeriod"),
        case("health check empty command", ec2, |d| c0(d)["healthCheck"]["command"] = json!([]), |d| c0(d)["healthCheck"]["command"] = json!(["CMD", "true"]))
            .error("health-check", "/containerDefinitions/0/healthCheck/command"),
        case("health check CMD alone", ec2, |d| c0(d)["healthCheck"]["command"] = json!(["CMD-SHELL"]), |d| c0(d)["healthCheck"]["command"] = json!(["NONE"]))
            .error("health-check", "/containerDefinitions/0/healthCheck/command"),
        case(
            "health check without CMD",
            ec2,
            |d| c0(d)["healthCheck"]["command"] = json!(["curl", "-f", "http://localhost/"]),
            |d| c0(d)["healthCheck"]["command"] = json!(["CMD", "curl", "-f", "http://localhost/"]),
        )
        .warning("health-check", "/containerDefinitions/0/healthCheck/command/0"),
        case(
            "unknown capability",
            ec2,
            |d| c0(d)["linuxParameters"] = json!({"capabilities": {"add": ["NET_ADMN"]}}),
            |d| c0(d)["linuxParameters"]["capabilities"]["add"][0] = json!("NET_ADMIN"),
        )
        .error("linux-parameters", "/containerDefinitions/0/linuxParameters/capabilities/add/0"),
        case(
            "unknown dropped capability",
            ec2,
            |d| c0(d)["linuxParameters"] = json!({"capabilities": {"drop": ["CAP_CHOWN"]}}),
            |d| c0(d)["linuxParameters"]["capabilities"]["drop"][0] = json!("CHOWN"),
        )
        .error("linux-parameters", "/containerDefinitions/0/linuxParameters/capabilities/drop/0"),
        case("swappiness 101", ec2, |d| c0(d)["linuxParameters"] = json!({"maxSwap": 0, "swappiness": 101}), |d| c0(d)["linuxParameters"]["swappiness"] = json!(100))
            .error("linux-parameters", "/containerDefinitions/0/linuxParameters/swappiness"),
        case("maxSwap -1", ec2, |d| c0(d)["linuxParameters"] = json!({"maxSwap": -1}), |d| c0(d)["linuxParameters"]["maxSwap"] = json!(0))
            .error("linux-parameters", "/containerDefinitions/0/linuxParameters/maxSwap"),
        case("sharedMemorySize 0", ec2, |d| c0(d)["linuxParameters"] = json!({"sharedMemorySize": 0}), |d| c0(d)["linuxParameters"]["sharedMemorySize"] = json!(64))
            .error("linux-parameters", "/containerDefinitions/0/linuxParameters/sharedMemorySize"),
        case(
            "tmpfs size 0",
            ec2,
            |d| c0(d)["linuxParameters"] = json!({"tmpfs": [{"containerPath": "/tmp", "size": 0}]}),
            |d| c0(d)["linuxParameters"]["tmpfs"][0]["size"] = json!(64),
        )
        .error("linux-parameters", "/containerDefinitions/0/linuxParameters/tmpfs/0/size"),
        case(
            "unknown tmpfs option",
            ec2,
            |d| c0(d)["linuxParameters"] = json!({"tmpfs": [{"containerPath": "/tmp", "size": 64, "mountOptions": ["noexec", "fast"]}]}),
            |d| c0(d)["linuxParameters"]["tmpfs"][0]["mountOptions"][1] = json!("mode=1777"),
        )
        .error("linux-parameters", "/containerDefinitions/0/linuxParameters/tmpfs/0/mountOptions/1"),
        case("GPU count 0", ec2, |d| c0(d)["resourceRequirements"] = json!([{"type": "GPU", "value": "0"}]), |d| c0(d)["resourceRequirements"][0]["value"] = json!("1"))
            .error("resource-requirements", "/containerDefinitions/0/resourceRequirements/0/value"),
        case("GPU count not a number", ec2, |d| c0(d)["resourceRequirements"] = json!([{"type": "GPU", "value": "two"}]), |d| c0(d)["resourceRequirements"][0]["value"] = json!("2"))
            .error("resource-requirements", "/containerDefinitions/0/resourceRequirements/0/value"),
        case(
            "NeuronDevice not ALL",
            ec2,
            |d| c0(d)["resourceRequirements"] = json!([{"type": "NeuronDevice", "value": "1"}]),
            |d| c0(d)["resourceRequirements"][0]["value"] = json!("ALL"),
        )
        .error("resource-requirements", "/containerDefinitions/0/resourceRequirements/0/value"),
        case(
            "NeuronDevice in two containers",
            ec2,
            |d| {
                c0(d)["resourceRequirements"] = json!([{"type": "NeuronDevice", "value": "ALL"}]);
                c1(d)["resourceRequirements"] = json!([{"type": "NeuronDevice", "value": "ALL"}]);
            },
            |d| del(c1(d), "resourceRequirements"),
        )
        .error("resource-requirements", "/containerDefinitions"),
        case(
            "undeclared inference accelerator",
            ec2,
            |d| c0(d)["resourceRequirements"] = json!([{"type": "InferenceAccelerator", "value": "eia"}]),
            |d| d["inferenceAccelerators"] = json!([{"deviceName": "eia", "deviceType": "eia2.medium"}]),
        )
        .error("resource-requirements", "/containerDefinitions/0/resourceRequirements/0/value"),
        case(
            "restart period 30",
            ec2,
            |d| c0(d)["restartPolicy"] = json!({"enabled": true, "restartAttemptPeriod": 30}),
            |d| c0(d)["restartPolicy"]["restartAttemptPeriod"] = json!(60),
        )
        .error("restart-policy", "/containerDefinitions/0/restartPolicy/restartAttemptPeriod"),
        case(
            "51 ignored exit codes",
            ec2,
            |d| c0(d)["restartPolicy"] = json!({"enabled": true, "ignoredExitCodes": (0..51).collect::<Vec<i32>>()}),
            |d| {
                c0(d)["restartPolicy"]["ignoredExitCodes"].as_array_mut().expect("list").pop();
            },
        )
        .error("restart-policy", "/containerDefinitions/0/restartPolicy/ignoredExitCodes"),
        case(
            "net sysctl in host mode",
            ec2,
            |d| {
                d["networkMode"] = json!("host");
                c0(d)["systemControls"] = json!([{"namespace": "net.core.somaxconn", "value": "1024"}]);
            },
            |d| d["networkMode"] = json!("bridge"),
        )
        .error("system-controls", "/containerDefinitions/0/systemControls/0/namespace"),
        case(
            "IPC sysctl with host IPC",
            ec2,
            |d| {
                d["ipcMode"] = json!("host");
                c0(d)["systemControls"] = json!([{"namespace": "kernel.shmmax", "value": "68719476736"}]);
            },
            |d| d["ipcMode"] = json!("task"),
        )
        .error("system-controls", "/containerDefinitions/0/systemControls/0/namespace"),
        case(
            "credential spec without prefix",
            ec2,
            |d| c0(d)["credentialSpecs"] = json!(["arn:aws:s3:::bucket/spec.json"]),
            |d| c0(d)["credentialSpecs"][0] = json!("credentialspec:arn:aws:s3:::bucket/spec.json"),
        )
        .error("credential-specs", "/containerDefinitions/0/credentialSpecs/0"),
        case(
            "two credential specs",
            ec2,
            |d| c0(d)["credentialSpecs"] = json!(["credentialspec:arn:aws:s3:::b/a.json", "credentialspecdomainless:arn:aws:s3:::b/b.json"]),
            |d| {
                c0(d)["credentialSpecs"].as_array_mut().expect("list").pop();
            },
        )
        .error("credential-specs", "/containerDefinitions/0/credentialSpecs"),
        case(
            "eleven environment files",
            ec2,
            |d| c0(d)["environmentFiles"] = Value::Array((0..11).map(|i| json!({"value": format!("arn:aws:s3:::bucket/{i}.env"), "type": "s3"})).collect()),
            |d| {
                c0(d)["environmentFiles"].as_array_mut().expect("list").pop();
            },
        )
        .error("environment-files", "/containerDefinitions/0/environmentFiles"),
    ]
}

fn warning_cases() -> Vec<Case> {
    vec![
        case("ecspresso family", fargate, |d| d["family"] = json!("{{ must_env `FAMILY` }}"), |d| d["family"] = json!("web"))
            .warning("template-placeholder", "/family"),
        case("envsubst image", fargate, |d| c0(d)["image"] = json!("${IMAGE}"), |d| c0(d)["image"] = json!("nginx:1.27"))
            .warning("template-placeholder", "/containerDefinitions/0/image"),
        case("angle-bracket image", fargate, |d| c0(d)["image"] = json!("<IMAGE>"), |d| c0(d)["image"] = json!("nginx:1.27"))
            .warning("template-placeholder", "/containerDefinitions/0/image"),
        case("templated container name", ec2, |d| c1(d)["name"] = json!("{{ .Sidecar }}"), |d| c1(d)["name"] = json!("sidecar"))
            .warning("template-placeholder", "/containerDefinitions/1/name"),
        case("image without tag", fargate, |d| c0(d)["image"] = json!("nginx"), |d| c0(d)["image"] = json!("nginx:1.27"))
            .warning("image-latest", "/containerDefinitions/0/image"),
        case("image :latest", fargate, |d| c0(d)["image"] = json!("nginx:latest"), |d| c0(d)["image"] = json!(format!("nginx@{DIGEST}")))
            .warning("image-latest", "/containerDefinitions/0/image"),
        case("registry port is not a tag", fargate, |d| c0(d)["image"] = json!("localhost:5000/app"), |d| c0(d)["image"] = json!("localhost:5000/app:3"))
            .warning("image-latest", "/containerDefinitions/0/image"),
        case("second essential container without health check", ec2, |d| c1(d)["essential"] = json!(true), |d| c1(d)["healthCheck"] = health())
            .warning("no-health-check", "/containerDefinitions/1"),
        case(
            "password in environment",
            fargate,
            |d| c0(d)["environment"] = json!([{"name": "DB_PASSWORD", "value": "s3cr3t-value"}]),
            |d| {
                del(c0(d), "environment");
                c0(d)["secrets"] = json!([{"name": "DB_PASSWORD", "valueFrom": SECRET}]);
            },
        )
        .warning("secret-in-environment", "/containerDefinitions/0/environment/0/value"),
        case(
            "access key in environment",
            fargate,
            |d| c0(d)["environment"] = json!([{"name": "UPLOADER", "value": "AKIAIOSFODNN7EXAMPLE"}]),
            |d| c0(d)["environment"][0]["value"] = json!("s3-uploader"),
        )
        .warning("secret-in-environment", "/containerDefinitions/0/environment/0/value"),
        case("sidecar without logs", ec2, |d| del(c1(d), "logConfiguration"), |d| c1(d)["logConfiguration"] = logs("/ecs/worker"))
            .warning("no-log-configuration", "/containerDefinitions/1"),
        case(
            "only a soft memory limit",
            ec2,
            |d| {
                del(c1(d), "memory");
                c1(d)["memoryReservation"] = json!(128);
            },
            |d| c1(d)["memory"] = json!(256),
        )
        .warning("no-memory-limit", "/containerDefinitions/1/memoryReservation"),
        case(
            "user on Windows",
            ec2,
            |d| {
                d["runtimePlatform"] = json!({"operatingSystemFamily": WINDOWS});
                c0(d)["user"] = json!("app");
            },
            |d| del(c0(d), "user"),
        )
        .warning("windows-unsupported", "/containerDefinitions/0/user"),
        case(
            "soft limit above hard limit",
            ec2,
            |d| c0(d)["ulimits"] = json!([{"name": "nofile", "softLimit": 2048, "hardLimit": 1024}]),
            |d| c0(d)["ulimits"][0]["softLimit"] = json!(1024),
        )
        .warning("ulimit", "/containerDefinitions/0/ulimits/0"),
        case(
            "ulimit twice",
            ec2,
            |d| c0(d)["ulimits"] = json!([{"name": "nofile", "softLimit": 1024, "hardLimit": 1024}, {"name": "nofile", "softLimit": 2048, "hardLimit": 2048}]),
            |d| c0(d)["ulimits"][1]["name"] = json!("nproc"),
        )
        .warning("ulimit", "/containerDefinitions/0/ulimits/1/name"),
    ]
}

// ---------------------------------------------------------------------------------------------
// Table tests
// ---------------------------------------------------------------------------------------------

#[test]
fn base_documents_are_clean() {
    for (name, doc, compat) in [
        (
            "fargate",
            fargate(),
            vec![Compatibility::Ec2, Compatibility::Fargate],
        ),
        ("ec2", ec2(), vec![Compatibility::Ec2]),
    ] {
        let report = run(&doc);
        assert!(
            report.diagnostics.is_empty(),
            "{name}: {:?}",
            report.diagnostics
        );
        assert_eq!(report.compatibilities, compat, "{name}");
        assert_eq!(report.form, Some(InputForm::RegisterRequest));
        assert!(!report.syntax_error);
        assert!(report.request.is_some());
    }
}

#[test]
fn schema_rules() {
    check_cases(&schema_cases());
}

#[test]
fn task_rules() {
    check_cases(&task_cases());
}

#[test]
fn container_rules() {
    check_cases(&container_cases());
}

#[test]
fn resource_rules() {
    check_cases(&resource_cases());
}

#[test]
fn launch_type_rules() {
    check_cases(&launch_type_cases());
}

#[test]
fn port_rules() {
    check_cases(&port_cases());
}

#[test]
fn reference_rules() {
    check_cases(&reference_cases());
}

#[test]
fn volume_rules() {
    check_cases(&volume_cases());
}

#[test]
fn secret_and_log_rules() {
    check_cases(&secret_and_log_cases());
}

#[test]
fn parameter_rules() {
    check_cases(&parameter_cases());
}

#[test]
fn warning_rules() {
    check_cases(&warning_cases());
}

/// Every catalogued code has a case, and every code whose text is ECS's own is checked verbatim.
#[test]
fn every_catalogued_rule_has_a_case() {
    let cases = all_cases();
    let mut missing = Vec::new();
    for (code, description) in rules::CATALOGUE {
        // json-syntax and duplicate-member need raw text; they have their own tests.
        if matches!(*code, "json-syntax" | "duplicate-member") {
            continue;
        }
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
    assert_eq!(RULES, rules::CATALOGUE);
    let mut names: Vec<_> = cases.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names are unique");
}

#[test]
fn json_syntax() {
    let text = "{\n  \"family\": \"web\",\n  \"cpu\": }";
    let report = validate_task_definition(text, &Options::default());
    assert!(report.syntax_error);
    assert!(report.has_errors());
    assert_eq!(report.form, None);
    assert!(report.compatibilities.is_empty());
    assert!(report.request.is_none());
    let [d] = report.diagnostics.as_slice() else {
        panic!("one finding: {:?}", report.diagnostics)
    };
    assert_eq!(
        (d.code, d.severity, d.path.as_str()),
        ("json-syntax", Severity::Error, "")
    );
    assert!(
        d.message.starts_with("Not valid JSON: ") && d.message.ends_with("(line 3, column 10)."),
        "{}",
        d.message
    );
    let span = d.span.expect("span");
    assert_eq!(
        (span.start, span.end, span.line, span.column),
        (text.len() - 1, text.len(), 3, 10)
    );
    assert_eq!(&text[span.start..span.end], "}");

    // Truncated and empty texts point at the end without slicing outside the text.
    for text in ["", "{", "{\"family\": \"w", "   "] {
        let report = validate_task_definition(text, &Options::default());
        assert!(report.syntax_error, "{text:?}");
        let span = report.diagnostics[0].span.expect("span");
        assert!(
            span.start <= span.end && span.end <= text.len(),
            "{text:?}: {span:?}"
        );
    }
}

#[test]
fn json_syntax_error_at_a_multibyte_character() {
    let text = "{\"family\": é}";
    let report = validate_task_definition(text, &Options::default());
    assert!(report.syntax_error);
    let span = report.diagnostics[0].span.expect("span");
    assert!(
        text.is_char_boundary(span.start) && text.is_char_boundary(span.end),
        "{span:?}"
    );
    assert_eq!(&text[span.start..span.end], "é");
    assert_eq!((span.line, span.column), (1, 12));
}

#[test]
fn not_an_object() {
    for (text, found) in [
        ("[]", "array"),
        ("\"web\"", "string"),
        ("null", "null"),
        ("3", "number"),
    ] {
        let report = validate_task_definition(text, &Options::default());
        assert!(!report.syntax_error);
        assert_eq!(report.form, None);
        let [d] = report.diagnostics.as_slice() else {
            panic!("{text}: {:?}", report.diagnostics)
        };
        assert_eq!(
            (d.code, d.severity, d.path.as_str()),
            ("type", Severity::Error, ""),
            "{text}"
        );
        assert_eq!(
            d.message,
            format!("A task definition must be a JSON object, found {found}.")
        );
    }
}

#[test]
fn duplicate_member() {
    let text = r#"{"family": "a", "containerDefinitions": [{"name": "app", "image": "nginx:1.27", "memory": 256, "memory": 512}], "family": "b"}"#;
    let report = validate_task_definition(text, &Options::default());
    let dups: Vec<_> = report
        .diagnostics
        .iter()
        .filter(|d| d.code == "duplicate-member")
        .collect();
    assert_eq!(dups.len(), 2, "{:?}", report.diagnostics);
    assert!(dups.iter().all(|d| d.severity == Severity::Warning));
    let paths: Vec<_> = dups.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(paths, ["/containerDefinitions/0/memory", "/family"]);
    // The last duplicate counts, as in every JSON parser.
    let request = report.request.expect("request");
    assert_eq!(request.family.as_deref(), Some("b"));
    assert_eq!(
        request.container_definitions.expect("containers")[0].memory,
        Some(512)
    );
    // The valid neighbour: the same document without the repeated members.
    let good = r#"{"family": "b", "containerDefinitions": [{"name": "app", "image": "nginx:1.27", "memory": 512}]}"#;
    let report = validate_task_definition(good, &Options::default());
    assert!(
        report
            .diagnostics
            .iter()
            .all(|d| d.code != "duplicate-member"),
        "{:?}",
        report.diagnostics
    );
}

// ---------------------------------------------------------------------------------------------
// Spans, forms, compatibilities, options
// ---------------------------------------------------------------------------------------------

/// The byte offset of the `n`th occurrence of `needle`.
fn nth(text: &str, needle: &str, n: usize) -> usize {
    text.match_indices(needle)
        .nth(n)
        .map(|(i, _)| i)
        .unwrap_or_else(|| panic!("{needle:?} not in text"))
}

#[test]
fn spans_point_at_the_text() {
    let text = r#"{
  "family": "web",
  "networkMode": "bridge",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "256",
  "memory": "512",
  "containerDefinitions": [
    {"name": "app", "image": "nginx:1.27", "Memroy": 512,
     "portMappings": [{"containerPort": 80}], "healthCheck": {"command": ["CMD", "true"], "retries": 11}}
  ]
}"#;
    let report = validate_task_definition(text, &Options::default());
    let find = |code: &str| {
        report
            .diagnostics
            .iter()
            .find(|d| d.code == code)
            .unwrap_or_else(|| panic!("{code}: {:?}", report.diagnostics))
    };

    let d = find("fargate-network-mode");
    let span = d.span.expect("span");
    assert_eq!(&text[span.start..span.end], "\"bridge\"");
    assert_eq!((span.line, span.column), (3, 18));

    // An unknown member underlines its name, quotes included, not its value.
    let d = find("unknown-member");
    assert_eq!(d.path, "/containerDefinitions/0/Memroy");
    assert_eq!(d.help.as_deref(), Some("Did you mean 'memory'?"));
    let span = d.span.expect("span");
    assert_eq!(
        (span.start, span.end),
        (nth(text, "\"Memroy\"", 0), nth(text, "\"Memroy\"", 0) + 8)
    );
    let line_start = text[..span.start].rfind('\n').expect("line 8") + 1;
    assert_eq!((span.line, span.column), (8, span.start - line_start + 1));
    assert_eq!(span.column, 44);

    let d = find("health-check");
    let span = d.span.expect("span");
    assert_eq!(&text[span.start..span.end], "11");
    assert_eq!(span.line, 9);
}

#[test]
fn missing_member_spans_point_at_the_enclosing_object() {
    let text = "{\n  \"containerDefinitions\": [\n    {\"image\": \"nginx:1.27\", \"memory\": 256}\n  ]\n}";
    let report = validate_task_definition(text, &Options::default());
    let family = report
        .diagnostics
        .iter()
        .find(|d| d.code == "required")
        .expect("family is required");
    assert_eq!(family.path, "/family");
    let span = family.span.expect("span");
    assert_eq!((span.start, span.end, span.line, span.column), (0, 1, 1, 1));
    let name = report
        .diagnostics
        .iter()
        .find(|d| d.code == "container-name-required")
        .expect("name");
    let span = name.span.expect("span");
    assert_eq!(
        (span.start, span.end, span.line, span.column),
        (
            nth(text, "{\"image\"", 0),
            nth(text, "{\"image\"", 0) + 1,
            3,
            5
        )
    );
}

#[test]
fn columns_count_characters() {
    let text = "{\"tags\": [{\"key\": \"équipe\", \"value\": \"ä,b\"}], \"family\": \"w\", \"containerDefinitions\": [{\"name\": \"a\", \"image\": \"b:1\", \"memory\": 6}]}";
    let report = validate_task_definition(text, &Options::default());
    let d = report
        .diagnostics
        .iter()
        .find(|d| d.code == "pattern")
        .expect("pattern");
    let span = d.span.expect("span");
    assert_eq!(&text[span.start..span.end], "\"ä,b\"");
    assert_eq!(span.column, text[..span.start].chars().count() + 1);
    assert_ne!(
        span.column,
        span.start + 1,
        "the text before holds a two-byte character"
    );
}

#[test]
fn describe_output_paths_start_at_task_definition() {
    let mut td = fargate();
    td["networkMode"] = json!("bridge");
    td["revision"] = json!(7);
    td["status"] = json!("ACTIVE");
    c0(&mut td)["Memroy"] = json!(512);
    let doc = json!({"taskDefinition": td, "tags": [{"key": "team", "value": "edge"}], "ResponseMetadata": {}});
    let (text, report) = run_with(&doc, &Options::default());
    assert_eq!(report.form, Some(InputForm::DescribeOutput));
    let found = codes(&report);
    assert!(
        found.contains(&("fargate-network-mode", "/taskDefinition/networkMode".into())),
        "{found:?}"
    );
    assert!(
        found.contains(&(
            "unknown-member",
            "/taskDefinition/containerDefinitions/0/Memroy".into()
        )),
        "{found:?}"
    );
    assert!(
        found.contains(&("unknown-member", "/ResponseMetadata".into())),
        "{found:?}"
    );
    for d in &report.diagnostics {
        let span = d.span.expect("span");
        if d.code == "fargate-network-mode" {
            assert_eq!(&text[span.start..span.end], "\"bridge\"");
        }
    }
    let request = report.request.expect("request");
    assert_eq!(
        request.tags.expect("tags moved in")[0].key.as_deref(),
        Some("team")
    );

    // Schema findings in the wrapper's own tags are at /tags.
    let doc = json!({"taskDefinition": fargate(), "tags": [{"key": "team", "value": "a,b"}]});
    let found = codes(&run(&doc));
    assert_eq!(found, [("pattern", "/tags/0/value".to_string())]);

    // A valid describe output is clean, and ECS's compatibilities are computed.
    let doc = json!({"taskDefinition": fargate(), "tags": []});
    let report = run(&doc);
    assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics);
    assert_eq!(
        report.compatibilities,
        [Compatibility::Ec2, Compatibility::Fargate]
    );
}

/// Rule findings about the describe output's `tags` (which live beside `taskDefinition`) must
/// point at those tags, not at a `/taskDefinition/tags` that does not exist.
#[test]
fn describe_output_tag_rules_point_at_the_wrapper_tags() {
    let doc = json!({"taskDefinition": fargate(), "tags": [{"key": "aws:team", "value": "edge"}]});
    let (text, report) = run_with(&doc, &Options::default());
    let d = report
        .diagnostics
        .iter()
        .find(|d| d.code == "tags")
        .expect("aws: prefix");
    assert_eq!(d.path, "/tags/0/key");
    let span = d.span.expect("span");
    assert_eq!(&text[span.start..span.end], "\"aws:team\"");

    // Tags inside the task definition stay where they are.
    let mut td = fargate();
    td["tags"] = json!([{"key": "aws:team", "value": "edge"}]);
    let report = run(&json!({"taskDefinition": td}));
    let d = report
        .diagnostics
        .iter()
        .find(|d| d.code == "tags")
        .expect("aws: prefix");
    assert_eq!(d.path, "/taskDefinition/tags/0/key");
}

#[test]
fn read_only_members_are_accepted() {
    let mut doc = fargate();
    for (k, v) in [
        (
            "taskDefinitionArn",
            json!("arn:aws:ecs:eu-west-1:123456789012:task-definition/web:7"),
        ),
        ("revision", json!(7)),
        ("status", json!("ACTIVE")),
        (
            "requiresAttributes",
            json!([{"name": "com.amazonaws.ecs.capability.logging-driver.awslogs"}]),
        ),
        ("compatibilities", json!(["EC2", "FARGATE"])),
        ("registeredAt", json!("2024-05-01T12:00:00.000Z")),
        ("registeredBy", json!("arn:aws:iam::123456789012:user/dev")),
        ("deregisteredAt", json!(1_714_564_800.5)),
    ] {
        doc[k] = v;
    }
    let report = run(&doc);
    assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics);
    assert_eq!(report.form, Some(InputForm::TaskDefinition));
    let request = serde_json::to_value(report.request.expect("request")).expect("serialise");
    assert!(
        request.get("revision").is_none() && request.get("status").is_none(),
        "read-only members are not in the request"
    );

    // They are still type-checked, and a wrong one does not hide the rules.
    doc["revision"] = json!("7");
    doc["status"] = json!("GONE");
    doc["networkMode"] = json!("bridge");
    let found = codes(&run(&doc));
    for expected in [
        ("type", "/revision"),
        ("enum", "/status"),
        ("fargate-network-mode", "/networkMode"),
    ] {
        assert!(
            found.contains(&(expected.0, expected.1.to_string())),
            "{expected:?} not in {found:?}"
        );
    }
}

#[test]
fn compatibilities_are_computed_like_ecs() {
    let report = run(&ec2());
    assert_eq!(report.compatibilities, [Compatibility::Ec2]);

    let report = run(&fargate());
    assert_eq!(
        report.compatibilities,
        [Compatibility::Ec2, Compatibility::Fargate]
    );

    // Without requiresCompatibilities, an awsvpc task with a valid Fargate size is still both.
    let mut doc = fargate();
    del(&mut doc, "requiresCompatibilities");
    assert_eq!(
        run(&doc).compatibilities,
        [Compatibility::Ec2, Compatibility::Fargate]
    );

    let mut doc = ec2();
    doc["requiresCompatibilities"] = json!(["EC2", "EXTERNAL"]);
    assert_eq!(
        run(&doc).compatibilities,
        [Compatibility::Ec2, Compatibility::External]
    );

    let mut doc = ec2();
    doc["requiresCompatibilities"] = json!(["MANAGED_INSTANCES"]);
    assert_eq!(
        run(&doc).compatibilities,
        [Compatibility::Ec2, Compatibility::ManagedInstances]
    );

    // EXTERNAL is listed only when asked for, and only when it passes.
    let mut doc = fargate();
    doc["requiresCompatibilities"] = json!(["EC2"]);
    assert_eq!(
        run(&doc).compatibilities,
        [Compatibility::Ec2, Compatibility::Fargate]
    );
    doc["requiresCompatibilities"] = json!(["EC2", "EXTERNAL"]);
    let report = run(&doc);
    assert!(
        report.compatibilities.is_empty(),
        "awsvpc fails EXTERNAL: {:?}",
        report.compatibilities
    );

    // Any error empties the list; warnings do not.
    let mut doc = ec2();
    doc["family"] = json!("bad family");
    assert!(run(&doc).compatibilities.is_empty());
    let mut doc = ec2();
    c0(&mut doc)["image"] = json!("nginx");
    let report = run(&doc);
    assert!(!report.has_errors() && !report.diagnostics.is_empty());
    assert_eq!(report.compatibilities, [Compatibility::Ec2]);
}

#[test]
fn launch_type_option_applies_fargate_rules() {
    let mut doc = fargate();
    del(&mut doc, "requiresCompatibilities");
    doc["networkMode"] = json!("bridge");
    let report = run(&doc);
    assert!(
        !report.has_errors(),
        "EC2 only by default: {:?}",
        report.diagnostics
    );
    assert_eq!(report.compatibilities, [Compatibility::Ec2]);

    let options = Options {
        launch_types: vec![Compatibility::Fargate],
    };
    let (_, report) = run_with(&doc, &options);
    let found = codes(&report);
    assert_eq!(
        found,
        [("fargate-network-mode", "/networkMode".to_string())]
    );
    assert!(report.compatibilities.is_empty());

    doc["networkMode"] = json!("awsvpc");
    let (_, report) = run_with(&doc, &options);
    assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics);
    assert_eq!(
        report.compatibilities,
        [Compatibility::Ec2, Compatibility::Fargate]
    );

    // An EC2 rule applies through the option as well.
    let mut doc = ec2();
    del(&mut doc, "requiresCompatibilities");
    del(c0(&mut doc), "memory");
    let options = Options {
        launch_types: vec![Compatibility::External],
    };
    let (_, report) = run_with(&doc, &options);
    assert_eq!(
        codes(&report),
        [(
            "container-memory-required",
            "/containerDefinitions/0".to_string()
        )],
        "reported once for EC2 and EXTERNAL"
    );
}

#[test]
fn every_finding_is_reported() {
    let mut doc = fargate();
    doc["family"] = json!("web app");
    c0(&mut doc)["image"] = json!("");
    doc["ephemeralStorage"] = json!({"sizeInGiB": 5});
    let report = run(&doc);
    let errors: Vec<_> = report
        .with_severity(Severity::Error)
        .map(|d| (d.code, d.path.as_str()))
        .collect();
    assert_eq!(
        errors,
        [
            ("family-invalid", "/family"),
            ("image-required", "/containerDefinitions/0/image"),
            ("ephemeral-storage", "/ephemeralStorage/sizeInGiB")
        ],
        "in document order"
    );

    // Schema and rule findings together, across launch types.
    let mut doc = fargate();
    doc["networkMode"] = json!("bridge");
    doc["memory"] = json!("4096");
    c0(&mut doc)["essential"] = json!("yes");
    c0(&mut doc)["privileged"] = json!(true);
    let found = codes(&run(&doc));
    for code in [
        "fargate-network-mode",
        "fargate-cpu-memory",
        "type",
        "fargate-unsupported",
    ] {
        assert!(
            found.iter().any(|(c, _)| *c == code),
            "{code} not in {found:?}"
        );
    }
}

#[test]
fn wrong_types_still_get_semantic_findings() {
    let mut doc = fargate();
    c0(&mut doc)["memory"] = json!("512");
    c0(&mut doc)["hostname"] = json!("web");
    doc["family"] = json!(42);
    let report = run(&doc);
    let found = codes(&report);
    assert!(found.contains(&("type", "/family".into())), "{found:?}");
    assert!(
        found.contains(&("type", "/containerDefinitions/0/memory".into())),
        "{found:?}"
    );
    assert!(
        found.contains(&("hostname-awsvpc", "/containerDefinitions/0/hostname".into())),
        "{found:?}"
    );
    let request = report
        .request
        .expect("the typed request is built without the ill-typed values");
    assert_eq!(request.family, None);
    assert_eq!(
        request.container_definitions.as_ref().expect("containers")[0].memory,
        None
    );

    // An ill-typed container keeps its index, so the next container's paths stay right.
    let mut doc = fargate();
    let app = c0(&mut doc).clone();
    doc["containerDefinitions"] = json!(["oops", app]);
    c1(&mut doc)["hostname"] = json!("web");
    let found = codes(&run(&doc));
    assert!(
        found.contains(&("type", "/containerDefinitions/0".into())),
        "{found:?}"
    );
    assert!(
        found.contains(&(
            "container-name-required",
            "/containerDefinitions/0/name".into()
        )),
        "{found:?}"
    );
    assert!(
        found.contains(&("hostname-awsvpc", "/containerDefinitions/1/hostname".into())),
        "{found:?}"
    );

    // Out-of-range integers take the same path.
    let mut doc = ec2();
    c0(&mut doc)["cpu"] = json!(1_i64 << 40);
    c1(&mut doc)["links"] = json!(["db"]);
    let found = codes(&run(&doc));
    assert!(
        found.contains(&("range", "/containerDefinitions/0/cpu".into())),
        "{found:?}"
    );
    assert!(
        found.contains(&("link-unknown", "/containerDefinitions/1/links/0".into())),
        "{found:?}"
    );
}

#[test]
fn null_members_are_absent() {
    let mut doc = fargate();
    doc["pidMode"] = Value::Null;
    doc["ipcMode"] = Value::Null;
    c0(&mut doc)["cpu"] = Value::Null;
    c0(&mut doc)["hostname"] = Value::Null;
    let report = run(&doc);
    assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics);
    doc["family"] = Value::Null;
    assert_eq!(codes(&run(&doc)), [("required", "/family".to_string())]);
}

#[test]
fn null_task_definition_is_not_clean() {
    for text in [
        r#"{"taskDefinition": null}"#,
        r#"{"taskDefinition": null, "tags": []}"#,
    ] {
        let report = validate_task_definition(text, &Options::default());
        assert!(report.has_errors(), "{text}: {:?}", report.diagnostics);
        assert!(
            report
                .diagnostics
                .iter()
                .all(|d| d.path.starts_with("/taskDefinition") || d.path.starts_with("/tags"))
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------------

mod props {
    use super::*;
    use proptest::prelude::*;

    /// Every span lies within the text, on character boundaries, with a matching line/column.
    fn spans_in_text(text: &str, report: &Report) -> Result<(), TestCaseError> {
        for d in &report.diagnostics {
            let span = d
                .span
                .ok_or_else(|| TestCaseError::fail(format!("{} has no span", d.code)))?;
            prop_assert!(
                span.start <= span.end && span.end <= text.len(),
                "{} {:?} outside {} bytes",
                d.code,
                span,
                text.len()
            );
            prop_assert!(
                text.is_char_boundary(span.start) && text.is_char_boundary(span.end),
                "{} {:?} splits a character",
                d.code,
                span
            );
            prop_assert_eq!(
                (span.line, span.column),
                json::line_column(text, span.start)
            );
            prop_assert!(
                rules::CATALOGUE.iter().any(|(c, _)| *c == d.code),
                "{} is not catalogued",
                d.code
            );
        }
        prop_assert_eq!(
            report.syntax_error,
            report.diagnostics.iter().any(|d| d.code == "json-syntax")
        );
        Ok(())
    }

    fn rich() -> Value {
        let mut d = ec2();
        d["volumes"] = json!([{"name": "data", "host": {"sourcePath": "/srv"}}, {"name": "efs", "efsVolumeConfiguration": {"fileSystemId": "fs-1", "transitEncryption": "ENABLED", "authorizationConfig": {"accessPointId": "fsap-1", "iam": "ENABLED"}}}]);
        d["placementConstraints"] =
            json!([{"type": "memberOf", "expression": "attribute:ecs.instance-type =~ t3.*"}]);
        d["tags"] = json!([{"key": "team", "value": "edge"}]);
        d["executionRoleArn"] = json!(ROLE);
        d["cpu"] = json!("1 vCPU");
        d["memory"] = json!("2 GB");
        d["ipcMode"] = json!("task");
        c0(&mut d)["links"] = json!(["sidecar:side"]);
        c0(&mut d)["dependsOn"] = json!([{"containerName": "sidecar", "condition": "START"}]);
        c0(&mut d)["mountPoints"] = json!([{"sourceVolume": "data", "containerPath": "/data"}]);
        c0(&mut d)["volumesFrom"] = json!([{"sourceContainer": "sidecar"}]);
        c0(&mut d)["secrets"] = json!([{"name": "DB_PASSWORD", "valueFrom": SECRET}]);
        c0(&mut d)["environment"] = json!([{"name": "MODE", "value": "prod"}]);
        c0(&mut d)["ulimits"] = json!([{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}]);
        c0(&mut d)["linuxParameters"] = json!({"capabilities": {"add": ["SYS_PTRACE"]}, "tmpfs": [{"containerPath": "/tmp", "size": 64, "mountOptions": ["noexec"]}]});
        c0(&mut d)["systemControls"] =
            json!([{"namespace": "net.core.somaxconn", "value": "1024"}]);
        c0(&mut d)["resourceRequirements"] = json!([{"type": "GPU", "value": "1"}]);
        c0(&mut d)["restartPolicy"] = json!({"enabled": true, "restartAttemptPeriod": 300});
        c1(&mut d)["portMappings"] = json!([{"containerPortRange": "9000-9010"}, {"containerPort": 9100, "hostPort": 9100, "name": "metrics"}]);
        c1(&mut d)["firelensConfiguration"] = json!({"type": "fluentbit"});
        d
    }

    const WORDS: &[&str] = &[
        "",
        "awsvpc",
        "bridge",
        "host",
        "none",
        "FARGATE",
        "EC2",
        "EXTERNAL",
        "MANAGED_INSTANCES",
        "0.25 vCPU",
        "2 GB",
        "256",
        "512",
        "1024",
        "-1",
        "{{ x }}",
        "${X}",
        "aws:x",
        "nginx",
        "nginx:latest",
        "a@sha256:zz",
        "app",
        "sidecar",
        "data",
        "HEALTHY",
        "SUCCESS",
        "COMPLETE",
        "CMD",
        "NONE",
        "ENABLED",
        "task",
        "shared",
        "net.ipv4.ip_forward",
        "kernel.shmmax",
        "8000-8010",
        "1-0",
        "WINDOWS_SERVER_2022_CORE",
        "ARM64",
        "json-file",
        "awsfirelens",
        "awslogs",
        "GPU",
        "NeuronDevice",
        ECR_IMAGE,
        "é",
        "😀",
        "a/b~c",
        "memberOf",
        "attribute:a ==",
        "credentialspec:x",
    ];

    const KEYS: &[&str] = &[
        "family",
        "networkMode",
        "cpu",
        "memory",
        "hostname",
        "links",
        "dependsOn",
        "volumes",
        "mountPoints",
        "secrets",
        "environment",
        "portMappings",
        "containerPort",
        "hostPort",
        "containerPortRange",
        "healthCheck",
        "command",
        "ulimits",
        "linuxParameters",
        "requiresCompatibilities",
        "proxyConfiguration",
        "resourceRequirements",
        "essential",
        "image",
        "name",
        "tags",
        "ephemeralStorage",
        "runtimePlatform",
        "operatingSystemFamily",
        "ipcMode",
        "pidMode",
        "placementConstraints",
        "restartPolicy",
        "credentialSpecs",
        "taskDefinition",
        "revision",
        "status",
        "compatibilities",
        "containerDefinitions",
        "executionRoleArn",
        "logConfiguration",
        "logDriver",
        "firelensConfiguration",
        "memoryReservation",
        "startTimeout",
        "privileged",
        "inferenceAccelerators",
    ];

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![3 => prop::sample::select(KEYS).prop_map(String::from), 1 => "[a-zA-Z~/é]{0,6}"]
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            (-1000i64..70000).prop_map(Value::from),
            (-1e12f64..1e12).prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            prop::sample::select(WORDS).prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::from),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    #[derive(Debug, Clone)]
    enum Op {
        Remove,
        Replace(Value),
        Retype,
        Insert(String, Value),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            Just(Op::Remove),
            value().prop_map(Op::Replace),
            Just(Op::Retype),
            (key(), value()).prop_map(|(k, v)| Op::Insert(k, v)),
        ]
    }

    fn escape(key: &str) -> String {
        key.replace('~', "~0").replace('/', "~1")
    }

    fn unescape(token: &str) -> String {
        token.replace("~1", "/").replace("~0", "~")
    }

    fn pointers(v: &Value, at: &str, out: &mut Vec<String>) {
        out.push(at.to_string());
        match v {
            Value::Object(m) => m
                .iter()
                .for_each(|(k, x)| pointers(x, &format!("{at}/{}", escape(k)), out)),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, x)| pointers(x, &format!("{at}/{i}"), out)),
            _ => {}
        }
    }

    /// Another JSON type for the same value: the kind of slip people make by hand.
    fn retype(v: &Value) -> Value {
        match v {
            Value::Null => json!({}),
            Value::Bool(b) => json!(b.to_string()),
            Value::Number(n) => json!(n.to_string()),
            Value::String(s) => s.parse::<i64>().map_or_else(|_| json!([s]), Value::from),
            Value::Array(a) => a.first().cloned().unwrap_or(Value::Null),
            Value::Object(m) => Value::Array(m.values().cloned().collect()),
        }
    }

    fn apply(doc: &mut Value, target: usize, op: &Op) {
        let mut all = Vec::new();
        pointers(doc, "", &mut all);
        let at = &all[target % all.len()];
        match op {
            Op::Remove => {
                let Some((parent, last)) = at.rsplit_once('/') else {
                    return;
                };
                match doc.pointer_mut(parent) {
                    Some(Value::Object(m)) => {
                        m.remove(&unescape(last));
                    }
                    Some(Value::Array(a)) => {
                        if let Ok(i) = last.parse::<usize>() {
                            if i < a.len() {
                                a.remove(i);
                            }
                        }
                    }
                    _ => {}
                }
            }
            Op::Replace(v) => {
                if let Some(slot) = doc.pointer_mut(at) {
                    *slot = v.clone();
                }
            }
            Op::Retype => {
                if let Some(slot) = doc.pointer_mut(at) {
                    *slot = retype(slot);
                }
            }
            Op::Insert(k, v) => match doc.pointer_mut(at) {
                Some(Value::Object(m)) => {
                    m.insert(k.clone(), v.clone());
                }
                Some(Value::Array(a)) => a.push(v.clone()),
                _ => {}
            },
        }
    }

    fn base(which: usize) -> Value {
        match which % 3 {
            0 => fargate(),
            1 => ec2(),
            _ => rich(),
        }
    }

    fn validate_checked(text: &str) -> Result<Report, TestCaseError> {
        let options = Options {
            launch_types: vec![Compatibility::Fargate, Compatibility::External],
        };
        let report = validate_task_definition(text, &options);
        spans_in_text(text, &report)?;
        let plain = validate_task_definition(text, &Options::default());
        spans_in_text(text, &plain)?;
        Ok(report)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_text_never_panics(text in any::<String>()) {
            validate_checked(&text)?;
        }

        #[test]
        fn json_ish_text_never_panics(text in "[\\[\\]{}\":,0-9a-zé\\\\ \n.eE+-]{0,80}") {
            validate_checked(&text)?;
        }

        #[test]
        fn spliced_text_never_panics(which in 0usize..3, at in any::<usize>(), cut in 0usize..6, insert in "\\PC{0,3}") {
            let text = pretty(&base(which));
            let mut at = at % (text.len() + 1);
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let mut end = (at + cut).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            let spliced = format!("{}{insert}{}", &text[..at], &text[end..]);
            validate_checked(&spliced)?;
        }

        #[test]
        fn mutated_task_definitions_never_panic(
            which in 0usize..3,
            wrap in any::<bool>(),
            ops in prop::collection::vec((any::<usize>(), op()), 0..6),
        ) {
            let mut doc = base(which);
            if wrap {
                doc = json!({"taskDefinition": doc, "tags": [{"key": "k", "value": "v"}]});
            }
            for (target, op) in &ops {
                apply(&mut doc, *target, op);
            }
            let text = pretty(&doc);
            let report = validate_checked(&text)?;
            prop_assert!(!report.syntax_error);
            if doc.is_object() {
                prop_assert!(report.form.is_some());
            }
            if report.has_errors() {
                prop_assert!(report.compatibilities.is_empty());
            }
            // Compact text must give the same findings, at the same paths.
            let compact = serde_json::to_string(&doc).expect("serialise");
            let again = validate_checked(&compact)?;
            let paths = |r: &Report| {
                let mut v: Vec<_> = r.diagnostics.iter().map(|d| (d.code, d.path.clone(), d.message.clone())).collect();
                v.sort();
                v
            };
            prop_assert_eq!(paths(&report), paths(&again));
        }
    }

    fn container() -> impl Strategy<Value = Value> {
        (
            "[a-z0-9_-]{1,20}",
            "[a-z0-9]{1,12}(/[a-z0-9._-]{1,12}){0,2}",
            "[a-zA-Z0-9_][a-zA-Z0-9_.-]{0,15}",
            6i32..4096,
            prop::option::of(any::<bool>()),
            prop::collection::vec(1i32..65536, 0..3),
        )
            .prop_map(|(name, repo, tag, memory, essential, ports)| {
                let mut c =
                    json!({"name": name, "image": format!("{repo}:{tag}"), "memory": memory});
                if let Some(e) = essential {
                    c["essential"] = json!(e);
                }
                if !ports.is_empty() {
                    c["portMappings"] = ports
                        .into_iter()
                        .map(|p| json!({"containerPort": p, "protocol": "tcp"}))
                        .collect();
                }
                c
            })
    }

    fn task_definition() -> impl Strategy<Value = Value> {
        (
            "[a-z0-9_-]{1,20}",
            prop::collection::vec(container(), 1..=10),
            prop::option::of(prop::sample::select(
                &["bridge", "host", "awsvpc", "none"][..],
            )),
            prop::option::of(prop::sample::select(&["256", "512", "1024", "4096"][..])),
            prop::option::of(prop::sample::subsequence(
                &["EC2", "FARGATE", "EXTERNAL"][..],
                1..=3,
            )),
        )
            .prop_map(|(family, containers, network_mode, cpu, compat)| {
                let mut td = json!({"family": family, "containerDefinitions": containers});
                if let Some(m) = network_mode {
                    td["networkMode"] = json!(m);
                }
                if let Some(c) = cpu {
                    td["cpu"] = json!(c);
                }
                if let Some(c) = compat {
                    td["requiresCompatibilities"] = json!(c);
                }
                td
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn task_definitions_round_trip(td in task_definition()) {
            let text = serde_json::to_string_pretty(&td).expect("serialise");
            let input = crate::model::read_task_definition(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(input.form, InputForm::RegisterRequest);
            let back = serde_json::to_value(&input.request).expect("serialise");
            prop_assert_eq!(&back, &td);
            // And through the validator, which builds the same request.
            let report = validate_task_definition(&text, &Options::default());
            spans_in_text(&text, &report)?;
            let request = report.request.ok_or_else(|| TestCaseError::fail("no request"))?;
            prop_assert_eq!(serde_json::to_value(&request).expect("serialise"), td);
        }
    }
}
