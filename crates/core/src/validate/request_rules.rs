//! The rules `CreateService`, `UpdateService` and `RunTask` share — how a task is launched
//! (launch type, capacity providers, platform version, the task definition's
//! `compatibilities`), its network configuration, placement constraints and strategies, the
//! cluster and task-definition references, tags — and the catalogue of every service and
//! `RunTask` rule ([`CATALOGUE`]).
//!
//! The rules read typed requests and return findings whose JSON pointers are relative to the
//! request; the service and `RunTask` modules place them in the document. Nothing here looks
//! at the source text. Where the embedded cluster or the placement engine already answers a
//! case, the message is theirs, word for word (the cluster can then share these rules);
//! messages quoted from ECS are marked `ECS` in the catalogue (`docs/ecs-semantics.md`
//! §1.12, §3; evidence in the report that added them).

use super::rules::{is_template, valid_name};
use super::{Finding, Severity};
use crate::model::{
    CapacityProviderStrategyItem, Compatibility, LaunchType, NetworkConfiguration, NetworkMode,
    PlacementConstraint, PlacementStrategy, Tag, TaskDefinition,
};
use crate::placement::{
    Expression, MAX_CONSTRAINTS, MAX_EXPRESSION_LEN, MAX_STRATEGIES, PlacementError,
};
use std::collections::BTreeSet;

