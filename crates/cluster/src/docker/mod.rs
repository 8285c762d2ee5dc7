//! The Docker runtime: runs a task's containers on a Docker engine the way the ECS agent does
//! (`../shared/docs/ecs-agent-runtime.md`), through the Engine API ([bollard]).
//!
//! One driver (a tokio task) per ECS task walks its containers through their lifecycle:
//! images present (pulled when missing), a pause container owning the network namespace for
//! `awsvpc`, containers created and started as their `dependsOn` conditions resolve, exits and
//! health followed through the engine's event stream (re-synchronised by inspecting after the
//! stream drops, e.g. when dockerd restarts), essential exits stopping the rest in reverse
//! dependency order with each container's stop timeout, `restartPolicy` honoured. What it
//! observes leaves as [`RuntimeEvent`]s the reconciler drains with [`Runtime::events`].
//! Containers carry ECS's `com.amazonaws.ecs.*` labels and Berth's `dev.berth.*` labels, so a
//! restarted Berth re-adopts them ([`Runtime::adopt`]) and removes the ones it no longer owns.
//! A stopped task's containers stay on the engine, exited, for the cleanup wait
//! ([`DockerRuntime::set_cleanup_wait`], 3 h by default as the agent's
//! `ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION`), so `docker logs` and `docker inspect` still show
//! what happened; then they are removed with their volumes, also across restarts (the wait
//! counts from the containers' `FinishedAt`).
//!
//! It does not decide anything about tasks (the reconciler does), does not render container
//! configuration (see [`spec`]) and never publishes a port on anything but 127.0.0.1.
//! `awslogs` output is read through the Engine API (containers keep Docker's default log
//! driver), so dockerd needs no AWS credentials.

mod pause;
pub mod ports;
pub mod spec;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration as StdDuration;

use bollard::Docker;
use bollard::models::{ContainerInspectResponse, ContainerStateStatusEnum, HealthStatusEnum};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, EventsOptionsBuilder,
    ListContainersOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    StatsOptionsBuilder, StopContainerOptionsBuilder,
};
use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::runtime::{
    Adopt, Binding, BoxFuture, ContainerLaunch, ContainerReport, Launch, LiveContainer, Runtime,
    RuntimeError, RuntimeEvent, TaskNetwork,
};

pub use spec::{LABEL_CONTAINER, LABEL_INSTANCE, LABEL_ROLE, LABEL_TASK_ID as LABEL_TASK};

/// The pause image Berth builds locally (no registry needed).
pub const PAUSE_IMAGE: &str = "berth/pause:1";

/// How long a pull may take before the task fails to start.
const PULL_TIMEOUT: StdDuration = StdDuration::from_secs(300);

/// How long a stopped task's containers stay before they are removed: the agent's default
/// `ECS_ENGINE_TASK_CLEANUP_WAIT_DURATION`.
pub const DEFAULT_CLEANUP_WAIT: StdDuration = StdDuration::from_secs(3 * 3600);

#[derive(Debug)]
enum Msg {
    /// Stop every container (the task's desired status is STOPPED).
    Stop,
    /// The engine reported something about one of the task's containers.
    Engine { id: String },
    /// The event stream was re-established: inspect everything again.
    Resync,
}

struct Shared {
    docker: Docker,
    instance: String,
    metadata_url: OnceLock<String>,
    /// How long a stopped task's containers stay ([`DEFAULT_CLEANUP_WAIT`] when unset).
    cleanup_wait: OnceLock<StdDuration>,
    /// Set by [`Runtime::reset`]: what this generation's drivers still remove goes at once.
    retired: std::sync::atomic::AtomicBool,
    ports: &'static ports::HostPorts,
    queue: Mutex<Vec<RuntimeEvent>>,
    /// Task id → its driver's mailbox.
    tasks: Mutex<HashMap<String, mpsc::UnboundedSender<Msg>>>,
    /// Docker container id → task id.
    owners: Mutex<HashMap<String, String>>,
    /// Task id → its containers as they are now (for the task metadata endpoint).
    live: Mutex<HashMap<String, Vec<LiveContainer>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// Every container of this Berth instance, running or not.
    async fn owned(
        &self,
    ) -> Result<Vec<bollard::models::ContainerSummary>, bollard::errors::Error> {
        let mut filters = HashMap::new();
        filters.insert("label", vec![format!("{LABEL_INSTANCE}={}", self.instance)]);
        let opts = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        self.docker.list_containers(Some(opts)).await
    }

    /// Removes every container of this Berth instance, whatever its state.
    async fn remove_owned(&self) {
        let ids: Vec<String> = (self.owned().await.unwrap_or_default())
            .into_iter()
            .filter_map(|c| c.id)
            .collect();
        remove_containers(&self.docker, &ids).await;
    }

    async fn inspect(&self, id: &str) -> Result<ContainerInspectResponse, bollard::errors::Error> {
        self.docker
            .inspect_container(
                id,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
    }

    fn cleanup_wait(&self) -> StdDuration {
        self.cleanup_wait
            .get()
            .copied()
            .unwrap_or(DEFAULT_CLEANUP_WAIT)
    }

    /// Removes the containers `ids` (and their anonymous volumes) `after` from now: at once
    /// when it is zero, else from a timer that gives up when this runtime is gone. A timer
    /// lost that way, or with the process, is made up for by the next [`Runtime::adopt`].
    async fn remove_after(self: &Arc<Self>, ids: Vec<String>, after: StdDuration) {
        if ids.is_empty() {
            return;
        }
        if after.is_zero() || self.is_retired() {
            remove_containers(&self.docker, &ids).await;
            return;
        }
        let this = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            if let Some(s) = this.upgrade() {
                remove_containers(&s.docker, &ids).await;
            }
        });
    }

    fn push(&self, e: RuntimeEvent) {
        lock(&self.queue).push(e);
    }

    /// Whether a reset retired this generation (see [`Shared::created`]).
    fn is_retired(&self) -> bool {
        self.retired.load(std::sync::atomic::Ordering::Acquire)
    }

    /// A container this generation just created, or `Err` after removing it when a reset
    /// retired the generation meanwhile: the reset's sweep may have listed the containers
    /// before the engine finished this one, which would otherwise stay behind (`Created`,
    /// owned by nobody).
    async fn created(&self, id: &str) -> Result<(), String> {
        if self.is_retired() {
            remove_containers(&self.docker, &[id.to_string()]).await;
            return Err("the runtime was reset while the container was created".into());
        }
        Ok(())
    }
    fn report(&self, task_id: &str, report: ContainerReport) {
        self.push(RuntimeEvent::Container {
            task_id: task_id.to_string(),
            report,
        });
    }
}

