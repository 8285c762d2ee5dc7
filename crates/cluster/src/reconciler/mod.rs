//! The reconciler: one pass ([`Cluster::tick`]) decides what the cluster's records should
//! become and what the runtime must do. It applies the runtime's events to the tasks
//! ([`events`]) and to their `awslogs` streams, runs scheduled scaling and target tracking, steps every unsettled service
//! ([`services`]: deployments, placement of new tasks, replacement of unhealthy ones, the
//! circuit breaker, DRAINING instances), scales the instances of capacity providers with managed
//! scaling ([`capacity`]), purges what is past the retention, marks tasks to
//! launch and to stop, waits until all of it is committed, and only then asks the runtime to
//! start and stop them. A big batch of events is applied and staged a slice at a time, letting
//! the state lock go in between, so a pass never holds readers back for long.
//!
//! **What it does not do.** No request parsing or validation (the API handlers in `api` change
//! state on request and leave the deciding to the next pass) and no container calls (the
//! [`Runtime`](crate::runtime::Runtime) performs the launches and stops handed to it, and
//! reports back through events). It shares record helpers with the handlers (task creation,
//! stop requests, placement inputs) rather than duplicating them.

pub(crate) mod capacity;
mod events;
mod services;
mod task_sets;

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};

use crate::runtime::{Launch, RuntimeEvent};
use crate::state::{Key, State};
use crate::taskids::TaskId;
use crate::{ClockMode, Cluster, api, launch, metrics, unsettle};

impl Cluster {
    /// One reconciler pass: collect runtime events, apply them, run every service's deployment
    /// step, commit, then ask the runtime to start and stop what the pass decided. Answers
    /// whether the pass changed anything (the background loop then comes back sooner).
    pub async fn tick(&self) -> bool {
        self.counted_tick().await > 0
    }

    /// [`Cluster::tick`], answering how many records the pass changed (0 when it could not be
    /// stored).
    async fn counted_tick(&self) -> usize {
        let _guard = self.inner.tick.lock().await;
        let now = self.now();
        let events = self.inner.runtime.events(now).await;
        // The pass itself blocks (the state lock, the wait for its commit): off the async
        // workers, so the HTTP side keeps answering during a long pass.
        let this = self.clone();
        let pass = tokio::task::spawn_blocking(move || this.pass(&events, now)).await;
        let Ok(Some((launches, stops, changed))) = pass else {
            return 0;
        };
        for l in launches {
            if let Err(e) = self.inner.runtime.start(l, now).await {
                tracing::warn!(error = %e, "runtime start failed");
            }
        }
        for id in stops {
            if let Err(e) = self
                .inner
                .runtime
                .stop(id, Duration::seconds(30), now)
                .await
            {
                tracing::debug!(error = %e, "runtime stop");
            }
        }
        changed
    }

