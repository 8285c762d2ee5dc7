//! The in-memory model of every cluster, with the indexes reads need, and its mapping to the
//! records the store keeps.
//!
//! Every record is a plain serde value; indexes (tasks per cluster, live tasks, tasks per
//! service, instance accounting) are rebuilt on load rather than stored, so they can never
//! disagree with the records.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use berth_core::deploy as dp;
use berth_core::model as m;
use berth_core::placement as pl;
use berth_core::protocol::{Arn, Resource};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError};
use crate::taskids::{AsTaskId, TaskId, TaskIds, Tasks};

/// Region and account: what ARNs are made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Env {
    /// Region.
    pub region: String,
    /// Account id.
    pub account: String,
    /// The configured seed (the generated metric series depend on it).
    pub seed: u64,
    /// Whether launches that reach beyond the container are refused (a runtime that touches
    /// the host, without `--allow-host-access`).
    pub refuse_host_access: bool,
    /// How long a service task without a health signal must run to count as healthy (ECS: 40 s).
    pub task_healthy_after_secs: u32,
    /// The engine's version as the ECS agent reports it (`DockerVersion: 20.10.24+dfsg1`), when
    /// the runtime runs a Docker engine: the `dockerVersion` of the cluster's own instances.
    pub docker_version: Option<String>,
}

impl Env {
    /// The ARN of a resource.
    pub fn arn(&self, resource: Resource) -> String {
        Arn::new(&self.region, &self.account, resource).to_string()
    }
    /// `cluster/<name>`.
    pub fn cluster_arn(&self, name: &str) -> String {
        self.arn(Resource::Cluster { name: name.into() })
    }
    /// `task/<cluster>/<id>`.
    pub fn task_arn(&self, cluster: &str, id: &str) -> String {
        self.arn(Resource::Task {
            cluster: cluster.into(),
            id: id.into(),
        })
    }
    /// `service/<cluster>/<name>`.
    pub fn service_arn(&self, cluster: &str, name: &str) -> String {
        self.arn(Resource::Service {
            cluster: cluster.into(),
            name: name.into(),
        })
    }
    /// `container-instance/<cluster>/<id>`.
    pub fn instance_arn(&self, cluster: &str, id: &str) -> String {
        self.arn(Resource::ContainerInstance {
            cluster: cluster.into(),
            id: id.into(),
        })
    }
    /// `task-definition/<family>:<revision>`.
    pub fn task_definition_arn(&self, family: &str, revision: u32) -> String {
        self.arn(Resource::TaskDefinition {
            family: family.into(),
            revision,
        })
    }
}

/// A stored record's key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    /// A cluster by name.
    Cluster(String),
    /// A task definition revision.
    TaskDef(String, u32),
    /// A task: cluster name and task id.
    Task(String, String),
    /// A service: cluster name and service name.
    Service(String, String),
    /// A container instance: cluster name and id.
    Instance(String, String),
    /// Counters and the random source.
    Meta,
    /// An Application Auto Scaling target, by resource id.
    ScalableTarget(String),
    /// A CloudWatch Logs group.
    LogGroup(String),
    /// A CloudWatch Logs stream: group and stream name.
    LogStream(String, String),
    /// One UTC day (days since the epoch) of a pushed CloudWatch metric
    /// ([`crate::metrics::MetricId::key`]).
    Metric(i64, String),
    /// A Secrets Manager secret, by name.
    Secret(String),
    /// An SSM parameter, by its normalized name (`/a` and `a` are one parameter).
    Parameter(String),
    /// The account settings of every principal (one record: they are few and rarely written).
    AccountSettings,
    /// An Auto Scaling group capacity provider, by name.
    CapacityProvider(String),
}

impl Key {
    /// The store key.
    pub fn encode(&self) -> String {
        match self {
            Key::Cluster(n) => format!("cluster/{n}"),
            Key::TaskDef(f, r) => format!("taskdef/{f}/{r:010}"),
            Key::Task(c, id) => {
                let (first, second) = task_order(id);
                format!("task/{c}/{first}{second}")
            }
            Key::Service(c, n) => format!("service/{c}/{n}"),
            Key::Instance(c, id) => format!("instance/{c}/{id}"),
            Key::Meta => "meta".into(),
            Key::ScalableTarget(r) => format!("aas/{r}"),
            Key::LogGroup(g) => format!("loggroup/{g}"),
            Key::LogStream(g, s) => format!("logstream/{g}:{s}"),
            Key::Metric(day, id) => format!("metric/{day:08}/{id}"),
            Key::Secret(n) => format!("secret/{n}"),
            Key::Parameter(n) => format!("ssmparam/{n}"),
            Key::AccountSettings => "accountsettings".into(),
            Key::CapacityProvider(n) => format!("capacityprovider/{n}"),
        }
    }
}

