//! What a task's containers look like to Docker: pure functions from a [`Launch`] to the
//! Engine's create bodies, names and labels, the order containers start and stop in, and the
//! reasons a task definition reaches beyond its containers.
//!
//! The ECS agent and the ECS backend share this work (the backend pre-renders most of the
//! `HostConfig`; `docs/ecs-agent-runtime.md` §1.2 has the table); Berth does both halves here,
//! with the agent's conversions: CPU units clamped to Docker's share range, MiB to bytes with the
//! agent's 4 MiB floor, health-check seconds to nanoseconds with the model's defaults, the
//! agent's container and volume names, and ECS's labels over the user's `dockerLabels`.
//!
//! What it deliberately does not do, and why:
//! - No Docker calls, no clock, no randomness: the runtime (`super`) creates, starts and stops,
//!   and passes in the random name suffixes and the host ports it picked
//!   ([`super::ports::HostPorts`]). Everything here is a function of its arguments and is tested
//!   without an engine.
//! - Ports are published on `127.0.0.1` only, never `0.0.0.0`: a local cluster must not open
//!   a developer's containers to the network. DescribeTasks reports that `bindIP`.
//! - No log driver from the task definition: containers keep Docker's `json-file` driver and
//!   the runtime streams their output into Berth's CloudWatch Logs store, so Docker never needs
//!   AWS credentials for `awslogs` (§7, §12).
//! - No refusal here: [`host_access`] lists what reaches beyond the container (privileged,
//!   host namespaces, host paths, extra capabilities, devices, unconfined profiles) and the
//!   caller decides (`berth serve --allow-host-access`). Volumes Berth cannot provide (EFS,
//!   FSx, EBS …) are [`VolumeSource::Unsupported`]; the caller refuses the task, [`render`]
//!   leaves their mounts out.
//! - `pidMode`/`ipcMode` `task`, FireLens, App Mesh proxies and Windows-only members
//!   (`credentialSpecs`, `credentialspec:` security options) are not rendered.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use berth_core::model as m;
use bollard::models::{
    ContainerCreateBody, DeviceMapping, HealthConfig, HostConfig, HostConfigLogConfig, PortBinding,
    ResourcesUlimits,
};

use crate::runtime::{ContainerLaunch, Launch};

/// Label: the Berth instance that created the container (two Berths never adopt each other's).
pub const LABEL_INSTANCE: &str = "dev.berth.instance";
/// Label: the task id.
pub const LABEL_TASK_ID: &str = "dev.berth.task-id";
/// Label: the task definition's container name.
pub const LABEL_CONTAINER: &str = "dev.berth.container";
/// Label: `container` or `pause`.
pub const LABEL_ROLE: &str = "dev.berth.role";
/// The ECS name of the pause container of an `awsvpc` task.
pub const PAUSE_NAME: &str = "~internal~ecs~pause";
/// The address published ports are bound on.
pub const BIND_IP: &str = "127.0.0.1";

const MIB: i64 = 1024 * 1024;
/// The agent's floor for a memory limit (`DockerContainerMinimumMemoryInBytes`).
const MIN_MEMORY: i64 = 4 * MIB;
/// Docker's CPU share range on Linux (`task_linux.go` `dockerCPUShares`).
const MIN_CPU_SHARES: i64 = 2;
const MAX_CPU_SHARES: i64 = 262_144;
const NANOS: i64 = 1_000_000_000;
/// ECS's `ECS_CONTAINER_STOP_TIMEOUT` default.
const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// The network a container joins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetMode {
    /// Docker's default `bridge` network (`bridge` task network mode, also when absent).
    Bridge,
    /// The network namespace of another container: `awsvpc` tasks share their pause
    /// container's (its Docker id or name).
    Container(String),
    /// The host's network stack.
    Host,
    /// No network.
    None,
}

impl NetMode {
    /// The network of a task's containers for its `networkMode`; `pause` is the pause
    /// container's id or name, used only for `awsvpc`.
    pub fn of_task(network_mode: &str, pause: &str) -> Self {
        match network_mode {
            "awsvpc" => NetMode::Container(pause.to_string()),
            "host" => NetMode::Host,
            "none" => NetMode::None,
            _ => NetMode::Bridge,
        }
    }

    /// Whether a task with this `networkMode` needs a pause container (`awsvpc`).
    pub fn needs_pause(network_mode: &str) -> bool {
        network_mode == "awsvpc"
    }

    /// `HostConfig.NetworkMode`.
    pub fn docker(&self) -> String {
        match self {
            NetMode::Bridge => "bridge".into(),
            NetMode::Container(id) => format!("container:{id}"),
            NetMode::Host => "host".into(),
            NetMode::None => "none".into(),
        }
    }
}

/// What [`render`] needs to know about the whole task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskContext {
    /// The Berth instance id (label `dev.berth.instance`).
    pub instance: String,
    /// The network every container of the task joins.
    pub network: NetMode,
    /// The Docker name of every container of the task, by task-definition container name
    /// (`links` and `volumesFrom` name their peers by it).
    pub docker_names: HashMap<String, String>,
}

/// A port a container asks for (`portMappings`), before host ports are chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantedPort {
    /// The (first) container port.
    pub container_port: i32,
    /// How many consecutive ports: 1, or the length of a `containerPortRange`.
    pub count: i32,
    /// The host port asked for; `None` (also for `hostPort` 0) picks one.
    pub host_port: Option<i32>,
    /// `tcp` or `udp`.
    pub protocol: String,
}

impl WantedPort {
    /// Every container port it covers.
    pub fn container_ports(&self) -> impl Iterator<Item = i32> + '_ {
        (0..self.count).map(move |i| self.container_port + i)
    }
}

/// A published port: container port → host port (on [`BIND_IP`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortPlan {
    /// The container port.
    pub container_port: i32,
    /// The host port.
    pub host_port: i32,
    /// `tcp` or `udp`.
    pub protocol: String,
}

/// Where a task-definition volume comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeSource {
    /// A bind mount of a host path (`host.sourcePath`).
    HostPath(String),
    /// A Docker volume: task-scoped ones (also the empty `host: {}` volume) are created for
    /// the task and removed with it; `shared` ones outlive it.
    Docker(DockerVolume),
    /// A volume Berth's Docker runtime cannot provide, and why.
    Unsupported(String),
}

/// A Docker volume to create (or find) for a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerVolume {
    /// The Docker volume name.
    pub name: String,
    /// The volume driver (`local` when absent).
    pub driver: String,
    /// Driver options.
    pub driver_opts: HashMap<String, String>,
    /// Labels.
    pub labels: HashMap<String, String>,
    /// `scope: shared`: it outlives the task and is shared by name.
    pub shared: bool,
    /// For a shared volume: create it when missing (`autoprovision`); otherwise it must
    /// exist.
    pub autoprovision: bool,
}

/// The Docker container name, as the agent makes it: `ecs-<family>-<revision>-<name>-<hex>`,
/// with every character of `container` outside `[A-Za-z0-9-]` removed; `rand_hex20` is the
/// agent's `RandHex()` (10 random bytes, hex).
///
/// ```
/// use berth_cluster::docker::spec::docker_name;
/// assert_eq!(
///     docker_name("curltest", 24, "curl", "cca48e8dcadd97805600"),
///     "ecs-curltest-24-curl-cca48e8dcadd97805600"
/// );
/// ```
pub fn docker_name(family: &str, revision: i32, container: &str, rand_hex20: &str) -> String {
    let name: String = container
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    format!("ecs-{family}-{revision}-{name}-{rand_hex20}")
}

/// The labels of a container: its `dockerLabels`, then ECS's `com.amazonaws.ecs.*` labels
/// (which win over the user's), then Berth's `dev.berth.*` labels (role `container`).
pub fn labels(launch: &Launch, c: &ContainerLaunch, instance: &str) -> HashMap<String, String> {
    let mut out: HashMap<String, String> = c
        .definition
        .docker_labels
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    ecs_labels(&mut out, launch, &c.name, instance, "container");
    out
}

/// The labels of an `awsvpc` task's pause container (role `pause`, ECS name
/// [`PAUSE_NAME`]).
pub fn pause_labels(launch: &Launch, instance: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    ecs_labels(&mut out, launch, PAUSE_NAME, instance, "pause");
    out
}

