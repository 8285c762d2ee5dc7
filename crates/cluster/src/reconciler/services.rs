//! The per-service step of a reconciler pass: runs the deployment scheduler
//! ([`berth_core::deploy::step`]) on a service's tasks, places the tasks it starts
//! ([`berth_core::placement`], DAEMON placement included), stops the ones it retires or that
//! sit on DRAINING instances (within the deployment limits), and records the service events
//! (ECS's "has started", "unable to place" …).
//!
//! It changes records only (tasks to create, desired statuses, the service's deployments and
//! events); starting and stopping containers is the runtime's, after the pass commits.

use std::collections::BTreeSet;

use berth_core::deploy as dp;
use berth_core::model as m;
use berth_core::placement as pl;
use chrono::{DateTime, Utc};

use crate::api::resolve_task_definition as resolve;
use crate::api::{
    Ids, Launch, NewTask, last_segment, make_task, placement_inputs, request_stop, requirements,
    ts, zone_of,
};
use crate::state::{ClusterRec, Env, Key, PlacementCache, ServiceRec, State, TaskDefRec, TaskRec};
use crate::taskids::{TaskId, TaskIds};

/// Service events kept per service (DescribeServices shows the newest 100).
const EVENTS_KEPT: usize = 1000;

fn new_event(st: &mut pl::SplitMix64, now: DateTime<Utc>, message: String) -> m::ServiceEvent {
    let a = st.next_u64();
    let b = st.next_u64();
    m::ServiceEvent {
        id: Some(format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xffff,
            b >> 48,
            b & 0xffff_ffff_ffff
        )),
        created_at: Some(ts(now)),
        message: Some(message),
    }
}

pub(super) fn push_events(
    rec: &mut ServiceRec,
    rng: &mut pl::SplitMix64,
    now: DateTime<Utc>,
    messages: Vec<String>,
) {
    for msg in messages {
        rec.events.insert(0, new_event(rng, now, msg));
    }
    rec.events.truncate(EVENTS_KEPT);
}

/// Why a service task on a container instance that is not ACTIVE is stopped.
const DRAINING_REASON: &str = "Task stopped because its container instance is DRAINING.";
/// Why a daemon task on an instance that no longer matches is stopped.
const INELIGIBLE_REASON: &str = "Task stopped because its container instance no longer satisfies the service's placement constraints.";

/// Whether a placement rejection only says "no room now" (the instance is otherwise eligible
/// for a DAEMON task and counts toward its desired count).
fn only_room(r: &pl::RejectionReason) -> bool {
    matches!(
        r,
        pl::RejectionReason::InsufficientCpu { .. }
            | pl::RejectionReason::InsufficientMemory { .. }
            | pl::RejectionReason::InsufficientGpu { .. }
            | pl::RejectionReason::PortInUse { .. }
    )
}

