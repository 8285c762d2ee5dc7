//! berth-cluster: an embedded, ECS-compatible local cluster.
//!
//! **What it is for.** [`Cluster`] answers the Amazon ECS API (AWS JSON 1.1 actions with the
//! request and response shapes of [`berth_core::model`]) against a local control plane: clusters,
//! task definitions (validated by [`berth_core::validate`]), tasks placed by
//! [`berth_core::placement`], services rolled out by [`berth_core::deploy`], container instances
//! and their attributes, and tags. Each part has one job: the API handlers (`api`) change
//! state on request; the reconciler (`reconciler`: [`Cluster::tick`], run in the background by
//! [`Cluster::spawn_reconciler`]) decides, moving tasks through their lifecycle and keeping
//! services at their desired count; the [`runtime::Runtime`] performs the starts and stops it
//! decided and reports what happened as events. Every change is committed to an embedded redb
//! database ([`store`]) before the call that made it returns, and everything is loaded back on
//! start. The one change kept in memory until the task's next one is a task's PENDING: a
//! restart starts a task stored PROVISIONING over just as one stored PENDING.
//!
//! **What it deliberately does not do, and why.**
//! - No HTTP: the `berth` server owns transport, body limits and SigV4 (this crate takes an
//!   action name and a body), so the same cluster serves the API, the dashboard and tests.
//! - No Docker yet: the [`runtime::SimRuntime`] is deterministic (seeded, driven by the
//!   cluster's [`clock::Clock`]); the [`runtime::Runtime`] trait is shaped for a Docker runtime.
//! - Not every ECS operation: the ones not implemented answer `UnsupportedFeatureException`
//!   naming the action, never a stub that pretends to work (see the server's README section).
//!   Managed Instances capacity providers are among them. Task sets (EXTERNAL and CODE_DEPLOY
//!   deployment controllers) are answered, but nothing plays CodeDeploy.
//!   Application Auto Scaling and CloudWatch Logs are answered too ([`apis`]), for ECS
//!   services and the `awslogs` streams of tasks only, and CloudWatch metrics: the CPU and
//!   memory utilisation series the simulated runtime generates and what users push
//!   ([`metrics`]), which also drive target-tracking policies.
//! - No eventual consistency: reads see every acknowledged write (ECS documents lag; strong
//!   consistency is allowed and easier to test against). A DescribeTasks of many tasks
//!   answered from the kept views beside a write in flight may show some before it and some
//!   after it; none from before a write that was acknowledged.
//!
//! **Concurrency and durability.** State lives in memory behind one `RwLock`; reads share it,
//! writes take it exclusively, mutate, and stage the changed keys for the group-commit thread
//! ([`commit`]) before letting it go; they answer once their batch is durable. The thread
//! writes every batch staged so far in one redb transaction and fsyncs without holding the
//! state lock, so reads never queue behind an fsync and concurrent writers share one. Commits
//! follow staging order, so revisions stay contiguous across a crash. Reads answer from memory
//! without waiting for the commit in flight: a read can show a change whose commit has not
//! finished (for about one fsync); if the process dies in that window the change is gone, and
//! its writer was never told it succeeded — every acknowledged write is durable. After each
//! durable commit the changed records are published, in commit order, to the cluster's change
//! feed ([`Cluster::changes`], [`changes`]), which the server streams to the dashboard.
//! Writes do under the lock only what needs the state: a task definition is validated before,
//! and large answers are written out after. Short reads are answered on the caller's async task
//! when the lock is free at once, else on the blocking pool. DescribeTasks and DescribeServices
//! serve kept serialised views ([`views`]), without the state lock when the views hold every
//! task or service asked for, so the reads clients poll most never wait for a write.
#![warn(missing_docs)]

mod api;
pub mod apis;
pub mod autoscaling;
pub mod changes;
pub mod clock;
pub mod commit;
pub mod config;
pub mod docker;
mod eni;
pub mod launch;
pub mod logstore;
pub mod metadata;
pub mod metrics;
mod reconciler;
pub mod runtime;
pub mod state;
pub mod store;
pub mod taskids;
pub mod views;

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use berth_core::protocol::{AwsError, ErrorCode};
use chrono::{DateTime, Utc};
use serde_json::Value;