fn ecs_labels(
    out: &mut HashMap<String, String>,
    launch: &Launch,
    name: &str,
    instance: &str,
    role: &str,
) {
    for (k, v) in [
        ("com.amazonaws.ecs.task-arn", launch.task_arn.as_str()),
        ("com.amazonaws.ecs.container-name", name),
        ("com.amazonaws.ecs.task-definition-family", &launch.family),
        (
            "com.amazonaws.ecs.task-definition-version",
            &launch.revision.to_string(),
        ),
        ("com.amazonaws.ecs.cluster", &launch.cluster),
        (LABEL_INSTANCE, instance),
        (LABEL_TASK_ID, &launch.task_id),
        (LABEL_CONTAINER, name),
        (LABEL_ROLE, role),
    ] {
        out.insert(k.to_string(), v.to_string());
    }
}

/// `HostConfig.CpuShares` for a container's `cpu` units: clamped to Docker's [2, 262144]
/// (absent, 0 and 1 become 2, as the agent does).
pub fn cpu_shares(cpu: Option<i32>) -> i64 {
    i64::from(cpu.unwrap_or(0)).clamp(MIN_CPU_SHARES, MAX_CPU_SHARES)
}

/// `HostConfig.Memory` for a container's `memory` (MiB): bytes, at least 4 MiB; `None` when
/// absent or not positive (no hard limit).
pub fn memory_bytes(memory_mib: Option<i32>) -> Option<i64> {
    memory_mib
        .filter(|m| *m > 0)
        .map(|m| (i64::from(m) * MIB).max(MIN_MEMORY))
}

fn mib_bytes(mib: Option<i32>) -> Option<i64> {
    mib.filter(|m| *m > 0).map(|m| i64::from(m) * MIB)
}

/// How long a container gets between SIGTERM and SIGKILL: its `stopTimeout` when positive,
/// else ECS's default 30 s.
pub fn stop_timeout(c: &m::ContainerDefinition) -> Duration {
    match c.stop_timeout {
        Some(s) if s > 0 => Duration::from_secs(u64::from(s.unsigned_abs())),
        _ => DEFAULT_STOP_TIMEOUT,
    }
}

/// `Config.Healthcheck` for a `healthCheck`: `command` verbatim as `Test`, seconds to
/// nanoseconds, ECS's defaults (interval 30 s, timeout 5 s, retries 3) for absent members,
/// `startPeriod` only when positive. `None` without a command.
pub fn healthcheck(h: &m::HealthCheck) -> Option<HealthConfig> {
    let test = h.command.clone().filter(|c| !c.is_empty())?;
    let secs = |v: Option<i32>, default: i32| i64::from(v.unwrap_or(default)) * NANOS;
    Some(HealthConfig {
        test: Some(test),
        interval: Some(secs(h.interval, 30)),
        timeout: Some(secs(h.timeout, 5)),
        retries: Some(i64::from(h.retries.unwrap_or(3))),
        start_period: h
            .start_period
            .filter(|s| *s > 0)
            .map(|s| i64::from(s) * NANOS),
        ..HealthConfig::default()
    })
}

/// The ports a container asks for, in `portMappings` order: a `containerPortRange`
/// (`"8000-8010"`) is one entry with its length as `count`; `hostPort` 0 or absent means
/// "pick one". Mappings without a usable port are left out (registration rejects them).
pub fn wanted_ports(c: &m::ContainerDefinition) -> Vec<WantedPort> {
    let mut out = Vec::new();
    for p in c.port_mappings.iter().flatten() {
        let protocol = p
            .protocol
            .as_ref()
            .map_or("tcp", |p| p.as_str())
            .to_ascii_lowercase();
        if let Some(port) = p.container_port.filter(|p| *p > 0) {
            out.push(WantedPort {
                container_port: port,
                count: 1,
                host_port: p.host_port.filter(|h| *h > 0),
                protocol,
            });
        } else if let Some((lo, hi)) = p.container_port_range.as_deref().and_then(port_range) {
            out.push(WantedPort {
                container_port: lo,
                count: hi - lo + 1,
                host_port: None,
                protocol,
            });
        }
    }
    out
}

fn port_range(s: &str) -> Option<(i32, i32)> {
    let (lo, hi) = s.split_once('-')?;
    let lo: i32 = lo.trim().parse().ok()?;
    let hi: i32 = hi.trim().parse().ok()?;
    (0 < lo && lo <= hi && hi <= 65535).then_some((lo, hi))
}

/// Where the task-definition volume `v` comes from. Task-scoped Docker volumes (and the
/// empty `host: {}` volume, which the agent also backs with a local Docker volume) are named
/// `ecs-<family>-<revision>-<volume>-<task id>` (the agent ends with random hex; the task id
/// makes the name unique and findable after a restart) and labelled with the instance and
/// task; a shared volume keeps its own name.
pub fn volume_source(launch: &Launch, v: &m::Volume, instance: &str) -> VolumeSource {
    let name = v.name.clone().unwrap_or_default();
    let unsupported = |what: &str| {
        VolumeSource::Unsupported(format!(
            "volume \"{name}\" uses {what}, which Berth's Docker runtime does not provide"
        ))
    };
    if v.efs_volume_configuration.is_some() {
        return unsupported("Amazon EFS");
    }
    if v.fsx_windows_file_server_volume_configuration.is_some() {
        return unsupported("FSx for Windows File Server");
    }
    if v.s3files_volume_configuration.is_some() {
        return unsupported("S3 Files");
    }
    if v.configured_at_launch == Some(true) {
        return unsupported("a volume configured at launch (Amazon EBS)");
    }
    if let Some(path) = host_path(v) {
        return VolumeSource::HostPath(path.to_string());
    }
    let cfg = v.docker_volume_configuration.as_ref();
    let shared = cfg
        .and_then(|c| c.scope.as_ref())
        .is_some_and(|s| s.as_str() == "shared");
    let mut labels: HashMap<String, String> = cfg
        .and_then(|c| c.labels.as_ref())
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    labels.insert(LABEL_INSTANCE.into(), instance.into());
    if !shared {
        labels.insert(LABEL_TASK_ID.into(), launch.task_id.clone());
    }
    VolumeSource::Docker(DockerVolume {
        name: if shared {
            name.clone()
        } else {
            format!(
                "ecs-{}-{}-{name}-{}",
                launch.family, launch.revision, launch.task_id
            )
        },
        driver: cfg
            .and_then(|c| c.driver.clone())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "local".into()),
        driver_opts: cfg
            .and_then(|c| c.driver_opts.as_ref())
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        labels,
        shared,
        autoprovision: cfg.and_then(|c| c.autoprovision).unwrap_or(false),
    })
}

/// Every volume of the task, by task-definition name, in order.
pub fn volumes(launch: &Launch, instance: &str) -> Vec<(String, VolumeSource)> {
    launch
        .volumes
        .iter()
        .map(|v| {
            (
                v.name.clone().unwrap_or_default(),
                volume_source(launch, v, instance),
            )
        })
        .collect()
}

fn host_path(v: &m::Volume) -> Option<&str> {
    v.host
        .as_ref()
        .and_then(|h| h.source_path.as_deref())
        .filter(|p| !p.is_empty())
}

/// The `ECS_CONTAINER_METADATA_URI` (v3) address beside a v4 one: the last `/v4/` becomes
/// `/v3/`.
fn v3_url(v4: &str) -> String {
    match v4.rfind("/v4/") {
        Some(i) => format!("{}/v3/{}", &v4[..i], &v4[i + 4..]),
        None => v4.to_string(),
    }
}

/// The environment, `K=V` in order, with the metadata endpoint variables (which win over
/// the task definition's, as the agent's do).
fn environment(c: &ContainerLaunch, metadata_url: Option<&str>) -> Vec<String> {
    let injected: Vec<(&str, String)> = match metadata_url {
        Some(v4) => vec![
            ("ECS_CONTAINER_METADATA_URI_V4", v4.to_string()),
            ("ECS_CONTAINER_METADATA_URI", v3_url(v4)),
        ],
        None => Vec::new(),
    };
    c.environment
        .iter()
        .filter(|(k, _)| !injected.iter().any(|(i, _)| i == k))
        .map(|(k, v)| format!("{k}={v}"))
        .chain(injected.iter().map(|(k, v)| format!("{k}={v}")))
        .collect()
}

