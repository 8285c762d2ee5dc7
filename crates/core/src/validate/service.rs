//! Validation of service inputs: `CreateService` and `UpdateService` requests, the service
//! definition files ecspresso and CI pipelines keep (`CreateService` input, often without
//! `serviceName` or `taskDefinition`, sometimes with read-only members copied from
//! `describe-services`), and `describe-services` output itself.
//!
//! A document is walked against the model's `CreateServiceRequest` (or `UpdateServiceRequest`)
//! shape, with the read-only members of `Service` accepted, so types, enums, ranges and unknown
//! members are checked as for task definitions; then the service rules run: the ones services
//! share with `RunTask` ([`super::request_rules`]) and those below — service name, desired
//! count, the DAEMON scheduler's limits, deployment configuration, load balancers against the
//! task definition (containers, ports, a Classic Load Balancer's static host port), the service
//! `role` ECS refuses where it uses its service-linked role, health-check grace period, service
//! registries against the network mode, a capacity provider strategy change on `UpdateService`,
//! deployment controller. Messages are ECS's where its text is known (`ECS` in the catalogue).
//!
//! What it does not do: look anything up. Whether the cluster, the task definition revision,
//! the target group or the subnets exist is for ECS (or the embedded cluster) to say; rules that
//! need the task definition run only when one is given in [`ServiceOptions`].

use super::kind::{InputKind, RequestForm};
use super::request_rules::{self, Common, Out};
use super::rules::{is_template, valid_name};
use super::schema_walk::{self, Walker};
use super::{Finding, Report, Severity, guided, place, syntax_report};
use crate::deploy;
use crate::json::{self, Node, Value};
use crate::model::schema::{self, Shape};
use crate::model::{CreateServiceRequest, LoadBalancer, NetworkMode, TaskDefinition};
use std::collections::BTreeSet;

/// What a service input is checked against, beyond the document itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServiceOptions<'a> {
    /// The task definition the service runs (a file's [`Report::task_definition`], or what a
    /// cluster stores). With it, load balancer containers and ports, the network configuration
    /// and the launch type are checked against it as ECS does.
    pub task_definition: Option<&'a TaskDefinition>,
}

/// Members only a service as ECS describes it has.
const DESCRIBED_MEMBERS: &[&str] = &[
    "serviceArn",
    "clusterArn",
    "status",
    "deployments",
    "events",
    "createdAt",
    "taskSets",
];

/// Validates a service input given as JSON text: a `CreateService` or `UpdateService` request,
/// a service definition file (ecspresso's `ecs-service-def.json`), a described service, or
/// `describe-services` output (every service in it). Never fails: a text that is not JSON gives
/// one `json-syntax` error with `syntax_error` set.
///
/// # Example
///
/// ```
/// use berth_core::validate::{validate_service, validate_task_definition, Options, ServiceOptions, Severity};
/// let td = validate_task_definition(
///     r#"{"family": "web", "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
///         "cpu": "256", "memory": "512",
///         "containerDefinitions": [{"name": "app", "image": "nginx:1.27",
///                                   "portMappings": [{"containerPort": 80}]}]}"#,
///     &Options::default(),
/// );
/// let td = td.task_definition().unwrap();
/// let service = r#"{
///   "launchType": "FARGATE",
///   "desiredCount": 2,
///   "loadBalancers": [{"targetGroupArn": "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/1",
///                      "containerName": "app", "containerPort": 8080}]
/// }"#;
/// let report = validate_service(service, &ServiceOptions { task_definition: Some(&td) });
/// let messages: Vec<_> = report.with_severity(Severity::Error).map(|d| d.message.as_str()).collect();
/// assert_eq!(messages, [
///     "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
///     "The container app did not have a container port 8080 defined.",
/// ]);
/// ```
pub fn validate_service(text: &str, options: &ServiceOptions<'_>) -> Report {
    let doc = match json::parse(text) {
        Ok(doc) => doc,
        Err(e) => return syntax_report(text, &e, InputKind::Service),
    };
    let mut findings = Vec::new();
    let form = match doc.as_object() {
        None => {
            findings.push(Finding {
                code: "type",
                severity: Severity::Error,
                path: String::new(),
                message: format!(
                    "A service definition must be a JSON object, found {}.",
                    doc.type_name()
                ),
                help: None,
                on_key: false,
            });
            None
        }
        Some(entries) => {
            let wrapper = |member: &str| {
                doc.get(member)
                    .filter(|n| matches!(n.value, Value::Array(_) | Value::Object(_)))
            };
            if let Some(services) = wrapper("services") {
                beside(
                    entries,
                    &["services", "failures"],
                    "describe-services output",
                    &mut findings,
                );
                match services.as_array() {
                    Some(items) => {
                        for (i, s) in items.iter().enumerate() {
                            check(
                                s,
                                &format!("/services/{i}"),
                                RequestForm::Service,
                                options,
                                &mut findings,
                            );
                        }
                    }
                    None => findings.push(type_finding("/services", "an array", services)),
                }
                Some(RequestForm::DescribeServices)
            } else if let Some(service) = wrapper("service") {
                // create-service / update-service / delete-service output.
                beside(
                    entries,
                    &["service"],
                    "create-service output",
                    &mut findings,
                );
                check(
                    service,
                    "/service",
                    RequestForm::Service,
                    options,
                    &mut findings,
                );
                Some(RequestForm::Service)
            } else {
                let has = |m: &str| doc.get(m).is_some();
                let form = if has("service") {
                    RequestForm::UpdateService
                } else if DESCRIBED_MEMBERS.iter().any(|m| has(m)) {
                    RequestForm::Service
                } else if has("serviceName") {
                    RequestForm::CreateService
                } else {
                    RequestForm::ServiceDefinition
                };
                check(&doc, "", form, options, &mut findings);
                Some(form)
            }
        }
    };
    Report {
        diagnostics: place(text, &doc, findings),
        form: None,
        compatibilities: Vec::new(),
        syntax_error: false,
        request: None,
        kind: InputKind::Service,
        request_form: form,
    }
}

