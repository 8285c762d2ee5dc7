//! RegisterContainerInstance, ListContainerInstances (with a CQL filter),
//! DescribeContainerInstances, UpdateContainerInstancesState, DeregisterContainerInstance,
//! PutAttributes, DeleteAttributes, ListAttributes.

use berth_core::model as m;
use berth_core::placement as pl;
use berth_core::protocol::{Arn, AwsError, Resource};
use serde_json::{Value, json};

use super::{
    Page, Read, Write, active_cluster, active_cluster_mut, check_batch, check_tags, failure,
    last_segment, merge_tags, out, ts,
};
use chrono::{DateTime, Utc};

use crate::config::InstanceSpec;
use crate::state::{ClusterRec, Env, InstanceRec, Key, State};

fn resources(r: pl::Resources, ports: &pl::Ports, registered_gpu: u32) -> Vec<m::Resource> {
    let int = |name: &str, v: u32| m::Resource {
        name: Some(name.into()),
        r#type: Some("INTEGER".into()),
        integer_value: Some(v as i32),
        ..m::Resource::default()
    };
    let set = |name: &str, v: &[u16]| m::Resource {
        name: Some(name.into()),
        r#type: Some("STRINGSET".into()),
        string_set_value: Some(v.iter().map(u16::to_string).collect()),
        ..m::Resource::default()
    };
    let mut v = vec![
        int("CPU", r.cpu),
        int("MEMORY", r.memory),
        set("PORTS", &ports.tcp),
        set("PORTS_UDP", &ports.udp),
    ];
    // Only instances registered with GPUs have the resource (Berth keeps their count, not ids).
    if registered_gpu > 0 {
        v.push(int("GPU", r.gpu));
    }
    v.iter_mut().for_each(berth_core::described::fill_resource);
    v
}

/// The wire form of a container instance.
/// What a container instance answers for: `include` asks for its tags (`TAGS`) and its health
/// (`CONTAINER_INSTANCE_HEALTH`, as of `now`).
#[derive(Clone, Copy, Default)]
pub(crate) struct Include {
    pub tags: bool,
    pub health: Option<DateTime<Utc>>,
}

/// `healthStatus` as ECS answers it with `include: [CONTAINER_INSTANCE_HEALTH]`: one
/// `CONTAINER_RUNTIME` check (the AWS developer guide's example, `container-instance-health.md`),
/// `OK` while the agent is connected, `INSUFFICIENT_DATA` once it is not (nothing reports on the
/// runtime then). The status last changed when the instance registered or disconnected; Berth
/// does not keep when, so `lastStatusChange` is the registration time while it is `OK`.
fn health(ci: &pl::ContainerInstance, now: DateTime<Utc>) -> m::ContainerInstanceHealthStatus {
    let status = if ci.agent_connected {
        "OK"
    } else {
        "INSUFFICIENT_DATA"
    };
    let registered = DateTime::from_timestamp(ci.registered_at, 0);
    m::ContainerInstanceHealthStatus {
        overall_status: Some(m::InstanceHealthCheckState::from(status)),
        details: Some(vec![m::InstanceHealthCheckResult {
            r#type: Some(m::InstanceHealthCheckType::from("CONTAINER_RUNTIME")),
            status: Some(m::InstanceHealthCheckState::from(status)),
            last_updated: Some(ts(if ci.agent_connected {
                now
            } else {
                registered.unwrap_or(now)
            })),
            last_status_change: ci.agent_connected.then(|| registered.map(ts)).flatten(),
            ..m::InstanceHealthCheckResult::default()
        }]),
    }
}