pub use clock::Clock;
pub use config::{ClockMode, Config, InstanceSpec, SimTimings};
use runtime::{Adopt, Runtime, SimRuntime};
use state::{ClusterRec, Env, Key, State};
pub use store::{Store, StoreError};
use taskids::TaskId;

/// Why a cluster could not start or reset.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A reset could not be stored (the stored state was reloaded).
    #[error("the reset could not be stored durably")]
    NotStored,
}

struct Inner {
    state: Arc<RwLock<State>>,
    /// Makes staged changes durable (owns the store).
    committer: commit::Committer,
    env: Env,
    clock: Clock,
    runtime: Arc<dyn Runtime>,
    config: Config,
    /// Serialises reconciler passes (background loop and test-control calls).
    tick: tokio::sync::Mutex<()>,
    /// When the reconciler last purged what is past the retention.
    last_purge: std::sync::Mutex<Option<DateTime<Utc>>>,
    /// Since when managed scaling has seen each of its instances empty.
    scale_idle: std::sync::Mutex<reconciler::capacity::Idle>,
    /// What every successful commit changed, for live views.
    changes: changes::ChangeFeed,
    /// DescribeTasks' and DescribeServices' kept answers, read without the state lock.
    views: Arc<views::Views>,
}

/// The embedded cluster: cheap to clone, shared by the server's handlers and the reconciler.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("region", &self.inner.env.region)
            .field("account", &self.inner.env.account)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Opens the store under `config.data_dir`, loads every record (or creates the `default`
    /// cluster with the configured container instances on first start) and re-adopts tasks
    /// that were running into the simulated runtime.
    ///
    /// # Errors
    ///
    /// [`ClusterError::Store`] when the database cannot be opened or a record cannot be read.
    pub async fn open(config: Config) -> Result<Cluster, ClusterError> {
        let runtime: Arc<dyn Runtime> = Arc::new(SimRuntime::new(config.sim, config.seed));
        Cluster::open_with_runtime(config, runtime).await
    }

    /// [`Cluster::open`] with tasks run by `runtime` (the Docker runtime …) instead of the
    /// simulated one. Launches that reach beyond the container (privileged, host namespaces,
    /// host paths, capabilities, devices) are refused unless `config.allow_host_access` or the
    /// runtime is the simulated one.
    ///
    /// # Errors
    ///
    /// As [`Cluster::open`].
    pub async fn open_with_runtime(
        config: Config,
        runtime: Arc<dyn Runtime>,
    ) -> Result<Cluster, ClusterError> {
        let store = Store::open(config.data_dir.as_deref())?;
        let clock = Clock::new(config.clock);
        let env = Env {
            region: config.region.clone(),
            account: config.account.clone(),
            seed: config.seed,
            refuse_host_access: runtime.runs_containers() && !config.allow_host_access,
            task_healthy_after_secs: u32::try_from(config.task_healthy_after.as_secs())
                .unwrap_or(u32::MAX),
            docker_version: runtime.docker_version(),
        };
        let t0 = std::time::Instant::now();
        let fresh = store.is_empty()?;
        let (mut st, rekey) = State::open(&store, config.seed, clock.now())?;
        if !rekey.is_empty() {
            // One transaction: a record is never stored under both keys.
            store.commit(&rekey)?;
            tracing::info!(
                records = rekey.len() / 2,
                "records moved to their current keys"
            );
        }
        st.metrics.measured = runtime.runs_containers();
        clock.ensure_at_least(st.meta.clock);
        if fresh {
            let mut dirty = BTreeSet::new();
            seed_default(&mut st, &env, &config, clock.now(), &mut dirty);
            store.commit(&changes(&st, &dirty))?;
        }
        let adopt = adoptions(&st, &env, &config, runtime.runs_containers());
        if let Err(e) = runtime.adopt(adopt, clock.now()).await {
            tracing::warn!(error = %e, "could not re-adopt every task");
        }
        tracing::info!(
            tasks = st.clusters.values().map(|c| c.tasks.len()).sum::<usize>(),
            ms = t0.elapsed().as_millis() as u64,
            "state loaded and tasks re-adopted"
        );
        let state = Arc::new(RwLock::new(st));
        let feed = changes::ChangeFeed::default();
        let views = Arc::new(views::Views::default());
        let committer = commit::Committer::start(
            state.clone(),
            store,
            feed.clone(),
            config.seed,
            views.clone(),
        );
        Ok(Cluster {
            inner: Arc::new(Inner {
                state,
                committer,
                env,
                clock,
                runtime,
                config,
                tick: tokio::sync::Mutex::new(()),
                last_purge: std::sync::Mutex::new(None),
                scale_idle: std::sync::Mutex::new(Default::default()),
                changes: feed,
                views,
            }),
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.inner.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.inner.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The cluster's current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The runtime's name (`sim`, `docker`).
    pub fn runtime_name(&self) -> &'static str {
        self.inner.runtime.name()
    }

    /// The engine's statistics of these containers, keyed by runtime (Docker) id; empty for
    /// the simulated runtime.
    pub async fn container_stats(
        &self,
        runtime_ids: Vec<String>,
    ) -> std::collections::HashMap<String, Value> {
        self.inner.runtime.stats(runtime_ids).await
    }

    /// The feed of what changed: after every successful durable commit (API writes, test
    /// control and reconciler passes) it gets one [`changes::Change`] per changed record, in
    /// commit order; [`Cluster::reset`] marks a reset in it. Clone it to keep it beyond the
    /// borrow.
    pub fn changes(&self) -> &changes::ChangeFeed {
        &self.inner.changes
    }

    /// Runs one ECS action (`RunTask` …) with a JSON body, blocking on the durable commit.
    ///
    /// # Errors
    ///
    /// The ECS error for the request (`ClusterNotFoundException` …);
    /// `UnsupportedFeatureException` for actions not implemented; `ServerException` when the
    /// change could not be stored (it is then not applied).
    pub fn call_blocking(&self, action: &str, body: &[u8]) -> Result<Value, AwsError> {
        if api::is_read_only(action) {
            // Not on the write path: a read answers from memory at once, without waiting for an
            // in-flight commit (see the crate docs).
            let st = self.read();
            let r = api::Read {
                st: &st,
                env: &self.inner.env,
                now: self.now(),
                views: &self.inner.views,
            };
            return api::read(&r, action, body);
        }
        self.write_call(action, body)?.into_value()
    }

    /// A write: what needs no state is prepared first, the change is made under the write lock
    /// and staged, and the answer comes back once the change is durable (written out after the
    /// lock is let go).
    fn write_call(&self, action: &str, body: &[u8]) -> Result<api::Answer, AwsError> {
        let prepared = api::prepare(action, body)?;
        let now = self.now();
        let mut st = self.write();
        let mut dirty = BTreeSet::new();
        let result = api::write(
            &mut api::Write {
                st: &mut st,
                dirty: &mut dirty,
                env: &self.inner.env,
                now,
            },
            action,
            body,
            prepared,
        );
        unsettle(&mut st, &dirty);
        let ticket = self.stage(&mut st, dirty);
        drop(st);
        self.durable(ticket)?;
        result
    }

    /// [`Cluster::call_blocking`] with the answer as JSON bytes: what the server sends. The
    /// most-read actions are written straight to bytes, without a `Value` in between, and
    /// answered from the kept views without the state lock when those hold all of it.
    ///
    /// # Errors
    ///
    /// As [`Cluster::call_blocking`].
    pub fn call_json_blocking(&self, action: &str, body: &[u8]) -> Result<Vec<u8>, AwsError> {
        if let Some(req) = api::json_read(action, body) {
            let req = req?;
            if let Some(answer) = self.kept_json(&req) {
                return Ok(answer);
            }
            return api::answer_json(&self.reader(&self.read()), req);
        }
        if api::is_read_only(action) {
            return to_json(&self.call_blocking(action, body)?);
        }
        self.write_call(action, body)?.into_json()
    }

    /// [`api::kept_json`]: the answer from the kept views alone, without the state lock. Debug
    /// builds check it against the answer from the state when the lock is free, holding it
    /// across both so no write can come between them.
    fn kept_json(&self, req: &api::JsonRead) -> Option<Vec<u8>> {
        #[cfg(debug_assertions)]
        let st = self.try_read();
        let answer = api::kept_json(&self.inner.views, req)?;
        #[cfg(debug_assertions)]
        if let Some(st) = st {
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            assert_eq!(
                Some(text(&answer)),
                api::answer_json(&self.reader(&st), req.clone())
                    .ok()
                    .map(|b| text(&b)),
                "an answer from the kept views differs from the state's"
            );
        }
        Some(answer)
    }

    /// What a read handler sees, over `st`.
    fn reader<'a>(&'a self, st: &'a State) -> api::Read<'a> {
        api::Read {
            st,
            env: &self.inner.env,
            now: self.now(),
            views: &self.inner.views,
        }
    }

    /// A read-only action's answer as bytes from `st` (its bytes path when it has one).
    fn read_json(&self, st: &State, action: &str, body: &[u8]) -> Result<Vec<u8>, AwsError> {
        let r = self.reader(st);
        match api::read_json(&r, action, body) {
            Some(answer) => answer,
            None => to_json(&api::read(&r, action, body)?),
        }
    }

    /// The state's read lock when it can be had at once: no writer holds it or waits for it.
    fn try_read(&self) -> Option<RwLockReadGuard<'_, State>> {
        match self.inner.state.try_read() {
            Ok(st) => Some(st),
            Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// [`Cluster::call_json_blocking`] on tokio's blocking pool. DescribeTasks and
    /// DescribeServices are answered on the calling task from the kept views when they hold all
    /// of it; they and the other short reads (ListTasks, ListServices, DescribeTaskDefinition)
    /// are answered on it from the state when its lock is free at once (the lock is held for
    /// tens of microseconds, less than the hop to the pool and back costs).
    ///
    /// # Errors
    ///
    /// As [`Cluster::call_blocking`].
    pub async fn call_json(&self, action: &str, body: Vec<u8>) -> Result<Vec<u8>, AwsError> {
        if let Some(req) = api::json_read(action, &body) {
            let req = req?;
            if let Some(answer) = self.kept_json(&req) {
                return Ok(answer);
            }
            if let Some(st) = self.try_read() {
                return api::answer_json(&self.reader(&st), req);
            }
            let this = self.clone();
            return blocking(move || api::answer_json(&this.reader(&this.read()), req)).await;
        }
        if api::INLINE_READS.contains(&action)
            && let Some(st) = self.try_read()
        {
            return self.read_json(&st, action, &body);
        }
        let this = self.clone();
        let action = action.to_string();
        blocking(move || this.call_json_blocking(&action, &body)).await
    }

    /// [`Cluster::call_blocking`] on tokio's blocking pool.
    ///
    /// # Errors
    ///
    /// As [`Cluster::call_blocking`].
    pub async fn call(&self, action: &str, body: Vec<u8>) -> Result<Value, AwsError> {
        let this = self.clone();
        let action = action.to_string();
        blocking(move || this.call_blocking(&action, &body)).await
    }

    /// Stages the changed records for the commit thread; call it under the write lock, after
    /// the change, then let the lock go and wait with [`Cluster::durable`]. With nothing
    /// changed, the ticket is the last one staged: what the writer read must be durable too.
    fn stage(&self, st: &mut State, dirty: BTreeSet<Key>) -> u64 {
        self.stage_with_memory(st, dirty, BTreeSet::new())
    }

    /// [`Cluster::stage`] beside records changed in memory only (`memory`, the reconciler's
    /// PENDING transitions): those count as changed for everything in memory (kept views,
    /// placement state, the reconciler's work, the change feed) but are not written; each is
    /// stored with its next staged change.
    fn stage_with_memory(
        &self,
        st: &mut State,
        dirty: BTreeSet<Key>,
        mut memory: BTreeSet<Key>,
    ) -> u64 {
        memory.retain(|k| !dirty.contains(k));
        if dirty.is_empty() && memory.is_empty() {
            return self.inner.committer.staged();
        }
        let views = &self.inner.views;
        for k in dirty.iter().chain(&memory) {
            let cluster = match k {
                Key::Cluster(c) | Key::Task(c, _) | Key::Instance(c, _) | Key::Service(c, _) => c,
                _ => continue,
            };
            if let Key::Cluster(_) = k {
                // Created again, deleted or changed: nothing kept from before stays.
                views.forget_cluster(cluster);
            }
            let Some(c) = st.clusters.get_mut(cluster) else {
                continue;
            };
            let kept = views.kept(cluster);
            match (k, &kept) {
                (Key::Service(_, name), Some(v)) => v.services.forget(name),
                // A task's view shows its instance's architecture.
                (Key::Instance(..), Some(v)) => v.tasks.clear(),
                (Key::Task(_, id), _) => {
                    c.work.extend(TaskId::parse(id));
                    if let Some(v) = &kept {
                        v.tasks.forget(id);
                        // A service's view counts its tasks; a task that is gone names no
                        // service any more, so every service's view goes.
                        match c.tasks.get(id) {
                            Some(t) => {
                                if let Some(s) = &t.service {
                                    v.services.forget(s);
                                }
                            }
                            None => v.services.clear(),
                        }
                    }
                }
                _ => {}
            }
            if !matches!(k, Key::Service(..)) {
                c.invalidate_placement(k);
            }
        }
        let env = &self.inner.env;
        let feed = dirty
            .iter()
            .chain(&memory)
            .filter_map(|k| change_of(env, k))
            .collect();
        self.inner.committer.stage(dirty, feed, false)
    }

    /// Waits until the batch `ticket` (and every one before it) is durable.
    fn durable(&self, ticket: u64) -> Result<(), AwsError> {
        self.inner.committer.wait(ticket).map_err(|_| {
            AwsError::new(
                ErrorCode::ServerException,
                "The local cluster could not store the change durably; it was not applied.",
            )
        })
    }

    /// Test control: forgets everything and starts over with the configured `default` cluster.
    ///
    /// # Errors
    ///
    /// [`ClusterError::Store`] when the store cannot be cleared.
    pub async fn reset(&self) -> Result<(), ClusterError> {
        let _guard = self.inner.tick.lock().await;
        // The runtime first (no pass can launch anything meanwhile: the tick is held), so the
        // fresh cluster's tasks, whose ids can repeat the old ones (their seeded part does),
        // never meet the old tasks' containers or events.
        self.inner.runtime.reset().await;
        let mut st = self.write();
        self.inner.clock.reset();
        if let Some(f) = self.inner.runtime.faults() {
            f.reset();
        }
        let mut fresh = State::new(self.inner.config.seed, self.now());
        fresh.metrics.measured = self.inner.runtime.runs_containers();
        let mut dirty = BTreeSet::new();
        seed_default(
            &mut fresh,
            &self.inner.env,
            &self.inner.config,
            self.now(),
            &mut dirty,
        );
        *st = fresh;
        self.inner.views.clear();
        let ticket = self.inner.committer.stage(dirty, Vec::new(), true);
        drop(st);
        self.inner
            .committer
            .wait(ticket)
            .map_err(|_| ClusterError::NotStored)
    }

    fn faults(&self) -> Result<&dyn runtime::Faults, AwsError> {
        self.inner.runtime.faults().ok_or_else(|| {
            AwsError::new(
                ErrorCode::UnsupportedFeatureException,
                "This runtime does not support fault injection.",
            )
        })
    }

    /// Test control: the next `n` task starts fail (`TaskFailedToStart`).
    ///
    /// # Errors
    ///
    /// `UnsupportedFeatureException` when the runtime cannot inject faults.
    pub fn fail_next_starts(&self, n: u32) -> Result<(), AwsError> {
        self.faults()?.fail_next_starts(n);
        Ok(())
    }

    /// Test control: a running task's essential container exits with `exit_code`.
    ///
    /// # Errors
    ///
    /// `InvalidParameterException` when the task is not running in the runtime.
    pub fn crash_task(&self, task: &str, exit_code: i32) -> Result<(), AwsError> {
        let id = api::last_segment(task);
        self.faults()?
            .crash(id, exit_code, self.now())
            .map_err(|e| AwsError::invalid_parameter(e.to_string()))
    }

    /// Test control: a running task reports healthy or unhealthy from now on.
    ///
    /// # Errors
    ///
    /// `InvalidParameterException` when the task is not running in the runtime.
    pub fn set_task_health(&self, task: &str, healthy: bool) -> Result<(), AwsError> {
        let id = api::last_segment(task);
        self.faults()?
            .set_health(id, healthy)
            .map_err(|e| AwsError::invalid_parameter(e.to_string()))
    }
}

/// What the runtime must re-adopt after a restart: every launched task that is not stopped,
/// with what it was launched with (metadata tokens only for a runtime that `runs_containers`).
/// Built on every core: a big store has 100,000 of them.
fn adoptions(st: &State, env: &Env, config: &Config, metadata: bool) -> Vec<Adopt> {
    let tasks: Vec<(&ClusterRec, &state::TaskRec)> = st
        .clusters
        .values()
        .flat_map(|c| c.tasks.values().map(move |t| (c, &**t)))
        .filter(|(_, t)| t.launched && !t.is_stopped())
        .collect();
    let adopt = |(c, t): &(&ClusterRec, &state::TaskRec)| Adopt {
        launch: launch::spec(st, env, config, &c.name, t, metadata),
        running: t.last_status() == "RUNNING",
        stopping: t.stop_sent,
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if threads == 1 || tasks.len() < 10_000 {
        return tasks.iter().map(adopt).collect();
    }
    std::thread::scope(|scope| {
        let parts: Vec<_> = tasks
            .chunks(tasks.len().div_ceil(threads))
            .map(|part| scope.spawn(move || part.iter().map(adopt).collect::<Vec<_>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().expect("a launch-spec thread panicked"))
            .collect()
    })
}

/// Marks the services a change may concern as needing a reconcile pass again: the service
/// itself, the service of a changed task, every service of a cluster whose container instances
/// (or settings) changed.
fn unsettle(st: &mut State, dirty: &BTreeSet<Key>) {
    for k in dirty {
        match k {
            Key::Service(c, n) => {
                if let Some(s) = st.clusters.get_mut(c).and_then(|c| c.services.get_mut(n)) {
                    s.settled = false;
                }
            }
            Key::Task(c, id) => {
                if let Some(c) = st.clusters.get_mut(c) {
                    let owner = c.tasks.get(id).and_then(|t| t.service.clone());
                    if let Some(s) = owner.and_then(|s| c.services.get_mut(&s)) {
                        s.settled = false;
                    }
                }
            }
            Key::Instance(c, _) | Key::Cluster(c) => {
                if let Some(c) = st.clusters.get_mut(c) {
                    for s in c.services.values_mut() {
                        s.settled = false;
                    }
                }
            }
            _ => {}
        }
    }
}

/// The change-feed entry of a committed record (`None` for the cluster's own counters).
fn change_of(env: &Env, key: &Key) -> Option<changes::Change> {
    use changes::{Change, ChangeKind as K};
    Some(match key {
        Key::Cluster(c) => {
            Change::new(K::Cluster, Some(c), c.as_str()).with_arn(env.cluster_arn(c))
        }
        Key::Service(c, n) => {
            Change::new(K::Service, Some(c), n.as_str()).with_arn(env.service_arn(c, n))
        }
        Key::Task(c, id) => {
            Change::new(K::Task, Some(c), id.as_str()).with_arn(env.task_arn(c, id))
        }
        Key::Instance(c, id) => {
            Change::new(K::Instance, Some(c), id.as_str()).with_arn(env.instance_arn(c, id))
        }
        Key::TaskDef(f, r) => Change::new(K::Taskdef, None, format!("{f}:{r}"))
            .with_arn(env.task_definition_arn(f, *r)),
        Key::ScalableTarget(rid) => {
            // `service/<cluster>/<service>`: name the cluster so a cluster view can filter.
            let cluster = rid.strip_prefix("service/").and_then(|r| r.split_once('/'));
            Change::new(K::Scaling, cluster.map(|(c, _)| c), rid.as_str())
        }
        Key::LogGroup(g) => Change::new(K::Logs, None, g.as_str()),
        Key::LogStream(g, s) => Change::new(K::Logs, None, format!("{g}/{s}")),
        // Metrics are read on demand, not followed (the feed carries no metrics); secrets,
        // parameters and account settings are not shown in live views.
        Key::Meta
        | Key::Metric(..)
        | Key::Secret(..)
        | Key::Parameter(..)
        | Key::AccountSettings
        | Key::CapacityProvider(..) => return None,
    })
}

fn changes(st: &State, dirty: &BTreeSet<Key>) -> Vec<store::Change> {
    dirty.iter().map(|k| (k.encode(), st.record(k))).collect()
}

/// Creates the `default` cluster with the configured container instances.
fn seed_default(
    st: &mut State,
    env: &Env,
    config: &Config,
    now: DateTime<Utc>,
    dirty: &mut BTreeSet<Key>,
) {
    let mut c: ClusterRec = api::new_cluster(env, "default");
    c.capacity_providers = vec!["FARGATE".into(), "FARGATE_SPOT".into()];
    c.settings = api::cluster_settings(None, &st.account_settings, env);
    let mut n = 0usize;
    for spec in &config.instances {
        for _ in 0..spec.count {
            let (id, rec) = api::new_instance(st, env, "default", spec, n, now, dirty);
            n += 1;
            c.instances.insert(id.clone(), rec);
            dirty.insert(Key::Instance("default".into(), id));
        }
    }
    st.clusters.insert("default".into(), c);
    dirty.insert(Key::Cluster("default".into()));
    st.meta.clock = now;
    dirty.insert(Key::Meta);
}

/// Runs `f` on tokio's blocking pool; a panic in it answers `ServerException`.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, AwsError> + Send + 'static,
) -> Result<T, AwsError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        tracing::error!(error = %e, "request handler panicked");
        AwsError::new(ErrorCode::ServerException, "Internal error.")
    })?
}

/// An answer's JSON bytes (`ServerException` if it cannot be written, which a `Value` cannot).
fn to_json(value: &Value) -> Result<Vec<u8>, AwsError> {
    serde_json::to_vec(value).map_err(|e| AwsError::new(ErrorCode::ServerException, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn call(c: &Cluster, action: &str, body: Value) -> Value {
        let bytes = c
            .call_json_blocking(action, body.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("{action}: {e}"));
        serde_json::from_slice(&bytes).unwrap()
    }

    /// `action` on another thread while this one holds the state's write lock: its answer, or
    /// `None` when it has not come within `wait`.
    fn beside_a_writer(
        c: &Cluster,
        action: &'static str,
        body: Value,
        wait: Duration,
    ) -> Option<Value> {
        let (tx, rx) = std::sync::mpsc::channel();
        let st = c.write();
        let other = c.clone();
        let t = std::thread::spawn(move || {
            let _ = tx.send(call(&other, action, body));
        });
        let answer = rx.recv_timeout(wait).ok();
        drop(st);
        t.join().unwrap();
        answer
    }

    /// Registers `web` (a fixed host port), creates service `svc` with one task, runs two more
    /// and lets them all start; answers the RunTask answer.
    async fn service_and_two_tasks(c: &Cluster) -> Value {
        call(
            c,
            "RegisterTaskDefinition",
            json!({"family": "web", "containerDefinitions": [
                {"name": "app", "image": "nginx:1", "memory": 256, "essential": true,
                 "portMappings": [{"containerPort": 80, "hostPort": 8080}]}]}),
        );
        call(
            c,
            "CreateService",
            json!({"serviceName": "svc", "taskDefinition": "web", "desiredCount": 1}),
        );
        let run = call(c, "RunTask", json!({"taskDefinition": "web", "count": 2}));
        c.advance(5).await;
        run
    }

    /// A store's tasks, parsed on every core and indexed in id order when it opens, are indexed
    /// as the running cluster had them.
    #[tokio::test]
    async fn a_reopened_store_indexes_its_tasks_as_the_running_cluster_did() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: Some(dir.path().into()),
            clock: ClockMode::Manual,
            ..Config::default()
        };
        let indexes = |c: &ClusterRec| {
            format!(
                "{:?} {:?} {:?} {:?} {:?}",
                c.tasks.keys().collect::<Vec<_>>(),
                c.live,
                c.on_instance,
                c.services.values().map(|s| &s.tasks).collect::<Vec<_>>(),
                c.instances.values().collect::<Vec<_>>(),
            )
        };
        let before = {
            let c = Cluster::open(config.clone()).await.unwrap();
            let run = service_and_two_tasks(&c).await;
            call(&c, "StopTask", json!({"task": run["tasks"][0]["taskArn"]}));
            c.advance(2).await;
            let st = c.read();
            let cluster = &st.clusters["default"];
            assert!(cluster.tasks.values().any(|t| t.is_stopped()));
            assert!(cluster.tasks.values().any(|t| t.service.is_some()));
            assert!(cluster.tasks.len() >= 3, "{}", cluster.tasks.len());
            indexes(cluster)
        };
        let c = Cluster::open(config).await.unwrap();
        assert_eq!(indexes(&c.read().clusters["default"]), before);
    }

    #[tokio::test]
    async fn kept_views_answer_while_a_writer_holds_the_state() {
        let c = Cluster::open(Config {
            clock: ClockMode::Manual,
            ..Config::default()
        })
        .await
        .unwrap();
        let run = service_and_two_tasks(&c).await;
        let arns = json!([run["tasks"][0]["taskArn"], run["tasks"][1]["taskArn"]]);
        let tasks = json!({"tasks": arns});
        let services = json!({"services": ["svc"]});
        // The first reads keep the views; the same reads are then answered from them alone.
        let described = call(&c, "DescribeTasks", tasks.clone());
        let service = call(&c, "DescribeServices", services.clone());
        let long = Duration::from_secs(10);
        assert_eq!(
            beside_a_writer(&c, "DescribeTasks", tasks.clone(), long),
            Some(described)
        );
        assert_eq!(
            beside_a_writer(&c, "DescribeServices", services, long),
            Some(service)
        );
        // What the views do not hold waits for the writer, as every other read does.
        let missing = json!({"tasks": [arns[0], "0123"]});
        let short = Duration::from_millis(300);
        assert_eq!(beside_a_writer(&c, "DescribeTasks", missing, short), None);
        assert_eq!(beside_a_writer(&c, "ListTasks", json!({}), short), None);
        // A change drops the views it makes stale before it is acknowledged.
        call(&c, "StopTask", json!({"task": arns[0]}));
        assert_eq!(
            beside_a_writer(&c, "DescribeTasks", tasks.clone(), short),
            None
        );
        let d = call(&c, "DescribeTasks", tasks.clone());
        assert_eq!(d["tasks"][0]["desiredStatus"], "STOPPED");
        assert_eq!(
            beside_a_writer(&c, "DescribeTasks", tasks, long),
            Some(d),
            "kept again by the read after the change"
        );
    }
}