/// (code, description) of every service and `RunTask` rule. Descriptions starting with `ECS`
/// quote ECS's own message; the others' messages are ours (or the embedded cluster's).
pub(crate) const CATALOGUE: &[(&str, &str)] = &[
    (
        "launch-type-and-capacity-provider",
        "ECS: Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.",
    ),
    (
        "capacity-provider-strategy",
        "Capacity provider strategy rules: at most 20 providers, each named once, at most one with a base, at least one with a weight above zero, not Fargate and Auto Scaling group providers together (ECS's text for the last).",
    ),
    (
        "launch-type-compatibility",
        "ECS: Task definition does not support launch_type <LAUNCH_TYPE>. (the launch type is not in the task definition's compatibilities)",
    ),
    (
        "platform-version-ec2",
        "ECS: The platform version must be null when specifying an EC2 launch type.",
    ),
    (
        "network-configuration-required",
        "ECS: Network Configuration must be provided when networkMode 'awsvpc' is specified. (also for Fargate, which is always awsvpc)",
    ),
    (
        "network-configuration-not-awsvpc",
        "ECS: Network Configuration is not valid for the given networkMode of this task definition.",
    ),
    (
        "assign-public-ip",
        "ECS: Assign public IP is not supported for this launch type. (assignPublicIp ENABLED with EC2 or EXTERNAL)",
    ),
    (
        "network-configuration",
        "ECS (no subnet): subnets can not be empty. (awslabs/fargatecli#73); ours: at most 16 subnets, at most 5 security groups.",
    ),
    (
        "request-placement-constraint",
        "Placement constraints of a service or RunTask: distinctInstance without an expression, memberOf with a valid cluster-query-language expression of at most 2000 characters, 10 in all with the task definition's (the placement engine's messages).",
    ),
    (
        "placement-strategy",
        "Placement strategies: at most 5; spread by instanceId, host or attribute:<name>; binpack by cpu or memory (the placement engine's messages); random takes no field (warning).",
    ),
    (
        "placement-constraints-fargate",
        "ECS: Placement constraints are not supported with FARGATE launch type. (GetSimpl/cloudlift#138, hashicorp/terraform-provider-aws#26337)",
    ),
    (
        "placement-fargate",
        "Warning: placement strategies with Fargate, which places tasks itself and does not use them.",
    ),
    (
        "cluster-name",
        "The cluster is a name of up to 255 letters, digits, hyphens and underscores, or a cluster ARN.",
    ),
    (
        "task-definition-reference",
        "taskDefinition is a family, family:revision or task definition ARN (error; ECS's texts where a part after the last ':' is not a number — Invalid revision number. (hashicorp/terraform-provider-aws#30313) — or the family has other characters — Family contains invalid characters. (aws/aws-cli#6774); ours otherwise); warning when it names another family than the task definition checked alongside.",
    ),
    (
        "service-name",
        "serviceName is up to 255 letters, digits, hyphens and underscores.",
    ),
    (
        "desired-count",
        "desiredCount is 0 or more (error); above 5000, the default quota of tasks per service (warning).",
    ),
    (
        "desired-count-required",
        "Warning: a CreateService request for a REPLICA service without desiredCount.",
    ),
    (
        "health-check-grace-period",
        "ECS (older API versions; a warning, as ECS now applies the grace period to container health checks too and accepts it without load balancers — kayac/ecspresso#805, aws-cloudformation/cfn-lint#4227): Health check grace period is only valid for services configured to use load balancers",
    ),
    (
        "service-role",
        "ECS: You cannot specify an IAM role for services that require a service linked role. (role with an awsvpc or Fargate task definition, with no or more than one load balancer, with service discovery or the EXTERNAL controller; hashicorp/terraform-provider-aws#4657, aws/containers-roadmap#461, cloudposse/terraform-aws-ecs-alb-service-task#118)",
    ),
    (
        "load-balancer",
        "Load balancer entries: a targetGroupArn or a loadBalancerName (not both), a containerPort, at most 5 target groups and 1 Classic Load Balancer, no Classic Load Balancer with awsvpc, no entry twice.",
    ),
    (
        "load-balancer-container-name",
        "ECS: Container Name can not be blank.",
    ),
    (
        "load-balancer-container-unknown",
        "ECS: The container <NAME> does not exist in the task definition.",
    ),
    (
        "load-balancer-container-port",
        "ECS: The container <NAME> did not have a container port <PORT> defined.",
    ),
    (
        "load-balancer-host-port",
        "ECS: A host port mapping for the container port <PORT> is required. (a Classic Load Balancer and a bridge-mode mapping with a dynamic host port; aws/aws-sdk-js#1397, hashicorp/terraform#9285)",
    ),
    (
        "service-registries",
        "A service can have at most one service registry.",
    ),
    (
        "service-registry-port",
        "ECS: Specify a value for either 'port' or the 'containerName' and 'containerPort' combination, but not both. Remove one and retry. (cloudposse/terraform-aws-ecs-web-app#208)",
    ),
    (
        "service-registry-container",
        "ECS: When specifying 'host' or 'bridge' for networkMode, values for 'containerName' and 'containerPort' must be specified from the task definition. Registry: <registryArn> (techservicesillinois/terraform-aws-ecs-service#16)",
    ),
    (
        "capacity-provider-update",
        "ECS (a warning: ECS refuses it only when the strategy differs from the service's current one, which a file does not tell): When switching from launch type to capacity provider strategy on an existing service, or making a change to a capacity provider strategy on a service that is already using one, you must force a new deployment. (kayac/ecspresso#481, aws/aws-cdk#34631)",
    ),
    (
        "deployment-configuration",
        "deploymentConfiguration percentages are zero or more (ours), and maximumPercent is 100 for a DAEMON service (the deployment engine's messages; above 100 ECS's: The daemon scheduling strategy does not support values above 100 for maximumPercent on a deployment configuration. Change the maximumPercent value to 100, and try again — aws/aws-cdk#2209).",
    ),
    (
        "deployment-stuck",
        "ECS (service event, as a warning): service (NAME) was unable to stop or start tasks during a deployment because of the service deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again.",
    ),
    (
        "deployment-controller",
        "The CODE_DEPLOY deployment controller needs an Application or Network Load Balancer target group.",
    ),
    (
        "external-task-set-members",
        "ECS: TaskDefinition must be blank. / LoadBalancers must be empty or null. / NetworkConfiguration must be null. (CreateService with the EXTERNAL deployment controller; terraform-aws-modules/terraform-aws-ecs#278, hashicorp/terraform-provider-aws#27291, aws/aws-cdk#26335; the launch type, strategy and registries texts are ours)",
    ),
    (
        "daemon-desired-count",
        "ECS: The daemon scheduling strategy does not support a desired count for services. Remove the desired count value and try again",
    ),
    (
        "daemon-placement-strategy",
        "ECS: The daemon scheduling strategy does not support placement strategies. Remove the placement strategy and try again",
    ),
    (
        "daemon-capacity-provider",
        "ECS: Specifying a capacity provider strategy is not supported when you create a service using the DAEMON scheduling strategy.",
    ),
    (
        "daemon-launch-type",
        "The DAEMON scheduling strategy does not support the FARGATE launch type.",
    ),
    (
        "daemon-deployment-controller",
        "The DAEMON scheduling strategy works only with the ECS deployment controller (not CODE_DEPLOY or EXTERNAL).",
    ),
    ("run-task-count", "RunTask count is 1..10."),
    (
        "started-by",
        "startedBy is up to 128 letters, digits, hyphens, forward slashes and underscores.",
    ),
    ("task-group", "A task group name is at most 255 characters."),
    (
        "container-override",
        "Every container override names a container, and each container is overridden once.",
    ),
    (
        "container-override-unknown",
        "ECS: Override for container named <NAME> is not a container in the TaskDefinition.",
    ),
    (
        "overrides-size",
        "ECS: Container Overrides length must be at most 8192",
    ),
    (
        "task-memory-override",
        "ECS: 'memory' setting for container '<NAME>' is greater than for task. (overrides.memory below a container's memory, after its container override; artilleryio/artillery#591)",
    ),
];

