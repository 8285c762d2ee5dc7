//! The honest verdict of a deployment, from ECS's `ServiceDeployment` as the API returns it: a
//! deployment the circuit breaker rolled back **failed**, even though the rollback succeeded
//! (ECS reports `ROLLBACK_SUCCESSFUL`, which the console paints green).

use crate::wire::ServiceDeployment;
use berth_core::model::ServiceDeploymentStatus as S;

/// What a person should read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Reached a steady state.
    Succeeded,
    /// Did not complete; `rolled_back` when ECS rolled the service back.
    Failed {
        /// ECS's reason.
        reason: String,
        /// Whether the service was rolled back.
        rolled_back: bool,
    },
    /// Rolling: tasks running of those requested.
    InProgress {
        /// Running tasks of the target revision.
        running: i32,
        /// Requested tasks of the target revision.
        desired: i32,
    },
    /// Stopped or superseded before it completed, without failing.
    Stopped {
        /// ECS's reason.
        reason: String,
    },
    /// Created, not started.
    Pending,
}

impl Verdict {
    /// The verdict of one deployment.
    pub fn of(d: &ServiceDeployment) -> Verdict {
        let reason = d.status_reason.clone().unwrap_or_default();
        let target = d.target_service_revision.as_ref();
        let running = target.and_then(|t| t.running_task_count).unwrap_or(0);
        let desired = target.and_then(|t| t.requested_task_count).unwrap_or(0);
        match d.status.as_ref() {
            Some(S::Successful) => Verdict::Succeeded,
            Some(
                S::RollbackSuccessful
                | S::RollbackFailed
                | S::RollbackInProgress
                | S::RollbackRequested,
            ) => Verdict::Failed {
                reason: d
                    .rollback
                    .as_ref()
                    .and_then(|r| r.reason.clone())
                    .filter(|r| !r.is_empty())
                    .unwrap_or(reason),
                rolled_back: true,
            },
            Some(S::Stopped | S::StopRequested) => {
                let breaker = d
                    .deployment_circuit_breaker
                    .as_ref()
                    .and_then(|b| b.status.as_ref())
                    .is_some_and(|s| s.as_str() == "TRIGGERED");
                if breaker {
                    Verdict::Failed {
                        reason,
                        rolled_back: false,
                    }
                } else {
                    Verdict::Stopped { reason }
                }
            }
            Some(S::InProgress) => Verdict::InProgress { running, desired },
            Some(S::Pending) | None | Some(S::Unknown(_)) => Verdict::Pending,
        }
    }

    /// The `data-verdict` value.
    pub fn key(&self) -> &'static str {
        match self {
            Verdict::Succeeded => "succeeded",
            Verdict::Failed { .. } => "failed",
            Verdict::InProgress { .. } => "in-progress",
            Verdict::Stopped { .. } => "stopped",
            Verdict::Pending => "pending",
        }
    }

    /// The headline: `Succeeded`, `Failed`, `In progress`, `Stopped`, `Pending`.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Succeeded => "Succeeded",
            Verdict::Failed { .. } => "Failed",
            Verdict::InProgress { .. } => "In progress",
            Verdict::Stopped { .. } => "Stopped",
            Verdict::Pending => "Pending",
        }
    }

    /// The second line, given the revision the service was rolled back to when known.
    pub fn detail(&self, rolled_back_to: Option<u32>) -> String {
        match self {
            Verdict::Failed {
                rolled_back: true, ..
            } => match rolled_back_to {
                Some(n) => format!("rolled back to revision {n}"),
                None => "rolled back".into(),
            },
            Verdict::Failed { reason, .. } | Verdict::Stopped { reason } => reason.clone(),
            Verdict::InProgress { running, desired } => format!("{running}/{desired} running"),
            Verdict::Succeeded | Verdict::Pending => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dep(v: serde_json::Value) -> ServiceDeployment {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_rolled_back_deployment_failed() {
        let d = dep(json!({
            "status": "ROLLBACK_SUCCESSFUL",
            "statusReason": "ECS deployment circuit breaker: tasks failed to start.",
            "rollback": {"reason": "ECS deployment circuit breaker: tasks failed to start.",
                         "serviceRevisionArn": "arn:aws:ecs:us-east-1:0:service-revision/c/s/1"},
            "deploymentCircuitBreaker": {"status": "TRIGGERED", "failureCount": 3, "threshold": 3}
        }));
        let v = Verdict::of(&d);
        assert_eq!(v.key(), "failed");
        assert_eq!(v.label(), "Failed");
        assert_eq!(v.detail(Some(4)), "rolled back to revision 4");
        assert!(matches!(
            v,
            Verdict::Failed {
                rolled_back: true,
                ..
            }
        ));
    }

    #[test]
    fn breaker_without_rollback_is_a_failure_too() {
        let d = dep(
            json!({"status": "STOPPED", "statusReason": "circuit breaker",
            "deploymentCircuitBreaker": {"status": "TRIGGERED"}}),
        );
        assert!(matches!(
            Verdict::of(&d),
            Verdict::Failed {
                rolled_back: false,
                ..
            }
        ));
        let superseded = dep(json!({"status": "STOPPED", "statusReason": "Superseded"}));
        assert_eq!(Verdict::of(&superseded).key(), "stopped");
    }

    #[test]
    fn success_and_progress() {
        assert_eq!(
            Verdict::of(&dep(json!({"status": "SUCCESSFUL"}))),
            Verdict::Succeeded
        );
        let p = Verdict::of(&dep(json!({"status": "IN_PROGRESS",
            "targetServiceRevision": {"requestedTaskCount": 5, "runningTaskCount": 2}})));
        assert_eq!(p.label(), "In progress");
        assert_eq!(p.detail(None), "2/5 running");
        assert_eq!(Verdict::of(&dep(json!({}))).key(), "pending");
    }
}