/// Runs tasks as Docker containers. Cheap to share (clones share everything, a
/// [`Runtime::reset`] included); its drivers live on the tokio runtime that created it.
#[derive(Clone)]
pub struct DockerRuntime {
    /// The current generation: its drivers, their maps and event queue. A reset starts a new
    /// one, so what the old drivers still do and report reaches no task of the fresh cluster,
    /// whose ids can repeat the old ones (the seeded part always does).
    current: Arc<Mutex<Arc<Shared>>>,
    /// The engine's version as it answered when connected.
    version: Option<String>,
}

impl std::fmt::Debug for DockerRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerRuntime")
            .field("instance", &self.shared().instance)
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn new(docker: Docker, instance: String) -> Arc<Shared> {
        let shared = Arc::new(Shared {
            docker,
            instance,
            metadata_url: OnceLock::new(),
            cleanup_wait: OnceLock::new(),
            retired: std::sync::atomic::AtomicBool::new(false),
            ports: ports::HostPorts::process(),
            queue: Mutex::new(Vec::new()),
            tasks: Mutex::new(HashMap::new()),
            owners: Mutex::new(HashMap::new()),
            live: Mutex::new(HashMap::new()),
        });
        tokio::spawn(pump_events(Arc::downgrade(&shared)));
        shared
    }
}

impl DockerRuntime {
    /// Connects to the engine named by `DOCKER_HOST` or the usual local socket and checks it
    /// answers within 2 s; `instance` tells this Berth's containers from anyone else's.
    ///
    /// # Errors
    ///
    /// A sentence saying why no engine answered.
    pub async fn connect(instance: &str) -> Result<DockerRuntime, String> {
        let docker = Docker::connect_with_defaults()
            .map_err(|e| format!("cannot reach a Docker engine: {e}"))?;
        match tokio::time::timeout(StdDuration::from_secs(2), docker.ping()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(format!("the Docker engine does not answer: {e}")),
            Err(_) => return Err("the Docker engine did not answer within 2 s".into()),
        }
        let version = match tokio::time::timeout(StdDuration::from_secs(2), docker.version()).await
        {
            Ok(Ok(v)) => v.version,
            _ => None,
        };
        Ok(DockerRuntime {
            current: Arc::new(Mutex::new(Shared::new(docker, instance.to_string()))),
            version,
        })
    }

    fn shared(&self) -> Arc<Shared> {
        lock(&self.current).clone()
    }