pub(crate) fn view(env: &Env, i: &InstanceRec, include: Include) -> m::ContainerInstance {
    let ci = &i.ci;
    // The agent's versions as it registered them; the cluster's own instances report the
    // runtime's engine (Docker's version under the Docker runtime).
    let (hash, docker) = match &env.docker_version {
        Some(v) => ("berth-docker", v.as_str()),
        None => ("berth-sim", "DockerVersion: 25.0.0"),
    };
    m::ContainerInstance {
        container_instance_arn: Some(ci.container_instance_arn.clone()),
        ec2_instance_id: Some(ci.ec2_instance_id.clone()),
        version: Some(i.version),
        version_info: Some(m::VersionInfo {
            agent_version: Some(ci.agent_version.clone()),
            agent_hash: Some(i.agent_hash.clone().unwrap_or_else(|| hash.into())),
            docker_version: Some(i.docker_version.clone().unwrap_or_else(|| docker.into())),
        }),
        remaining_resources: Some(resources(
            ci.remaining_resources,
            &ci.ports_in_use,
            ci.registered_resources.gpu,
        )),
        registered_resources: Some(resources(
            ci.registered_resources,
            &ci.reserved_ports,
            ci.registered_resources.gpu,
        )),
        status: Some(ci.status.as_str().into()),
        agent_connected: Some(ci.agent_connected),
        capacity_provider_name: i.capacity_provider_name.clone(),
        running_tasks_count: Some(i.running as i32),
        pending_tasks_count: Some(i.pending as i32),
        attributes: Some(
            ci.attributes
                .iter()
                .map(|a| m::Attribute {
                    name: Some(a.name.clone()),
                    value: a.value.clone(),
                    ..m::Attribute::default()
                })
                .collect(),
        ),
        registered_at: DateTime::from_timestamp(ci.registered_at, 0).map(ts),
        attachments: Some(vec![]),
        // Without `include: [TAGS]` ECS answers an empty list, not the tags.
        tags: Some(if include.tags { i.tags.clone() } else { vec![] }),
        health_status: include.health.map(|now| health(ci, now)),
        ..m::ContainerInstance::default()
    }
}

pub(crate) fn list(r: &Read<'_>, req: m::ListContainerInstancesRequest) -> Result<Value, AwsError> {
    let c = active_cluster(r.st, req.cluster.as_deref())?;
    let page = Page::new(
        "ListContainerInstances",
        req.next_token.as_deref(),
        req.max_results,
        100,
        100,
    )?;
    let filter = match req.filter.as_deref() {
        Some(f) if !f.trim().is_empty() => Some(pl::Expression::parse(f).map_err(|e| {
            AwsError::invalid_parameter(format!("Invalid filter expression: {}", e.message()))
        })?),
        _ => None,
    };
    let status = req.status.as_ref().map(|s| s.as_str().to_string());
    let groups: Vec<&pl::TaskInfo> = if filter.is_some() {
        c.tasks.values().filter_map(|t| t.info.as_ref()).collect()
    } else {
        Vec::new()
    };
    let (arns, next) = page.take(
        "ListContainerInstances",
        c.instances
            .iter()
            .filter(|(_, i)| match &status {
                Some(s) => i.ci.status.as_str() == s,
                None => i.ci.status != pl::InstanceStatus::Inactive,
            })
            .filter(|(_, i)| {
                filter.as_ref().is_none_or(|f| {
                    let on: Vec<&pl::TaskInfo> = groups
                        .iter()
                        .copied()
                        .filter(|t| t.container_instance_arn == i.ci.container_instance_arn)
                        .collect();
                    f.matches(&pl::ContainerInstanceFacts {
                        instance: &i.ci,
                        tasks: &on,
                    })
                })
            })
            .map(|(id, i)| (id.clone(), i.ci.container_instance_arn.clone())),
    );
    out(json!({"containerInstanceArns": arns, "nextToken": next}))
}

pub(crate) fn describe(
    r: &Read<'_>,
    req: m::DescribeContainerInstancesRequest,
) -> Result<Value, AwsError> {
    let c = active_cluster(r.st, req.cluster.as_deref())?;
    let wanted = req.container_instances.unwrap_or_default();
    check_batch(
        wanted.len(),
        100,
        "containerInstances",
        "container instances",
    )?;
    let asked = req.include.unwrap_or_default();
    let asked = |f: &str| asked.iter().any(|i| i.as_str() == f);
    let include = Include {
        tags: asked("TAGS"),
        health: asked("CONTAINER_INSTANCE_HEALTH").then_some(r.now),
    };
    let mut found = Vec::new();
    let mut failures = Vec::new();
    for w in wanted {
        match c.instances.get(last_segment(&w)) {
            Some(i) => found.push(view(r.env, i, include)),
            None => failures.push(failure(
                r.env.instance_arn(&c.name, last_segment(&w)),
                "MISSING",
            )),
        }
    }
    out(json!({"containerInstances": found, "failures": failures}))
}