/// What a DAEMON service's placement pass decided before the scheduler step.
#[derive(Default)]
struct DaemonPass {
    /// Eligible instances (the service's desired count).
    desired: u32,
    /// Instances to start a daemon task on, in order.
    starts: Vec<pl::Placement>,
    /// Tasks to stop now, with the stopped reason.
    stops: Vec<(String, &'static str)>,
    /// Tasks left out of the scheduler step (stopping, or on instances that no longer qualify).
    exclude: TaskIds,
    /// Placement could not say (invalid constraints): the event to write.
    error: Option<String>,
    /// An eligible instance has no room: ECS's "unable to place" event for it.
    unplaced: Option<String>,
}

/// Runs DAEMON placement for one service: which instances get a task, which tasks go (daemon
/// tasks on a DRAINING instance go last, once no other service task is left there), and how
/// many instances are eligible.
fn daemon_pass(
    c: &ClusterRec,
    rec: &ServiceRec,
    name: &str,
    task: &pl::TaskRequirements,
    constraints: &[pl::PlacementConstraint],
    placer: &mut pl::Placer,
) -> DaemonPass {
    let mut out = DaemonPass::default();
    let plan = match placer.place_daemon(task, constraints) {
        Ok(plan) => plan,
        Err(e) => {
            out.error = Some(format!(
                "(service {name}) was unable to place a task. Reason: {e}."
            ));
            return out;
        }
    };
    let mut gone: BTreeSet<String> = BTreeSet::new();
    for s in &plan.stop {
        let id = last_segment(&s.task.task_arn).to_string();
        out.exclude.extend(TaskId::parse(&id));
        let ci = pl::instance_id(&s.task.container_instance_arn);
        let (reason, defer) = match &s.reason {
            pl::DaemonStopReason::InstanceNotActive { .. } => {
                gone.insert(ci.to_string());
                // Daemon tasks are stopped last: wait for the other services' tasks there.
                let others = c.tasks_on(ci).any(|t| {
                    t.desired_status() == "RUNNING"
                        && t.service.as_deref().is_some_and(|s| {
                            s != name
                                && c.services.get(s).is_some_and(|o| {
                                    o.deploy.spec.scheduling_strategy
                                        != dp::SchedulingStrategy::Daemon
                                })
                        })
                });
                (DRAINING_REASON, others)
            }
            pl::DaemonStopReason::NoLongerEligible { .. } => {
                gone.insert(ci.to_string());
                (INELIGIBLE_REASON, false)
            }
            pl::DaemonStopReason::Duplicate => ("Duplicate daemon task on one instance.", false),
        };
        let live = c
            .tasks
            .get(&id)
            .is_some_and(|t| t.desired_status() == "RUNNING" && !t.is_stopped());
        if live && !defer {
            out.stops.push((id, reason));
        }
    }
    // Instances that keep a task of this service, plus those that get one or lack only room.
    let mut kept: BTreeSet<&str> = BTreeSet::new();
    for id in &rec.tasks {
        let Some(t) = c.tasks.get(id) else { continue };
        if t.is_stopped() || out.exclude.contains(id) {
            if t.is_stopped() {
                out.exclude.insert(id);
            }
            continue;
        }
        if let Some(info) = &t.info {
            let ci = pl::instance_id(&info.container_instance_arn);
            if !gone.contains(ci) {
                kept.insert(ci);
            }
        }
    }
    let mut waiting = 0usize;
    for r in &plan.rejections {
        if r.reasons.is_empty() || !r.reasons.iter().all(only_room) {
            continue;
        }
        waiting += 1;
        if out.unplaced.is_some() {
            continue;
        }
        // ECS's event text for the first instance without room, from a placement over it alone.
        let ci = pl::instance_id(&r.container_instance_arn);
        if let Some(i) = c.instances.get(ci) {
            let mut one = pl::Snapshot::new();
            one.push_instance(i.ci.clone());
            for t in c.tasks_on(ci).filter_map(|t| t.info.as_ref()) {
                one.push_task(t.clone());
            }
            let req = pl::PlacementRequest {
                task: task.clone(),
                count: 1,
                placement_constraints: constraints.to_vec(),
                placement_strategy: Vec::new(),
            };
            out.unplaced = pl::Placer::new(&one, 0)
                .place(&req)
                .ok()
                .and_then(|p| p.unplaced)
                .map(|u| u.service_event(name));
        }
    }
    out.desired = (kept.len() + plan.start.len() + waiting) as u32;
    out.starts = plan.start;
    out
}

/// One reconcile pass for a service: run [`dp::step`] on its tasks, carry out the starts
/// (placed with `berth_core::placement`, through the pass's shared `placer`) and stops, move
/// tasks off DRAINING instances within the deployment limits, and record the events.
///
/// `placer` is the cluster's placement state for this pass, taken on first use from what the
/// cluster keeps between calls ([`PlacementCache`], the one RunTask uses; built when a change
/// dropped it) and shared by every service of the cluster, so each service sees the tasks
/// placed before it and a pass costs what it places, not a copy of the cluster. A service whose last pass changed
/// nothing ([`ServiceRec::settled`]) is skipped.
pub(crate) fn reconcile_service(
    st: &mut State,
    env: &Env,
    cluster: &str,
    name: &str,
    now: DateTime<Utc>,
    dirty: &mut BTreeSet<Key>,
    placer: &mut Option<PlacementCache>,
) {
    let Some(c) = st.clusters.get(cluster) else {
        return;
    };
    let Some(rec) = c.services.get(name) else {
        return;
    };
    if rec.settled {
        return;
    }
    let status = rec.service.status.clone().unwrap_or_default();
    if status == "INACTIVE" {
        return;
    }
    if status == "DRAINING" {
        let live: Vec<String> = rec
            .tasks
            .iter()
            .filter(|id| {
                c.tasks
                    .get(id)
                    .is_some_and(|t| t.desired_status() == "RUNNING" && !t.is_stopped())
            })
            .map(|id| id.to_string())
            .collect();
        let none_left = rec
            .tasks
            .iter()
            .all(|id| c.tasks.get(id).is_none_or(|t| t.is_stopped()));
        let Some(c) = st.clusters.get_mut(cluster) else {
            return;
        };
        for id in &live {
            request_stop(
                c,
                id,
                "ServiceSchedulerInitiated",
                "Service is being deleted",
                dp::StopCause::ServiceSchedulerInitiated,
                now,
            );
            dirty.insert(Key::Task(cluster.into(), id.clone()));
        }
        if none_left {
            if let Some(rec) = c.services.get_mut(name) {
                rec.service.status = Some("INACTIVE".into());
                rec.inactive_since = Some(now);
                rec.task_sets.clear();
                dirty.insert(Key::Service(cluster.into(), name.into()));
            }
        }
        return;
    }
    if rec.uses_task_sets() {
        super::task_sets::reconcile(st, env, cluster, name, now, dirty, placer);
        return;
    }
    let daemon = rec.deploy.spec.scheduling_strategy == dp::SchedulingStrategy::Daemon;
    let primary_td = rec
        .deploy
        .primary()
        .map(|d| d.task_definition.clone())
        .unwrap_or_default();
    let Some(td) = resolve(st, &primary_td).cloned() else {
        tracing::warn!(
            service = name,
            task_definition = primary_td,
            "service task definition not found"
        );
        return;
    };
    let fargate = rec
        .service
        .launch_type
        .as_ref()
        .is_some_and(|l| l.as_str() == "FARGATE")
        || rec
            .service
            .capacity_provider_strategy
            .as_deref()
            .is_some_and(crate::api::strategy_is_fargate);
    let group = format!("service:{name}");
    let (cs, ss) = service_placement(&rec.service);
    let seed = st.random(dirty);
    if !fargate {
        take_placer(st, cluster, seed, dirty, placer);
    }
    let c = &st.clusters[cluster];
    let rec = &c.services[name];
    let mut dpass = DaemonPass::default();
    if daemon {
        if let Some(p) = placer.as_mut().map(|pc| &mut pc.placer) {
            dpass = daemon_pass(c, rec, name, &requirements(&td, &group, None), &cs, p);
        }
    }
    // Service tasks on instances that are not ACTIVE (DRAINING, deregistered): the scheduler
    // sees them as already stopping, so it starts replacements within maximumPercent; they are
    // stopped below within minimumHealthyPercent.
    let mut draining: Vec<String> = Vec::new();
    let mut snaps: Vec<dp::TaskSnapshot> = Vec::with_capacity(rec.tasks.len());
    for id in &rec.tasks {
        let Some(t) = c.tasks.get(id) else { continue };
        if dpass.exclude.contains(id) {
            continue;
        }
        let mut snap = t.snapshot();
        let off = !daemon && !snap.stop_requested && on_inactive_instance(c, t);
        if off {
            draining.push(id.to_string());
            snap.stop_requested = true;
        }
        snaps.push(snap);
    }
    let mut deploy_state = rec.deploy.clone();
    deploy_state.spec.healthy_after_secs = healthy_after(env);
    let before = deploy_state.clone();
    if daemon && dpass.error.is_none() && deploy_state.spec.desired_count != dpass.desired {
        deploy_state.set_desired_count(dpass.desired, now);
    }
    let step = {
        let mut ids = Ids {
            st: &mut st.meta.rng,
            at: now,
        };
        match dp::step(
            &deploy_state,
            &snaps,
            dp::StepInput {
                now,
                capacity: None,
            },
            &mut ids,
        ) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(service = name, error = %e, "deployment step failed");
                return;
            }
        }
    };
    dirty.insert(Key::Meta);
    let mut messages = Vec::new();
    let Some(c) = st.clusters.get_mut(cluster) else {
        return;
    };
    let mut healthy_stopped = 0u32;
    for s in &step.stop {
        let (unhealthy, healthy) = c.tasks.get(&s.task_id).map_or((false, false), |t| {
            let class = dp::classify(&t.snapshot(), &deploy_state.spec, now);
            (
                class == dp::TaskClass::Unhealthy,
                class == dp::TaskClass::Healthy,
            )
        });
        healthy_stopped += u32::from(healthy);
        let cause = if unhealthy {
            dp::StopCause::FailedHealthCheck
        } else {
            dp::StopCause::ServiceSchedulerInitiated
        };
        request_stop(c, &s.task_id, &s.stop_code, &s.reason, cause, now);
        dirty.insert(Key::Task(cluster.into(), s.task_id.clone()));
    }
    // Off DRAINING instances: not-yet-healthy tasks at once, healthy ones while the service
    // keeps minimumHealthyPercent (counting every healthy task, wherever it runs).
    let mut extra_stops: Vec<(String, &'static str)> = std::mem::take(&mut dpass.stops);
    if !draining.is_empty() {
        let mut healthy_total = snaps
            .iter()
            .filter(|s| !s.stop_requested || draining.contains(&s.task_id))
            .filter(|s| {
                let mut s = (*s).clone();
                s.stop_requested = false;
                dp::classify(&s, &deploy_state.spec, now) == dp::TaskClass::Healthy
            })
            .count() as u32;
        healthy_total = healthy_total.saturating_sub(healthy_stopped);
        let mut order: Vec<(bool, String)> = draining
            .iter()
            .filter_map(|id| {
                let t = c.tasks.get(id)?;
                let healthy =
                    dp::classify(&t.snapshot(), &deploy_state.spec, now) == dp::TaskClass::Healthy;
                Some((healthy, id.clone()))
            })
            .collect();
        order.sort();
        for (healthy, id) in order {
            if healthy {
                if healthy_total == 0 || healthy_total - 1 < step.limits.min_healthy {
                    continue;
                }
                healthy_total -= 1;
            }
            extra_stops.push((id, DRAINING_REASON));
        }
    }
    let mut stopped_extra = Vec::new();
    for (id, reason) in &extra_stops {
        request_stop(
            c,
            id,
            "ServiceSchedulerInitiated",
            reason,
            dp::StopCause::ServiceSchedulerInitiated,
            now,
        );
        dirty.insert(Key::Task(cluster.into(), id.clone()));
        stopped_extra.push(id.clone());
    }
    let mut started = Vec::new();
    let mut unplaced = dpass.error.clone();
    let mut daemon_starts = std::mem::take(&mut dpass.starts).into_iter();
    let mut n = seed;
    for start in &step.start {
        let start_td = resolve_in(&st.families, &start.task_definition)
            .unwrap_or(&td)
            .clone();
        let reqs = requirements(&start_td, &group, None);
        let placement = match placer.as_mut().map(|pc| &mut pc.placer) {
            None => None,
            Some(_) if daemon => match daemon_starts.next() {
                Some(p) => Some(p),
                None => break,
            },
            Some(p) => match place_one(p, &reqs, &cs, &ss, name) {
                Ok(placement) => Some(placement),
                Err(event) => {
                    unplaced = event;
                    break;
                }
            },
        };
        n = n.wrapping_add(1);
        let Some(c) = st.clusters.get_mut(cluster) else {
            return;
        };
        let az = zone_of(c, env, placement.as_ref(), n);
        // The strategy's first provider names the task's (one provider per service here).
        let provider = c.services[name]
            .service
            .capacity_provider_strategy
            .as_ref()
            .and_then(|s| s.first())
            .and_then(|i| i.capacity_provider.clone());
        let launch = if fargate {
            Launch::Fargate(provider)
        } else {
            Launch::Ec2(provider)
        };
        let tags = c.services[name].service.tags.clone().unwrap_or_default();
        // The ENI's subnet comes from the network configuration of the deployment the task
        // belongs to (an older deployment keeps its own), else the service's.
        let svc = &c.services[name].service;
        let network = svc
            .deployments
            .iter()
            .flatten()
            .find(|d| d.id.as_deref() == Some(start.deployment_id.as_str()))
            .and_then(|d| d.network_configuration.as_ref())
            .or(svc.network_configuration.as_ref());
        let subnet = crate::eni::subnet(&start_td.td, network);
        let propagate = c.services[name]
            .service
            .propagate_tags
            .as_ref()
            .is_some_and(|p| p.as_str() == "SERVICE");
        let rec = make_task(
            env,
            cluster,
            now,
            NewTask {
                id: start.task_id.clone(),
                td: &start_td,
                launch,
                placement,
                az,
                requirements: &reqs,
                group: group.clone(),
                started_by: Some(start.deployment_id.clone()),
                overrides: None,
                tags: if propagate { tags } else { Vec::new() },
                service: Some(name.into()),
                subnet,
            },
        );
        record_started(c, rec, placer, dirty);
        started.push(start.task_id.clone());
    }
    let live = snaps
        .iter()
        .filter(|t| t.last_status != dp::TaskStatus::Stopped && !t.stop_requested)
        .count()
        + started.len();
    let desired = step.state.spec.desired_count;
    if unplaced.is_none() && (live as u32) < desired {
        // The scheduler wanted more tasks than fit: say why, as ECS does. `explain` leaves the
        // pass's placement state as it is; only a task that fits nowhere is run through `place`
        // (which then charges nothing) for ECS's event text.
        let req = pl::PlacementRequest {
            task: requirements(&td, &group, None),
            count: 1,
            placement_constraints: cs.clone(),
            placement_strategy: ss.clone(),
        };
        if daemon {
            unplaced = dpass.unplaced.clone();
        } else if let Some(p) = placer.as_mut().map(|pc| &mut pc.placer) {
            if p.explain(&req).is_ok_and(|e| e.chosen.is_none()) {
                if let Ok(plan) = p.place(&req) {
                    unplaced = plan.unplaced.map(|u| u.service_event(name));
                }
            }
        }
    }
    let started_prefix = format!("(service {name}) has started ");
    for e in step.events {
        if e.starts_with(&started_prefix) {
            if !started.is_empty() {
                messages.push(dp::events::started(name, &started));
            }
        } else {
            messages.push(e);
        }
    }
    if !stopped_extra.is_empty() {
        messages.push(dp::events::stopped(name, &stopped_extra));
    }
    let Some(c) = st.clusters.get_mut(cluster) else {
        return;
    };
    let settled = step.start.is_empty()
        && step.stop.is_empty()
        && extra_stops.is_empty()
        && draining.is_empty()
        && unplaced.is_none()
        && messages.is_empty()
        && step.state == before
        && snaps.iter().all(|s| {
            matches!(
                dp::classify(s, &step.state.spec, now),
                dp::TaskClass::Healthy | dp::TaskClass::Stopped
            )
        });
    let Some(rec) = c.services.get_mut(name) else {
        return;
    };
    if let Some(u) = &unplaced {
        if rec.last_unplaced.as_ref() != Some(u) {
            messages.push(u.clone());
        }
    }
    let changed = !messages.is_empty() || rec.last_unplaced != unplaced || step.state != before;
    rec.last_unplaced = unplaced;
    if daemon {
        rec.service.desired_count = Some(step.state.spec.desired_count as i32);
    }
    rec.deploy = step.state;
    rec.settled = settled;
    push_events(rec, &mut st.meta.rng, now, messages);
    if changed {
        dirty.insert(Key::Service(cluster.into(), name.into()));
    }
}