    /// The gateway address of Docker's default `bridge` network: where containers reach the
    /// host (Berth serves the task metadata endpoint there).
    pub async fn bridge_gateway(&self) -> Option<IpAddr> {
        let net = self
            .shared()
            .docker
            .inspect_network(
                "bridge",
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
            .ok()?;
        let configs = net.ipam?.config?;
        for c in configs {
            if let Some(gw) = c.gateway.and_then(|g| g.parse().ok()) {
                return Some(gw);
            }
            // Docker 20.10 leaves the gateway out of the IPAM config: the first host of the
            // subnet is the bridge's address.
            if let Some(IpAddr::V4(net)) = c
                .subnet
                .and_then(|s| s.split('/').next().map(str::to_string))
                .and_then(|s| s.parse().ok())
            {
                let o = net.octets();
                return Some(IpAddr::from([o[0], o[1], o[2], o[3] | 1]));
            }
        }
        None
    }

    /// Removes every container (and task volume) this Berth instance owns: what a Berth
    /// without a data directory does when it stops, since nothing could re-adopt them.
    pub async fn remove_everything(&self) {
        self.shared().remove_owned().await;
    }

    /// How long a stopped task's containers stay on the engine before they are removed (zero:
    /// at once); set once, before the first task starts. [`DEFAULT_CLEANUP_WAIT`] otherwise.
    pub fn set_cleanup_wait(&self, wait: StdDuration) {
        let _ = self.shared().cleanup_wait.set(wait);
    }

    /// Where containers find the task metadata endpoint (`http://ADDR:PORT`); set once, before
    /// the first task starts.
    pub fn set_metadata_url(&self, url: String) {
        let _ = self.shared().metadata_url.set(url);
    }
}

/// Removes containers with their anonymous volumes, whatever state they are in; one that is
/// already gone is no error.
async fn remove_containers(docker: &Docker, ids: &[String]) {
    for id in ids {
        let opts = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        let _ = docker.remove_container(id, Some(opts)).await;
    }
}

/// Follows the engine's container events for this Berth's containers and hands each to the
/// task that owns the container; when the stream drops (dockerd restarting), reconnects with
/// backoff and asks every task to re-inspect its containers.
async fn pump_events(shared: std::sync::Weak<Shared>) {
    let mut backoff = StdDuration::from_millis(250);
    let mut first = true;
    loop {
        let Some(s) = shared.upgrade() else { return };
        let mut filters = HashMap::new();
        filters.insert("type", vec!["container".to_string()]);
        filters.insert("label", vec![format!("{LABEL_INSTANCE}={}", s.instance)]);
        let opts = EventsOptionsBuilder::default().filters(&filters).build();
        let docker = s.docker.clone();
        drop(s);
        let mut stream = docker.events(Some(opts));
        if !first {
            // Anything may have happened while the stream was down.
            if docker.ping().await.is_ok() {
                if let Some(s) = shared.upgrade() {
                    for tx in lock(&s.tasks).values() {
                        let _ = tx.send(Msg::Resync);
                    }
                }
                backoff = StdDuration::from_millis(250);
            }
        }
        first = false;
        while let Some(ev) = stream.next().await {
            let Ok(ev) = ev else { break };
            let Some(s) = shared.upgrade() else { return };
            let action = ev.action.unwrap_or_default();
            let Some(id) = ev.actor.and_then(|a| a.id) else {
                continue;
            };
            let wanted = action == "die" || action == "oom" || action.starts_with("health_status");
            if !wanted {
                continue;
            }
            let owner = lock(&s.owners).get(&id).cloned();
            if let Some(task) = owner
                && let Some(tx) = lock(&s.tasks).get(&task)
            {
                let _ = tx.send(Msg::Engine { id });
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(StdDuration::from_secs(5));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not created yet.
    Waiting,
    Running,
    Stopped,
}

struct Ctr {
    launch: ContainerLaunch,
    docker_name: String,
    id: Option<String>,
    phase: Phase,
    exit_code: Option<i32>,
    reason: Option<String>,
    health: Option<String>,
    created_at: Option<DateTime<Utc>>,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
    last_restart: Option<DateTime<Utc>>,
    bindings: Vec<Binding>,
    host_ports: Vec<spec::PortPlan>,
    logs: Option<tokio::task::JoinHandle<()>>,
}

impl Ctr {
    fn report(&self) -> ContainerReport {
        ContainerReport {
            name: self.launch.name.clone(),
            status: match self.phase {
                Phase::Waiting => "PENDING",
                Phase::Running => "RUNNING",
                Phase::Stopped => "STOPPED",
            }
            .into(),
            runtime_id: self.id.clone(),
            exit_code: self.exit_code,
            reason: self.reason.clone(),
            bindings: self.bindings.clone(),
            health: self.health.clone(),
            at: Utc::now(),
        }
    }
}

struct Driver {
    shared: Arc<Shared>,
    launch: Launch,
    rx: mpsc::UnboundedReceiver<Msg>,
    ctrs: Vec<Ctr>,
    deps: Vec<Vec<(usize, spec::Condition)>>,
    pause: Option<String>,
    /// The pause container's address (`awsvpc`), reported with RUNNING.
    network: Option<TaskNetwork>,
    /// Image reference → its id.
    image_ids: HashMap<String, String>,
    running_reported: bool,
    stopping: bool,
    health_reported: Option<bool>,
}

fn rand_hex20() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::with_capacity(20);
    while out.len() < 20 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(20);
    out
}

fn engine_error(name: &str, e: impl std::fmt::Display) -> String {
    let mut s = format!("{name}: {e}");
    if s.len() > 1024 {
        let mut cut = 1024;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

impl Driver {
    fn new(shared: Arc<Shared>, launch: Launch, rx: mpsc::UnboundedReceiver<Msg>) -> Driver {
        let ctrs = launch
            .containers
            .iter()
            .map(|c| Ctr {
                docker_name: spec::docker_name(
                    &launch.family,
                    launch.revision,
                    &c.name,
                    &rand_hex20(),
                ),
                launch: c.clone(),
                id: None,
                phase: Phase::Waiting,
                exit_code: None,
                reason: None,
                health: c.health_check.then(|| "UNKNOWN".to_string()),
                created_at: None,
                started_at: None,
                finished_at: None,
                last_restart: None,
                bindings: Vec::new(),
                host_ports: Vec::new(),
                logs: None,
            })
            .collect();
        Driver {
            shared,
            launch,
            rx,
            ctrs,
            deps: Vec::new(),
            pause: None,
            network: None,
            image_ids: HashMap::new(),
            running_reported: false,
            stopping: false,
            health_reported: None,
        }
    }

    fn task_id(&self) -> String {
        self.launch.task_id.clone()
    }

    /// Shares the containers' current state with the task metadata endpoint.
    fn publish(&self) {
        let live = self
            .ctrs
            .iter()
            .map(|c| LiveContainer {
                name: c.launch.name.clone(),
                docker_id: c.id.clone().unwrap_or_default(),
                docker_name: c.docker_name.clone(),
                image_id: self.image_ids.get(&c.launch.image).cloned(),
                known_status: match (c.phase, &c.id) {
                    (Phase::Waiting, Some(_)) => "CREATED",
                    (Phase::Waiting, None) => "NONE",
                    (Phase::Running, _) => "RUNNING",
                    (Phase::Stopped, _) => "STOPPED",
                }
                .into(),
                created_at: c.created_at,
                started_at: c.started_at,
                finished_at: c.finished_at,
                exit_code: c.exit_code,
            })
            .collect();
        lock(&self.shared.live).insert(self.task_id(), live);
    }

    fn start_failed(&mut self, reason: String) {
        for c in &mut self.ctrs {
            if c.phase != Phase::Stopped {
                c.phase = Phase::Stopped;
                c.reason.get_or_insert_with(|| reason.clone());
            }
        }
        for c in &self.ctrs {
            self.shared.report(&self.launch.task_id, c.report());
        }
        self.shared.push(RuntimeEvent::StartFailed {
            task_id: self.task_id(),
            at: Utc::now(),
            reason,
        });
    }

    /// Makes every image present, pulling the missing ones.
    async fn images(&mut self) -> Result<(), String> {
        let mut images: Vec<String> = self.ctrs.iter().map(|c| c.launch.image.clone()).collect();
        images.sort();
        images.dedup();
        for image in images {
            if let Ok(info) = self.shared.docker.inspect_image(&image).await {
                if let Some(id) = info.id {
                    self.image_ids.insert(image, id);
                }
                continue;
            }
            let (from, tag) = split_image(&image);
            let opts = CreateImageOptionsBuilder::default()
                .from_image(from)
                .tag(tag)
                .build();
            let pull = async {
                let mut s = self.shared.docker.create_image(Some(opts), None, None);
                while let Some(r) = s.next().await {
                    r?;
                }
                Ok::<(), bollard::errors::Error>(())
            };
            let err = match tokio::time::timeout(PULL_TIMEOUT, pull).await {
                Ok(Ok(())) => {
                    if let Ok(Some(id)) =
                        self.shared.docker.inspect_image(&image).await.map(|i| i.id)
                    {
                        self.image_ids.insert(image, id);
                    }
                    continue;
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("timed out after {} s", PULL_TIMEOUT.as_secs()),
            };
            let reason = engine_error(
                "CannotPullContainerError",
                format!(
                    "pull image manifest has been retried 1 time(s): failed to resolve ref {image}: {err}"
                ),
            );
            for c in &mut self.ctrs {
                if c.launch.image == image {
                    c.reason = Some(reason.clone());
                }
            }
            return Err(reason);
        }
        Ok(())
    }

    /// The pause container of an `awsvpc` task: owns the network namespace and publishes every
    /// container's ports on 127.0.0.1.
    async fn start_pause(&mut self) -> Result<(), String> {
        ensure_pause_image(&self.shared.docker).await?;
        let mut plans = Vec::new();
        for i in 0..self.ctrs.len() {
            let p = self.plan_ports(i)?;
            // In awsvpc the container sees its own port; the host port is published on the
            // pause container.
            self.ctrs[i].host_ports = p.clone();
            plans.extend(p);
        }
        let body = spec::render_pause(&self.launch, &self.shared.instance, PAUSE_IMAGE, &plans);
        let name = format!(
            "ecs-{}-{}-internalecspause-{}",
            self.launch
                .family
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect::<String>(),
            self.launch.revision,
            rand_hex20()
        );
        let opts = CreateContainerOptionsBuilder::default().name(&name).build();
        let created = self
            .shared
            .docker
            .create_container(Some(opts), body)
            .await
            .map_err(|e| engine_error("CannotCreateContainerError", e))?;
        self.shared.created(&created.id).await?;
        lock(&self.shared.owners).insert(created.id.clone(), self.task_id());
        self.pause = Some(created.id.clone());
        self.shared
            .docker
            .start_container(
                &created.id,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
            .map_err(|e| engine_error("CannotStartContainerError", e))?;
        // An address the engine could not tell only costs the task its ENI details.
        if let Ok(info) = self.inspect(&created.id).await {
            self.network = pause::pause_network(&info);
        }
        Ok(())
    }

    /// Host ports for container `i`: explicit ones as given, dynamic ones picked as the agent
    /// picks them.
    fn plan_ports(&self, i: usize) -> Result<Vec<spec::PortPlan>, String> {
        let mut wanted = spec::wanted_ports(&self.ctrs[i].launch.definition);
        if self.launch.network_mode == "awsvpc" {
            // Its hostPort only repeats the container port, which several local tasks could
            // not all have: the pause container publishes a picked port instead.
            for w in &mut wanted {
                w.host_port = None;
            }
        }
        self.shared.ports.assign(&wanted)
    }

    fn net_plan(&self) -> spec::NetMode {
        spec::NetMode::of_task(
            &self.launch.network_mode,
            self.pause.as_deref().unwrap_or_default(),
        )
    }

    /// Creates and starts container `i`.
    async fn start_container(&mut self, i: usize) {
        let result = self.try_start(i).await;
        let c = &mut self.ctrs[i];
        match result {
            Ok(()) => {
                c.phase = Phase::Running;
            }
            Err(reason) => {
                c.phase = Phase::Stopped;
                c.finished_at = Some(Utc::now());
                c.reason = Some(reason);
            }
        }
        self.shared
            .report(&self.launch.task_id, self.ctrs[i].report());
        self.publish();
        if self.ctrs[i].phase == Phase::Running {
            self.follow_logs(i, None);
        }
    }

    async fn try_start(&mut self, i: usize) -> Result<(), String> {
        if self.pause.is_none() && self.launch.network_mode != "awsvpc" {
            let plans = self.plan_ports(i)?;
            self.ctrs[i].host_ports = plans;
        }
        let names: HashMap<String, String> = self
            .ctrs
            .iter()
            .map(|c| (c.launch.name.clone(), c.docker_name.clone()))
            .collect();
        let net = self.net_plan();
        let metadata = self
            .shared
            .metadata_url
            .get()
            .map(|base| format!("{base}/v4/{}", self.ctrs[i].launch.metadata_token));
        let publish: &[spec::PortPlan] = if matches!(net, spec::NetMode::Bridge) {
            &self.ctrs[i].host_ports
        } else {
            &[]
        };
        let body = spec::render(
            &self.launch,
            &self.ctrs[i].launch,
            &spec::TaskContext {
                instance: self.shared.instance.clone(),
                network: net,
                docker_names: names,
            },
            publish,
            metadata.as_deref(),
        );
        let opts = CreateContainerOptionsBuilder::default()
            .name(&self.ctrs[i].docker_name)
            .build();
        let created = self
            .shared
            .docker
            .create_container(Some(opts), body)
            .await
            .map_err(|e| engine_error("CannotCreateContainerError", e))?;
        let id = created.id;
        self.shared.created(&id).await?;
        lock(&self.shared.owners).insert(id.clone(), self.task_id());
        self.ctrs[i].id = Some(id.clone());
        self.ctrs[i].created_at = Some(Utc::now());
        // Its process may ask the metadata endpoint about itself before start returns.
        self.ctrs[i].started_at = Some(Utc::now());
        self.ctrs[i].phase = Phase::Running;
        self.publish();
        let started = self
            .shared
            .docker
            .start_container(
                &id,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await;
        if let Err(e) = started {
            self.ctrs[i].started_at = None;
            return Err(engine_error("CannotStartContainerError", e));
        }
        self.refresh_bindings(i).await;
        Ok(())
    }

    /// Network bindings as ECS reports them: what Docker bound (bridge), or the ports the
    /// pause container publishes (awsvpc).
    async fn refresh_bindings(&mut self, i: usize) {
        let c = &self.ctrs[i];
        let mut out = Vec::new();
        if self.pause.is_some() || self.launch.network_mode == "awsvpc" {
            for p in &c.host_ports {
                out.push(Binding {
                    bind_ip: "127.0.0.1".into(),
                    container_port: p.container_port,
                    host_port: p.host_port,
                    protocol: p.protocol.clone(),
                });
            }
        } else if let Some(id) = &c.id
            && let Ok(info) = self.inspect(id).await
        {
            let ports = info
                .network_settings
                .and_then(|n| n.ports)
                .unwrap_or_default();
            let mut sorted: BTreeMap<String, _> = ports.into_iter().collect();
            for (key, bound) in std::mem::take(&mut sorted) {
                let (port, proto) = key.split_once('/').unwrap_or((key.as_str(), "tcp"));
                let Ok(container_port) = port.parse::<i32>() else {
                    continue;
                };
                for b in bound.unwrap_or_default() {
                    let Some(host_port) = b.host_port.and_then(|p| p.parse::<i32>().ok()) else {
                        continue;
                    };
                    out.push(Binding {
                        bind_ip: b.host_ip.unwrap_or_else(|| "127.0.0.1".into()),
                        container_port,
                        host_port,
                        protocol: proto.to_string(),
                    });
                }
            }
        }
        self.ctrs[i].bindings = out;
    }

    async fn inspect(&self, id: &str) -> Result<ContainerInspectResponse, bollard::errors::Error> {
        self.shared.inspect(id).await
    }

    /// Streams container `i`'s output into its `awslogs` stream.
    fn follow_logs(&mut self, i: usize, since: Option<DateTime<Utc>>) {
        let c = &mut self.ctrs[i];
        let (Some((group, stream)), Some(id)) = (c.launch.awslogs.clone(), c.id.clone()) else {
            return;
        };
        if c.logs.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        let shared = self.shared.clone();
        let task_id = self.launch.task_id.clone();
        c.logs = Some(tokio::spawn(async move {
            let mut b = LogsOptionsBuilder::default()
                .follow(true)
                .stdout(true)
                .stderr(true)
                .timestamps(true);
            if let Some(s) = since {
                b = b.since(i32::try_from(s.timestamp()).unwrap_or(0));
            }
            let mut s = shared.docker.logs(&id, Some(b.build()));
            let mut partial = String::new();
            while let Some(Ok(chunk)) = s.next().await {
                partial.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
                let mut lines = Vec::new();
                while let Some(nl) = partial.find('\n') {
                    let line: String = partial.drain(..=nl).collect();
                    lines.push(parse_log_line(line.trim_end_matches(['\n', '\r'])));
                }
                if !lines.is_empty() {
                    shared.push(RuntimeEvent::Logs {
                        task_id: task_id.clone(),
                        group: group.clone(),
                        stream: stream.clone(),
                        lines,
                    });
                }
            }
            if !partial.is_empty() {
                shared.push(RuntimeEvent::Logs {
                    task_id,
                    group,
                    stream,
                    lines: vec![parse_log_line(&partial)],
                });
            }
        }));
    }

    /// Whether container `i` may start now: `Ok(true)` yes, `Ok(false)` not yet, `Err` never
    /// (a terminal dependency error, with the reason).
    fn ready(&self, i: usize) -> Result<bool, String> {
        let now = Utc::now();
        for &(d, cond) in &self.deps[i] {
            let dep = &self.ctrs[d];
            let timeout = dep.launch.definition.start_timeout.filter(|t| *t > 0);
            let peer = spec::PeerState {
                created: dep.id.is_some(),
                started: dep.started_at.is_some(),
                stopped: dep.phase == Phase::Stopped,
                exit_code: dep.exit_code,
                healthy: dep.health.as_deref() == Some("HEALTHY"),
                timed_out: match (timeout, dep.started_at) {
                    (Some(t), Some(at)) => now - at > Duration::seconds(i64::from(t)),
                    _ => false,
                },
            };
            match spec::gate(&self.ctrs[i].launch.name, &dep.launch.name, cond, &peer) {
                spec::Gate::Go => {}
                spec::Gate::Wait => return Ok(false),
                spec::Gate::Fail(reason) => return Err(reason),
            }
        }
        Ok(true)
    }

    /// Starts what can start; marks what never will. Returns whether anything changed.
    async fn progress(&mut self) -> bool {
        let mut changed = false;
        for i in 0..self.ctrs.len() {
            if self.stopping || self.ctrs[i].phase != Phase::Waiting {
                continue;
            }
            match self.ready(i) {
                Ok(true) => {
                    self.start_container(i).await;
                    changed = true;
                    if self.ctrs[i].phase == Phase::Stopped && self.ctrs[i].launch.essential {
                        self.essential_exited(i);
                        return true;
                    }
                }
                Ok(false) => {}
                Err(reason) => {
                    let c = &mut self.ctrs[i];
                    c.phase = Phase::Stopped;
                    c.exit_code = Some(143);
                    c.reason = Some(reason);
                    self.shared
                        .report(&self.launch.task_id, self.ctrs[i].report());
                    changed = true;
                    if self.ctrs[i].launch.essential {
                        self.essential_exited(i);
                        return true;
                    }
                }
            }
        }
        if !self.running_reported
            && !self.stopping
            && self.ctrs.iter().all(|c| c.phase != Phase::Waiting)
            && self.ctrs.iter().any(|c| c.phase == Phase::Running)
        {
            self.running_reported = true;
            self.shared.push(RuntimeEvent::Running {
                task_id: self.task_id(),
                at: Utc::now(),
                network: self.network.clone(),
            });
        }
        changed
    }

    /// An essential container stopped: the task stops (the others in reverse order).
    fn essential_exited(&mut self, i: usize) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        self.shared.push(RuntimeEvent::Exited {
            task_id: self.task_id(),
            at: Utc::now(),
            container: self.ctrs[i].launch.name.clone(),
            exit_code: self.ctrs[i].exit_code.unwrap_or(0),
        });
    }

    /// A container may have changed: inspect it and react.
    async fn observe(&mut self, i: usize) {
        let Some(id) = self.ctrs[i].id.clone() else {
            return;
        };
        if self.ctrs[i].phase != Phase::Running {
            return;
        }
        let info = match self.inspect(&id).await {
            Ok(info) => info,
            Err(e) if is_not_found(&e) => {
                let c = &mut self.ctrs[i];
                c.phase = Phase::Stopped;
                c.reason =
                    Some("ContainerVanishedError: No container matching saved ID found".into());
                self.after_stop(i).await;
                return;
            }
            Err(_) => return,
        };
        let state = info.state.unwrap_or_default();
        let health = state
            .health
            .as_ref()
            .and_then(|h| h.status)
            .and_then(|s| match s {
                HealthStatusEnum::HEALTHY => Some("HEALTHY"),
                HealthStatusEnum::UNHEALTHY => Some("UNHEALTHY"),
                _ => None,
            });
        let running = matches!(
            state.status,
            Some(ContainerStateStatusEnum::RUNNING | ContainerStateStatusEnum::RESTARTING)
        ) || state.running == Some(true);
        if let Some(h) = health
            && self.ctrs[i].launch.health_check
            && self.ctrs[i].health.as_deref() != Some(h)
        {
            self.ctrs[i].health = Some(h.to_string());
            self.shared
                .report(&self.launch.task_id, self.ctrs[i].report());
            self.report_task_health();
        }
        if running {
            return;
        }
        let c = &mut self.ctrs[i];
        c.exit_code = state.exit_code.and_then(|c| i32::try_from(c).ok());
        if state.oom_killed == Some(true) {
            c.reason = Some("OutOfMemoryError: Container killed due to memory usage".into());
        } else if let Some(err) = state.error.filter(|e| !e.is_empty()) {
            c.reason = Some(engine_error("DockerStateError", err));
        }
        c.phase = Phase::Stopped;
        if self.try_restart(i).await {
            return;
        }
        self.after_stop(i).await;
    }

    /// `restartPolicy`: restarts the same container unless the policy says not to.
    async fn try_restart(&mut self, i: usize) -> bool {
        let c = &self.ctrs[i];
        let Some(policy) = c.launch.definition.restart_policy.as_ref() else {
            return false;
        };
        if self.stopping || !policy.enabled.unwrap_or(false) {
            return false;
        }
        let Some(code) = c.exit_code else {
            return false;
        };
        if policy
            .ignored_exit_codes
            .as_ref()
            .is_some_and(|codes| codes.contains(&code))
        {
            return false;
        }
        let period = Duration::seconds(i64::from(policy.restart_attempt_period.unwrap_or(300)));
        let since = c.last_restart.or(c.started_at).unwrap_or_else(Utc::now);
        if Utc::now() - since < period {
            return false;
        }
        let Some(id) = c.id.clone() else { return false };
        if self
            .shared
            .docker
            .start_container(
                &id,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
            .is_err()
        {
            return false;
        }
        let c = &mut self.ctrs[i];
        c.phase = Phase::Running;
        c.exit_code = None;
        c.reason = None;
        c.last_restart = Some(Utc::now());
        c.finished_at = None;
        self.follow_logs(i, Some(Utc::now()));
        self.publish();
        true
    }

    async fn after_stop(&mut self, i: usize) {
        self.ctrs[i].finished_at.get_or_insert_with(Utc::now);
        self.shared
            .report(&self.launch.task_id, self.ctrs[i].report());
        self.publish();
        if self.ctrs[i].launch.essential {
            self.essential_exited(i);
        }
    }

    fn report_task_health(&mut self) {
        let checked: Vec<&Ctr> = self
            .ctrs
            .iter()
            .filter(|c| c.launch.essential && c.launch.health_check)
            .collect();
        if checked.is_empty() {
            return;
        }
        let healthy = if checked
            .iter()
            .any(|c| c.health.as_deref() == Some("UNHEALTHY"))
        {
            Some(false)
        } else if checked
            .iter()
            .all(|c| c.health.as_deref() == Some("HEALTHY"))
        {
            Some(true)
        } else {
            None
        };
        if let Some(h) = healthy
            && self.health_reported != Some(h)
        {
            self.health_reported = Some(h);
            self.shared.push(RuntimeEvent::Health {
                task_id: self.task_id(),
                healthy: h,
            });
        }
    }

    /// Stops every container in reverse dependency order, each with its stop timeout, then
    /// reports the task stopped and removes its containers.
    async fn stop_all(&mut self) {
        self.stopping = true;
        let waves = spec::shutdown_order(&self.deps);
        for wave in waves {
            let mut pending = Vec::new();
            for i in wave {
                let c = &self.ctrs[i];
                match (c.phase, c.id.clone()) {
                    (Phase::Running, Some(id)) => {
                        let t = i32::try_from(spec::stop_timeout(&c.launch.definition).as_secs())
                            .unwrap_or(30);
                        let docker = self.shared.docker.clone();
                        pending.push((
                            i,
                            tokio::spawn(async move {
                                let opts = StopContainerOptionsBuilder::default().t(t).build();
                                docker.stop_container(&id, Some(opts)).await
                            }),
                        ));
                    }
                    (Phase::Waiting, _) => {
                        self.ctrs[i].phase = Phase::Stopped;
                        self.shared
                            .report(&self.launch.task_id, self.ctrs[i].report());
                    }
                    _ => {}
                }
            }
            for (i, h) in pending {
                let _ = h.await;
                if let Some(id) = self.ctrs[i].id.clone()
                    && let Ok(info) = self.inspect(&id).await
                {
                    let state = info.state.unwrap_or_default();
                    let c = &mut self.ctrs[i];
                    c.exit_code = state.exit_code.and_then(|c| i32::try_from(c).ok());
                    if state.oom_killed == Some(true) {
                        c.reason =
                            Some("OutOfMemoryError: Container killed due to memory usage".into());
                    }
                }
                self.ctrs[i].phase = Phase::Stopped;
                self.ctrs[i].finished_at.get_or_insert_with(Utc::now);
                self.shared
                    .report(&self.launch.task_id, self.ctrs[i].report());
            }
        }
        self.publish();
        // Let the log followers drain what the containers printed last.
        for c in &mut self.ctrs {
            if let Some(h) = c.logs.take() {
                let _ = tokio::time::timeout(StdDuration::from_secs(2), h).await;
            }
        }
        let exit_code = self
            .ctrs
            .iter()
            .find(|c| c.launch.essential)
            .and_then(|c| c.exit_code)
            .unwrap_or(0);
        // The pause container outlives the others: stopped before the task is reported
        // STOPPED, so nothing of a stopped task runs or holds a port while it is kept.
        if let Some(pause) = &self.pause {
            let opts = StopContainerOptionsBuilder::default().t(0).build();
            let _ = self.shared.docker.stop_container(pause, Some(opts)).await;
        }
        self.shared.push(RuntimeEvent::Stopped {
            task_id: self.task_id(),
            at: Utc::now(),
            exit_code,
        });
        let wait = self.shared.cleanup_wait();
        self.remove_all(wait).await;
    }

    /// Removes the task's containers, the pause container included, `after` from now.
    async fn remove_all(&mut self, after: StdDuration) {
        let ids: Vec<String> = self
            .ctrs
            .iter()
            .filter_map(|c| c.id.clone())
            .chain(self.pause.clone())
            .collect();
        for id in &ids {
            lock(&self.shared.owners).remove(id);
        }
        self.shared.remove_after(ids, after).await;
    }

    /// Runs the task to its end.
    async fn run(mut self, adopted: Option<Adopted>) {
        match spec::dependencies(&self.launch.task_arn, &self.launch.containers) {
            Ok(d) => self.deps = d,
            Err(reason) => return self.finish_failed(reason).await,
        }
        if let Some(reason) = self.launch.refusal.clone() {
            return self.finish_failed(reason).await;
        }
        let mut stop_requested = false;
        if let Some(a) = adopted {
            self.resume(a).await;
            stop_requested = self.stopping;
        } else {
            self.shared.push(RuntimeEvent::Pending {
                task_id: self.task_id(),
                at: Utc::now(),
            });
            if let Err(reason) = self.images().await {
                return self.finish_failed(reason).await;
            }
            if self.launch.network_mode == "awsvpc"
                && let Err(reason) = self.start_pause().await
            {
                // Nothing of the task ran: nothing to look at later.
                self.remove_all(StdDuration::ZERO).await;
                return self.finish_failed(reason).await;
            }
            if let Some(network) = self.network.clone() {
                self.shared.push(RuntimeEvent::Attached {
                    task_id: self.task_id(),
                    network,
                });
            }
        }
        if !stop_requested {
            self.progress().await;
        }
        let mut ticks: u64 = 0;
        let mut tick = tokio::time::interval(StdDuration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if self.stopping || stop_requested {
                break;
            }
            tokio::select! {
                msg = self.rx.recv() => match msg {
                    None | Some(Msg::Stop) => { stop_requested = true; }
                    Some(Msg::Engine { id }) => {
                        if let Some(i) = self.ctrs.iter().position(|c| c.id.as_deref() == Some(id.as_str())) {
                            self.observe(i).await;
                        }
                    }
                    Some(Msg::Resync) => {
                        for i in 0..self.ctrs.len() { self.observe(i).await; }
                    }
                },
                _ = tick.tick() => {
                    ticks += 1;
                    if ticks % USAGE_EVERY_TICKS == 0 {
                        self.sample_usage();
                    }
                    // Health and dependency timers are re-checked every second; exits come
                    // from events, this only catches what a dropped stream missed.
                    for i in 0..self.ctrs.len() {
                        if self.ctrs[i].launch.health_check && self.ctrs[i].phase == Phase::Running {
                            self.observe(i).await;
                        }
                    }
                }
            }
            if !self.stopping {
                self.progress().await;
            }
        }
        self.stop_all().await;
        lock(&self.shared.tasks).remove(&self.launch.task_id);
        lock(&self.shared.live).remove(&self.launch.task_id);
    }

    /// Measures the task's CPU and memory from the engine's stats, in the background.
    fn sample_usage(&self) {
        let ids: Vec<String> = self
            .ctrs
            .iter()
            .filter(|c| c.phase == Phase::Running)
            .filter_map(|c| c.id.clone())
            .collect();
        if ids.is_empty() {
            return;
        }
        let shared = self.shared.clone();
        let task_id = self.task_id();
        tokio::spawn(async move {
            let (mut cpu, mut mem) = (0.0, 0.0);
            for id in ids {
                let opts = StatsOptionsBuilder::default()
                    .stream(false)
                    .one_shot(false)
                    .build();
                let mut s = shared.docker.stats(&id, Some(opts));
                if let Some(Ok(st)) = s.next().await
                    && let Ok(v) = serde_json::to_value(st)
                {
                    let (c, m) = usage_of(&v);
                    cpu += c;
                    mem += m;
                }
            }
            shared.push(RuntimeEvent::Usage {
                task_id,
                cpu_units: cpu,
                memory_mib: mem,
            });
        });
    }

    async fn finish_failed(&mut self, reason: String) {
        // The task's stoppedReason says it too; the log is where someone watching the server
        // (or a test that failed) looks first.
        tracing::warn!(task = %self.launch.task_id, %reason, "task failed to start");
        self.start_failed(reason);
        lock(&self.shared.tasks).remove(&self.launch.task_id);
        lock(&self.shared.live).remove(&self.launch.task_id);
    }

    /// Takes over containers a previous Berth started.
    async fn resume(&mut self, a: Adopted) {
        self.pause = a.pause;
        self.network = a.network;
        self.running_reported = a.running;
        for i in 0..self.ctrs.len() {
            let name = self.ctrs[i].launch.name.clone();
            let Some((id, docker_name)) = a.containers.get(&name).cloned() else {
                if a.running {
                    let c = &mut self.ctrs[i];
                    c.phase = Phase::Stopped;
                    c.reason =
                        Some("ContainerVanishedError: No container matching saved ID found".into());
                    self.after_stop(i).await;
                }
                continue;
            };
            lock(&self.shared.owners).insert(id.clone(), self.task_id());
            self.ctrs[i].id = Some(id.clone());
            self.ctrs[i].docker_name = docker_name;
            self.ctrs[i].phase = Phase::Running;
            self.ctrs[i].started_at = Some(Utc::now());
            if self.pause.is_some() {
                self.ctrs[i].host_ports = a.ports.get(&name).cloned().unwrap_or_default();
            }
            self.refresh_bindings(i).await;
            self.observe(i).await;
            if self.ctrs[i].phase == Phase::Running {
                self.shared
                    .report(&self.launch.task_id, self.ctrs[i].report());
                self.follow_logs(i, Some(Utc::now()));
            }
        }
        if a.stopping {
            self.stopping = true;
        }
        self.publish();
    }
}

/// What a restarted Berth found of a task on the engine.
#[derive(Debug, Default)]
struct Adopted {
    running: bool,
    stopping: bool,
    pause: Option<String>,
    /// Container name → (docker id, docker name).
    containers: HashMap<String, (String, String)>,
    /// Container name → its published ports (awsvpc, from the pause container).
    ports: HashMap<String, Vec<spec::PortPlan>>,
    /// The pause container's address (awsvpc).
    network: Option<TaskNetwork>,
}

/// How often (in driver ticks of 1 s) a running task's usage is measured.
const USAGE_EVERY_TICKS: u64 = 15;

/// CPU units (1024 per CPU) and MiB a container uses, from Docker's stats JSON: the CPU
/// share of the host between the two samples it carries, times the online CPUs; memory
/// without the page cache (cgroup v1 `cache`, v2 `inactive_file`), as `docker stats` shows.
fn usage_of(v: &Value) -> (f64, f64) {
    let f = |p: &str| v.pointer(p).and_then(Value::as_f64).unwrap_or(0.0);
    let cpu_delta =
        f("/cpu_stats/cpu_usage/total_usage") - f("/precpu_stats/cpu_usage/total_usage");
    let sys_delta = f("/cpu_stats/system_cpu_usage") - f("/precpu_stats/system_cpu_usage");
    let online = v
        .pointer("/cpu_stats/online_cpus")
        .and_then(Value::as_f64)
        .filter(|n| *n > 0.0)
        .unwrap_or(1.0);
    let cpu = if cpu_delta > 0.0 && sys_delta > 0.0 {
        cpu_delta / sys_delta * online * 1024.0
    } else {
        0.0
    };
    let cache = v
        .pointer("/memory_stats/stats/inactive_file")
        .or_else(|| v.pointer("/memory_stats/stats/cache"))
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let mem = (f("/memory_stats/usage") - cache).max(0.0) / (1024.0 * 1024.0);
    (cpu, mem)
}

fn split_image(image: &str) -> (&str, &str) {
    if image.contains('@') {
        return (image, "");
    }
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (image, "latest"),
    }
}

/// One line of `docker logs --timestamps`: `2024-01-01T00:00:00.000000000Z text`.
fn parse_log_line(line: &str) -> (DateTime<Utc>, String) {
    if let Some((ts, rest)) = line.split_once(' ')
        && let Ok(t) = DateTime::parse_from_rfc3339(ts)
    {
        return (t.with_timezone(&Utc), rest.to_string());
    }
    (Utc::now(), line.to_string())
}

/// Builds [`PAUSE_IMAGE`] when the engine lacks it: a 129-byte static x86-64 ELF that calls
/// `pause()` forever, imported from a one-file tarball (nothing is pulled).
async fn ensure_pause_image(docker: &Docker) -> Result<(), String> {
    if docker.inspect_image(PAUSE_IMAGE).await.is_ok() {
        return Ok(());
    }
    let (repo, tag) = split_image(PAUSE_IMAGE);
    let opts = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(repo)
        .tag(tag)
        .changes(vec![r#"ENTRYPOINT ["/pause"]"#.to_string()])
        .build();
    let tar = pause::pause_tarball();
    let mut s = docker.create_image(
        Some(opts),
        Some(bollard::body_full(bytes::Bytes::from(tar))),
        None,
    );
    while let Some(r) = s.next().await {
        r.map_err(|e| {
            engine_error(
                "ResourceInitializationError",
                format!("cannot build the pause image: {e}"),
            )
        })?;
    }
    Ok(())
}

impl Runtime for DockerRuntime {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn runs_containers(&self) -> bool {
        true
    }

    fn docker_version(&self) -> Option<String> {
        self.version.as_ref().map(|v| format!("DockerVersion: {v}"))
    }

    fn start(
        &self,
        launch: Launch,
        _now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<(), RuntimeError>> {
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.shared().tasks).insert(launch.task_id.clone(), tx);
        let driver = Driver::new(self.shared(), launch, rx);
        tokio::spawn(driver.run(None));
        Box::pin(async { Ok(()) })
    }

    fn stop(
        &self,
        task_id: String,
        _grace: Duration,
        _now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<(), RuntimeError>> {
        let sent = lock(&self.shared().tasks)
            .get(&task_id)
            .map(|tx| tx.send(Msg::Stop).is_ok())
            .unwrap_or(false);
        Box::pin(async move {
            if sent {
                Ok(())
            } else {
                Err(RuntimeError::UnknownTask(task_id))
            }
        })
    }

    fn live(&self, task_id: &str) -> Vec<LiveContainer> {
        lock(&self.shared().live)
            .get(task_id)
            .cloned()
            .unwrap_or_default()
    }

    fn stats(&self, ids: Vec<String>) -> BoxFuture<'_, HashMap<String, Value>> {
        Box::pin(async move {
            let mut out = HashMap::new();
            for id in ids {
                let opts = StatsOptionsBuilder::default()
                    .stream(false)
                    .one_shot(false)
                    .build();
                let mut s = self.shared().docker.stats(&id, Some(opts));
                if let Some(Ok(st)) = s.next().await
                    && let Ok(v) = serde_json::to_value(st)
                {
                    out.insert(id, v);
                }
            }
            out
        })
    }

    fn reset(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let old = {
                let mut current = lock(&self.current);
                let fresh = Shared::new(current.docker.clone(), current.instance.clone());
                if let Some(url) = current.metadata_url.get() {
                    let _ = fresh.metadata_url.set(url.clone());
                }
                if let Some(wait) = current.cleanup_wait.get() {
                    let _ = fresh.cleanup_wait.set(*wait);
                }
                std::mem::replace(&mut *current, fresh)
            };
            old.retired
                .store(true, std::sync::atomic::Ordering::Release);
            // Their mailboxes closed, the old drivers stop what is left; what they report
            // goes to the old queue, which no one reads.
            lock(&old.tasks).clear();
            old.remove_owned().await;
        })
    }

    fn events(&self, _now: DateTime<Utc>) -> BoxFuture<'_, Vec<RuntimeEvent>> {
        let out = std::mem::take(&mut *lock(&self.shared().queue));
        Box::pin(async move { out })
    }

    fn adopt(
        &self,
        tasks: Vec<Adopt>,
        _now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<(), RuntimeError>> {
        Box::pin(async move {
            let shared = self.shared();
            let found = shared
                .owned()
                .await
                .map_err(|e| RuntimeError::Engine(e.to_string()))?;
            let mut by_task: HashMap<String, Adopted> = HashMap::new();
            let mut all_ids = Vec::new();
            for c in found {
                let labels = c.labels.unwrap_or_default();
                let (Some(id), Some(task)) = (c.id, labels.get(LABEL_TASK)) else {
                    continue;
                };
                all_ids.push((task.clone(), id.clone()));
                let entry = by_task.entry(task.clone()).or_default();
                if labels.get(LABEL_ROLE).map(String::as_str) == Some("pause") {
                    entry.pause = Some(id);
                } else if let Some(name) = labels.get(LABEL_CONTAINER) {
                    let docker_name = c
                        .names
                        .and_then(|n| n.into_iter().next())
                        .map(|n| n.trim_start_matches('/').to_string())
                        .unwrap_or_default();
                    entry.containers.insert(name.clone(), (id, docker_name));
                }
            }
            let wanted: std::collections::HashSet<String> =
                tasks.iter().map(|a| a.launch.task_id.clone()).collect();
            // Containers of tasks the cluster no longer runs: a stopped task's, kept until the
            // cleanup wait has passed since they exited; any that still runs (Berth stopped
            // before it could stop them) goes at once with the rest of its task's.
            let mut orphans: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (task, id) in all_ids {
                if !wanted.contains(&task) {
                    orphans.entry(task).or_default().push(id);
                }
            }
            let wait = shared.cleanup_wait();
            for ids in orphans.into_values() {
                // When the task's last container exited (or was created, for one that never
                // ran: Docker's FinishedAt is then year 1).
                let mut finished: Option<DateTime<Utc>> = None;
                let mut running = false;
                for id in &ids {
                    let Ok(info) = shared.inspect(id).await else {
                        continue;
                    };
                    let state = info.state.unwrap_or_default();
                    running |= state.running == Some(true);
                    let at = [state.finished_at, info.created]
                        .into_iter()
                        .flatten()
                        .filter_map(|t| DateTime::parse_from_rfc3339(&t).ok())
                        .map(|t| t.with_timezone(&Utc))
                        .find(|t| t.timestamp() > 0);
                    finished = finished.max(at);
                }
                let left = match finished {
                    Some(at) if !running => at
                        .checked_add_signed(Duration::from_std(wait).unwrap_or(Duration::MAX))
                        .map_or(wait, |end| (end - Utc::now()).to_std().unwrap_or_default()),
                    _ => StdDuration::ZERO,
                };
                shared.remove_after(ids, left).await;
            }
            for a in tasks {
                let mut adopted = by_task.remove(&a.launch.task_id).unwrap_or_default();
                adopted.running = a.running;
                adopted.stopping = a.stopping;
                if let Some(pause) = &adopted.pause
                    && let Ok(info) = shared.inspect(pause).await
                {
                    adopted.ports = pause::pause_ports(&a.launch, &info);
                    adopted.network = pause::pause_network(&info);
                }
                let (tx, rx) = mpsc::unbounded_channel();
                lock(&shared.tasks).insert(a.launch.task_id.clone(), tx);
                let driver = Driver::new(shared.clone(), a.launch, rx);
                let fresh = adopted.containers.is_empty() && adopted.pause.is_none() && !a.running;
                tokio::spawn(driver.run(if fresh { None } else { Some(adopted) }));
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_split_into_repository_and_tag() {
        assert_eq!(split_image("nginx"), ("nginx", "latest"));
        assert_eq!(split_image("nginx:1.27"), ("nginx", "1.27"));
        assert_eq!(
            split_image("localhost:5000/app"),
            ("localhost:5000/app", "latest")
        );
        assert_eq!(
            split_image("localhost:5000/app:2"),
            ("localhost:5000/app", "2")
        );
        assert_eq!(split_image("a@sha256:00"), ("a@sha256:00", ""));
    }

    #[test]
    fn log_lines_keep_the_engine_timestamp() {
        let (t, s) = parse_log_line("2024-05-01T10:00:00.123456789Z hello world");
        assert_eq!(s, "hello world");
        assert_eq!(t.timestamp_millis(), 1_714_557_600_123);
        let (_, s) = parse_log_line("no timestamp");
        assert_eq!(s, "no timestamp");
    }

    #[test]
    fn usage_from_docker_stats() {
        let v = serde_json::json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 3_000_000_000u64}, "system_cpu_usage": 20_000_000_000u64, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 2_000_000_000u64}, "system_cpu_usage": 10_000_000_000u64},
            "memory_stats": {"usage": 50 * 1024 * 1024, "stats": {"cache": 10 * 1024 * 1024}}
        });
        let (cpu, mem) = usage_of(&v);
        assert!((cpu - 204.8).abs() < 1e-9, "{cpu}");
        assert!((mem - 40.0).abs() < 1e-9, "{mem}");
        assert_eq!(usage_of(&serde_json::json!({})), (0.0, 0.0));
    }

    #[test]
    fn random_names_are_twenty_hex_digits() {
        let a = rand_hex20();
        assert_eq!(a.len(), 20);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
