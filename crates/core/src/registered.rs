//! What ECS fills in when it stores a task definition: the members `RegisterTaskDefinition`
//! and `DescribeTaskDefinition` return although the request did not carry them.
//!
//! Scripts read these members (`essential` is `true`, not absent), so an ECS-compatible server
//! must return them as ECS does. The rules below are derived from the describe outputs and
//! console exports in `testdata/corpus/taskdefs/` (SOURCES.tsv names them); the corpus test
//! `registered_task_definitions_match_ecs` in `crates/cluster/tests` registers each file's
//! request and compares the answer with the file member by member.
//!
//! # Members filled when absent ([`fill_registered`])
//!
//! | Member | Filled with | Corpus evidence |
//! |---|---|---|
//! | container `essential` | `true` | every describe output (094, 096, 097, 105, 135, 141 …) |
//! | container `cpu` | `0` | 094, 096, 097, 105, 141 (`"cpu": 0` where the author set none) |
//! | container `portMappings`, `environment`, `mountPoints`, `volumesFrom` | `[]` | 105, 141, 012's `log_router`, 128 |
//! | container `systemControls` | `[]` | 096, 105, 135 (outputs from 2024 on; 094, 097 and 141 predate it) |
//! | `portMappings[].protocol` | `tcp` | 012, 085, 094, 096, 100, 139 |
//! | `portMappings[].hostPort` | `containerPort` in `awsvpc`/`host` mode; `0` in `bridge` mode (also the default mode on Linux EC2) | 094, 096, 097, 135, 139 (awsvpc); 111 (bridge, `0`) |
//! | task `volumes`, `placementConstraints` | `[]` | every describe output |
//! | `healthCheck.interval`, `.timeout`, `.retries` | `30`, `5`, `3` (never `startPeriod`) | outside the corpus, which has no registered health check: hako#56 ("DescribeTaskDefinition returns interval=30 even if RegisterTaskDefinition is called without" it), terraform-aws-modules/terraform-aws-ecs#148 and pulumi/pulumi-aws#847 (a health check with only `command` comes back with the three, a perpetual diff), terraform-provider-aws#22060 and #38872 |
//!
//! Members ECS does **not** fill, also from the corpus: `networkMode` stays absent when the
//! request had none (141), `mountPoints[].readOnly` stays absent (012), `requiresCompatibilities`
//! stays as sent; lists the request sent empty (`environmentFiles: []`, `ulimits: []`,
//! `secretOptions: []`) come back empty, and lists it left out stay out (141 has no
//! `environmentFiles`).
//!
//! # `requiresAttributes` ([`requires_attributes`])
//!
//! ECS lists the container-instance capabilities a task definition needs. Each rule, with the
//! corpus files that show it (an attribute appears whenever its condition holds and never
//! otherwise, across 094, 096, 097, 100, 105, 135, 139 and 141):
//!
//! | Condition | Attribute |
//! |---|---|
//! | a container logs with driver `D` | `com.amazonaws.ecs.capability.logging-driver.D` |
//! | a container has a `logConfiguration` | `com.amazonaws.ecs.capability.docker-remote-api.1.19` |
//! | `awslogs` and an `executionRoleArn` | `ecs.capability.execution-role-awslogs` |
//! | an `awslogs` option `awslogs-create-group` | `com.amazonaws.ecs.capability.docker-remote-api.1.29` |
//! | an image in ECR (`<account>.dkr.ecr.<region>.amazonaws.com/…`) | `com.amazonaws.ecs.capability.ecr-auth` |
//! | an ECR image and an `executionRoleArn` | `ecs.capability.execution-role-ecr-pull` |
//! | a `taskRoleArn` | `com.amazonaws.ecs.capability.task-iam-role` |
//! | `networkMode` `awsvpc` | `com.amazonaws.ecs.capability.docker-remote-api.1.18`, `ecs.capability.task-eni` |
//! | a container `memoryReservation` | `com.amazonaws.ecs.capability.docker-remote-api.1.21` |
//! | a container `startTimeout`, `stopTimeout` or `dependsOn` | `ecs.capability.container-ordering` |
//! | a `credentialspecdomainless:` credential spec | `ecs.capability.gmsa-domainless` |
//! | `ephemeralStorage` | `ecs.capability.extensible-ephemeral-storage` |
//! | a container `healthCheck` | `ecs.capability.container-health-check`, and `com.amazonaws.ecs.capability.docker-remote-api.1.24` without a `startPeriod`, `…1.29` with one (Docker's API took `StartPeriod` in 1.29) |
//! | `pidMode` or `ipcMode` | `ecs.capability.pid-ipc-namespace-sharing` |
//! | a `proxyConfiguration` | `ecs.capability.aws-appmesh` |
//!
//! The last three rows come from describe outputs outside the corpus (none of its registered
//! definitions has a health check, a pid/ipc mode or a proxy): a console export with a health
//! check and no `startPeriod` that lists `1.24` and `container-health-check`
//! (jeftegoes/MicroservicesArchitectureOverviewAndProjects, `HiringCandidate.Command/README.md`),
//! one with `startPeriod: 120` that lists `container-health-check` and `1.29` but not `1.24`
//! (Pirate-Weather's Kong write-up), and a describe output with `pidMode`, `ipcMode`, an
//! `APPMESH` proxy and a `startPeriod` health check that lists `pid-ipc-namespace-sharing`,
//! `aws-appmesh`, `container-health-check` and `1.29` but not `1.24` (the
//! `ecsorbtest1` fixture of a GitHub Action's tests).
//!
//! The order is ECS's own and not stable across outputs; this module lists attributes in the
//! order of the table.
//!
//! # What it deliberately does not do
//!
//! - **No attribute whose rule the corpus does not show.** Two outputs carry one each that no
//!   member explains: `docker-remote-api.1.17` (100) and `docker-remote-api.1.28` (135, with
//!   `awslogs` options `mode` and `max-buffer-size`; elsewhere seen with EFS volumes). Guessing
//!   would add attributes ECS does not, so neither is computed.
//! - **No read-only members** (`taskDefinitionArn`, `revision`, `status`, `registeredAt`,
//!   `registeredBy`, `compatibilities`): they depend on the account, the family's history and
//!   the clock, which the store knows and this module does not.
//! - **No defaults ECS applies without echoing them** (`readOnly: false`, a health check's
//!   `startPeriod`, `versionConsistency`): the revision diff ([`crate::diff`]) fills those on
//!   top of these to compare meanings; a server must not return them.
//! - **No validation**: the caller validates first and fills only what ECS would accept.