fn device(d: &m::Device) -> DeviceMapping {
    let host = d.host_path.clone().unwrap_or_default();
    let perms: String = match d.permissions.as_deref() {
        Some(p) if !p.is_empty() => ["read", "write", "mknod"]
            .iter()
            .filter(|want| p.iter().any(|x| x.as_str() == **want))
            .map(|p| &p[..1])
            .collect(),
        _ => "rwm".into(),
    };
    DeviceMapping {
        path_in_container: Some(
            d.container_path
                .clone()
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| host.clone()),
        ),
        path_on_host: Some(host),
        cgroup_permissions: Some(perms),
    }
}

/// Publishes `ports` on [`BIND_IP`] (`HostConfig.PortBindings`) and lists them with
/// `wanted` as `ExposedPorts`. For the pause container of an `awsvpc` task, which publishes
/// every container's ports.
fn publish(
    wanted: &[WantedPort],
    ports: &[PortPlan],
) -> (Vec<String>, HashMap<String, Option<Vec<PortBinding>>>) {
    let mut exposed: Vec<String> = Vec::new();
    let mut add = |key: String| {
        if !exposed.contains(&key) {
            exposed.push(key);
        }
    };
    for w in wanted {
        for p in w.container_ports() {
            add(format!("{p}/{}", w.protocol));
        }
    }
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for p in ports {
        let key = format!("{}/{}", p.container_port, p.protocol);
        add(key.clone());
        bindings
            .entry(key)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(PortBinding {
                host_ip: Some(BIND_IP.into()),
                host_port: Some(p.host_port.to_string()),
            });
    }
    (exposed, bindings)
}

/// `Some(list)` when the list is not empty.
fn some<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

fn somemap<K, V>(v: HashMap<K, V>) -> Option<HashMap<K, V>> {
    (!v.is_empty()).then_some(v)
}

/// The create body of one task container (see the module docs and `docs/ecs-agent-runtime.md`
/// §1.2 for the mapping).
///
/// `host_ports` are the ports the runtime chose for this container (explicit `hostPort`s as
/// given, dynamic ones from [`super::ports::HostPorts`]); they are published on `127.0.0.1`
/// in bridge mode only (a container sharing a pause container's network publishes nothing:
/// the pause container does, see [`render_pause`]). `metadata_url` is this container's task
/// metadata v4 address (`<base>/v4/<token>`): it becomes `ECS_CONTAINER_METADATA_URI_V4`,
/// and its `/v3/` twin `ECS_CONTAINER_METADATA_URI`.
///
/// Links and `volumesFrom` name their peers through `ctx.docker_names`; a peer missing from
/// it is left out ([`dependencies`] refuses such tasks first). Docker refuses hostname, links,
/// DNS, extra hosts and ports for a container on another container's network, so those are
/// left out there; links are left out in host mode too.
pub fn render(
    launch: &Launch,
    c: &ContainerLaunch,
    ctx: &TaskContext,
    host_ports: &[PortPlan],
    metadata_url: Option<&str>,
) -> ContainerCreateBody {
    let d = &c.definition;
    let lp = d.linux_parameters.as_ref();
    let shared_net = matches!(ctx.network, NetMode::Container(_));
    let bridge = ctx.network == NetMode::Bridge;
    let peer = |name: &str| ctx.docker_names.get(name).cloned();

    let (exposed, bindings) = if shared_net {
        (Vec::new(), HashMap::new())
    } else {
        let published = if bridge { host_ports } else { &[] };
        publish(&wanted_ports(d), published)
    };

    let links: Vec<String> = if bridge {
        d.links
            .iter()
            .flatten()
            .filter_map(|l| {
                let (name, alias) = l.split_once(':').unwrap_or((l, l));
                Some(format!("{}:{alias}", peer(name)?))
            })
            .collect()
    } else {
        Vec::new()
    };

    let volumes_from: Vec<String> = d
        .volumes_from
        .iter()
        .flatten()
        .filter_map(|v| {
            let name = peer(v.source_container.as_deref()?)?;
            Some(if v.read_only == Some(true) {
                format!("{name}:ro")
            } else {
                name
            })
        })
        .collect();

    let binds: Vec<String> = d
        .mount_points
        .iter()
        .flatten()
        .filter_map(|mp| {
            let vol_name = mp.source_volume.as_deref()?;
            let path = mp.container_path.as_deref().filter(|p| !p.is_empty())?;
            let v = launch
                .volumes
                .iter()
                .find(|v| v.name.as_deref() == Some(vol_name))?;
            let source = match volume_source(launch, v, &ctx.instance) {
                VolumeSource::HostPath(p) => p,
                VolumeSource::Docker(dv) => dv.name,
                VolumeSource::Unsupported(_) => return None,
            };
            let ro = if mp.read_only == Some(true) {
                ":ro"
            } else {
                ""
            };
            Some(format!("{source}:{path}{ro}"))
        })
        .collect();

    let memory = memory_bytes(d.memory);
    let (memory_swap, swappiness) = match lp.and_then(|l| l.max_swap) {
        Some(swap) if swap >= 0 => (
            memory.map(|m| m + i64::from(swap) * MIB),
            lp.and_then(|l| l.swappiness).map(i64::from),
        ),
        _ => (None, None),
    };

    let tmpfs: HashMap<String, String> = lp
        .and_then(|l| l.tmpfs.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|t| {
            let path = t.container_path.clone().filter(|p| !p.is_empty())?;
            let mut opts: Vec<String> = t
                .mount_options
                .iter()
                .flatten()
                .filter(|o| !o.is_empty())
                .cloned()
                .collect();
            if let Some(size) = t.size.filter(|s| *s > 0) {
                opts.push(format!("size={size}m"));
            }
            Some((path, opts.join(",")))
        })
        .collect();

    let host_config = HostConfig {
        network_mode: Some(ctx.network.docker()),
        port_bindings: somemap(bindings),
        links: some(links),
        volumes_from: some(volumes_from),
        binds: some(binds),
        cpu_shares: Some(cpu_shares(d.cpu)),
        memory,
        memory_reservation: mib_bytes(d.memory_reservation),
        memory_swap,
        memory_swappiness: swappiness,
        ulimits: some(
            d.ulimits
                .iter()
                .flatten()
                .map(|u| ResourcesUlimits {
                    name: u.name.as_ref().map(|n| n.as_str().to_string()),
                    soft: u.soft_limit.map(i64::from),
                    hard: u.hard_limit.map(i64::from),
                })
                .collect(),
        ),
        cap_add: lp
            .and_then(|l| l.capabilities.as_ref())
            .and_then(|c| c.add.clone())
            .and_then(some),
        cap_drop: lp
            .and_then(|l| l.capabilities.as_ref())
            .and_then(|c| c.drop.clone())
            .and_then(some),
        devices: some(
            lp.and_then(|l| l.devices.as_ref())
                .into_iter()
                .flatten()
                .filter(|d| d.host_path.as_deref().is_some_and(|p| !p.is_empty()))
                .map(device)
                .collect(),
        ),
        init: lp.and_then(|l| l.init_process_enabled),
        shm_size: mib_bytes(lp.and_then(|l| l.shared_memory_size)),
        tmpfs: somemap(tmpfs),
        readonly_rootfs: d.readonly_root_filesystem,
        privileged: d.privileged,
        extra_hosts: if shared_net {
            None
        } else {
            some(
                d.extra_hosts
                    .iter()
                    .flatten()
                    .filter_map(|h| {
                        Some(format!(
                            "{}:{}",
                            h.hostname.as_ref()?,
                            h.ip_address.as_ref()?
                        ))
                    })
                    .collect(),
            )
        },
        dns: if shared_net {
            None
        } else {
            d.dns_servers.clone().and_then(some)
        },
        dns_search: if shared_net {
            None
        } else {
            d.dns_search_domains.clone().and_then(some)
        },
        security_opt: some(
            d.docker_security_options
                .iter()
                .flatten()
                .filter(|o| !o.starts_with("credentialspec"))
                .cloned()
                .collect(),
        ),
        sysctls: somemap(
            d.system_controls
                .iter()
                .flatten()
                .filter_map(|s| Some((s.namespace.clone()?, s.value.clone().unwrap_or_default())))
                .collect(),
        ),
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: None,
        }),
        ..HostConfig::default()
    };

    ContainerCreateBody {
        image: Some(c.image.clone()),
        cmd: d.command.clone(),
        entrypoint: d.entry_point.clone(),
        env: some(environment(c, metadata_url)),
        working_dir: d.working_directory.clone().filter(|w| !w.is_empty()),
        user: d.user.clone().filter(|u| !u.is_empty()),
        hostname: if shared_net {
            None
        } else {
            d.hostname.clone().filter(|h| !h.is_empty())
        },
        labels: Some(labels(launch, c, &ctx.instance)),
        exposed_ports: some(exposed),
        healthcheck: d.health_check.as_ref().and_then(healthcheck),
        open_stdin: d.interactive,
        tty: d.pseudo_terminal,
        network_disabled: d.disable_networking,
        host_config: Some(host_config),
        ..ContainerCreateBody::default()
    }
}

