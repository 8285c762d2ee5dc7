//! The JSON of the ECS task metadata endpoint v4 (TMDS), built from the cluster's own state.
//!
//! **What it does.** [`Cluster::task_metadata`] takes the token a container finds at the end of
//! its `ECS_CONTAINER_METADATA_URI_V4` (`<task id>-<index of the container in the task
//! definition>`, see [`token`]) and returns what the agent's v4 handlers would answer for it:
//! the container JSON (`/v4/<token>`), the task JSON with its `Containers` (`/task`), the same
//! with `TaskTags` and `ContainerInstanceTags` (`/taskWithTags`), and the Docker ids of the
//! task's containers, for the stats routes. Member names, which members are omitted when empty,
//! and value formats follow the agent's response types (`ecs-agent/tmds/handlers/v2`,
//! `…/v4/state`) and AWS's published examples: statuses use the agent's names (`NONE`,
//! `PULLED`, `CREATED`, `RUNNING`, `STOPPED`), `Revision` is a string, timestamps are RFC 3339
//! with trimmed nanoseconds in UTC (Go's `RFC3339Nano`), container `Limits.CPU` is in CPU units
//! (at least 2) and task `Limits.CPU` in vCPU, `LogOptions` are the `awslogs` options as the ECS
//! backend renders them (`awslogs-stream` = `<prefix>/<container>/<task id>`, no prefix key).
//!
//! **What it does not do, and why.**
//! - No HTTP and no Docker: the server's `tmds` module serves this JSON, and stats come from
//!   the runtime; this module only reads the cluster's state under its read lock.
//! - No values the cluster does not know. `IPv4Addresses` holds an `awsvpc` task's address once
//!   its runtime reported one (the Docker runtime's pause container, the task's ENI attachment)
//!   and is empty otherwise (bridge-mode addresses are not in the state); image ids and volumes
//!   are not in the state either, so `ImageID` is the image digest when one was
//!   reported (else empty) and `Volumes` is left out; per-container timestamps are the task's
//!   (pull stopped → `CreatedAt`, started → `StartedAt`, execution stopped → `FinishedAt`);
//!   `Health.statusSince`, `RestartCount`, `AvailabilityZoneID` and `Errors` are left out.
//! - `FaultInjectionEnabled` is always `false`: Berth serves no fault-injection endpoints, so
//!   telling a container they are on would be a lie. `ClockDrift` reports the cluster's own
//!   clock as the reference (`SYNCHRONIZED`, error bound 0): containers share the host's clock.

use std::collections::BTreeMap;

use berth_core::model as m;
use berth_core::placement::instance_id;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::Cluster;
use crate::runtime::LiveContainer;
use crate::state::{ClusterRec, TaskRec};

/// What the task metadata endpoint serves for one token.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskMetadata {
    /// The container JSON (`GET /v4/<token>`).
    pub container: Value,
    /// The task JSON with every container in `Containers` (`GET /v4/<token>/task`).
    pub task: Value,
    /// The task JSON plus `TaskTags` and `ContainerInstanceTags` (`GET /v4/<token>/taskWithTags`).
    pub task_with_tags: Value,
    /// This container's Docker id, once the runtime reported one (`GET /v4/<token>/stats`).
    pub docker_id: Option<String>,
    /// The Docker ids of the task's containers that have one, in task-definition order
    /// (`GET /v4/<token>/task/stats`).
    pub docker_ids: Vec<String>,
}

/// The metadata token of the container at `index` (its position in the task definition's
/// `containerDefinitions`) of task `task_id`: what follows `/v4/` in
/// `ECS_CONTAINER_METADATA_URI_V4`. `<task id>-<index>-<mac>`, the mac being 128 bits of
/// SHA-256 over `key` (the cluster's [`crate::Config::metadata_key`]) and the rest: task ids
/// come from a seeded generator, so without it one container could read another task's
/// metadata by guessing (the agent uses a random id per container for the same reason).
pub fn token(key: &str, task_id: &str, index: usize) -> String {
    format!("{task_id}-{index}-{}", mac(key, task_id, index))
}

fn mac(key: &str, task_id: &str, index: usize) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for part in [key, "\n", task_id, "\n", &index.to_string()] {
        h.update(part.as_bytes());
    }
    let digest = h.finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Splits a token into the task id (32 lowercase hex characters) and the container index;
/// `None` when it is not one or its mac does not match `key`.
pub fn parse_token<'a>(key: &str, token: &'a str) -> Option<(&'a str, usize)> {
    let (rest, given) = token.rsplit_once('-')?;
    let (task_id, index) = rest.rsplit_once('-')?;
    let hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    if task_id.len() != 32 || !task_id.bytes().all(hex) {
        return None;
    }
    if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let index: usize = index.parse().ok()?;
    let want = mac(key, task_id, index);
    // Constant time: the comparison does not tell how much of a guess was right.
    let same = want.len() == given.len()
        && want
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    same.then_some((task_id, index))
}