/// A cluster and everything in it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRec {
    /// Name.
    pub name: String,
    /// ARN.
    pub arn: String,
    /// `ACTIVE` or `INACTIVE`.
    pub status: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<m::Tag>,
    /// Settings (containerInsights).
    #[serde(default)]
    pub settings: Vec<m::ClusterSetting>,
    /// Configuration as given.
    #[serde(default)]
    pub configuration: Option<m::ClusterConfiguration>,
    /// Capacity providers.
    #[serde(default)]
    pub capacity_providers: Vec<String>,
    /// Default capacity provider strategy.
    #[serde(default)]
    pub default_strategy: Vec<m::CapacityProviderStrategyItem>,
    /// Tasks by id (index; tasks are stored as their own records). Behind a pointer: a
    /// `TaskRec` is over a kilobyte, and the map's nodes would otherwise move whole records on
    /// every insert and keep empty slots of that size (RunTask alone: 10 % less CPU per call,
    /// 11-13 % more calls a second). An `Arc`, changed through `Arc::make_mut`: the commit
    /// thread takes a task as a second reference under the read lock instead of a deep copy,
    /// and a change made while it still holds one copies the task then. Keyed, like every
    /// task index here, by [`TaskId`]: the id as a number held inline, not a `String`.
    #[serde(skip)]
    pub tasks: Tasks,
    /// Ids of tasks whose desired status is RUNNING.
    #[serde(skip)]
    pub live: TaskIds,
    /// Services by name.
    #[serde(skip)]
    pub services: BTreeMap<String, ServiceRec>,
    /// Container instances by id.
    #[serde(skip)]
    pub instances: BTreeMap<String, InstanceRec>,
    /// Ids of the tasks that occupy each container instance (not STOPPED), by instance id.
    #[serde(skip)]
    pub on_instance: BTreeMap<String, TaskIds>,
    /// RunTask's placement state for this cluster, kept across calls (memory only): see
    /// [`PlacementCache`].
    #[serde(skip)]
    pub placement: Option<PlacementCache>,
    /// Tasks added or changed since the reconciler last looked for launches and stops (memory
    /// only; every task after a start): the pass looks at these, not at every task.
    #[serde(skip)]
    pub work: TaskIds,
}

/// A cluster's placement state kept between RunTask calls, so a RunTask costs what it places
/// rather than a copy of every task.
///
/// RunTask charges what it places to `placer` itself (the same way the cluster charges the
/// tasks it then inserts) and records their ids in `tasks`. Any other change placement reads —
/// a container instance or the cluster changed, a task started or stopped elsewhere (seen as a
/// dirty task whose occupancy no longer matches `tasks`) — drops the cache when the change is
/// committed ([`ClusterRec::invalidate_placement`]), and the next RunTask rebuilds it from the
/// cluster. Since a placer is reseeded per call, plans are those of a fresh
/// `Placer::new(View(cluster), seed)`.
#[derive(Debug, Clone)]
pub struct PlacementCache {
    /// The working state, equal to the cluster's as placement sees it.
    pub placer: pl::Placer,
    /// Ids of the tasks the placer counts (those with placement info).
    pub tasks: std::collections::HashSet<TaskId>,
}

impl PlacementCache {
    /// Builds the cache from the cluster as it is now: O(tasks).
    pub fn build(c: &ClusterRec) -> Self {
        PlacementCache {
            placer: pl::Placer::new(&View(c), 0),
            tasks: c
                .tasks
                .iter()
                .filter(|(_, t)| t.info.is_some())
                .map(|(id, _)| id)
                .collect(),
        }
    }
}

/// One task.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskRec {
    /// The task as DescribeTasks returns it.
    pub task: m::Task,
    /// The service that owns it.
    #[serde(default)]
    pub service: Option<String>,
    /// What it occupies on its container instance while not STOPPED (EC2 tasks only).
    #[serde(default)]
    pub info: Option<pl::TaskInfo>,
    /// Why it stopped, for the deployment circuit breaker.
    #[serde(default)]
    pub stop_cause: Option<dp::StopCause>,
    /// Whether an essential container has a health check.
    #[serde(default)]
    pub health_checked: bool,
    /// Whether its start is decided and stored: set when the task is created (so its first
    /// record carries it, and no second write is needed to hand it to the runtime). A launched
    /// task that is not STOPPED is re-adopted by the runtime when the cluster opens; records
    /// written before this rule (`false` while not yet started) are launched by the next
    /// reconciler pass, which stores the flag first.
    #[serde(default)]
    pub launched: bool,
    /// Created by this process and not yet handed to its runtime (the reconciler's next pass
    /// starts it). Not stored: a reopened cluster hands every launched task to its runtime.
    #[serde(skip)]
    pub unstarted: bool,
    /// Whether the runtime was asked to stop it.
    #[serde(default)]
    pub stop_sent: bool,
    /// Task scale-in protection: enabled and until when.
    #[serde(default)]
    pub protection: Option<(bool, Option<DateTime<Utc>>)>,
}