pub(crate) fn update_state(
    w: &mut Write<'_>,
    req: m::UpdateContainerInstancesStateRequest,
) -> Result<Value, AwsError> {
    let status = req
        .status
        .as_ref()
        .map(|s| s.as_str().to_string())
        .ok_or_else(|| AwsError::invalid_parameter("status is required."))?;
    let to = match status.as_str() {
        "ACTIVE" => pl::InstanceStatus::Active,
        "DRAINING" => pl::InstanceStatus::Draining,
        other => {
            return Err(AwsError::invalid_parameter(format!(
                "Container instances can only be set to ACTIVE or DRAINING, not {other}."
            )));
        }
    };
    let wanted = req.container_instances.clone().unwrap_or_default();
    check_batch(
        wanted.len(),
        10,
        "containerInstances",
        "container instances",
    )?;
    let c = active_cluster_mut(w.st, req.cluster.as_deref())?;
    let mut done = Vec::new();
    let mut failures = Vec::new();
    for x in wanted {
        let id = last_segment(&x).to_string();
        let Some(i) = c.instances.get_mut(&id) else {
            failures.push(failure(w.env.instance_arn(&c.name, &id), "MISSING"));
            continue;
        };
        if !matches!(
            i.ci.status,
            pl::InstanceStatus::Active | pl::InstanceStatus::Draining
        ) {
            failures.push(failure(i.ci.container_instance_arn.clone(), "INACTIVE"));
            continue;
        }
        if i.ci.status != to {
            i.ci.status = to;
            i.version += 1;
            w.dirty.insert(Key::Instance(c.name.clone(), id.clone()));
        }
        let i = &c.instances[&id];
        done.push(view(w.env, i, Include::default()));
    }
    out(json!({"containerInstances": done, "failures": failures}))
}

pub(crate) fn deregister(
    w: &mut Write<'_>,
    req: m::DeregisterContainerInstanceRequest,
) -> Result<Value, AwsError> {
    let c = active_cluster_mut(w.st, req.cluster.as_deref())?;
    let x = req
        .container_instance
        .clone()
        .ok_or_else(|| AwsError::invalid_parameter("containerInstance is required."))?;
    let id = last_segment(&x).to_string();
    let i = c
        .instances
        .get(&id)
        .filter(|i| i.ci.status != pl::InstanceStatus::Inactive)
        .ok_or_else(|| {
            AwsError::invalid_parameter("The referenced container instance was not found.")
        })?;
    if i.running + i.pending > 0 && !req.force.unwrap_or(false) {
        return Err(AwsError::invalid_parameter(
            "Found running tasks on the instance. Stop them first, or deregister with force.",
        ));
    }
    if let Some(i) = c.instances.get_mut(&id) {
        i.ci.status = pl::InstanceStatus::Inactive;
        i.ci.agent_connected = false;
        i.version += 1;
    }
    w.dirty.insert(Key::Instance(c.name.clone(), id.clone()));
    let v = view(w.env, &c.instances[&id], Include::default());
    out(json!({"containerInstance": v}))
}