/// Takes the cluster's kept placement state into `placer` for this pass (built afresh when a
/// change dropped it), reseeded with `seed`; nothing when the pass already holds it.
/// A service's placement constraints and strategy (ECS's service default when it has none).
pub(super) fn service_placement(
    svc: &m::Service,
) -> (Vec<pl::PlacementConstraint>, Vec<pl::PlacementStrategy>) {
    let (cs, ss) = placement_inputs(
        svc.placement_constraints.as_ref(),
        svc.placement_strategy.as_ref(),
    )
    .unwrap_or_default();
    let ss = if ss.is_empty() {
        pl::PlacementStrategy::service_default()
    } else {
        ss
    };
    (cs, ss)
}

/// When a running task without health checks counts as healthy: `None` for ECS's 40 s, else
/// the server's `--task-healthy-after`.
pub(super) fn healthy_after(env: &Env) -> Option<u32> {
    (env.task_healthy_after_secs != dp::RUNNING_HEALTHY_AFTER_SECS as u32)
        .then_some(env.task_healthy_after_secs)
}

/// Places one task of service `name` through the pass's placer; `Err` carries ECS's "unable to
/// place" event for the service (`None` when the placer gave no reason).
pub(super) fn place_one(
    p: &mut pl::Placer,
    task: &pl::TaskRequirements,
    constraints: &[pl::PlacementConstraint],
    strategy: &[pl::PlacementStrategy],
    name: &str,
) -> Result<pl::Placement, Option<String>> {
    let req = pl::PlacementRequest {
        task: task.clone(),
        count: 1,
        placement_constraints: constraints.to_vec(),
        placement_strategy: strategy.to_vec(),
    };
    match p.place(&req) {
        Ok(plan) => match plan.placements.into_iter().next() {
            Some(placement) => Ok(placement),
            None => Err(plan.unplaced.map(|u| u.service_event(name))),
        },
        Err(e) => Err(Some(format!(
            "(service {name}) was unable to place a task. Reason: {e}."
        ))),
    }
}

