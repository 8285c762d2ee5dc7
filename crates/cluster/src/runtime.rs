//! Runtimes: what actually runs a task's containers.
//!
//! The cluster never waits for a runtime while it holds its state: it records the desired
//! state (a task to start or to stop) durably, then the reconciler asks the runtime to act and
//! later collects what happened as [`RuntimeEvent`]s. That shape fits both the simulated
//! runtime here (events computed from the clock) and a Docker runtime (events from the Engine's
//! event stream and health checks, containers labelled with cluster/task/container so they can
//! be re-adopted after a restart).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use berth_core::placement::SplitMix64;
use chrono::{DateTime, Duration, Utc};

use berth_core::model as m;

use crate::config::SimTimings;

/// A boxed future, so the trait can be used as `Arc<dyn Runtime>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One container of a task to launch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ContainerLaunch {
    /// The container name.
    pub name: String,
    /// The image.
    pub image: String,
    /// Whether the task stops when it exits.
    pub essential: bool,
    /// Whether it has a health check.
    pub health_check: bool,
    /// The container's definition as registered, with the task's container overrides
    /// (`command`, `cpu`, `memory`, `memoryReservation`) already applied.
    pub definition: Arc<m::ContainerDefinition>,
    /// The final environment, in ECS's precedence: secrets > `environment` (overrides and the
    /// injected `ECS_*`/`AWS_*` variables included) > environment files in order.
    pub environment: Vec<(String, String)>,
    /// Where `awslogs` output goes, as (`awslogs-group`, stream `prefix/container/task-id`);
    /// `None` for other log drivers.
    pub awslogs: Option<(String, String)>,
    /// The token of this container's task metadata endpoint (`…/v4/<token>`).
    pub metadata_token: String,
}

/// A task to start.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Launch {
    /// The task id.
    pub task_id: String,
    /// The cluster name (for container labels).
    pub cluster: String,
    /// The task ARN (label `com.amazonaws.ecs.task-arn`).
    pub task_arn: String,
    /// The task definition's family.
    pub family: String,
    /// The task definition's revision.
    pub revision: i32,
    /// `bridge` (also when absent), `awsvpc`, `host` or `none`.
    pub network_mode: String,
    /// The task definition's volumes.
    pub volumes: Vec<m::Volume>,
    /// Its containers.
    pub containers: Vec<ContainerLaunch>,
    /// Why the task cannot start at all (a secret that does not resolve …): the runtime then
    /// reports [`RuntimeEvent::StartFailed`] with this reason and starts nothing.
    pub refusal: Option<String>,
}

/// One port a running container publishes (DescribeTasks' `networkBindings`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The address the host port is bound on (`127.0.0.1` for the Docker runtime).
    pub bind_ip: String,
    /// The container port.
    pub container_port: i32,
    /// The host port.
    pub host_port: i32,
    /// `tcp` or `udp`.
    pub protocol: String,
}

/// What a runtime knows about a container right now, ahead of the cluster's state (which
/// follows on the next reconciler pass): what the task metadata endpoint answers from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LiveContainer {
    /// The task definition's container name.
    pub name: String,
    /// The engine's container id.
    pub docker_id: String,
    /// The engine's container name (`ecs-<family>-<rev>-<name>-<hex>`).
    pub docker_name: String,
    /// The image id (`sha256:…`), when known.
    pub image_id: Option<String>,
    /// The agent's status name: `CREATED`, `RUNNING` or `STOPPED`.
    pub known_status: String,
    /// When it was created, started and finished.
    pub created_at: Option<DateTime<Utc>>,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// Its exit code, once stopped.
    pub exit_code: Option<i32>,
}

/// What a runtime knows about one container of a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerReport {
    /// The container name (the task definition's).
    pub name: String,
    /// `PENDING`, `RUNNING` or `STOPPED`.
    pub status: String,
    /// The engine's container id.
    pub runtime_id: Option<String>,
    /// The exit code, once stopped.
    pub exit_code: Option<i32>,
    /// Why it stopped or could not start (`CannotPullContainerError: …`, `OutOfMemoryError: …`).
    pub reason: Option<String>,
    /// Published ports.
    pub bindings: Vec<Binding>,
    /// `HEALTHY`, `UNHEALTHY` or `UNKNOWN` (containers with a health check only).
    pub health: Option<String>,
    /// When this was observed.
    pub at: DateTime<Utc>,
}

