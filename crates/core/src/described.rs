//! What ECS always puts in the services, deployments, tasks, containers and container instances
//! it returns: members a describe answer carries although nobody set them.
//!
//! Scripts and SDK code read these members (`healthCheckGracePeriodSeconds` is `0`, a running
//! container's `healthStatus` is `UNKNOWN`, every task lists its `ecs.cpu-architecture`), so an
//! ECS-compatible server must return them as ECS does. The rules are derived from real
//! describe outputs: the AWS CLI's own examples (`awscli/examples/ecs/*.rst` in aws/aws-cli) and
//! a recorded session against a live account; `docs/ecs-response-shapes.md` has every member
//! with its sources and the members ECS returns only sometimes.
//!
//! | Shape | Member | Filled with (when absent) |
//! |---|---|---|
//! | Service | `healthCheckGracePeriodSeconds` | `0` |
//! | Service | `deploymentConfiguration.deploymentCircuitBreaker` | `{enable: false, rollback: false}` |
//! | Service | `deploymentConfiguration.maximumPercent` / `minimumHealthyPercent` | 200/100 (`REPLICA`), 100/0 (`DAEMON`) |
//! | Service | `availabilityZoneRebalancing` | `DISABLED` (Berth does not rebalance) |
//! | Service | `roleArn` | the account's ECS service-linked role, for `awsvpc` or load-balanced services |
//! | Service, Deployment | `platformFamily` (and the deployment's resolved `platformVersion`) | `Linux`, `1.4.0` for `LATEST` (Fargate) |
//! | Task | `attributes` | `[{name: ecs.cpu-architecture, value: x86_64 \| arm64}]` |
//! | Task | `overrides.containerOverrides` | one `{name}` per container the request did not override |
//! | Task (Fargate) | `ephemeralStorage`, `fargateEphemeralStorage` | `{sizeInGiB: 20}` or the task definition's size |
//! | Container (once started) | `healthStatus` | `UNKNOWN` |
//! | Container (once started) | `networkBindings` | `[]` when it publishes no host port (`awsvpc`, or no port mappings) |
//! | Resource | `doubleValue`, `longValue`, `integerValue` | `0` |
//!
//! # What it deliberately does not do
//!
//! - **No invented identities.** ECS gives an `awsvpc` task an elastic network interface
//!   (`attachments[]` of type `ElasticNetworkInterface`, `containers[].networkInterfaces[]`),
//!   containers a `runtimeId` and images an `imageDigest`. The cluster records these where its
//!   runtime knows them (the ENI's address under Docker); a made-up ENI id or digest would be
//!   data a script could act on, so none is filled here.
//! - **No host ports it does not know.** A bridge-mode container with port mappings gets its
//!   `networkBindings` from the runtime (the Docker runtime reports them); nothing is guessed.
//! - **No state.** The callers look up the task definition and the instance's architecture;
//!   these functions only fill members.

use crate::model::{
    AvailabilityZoneRebalancing, Container, ContainerOverride, Deployment,
    DeploymentCircuitBreaker, DeploymentConfiguration, EphemeralStorage, HealthStatus, Resource,
    Service, Task, TaskDefinition, TaskEphemeralStorage, TaskOverride,
};

/// The size of a Fargate task's ephemeral storage when its task definition sets none, in GiB.
pub const DEFAULT_FARGATE_STORAGE_GIB: i32 = 20;

/// The platform version a Fargate `LATEST` resolves to (the one Berth's Fargate tasks report).
pub const LATEST_FARGATE_PLATFORM: &str = "1.4.0";

/// The ARN of the ECS service-linked role of the account that owns `service_arn`.
pub fn service_linked_role_arn(service_arn: &str) -> Option<String> {
    let account = service_arn.split(':').nth(4).filter(|a| !a.is_empty())?;
    Some(format!(
        "arn:aws:iam::{account}:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS"
    ))
}