impl Cluster {
    /// The task metadata for `token` (see [`token`]), or `None` when no task of any cluster
    /// has that id, its task definition is gone, or the index is past its containers (the
    /// endpoint answers 404 then). Stopped tasks are answered until they are purged, as the
    /// agent answers until it cleans the task up.
    pub fn task_metadata(&self, token: &str) -> Option<TaskMetadata> {
        let (task_id, index) = parse_token(&self.config().metadata_key, token)?;
        let now = self.now();
        let st = self.read();
        let (c, t) = st
            .clusters
            .values()
            .find_map(|c| c.tasks.get(task_id).map(|t| (c, t)))?;
        let td_arn = t.task.task_definition_arn.as_deref()?;
        let td = &crate::api::resolve_task_definition(&st, td_arn)?.td;
        let view = TaskView::new(c, t, td);
        view.defs.get(index)?;
        // The runtime knows its containers ahead of the state (a container asks about itself
        // as soon as it starts; the state follows on the next reconciler pass).
        let live = self.inner.runtime.live(task_id);
        let live_id = |name: Option<&str>| {
            live.iter()
                .find(|l| Some(l.name.as_str()) == name && !l.docker_id.is_empty())
                .map(|l| l.docker_id.clone())
        };
        let docker_ids = (0..view.defs.len())
            .filter_map(|i| {
                view.container(i)
                    .and_then(|ct| ct.runtime_id.clone())
                    .or_else(|| live_id(view.defs[i].name.as_deref()))
            })
            .collect();
        let mut container = view.container_json(index);
        overlay(&mut container, &live);
        let mut task = view.task_json(now, false);
        let mut task_with_tags = view.task_json(now, true);
        for t in [&mut task, &mut task_with_tags] {
            overlay_task(t, &live);
        }
        Some(TaskMetadata {
            container,
            task,
            task_with_tags,
            docker_id: view
                .container(index)
                .and_then(|ct| ct.runtime_id.clone())
                .or_else(|| live_id(view.defs[index].name.as_deref())),
            docker_ids,
        })
    }
}

/// One task with what its JSON is made of.
struct TaskView<'a> {
    cluster: &'a ClusterRec,
    task: &'a TaskRec,
    td: &'a m::TaskDefinition,
    defs: &'a [m::ContainerDefinition],
    /// `bridge`, `awsvpc`, `host` or `none`.
    network_mode: &'a str,
}

impl<'a> TaskView<'a> {
    fn new(cluster: &'a ClusterRec, task: &'a TaskRec, td: &'a m::TaskDefinition) -> Self {
        TaskView {
            cluster,
            task,
            td,
            defs: td.container_definitions.as_deref().unwrap_or_default(),
            network_mode: td.network_mode.as_ref().map_or("bridge", |n| n.as_str()),
        }
    }