/// The network of an `awsvpc` task as its runtime set it up: what ECS reports from the task's
/// elastic network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskNetwork {
    /// The namespace's IPv4 address.
    pub ipv4: String,
    /// Its interface's MAC address, when the runtime reports one.
    pub mac: Option<String>,
}

/// A task the runtime should already know about after a restart (it was launched and not yet
/// stopped when the process died).
#[derive(Debug, Clone, PartialEq)]
pub struct Adopt {
    /// The task.
    pub launch: Launch,
    /// Whether it had reached RUNNING.
    pub running: bool,
    /// Whether a stop had been requested.
    pub stopping: bool,
}

/// Something that happened to a task.
#[derive(Debug, Clone, PartialEq)]
pub enum RuntimeEvent {
    /// One container's state changed (status, exit code, reason, ports, health).
    Container {
        /// The task.
        task_id: String,
        /// What the container is now.
        report: ContainerReport,
    },
    /// Lines a container printed (stdout and stderr), for its `awslogs` stream.
    Logs {
        /// The task.
        task_id: String,
        /// The log group.
        group: String,
        /// The log stream.
        stream: String,
        /// (timestamp, line without its newline), in order.
        lines: Vec<(DateTime<Utc>, String)>,
    },
    /// Resource use of a running task, from the engine's stats.
    Usage {
        /// The task.
        task_id: String,
        /// CPU used, in CPU units (1024 = one vCPU).
        cpu_units: f64,
        /// Memory used, in MiB.
        memory_mib: f64,
    },
    /// Images are being pulled: PROVISIONING → PENDING.
    Pending {
        /// The task.
        task_id: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// The task's own network namespace has its address (an `awsvpc` task's pause container
    /// started, while PENDING): its ENI attachment shows the address from now on, as ECS shows
    /// it on a PENDING task.
    Attached {
        /// The task.
        task_id: String,
        /// The namespace's address.
        network: TaskNetwork,
    },
    /// Every container started: → RUNNING.
    Running {
        /// The task.
        task_id: String,
        /// When.
        at: DateTime<Utc>,
        /// The address of the task's own network namespace (`awsvpc` tasks whose runtime gave
        /// them one: the Docker runtime's pause container), for its ENI attachment.
        network: Option<TaskNetwork>,
    },
    /// The task could not start (it ends STOPPED with `TaskFailedToStart`).
    StartFailed {
        /// The task.
        task_id: String,
        /// When.
        at: DateTime<Utc>,
        /// `stoppedReason`.
        reason: String,
    },
    /// A health-check result for the task's essential containers.
    Health {
        /// The task.
        task_id: String,
        /// Healthy or not.
        healthy: bool,
    },
    /// An essential container exited on its own (the task is stopping).
    Exited {
        /// The task.
        task_id: String,
        /// When.
        at: DateTime<Utc>,
        /// The container.
        container: String,
        /// Its exit code.
        exit_code: i32,
    },
    /// Every container is gone: → STOPPED.
    Stopped {
        /// The task.
        task_id: String,
        /// When.
        at: DateTime<Utc>,
        /// The exit code of every container.
        exit_code: i32,
    },
}

/// Why a runtime call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// The runtime does not know the task.
    #[error("the runtime does not know task {0}")]
    UnknownTask(String),
    /// The backing engine failed (Docker unreachable …).
    #[error("runtime failure: {0}")]
    Engine(String),
}

/// Fault injection, for deterministic tests of deployments and replacement.
pub trait Faults: Send + Sync {
    /// The next `n` task starts fail.
    fn fail_next_starts(&self, n: u32);
    /// A running task's essential container exits now with `exit_code`.
    fn crash(&self, task_id: &str, exit_code: i32, now: DateTime<Utc>) -> Result<(), RuntimeError>;
    /// A task reports healthy or unhealthy from now on.
    fn set_health(&self, task_id: &str, healthy: bool) -> Result<(), RuntimeError>;
    /// Forgets everything (test-control reset).
    fn reset(&self);
}

