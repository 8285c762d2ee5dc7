//! How a cluster is set up: where it keeps state, its identity, its container instances and the
//! simulated runtime's timings.

use std::path::PathBuf;
use std::time::Duration;

/// One group of identical container instances of the default cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSpec {
    /// How many instances.
    pub count: u32,
    /// CPU units each registers.
    pub cpu: u32,
    /// Memory (MiB) each registers.
    pub memory: u32,
    /// Availability zones, assigned round-robin.
    pub availability_zones: Vec<String>,
    /// `ecs.instance-type`.
    pub instance_type: String,
    /// Custom attributes (`name`, optional `value`) on every instance.
    pub attributes: Vec<(String, Option<String>)>,
}

impl Default for InstanceSpec {
    fn default() -> Self {
        InstanceSpec {
            count: 3,
            cpu: 2048,
            memory: 4096,
            availability_zones: vec![
                "us-east-1a".into(),
                "us-east-1b".into(),
                "us-east-1c".into(),
            ],
            instance_type: "t3.medium".into(),
            attributes: Vec::new(),
        }
    }
}

/// How time moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClockMode {
    /// Wall-clock time (plus whatever the test-control API adds), with a background reconciler.
    #[default]
    System,
    /// Time starts at a fixed instant and moves only through [`crate::Cluster::advance`]; no
    /// background reconciler runs, so tests are exact.
    Manual,
}

/// Timings of the simulated runtime (see [`crate::runtime::SimRuntime`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimTimings {
    /// PROVISIONING → PENDING.
    pub provision: Duration,
    /// PENDING → RUNNING (image pull and container start).
    pub start: Duration,
    /// Stop request → STOPPED.
    pub stop: Duration,
    /// RUNNING → HEALTHY for tasks whose essential containers have a health check.
    pub healthy_after: Duration,
}

impl Default for SimTimings {
    fn default() -> Self {
        SimTimings {
            provision: Duration::from_secs(1),
            start: Duration::from_secs(2),
            stop: Duration::from_secs(1),
            healthy_after: Duration::from_secs(5),
        }
    }
}

/// Everything a [`crate::Cluster`] needs to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Where the database lives (`berth.redb` inside it); `None` keeps state in a temporary
    /// in-memory database that does not survive the process.
    pub data_dir: Option<PathBuf>,
    /// Region in ARNs.
    pub region: String,
    /// Account id in ARNs.
    pub account: String,
    /// Container instances of the `default` cluster (created on first start only).
    pub instances: Vec<InstanceSpec>,
    /// Seed of every random choice (ids, placement ties, simulated faults).
    pub seed: u64,
    /// How time moves.
    pub clock: ClockMode,
    /// How often the background reconciler runs in [`ClockMode::System`] when nothing changes
    /// (sooner after a pass that changed something: `reconciler::pause`).
    pub tick: Duration,
    /// Simulated runtime timings.
    pub sim: SimTimings,
    /// How long STOPPED tasks stay describable (ECS keeps them at least an hour).
    pub retention: Duration,
    /// Whether a runtime that touches the host may run tasks that reach beyond their
    /// containers (privileged, host namespaces, host paths, capabilities, devices).
    pub allow_host_access: bool,
    /// The secret that makes task metadata tokens unguessable (see
    /// [`crate::metadata::token`]); it must stay the same across restarts for containers that
    /// keep running (the server uses its instance id).
    pub metadata_key: String,
    /// How long a service task without a health check or load balancer must run before it
    /// counts as healthy (ECS: 40 s); lowering it makes local deployments complete faster.
    pub task_healthy_after: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: None,
            region: berth_core::protocol::DEFAULT_REGION.into(),
            account: berth_core::protocol::DEFAULT_ACCOUNT.into(),
            instances: vec![InstanceSpec::default()],
            seed: 1,
            clock: ClockMode::System,
            tick: Duration::from_millis(250),
            sim: SimTimings::default(),
            retention: Duration::from_secs(24 * 3600),
            allow_host_access: false,
            metadata_key: String::new(),
            task_healthy_after: Duration::from_secs(40),
        }
    }
}
