//! "Why is this task pending / where would it land": the placement engine of `berth-core` over
//! the shapes the ECS API returns, with every instance's result for every pipeline stage.
//!
//! The snapshot is built the way the embedded cluster builds its placement view
//! (`berth_cluster::state::View`): an instance's `remainingResources` (CPU, MEMORY, GPU, and the
//! ports in use in PORTS/PORTS_UDP) already account for the tasks on it, so tasks only add
//! their group (for `distinctInstance`, `task:group` and spread counts) and are never charged
//! again; only an instance that comes without `remainingResources` is charged its tasks here.
//! Instances are ordered by id and tasks by id, as the cluster's maps order them, so the same
//! seed makes the same choice in the browser as on the server. Like the cluster, requirements
//! come from the task definition's cpu/memory (task level, else the containers'), GPUs, static
//! host ports and `memberOf` constraints; `requiresAttributes` are checked only when the input
//! asks for it (`"checkRequiresAttributes": true`), because the embedded cluster's instances do
//! not advertise ECS's capability attributes while real ECS checks them.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use berth_core::model::{parse_cpu_units, parse_memory_mib};
use berth_core::placement::{
    Attribute, ContainerInstance, ContainerResources, HostPort, InstanceStatus, NetworkMode,
    PlacementConstraint, PlacementConstraintType, PlacementRequest, PlacementStrategy,
    PlacementStrategyType, Placer, PortMapping, Ports, Protocol, RejectionReason, Resources,
    Snapshot, TaskInfo, TaskRequirements, UnplacedKind, instance_id, parse_timestamp,
};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The pipeline stages every instance reports, in pipeline order.
pub const STAGES: [&str; 8] = [
    "status",
    "attributes",
    "cpu",
    "memory",
    "gpu",
    "ports",
    "distinctInstance",
    "memberOf",
];

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Explained<'a> {
    chosen: Option<String>,
    eligible: usize,
    group: &'a str,
    needs: Needs,
    instances: Vec<InstanceOut<'a>>,
    summary: BTreeMap<&'static str, u32>,
    by_stage: BTreeMap<&'static str, u32>,
    message: Option<String>,
    kind: Option<UnplacedKind>,
    closest: Option<String>,
}

#[derive(Serialize)]
struct Needs {
    cpu: u32,
    memory: u32,
    gpu: u32,
    ports: Vec<String>,
}

#[derive(Serialize, Clone, Copy)]
struct Res {
    cpu: u32,
    memory: u32,
    gpu: u32,
}