/// A new ACTIVE instance of `cluster` as `spec` describes it, in the `n`-th of its zones
/// (round-robin): the cluster's configured instances, and the ones managed scaling launches.
#[allow(clippy::too_many_arguments)]
pub(crate) fn new_instance(
    st: &mut State,
    env: &Env,
    cluster: &str,
    spec: &InstanceSpec,
    n: usize,
    now: DateTime<Utc>,
    dirty: &mut std::collections::BTreeSet<Key>,
) -> (String, InstanceRec) {
    let id = st.new_id(dirty);
    let ec2 = format!("i-{:017x}", st.random(dirty) >> 4);
    let az = spec
        .availability_zones
        .get(n % spec.availability_zones.len().max(1))
        .cloned()
        .unwrap_or_else(|| format!("{}a", env.region));
    let mut ci = pl::ContainerInstance::new(
        env.instance_arn(cluster, &id),
        ec2,
        pl::Resources::new(spec.cpu, spec.memory, 0),
    );
    ci.agent_version = DEFAULT_AGENT_VERSION.into();
    ci.registered_at = now.timestamp();
    for (k, v) in [
        ("ecs.availability-zone", Some(az.as_str())),
        ("ecs.instance-type", Some(spec.instance_type.as_str())),
        ("ecs.os-type", Some("linux")),
        ("ecs.os-family", Some("LINUX")),
        ("ecs.cpu-architecture", Some("x86_64")),
        ("ecs.ami-id", Some("ami-00000000000000000")),
        ("ecs.capability.task-eni", None),
        ("com.amazonaws.ecs.capability.docker-remote-api.1.44", None),
        ("ecs.capability.container-health-check", None),
    ] {
        ci = ci.with_attribute(k, v);
    }
    for (k, v) in &spec.attributes {
        ci = ci.with_attribute(k, v.as_deref());
    }
    let rec = InstanceRec {
        ci,
        tags: Vec::new(),
        version: 1,
        agent_hash: None,
        docker_version: None,
        capacity_provider_name: None,
        running: 0,
        pending: 0,
    };
    (id, rec)
}

/// The agent version a registration without `versionInfo` reports (as the configured instances).
const DEFAULT_AGENT_VERSION: &str = "1.89.0";

/// The members of an EC2 instance identity document that ECS reads.
#[derive(Debug, Default)]
struct Identity {
    instance_id: Option<String>,
    availability_zone: Option<String>,
    instance_type: Option<String>,
    image_id: Option<String>,
    architecture: Option<String>,
    region: Option<String>,
}

/// Reads `instanceIdentityDocument` (the JSON text the agent fetches from the instance metadata
/// service). An absent or empty document (an agent with the document disabled) says nothing.
fn identity(doc: Option<&str>) -> Result<Identity, AwsError> {
    let Some(doc) = doc.filter(|d| !d.trim().is_empty()) else {
        return Ok(Identity::default());
    };
    let bad = |why: &str| {
        AwsError::invalid_parameter(format!(
            "instanceIdentityDocument is not a valid instance identity document: {why}"
        ))
    };
    let v: Value = serde_json::from_str(doc).map_err(|_| bad("it is not JSON."))?;
    let Value::Object(v) = v else {
        return Err(bad("expected a JSON object."));
    };
    let member = |k: &str| -> Result<Option<String>, AwsError> {
        match v.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad(&format!("{k} must be a string."))),
        }
    };
    Ok(Identity {
        instance_id: member("instanceId")?,
        availability_zone: member("availabilityZone")?,
        instance_type: member("instanceType")?,
        image_id: member("imageId")?,
        architecture: member("architecture")?,
        region: member("region")?,
    })
}

/// What `totalResources` (and `platformDevices`) register.
#[derive(Debug)]
struct Total {
    resources: pl::Resources,
    ports: pl::Ports,
}

/// An INTEGER resource's value.
fn integer(r: &m::Resource, name: &str) -> Result<u32, AwsError> {
    let kind = r.r#type.as_deref().unwrap_or("INTEGER");
    let value = r.integer_value.map(i64::from).or(r.long_value);
    match (kind, value) {
        ("INTEGER" | "LONG", Some(v)) => u32::try_from(v).map_err(|_| {
            AwsError::invalid_parameter(format!(
                "Invalid totalResources value for {name}: {v}. It must be a non-negative integer."
            ))
        }),
        _ => Err(AwsError::invalid_parameter(format!(
            "Invalid totalResources entry for {name}: it must be of type INTEGER with an integerValue."
        ))),
    }
}