/// Fills the members ECS always returns on a service and its deployments (see the
/// [module documentation](self)). Members already set are kept.
///
/// ```
/// use berth_core::model::Service;
/// use berth_core::described::fill_service;
///
/// let mut s = Service {
///     service_arn: Some("arn:aws:ecs:us-east-1:123456789012:service/c/web".into()),
///     ..Service::default()
/// };
/// fill_service(&mut s);
/// assert_eq!(s.health_check_grace_period_seconds, Some(0));
/// let cfg = s.deployment_configuration.unwrap();
/// assert_eq!((cfg.maximum_percent, cfg.minimum_healthy_percent), (Some(200), Some(100)));
/// assert_eq!(cfg.deployment_circuit_breaker.unwrap().enable, Some(false));
/// assert_eq!(s.availability_zone_rebalancing.unwrap().as_str(), "DISABLED");
/// assert_eq!(s.role_arn, None, "no awsvpc, no load balancer: no role");
/// ```
pub fn fill_service(s: &mut Service) {
    s.health_check_grace_period_seconds.get_or_insert(0);
    let daemon = s
        .scheduling_strategy
        .as_ref()
        .is_some_and(|x| x.as_str() == "DAEMON");
    fill_deployment_configuration(
        s.deployment_configuration
            .get_or_insert_with(Default::default),
        daemon,
    );
    s.availability_zone_rebalancing
        .get_or_insert_with(|| AvailabilityZoneRebalancing::from("DISABLED"));
    let load_balanced = s.load_balancers.as_ref().is_some_and(|l| !l.is_empty());
    if s.role_arn.is_none() && (s.network_configuration.is_some() || load_balanced) {
        s.role_arn = s.service_arn.as_deref().and_then(service_linked_role_arn);
    }
    let fargate = s.platform_version.is_some();
    if fargate {
        s.platform_family.get_or_insert_with(|| "Linux".into());
    }
    let platform = s.platform_version.clone();
    for d in s.deployments.iter_mut().flatten() {
        fill_deployment(d, platform.as_deref());
    }
}

/// Fills a service's deployment configuration (also the copy a service deployment carries):
/// the percents Berth applies (200/100, or 100/0 for a `DAEMON` service) and a disabled
/// circuit breaker.
pub fn fill_deployment_configuration(cfg: &mut DeploymentConfiguration, daemon: bool) {
    cfg.maximum_percent
        .get_or_insert(if daemon { 100 } else { 200 });
    cfg.minimum_healthy_percent
        .get_or_insert(if daemon { 0 } else { 100 });
    cfg.deployment_circuit_breaker
        .get_or_insert_with(|| DeploymentCircuitBreaker {
            enable: Some(false),
            rollback: Some(false),
            ..DeploymentCircuitBreaker::default()
        });
}

/// Fills a deployment of a service whose platform version (Fargate only) is `platform`.
pub fn fill_deployment(d: &mut Deployment, platform: Option<&str>) {
    if let Some(p) = platform {
        d.platform_version.get_or_insert_with(|| {
            if p == "LATEST" {
                LATEST_FARGATE_PLATFORM.into()
            } else {
                p.into()
            }
        });
        d.platform_family.get_or_insert_with(|| "Linux".into());
    }
}

/// Fills a container-instance resource: ECS returns `doubleValue`, `longValue` and
/// `integerValue` on every resource, `0` where the type does not use them.
pub fn fill_resource(r: &mut Resource) {
    r.double_value.get_or_insert(0.0);
    r.long_value.get_or_insert(0);
    r.integer_value.get_or_insert(0);
}

/// What [`fill_task`] needs to know besides the task.
#[derive(Debug, Clone, Copy, Default)]
pub struct TaskFacts<'a> {
    /// The task's task definition, when it is still known.
    pub task_definition: Option<&'a TaskDefinition>,
    /// The `ecs.cpu-architecture` attribute of the container instance an EC2 task runs on.
    pub instance_cpu_architecture: Option<&'a str>,
}

