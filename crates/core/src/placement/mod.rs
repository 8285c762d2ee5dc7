//! Task placement for the EC2 and EXTERNAL launch types: where ECS would put a task, and why not.
//!
//! **What it is for.** Given a read-only [`ClusterView`] (container instances with their
//! attributes, remaining resources and ports in use, and the tasks on them) and a
//! [`PlacementRequest`] (a task's [`TaskRequirements`], `placementConstraints`,
//! `placementStrategy` and a count), a [`Placer`] returns a [`PlacementPlan`]: which instance
//! each task goes to, or — for tasks that cannot be placed — every instance's named
//! [`RejectionReason`]s, whether the task could be placed later ([`UnplacedKind`]), and the
//! service event / RunTask failures ECS would report. The same engine picks which tasks to stop
//! on scale-in ([`Placer::scale_in`]) and where DAEMON tasks go ([`Placer::place_daemon`]), and
//! [`Expression`] implements the cluster query language (also usable for
//! `ListContainerInstances.filter`).
//!
//! The pipeline follows ECS (ecs-semantics §2.1): filters (instance lifecycle, required
//! attributes, cpu/memory/GPU, host ports, `distinctInstance`, `memberOf`), then the strategies
//! in the order given (each one ordering within the ties of the previous), then a selector that
//! breaks the remaining ties with a seeded [`SplitMix64`]. It is assembled in one place,
//! `Pipeline::new` in `engine.rs`.
//!
//! **What it deliberately does not do, and why.**
//! - It performs nothing: no IO, no clock, no threads, no async. Output is a plan, never an
//!   action, so the embedded cluster, the dashboard (in wasm) and tests share one engine, and
//!   the same seed gives the same plan on every target.
//! - It does not model Fargate (which ignores strategies and constraints), capacity providers,
//!   ENI limits of `awsvpc` tasks (`RESOURCE:ENI`), the `LOCATION` check against subnets, or
//!   `containerPortRange`s; dynamic host ports (bridge mode, `hostPort` 0) need no check.
//! - It does not depend on the ECS serde model: [`TaskRequirements`] is the small input it needs
//!   (see [`TaskRequirements::from_containers`] for ECS's cpu/memory charging rules), so the
//!   engine stays independent of how a task definition is parsed.
//! - RunTask without strategies: the older guide says "random", the newer console guide says
//!   "spread across AZs then instances" (ecs-semantics, Appendix C.7). An empty strategy list
//!   here means "no preference" (a seeded random choice); callers that want the service default
//!   pass [`PlacementStrategy::service_default`] (as [`PlacementRequest::service`] does).
//!
//! **Performance.** CQL is parsed once per distinct expression and cached; results of
//! expressions and filters that cannot change while tasks are placed (lifecycle, attributes,
//! `memberOf` without `runningTasksCount`/`task:group`) are memoised per instance; instances are
//! indexed by attribute value, so a leading `spread(attribute:…)` only scans the least-loaded
//! values; per-instance cpu/memory/GPU live in flat arrays; placing a task updates counters in
//! place instead of copying the snapshot. When the strategies after a leading
//! `spread(attribute:…)` depend only on the instance (`binpack`, `spread(instanceId)`), the
//! candidates are kept in a segment tree keyed by those ranks (one per request shape, refreshed
//! for the one instance each placement or stop changes), so selecting a task costs O(log n)
//! instead of a scan; the selector's seeded tie-breaking is replayed exactly, so plans are the
//! same either way. See `benches/placement.rs` and the Placement section of `BENCHMARKS.md`.
//!
//! ```
//! use berth_core::placement::*;
//!
//! let mut cluster = Snapshot::new();
//! for (n, az) in [(1, "us-east-1a"), (2, "us-east-1b")] {
//!     cluster.push_instance(
//!         ContainerInstance::new(format!("arn:aws:ecs:us-east-1:1:container-instance/c/{n}"),
//!                                format!("i-{n}"), Resources::new(2048, 4096, 0))
//!             .with_attribute("ecs.availability-zone", Some(az)),
//!     );
//! }
//! let task = TaskRequirements::new("service:web", Resources::new(256, 512, 0));
//! let plan = Placer::new(&cluster, 42).place(&PlacementRequest::service(task, 2))?;
//! assert_eq!(plan.placements.len(), 2);
//! assert_ne!(plan.placements[0].container_instance_arn, plan.placements[1].container_instance_arn);
//! # Ok::<(), PlacementError>(())
//! ```