impl From<Resources> for Res {
    fn from(r: Resources) -> Self {
        Res {
            cpu: r.cpu,
            memory: r.memory,
            gpu: r.gpu,
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InstanceOut<'a> {
    arn: &'a str,
    ec2_instance_id: &'a str,
    az: Option<&'a str>,
    status: &'static str,
    agent_connected: bool,
    registered: Res,
    remaining: Res,
    tasks: Vec<TaskOut<'a>>,
    pass: bool,
    stages: Vec<Stage>,
}

#[derive(Serialize)]
struct TaskOut<'a> {
    arn: &'a str,
    group: &'a str,
    cpu: u32,
    memory: u32,
}

#[derive(Serialize)]
struct Stage {
    stage: &'static str,
    pass: bool,
    detail: String,
}

/// A task of the input that occupies an instance.
struct TaskIn {
    arn: String,
    instance: String,
    group: String,
    res: Resources,
    ports: Vec<HostPort>,
}

/// `explain(input_json)`: see the crate documentation for the JSON shapes.
pub fn explain(input_json: &str) -> String {
    match run(input_json) {
        Ok(s) => s,
        Err(e) => crate::error(e),
    }
}

fn run(input_json: &str) -> Result<String, String> {
    // Typed and borrowing, ignoring the members placement does not read: a 5,000-instance
    // cluster is megabytes of JSON, and building a `Value` tree of it would cost more than
    // placing the task.
    let input: Input<'_> = serde_json::from_str(input_json).map_err(|e| format!("input: {e}"))?;
    let td = match &input.task_definition {
        Some(v) if v.get("taskDefinition").is_some_and(Value::is_object) => &v["taskDefinition"],
        Some(v) if v.is_object() => v,
        _ => return Err("input: taskDefinition (an object) is required".into()),
    };
    let group = match input.group.as_deref() {
        Some(g) if !g.is_empty() => g.to_string(),
        _ => format!("family:{}", str_at(td, "family").unwrap_or_default()),
    };
    let seed = input.seed.unwrap_or(0);

    // Instances, ordered by id like the cluster's map.
    let mut instances: Vec<(ContainerInstance, bool)> =
        input.instances.iter().flatten().map(instance).collect();
    instances.sort_by(|a, b| {
        instance_id(&a.0.container_instance_arn).cmp(instance_id(&b.0.container_instance_arn))
    });
    let index: HashMap<String, usize> = instances
        .iter()
        .enumerate()
        .map(|(i, (ci, _))| (ci.container_instance_arn.clone(), i))
        .collect();

    let td_arn = str_at(td, "taskDefinitionArn");
    let own = requirements(td, &group);
    let mut tasks: Vec<TaskIn> = input
        .tasks
        .iter()
        .flatten()
        .filter_map(|t| task(t, td_arn, &own))
        .collect();
    tasks.sort_by(|a, b| instance_id(&a.arn).cmp(instance_id(&b.arn)));

    // Charge tasks only to instances whose remainingResources were not given.
    let mut charged: Vec<Option<(Resources, Ports)>> = instances
        .iter()
        .map(|(ci, had)| (!had).then(|| (ci.registered_resources, ci.reserved_ports.clone())))
        .collect();
    for t in &tasks {
        if let Some(&i) = index.get(t.instance.as_str())
            && let Some((r, ports)) = &mut charged[i]
        {
            r.cpu = r.cpu.saturating_sub(t.res.cpu);
            r.memory = r.memory.saturating_sub(t.res.memory);
            r.gpu = r.gpu.saturating_sub(t.res.gpu);
            for p in &t.ports {
                ports.insert(*p);
            }
        }
    }
    let mut snap = Snapshot::new();
    for ((mut ci, _), c) in instances.into_iter().zip(charged) {
        if let Some((r, ports)) = c {
            ci.remaining_resources = r;
            ci.ports_in_use = ports;
        }
        snap.push_instance(ci);
    }
    for t in &tasks {
        snap.push_task(TaskInfo {
            task_arn: t.arn.clone(),
            container_instance_arn: t.instance.clone(),
            group: t.group.clone(),
            resources: t.res,
            host_ports: t.ports.clone(),
        });
    }

    let mut task_req = own;
    if input.check_requires_attributes == Some(true) {
        task_req.requires_attributes = list(td, "requiresAttributes")
            .iter()
            .filter_map(|a| {
                Some(Attribute {
                    name: str_at(a, "name")?.to_string(),
                    value: str_at(a, "value").map(str::to_string),
                })
            })
            .collect();
    }
    let constraints = constraints(input.placement_constraints.as_deref().unwrap_or_default())?;
    let mut strategies = strategies(input.placement_strategy.as_deref().unwrap_or_default())?;
    if strategies.is_empty() && group.starts_with("service:") {
        strategies = PlacementStrategy::service_default();
    }
    let request = PlacementRequest {
        task: task_req,
        count: 1,
        placement_constraints: constraints,
        placement_strategy: strategies,
    };
    let mut placer = Placer::new(&snap, seed);
    let why = placer.explain(&request).map_err(|e| e.to_string())?;
    let plan = placer.place(&request).map_err(|e| e.to_string())?;

    let reasons: HashMap<&str, &[RejectionReason]> = why
        .rejections
        .iter()
        .map(|r| (r.container_instance_arn.as_str(), r.reasons.as_slice()))
        .collect();
    let mut on: Vec<Vec<TaskOut<'_>>> = (0..snap.container_instances.len())
        .map(|_| Vec::new())
        .collect();
    for t in &tasks {
        if let Some(&i) = index.get(t.instance.as_str()) {
            on[i].push(TaskOut {
                arn: &t.arn,
                group: &t.group,
                cpu: t.res.cpu,
                memory: t.res.memory,
            });
        }
    }
    let ctx = Context {
        req: &request,
        distinct: request
            .placement_constraints
            .iter()
            .any(|c| c.kind == PlacementConstraintType::DistinctInstance),
        member_of: request
            .task
            .placement_constraints
            .iter()
            .chain(&request.placement_constraints)
            .filter(|c| c.kind == PlacementConstraintType::MemberOf)
            .filter_map(|c| c.expression.as_deref())
            .collect(),
    };
    let mut summary: BTreeMap<&'static str, u32> = BTreeMap::new();
    let mut by_stage: BTreeMap<&'static str, u32> = BTreeMap::new();
    let mut out = Vec::with_capacity(snap.container_instances.len());
    for (ci, tasks_here) in snap.container_instances.iter().zip(on) {
        let rs = reasons
            .get(ci.container_instance_arn.as_str())
            .copied()
            .unwrap_or(&[]);
        let mut codes: Vec<&'static str> = rs.iter().map(RejectionReason::failure_reason).collect();
        codes.sort_unstable();
        codes.dedup();
        for c in codes {
            *summary.entry(c).or_default() += 1;
        }
        let stages = stages(&ctx, ci, rs);
        for s in stages.iter().filter(|s| !s.pass) {
            *by_stage.entry(s.stage).or_default() += 1;
        }
        out.push(InstanceOut {
            arn: &ci.container_instance_arn,
            ec2_instance_id: &ci.ec2_instance_id,
            az: ci.attribute("ecs.availability-zone").flatten(),
            status: ci.status.as_str(),
            agent_connected: ci.agent_connected,
            registered: ci.registered_resources.into(),
            remaining: ci.remaining_resources.into(),
            tasks: tasks_here,
            pass: rs.is_empty(),
            stages,
        });
    }
    let unplaced = plan.unplaced.as_ref();
    let message = unplaced.map(|u| match group.strip_prefix("service:") {
        Some(name) => u.service_event(name),
        None => u.message.clone(),
    });
    let r = &request.task.resources;
    Ok(crate::to_json(&Explained {
        chosen: why.chosen,
        eligible: why.eligible.len(),
        group: &group,
        needs: Needs {
            cpu: r.cpu,
            memory: r.memory,
            gpu: r.gpu,
            ports: request.task.host_ports.iter().map(port_text).collect(),
        },
        instances: out,
        summary,
        by_stage,
        message,
        kind: unplaced.map(|u| u.kind),
        closest: unplaced.and_then(|u| u.closest_container_instance_arn.clone()),
    }))
}

struct Context<'a> {
    req: &'a PlacementRequest,
    distinct: bool,
    member_of: Vec<&'a str>,
}