/// Warns about members beside the one a wrapper document should hold.
fn beside(entries: &[json::Entry<'_>], allowed: &[&str], what: &str, findings: &mut Vec<Finding>) {
    for e in entries
        .iter()
        .filter(|e| !allowed.contains(&e.key.as_ref()))
    {
        findings.push(Finding {
            code: "unknown-member",
            severity: Severity::Warning,
            path: format!("/{}", json::pointer_token(&e.key)),
            message: format!("Unknown member '{}' in {what}.", e.key),
            help: Some(format!(
                "{what} has only {}.",
                allowed
                    .iter()
                    .map(|a| format!("'{a}'"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            )),
            on_key: true,
        });
    }
}

fn type_finding(path: &str, expected: &str, node: &Node<'_>) -> Finding {
    Finding {
        code: "type",
        severity: Severity::Error,
        path: path.to_string(),
        message: format!(
            "'{}' must be {expected}, found {}.",
            schema_walk::last_token(path),
            node.type_name()
        ),
        help: None,
        on_key: false,
    }
}

/// Checks one service object at `prefix`.
fn check(
    node: &Node<'_>,
    prefix: &str,
    form: RequestForm,
    options: &ServiceOptions<'_>,
    findings: &mut Vec<Finding>,
) {
    let Some(entries) = node.as_object() else {
        findings.push(type_finding(prefix, "an object", node));
        return;
    };
    let (shape, extra): (&'static Shape, Option<&'static Shape>) = match form {
        RequestForm::UpdateService => (model_shape("UpdateServiceRequest"), None),
        _ => (
            model_shape("CreateServiceRequest"),
            Some(model_shape("Service")),
        ),
    };
    let mut walked = Vec::new();
    let mut path = prefix.to_string();
    Walker {
        findings: &mut walked,
    }
    .structure(entries, shape, extra, &mut path);
    if form == RequestForm::ServiceDefinition {
        // ecspresso keeps the name in its config; the file is otherwise CreateService input.
        let name = format!("{prefix}/serviceName");
        walked.retain(|f| !(f.code == "required" && f.path == name));
    }
    findings.append(&mut walked);
    // UpdateService members have the same names and types as CreateService's.
    let request: CreateServiceRequest = guided(node, shape, extra)
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    // Not a member of CreateServiceRequest, so read from the document.
    let force = node
        .get("forceNewDeployment")
        .is_some_and(|n| matches!(n.value, Value::Bool(true)));
    let mut out = Out::default();
    rules(&request, form, force, options.task_definition, &mut out);
    for mut f in out.findings {
        f.path.insert_str(0, prefix);
        findings.push(f);
    }
}

fn model_shape(name: &str) -> &'static Shape {
    schema::shape(name).expect("generated model")
}

/// The service rules, with pointers relative to the service.
fn rules(
    req: &CreateServiceRequest,
    form: RequestForm,
    force: bool,
    td: Option<&TaskDefinition>,
    out: &mut Out,
) {
    let update = form == RequestForm::UpdateService;
    let described = form == RequestForm::Service;
    let common = Common {
        cluster: req.cluster.as_deref(),
        task_definition: req.task_definition.as_deref(),
        launch_type: req.launch_type.as_ref(),
        capacity_provider_strategy: req.capacity_provider_strategy.as_deref(),
        network_configuration: req.network_configuration.as_ref(),
        placement_constraints: req.placement_constraints.as_deref(),
        placement_strategy: req.placement_strategy.as_deref(),
        platform_version: req.platform_version.as_deref(),
        tags: req.tags.as_deref(),
        update,
    };
    let controller = req
        .deployment_controller
        .as_ref()
        .and_then(|c| c.r#type.as_ref())
        .map_or("ECS", |t| t.as_str());
    // An EXTERNAL service has no task definition, network or load balancers of its own (its
    // task sets do): nothing to check them against.
    let external = controller == "EXTERNAL";
    let td = td.filter(|_| !external);
    request_rules::check(&common, td, out);
    let daemon = req
        .scheduling_strategy
        .as_ref()
        .is_some_and(|s| s.as_str() == "DAEMON");

    if let Some(name) = req.service_name.as_deref() {
        if is_template(name) {
            out.template("/serviceName", "The service name", name);
        } else if !valid_name(name) {
            out.error(
                "service-name",
                "/serviceName",
                "Service name can have up to 255 characters: letters (upper and lower case), numbers, underscores and hyphens.",
            );
        }
    }
    desired_count(req, form, daemon, out);
    if daemon && !update {
        daemon_rules(req, &common, described, controller, out);
    }
    deployment_configuration(req, form, daemon, controller, out);
    if controller == "EXTERNAL" && !update && !described {
        external_members(req, out);
    }
    let lbs = req.load_balancers.as_deref().unwrap_or_default();
    load_balancers(lbs, td, out);
    if !update && !described {
        service_role(req, &common, td, controller, out);
    }
    if update && !force && common.strategy().is_some() {
        out.warn(
            "capacity-provider-update",
            "/capacityProviderStrategy",
            "When switching from launch type to capacity provider strategy on an existing service, or making a change to a capacity provider strategy on a service that is already using one, you must force a new deployment.",
            Some("ECS refuses this update unless the strategy is the service's current one: add \"forceNewDeployment\": true.".into()),
        );
    }
    if let Some(grace) = req.health_check_grace_period_seconds.filter(|g| *g > 0) {
        let lattice = req
            .vpc_lattice_configurations
            .as_ref()
            .is_some_and(|v| !v.is_empty());
        // ECS now also applies the grace period to container health checks.
        let container_checks = td.is_some_and(|t| {
            t.container_definitions
                .iter()
                .flatten()
                .any(|c| c.essential.unwrap_or(true) && c.health_check.is_some())
        });
        if lbs.is_empty() && !lattice && !container_checks && !update && controller != "EXTERNAL" {
            out.warn(
                "health-check-grace-period",
                "/healthCheckGracePeriodSeconds",
                "Health check grace period is only valid for services configured to use load balancers",
                Some(format!(
                    "ECS rejected a grace period ({grace} s here) without load balancers in older API versions; current ECS also applies it to container health checks and ignores it without any. Remove it, or add loadBalancers."
                )),
            );
        }
    }
    service_registries(req, td, out);
    if let Some(registries) = req.service_registries.as_deref().filter(|r| r.len() > 1) {
        out.error(
            "service-registries",
            "/serviceRegistries/1",
            format!(
                "A service can have only one service registry; this one has {}.",
                registries.len()
            ),
        );
    }
    if controller == "CODE_DEPLOY" && !update && !daemon {
        let target_group = lbs.iter().any(|lb| {
            lb.target_group_arn
                .as_deref()
                .is_some_and(|t| !t.is_empty())
        });
        if !target_group {
            out.error_help(
                "deployment-controller",
                "/deploymentController/type",
                "The CODE_DEPLOY deployment controller needs an Application or Network Load Balancer target group.",
                "Add a loadBalancers entry with a targetGroupArn; CodeDeploy shifts traffic between two target groups.",
            );
        }
    }
}

/// CreateService with the EXTERNAL deployment controller: what a task set carries (task
/// definition, load balancers, network, launch, registries) must not be given. ECS's texts where
/// they are on record (terraform-aws-modules/terraform-aws-ecs#278,
/// hashicorp/terraform-provider-aws#27291, aws/aws-cdk#26335), ours in the same words otherwise.
fn external_members(req: &CreateServiceRequest, out: &mut Out) {
    let given = [
        (
            req.task_definition.is_some(),
            "/taskDefinition",
            "TaskDefinition must be blank.",
        ),
        (
            req.load_balancers.as_ref().is_some_and(|l| !l.is_empty()),
            "/loadBalancers",
            "LoadBalancers must be empty or null.",
        ),
        (
            req.network_configuration.is_some(),
            "/networkConfiguration",
            "NetworkConfiguration must be null.",
        ),
        (
            req.launch_type.is_some(),
            "/launchType",
            "LaunchType must be blank.",
        ),
        (
            req.capacity_provider_strategy
                .as_ref()
                .is_some_and(|s| !s.is_empty()),
            "/capacityProviderStrategy",
            "CapacityProviderStrategy must be empty or null.",
        ),
        (
            req.service_registries
                .as_ref()
                .is_some_and(|l| !l.is_empty()),
            "/serviceRegistries",
            "ServiceRegistries must be empty or null.",
        ),
    ];
    for (_, path, message) in given.iter().filter(|(g, _, _)| *g) {
        out.error_help(
            "external-task-set-members",
            *path,
            *message,
            "With the EXTERNAL deployment controller the task definition, launch, network and load balancers belong to each task set (CreateTaskSet).",
        );
    }
}

fn desired_count(req: &CreateServiceRequest, form: RequestForm, daemon: bool, out: &mut Out) {
    const TEXT: &str = "desiredCount must be between 0 and 5000.";
    match req.desired_count {
        // A DAEMON service's count is the daemon rules' business (a described one echoes it).
        Some(_) if daemon && form != RequestForm::UpdateService => {}
        Some(d) if d < 0 => out.error("desired-count", "/desiredCount", TEXT),
        Some(d) if d > 5000 => out.warn(
            "desired-count",
            "/desiredCount",
            TEXT,
            Some(format!(
                "{d} tasks is above 5,000, the default quota of tasks per service; raise the quota before deploying."
            )),
        ),
        None if form == RequestForm::CreateService && !daemon => out.warn(
            "desired-count-required",
            "/desiredCount",
            "desiredCount is required for a REPLICA service.",
            Some(
                "CreateService needs it for a REPLICA service; ecspresso and UpdateService keep the current count when it is absent."
                    .into(),
            ),
        ),
        _ => {}
    }
}

fn daemon_rules(
    req: &CreateServiceRequest,
    common: &Common<'_>,
    described: bool,
    controller: &str,
    out: &mut Out,
) {
    if req.desired_count.is_some() && !described {
        out.error(
            "daemon-desired-count",
            "/desiredCount",
            "The daemon scheduling strategy does not support a desired count for services. Remove the desired count value and try again",
        );
    }
    if req
        .placement_strategy
        .as_ref()
        .is_some_and(|s| !s.is_empty())
    {
        out.error(
            "daemon-placement-strategy",
            "/placementStrategy",
            "The daemon scheduling strategy does not support placement strategies. Remove the placement strategy and try again",
        );
    }
    if common.strategy().is_some() {
        out.error_help(
            "daemon-capacity-provider",
            "/capacityProviderStrategy",
            "Specifying a capacity provider strategy is not supported when you create a service using the DAEMON scheduling strategy.",
            "Remove capacityProviderStrategy and set \"launchType\": \"EC2\" (also needed when the cluster has a default capacity provider strategy).",
        );
    }
    if common
        .launch_type()
        .is_some_and(|l| l.as_str() == "FARGATE")
    {
        out.error_help(
            "daemon-launch-type",
            "/launchType",
            "The DAEMON scheduling strategy does not support the FARGATE launch type.",
            "Daemon tasks run one per container instance: use the EC2 launch type, or the REPLICA strategy on Fargate.",
        );
    }
    if matches!(controller, "CODE_DEPLOY" | "EXTERNAL") {
        out.error(
            "daemon-deployment-controller",
            "/deploymentController/type",
            format!(
                "The DAEMON scheduling strategy works only with the ECS deployment controller; {controller} needs the REPLICA strategy."
            ),
        );
    }
}

fn deployment_configuration(
    req: &CreateServiceRequest,
    form: RequestForm,
    daemon: bool,
    controller: &str,
    out: &mut Out,
) {
    const AT: &str = "/deploymentConfiguration";
    let Some(cfg) = &req.deployment_configuration else {
        return;
    };
    let strategy = if daemon {
        deploy::SchedulingStrategy::Daemon
    } else {
        deploy::SchedulingStrategy::Replica
    };
    let mut valid = true;
    // Each percentage on its own, so both are reported; the texts are the deployment engine's.
    for (member, value) in [
        ("minimumHealthyPercent", cfg.minimum_healthy_percent),
        ("maximumPercent", cfg.maximum_percent),
    ] {
        let Some(value) = value else { continue };
        let one = deploy::DeploymentConfiguration {
            minimum_healthy_percent: (member == "minimumHealthyPercent").then_some(value),
            maximum_percent: (member == "maximumPercent").then_some(value),
            deployment_circuit_breaker: None,
        };
        if let Err(e) = one.effective(strategy) {
            valid = false;
            out.error(
                "deployment-configuration",
                format!("{AT}/{member}"),
                e.to_string(),
            );
        }
    }
    let rolling = cfg
        .strategy
        .as_ref()
        .is_none_or(|s| s.as_str().is_empty() || s.as_str() == "ROLLING");
    let update = form == RequestForm::UpdateService;
    // An update without a percentage keeps the service's current one, which is not known here.
    let known = !update || (cfg.minimum_healthy_percent.is_some() && cfg.maximum_percent.is_some());
    let Some(desired) = req.desired_count.and_then(|d| u32::try_from(d).ok()) else {
        return;
    };
    if !valid || daemon || controller != "ECS" || !rolling || !known || desired == 0 {
        return;
    }
    let min = cfg.minimum_healthy_percent.unwrap_or(100);
    let max = cfg.maximum_percent.unwrap_or(200);
    let limits = deploy::limits(desired, min.unsigned_abs(), max.unsigned_abs());
    if limits.max_total <= desired && limits.min_healthy >= desired {
        let name = req.service_name.as_deref().unwrap_or("NAME");
        let at = if cfg.maximum_percent.is_some() {
            format!("{AT}/maximumPercent")
        } else {
            AT.to_string()
        };
        out.warn(
            "deployment-stuck",
            at,
            format!("service ({name}) was unable to stop or start tasks during a deployment because of the service deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again."),
            Some(format!(
                "With desiredCount {desired}, minimumHealthyPercent {min} keeps {} tasks running and maximumPercent {max} allows at most {} in all, so a rolling deployment can neither stop an old task nor start a new one. Lower minimumHealthyPercent or raise maximumPercent.",
                limits.min_healthy, limits.max_total
            )),
        );
    }
}

/// `role` where ECS uses its service-linked role instead: ECS refuses it. The cases are the API
/// reference's (awsvpc, service discovery, the EXTERNAL controller, several target groups) and
/// the reports' (awsvpc in hashicorp/terraform-provider-aws#4657, two target groups in
/// aws/containers-roadmap#461, no load balancer in cloudposse/terraform-aws-ecs-alb-service-task#118).
fn service_role(
    req: &CreateServiceRequest,
    common: &Common<'_>,
    td: Option<&TaskDefinition>,
    controller: &str,
    out: &mut Out,
) {
    let Some(role) = req.role.as_deref().filter(|r| !r.trim().is_empty()) else {
        return;
    };
    if is_template(role) {
        return;
    }
    let lbs = req.load_balancers.as_deref().unwrap_or_default().len();
    let awsvpc = td.map_or(
        common
            .launch()
            .is_some_and(|(l, _)| l == crate::model::Compatibility::Fargate),
        |t| t.network_mode.as_ref() == Some(&NetworkMode::Awsvpc),
    );
    let discovery = req
        .service_registries
        .as_ref()
        .is_some_and(|r| !r.is_empty());
    let why = if awsvpc {
        "the task definition uses the awsvpc network mode"
    } else if lbs == 0 {
        "the service has no load balancer"
    } else if lbs > 1 {
        "the service has more than one load balancer"
    } else if discovery {
        "the service uses service discovery"
    } else if controller == "EXTERNAL" {
        "the service uses the EXTERNAL deployment controller"
    } else {
        return;
    };
    out.error_help(
        "service-role",
        "/role",
        "You cannot specify an IAM role for services that require a service linked role.",
        format!("Remove role: {why}, so ECS uses its service-linked role (AWSServiceRoleForECS)."),
    );
}

/// Whether the task definition's tasks share the host's network or Docker's bridge (the
/// default on Linux).
fn bridge_or_host(td: &TaskDefinition) -> bool {
    matches!(
        td.network_mode.as_ref(),
        None | Some(NetworkMode::Bridge | NetworkMode::Host)
    )
}

/// `serviceRegistries` entries against each other and the task definition's network mode.
fn service_registries(req: &CreateServiceRequest, td: Option<&TaskDefinition>, out: &mut Out) {
    for (i, r) in req.service_registries.iter().flatten().enumerate() {
        let at = format!("/serviceRegistries/{i}");
        let container_name = r
            .container_name
            .as_deref()
            .is_some_and(|n| !n.trim().is_empty());
        if r.port.is_some() && (container_name || r.container_port.is_some()) {
            // cloudposse/terraform-aws-ecs-web-app#208
            out.error_help(
                "service-registry-port",
                format!("{at}/port"),
                "Specify a value for either 'port' or the 'containerName' and 'containerPort' combination, but not both. Remove one and retry.",
                "port is for awsvpc tasks (one IP per task); containerName and containerPort name the container's mapped port in bridge and host mode.",
            );
        } else if td.is_some_and(bridge_or_host) && !(container_name && r.container_port.is_some())
        {
            // techservicesillinois/terraform-aws-ecs-service#16
            out.error_help(
                "service-registry-container",
                at,
                format!(
                    "When specifying 'host' or 'bridge' for networkMode, values for 'containerName' and 'containerPort' must be specified from the task definition. Registry: {}",
                    r.registry_arn.as_deref().unwrap_or_default()
                ),
                "Cloud Map records the instance's address and the container's host port: name the container and its containerPort.",
            );
        }
    }
}

fn load_balancers(lbs: &[LoadBalancer], td: Option<&TaskDefinition>, out: &mut Out) {
    const AT: &str = "/loadBalancers";
    let blank = |s: &Option<String>| s.as_deref().is_none_or(|s| s.trim().is_empty());
    let awsvpc = td.is_some_and(|t| t.network_mode.as_ref() == Some(&NetworkMode::Awsvpc));
    let mut seen = BTreeSet::new();
    for (i, lb) in lbs.iter().enumerate() {
        let at = format!("{AT}/{i}");
        let tg = !blank(&lb.target_group_arn);
        let clb = !blank(&lb.load_balancer_name);
        match (tg, clb) {
            (false, false) => out.error_help(
                "load-balancer",
                at.clone(),
                "A load balancer entry needs a targetGroupArn or a loadBalancerName.",
                "Application and Network Load Balancers are named by their target group (targetGroupArn); a Classic Load Balancer by loadBalancerName.",
            ),
            (true, true) => out.error(
                "load-balancer",
                format!("{at}/loadBalancerName"),
                "A load balancer entry takes a targetGroupArn (Application or Network Load Balancer) or a loadBalancerName (Classic Load Balancer), not both.",
            ),
            (false, true) if awsvpc => out.error(
                "load-balancer",
                format!("{at}/loadBalancerName"),
                "Classic Load Balancers cannot route to awsvpc tasks; use an Application or Network Load Balancer target group (target type ip).",
            ),
            _ => {}
        }
        let name = lb.container_name.as_deref().map(str::trim);
        let container = match name {
            None | Some("") => {
                out.error(
                    "load-balancer-container-name",
                    at.clone(),
                    "Container Name can not be blank.",
                );
                None
            }
            Some(n) if is_template(n) => {
                out.template(format!("{at}/containerName"), "The container name", n);
                None
            }
            Some(n) => match td {
                Some(t) => {
                    let found = t
                        .container_definitions
                        .iter()
                        .flatten()
                        .find(|c| c.name.as_deref() == Some(n));
                    if found.is_none() {
                        out.error_help(
                            "load-balancer-container-unknown",
                            format!("{at}/containerName"),
                            format!("The container {n} does not exist in the task definition."),
                            format!(
                                "The task definition's containers: {}.",
                                t.container_definitions
                                    .iter()
                                    .flatten()
                                    .filter_map(|c| c.name.as_deref())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ),
                        );
                    }
                    found
                }
                None => None,
            },
        };
        match lb.container_port {
            None => out.error(
                "load-balancer",
                at.clone(),
                "A load balancer entry needs the containerPort the load balancer sends traffic to.",
            ),
            Some(port) => {
                if let Some(c) = container {
                    let mapped = c.port_mappings.iter().flatten().any(|m| {
                        m.container_port == Some(port)
                            || m.container_port_range
                                .as_deref()
                                .is_some_and(|r| in_range(r, port))
                    });
                    let dynamic = c.port_mappings.iter().flatten().any(|m| {
                        m.container_port == Some(port) && m.host_port.is_none_or(|h| h == 0)
                    });
                    let bridge = td.is_some_and(|t| {
                        matches!(t.network_mode.as_ref(), None | Some(NetworkMode::Bridge))
                    });
                    if mapped && dynamic && bridge && clb && !tg {
                        // aws/aws-sdk-js#1397, hashicorp/terraform#9285 (UpdateService: #24274).
                        out.error_help(
                            "load-balancer-host-port",
                            format!("{at}/containerPort"),
                            format!("A host port mapping for the container port {port} is required."),
                            format!("A Classic Load Balancer routes to a fixed instance port: give the mapping of {port} a hostPort, or use an Application Load Balancer target group, which follows dynamic host ports."),
                        );
                    }
                    if !mapped {
                        let n = c.name.as_deref().unwrap_or_default();
                        let ports: Vec<String> = c
                            .port_mappings
                            .iter()
                            .flatten()
                            .filter_map(|m| m.container_port.map(|p| p.to_string()))
                            .collect();
                        out.error_help(
                            "load-balancer-container-port",
                            format!("{at}/containerPort"),
                            format!(
                                "The container {n} did not have a container port {port} defined."
                            ),
                            if ports.is_empty() {
                                format!("Add a port mapping for {port} to the container {n}.")
                            } else {
                                format!(
                                    "The container {n} maps {}; add {port} or use one of them.",
                                    ports.join(", ")
                                )
                            },
                        );
                    }
                }
            }
        }
        let key = (
            lb.target_group_arn
                .clone()
                .or_else(|| lb.load_balancer_name.clone()),
            lb.container_name.clone(),
            lb.container_port,
        );
        if (tg || clb) && !seen.insert(key) {
            out.error(
                "load-balancer",
                at,
                "This load balancer entry repeats an earlier one (same target, container and port).",
            );
        }
    }
    let target_groups = lbs.iter().filter(|lb| !blank(&lb.target_group_arn)).count();
    if target_groups > 5 {
        out.error(
            "load-balancer",
            AT,
            format!("A service can use at most 5 target groups; this one uses {target_groups}."),
        );
    }
    let classic: BTreeSet<_> = lbs
        .iter()
        .filter(|lb| !blank(&lb.load_balancer_name) && blank(&lb.target_group_arn))
        .filter_map(|lb| lb.load_balancer_name.as_deref())
        .collect();
    if classic.len() > 1 {
        out.error(
            "load-balancer",
            AT,
            format!(
                "A service can use at most one Classic Load Balancer; this one uses {}.",
                classic.len()
            ),
        );
    }
}

/// Whether `port` is in a `containerPortRange` such as `8000-8010`.
fn in_range(range: &str, port: i32) -> bool {
    range
        .split_once('-')
        .and_then(|(a, b)| Some((a.trim().parse::<i32>().ok()?, b.trim().parse::<i32>().ok()?)))
        .is_some_and(|(a, b)| (a..=b).contains(&port))
}