    /// The deciding part of [`Cluster::tick`]: apply the events, step the services, stage and
    /// wait for the commit; answers what the runtime must start and stop (`None` when the
    /// pass could not be stored), and how many records it changed.
    fn pass(
        &self,
        events: &[RuntimeEvent],
        now: DateTime<Utc>,
    ) -> Option<(Vec<Launch>, Vec<String>, usize)> {
        // A big batch of events is applied a slice at a time, each staged on its own and the
        // lock let go in between, so readers never wait for more than a slice (the last slice
        // is applied with the rest of the pass). Commits keep staging order, so waiting for the
        // pass's own commit below covers the slices too.
        let mut changed = 0;
        let mut slices = events.chunks(EVENT_SLICE);
        let last = slices.next_back().unwrap_or_default();
        for slice in slices {
            let (mut st, mut dirty, memory) = self.with_events(slice, now);
            unsettle(&mut st, &dirty);
            unsettle(&mut st, &memory);
            if !dirty.is_empty() {
                st.meta.clock = now;
                dirty.insert(Key::Meta);
            }
            changed += dirty.len() + memory.len();
            self.stage_with_memory(&mut st, dirty, memory);
        }
        let (mut st, mut dirty, memory) = self.with_events(last, now);
        unsettle(&mut st, &memory);
        changed += memory.len();
        api::autoscaling::tick(&mut api::Write {
            st: &mut st,
            dirty: &mut dirty,
            env: &self.inner.env,
            now,
        });
        unsettle(&mut st, &dirty);
        // DAEMON services first: ECS reserves their resources before the others'.
        let mut services: Vec<(bool, String, String)> = st
            .clusters
            .values()
            .filter(|c| c.status == "ACTIVE")
            .flat_map(|c| {
                c.services.iter().filter(|(_, s)| !s.settled).map(|(n, s)| {
                    let replica = s.deploy.spec.scheduling_strategy
                        != berth_core::deploy::SchedulingStrategy::Daemon;
                    (replica, c.name.clone(), n.clone())
                })
            })
            .collect();
        services.sort();
        // One placement state per cluster and pass, shared by its services.
        let mut placers: std::collections::BTreeMap<String, Option<crate::state::PlacementCache>> =
            std::collections::BTreeMap::new();
        for (_, c, s) in services {
            let placer = placers.entry(c.clone()).or_default();
            services::reconcile_service(&mut st, &self.inner.env, &c, &s, now, &mut dirty, placer);
        }
        // Kept for the next pass and RunTask; `stage` drops a state a later change made stale.
        for (c, cache) in placers {
            if let (Some(cache), Some(c)) = (cache, st.clusters.get_mut(&c)) {
                c.placement = Some(cache);
            }
        }
        // Managed scaling after the services said what they could not place; the instances it
        // adds unsettle them, so the next pass places there.
        let mut scaled = BTreeSet::new();
        {
            let default_spec = crate::config::InstanceSpec::default();
            let spec = self.inner.config.instances.first().unwrap_or(&default_spec);
            let mut idle = self
                .inner
                .scale_idle
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            capacity::scale(&mut st, &self.inner.env, spec, now, &mut idle, &mut scaled);
        }
        unsettle(&mut st, &scaled);
        dirty.extend(scaled);
        self.purge_if_due(&mut st, now, &mut dirty);
        let (to_launch, stops) = collect_runtime_work(&mut st, &mut dirty);
        if !dirty.is_empty() {
            st.meta.clock = now;
            dirty.insert(Key::Meta);
        }
        changed += dirty.len();
        let ticket = self.stage_with_memory(&mut st, dirty, memory);
        drop(st);
        // What the runtime needs to start them, read after the write lock is let go (readers
        // go on beside it): the tasks are already marked as handed over, so no other pass or
        // request launches them meanwhile.
        let launches = {
            let st = self.read();
            let (env, config) = (&self.inner.env, &self.inner.config);
            let metadata = self.inner.runtime.runs_containers();
            to_launch
                .iter()
                .filter_map(|(cluster, id)| {
                    let t = st.clusters.get(cluster)?.tasks.get(id)?;
                    Some(launch::spec(&st, env, config, cluster, t, metadata))
                })
                .collect::<Vec<Launch>>()
        };
        if let Err(e) = self.durable(ticket) {
            tracing::error!(error = %e, "reconciler pass not stored");
            return None;
        }
        Some((launches, stops, changed))
    }

    /// Takes the state's write lock and applies `events` under it; answers the lock, the
    /// records they changed and the ones they changed in memory only (see `events`).
    fn with_events(
        &self,
        events: &[RuntimeEvent],
        now: DateTime<Utc>,
    ) -> (
        std::sync::RwLockWriteGuard<'_, State>,
        BTreeSet<Key>,
        BTreeSet<Key>,
    ) {
        let mut st = self.write();
        let (mut dirty, mut memory) = (BTreeSet::new(), BTreeSet::new());
        let runs_containers = self.inner.runtime.runs_containers();
        apply_events(
            &mut st,
            &mut dirty,
            &mut memory,
            events,
            now,
            runs_containers,
        );
        (st, dirty, memory)
    }