use crate::model::{
    Attribute, Compatibility, ContainerDefinition, LogDriver, NetworkMode, OSFamily,
    RegisterTaskDefinitionRequest, TransportProtocol,
};

/// Fills the members ECS adds to a registration when it stores it (see the
/// [module documentation](self) for the table and its evidence). Members the request set are
/// kept as they are.
///
/// ```
/// use berth_core::model::read_task_definition;
/// use berth_core::registered::fill_registered;
///
/// let mut request = read_task_definition(r#"{"family": "web", "networkMode": "awsvpc",
///     "containerDefinitions": [{"name": "app", "image": "nginx:1.27",
///         "portMappings": [{"containerPort": 80}]}]}"#).unwrap().request;
/// fill_registered(&mut request);
/// let app = &request.container_definitions.as_ref().unwrap()[0];
/// assert_eq!(app.essential, Some(true));
/// assert_eq!(app.cpu, Some(0));
/// assert_eq!(app.environment.as_deref().map(<[_]>::len), Some(0));
/// let port = &app.port_mappings.as_ref().unwrap()[0];
/// assert_eq!(port.host_port, Some(80));
/// assert_eq!(request.volumes.as_deref().map(<[_]>::len), Some(0));
/// assert_eq!(request.network_mode.as_ref().map(|m| m.as_str()), Some("awsvpc"));
/// ```
pub fn fill_registered(request: &mut RegisterTaskDefinitionRequest) {
    let mode = effective_network_mode(request);
    for container in request.container_definitions.iter_mut().flatten() {
        fill_container(container, mode.as_ref());
    }
    request.volumes.get_or_insert_with(Vec::new);
    request.placement_constraints.get_or_insert_with(Vec::new);
}