mod cluster;
pub mod cql;
mod engine;
pub mod fixtures;
mod index;
mod rng;

use serde::{Deserialize, Serialize};

pub use cluster::{
    Attribute, ClusterView, ContainerInstance, ContainerInstanceFacts, DEFAULT_RESERVED_TCP_PORTS,
    HostPort, InMemoryCluster, InstanceStatus, Ports, Protocol, Resources, Snapshot, TaskInfo,
    instance_id,
};
pub use cql::{CqlError, Expression, InstanceFacts, MAX_DEPTH, Subject, parse_timestamp};
pub use engine::{Placer, plan};
pub use rng::SplitMix64;

/// Most placement constraints per task (task definition and request together).
pub const MAX_CONSTRAINTS: usize = 10;
/// Most placement strategies per service or RunTask.
pub const MAX_STRATEGIES: usize = 5;
/// Most tasks one RunTask call may start.
pub const MAX_RUN_TASK_COUNT: u32 = 10;
/// Longest `memberOf` expression, in characters.
pub const MAX_EXPRESSION_LEN: usize = 2000;

/// The service event prefix ECS writes when no instance can take a task.
pub const UNABLE_TO_PLACE: &str =
    "was unable to place a task because no container instance met all of its requirements.";
const TROUBLESHOOTING: &str =
    "For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.";

/// A task definition's `networkMode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// Docker bridge (the EC2 default): `hostPort` 0 is dynamic, others are static.
    #[default]
    Bridge,
    /// Host networking: the host port is the container port.
    Host,
    /// A task ENI: ports live on the ENI, so they never conflict on the host.
    Awsvpc,
    /// No networking: no ports.
    None,
}

/// One `portMappings` entry of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    /// The container port.
    pub container_port: u16,
    /// The host port; `None` or `0` means dynamic in bridge mode and "same as the container
    /// port" in host mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<u16>,
    /// `tcp` (default) or `udp`.
    #[serde(default)]
    pub protocol: Protocol,
}

/// The resource-relevant members of one container definition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerResources {
    /// `cpu` units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u32>,
    /// `memory` (hard limit, MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<u32>,
    /// `memoryReservation` (soft limit, MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<u32>,
    /// GPUs from `resourceRequirements` (type `GPU`).
    #[serde(default)]
    pub gpu: u32,
    /// `portMappings`.
    #[serde(default)]
    pub port_mappings: Vec<PortMapping>,
}

/// What one task needs from an instance: the input of placement.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRequirements {
    /// The task group (`service:<name>`, `family:<family>` or custom): spread counts, scale-in
    /// and `distinctInstance` work per group.
    pub group: String,
    /// CPU units, memory (MiB) and GPUs the task reserves.
    pub resources: Resources,
    /// The network mode; host ports are only checked for `bridge` and `host`.
    #[serde(default)]
    pub network_mode: NetworkMode,
    /// Static host ports (dynamic ones are not listed).
    #[serde(default)]
    pub host_ports: Vec<HostPort>,
    /// `requiresAttributes`: attributes the instance must have (with that value when given).
    #[serde(default)]
    pub requires_attributes: Vec<Attribute>,
    /// The task definition's `placementConstraints` (only `memberOf` is valid there).
    #[serde(default)]
    pub placement_constraints: Vec<PlacementConstraint>,
}

impl TaskRequirements {
    /// A bridge-mode task of `group` with no ports, attributes or constraints.
    pub fn new(group: impl Into<String>, resources: Resources) -> Self {
        TaskRequirements {
            group: group.into(),
            resources,
            ..TaskRequirements::default()
        }
    }