/// A STRINGSET resource of host ports.
fn port_set(r: &m::Resource, name: &str) -> Result<Vec<u16>, AwsError> {
    if r.r#type.as_deref().is_some_and(|t| t != "STRINGSET") {
        return Err(AwsError::invalid_parameter(format!(
            "Invalid totalResources entry for {name}: it must be of type STRINGSET."
        )));
    }
    let mut ports: Vec<u16> = Vec::new();
    for p in r.string_set_value.iter().flatten() {
        let port = p.trim().parse::<u16>().ok().filter(|&n| n > 0).ok_or_else(|| {
            AwsError::invalid_parameter(format!(
                "Invalid port '{p}' in totalResources {name}: ports are integers from 1 to 65535."
            ))
        })?;
        if !ports.contains(&port) {
            ports.push(port);
        }
    }
    Ok(ports)
}

/// Reads `totalResources`: CPU and MEMORY (INTEGER, required), the reserved PORTS and PORTS_UDP
/// (STRINGSET; without PORTS the agent's default reservation), GPU (INTEGER count or STRINGSET
/// of GPU ids; else the GPU `platformDevices`). Other names (user-defined resources) are
/// accepted and not used by placement.
fn total_resources(
    list: Option<&[m::Resource]>,
    devices: &[m::PlatformDevice],
) -> Result<Total, AwsError> {
    let mut seen = std::collections::BTreeSet::new();
    let (mut cpu, mut memory, mut gpu) = (None, None, None);
    let mut ports = pl::Ports::agent_defaults();
    for r in list.unwrap_or_default() {
        let name = r.name.as_deref().unwrap_or_default();
        if name.is_empty() {
            return Err(AwsError::invalid_parameter(
                "Every totalResources entry needs a name.",
            ));
        }
        if !seen.insert(name) {
            return Err(AwsError::invalid_parameter(format!(
                "totalResources lists {name} more than once."
            )));
        }
        match name {
            "CPU" => cpu = Some(integer(r, name)?),
            "MEMORY" => memory = Some(integer(r, name)?),
            "PORTS" => ports.tcp = port_set(r, name)?,
            "PORTS_UDP" => ports.udp = port_set(r, name)?,
            "GPU" => {
                gpu = Some(if r.r#type.as_deref() == Some("STRINGSET") {
                    r.string_set_value.as_ref().map_or(0, Vec::len) as u32
                } else {
                    integer(r, name)?
                });
            }
            _ => {}
        }
    }
    let (Some(cpu), Some(memory)) = (cpu, memory) else {
        return Err(AwsError::invalid_parameter(
            "totalResources must include CPU and MEMORY as INTEGER resources.",
        ));
    };
    let mut device_gpus = 0u32;
    for d in devices {
        let (Some(id), Some(kind)) = (d.id.as_deref(), d.r#type.as_ref()) else {
            return Err(AwsError::invalid_parameter(
                "Every platformDevices entry needs an id and a type.",
            ));
        };
        if id.is_empty() {
            return Err(AwsError::invalid_parameter(
                "Every platformDevices entry needs an id and a type.",
            ));
        }
        if kind.as_str() == "GPU" {
            device_gpus += 1;
        }
    }
    Ok(Total {
        resources: pl::Resources::new(cpu, memory, gpu.unwrap_or(device_gpus)),
        ports,
    })
}

/// The attributes ECS and the agent give a Linux EC2 container instance, as the configured
/// instances of the default cluster have them.
const STANDARD_ATTRIBUTES: [(&str, Option<&str>); 5] = [
    ("ecs.os-type", Some("linux")),
    ("ecs.os-family", Some("LINUX")),
    ("ecs.capability.task-eni", None),
    ("com.amazonaws.ecs.capability.docker-remote-api.1.44", None),
    ("ecs.capability.container-health-check", None),
];