impl TaskRec {
    /// The task id (last ARN segment).
    pub fn id(&self) -> &str {
        let arn = self.task.task_arn.as_deref().unwrap_or_default();
        arn.rsplit('/').next().unwrap_or(arn)
    }
    /// `lastStatus`.
    pub fn last_status(&self) -> &str {
        self.task.last_status.as_deref().unwrap_or("PROVISIONING")
    }
    /// `desiredStatus`.
    pub fn desired_status(&self) -> &str {
        self.task.desired_status.as_deref().unwrap_or("RUNNING")
    }
    /// Whether this process's runtime has it (started or re-adopted): a stop must go
    /// through the runtime.
    pub fn with_runtime(&self) -> bool {
        self.launched && !self.unstarted
    }
    /// `lastStatus` is STOPPED.
    pub fn is_stopped(&self) -> bool {
        self.last_status() == "STOPPED"
    }
    /// The scheduler's view of the status.
    pub fn status(&self) -> dp::TaskStatus {
        match self.last_status() {
            "PROVISIONING" => dp::TaskStatus::Provisioning,
            "PENDING" => dp::TaskStatus::Pending,
            "ACTIVATING" => dp::TaskStatus::Activating,
            "RUNNING" => dp::TaskStatus::Running,
            "DEACTIVATING" => dp::TaskStatus::Deactivating,
            "STOPPING" => dp::TaskStatus::Stopping,
            "DEPROVISIONING" => dp::TaskStatus::Deprovisioning,
            _ => dp::TaskStatus::Stopped,
        }
    }
    /// The task as [`berth_core::deploy::step`] sees it.
    pub fn snapshot(&self) -> dp::TaskSnapshot {
        let ts = |t: &Option<m::Timestamp>| t.as_ref().and_then(m::Timestamp::to_datetime);
        dp::TaskSnapshot {
            task_id: self.id().to_string(),
            deployment_id: self.task.started_by.clone().unwrap_or_default(),
            last_status: self.status(),
            stop_requested: self.desired_status() == "STOPPED",
            health: match self.task.health_status {
                Some(m::HealthStatus::Healthy) => dp::HealthStatus::Healthy,
                Some(m::HealthStatus::Unhealthy) => dp::HealthStatus::Unhealthy,
                _ => dp::HealthStatus::Unknown,
            },
            created_at: ts(&self.task.created_at).unwrap_or_default(),
            started_at: ts(&self.task.started_at),
            stop_cause: self.stop_cause,
        }
    }
}

/// One container instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceRec {
    /// What placement reads (status, attributes, registered/remaining resources, ports).
    pub ci: pl::ContainerInstance,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<m::Tag>,
    /// `version`, incremented on every change.
    #[serde(default)]
    pub version: i64,
    /// `versionInfo.agentHash` as the agent registered it (none for the cluster's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_hash: Option<String>,
    /// `versionInfo.dockerVersion` as the agent registered it (none for the cluster's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_version: Option<String>,
    /// The Auto Scaling group capacity provider that launched it (managed scaling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_provider_name: Option<String>,
    /// Running tasks on it (index).
    #[serde(skip)]
    pub running: u32,
    /// Pending tasks on it (index).
    #[serde(skip)]
    pub pending: u32,
}

/// One service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceRec {
    /// The service's configuration as DescribeServices returns it (deployments, counts and
    /// events are filled in when described).
    pub service: m::Service,
    /// The scheduler's state (deployments and breaker bookkeeping).
    pub deploy: dp::ServiceState,
    /// Events, newest first.
    #[serde(default)]
    pub events: Vec<m::ServiceEvent>,
    /// The last placement-failure event, so it is not repeated every tick.
    #[serde(default)]
    pub last_unplaced: Option<String>,
    /// Task ids of this service (index).
    #[serde(skip)]
    pub tasks: TaskIds,
    /// The last reconcile pass found nothing to do and nothing it reads has changed since:
    /// the reconciler skips the service until a change to the service, one of its tasks or a
    /// container instance of its cluster clears this (memory only; every service is looked at
    /// once after a start).
    #[serde(skip)]
    pub settled: bool,
    /// The desired count at creation: how many tasks the generated load of
    /// [`crate::metrics`] was sized for (`None` for services stored before it was kept: the
    /// current desired count stands in).
    #[serde(default)]
    pub metric_base: Option<i32>,
    /// When it became INACTIVE (the reconciler forgets it after the cluster's retention).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inactive_since: Option<DateTime<Utc>>,
    /// The task sets of a service with an `EXTERNAL` or `CODE_DEPLOY` deployment controller,
    /// oldest first, as DescribeTaskSets answers them with `include: [TAGS]` (counts and
    /// stability as of the last reconcile pass). Such a service has no deployments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub task_sets: Vec<m::TaskSet>,
}

impl ServiceRec {
    /// The service's deployment controller type (`ECS` when not set).
    pub fn controller(&self) -> &str {
        self.service
            .deployment_controller
            .as_ref()
            .and_then(|d| d.r#type.as_ref())
            .map_or("ECS", |t| t.as_str())
    }

    /// Whether task sets, not deployments, run its tasks (`EXTERNAL` and `CODE_DEPLOY`).
    pub fn uses_task_sets(&self) -> bool {
        self.controller() != "ECS"
    }
}

/// A task-definition revision.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefRec {
    /// The task definition as DescribeTaskDefinition returns it.
    pub td: m::TaskDefinition,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<m::Tag>,
    /// Its container definitions, shared by the launches of its tasks (memory only, made on
    /// first use: a revision's containers never change, and a definition is a kilobyte before
    /// its strings, copied for every task launched or re-adopted otherwise).
    #[serde(skip)]
    pub shared: std::sync::OnceLock<Vec<Arc<m::ContainerDefinition>>>,
}

impl TaskDefRec {
    /// A revision as registered.
    pub fn new(td: m::TaskDefinition, tags: Vec<m::Tag>) -> TaskDefRec {
        TaskDefRec {
            td,
            tags,
            shared: Default::default(),
        }
    }