/// Collects findings with pointers relative to the request.
#[derive(Default)]
pub(crate) struct Out {
    pub findings: Vec<Finding>,
}

impl Out {
    pub fn error(
        &mut self,
        code: &'static str,
        path: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.push(code, Severity::Error, path.into(), message.into(), None);
    }

    pub fn error_help(
        &mut self,
        code: &'static str,
        path: impl Into<String>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.push(
            code,
            Severity::Error,
            path.into(),
            message.into(),
            Some(help.into()),
        );
    }

    pub fn warn(
        &mut self,
        code: &'static str,
        path: impl Into<String>,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        self.push(code, Severity::Warning, path.into(), message.into(), help);
    }

    fn push(
        &mut self,
        code: &'static str,
        severity: Severity,
        path: String,
        message: String,
        help: Option<String>,
    ) {
        self.findings.push(Finding {
            code,
            severity,
            path,
            message,
            help,
            on_key: false,
        });
    }

    /// A value holding a template placeholder: checked only once rendered.
    pub fn template(&mut self, path: impl Into<String>, what: &str, value: &str) {
        self.warn(
            "template-placeholder",
            path,
            format!(
                "{what} '{value}' contains a template placeholder; it is checked only once the template is rendered."
            ),
            Some(
                "Validate the rendered file (e.g. `ecspresso render` or `envsubst`) to check this value."
                    .into(),
            ),
        );
    }
}

/// What services and `RunTask` requests have in common, borrowed from either.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Common<'a> {
    pub cluster: Option<&'a str>,
    pub task_definition: Option<&'a str>,
    pub launch_type: Option<&'a LaunchType>,
    pub capacity_provider_strategy: Option<&'a [CapacityProviderStrategyItem]>,
    pub network_configuration: Option<&'a NetworkConfiguration>,
    pub placement_constraints: Option<&'a [PlacementConstraint]>,
    pub placement_strategy: Option<&'a [PlacementStrategy]>,
    pub platform_version: Option<&'a str>,
    pub tags: Option<&'a [Tag]>,
    /// An `UpdateService` request: an absent member keeps the service's current value, so rules
    /// that need a member to be present do not apply.
    pub update: bool,
}

