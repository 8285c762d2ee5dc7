//! The ECS service scheduler's rolling-update rules as a pure state machine.
//!
//! # What it is for
//!
//! Given a service's [`ServiceState`] (its spec and its deployments) and a snapshot of its tasks
//! ([`TaskSnapshot`]), [`step`] computes what the ECS scheduler would do next: which tasks to
//! start for which deployment, which tasks to stop and why, how deployments move between
//! `PRIMARY` / `ACTIVE` / `INACTIVE`, how their `rolloutState` (`IN_PROGRESS`, `COMPLETED`,
//! `FAILED`) and ServiceDeployment status change, when the deployment circuit breaker trips and
//! whether it rolls back, and the ECS-style service event messages that go with all of it.
//! The result is data ([`Step`]); the caller (the embedded cluster, a simulator in the
//! dashboard, a test) carries it out and calls [`step`] again with the new snapshot.
//!
//! The rules follow `docs/ecs-semantics.md` §3.4–§3.9 and §4:
//!
//! * `maximumPercent` bounds tasks in `PENDING`/`RUNNING`/`STOPPING` to
//!   **floor**(desired × max / 100); `minimumHealthyPercent` keeps at least
//!   **ceil**(desired × min / 100) healthy tasks ([`limits`]).
//! * Defaults are 100/200 for `REPLICA` and 0/100 for `DAEMON`
//!   ([`DeploymentConfiguration::effective`]).
//! * The circuit breaker counts tasks that fail to start and tasks stopped for failing health
//!   checks; its threshold is clamp(ceil(0.5 × desired), 3, 200) or the configured
//!   `thresholdConfiguration` ([`failure_threshold`]).
//! * A rollback starts a new deployment of the last `COMPLETED` deployment's task definition,
//!   and the rolled-back deployment's verdict is a failure ([`ServiceState::verdict`]).
//!
//! # What it deliberately does not do
//!
//! * **No placement.** Which instance a started task lands on is the `placement` module's job;
//!   a [`StepInput::capacity`] number is all this module needs to know about the cluster.
//!   Choosing which task to stop is a simple deterministic rule here (unhealthy first, then
//!   not-yet-healthy, then the oldest), not placement-aware.
//! * **No clock, no IO, no randomness.** Time is [`StepInput::now`]; new task and deployment ids
//!   come from an [`IdSource`] the caller passes (see [`SequentialIds`]), so native, wasm and
//!   tests agree.
//! * **No blue/green, canary, linear, CloudWatch alarms or task sets** (CODE_DEPLOY / EXTERNAL
//!   controllers): only the rolling (`ECS`) controller is modelled.
//! * **No service throttling** ("is unable to consistently start tasks successfully") or
//!   placement failure events: those need the cluster's view.
//!
//! Why: the same rules run inside the embedded cluster, in the browser (wasm) for "what will this
//! deployment do" previews, and in property tests over generated histories; keeping them a pure
//! function of their inputs is what makes all three possible.
//!
//! # Choices where the sources are vague
//!
//! * Breaker failures: tasks stopped as `TaskFailedToStart`, for failing health checks, or with
//!   `EssentialContainerExited` before they were ever seen healthy. A task seen healthy resets
//!   the count (`resetOnHealthyTask`, default true) and evaluation continues; the older rule
//!   "stops being evaluated once a task runs" is not modelled.
//! * ServiceDeployment status: a breaker trip without rollback, and an `ABORT`, end in
//!   `STOPPED`; a rollback with no completed deployment to return to ends in `ROLLBACK_FAILED`; a
//!   failed rollback deployment is not rolled back again.
//! * `maximumPercent` counts `STOPPING` tasks too (the guide's reading), and a stop and a start in
//!   one step are both sized from the counts before the step.
//! * Event texts other than steady state / started / stopped / the stuck message (deployment
//!   failed, rolling back, completed) follow the observed ECS pattern but are unverified.
//!
//! # Bookkeeping
//!
//! The breaker needs to remember which failures it has counted and which tasks it has seen
//! healthy; that bookkeeping lives on [`Deployment`] (serialisable, so the cluster can persist
//! it) and [`step`] returns the updated [`ServiceState`] in [`Step::state`].

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

/// A task with no load balancer and no essential-container health check counts as healthy once
/// it has been `RUNNING` this many seconds (§3.4).
pub const RUNNING_HEALTHY_AFTER_SECS: i64 = 40;

/// The smallest circuit-breaker threshold for percentage thresholds (current ECS docs; the 2023
/// guide said 10, see Appendix C of the semantics doc).
pub const BREAKER_MIN_THRESHOLD: u32 = 3;

/// The largest circuit-breaker threshold for bounded percentage thresholds.
pub const BREAKER_MAX_THRESHOLD: u32 = 200;

/// Errors from the deployment rules: a service specification the scheduler cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeployError {
    /// A percentage in `deploymentConfiguration` is negative.
    #[error("deploymentConfiguration.{member} must be zero or greater, got {value}")]
    NegativePercent {
        /// `minimumHealthyPercent` or `maximumPercent`.
        member: &'static str,
        /// The value given.
        value: i32,
    },
    /// A DAEMON service set `maximumPercent` above 100: ECS's own text (aws/aws-cdk#2209, where
    /// the CDK sent 200).
    #[error(
        "The daemon scheduling strategy does not support values above 100 for maximumPercent on a deployment configuration. Change the maximumPercent value to 100, and try again"
    )]
    DaemonMaximumPercentAbove100 {
        /// The value given.
        value: i32,
    },
    /// A DAEMON service set `maximumPercent` below 100.
    #[error(
        "deploymentConfiguration.maximumPercent must be 100 for a DAEMON service, got {value}; omit it or set it to 100"
    )]
    DaemonMaximumPercent {
        /// The value given.
        value: i32,
    },
    /// The service has no deployment at all.
    #[error("service {service} has no deployment; create one with ServiceState::new")]
    NoDeployment {
        /// The service name.
        service: String,
    },
}

/// `schedulingStrategy`: how the service scheduler decides the number of tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SchedulingStrategy {
    /// A desired count of tasks (the default).
    #[default]
    Replica,
    /// One task per eligible container instance; the caller passes the number of eligible
    /// instances as the desired count.
    Daemon,
}

/// `ThresholdType` of a circuit-breaker `thresholdConfiguration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ThresholdType {
    /// The value is the number of failed tasks.
    Count,
    /// The value is a percentage of the desired count, clamped to [3, 200] (the default, 50).
    BoundedPercent,
    /// The value is a percentage of the desired count, not clamped (at least 1).
    UnboundedPercent,
}

/// `ThresholdConfiguration`: how many failed tasks trip the circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ThresholdConfiguration {
    /// How `value` is read.
    #[serde(rename = "type")]
    pub threshold_type: ThresholdType,
    /// A count or a percentage.
    pub value: i32,
}

/// `DeploymentCircuitBreaker` of a `deploymentConfiguration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentCircuitBreaker {
    /// Whether the breaker watches deployments.
    pub enable: bool,
    /// Whether a tripped breaker rolls back to the last completed deployment.
    pub rollback: bool,
    /// Whether a task reaching a healthy state resets the failure count (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_on_healthy_task: Option<bool>,
    /// The failure threshold (default `BOUNDED_PERCENT` 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold_configuration: Option<ThresholdConfiguration>,
}

/// The parts of `DeploymentConfiguration` the rolling controller uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentConfiguration {
    /// Upper bound on tasks, in percent of the desired count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_percent: Option<i32>,
    /// Lower bound on healthy tasks, in percent of the desired count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_healthy_percent: Option<i32>,
    /// The deployment circuit breaker (off when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment_circuit_breaker: Option<DeploymentCircuitBreaker>,
}

/// The percentages in force once defaults are filled in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EffectivePercents {
    /// `minimumHealthyPercent` after defaults.
    pub minimum_healthy_percent: u32,
    /// `maximumPercent` after defaults.
    pub maximum_percent: u32,
}

impl DeploymentConfiguration {
    /// Fills in ECS's defaults: 100/200 for `REPLICA`, 0/100 for `DAEMON` (API defaults; the
    /// console uses 50 for a DAEMON's minimum).
    ///
    /// # Errors
    ///
    /// [`DeployError::NegativePercent`] for a negative percentage and
    /// [`DeployError::DaemonMaximumPercentAbove100`] and [`DeployError::DaemonMaximumPercent`]
    /// for a DAEMON service whose `maximumPercent` is above or below 100.
    ///
    /// # Example
    ///
    /// ```
    /// use berth_core::deploy::{DeploymentConfiguration, SchedulingStrategy};
    ///
    /// let cfg = DeploymentConfiguration::default();
    /// let eff = cfg.effective(SchedulingStrategy::Replica)?;
    /// assert_eq!((eff.minimum_healthy_percent, eff.maximum_percent), (100, 200));
    /// let eff = cfg.effective(SchedulingStrategy::Daemon)?;
    /// assert_eq!((eff.minimum_healthy_percent, eff.maximum_percent), (0, 100));
    ///
    /// let bad = DeploymentConfiguration { maximum_percent: Some(150), ..Default::default() };
    /// assert!(bad.effective(SchedulingStrategy::Daemon).is_err());
    /// # Ok::<(), berth_core::deploy::DeployError>(())
    /// ```
    pub fn effective(
        &self,
        strategy: SchedulingStrategy,
    ) -> Result<EffectivePercents, DeployError> {
        let (def_min, def_max) = match strategy {
            SchedulingStrategy::Replica => (100, 200),
            SchedulingStrategy::Daemon => (0, 100),
        };
        let min = self.minimum_healthy_percent.unwrap_or(def_min);
        let max = self.maximum_percent.unwrap_or(def_max);
        if min < 0 {
            return Err(DeployError::NegativePercent {
                member: "minimumHealthyPercent",
                value: min,
            });
        }
        if max < 0 {
            return Err(DeployError::NegativePercent {
                member: "maximumPercent",
                value: max,
            });
        }
        if strategy == SchedulingStrategy::Daemon && max > 100 {
            return Err(DeployError::DaemonMaximumPercentAbove100 { value: max });
        }
        if strategy == SchedulingStrategy::Daemon && max != 100 {
            return Err(DeployError::DaemonMaximumPercent { value: max });
        }
        Ok(EffectivePercents {
            minimum_healthy_percent: min.unsigned_abs(),
            maximum_percent: max.unsigned_abs(),
        })
    }
}

