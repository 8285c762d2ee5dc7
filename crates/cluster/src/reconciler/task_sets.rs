//! The per-service step for a service whose tasks belong to task sets (`EXTERNAL` and
//! `CODE_DEPLOY` deployment controllers): runs [`berth_core::task_sets::step`] on the
//! service's tasks, places and records the tasks it starts (each with its set's task definition,
//! launch type or capacity provider, and network configuration), stops the ones it retires or
//! that sit on instances that are not ACTIVE, keeps each set's counts and stability, forgets
//! drained sets, and records the service events ECS writes ("has started", "unable to place",
//! "has reached a steady state").
//!
//! Not here: rolling deployments and the circuit breaker (such a service has none; that is
//! `reconciler::services`), and the API's rules for task sets (`api::task_sets`).

use std::collections::{BTreeMap, BTreeSet};

use berth_core::deploy as dp;
use berth_core::model as m;
use berth_core::task_sets as tset;
use chrono::{DateTime, Utc};

use super::services::{
    healthy_after, on_inactive_instance, place_one, push_events, record_started, resolve_in,
    service_placement, take_placer,
};
use crate::api::{Ids, Launch, NewTask, make_task, request_stop, requirements, ts, zone_of};
use crate::state::{Env, Key, PlacementCache, State, TaskDefRec};

/// Why a task set's task on a container instance that is not ACTIVE is stopped.
const OFF_INSTANCE_REASON: &str = "Task stopped because its container instance is DRAINING.";

/// The launch of a task set's tasks.
fn launch_of(set: &m::TaskSet) -> Launch {
    let provider = set
        .capacity_provider_strategy
        .as_ref()
        .and_then(|s| s.first())
        .and_then(|i| i.capacity_provider.clone());
    let fargate = set
        .launch_type
        .as_ref()
        .is_some_and(|l| l.as_str() == "FARGATE")
        || set
            .capacity_provider_strategy
            .as_deref()
            .is_some_and(crate::api::strategy_is_fargate);
    if fargate {
        Launch::Fargate(provider)
    } else {
        Launch::Ec2(provider)
    }
}

/// The scheduler's view of one stored task set.
pub(crate) fn spec_of(set: &m::TaskSet) -> tset::TaskSetSpec {
    tset::TaskSetSpec {
        id: set.id.clone().unwrap_or_default(),
        status: match set.status.as_deref() {
            Some("PRIMARY") => tset::TaskSetStatus::Primary,
            Some("DRAINING") => tset::TaskSetStatus::Draining,
            _ => tset::TaskSetStatus::Active,
        },
        task_definition: set.task_definition.clone().unwrap_or_default(),
        computed_desired_count: set.computed_desired_count.unwrap_or(0).max(0) as u32,
    }
}