impl<'a> Common<'a> {
    /// The launch type, with an empty string (ecspresso writes `"launchType": ""`) as absent.
    pub fn launch_type(&self) -> Option<&'a LaunchType> {
        self.launch_type.filter(|l| !l.as_str().is_empty())
    }

    /// The capacity provider strategy when it has entries.
    pub fn strategy(&self) -> Option<&'a [CapacityProviderStrategyItem]> {
        self.capacity_provider_strategy.filter(|s| !s.is_empty())
    }

    /// How the tasks launch, when the request says: its launch type, or Fargate when every
    /// capacity provider is `FARGATE` or `FARGATE_SPOT`. `None` when it depends on the cluster
    /// (its default strategy, or Auto Scaling group providers).
    pub fn launch(&self) -> Option<(Compatibility, &'static str)> {
        if let Some(lt) = self.launch_type() {
            let c = match lt {
                LaunchType::Ec2 => Compatibility::Ec2,
                LaunchType::Fargate => Compatibility::Fargate,
                LaunchType::External => Compatibility::External,
                LaunchType::ManagedInstances => Compatibility::ManagedInstances,
                LaunchType::Unknown(_) => return None,
            };
            return Some((c, "/launchType"));
        }
        let strategy = self.strategy()?;
        strategy
            .iter()
            .all(|i| {
                matches!(
                    i.capacity_provider.as_deref(),
                    Some("FARGATE" | "FARGATE_SPOT")
                )
            })
            .then_some((Compatibility::Fargate, "/capacityProviderStrategy"))
    }
}

/// Runs the shared rules.
pub(crate) fn check(c: &Common<'_>, td: Option<&TaskDefinition>, out: &mut Out) {
    launch(c, td, out);
    network(c, td, out);
    placement(c, td, out);
    references(c, td, out);
    tags(c.tags, out);
}

fn launch(c: &Common<'_>, td: Option<&TaskDefinition>, out: &mut Out) {
    if c.launch_type().is_some() && c.strategy().is_some() {
        out.error(
            "launch-type-and-capacity-provider",
            "/launchType",
            "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.",
        );
    }
    if let Some(strategy) = c.strategy() {
        capacity_provider_strategy(strategy, out);
    }
    if let (Some(lt), Some(pv)) = (c.launch_type(), c.platform_version) {
        if *lt == LaunchType::Ec2 && !pv.is_empty() {
            out.error_help(
                "platform-version-ec2",
                "/platformVersion",
                "The platform version must be null when specifying an EC2 launch type.",
                "Remove platformVersion: it applies to Fargate only.",
            );
        }
    }
    let compatibilities = td
        .and_then(|t| t.compatibilities.as_deref())
        .filter(|c| !c.is_empty());
    if let (Some(compatibilities), Some((launch, at))) = (compatibilities, c.launch()) {
        if launch.is_known() && !compatibilities.contains(&launch) {
            out.error_help(
                "launch-type-compatibility",
                at,
                format!(
                    "Task definition does not support launch_type {}.",
                    launch.as_str()
                ),
                format!(
                    "The task definition is compatible with {}; add {} to its requiresCompatibilities (and meet its rules), or launch it differently.",
                    compatibilities
                        .iter()
                        .map(Compatibility::as_str)
                        .collect::<Vec<_>>()
                        .join(", "),
                    launch.as_str()
                ),
            );
        }
    }
}