fn port_text(p: &HostPort) -> String {
    format!("{}/{}", p.port, p.protocol.as_str())
}

fn join(rs: &[&RejectionReason]) -> String {
    rs.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Every stage of one instance, pass or fail, with a sentence a person reads: for resources the
/// need against what is free (the same sentence either way, so a failing one states the
/// shortfall), for the other stages what was checked or the engine's reasons.
fn stages(ctx: &Context<'_>, ci: &ContainerInstance, rs: &[RejectionReason]) -> Vec<Stage> {
    let task = &ctx.req.task;
    let failed = |pick: fn(&RejectionReason) -> bool| -> Vec<&RejectionReason> {
        rs.iter().filter(|r| pick(r)).collect()
    };
    let checked = |stage: &'static str, failed: Vec<&RejectionReason>, ok: String| Stage {
        stage,
        pass: failed.is_empty(),
        detail: if failed.is_empty() { ok } else { join(&failed) },
    };
    let measured = |stage: &'static str, failed: Vec<&RejectionReason>, detail: String| Stage {
        stage,
        pass: failed.is_empty(),
        detail,
    };
    let (reg, rem, need) = (
        ci.registered_resources,
        ci.remaining_resources,
        task.resources,
    );
    let static_ports = !task.host_ports.is_empty()
        && matches!(task.network_mode, NetworkMode::Bridge | NetworkMode::Host);
    vec![
        checked(
            "status",
            failed(|r| {
                matches!(
                    r,
                    RejectionReason::NotActive { .. } | RejectionReason::AgentDisconnected
                )
            }),
            format!("{}, agent connected", ci.status.as_str()),
        ),
        checked(
            "attributes",
            failed(|r| matches!(r, RejectionReason::MissingAttribute { .. })),
            match task.requires_attributes.len() {
                0 => "no attributes required".into(),
                1 => "has the required attribute".into(),
                n => format!("has the {n} required attributes"),
            },
        ),
        measured(
            "cpu",
            failed(|r| matches!(r, RejectionReason::InsufficientCpu { .. })),
            format!(
                "needs {} CPU units, {} free of {}",
                need.cpu, rem.cpu, reg.cpu
            ),
        ),
        measured(
            "memory",
            failed(|r| matches!(r, RejectionReason::InsufficientMemory { .. })),
            format!(
                "needs {} MiB, {} MiB free of {}",
                need.memory, rem.memory, reg.memory
            ),
        ),
        measured(
            "gpu",
            failed(|r| matches!(r, RejectionReason::InsufficientGpu { .. })),
            if need.gpu == 0 {
                "no GPU needed".to_string()
            } else {
                format!("needs {} GPUs, {} free of {}", need.gpu, rem.gpu, reg.gpu)
            },
        ),
        checked(
            "ports",
            failed(|r| matches!(r, RejectionReason::PortInUse { .. })),
            if static_ports {
                format!(
                    "host port{} {} free",
                    if task.host_ports.len() == 1 { "" } else { "s" },
                    task.host_ports
                        .iter()
                        .map(port_text)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                "no static host ports".into()
            },
        ),
        checked(
            "distinctInstance",
            failed(|r| matches!(r, RejectionReason::DistinctInstance { .. })),
            if ctx.distinct {
                format!("no task of {} here", task.group)
            } else {
                "no distinctInstance constraint".into()
            },
        ),
        checked(
            "memberOf",
            failed(|r| matches!(r, RejectionReason::ConstraintNotSatisfied { .. })),
            if ctx.member_of.is_empty() {
                "no memberOf constraint".into()
            } else {
                ctx.member_of
                    .iter()
                    .map(|e| format!("satisfies memberOf({e})"))
                    .collect::<Vec<_>>()
                    .join("; ")
            },
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Reading the API's shapes

fn list<'v>(v: &'v Value, key: &str) -> &'v [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn str_at<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

/// A non-negative integer from a JSON number or a numeric string, saturating at `u32::MAX`.
fn uint(v: &Value) -> Option<u32> {
    let n = match v {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))?,
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| *f >= 0.0)? as u64,
        _ => return None,
    };
    Some(u32::try_from(n).unwrap_or(u32::MAX))
}

