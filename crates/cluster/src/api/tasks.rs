//! RunTask, StartTask, StopTask, DescribeTasks, ListTasks, Get/UpdateTaskProtection, and the
//! task record helpers the reconciler shares (creating a task, requesting its stop). How
//! runtime events move a task through its lifecycle is the reconciler's (`reconciler::events`).

use berth_core::deploy as dp;
use berth_core::model as m;
use berth_core::placement as pl;
use berth_core::protocol::{AwsError, ErrorCode};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::taskdefs::resolve;
use super::{
    Answer, Page, Read, Write, active_cluster, active_cluster_mut, check_batch, check_tags,
    failure, last_segment, out, ts,
};
#[cfg(debug_assertions)]
use crate::state::View;
use crate::state::{ClusterRec, Env, Key, PlacementCache, TaskDefRec, TaskRec};
use crate::taskids::TaskId;

/// Checks a capacity provider strategy: ≤20 items, providers associated with the cluster
/// (`allowed`), not Fargate and Auto Scaling group ones together, base/weight ranges.
pub(crate) fn check_strategy(
    strategy: &[m::CapacityProviderStrategyItem],
    allowed: Option<&[String]>,
) -> Result<(), AwsError> {
    if strategy.len() > 20 {
        return Err(AwsError::invalid_parameter(
            "A capacity provider strategy can have at most 20 providers.",
        ));
    }
    let mut with_base = 0;
    for item in strategy {
        let name = item.capacity_provider.as_deref().unwrap_or_default();
        if allowed.is_some_and(|a| !a.iter().any(|p| p == name)) {
            // ECS's text (dask/dask-cloudprovider#328: FARGATE_SPOT on a cluster without it);
            // a provider that does not exist is not associated either.
            return Err(AwsError::invalid_parameter(
                "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again.",
            ));
        }
        if !(0..=1000).contains(&item.weight.unwrap_or(0))
            || !(0..=100_000).contains(&item.base.unwrap_or(0))
        {
            return Err(AwsError::invalid_parameter(
                "Capacity provider weight must be 0–1000 and base 0–100000.",
            ));
        }
        if item.base.unwrap_or(0) > 0 {
            with_base += 1;
        }
    }
    super::providers::check_mix(strategy)?;
    if with_base > 1 {
        return Err(AwsError::invalid_parameter(
            "Only one capacity provider in a strategy can have a base defined.",
        ));
    }
    Ok(())
}

/// How a task is launched: EC2 on an instance, or a Fargate capacity provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Launch {
    /// On a container instance: the EC2 launch type (`None`), or an Auto Scaling group
    /// capacity provider, whose tasks the cluster's instances run.
    Ec2(Option<String>),
    /// Fargate with this capacity provider (`None`: the FARGATE launch type).
    Fargate(Option<String>),
}

/// Decides the launch from `launchType` / `capacityProviderStrategy` / the cluster default.
pub(crate) fn choose_launch(
    c: &ClusterRec,
    launch_type: Option<&m::LaunchType>,
    strategy: Option<&[m::CapacityProviderStrategyItem]>,
    random: u64,
) -> Result<Launch, AwsError> {
    if launch_type.is_some() && strategy.is_some_and(|s| !s.is_empty()) {
        return Err(AwsError::invalid_parameter(
            "Specifying both a launch type and capacity provider strategy is not supported. Remove one and try again.",
        ));
    }
    if let Some(lt) = launch_type {
        return match lt.as_str() {
            "EC2" => Ok(Launch::Ec2(None)),
            "FARGATE" => Ok(Launch::Fargate(None)),
            other => Err(AwsError::invalid_parameter(format!(
                "Launch type {other} is not supported by the local cluster (EC2 and FARGATE are)."
            ))),
        };
    }
    let strategy = match strategy {
        Some(s) if !s.is_empty() => s,
        _ if !c.default_strategy.is_empty() => &c.default_strategy[..],
        _ => return Ok(Launch::Ec2(None)),
    };
    check_strategy(strategy, Some(&c.capacity_providers))?;
    let on = |p: &Option<String>| {
        if super::providers::strategy_is_fargate(strategy) {
            Launch::Fargate(p.clone())
        } else {
            Launch::Ec2(p.clone())
        }
    };
    if let Some(b) = strategy.iter().find(|i| i.base.unwrap_or(0) > 0) {
        return Ok(on(&b.capacity_provider));
    }
    let total: u64 = strategy
        .iter()
        .map(|i| i.weight.unwrap_or(0).max(0) as u64)
        .sum();
    if total == 0 {
        return Err(AwsError::invalid_parameter(
            "At least one capacity provider in the strategy must have a weight greater than zero.",
        ));
    }
    let mut pick = random % total;
    for i in strategy {
        let wgt = i.weight.unwrap_or(0).max(0) as u64;
        if pick < wgt {
            return Ok(on(&i.capacity_provider));
        }
        pick -= wgt;
    }
    Ok(on(&strategy[0].capacity_provider))
}