    /// Purges what is older than the retention, at most every `retention / 100` (between 1 s
    /// and 1 min) of cluster time: a scan of every task is cheap, but not every 250 ms.
    fn purge_if_due(&self, st: &mut State, now: DateTime<Utc>, dirty: &mut BTreeSet<Key>) {
        let retention = Duration::from_std(self.inner.config.retention).unwrap_or(Duration::MAX);
        let every = (retention / 100).clamp(Duration::seconds(1), Duration::seconds(60));
        let mut last = self
            .inner
            .last_purge
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|l| now - l < every) {
            return;
        }
        *last = Some(now);
        if let Some(cutoff) = now.checked_sub_signed(retention) {
            purge(st, cutoff, dirty);
        }
        dirty.extend(st.metrics.purge(now.timestamp() - metrics::RETENTION_SECS));
    }

    /// Moves the clock forward `seconds`, one reconciler pass per second (and one pass first).
    pub async fn advance(&self, seconds: u32) {
        self.tick().await;
        for _ in 0..seconds {
            self.inner.clock.advance(Duration::seconds(1));
            self.tick().await;
        }
    }

    /// Runs the reconciler in the background (system clock only; a manual clock moves only
    /// through [`Cluster::advance`]). The next pass comes after [`pause`]: the whole
    /// `config.tick` after a pass that changed nothing, less after one that changed something,
    /// least after a big one.
    pub fn spawn_reconciler(&self) -> Option<tokio::task::JoinHandle<()>> {
        if self.inner.clock.mode() == ClockMode::Manual {
            return None;
        }
        let this = self.clone();
        let every = self.inner.config.tick;
        Some(tokio::spawn(async move {
            loop {
                let changed = this.counted_tick().await;
                tokio::time::sleep(pause(every, changed)).await;
            }
        }))
    }
}

/// The most runtime events applied under one hold of the state's write lock: about 4 µs
/// each, so a slice holds readers back well under a millisecond.
const EVENT_SLICE: usize = 64;

/// A pass that changed at least this many records is big: its commit takes milliseconds (about
/// 25 µs a task record on the commit thread, BENCHMARKS.md), and every write staged behind it
/// waits for it.
const BIG_PASS: usize = 100;

/// How long the background reconciler waits after a pass that changed `changed` records, its
/// tick being `every` (250 ms by default):
///
/// - nothing changed: `every`, so an idle cluster costs nothing;
/// - a few records (a log line, one task's transition): a tenth of it (25 ms). Passes stay short
///   (at a fixed 250 ms a pass held the state lock for 20–45 ms and set every request's p99),
///   and a container that logs continuously does not cause a commit and its fsync every few
///   milliseconds;
/// - a big pass ([`BIG_PASS`]): a fiftieth (5 ms), so the next pass is small too. Under the
///   benchmark's mix, with 25 ms after every pass, a pass carried ~800 records, a 20–100 ms
///   commit, and the p99 of all requests was 51–54 ms; with this rule a pass carries ~300 and
///   the p99 is 37–42 ms at the same throughput (BENCHMARKS.md).
fn pause(every: std::time::Duration, changed: usize) -> std::time::Duration {
    let floor = std::time::Duration::from_millis(1);
    match changed {
        0 => every,
        n if n < BIG_PASS => (every / 10).max(floor),
        _ => (every / 50).max(floor),
    }
}

/// Forgets STOPPED tasks, service events, finished (INACTIVE) deployments and INACTIVE services
/// older than `cutoff`, deleting their records. The newest COMPLETED deployment of a service is kept
/// whatever its age: a circuit-breaker rollback returns to it.
fn purge(st: &mut State, cutoff: DateTime<Utc>, dirty: &mut BTreeSet<Key>) {
    use berth_core::deploy::{DeploymentStatus, RolloutState};
    let old = |t: &Option<berth_core::model::Timestamp>| {
        t.as_ref()
            .and_then(berth_core::model::Timestamp::to_datetime)
            .is_some_and(|t| t < cutoff)
    };
    for c in st.clusters.values_mut() {
        let expired: Vec<String> = c
            .tasks
            .values()
            .filter(|t| t.is_stopped() && old(&t.task.stopped_at))
            .map(|t| t.id().to_string())
            .collect();
        for id in expired {
            if c.remove_task(&id) {
                dirty.insert(Key::Task(c.name.clone(), id));
            }
        }
        // INACTIVE services are forgotten after the retention, as ECS purges them.
        let inactive: Vec<String> = c
            .services
            .iter()
            .filter(|(_, s)| s.inactive_since.is_some_and(|at| at < cutoff))
            .map(|(n, _)| n.clone())
            .collect();
        for name in inactive {
            c.services.remove(&name);
            dirty.insert(Key::Service(c.name.clone(), name));
        }
        for (name, s) in c.services.iter_mut() {
            let events = s.events.len();
            s.events.retain(|e| !old(&e.created_at));
            let keep = s
                .deploy
                .deployments
                .iter()
                .filter(|d| d.rollout_state == RolloutState::Completed)
                .max_by_key(|d| d.created_at)
                .map(|d| d.id.clone());
            let deployments = s.deploy.deployments.len();
            s.deploy.deployments.retain(|d| {
                d.status != DeploymentStatus::Inactive
                    || d.updated_at >= cutoff
                    || keep.as_ref() == Some(&d.id)
            });
            if s.events.len() != events || s.deploy.deployments.len() != deployments {
                dirty.insert(Key::Service(c.name.clone(), name.clone()));
            }
        }
    }
}

