//! Task sets: what the scheduler of a service with an `EXTERNAL` (or `CODE_DEPLOY`)
//! deployment controller does with each of its task sets.
//!
//! Such a service has no rolling deployments: whoever controls it (a deployment tool, CodeDeploy)
//! creates task sets, scales them and picks the PRIMARY one. ECS's part is to keep every task set
//! at its computed desired count — `ceil(service desiredCount × scale / 100)` — replacing tasks
//! that stop or fail their health checks, stopping the extra ones when a set is scaled in, and
//! draining a deleted set to zero. [`step`] decides one round of that from the task sets and
//! their tasks; [`TaskSetCounts`] says what each set's counts and stability are.
//!
//! What it deliberately does not do: ids of task sets, their ARNs, the API's checks, placement,
//! or traffic (which set a load balancer sends to is the controller's business). It only returns
//! data: the embedded cluster carries it out.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::deploy::{
    IdSource, ServiceSpec, TaskClass, TaskSnapshot, TaskStart, TaskStatus, TaskStop, classify,
};

/// `TaskSet.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TaskSetStatus {
    /// Serving production traffic (at most one per service).
    Primary,
    /// Not serving production traffic.
    Active,
    /// Deleted: its tasks are being stopped; the set goes when none is left.
    Draining,
}

impl TaskSetStatus {
    /// The wire form (`PRIMARY`, `ACTIVE`, `DRAINING`).
    pub fn as_str(self) -> &'static str {
        match self {
            TaskSetStatus::Primary => "PRIMARY",
            TaskSetStatus::Active => "ACTIVE",
            TaskSetStatus::Draining => "DRAINING",
        }
    }
}

/// The largest `scale.value`: a task set runs at most the service's desired count.
pub const MAX_SCALE_PERCENT: f64 = 100.0;

/// A task set's computed desired count: the service's desired count times the set's scale
/// (a percentage), always rounded up, as ECS documents for `computedDesiredCount` (1.2 tasks
/// are 2). A DRAINING set wants none. `scale_percent` outside `0..=100` is clamped (the API
/// refuses it before it gets here).
pub fn computed_desired_count(service_desired: u32, scale_percent: f64) -> u32 {
    let pct = if scale_percent.is_nan() {
        0.0
    } else {
        scale_percent.clamp(0.0, MAX_SCALE_PERCENT)
    };
    let exact = f64::from(service_desired) * pct / 100.0;
    // 0.1 + 0.2 style noise must not add a task: a product within 1e-9 of an integer is that
    // integer.
    let nearest = exact.round();
    let count = if (exact - nearest).abs() < 1e-9 {
        nearest
    } else {
        exact.ceil()
    };
    (count as u32).min(service_desired)
}

/// One task set as [`step`] sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSetSpec {
    /// `ecs-svc/<19 digits>`: its tasks carry it as `startedBy` ([`TaskSnapshot::deployment_id`]).
    pub id: String,
    /// Its status.
    pub status: TaskSetStatus,
    /// The task definition its tasks run.
    pub task_definition: String,
    /// [`computed_desired_count`] (ignored for a DRAINING set, which wants none).
    pub computed_desired_count: u32,
}

impl TaskSetSpec {
    /// How many tasks the set wants now.
    pub fn wanted(&self) -> u32 {
        if self.status == TaskSetStatus::Draining {
            0
        } else {
            self.computed_desired_count
        }
    }
}

/// What a task set holds after a step (the step's starts and stops included).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSetCounts {
    /// The task set.
    pub id: String,
    /// Tasks RUNNING and not asked to stop.
    pub running: u32,
    /// Tasks not yet RUNNING and not asked to stop (the step's starts included).
    pub pending: u32,
    /// `STEADY_STATE`: running equals the computed desired count, nothing is pending or
    /// stopping, and every running task is healthy. Otherwise `STABILIZING`.
    pub steady: bool,
}