    /// The task's record of the container at `index` (matched by name; by position when the
    /// definition has unnamed containers).
    fn container(&self, index: usize) -> Option<&'a m::Container> {
        let containers = self.task.task.containers.as_deref().unwrap_or_default();
        let name = self.defs.get(index)?.name.as_deref();
        containers
            .iter()
            .find(|c| name.is_some() && c.name.as_deref() == name)
            .or_else(|| containers.get(index))
    }

    /// The container's override in the task's `overrides`, if any.
    fn container_override(&self, name: Option<&str>) -> Option<&'a m::ContainerOverride> {
        let overrides = self
            .task
            .task
            .overrides
            .as_ref()?
            .container_overrides
            .as_ref()?;
        overrides.iter().find(|o| o.name.as_deref() == name)
    }

    /// The agent's known status of a container.
    fn known_status(&self, ct: Option<&m::Container>) -> &'static str {
        let Some(ct) = ct else { return "NONE" };
        match ct.last_status.as_deref() {
            Some("RUNNING") => "RUNNING",
            Some("STOPPED") => "STOPPED",
            _ if ct.runtime_id.is_some() => "CREATED",
            _ if self.task.task.pull_stopped_at.is_some() => "PULLED",
            _ => "NONE",
        }
    }

    /// The agent's desired status of a container: STOPPED once it stopped or the task is to
    /// stop, else RUNNING.
    fn desired_status(&self, ct: Option<&m::Container>) -> &'static str {
        let stopped = ct.is_some_and(|c| c.last_status.as_deref() == Some("STOPPED"));
        if stopped || self.task.desired_status() == "STOPPED" {
            "STOPPED"
        } else {
            "RUNNING"
        }
    }

    /// The agent's known status of the task: the least advanced of its containers' (mapped
    /// as the agent maps container to task status), STOPPED once the task stopped.
    fn task_known_status(&self) -> &'static str {
        if self.task.is_stopped() {
            return "STOPPED";
        }
        const ORDER: [&str; 5] = ["NONE", "MANIFEST_PULLED", "CREATED", "RUNNING", "STOPPED"];
        let rank = |s: &str| match s {
            "NONE" => 0,
            "PULLED" => 1,
            "CREATED" => 2,
            "RUNNING" => 3,
            _ => 4,
        };
        (0..self.defs.len())
            .map(|i| rank(self.known_status(self.container(i))))
            .min()
            .map_or("NONE", |r| ORDER[r])
    }

    /// `Labels`: the definition's `dockerLabels`, then the labels ECS puts on every container
    /// (which win on the same key), sorted by key as the agent's Go map is.
    fn labels(&self, def: &m::ContainerDefinition) -> BTreeMap<String, String> {
        let mut labels = def.docker_labels.clone().unwrap_or_default();
        for (k, v) in [
            ("com.amazonaws.ecs.cluster", self.cluster.name.clone()),
            (
                "com.amazonaws.ecs.container-name",
                def.name.clone().unwrap_or_default(),
            ),
            (
                "com.amazonaws.ecs.task-arn",
                self.task.task.task_arn.clone().unwrap_or_default(),
            ),
            (
                "com.amazonaws.ecs.task-definition-family",
                self.td.family.clone().unwrap_or_default(),
            ),
            (
                "com.amazonaws.ecs.task-definition-version",
                self.td.revision.unwrap_or_default().to_string(),
            ),
        ] {
            labels.insert(k.into(), v);
        }
        labels
    }

    /// `Ports`: one entry per published binding; in `awsvpc` and `host` mode, where Docker
    /// publishes nothing, the definition's port mappings with `HostPort` = `ContainerPort`
    /// once the container runs.
    fn ports(&self, def: &m::ContainerDefinition, ct: Option<&m::Container>) -> Vec<Value> {
        let port = |container_port: Option<i32>, host_port: Option<i32>, proto: &str, ip: &str| {
            let mut p = Map::new();
            if let Some(cp) = container_port.filter(|p| *p > 0) {
                p.insert("ContainerPort".into(), cp.into());
            }
            p.insert("Protocol".into(), proto.into());
            if let Some(hp) = host_port.filter(|p| *p > 0) {
                p.insert("HostPort".into(), hp.into());
            }
            if !ip.is_empty() {
                p.insert("HostIp".into(), ip.into());
            }
            Value::Object(p)
        };
        let bindings = ct
            .and_then(|c| c.network_bindings.as_deref())
            .unwrap_or_default();
        let awsvpc = self.network_mode == "awsvpc";
        if !bindings.is_empty() {
            return bindings
                .iter()
                .filter(|b| b.container_port.is_some())
                .map(|b| {
                    let host = if awsvpc {
                        b.container_port
                    } else {
                        b.host_port
                    };
                    let proto = b.protocol.as_ref().map_or("tcp", |p| p.as_str());
                    port(
                        b.container_port,
                        host,
                        proto,
                        b.bind_ip.as_deref().unwrap_or(""),
                    )
                })
                .collect();
        }
        let running = ct.is_some_and(|c| c.last_status.as_deref() == Some("RUNNING"));
        if !(running && (awsvpc || self.network_mode == "host")) {
            return Vec::new();
        }
        def.port_mappings
            .iter()
            .flatten()
            .filter(|p| p.container_port.is_some())
            .map(|p| {
                let proto = p.protocol.as_ref().map_or("tcp", |p| p.as_str());
                port(p.container_port, p.container_port, proto, "")
            })
            .collect()
    }

    /// `LogDriver` and `LogOptions` as the ECS backend renders them for Docker: `awslogs`
    /// gets `awslogs-stream` = `<prefix>/<container>/<task id>` in place of the prefix.
    fn log_config(
        &self,
        def: &m::ContainerDefinition,
    ) -> Option<(String, BTreeMap<String, String>)> {
        let lc = def.log_configuration.as_ref()?;
        let driver = lc.log_driver.as_ref()?.as_str().to_string();
        let mut options: BTreeMap<String, String> =
            lc.options.clone().unwrap_or_default().into_iter().collect();
        let prefix = match driver.as_str() {
            "awslogs" => options.remove("awslogs-stream-prefix"),
            _ => None,
        };
        if let Some(prefix) = prefix.filter(|p| !p.is_empty()) {
            let stream = format!(
                "{prefix}/{}/{}",
                def.name.as_deref().unwrap_or_default(),
                self.task.id()
            );
            options.insert("awslogs-stream".into(), stream);
        }
        Some((driver, options))
    }

    /// The container JSON of the container at `index` (which must exist).
    fn container_json(&self, index: usize) -> Value {
        let def = &self.defs[index];
        let ct = self.container(index);
        let name = def.name.as_deref();
        let docker_id = ct.and_then(|c| c.runtime_id.clone()).unwrap_or_default();
        let known = self.known_status(ct);
        let o = self.container_override(name);
        let cpu = o.and_then(|o| o.cpu).or(def.cpu).unwrap_or(0).max(2);
        let memory = o.and_then(|o| o.memory).or(def.memory).unwrap_or(0).max(0);
        let t = &self.task.task;
        let started = t.started_at.as_ref().and_then(rfc3339_nano);
        let ran = matches!(known, "RUNNING") || (known == "STOPPED" && started.is_some());

        let mut j = Map::new();
        j.insert("DockerId".into(), docker_id.as_str().into());
        j.insert("Name".into(), name.unwrap_or_default().into());
        // The lead stores the Docker container name beside the id; until then the id stands in.
        j.insert("DockerName".into(), docker_name(ct).into());
        j.insert(
            "Image".into(),
            def.image.as_deref().unwrap_or_default().into(),
        );
        j.insert(
            "ImageID".into(),
            ct.and_then(|c| c.image_digest.as_deref())
                .unwrap_or_default()
                .into(),
        );
        let ports = self.ports(def, ct);
        if !ports.is_empty() {
            j.insert("Ports".into(), ports.into());
        }
        j.insert("Labels".into(), json!(self.labels(def)));
        j.insert("DesiredStatus".into(), self.desired_status(ct).into());
        j.insert("KnownStatus".into(), known.into());
        if let Some(code) = ct.and_then(|c| c.exit_code) {
            j.insert("ExitCode".into(), code.into());
        }
        j.insert("Limits".into(), json!({"CPU": cpu, "Memory": memory}));
        if matches!(known, "CREATED") || ran {
            let created = t.pull_stopped_at.as_ref().and_then(rfc3339_nano);
            if let Some(at) = created.or_else(|| started.clone()) {
                j.insert("CreatedAt".into(), at.into());
            }
        }
        if let Some(at) = started.as_ref().filter(|_| ran) {
            j.insert("StartedAt".into(), at.as_str().into());
        }
        if known == "STOPPED" && started.is_some() {
            let finished = t
                .execution_stopped_at
                .as_ref()
                .or(t.stopped_at.as_ref())
                .and_then(rfc3339_nano);
            if let Some(at) = finished {
                j.insert("FinishedAt".into(), at.into());
            }
        }
        j.insert("Type".into(), "NORMAL".into());
        if def.health_check.is_some() {
            // The agent reports health only for containers with a health check, and leaves
            // `status` out while it is UNKNOWN.
            let mut h = Map::new();
            let status = ct
                .and_then(|c| c.health_status.as_ref())
                .map(|h| h.as_str());
            if let Some(s @ ("HEALTHY" | "UNHEALTHY")) = status {
                h.insert("status".into(), s.into());
            }
            j.insert("Health".into(), Value::Object(h));
        }
        if let Some((driver, options)) = self.log_config(def) {
            j.insert("LogDriver".into(), driver.into());
            if !options.is_empty() {
                j.insert("LogOptions".into(), json!(options));
            }
        }
        if let Some(arn) = ct.and_then(|c| c.container_arn.as_deref()) {
            j.insert("ContainerARN".into(), arn.into());
        }
        j.insert("Networks".into(), self.networks(ct));
        Value::Object(j)
    }

    /// The container's `Networks`: an `awsvpc` task's address, MAC and DNS name once its runtime
    /// gave it one (the task's ENI attachment), else the mode alone with no address.
    fn networks(&self, ct: Option<&m::Container>) -> Value {
        let mut net = Map::new();
        net.insert("NetworkMode".into(), self.network_mode.into());
        let ip = ct
            .and_then(|c| c.network_interfaces.as_ref())
            .and_then(|n| n.first())
            .and_then(|n| n.private_ipv4_address.clone());
        net.insert("IPv4Addresses".into(), json!(ip.iter().collect::<Vec<_>>()));
        if ip.is_some() {
            net.insert("AttachmentIndex".into(), 0.into());
            for (detail, member) in [
                ("macAddress", "MACAddress"),
                ("privateDnsName", "PrivateDNSName"),
            ] {
                if let Some(v) = crate::eni::detail_of(&self.task.task, detail) {
                    net.insert(member.into(), v.into());
                }
            }
        }
        json!([net])
    }

    /// The container instance the task runs on (EC2 tasks).
    fn instance(&self) -> Option<&'a crate::state::InstanceRec> {
        let arn = self.task.task.container_instance_arn.as_deref()?;
        self.cluster.instances.get(instance_id(arn))
    }

    /// The task JSON; with `tags`, also `TaskTags` and `ContainerInstanceTags`.
    fn task_json(&self, now: DateTime<Utc>, tags: bool) -> Value {
        let t = &self.task.task;
        let o = t.overrides.as_ref();
        let cpu = o
            .and_then(|o| o.cpu.as_deref())
            .or(self.td.cpu.as_deref())
            .and_then(|s| m::parse_cpu_units(s).ok())
            .unwrap_or(0);
        let memory = o
            .and_then(|o| o.memory.as_deref())
            .or(self.td.memory.as_deref())
            .and_then(|s| m::parse_memory_mib(s).ok())
            .unwrap_or(0);
        let instance = self.instance();
        let attribute = |name: &str| {
            instance
                .and_then(|i| i.ci.attribute(name).flatten())
                .filter(|v| !v.is_empty())
        };

        let mut j = Map::new();
        j.insert(
            "Cluster".into(),
            t.cluster_arn
                .clone()
                .unwrap_or_else(|| self.cluster.arn.clone())
                .into(),
        );
        j.insert(
            "TaskARN".into(),
            t.task_arn.as_deref().unwrap_or_default().into(),
        );
        j.insert(
            "Family".into(),
            self.td.family.as_deref().unwrap_or_default().into(),
        );
        j.insert(
            "Revision".into(),
            self.td.revision.unwrap_or_default().to_string().into(),
        );
        j.insert("DesiredStatus".into(), self.task.desired_status().into());
        j.insert("KnownStatus".into(), self.task_known_status().into());
        if cpu > 0 || memory > 0 {
            let mut limits = Map::new();
            if cpu > 0 {
                limits.insert("CPU".into(), go_float(cpu as f64 / 1024.0));
            }
            if memory > 0 {
                limits.insert("Memory".into(), memory.into());
            }
            j.insert("Limits".into(), Value::Object(limits));
        }
        for (key, at) in [
            ("PullStartedAt", &t.pull_started_at),
            ("PullStoppedAt", &t.pull_stopped_at),
            ("ExecutionStoppedAt", &t.execution_stopped_at),
        ] {
            if let Some(at) = at.as_ref().and_then(rfc3339_nano) {
                j.insert(key.into(), at.into());
            }
        }
        let az = attribute("ecs.availability-zone").or(t.availability_zone.as_deref());
        if let Some(az) = az.filter(|a| !a.is_empty()) {
            j.insert("AvailabilityZone".into(), az.into());
        }
        if tags {
            let map = |tags: &[m::Tag]| -> Map<String, Value> {
                tags.iter()
                    .filter_map(|t| {
                        Some((t.key.clone()?, t.value.clone().unwrap_or_default().into()))
                    })
                    .collect::<BTreeMap<String, Value>>()
                    .into_iter()
                    .collect()
            };
            let task_tags = map(t.tags.as_deref().unwrap_or_default());
            if !task_tags.is_empty() {
                j.insert("TaskTags".into(), Value::Object(task_tags));
            }
            let instance_tags = map(instance.map(|i| i.tags.as_slice()).unwrap_or_default());
            if !instance_tags.is_empty() {
                j.insert("ContainerInstanceTags".into(), Value::Object(instance_tags));
            }
        }
        if let Some(lt) = &t.launch_type {
            j.insert("LaunchType".into(), lt.as_str().into());
        }
        let containers: Vec<Value> = (0..self.defs.len())
            .map(|i| self.container_json(i))
            .collect();
        if !containers.is_empty() {
            j.insert("Containers".into(), containers.into());
        }
        if let Some(vpc) = attribute("ecs.vpc-id") {
            j.insert("VPCID".into(), vpc.into());
        }
        let service = self
            .task
            .service
            .as_deref()
            .or_else(|| t.group.as_deref().and_then(|g| g.strip_prefix("service:")));
        if let Some(s) = service.filter(|s| !s.is_empty()) {
            j.insert("ServiceName".into(), s.into());
        }
        j.insert(
            "ClockDrift".into(),
            json!({
                "ClockErrorBound": 0,
                "ReferenceTimestamp": rfc3339_nano_of(now),
                "ClockSynchronizationStatus": "SYNCHRONIZED",
            }),
        );
        j.insert("FaultInjectionEnabled".into(), false.into());
        Value::Object(j)
    }
}