    /// Computes requirements the way ECS charges a task (ecs-semantics §2.7): memory is the
    /// task-level `memory` if set, else the sum over containers of `memoryReservation` (or
    /// `memory` when there is no reservation); CPU is the task-level `cpu` if set, else the sum
    /// of container `cpu`; GPUs are summed; static host ports are collected per network mode
    /// (bridge: non-zero `hostPort`; host: `hostPort` or else `containerPort`; awsvpc and none:
    /// none).
    pub fn from_containers(
        group: impl Into<String>,
        network_mode: NetworkMode,
        task_cpu: Option<u32>,
        task_memory: Option<u32>,
        containers: &[ContainerResources],
    ) -> Self {
        let cpu = task_cpu.unwrap_or_else(|| {
            containers
                .iter()
                .fold(0u32, |a, c| a.saturating_add(c.cpu.unwrap_or(0)))
        });
        let memory = task_memory.unwrap_or_else(|| {
            containers.iter().fold(0u32, |a, c| {
                a.saturating_add(c.memory_reservation.or(c.memory).unwrap_or(0))
            })
        });
        let gpu = containers.iter().fold(0u32, |a, c| a.saturating_add(c.gpu));
        let mut host_ports = Vec::new();
        for m in containers.iter().flat_map(|c| &c.port_mappings) {
            let port = match network_mode {
                NetworkMode::Bridge => m.host_port.filter(|p| *p != 0),
                NetworkMode::Host => {
                    Some(m.host_port.filter(|p| *p != 0).unwrap_or(m.container_port))
                }
                NetworkMode::Awsvpc | NetworkMode::None => None,
            };
            if let Some(port) = port {
                host_ports.push(HostPort {
                    port,
                    protocol: m.protocol,
                });
            }
        }
        TaskRequirements {
            group: group.into(),
            resources: Resources::new(cpu, memory, gpu),
            network_mode,
            host_ports,
            ..TaskRequirements::default()
        }
    }
}

/// `PlacementStrategy.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlacementStrategyType {
    /// A seeded random choice.
    Random,
    /// Balance task counts across the values of `field`.
    Spread,
    /// Fill the instance with the least remaining `field` (cpu or memory).
    Binpack,
}

/// A placement strategy as ECS spells it (`{type, field}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacementStrategy {
    /// The strategy type.
    #[serde(rename = "type")]
    pub kind: PlacementStrategyType,
    /// `cpu`/`memory` for binpack; `instanceId`, `host` or `attribute:<name>` for spread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl PlacementStrategy {
    /// `{type: spread, field}`.
    pub fn spread(field: &str) -> Self {
        PlacementStrategy {
            kind: PlacementStrategyType::Spread,
            field: Some(field.into()),
        }
    }

    /// `{type: binpack, field}`.
    pub fn binpack(field: &str) -> Self {
        PlacementStrategy {
            kind: PlacementStrategyType::Binpack,
            field: Some(field.into()),
        }
    }

    /// `{type: random}`.
    pub fn random() -> Self {
        PlacementStrategy {
            kind: PlacementStrategyType::Random,
            field: None,
        }
    }

    /// The service default: spread over `attribute:ecs.availability-zone`, then over instances.
    pub fn service_default() -> Vec<Self> {
        vec![
            PlacementStrategy::spread("attribute:ecs.availability-zone"),
            PlacementStrategy::spread("instanceId"),
        ]
    }
}

/// `PlacementConstraint.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PlacementConstraintType {
    /// Each task of the group on a different instance.
    #[serde(rename = "distinctInstance")]
    DistinctInstance,
    /// The instance must satisfy a CQL expression.
    #[serde(rename = "memberOf")]
    MemberOf,
}

/// A placement constraint as ECS spells it (`{type, expression}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacementConstraint {
    /// The constraint type.
    #[serde(rename = "type")]
    pub kind: PlacementConstraintType,
    /// The CQL expression (`memberOf` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

impl PlacementConstraint {
    /// `{type: memberOf, expression}`.
    pub fn member_of(expression: &str) -> Self {
        PlacementConstraint {
            kind: PlacementConstraintType::MemberOf,
            expression: Some(expression.into()),
        }
    }