/// Texts of the embedded cluster's `check_strategy` where it has one.
fn capacity_provider_strategy(strategy: &[CapacityProviderStrategyItem], out: &mut Out) {
    const AT: &str = "/capacityProviderStrategy";
    if strategy.len() > 20 {
        out.error(
            "capacity-provider-strategy",
            AT,
            "A capacity provider strategy can have at most 20 providers.",
        );
    }
    let mut names = BTreeSet::new();
    for (i, item) in strategy.iter().enumerate() {
        if let Some(name) = item.capacity_provider.as_deref() {
            if !names.insert(name) {
                out.error(
                    "capacity-provider-strategy",
                    format!("{AT}/{i}/capacityProvider"),
                    format!("The capacity provider {name} appears more than once in the strategy."),
                );
            }
        }
    }
    if strategy.iter().filter(|i| i.base.unwrap_or(0) > 0).count() > 1 {
        let second = strategy
            .iter()
            .enumerate()
            .filter(|(_, i)| i.base.unwrap_or(0) > 0)
            .nth(1)
            .map_or(0, |(n, _)| n);
        out.error(
            "capacity-provider-strategy",
            format!("{AT}/{second}/base"),
            "Only one capacity provider in a strategy can have a base defined.",
        );
    }
    let fargate = |i: &CapacityProviderStrategyItem| {
        matches!(
            i.capacity_provider.as_deref(),
            Some("FARGATE" | "FARGATE_SPOT")
        )
    };
    if let Some(n) = strategy.iter().position(|i| !fargate(i))
        && strategy.iter().any(fargate)
    {
        // ECS's text (terraform-aws-modules/terraform-aws-ecs#68).
        out.error(
            "capacity-provider-strategy",
            format!("{AT}/{n}/capacityProvider"),
            "A capacity provider strategy cannot contain a mix of capacity providers using Auto Scaling groups and Fargate providers. Specify one or the other and try again.",
        );
    }
    if strategy.iter().all(|i| i.weight.unwrap_or(0) <= 0) {
        out.error_help(
            "capacity-provider-strategy",
            AT,
            "At least one capacity provider in the strategy must have a weight greater than zero.",
            "The weight defaults to 0; give the provider that should take the tasks a weight of 1 or more.",
        );
    }
}

fn network(c: &Common<'_>, td: Option<&TaskDefinition>, out: &mut Out) {
    const AT: &str = "/networkConfiguration";
    let fargate = c.launch().is_some_and(|(l, _)| l == Compatibility::Fargate);
    let td_awsvpc = td.map(|t| {
        t.network_mode
            .as_ref()
            .is_some_and(|n| *n == NetworkMode::Awsvpc)
    });
    let awsvpc = c
        .network_configuration
        .and_then(|n| n.awsvpc_configuration.as_ref());
    if td_awsvpc.unwrap_or(fargate) && awsvpc.is_none() && !c.update {
        let (path, help) = if c.network_configuration.is_some() {
            (
                format!("{AT}/awsvpcConfiguration"),
                "Add awsvpcConfiguration with the subnets (and security groups) the tasks' network interfaces go in.",
            )
        } else {
            (
                AT.to_string(),
                "Add networkConfiguration.awsvpcConfiguration with the subnets (and security groups) the tasks' network interfaces go in.",
            )
        };
        let help = if td_awsvpc.is_none() {
            format!("{help} Fargate tasks always use the awsvpc network mode.")
        } else {
            help.to_string()
        };
        out.error_help(
            "network-configuration-required",
            path,
            "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
            help,
        );
    }
    if td_awsvpc == Some(false) && c.network_configuration.is_some() {
        let mode = td
            .and_then(|t| t.network_mode.as_ref())
            .map_or("bridge (the default)", |m| m.as_str());
        out.error_help(
            "network-configuration-not-awsvpc",
            AT,
            "Network Configuration is not valid for the given networkMode of this task definition.",
            format!("The task definition's network mode is {mode}; only awsvpc tasks take a networkConfiguration. Remove it, or use an awsvpc task definition."),
        );
    }
    let Some(vpc) = awsvpc else { return };
    let at = format!("{AT}/awsvpcConfiguration");
    match vpc.subnets.as_deref() {
        Some([]) => out.error(
            "network-configuration",
            format!("{at}/subnets"),
            // ECS's text (awslabs/fargatecli#73).
            "subnets can not be empty.",
        ),
        Some(s) if s.len() > 16 => out.error(
            "network-configuration",
            format!("{at}/subnets"),
            format!(
                "awsvpcConfiguration can name at most 16 subnets; this one names {}.",
                s.len()
            ),
        ),
        _ => {}
    }
    if let Some(groups) = vpc.security_groups.as_deref().filter(|g| g.len() > 5) {
        out.error(
            "network-configuration",
            format!("{at}/securityGroups"),
            format!(
                "awsvpcConfiguration can name at most 5 security groups; this one names {}.",
                groups.len()
            ),
        );
    }
    let public = vpc
        .assign_public_ip
        .as_ref()
        .is_some_and(|a| a.as_str() == "ENABLED");
    let on_instances = c
        .launch()
        .is_some_and(|(l, _)| matches!(l, Compatibility::Ec2 | Compatibility::External));
    if public && on_instances {
        out.error_help(
            "assign-public-ip",
            format!("{at}/assignPublicIp"),
            "Assign public IP is not supported for this launch type.",
            "Only Fargate tasks get a public IP of their own; on EC2 remove assignPublicIp (or set DISABLED) and route through the instance's network.",
        );
    }
}