/// The create body of an `awsvpc` task's pause container: it owns the task's network
/// namespace on Docker's bridge, so it publishes every container's `ports` (on `127.0.0.1`)
/// and exposes every container's `portMappings`. `image` must keep running on its own
/// (its default command is used).
pub fn render_pause(
    launch: &Launch,
    instance: &str,
    image: &str,
    ports: &[PortPlan],
) -> ContainerCreateBody {
    let wanted: Vec<WantedPort> = launch
        .containers
        .iter()
        .flat_map(|c| wanted_ports(&c.definition))
        .collect();
    let (exposed, bindings) = publish(&wanted, ports);
    ContainerCreateBody {
        image: Some(image.to_string()),
        labels: Some(pause_labels(launch, instance)),
        exposed_ports: some(exposed),
        host_config: Some(HostConfig {
            network_mode: Some(NetMode::Bridge.docker()),
            port_bindings: somemap(bindings),
            cpu_shares: Some(MIN_CPU_SHARES),
            log_config: Some(HostConfigLogConfig {
                typ: Some("json-file".into()),
                config: None,
            }),
            ..HostConfig::default()
        }),
        ..ContainerCreateBody::default()
    }
}

/// What a container waits for before it is created and started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Condition {
    /// The dependency was created (implicit for `volumesFrom`).
    Create,
    /// The dependency is running (implicit for `links`), or ran and stopped.
    Start,
    /// The dependency exited, whatever its exit code.
    Complete,
    /// The dependency exited with code 0.
    Success,
    /// The dependency's health check reports healthy.
    Healthy,
}

impl Condition {
    /// The wire spelling (`CREATE` is the agent's, for implicit dependencies).
    pub fn as_str(&self) -> &'static str {
        match self {
            Condition::Create => "CREATE",
            Condition::Start => "START",
            Condition::Complete => "COMPLETE",
            Condition::Success => "SUCCESS",
            Condition::Healthy => "HEALTHY",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "CREATE" => Condition::Create,
            "START" => Condition::Start,
            "COMPLETE" => Condition::Complete,
            "SUCCESS" => Condition::Success,
            "HEALTHY" => Condition::Healthy,
            _ => return None,
        })
    }
}

/// For each container (by index), the containers it waits for and on what: its `dependsOn`,
/// plus START on every `links` target and CREATE on every `volumesFrom` source (the agent's
/// implicit dependencies), without repeats.
///
/// # Errors
///
/// `Task dependencies cannot be resolved, taskArn: <task_arn>` (the agent's stop reason) when
/// a dependency names no container of the task, names the container itself, has an unknown
/// condition, waits for HEALTHY on a container without a health check, or when the
/// dependencies form a cycle.
pub fn dependencies(
    task_arn: &str,
    containers: &[ContainerLaunch],
) -> Result<Vec<Vec<(usize, Condition)>>, String> {
    let fail = || format!("Task dependencies cannot be resolved, taskArn: {task_arn}");
    let index: HashMap<&str, usize> = containers
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    let mut out = Vec::with_capacity(containers.len());
    for (i, c) in containers.iter().enumerate() {
        let d = &c.definition;
        let mut deps: Vec<(usize, Condition)> = Vec::new();
        let explicit = d.depends_on.iter().flatten().map(|dep| {
            let cond = dep
                .condition
                .as_ref()
                .map_or(Some(Condition::Start), |c| Condition::parse(c.as_str()));
            (dep.container_name.as_deref().unwrap_or_default(), cond)
        });
        let links = d.links.iter().flatten().map(|l| {
            (
                l.split(':').next().unwrap_or_default(),
                Some(Condition::Start),
            )
        });
        let volumes = d.volumes_from.iter().flatten().map(|v| {
            (
                v.source_container.as_deref().unwrap_or_default(),
                Some(Condition::Create),
            )
        });
        for (name, cond) in explicit.chain(links).chain(volumes) {
            let (Some(&j), Some(cond)) = (index.get(name), cond) else {
                return Err(fail());
            };
            if j == i || (cond == Condition::Healthy && !has_health_check(&containers[j])) {
                return Err(fail());
            }
            if !deps.contains(&(j, cond)) {
                deps.push((j, cond));
            }
        }
        out.push(deps);
    }
    // Kahn: a container is placed once everything it waits for is.
    let mut placed = vec![false; containers.len()];
    let mut left = containers.len();
    while left > 0 {
        let ready: Vec<usize> = (0..containers.len())
            .filter(|&i| !placed[i] && out[i].iter().all(|(j, _)| placed[*j]))
            .collect();
        if ready.is_empty() {
            return Err(fail());
        }
        for i in ready {
            placed[i] = true;
            left -= 1;
        }
    }
    Ok(out)
}

fn has_health_check(c: &ContainerLaunch) -> bool {
    c.definition
        .health_check
        .as_ref()
        .and_then(|h| h.command.as_ref())
        .is_some_and(|c| !c.is_empty())
}

/// The order containers stop in, as waves that may stop concurrently: a container stops only
/// after every container that waits for it ([`dependencies`]) has stopped, so dependents go
/// first. Containers caught in a cycle (which [`dependencies`] refuses) come last, together.
pub fn shutdown_order(deps: &[Vec<(usize, Condition)>]) -> Vec<Vec<usize>> {
    let n = deps.len();
    let mut stopped = vec![false; n];
    let mut waves = Vec::new();
    let mut left = n;
    while left > 0 {
        // i may stop once no running container still waits for it.
        let wave: Vec<usize> = (0..n)
            .filter(|&i| {
                !stopped[i]
                    && (0..n).all(|k| stopped[k] || k == i || !deps[k].iter().any(|(j, _)| *j == i))
            })
            .collect();
        let wave = if wave.is_empty() {
            (0..n).filter(|&i| !stopped[i]).collect()
        } else {
            wave
        };
        for &i in &wave {
            stopped[i] = true;
            left -= 1;
        }
        waves.push(wave);
    }
    waves
}

/// What the runtime knows about a dependency, for [`gate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeerState {
    /// It was created.
    pub created: bool,
    /// It reached RUNNING (and may have stopped since).
    pub started: bool,
    /// It is stopped (or will never run: its create or start failed).
    pub stopped: bool,
    /// Its exit code, once it exited.
    pub exit_code: Option<i32>,
    /// Its health check reports healthy.
    pub healthy: bool,
    /// Its `startTimeout` has elapsed since it started (the runtime keeps the clock); only
    /// SUCCESS, COMPLETE and HEALTHY give up on it.
    pub timed_out: bool,
}

/// Whether a container may go ahead, for one of its dependencies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    /// Not yet.
    Wait,
    /// The dependency is resolved.
    Go,
    /// It never will be: the container is marked STOPPED without running, exit code 143,
    /// with this reason (`CannotStartContainerError: dependency graph: …`).
    Fail(String),
}