    /// `{type: distinctInstance}`.
    pub fn distinct_instance() -> Self {
        PlacementConstraint {
            kind: PlacementConstraintType::DistinctInstance,
            expression: None,
        }
    }
}

/// One placement question: put `count` copies of `task` somewhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacementRequest {
    /// What each task needs (including the task definition's constraints).
    pub task: TaskRequirements,
    /// How many tasks (RunTask: 1–10; a service scaling out: any).
    pub count: u32,
    /// The request's `placementConstraints` (RunTask, CreateService, UpdateService).
    #[serde(default)]
    pub placement_constraints: Vec<PlacementConstraint>,
    /// The request's `placementStrategy`, applied in order. Empty: no preference (seeded random).
    #[serde(default)]
    pub placement_strategy: Vec<PlacementStrategy>,
}

impl PlacementRequest {
    /// A RunTask-style request with no constraints or strategies of its own.
    pub fn run_task(task: TaskRequirements, count: u32) -> Self {
        PlacementRequest {
            task,
            count,
            placement_constraints: Vec::new(),
            placement_strategy: Vec::new(),
        }
    }

    /// A service scale-out with the service default strategy
    /// ([`PlacementStrategy::service_default`]).
    pub fn service(task: TaskRequirements, count: u32) -> Self {
        PlacementRequest {
            task,
            count,
            placement_constraints: Vec::new(),
            placement_strategy: PlacementStrategy::service_default(),
        }
    }

    /// Adds a constraint and returns the request.
    pub fn with_constraint(mut self, c: PlacementConstraint) -> Self {
        self.placement_constraints.push(c);
        self
    }

    /// Replaces the strategies and returns the request.
    pub fn with_strategies(mut self, s: Vec<PlacementStrategy>) -> Self {
        self.placement_strategy = s;
        self
    }
}

/// Invalid input: the request itself is wrong, whatever the cluster looks like.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    /// More than [`MAX_CONSTRAINTS`] constraints.
    #[error(
        "a task can have at most {max} placement constraints (task definition and request \
         together); this one has {count}"
    )]
    TooManyConstraints {
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// More than [`MAX_STRATEGIES`] strategies.
    #[error("at most {max} placement strategies are allowed; {count} were given")]
    TooManyStrategies {
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A strategy with a field its type does not accept.
    #[error("placement strategy {kind} does not accept field {field:?}; use {expected}")]
    InvalidStrategyField {
        /// The strategy type (`spread`, `binpack`).
        kind: String,
        /// The field given, if any.
        field: Option<String>,
        /// What would be accepted.
        expected: String,
    },
    /// A `memberOf` constraint without an expression.
    #[error("a memberOf placement constraint requires an expression")]
    MissingExpression,
    /// A `distinctInstance` constraint with an expression (ECS's text, seen in
    /// hashicorp/terraform#11446).
    #[error("distinctInstance expression should not be specified.")]
    UnexpectedExpression,
    /// A `distinctInstance` constraint in the task definition.
    #[error(
        "distinctInstance is not valid in a task definition's placementConstraints; put it on \
         the RunTask or service request"
    )]
    DistinctInstanceInTaskDefinition,
    /// An expression longer than [`MAX_EXPRESSION_LEN`].
    #[error(
        "a placement constraint expression can be at most {max} characters; this one has {length}"
    )]
    ExpressionTooLong {
        /// Its length in characters.
        length: usize,
        /// The limit.
        max: usize,
    },
    /// A `memberOf` expression that does not parse.
    #[error("invalid placement constraint expression {expression:?}: {source}")]
    InvalidExpression {
        /// The expression.
        expression: String,
        /// Why (with the byte offset).
        #[source]
        source: CqlError,
    },
    /// The same static host port twice in one task.
    #[error("host port {port}/{} is used twice in the task; each static host port can be used once", protocol.as_str())]
    DuplicateHostPort {
        /// The port.
        port: u16,
        /// Its protocol.
        protocol: Protocol,
    },
    /// A RunTask count outside 1–10.
    #[error("count must be between 1 and {max} for RunTask; {count} was given")]
    CountOutOfRange {
        /// The count given.
        count: u32,
        /// The limit.
        max: u32,
    },
}