/// The two bounds of a rolling update, in tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// At least this many tasks stay healthy: ceil(desired × minimumHealthyPercent / 100).
    pub min_healthy: u32,
    /// At most this many tasks are pending, running or stopping:
    /// floor(desired × maximumPercent / 100).
    pub max_total: u32,
}

/// The task bounds for a desired count: the minimum healthy count is rounded **up**, the maximum
/// total is rounded **down** (§3.4).
///
/// ```
/// use berth_core::deploy::limits;
/// assert_eq!(limits(4, 50, 200).min_healthy, 2);
/// assert_eq!(limits(2, 75, 200).min_healthy, 2); // ceil(1.5)
/// assert_eq!(limits(3, 100, 125).max_total, 3); // floor(3.75)
/// ```
pub fn limits(desired: u32, minimum_healthy_percent: u32, maximum_percent: u32) -> Limits {
    let d = u64::from(desired);
    let min = (d * u64::from(minimum_healthy_percent)).div_ceil(100);
    let max = d * u64::from(maximum_percent) / 100;
    Limits {
        min_healthy: u32::try_from(min).unwrap_or(u32::MAX),
        max_total: u32::try_from(max).unwrap_or(u32::MAX),
    }
}

/// The number of consecutive failed tasks that trips the circuit breaker.
///
/// Without a `thresholdConfiguration` (or with `BOUNDED_PERCENT`) it is
/// clamp(ceil(value% × desired), 3, 200) with value 50 by default; `UNBOUNDED_PERCENT` is not
/// clamped and `COUNT` is the value itself (both at least 1, so a breaker never trips on zero
/// failures).
///
/// ```
/// use berth_core::deploy::failure_threshold;
/// assert_eq!(failure_threshold(1, None), 3);
/// assert_eq!(failure_threshold(25, None), 13);
/// assert_eq!(failure_threshold(400, None), 200);
/// ```
pub fn failure_threshold(desired: u32, config: Option<&ThresholdConfiguration>) -> u32 {
    let (kind, value) = match config {
        Some(c) => (c.threshold_type, c.value.max(0).unsigned_abs()),
        None => (ThresholdType::BoundedPercent, 50),
    };
    let percent = |v: u32| -> u32 {
        let t = (u64::from(desired) * u64::from(v)).div_ceil(100);
        u32::try_from(t).unwrap_or(u32::MAX)
    };
    match kind {
        ThresholdType::Count => value.max(1),
        ThresholdType::BoundedPercent => {
            percent(value).clamp(BREAKER_MIN_THRESHOLD, BREAKER_MAX_THRESHOLD)
        }
        ThresholdType::UnboundedPercent => percent(value).max(1),
    }
}

/// What the scheduler knows about a service: everything [`step`] needs besides its tasks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    /// `serviceName`, used in event messages.
    pub service_name: String,
    /// `desiredCount`; for DAEMON, the number of eligible container instances.
    pub desired_count: u32,
    /// `schedulingStrategy`.
    #[serde(default)]
    pub scheduling_strategy: SchedulingStrategy,
    /// `deploymentConfiguration`.
    #[serde(default)]
    pub deployment_configuration: DeploymentConfiguration,
    /// `healthCheckGracePeriodSeconds`: unhealthy reports are ignored this long after a task
    /// starts running.
    #[serde(default)]
    pub health_check_grace_period_seconds: u32,
    /// Whether the tasks have a health signal (an essential-container health check or a load
    /// balancer). Without one a task counts as healthy after 40 s `RUNNING`.
    #[serde(default)]
    pub health_checked: bool,
    /// How long a task without a health signal must run to count as healthy; `None` is ECS's
    /// [`RUNNING_HEALTHY_AFTER_SECS`] (a local cluster may shorten it to finish deployments
    /// faster).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_after_secs: Option<u32>,
}

/// `Deployment.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeploymentStatus {
    /// The most recent deployment.
    Primary,
    /// An older deployment whose tasks are being replaced.
    Active,
    /// A deployment fully replaced.
    Inactive,
}

/// `DeploymentRolloutState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RolloutState {
    /// The deployment reached a steady state.
    Completed,
    /// The circuit breaker (or a stop request) ended the deployment; it launches no new tasks.
    Failed,
    /// The deployment is rolling.
    InProgress,
}

/// `ServiceDeploymentStatus`, the newer ServiceDeployment API's view of a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ServiceDeploymentStatus {
    /// Created, not yet acted on.
    Pending,
    /// Completed.
    Successful,
    /// Stopped: superseded, aborted, or failed without rollback.
    Stopped,
    /// `StopServiceDeployment` with `ABORT` was requested.
    StopRequested,
    /// Rolling.
    InProgress,
    /// `StopServiceDeployment` with `ROLLBACK` was requested.
    RollbackRequested,
    /// A rollback deployment is rolling.
    RollbackInProgress,
    /// The rollback completed (the deployment itself still failed).
    RollbackSuccessful,
    /// The rollback failed too, or there was nothing to roll back to.
    RollbackFailed,
}

/// `StopServiceDeployment`'s `stopType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StopType {
    /// Stop launching tasks for the deployment.
    Abort,
    /// Roll back to the last completed deployment.
    Rollback,
}

/// One deployment of a service: the wire members of ECS's `Deployment` plus the scheduler's
/// bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// `ecs-svc/<19 digits>`.
    pub id: String,
    /// `PRIMARY`, `ACTIVE` or `INACTIVE`.
    pub status: DeploymentStatus,
    /// The task definition (ARN or `family:revision`) this deployment runs.
    pub task_definition: String,
    /// Tasks this deployment wants (the service's desired count while it is PRIMARY, 0 after).
    pub desired_count: u32,
    /// Tasks not yet RUNNING, as of the last step.
    pub pending_count: u32,
    /// Tasks RUNNING, as of the last step.
    pub running_count: u32,
    /// Consecutive failed tasks counted by the circuit breaker.
    pub failed_tasks: u32,
    /// When the deployment was created.
    pub created_at: DateTime<Utc>,
    /// When the deployment last changed.
    pub updated_at: DateTime<Utc>,
    /// `rolloutState`.
    pub rollout_state: RolloutState,
    /// `rolloutStateReason`.
    pub rollout_state_reason: String,
    /// The ServiceDeployment status of the deployment this record started.
    pub service_deployment_status: ServiceDeploymentStatus,
    /// Why the ServiceDeployment status is what it is, when it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// Set on a deployment created to roll back another: the id of the failed deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<String>,
    /// Set on a failed deployment that was rolled back: the rollback deployment's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back_by: Option<String>,
    /// A pending `StopServiceDeployment` request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_requested: Option<StopType>,
    /// Bookkeeping: failed tasks already seen by the breaker (so none counts twice).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub counted_failures: BTreeSet<String>,
    /// Bookkeeping: tasks already seen healthy (a newly healthy task resets the failure count).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub seen_healthy: BTreeSet<String>,
}

impl Deployment {
    fn new(id: String, task_definition: String, desired: u32, now: DateTime<Utc>) -> Self {
        let reason = in_progress_reason(&id);
        Deployment {
            id,
            status: DeploymentStatus::Primary,
            task_definition,
            desired_count: desired,
            pending_count: 0,
            running_count: 0,
            failed_tasks: 0,
            created_at: now,
            updated_at: now,
            rollout_state: RolloutState::InProgress,
            rollout_state_reason: reason,
            service_deployment_status: ServiceDeploymentStatus::Pending,
            status_reason: None,
            rollback_of: None,
            rolled_back_by: None,
            stop_requested: None,
            counted_failures: BTreeSet::new(),
            seen_healthy: BTreeSet::new(),
        }
    }
}

/// The honest outcome of a deployment, for dashboards and CLIs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "verdict")]
pub enum Verdict {
    /// Still rolling.
    InProgress,
    /// Reached a steady state with its own task definition.
    Succeeded,
    /// Did not complete: the breaker tripped or it was stopped. A rolled-back deployment is a
    /// failure even when the rollback succeeded.
    Failed {
        /// The `rolloutStateReason` / status reason.
        reason: String,
        /// Whether the service was rolled back (successfully or not).
        rolled_back: bool,
    },
    /// A newer deployment replaced it before it completed.
    Superseded,
}

/// A service as the scheduler tracks it: the spec and every deployment, newest last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceState {
    /// The service's spec.
    pub spec: ServiceSpec,
    /// All deployments, oldest first; INACTIVE ones are kept (rollback needs the last completed).
    pub deployments: Vec<Deployment>,
    /// Whether the steady-state event was already emitted for the current steady state.
    #[serde(default)]
    pub steady_reported: bool,
    /// Whether the "unable to stop or start tasks" event was already emitted for this deployment.
    #[serde(default)]
    pub stuck_reported: bool,
}

impl ServiceState {
    /// A new service (CreateService) with its first PRIMARY deployment.
    pub fn new(
        spec: ServiceSpec,
        task_definition: impl Into<String>,
        deployment_id: impl Into<String>,
        now: DateTime<Utc>,
    ) -> Self {
        let d = Deployment::new(
            deployment_id.into(),
            task_definition.into(),
            spec.desired_count,
            now,
        );
        ServiceState {
            spec,
            deployments: vec![d],
            steady_reported: false,
            stuck_reported: false,
        }
    }