fn cpu_units(v: &Value) -> Option<u32> {
    match v {
        Value::String(s) => parse_cpu_units(s)
            .ok()
            .map(|u| u32::try_from(u).unwrap_or(u32::MAX)),
        other => uint(other),
    }
}

fn memory_mib(v: &Value) -> Option<u32> {
    match v {
        Value::String(s) => parse_memory_mib(s)
            .ok()
            .map(|u| u32::try_from(u).unwrap_or(u32::MAX)),
        other => uint(other),
    }
}

fn protocol(v: Option<&Value>) -> Protocol {
    protocol_of(v.and_then(Value::as_str))
}

/// The input of [`explain`], as far as placement reads it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Input<'a> {
    #[serde(borrow, default)]
    instances: Option<Vec<ApiInstance<'a>>>,
    #[serde(borrow, default)]
    tasks: Option<Vec<ApiTask<'a>>>,
    #[serde(default)]
    task_definition: Option<Value>,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    placement_constraints: Option<Vec<Value>>,
    #[serde(default)]
    placement_strategy: Option<Vec<Value>>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    check_requires_attributes: Option<bool>,
}

type Text<'a> = Option<Cow<'a, str>>;

/// A `ContainerInstance` of DescribeContainerInstances (the members placement reads).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiInstance<'a> {
    #[serde(borrow, default)]
    container_instance_arn: Text<'a>,
    #[serde(borrow, default)]
    ec2_instance_id: Text<'a>,
    #[serde(borrow, default)]
    status: Text<'a>,
    #[serde(default)]
    agent_connected: Option<bool>,
    #[serde(borrow, default)]
    version_info: Option<VersionInfo<'a>>,
    #[serde(default)]
    registered_at: Option<Value>,
    #[serde(borrow, default)]
    registered_resources: Option<Vec<ApiResource<'a>>>,
    #[serde(borrow, default)]
    remaining_resources: Option<Vec<ApiResource<'a>>>,
    #[serde(borrow, default)]
    attributes: Option<Vec<ApiAttribute<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct VersionInfo<'a> {
    #[serde(borrow, default)]
    agent_version: Text<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiResource<'a> {
    #[serde(borrow, default)]
    name: Text<'a>,
    #[serde(default)]
    integer_value: Option<f64>,
    #[serde(default)]
    long_value: Option<f64>,
    #[serde(default)]
    double_value: Option<f64>,
    #[serde(borrow, default)]
    string_set_value: Option<Vec<Cow<'a, str>>>,
}

#[derive(Deserialize)]
struct ApiAttribute<'a> {
    #[serde(borrow, default)]
    name: Text<'a>,
    #[serde(borrow, default)]
    value: Text<'a>,
}

/// A `Task` of DescribeTasks (the members placement reads).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiTask<'a> {
    #[serde(borrow, default)]
    task_arn: Text<'a>,
    #[serde(borrow, default)]
    container_instance_arn: Text<'a>,
    #[serde(borrow, default)]
    group: Text<'a>,
    #[serde(borrow, default)]
    last_status: Text<'a>,
    #[serde(borrow, default)]
    task_definition_arn: Text<'a>,
    #[serde(default)]
    cpu: Option<Value>,
    #[serde(default)]
    memory: Option<Value>,
    #[serde(borrow, default)]
    containers: Option<Vec<ApiContainer<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiContainer<'a> {
    #[serde(default)]
    cpu: Option<Value>,
    #[serde(default)]
    memory: Option<Value>,
    #[serde(default)]
    memory_reservation: Option<Value>,
    #[serde(default)]
    gpu_ids: Option<Vec<IgnoredAny>>,
    #[serde(borrow, default)]
    network_bindings: Option<Vec<ApiBinding<'a>>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiBinding<'a> {
    #[serde(default)]
    host_port: Option<Value>,
    #[serde(borrow, default)]
    protocol: Text<'a>,
}