/// Why one instance cannot take a task. Variants are in pipeline order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "reason")]
pub enum RejectionReason {
    /// The instance is not `ACTIVE` (DRAINING instances take no new tasks).
    #[serde(rename_all = "camelCase")]
    NotActive {
        /// Its status.
        status: InstanceStatus,
    },
    /// The agent is disconnected.
    AgentDisconnected,
    /// A `requiresAttributes` entry is missing (or has another value).
    #[serde(rename_all = "camelCase")]
    MissingAttribute {
        /// The attribute name.
        name: String,
        /// The value required, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        value: Option<String>,
    },
    /// Not enough CPU units left.
    #[serde(rename_all = "camelCase")]
    InsufficientCpu {
        /// Units the task needs.
        needed: u32,
        /// Units left on the instance.
        available: u32,
        /// Units the instance registered.
        registered: u32,
    },
    /// Not enough memory left.
    #[serde(rename_all = "camelCase")]
    InsufficientMemory {
        /// MiB the task needs.
        needed: u32,
        /// MiB left.
        available: u32,
        /// MiB registered.
        registered: u32,
    },
    /// Not enough GPUs left.
    #[serde(rename_all = "camelCase")]
    InsufficientGpu {
        /// GPUs the task needs.
        needed: u32,
        /// GPUs left.
        available: u32,
        /// GPUs registered.
        registered: u32,
    },
    /// A static host port the task needs is in use.
    #[serde(rename_all = "camelCase")]
    PortInUse {
        /// The port.
        port: u16,
        /// Its protocol.
        protocol: Protocol,
        /// True when the instance reserves it at registration (it will never be free).
        reserved: bool,
    },
    /// `distinctInstance`: a task of the same group already runs there.
    #[serde(rename_all = "camelCase")]
    DistinctInstance {
        /// The group.
        group: String,
    },
    /// A `memberOf` expression is false for this instance.
    #[serde(rename_all = "camelCase")]
    ConstraintNotSatisfied {
        /// The expression.
        expression: String,
        /// True when it uses `runningTasksCount` or `task:group`, so it may hold later.
        depends_on_tasks: bool,
    },
}

impl RejectionReason {
    /// True when the instance, as registered, could never take the task even if every task on
    /// it stopped (it needs more than the instance registered, a reserved port, a missing
    /// attribute, a constraint on fixed facts, or the instance is going away).
    pub fn is_permanent(&self) -> bool {
        match self {
            RejectionReason::NotActive { status } => matches!(
                status,
                InstanceStatus::Inactive
                    | InstanceStatus::Deregistering
                    | InstanceStatus::RegistrationFailed
            ),
            RejectionReason::AgentDisconnected | RejectionReason::DistinctInstance { .. } => false,
            RejectionReason::MissingAttribute { .. } => true,
            RejectionReason::InsufficientCpu {
                needed, registered, ..
            }
            | RejectionReason::InsufficientMemory {
                needed, registered, ..
            }
            | RejectionReason::InsufficientGpu {
                needed, registered, ..
            } => needed > registered,
            RejectionReason::PortInUse { reserved, .. } => *reserved,
            RejectionReason::ConstraintNotSatisfied {
                depends_on_tasks, ..
            } => !depends_on_tasks,
        }
    }