    /// Its container definitions, shared (see [`TaskDefRec::shared`]).
    pub fn containers(&self) -> &[Arc<m::ContainerDefinition>] {
        self.shared.get_or_init(|| {
            self.td
                .container_definitions
                .iter()
                .flatten()
                .map(|cd| Arc::new(cd.clone()))
                .collect()
        })
    }
}

/// Counters and the random source; stored so ids never repeat across restarts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// Source of ids and placement seeds.
    pub rng: pl::SplitMix64,
    /// The latest time the cluster has seen (a manual clock resumes from it).
    pub clock: DateTime<Utc>,
}

/// An Auto Scaling group capacity provider the account created (`FARGATE` and `FARGATE_SPOT`
/// are not records: every account has them).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderRec {
    /// As DescribeCapacityProviders answers it with `include: [TAGS]`.
    pub provider: m::CapacityProvider,
    /// When it was created (DescribeCapacityProviders lists in creation order).
    pub created_at: DateTime<Utc>,
}

/// A Secrets Manager secret with its versions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretRec {
    /// Name.
    pub name: String,
    /// ARN (`…:secret:<name>-<6 random characters>`).
    pub arn: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// The KMS key as given (nothing is encrypted).
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// Tags (key, value) in the order they were added.
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    /// Versions, oldest first.
    #[serde(default)]
    pub versions: Vec<SecretVersionRec>,
    /// `CreatedDate`.
    pub created: DateTime<Utc>,
    /// `LastChangedDate`.
    pub last_changed: DateTime<Utc>,
    /// When DeleteSecret scheduled the deletion (`DeletedDate`).
    #[serde(default)]
    pub deleted_at: Option<DateTime<Utc>>,
    /// When the recovery window ends; from then on the secret is gone.
    #[serde(default)]
    pub deletion_date: Option<DateTime<Utc>>,
}

/// One version of a secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretVersionRec {
    /// `VersionId`.
    pub id: String,
    /// `SecretString`.
    #[serde(default)]
    pub string: Option<String>,
    /// `SecretBinary`, base64 as it came over the wire.
    #[serde(default)]
    pub binary: Option<String>,
    /// Staging labels (`AWSCURRENT`, `AWSPREVIOUS`, custom ones).
    #[serde(default)]
    pub stages: Vec<String>,
    /// `CreatedDate`.
    pub created: DateTime<Utc>,
}

/// An SSM parameter with its history.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParamRec {
    /// The name as first created.
    pub name: String,
    /// Versions, oldest first (at most 100); the last is the current one.
    pub versions: Vec<ParamVersionRec>,
    /// Tags (key, value).
    #[serde(default)]
    pub tags: Vec<(String, String)>,
}

/// One version of an SSM parameter.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParamVersionRec {
    /// `Version` (1, 2, …).
    pub version: i64,
    /// `Value`, as given (SecureString values are not encrypted).
    pub value: String,
    /// `Type`: `String`, `StringList` or `SecureString`.
    pub kind: String,
    /// `Description`.
    #[serde(default)]
    pub description: Option<String>,
    /// `KeyId` (SecureString).
    #[serde(default)]
    pub key_id: Option<String>,
    /// `AllowedPattern`, kept but not enforced.
    #[serde(default)]
    pub allowed_pattern: Option<String>,
    /// `DataType` (`text` by default).
    pub data_type: String,
    /// `Tier`.
    pub tier: String,
    /// `LastModifiedDate`.
    pub modified: DateTime<Utc>,
    /// Labels.
    #[serde(default)]
    pub labels: Vec<String>,
}

/// Everything.
#[derive(Debug, Clone)]
pub struct State {
    /// Clusters by name.
    pub clusters: BTreeMap<String, ClusterRec>,
    /// Task-definition families: revision `n` at index `n - 1`.
    pub families: BTreeMap<String, Vec<TaskDefRec>>,
    /// Counters.
    pub meta: Meta,
    /// Application Auto Scaling: scalable targets and what hangs off them.
    pub autoscaling: crate::autoscaling::AutoScaling,
    /// CloudWatch Logs: groups and streams.
    pub logs: crate::logstore::Logs,
    /// CloudWatch metrics pushed by users and tests.
    pub metrics: crate::metrics::Metrics,
    /// Secrets Manager secrets by name.
    pub secrets: BTreeMap<String, SecretRec>,
    /// SSM parameters by normalized name (`/a` and `a` are one parameter).
    pub parameters: BTreeMap<String, ParamRec>,
    /// Account settings set explicitly: principal ARN → setting name → value. The root user's
    /// (`arn:aws:iam::<account>:root`) are the account's defaults ([`berth_core::account`]).
    pub account_settings: AccountSettings,
    /// Auto Scaling group capacity providers by name, `INACTIVE` ones (deleted) included.
    pub capacity_providers: BTreeMap<String, ProviderRec>,
}

/// Account settings set explicitly: principal ARN → setting name → value.
pub type AccountSettings = BTreeMap<String, BTreeMap<String, String>>;

/// A stored record read back as its kind.
fn parse<T: for<'de> Deserialize<'de>>(key: &str, v: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(v).map_err(|source| StoreError::Corrupt {
        key: key.into(),
        source,
    })
}

/// How every keyed record is written out: a JSON document per key.
fn json<T: Serialize>(v: &T) -> Option<Vec<u8>> {
    serde_json::to_vec(v).ok()
}