/// The `launchType` and `capacityProviderStrategy` a service or task set records for `launch`:
/// the strategy asked for, else the cluster's default one when no launch type was asked (ECS
/// records the strategy it used), and `EC2` for a plain EC2 launch.
pub(crate) fn recorded_launch(
    c: &ClusterRec,
    launch: &Launch,
    launch_type: Option<&m::LaunchType>,
    strategy: Option<&[m::CapacityProviderStrategyItem]>,
) -> (
    Option<m::LaunchType>,
    Option<Vec<m::CapacityProviderStrategyItem>>,
) {
    let strategy = strategy
        .filter(|s| !s.is_empty())
        .map(<[_]>::to_vec)
        .or_else(|| {
            (launch_type.is_none() && !c.default_strategy.is_empty())
                .then(|| c.default_strategy.clone())
        });
    let launch_type = match launch {
        Launch::Ec2(None) => launch_type.cloned().or(Some(m::LaunchType::from("EC2"))),
        Launch::Ec2(Some(_)) | Launch::Fargate(_) => launch_type.cloned(),
    };
    (launch_type, strategy)
}

fn network_mode(td: &m::TaskDefinition) -> pl::NetworkMode {
    match td.network_mode.as_ref().map(|n| n.as_str()) {
        Some("host") => pl::NetworkMode::Host,
        Some("awsvpc") => pl::NetworkMode::Awsvpc,
        Some("none") => pl::NetworkMode::None,
        _ => pl::NetworkMode::Bridge,
    }
}