/// The network mode tasks of this definition use: the one it names, else `bridge` where that is
/// ECS's default (Linux on EC2 or EXTERNAL), else `None` (Fargate and Managed Instances need
/// `awsvpc` spelled out, and Windows' default is its own NAT mode).
///
/// ```
/// use berth_core::model::read_task_definition;
/// use berth_core::registered::effective_network_mode;
///
/// let ec2 = read_task_definition(r#"{"family": "a", "containerDefinitions": []}"#).unwrap();
/// assert_eq!(effective_network_mode(&ec2.request).map(|m| m.as_str().to_owned()), Some("bridge".into()));
/// let fargate = read_task_definition(
///     r#"{"family": "a", "requiresCompatibilities": ["FARGATE"], "containerDefinitions": []}"#).unwrap();
/// assert_eq!(effective_network_mode(&fargate.request), None);
/// ```
pub fn effective_network_mode(request: &RegisterTaskDefinitionRequest) -> Option<NetworkMode> {
    if request.network_mode.is_some() {
        return request.network_mode.clone();
    }
    let launch_types_allow = request
        .requires_compatibilities
        .iter()
        .flatten()
        .all(|c| matches!(c, Compatibility::Ec2 | Compatibility::External));
    let linux = request
        .runtime_platform
        .as_ref()
        .and_then(|p| p.operating_system_family.as_ref())
        .is_none_or(|family| *family == OSFamily::Linux);
    (launch_types_allow && linux).then_some(NetworkMode::Bridge)
}

/// The container members of [`fill_registered`], for a task whose effective network mode is
/// `mode` ([`effective_network_mode`]).
pub fn fill_container(c: &mut ContainerDefinition, mode: Option<&NetworkMode>) {
    c.essential.get_or_insert(true);
    c.cpu.get_or_insert(0);
    for mapping in c.port_mappings.iter_mut().flatten() {
        mapping.protocol.get_or_insert(TransportProtocol::Tcp);
        if let (None, None, Some(port)) = (
            mapping.host_port,
            &mapping.container_port_range,
            mapping.container_port,
        ) {
            mapping.host_port = match mode {
                Some(NetworkMode::Awsvpc | NetworkMode::Host) => Some(port),
                Some(NetworkMode::Bridge) => Some(0),
                _ => None,
            };
        }
    }
    if let Some(check) = &mut c.health_check {
        check.interval.get_or_insert(30);
        check.timeout.get_or_insert(5);
        check.retries.get_or_insert(3);
    }
    c.port_mappings.get_or_insert_with(Vec::new);
    c.environment.get_or_insert_with(Vec::new);
    c.mount_points.get_or_insert_with(Vec::new);
    c.volumes_from.get_or_insert_with(Vec::new);
    c.system_controls.get_or_insert_with(Vec::new);
}