/// Whether `target` may be created and started, as far as its dependency `dep` (waited for on
/// `cond`) goes — the agent's `containerOrderingDependenciesIsResolved` and its terminal
/// errors (`docs/ecs-agent-runtime.md` §2.2).
pub fn gate(target: &str, dep: &str, cond: Condition, peer: &PeerState) -> Gate {
    let fail = |why: &str| {
        Gate::Fail(format!(
            "CannotStartContainerError: dependency graph: failed to resolve container ordering \
             dependency [{dep}] for target [{target}] {why}"
        ))
    };
    match cond {
        Condition::Create if peer.created || peer.started => Gate::Go,
        Condition::Start if peer.started => Gate::Go,
        Condition::Complete if peer.stopped && peer.exit_code.is_some() => Gate::Go,
        Condition::Success if peer.stopped && peer.exit_code == Some(0) => Gate::Go,
        Condition::Success if peer.stopped && peer.exit_code.is_some() => {
            fail("as dependency did not exit successfully.")
        }
        Condition::Healthy if peer.healthy && !peer.stopped => Gate::Go,
        Condition::Healthy if peer.stopped => fail("as dependency stopped before it was healthy."),
        _ if peer.stopped => fail("as dependency will never start."),
        Condition::Complete | Condition::Success | Condition::Healthy if peer.timed_out => {
            fail("as dependency has timed out.")
        }
        _ => Gate::Wait,
    }
}