    /// The `reason` of a RunTask/StartTask `failures[]` entry: `RESOURCE:CPU`,
    /// `RESOURCE:MEMORY`, `RESOURCE:GPU`, `RESOURCE:PORTS`, `AGENT`, `ATTRIBUTE`, `INACTIVE`,
    /// and for constraints ECS's sentence (`MemberOf placement constraint unsatisfied.`).
    pub fn failure_reason(&self) -> &'static str {
        match self {
            RejectionReason::NotActive { .. } => "INACTIVE",
            RejectionReason::AgentDisconnected => "AGENT",
            RejectionReason::MissingAttribute { .. } => "ATTRIBUTE",
            RejectionReason::InsufficientCpu { .. } => "RESOURCE:CPU",
            RejectionReason::InsufficientMemory { .. } => "RESOURCE:MEMORY",
            RejectionReason::InsufficientGpu { .. } => "RESOURCE:GPU",
            RejectionReason::PortInUse { .. } => "RESOURCE:PORTS",
            RejectionReason::DistinctInstance { .. } => {
                "DistinctInstance placement constraint unsatisfied."
            }
            RejectionReason::ConstraintNotSatisfied { .. } => {
                "MemberOf placement constraint unsatisfied."
            }
        }
    }

    /// The sentence after "The closest matching …" in ECS's service event.
    fn closest_sentence(&self, id: &str) -> String {
        match self {
            RejectionReason::PortInUse { .. } => format!(
                "The closest matching (container-instance {id}) is already using a port required \
                 by your task."
            ),
            RejectionReason::InsufficientCpu { .. } => format!(
                "The closest matching container-instance {id} has insufficient CPU units available."
            ),
            RejectionReason::InsufficientMemory { .. } => format!(
                "The closest matching container-instance {id} has insufficient memory available."
            ),
            RejectionReason::InsufficientGpu { .. } => format!(
                "The closest matching container-instance {id} has insufficient GPU available."
            ),
            RejectionReason::MissingAttribute { .. } => format!(
                "The closest matching container-instance {id} is missing an attribute required by \
                 your task."
            ),
            RejectionReason::ConstraintNotSatisfied { expression, .. } => format!(
                "The closest matching container-instance {id} does not satisfy the placement \
                 constraint \"{expression}\"."
            ),
            RejectionReason::DistinctInstance { .. } => format!(
                "The closest matching container-instance {id} encountered error \
                 \"DistinctInstance placement constraint unsatisfied.\"."
            ),
            RejectionReason::NotActive { .. } | RejectionReason::AgentDisconnected => format!(
                "The closest matching container-instance {id} encountered error \"{}\".",
                self.failure_reason()
            ),
        }
    }
}

impl std::fmt::Display for RejectionReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RejectionReason::NotActive { status } => {
                write!(
                    f,
                    "instance is {} (only ACTIVE instances take tasks)",
                    status.as_str()
                )
            }
            RejectionReason::AgentDisconnected => f.write_str("the ECS agent is disconnected"),
            RejectionReason::MissingAttribute { name, value: None } => {
                write!(f, "missing required attribute {name}")
            }
            RejectionReason::MissingAttribute {
                name,
                value: Some(v),
            } => write!(f, "missing required attribute {name}={v}"),
            RejectionReason::InsufficientCpu {
                needed,
                available,
                registered,
            } => write!(
                f,
                "needs {needed} CPU units, {available} of {registered} available"
            ),
            RejectionReason::InsufficientMemory {
                needed,
                available,
                registered,
            } => write!(
                f,
                "needs {needed} MiB of memory, {available} of {registered} available"
            ),
            RejectionReason::InsufficientGpu {
                needed,
                available,
                registered,
            } => write!(
                f,
                "needs {needed} GPUs, {available} of {registered} available"
            ),
            RejectionReason::PortInUse {
                port,
                protocol,
                reserved,
            } => write!(
                f,
                "host port {port}/{} is {}",
                protocol.as_str(),
                if *reserved {
                    "reserved on the instance"
                } else {
                    "in use by another task"
                }
            ),
            RejectionReason::DistinctInstance { group } => {
                write!(
                    f,
                    "a task of group {group} already runs here (distinctInstance)"
                )
            }
            RejectionReason::ConstraintNotSatisfied { expression, .. } => {
                write!(f, "does not satisfy memberOf({expression})")
            }
        }
    }
}

/// Every reason one instance cannot take a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceRejection {
    /// The instance.
    pub container_instance_arn: String,
    /// Its reasons, in pipeline order (never empty).
    pub reasons: Vec<RejectionReason>,
}