/// The `requiresAttributes` ECS computes for a registration (see the
/// [module documentation](self) for the rules), each attribute once, in the table's order.
///
/// ```
/// use berth_core::model::read_task_definition;
/// use berth_core::registered::requires_attributes;
///
/// let request = read_task_definition(r#"{"family": "web", "networkMode": "awsvpc",
///     "taskRoleArn": "arn:aws:iam::123456789012:role/app",
///     "containerDefinitions": [{"name": "app", "image": "nginx:1.27"}]}"#).unwrap().request;
/// let names: Vec<_> = requires_attributes(&request).into_iter().filter_map(|a| a.name).collect();
/// assert_eq!(names, [
///     "com.amazonaws.ecs.capability.task-iam-role",
///     "com.amazonaws.ecs.capability.docker-remote-api.1.18",
///     "ecs.capability.task-eni",
/// ]);
/// ```
pub fn requires_attributes(request: &RegisterTaskDefinitionRequest) -> Vec<Attribute> {
    let containers: Vec<&ContainerDefinition> =
        request.container_definitions.iter().flatten().collect();
    let has_role = |role: &Option<String>| role.as_deref().is_some_and(|r| !r.is_empty());
    let execution_role = has_role(&request.execution_role_arn);
    let logs = || {
        containers
            .iter()
            .filter_map(|c| c.log_configuration.as_ref())
    };
    let awslogs = logs().any(|l| l.log_driver.as_ref() == Some(&LogDriver::Awslogs));
    let ecr = containers
        .iter()
        .any(|c| c.image.as_deref().is_some_and(is_ecr_image));

    let mut names: Vec<String> = Vec::new();
    let mut add = |name: &str| {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    };
    for driver in logs().filter_map(|l| l.log_driver.as_ref()) {
        add(&format!(
            "com.amazonaws.ecs.capability.logging-driver.{}",
            driver.as_str()
        ));
    }
    if logs().next().is_some() {
        add("com.amazonaws.ecs.capability.docker-remote-api.1.19");
    }
    if awslogs && execution_role {
        add("ecs.capability.execution-role-awslogs");
    }
    let create_group = logs().any(|l| {
        l.log_driver.as_ref() == Some(&LogDriver::Awslogs)
            && l.options
                .as_ref()
                .is_some_and(|o| o.contains_key("awslogs-create-group"))
    });
    if create_group {
        add("com.amazonaws.ecs.capability.docker-remote-api.1.29");
    }
    if ecr {
        add("com.amazonaws.ecs.capability.ecr-auth");
        if execution_role {
            add("ecs.capability.execution-role-ecr-pull");
        }
    }
    if has_role(&request.task_role_arn) {
        add("com.amazonaws.ecs.capability.task-iam-role");
    }
    if request.network_mode == Some(NetworkMode::Awsvpc) {
        add("com.amazonaws.ecs.capability.docker-remote-api.1.18");
        add("ecs.capability.task-eni");
    }
    if containers.iter().any(|c| c.memory_reservation.is_some()) {
        add("com.amazonaws.ecs.capability.docker-remote-api.1.21");
    }
    if containers.iter().any(|c| {
        c.start_timeout.is_some()
            || c.stop_timeout.is_some()
            || c.depends_on.as_ref().is_some_and(|d| !d.is_empty())
    }) {
        add("ecs.capability.container-ordering");
    }
    let domainless = containers.iter().any(|c| {
        c.credential_specs
            .iter()
            .flatten()
            .any(|s| s.starts_with("credentialspecdomainless:"))
    });
    if domainless {
        add("ecs.capability.gmsa-domainless");
    }
    if request.ephemeral_storage.is_some() {
        add("ecs.capability.extensible-ephemeral-storage");
    }
    let checks = || containers.iter().filter_map(|c| c.health_check.as_ref());
    if checks().next().is_some() {
        add("ecs.capability.container-health-check");
    }
    if checks().any(|h| h.start_period.is_none()) {
        add("com.amazonaws.ecs.capability.docker-remote-api.1.24");
    }
    if checks().any(|h| h.start_period.is_some()) {
        add("com.amazonaws.ecs.capability.docker-remote-api.1.29");
    }
    if request.pid_mode.is_some() || request.ipc_mode.is_some() {
        add("ecs.capability.pid-ipc-namespace-sharing");
    }
    if request.proxy_configuration.is_some() {
        add("ecs.capability.aws-appmesh");
    }
    names
        .into_iter()
        .map(|name| Attribute {
            name: Some(name),
            value: None,
            target_type: None,
            target_id: None,
        })
        .collect()
}