/// RegisterContainerInstance: registers an EC2 instance (as its agent does on start) or, with
/// `containerInstanceArn`, re-registers one that is registered already, keeping its ARN, tasks
/// and attributes. Not idempotent without the ARN, as in ECS: every such call is a new container
/// instance, even for an EC2 instance id already seen.
pub(crate) fn register(
    w: &mut Write<'_>,
    req: m::RegisterContainerInstanceRequest,
) -> Result<Value, AwsError> {
    // Everything is checked before anything (the random source included) changes.
    let name = active_cluster(w.st, req.cluster.as_deref())?.name.clone();
    let doc = identity(req.instance_identity_document.as_deref())?;
    let total = total_resources(
        req.total_resources.as_deref(),
        req.platform_devices.as_deref().unwrap_or_default(),
    )?;
    let attrs = req.attributes.clone().unwrap_or_default();
    attrs.iter().try_for_each(valid_attribute)?;
    let tags = req.tags.clone().unwrap_or_default();
    check_tags(&tags)?;
    let version_of = |f: fn(&m::VersionInfo) -> &Option<String>| {
        req.version_info
            .as_ref()
            .and_then(|v| f(v).clone())
            .filter(|v| !v.is_empty())
    };
    let agent_version = version_of(|v| &v.agent_version);
    let agent_hash = version_of(|v| &v.agent_hash);
    let docker_version = version_of(|v| &v.docker_version);
    let existing = match req.container_instance_arn.as_deref() {
        Some(arn) if !arn.is_empty() => Some(reregistered(w, &name, arn, &doc)?),
        _ => None,
    };

    let id = match existing {
        Some(id) => id,
        None => {
            let id = w.st.new_id(w.dirty);
            let ec2 = match &doc.instance_id {
                Some(i) => i.clone(),
                None => format!("i-{:017x}", w.st.random(w.dirty) >> 4),
            };
            let mut ci =
                pl::ContainerInstance::new(w.env.instance_arn(&name, &id), ec2, total.resources);
            ci.agent_version = DEFAULT_AGENT_VERSION.into();
            ci.registered_at = w.now.timestamp();
            let az = doc
                .availability_zone
                .clone()
                .unwrap_or_else(|| format!("{}a", doc.region.as_deref().unwrap_or(&w.env.region)));
            ci = ci
                .with_attribute("ecs.availability-zone", Some(&az))
                .with_attribute(
                    "ecs.cpu-architecture",
                    Some(doc.architecture.as_deref().unwrap_or("x86_64")),
                );
            for (k, v) in STANDARD_ATTRIBUTES {
                ci = ci.with_attribute(k, v);
            }
            let c = active_cluster_mut(w.st, Some(&name))?;
            c.instances.insert(
                id.clone(),
                InstanceRec {
                    ci,
                    tags: Vec::new(),
                    version: 0,
                    agent_hash: None,
                    docker_version: None,
                    capacity_provider_name: None,
                    running: 0,
                    pending: 0,
                },
            );
            id
        }
    };
    let c = active_cluster_mut(w.st, Some(&name))?;
    let Some(i) = c.instances.get_mut(&id) else {
        return Err(AwsError::client("The container instance was not found."));
    };
    let ci = &mut i.ci;
    // What the tasks on it hold stays held: remaining = registered − what they use.
    let used = pl::Resources::new(
        ci.registered_resources
            .cpu
            .saturating_sub(ci.remaining_resources.cpu),
        ci.registered_resources
            .memory
            .saturating_sub(ci.remaining_resources.memory),
        ci.registered_resources
            .gpu
            .saturating_sub(ci.remaining_resources.gpu),
    );
    let r = total.resources;
    ci.registered_resources = r;
    ci.remaining_resources = pl::Resources::new(
        r.cpu.saturating_sub(used.cpu),
        r.memory.saturating_sub(used.memory),
        r.gpu.saturating_sub(used.gpu),
    );
    let mut in_use = total.ports.clone();
    for (to, reserved, held) in [
        (
            &mut in_use.tcp,
            &ci.reserved_ports.tcp,
            &ci.ports_in_use.tcp,
        ),
        (
            &mut in_use.udp,
            &ci.reserved_ports.udp,
            &ci.ports_in_use.udp,
        ),
    ] {
        // Ports that tasks hold (in use but not reserved before) stay in use.
        for p in held {
            if !reserved.contains(p) && !to.contains(p) {
                to.push(*p);
            }
        }
    }
    ci.reserved_ports = total.ports;
    ci.ports_in_use = in_use;
    ci.agent_connected = true;
    if let Some(v) = agent_version {
        ci.agent_version = v;
    }
    // The agent's versions, as DescribeContainerInstances answers them back.
    if agent_hash.is_some() {
        i.agent_hash = agent_hash;
    }
    if docker_version.is_some() {
        i.docker_version = docker_version;
    }
    for a in &attrs {
        *ci = ci
            .clone()
            .with_attribute(a.name.as_deref().unwrap_or_default(), a.value.as_deref());
    }
    // ECS takes these from the identity document; the agent cannot set them.
    for (k, v) in [
        ("ecs.availability-zone", &doc.availability_zone),
        ("ecs.instance-type", &doc.instance_type),
        ("ecs.ami-id", &doc.image_id),
    ] {
        if let Some(v) = v {
            *ci = ci.clone().with_attribute(k, Some(v));
        }
    }
    merge_tags(&mut i.tags, &tags);
    i.version += 1;
    w.dirty.insert(Key::Instance(name, id.clone()));
    let i = &c.instances[&id];
    let v = view(
        w.env,
        i,
        Include {
            tags: !i.tags.is_empty(),
            health: None,
        },
    );
    out(json!({"containerInstance": v}))
}