fn text<'t>(t: &'t Text<'_>) -> Option<&'t str> {
    t.as_deref()
}

fn protocol_of(p: Option<&str>) -> Protocol {
    match p {
        Some(p) if p.eq_ignore_ascii_case("udp") => Protocol::Udp,
        _ => Protocol::Tcp,
    }
}

fn count(n: f64) -> Option<u32> {
    (n >= 0.0).then(|| n.min(f64::from(u32::MAX)) as u32)
}

/// `registeredResources` / `remainingResources`: CPU, MEMORY, GPU and the PORTS sets.
fn resources(items: Option<&[ApiResource<'_>]>) -> Option<(Resources, Ports)> {
    let items = items?;
    let mut r = Resources::default();
    let mut ports = Ports::default();
    for item in items {
        let int = item
            .integer_value
            .or(item.long_value)
            .or(item.double_value)
            .and_then(count);
        let set = item.string_set_value.as_deref().unwrap_or_default();
        let port_set = || {
            set.iter()
                .filter_map(|p| p.trim().parse::<u16>().ok())
                .collect()
        };
        match text(&item.name) {
            Some("CPU") => r.cpu = int.unwrap_or(0),
            Some("MEMORY") => r.memory = int.unwrap_or(0),
            // ECS lists GPU ids in a STRINGSET; an INTEGER count is read too.
            Some("GPU") => {
                r.gpu = int.unwrap_or_else(|| u32::try_from(set.len()).unwrap_or(u32::MAX))
            }
            Some("PORTS") => ports.tcp = port_set(),
            Some("PORTS_UDP") => ports.udp = port_set(),
            _ => {}
        }
    }
    Some((r, ports))
}

/// A container instance for the snapshot, and whether it came with remainingResources.
fn instance(v: &ApiInstance<'_>) -> (ContainerInstance, bool) {
    let (registered, reserved) = resources(v.registered_resources.as_deref()).unwrap_or_default();
    let remaining = resources(v.remaining_resources.as_deref());
    let had = remaining.is_some();
    let (remaining, in_use) = remaining.unwrap_or((registered, reserved.clone()));
    let mut ci = ContainerInstance::new(
        text(&v.container_instance_arn).unwrap_or_default(),
        text(&v.ec2_instance_id).unwrap_or_default(),
        registered,
    );
    ci.status = match text(&v.status) {
        None => InstanceStatus::Active,
        Some(s) => {
            serde_json::from_value(Value::String(s.to_string())).unwrap_or(InstanceStatus::Inactive)
        }
    };
    ci.agent_connected = v.agent_connected.unwrap_or(true);
    ci.agent_version = v
        .version_info
        .as_ref()
        .and_then(|i| text(&i.agent_version))
        .unwrap_or_default()
        .to_string();
    ci.registered_at = match &v.registered_at {
        Some(Value::Number(n)) => n.as_f64().map_or(0, |f| f as i64),
        Some(Value::String(s)) => parse_timestamp(s)
            .or_else(|| s.parse::<f64>().ok().map(|f| f as i64))
            .unwrap_or(0),
        _ => 0,
    };
    ci.attributes = v
        .attributes
        .iter()
        .flatten()
        .filter_map(|a| {
            Some(Attribute {
                name: text(&a.name)?.to_string(),
                value: text(&a.value).map(str::to_string),
            })
        })
        .collect();
    ci.remaining_resources = remaining;
    ci.reserved_ports = reserved;
    ci.ports_in_use = in_use;
    (ci, had)
}

/// A non-STOPPED task that sits on an instance: what it reserves.
fn task(v: &ApiTask<'_>, td_arn: Option<&str>, own: &TaskRequirements) -> Option<TaskIn> {
    if text(&v.last_status) == Some("STOPPED") {
        return None;
    }
    let instance = text(&v.container_instance_arn).filter(|s| !s.is_empty())?;
    let containers = v.containers.as_deref().unwrap_or_default();
    let sum = |f: &dyn Fn(&ApiContainer<'_>) -> Option<u32>| -> Option<u32> {
        let mut any = false;
        let mut total = 0u32;
        for c in containers {
            if let Some(n) = f(c) {
                any = true;
                total = total.saturating_add(n);
            }
        }
        any.then_some(total)
    };
    let same_td = td_arn.is_some() && text(&v.task_definition_arn) == td_arn;
    let cpu = v
        .cpu
        .as_ref()
        .and_then(cpu_units)
        .or_else(|| sum(&|c| c.cpu.as_ref().and_then(uint)))
        .or(same_td.then_some(own.resources.cpu))
        .unwrap_or(0);
    let memory = v
        .memory
        .as_ref()
        .and_then(memory_mib)
        .or_else(|| {
            sum(&|c| {
                c.memory_reservation
                    .as_ref()
                    .or(c.memory.as_ref())
                    .and_then(uint)
            })
        })
        .or(same_td.then_some(own.resources.memory))
        .unwrap_or(0);
    let gpu = sum(&|c| c.gpu_ids.as_ref().and_then(|g| u32::try_from(g.len()).ok())).unwrap_or(0);
    let ports = containers
        .iter()
        .flat_map(|c| c.network_bindings.iter().flatten())
        .filter_map(|b| {
            let port = b
                .host_port
                .as_ref()
                .and_then(uint)
                .and_then(|p| u16::try_from(p).ok())?;
            (port != 0).then(|| HostPort {
                port,
                protocol: protocol_of(text(&b.protocol)),
            })
        })
        .collect();
    Some(TaskIn {
        arn: text(&v.task_arn).unwrap_or_default().to_string(),
        instance: instance.to_string(),
        group: text(&v.group).unwrap_or_default().to_string(),
        res: Resources::new(cpu, memory, gpu),
        ports,
    })
}

/// What a task of `td` needs, as the embedded cluster computes it (`requirements` in
/// `berth_cluster::api::tasks`).
fn requirements(td: &Value, group: &str) -> TaskRequirements {
    let network_mode = match str_at(td, "networkMode") {
        Some("host") => NetworkMode::Host,
        Some("awsvpc") => NetworkMode::Awsvpc,
        Some("none") => NetworkMode::None,
        _ => NetworkMode::Bridge,
    };
    let containers: Vec<ContainerResources> = list(td, "containerDefinitions")
        .iter()
        .map(|c| ContainerResources {
            cpu: c.get("cpu").and_then(uint),
            memory: c.get("memory").and_then(uint),
            memory_reservation: c.get("memoryReservation").and_then(uint),
            gpu: list(c, "resourceRequirements")
                .iter()
                .filter(|r| str_at(r, "type") == Some("GPU"))
                .filter_map(|r| r.get("value").and_then(uint))
                .fold(0, u32::saturating_add),
            port_mappings: list(c, "portMappings")
                .iter()
                .filter_map(|p| {
                    Some(PortMapping {
                        container_port: p
                            .get("containerPort")
                            .and_then(uint)
                            .and_then(|n| u16::try_from(n).ok())?,
                        host_port: p
                            .get("hostPort")
                            .and_then(uint)
                            .and_then(|n| u16::try_from(n).ok()),
                        protocol: protocol(p.get("protocol")),
                    })
                })
                .collect(),
        })
        .collect();
    let mut req = TaskRequirements::from_containers(
        group,
        network_mode,
        td.get("cpu").and_then(cpu_units),
        td.get("memory").and_then(memory_mib),
        &containers,
    );
    req.placement_constraints = list(td, "placementConstraints")
        .iter()
        .filter(|c| str_at(c, "type") == Some("memberOf"))
        .filter_map(|c| str_at(c, "expression").map(PlacementConstraint::member_of))
        .collect();
    req
}

fn constraints(items: &[Value]) -> Result<Vec<PlacementConstraint>, String> {
    items
        .iter()
        .map(|c| {
            let kind = match str_at(c, "type") {
                Some("distinctInstance") => PlacementConstraintType::DistinctInstance,
                Some("memberOf") => PlacementConstraintType::MemberOf,
                other => {
                    return Err(format!(
                        "Invalid placement constraint type {other:?}; use distinctInstance or memberOf."
                    ));
                }
            };
            Ok(PlacementConstraint {
                kind,
                expression: str_at(c, "expression").map(str::to_string),
            })
        })
        .collect()
}

fn strategies(items: &[Value]) -> Result<Vec<PlacementStrategy>, String> {
    items
        .iter()
        .map(|s| {
            let kind = match str_at(s, "type") {
                Some("random") => PlacementStrategyType::Random,
                Some("spread") => PlacementStrategyType::Spread,
                Some("binpack") => PlacementStrategyType::Binpack,
                other => {
                    return Err(format!(
                        "Invalid placement strategy type {other:?}; use random, spread or binpack."
                    ));
                }
            };
            Ok(PlacementStrategy {
                kind,
                field: str_at(s, "field").map(str::to_string),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ci(n: u32, az: &str, registered_mem: u32, remaining_mem: Option<u32>) -> Value {
        let res = |mem: u32, ports: &[&str]| {
            json!([
                {"name": "CPU", "type": "INTEGER", "integerValue": 2048},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": mem},
                {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ports},
                {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []}
            ])
        };
        let mut v = json!({
            "containerInstanceArn": format!("arn:aws:ecs:us-east-1:1:container-instance/c1/{n}"),
            "ec2InstanceId": format!("i-{n}"),
            "status": "ACTIVE",
            "agentConnected": true,
            "registeredResources": res(registered_mem, &["22"]),
            "attributes": [{"name": "ecs.availability-zone", "value": az}]
        });
        if let Some(m) = remaining_mem {
            v["remainingResources"] = res(m, &["22", "8080"]);
        }
        v
    }

    fn task(n: u32, on: u32, group: &str, memory: &str) -> Value {
        json!({
            "taskArn": format!("arn:aws:ecs:us-east-1:1:task/c1/t{n}"),
            "containerInstanceArn": format!("arn:aws:ecs:us-east-1:1:container-instance/c1/{on}"),
            "group": group, "lastStatus": "RUNNING", "cpu": "256", "memory": memory,
            "containers": [{"name": "app", "networkBindings": [{"hostPort": 8080, "protocol": "tcp"}]}]
        })
    }

    fn td(memory: u32) -> Value {
        json!({"family": "web", "taskDefinitionArn": "arn:aws:ecs:us-east-1:1:task-definition/web:2",
               "containerDefinitions": [{"name": "app", "image": "nginx", "cpu": 256, "memory": memory}]})
    }

    fn run(input: Value) -> Value {
        serde_json::from_str(&explain(&input.to_string())).unwrap()
    }

    fn stage<'v>(inst: &'v Value, name: &str) -> &'v Value {
        inst["stages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["stage"] == name)
            .unwrap()
    }

    #[test]
    fn memory_fails_on_both_instances_with_the_shortfall() {
        let out = run(json!({
            "instances": [ci(1, "us-east-1a", 2048, Some(1024)), ci(2, "us-east-1b", 2048, Some(512))],
            "tasks": [task(1, 1, "service:web", "1024"), task(2, 2, "service:api", "1536")],
            "taskDefinition": td(4096),
            "group": "service:web"
        }));
        assert_eq!(out["chosen"], Value::Null);
        assert_eq!(out["eligible"], 0);
        assert_eq!(out["needs"]["memory"], 4096);
        let insts = out["instances"].as_array().unwrap();
        assert_eq!(insts.len(), 2);
        for (inst, free) in insts.iter().zip([1024, 512]) {
            let names: Vec<&str> = inst["stages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["stage"].as_str().unwrap())
                .collect();
            assert_eq!(names, STAGES);
            let mem = stage(inst, "memory");
            assert_eq!(mem["pass"], false);
            assert_eq!(
                mem["detail"],
                format!("needs 4096 MiB, {free} MiB free of 2048")
            );
            assert_eq!(stage(inst, "cpu")["pass"], true);
            assert_eq!(stage(inst, "status")["pass"], true);
            assert_eq!(inst["pass"], false);
            // remainingResources already count the task: it is not charged again.
            assert_eq!(inst["remaining"]["memory"], free);
        }
        assert_eq!(out["summary"], json!({"RESOURCE:MEMORY": 2}));
        assert_eq!(out["byStage"], json!({"memory": 2}));
        assert_eq!(out["kind"], "CAN_NEVER_PLACE");
        let message = out["message"].as_str().unwrap();
        assert!(message.starts_with("(service web) was unable to place a task because no container instance met all of its requirements."), "{message}");
        assert!(
            message.contains("insufficient memory available"),
            "{message}"
        );
        assert_eq!(
            insts[0]["tasks"],
            json!([{"arn": "arn:aws:ecs:us-east-1:1:task/c1/t1", "group": "service:web", "cpu": 256, "memory": 1024}])
        );
        assert_eq!(insts[0]["az"], "us-east-1a");
    }

    #[test]
    fn chooses_an_instance_and_explains_the_rest() {
        let mut draining = ci(3, "us-east-1c", 8192, Some(8192));
        draining["status"] = json!("DRAINING");
        let out = run(json!({
            "instances": [ci(1, "us-east-1a", 4096, None), ci(2, "us-east-1b", 4096, Some(4096)), draining],
            "tasks": [task(1, 1, "service:web", "3584"), task(2, 2, "service:web", "512"),
                      {"taskArn": "stopped", "containerInstanceArn": "arn:aws:ecs:us-east-1:1:container-instance/c1/2",
                       "lastStatus": "STOPPED", "memory": "4096"}],
            "taskDefinition": {"taskDefinition": td(1024)},
            "placementConstraints": [{"type": "distinctInstance"}],
            "seed": 7
        }));
        assert_eq!(out["group"], "family:web");
        let insts = out["instances"].as_array().unwrap();
        // Instance 1 has no remainingResources: its task is charged (4096 - 3584 = 512).
        assert_eq!(insts[0]["remaining"]["memory"], 512);
        assert_eq!(
            stage(&insts[0], "memory")["detail"],
            "needs 1024 MiB, 512 MiB free of 4096"
        );
        // Its ports in use come from the task's network bindings.
        assert_eq!(insts[1]["remaining"]["memory"], 4096);
        assert_eq!(stage(&insts[1], "distinctInstance")["pass"], true);
        assert_eq!(
            stage(&insts[1], "distinctInstance")["detail"],
            "no task of family:web here"
        );
        assert_eq!(stage(&insts[2], "status")["pass"], false);
        assert_eq!(
            stage(&insts[2], "status")["detail"],
            "instance is DRAINING (only ACTIVE instances take tasks)"
        );
        assert_eq!(
            out["chosen"],
            "arn:aws:ecs:us-east-1:1:container-instance/c1/2"
        );
        assert_eq!(out["eligible"], 1);
        assert_eq!(out["message"], Value::Null);
        assert_eq!(out["byStage"], json!({"memory": 1, "status": 1}));
    }

    #[test]
    fn groups_count_for_distinct_instance_and_constraints_are_checked() {
        let out = run(json!({
            "instances": [ci(1, "us-east-1a", 4096, Some(4096)), ci(2, "us-east-1b", 4096, Some(4096))],
            "tasks": [task(1, 1, "service:web", "0")],
            "taskDefinition": td(256),
            "group": "service:web",
            "placementConstraints": [{"type": "distinctInstance"},
                                     {"type": "memberOf", "expression": "attribute:ecs.availability-zone == us-east-1a"}]
        }));
        let insts = out["instances"].as_array().unwrap();
        assert_eq!(stage(&insts[0], "distinctInstance")["pass"], false);
        assert_eq!(stage(&insts[0], "memberOf")["pass"], true);
        assert_eq!(
            stage(&insts[0], "memberOf")["detail"],
            "satisfies memberOf(attribute:ecs.availability-zone == us-east-1a)"
        );
        assert_eq!(stage(&insts[1], "memberOf")["pass"], false);
        assert_eq!(out["eligible"], 0);
        assert_eq!(out["kind"], "CANNOT_PLACE_NOW");

        let bad = run(
            json!({"taskDefinition": td(256), "placementConstraints": [{"type": "sometimes"}]}),
        );
        assert!(
            bad["error"].as_str().unwrap().contains("sometimes"),
            "{bad}"
        );
        let bad = run(
            json!({"taskDefinition": td(256), "placementConstraints": [{"type": "memberOf", "expression": "attribute:x =="}]}),
        );
        assert!(bad["error"].as_str().is_some(), "{bad}");
        let none = run(json!({"taskDefinition": td(256)}));
        assert_eq!(none["kind"], "NO_CONTAINER_INSTANCES");
    }

    #[test]
    fn static_ports_are_checked_against_ports_in_use() {
        let mut t = td(256);
        t["containerDefinitions"][0]["portMappings"] =
            json!([{"containerPort": 80, "hostPort": 8080}]);
        let out = run(json!({
            "instances": [ci(1, "us-east-1a", 4096, Some(4096)), ci(2, "us-east-1b", 4096, None)],
            "taskDefinition": t
        }));
        assert_eq!(out["needs"]["ports"], json!(["8080/tcp"]));
        let insts = out["instances"].as_array().unwrap();
        assert_eq!(stage(&insts[0], "ports")["pass"], false);
        assert_eq!(
            stage(&insts[0], "ports")["detail"],
            "host port 8080/tcp is in use by another task"
        );
        assert_eq!(
            stage(&insts[1], "ports")["detail"],
            "host port 8080/tcp free"
        );
        assert_eq!(
            out["chosen"],
            "arn:aws:ecs:us-east-1:1:container-instance/c1/2"
        );
    }
}
