//! Managed scaling of Auto Scaling group capacity providers, the part of a reconciler pass that
//! stands in for ECS's cluster auto scaling: for every provider a cluster has whose managed
//! scaling is `ENABLED`, it launches container instances for that provider when its services'
//! tasks find no room, and retires the provider's empty instances after 15 minutes.
//!
//! The rule is ECS's target tracking on `CapacityProviderReservation` (ecs-semantics §5.5),
//! taken at once rather than through a CloudWatch alarm: with M the provider's instances that
//! run tasks plus the instances its unplaced service tasks need (bin-packed onto the cluster's
//! configured instance size), the provider should have `ceil(M × 100 / targetCapacity)`.
//! Scale-out is clamped to the step sizes, waits while one of the provider's instances is within
//! `instanceWarmupPeriod`, and does not happen while one of them is empty (tasks that do not go
//! there would not go on another like it either). Scale-in takes only instances without tasks
//! (tasks of DAEMON services aside) for 15 minutes of cluster time, ECS's 15 data points.
//!
//! Not here:
//! - RunTask's tasks: the local cluster refuses what does not fit (placement failures) rather
//!   than leaving it in PROVISIONING, so only service tasks ask for capacity.
//! - The `CapacityProviderReservation` metric itself and the Auto Scaling group's own limits
//!   (there is no group: the instances are the cluster's, named after the provider).
//! - Keeping placement to a provider's instances: every instance takes every task, the
//!   provider's instances are only added when no instance has room.

use std::collections::{BTreeMap, BTreeSet};

use berth_core::placement as pl;
use chrono::{DateTime, Duration, Utc};

use crate::api::resolve_task_definition as resolve;
use crate::api::{new_instance, requirements};
use crate::config::InstanceSpec;
use crate::state::{ClusterRec, Env, Key, State};

/// How long an instance must be empty before managed scaling retires it (ECS's scale-in alarm
/// needs 15 one-minute data points).
const IDLE_BEFORE_SCALE_IN: Duration = Duration::minutes(15);

/// ECS's quota of container instances per cluster, which managed scaling does not go past.
const MAX_INSTANCES: u32 = 5000;

/// When each instance of a managed provider was first seen empty (memory only: after a restart
/// the count starts again).
pub(crate) type Idle = BTreeMap<(String, String), DateTime<Utc>>;

/// One pass of managed scaling over every active cluster; answers nothing, records new and
/// retired instances in `dirty`.
pub(super) fn scale(
    st: &mut State,
    env: &Env,
    spec: &InstanceSpec,
    now: DateTime<Utc>,
    idle: &mut Idle,
    dirty: &mut BTreeSet<Key>,
) {
    if st.capacity_providers.is_empty() {
        return;
    }
    let clusters: Vec<String> = st
        .clusters
        .values()
        .filter(|c| c.status == "ACTIVE")
        .map(|c| c.name.clone())
        .collect();
    for cluster in clusters {
        for (provider, scaling) in managed(st, &cluster) {
            let plan = plan(st, &cluster, &provider, &scaling, spec, now, idle);
            apply(st, env, spec, &cluster, &provider, plan, now, dirty);
        }
    }
    idle.retain(|(c, id), _| {
        st.clusters
            .get(c)
            .and_then(|c| c.instances.get(id))
            .is_some_and(|i| i.ci.status == pl::InstanceStatus::Active)
    });
}

/// The providers of `cluster` with managed scaling on, and their settings.
fn managed(st: &State, cluster: &str) -> Vec<(String, Scaling)> {
    let Some(c) = st.clusters.get(cluster) else {
        return Vec::new();
    };
    c.capacity_providers
        .iter()
        .filter_map(|name| {
            let p = st.capacity_providers.get(name)?;
            let ms = p
                .provider
                .auto_scaling_group_provider
                .as_ref()?
                .managed_scaling
                .as_ref()?;
            (ms.status.as_ref()?.as_str() == "ENABLED").then(|| {
                (
                    name.clone(),
                    Scaling {
                        target: ms.target_capacity.unwrap_or(100).clamp(1, 100) as u32,
                        min_step: ms.minimum_scaling_step_size.unwrap_or(1).max(1) as u32,
                        max_step: ms.maximum_scaling_step_size.unwrap_or(10_000).max(1) as u32,
                        warmup: Duration::seconds(ms.instance_warmup_period.unwrap_or(300).into()),
                    },
                )
            })
        })
        .collect()
}