/// The id of the container instance a re-registration names, after ECS's checks: it is in
/// this cluster, not deregistered, of the same EC2 instance and instance type.
fn reregistered(
    w: &Write<'_>,
    cluster: &str,
    arn: &str,
    doc: &Identity,
) -> Result<String, AwsError> {
    let not_found = || {
        AwsError::invalid_parameter(format!(
            "The referenced container instance {arn} was not found in cluster {cluster}."
        ))
    };
    if arn.starts_with("arn:") {
        match Arn::parse(arn) {
            Ok(Arn {
                resource: Resource::ContainerInstance { cluster: c, .. },
                ..
            }) if c == cluster => {}
            Ok(Arn {
                resource: Resource::ContainerInstance { .. },
                ..
            }) => return Err(not_found()),
            _ => {
                return Err(AwsError::invalid_parameter(format!(
                    "Invalid container instance ARN: {arn}"
                )));
            }
        }
    }
    let id = last_segment(arn);
    let i =
        w.st.clusters
            .get(cluster)
            .and_then(|c| c.instances.get(id))
            .ok_or_else(not_found)?;
    if i.ci.status == pl::InstanceStatus::Inactive {
        return Err(AwsError::client(format!(
            "Container instance {id} was deregistered; deregistration is final. Register the \
             instance as a new container instance (without containerInstanceArn)."
        )));
    }
    if let Some(ec2) = doc.instance_id.as_deref() {
        if ec2 != i.ci.ec2_instance_id {
            return Err(AwsError::client(format!(
                "Container instance {id} is registered for EC2 instance {}, not {ec2}.",
                i.ci.ec2_instance_id
            )));
        }
    }
    let before =
        i.ci.attributes
            .iter()
            .find(|a| a.name == "ecs.instance-type")
            .and_then(|a| a.value.as_deref());
    if let (Some(before), Some(now)) = (before, doc.instance_type.as_deref()) {
        if before != now {
            return Err(AwsError::client(format!(
                "Container instance type changes are not supported. Container instance {id} \
                 was previously registered as {before}."
            )));
        }
    }
    Ok(id.to_string())
}

fn target_of<'a>(
    c: &'a mut ClusterRec,
    a: &m::Attribute,
) -> Result<(String, &'a mut InstanceRec), AwsError> {
    if let Some(t) = &a.target_type {
        if t.as_str() != "container-instance" {
            return Err(AwsError::invalid_parameter(
                "targetType must be container-instance.",
            ));
        }
    }
    let target = a
        .target_id
        .as_deref()
        .ok_or_else(|| AwsError::invalid_parameter("Attribute targetId is required."))?;
    let id = last_segment(target).to_string();
    let i = c.instances.get_mut(&id).ok_or_else(|| {
        AwsError::new(
            berth_core::protocol::ErrorCode::TargetNotFoundException,
            format!("Could not find {target}"),
        )
    })?;
    Ok((id, i))
}