/// Whether tasks that found no instance can be placed later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UnplacedKind {
    /// Some instance could take it once tasks stop, or when it is ACTIVE or connected again:
    /// the task stays PENDING / RunTask reports failures.
    CannotPlaceNow,
    /// Every instance fails for a reason that stopping tasks cannot fix (the task needs more
    /// than any instance registered, a reserved port, an attribute nobody has …).
    CanNeverPlace,
    /// The cluster has no container instances at all.
    NoContainerInstances,
}

/// A RunTask `failures[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// The container instance ARN.
    pub arn: String,
    /// The reason code (`RESOURCE:MEMORY` …).
    pub reason: String,
}

/// Tasks that found no instance, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Unplaced {
    /// How many of the requested tasks were not placed.
    pub count: u32,
    /// Whether they could be placed later.
    pub kind: UnplacedKind,
    /// The instance that came closest (fewest reasons, then the latest pipeline stage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closest_container_instance_arn: Option<String>,
    /// ECS's event text without the `(service NAME) ` prefix, e.g. "was unable to place a task
    /// because no container instance met all of its requirements. The closest matching
    /// container-instance … has insufficient memory available. …".
    pub message: String,
    /// Every instance's reasons, in view order.
    pub rejections: Vec<InstanceRejection>,
}

impl Unplaced {
    /// The service event ECS would write: `(service NAME) was unable to place a task …`.
    pub fn service_event(&self, service_name: &str) -> String {
        format!("(service {service_name}) {}", self.message)
    }

    /// RunTask `failures[]`: one entry per rejected instance with its first reason.
    pub fn failures(&self) -> Vec<Failure> {
        self.rejections
            .iter()
            .filter_map(|r| {
                r.reasons.first().map(|reason| Failure {
                    arn: r.container_instance_arn.clone(),
                    reason: reason.failure_reason().into(),
                })
            })
            .collect()
    }
}

/// Where one task goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    /// The chosen instance.
    pub container_instance_arn: String,
    /// Its EC2 instance id.
    pub ec2_instance_id: String,
}

/// The answer to a [`PlacementRequest`]: data, never an action.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlacementPlan {
    /// One entry per placed task, in placement order.
    pub placements: Vec<Placement>,
    /// The tasks that found no instance (placement stops at the first; the rest would fail the
    /// same way).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unplaced: Option<Unplaced>,
}

/// Where a task would land now, and why every other instance would not take it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    /// The instance the next placement would choose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen: Option<String>,
    /// Every instance that passes all filters, in view order.
    pub eligible: Vec<String>,
    /// Every other instance with its reasons, in view order.
    pub rejections: Vec<InstanceRejection>,
}

/// A task chosen to stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskToStop {
    /// The task.
    pub task_arn: String,
    /// Its instance.
    pub container_instance_arn: String,
}

/// Why a DAEMON task is to be stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "reason")]
pub enum DaemonStopReason {
    /// Its instance is no longer ACTIVE (DRAINING …).
    #[serde(rename_all = "camelCase")]
    InstanceNotActive {
        /// The instance status.
        status: InstanceStatus,
    },
    /// Its instance no longer matches the constraints or required attributes.
    #[serde(rename_all = "camelCase")]
    NoLongerEligible {
        /// What no longer matches.
        reasons: Vec<RejectionReason>,
    },
    /// A second daemon task of the same service on one instance.
    Duplicate,
}

/// A DAEMON task to stop, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonStop {
    /// The task to stop.
    pub task: TaskToStop,
    /// Why.
    pub reason: DaemonStopReason,
}

/// What the DAEMON scheduler should do now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DaemonPlan {
    /// Instances that get a daemon task (in view order).
    pub start: Vec<Placement>,
    /// Daemon tasks to stop.
    pub stop: Vec<DaemonStop>,
    /// Instances without a daemon task that cannot take one, with reasons.
    pub rejections: Vec<InstanceRejection>,
}

fn unplaced_message(closest: Option<(&str, &RejectionReason)>) -> String {
    match closest {
        None => {
            format!("{UNABLE_TO_PLACE} Reason: No Container Instances were found in your cluster.")
        }
        Some((id, reason)) => format!(
            "{UNABLE_TO_PLACE} {} {TROUBLESHOOTING}",
            reason.closest_sentence(id)
        ),
    }
}