/// The `ecs.cpu-architecture` ECS reports on a task: the instance's for EC2, the task
/// definition's `runtimePlatform` (default `x86_64`) for Fargate.
pub fn cpu_architecture(task: &Task, facts: &TaskFacts<'_>) -> Option<String> {
    let fargate = task
        .launch_type
        .as_ref()
        .is_some_and(|l| l.as_str() == "FARGATE");
    if !fargate {
        return facts.instance_cpu_architecture.map(str::to_string);
    }
    let declared = facts
        .task_definition
        .and_then(|td| td.runtime_platform.as_ref())
        .and_then(|p| p.cpu_architecture.as_ref())
        .map(|a| a.as_str().to_ascii_lowercase());
    Some(declared.unwrap_or_else(|| "x86_64".into()))
}

/// Fills the members ECS always returns on a task and its containers (see the
/// [module documentation](self)). Members already set are kept.
///
/// ```
/// use berth_core::model::{Container, LaunchType, Task};
/// use berth_core::described::{fill_task, TaskFacts};
///
/// let mut t = Task {
///     launch_type: Some(LaunchType::from("FARGATE")),
///     containers: Some(vec![Container { name: Some("app".into()), ..Container::default() }]),
///     ..Task::default()
/// };
/// fill_task(&mut t, &TaskFacts::default());
/// let attrs = t.attributes.unwrap();
/// assert_eq!(attrs[0].name.as_deref(), Some("ecs.cpu-architecture"));
/// assert_eq!(attrs[0].value.as_deref(), Some("x86_64"));
/// let names: Vec<_> = t.overrides.unwrap().container_overrides.unwrap()
///     .into_iter().map(|o| o.name.unwrap()).collect();
/// assert_eq!(names, ["app"]);
/// assert_eq!(t.ephemeral_storage.unwrap().size_in_gib, Some(20));
/// ```
pub fn fill_task(t: &mut Task, facts: &TaskFacts<'_>) {
    if t.attributes.as_ref().is_none_or(Vec::is_empty) {
        if let Some(arch) = cpu_architecture(t, facts) {
            t.attributes = Some(vec![crate::model::Attribute {
                name: Some("ecs.cpu-architecture".into()),
                value: Some(arch),
                ..Default::default()
            }]);
        }
    }
    let names: Vec<String> = t
        .containers
        .iter()
        .flatten()
        .filter_map(|c| c.name.clone())
        .collect();
    let overrides = t.overrides.get_or_insert_with(TaskOverride::default);
    overrides
        .inference_accelerator_overrides
        .get_or_insert_with(Vec::new);
    let list = overrides.container_overrides.get_or_insert_with(Vec::new);
    for name in names {
        if !list
            .iter()
            .any(|o| o.name.as_deref() == Some(name.as_str()))
        {
            list.push(ContainerOverride {
                name: Some(name),
                ..ContainerOverride::default()
            });
        }
    }
    let fargate = t
        .launch_type
        .as_ref()
        .is_some_and(|l| l.as_str() == "FARGATE");
    if fargate {
        let size = facts
            .task_definition
            .and_then(|td| td.ephemeral_storage.as_ref())
            .and_then(|e| e.size_in_gib)
            .unwrap_or(DEFAULT_FARGATE_STORAGE_GIB);
        t.ephemeral_storage.get_or_insert(EphemeralStorage {
            size_in_gib: Some(size),
        });
        t.fargate_ephemeral_storage
            .get_or_insert(TaskEphemeralStorage {
                size_in_gib: Some(size),
                kms_key_id: None,
            });
    }
    if t.started_at.is_some() {
        for c in t.containers.iter_mut().flatten() {
            let publishes = publishes_host_ports(facts.task_definition, c.name.as_deref());
            fill_started_container(c, publishes);
        }
    }
}