/// A record as [`State::snapshot`] took it.
pub enum Snapshot {
    /// Its stored form (`None`: it no longer exists).
    Stored(Option<Vec<u8>>),
    /// A task, to serialise (a second reference, not a copy).
    Task(Arc<TaskRec>),
}

impl Snapshot {
    /// The stored form, as [`State::record`] gives it.
    pub fn into_record(self) -> Option<Vec<u8>> {
        match self {
            Snapshot::Stored(r) => r,
            Snapshot::Task(t) => json(&*t),
        }
    }
}

impl State {
    /// An empty state.
    pub fn new(seed: u64, now: DateTime<Utc>) -> Self {
        State {
            clusters: BTreeMap::new(),
            families: BTreeMap::new(),
            meta: Meta {
                rng: pl::SplitMix64::new(seed),
                clock: now,
            },
            autoscaling: Default::default(),
            logs: Default::default(),
            metrics: Default::default(),
            secrets: BTreeMap::new(),
            parameters: BTreeMap::new(),
            account_settings: BTreeMap::new(),
            capacity_providers: BTreeMap::new(),
        }
    }

    /// What [`State::record`] would answer, taken cheaply: a task (most of what a commit
    /// writes) is taken as a second reference rather than serialised, so the commit thread
    /// serialises it after it lets the state lock go; the other records are serialised at once.
    pub fn snapshot(&self, key: &Key) -> Snapshot {
        match key {
            Key::Task(c, id) => match self.clusters.get(c).and_then(|c| c.tasks.get(id)) {
                Some(t) => Snapshot::Task(t.clone()),
                None => Snapshot::Stored(None),
            },
            _ => Snapshot::Stored(self.record(key)),
        }
    }

    /// After reloading from the store: the stored tasks that `old` (the state before) had
    /// created but not yet handed to the runtime stay to be started. A reloaded task is
    /// otherwise taken to be with the runtime, which only holds after the runtime re-adopted
    /// every launched task (when the cluster opens).
    pub fn keep_unstarted(&mut self, old: &State) {
        for (name, c) in &old.clusters {
            let Some(fresh) = self.clusters.get_mut(name) else {
                continue;
            };
            for (id, _) in c.tasks.iter().filter(|(_, t)| t.unstarted) {
                if let Some(t) = fresh.tasks.get_mut(id) {
                    Arc::make_mut(t).unstarted = true;
                    fresh.work.insert(id);
                }
            }
        }
    }

    /// The stored form of a record, `None` when it no longer exists.
    pub fn record(&self, key: &Key) -> Option<Vec<u8>> {
        match key {
            Key::Cluster(n) => self.clusters.get(n).and_then(json),
            Key::TaskDef(f, r) => self
                .families
                .get(f)
                .and_then(|v| v.get((*r as usize).checked_sub(1)?))
                .and_then(json),
            Key::Task(c, id) => self.clusters.get(c)?.tasks.get(id).and_then(|t| json(&**t)),
            Key::Service(c, n) => self.clusters.get(c)?.services.get(n).and_then(json),
            Key::Instance(c, id) => self.clusters.get(c)?.instances.get(id).and_then(json),
            Key::Meta => json(&self.meta),
            Key::ScalableTarget(r) => self.autoscaling.record(r),
            Key::LogGroup(g) => self.logs.group_record(g),
            Key::LogStream(g, s) => self.logs.stream_record(g, s),
            Key::Metric(day, id) => self.metrics.record(*day, id),
            Key::Secret(n) => self.secrets.get(n).and_then(json),
            Key::Parameter(n) => self.parameters.get(n).and_then(json),
            Key::AccountSettings => json(&self.account_settings),
            Key::CapacityProvider(n) => self.capacity_providers.get(n).and_then(json),
        }
    }

    /// Rebuilds the state from stored records. Also answers the changes that move records
    /// stored under an older form of their key to the current one ([`Key::encode`]: tasks
    /// stored before their key was ordered by time), which the caller commits in one
    /// transaction before anything else is written, so a record is never stored under both.
    ///
    /// # Errors
    ///
    /// [`StoreError::Corrupt`] when a record does not parse.
    pub fn load(
        records: Vec<(String, Vec<u8>)>,
        seed: u64,
        now: DateTime<Utc>,
    ) -> Result<(Self, Vec<crate::store::Change>), StoreError> {
        Self::assemble(records, Vec::new(), seed, now)
    }

    /// [`State::load`] of everything in `store`, its tasks read and parsed on two threads
    /// straight from the database ([`Store::load_split`]): what a cluster opens with.
    ///
    /// # Errors
    ///
    /// As [`State::load`], and [`StoreError::Db`].
    pub fn open(
        store: &Store,
        seed: u64,
        now: DateTime<Utc>,
    ) -> Result<(Self, Vec<crate::store::Change>), StoreError> {
        let split = store.load_split("task/", |k, v| parse(k, v).map(Arc::new))?;
        Self::assemble(split.others, split.parsed, seed, now)
    }