/// The Docker container name (`DockerName`).
fn docker_name(ct: Option<&m::Container>) -> String {
    ct.and_then(|c| c.runtime_id.clone()).unwrap_or_default()
}

/// A number as Go's `encoding/json` writes a float64: whole values without a fraction.
fn go_float(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        Value::from(v as i64)
    } else {
        Value::from(v)
    }
}

/// A stored timestamp as Go's `time.RFC3339Nano` in UTC (`2020-10-02T00:15:07.620912337Z`,
/// trailing zeros of the fraction trimmed, none for whole seconds).
/// Puts what the runtime knows now over a container JSON built from the state.
fn overlay(j: &mut Value, live: &[LiveContainer]) {
    let Some(obj) = j.as_object_mut() else { return };
    let name = obj.get("Name").and_then(Value::as_str).unwrap_or_default();
    let Some(l) = live.iter().find(|l| l.name == name) else {
        return;
    };
    if l.docker_id.is_empty() {
        return;
    }
    obj.insert("DockerId".into(), l.docker_id.clone().into());
    obj.insert("DockerName".into(), l.docker_name.clone().into());
    if let Some(id) = &l.image_id {
        obj.insert("ImageID".into(), id.clone().into());
    }
    obj.insert("KnownStatus".into(), l.known_status.clone().into());
    for (key, at) in [
        ("CreatedAt", l.created_at),
        ("StartedAt", l.started_at),
        ("FinishedAt", l.finished_at),
    ] {
        if let Some(at) = at {
            obj.insert(key.into(), rfc3339_nano_of(at).into());
        }
    }
    if let Some(code) = l.exit_code {
        obj.insert("ExitCode".into(), code.into());
    }
}

