//! How runtime events move a task record through its lifecycle (ecs-semantics §4): PENDING,
//! RUNNING, a failed start, health, an essential container's exit, STOPPED.
//!
//! It only records what the runtime reports on the task (statuses, timestamps, exit codes, stop
//! code and cause, the state and address of an `awsvpc` task's ENI through [`crate::eni`]); it
//! decides nothing about replacements (the service step does, on the next
//! pass) and talks to no runtime.

use std::collections::BTreeSet;

use berth_core::deploy as dp;
use berth_core::model as m;

use crate::api::ts;
use crate::runtime::RuntimeEvent;
use crate::state::{ClusterRec, Key};

/// Applies one runtime event to its task and marks the task changed: in `dirty` (to be stored)
/// or, for PENDING, in `memory` (changed in memory, stored with its next change).
pub(crate) fn apply_runtime_event(
    clusters: &mut std::collections::BTreeMap<String, ClusterRec>,
    dirty: &mut BTreeSet<Key>,
    memory: &mut BTreeSet<Key>,
    e: &RuntimeEvent,
) {
    let task_id = crate::runtime::event_task(e);
    let Some(c) = clusters
        .values_mut()
        .find(|c| c.tasks.contains_key(task_id))
    else {
        return;
    };
    let Some(t) = c.tasks.get_mut(task_id).map(std::sync::Arc::make_mut) else {
        return;
    };
    if t.is_stopped() {
        return;
    }
    let from = t.status();
    match e {
        RuntimeEvent::Pending { at, .. } => {
            if t.last_status() == "PROVISIONING" {
                // ECS attaches an awsvpc task's ENI while PROVISIONING; its address follows
                // when the runtime reports it (`Attached` while PENDING, or with RUNNING).
                crate::eni::attached(&mut t.task, None);
                t.task.last_status = Some("PENDING".into());
                t.task.pull_started_at = Some(ts(*at));
            }
        }
        RuntimeEvent::Attached { network, .. } => {
            if !matches!(t.last_status(), "PROVISIONING" | "PENDING") {
                return;
            }
            crate::eni::attached(&mut t.task, Some(network));
        }
        RuntimeEvent::Running { at, network, .. } => {
            if t.desired_status() == "RUNNING" {
                crate::eni::attached(&mut t.task, network.as_ref());
                t.task.last_status = Some("RUNNING".into());
                t.task.pull_stopped_at = Some(ts(*at));
                t.task.started_at = Some(ts(*at));
                t.task.connectivity = Some(m::Connectivity::from("CONNECTED"));
                t.task.connectivity_at = Some(ts(*at));
                // A container that already ran to completion (an init container) stays STOPPED.
                for ct in t.task.containers.iter_mut().flatten() {
                    if ct.last_status.as_deref() != Some("STOPPED") {
                        ct.last_status = Some("RUNNING".into());
                    }
                }
            }
        }
        RuntimeEvent::StartFailed { at, reason, .. } => {
            t.task.desired_status = Some("STOPPED".into());
            t.task.last_status = Some("STOPPED".into());
            t.task.stop_code = Some(m::TaskStopCode::from("TaskFailedToStart"));
            t.task.stopped_reason = Some(reason.clone());
            for x in [
                &mut t.task.stopping_at,
                &mut t.task.execution_stopped_at,
                &mut t.task.stopped_at,
            ] {
                *x = Some(ts(*at));
            }
            t.stop_cause = Some(dp::StopCause::FailedToStart);
            crate::eni::deleted(&mut t.task);
            for ct in t.task.containers.iter_mut().flatten() {
                ct.last_status = Some("STOPPED".into());
                ct.reason = Some(reason.clone());
            }
        }
        RuntimeEvent::Health { healthy, .. } => {
            let h = if *healthy { "HEALTHY" } else { "UNHEALTHY" };
            t.task.health_status = Some(m::HealthStatus::from(h));
            for ct in t.task.containers.iter_mut().flatten() {
                if ct.health_status.is_some() {
                    ct.health_status = Some(m::HealthStatus::from(h));
                }
            }
        }
        RuntimeEvent::Exited {
            at,
            container,
            exit_code,
            ..
        } => {
            if t.desired_status() == "RUNNING" {
                t.task.desired_status = Some("STOPPED".into());
                t.task.stop_code = Some(m::TaskStopCode::from("EssentialContainerExited"));
                t.task.stopped_reason = Some("Essential container in task exited".into());
                t.task.stopping_at = Some(ts(*at));
                t.stop_cause = Some(dp::StopCause::EssentialContainerExited);
            }
            t.task.last_status = Some("DEPROVISIONING".into());
            t.task.execution_stopped_at = Some(ts(*at));
            t.stop_sent = true;
            for ct in t.task.containers.iter_mut().flatten() {
                if ct.name.as_deref() == Some(container.as_str()) {
                    ct.exit_code = Some(*exit_code);
                }
                ct.last_status = Some("STOPPED".into());
            }
        }
        RuntimeEvent::Stopped { at, exit_code, .. } => {
            t.task.last_status = Some("STOPPED".into());
            crate::eni::deleted(&mut t.task);
            t.task.desired_status = Some("STOPPED".into());
            t.task.stopped_at = Some(ts(*at));
            if t.task.execution_stopped_at.is_none() {
                t.task.execution_stopped_at = Some(ts(*at));
            }
            if t.task.stopping_at.is_none() {
                t.task.stopping_at = Some(ts(*at));
            }
            for ct in t.task.containers.iter_mut().flatten() {
                if ct.exit_code.is_none() {
                    ct.exit_code = Some(*exit_code);
                }
                ct.last_status = Some("STOPPED".into());
            }
            if t.stop_cause.is_none() {
                t.stop_cause = Some(dp::StopCause::Infrastructure);
            }
        }
        RuntimeEvent::Container { report, .. } => {
            let Some(ct) = t
                .task
                .containers
                .iter_mut()
                .flatten()
                .find(|c| c.name.as_deref() == Some(report.name.as_str()))
            else {
                return;
            };
            ct.last_status = Some(report.status.clone());
            if report.runtime_id.is_some() {
                ct.runtime_id.clone_from(&report.runtime_id);
            }
            if report.exit_code.is_some() {
                ct.exit_code = report.exit_code;
            }
            if report.reason.is_some() {
                ct.reason.clone_from(&report.reason);
            }
            if !report.bindings.is_empty() {
                ct.network_bindings = Some(
                    report
                        .bindings
                        .iter()
                        .map(|b| m::NetworkBinding {
                            bind_ip: Some(b.bind_ip.clone()),
                            container_port: Some(b.container_port),
                            host_port: Some(b.host_port),
                            protocol: Some(m::TransportProtocol::from(b.protocol.as_str())),
                            ..m::NetworkBinding::default()
                        })
                        .collect(),
                );
            }
            if let Some(h) = &report.health {
                ct.health_status = Some(m::HealthStatus::from(h.as_str()));
            }
        }
        RuntimeEvent::Logs { .. } | RuntimeEvent::Usage { .. } => {
            return;
        }
    }
    t.task.version = Some(t.task.version.unwrap_or(0) + 1);
    let id = task_id.to_string();
    c.retally(&id, from);
    let key = Key::Task(c.name.clone(), id);
    // PENDING is shown at once but stored only with the task's next change (RUNNING, a failed
    // start, a stop). Storing it buys nothing a restart could use: a task stored PROVISIONING
    // and one stored PENDING are both re-adopted as not yet running, so the runtime starts
    // over and reports PENDING again. Leaving it out saves one write in three of a task's start.
    // The address a pause container got while PENDING is the same: RUNNING stores it.
    if matches!(
        e,
        RuntimeEvent::Pending { .. } | RuntimeEvent::Attached { .. }
    ) {
        memory.insert(key);
    } else {
        dirty.insert(key);
    }
}