/// Applies the runtime's events to the tasks, the log streams and the usage metrics.
fn apply_events(
    st: &mut State,
    dirty: &mut BTreeSet<Key>,
    memory: &mut BTreeSet<Key>,
    events: &[RuntimeEvent],
    now: DateTime<Utc>,
    runs_containers: bool,
) {
    for e in events {
        events::apply_runtime_event(&mut st.clusters, dirty, memory, e);
    }
    if !runs_containers {
        // Without containers nothing prints: say what the containers would have.
        api::logs::record_runtime_events(st, dirty, events, now);
    }
    let now_ms = now.timestamp_millis();
    for e in events {
        if let RuntimeEvent::Usage {
            task_id,
            cpu_units,
            memory_mib,
        } = e
        {
            let cluster = st
                .clusters
                .iter()
                .find(|(_, c)| c.tasks.contains_key(task_id.as_str()))
                .map(|(n, _)| n.clone());
            if let Some(cluster) = cluster {
                dirty.extend(metrics::record_usage(
                    st,
                    &cluster,
                    task_id,
                    *cpu_units,
                    *memory_mib,
                    now.timestamp(),
                ));
            }
        }
        if let RuntimeEvent::Logs {
            group,
            stream,
            lines,
            ..
        } = e
        {
            for (at, line) in lines {
                api::logs::append(
                    st,
                    dirty,
                    group,
                    stream,
                    at.timestamp_millis(),
                    line.clone(),
                    now_ms,
                );
            }
        }
    }
}

/// Marks tasks to launch and to stop; answers the tasks to launch (cluster and id) and to
/// stop (id) for the runtime.
fn collect_runtime_work(
    st: &mut State,
    dirty: &mut BTreeSet<Key>,
) -> (Vec<(String, String)>, Vec<String>) {
    let mut launches = Vec::new();
    let mut stops = Vec::new();
    for c in st.clusters.values_mut() {
        // Only what changed since the last pass can need a launch or a stop.
        let mut ids = std::mem::take(&mut c.work);
        ids.extend(dirty.iter().filter_map(|k| match k {
            Key::Task(kc, id) if *kc == c.name => TaskId::parse(id),
            _ => None,
        }));
        for id in ids {
            let Some(t) = c.tasks.get_mut(id) else {
                continue;
            };
            if t.is_stopped() {
                continue;
            }
            let launch = !t.with_runtime() && t.desired_status() == "RUNNING";
            let stop = t.with_runtime() && !t.stop_sent && t.desired_status() == "STOPPED";
            if launch {
                // A task created with its launch stored needs no write to be started; one
                // stored before that rule does (before the runtime is asked). Its status does
                // not change, so the instance tallies do not either.
                let t = std::sync::Arc::make_mut(t);
                t.unstarted = false;
                if !std::mem::replace(&mut t.launched, true) {
                    dirty.insert(Key::Task(c.name.clone(), id.to_string()));
                }
                launches.push((c.name.clone(), id.to_string()));
            } else if stop {
                let t = std::sync::Arc::make_mut(t);
                let from = t.status();
                t.stop_sent = true;
                t.task.last_status = Some("STOPPING".into());
                t.task.version = Some(t.task.version.unwrap_or(0) + 1);
                c.retally(id, from);
                stops.push(id.to_string());
                dirty.insert(Key::Task(c.name.clone(), id.to_string()));
            }
        }
    }
    (launches, stops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration as Std;

    #[test]
    fn the_bigger_the_pass_the_sooner_the_next() {
        let every = Std::from_millis(250);
        assert_eq!(pause(every, 0), every);
        assert_eq!(pause(every, 1), Std::from_millis(25));
        assert_eq!(pause(every, BIG_PASS - 1), Std::from_millis(25));
        assert_eq!(pause(every, BIG_PASS), Std::from_millis(5));
        assert_eq!(pause(every, 10_000), Std::from_millis(5));
        // A short tick never turns into a busy loop.
        assert_eq!(pause(Std::from_millis(20), BIG_PASS), Std::from_millis(1));
        assert_eq!(pause(Std::from_millis(5), 1), Std::from_millis(1));
    }
}