/// Docker's default capabilities: adding one changes nothing.
const DEFAULT_CAPS: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Whether a `dockerSecurityOptions` entry turns a confinement off (`apparmor:unconfined`,
/// `seccomp=unconfined`, `label:disable`, `label:type:spc_t`, `systempaths=unconfined`).
fn unconfined(opt: &str) -> bool {
    let opt = opt.to_ascii_lowercase();
    let (key, value) = opt.split_once(['=', ':']).unwrap_or((opt.as_str(), ""));
    match key {
        "apparmor" | "seccomp" | "systempaths" => value == "unconfined",
        "label" => {
            value == "disable"
                || value.strip_prefix("type").is_some_and(|t| {
                    matches!(t.trim_start_matches([':', '=']), "spc_t" | "unconfined_t")
                })
        }
        _ => false,
    }
}

/// One sentence per thing in a task definition that reaches beyond its containers, in order:
/// the task's host network, PID or IPC namespace, then per container `privileged`, host-path
/// mounts (a volume's `host.sourcePath`, or a `local` Docker volume binding a host `device`),
/// added capabilities beyond Docker's defaults, devices, and security options that turn a
/// confinement off. Each names the container and the member, e.g.
/// `container "web" sets privileged: true`. Empty when the task stays inside its containers.
///
/// It reads the whole task definition because `pidMode` and `ipcMode` are not in a
/// [`Launch`]; [`host_access_parts`] takes the members one by one.
pub fn host_access(td: &m::TaskDefinition) -> Vec<String> {
    host_access_parts(
        td.network_mode.as_ref().map_or("bridge", |n| n.as_str()),
        td.pid_mode.as_ref().map(|p| p.as_str()),
        td.ipc_mode.as_ref().map(|p| p.as_str()),
        td.volumes.as_deref().unwrap_or_default(),
        td.container_definitions.as_deref().unwrap_or_default(),
    )
}

/// [`host_access`] from a task definition's members.
pub fn host_access_parts(
    network_mode: &str,
    pid_mode: Option<&str>,
    ipc_mode: Option<&str>,
    volumes: &[m::Volume],
    containers: &[m::ContainerDefinition],
) -> Vec<String> {
    let mut out = Vec::new();
    for (member, value) in [
        ("networkMode", Some(network_mode)),
        ("pidMode", pid_mode),
        ("ipcMode", ipc_mode),
    ] {
        if value == Some("host") {
            out.push(format!("task sets {member}: host"));
        }
    }
    let host_bind = |v: &m::Volume| -> Option<String> {
        if let Some(p) = host_path(v) {
            return Some(p.to_string());
        }
        let cfg = v.docker_volume_configuration.as_ref()?;
        let opts: &BTreeMap<String, String> = cfg.driver_opts.as_ref()?;
        let local = cfg
            .driver
            .as_deref()
            .is_none_or(|d| d.is_empty() || d == "local");
        let bind = opts
            .get("o")
            .is_some_and(|o| o.split(',').any(|o| o == "bind"));
        let device = opts.get("device").filter(|d| d.starts_with('/'))?;
        (local && (bind || opts.get("type").is_some_and(|t| t == "none"))).then(|| device.clone())
    };
    for c in containers {
        let name = c.name.as_deref().unwrap_or_default();
        if c.privileged == Some(true) {
            out.push(format!("container \"{name}\" sets privileged: true"));
        }
        for mp in c.mount_points.iter().flatten() {
            let Some(vol) = mp.source_volume.as_deref() else {
                continue;
            };
            if let Some(path) = volumes
                .iter()
                .find(|v| v.name.as_deref() == Some(vol))
                .and_then(host_bind)
            {
                out.push(format!(
                    "container \"{name}\" mounts host path \"{path}\" \
                     (mountPoints, volume \"{vol}\")"
                ));
            }
        }
        let lp = c.linux_parameters.as_ref();
        let added: Vec<&str> = lp
            .and_then(|l| l.capabilities.as_ref())
            .and_then(|c| c.add.as_ref())
            .into_iter()
            .flatten()
            .map(String::as_str)
            .filter(|cap| {
                let bare = cap.to_ascii_uppercase();
                let bare = bare.strip_prefix("CAP_").unwrap_or(&bare);
                !DEFAULT_CAPS.contains(&bare)
            })
            .collect();
        if !added.is_empty() {
            out.push(format!(
                "container \"{name}\" adds capabilities {} (linuxParameters.capabilities.add)",
                added.join(", ")
            ));
        }
        for d in lp.and_then(|l| l.devices.as_ref()).into_iter().flatten() {
            out.push(format!(
                "container \"{name}\" maps host device \"{}\" (linuxParameters.devices)",
                d.host_path.as_deref().unwrap_or_default()
            ));
        }
        for opt in c.docker_security_options.iter().flatten() {
            if unconfined(opt) {
                out.push(format!(
                    "container \"{name}\" sets dockerSecurityOptions \"{opt}\""
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CORPUS: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/corpus/taskdefs"
    );

    fn td(prefix: &str) -> m::TaskDefinition {
        let dir = std::fs::read_dir(CORPUS).expect("corpus");
        let path = dir
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix))
            })
            .unwrap_or_else(|| panic!("no corpus file {prefix}"));
        let text = std::fs::read_to_string(&path).expect("read");
        parse(&text).unwrap_or_else(|| panic!("{} does not parse", path.display()))
    }

    /// A task definition, also from DescribeTaskDefinition output (`{"taskDefinition": …}`).
    fn parse(text: &str) -> Option<m::TaskDefinition> {
        let mut v: serde_json::Value = serde_json::from_str(text).ok()?;
        if let Some(inner) = v.get_mut("taskDefinition") {
            v = inner.take();
        }
        serde_json::from_value(v).ok()
    }

    fn launch(td: &m::TaskDefinition) -> Launch {
        let family = td.family.clone().unwrap_or_default();
        Launch {
            task_id: "0123456789abcdef0123456789abcdef".into(),
            cluster: "default".into(),
            task_arn:
                "arn:aws:ecs:us-east-1:000000000000:task/default/0123456789abcdef0123456789abcdef"
                    .into(),
            family,
            revision: td.revision.unwrap_or(1),
            network_mode: td
                .network_mode
                .as_ref()
                .map_or("bridge", |n| n.as_str())
                .to_string(),
            volumes: td.volumes.clone().unwrap_or_default(),
            containers: td
                .container_definitions
                .iter()
                .flatten()
                .enumerate()
                .map(|(i, c)| ContainerLaunch {
                    name: c.name.clone().unwrap_or_default(),
                    image: c.image.clone().unwrap_or_default(),
                    essential: c.essential.unwrap_or(true),
                    health_check: c.health_check.is_some(),
                    definition: c.clone().into(),
                    environment: c
                        .environment
                        .iter()
                        .flatten()
                        .filter_map(|kv| Some((kv.name.clone()?, kv.value.clone()?)))
                        .collect(),
                    awslogs: None,
                    metadata_token: format!("0123456789abcdef0123456789abcdef-{i}"),
                })
                .collect(),
            refusal: None,
        }
    }

    fn ctx(l: &Launch) -> TaskContext {
        TaskContext {
            instance: "berth-test".into(),
            network: NetMode::of_task(&l.network_mode, "pause"),
            docker_names: l
                .containers
                .iter()
                .map(|c| {
                    (
                        c.name.clone(),
                        docker_name(&l.family, l.revision, &c.name, "00112233445566778899"),
                    )
                })
                .collect(),
        }
    }

    /// Renders container `i` of a corpus file with no host ports.
    fn body(prefix: &str, i: usize) -> (Launch, ContainerCreateBody) {
        let l = launch(&td(prefix));
        let b = render(&l, &l.containers[i], &ctx(&l), &[], None);
        (l, b)
    }

    fn hc(b: &ContainerCreateBody) -> &HostConfig {
        b.host_config.as_ref().expect("host config")
    }

    #[test]
    fn names_follow_the_agent() {
        assert_eq!(
            docker_name("curltest", 24, "curl", "cca48e8dcadd97805600"),
            "ecs-curltest-24-curl-cca48e8dcadd97805600"
        );
        assert_eq!(
            docker_name("f", 1, "my_web.app~1", "00"),
            "ecs-f-1-mywebapp1-00"
        );
        assert_eq!(
            docker_name("f", 3, PAUSE_NAME, "ab"),
            "ecs-f-3-internalecspause-ab"
        );
    }

    #[test]
    fn cpu_and_memory_follow_the_agent() {
        // (cpu units, CpuShares), (memory MiB, Memory bytes)
        for (cpu, shares) in [
            (None, 2),
            (Some(0), 2),
            (Some(1), 2),
            (Some(2), 2),
            (Some(-5), 2),
            (Some(10), 10),
            (Some(1024), 1024),
            (Some(300_000), 262_144),
        ] {
            assert_eq!(cpu_shares(cpu), shares, "cpu {cpu:?}");
        }
        for (mib, bytes) in [
            (None, None),
            (Some(0), None),
            (Some(1), Some(4 * MIB)),
            (Some(4), Some(4 * MIB)),
            (Some(64), Some(67_108_864)),
            (Some(500), Some(524_288_000)),
        ] {
            assert_eq!(memory_bytes(mib), bytes, "memory {mib:?}");
        }
    }

    /// Table: corpus file, container, and what its create body must hold.
    #[test]
    fn corpus_containers_render_like_the_agent() {
        type Check = fn(&ContainerCreateBody);
        let table: &[(&str, usize, Check)] = &[
            ("033", 0, |b| {
                let h = hc(b);
                assert_eq!(h.cpu_shares, Some(10));
                assert_eq!(h.memory, Some(64 * MIB));
                assert_eq!(h.cap_add, Some(vec!["SYS_ADMIN".to_string()]));
                assert_eq!(h.cap_drop, Some(vec!["MKNOD".to_string()]));
                assert_eq!(h.network_mode.as_deref(), Some("bridge"));
            }),
            ("039", 0, |b| {
                // cpu 0 → 2 shares; no health check of its own; working dir.
                assert_eq!(hc(b).cpu_shares, Some(2));
                assert_eq!(b.healthcheck, None);
                assert_eq!(b.working_dir.as_deref(), Some("/test"));
            }),
            ("039", 1, |b| {
                let h = b.healthcheck.as_ref().expect("healthcheck");
                assert_eq!(
                    h.test.as_deref(),
                    Some(
                        &[
                            "CMD-SHELL".to_string(),
                            "cd /test && touch test.txt && echo hi >> test.txt;".to_string()
                        ][..]
                    )
                );
                assert_eq!(h.interval, Some(5_000_000_000));
                assert_eq!(h.timeout, Some(50_000_000_000));
                assert_eq!(h.retries, Some(3));
                assert_eq!(h.start_period, None);
                // `volumes: [{name}]` is a task-scoped local Docker volume.
                assert_eq!(
                    hc(b).binds,
                    Some(vec![
                        "ecs-ecsftest-container-ordering-complete-condition-1-volume1-\
                         0123456789abcdef0123456789abcdef:/test"
                            .to_string()
                    ])
                );
            }),
            ("017", 0, |b| {
                let h = b.healthcheck.as_ref().expect("healthcheck");
                assert_eq!(h.interval, Some(10_000_000_000));
                assert_eq!(h.timeout, Some(5_000_000_000));
                assert_eq!(h.retries, Some(2));
                assert_eq!(h.start_period, Some(30_000_000_000));
            }),
            ("042", 0, |b| {
                assert_eq!(
                    hc(b).devices,
                    Some(vec![DeviceMapping {
                        path_on_host: Some("/dev/xvda".into()),
                        path_in_container: Some("/dev/sda".into()),
                        cgroup_permissions: Some("r".into()),
                    }])
                );
            }),
            ("044", 0, |b| {
                assert_eq!(
                    hc(b).extra_hosts,
                    Some(vec!["test.local:127.10.10.10".to_string()])
                );
            }),
            ("051", 0, |b| {
                assert_eq!(b.open_stdin, Some(true));
                assert_eq!(b.tty, Some(true));
            }),
            ("054", 0, |b| assert_eq!(b.network_disabled, Some(true))),
            ("056", 0, |b| {
                assert_eq!(
                    hc(b).ulimits,
                    Some(vec![ResourcesUlimits {
                        name: Some("nofile".into()),
                        soft: Some(123),
                        hard: Some(234),
                    }])
                );
            }),
            ("062", 0, |b| assert_eq!(hc(b).privileged, Some(true))),
            ("063", 0, |b| assert_eq!(hc(b).readonly_rootfs, Some(true))),
            ("065", 0, |b| {
                let h = hc(b);
                assert_eq!(h.security_opt, Some(vec!["no-new-privileges".to_string()]));
                assert_eq!(h.memory, Some(50 * MIB));
                assert_eq!(h.cpu_shares, Some(2));
            }),
            ("066", 0, |b| assert_eq!(hc(b).shm_size, Some(100 * MIB))),
            ("068", 0, |b| {
                assert_eq!(
                    hc(b).sysctls,
                    Some(HashMap::from([(
                        "net.ipv4.conf.default.rp_filter".to_string(),
                        "0".to_string()
                    )]))
                );
            }),
            ("075", 0, |b| {
                assert_eq!(
                    hc(b).tmpfs,
                    Some(HashMap::from([(
                        "/dev/tmpfs".to_string(),
                        "ro,noexec,size=100m".to_string()
                    )]))
                );
            }),
            ("076", 0, |b| assert_eq!(b.user.as_deref(), Some("nobody"))),
            ("111", 0, |b| {
                let h = hc(b);
                assert_eq!(h.memory_reservation, Some(256 * MIB));
                // A task-scoped Docker volume, `readOnly: null` is read-write.
                assert_eq!(
                    h.binds,
                    Some(vec![
                        "ecs-Web-App-Task-1-php-code-0123456789abcdef0123456789abcdef:/var/www/html/"
                            .to_string()
                    ])
                );
                assert_eq!(b.exposed_ports, Some(vec!["9000/tcp".to_string()]));
            }),
            ("130", 0, |b| {
                let h = hc(b);
                // `links: ["mysql"]`: the alias defaults to the name.
                assert_eq!(
                    h.links,
                    Some(vec![
                        "ecs-awslogs-example-1-mysql-00112233445566778899:mysql".to_string()
                    ])
                );
                // awslogs never reaches Docker.
                assert_eq!(
                    h.log_config.as_ref().and_then(|l| l.typ.as_deref()),
                    Some("json-file")
                );
            }),
            ("140", 0, |b| {
                let h = hc(b);
                assert_eq!(h.init, Some(true));
                assert_eq!(h.ulimits.as_ref().map(Vec::len), Some(2));
                // awsvpc: the pause container's network, no hostname, no ports.
                assert_eq!(h.network_mode.as_deref(), Some("container:pause"));
                assert_eq!(h.port_bindings, None);
                assert_eq!(b.exposed_ports, None);
                assert_eq!(
                    b.env.as_deref().map(<[String]>::len),
                    Some(3),
                    "environment as given, no metadata without an address"
                );
            }),
        ];
        for (prefix, i, check) in table {
            let (_, b) = body(prefix, *i);
            check(&b);
        }
    }

    #[test]
    fn links_name_peers_by_docker_name() {
        let l = launch(&td("055"));
        let c = ctx(&l);
        let names: Vec<&str> = l.containers.iter().map(|c| c.name.as_str()).collect();
        let at = |n: &str| names.iter().position(|x| *x == n).expect("container");
        let b = render(&l, &l.containers[at("c")], &c, &[], None);
        let h = hc(&b);
        assert_eq!(
            h.links,
            Some(vec![
                "ecs-ecsftest-network-link-2-1-a-00112233445566778899:a".to_string(),
                "ecs-ecsftest-network-link-2-1-bb-00112233445566778899:bb".to_string(),
                "ecs-ecsftest-network-link-2-1-b-00112233445566778899:b".to_string(),
            ])
        );
        assert_eq!(
            h.volumes_from,
            Some(vec![
                "ecs-ecsftest-network-link-2-1-a-00112233445566778899".to_string()
            ])
        );
    }

    #[test]
    fn labels_override_docker_labels() {
        let mut l = launch(&td("085"));
        let def = std::sync::Arc::make_mut(&mut l.containers[0].definition);
        let user = def.docker_labels.get_or_insert_with(BTreeMap::new);
        user.insert("com.amazonaws.ecs.cluster".into(), "theirs".into());
        user.insert(LABEL_INSTANCE.into(), "theirs".into());
        user.insert(LABEL_ROLE.into(), "pause".into());
        let got = labels(&l, &l.containers[0], "mine");
        assert_eq!(got["name"], "katsubushi", "the user's own labels stay");
        assert_eq!(got["com.amazonaws.ecs.cluster"], "default");
        assert_eq!(got["com.amazonaws.ecs.container-name"], "katsubushi");
        assert_eq!(
            got["com.amazonaws.ecs.task-definition-family"],
            "katsubushi"
        );
        assert_eq!(got["com.amazonaws.ecs.task-definition-version"], "1");
        assert_eq!(got["com.amazonaws.ecs.task-arn"], l.task_arn);
        assert_eq!(got[LABEL_INSTANCE], "mine");
        assert_eq!(got[LABEL_TASK_ID], l.task_id);
        assert_eq!(got[LABEL_CONTAINER], "katsubushi");
        assert_eq!(got[LABEL_ROLE], "container");
        let pause = pause_labels(&l, "mine");
        assert_eq!(pause[LABEL_ROLE], "pause");
        assert_eq!(pause["com.amazonaws.ecs.container-name"], PAUSE_NAME);
    }

    #[test]
    fn ports_bind_loopback_only() {
        let l = launch(&td("111"));
        let c = ctx(&l);
        let ports = [PortPlan {
            container_port: 80,
            host_port: 49153,
            protocol: "tcp".into(),
        }];
        let b = render(&l, &l.containers[1], &c, &ports, None);
        let bindings = hc(&b).port_bindings.clone().expect("bindings");
        assert_eq!(
            bindings,
            HashMap::from([(
                "80/tcp".to_string(),
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some("49153".into()),
                }])
            )])
        );
        assert_eq!(b.exposed_ports, Some(vec!["80/tcp".to_string()]));
        // Host mode publishes nothing (the ports are the host's); awsvpc: the pause does.
        for mode in [NetMode::Host, NetMode::None, NetMode::Container("p".into())] {
            let c = TaskContext {
                network: mode,
                ..c.clone()
            };
            let b = render(&l, &l.containers[1], &c, &ports, None);
            assert_eq!(hc(&b).port_bindings, None);
            assert_eq!(hc(&b).links, None);
        }
        let pause = render_pause(&l, "i", "pause:latest", &ports);
        assert_eq!(
            pause.exposed_ports,
            Some(vec!["9000/tcp".to_string(), "80/tcp".to_string()])
        );
        let ph = hc(&pause);
        assert_eq!(ph.network_mode.as_deref(), Some("bridge"));
        assert_eq!(
            ph.port_bindings.as_ref().map(|b| b["80/tcp"].clone()),
            Some(Some(vec![PortBinding {
                host_ip: Some("127.0.0.1".into()),
                host_port: Some("49153".into()),
            }]))
        );
    }

    #[test]
    fn wanted_ports_expand_ranges_and_dynamic_host_ports() {
        let def: m::ContainerDefinition = serde_json::from_value(json!({
            "name": "x",
            "portMappings": [
                {"containerPort": 80},
                {"containerPort": 443, "hostPort": 8443},
                {"containerPort": 53, "hostPort": 0, "protocol": "udp"},
                {"containerPortRange": "7000-7002"}
            ]
        }))
        .expect("definition");
        let w = wanted_ports(&def);
        let tuples: Vec<(i32, i32, Option<i32>, &str)> = w
            .iter()
            .map(|w| (w.container_port, w.count, w.host_port, w.protocol.as_str()))
            .collect();
        assert_eq!(
            tuples,
            [
                (80, 1, None, "tcp"),
                (443, 1, Some(8443), "tcp"),
                (53, 1, None, "udp"),
                (7000, 3, None, "tcp"),
            ]
        );
        assert_eq!(
            w[3].container_ports().collect::<Vec<_>>(),
            [7000, 7001, 7002]
        );
    }

    #[test]
    fn environment_gets_the_metadata_endpoint() {
        let mut l = launch(&td("140"));
        l.containers[0]
            .environment
            .push(("ECS_CONTAINER_METADATA_URI_V4".into(), "spoofed".into()));
        let c = TaskContext {
            network: NetMode::Bridge,
            ..ctx(&l)
        };
        let url = "http://172.17.0.1:9000/v4/0123-0";
        let b = render(&l, &l.containers[0], &c, &[], Some(url));
        let env = b.env.expect("env");
        assert_eq!(
            env,
            [
                "NODE_ENV=production",
                "HEADLESS=true",
                "LOG_LEVEL=info",
                "ECS_CONTAINER_METADATA_URI_V4=http://172.17.0.1:9000/v4/0123-0",
                "ECS_CONTAINER_METADATA_URI=http://172.17.0.1:9000/v3/0123-0",
            ]
        );
    }

    #[test]
    fn swap_adds_to_memory() {
        let def: m::ContainerDefinition = serde_json::from_value(json!({
            "name": "x", "image": "i", "memory": 100,
            "linuxParameters": {"maxSwap": 50, "swappiness": 10}
        }))
        .expect("definition");
        let l = Launch {
            containers: vec![ContainerLaunch {
                name: "x".into(),
                definition: def.into(),
                ..ContainerLaunch::default()
            }],
            ..Launch::default()
        };
        let b = render(&l, &l.containers[0], &ctx(&l), &[], None);
        assert_eq!(hc(&b).memory_swap, Some(150 * MIB));
        assert_eq!(hc(&b).memory_swappiness, Some(10));
        assert_eq!(
            b.host_config
                .as_ref()
                .and_then(|h| h.restart_policy.clone()),
            None
        );
        assert_eq!(
            b.stop_timeout, None,
            "the runtime stops with stop_timeout()"
        );
    }

    #[test]
    fn every_corpus_file_renders() {
        let mut n = 0;
        for e in std::fs::read_dir(CORPUS)
            .expect("corpus")
            .filter_map(Result::ok)
        {
            let Ok(text) = std::fs::read_to_string(e.path()) else {
                continue;
            };
            let Some(t) = parse(&text) else {
                continue;
            };
            let l = launch(&t);
            let c = ctx(&l);
            for cl in &l.containers {
                let b = render(&l, cl, &c, &[], Some("http://h/v4/t"));
                let h = hc(&b);
                assert!((2..=262_144).contains(&h.cpu_shares.unwrap_or(0)));
                assert!(h.memory.is_none_or(|m| m >= 4 * MIB));
                n += 1;
            }
            let _ = host_access(&t);
            let _ = dependencies(&l.task_arn, &l.containers);
        }
        assert!(n > 100, "only {n} containers rendered");
    }

    #[test]
    fn stop_timeouts() {
        let t = td("048");
        let defs = t.container_definitions.expect("containers");
        let got: Vec<u64> = defs.iter().map(|c| stop_timeout(c).as_secs()).collect();
        assert_eq!(got, [30, 2, 20]);
    }

    #[test]
    fn dependencies_add_implicit_links_and_volumes_from() {
        let l = launch(&td("055"));
        // a, b, bb, c, d, exit
        let deps = dependencies(&l.task_arn, &l.containers).expect("resolvable");
        use Condition::*;
        assert_eq!(
            deps,
            vec![
                vec![],
                vec![(0, Start)],
                vec![(0, Start), (0, Create)],
                vec![(0, Start), (2, Start), (1, Start), (0, Create)],
                vec![(3, Create)],
                vec![(4, Start)],
            ]
        );
        assert_eq!(
            shutdown_order(&deps),
            vec![vec![5], vec![4], vec![3], vec![1, 2], vec![0]]
        );

        let l = launch(&td("048"));
        let deps = dependencies(&l.task_arn, &l.containers).expect("resolvable");
        assert_eq!(deps[0], vec![(1, Start), (2, Start)]);
        assert_eq!(shutdown_order(&deps), vec![vec![0], vec![1, 2]]);

        let l = launch(&td("039"));
        let deps = dependencies(&l.task_arn, &l.containers).expect("resolvable");
        assert_eq!(deps, vec![vec![(1, Healthy)], vec![]]);
    }

    #[test]
    fn unresolvable_dependencies_are_refused() {
        let refused = format!(
            "Task dependencies cannot be resolved, taskArn: {}",
            launch(&td("111")).task_arn
        );
        // 111 links to "app-container", which the task does not have.
        let l = launch(&td("111"));
        assert_eq!(
            dependencies(&l.task_arn, &l.containers),
            Err(refused.clone())
        );

        let cycle = |a: serde_json::Value, b: serde_json::Value| {
            let t: m::TaskDefinition = serde_json::from_value(json!({
                "family": "f", "containerDefinitions": [a, b]
            }))
            .expect("td");
            let l = launch(&t);
            dependencies(&l.task_arn, &l.containers)
        };
        // A cycle through dependsOn and links.
        assert_eq!(
            cycle(
                json!({"name": "a", "links": ["b"]}),
                json!({"name": "b", "dependsOn": [{"containerName": "a", "condition": "START"}]})
            ),
            Err(refused.clone())
        );
        // HEALTHY on a container without a health check.
        assert_eq!(
            cycle(
                json!({"name": "a"}),
                json!({"name": "b", "dependsOn": [{"containerName": "a", "condition": "HEALTHY"}]})
            ),
            Err(refused.clone())
        );
        // Itself.
        assert_eq!(
            cycle(
                json!({"name": "a", "volumesFrom": [{"sourceContainer": "a"}]}),
                json!({"name": "b"})
            ),
            Err(refused.clone())
        );
        // An unknown condition.
        assert_eq!(
            cycle(
                json!({"name": "a"}),
                json!({"name": "b", "dependsOn": [{"containerName": "a", "condition": "READY"}]})
            ),
            Err(refused)
        );
    }

    #[test]
    fn gates_follow_the_agent() {
        use Condition::*;
        let created = PeerState {
            created: true,
            ..PeerState::default()
        };
        let running = PeerState {
            started: true,
            ..created
        };
        let exited = |code| PeerState {
            stopped: true,
            exit_code: Some(code),
            ..running
        };
        let never = PeerState {
            stopped: true,
            ..PeerState::default()
        };
        let healthy = PeerState {
            healthy: true,
            ..running
        };
        let slow = PeerState {
            timed_out: true,
            ..running
        };
        let is = |g: Gate| match g {
            Gate::Wait => "wait",
            Gate::Go => "go",
            Gate::Fail(_) => "fail",
        };
        // (condition, state, gate)
        let table = [
            (Create, PeerState::default(), "wait"),
            (Create, created, "go"),
            (Create, never, "fail"),
            (Start, created, "wait"),
            (Start, running, "go"),
            (Start, exited(1), "go"),
            (Start, never, "fail"),
            (Complete, running, "wait"),
            (Complete, exited(3), "go"),
            (Complete, slow, "fail"),
            (Success, running, "wait"),
            (Success, exited(0), "go"),
            (Success, exited(1), "fail"),
            (Success, slow, "fail"),
            (Healthy, running, "wait"),
            (Healthy, healthy, "go"),
            (Healthy, exited(0), "fail"),
            (Healthy, slow, "fail"),
            (Start, slow, "go"),
        ];
        for (cond, state, want) in table {
            assert_eq!(is(gate("t", "d", cond, &state)), want, "{cond:?} {state:?}");
        }
        assert_eq!(
            gate("web", "init", Success, &exited(2)),
            Gate::Fail(
                "CannotStartContainerError: dependency graph: failed to resolve container \
                 ordering dependency [init] for target [web] as dependency did not exit \
                 successfully."
                    .into()
            )
        );
    }

    #[test]
    fn host_access_names_container_and_member() {
        assert_eq!(
            host_access(&td("107")),
            [
                "container \"datadog-agent\" mounts host path \"/var/run/docker.sock\" (mountPoints, volume \"docker_sock\")",
                "container \"datadog-agent\" mounts host path \"/proc/\" (mountPoints, volume \"proc\")",
                "container \"datadog-agent\" mounts host path \"/sys/fs/cgroup/\" (mountPoints, volume \"cgroup\")",
                "container \"datadog-agent\" mounts host path \"/sys/kernel/debug\" (mountPoints, volume \"debug\")",
                "container \"datadog-agent\" adds capabilities SYS_ADMIN, SYS_RESOURCE, SYS_PTRACE, NET_ADMIN, NET_BROADCAST, IPC_LOCK (linuxParameters.capabilities.add)",
            ]
        );
        assert_eq!(
            host_access(&td("062")),
            ["container \"exit\" sets privileged: true"]
        );
        assert_eq!(host_access(&td("052")), ["task sets ipcMode: host"]);
        assert_eq!(
            host_access(&td("042")),
            ["container \"exit\" maps host device \"/dev/xvda\" (linuxParameters.devices)"]
        );
        // Confined: no-new-privileges, task volumes, the pid namespace of the task.
        for quiet in ["065", "039", "060", "111", "055", "130"] {
            assert_eq!(host_access(&td(quiet)), Vec::<String>::new(), "{quiet}");
        }
        let t: m::TaskDefinition = serde_json::from_value(json!({
            "family": "f", "networkMode": "host", "pidMode": "host",
            "volumes": [{"name": "v", "dockerVolumeConfiguration": {
                "scope": "task", "driver": "local",
                "driverOpts": {"type": "none", "o": "bind", "device": "/etc"}}}],
            "containerDefinitions": [{
                "name": "web",
                "mountPoints": [{"sourceVolume": "v", "containerPath": "/x"}],
                "linuxParameters": {"capabilities": {"add": ["CAP_CHOWN", "NET_BIND_SERVICE"]}},
                "dockerSecurityOptions": ["apparmor:unconfined", "seccomp=unconfined",
                    "label:disable", "label:type:spc_t", "apparmor:docker-default",
                    "no-new-privileges"]
            }]
        }))
        .expect("td");
        assert_eq!(
            host_access(&t),
            [
                "task sets networkMode: host",
                "task sets pidMode: host",
                "container \"web\" mounts host path \"/etc\" (mountPoints, volume \"v\")",
                "container \"web\" sets dockerSecurityOptions \"apparmor:unconfined\"",
                "container \"web\" sets dockerSecurityOptions \"seccomp=unconfined\"",
                "container \"web\" sets dockerSecurityOptions \"label:disable\"",
                "container \"web\" sets dockerSecurityOptions \"label:type:spc_t\"",
            ]
        );
    }

    #[test]
    fn volumes_name_task_and_shared_docker_volumes() {
        let l = launch(&td("072"));
        let v = volumes(&l, "inst");
        let VolumeSource::Docker(dv) = &v[0].1 else {
            panic!("docker volume: {v:?}");
        };
        assert_eq!(v[0].0, "task-shared");
        assert_eq!(dv.name, "task-shared");
        assert!(dv.shared && dv.autoprovision);
        assert_eq!(dv.driver, "local");
        assert_eq!(dv.labels.get("mylables").map(String::as_str), Some("test"));
        assert_eq!(
            dv.labels.get(LABEL_INSTANCE).map(String::as_str),
            Some("inst")
        );
        assert_eq!(dv.labels.get(LABEL_TASK_ID), None);

        let l = launch(&td("131"));
        assert!(
            volumes(&l, "i")
                .iter()
                .all(|(_, s)| matches!(s, VolumeSource::Unsupported(r) if r.contains("EFS"))),
            "EFS is not provided"
        );
    }
}