/// A provider's managed-scaling settings.
#[derive(Debug, Clone, Copy)]
struct Scaling {
    target: u32,
    min_step: u32,
    max_step: u32,
    warmup: Duration,
}

/// What one provider should do this pass.
#[derive(Debug, PartialEq, Eq)]
enum Plan {
    Hold,
    /// Launch this many instances.
    Out(u32),
    /// Retire these (empty for long enough) instances.
    In(Vec<String>),
}

/// The instances `capacity_for` more tasks of `task` need, bin-packed onto instances of `spec`
/// (`None` when one task does not fit an instance at all).
fn instances_for(tasks: u32, task: &pl::TaskRequirements, spec: &InstanceSpec) -> Option<u32> {
    if tasks == 0 {
        return Some(0);
    }
    let r = task.resources;
    if r.cpu > spec.cpu || r.memory > spec.memory || r.gpu > 0 {
        return None;
    }
    // A fixed host port allows one task of its kind per instance.
    let per = if task.host_ports.is_empty() {
        let by_cpu = spec.cpu.checked_div(r.cpu).unwrap_or(u32::MAX);
        let by_memory = spec.memory.checked_div(r.memory).unwrap_or(u32::MAX);
        by_cpu.min(by_memory).max(1)
    } else {
        1
    };
    Some(tasks.div_ceil(per))
}

/// Whether an instance runs tasks other than DAEMON services' (ECS counts an instance with only
/// daemon tasks as empty).
fn busy(c: &ClusterRec, id: &str) -> bool {
    c.tasks_on(id).any(|t| {
        !t.is_stopped()
            && t.service.as_ref().is_none_or(|s| {
                c.services.get(s).is_none_or(|s| {
                    s.deploy.spec.scheduling_strategy
                        != berth_core::deploy::SchedulingStrategy::Daemon
                })
            })
    })
}

fn plan(
    st: &State,
    cluster: &str,
    provider: &str,
    scaling: &Scaling,
    spec: &InstanceSpec,
    now: DateTime<Utc>,
    idle: &mut Idle,
) -> Plan {
    let Some(c) = st.clusters.get(cluster) else {
        return Plan::Hold;
    };
    let mine: Vec<&String> = c
        .instances
        .iter()
        .filter(|(_, i)| {
            i.ci.status == pl::InstanceStatus::Active
                && i.capacity_provider_name.as_deref() == Some(provider)
        })
        .map(|(id, _)| id)
        .collect();
    let mut occupied = 0u32;
    let mut empty = 0u32;
    for id in &mine {
        let key = (cluster.to_string(), (*id).clone());
        if busy(c, id) {
            occupied += 1;
            idle.remove(&key);
        } else {
            empty += 1;
            idle.entry(key).or_insert(now);
        }
    }
    // The instances the unplaced tasks of the provider's services need.
    let mut needed = 0u32;
    for (name, s) in &c.services {
        let first = s
            .service
            .capacity_provider_strategy
            .as_ref()
            .and_then(|st| st.first())
            .and_then(|i| i.capacity_provider.as_deref());
        if s.service.status.as_deref() != Some("ACTIVE")
            || first != Some(provider)
            || s.last_unplaced.is_none()
        {
            continue;
        }
        let live = s
            .tasks
            .iter()
            .filter(|id| c.tasks.get(*id).is_some_and(|t| !t.is_stopped()))
            .count() as u32;
        let short = s.deploy.spec.desired_count.saturating_sub(live);
        let td = s
            .deploy
            .primary()
            .and_then(|d| resolve(st, &d.task_definition));
        let Some(td) = td else { continue };
        let task = requirements(td, &format!("service:{name}"), None);
        needed += instances_for(short, &task, spec).unwrap_or(0);
    }
    let want = (occupied + needed)
        .saturating_mul(100)
        .div_ceil(scaling.target);
    let have = mine.len() as u32;
    // An empty instance of the provider has room a new one would have too: if tasks still find
    // none (a placement constraint, or a pass that has not placed there yet), more instances
    // would not help. This also bounds scale-out, which has no Auto Scaling group maximum here.
    if want > have && (needed == 0 || empty == 0) {
        let warming = mine.iter().any(|id| {
            c.instances.get(*id).is_some_and(|i| {
                now.timestamp() - i.ci.registered_at < scaling.warmup.num_seconds()
            })
        });
        if warming {
            return Plan::Hold;
        }
        let room = MAX_INSTANCES.saturating_sub(c.instances.len() as u32);
        let step = (want - have)
            .clamp(scaling.min_step, scaling.max_step)
            .min(room);
        return if step > 0 {
            Plan::Out(step)
        } else {
            Plan::Hold
        };
    }
    if want < have {
        let mut retire: Vec<String> = mine
            .iter()
            .filter(|id| {
                idle.get(&(cluster.to_string(), (**id).clone()))
                    .is_some_and(|since| now - *since >= IDLE_BEFORE_SCALE_IN)
            })
            .map(|id| (*id).clone())
            .collect();
        retire.truncate((have - want) as usize);
        if !retire.is_empty() {
            return Plan::In(retire);
        }
    }
    Plan::Hold
}