fn placement(c: &Common<'_>, td: Option<&TaskDefinition>, out: &mut Out) {
    let constraints = c.placement_constraints.unwrap_or_default();
    let strategies = c.placement_strategy.unwrap_or_default();
    let from_td = td
        .and_then(|t| t.placement_constraints.as_ref())
        .map_or(0, Vec::len);
    let count = constraints.len() + from_td;
    if !constraints.is_empty() && count > MAX_CONSTRAINTS {
        out.error(
            "request-placement-constraint",
            "/placementConstraints",
            PlacementError::TooManyConstraints {
                count,
                max: MAX_CONSTRAINTS,
            }
            .to_string(),
        );
    }
    for (i, pc) in constraints.iter().enumerate() {
        let at = format!("/placementConstraints/{i}");
        let expr = pc.expression.as_deref().filter(|e| !e.trim().is_empty());
        match pc.r#type.as_ref().map(|t| t.as_str()) {
            // Even an empty expression: terraform sent `""` in hashicorp/terraform#11446.
            Some("distinctInstance") if pc.expression.is_some() => out.error(
                "request-placement-constraint",
                format!("{at}/expression"),
                PlacementError::UnexpectedExpression.to_string(),
            ),
            Some("memberOf") => match expr {
                None => out.error(
                    "request-placement-constraint",
                    at,
                    PlacementError::MissingExpression.to_string(),
                ),
                Some(e) if is_template(e) => {
                    out.template(format!("{at}/expression"), "The expression", e);
                }
                Some(e) if e.chars().count() > MAX_EXPRESSION_LEN => out.error(
                    "request-placement-constraint",
                    format!("{at}/expression"),
                    PlacementError::ExpressionTooLong {
                        length: e.chars().count(),
                        max: MAX_EXPRESSION_LEN,
                    }
                    .to_string(),
                ),
                Some(e) => {
                    if let Err(source) = Expression::parse(e) {
                        out.error(
                            "request-placement-constraint",
                            format!("{at}/expression"),
                            PlacementError::InvalidExpression {
                                expression: e.to_string(),
                                source,
                            }
                            .to_string(),
                        );
                    }
                }
            },
            _ => {}
        }
    }
    if strategies.len() > MAX_STRATEGIES {
        out.error(
            "placement-strategy",
            "/placementStrategy",
            PlacementError::TooManyStrategies {
                count: strategies.len(),
                max: MAX_STRATEGIES,
            }
            .to_string(),
        );
    }
    for (i, s) in strategies.iter().enumerate() {
        let at = format!("/placementStrategy/{i}");
        let field = s.field.as_deref().map(str::trim).filter(|f| !f.is_empty());
        if field.is_some_and(is_template) {
            continue;
        }
        let invalid = |kind: &str, expected: &str| PlacementError::InvalidStrategyField {
            kind: kind.into(),
            field: s.field.clone(),
            expected: expected.into(),
        };
        let field_at = if s.field.is_some() {
            format!("{at}/field")
        } else {
            at.clone()
        };
        let binpack_ok =
            |f: &str| f.eq_ignore_ascii_case("cpu") || f.eq_ignore_ascii_case("memory");
        let spread_ok = |f: &str| {
            f.eq_ignore_ascii_case("instanceId")
                || f.eq_ignore_ascii_case("host")
                || f.get(..10)
                    .is_some_and(|p| p.eq_ignore_ascii_case("attribute:"))
                    && f.len() > 10
        };
        match (s.r#type.as_ref().map(|t| t.as_str()), field) {
            (Some("binpack"), f) if !f.is_some_and(binpack_ok) => out.error(
                "placement-strategy",
                field_at,
                invalid("binpack", "cpu or memory").to_string(),
            ),
            (Some("spread"), f) if !f.is_some_and(spread_ok) => out.error(
                "placement-strategy",
                field_at,
                invalid("spread", "instanceId, host or attribute:<name>").to_string(),
            ),
            (Some("random"), Some(f)) => out.warn(
                "placement-strategy",
                field_at,
                format!("A random placement strategy takes no field; '{f}' is ignored."),
                Some("Remove the field.".into()),
            ),
            _ => {}
        }
    }
    if c.launch().is_some_and(|(l, _)| l == Compatibility::Fargate) {
        if !constraints.is_empty() {
            // ECS refuses them (GetSimpl/cloudlift#138, hashicorp/terraform-provider-aws#26337).
            out.error_help(
                "placement-constraints-fargate",
                "/placementConstraints",
                "Placement constraints are not supported with FARGATE launch type.",
                "Fargate places tasks itself, spread across availability zones: remove placementConstraints, or launch on EC2.",
            );
        }
        if !strategies.is_empty() {
            out.warn(
                "placement-fargate",
                "/placementStrategy",
                "Fargate does not use placement strategies: it places tasks itself, spread across availability zones.",
                Some("Remove the placement strategies, or launch on EC2.".into()),
            );
        }
    }
}