    /// The PRIMARY deployment, if any.
    pub fn primary(&self) -> Option<&Deployment> {
        self.deployments
            .iter()
            .rev()
            .find(|d| d.status == DeploymentStatus::Primary)
    }

    /// A deployment by id.
    pub fn deployment(&self, id: &str) -> Option<&Deployment> {
        self.deployments.iter().find(|d| d.id == id)
    }

    /// UpdateService with a new task definition (or `forceNewDeployment`): starts a new PRIMARY
    /// deployment; the previous PRIMARY becomes ACTIVE and, if it was still rolling, its
    /// ServiceDeployment is STOPPED (superseded).
    pub fn start_deployment(
        &mut self,
        task_definition: impl Into<String>,
        deployment_id: impl Into<String>,
        now: DateTime<Utc>,
    ) {
        let id = deployment_id.into();
        self.demote_primary(&id, now);
        self.deployments.push(Deployment::new(
            id,
            task_definition.into(),
            self.spec.desired_count,
            now,
        ));
        self.steady_reported = false;
        self.stuck_reported = false;
    }

    /// UpdateService with only a new desired count: no new deployment (§3.3).
    pub fn set_desired_count(&mut self, desired: u32, now: DateTime<Utc>) {
        self.spec.desired_count = desired;
        if let Some(p) = self
            .deployments
            .iter_mut()
            .rev()
            .find(|d| d.status == DeploymentStatus::Primary)
        {
            p.desired_count = desired;
            p.updated_at = now;
        }
        self.steady_reported = false;
    }

    /// StopServiceDeployment on the PRIMARY deployment: marks it STOP_REQUESTED or
    /// ROLLBACK_REQUESTED; the next [`step`] carries the request out. Returns false when there is
    /// no rolling PRIMARY deployment to stop.
    pub fn request_stop(&mut self, stop_type: StopType, now: DateTime<Utc>) -> bool {
        let Some(p) = self
            .deployments
            .iter_mut()
            .rev()
            .find(|d| d.status == DeploymentStatus::Primary)
        else {
            return false;
        };
        if p.rollout_state != RolloutState::InProgress {
            return false;
        }
        p.stop_requested = Some(stop_type);
        p.service_deployment_status = match stop_type {
            StopType::Abort => ServiceDeploymentStatus::StopRequested,
            StopType::Rollback => ServiceDeploymentStatus::RollbackRequested,
        };
        p.updated_at = now;
        true
    }

    /// The honest verdict for one deployment (`None` for an unknown id).
    pub fn verdict(&self, deployment_id: &str) -> Option<Verdict> {
        let d = self.deployment(deployment_id)?;
        Some(match d.rollout_state {
            RolloutState::Completed => Verdict::Succeeded,
            RolloutState::Failed => Verdict::Failed {
                reason: d
                    .status_reason
                    .clone()
                    .unwrap_or_else(|| d.rollout_state_reason.clone()),
                rolled_back: d.rolled_back_by.is_some(),
            },
            RolloutState::InProgress
                if d.service_deployment_status == ServiceDeploymentStatus::Stopped =>
            {
                Verdict::Superseded
            }
            RolloutState::InProgress => Verdict::InProgress,
        })
    }

    fn demote_primary(&mut self, new_id: &str, now: DateTime<Utc>) {
        for d in self.deployments.iter_mut() {
            if d.status == DeploymentStatus::Primary {
                d.status = DeploymentStatus::Active;
                d.desired_count = 0;
                d.updated_at = now;
                if d.rollout_state == RolloutState::InProgress {
                    d.service_deployment_status = ServiceDeploymentStatus::Stopped;
                    d.status_reason = Some(format!("Superseded by deployment {new_id}."));
                }
            }
        }
    }
}

/// `lastStatus` of a task (§4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskStatus {
    /// Pre-launch work.
    Provisioning,
    /// Waiting on the agent or resources.
    Pending,
    /// Post-launch, pre-RUNNING.
    Activating,
    /// Running.
    Running,
    /// Deregistering targets.
    Deactivating,
    /// Containers being stopped.
    Stopping,
    /// Network resources being released.
    Deprovisioning,
    /// Stopped.
    Stopped,
}

/// `HealthStatus` of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HealthStatus {
    /// Passing its health checks.
    Healthy,
    /// Failing its health checks.
    Unhealthy,
    /// Not known yet, or no health check.
    #[default]
    Unknown,
}

/// Why a stopped task stopped, as far as the scheduler cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StopCause {
    /// `TaskFailedToStart`: never reached RUNNING (image pull, placement, launch errors).
    FailedToStart,
    /// Stopped for failing container, ELB or Cloud Map health checks.
    FailedHealthCheck,
    /// `EssentialContainerExited`.
    EssentialContainerExited,
    /// `ServiceSchedulerInitiated`: stopped by the scheduler (replacement, scale-in).
    ServiceSchedulerInitiated,
    /// `UserInitiated`: StopTask.
    UserInitiated,
    /// Spot interruption, termination notice or infrastructure health.
    Infrastructure,
}

/// A task of the service as the scheduler sees it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSnapshot {
    /// The 32-character task id.
    pub task_id: String,
    /// `startedBy`: the deployment that started it.
    pub deployment_id: String,
    /// `lastStatus`.
    pub last_status: TaskStatus,
    /// `desiredStatus` is STOPPED (a stop was requested but has not finished).
    #[serde(default)]
    pub stop_requested: bool,
    /// `healthStatus`.
    #[serde(default)]
    pub health: HealthStatus,
    /// `createdAt`.
    pub created_at: DateTime<Utc>,
    /// When it reached RUNNING, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// Why it stopped, once STOPPED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_cause: Option<StopCause>,
}

/// How a task counts for the rolling-update bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TaskClass {
    /// Provisioning, pending or activating.
    Pending,
    /// Running and counted healthy for `minimumHealthyPercent`.
    Healthy,
    /// Running, reported unhealthy after the grace period: will be replaced.
    Unhealthy,
    /// Running, not (yet) healthy: health unknown, inside the grace period or before 40 s.
    Starting,
    /// Stopping (or asked to stop): still counts toward `maximumPercent`.
    Stopping,
    /// Stopped.
    Stopped,
}

/// Classifies one task at `now` under the service's health rules.
pub fn classify(task: &TaskSnapshot, spec: &ServiceSpec, now: DateTime<Utc>) -> TaskClass {
    match task.last_status {
        TaskStatus::Stopped => return TaskClass::Stopped,
        TaskStatus::Deactivating | TaskStatus::Stopping | TaskStatus::Deprovisioning => {
            return TaskClass::Stopping;
        }
        _ if task.stop_requested => return TaskClass::Stopping,
        TaskStatus::Provisioning | TaskStatus::Pending | TaskStatus::Activating => {
            return TaskClass::Pending;
        }
        TaskStatus::Running => {}
    }
    let started = task.started_at.unwrap_or(task.created_at);
    let running_for = now.signed_duration_since(started);
    if spec.health_checked {
        match task.health {
            HealthStatus::Healthy => TaskClass::Healthy,
            HealthStatus::Unhealthy
                if running_for
                    >= Duration::seconds(i64::from(spec.health_check_grace_period_seconds)) =>
            {
                TaskClass::Unhealthy
            }
            _ => TaskClass::Starting,
        }
    } else if task.health == HealthStatus::Unhealthy
        && running_for >= Duration::seconds(i64::from(spec.health_check_grace_period_seconds))
    {
        TaskClass::Unhealthy
    } else if running_for
        >= Duration::seconds(
            spec.healthy_after_secs
                .map_or(RUNNING_HEALTHY_AFTER_SECS, i64::from),
        )
    {
        TaskClass::Healthy
    } else {
        TaskClass::Starting
    }
}

/// Where new task and deployment ids come from (a parameter, so runs are reproducible).
pub trait IdSource {
    /// A new 32-character task id.
    fn task_id(&mut self) -> String;
    /// A new deployment id, `ecs-svc/<19 digits>`.
    fn deployment_id(&mut self) -> String;
}

/// A deterministic [`IdSource`]: ids from a counter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SequentialIds {
    /// The next number to use.
    pub next: u64,
}

impl IdSource for SequentialIds {
    fn task_id(&mut self) -> String {
        self.next = self.next.wrapping_add(1);
        format!("{:032x}", self.next)
    }
    fn deployment_id(&mut self) -> String {
        self.next = self.next.wrapping_add(1);
        format!("ecs-svc/{:019}", self.next % 10_000_000_000_000_000_000)
    }
}

/// The per-step inputs besides the state and the tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepInput {
    /// The current time.
    pub now: DateTime<Utc>,
    /// How many more tasks of this service the cluster can place right now (`None`: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
}

/// A task to start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStart {
    /// The id to give it.
    pub task_id: String,
    /// The deployment it belongs to (`startedBy`).
    pub deployment_id: String,
    /// The task definition to run.
    pub task_definition: String,
}

/// A task to stop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskStop {
    /// The task.
    pub task_id: String,
    /// Its deployment.
    pub deployment_id: String,
    /// `stopCode` (always `ServiceSchedulerInitiated` here).
    pub stop_code: String,
    /// `stoppedReason`.
    pub reason: String,
}