/// Whether a task that is not STOPPED sits on a container instance that is not ACTIVE
/// (DRAINING, or deregistered with `force`).
pub(super) fn on_inactive_instance(c: &ClusterRec, t: &TaskRec) -> bool {
    !t.is_stopped()
        && t.info.as_ref().is_some_and(|i| {
            c.instances
                .get(pl::instance_id(&i.container_instance_arn))
                .is_some_and(|ci| ci.ci.status != pl::InstanceStatus::Active)
        })
}

/// Records a task a pass started: into the cluster, its key into `dirty`, and into the pass's
/// placement bookkeeping when the placer charged it (it was placed on an instance).
pub(super) fn record_started(
    c: &mut ClusterRec,
    rec: TaskRec,
    placer: &mut Option<PlacementCache>,
    dirty: &mut BTreeSet<Key>,
) {
    let id = rec.id().to_string();
    if rec.info.is_some()
        && let Some(cache) = placer.as_mut()
    {
        cache.tasks.extend(TaskId::parse(&id));
    }
    c.insert_task(rec);
    dirty.insert(Key::Task(c.name.clone(), id));
}

pub(super) fn take_placer(
    st: &mut State,
    cluster: &str,
    seed: u64,
    dirty: &BTreeSet<Key>,
    placer: &mut Option<PlacementCache>,
) {
    if placer.is_some() {
        return;
    }
    let Some(c) = st.clusters.get_mut(cluster) else {
        return;
    };
    // What this pass changed so far (runtime events) must not be missing from a kept state.
    for k in dirty.iter() {
        if matches!(k, Key::Task(kc, _) | Key::Instance(kc, _) | Key::Cluster(kc) if kc == cluster)
        {
            c.invalidate_placement(k);
        }
    }
    let mut cache = c
        .placement
        .take()
        .unwrap_or_else(|| PlacementCache::build(c));
    cache.placer.reseed(seed);
    // The bookkeeping that keeps it valid (RunTask's debug check compares its plans with a
    // fresh state's, after the passes that kept it).
    debug_assert_eq!(
        cache.tasks,
        PlacementCache::build(c).tasks,
        "a kept placement state counts the tasks a fresh one counts"
    );
    *placer = Some(cache);
}

pub(super) fn resolve_in<'a>(
    families: &'a std::collections::BTreeMap<String, Vec<TaskDefRec>>,
    arn: &str,
) -> Option<&'a TaskDefRec> {
    let (family, rev) = crate::api::parse_task_definition_reference(arn)?;
    families.get(&family)?.get((rev? as usize).checked_sub(1)?)
}