/// Whether a container of `td` publishes host ports (a port mapping outside `awsvpc` and
/// `none` mode). Unknown (no task definition, no such container) counts as publishing, so
/// nothing is claimed.
fn publishes_host_ports(td: Option<&TaskDefinition>, name: Option<&str>) -> bool {
    let Some(td) = td else { return true };
    let mode = td.network_mode.as_ref().map(|m| m.as_str());
    if matches!(mode, Some("awsvpc" | "none")) {
        return false;
    }
    let Some(def) = td
        .container_definitions
        .iter()
        .flatten()
        .find(|d| d.name.as_deref() == name)
    else {
        return true;
    };
    def.port_mappings.as_ref().is_some_and(|p| !p.is_empty())
}

/// Fills a container of a task that has started: ECS reports `healthStatus` (`UNKNOWN` without
/// a health check) and `networkBindings` on every container that ran.
fn fill_started_container(c: &mut Container, publishes_host_ports: bool) {
    if !matches!(c.last_status.as_deref(), Some("RUNNING" | "STOPPED")) {
        return;
    }
    c.health_status
        .get_or_insert_with(|| HealthStatus::from("UNKNOWN"));
    if !publishes_host_ports {
        c.network_bindings.get_or_insert_with(Vec::new);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        AwsVpcConfiguration, ContainerDefinition, LaunchType, NetworkConfiguration, NetworkMode,
        PortMapping, SchedulingStrategy,
    };

    fn service(arn: &str) -> Service {
        Service {
            service_arn: Some(arn.into()),
            ..Service::default()
        }
    }

    #[test]
    fn members_the_service_set_are_kept() {
        let mut s = service("arn:aws:ecs:us-east-1:1:service/c/s");
        s.health_check_grace_period_seconds = Some(30);
        s.availability_zone_rebalancing = Some(AvailabilityZoneRebalancing::from("ENABLED"));
        s.role_arn = Some("arn:aws:iam::1:role/mine".into());
        s.network_configuration = Some(NetworkConfiguration::default());
        fill_service(&mut s);
        assert_eq!(s.health_check_grace_period_seconds, Some(30));
        assert_eq!(s.availability_zone_rebalancing.unwrap().as_str(), "ENABLED");
        assert_eq!(s.role_arn.as_deref(), Some("arn:aws:iam::1:role/mine"));
    }

    #[test]
    fn awsvpc_services_name_the_service_linked_role() {
        let mut s = service("arn:aws:ecs:eu-west-1:123456789012:service/c/s");
        s.network_configuration = Some(NetworkConfiguration {
            awsvpc_configuration: Some(AwsVpcConfiguration::default()),
        });
        fill_service(&mut s);
        assert_eq!(
            s.role_arn.as_deref(),
            Some(
                "arn:aws:iam::123456789012:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS"
            )
        );
    }

    #[test]
    fn daemon_defaults_and_fargate_deployments() {
        let mut s = service("arn:aws:ecs:us-east-1:1:service/c/d");
        s.scheduling_strategy = Some(SchedulingStrategy::from("DAEMON"));
        fill_service(&mut s);
        let cfg = s.deployment_configuration.unwrap();
        assert_eq!(
            (cfg.maximum_percent, cfg.minimum_healthy_percent),
            (Some(100), Some(0))
        );
        let mut f = service("arn:aws:ecs:us-east-1:1:service/c/f");
        f.platform_version = Some("LATEST".into());
        f.deployments = Some(vec![Deployment::default()]);
        fill_service(&mut f);
        assert_eq!(f.platform_family.as_deref(), Some("Linux"));
        let d = &f.deployments.unwrap()[0];
        assert_eq!(d.platform_version.as_deref(), Some("1.4.0"));
        assert_eq!(d.platform_family.as_deref(), Some("Linux"));
    }

    #[test]
    fn resources_carry_all_three_numbers() {
        let mut r = Resource {
            name: Some("PORTS".into()),
            r#type: Some("STRINGSET".into()),
            string_set_value: Some(vec!["22".into()]),
            ..Resource::default()
        };
        fill_resource(&mut r);
        assert_eq!(
            (r.double_value, r.long_value, r.integer_value),
            (Some(0.0), Some(0), Some(0))
        );
    }

    fn container(name: &str, status: &str) -> Container {
        Container {
            name: Some(name.into()),
            last_status: Some(status.into()),
            ..Container::default()
        }
    }

    #[test]
    fn given_overrides_stay_first_and_every_container_is_named() {
        let mut t = Task {
            launch_type: Some(LaunchType::from("EC2")),
            containers: Some(vec![container("a", "PENDING"), container("b", "PENDING")]),
            overrides: Some(TaskOverride {
                container_overrides: Some(vec![ContainerOverride {
                    name: Some("b".into()),
                    command: Some(vec!["x".into()]),
                    ..ContainerOverride::default()
                }]),
                ..TaskOverride::default()
            }),
            ..Task::default()
        };
        fill_task(
            &mut t,
            &TaskFacts {
                task_definition: None,
                instance_cpu_architecture: Some("arm64"),
            },
        );
        let o = t.overrides.unwrap();
        let list = o.container_overrides.unwrap();
        assert_eq!(list[0].command.as_deref(), Some(&["x".to_string()][..]));
        assert_eq!(list[1].name.as_deref(), Some("a"));
        assert_eq!(o.inference_accelerator_overrides, Some(vec![]));
        assert_eq!(t.attributes.unwrap()[0].value.as_deref(), Some("arm64"));
        assert!(t.ephemeral_storage.is_none(), "EC2 tasks have none");
    }

    #[test]
    fn started_containers_get_health_and_bindings_only_when_known() {
        let td = TaskDefinition {
            network_mode: Some(NetworkMode::from("bridge")),
            container_definitions: Some(vec![
                ContainerDefinition {
                    name: Some("web".into()),
                    port_mappings: Some(vec![PortMapping {
                        container_port: Some(80),
                        ..PortMapping::default()
                    }]),
                    ..ContainerDefinition::default()
                },
                ContainerDefinition {
                    name: Some("worker".into()),
                    ..ContainerDefinition::default()
                },
            ]),
            ..TaskDefinition::default()
        };
        let mut t = Task {
            launch_type: Some(LaunchType::from("EC2")),
            started_at: Some(crate::model::Timestamp::from_datetime(
                chrono::DateTime::UNIX_EPOCH,
            )),
            containers: Some(vec![
                container("web", "RUNNING"),
                container("worker", "RUNNING"),
            ]),
            ..Task::default()
        };
        fill_task(
            &mut t,
            &TaskFacts {
                task_definition: Some(&td),
                instance_cpu_architecture: None,
            },
        );
        let cs = t.containers.unwrap();
        assert_eq!(cs[0].health_status.as_ref().unwrap().as_str(), "UNKNOWN");
        assert_eq!(
            cs[0].network_bindings, None,
            "a dynamic host port is not guessed"
        );
        assert_eq!(cs[1].network_bindings, Some(vec![]));
        assert_eq!(t.attributes, None, "no instance architecture known");
    }

    #[test]
    fn pending_containers_are_left_alone() {
        let mut t = Task {
            launch_type: Some(LaunchType::from("FARGATE")),
            containers: Some(vec![container("app", "PENDING")]),
            ..Task::default()
        };
        fill_task(&mut t, &TaskFacts::default());
        let c = &t.containers.as_ref().unwrap()[0];
        assert!(c.health_status.is_none() && c.network_bindings.is_none());
        assert_eq!(
            t.fargate_ephemeral_storage.unwrap().size_in_gib,
            Some(DEFAULT_FARGATE_STORAGE_GIB)
        );
    }
}