/// A state change made by a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum Transition {
    /// `Deployment.status` changed.
    Status {
        /// The deployment.
        deployment_id: String,
        /// Old status.
        from: DeploymentStatus,
        /// New status.
        to: DeploymentStatus,
    },
    /// `rolloutState` changed.
    Rollout {
        /// The deployment.
        deployment_id: String,
        /// Old state.
        from: RolloutState,
        /// New state.
        to: RolloutState,
        /// The new `rolloutStateReason`.
        reason: String,
    },
    /// The ServiceDeployment status changed.
    ServiceDeployment {
        /// The deployment.
        deployment_id: String,
        /// Old status.
        from: ServiceDeploymentStatus,
        /// New status.
        to: ServiceDeploymentStatus,
    },
    /// The circuit breaker tripped.
    BreakerTripped {
        /// The deployment.
        deployment_id: String,
        /// Failures counted.
        failed_tasks: u32,
        /// The threshold.
        threshold: u32,
    },
    /// A rollback deployment was created.
    RollbackStarted {
        /// The failed deployment.
        failed_deployment_id: String,
        /// The new deployment that rolls back.
        rollback_deployment_id: String,
        /// The completed deployment whose task definition is restored.
        target_deployment_id: String,
        /// That task definition.
        task_definition: String,
    },
}

/// Why nothing could move this step although the deployment is not done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Blocked {
    /// `maximumPercent` allows no start and `minimumHealthyPercent` allows no stop (§3.4).
    DeploymentConfiguration,
    /// Tasks are wanted but the cluster has no capacity for them.
    Capacity,
}

/// The outcome of one scheduler step: data for the caller to carry out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// Tasks to start.
    pub start: Vec<TaskStart>,
    /// Tasks to stop.
    pub stop: Vec<TaskStop>,
    /// State changes made.
    pub transitions: Vec<Transition>,
    /// Service event messages, in order.
    pub events: Vec<String>,
    /// Set when the deployment could not progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked: Option<Blocked>,
    /// The bounds used this step.
    pub limits: Limits,
    /// The service state after the step; store it and pass it to the next step.
    pub state: ServiceState,
}

/// ECS-style service event texts (§3.9).
pub mod events {
    /// `(service NAME) has reached a steady state.`
    pub fn steady_state(service: &str) -> String {
        format!("(service {service}) has reached a steady state.")
    }
    /// `(service NAME) has started N tasks: (task ID) (task ID).`
    pub fn started(service: &str, task_ids: &[String]) -> String {
        format!(
            "(service {service}) has started {} tasks: {}.",
            task_ids.len(),
            wrap(task_ids)
        )
    }
    /// `(service NAME) has stopped N running tasks: (task ID).`
    pub fn stopped(service: &str, task_ids: &[String]) -> String {
        format!(
            "(service {service}) has stopped {} running tasks: {}.",
            task_ids.len(),
            wrap(task_ids)
        )
    }
    /// The stuck-deployment event of §3.4 (exact text).
    pub fn unable_to_stop_or_start(service: &str) -> String {
        format!(
            "service ({service}) was unable to stop or start tasks during a deployment because of the service deployment configuration. Update the minimumHealthyPercent or maximumPercent value and try again."
        )
    }
    /// `(service NAME) (deployment ID) deployment failed: tasks failed to start.`
    pub fn deployment_failed(service: &str, deployment_id: &str) -> String {
        format!(
            "(service {service}) (deployment {deployment_id}) deployment failed: tasks failed to start."
        )
    }
    /// `(service NAME) rolling back to deployment ID.`
    pub fn rolling_back(service: &str, deployment_id: &str) -> String {
        format!("(service {service}) rolling back to deployment {deployment_id}.")
    }
    /// `(service NAME) (deployment ID) deployment completed.`
    pub fn deployment_completed(service: &str, deployment_id: &str) -> String {
        format!("(service {service}) (deployment {deployment_id}) deployment completed.")
    }
    /// `(service NAME) (task ID) failed container health checks.`
    pub fn failed_health_checks(service: &str, task_id: &str) -> String {
        format!("(service {service}) (task {task_id}) failed container health checks.")
    }