fn valid_attribute(a: &m::Attribute) -> Result<(), AwsError> {
    let name = a.name.as_deref().unwrap_or_default();
    let ok_char = |b: u8| b.is_ascii_alphanumeric() || b"-_./@".contains(&b);
    if name.is_empty() || name.len() > 128 || !name.bytes().all(ok_char) {
        return Err(AwsError::invalid_parameter(format!(
            "Invalid attribute name {name:?}."
        )));
    }
    if let Some(v) = &a.value {
        if v.is_empty() || v.len() > 128 {
            return Err(AwsError::invalid_parameter(format!(
                "Invalid attribute value for {name}."
            )));
        }
    }
    Ok(())
}

pub(crate) fn put_attributes(
    w: &mut Write<'_>,
    req: m::PutAttributesRequest,
) -> Result<Value, AwsError> {
    let attrs = req.attributes.clone().unwrap_or_default();
    check_batch(attrs.len(), 10, "attributes", "attributes")?;
    attrs.iter().try_for_each(valid_attribute)?;
    let c = active_cluster_mut(w.st, req.cluster.as_deref())?;
    for a in &attrs {
        target_of(c, a)?;
    }
    let name = c.name.clone();
    for a in &attrs {
        let (id, i) = target_of(c, a)?;
        let n = a.name.clone().unwrap_or_default();
        i.ci = i.ci.clone().with_attribute(&n, a.value.as_deref());
        i.version += 1;
        w.dirty.insert(Key::Instance(name.clone(), id));
    }
    out(json!({"attributes": attrs}))
}

pub(crate) fn delete_attributes(
    w: &mut Write<'_>,
    req: m::DeleteAttributesRequest,
) -> Result<Value, AwsError> {
    let attrs = req.attributes.clone().unwrap_or_default();
    check_batch(attrs.len(), 10, "attributes", "attributes")?;
    let c = active_cluster_mut(w.st, req.cluster.as_deref())?;
    for a in &attrs {
        target_of(c, a)?;
    }
    let name = c.name.clone();
    for a in &attrs {
        let (id, i) = target_of(c, a)?;
        let n = a.name.clone().unwrap_or_default();
        i.ci.attributes.retain(|x| x.name != n);
        i.version += 1;
        w.dirty.insert(Key::Instance(name.clone(), id));
    }
    out(json!({"attributes": attrs}))
}

pub(crate) fn list_attributes(
    r: &Read<'_>,
    req: m::ListAttributesRequest,
) -> Result<Value, AwsError> {
    let c = active_cluster(r.st, req.cluster.as_deref())?;
    match req.target_type.as_ref().map(|t| t.as_str()) {
        Some("container-instance") => {}
        _ => {
            return Err(AwsError::invalid_parameter(
                "targetType is required and must be container-instance.",
            ));
        }
    }
    if req.attribute_value.is_some() && req.attribute_name.is_none() {
        return Err(AwsError::invalid_parameter(
            "attributeValue requires attributeName.",
        ));
    }
    let page = Page::new(
        "ListAttributes",
        req.next_token.as_deref(),
        req.max_results,
        100,
        100,
    )?;
    let (attrs, next) = page.take(
        "ListAttributes",
        c.instances.iter().flat_map(|(id, i)| {
            let arn = i.ci.container_instance_arn.clone();
            let id = id.clone();
            let name = req.attribute_name.clone();
            let value = req.attribute_value.clone();
            i.ci.attributes.iter().filter_map(move |a| {
                if name.as_ref().is_some_and(|n| n != &a.name)
                    || value.is_some() && value != a.value
                {
                    return None;
                }
                Some((
                    format!("{id}\u{0}{}", a.name),
                    m::Attribute {
                        name: Some(a.name.clone()),
                        value: a.value.clone(),
                        target_type: Some(m::TargetType::from("container-instance")),
                        target_id: Some(arn.clone()),
                    },
                ))
            })
        }),
    );
    out(json!({"attributes": attrs, "nextToken": next}))
}