/// What a task of this definition needs from an instance, with task-level overrides.
pub(crate) fn requirements(
    td: &TaskDefRec,
    group: &str,
    overrides: Option<&m::TaskOverride>,
) -> pl::TaskRequirements {
    let t = &td.td;
    let parse = |s: Option<&String>| s.and_then(|v| v.parse::<u32>().ok());
    let cpu = parse(overrides.and_then(|o| o.cpu.as_ref())).or(parse(t.cpu.as_ref()));
    let memory = parse(overrides.and_then(|o| o.memory.as_ref())).or(parse(t.memory.as_ref()));
    let containers: Vec<pl::ContainerResources> = t
        .container_definitions
        .iter()
        .flatten()
        .map(|c| {
            let o = overrides
                .and_then(|o| o.container_overrides.as_ref())
                .and_then(|os| os.iter().find(|o| o.name == c.name));
            pl::ContainerResources {
                cpu: o.and_then(|o| o.cpu).or(c.cpu).map(|v| v.max(0) as u32),
                memory: o
                    .and_then(|o| o.memory)
                    .or(c.memory)
                    .map(|v| v.max(0) as u32),
                memory_reservation: o
                    .and_then(|o| o.memory_reservation)
                    .or(c.memory_reservation)
                    .map(|v| v.max(0) as u32),
                gpu: c
                    .resource_requirements
                    .iter()
                    .flatten()
                    .filter(|r| r.r#type.as_ref().is_some_and(|t| t.as_str() == "GPU"))
                    .filter_map(|r| r.value.as_ref()?.parse::<u32>().ok())
                    .sum(),
                port_mappings: c
                    .port_mappings
                    .iter()
                    .flatten()
                    .filter_map(|p| {
                        Some(pl::PortMapping {
                            container_port: u16::try_from(p.container_port?).ok()?,
                            host_port: p.host_port.and_then(|h| u16::try_from(h).ok()),
                            protocol: if p.protocol.as_ref().is_some_and(|p| p.as_str() == "udp") {
                                pl::Protocol::Udp
                            } else {
                                pl::Protocol::Tcp
                            },
                        })
                    })
                    .collect(),
            }
        })
        .collect();
    let mut req =
        pl::TaskRequirements::from_containers(group, network_mode(t), cpu, memory, &containers);
    req.placement_constraints = t
        .placement_constraints
        .iter()
        .flatten()
        .filter(|c| c.r#type.as_ref().is_some_and(|t| t.as_str() == "memberOf"))
        .filter_map(|c| {
            c.expression
                .as_deref()
                .map(pl::PlacementConstraint::member_of)
        })
        .collect();
    req
}

/// Converts request placement shapes to the engine's.
pub(crate) fn placement_inputs(
    constraints: Option<&Vec<m::PlacementConstraint>>,
    strategy: Option<&Vec<m::PlacementStrategy>>,
) -> Result<(Vec<pl::PlacementConstraint>, Vec<pl::PlacementStrategy>), AwsError> {
    let cs = constraints
        .iter()
        .flat_map(|v| v.iter())
        .map(|c| match c.r#type.as_ref().map(|t| t.as_str()) {
            Some("distinctInstance") => Ok(pl::PlacementConstraint {
                kind: pl::PlacementConstraintType::DistinctInstance,
                expression: c.expression.clone(),
            }),
            Some("memberOf") => Ok(pl::PlacementConstraint {
                kind: pl::PlacementConstraintType::MemberOf,
                expression: c.expression.clone(),
            }),
            other => Err(AwsError::invalid_parameter(format!(
                "Invalid placement constraint type {other:?}; use distinctInstance or memberOf."
            ))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let ss = strategy
        .iter()
        .flat_map(|v| v.iter())
        .map(|s| {
            let kind = match s.r#type.as_ref().map(|t| t.as_str()) {
                Some("random") => pl::PlacementStrategyType::Random,
                Some("spread") => pl::PlacementStrategyType::Spread,
                Some("binpack") => pl::PlacementStrategyType::Binpack,
                other => {
                    return Err(AwsError::invalid_parameter(format!(
                        "Invalid placement strategy type {other:?}; use random, spread or binpack."
                    )));
                }
            };
            Ok(pl::PlacementStrategy {
                kind,
                field: s.field.clone(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((cs, ss))
}

/// Everything needed to create one task record.
pub(crate) struct NewTask<'a> {
    pub id: String,
    pub td: &'a TaskDefRec,
    pub launch: Launch,
    pub placement: Option<pl::Placement>,
    pub az: String,
    pub requirements: &'a pl::TaskRequirements,
    pub group: String,
    pub started_by: Option<String>,
    pub overrides: Option<m::TaskOverride>,
    pub tags: Vec<m::Tag>,
    pub service: Option<String>,
    /// The subnet of its ENI (`awsvpc` only, see [`crate::eni::subnet`]).
    pub subnet: Option<String>,
}

/// Builds a PROVISIONING task.
pub(crate) fn make_task(env: &Env, cluster: &str, now: DateTime<Utc>, n: NewTask<'_>) -> TaskRec {
    let arn = env.task_arn(cluster, &n.id);
    let td = &n.td.td;
    let defs = td.container_definitions.clone().unwrap_or_default();
    let containers = defs
        .iter()
        .map(|c| m::Container {
            container_arn: Some(env.arn(berth_core::protocol::Resource::Container {
                cluster: cluster.into(),
                task: n.id.clone(),
                id: format!("{}-{}", &n.id[..8], c.name.clone().unwrap_or_default()),
            })),
            task_arn: Some(arn.clone()),
            name: c.name.clone(),
            image: c.image.clone(),
            last_status: Some("PENDING".into()),
            network_interfaces: Some(vec![]),
            health_status: c
                .health_check
                .as_ref()
                .map(|_| m::HealthStatus::from("UNKNOWN")),
            cpu: Some(c.cpu.unwrap_or(0).to_string()),
            memory: c.memory.map(|v| v.to_string()),
            memory_reservation: c.memory_reservation.map(|v| v.to_string()),
            ..m::Container::default()
        })
        .collect();
    let health_checked = defs
        .iter()
        .any(|c| c.essential.unwrap_or(true) && c.health_check.is_some());
    let (launch_type, provider) = match &n.launch {
        Launch::Ec2(p) => ("EC2", p.clone()),
        Launch::Fargate(p) => ("FARGATE", p.clone()),
    };
    let info = n.placement.as_ref().map(|p| pl::TaskInfo {
        task_arn: arn.clone(),
        container_instance_arn: p.container_instance_arn.clone(),
        group: n.group.clone(),
        resources: n.requirements.resources,
        host_ports: n.requirements.host_ports.clone(),
    });
    let fargate = matches!(n.launch, Launch::Fargate(_));
    let task = m::Task {
        task_arn: Some(arn),
        cluster_arn: Some(env.cluster_arn(cluster)),
        task_definition_arn: td.task_definition_arn.clone(),
        container_instance_arn: n
            .placement
            .as_ref()
            .map(|p| p.container_instance_arn.clone()),
        availability_zone: Some(n.az),
        containers: Some(containers),
        cpu: Some(n.requirements.resources.cpu.to_string()),
        memory: Some(n.requirements.resources.memory.to_string()),
        created_at: Some(ts(now)),
        desired_status: Some("RUNNING".into()),
        last_status: Some("PROVISIONING".into()),
        group: Some(n.group),
        started_by: n.started_by,
        launch_type: Some(m::LaunchType::from(launch_type)),
        capacity_provider_name: provider,
        platform_version: fargate.then(|| "1.4.0".into()),
        platform_family: fargate.then(|| "Linux".into()),
        overrides: Some(n.overrides.unwrap_or_else(|| m::TaskOverride {
            container_overrides: Some(vec![]),
            inference_accelerator_overrides: Some(vec![]),
            ..m::TaskOverride::default()
        })),
        health_status: Some(m::HealthStatus::from("UNKNOWN")),
        enable_execute_command: Some(false),
        tags: Some(n.tags),
        version: Some(1),
        attachments: Some(
            n.subnet
                .map(|s| crate::eni::precreated(&n.id, s))
                .into_iter()
                .collect(),
        ),
        attributes: Some(vec![]),
        ..m::Task::default()
    };
    TaskRec {
        task,
        service: n.service,
        info,
        stop_cause: None,
        health_checked,
        launched: true,
        unstarted: true,
        stop_sent: false,
        protection: None,
    }
}

/// The `ecs.cpu-architecture` attribute of the task's container instance (EC2).
fn instance_architecture<'a>(c: &'a ClusterRec, t: &TaskRec) -> Option<&'a str> {
    t.task
        .container_instance_arn
        .as_deref()
        .and_then(|arn| c.instances.get(last_segment(arn)))
        .and_then(|i| {
            i.ci.attributes
                .iter()
                .find(|a| a.name == "ecs.cpu-architecture")
        })
        .and_then(|a| a.value.as_deref())
}

/// The wire form of a task: the record with the members ECS always returns filled in
/// ([`berth_core::described::fill_task`]), from its task definition and, for EC2, its
/// instance's `ecs.cpu-architecture`.
pub(crate) fn view(st: &crate::state::State, c: &ClusterRec, t: &TaskRec) -> m::Task {
    let mut task = t.task.clone();
    let td = task
        .task_definition_arn
        .as_deref()
        .and_then(|arn| resolve(st, arn))
        .map(|d| &d.td);
    let arch = instance_architecture(c, t);
    berth_core::described::fill_task(
        &mut task,
        &berth_core::described::TaskFacts {
            task_definition: td,
            instance_cpu_architecture: arch,
        },
    );
    task
}

fn check_overrides(td: &TaskDefRec, o: &m::TaskOverride) -> Result<(), AwsError> {
    let size = serde_json::to_string(o).map_or(0, |s| s.chars().count());
    if size > 8192 {
        return Err(AwsError::invalid_parameter(
            "Container Overrides length must be at most 8192",
        ));
    }
    for co in o.container_overrides.iter().flatten() {
        let Some(name) = co.name.as_deref() else {
            return Err(AwsError::invalid_parameter(
                "Container override name is required.",
            ));
        };
        if !td
            .td
            .container_definitions
            .iter()
            .flatten()
            .any(|c| c.name.as_deref() == Some(name))
        {
            return Err(AwsError::invalid_parameter(format!(
                "Override for container named {name} is not a container in the TaskDefinition."
            )));
        }
    }
    Ok(())
}

/// What RunTask and StartTask check first: the task definition exists, and `startedBy`, tags and
/// overrides are valid. Returns the task definition and the tags.
fn launch_inputs(
    st: &crate::state::State,
    task_definition: Option<&str>,
    started_by: Option<&str>,
    tags: Option<&[m::Tag]>,
    overrides: Option<&m::TaskOverride>,
) -> Result<(TaskDefRec, Vec<m::Tag>), AwsError> {
    let reference = task_definition
        .ok_or_else(|| AwsError::invalid_parameter("taskDefinition is required."))?;
    let td = resolve(st, reference)
        .ok_or_else(|| {
            AwsError::client(
                "Unable to find the task definition. Check the family, revision or ARN and try again.",
            )
        })?
        .clone();
    check_started_by(started_by)?;
    let tags = tags.unwrap_or_default().to_vec();
    check_tags(&tags)?;
    if let Some(o) = overrides {
        check_overrides(&td, o)?;
    }
    Ok((td, tags))
}

fn check_started_by(s: Option<&str>) -> Result<(), AwsError> {
    if let Some(s) = s {
        if s.len() > 128
            || !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-/_".contains(&b))
        {
            return Err(AwsError::invalid_parameter(
                "startedBy can have up to 128 letters (uppercase and lowercase), numbers, hyphens, forward slashes and underscores.",
            ));
        }
    }
    Ok(())
}

/// RunTask and StartTask on an INACTIVE revision: ECS answers `InvalidParameterException`
/// there (DefangLabs/defang#775), where UpdateService answers `ClientException` with the same
/// text ([`check_launch`]).
fn inactive_for_tasks(td: &TaskDefRec) -> Result<(), AwsError> {
    if td
        .td
        .status
        .as_ref()
        .is_some_and(|s| s.as_str() != "ACTIVE")
    {
        return Err(AwsError::invalid_parameter("TaskDefinition is inactive"));
    }
    Ok(())
}

/// Rejects a task definition that cannot run with this launch, with ECS's messages.
pub(crate) fn check_launch(
    td: &TaskDefRec,
    launch: &Launch,
    network: Option<&m::NetworkConfiguration>,
) -> Result<(), AwsError> {
    let status = td.td.status.as_ref().map_or("ACTIVE", |s| s.as_str());
    if status != "ACTIVE" {
        return Err(AwsError::client("TaskDefinition is inactive"));
    }
    let compat = |c: &str| {
        td.td
            .compatibilities
            .iter()
            .flatten()
            .any(|x| x.as_str() == c)
    };
    let awsvpc = td
        .td
        .network_mode
        .as_ref()
        .is_some_and(|n| n.as_str() == "awsvpc");
    match launch {
        Launch::Fargate(_) if !compat("FARGATE") => {
            return Err(AwsError::invalid_parameter(
                "Task definition does not support launch_type FARGATE.",
            ));
        }
        Launch::Ec2(_) if !compat("EC2") => {
            return Err(AwsError::invalid_parameter(
                "Task definition does not support launch_type EC2.",
            ));
        }
        _ => {}
    }
    if awsvpc
        && network
            .and_then(|n| n.awsvpc_configuration.as_ref())
            .is_none()
    {
        return Err(AwsError::invalid_parameter(
            "Network Configuration must be provided when networkMode 'awsvpc' is specified.",
        ));
    }
    if !awsvpc && network.is_some() {
        return Err(AwsError::invalid_parameter(
            "Network Configuration is not valid for the given networkMode of this task definition.",
        ));
    }
    Ok(())
}

/// Placement constraints with a Fargate launch, which ECS refuses (GetSimpl/cloudlift#138,
/// hashicorp/terraform-provider-aws#26337) — also when the launch is Fargate through the
/// cluster's default capacity provider strategy, which `berth validate` cannot see.
pub(crate) fn check_fargate_placement(
    launch: &Launch,
    constraints: Option<&Vec<m::PlacementConstraint>>,
) -> Result<(), AwsError> {
    if matches!(launch, Launch::Fargate(_)) && constraints.is_some_and(|c| !c.is_empty()) {
        return Err(AwsError::invalid_parameter(
            "Placement constraints are not supported with FARGATE launch type.",
        ));
    }
    Ok(())
}

/// The availability zone of a placement (or a Fargate zone).
pub(crate) fn zone_of(
    c: &ClusterRec,
    env: &Env,
    placement: Option<&pl::Placement>,
    n: u64,
) -> String {
    placement
        .and_then(|p| c.instances.get(pl::instance_id(&p.container_instance_arn)))
        .and_then(|i| {
            i.ci.attribute("ecs.availability-zone")
                .flatten()
                .map(str::to_string)
        })
        .unwrap_or_else(|| format!("{}{}", env.region, ['a', 'b', 'c'][(n % 3) as usize]))
}

pub(crate) fn run(w: &mut Write<'_>, req: m::RunTaskRequest) -> Result<Answer, AwsError> {
    let count = req.count.unwrap_or(1);
    if !(1..=10).contains(&count) {
        return Err(AwsError::invalid_parameter(
            "count must be between 1 and 10.",
        ));
    }
    let cluster = active_cluster(w.st, req.cluster.as_deref())?.name.clone();
    let (td, tags) = launch_inputs(
        w.st,
        req.task_definition.as_deref(),
        req.started_by.as_deref(),
        req.tags.as_deref(),
        req.overrides.as_ref(),
    )?;
    inactive_for_tasks(&td)?;
    super::check_host_access(w.env, &td)?;
    let random = w.st.random(w.dirty);
    let c = &w.st.clusters[&cluster];
    let launch = choose_launch(
        c,
        req.launch_type.as_ref(),
        req.capacity_provider_strategy.as_deref(),
        random,
    )?;
    check_launch(&td, &launch, req.network_configuration.as_ref())?;
    check_fargate_placement(&launch, req.placement_constraints.as_ref())?;
    let family = td.td.family.clone().unwrap_or_default();
    let group = req
        .group
        .clone()
        .unwrap_or_else(|| format!("family:{family}"));
    let requirements = requirements(&td, &group, req.overrides.as_ref());
    let mut failures = Vec::new();
    let mut placing: Option<PlacementCache> = None;
    let placements: Vec<Option<pl::Placement>> = match launch {
        Launch::Ec2(_) => {
            let (cs, ss) = placement_inputs(
                req.placement_constraints.as_ref(),
                req.placement_strategy.as_ref(),
            )?;
            if c.instances.is_empty() {
                return Err(AwsError::invalid_parameter(
                    "No Container Instances were found in your cluster.",
                ));
            }
            let request = pl::PlacementRequest {
                task: requirements.clone(),
                count: count as u32,
                placement_constraints: cs,
                placement_strategy: ss,
            };
            // The cluster's kept placement state (built here when a change dropped it),
            // reseeded so the plan is that of `Placer::new(&View(c), random)`.
            let kept =
                w.st.clusters
                    .get_mut(&cluster)
                    .and_then(|c| c.placement.take());
            let c = &w.st.clusters[&cluster];
            let mut cache = kept.unwrap_or_else(|| PlacementCache::build(c));
            cache.placer.reseed(random);
            let planned = cache.placer.run_task(&request);
            #[cfg(debug_assertions)]
            assert_eq!(
                planned,
                pl::Placer::new(&View(c), random).run_task(&request),
                "a kept placement state must plan as a fresh one"
            );
            let plan = match planned {
                Ok(plan) => plan,
                Err(e) => {
                    // An invalid request is refused before anything is charged.
                    if let Some(c) = w.st.clusters.get_mut(&cluster) {
                        c.placement = Some(cache);
                    }
                    return Err(AwsError::invalid_parameter(e.to_string()));
                }
            };
            placing = Some(cache);
            if let Some(u) = &plan.unplaced {
                for f in u.failures() {
                    failures.push(failure(f.arn, &f.reason));
                }
            }
            plan.placements.into_iter().map(Some).collect()
        }
        Launch::Fargate(_) => (0..count).map(|_| None).collect(),
    };
    let mut tasks = Vec::new();
    for p in placements {
        let id = w.st.new_task_id(w.dirty, w.now);
        let n = w.st.random(w.dirty);
        let c = &w.st.clusters[&cluster];
        let az = zone_of(c, w.env, p.as_ref(), n);
        let rec = make_task(
            w.env,
            &cluster,
            w.now,
            NewTask {
                id: id.clone(),
                td: &td,
                launch: launch.clone(),
                placement: p,
                az,
                requirements: &requirements,
                group: group.clone(),
                started_by: req.started_by.clone(),
                overrides: req.overrides.clone(),
                tags: tags.clone(),
                service: None,
                subnet: crate::eni::subnet(&td.td, req.network_configuration.as_ref()),
            },
        );
        tasks.push(view(w.st, &w.st.clusters[&cluster], &rec));
        let c =
            w.st.clusters
                .get_mut(&cluster)
                .ok_or_else(AwsError::cluster_not_found)?;
        if rec.info.is_some()
            && let Some(cache) = &mut placing
        {
            // The placer charged this task when it planned it.
            cache.tasks.extend(TaskId::parse(&id));
        }
        c.insert_task(rec);
        w.dirty.insert(Key::Task(cluster.clone(), id));
    }
    if let Some(cache) = placing
        && let Some(c) = w.st.clusters.get_mut(&cluster)
    {
        c.placement = Some(cache);
    }
    Ok(Answer::Tasks { tasks, failures })
}

pub(crate) fn start(w: &mut Write<'_>, req: m::StartTaskRequest) -> Result<Answer, AwsError> {
    let targets = req.container_instances.clone().unwrap_or_default();
    check_batch(
        targets.len(),
        10,
        "containerInstances",
        "container instances",
    )?;
    let cluster = active_cluster(w.st, req.cluster.as_deref())?.name.clone();
    let (td, tags) = launch_inputs(
        w.st,
        req.task_definition.as_deref(),
        req.started_by.as_deref(),
        req.tags.as_deref(),
        req.overrides.as_ref(),
    )?;
    inactive_for_tasks(&td)?;
    super::check_host_access(w.env, &td)?;
    check_launch(&td, &Launch::Ec2(None), req.network_configuration.as_ref())?;
    let family = td.td.family.clone().unwrap_or_default();
    let group = req
        .group
        .clone()
        .unwrap_or_else(|| format!("family:{family}"));
    let requirements = requirements(&td, &group, req.overrides.as_ref());
    let mut tasks = Vec::new();
    let mut failures = Vec::new();
    for target in targets {
        let id = last_segment(&target).to_string();
        let seed = w.st.random(w.dirty);
        let c = &w.st.clusters[&cluster];
        let Some(inst) = c.instances.get(&id) else {
            failures.push(failure(w.env.instance_arn(&cluster, &id), "MISSING"));
            continue;
        };
        // Placement restricted to the one instance: filters apply, strategies do not.
        let mut only = pl::Snapshot::new();
        only.push_instance(inst.ci.clone());
        for t in c.tasks_on(&id).filter_map(|t| t.info.as_ref()) {
            only.push_task(t.clone());
        }
        let plan = pl::Placer::new(&only, seed)
            .place(&pl::PlacementRequest::run_task(requirements.clone(), 1))
            .map_err(|e| AwsError::invalid_parameter(e.to_string()))?;
        let Some(p) = plan.placements.into_iter().next() else {
            for f in plan.unplaced.iter().flat_map(|u| u.failures()) {
                failures.push(failure(f.arn, &f.reason));
            }
            continue;
        };
        let task_id = w.st.new_task_id(w.dirty, w.now);
        let c = &w.st.clusters[&cluster];
        let az = zone_of(c, w.env, Some(&p), 0);
        let rec = make_task(
            w.env,
            &cluster,
            w.now,
            NewTask {
                id: task_id.clone(),
                td: &td,
                launch: Launch::Ec2(None),
                placement: Some(p),
                az,
                requirements: &requirements,
                group: group.clone(),
                started_by: req.started_by.clone(),
                overrides: req.overrides.clone(),
                tags: tags.clone(),
                service: None,
                subnet: crate::eni::subnet(&td.td, req.network_configuration.as_ref()),
            },
        );
        tasks.push(view(w.st, &w.st.clusters[&cluster], &rec));
        let c =
            w.st.clusters
                .get_mut(&cluster)
                .ok_or_else(AwsError::cluster_not_found)?;
        c.insert_task(rec);
        w.dirty.insert(Key::Task(cluster.clone(), task_id));
    }
    Ok(Answer::Tasks { tasks, failures })
}

/// Asks a task to stop: desired STOPPED with a stop code and reason. A task the runtime never
/// saw stops at once.
pub(crate) fn request_stop(
    c: &mut ClusterRec,
    id: &str,
    code: &str,
    reason: &str,
    cause: dp::StopCause,
    now: DateTime<Utc>,
) {
    let Some(t) = c.tasks.get_mut(id).map(std::sync::Arc::make_mut) else {
        return;
    };
    if t.desired_status() == "STOPPED" || t.is_stopped() {
        return;
    }
    let from = t.status();
    t.task.desired_status = Some("STOPPED".into());
    t.task.stop_code = Some(m::TaskStopCode::from(code));
    t.task.stopped_reason = Some(reason.into());
    t.task.stopping_at = Some(ts(now));
    t.task.version = Some(t.task.version.unwrap_or(0) + 1);
    t.stop_cause = Some(cause);
    if !t.with_runtime() {
        t.task.last_status = Some("STOPPED".into());
        crate::eni::deleted(&mut t.task);
        t.task.stopped_at = Some(ts(now));
        t.task.execution_stopped_at = Some(ts(now));
        for ct in t.task.containers.iter_mut().flatten() {
            ct.last_status = Some("STOPPED".into());
        }
    }
    c.retally(id, from);
}

pub(crate) fn stop(w: &mut Write<'_>, req: m::StopTaskRequest) -> Result<Value, AwsError> {
    let c = active_cluster_mut(w.st, req.cluster.as_deref())?;
    let task = req
        .task
        .clone()
        .ok_or_else(|| AwsError::invalid_parameter("task is required."))?;
    let id = last_segment(&task).to_string();
    if !c.tasks.contains_key(&id) {
        return Err(AwsError::invalid_parameter(
            "The referenced task was not found.",
        ));
    }
    let reason = req
        .reason
        .clone()
        .unwrap_or_else(|| "Task stopped by user".into());
    if reason.chars().count() > 1024 {
        return Err(AwsError::invalid_parameter(
            "reason can be at most 1024 characters.",
        ));
    }
    request_stop(
        c,
        &id,
        "UserInitiated",
        &reason,
        dp::StopCause::UserInitiated,
        w.now,
    );
    let t = c
        .tasks
        .get_mut(&id)
        .map(std::sync::Arc::make_mut)
        .ok_or_else(|| AwsError::invalid_parameter("The referenced task was not found."))?;
    // StopTask deletes the task's tags (ecs-semantics §4).
    t.task.tags = Some(vec![]);
    let cluster = c.name.clone();
    let c = &w.st.clusters[&cluster];
    let v = view(w.st, c, c.tasks.get(&id).expect("the task was found above"));
    w.dirty.insert(Key::Task(cluster, id));
    out(json!({"task": v}))
}

/// DescribeTasks: the tasks found and the failures for the others.
fn described<T>(
    r: &Read<'_>,
    req: m::DescribeTasksRequest,
    each: impl Fn(&ClusterRec, &TaskRec, bool) -> Result<T, AwsError>,
) -> Result<(Vec<T>, Vec<m::Failure>), AwsError> {
    let c = active_cluster(r.st, req.cluster.as_deref())?;
    let wanted = req.tasks.unwrap_or_default();
    if wanted.is_empty() {
        return Err(AwsError::invalid_parameter("Tasks cannot be empty."));
    }
    if wanted.len() > 100 {
        return Err(AwsError::invalid_parameter(
            "At most 100 tasks can be described at once.",
        ));
    }
    let with_tags = req
        .include
        .unwrap_or_default()
        .iter()
        .any(|f| f.as_str() == "TAGS");
    let mut tasks = Vec::with_capacity(wanted.len());
    let mut failures = Vec::new();
    for w in wanted {
        let id = last_segment(&w);
        match c.tasks.get(id) {
            Some(t) => tasks.push(each(c, t, with_tags)?),
            None => failures.push(failure(
                if w.starts_with("arn:") {
                    w.clone()
                } else {
                    r.env.task_arn(&c.name, &w)
                },
                "MISSING",
            )),
        }
    }
    Ok((tasks, failures))
}

/// A task as DescribeTasks answers it: without `include: [TAGS]` ECS answers an empty list,
/// not the tags.
fn described_task(
    st: &crate::state::State,
    c: &ClusterRec,
    t: &TaskRec,
    with_tags: bool,
) -> m::Task {
    let mut task = view(st, c, t);
    if !with_tags {
        task.tags = Some(vec![]);
    }
    task
}

pub(crate) fn describe(r: &Read<'_>, req: m::DescribeTasksRequest) -> Result<Value, AwsError> {
    let (tasks, failures) = described(r, req, |c, t, tags| Ok(described_task(r.st, c, t, tags)))?;
    let tasks = tasks
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AwsError::new(ErrorCode::ServerException, e.to_string()))?;
    let mut body = serde_json::Map::new();
    body.insert("tasks".into(), Value::Array(tasks));
    body.insert("failures".into(), out(failures)?);
    Ok(Value::Object(body))
}

/// [`describe`] written straight to bytes (the server's path: no `Value` in between), each task
/// from the cluster's view cache ([`crate::views`]) when tags are not asked for.
pub(crate) fn describe_json(
    r: &Read<'_>,
    req: m::DescribeTasksRequest,
) -> Result<Vec<u8>, AwsError> {
    let views = std::cell::OnceCell::new();
    let (tasks, failures) = described(r, req, |c, t, with_tags| {
        let make = || super::out_json(&described_task(r.st, c, t, with_tags));
        if with_tags {
            return make().map(Into::into);
        }
        let views = views.get_or_init(|| r.views.of(&c.name));
        let bytes = views.tasks.get_or(t.id(), make)?;
        debug_assert_eq!(
            *bytes,
            *make()?,
            "the kept view of task {} is stale",
            t.id()
        );
        Ok(bytes)
    })?;
    super::joined_json("tasks", &tasks, &failures)
}

pub(crate) fn list(r: &Read<'_>, req: m::ListTasksRequest) -> Result<Value, AwsError> {
    let c = active_cluster(r.st, req.cluster.as_deref())?;
    let page = Page::new(
        "ListTasks",
        req.next_token.as_deref(),
        req.max_results,
        100,
        100,
    )?;
    if req.started_by.is_some()
        && (req.container_instance.is_some() || req.family.is_some() || req.service_name.is_some())
    {
        return Err(AwsError::invalid_parameter(
            "startedBy cannot be combined with containerInstance, family or serviceName filters.",
        ));
    }
    let desired = req
        .desired_status
        .as_ref()
        .map_or("RUNNING", |d| d.as_str())
        .to_string();
    let service = match &req.service_name {
        Some(s) => {
            let name = last_segment(s).to_string();
            if !c.services.contains_key(&name) {
                return Err(AwsError::service_not_found());
            }
            Some(name)
        }
        None => None,
    };
    let instance = req
        .container_instance
        .as_deref()
        .map(|i| last_segment(i).to_string());
    let family = req.family.clone();
    let launch = req.launch_type.as_ref().map(|l| l.as_str().to_string());
    let matches = |t: &TaskRec| -> bool {
        if t.desired_status() != desired {
            return false;
        }
        if let Some(s) = &service {
            if t.service.as_deref() != Some(s.as_str()) {
                return false;
            }
        }
        if let Some(i) = &instance {
            let on = t.task.container_instance_arn.as_deref().map(last_segment);
            if on != Some(i.as_str()) {
                return false;
            }
        }
        if let Some(f) = &family {
            let arn = t.task.task_definition_arn.as_deref().unwrap_or_default();
            let fam = super::taskdefs::parse_reference(arn).map(|(f, _)| f);
            if fam.as_deref() != Some(f.as_str()) {
                return false;
            }
        }
        if let Some(sb) = &req.started_by {
            if t.task.started_by.as_ref() != Some(sb) {
                return false;
            }
        }
        if let Some(l) = &launch {
            if t.task.launch_type.as_ref().map(|x| x.as_str()) != Some(l.as_str()) {
                return false;
            }
        }
        true
    };
    let (arns, next) = match desired.as_str() {
        "PENDING" => (Vec::new(), None),
        "RUNNING" => {
            let ids: Box<dyn Iterator<Item = TaskId>> = match (&service, &page.after) {
                (Some(s), _) => {
                    Box::new(c.services.get(s).into_iter().flat_map(|s| s.tasks.iter()))
                }
                // Tasks not STOPPED on the instance, in id order like the live set.
                (None, _) if instance.is_some() => Box::new(
                    instance
                        .as_ref()
                        .and_then(|i| c.on_instance.get(i))
                        .into_iter()
                        .flatten(),
                ),
                (None, Some(a)) => c.live.after(a),
                (None, None) => Box::new(c.live.iter()),
            };
            page.take(
                "ListTasks",
                ids.filter_map(|id| c.tasks.get(id))
                    .filter(|t| matches(t))
                    .map(|t| {
                        (
                            t.id().to_string(),
                            t.task.task_arn.clone().unwrap_or_default(),
                        )
                    }),
            )
        }
        _ => page.take(
            "ListTasks",
            c.tasks.values().filter(|t| matches(t)).map(|t| {
                (
                    t.id().to_string(),
                    t.task.task_arn.clone().unwrap_or_default(),
                )
            }),
        ),
    };
    out(json!({"taskArns": arns, "nextToken": next}))
}

fn protected(t: &TaskRec, now: DateTime<Utc>) -> m::ProtectedTask {
    let (enabled, until) = match t.protection {
        Some((true, until)) if until.is_none_or(|u| u > now) => (true, until),
        _ => (false, None),
    };
    m::ProtectedTask {
        task_arn: t.task.task_arn.clone(),
        protection_enabled: Some(enabled),
        expiration_date: until.map(ts),
    }
}

pub(crate) fn get_protection(
    r: &Read<'_>,
    req: m::GetTaskProtectionRequest,
) -> Result<Value, AwsError> {
    let c = active_cluster(r.st, req.cluster.as_deref())?;
    let mut out_tasks = Vec::new();
    let mut failures = Vec::new();
    let wanted: Vec<String> = match req.tasks {
        Some(t) => t,
        None => c.live.iter().map(|id| id.to_string()).collect(),
    };
    for w in wanted {
        match c.tasks.get(last_segment(&w)) {
            Some(t) => out_tasks.push(protected(t, r.now)),
            None => failures.push(failure(w, "TASK_NOT_VALID")),
        }
    }
    out(json!({"protectedTasks": out_tasks, "failures": failures}))
}

pub(crate) fn update_protection(
    w: &mut Write<'_>,
    req: m::UpdateTaskProtectionRequest,
) -> Result<Value, AwsError> {
    let enabled = req
        .protection_enabled
        .ok_or_else(|| AwsError::invalid_parameter("protectionEnabled is required."))?;
    let minutes = req.expires_in_minutes.unwrap_or(120);
    if !(1..=2880).contains(&minutes) {
        return Err(AwsError::invalid_parameter(
            "expiresInMinutes must be between 1 and 2880.",
        ));
    }
    let wanted = req.tasks.clone().unwrap_or_default();
    check_batch(wanted.len(), 10, "tasks", "tasks")?;
    let c = active_cluster_mut(w.st, req.cluster.as_deref())?;
    let mut done = Vec::new();
    let mut failures = Vec::new();
    for task in wanted {
        let id = last_segment(&task).to_string();
        match c.tasks.get_mut(&id).map(std::sync::Arc::make_mut) {
            Some(t) if !t.is_stopped() => {
                t.protection = Some((
                    enabled,
                    enabled.then(|| w.now + Duration::minutes(i64::from(minutes))),
                ));
                done.push(protected(t, w.now));
                w.dirty.insert(Key::Task(c.name.clone(), id));
            }
            _ => failures.push(failure(task, "TASK_NOT_VALID")),
        }
    }
    out(json!({"protectedTasks": done, "failures": failures}))
}