    fn wrap(ids: &[String]) -> String {
        ids.iter()
            .map(|id| format!("(task {id})"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn in_progress_reason(id: &str) -> String {
    format!("ECS deployment {id} in progress.")
}
fn completed_reason(id: &str) -> String {
    format!("ECS deployment {id} completed.")
}
/// `rolloutStateReason` of a deployment the breaker failed (observed in AWS output).
pub const BREAKER_FAILED_REASON: &str = "ECS deployment circuit breaker: tasks failed to start.";
fn rollback_reason(target: &str) -> String {
    format!("ECS deployment circuit breaker: rolling back to deploymentId {target}.")
}

/// Per-deployment counts of a snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Pending tasks.
    pub pending: u32,
    /// Running tasks counted healthy.
    pub healthy: u32,
    /// Running, unhealthy.
    pub unhealthy: u32,
    /// Running, not yet healthy.
    pub starting: u32,
    /// Stopping.
    pub stopping: u32,
    /// Stopped.
    pub stopped: u32,
}

impl Counts {
    /// Tasks that count toward `maximumPercent`: everything not STOPPED.
    pub fn live(&self) -> u32 {
        self.pending + self.healthy + self.unhealthy + self.starting + self.stopping
    }
    /// RUNNING tasks.
    pub fn running(&self) -> u32 {
        self.healthy + self.unhealthy + self.starting
    }
    /// All tasks.
    pub fn total(&self) -> u32 {
        self.live() + self.stopped
    }
    fn add(&mut self, class: TaskClass) {
        match class {
            TaskClass::Pending => self.pending += 1,
            TaskClass::Healthy => self.healthy += 1,
            TaskClass::Unhealthy => self.unhealthy += 1,
            TaskClass::Starting => self.starting += 1,
            TaskClass::Stopping => self.stopping += 1,
            TaskClass::Stopped => self.stopped += 1,
        }
    }
}

/// Counts the tasks of one deployment (all deployments with `None`).
pub fn counts(
    tasks: &[TaskSnapshot],
    deployment_id: Option<&str>,
    spec: &ServiceSpec,
    now: DateTime<Utc>,
) -> Counts {
    let mut c = Counts::default();
    for t in tasks
        .iter()
        .filter(|t| deployment_id.is_none_or(|d| t.deployment_id == d))
    {
        c.add(classify(t, spec, now));
    }
    c
}

fn is_breaker_failure(task: &TaskSnapshot, d: &Deployment) -> bool {
    if task.last_status != TaskStatus::Stopped || d.seen_healthy.contains(&task.task_id) {
        return false;
    }
    matches!(
        task.stop_cause,
        Some(
            StopCause::FailedToStart
                | StopCause::FailedHealthCheck
                | StopCause::EssentialContainerExited
        )
    )
}

/// Computes the scheduler's next step.
///
/// Reads the tasks of every deployment, updates the circuit breaker's counts, trips it (and
/// rolls back) when the threshold is reached, replaces unhealthy tasks, starts tasks for the
/// PRIMARY deployment within `maximumPercent` and the cluster's capacity, stops older
/// deployments' tasks within `minimumHealthyPercent`, completes deployments that reached a steady
/// state, and writes the matching events. A stop and a start in the same step are computed
/// against the counts before the step, so the bounds hold whatever order the caller carries them
/// out in.
///
/// # Errors
///
/// [`DeployError::NoDeployment`] when the state has no PRIMARY deployment, and the errors of
/// [`DeploymentConfiguration::effective`] for invalid percentages.
///
/// # Example
///
/// ```
/// use berth_core::deploy::*;
/// use chrono::{TimeZone, Utc};
///
/// let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
/// let spec = ServiceSpec {
///     service_name: "web".into(),
///     desired_count: 2,
///     scheduling_strategy: SchedulingStrategy::Replica,
///     deployment_configuration: DeploymentConfiguration::default(),
///     health_check_grace_period_seconds: 0,
///     health_checked: false,
///     healthy_after_secs: None,
/// };
/// let state = ServiceState::new(spec, "web:1", "ecs-svc/0000000000000000001", now);
/// let mut ids = SequentialIds::default();
/// let step = step(&state, &[], StepInput { now, capacity: None }, &mut ids)?;
/// assert_eq!(step.start.len(), 2);
/// assert!(step.events[0].starts_with("(service web) has started 2 tasks: (task "));
/// # Ok::<(), DeployError>(())
/// ```
pub fn step(
    state: &ServiceState,
    tasks: &[TaskSnapshot],
    input: StepInput,
    ids: &mut dyn IdSource,
) -> Result<Step, DeployError> {
    let now = input.now;
    let spec = &state.spec;
    let name = spec.service_name.as_str();
    let pct = spec
        .deployment_configuration
        .effective(spec.scheduling_strategy)?;
    let desired = spec.desired_count;
    let lim = limits(desired, pct.minimum_healthy_percent, pct.maximum_percent);
    let breaker = spec
        .deployment_configuration
        .deployment_circuit_breaker
        .unwrap_or_default();
    let mut next = state.clone();
    let mut out = Step {
        start: Vec::new(),
        stop: Vec::new(),
        transitions: Vec::new(),
        events: Vec::new(),
        blocked: None,
        limits: lim,
        state: state.clone(),
    };
    let Some(primary_idx) = next
        .deployments
        .iter()
        .rposition(|d| d.status == DeploymentStatus::Primary)
    else {
        return Err(DeployError::NoDeployment {
            service: name.to_string(),
        });
    };

    // 1. Breaker bookkeeping for every deployment: newly healthy tasks reset, new failures count.
    let reset_on_healthy = breaker.reset_on_healthy_task.unwrap_or(true);
    for d in next.deployments.iter_mut() {
        let mut newly_healthy = false;
        for t in tasks.iter().filter(|t| t.deployment_id == d.id) {
            if classify(t, spec, now) == TaskClass::Healthy
                && d.seen_healthy.insert(t.task_id.clone())
            {
                newly_healthy = true;
            }
        }
        if newly_healthy && reset_on_healthy {
            d.failed_tasks = 0;
        }
        for t in tasks.iter().filter(|t| t.deployment_id == d.id) {
            if is_breaker_failure(t, d) && d.counted_failures.insert(t.task_id.clone()) {
                d.failed_tasks = d.failed_tasks.saturating_add(1);
            }
        }
    }

    // 2. PENDING → IN_PROGRESS on first sight.
    {
        let p = &mut next.deployments[primary_idx];
        if p.service_deployment_status == ServiceDeploymentStatus::Pending {
            let to = if p.rollback_of.is_some() {
                ServiceDeploymentStatus::RollbackInProgress
            } else {
                ServiceDeploymentStatus::InProgress
            };
            set_sd_status(p, to, &mut out.transitions);
        }
    }

    // 3. Unhealthy tasks are replaced; the breaker counts them as health-check failures.
    let mut stopping_now: BTreeSet<String> = BTreeSet::new();
    for t in tasks {
        if classify(t, spec, now) == TaskClass::Unhealthy {
            let owner = next
                .deployments
                .iter_mut()
                .find(|d| d.id == t.deployment_id)
                .filter(|d| !d.seen_healthy.contains(&t.task_id));
            let newly_failed = owner
                .map(|d| (d.counted_failures.insert(t.task_id.clone()), d))
                .filter(|(new, _)| *new);
            if let Some((_, d)) = newly_failed {
                d.failed_tasks = d.failed_tasks.saturating_add(1);
            }
            stopping_now.insert(t.task_id.clone());
            out.events
                .push(events::failed_health_checks(name, &t.task_id));
            out.stop.push(TaskStop {
                task_id: t.task_id.clone(),
                deployment_id: t.deployment_id.clone(),
                stop_code: "ServiceSchedulerInitiated".into(),
                reason: "Task failed container health checks".into(),
            });
        }
    }

    // 4. Circuit breaker and stop requests on the PRIMARY deployment.
    let threshold = failure_threshold(desired, breaker.threshold_configuration.as_ref());
    let mut primary_idx = primary_idx;
    {
        let p = &next.deployments[primary_idx];
        let trip = breaker.enable
            && p.rollout_state == RolloutState::InProgress
            && p.failed_tasks >= threshold;
        let stop_req = p.stop_requested;
        if trip || stop_req.is_some() {
            let failed_id = p.id.clone();
            let is_rollback = p.rollback_of.clone();
            let want_rollback = if trip {
                breaker.rollback
            } else {
                stop_req == Some(StopType::Rollback)
            };
            let reason = if trip {
                out.transitions.push(Transition::BreakerTripped {
                    deployment_id: failed_id.clone(),
                    failed_tasks: p.failed_tasks,
                    threshold,
                });
                out.events.push(events::deployment_failed(name, &failed_id));
                BREAKER_FAILED_REASON.to_string()
            } else {
                format!("ECS deployment {failed_id} stopped by request.")
            };
            let target = next
                .deployments
                .iter()
                .filter(|d| d.rollout_state == RolloutState::Completed && d.id != failed_id)
                .max_by_key(|d| d.created_at)
                .map(|d| (d.id.clone(), d.task_definition.clone()));
            let p = &mut next.deployments[primary_idx];
            p.stop_requested = None;
            set_rollout(
                p,
                RolloutState::Failed,
                reason.clone(),
                now,
                &mut out.transitions,
            );
            if let Some(original) = is_rollback {
                // A rollback that fails ends the story: no rollback of a rollback.
                set_sd_status(p, ServiceDeploymentStatus::Stopped, &mut out.transitions);
                p.status_reason = Some(reason.clone());
                if let Some(o) = next.deployments.iter_mut().find(|d| d.id == original) {
                    set_sd_status(
                        o,
                        ServiceDeploymentStatus::RollbackFailed,
                        &mut out.transitions,
                    );
                    o.status_reason = Some(format!("Rollback deployment failed: {reason}"));
                }
            } else if want_rollback {
                match target {
                    Some((target_id, task_def)) => {
                        let new_id = ids.deployment_id();
                        p.rolled_back_by = Some(new_id.clone());
                        p.status_reason = Some(reason.clone());
                        set_sd_status(
                            p,
                            ServiceDeploymentStatus::RollbackInProgress,
                            &mut out.transitions,
                        );
                        next.demote_primary(&new_id, now);
                        // demote_primary marks a rolling deployment STOPPED; the failed one is
                        // not rolling any more, but keep its rollback status.
                        if let Some(f) = next.deployments.iter_mut().find(|d| d.id == failed_id) {
                            f.service_deployment_status =
                                ServiceDeploymentStatus::RollbackInProgress;
                            f.status_reason = Some(reason.clone());
                        }
                        out.transitions.push(Transition::Status {
                            deployment_id: failed_id.clone(),
                            from: DeploymentStatus::Primary,
                            to: DeploymentStatus::Active,
                        });
                        let mut rb =
                            Deployment::new(new_id.clone(), task_def.clone(), desired, now);
                        rb.rollback_of = Some(failed_id.clone());
                        rb.rollout_state_reason = rollback_reason(&target_id);
                        rb.service_deployment_status = ServiceDeploymentStatus::RollbackInProgress;
                        next.deployments.push(rb);
                        primary_idx = next.deployments.len() - 1;
                        next.steady_reported = false;
                        next.stuck_reported = false;
                        out.events.push(events::rolling_back(name, &target_id));
                        out.transitions.push(Transition::RollbackStarted {
                            failed_deployment_id: failed_id,
                            rollback_deployment_id: new_id,
                            target_deployment_id: target_id,
                            task_definition: task_def,
                        });
                    }
                    None => {
                        set_sd_status(
                            p,
                            ServiceDeploymentStatus::RollbackFailed,
                            &mut out.transitions,
                        );
                        p.status_reason =
                            Some(format!("{reason} No completed deployment to roll back to."));
                    }
                }
            } else {
                set_sd_status(p, ServiceDeploymentStatus::Stopped, &mut out.transitions);
                p.status_reason = Some(reason);
            }
        }
    }

    // 5. Rolling update: starts for the PRIMARY, stops for the rest.
    let primary_id = next.deployments[primary_idx].id.clone();
    let primary_failed = next.deployments[primary_idx].rollout_state == RolloutState::Failed;
    let all = counts(tasks, None, spec, now);
    let mut healthy_total = all.healthy;
    let live_total = all.live();
    let p_counts = counts(tasks, Some(&primary_id), spec, now);
    // Primary tasks that will still be there after this step's stops.
    let p_keep = p_counts.pending + p_counts.healthy + p_counts.starting;

    // Stops: old deployments' tasks (not while a failed PRIMARY without rollback holds the
    // service as it is), then PRIMARY tasks beyond the desired count.
    let mut candidates: Vec<(&TaskSnapshot, TaskClass)> = Vec::new();
    if !primary_failed {
        for t in tasks.iter().filter(|t| t.deployment_id != primary_id) {
            let c = classify(t, spec, now);
            if matches!(
                c,
                TaskClass::Pending | TaskClass::Starting | TaskClass::Healthy
            ) && !stopping_now.contains(&t.task_id)
            {
                candidates.push((t, c));
            }
        }
    }
    let mut excess = p_keep.saturating_sub(desired);
    let mut primary_cands: Vec<(&TaskSnapshot, TaskClass)> = tasks
        .iter()
        .filter(|t| t.deployment_id == primary_id)
        .map(|t| (t, classify(t, spec, now)))
        .filter(|(_, c)| {
            matches!(
                c,
                TaskClass::Pending | TaskClass::Starting | TaskClass::Healthy
            )
        })
        .collect();
    sort_stop_order(&mut candidates);
    sort_stop_order(&mut primary_cands);
    let mut stopped_ids: Vec<String> = Vec::new();
    let mut stop_one =
        |t: &TaskSnapshot, c: TaskClass, healthy_total: &mut u32, out: &mut Step| -> bool {
            if c == TaskClass::Healthy {
                if *healthy_total == 0 || *healthy_total - 1 < lim.min_healthy {
                    return false;
                }
                *healthy_total -= 1;
            }
            out.stop.push(TaskStop {
                task_id: t.task_id.clone(),
                deployment_id: t.deployment_id.clone(),
                stop_code: "ServiceSchedulerInitiated".into(),
                reason: format!("Scaling activity initiated by (deployment {primary_id})"),
            });
            stopped_ids.push(t.task_id.clone());
            true
        };
    for (t, c) in candidates {
        stop_one(t, c, &mut healthy_total, &mut out);
    }
    for (t, c) in primary_cands {
        if excess == 0 {
            break;
        }
        if stop_one(t, c, &mut healthy_total, &mut out) {
            excess -= 1;
        }
    }
    if !stopped_ids.is_empty() {
        next.steady_reported = false;
        out.events.push(events::stopped(name, &stopped_ids));
    }

    // Starts: PRIMARY up to the desired count, within maximumPercent and capacity.
    let need = desired.saturating_sub(p_keep);
    let room = lim.max_total.saturating_sub(live_total);
    let cap = input.capacity.unwrap_or(u32::MAX);
    let n = if primary_failed {
        0
    } else {
        need.min(room).min(cap)
    };
    let task_def = next.deployments[primary_idx].task_definition.clone();
    let mut started_ids = Vec::new();
    for _ in 0..n {
        let id = ids.task_id();
        started_ids.push(id.clone());
        out.start.push(TaskStart {
            task_id: id,
            deployment_id: primary_id.clone(),
            task_definition: task_def.clone(),
        });
    }
    if !started_ids.is_empty() {
        next.steady_reported = false;
        out.events.push(events::started(name, &started_ids));
    }

    // Stuck? Nothing moved, nothing in flight, yet the deployment is not done.
    let in_flight = all.pending + all.starting + all.stopping + all.unhealthy > 0;
    let old_live: u32 = tasks
        .iter()
        .filter(|t| t.deployment_id != primary_id)
        .filter(|t| classify(t, spec, now) != TaskClass::Stopped)
        .count()
        .try_into()
        .unwrap_or(u32::MAX);
    let unfinished = need > 0 || old_live > 0;
    if !primary_failed && out.start.is_empty() && out.stop.is_empty() && !in_flight && unfinished {
        if need > 0 && room > 0 && cap == 0 {
            out.blocked = Some(Blocked::Capacity);
        } else {
            out.blocked = Some(Blocked::DeploymentConfiguration);
            if !next.stuck_reported {
                next.stuck_reported = true;
                out.events.push(events::unable_to_stop_or_start(name));
            }
        }
    }

    // 6. Bookkeeping: counts, INACTIVE old deployments, completion, steady state.
    let nothing_moved = out.start.is_empty() && out.stop.is_empty();
    for d in next.deployments.iter_mut() {
        let c = counts(tasks, Some(&d.id), spec, now);
        let (pending, running) = (c.pending, c.running());
        if d.pending_count != pending || d.running_count != running {
            d.pending_count = pending;
            d.running_count = running;
            d.updated_at = now;
        }
        if d.status == DeploymentStatus::Active && c.live() == 0 {
            d.status = DeploymentStatus::Inactive;
            d.updated_at = now;
            out.transitions.push(Transition::Status {
                deployment_id: d.id.clone(),
                from: DeploymentStatus::Active,
                to: DeploymentStatus::Inactive,
            });
        }
    }
    let others_live = next
        .deployments
        .iter()
        .any(|d| d.id != primary_id && d.status != DeploymentStatus::Inactive);
    let steady = nothing_moved
        && !others_live
        && p_counts.healthy == desired
        && p_counts.live() == desired
        && !primary_failed;
    if steady {
        let p = &mut next.deployments[primary_idx];
        if p.rollout_state == RolloutState::InProgress {
            let id = p.id.clone();
            set_rollout(
                p,
                RolloutState::Completed,
                completed_reason(&id),
                now,
                &mut out.transitions,
            );
            set_sd_status(p, ServiceDeploymentStatus::Successful, &mut out.transitions);
            let orig = p.rollback_of.clone();
            let original = next
                .deployments
                .iter_mut()
                .find(|d| orig.as_deref() == Some(d.id.as_str()));
            if let Some(o) = original {
                set_sd_status(
                    o,
                    ServiceDeploymentStatus::RollbackSuccessful,
                    &mut out.transitions,
                );
            }
            out.events.push(events::deployment_completed(name, &id));
        }
        if !next.steady_reported {
            next.steady_reported = true;
            out.events.push(events::steady_state(name));
        }
    }
    out.state = next;
    Ok(out)
}

fn sort_stop_order(c: &mut [(&TaskSnapshot, TaskClass)]) {
    // Not-yet-healthy first (stopping them costs no healthy task), then the oldest.
    let rank = |c: TaskClass| match c {
        TaskClass::Unhealthy => 0,
        TaskClass::Pending => 1,
        TaskClass::Starting => 2,
        _ => 3,
    };
    c.sort_by(|(a, ca), (b, cb)| {
        rank(*ca)
            .cmp(&rank(*cb))
            .then(a.created_at.cmp(&b.created_at))
            .then(a.task_id.cmp(&b.task_id))
    });
}

fn set_rollout(
    d: &mut Deployment,
    to: RolloutState,
    reason: String,
    now: DateTime<Utc>,
    tr: &mut Vec<Transition>,
) {
    if d.rollout_state != to {
        tr.push(Transition::Rollout {
            deployment_id: d.id.clone(),
            from: d.rollout_state,
            to,
            reason: reason.clone(),
        });
    }
    d.rollout_state = to;
    d.rollout_state_reason = reason;
    d.updated_at = now;
}

fn set_sd_status(d: &mut Deployment, to: ServiceDeploymentStatus, tr: &mut Vec<Transition>) {
    if d.service_deployment_status != to {
        tr.push(Transition::ServiceDeployment {
            deployment_id: d.id.clone(),
            from: d.service_deployment_status,
            to,
        });
        d.service_deployment_status = to;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn spec(desired: u32, min: Option<i32>, max: Option<i32>) -> ServiceSpec {
        ServiceSpec {
            service_name: "web".into(),
            desired_count: desired,
            scheduling_strategy: SchedulingStrategy::Replica,
            deployment_configuration: DeploymentConfiguration {
                maximum_percent: max,
                minimum_healthy_percent: min,
                deployment_circuit_breaker: None,
            },
            health_check_grace_period_seconds: 0,
            health_checked: false,
            healthy_after_secs: None,
        }
    }

    /// A tiny world: tasks start one tick after being asked to, stop one tick after being
    /// asked to; task definitions in `bad` fail to start; `capacity` caps live tasks.
    struct Sim {
        state: ServiceState,
        tasks: Vec<TaskSnapshot>,
        ids: SequentialIds,
        now: DateTime<Utc>,
        bad: BTreeSet<String>,
        capacity: Option<u32>,
        log: Vec<Step>,
    }

    impl Sim {
        fn new(spec: ServiceSpec, td: &str) -> Sim {
            let mut ids = SequentialIds::default();
            let dep = ids.deployment_id();
            Sim {
                state: ServiceState::new(spec, td, dep, t0()),
                tasks: Vec::new(),
                ids,
                now: t0(),
                bad: BTreeSet::new(),
                capacity: None,
                log: Vec::new(),
            }
        }

        fn task_def(&self, dep: &str) -> String {
            self.state
                .deployment(dep)
                .map(|d| d.task_definition.clone())
                .unwrap_or_default()
        }

        fn progress(&mut self) {
            let now = self.now;
            let bad: Vec<bool> = self
                .tasks
                .iter()
                .map(|t| self.bad.contains(&self.task_def(&t.deployment_id)))
                .collect();
            for (t, bad) in self.tasks.iter_mut().zip(bad) {
                if t.last_status == TaskStatus::Stopped {
                    continue;
                }
                if t.stop_requested {
                    t.last_status = TaskStatus::Stopped;
                    t.stop_cause
                        .get_or_insert(StopCause::ServiceSchedulerInitiated);
                } else if t.last_status == TaskStatus::Pending {
                    if bad {
                        t.last_status = TaskStatus::Stopped;
                        t.stop_cause = Some(StopCause::FailedToStart);
                    } else {
                        t.last_status = TaskStatus::Running;
                        t.started_at = Some(now);
                    }
                }
            }
        }

        fn tick(&mut self) -> Step {
            self.progress();
            let live = self
                .tasks
                .iter()
                .filter(|t| t.last_status != TaskStatus::Stopped)
                .count() as u32;
            let capacity = self.capacity.map(|c| c.saturating_sub(live));
            let s = step(
                &self.state,
                &self.tasks,
                StepInput {
                    now: self.now,
                    capacity,
                },
                &mut self.ids,
            )
            .unwrap();
            self.apply(&s);
            s
        }

        fn apply(&mut self, s: &Step) {
            for stop in &s.stop {
                if let Some(t) = self.tasks.iter_mut().find(|t| t.task_id == stop.task_id) {
                    t.stop_requested = true;
                }
            }
            for st in &s.start {
                self.tasks.push(TaskSnapshot {
                    task_id: st.task_id.clone(),
                    deployment_id: st.deployment_id.clone(),
                    last_status: TaskStatus::Pending,
                    stop_requested: false,
                    health: HealthStatus::Unknown,
                    created_at: self.now,
                    started_at: None,
                    stop_cause: None,
                });
            }
            self.state = s.state.clone();
            self.log.push(s.clone());
            self.now += Duration::seconds(60);
        }

        fn run_until_steady(&mut self, max_ticks: usize) -> bool {
            for _ in 0..max_ticks {
                let s = self.tick();
                if s.events
                    .iter()
                    .any(|e| e.ends_with("has reached a steady state."))
                {
                    return true;
                }
            }
            false
        }

        fn deploy(&mut self, td: &str) -> String {
            let id = self.ids.deployment_id();
            self.state.start_deployment(td, id.clone(), self.now);
            id
        }

        fn live_by_def(&self) -> Vec<(String, usize)> {
            let mut m = std::collections::BTreeMap::new();
            for t in self
                .tasks
                .iter()
                .filter(|t| t.last_status != TaskStatus::Stopped)
            {
                *m.entry(self.task_def(&t.deployment_id)).or_insert(0) += 1;
            }
            m.into_iter().collect()
        }
    }

    #[test]
    fn rounding_rules_of_section_3_4() {
        // (desired, min%, max%) -> (min healthy, max total)
        let table = [
            (4, 50, 200, 2, 8),  // may stop 2 before starting 2; may start 4 before stopping
            (2, 75, 200, 2, 4),  // ceil(1.5) = 2: cannot stop any
            (3, 100, 125, 3, 3), // floor(3.75) = 3: cannot start any
            (1, 100, 200, 1, 2),
            (6, 50, 200, 3, 12),
            (0, 100, 200, 0, 0),
            (5, 0, 100, 0, 5),
            (7, 33, 150, 3, 10), // ceil(2.31), floor(10.5)
        ];
        for (d, min, max, l, u) in table {
            assert_eq!(
                limits(d, min, max),
                Limits {
                    min_healthy: l,
                    max_total: u
                },
                "desired {d} min {min} max {max}"
            );
        }
    }

    #[test]
    fn defaults_per_scheduling_strategy() {
        let c = DeploymentConfiguration::default();
        let r = c.effective(SchedulingStrategy::Replica).unwrap();
        assert_eq!((r.minimum_healthy_percent, r.maximum_percent), (100, 200));
        let d = c.effective(SchedulingStrategy::Daemon).unwrap();
        assert_eq!((d.minimum_healthy_percent, d.maximum_percent), (0, 100));
        let neg = DeploymentConfiguration {
            minimum_healthy_percent: Some(-1),
            ..Default::default()
        };
        assert!(matches!(
            neg.effective(SchedulingStrategy::Replica),
            Err(DeployError::NegativePercent { .. })
        ));
    }

    #[test]
    fn circuit_breaker_thresholds() {
        for (d, t) in [
            (1, 3),
            (5, 3),
            (10, 5),
            (25, 13),
            (400, 200),
            (800, 200),
            (0, 3),
        ] {
            assert_eq!(failure_threshold(d, None), t, "desired {d}");
        }
        let count = ThresholdConfiguration {
            threshold_type: ThresholdType::Count,
            value: 7,
        };
        assert_eq!(failure_threshold(100, Some(&count)), 7);
        let unb = ThresholdConfiguration {
            threshold_type: ThresholdType::UnboundedPercent,
            value: 10,
        };
        assert_eq!(failure_threshold(5, Some(&unb)), 1);
        assert_eq!(failure_threshold(5000, Some(&unb)), 500);
        let bounded = ThresholdConfiguration {
            threshold_type: ThresholdType::BoundedPercent,
            value: 100,
        };
        assert_eq!(failure_threshold(1000, Some(&bounded)), 200);
    }

    #[test]
    fn event_texts() {
        let ids = vec!["a".repeat(32), "b".repeat(32)];
        assert_eq!(
            events::started("web", &ids),
            format!(
                "(service web) has started 2 tasks: (task {}) (task {}).",
                ids[0], ids[1]
            )
        );
        assert_eq!(
            events::stopped("web", &ids[..1]),
            format!(
                "(service web) has stopped 1 running tasks: (task {}).",
                ids[0]
            )
        );
        assert_eq!(
            events::steady_state("web"),
            "(service web) has reached a steady state."
        );
    }

    #[test]
    fn full_rollout_completes() {
        let mut sim = Sim::new(spec(4, None, None), "web:1");
        let first = sim.state.deployments[0].id.clone();
        assert!(sim.run_until_steady(10));
        assert_eq!(sim.state.verdict(&first), Some(Verdict::Succeeded));
        assert_eq!(
            sim.log[0].events,
            vec![events::started(
                "web",
                &sim.log[0]
                    .start
                    .iter()
                    .map(|s| s.task_id.clone())
                    .collect::<Vec<_>>()
            )]
        );
        let second = sim.deploy("web:2");
        assert_eq!(sim.state.verdict(&second), Some(Verdict::InProgress));
        assert!(sim.run_until_steady(20));
        assert_eq!(sim.state.verdict(&second), Some(Verdict::Succeeded));
        let d2 = sim.state.deployment(&second).unwrap();
        assert_eq!(
            d2.rollout_state_reason,
            format!("ECS deployment {second} completed.")
        );
        assert_eq!(
            d2.service_deployment_status,
            ServiceDeploymentStatus::Successful
        );
        assert_eq!(
            sim.state.deployment(&first).unwrap().status,
            DeploymentStatus::Inactive
        );
        assert_eq!(sim.live_by_def(), vec![("web:2".to_string(), 4)]);
    }

    #[test]
    fn desired_one_with_defaults_starts_before_stopping() {
        let mut sim = Sim::new(spec(1, None, None), "web:1");
        assert!(sim.run_until_steady(10));
        sim.deploy("web:2");
        let s = sim.tick();
        assert_eq!((s.start.len(), s.stop.len()), (1, 0));
        assert!(sim.run_until_steady(10));
        assert_eq!(sim.live_by_def(), vec![("web:2".to_string(), 1)]);
    }

    #[test]
    fn stuck_when_configuration_allows_nothing() {
        let mut sim = Sim::new(spec(3, Some(100), Some(125)), "web:1");
        assert!(sim.run_until_steady(10));
        sim.deploy("web:2");
        let s = sim.tick();
        assert_eq!(s.blocked, Some(Blocked::DeploymentConfiguration));
        assert_eq!(s.events, vec![events::unable_to_stop_or_start("web")]);
        // Reported once.
        assert!(sim.tick().events.is_empty());
    }

    #[test]
    fn min_50_stops_half_first() {
        let mut sim = Sim::new(spec(4, Some(50), Some(100)), "web:1");
        assert!(sim.run_until_steady(10));
        sim.deploy("web:2");
        let s = sim.tick();
        assert_eq!(s.stop.len(), 2);
        assert_eq!(s.start.len(), 0); // 4 live tasks, max 4
        assert!(sim.run_until_steady(20));
        assert_eq!(sim.live_by_def(), vec![("web:2".to_string(), 4)]);
    }

    /// Best-practices guide: desired 6, room for 8, 100/200 → start 2, stop 2, three times.
    #[test]
    fn worked_example_capacity_8_min_100() {
        let mut sim = Sim::new(spec(6, Some(100), Some(200)), "web:1");
        sim.capacity = Some(8);
        assert!(sim.run_until_steady(10));
        sim.deploy("web:2");
        let start = sim.log.len();
        assert!(sim.run_until_steady(30));
        let moves: Vec<(usize, usize)> = sim.log[start..]
            .iter()
            .map(|s| (s.start.len(), s.stop.len()))
            .filter(|m| *m != (0, 0))
            .collect();
        assert_eq!(moves, vec![(2, 0), (0, 2), (2, 0), (0, 2), (2, 0), (0, 2)]);
    }

    /// Same with min 50: stop 3 old first, then new tasks fill the capacity (5 are started before
    /// the last old task goes), and the last new one starts once the old ones are gone. The
    /// scheduler stops old tasks as soon as the minimum allows, so the guide's second batch of
    /// 3 may come as 2 + 1.
    #[test]
    fn worked_example_capacity_8_min_50() {
        let mut sim = Sim::new(spec(6, Some(50), Some(200)), "web:1");
        sim.capacity = Some(8);
        assert!(sim.run_until_steady(10));
        sim.deploy("web:2");
        let start = sim.log.len();
        assert!(sim.run_until_steady(30));
        let log = &sim.log[start..];
        let stops: Vec<usize> = log
            .iter()
            .map(|s| s.stop.len())
            .filter(|n| *n > 0)
            .collect();
        assert_eq!(stops[0], 3);
        assert_eq!(stops.iter().sum::<usize>(), 6);
        assert_eq!(log.iter().map(|s| s.start.len()).sum::<usize>(), 6);
        let last_stop = log.iter().rposition(|s| !s.stop.is_empty()).unwrap();
        let started_before: usize = log[..last_stop].iter().map(|s| s.start.len()).sum();
        assert_eq!(started_before, 5);
    }

    #[test]
    fn breaker_trips_and_rolls_back() {
        let mut s = spec(4, None, None);
        s.deployment_configuration.deployment_circuit_breaker = Some(DeploymentCircuitBreaker {
            enable: true,
            rollback: true,
            ..Default::default()
        });
        let mut sim = Sim::new(s, "web:1");
        let good = sim.state.deployments[0].id.clone();
        assert!(sim.run_until_steady(10));
        sim.bad.insert("web:2".into());
        let bad = sim.deploy("web:2");
        let mut tripped = false;
        for _ in 0..10 {
            let s = sim.tick();
            if s.transitions
                .iter()
                .any(|t| matches!(t, Transition::BreakerTripped { .. }))
            {
                tripped = true;
                assert!(s.events.contains(&events::deployment_failed("web", &bad)));
                assert!(s.events.contains(&events::rolling_back("web", &good)));
                break;
            }
        }
        assert!(tripped);
        let d = sim.state.deployment(&bad).unwrap();
        assert_eq!(d.rollout_state, RolloutState::Failed);
        assert_eq!(d.rollout_state_reason, BREAKER_FAILED_REASON);
        assert!(d.failed_tasks >= 3);
        assert_eq!(
            d.service_deployment_status,
            ServiceDeploymentStatus::RollbackInProgress
        );
        assert!(sim.run_until_steady(20));
        let d = sim.state.deployment(&bad).unwrap();
        assert_eq!(
            d.service_deployment_status,
            ServiceDeploymentStatus::RollbackSuccessful
        );
        // The honest verdict: the deployment failed, even though the rollback succeeded.
        assert!(matches!(
            sim.state.verdict(&bad),
            Some(Verdict::Failed {
                rolled_back: true,
                ..
            })
        ));
        let rb = sim.state.primary().unwrap();
        assert_eq!(rb.task_definition, "web:1");
        assert_eq!(rb.rollback_of.as_deref(), Some(bad.as_str()));
        assert_eq!(rb.rollout_state, RolloutState::Completed);
        assert_eq!(sim.live_by_def(), vec![("web:1".to_string(), 4)]);
    }

    #[test]
    fn breaker_without_rollback_stops_launching() {
        let mut s = spec(2, None, None);
        s.deployment_configuration.deployment_circuit_breaker = Some(DeploymentCircuitBreaker {
            enable: true,
            rollback: false,
            ..Default::default()
        });
        let mut sim = Sim::new(s, "web:1");
        assert!(sim.run_until_steady(10));
        sim.bad.insert("web:2".into());
        let bad = sim.deploy("web:2");
        for _ in 0..10 {
            sim.tick();
        }
        let d = sim.state.deployment(&bad).unwrap();
        assert_eq!(d.rollout_state, RolloutState::Failed);
        assert_eq!(
            d.service_deployment_status,
            ServiceDeploymentStatus::Stopped
        );
        assert!(sim.tick().start.is_empty());
        assert!(matches!(
            sim.state.verdict(&bad),
            Some(Verdict::Failed {
                rolled_back: false,
                ..
            })
        ));
        // The old tasks keep serving.
        assert_eq!(sim.live_by_def(), vec![("web:1".to_string(), 2)]);
    }

    #[test]
    fn rollback_with_nothing_completed_is_rollback_failed() {
        let mut s = spec(1, None, None);
        s.deployment_configuration.deployment_circuit_breaker = Some(DeploymentCircuitBreaker {
            enable: true,
            rollback: true,
            ..Default::default()
        });
        let mut sim = Sim::new(s, "web:1");
        sim.bad.insert("web:1".into());
        for _ in 0..10 {
            sim.tick();
        }
        let d = &sim.state.deployments[0];
        assert_eq!(d.rollout_state, RolloutState::Failed);
        assert_eq!(
            d.service_deployment_status,
            ServiceDeploymentStatus::RollbackFailed
        );
    }

    #[test]
    fn healthy_task_resets_failure_count() {
        let mut s = spec(1, None, None);
        s.deployment_configuration.deployment_circuit_breaker = Some(DeploymentCircuitBreaker {
            enable: true,
            rollback: false,
            ..Default::default()
        });
        let state = ServiceState::new(s, "web:1", "ecs-svc/1", t0());
        let now = t0() + Duration::seconds(600);
        let failed = |id: &str| TaskSnapshot {
            task_id: id.into(),
            deployment_id: "ecs-svc/1".into(),
            last_status: TaskStatus::Stopped,
            stop_requested: false,
            health: HealthStatus::Unknown,
            created_at: t0(),
            started_at: None,
            stop_cause: Some(StopCause::FailedToStart),
        };
        let mut tasks = vec![failed("a"), failed("b")];
        let mut ids = SequentialIds { next: 100 };
        let s1 = step(
            &state,
            &tasks,
            StepInput {
                now,
                capacity: None,
            },
            &mut ids,
        )
        .unwrap();
        assert_eq!(s1.state.deployments[0].failed_tasks, 2);
        // Same snapshot again: nothing counted twice.
        let s2 = step(
            &s1.state,
            &tasks,
            StepInput {
                now,
                capacity: None,
            },
            &mut ids,
        )
        .unwrap();
        assert_eq!(s2.state.deployments[0].failed_tasks, 2);
        let mut ok = failed("c");
        ok.last_status = TaskStatus::Running;
        ok.stop_cause = None;
        ok.started_at = Some(t0());
        tasks.push(ok);
        let s3 = step(
            &s2.state,
            &tasks,
            StepInput {
                now,
                capacity: None,
            },
            &mut ids,
        )
        .unwrap();
        assert_eq!(s3.state.deployments[0].failed_tasks, 0);
    }

    #[test]
    fn daemon_defaults_stop_before_start() {
        let mut s = spec(3, None, None);
        s.scheduling_strategy = SchedulingStrategy::Daemon;
        let mut sim = Sim::new(s, "agent:1");
        assert!(sim.run_until_steady(10));
        sim.deploy("agent:2");
        let s = sim.tick();
        assert_eq!((s.start.len(), s.stop.len()), (0, 3));
        assert!(sim.run_until_steady(10));
        assert_eq!(sim.live_by_def(), vec![("agent:2".to_string(), 3)]);
    }

    #[test]
    fn unhealthy_tasks_are_replaced() {
        let mut s = spec(2, None, None);
        s.health_checked = true;
        let mut sim = Sim::new(s, "web:1");
        sim.tick();
        sim.progress();
        for t in sim.tasks.iter_mut() {
            t.health = HealthStatus::Healthy;
        }
        sim.tasks[0].health = HealthStatus::Unhealthy;
        let s = step(
            &sim.state,
            &sim.tasks,
            StepInput {
                now: sim.now,
                capacity: None,
            },
            &mut sim.ids,
        )
        .unwrap();
        assert_eq!(s.stop.len(), 1);
        assert_eq!(s.stop[0].task_id, sim.tasks[0].task_id);
        assert_eq!(s.stop[0].reason, "Task failed container health checks");
    }

    #[test]
    fn stop_request_abort_and_rollback() {
        let mut sim = Sim::new(spec(2, None, None), "web:1");
        assert!(sim.run_until_steady(10));
        let d2 = sim.deploy("web:2");
        assert!(sim.state.request_stop(StopType::Rollback, sim.now));
        assert_eq!(
            sim.state.deployment(&d2).unwrap().service_deployment_status,
            ServiceDeploymentStatus::RollbackRequested
        );
        assert!(sim.run_until_steady(20));
        assert_eq!(
            sim.state.deployment(&d2).unwrap().service_deployment_status,
            ServiceDeploymentStatus::RollbackSuccessful
        );
        assert_eq!(sim.live_by_def(), vec![("web:1".to_string(), 2)]);
        let d3 = sim.deploy("web:3");
        assert!(sim.state.request_stop(StopType::Abort, sim.now));
        sim.tick();
        assert_eq!(
            sim.state.deployment(&d3).unwrap().service_deployment_status,
            ServiceDeploymentStatus::Stopped
        );
    }

    #[test]
    fn superseded_deployment_verdict() {
        let mut sim = Sim::new(spec(2, None, None), "web:1");
        assert!(sim.run_until_steady(10));
        let d2 = sim.deploy("web:2");
        sim.tick();
        sim.deploy("web:3");
        assert_eq!(sim.state.verdict(&d2), Some(Verdict::Superseded));
        assert!(sim.run_until_steady(20));
        assert_eq!(sim.live_by_def(), vec![("web:3".to_string(), 2)]);
    }

    #[test]
    fn no_primary_is_an_error() {
        let mut state = ServiceState::new(spec(1, None, None), "web:1", "ecs-svc/1", t0());
        state.deployments.clear();
        let r = step(
            &state,
            &[],
            StepInput {
                now: t0(),
                capacity: None,
            },
            &mut SequentialIds::default(),
        );
        assert!(matches!(r, Err(DeployError::NoDeployment { .. })));
    }

    #[test]
    fn state_round_trips_through_json() {
        let state = ServiceState::new(spec(1, None, None), "web:1", "ecs-svc/1", t0());
        let json = serde_json::to_value(&state).unwrap();
        assert_eq!(json["deployments"][0]["rolloutState"], "IN_PROGRESS");
        assert_eq!(json["deployments"][0]["status"], "PRIMARY");
        let back: ServiceState = serde_json::from_value(json).unwrap();
        assert_eq!(back, state);
    }

    /// xorshift, for the property test's world.
    fn rnd(seed: &mut u64) -> u64 {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]
        #[test]
        fn rolling_update_invariants(
            desired in 0u32..50,
            min in 0i32..=100,
            max in 100i32..=200,
            fail_pct in 0u64..60,
            health_checked in any::<bool>(),
            breaker in any::<bool>(),
            rollback in any::<bool>(),
            capacity in proptest::option::of(0u32..120),
            seed in 1u64..u64::MAX,
            deploy_at in proptest::collection::vec(0usize..40, 1..3),
            new_desired in proptest::option::of(0u32..50),
        ) {
            let mut s = spec(desired, Some(min), Some(max));
            s.health_checked = health_checked;
            s.health_check_grace_period_seconds = 30;
            if breaker {
                s.deployment_configuration.deployment_circuit_breaker =
                    Some(DeploymentCircuitBreaker { enable: true, rollback, ..Default::default() });
            }
            let mut sim = Sim::new(s, "web:1");
            sim.capacity = capacity;
            let mut seed = seed;
            let mut rev = 1;
            for tick in 0..45usize {
                if deploy_at.contains(&tick) {
                    rev += 1;
                    sim.deploy(&format!("web:{rev}"));
                }
                if let Some(n) = new_desired.filter(|_| tick == 20) {
                    sim.state.set_desired_count(n, sim.now);
                }
                // The world moves: starts, stops, random failures and health.
                sim.progress();
                for t in sim.tasks.iter_mut() {
                    match t.last_status {
                        TaskStatus::Running if !t.stop_requested => {
                            let r = rnd(&mut seed) % 100;
                            if r < fail_pct / 4 {
                                t.health = HealthStatus::Unhealthy;
                            } else if health_checked && t.health == HealthStatus::Unknown && r >= fail_pct {
                                t.health = HealthStatus::Healthy;
                            }
                        }
                        TaskStatus::Pending if rnd(&mut seed) % 100 < fail_pct => {
                            t.last_status = TaskStatus::Stopped;
                            t.stop_cause = Some(StopCause::FailedToStart);
                        }
                        _ => {}
                    }
                }
                let spec = sim.state.spec.clone();
                let now = sim.now;
                let before = counts(&sim.tasks, None, &spec, now);
                prop_assert_eq!(before.total() as usize, sim.tasks.len());
                let live_cap = sim.capacity.map(|c| c.saturating_sub(before.live()));
                let st = step(&sim.state, &sim.tasks, StepInput { now, capacity: live_cap }, &mut sim.ids).unwrap();
                let lim = st.limits;
                // Never above the maximum (unless already above).
                let live_after = before.live() + st.start.len() as u32;
                prop_assert!(live_after <= lim.max_total.max(before.live()),
                    "live {} + start {} > max {}", before.live(), st.start.len(), lim.max_total);
                if let Some(c) = live_cap {
                    prop_assert!(st.start.len() as u32 <= c);
                }
                // Never below the minimum healthy (unless already below).
                let stopped_healthy = st.stop.iter().filter(|s| {
                    sim.tasks.iter().any(|t| t.task_id == s.task_id && classify(t, &spec, now) == TaskClass::Healthy)
                }).count() as u32;
                prop_assert!(before.healthy - stopped_healthy >= lim.min_healthy.min(before.healthy),
                    "healthy {} - {} < min {}", before.healthy, stopped_healthy, lim.min_healthy);
                // Every stop names a live task, at most once.
                let mut seen = BTreeSet::new();
                for s in &st.stop {
                    prop_assert!(seen.insert(s.task_id.clone()));
                    prop_assert!(sim.tasks.iter().any(|t| t.task_id == s.task_id && t.last_status != TaskStatus::Stopped));
                }
                // Exactly one PRIMARY.
                prop_assert_eq!(st.state.deployments.iter().filter(|d| d.status == DeploymentStatus::Primary).count(), 1);
                sim.apply(&st);
            }
        }
    }
}