/// Whether an image lives in Amazon ECR: its registry host is
/// `<account>.dkr.ecr.<region>.amazonaws.com` (or `.amazonaws.com.cn`).
fn is_ecr_image(image: &str) -> bool {
    let Some((host, _)) = image.split_once('/') else {
        return false;
    };
    host.contains(".dkr.ecr.")
        && (host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::read_task_definition;

    fn request(text: &str) -> RegisterTaskDefinitionRequest {
        read_task_definition(text).unwrap().request
    }

    fn names(text: &str) -> Vec<String> {
        requires_attributes(&request(text))
            .into_iter()
            .filter_map(|a| a.name)
            .collect()
    }

    #[test]
    fn kept_members_are_not_overwritten() {
        let mut r = request(
            r#"{"family": "a", "networkMode": "bridge", "containerDefinitions": [{"name": "a",
            "image": "x", "essential": false, "cpu": 128, "environment": [{"name": "A", "value": "1"}],
            "portMappings": [{"containerPort": 80, "hostPort": 8080, "protocol": "udp"},
                             {"containerPort": 81}, {"containerPortRange": "9000-9010"}]}]}"#,
        );
        fill_registered(&mut r);
        let c = &r.container_definitions.as_ref().unwrap()[0];
        assert_eq!((c.essential, c.cpu), (Some(false), Some(128)));
        assert_eq!(c.environment.as_ref().unwrap().len(), 1);
        let ports = c.port_mappings.as_ref().unwrap();
        assert_eq!(ports[0].host_port, Some(8080));
        assert_eq!(ports[0].protocol, Some(TransportProtocol::Udp));
        assert_eq!(ports[1].host_port, Some(0), "bridge: dynamic");
        assert_eq!(ports[2].host_port, None, "ranges get no hostPort");
        assert_eq!(ports[2].protocol, Some(TransportProtocol::Tcp));
    }

    #[test]
    fn host_ports_follow_the_effective_network_mode() {
        let host_port = |text: &str| {
            let mut r = request(text);
            fill_registered(&mut r);
            r.container_definitions.unwrap()[0]
                .port_mappings
                .as_ref()
                .unwrap()[0]
                .host_port
        };
        let c = r#""containerDefinitions": [{"name": "a", "image": "x", "portMappings": [{"containerPort": 80}]}]"#;
        assert_eq!(host_port(&format!(r#"{{"family": "a", {c}}}"#)), Some(0));
        assert_eq!(
            host_port(&format!(r#"{{"family": "a", "networkMode": "host", {c}}}"#)),
            Some(80)
        );
        assert_eq!(
            host_port(&format!(
                r#"{{"family": "a", "requiresCompatibilities": ["FARGATE"], {c}}}"#
            )),
            None
        );
    }

    #[test]
    fn network_mode_itself_is_not_filled() {
        let mut r = request(r#"{"family": "a", "containerDefinitions": []}"#);
        fill_registered(&mut r);
        assert_eq!(r.network_mode, None);
    }

    #[test]
    fn attributes_of_logs_roles_and_images() {
        assert_eq!(
            names(
                r#"{"family": "a", "containerDefinitions": [{"name": "a",
                "image": "915404051908.dkr.ecr.us-east-2.amazonaws.com/bot:latest",
                "logConfiguration": {"logDriver": "awslogs", "options": {}}}]}"#
            ),
            [
                "com.amazonaws.ecs.capability.logging-driver.awslogs",
                "com.amazonaws.ecs.capability.docker-remote-api.1.19",
                "com.amazonaws.ecs.capability.ecr-auth",
            ]
        );
        assert_eq!(
            names(
                r#"{"family": "a", "executionRoleArn": "arn:aws:iam::1:role/x",
                "containerDefinitions": [{"name": "a", "image": "nginx", "memoryReservation": 64,
                "stopTimeout": 5, "logConfiguration": {"logDriver": "awslogs",
                "options": {"awslogs-create-group": "true"}}}], "ephemeralStorage": {"sizeInGiB": 21}}"#
            ),
            [
                "com.amazonaws.ecs.capability.logging-driver.awslogs",
                "com.amazonaws.ecs.capability.docker-remote-api.1.19",
                "ecs.capability.execution-role-awslogs",
                "com.amazonaws.ecs.capability.docker-remote-api.1.29",
                "com.amazonaws.ecs.capability.docker-remote-api.1.21",
                "ecs.capability.container-ordering",
                "ecs.capability.extensible-ephemeral-storage",
            ]
        );
        assert!(names(r#"{"family": "a", "taskRoleArn": "", "containerDefinitions": [{"name": "a", "image": "x"}]}"#).is_empty());
    }

    #[test]
    fn health_checks_get_ecs_defaults_and_their_attributes() {
        // A health check with only its command comes back with interval 30, timeout 5 and
        // retries 3, and no startPeriod (hako#56, terraform-aws-ecs#148, pulumi-aws#847).
        let text = r#"{"family": "a", "networkMode": "awsvpc", "containerDefinitions": [{"name": "a",
            "image": "x", "healthCheck": {"command": ["CMD-SHELL", "true"]}}]}"#;
        let mut r = request(text);
        fill_registered(&mut r);
        let check = r.container_definitions.as_ref().unwrap()[0]
            .health_check
            .clone()
            .unwrap();
        assert_eq!(
            (
                check.interval,
                check.timeout,
                check.retries,
                check.start_period
            ),
            (Some(30), Some(5), Some(3), None)
        );
        // As the console export with a check and no startPeriod lists them.
        assert_eq!(
            names(text),
            [
                "com.amazonaws.ecs.capability.docker-remote-api.1.18",
                "ecs.capability.task-eni",
                "ecs.capability.container-health-check",
                "com.amazonaws.ecs.capability.docker-remote-api.1.24",
            ]
        );
        // Values sent are kept.
        let mut r = request(
            r#"{"family": "a", "containerDefinitions": [{"name": "a", "image": "x",
            "healthCheck": {"command": ["CMD", "true"], "interval": 5, "timeout": 2, "retries": 1}}]}"#,
        );
        fill_registered(&mut r);
        let check = r.container_definitions.unwrap()[0]
            .health_check
            .clone()
            .unwrap();
        assert_eq!(
            (check.interval, check.timeout, check.retries),
            (Some(5), Some(2), Some(1))
        );
        // The `ecsorbtest1` describe output: pid and ipc modes, an App Mesh proxy, a
        // startPeriod (1.29, not 1.24) and a HEALTHY dependency.
        assert_eq!(
            names(
                r#"{"family": "ecsorbtest1", "networkMode": "awsvpc", "pidMode": "task",
                "ipcMode": "host", "proxyConfiguration": {"type": "APPMESH", "containerName": "envoy"},
                "containerDefinitions": [
                  {"name": "sleep", "image": "busybox", "memory": 10,
                   "dependsOn": [{"containerName": "envoy", "condition": "HEALTHY"}]},
                  {"name": "envoy", "image": "111345817488.dkr.ecr.us-west-2.amazonaws.com/aws-appmesh-envoy:v1.9.1.0-prod",
                   "memory": 10, "healthCheck": {"command": ["echo test"], "interval": 5,
                   "timeout": 2, "retries": 3, "startPeriod": 10}}]}"#
            ),
            [
                "com.amazonaws.ecs.capability.ecr-auth",
                "com.amazonaws.ecs.capability.docker-remote-api.1.18",
                "ecs.capability.task-eni",
                "ecs.capability.container-ordering",
                "ecs.capability.container-health-check",
                "com.amazonaws.ecs.capability.docker-remote-api.1.29",
                "ecs.capability.pid-ipc-namespace-sharing",
                "ecs.capability.aws-appmesh",
            ]
        );
    }

    #[test]
    fn ecr_images_are_recognised_by_their_registry_host() {
        assert!(is_ecr_image(
            "147882094138.dkr.ecr.eu-central-1.amazonaws.com/witp"
        ));
        assert!(is_ecr_image(
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/app:1"
        ));
        assert!(!is_ecr_image("public.ecr.aws/nginx/nginx:1.27"));
        assert!(!is_ecr_image("nginx:1.27"));
        assert!(!is_ecr_image("evil.example/x.dkr.ecr.y.amazonaws.com"));
    }
}