fn references(c: &Common<'_>, td: Option<&TaskDefinition>, out: &mut Out) {
    if let Some(cluster) = c.cluster {
        if is_template(cluster) {
            out.template("/cluster", "The cluster", cluster);
        } else {
            let name = cluster.strip_prefix("arn:").map_or(Some(cluster), |rest| {
                rest.split_once(":cluster/").map(|(_, n)| n)
            });
            if !name.is_some_and(valid_name) {
                out.error(
                    "cluster-name",
                    "/cluster",
                    "Cluster name can have up to 255 characters: letters (upper and lower case), numbers, underscores and hyphens.",
                );
            }
        }
    }
    let Some(reference) = c.task_definition else {
        return;
    };
    if is_template(reference) {
        out.template("/taskDefinition", "The task definition", reference);
        return;
    }
    let Some(family) = task_definition_family(reference) else {
        // ECS's answers where it has one, as the embedded cluster gives them (its
        // `check_reference`): a revision that is not a number, a family with other characters.
        let message = match reference_fault(reference) {
            Some(fault) => fault.message().to_string(),
            None => format!("'{reference}' is not a task definition reference."),
        };
        out.error_help(
            "task-definition-reference",
            "/taskDefinition",
            message,
            format!("'{reference}' is not a task definition reference: name the family (latest ACTIVE revision), family:revision, or the task definition ARN."),
        );
        return;
    };
    if let Some(other) = td.and_then(|t| t.family.as_deref()) {
        if !is_template(other) && other != family {
            out.warn(
                "task-definition-reference",
                "/taskDefinition",
                format!(
                    "taskDefinition names the family '{family}', but the task definition checked alongside is '{other}'."
                ),
                Some("Check the input against the task definition it runs.".into()),
            );
        }
    }
}

/// The family a task definition reference names: `family`, `family:revision` or
/// `arn:…:task-definition/family[:revision]`.
fn task_definition_family(reference: &str) -> Option<&str> {
    let short = match reference.strip_prefix("arn:") {
        Some(rest) => rest.split_once(":task-definition/")?.1,
        None => reference,
    };
    let (family, revision) = match short.split_once(':') {
        Some((f, r)) => (f, Some(r)),
        None => (short, None),
    };
    let revision_ok = revision.is_none_or(|r| {
        !r.is_empty()
            && r.bytes().all(|b| b.is_ascii_digit())
            && r.parse::<u32>().is_ok_and(|n| n > 0)
    });
    (valid_name(family) && revision_ok).then_some(family)
}