    /// [`State::load`] of `records` and of tasks already parsed (`parsed`).
    fn assemble(
        records: Vec<(String, Vec<u8>)>,
        parsed: Vec<(String, Arc<TaskRec>)>,
        seed: u64,
        now: DateTime<Utc>,
    ) -> Result<(Self, Vec<crate::store::Change>), StoreError> {
        let mut st = State::new(seed, now);
        let mut tasks = parsed;
        let mut services = Vec::new();
        let mut instances = Vec::new();
        for (key, value) in records {
            let kind = key.split('/').next().unwrap_or_default();
            match kind {
                "cluster" => {
                    let c: ClusterRec = parse(&key, &value)?;
                    st.clusters.insert(c.name.clone(), c);
                }
                // Keys sort by zero-padded revision, so pushing keeps revision n at n - 1.
                "taskdef" => {
                    let t: TaskDefRec = parse(&key, &value)?;
                    let family = t.td.family.clone().unwrap_or_default();
                    st.families.entry(family).or_default().push(t);
                }
                // A cluster opening reads them on two threads instead (`State::open`).
                "task" => {
                    let t = parse(&key, &value).map(Arc::new)?;
                    tasks.push((key, t));
                }
                "service" => services.push((key.clone(), parse::<ServiceRec>(&key, &value)?)),
                "instance" => instances.push((key.clone(), parse::<InstanceRec>(&key, &value)?)),
                "meta" => st.meta = parse(&key, &value)?,
                "aas" => st
                    .autoscaling
                    .load(&value)
                    .map_err(|source| StoreError::Corrupt {
                        key: key.clone(),
                        source,
                    })?,
                "loggroup" => st
                    .logs
                    .load_group(&value)
                    .map_err(|source| StoreError::Corrupt {
                        key: key.clone(),
                        source,
                    })?,
                "logstream" => {
                    st.logs
                        .load_stream(&value)
                        .map_err(|source| StoreError::Corrupt {
                            key: key.clone(),
                            source,
                        })?
                }
                "metric" => st
                    .metrics
                    .load(&value)
                    .map_err(|source| StoreError::Corrupt {
                        key: key.clone(),
                        source,
                    })?,
                "secret" => {
                    let s: SecretRec = parse(&key, &value)?;
                    st.secrets.insert(s.name.clone(), s);
                }
                // The key carries the normalized name (the record keeps the name as created).
                "ssmparam" => {
                    let p: ParamRec = parse(&key, &value)?;
                    let name = key.strip_prefix("ssmparam/").unwrap_or_default();
                    st.parameters.insert(name.to_string(), p);
                }
                "accountsettings" => st.account_settings = parse(&key, &value)?,
                "capacityprovider" => {
                    let p: ProviderRec = parse(&key, &value)?;
                    let name = p.provider.name.clone().unwrap_or_default();
                    st.capacity_providers.insert(name, p);
                }
                _ => tracing::warn!(key, "ignoring a stored record of unknown kind"),
            }
        }
        st.logs.finish_load();
        // Each id is read once: refused here if it is not one Berth makes, then the key the
        // tasks are sorted by. The store holds tasks in time order and the maps by id, which
        // starts at random: in id order every insert below lands at the end of each map, not
        // in a random place (100,000 tasks: ~0.1 s less to open, BENCHMARKS.md).
        let mut tasks = tasks
            .into_iter()
            .map(|(key, t)| match TaskId::parse(t.id()) {
                Some(id) => Ok((id, key, t)),
                None => Err(StoreError::TaskId {
                    id: t.id().to_string(),
                    key,
                }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        tasks.sort_unstable_by_key(|(id, _, _)| *id);
        let cluster_of = |key: &str| key.split('/').nth(1).unwrap_or_default().to_string();
        for (key, mut i) in instances {
            i.ci.remaining_resources = i.ci.registered_resources;
            i.ci.ports_in_use = i.ci.reserved_ports.clone();
            if let Some(c) = st.clusters.get_mut(&cluster_of(&key)) {
                c.instances.insert(i.ci.id().to_string(), i);
            }
        }
        for (key, s) in services {
            if let Some(c) = st.clusters.get_mut(&cluster_of(&key)) {
                let name = s.service.service_name.clone().unwrap_or_default();
                c.services.insert(name, s);
            }
        }
        let mut rekey = Vec::new();
        for (_, key, t) in tasks {
            let cluster = cluster_of(&key);
            let current = Key::Task(cluster.clone(), t.id().to_string()).encode();
            if current != key {
                rekey.push((key, None));
                rekey.push((current, json(&*t)));
            }
            if let Some(c) = st.clusters.get_mut(&cluster) {
                c.insert_shared(t);
            }
        }
        Ok((st, rekey))
    }

    /// A new random 64-bit number (ids, seeds); marks the meta record dirty.
    pub fn random(&mut self, dirty: &mut BTreeSet<Key>) -> u64 {
        dirty.insert(Key::Meta);
        self.meta.rng.next_u64()
    }

    /// A new task id made at `at`: see [`task_id`]; marks the meta record dirty.
    pub fn new_task_id(&mut self, dirty: &mut BTreeSet<Key>, at: DateTime<Utc>) -> String {
        dirty.insert(Key::Meta);
        task_id(&mut self.meta.rng, at)
    }

    /// A new 32-character lowercase hex id.
    pub fn new_id(&mut self, dirty: &mut BTreeSet<Key>) -> String {
        let a = self.random(dirty);
        let b = self.random(dirty);
        format!("{a:016x}{b:016x}")
    }
}

/// A task id made at `at` from `rng`: 32 lowercase hex digits as ECS's, 80 random bits then
/// 12 hex digits of the cluster clock's milliseconds.
///
/// The time is at the *end*: people tell task ids apart by their start (the dashboard filters
/// by it), which stays random, while the store keeps tasks ordered by the time at the end
/// ([`Key::encode`] puts it first, see [`task_order`]). Tasks made together then sit next to
/// each other in the B-tree, and a commit of a RunTask's tasks, or of their later transitions,
/// rewrites a few adjacent pages instead of one page per task (BENCHMARKS.md).
pub fn task_id(rng: &mut pl::SplitMix64, at: DateTime<Utc>) -> String {
    let a = rng.next_u64();
    let b = rng.next_u64();
    let ms = at.timestamp_millis().max(0) as u64 & 0xffff_ffff_ffff;
    format!("{a:016x}{:04x}{ms:012x}", b & 0xffff)
}

/// A task's place in the store: a 32-digit id's last 12 digits (its creation time, see
/// [`task_id`]) moved in front of its first 20. Any other id is kept as it is. Ids made before
/// the time was part of them are random throughout, and the rotation only moves them to
/// another unique key ([`State::load`] rewrites their records once).
/// Answered as the two parts to write one after the other.
fn task_order(id: &str) -> (&str, &str) {
    match (id.len(), id.get(..20), id.get(20..)) {
        (32, Some(random), Some(time)) => (time, random),
        _ => (id, ""),
    }
}

/// Takes task `id` off its instance's set in `on_instance`, and the set off the map once it is
/// empty (an instance that is deregistered leaves nothing behind).
fn leave_instance(
    on_instance: &mut BTreeMap<String, TaskIds>,
    instance_id: &str,
    id: impl AsTaskId,
) {
    if let Some(set) = on_instance.get_mut(instance_id) {
        set.remove(id);
        if set.is_empty() {
            on_instance.remove(instance_id);
        }
    }
}

impl ClusterRec {
    /// Drops the cached placement state when the change a record key names could have changed
    /// what placement reads (instances, or which tasks occupy them); called for every dirty key
    /// before a change is committed.
    pub fn invalidate_placement(&mut self, key: &Key) {
        let Some(cache) = &self.placement else { return };
        let stale = match key {
            Key::Instance(..) | Key::Cluster(_) => true,
            Key::Task(_, id) => {
                let counted = self.tasks.get(id).is_some_and(|t| t.info.is_some());
                counted != TaskId::parse(id).is_some_and(|k| cache.tasks.contains(&k))
            }
            _ => false,
        };
        if stale {
            self.placement = None;
        }
    }

    /// Adds a task with its indexes: the live set, the service's tasks, and what it occupies on
    /// its instance.
    pub fn insert_task(&mut self, t: TaskRec) {
        self.insert_shared(Arc::new(t));
    }

    /// [`ClusterRec::insert_task`] for a task already shared.
    pub fn insert_shared(&mut self, t: Arc<TaskRec>) {
        let Some(id) = TaskId::parse(t.id()) else {
            // Every id the cluster makes parses, and a store with one that does not is refused
            // when it opens.
            debug_assert!(false, "task id {} is not 32 hex digits", t.id());
            tracing::error!(
                task = t.id(),
                "not indexing a task whose id Berth does not make"
            );
            return;
        };
        self.work.insert(id);
        if t.desired_status() == "RUNNING" && !t.is_stopped() {
            self.live.insert(id);
        }
        if let Some(s) = t.service.as_ref().and_then(|s| self.services.get_mut(s)) {
            s.tasks.insert(id);
        }
        if let Some(info) = &t.info {
            let on = pl::instance_id(&info.container_instance_arn);
            if let Some(i) = self.instances.get_mut(on) {
                charge(i, info, t.status());
            }
            if !t.is_stopped() {
                match self.on_instance.get_mut(on) {
                    Some(set) => {
                        set.insert(id);
                    }
                    None => {
                        self.on_instance
                            .entry(on.to_string())
                            .or_default()
                            .insert(id);
                    }
                }
            }
        }
        self.tasks.insert(id, t);
    }

    /// Forgets a STOPPED task and its index entries (retention purge); returns whether it was
    /// there.
    pub fn remove_task(&mut self, id: &str) -> bool {
        let Some(t) = self.tasks.remove(id) else {
            return false;
        };
        self.live.remove(id);
        if let Some(s) = t.service.as_ref().and_then(|s| self.services.get_mut(s)) {
            s.tasks.remove(id);
        }
        if let Some(info) = &t.info {
            leave_instance(
                &mut self.on_instance,
                pl::instance_id(&info.container_instance_arn),
                id,
            );
        }
        true
    }

    /// The tasks that occupy a container instance (not STOPPED), by id.
    pub fn tasks_on<'a>(&'a self, instance_id: &str) -> impl Iterator<Item = &'a TaskRec> + 'a {
        self.on_instance
            .get(instance_id)
            .into_iter()
            .flatten()
            .filter_map(|id| self.tasks.get(id).map(|t| &**t))
    }

    /// Marks the instance accounting after a task's status changed from `from`.
    pub fn retally(&mut self, id: impl AsTaskId, from: dp::TaskStatus) {
        let Some(id) = id.task_id() else { return };
        let Some(t) = self.tasks.get(id) else {
            return;
        };
        let to = t.status();
        if t.desired_status() != "RUNNING" || to == dp::TaskStatus::Stopped {
            self.live.remove(id);
        }
        let Some(info) = &t.info else { return };
        let Some(i) = self
            .instances
            .get_mut(pl::instance_id(&info.container_instance_arn))
        else {
            return;
        };
        uncount(i, from);
        if to == dp::TaskStatus::Stopped {
            let r = &mut i.ci.remaining_resources;
            r.cpu = (r.cpu + info.resources.cpu).min(i.ci.registered_resources.cpu);
            r.memory = (r.memory + info.resources.memory).min(i.ci.registered_resources.memory);
            r.gpu = (r.gpu + info.resources.gpu).min(i.ci.registered_resources.gpu);
            for p in &info.host_ports {
                let list = match p.protocol {
                    pl::Protocol::Tcp => &mut i.ci.ports_in_use.tcp,
                    pl::Protocol::Udp => &mut i.ci.ports_in_use.udp,
                };
                let reserved = i.ci.reserved_ports.contains(*p);
                if !reserved {
                    list.retain(|q| *q != p.port);
                }
            }
            leave_instance(
                &mut self.on_instance,
                pl::instance_id(&info.container_instance_arn),
                id,
            );
            if let Some(t) = self.tasks.get_mut(id) {
                Arc::make_mut(t).info = None;
            }
        } else {
            count(i, to);
        }
    }
}

fn count(i: &mut InstanceRec, s: dp::TaskStatus) {
    match s {
        dp::TaskStatus::Running => i.running += 1,
        dp::TaskStatus::Stopped => {}
        _ => i.pending += 1,
    }
}

fn uncount(i: &mut InstanceRec, s: dp::TaskStatus) {
    match s {
        dp::TaskStatus::Running => i.running = i.running.saturating_sub(1),
        dp::TaskStatus::Stopped => {}
        _ => i.pending = i.pending.saturating_sub(1),
    }
}

fn charge(i: &mut InstanceRec, info: &pl::TaskInfo, status: dp::TaskStatus) {
    if status == dp::TaskStatus::Stopped {
        return;
    }
    let r = &mut i.ci.remaining_resources;
    r.cpu = r.cpu.saturating_sub(info.resources.cpu);
    r.memory = r.memory.saturating_sub(info.resources.memory);
    r.gpu = r.gpu.saturating_sub(info.resources.gpu);
    for p in &info.host_ports {
        i.ci.ports_in_use.insert(*p);
    }
    count(i, status);
}

/// A cluster as the placement engine sees it.
pub struct View<'a>(pub &'a ClusterRec);

impl pl::ClusterView for View<'_> {
    fn container_instances(&self) -> Box<dyn Iterator<Item = &pl::ContainerInstance> + '_> {
        Box::new(self.0.instances.values().map(|i| &i.ci))
    }
    fn tasks(&self) -> Box<dyn Iterator<Item = &pl::TaskInfo> + '_> {
        Box::new(self.0.tasks.values().filter_map(|t| t.info.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_stored_task_with_an_id_berth_does_not_make_is_refused_by_name() {
        let record = |id: &str| {
            let arn = format!("arn:aws:ecs:us-east-1:000000000000:task/default/{id}");
            serde_json::to_vec(&serde_json::json!({"task": {"taskArn": arn}})).unwrap()
        };
        let good = "0123456789abcdef0123456789abcdef";
        let (st, _) = State::load(
            vec![(format!("task/default/{good}"), record(good))],
            1,
            at("2026-01-01T00:00:00Z"),
        )
        .unwrap();
        assert!(st.clusters.is_empty(), "no cluster record: nothing indexed");
        let err = State::load(
            vec![
                (format!("task/default/{good}"), record(good)),
                ("task/default/short".into(), record("short")),
            ],
            1,
            at("2026-01-01T00:00:00Z"),
        )
        .map(|_| ())
        .expect_err("refused");
        assert_eq!(
            err.to_string(),
            "stored record task/default/short cannot be read: its task id \"short\" is not 32 \
             lowercase hex digits"
        );
    }

    #[test]
    fn task_ids_are_random_at_the_start_and_their_keys_sort_by_time() {
        let mut rng = pl::SplitMix64::new(7);
        let t0 = at("2026-12-06T20:00:00Z");
        let a = task_id(&mut rng, t0);
        let b = task_id(&mut rng, t0);
        let later = task_id(&mut rng, t0 + chrono::Duration::milliseconds(1));
        for id in [&a, &b, &later] {
            assert_eq!(id.len(), 32, "{id}");
            assert!(
                id.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')),
                "{id}"
            );
        }
        assert_ne!(a[..12], b[..12], "made together, they differ at the start");
        assert_eq!(a[20..], format!("{:012x}", t0.timestamp_millis()));
        assert_eq!(a[20..], b[20..], "made together, they end alike");
        let key = |id: &str| Key::Task("default".into(), id.into()).encode();
        assert_eq!(key(&a), format!("task/default/{}{}", &a[20..], &a[..20]));
        assert!(key(&later) > key(&a) && key(&later) > key(&b));
        // Ids of another form keep their key.
        assert_eq!(key("short"), "task/default/short");
    }
}
