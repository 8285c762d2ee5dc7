//! Application Auto Scaling state of the local cluster: scalable targets (ECS services only),
//! their scaling policies, scheduled actions, scaling activities and the metric window that
//! drives policies.
//!
//! **Storage.** One record per scalable target (`aas/<resourceId>`) holding everything about it,
//! written through to redb like every other record: a target is small (≤50 policies, ≤200
//! scheduled actions, the newest [`MAX_ACTIVITIES`] activities and at most [`MAX_DATAPOINTS`]
//! datapoints), and keeping it in one record makes a deregistration (which removes policies and
//! scheduled actions too, as AAS does) one delete.
//!
//! **How policies are evaluated.** The rules are [`berth_core::scaling::replay`]'s, not a second
//! copy: the target keeps the datapoints fed since an *anchor* (the desired count when the window
//! started); every new datapoint replays the window and applies the changes the replay produced
//! beyond those already applied. Since a replay is deterministic, appending a datapoint only ever
//! appends changes, so streaks, cooldowns and "every target-tracking policy must agree to scale
//! in" behave exactly as in the library. The window restarts (forgetting streaks and cooldowns)
//! when something outside the replay changed what it assumed: the desired count was set by
//! someone else (UpdateService), the target's min/max/suspension or its policies changed, or the
//! window reached [`MAX_DATAPOINTS`].

use std::collections::BTreeMap;

use berth_core::scaling::{
    Datapoint, ScalableTarget, ScalingPolicy, ScheduledAction, SuspendedState,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The only service namespace the local cluster scales.
pub const NAMESPACE: &str = "ecs";
/// The only scalable dimension of an ECS service.
pub const DIMENSION: &str = "ecs:service:DesiredCount";
/// Scaling activities kept per target (newest first; AAS keeps six weeks).
pub const MAX_ACTIVITIES: usize = 200;
/// Datapoints kept in a target's metric window before it restarts.
pub const MAX_DATAPOINTS: usize = 360;
/// Scaling policies per target (AAS quota).
pub const MAX_POLICIES: usize = 50;
/// Scheduled actions per target (AAS quota).
pub const MAX_SCHEDULED_ACTIONS: usize = 200;

/// Every scalable target, by resource id (`service/<cluster>/<service>`).
#[derive(Debug, Clone, Default)]
pub struct AutoScaling {
    /// Targets by resource id.
    pub targets: BTreeMap<String, TargetRec>,
}

/// One scalable target and everything attached to it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetRec {
    /// `service/<cluster>/<service>`.
    pub resource_id: String,
    /// `ScalableTargetARN`.
    pub arn: String,
    /// `MinCapacity`.
    pub min_capacity: i32,
    /// `MaxCapacity`.
    pub max_capacity: i32,
    /// `RoleARN`.
    pub role_arn: String,
    /// `SuspendedState`.
    #[serde(default)]
    pub suspended_state: SuspendedState,
    /// `CreationTime`.
    pub created_at: DateTime<Utc>,
    /// Tags given at registration.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Policies by name.
    #[serde(default)]
    pub policies: BTreeMap<String, PolicyRec>,
    /// Scheduled actions by name.
    #[serde(default)]
    pub scheduled: BTreeMap<String, ScheduledRec>,
    /// Scaling activities, newest first.
    #[serde(default)]
    pub activities: Vec<Activity>,
    /// The metric window that drives policies.
    #[serde(default)]
    pub window: MetricWindow,
}

impl TargetRec {
    /// The target as [`berth_core::scaling`] sees it.
    pub fn core(&self) -> ScalableTarget {
        ScalableTarget {
            resource_id: Some(self.resource_id.clone()),
            min_capacity: self.min_capacity,
            max_capacity: self.max_capacity,
            suspended_state: Some(self.suspended_state),
        }
    }

    /// The policies a replay evaluates: target tracking, and step scaling that has an alarm
    /// attached (AAS leaves alarms to CloudWatch; the local cluster takes them from the
    /// test-control API).
    pub fn evaluable_policies(&self) -> Vec<ScalingPolicy> {
        use berth_core::scaling::PolicyType;
        self.policies
            .values()
            .map(|p| p.policy.clone())
            .filter(|p| match p.policy_type {
                PolicyType::TargetTrackingScaling => true,
                PolicyType::StepScaling => p.alarm.is_some(),
                PolicyType::PredictiveScaling => false,
            })
            .collect()
    }

    /// Adds an activity, keeping the newest [`MAX_ACTIVITIES`].
    pub fn push_activity(&mut self, a: Activity) {
        self.activities.insert(0, a);
        self.activities.truncate(MAX_ACTIVITIES);
    }

    /// Forgets the metric window (streaks and cooldowns start over).
    pub fn restart_window(&mut self) {
        self.window = MetricWindow::default();
    }
}

/// A scaling policy as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRec {
    /// `PolicyARN`.
    pub arn: String,
    /// The policy (with the step alarm attached through the test-control API, if any).
    pub policy: ScalingPolicy,
    /// `PredictiveScalingPolicyConfiguration`, kept as given (not evaluated).
    #[serde(default)]
    pub predictive: Option<serde_json::Value>,
    /// `Alarms`: (name, ARN).
    #[serde(default)]
    pub alarms: Vec<(String, String)>,
    /// `CreationTime`.
    pub created_at: DateTime<Utc>,
}

/// A scheduled action as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduledRec {
    /// `ScheduledActionARN`.
    pub arn: String,
    /// The action.
    pub action: ScheduledAction,
    /// `CreationTime` (the origin of a `rate()` without `StartTime`).
    pub created_at: DateTime<Utc>,
    /// When it fires next (`None`: never again).
    #[serde(default)]
    pub next_fire: Option<DateTime<Utc>>,
}

/// A `ScalingActivity`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    /// `ActivityId` (a UUID).
    pub id: String,
    /// `Description`.
    pub description: String,
    /// `Cause`.
    pub cause: String,
    /// `StartTime`.
    pub start: DateTime<Utc>,
    /// `EndTime`.
    pub end: Option<DateTime<Utc>>,
    /// `StatusCode`.
    pub status_code: String,
    /// `StatusMessage`.
    pub status_message: String,
}

/// The datapoints fed since the anchor, and how much of their replay has been applied.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricWindow {
    /// The desired count when the window started (`None`: no window yet).
    pub anchor_capacity: Option<i32>,
    /// The desired count the applied changes left (to notice changes made by others).
    pub expected: i32,
    /// How many changes of the replay have been applied.
    pub applied: usize,
    /// The datapoints, in time order.
    pub datapoints: Vec<Datapoint>,
}

impl AutoScaling {
    /// The stored form of the target with this resource id.
    pub fn record(&self, resource_id: &str) -> Option<Vec<u8>> {
        self.targets
            .get(resource_id)
            .and_then(|t| serde_json::to_vec(t).ok())
    }

    /// Loads a stored target.
    ///
    /// # Errors
    ///
    /// The parse error when the record is not a target.
    pub fn load(&mut self, value: &[u8]) -> Result<(), serde_json::Error> {
        let t: TargetRec = serde_json::from_slice(value)?;
        self.targets.insert(t.resource_id.clone(), t);
        Ok(())
    }
}

/// Splits `service/<cluster>/<service>` into cluster and service names.
pub fn parse_resource_id(resource_id: &str) -> Option<(&str, &str)> {
    let rest = resource_id.strip_prefix("service/")?;
    let (cluster, service) = rest.split_once('/')?;
    (!cluster.is_empty() && !service.is_empty() && !service.contains('/'))
        .then_some((cluster, service))
}