/// The tag rules of task definitions, with the same texts.
fn tags(tags: Option<&[Tag]>, out: &mut Out) {
    let mut keys = BTreeSet::new();
    for (i, t) in tags.unwrap_or_default().iter().enumerate() {
        let key = t.key.as_deref().unwrap_or_default();
        if key.to_ascii_lowercase().starts_with("aws:") {
            out.error(
                "tags",
                format!("/tags/{i}/key"),
                format!("Tag key '{key}' uses the reserved prefix 'aws:'."),
            );
        }
        if !keys.insert(key) {
            out.error(
                "tags",
                format!("/tags/{i}/key"),
                format!("Tag key '{key}' appears more than once."),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_definition_references() {
        for (r, family) in [
            ("web", Some("web")),
            ("web:3", Some("web")),
            (
                "arn:aws:ecs:eu-west-1:123456789012:task-definition/web:12",
                Some("web"),
            ),
            (
                "arn:aws:ecs:eu-west-1:123456789012:task-definition/web",
                Some("web"),
            ),
            ("web:0", None),
            ("web:x", None),
            ("web:", None),
            ("we b", None),
            ("arn:aws:ecs:eu-west-1:123456789012:service/web", None),
            ("", None),
        ] {
            assert_eq!(task_definition_family(r), family, "{r}");
        }
    }

    #[test]
    fn catalogue_codes_are_unique_and_new() {
        let mut seen = BTreeSet::new();
        for (code, _) in CATALOGUE {
            assert!(seen.insert(*code), "{code} twice");
            assert!(
                !super::super::RULES.iter().any(|(c, _)| c == code),
                "{code} is already a task-definition rule"
            );
        }
    }
}

/// What ECS answers to a `taskDefinition` reference that cannot name a revision, before it
/// looks the reference up (CreateService, UpdateService): see [`ReferenceFault`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceFault {
    /// The part after the last `:` is not a number: `Invalid revision number.`
    /// (InvalidParameterException; hashicorp/terraform-provider-aws#30313,
    /// hashicorp/terraform#17746).
    InvalidRevision,
    /// The family has characters outside `[A-Za-z0-9_-]`: `Family contains invalid
    /// characters.` (ClientException; aws/aws-cli#6774, an image URL given as the task
    /// definition).
    FamilyInvalid,
}

impl ReferenceFault {
    /// ECS's text.
    pub fn message(self) -> &'static str {
        match self {
            ReferenceFault::InvalidRevision => "Invalid revision number.",
            ReferenceFault::FamilyInvalid => "Family contains invalid characters.",
        }
    }
}

/// ECS's objection to a task definition reference (`family`, `family:revision` or an ARN), if
/// it has one.
///
/// ```
/// use berth_core::validate::{ReferenceFault, reference_fault};
///
/// assert_eq!(reference_fault("web:3"), None);
/// assert_eq!(reference_fault("web:3}"), Some(ReferenceFault::InvalidRevision));
/// assert_eq!(reference_fault("1234.dkr.ecr.eu-west-2.amazonaws.com/web"), Some(ReferenceFault::FamilyInvalid));
/// ```
pub fn reference_fault(reference: &str) -> Option<ReferenceFault> {
    let tail = match reference.split_once(":task-definition/") {
        Some((head, tail)) if head.starts_with("arn:") => tail,
        _ => reference,
    };
    let (family, revision) = match tail.rsplit_once(':') {
        Some((f, r)) => (f, Some(r)),
        None => (tail, None),
    };
    if revision.is_some_and(|r| r.is_empty() || !r.bytes().all(|b| b.is_ascii_digit())) {
        Some(ReferenceFault::InvalidRevision)
    } else if !family
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Some(ReferenceFault::FamilyInvalid)
    } else {
        None
    }
}