/// What runs tasks: the simulated runtime now, Docker next.
pub trait Runtime: Send + Sync {
    /// A short name (`sim`, `docker`).
    fn name(&self) -> &'static str;
    /// Whether tasks become real containers on this machine: then what they print and use is
    /// measured rather than made up, and what reaches beyond a container touches the host.
    fn runs_containers(&self) -> bool {
        false
    }
    /// The Docker engine's version (`DockerVersion: 20.10.24+dfsg1`, as the ECS agent words
    /// it), for runtimes that run one.
    fn docker_version(&self) -> Option<String> {
        None
    }
    /// Starts a task; progress comes later as events.
    fn start(&self, launch: Launch, now: DateTime<Utc>) -> BoxFuture<'_, Result<(), RuntimeError>>;
    /// Forgets every task (test-control reset): whatever still runs for them stops and goes,
    /// and nothing they still report reaches the tasks of the fresh cluster. (The simulated
    /// runtime forgets through [`Faults::reset`].)
    fn reset(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
    /// Stops a task (SIGTERM, then SIGKILL after `grace`); `Stopped` comes later as an event.
    fn stop(
        &self,
        task_id: String,
        grace: Duration,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<(), RuntimeError>>;
    /// Everything that happened up to `now`, in order.
    fn events(&self, now: DateTime<Utc>) -> BoxFuture<'_, Vec<RuntimeEvent>>;
    /// Re-adopts tasks after a restart (Docker: find containers by label).
    fn adopt(
        &self,
        tasks: Vec<Adopt>,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<(), RuntimeError>>;
    /// Fault injection, when the runtime supports it.
    fn faults(&self) -> Option<&dyn Faults> {
        None
    }
    /// The containers of a task as the runtime knows them now (empty for runtimes without
    /// containers).
    fn live(&self, _task_id: &str) -> Vec<LiveContainer> {
        Vec::new()
    }
    /// The engine's statistics of these containers (by runtime id), as Docker's stats JSON;
    /// runtimes without containers have none.
    fn stats(
        &self,
        _runtime_ids: Vec<String>,
    ) -> BoxFuture<'_, HashMap<String, serde_json::Value>> {
        Box::pin(async { HashMap::new() })
    }
}

#[derive(Debug, Default)]
struct SimTask {
    running: bool,
    essential: String,
}

#[derive(Debug)]
struct Sim {
    tasks: HashMap<String, SimTask>,
    /// Scheduled events by (time, sequence).
    queue: BTreeMap<(DateTime<Utc>, u64), RuntimeEvent>,
    seq: u64,
    fail_next: u32,
    rng: SplitMix64,
}

/// A deterministic runtime: tasks move through their lifecycle on the cluster's clock with
/// [`SimTimings`], and faults are injected on request. A launch with a `refusal` fails to start
/// with it, as under Docker.
#[derive(Debug)]
pub struct SimRuntime {
    timings: SimTimings,
    seed: u64,
    inner: Mutex<Sim>,
}

fn dur(d: std::time::Duration) -> Duration {
    Duration::from_std(d).unwrap_or_else(|_| Duration::seconds(1))
}

impl SimRuntime {
    /// A simulated runtime with these timings; `seed` fixes every random choice.
    pub fn new(timings: SimTimings, seed: u64) -> Self {
        SimRuntime {
            timings,
            seed,
            inner: Mutex::new(Sim {
                tasks: HashMap::new(),
                queue: BTreeMap::new(),
                seq: 0,
                fail_next: 0,
                rng: SplitMix64::new(seed),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sim> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Sim {
    fn push(&mut self, at: DateTime<Utc>, e: RuntimeEvent) {
        self.seq += 1;
        self.queue.insert((at, self.seq), e);
    }
    fn cancel(&mut self, task_id: &str) {
        self.queue.retain(|_, e| event_task(e) != task_id);
    }
}

/// The task an event is about.
pub fn event_task(e: &RuntimeEvent) -> &str {
    match e {
        RuntimeEvent::Pending { task_id, .. }
        | RuntimeEvent::Attached { task_id, .. }
        | RuntimeEvent::Running { task_id, .. }
        | RuntimeEvent::StartFailed { task_id, .. }
        | RuntimeEvent::Health { task_id, .. }
        | RuntimeEvent::Exited { task_id, .. }
        | RuntimeEvent::Stopped { task_id, .. }
        | RuntimeEvent::Container { task_id, .. }
        | RuntimeEvent::Logs { task_id, .. }
        | RuntimeEvent::Usage { task_id, .. } => task_id,
    }
}

impl Runtime for SimRuntime {
    fn name(&self) -> &'static str {
        "sim"
    }

    fn start(&self, launch: Launch, now: DateTime<Utc>) -> BoxFuture<'_, Result<(), RuntimeError>> {
        let t = self.timings;
        let mut s = self.lock();
        let essential = launch
            .containers
            .iter()
            .find(|c| c.essential)
            .or(launch.containers.first())
            .map(|c| c.name.clone())
            .unwrap_or_default();
        let health_check = launch
            .containers
            .iter()
            .any(|c| c.essential && c.health_check);
        let id = launch.task_id.clone();
        let pending_at = now + dur(t.provision);
        let running_at = pending_at + dur(t.start);
        s.push(
            pending_at,
            RuntimeEvent::Pending {
                task_id: id.clone(),
                at: pending_at,
            },
        );
        if let Some(reason) = launch.refusal {
            // What the Docker runtime reports too: the task never gets to its containers (a
            // secret that does not resolve, an environment file that cannot be read …).
            s.push(
                running_at,
                RuntimeEvent::StartFailed {
                    task_id: id.clone(),
                    at: running_at,
                    reason,
                },
            );
        } else if s.fail_next > 0 {
            s.fail_next -= 1;
            let image = launch
                .containers
                .first()
                .map(|c| c.image.clone())
                .unwrap_or_default();
            s.push(
                running_at,
                RuntimeEvent::StartFailed {
                    task_id: id.clone(),
                    at: running_at,
                    reason: format!(
                        "CannotPullContainerError: pull image manifest has been retried 1 time(s): failed to resolve ref {image}: not found (injected by the simulated runtime)"
                    ),
                },
            );
        } else {
            s.push(
                running_at,
                RuntimeEvent::Running {
                    task_id: id.clone(),
                    at: running_at,
                    network: None,
                },
            );
            if health_check {
                let at = running_at + dur(t.healthy_after);
                s.push(
                    at,
                    RuntimeEvent::Health {
                        task_id: id.clone(),
                        healthy: true,
                    },
                );
            }
        }
        s.tasks.insert(
            id,
            SimTask {
                running: false,
                essential,
            },
        );
        Box::pin(async { Ok(()) })
    }

    fn stop(
        &self,
        task_id: String,
        _grace: Duration,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<(), RuntimeError>> {
        let t = self.timings;
        let mut s = self.lock();
        let result = if s.tasks.remove(&task_id).is_some() {
            s.cancel(&task_id);
            let at = now + dur(t.stop);
            s.push(
                at,
                RuntimeEvent::Stopped {
                    task_id,
                    at,
                    exit_code: 0,
                },
            );
            Ok(())
        } else {
            Err(RuntimeError::UnknownTask(task_id))
        };
        Box::pin(async move { result })
    }

    fn events(&self, now: DateTime<Utc>) -> BoxFuture<'_, Vec<RuntimeEvent>> {
        let mut s = self.lock();
        let mut out = Vec::new();
        while let Some(entry) = s.queue.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let e = entry.remove();
            match &e {
                RuntimeEvent::Running { task_id, .. } => {
                    if let Some(t) = s.tasks.get_mut(task_id) {
                        t.running = true;
                    }
                }
                RuntimeEvent::StartFailed { task_id, .. }
                | RuntimeEvent::Stopped { task_id, .. } => {
                    s.tasks.remove(task_id);
                }
                _ => {}
            }
            out.push(e);
        }
        Box::pin(async move { out })
    }

    fn adopt(
        &self,
        tasks: Vec<Adopt>,
        now: DateTime<Utc>,
    ) -> BoxFuture<'_, Result<(), RuntimeError>> {
        for a in tasks {
            let id = a.launch.task_id.clone();
            if a.stopping {
                let at = now + dur(self.timings.stop);
                self.lock().push(
                    at,
                    RuntimeEvent::Stopped {
                        task_id: id,
                        at,
                        exit_code: 0,
                    },
                );
                continue;
            }
            if a.running {
                let mut s = self.lock();
                let essential = a
                    .launch
                    .containers
                    .iter()
                    .find(|c| c.essential)
                    .map(|c| c.name.clone())
                    .unwrap_or_default();
                s.tasks.insert(
                    id,
                    SimTask {
                        running: true,
                        essential,
                    },
                );
            } else {
                // Not yet running: start over (as an agent restarting its pulls would).
                drop(self.start(a.launch, now));
            }
        }
        Box::pin(async { Ok(()) })
    }

    fn faults(&self) -> Option<&dyn Faults> {
        Some(self)
    }
}

impl Faults for SimRuntime {
    fn fail_next_starts(&self, n: u32) {
        self.lock().fail_next = n;
    }

    fn crash(&self, task_id: &str, exit_code: i32, now: DateTime<Utc>) -> Result<(), RuntimeError> {
        let t = self.timings;
        let mut s = self.lock();
        let Some(task) = s.tasks.remove(task_id) else {
            return Err(RuntimeError::UnknownTask(task_id.into()));
        };
        s.cancel(task_id);
        s.push(
            now,
            RuntimeEvent::Exited {
                task_id: task_id.into(),
                at: now,
                container: task.essential,
                exit_code,
            },
        );
        let at = now + dur(t.stop);
        s.push(
            at,
            RuntimeEvent::Stopped {
                task_id: task_id.into(),
                at,
                exit_code,
            },
        );
        Ok(())
    }

    fn set_health(&self, task_id: &str, healthy: bool) -> Result<(), RuntimeError> {
        let mut s = self.lock();
        if !s.tasks.get(task_id).is_some_and(|t| t.running) {
            return Err(RuntimeError::UnknownTask(task_id.into()));
        }
        s.queue
            .retain(|_, e| !matches!(e, RuntimeEvent::Health { task_id: t, .. } if t == task_id));
        let at = DateTime::<Utc>::MIN_UTC;
        s.push(
            at,
            RuntimeEvent::Health {
                task_id: task_id.into(),
                healthy,
            },
        );
        Ok(())
    }

    fn reset(&self) {
        let mut s = self.lock();
        *s = Sim {
            tasks: HashMap::new(),
            queue: BTreeMap::new(),
            seq: 0,
            fail_next: 0,
            rng: SplitMix64::new(self.seed),
        };
        let _ = s.rng.next_u64();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(id: &str) -> Launch {
        Launch {
            task_id: id.into(),
            cluster: "default".into(),
            containers: vec![ContainerLaunch {
                name: "app".into(),
                image: "nginx:1".into(),
                essential: true,
                health_check: true,
                ..ContainerLaunch::default()
            }],
            ..Launch::default()
        }
    }

    fn block<T>(f: BoxFuture<'_, T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn lifecycle_follows_the_timings() {
        let rt = SimRuntime::new(SimTimings::default(), 1);
        let t0 = crate::clock::manual_epoch();
        block(rt.start(launch("a"), t0)).unwrap();
        assert!(block(rt.events(t0)).is_empty());
        let e = block(rt.events(t0 + Duration::seconds(3)));
        assert!(matches!(e[0], RuntimeEvent::Pending { .. }));
        assert!(matches!(e[1], RuntimeEvent::Running { .. }));
        let e = block(rt.events(t0 + Duration::seconds(8)));
        assert_eq!(
            e,
            vec![RuntimeEvent::Health {
                task_id: "a".into(),
                healthy: true
            }]
        );
        rt.crash("a", 137, t0 + Duration::seconds(9)).unwrap();
        let e = block(rt.events(t0 + Duration::seconds(20)));
        assert!(matches!(e[0], RuntimeEvent::Exited { exit_code: 137, .. }));
        assert!(matches!(e[1], RuntimeEvent::Stopped { .. }));
        assert!(rt.crash("a", 1, t0).is_err());
    }

    #[test]
    fn injected_start_failures() {
        let rt = SimRuntime::new(SimTimings::default(), 1);
        let t0 = crate::clock::manual_epoch();
        rt.fail_next_starts(1);
        block(rt.start(launch("a"), t0)).unwrap();
        block(rt.start(launch("b"), t0)).unwrap();
        let e = block(rt.events(t0 + Duration::seconds(3)));
        assert!(
            e.iter()
                .any(|e| matches!(e, RuntimeEvent::StartFailed { task_id, .. } if task_id == "a"))
        );
        assert!(
            e.iter()
                .any(|e| matches!(e, RuntimeEvent::Running { task_id, .. } if task_id == "b"))
        );
    }
}