/// The outcome of one [`step`]: data for the caller to carry out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskSetStep {
    /// Tasks to start (`deployment_id` is the task set's id).
    pub start: Vec<TaskStart>,
    /// Tasks to stop.
    pub stop: Vec<TaskStop>,
    /// Every task set's counts, in the order given.
    pub counts: Vec<TaskSetCounts>,
    /// DRAINING task sets with no task left that is not STOPPED: they can be forgotten.
    pub drained: Vec<String>,
}

/// Why a task of a scaled-in set is stopped (ECS's text for scheduler scale-in).
pub fn scale_in_reason(task_set_id: &str) -> String {
    format!("Scaling activity initiated by (deployment {task_set_id})")
}

/// Why a task of a deleted task set is stopped.
pub const DRAINING_REASON: &str = "Task set is being deleted";

/// Why a task that belongs to no task set of the service is stopped.
pub const ORPHAN_REASON: &str = "Task does not belong to a task set of the service";

/// Why an unhealthy task is replaced (the rolling scheduler's text).
pub const UNHEALTHY_REASON: &str = "Task failed container health checks";

/// One round of task-set scheduling: for each set, replace the tasks that failed their health
/// checks, start tasks up to its desired count, stop the extra ones (not-yet-running ones first,
/// newest first), drain DRAINING sets, and stop tasks of sets the service no longer has.
///
/// `spec` supplies the health rules ([`classify`]): grace period, whether the task definition
/// has health checks, when a task without them counts as healthy. Its desired count is not
/// read: each set's [`TaskSetSpec::computed_desired_count`] is.
pub fn step(
    spec: &ServiceSpec,
    sets: &[TaskSetSpec],
    tasks: &[TaskSnapshot],
    now: DateTime<Utc>,
    ids: &mut dyn IdSource,
) -> TaskSetStep {
    let mut out = TaskSetStep::default();
    let mut by_set: BTreeMap<&str, Vec<&TaskSnapshot>> = BTreeMap::new();
    for t in tasks {
        by_set.entry(t.deployment_id.as_str()).or_default().push(t);
    }
    let stop = |t: &TaskSnapshot, reason: String| TaskStop {
        task_id: t.task_id.clone(),
        deployment_id: t.deployment_id.clone(),
        stop_code: "ServiceSchedulerInitiated".into(),
        reason,
    };
    // Tasks of sets the service does not have (never expected: a set drains before it goes).
    for (id, ts) in &by_set {
        if sets.iter().any(|s| s.id == *id) {
            continue;
        }
        for t in ts {
            if classify(t, spec, now) != TaskClass::Stopped && !t.stop_requested {
                out.stop.push(stop(t, ORPHAN_REASON.into()));
            }
        }
    }
    for set in sets {
        let mine = by_set.remove(set.id.as_str()).unwrap_or_default();
        let wanted = set.wanted();
        let mut live: Vec<(TaskClass, &TaskSnapshot)> = Vec::new();
        let mut stopping = 0u32;
        for t in mine {
            match classify(t, spec, now) {
                TaskClass::Stopped => {}
                TaskClass::Stopping => stopping += 1,
                TaskClass::Unhealthy => {
                    out.stop.push(stop(t, UNHEALTHY_REASON.into()));
                    stopping += 1;
                }
                class => live.push((class, t)),
            }
        }
        // Extra tasks: the least useful go first (pending, then starting, then healthy), newest
        // first within each.
        let rank = |c: TaskClass| match c {
            TaskClass::Pending => 0,
            TaskClass::Starting => 1,
            _ => 2,
        };
        live.sort_by(|(ca, a), (cb, b)| {
            rank(*ca)
                .cmp(&rank(*cb))
                .then(b.created_at.cmp(&a.created_at))
                .then(a.task_id.cmp(&b.task_id))
        });
        let extra = live.len().saturating_sub(wanted as usize);
        let reason = if set.status == TaskSetStatus::Draining {
            DRAINING_REASON.to_string()
        } else {
            scale_in_reason(&set.id)
        };
        for (_, t) in live.drain(..extra) {
            out.stop.push(stop(t, reason.clone()));
            stopping += 1;
        }
        let missing = (wanted as usize).saturating_sub(live.len());
        for _ in 0..missing {
            out.start.push(TaskStart {
                task_id: ids.task_id(),
                deployment_id: set.id.clone(),
                task_definition: set.task_definition.clone(),
            });
        }
        let running = live
            .iter()
            .filter(|(_, t)| t.last_status == TaskStatus::Running)
            .count() as u32;
        let pending = (live.len() - running as usize + missing) as u32;
        let steady = running == wanted
            && pending == 0
            && stopping == 0
            && live.iter().all(|(c, _)| *c == TaskClass::Healthy);
        if set.status == TaskSetStatus::Draining && live.is_empty() && stopping == 0 {
            out.drained.push(set.id.clone());
        }
        out.counts.push(TaskSetCounts {
            id: set.id.clone(),
            running,
            pending,
            steady,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::{
        DeploymentConfiguration, HealthStatus, SchedulingStrategy, SequentialIds, TaskStatus,
    };
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn spec() -> ServiceSpec {
        ServiceSpec {
            service_name: "web".into(),
            desired_count: 0,
            scheduling_strategy: SchedulingStrategy::Replica,
            deployment_configuration: DeploymentConfiguration::default(),
            health_check_grace_period_seconds: 0,
            health_checked: false,
            healthy_after_secs: None,
        }
    }

    fn set(id: &str, status: TaskSetStatus, desired: u32) -> TaskSetSpec {
        TaskSetSpec {
            id: id.into(),
            status,
            task_definition: "web:1".into(),
            computed_desired_count: desired,
        }
    }

    fn task(id: &str, set: &str, status: TaskStatus, created: i64) -> TaskSnapshot {
        TaskSnapshot {
            task_id: id.into(),
            deployment_id: set.into(),
            last_status: status,
            stop_requested: false,
            health: HealthStatus::Unknown,
            created_at: t0() + Duration::seconds(created),
            started_at: Some(t0() + Duration::seconds(created)),
            stop_cause: None,
        }
    }

    #[test]
    fn the_computed_desired_count_is_rounded_up_and_exact_products_are_not() {
        assert_eq!(computed_desired_count(10, 12.0), 2);
        assert_eq!(computed_desired_count(10, 10.0), 1);
        assert_eq!(computed_desired_count(3, 50.0), 2);
        assert_eq!(computed_desired_count(4, 50.0), 2);
        assert_eq!(computed_desired_count(0, 100.0), 0);
        assert_eq!(computed_desired_count(5, 0.0), 0);
        assert_eq!(computed_desired_count(100, 0.1), 1);
        // 30 × 70 / 100 is 21 exactly, 20.999… in floating point or not.
        assert_eq!(computed_desired_count(30, 70.0), 21);
        assert_eq!(computed_desired_count(7, 100.0), 7);
        assert_eq!(computed_desired_count(7, 250.0), 7);
        assert_eq!(computed_desired_count(7, f64::NAN), 0);
    }

    #[test]
    fn a_new_set_starts_its_tasks_and_is_stabilizing_until_they_are_healthy() {
        let sets = [set("ecs-svc/1", TaskSetStatus::Primary, 3)];
        let mut ids = SequentialIds::default();
        let s = step(&spec(), &sets, &[], t0(), &mut ids);
        assert_eq!(s.start.len(), 3);
        assert!(s.start.iter().all(|t| t.deployment_id == "ecs-svc/1"));
        assert_eq!(s.counts[0].pending, 3);
        assert!(!s.counts[0].steady);

        let tasks: Vec<_> = s
            .start
            .iter()
            .map(|t| task(&t.task_id, "ecs-svc/1", TaskStatus::Running, 0))
            .collect();
        // Running but not yet 40 s: not steady, nothing to start.
        let s = step(
            &spec(),
            &sets,
            &tasks,
            t0() + Duration::seconds(10),
            &mut ids,
        );
        assert!(s.start.is_empty() && s.stop.is_empty());
        assert_eq!((s.counts[0].running, s.counts[0].pending), (3, 0));
        assert!(!s.counts[0].steady);
        let s = step(
            &spec(),
            &sets,
            &tasks,
            t0() + Duration::seconds(41),
            &mut ids,
        );
        assert!(s.counts[0].steady);
    }

    #[test]
    fn scale_in_stops_pending_tasks_first_then_the_newest() {
        let sets = [set("ecs-svc/1", TaskSetStatus::Active, 2)];
        let tasks = [
            task("old", "ecs-svc/1", TaskStatus::Running, 0),
            task("new", "ecs-svc/1", TaskStatus::Running, 5),
            task("pending", "ecs-svc/1", TaskStatus::Pending, 1),
            task("newest", "ecs-svc/1", TaskStatus::Running, 6),
        ];
        let now = t0() + Duration::seconds(100);
        let s = step(&spec(), &sets, &tasks, now, &mut SequentialIds::default());
        let stopped: Vec<_> = s.stop.iter().map(|t| t.task_id.as_str()).collect();
        assert_eq!(stopped, ["pending", "newest"]);
        assert_eq!(
            s.stop[0].reason,
            "Scaling activity initiated by (deployment ecs-svc/1)"
        );
        assert_eq!((s.counts[0].running, s.counts[0].pending), (2, 0));
        assert!(!s.counts[0].steady, "tasks still stopping");
    }

    #[test]
    fn a_draining_set_stops_everything_and_is_drained_once_nothing_is_left() {
        let sets = [set("ecs-svc/1", TaskSetStatus::Draining, 4)];
        let mut tasks = vec![
            task("a", "ecs-svc/1", TaskStatus::Running, 0),
            task("b", "ecs-svc/1", TaskStatus::Pending, 1),
        ];
        let now = t0() + Duration::seconds(100);
        let s = step(&spec(), &sets, &tasks, now, &mut SequentialIds::default());
        assert_eq!(s.stop.len(), 2);
        assert!(s.stop.iter().all(|t| t.reason == DRAINING_REASON));
        assert!(s.start.is_empty() && s.drained.is_empty());
        for t in &mut tasks {
            t.stop_requested = true;
        }
        let s = step(&spec(), &sets, &tasks, now, &mut SequentialIds::default());
        assert!(s.stop.is_empty() && s.drained.is_empty(), "still stopping");
        for t in &mut tasks {
            t.last_status = TaskStatus::Stopped;
        }
        let s = step(&spec(), &sets, &tasks, now, &mut SequentialIds::default());
        assert_eq!(s.drained, ["ecs-svc/1"]);
    }

    #[test]
    fn unhealthy_and_stopped_tasks_are_replaced_and_orphans_stopped() {
        let mut spec = spec();
        spec.health_checked = true;
        let sets = [set("ecs-svc/1", TaskSetStatus::Primary, 2)];
        let mut sick = task("sick", "ecs-svc/1", TaskStatus::Running, 0);
        sick.health = HealthStatus::Unhealthy;
        let mut fine = task("fine", "ecs-svc/1", TaskStatus::Running, 0);
        fine.health = HealthStatus::Healthy;
        let tasks = [
            sick,
            fine,
            task("gone", "ecs-svc/1", TaskStatus::Stopped, 0),
            task("stray", "ecs-svc/9", TaskStatus::Running, 0),
        ];
        let now = t0() + Duration::seconds(100);
        let s = step(&spec, &sets, &tasks, now, &mut SequentialIds::default());
        let mut stopped: Vec<_> = s
            .stop
            .iter()
            .map(|t| (t.task_id.as_str(), t.reason.as_str()))
            .collect();
        stopped.sort();
        assert_eq!(
            stopped,
            [("sick", UNHEALTHY_REASON), ("stray", ORPHAN_REASON)]
        );
        assert_eq!(s.start.len(), 1);
        assert_eq!((s.counts[0].running, s.counts[0].pending), (1, 1));
    }

    /// A simulated cluster: started tasks run at once and are healthy after 40 s; some fail.
    fn run(sets: &[TaskSetSpec], rounds: usize, failures: &[bool]) -> Vec<TaskSnapshot> {
        let mut tasks: Vec<TaskSnapshot> = Vec::new();
        let mut ids = SequentialIds::default();
        let mut fail = failures.iter().cycle();
        let mut now = t0();
        for _ in 0..rounds {
            let s = step(&spec(), sets, &tasks, now, &mut ids);
            for st in &s.stop {
                let t = tasks.iter_mut().find(|t| t.task_id == st.task_id).unwrap();
                assert!(!t.stop_requested, "a task is stopped once");
                t.stop_requested = true;
            }
            for t in &mut tasks {
                if t.stop_requested {
                    t.last_status = TaskStatus::Stopped;
                } else if t.last_status == TaskStatus::Running && *fail.next().unwrap() {
                    t.last_status = TaskStatus::Stopped; // crashed
                }
            }
            for st in s.start {
                tasks.push(task(
                    &st.task_id,
                    &st.deployment_id,
                    TaskStatus::Running,
                    (now - t0()).num_seconds(),
                ));
            }
            // After a step no set runs more than it wants.
            for set in sets {
                let live = tasks
                    .iter()
                    .filter(|t| t.deployment_id == set.id && t.last_status != TaskStatus::Stopped)
                    .count();
                assert!(live <= set.wanted() as usize, "{} runs {live}", set.id);
            }
            now += Duration::seconds(30);
        }
        tasks
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the sets and however tasks crash, once crashes stop each set settles at
        /// exactly its wanted count, steady, and never runs more than it wants after a step.
        #[test]
        fn every_set_converges_to_its_computed_desired_count(
            wanted in proptest::collection::vec((0u32..8, 0u8..3), 1..4),
            failures in proptest::collection::vec(any::<bool>(), 1..12),
        ) {
            let sets: Vec<TaskSetSpec> = wanted
                .iter()
                .enumerate()
                .map(|(i, (n, s))| {
                    let status = [TaskSetStatus::Primary, TaskSetStatus::Active, TaskSetStatus::Draining][*s as usize];
                    set(&format!("ecs-svc/{i}"), status, *n)
                })
                .collect();
            let mut tasks = run(&sets, 6, &failures);
            // Then no more crashes: three rounds, 30 s apart, bring every set to steady.
            let mut ids = SequentialIds { next: 1_000 };
            let mut now = t0() + Duration::seconds(600);
            for _ in 0..3 {
                let last = step(&spec(), &sets, &tasks, now, &mut ids);
                for st in &last.stop {
                    let t = tasks.iter_mut().find(|t| t.task_id == st.task_id).unwrap();
                    t.last_status = TaskStatus::Stopped;
                }
                for st in &last.start {
                    tasks.push(task(&st.task_id, &st.deployment_id, TaskStatus::Running, (now - t0()).num_seconds()));
                }
                now += Duration::seconds(60);
            }
            let last = step(&spec(), &sets, &tasks, now, &mut ids);
            prop_assert!(last.start.is_empty() && last.stop.is_empty());
            for (set, counts) in sets.iter().zip(&last.counts) {
                prop_assert_eq!(counts.running, set.wanted());
                prop_assert!(counts.steady);
                prop_assert_eq!(set.status == TaskSetStatus::Draining, last.drained.contains(&set.id));
            }
        }
    }
}