#[allow(clippy::too_many_arguments)]
fn apply(
    st: &mut State,
    env: &Env,
    spec: &InstanceSpec,
    cluster: &str,
    provider: &str,
    plan: Plan,
    now: DateTime<Utc>,
    dirty: &mut BTreeSet<Key>,
) {
    match plan {
        Plan::Hold => {}
        Plan::Out(n) => {
            let first = st.clusters.get(cluster).map_or(0, |c| c.instances.len());
            for k in 0..n as usize {
                let (id, mut rec) = new_instance(st, env, cluster, spec, first + k, now, dirty);
                rec.capacity_provider_name = Some(provider.to_string());
                if let Some(c) = st.clusters.get_mut(cluster) {
                    c.instances.insert(id.clone(), rec);
                    dirty.insert(Key::Instance(cluster.to_string(), id));
                }
            }
            tracing::info!(
                cluster,
                provider,
                instances = n,
                "managed scaling: scale-out"
            );
        }
        Plan::In(ids) => {
            let Some(c) = st.clusters.get_mut(cluster) else {
                return;
            };
            for id in &ids {
                if let Some(i) = c.instances.get_mut(id) {
                    i.ci.status = pl::InstanceStatus::Inactive;
                    i.ci.agent_connected = false;
                    i.version += 1;
                    dirty.insert(Key::Instance(cluster.to_string(), id.clone()));
                }
            }
            tracing::info!(
                cluster,
                provider,
                instances = ids.len(),
                "managed scaling: scale-in"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(cpu: u32, memory: u32, ports: bool) -> pl::TaskRequirements {
        let mut t = pl::TaskRequirements {
            group: "service:s".into(),
            resources: pl::Resources::new(cpu, memory, 0),
            ..pl::TaskRequirements::default()
        };
        if ports {
            t.host_ports = vec![pl::HostPort {
                port: 80,
                protocol: pl::Protocol::Tcp,
            }];
        }
        t
    }

    #[test]
    fn tasks_are_bin_packed_onto_the_configured_instance_size() {
        let spec = InstanceSpec::default(); // 2048 CPU, 4096 MiB
        assert_eq!(instances_for(0, &task(256, 512, false), &spec), Some(0));
        // Eight a piece by either dimension.
        assert_eq!(instances_for(8, &task(256, 512, false), &spec), Some(1));
        assert_eq!(instances_for(9, &task(256, 512, false), &spec), Some(2));
        // Memory binds first.
        assert_eq!(instances_for(3, &task(256, 2048, false), &spec), Some(2));
        // A fixed host port: one per instance.
        assert_eq!(instances_for(3, &task(64, 64, true), &spec), Some(3));
        // Too big for any instance: managed scaling cannot help.
        assert_eq!(instances_for(1, &task(4096, 512, false), &spec), None);
    }
}