/// [`overlay`] over every container of a task JSON, and the task's known status from them
/// (the lowest of its containers', as the agent computes it) when that is further along.
fn overlay_task(j: &mut Value, live: &[LiveContainer]) {
    let Some(containers) = j.get_mut("Containers").and_then(Value::as_array_mut) else {
        return;
    };
    for c in containers.iter_mut() {
        overlay(c, live);
    }
    let rank = |s: &str| match s {
        "NONE" => 0,
        "PULLED" | "MANIFEST_PULLED" => 1,
        "CREATED" => 2,
        "RUNNING" => 3,
        _ => 4,
    };
    let lowest = containers
        .iter()
        .filter_map(|c| c.get("KnownStatus").and_then(Value::as_str))
        .min_by_key(|s| rank(s))
        .map(str::to_string);
    if let (Some(lowest), Some(obj)) = (lowest, j.as_object_mut()) {
        let now = obj
            .get("KnownStatus")
            .and_then(Value::as_str)
            .map_or(0, rank);
        if rank(&lowest) > now {
            obj.insert("KnownStatus".into(), lowest.into());
        }
    }
}

fn rfc3339_nano(t: &m::Timestamp) -> Option<String> {
    t.to_datetime().map(rfc3339_nano_of)
}

fn rfc3339_nano_of(t: DateTime<Utc>) -> String {
    let base = t.format("%Y-%m-%dT%H:%M:%S");
    let nanos = t.timestamp_subsec_nanos().min(999_999_999);
    if nanos == 0 {
        format!("{base}Z")
    } else {
        let fraction = format!("{nanos:09}");
        format!("{base}.{}Z", fraction.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClockMode, Config};

    async fn cluster() -> Cluster {
        Cluster::open(Config {
            clock: ClockMode::Manual,
            ..Config::default()
        })
        .await
        .unwrap()
    }

    fn call(c: &Cluster, action: &str, body: Value) -> Value {
        c.call_blocking(action, body.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("{action}: {e}"))
    }

    fn task_id(arn: &str) -> String {
        arn.rsplit('/').next().unwrap().to_string()
    }

    /// Registers `web` (an awslogs `app` with a port and a health check, and a `sidecar`)
    /// and runs one task; returns its id.
    fn run_web(c: &Cluster, extra: Value) -> String {
        let mut td = json!({
            "family": "web",
            "containerDefinitions": [
                {"name": "app", "image": "nginx:1", "memory": 256, "cpu": 128,
                 "portMappings": [{"containerPort": 80, "hostPort": 0}],
                 "dockerLabels": {"team": "core", "com.amazonaws.ecs.cluster": "spoofed"},
                 "healthCheck": {"command": ["CMD-SHELL", "true"]},
                 "logConfiguration": {"logDriver": "awslogs", "options": {
                     "awslogs-group": "/ecs/web", "awslogs-region": "us-east-1",
                     "awslogs-stream-prefix": "ecs"}}},
                {"name": "sidecar", "image": "busybox", "memoryReservation": 64, "essential": false}
            ]
        });
        for (k, v) in extra.as_object().unwrap() {
            td[k] = v.clone();
        }
        call(c, "RegisterTaskDefinition", td);
        let r = call(
            c,
            "RunTask",
            json!({"taskDefinition": "web", "tags": [{"key": "env", "value": "dev"}]}),
        );
        task_id(r["tasks"][0]["taskArn"].as_str().unwrap())
    }

    #[test]
    fn the_runtime_s_live_view_wins_over_the_state() {
        let mut task = json!({"KnownStatus": "NONE", "Containers": [
            {"Name": "app", "DockerId": "", "DockerName": "", "KnownStatus": "NONE"},
            {"Name": "side", "DockerId": "", "KnownStatus": "NONE"}
        ]});
        let at = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.5Z")
            .unwrap()
            .with_timezone(&Utc);
        let live = vec![
            LiveContainer {
                name: "app".into(),
                docker_id: "d1".into(),
                docker_name: "ecs-web-1-app-00".into(),
                image_id: Some("sha256:1".into()),
                known_status: "RUNNING".into(),
                started_at: Some(at),
                ..LiveContainer::default()
            },
            LiveContainer {
                name: "side".into(),
                docker_id: "d2".into(),
                known_status: "CREATED".into(),
                ..LiveContainer::default()
            },
        ];
        overlay_task(&mut task, &live);
        let app = &task["Containers"][0];
        assert_eq!(app["DockerId"], "d1");
        assert_eq!(app["DockerName"], "ecs-web-1-app-00");
        assert_eq!(app["ImageID"], "sha256:1");
        assert_eq!(app["StartedAt"], "2026-01-02T03:04:05.5Z");
        assert_eq!(
            task["KnownStatus"], "CREATED",
            "the lowest of its containers"
        );
        // Nothing live: the state's answer stands.
        let mut j = json!({"Name": "app", "DockerId": "x"});
        overlay(&mut j, &[]);
        assert_eq!(j["DockerId"], "x");
    }

    #[test]
    fn tokens_parse_and_reject() {
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(parse_token("k", &token("k", id, 3)), Some((id, 3)));
        assert_eq!(parse_token("k", &token("k", id, 12)), Some((id, 12)));
        let good = token("k", id, 1);
        let (_, m) = good.rsplit_once('-').unwrap();
        for bad in [
            "".to_string(),
            "0".to_string(),
            format!("{id}-1"),
            format!("{id}-2-{m}"),
            format!("{id}--{m}"),
            format!("{id}-x-{m}"),
            format!("{id}-+1-{m}"),
            format!("{id}0-1-{m}"),
            format!("{}-1-{m}", id.to_uppercase()),
            token("other key", id, 1),
            format!("{good}0"),
        ] {
            assert_eq!(parse_token("k", &bad), None, "{bad}");
        }
    }

    #[test]
    fn timestamps_are_go_rfc3339_nano() {
        let at = |ms: i64| DateTime::from_timestamp_millis(ms).unwrap();
        assert_eq!(
            rfc3339_nano_of(at(1_601_597_707_000)),
            "2020-10-02T00:15:07Z"
        );
        assert_eq!(
            rfc3339_nano_of(at(1_601_597_707_620)),
            "2020-10-02T00:15:07.62Z"
        );
        let t = m::Timestamp::from_datetime(at(1_601_597_707_005));
        assert_eq!(rfc3339_nano(&t).unwrap(), "2020-10-02T00:15:07.005Z");
        assert_eq!(go_float(0.25), json!(0.25));
        assert_eq!(go_float(2.0), json!(2));
    }

    #[tokio::test]
    async fn pending_task_metadata() {
        let c = cluster().await;
        let id = run_web(&c, json!({}));
        let md = c
            .task_metadata(&token(&c.config().metadata_key, &id, 0))
            .unwrap();
        let ct = &md.container;
        assert_eq!(ct["DockerId"], "");
        assert_eq!(ct["Name"], "app");
        assert_eq!(ct["KnownStatus"], "NONE");
        assert_eq!(ct["DesiredStatus"], "RUNNING");
        assert!(ct.get("CreatedAt").is_none() && ct.get("Ports").is_none());
        assert_eq!(ct["Health"], json!({}));
        assert_eq!(md.task["KnownStatus"], "NONE");
        assert!(md.task.get("PullStartedAt").is_none());
        assert_eq!(md.docker_id, None);
        assert!(md.docker_ids.is_empty());
    }

    #[tokio::test]
    async fn running_task_metadata_matches_the_agent() {
        let c = cluster().await;
        let id = run_web(&c, json!({}));
        c.advance(4).await;
        // What the Docker runtime reports (the simulated one reports no containers).
        {
            let mut st = c.write();
            let t = st
                .clusters
                .get_mut("default")
                .unwrap()
                .tasks
                .get_mut(&id)
                .map(std::sync::Arc::make_mut)
                .unwrap();
            let cts = t.task.containers.as_mut().unwrap();
            cts[0].runtime_id = Some("a".repeat(64));
            cts[0].image_digest = Some("sha256:abc".into());
            cts[0].health_status = Some(m::HealthStatus::from("HEALTHY"));
            cts[0].network_bindings = Some(vec![m::NetworkBinding {
                bind_ip: Some("0.0.0.0".into()),
                container_port: Some(80),
                host_port: Some(49153),
                protocol: Some(m::TransportProtocol::from("tcp")),
                ..Default::default()
            }]);
            cts[1].runtime_id = Some("b".repeat(64));
        }
        let md = c
            .task_metadata(&token(&c.config().metadata_key, &id, 0))
            .unwrap();
        let arn = format!("arn:aws:ecs:us-east-1:000000000000:task/default/{id}");
        let ct = &md.container;
        assert_eq!(ct["DockerId"], "a".repeat(64));
        assert_eq!(ct["DockerName"], "a".repeat(64));
        assert_eq!(ct["Image"], "nginx:1");
        assert_eq!(ct["ImageID"], "sha256:abc");
        assert_eq!(
            ct["Ports"],
            json!([{"ContainerPort": 80, "Protocol": "tcp", "HostPort": 49153, "HostIp": "0.0.0.0"}])
        );
        assert_eq!(
            ct["Labels"],
            json!({
                "com.amazonaws.ecs.cluster": "default",
                "com.amazonaws.ecs.container-name": "app",
                "com.amazonaws.ecs.task-arn": arn,
                "com.amazonaws.ecs.task-definition-family": "web",
                "com.amazonaws.ecs.task-definition-version": "1",
                "team": "core",
            })
        );
        assert_eq!(ct["DesiredStatus"], "RUNNING");
        assert_eq!(ct["KnownStatus"], "RUNNING");
        assert!(ct.get("ExitCode").is_none());
        assert_eq!(ct["Limits"], json!({"CPU": 128, "Memory": 256}));
        assert_eq!(ct["CreatedAt"], ct["StartedAt"]);
        assert!(ct["StartedAt"].as_str().unwrap().ends_with('Z'));
        assert!(ct.get("FinishedAt").is_none());
        assert_eq!(ct["Type"], "NORMAL");
        assert_eq!(ct["Health"], json!({"status": "HEALTHY"}));
        assert_eq!(ct["LogDriver"], "awslogs");
        assert_eq!(
            ct["LogOptions"],
            json!({
                "awslogs-group": "/ecs/web",
                "awslogs-region": "us-east-1",
                "awslogs-stream": format!("ecs/app/{id}"),
            })
        );
        assert!(
            ct["ContainerARN"]
                .as_str()
                .unwrap()
                .starts_with("arn:aws:ecs:us-east-1:000000000000:container/")
        );
        assert_eq!(
            ct["Networks"],
            json!([{"NetworkMode": "bridge", "IPv4Addresses": []}])
        );

        // The sidecar: no cpu (raised to 2), no hard memory limit, no health check, no logs.
        let side = c
            .task_metadata(&token(&c.config().metadata_key, &id, 1))
            .unwrap()
            .container;
        assert_eq!(side["Limits"], json!({"CPU": 2, "Memory": 0}));
        assert!(side.get("Health").is_none() && side.get("LogDriver").is_none());
        assert_eq!(
            side["Labels"]["com.amazonaws.ecs.container-name"],
            "sidecar"
        );

        let task = &md.task;
        let keys: Vec<&str> = task
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "Cluster",
                "TaskARN",
                "Family",
                "Revision",
                "DesiredStatus",
                "KnownStatus",
                "PullStartedAt",
                "PullStoppedAt",
                "AvailabilityZone",
                "LaunchType",
                "Containers",
                "ClockDrift",
                "FaultInjectionEnabled",
            ]
        );
        assert_eq!(
            task["Cluster"],
            "arn:aws:ecs:us-east-1:000000000000:cluster/default"
        );
        assert_eq!(task["TaskARN"], arn);
        assert_eq!(task["Family"], "web");
        assert_eq!(task["Revision"], "1");
        assert_eq!(task["DesiredStatus"], "RUNNING");
        assert_eq!(task["KnownStatus"], "RUNNING");
        assert!(
            task["AvailabilityZone"]
                .as_str()
                .unwrap()
                .starts_with("us-east-1")
        );
        assert_eq!(task["LaunchType"], "EC2");
        assert_eq!(task["Containers"][0], md.container);
        assert_eq!(task["Containers"][1]["Name"], "sidecar");
        assert_eq!(
            task["ClockDrift"]["ClockSynchronizationStatus"],
            "SYNCHRONIZED"
        );
        assert_eq!(
            task["ClockDrift"]["ReferenceTimestamp"],
            rfc3339_nano_of(c.now())
        );
        assert_eq!(task["FaultInjectionEnabled"], false);
        assert!(task.get("TaskTags").is_none());
        assert_eq!(md.task_with_tags["TaskTags"], json!({"env": "dev"}));
        assert!(md.task_with_tags.get("ContainerInstanceTags").is_none());
        assert_eq!(md.docker_id, Some("a".repeat(64)));
        assert_eq!(md.docker_ids, vec!["a".repeat(64), "b".repeat(64)]);
    }

    #[tokio::test]
    async fn stopped_task_metadata() {
        let c = cluster().await;
        let id = run_web(&c, json!({}));
        c.advance(4).await;
        call(&c, "StopTask", json!({"task": id}));
        c.advance(3).await;
        let md = c
            .task_metadata(&token(&c.config().metadata_key, &id, 0))
            .unwrap();
        assert_eq!(md.container["KnownStatus"], "STOPPED");
        assert_eq!(md.container["DesiredStatus"], "STOPPED");
        assert_eq!(md.container["ExitCode"], 0);
        assert!(md.container["FinishedAt"].is_string());
        assert_eq!(md.task["DesiredStatus"], "STOPPED");
        assert_eq!(md.task["KnownStatus"], "STOPPED");
        assert!(md.task["ExecutionStoppedAt"].is_string());
    }

    #[tokio::test]
    async fn awsvpc_task_level_limits_and_service() {
        let c = cluster().await;
        call(
            &c,
            "RegisterTaskDefinition",
            json!({"family": "api", "networkMode": "awsvpc", "cpu": "512", "memory": "1 GB",
                   "containerDefinitions": [{"name": "app", "image": "api:1",
                       "portMappings": [{"containerPort": 8080, "protocol": "udp"}],
                       "logConfiguration": {"logDriver": "json-file"}}]}),
        );
        call(
            &c,
            "CreateService",
            json!({"serviceName": "api-svc", "taskDefinition": "api", "desiredCount": 1,
                   "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}}}),
        );
        c.advance(6).await;
        let l = call(&c, "ListTasks", json!({"serviceName": "api-svc"}));
        let id = task_id(l["taskArns"][0].as_str().unwrap());
        let md = c
            .task_metadata(&token(&c.config().metadata_key, &id, 0))
            .unwrap();
        assert_eq!(md.task["Limits"], json!({"CPU": 0.5, "Memory": 1024}));
        assert_eq!(md.task["ServiceName"], "api-svc");
        assert_eq!(md.task["KnownStatus"], "RUNNING");
        let ct = &md.container;
        assert_eq!(
            ct["Ports"],
            json!([{"ContainerPort": 8080, "Protocol": "udp", "HostPort": 8080}])
        );
        assert_eq!(ct["Networks"][0]["NetworkMode"], "awsvpc");
        assert_eq!(ct["LogDriver"], "json-file");
        assert!(ct.get("LogOptions").is_none());
    }

    #[tokio::test]
    async fn unknown_tokens_are_none() {
        let c = cluster().await;
        let id = run_web(&c, json!({}));
        assert!(
            c.task_metadata(&token(&c.config().metadata_key, &id, 1))
                .is_some()
        );
        assert_eq!(
            c.task_metadata(&token(&c.config().metadata_key, &id, 2)),
            None
        );
        assert_eq!(
            c.task_metadata(&token(&c.config().metadata_key, &"0".repeat(32), 0)),
            None
        );
        assert_eq!(c.task_metadata(&id), None);
        assert_eq!(c.task_metadata("nonsense"), None);
    }
}