/// One reconcile pass for a task-set service (see the module docs). `placer` is the pass's
/// shared placement state, as for [`super::services::reconcile_service`].
pub(crate) fn reconcile(
    st: &mut State,
    env: &Env,
    cluster: &str,
    name: &str,
    now: DateTime<Utc>,
    dirty: &mut BTreeSet<Key>,
    placer: &mut Option<PlacementCache>,
) {
    let Some(rec) = st.clusters.get(cluster).and_then(|c| c.services.get(name)) else {
        return;
    };
    let sets: Vec<tset::TaskSetSpec> = rec.task_sets.iter().map(spec_of).collect();
    let any_ec2 = rec
        .task_sets
        .iter()
        .any(|s| matches!(launch_of(s), Launch::Ec2(_)));
    let seed = st.random(dirty);
    if any_ec2 {
        take_placer(st, cluster, seed, dirty, placer);
    }
    let c = &st.clusters[cluster];
    let rec = &c.services[name];
    // Tasks on instances that are not ACTIVE are stopped now and replaced (a task set has no
    // minimum healthy percent to keep).
    let mut off: Vec<(String, String)> = Vec::new();
    let mut snaps: Vec<dp::TaskSnapshot> = Vec::with_capacity(rec.tasks.len());
    for id in &rec.tasks {
        let Some(t) = c.tasks.get(id) else { continue };
        let mut snap = t.snapshot();
        if !snap.stop_requested && on_inactive_instance(c, t) {
            off.push((id.to_string(), snap.deployment_id.clone()));
            snap.stop_requested = true;
        }
        snaps.push(snap);
    }
    let mut spec = rec.deploy.spec.clone();
    spec.healthy_after_secs = healthy_after(env);
    let (cs, ss) = service_placement(&rec.service);
    let step = tset::step(
        &spec,
        &sets,
        &snaps,
        now,
        &mut Ids {
            st: &mut st.meta.rng,
            at: now,
        },
    );
    dirty.insert(Key::Meta);
    let Some(c) = st.clusters.get_mut(cluster) else {
        return;
    };
    for (id, _) in &off {
        request_stop(
            c,
            id,
            "ServiceSchedulerInitiated",
            OFF_INSTANCE_REASON,
            dp::StopCause::ServiceSchedulerInitiated,
            now,
        );
        dirty.insert(Key::Task(cluster.into(), id.clone()));
    }
    for s in &step.stop {
        let cause = if s.reason == tset::UNHEALTHY_REASON {
            dp::StopCause::FailedHealthCheck
        } else {
            dp::StopCause::ServiceSchedulerInitiated
        };
        request_stop(c, &s.task_id, &s.stop_code, &s.reason, cause, now);
        dirty.insert(Key::Task(cluster.into(), s.task_id.clone()));
    }
    let group = format!("service:{name}");
    // What each set's tasks are launched with, looked up once per set that starts any.
    let mut sources: BTreeMap<
        String,
        Option<(TaskDefRec, Launch, Option<m::NetworkConfiguration>)>,
    > = BTreeMap::new();
    for start in &step.start {
        if sources.contains_key(&start.deployment_id) {
            continue;
        }
        let set = st.clusters[cluster].services[name]
            .task_sets
            .iter()
            .find(|s| s.id.as_deref() == Some(start.deployment_id.as_str()));
        let source = set.and_then(|set| {
            let td = resolve_in(&st.families, &start.task_definition).cloned();
            if td.is_none() {
                tracing::warn!(
                    service = name,
                    task_definition = start.task_definition,
                    "task set's task definition not found"
                );
            }
            Some((td?, launch_of(set), set.network_configuration.clone()))
        });
        sources.insert(start.deployment_id.clone(), source);
    }
    let mut started: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut unplaced: Option<String> = None;
    let mut n = seed;
    for start in &step.start {
        // A set whose task definition is gone, or whose task found no room, starts no more.
        let Some(Some((td, launch, network))) = sources.get(&start.deployment_id) else {
            continue;
        };
        let reqs = requirements(td, &group, None);
        let placement = match launch {
            Launch::Fargate(_) => None,
            Launch::Ec2(_) => {
                let placed = match placer.as_mut() {
                    Some(pc) => place_one(&mut pc.placer, &reqs, &cs, &ss, name),
                    None => Err(None),
                };
                match placed {
                    Ok(placement) => Some(placement),
                    Err(event) => {
                        unplaced = event;
                        sources.insert(start.deployment_id.clone(), None);
                        continue;
                    }
                }
            }
        };
        n = n.wrapping_add(1);
        let Some(c) = st.clusters.get_mut(cluster) else {
            return;
        };
        let az = zone_of(c, env, placement.as_ref(), n);
        let svc = &c.services[name].service;
        let propagate = svc
            .propagate_tags
            .as_ref()
            .is_some_and(|p| p.as_str() == "SERVICE");
        let tags = if propagate {
            svc.tags.clone().unwrap_or_default()
        } else {
            Vec::new()
        };
        let subnet = crate::eni::subnet(&td.td, network.as_ref());
        let rec = make_task(
            env,
            cluster,
            now,
            NewTask {
                id: start.task_id.clone(),
                td,
                launch: launch.clone(),
                placement,
                az,
                requirements: &reqs,
                group: group.clone(),
                started_by: Some(start.deployment_id.clone()),
                overrides: None,
                tags,
                service: Some(name.into()),
                subnet,
            },
        );
        record_started(c, rec, placer, dirty);
        started
            .entry(start.deployment_id.as_str())
            .or_default()
            .push(start.task_id.clone());
    }
    let Some(c) = st.clusters.get_mut(cluster) else {
        return;
    };
    let Some(rec) = c.services.get_mut(name) else {
        return;
    };
    let mut changed = false;
    let mut all_steady = true;
    let mut messages = Vec::new();
    for counts in &step.counts {
        let Some(set) = rec
            .task_sets
            .iter_mut()
            .find(|s| s.id.as_deref() == Some(counts.id.as_str()))
        else {
            continue;
        };
        // Starts the pass could not carry out stay pending in the counts of the next pass.
        let wanted = step
            .start
            .iter()
            .filter(|s| s.deployment_id == counts.id)
            .count();
        let done = started.get(counts.id.as_str()).map_or(0, Vec::len);
        let pending = counts.pending - (wanted - done) as u32;
        let steady = counts.steady && !off.iter().any(|(_, set)| *set == counts.id);
        all_steady &= steady;
        let stability = if steady {
            "STEADY_STATE"
        } else {
            "STABILIZING"
        };
        let new = (
            Some(counts.running as i32),
            Some(pending as i32),
            Some(m::StabilityStatus::from(stability)),
        );
        let old = (
            set.running_count,
            set.pending_count,
            set.stability_status.clone(),
        );
        if new != old {
            if new.2 != old.2 {
                set.stability_status_at = Some(ts(now));
                set.updated_at = Some(ts(now));
                if steady {
                    // ECS's event (kayac/ecspresso#103).
                    messages.push(format!(
                        "(service {name}, taskSet {}) updated state to STEADY_STATE.",
                        counts.id
                    ));
                }
            }
            (set.running_count, set.pending_count, set.stability_status) = new;
            changed = true;
        }
    }
    if !step.drained.is_empty() {
        rec.task_sets
            .retain(|s| s.id.as_ref().is_none_or(|id| !step.drained.contains(id)));
        changed = true;
    }
    let started: Vec<String> = started.into_values().flatten().collect();
    if !started.is_empty() {
        messages.push(dp::events::started(name, &started));
    }
    let stopped: Vec<String> = off
        .iter()
        .map(|(id, _)| id.clone())
        .chain(step.stop.iter().map(|s| s.task_id.clone()))
        .collect();
    if !stopped.is_empty() {
        messages.push(dp::events::stopped(name, &stopped));
    }
    if let Some(u) = &unplaced {
        if rec.last_unplaced.as_ref() != Some(u) {
            messages.push(u.clone());
        }
    }
    if rec.last_unplaced != unplaced {
        rec.last_unplaced = unplaced.clone();
        changed = true;
    }
    let steady_now = all_steady && step.start.is_empty() && step.stop.is_empty();
    if steady_now && !rec.deploy.steady_reported {
        messages.push(dp::events::steady_state(name));
        rec.deploy.steady_reported = true;
        changed = true;
    } else if !steady_now && rec.deploy.steady_reported {
        rec.deploy.steady_reported = false;
        changed = true;
    }
    rec.settled = steady_now && unplaced.is_none() && messages.is_empty();
    changed |= !messages.is_empty();
    push_events(rec, &mut st.meta.rng, now, messages);
    if changed {
        dirty.insert(Key::Service(cluster.into(), name.into()));
    }
}
