//! Upstream mode's change feed: learns what changed in a real ECS account by polling it, and
//! publishes into a [`ChangeFeed`] the same [`Change`]s the embedded cluster publishes for its
//! commits, so `GET /_berth/events` and the dashboard work unchanged (the stream is labelled as
//! polled by the server, not here).
//!
//! **How.** [`Poller::spawn`] runs rounds on tokio, one after the other, [`PollConfig::interval`]
//! apart (5 s). A round reads, through a [`Source`] (the upstream proxy in production):
//! - `ListClusters` (paged) → `DescribeClusters` (≤ 100 per call, with settings,
//!   configurations and tags);
//! - per cluster: `ListServices` (paged) → `DescribeServices` (≤ 10 per call, with tags), plus
//!   the services the previous round saw ACTIVE or DRAINING and the list no longer names, so a
//!   deleted service's way to INACTIVE is followed as the embedded cluster publishes it (an
//!   INACTIVE one is then kept, undescribed, for as long as its cluster lives);
//!   `ListTasks` with `desiredStatus` RUNNING and again STOPPED (paged; ECS keeps stopped tasks
//!   about an hour, and the dashboard shows them) → `DescribeTasks` (≤ 100, with tags);
//!   `ListContainerInstances` (paged) → `DescribeContainerInstances` (≤ 100, with tags);
//! - every [`PollConfig::taskdef_every`]-th round (every 6th: 30 s), `ListTaskDefinitions`
//!   (paged, ACTIVE revisions; their ARNs are all it needs, no Describe).
//!
//! Each resource gets a fingerprint (a hash of its JSON without the members that change
//! without the resource itself changing, see below); the round is compared with the
//! previous one and every new, changed or vanished resource becomes one [`Change`] — kind,
//! cluster, name and ARN exactly as [`berth_cluster`] names them — all published in one
//! [`ChangeFeed::publish`] call. The first successful round only takes the baseline and
//! [`ChangeFeed::reset`]s the feed: a client that fetched its tables before the baseline
//! existed may have missed a change the baseline absorbed, and the reset makes it resync.
//!
//! **Bounded work.** A round lists at most [`PollConfig::max_resources`] resources (5,000; an
//! empty page counts as one): clusters first, then each cluster's services, tasks and
//! instances in turn, then task definitions. What the cap leaves out (whole listings, or the
//! rest of one it cut short) is carried over from the previous round unchanged — never
//! reported as vanished — and a warning is logged when the cap starts to bite.
//!
//! **Errors.** A round that fails anywhere (throttling included) is discarded whole: the last
//! good snapshot stays, nothing is published (least of all vanishes), [`Poller::status`] turns
//! `ok: false` with the upstream's message, and the next round waits
//! `interval × 2^failures`, at most [`PollConfig::max_backoff`] (60 s). The first good round
//! after that publishes everything that changed meanwhile and turns the status `ok` again. A
//! cluster deleted between `ListClusters` and a call about it (`ClusterNotFoundException`) is
//! not an error: it is reported as vanished with everything in it.
//!
//! **What it deliberately does not report, and why.**
//! - Application Auto Scaling and CloudWatch Logs (`scaling` and `logs` changes): they are
//!   other services, and a [`Source`] speaks ECS; following every log stream of an account
//!   would also cost far more calls than the rest together. So in upstream mode an open log or
//!   scaling view is fresh when opened, and does not follow by itself.
//! - Metrics: the embedded cluster does not publish them either (they are read on demand).
//! - Inactive or deleted task-definition revisions: only ACTIVE ones are listed, so
//!   deregistering a revision is seen (it leaves the list) but deleting an inactive one is not.
//! - Counts (the fingerprints leave them out): a cluster's task, service and instance counts,
//!   an instance's task counts, remaining resources and `version`. The embedded cluster
//!   publishes those records only when they themselves change; the dashboard refetches a
//!   cluster's counts on any change inside it, and the task changes say what moved.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_cluster::changes::{Change, ChangeFeed, ChangeKind};
use berth_core::protocol::{AwsError, ErrorCode};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::serve::BoxFuture;

/// What the poller reads from: ECS actions answered as JSON (the upstream proxy in production;
/// an embedded cluster in tests).
pub trait Source: Send + Sync + 'static {
    /// Runs one ECS action (`ListClusters` …) with a JSON body.
    fn call(&self, action: &str, body: Value) -> BoxFuture<'_, Result<Value, AwsError>>;
}

/// How often and how much to poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollConfig {
    /// Time between the end of one good round and the start of the next (5 s).
    pub interval: Duration,
    /// The longest wait after failed rounds (60 s).
    pub max_backoff: Duration,
    /// `maxResults` of every List call (100, ECS's maximum).
    pub page_size: u32,
    /// The most resources one round lists (5,000); see the module docs.
    pub max_resources: usize,
    /// Task definitions are listed every this many rounds (6), and in the first.
    pub taskdef_every: u32,
}

impl Default for PollConfig {
    fn default() -> Self {
        PollConfig {
            interval: Duration::from_secs(5),
            max_backoff: Duration::from_secs(60),
            page_size: 100,
            max_resources: 5_000,
            taskdef_every: 6,
        }
    }
}

impl PollConfig {
    /// How long to wait before the next round after `failures` failed rounds in a row:
    /// `interval` when there were none, else `interval × 2^failures`, at most `max_backoff`
    /// (and never less than `interval`).
    ///
    /// ```
    /// use berth_server::poll::PollConfig;
    /// use std::time::Duration;
    ///
    /// let cfg = PollConfig::default();
    /// assert_eq!(cfg.delay(0), Duration::from_secs(5));
    /// assert_eq!(cfg.delay(1), Duration::from_secs(10));
    /// assert_eq!(cfg.delay(3), Duration::from_secs(40));
    /// assert_eq!(cfg.delay(4), Duration::from_secs(60));
    /// ```
    pub fn delay(&self, failures: u32) -> Duration {
        let factor = 1u32.checked_shl(failures.min(31)).unwrap_or(u32::MAX);
        self.interval
            .saturating_mul(factor)
            .min(self.max_backoff)
            .max(self.interval)
    }
}

/// How polling goes, for the change stream's `upstream` events (camelCase on the wire).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PollStatus {
    /// Whether the last round succeeded (true before the first one).
    pub ok: bool,
    /// The upstream's error (`<code>: <message>`) when not ok.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When the last good round finished, in epoch seconds.
    pub last_ok_at: Option<f64>,
    /// When this status was set, in epoch seconds.
    pub at: f64,
}

/// A running poller: stops when dropped.
#[derive(Debug)]
pub struct Poller {
    task: tokio::task::JoinHandle<()>,
    status: watch::Receiver<PollStatus>,
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Poller {
    /// Starts polling `source` into `feed` on the current tokio runtime; runs until the
    /// returned value is dropped.
    pub fn spawn(source: Arc<dyn Source>, feed: ChangeFeed, cfg: PollConfig) -> Poller {
        let (tx, status) = watch::channel(PollStatus {
            ok: true,
            message: None,
            last_ok_at: None,
            at: epoch_now(),
        });
        let task = tokio::spawn(run(source, feed, cfg, tx));
        Poller { task, status }
    }

    /// The polling status. Receivers are notified when it turns: the first good round, `ok`
    /// flipping, or the error message changing; `at` and `last_ok_at` are refreshed every
    /// round without a notification.
    pub fn status(&self) -> watch::Receiver<PollStatus> {
        self.status.clone()
    }
}

fn epoch_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

async fn run(
    source: Arc<dyn Source>,
    feed: ChangeFeed,
    cfg: PollConfig,
    status: watch::Sender<PollStatus>,
) {
    let mut tracker = Tracker::new(cfg.clone());
    let mut failures = 0u32;
    loop {
        let result = tracker.round(&*source).await;
        let now = epoch_now();
        match result {
            Ok(round) => {
                match round {
                    Round::Baseline => {
                        feed.reset();
                    }
                    Round::Changes(changes) => {
                        feed.publish(changes);
                    }
                }
                failures = 0;
                status.send_if_modified(|s| {
                    let turned = !s.ok || s.message.is_some() || s.last_ok_at.is_none();
                    *s = PollStatus {
                        ok: true,
                        message: None,
                        last_ok_at: Some(now),
                        at: now,
                    };
                    turned
                });
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                let message = Some(e.to_string());
                tracing::warn!(error = %e, failures, "polling the upstream failed");
                status.send_if_modified(|s| {
                    let turned = s.ok || s.message != message;
                    s.ok = false;
                    s.message = message;
                    s.at = now;
                    turned
                });
            }
        }
        tokio::time::sleep(cfg.delay(failures)).await;
    }
}

/// What one good round found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Round {
    /// The first: the baseline, nothing to compare with.
    Baseline,
    /// What changed since the previous good round (possibly nothing).
    Changes(Vec<Change>),
}

/// A resource's identity, as its [`Change`] names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Key {
    kind: ChangeKind,
    cluster: Option<String>,
    name: String,
}

impl Key {
    fn new(kind: ChangeKind, cluster: Option<&str>, name: impl Into<String>) -> Key {
        Key {
            kind,
            cluster: cluster.map(str::to_string),
            name: name.into(),
        }
    }

    /// The listing it comes from: a cluster's services, tasks or instances, or the account's
    /// clusters or task definitions.
    fn scope(&self) -> Scope {
        match self.kind {
            ChangeKind::Cluster | ChangeKind::Taskdef => (self.kind, None),
            _ => (self.kind, self.cluster.clone()),
        }
    }

    fn change(&self, arn: Option<&str>) -> Change {
        let c = Change::new(self.kind, self.cluster.as_deref(), self.name.clone());
        match arn {
            Some(a) => c.with_arn(a),
            None => c,
        }
    }
}

type Scope = (ChangeKind, Option<String>);

/// What a round knows of one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    fingerprint: u64,
    arn: Option<String>,
    /// A service that was ACTIVE or DRAINING: described again when the list stops naming it.
    follow: bool,
}

type Snapshot = BTreeMap<Key, Entry>;

/// The members left out of a resource's fingerprint: they change when other resources do
/// (tasks placed, started, stopped), not when the resource itself does, and the embedded
/// cluster does not publish the resource for them either.
fn volatile(kind: ChangeKind) -> &'static [&'static str] {
    match kind {
        ChangeKind::Cluster => &[
            "runningTasksCount",
            "pendingTasksCount",
            "activeServicesCount",
            "registeredContainerInstancesCount",
            "statistics",
        ],
        ChangeKind::Instance => &[
            "remainingResources",
            "runningTasksCount",
            "pendingTasksCount",
            // ECS bumps it with every state-change event, resource changes included.
            "version",
        ],
        _ => &[],
    }
}

fn fingerprint(kind: ChangeKind, v: &Value) -> u64 {
    let mut h = DefaultHasher::new();
    match v.as_object() {
        Some(o) => {
            let skip = volatile(kind);
            for (k, v) in o.iter().filter(|(k, _)| !skip.contains(&k.as_str())) {
                k.hash(&mut h);
                v.to_string().hash(&mut h);
            }
        }
        None => v.to_string().hash(&mut h),
    }
    h.finish()
}

fn last_segment(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

fn str_member<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    v.get(name).and_then(Value::as_str)
}

/// The polling state: the last good snapshot and the round counter.
struct Tracker {
    cfg: PollConfig,
    snapshot: Option<Snapshot>,
    /// Good rounds so far.
    rounds: u64,
    /// Whether the last good round hit the resource cap (logged when it turns).
    capped: bool,
}

/// One round in progress.
struct Work<'a> {
    src: &'a dyn Source,
    cfg: &'a PollConfig,
    /// What may still be listed.
    budget: usize,
    seen: Snapshot,
    /// Scopes not (completely) listed: their old entries carry over.
    keep: BTreeSet<Scope>,
    /// Whether the budget cut a listing short.
    truncated: bool,
}

impl Tracker {
    fn new(cfg: PollConfig) -> Tracker {
        Tracker {
            cfg,
            snapshot: None,
            rounds: 0,
            capped: false,
        }
    }

    /// Runs one round; on success replaces the snapshot and says what changed.
    async fn round(&mut self, src: &dyn Source) -> Result<Round, AwsError> {
        // A failed round changes nothing: the last good snapshot stays.
        let (seen, keep, capped) = self.collect(src).await?;
        if capped != self.capped {
            if capped {
                tracing::warn!(
                    max_resources = self.cfg.max_resources,
                    "the upstream has more resources than one polling round lists; \
                     the rest are not followed"
                );
            }
            self.capped = capped;
        }
        self.rounds += 1;
        let Some(old) = self.snapshot.take() else {
            self.snapshot = Some(seen);
            return Ok(Round::Baseline);
        };
        let new = carry_over(&old, seen, &keep);
        let changes = diff(&old, &new);
        self.snapshot = Some(new);
        Ok(Round::Changes(changes))
    }

    async fn collect(
        &self,
        src: &dyn Source,
    ) -> Result<(Snapshot, BTreeSet<Scope>, bool), AwsError> {
        let empty = Snapshot::new();
        let old = self.snapshot.as_ref().unwrap_or(&empty);
        let mut w = Work {
            src,
            cfg: &self.cfg,
            budget: self.cfg.max_resources,
            seen: Snapshot::new(),
            keep: BTreeSet::new(),
            truncated: false,
        };
        let (arns, complete) = w.list("ListClusters", json!({}), "clusterArns").await?;
        if !complete {
            w.keep.insert((ChangeKind::Cluster, None));
        }
        let mut live = Vec::new();
        for chunk in arns.chunks(100) {
            let out = w
                .call(
                    "DescribeClusters",
                    json!({"clusters": chunk, "include": ["CONFIGURATIONS", "SETTINGS", "TAGS"]}),
                )
                .await?;
            for c in array(&out, "clusters") {
                let Some(name) = str_member(c, "clusterName") else {
                    continue;
                };
                let arn = str_member(c, "clusterArn");
                w.record(Key::new(ChangeKind::Cluster, Some(name), name), c, arn);
                if str_member(c, "status").is_none_or(|s| s == "ACTIVE" || s == "PROVISIONING") {
                    live.push((name.to_string(), arn.unwrap_or(name).to_string()));
                }
            }
        }
        for (name, arn) in &live {
            match w.cluster(old, name, arn).await {
                Ok(()) => {}
                Err(e) if e.code == ErrorCode::ClusterNotFoundException => {
                    // Deleted meanwhile: gone, with everything in it.
                    w.seen
                        .retain(|k, _| k.cluster.as_deref() != Some(name.as_str()));
                    for kind in [ChangeKind::Service, ChangeKind::Task, ChangeKind::Instance] {
                        w.keep.remove(&(kind, Some(name.clone())));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        let every = u64::from(self.cfg.taskdef_every.max(1));
        if self.snapshot.is_none() || self.rounds % every == 0 {
            let (arns, complete) = w
                .list("ListTaskDefinitions", json!({}), "taskDefinitionArns")
                .await?;
            if !complete {
                w.keep.insert((ChangeKind::Taskdef, None));
            }
            for arn in &arns {
                let name = arn
                    .rsplit_once("task-definition/")
                    .map_or(arn.as_str(), |x| x.1);
                w.record(
                    Key::new(ChangeKind::Taskdef, None, name),
                    &Value::Null,
                    Some(arn),
                );
            }
        } else {
            w.keep.insert((ChangeKind::Taskdef, None));
        }
        Ok((w.seen, w.keep, w.truncated))
    }
}

fn array<'a>(v: &'a Value, member: &str) -> &'a [Value] {
    v.get(member)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

impl Work<'_> {
    async fn call(&self, action: &str, body: Value) -> Result<Value, AwsError> {
        self.src.call(action, body).await
    }

    fn record(&mut self, key: Key, v: &Value, arn: Option<&str>) {
        let follow = key.kind == ChangeKind::Service
            && str_member(v, "status").is_some_and(|s| s == "ACTIVE" || s == "DRAINING");
        let entry = Entry {
            fingerprint: fingerprint(key.kind, v),
            arn: arn.map(str::to_string),
            follow,
        };
        self.seen.insert(key, entry);
    }

    /// Every page of a List action (`body` plus `maxResults` and `nextToken`), within the
    /// budget; `false` when the budget cut it short.
    async fn list(
        &mut self,
        action: &str,
        body: Value,
        member: &str,
    ) -> Result<(Vec<String>, bool), AwsError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            if self.budget == 0 {
                self.truncated = true;
                return Ok((out, false));
            }
            let mut req = body.clone();
            if let Some(o) = req.as_object_mut() {
                o.insert("maxResults".into(), json!(self.cfg.page_size.clamp(1, 100)));
                if let Some(t) = &token {
                    o.insert("nextToken".into(), json!(t));
                }
            }
            let page = self.call(action, req).await?;
            let items = array(&page, member);
            // An empty page costs one: an upstream that pages forever still ends.
            self.budget = self.budget.saturating_sub(1);
            let mut items = items.iter().filter_map(Value::as_str);
            if let Some(first) = items.next() {
                out.push(first.to_string());
                for item in items {
                    if self.budget == 0 {
                        self.truncated = true;
                        return Ok((out, false));
                    }
                    self.budget -= 1;
                    out.push(item.to_string());
                }
            }
            match str_member(&page, "nextToken") {
                Some(t) if !t.is_empty() && token.as_deref() != Some(t) => {
                    token = Some(t.to_string());
                }
                _ => return Ok((out, true)),
            }
        }
    }

    /// One cluster's services, tasks and container instances.
    async fn cluster(&mut self, old: &Snapshot, name: &str, arn: &str) -> Result<(), AwsError> {
        let c = Some(name);
        // Services: the listed ones, and those last seen live that the list dropped.
        let (mut arns, complete) = self
            .list("ListServices", json!({"cluster": arn}), "serviceArns")
            .await?;
        if !complete {
            self.keep
                .insert((ChangeKind::Service, Some(name.to_string())));
        }
        let listed: BTreeSet<String> = arns.iter().map(|a| last_segment(a).to_string()).collect();
        let dropped = old.iter().filter(|(k, _)| {
            k.kind == ChangeKind::Service
                && k.cluster.as_deref() == c
                && !listed.contains(k.name.as_str())
        });
        for (k, e) in dropped {
            match (&e.arn, e.follow) {
                // Last seen ACTIVE or DRAINING: follow it to INACTIVE.
                (Some(a), true) => arns.push(a.clone()),
                // INACTIVE: ECS still describes it and nothing more happens to it; the
                // embedded cluster publishes no change for it either.
                _ => {
                    self.seen.insert(k.clone(), e.clone());
                }
            }
        }
        for chunk in arns.chunks(10) {
            let out = self
                .call(
                    "DescribeServices",
                    json!({"cluster": arn, "services": chunk, "include": ["TAGS"]}),
                )
                .await?;
            for s in array(&out, "services") {
                if let Some(n) = str_member(s, "serviceName") {
                    let key = Key::new(ChangeKind::Service, c, n);
                    self.record(key, s, str_member(s, "serviceArn"));
                }
            }
        }
        // Tasks: desired RUNNING, then desired STOPPED (stopping and stopped ones).
        let mut tasks = BTreeSet::new();
        let mut complete = true;
        for desired in ["RUNNING", "STOPPED"] {
            let (arns, done) = self
                .list(
                    "ListTasks",
                    json!({"cluster": arn, "desiredStatus": desired}),
                    "taskArns",
                )
                .await?;
            complete &= done;
            tasks.extend(arns);
        }
        if !complete {
            self.keep.insert((ChangeKind::Task, Some(name.to_string())));
        }
        let tasks: Vec<String> = tasks.into_iter().collect();
        for chunk in tasks.chunks(100) {
            let out = self
                .call(
                    "DescribeTasks",
                    json!({"cluster": arn, "tasks": chunk, "include": ["TAGS"]}),
                )
                .await?;
            for t in array(&out, "tasks") {
                if let Some(a) = str_member(t, "taskArn") {
                    let key = Key::new(ChangeKind::Task, c, last_segment(a));
                    self.record(key, t, Some(a));
                }
            }
        }
        // Container instances.
        let (arns, complete) = self
            .list(
                "ListContainerInstances",
                json!({"cluster": arn}),
                "containerInstanceArns",
            )
            .await?;
        if !complete {
            self.keep
                .insert((ChangeKind::Instance, Some(name.to_string())));
        }
        for chunk in arns.chunks(100) {
            let out = self
                .call(
                    "DescribeContainerInstances",
                    json!({"cluster": arn, "containerInstances": chunk, "include": ["TAGS"]}),
                )
                .await?;
            for i in array(&out, "containerInstances") {
                if let Some(a) = str_member(i, "containerInstanceArn") {
                    let key = Key::new(ChangeKind::Instance, c, last_segment(a));
                    self.record(key, i, Some(a));
                }
            }
        }
        Ok(())
    }
}

/// `seen` plus the old entries of scopes this round did not (completely) list, and of
/// clusters it did not reach.
fn carry_over(old: &Snapshot, mut seen: Snapshot, keep: &BTreeSet<Scope>) -> Snapshot {
    // Clusters carried over keep everything in them.
    let mut kept_clusters = BTreeSet::new();
    for (k, e) in old {
        if k.kind == ChangeKind::Cluster && keep.contains(&k.scope()) && !seen.contains_key(k) {
            kept_clusters.insert(k.name.clone());
            seen.insert(k.clone(), e.clone());
        }
    }
    for (k, e) in old {
        if seen.contains_key(k) || k.kind == ChangeKind::Cluster {
            continue;
        }
        let in_kept_cluster = k
            .cluster
            .as_ref()
            .is_some_and(|c| kept_clusters.contains(c));
        if in_kept_cluster || keep.contains(&k.scope()) {
            seen.insert(k.clone(), e.clone());
        }
    }
    seen
}

/// One change per new, changed or vanished resource, in key order.
fn diff(old: &Snapshot, new: &Snapshot) -> Vec<Change> {
    let mut out = Vec::new();
    for (k, e) in new {
        if old.get(k).is_none_or(|o| o.fingerprint != e.fingerprint) {
            out.push(k.change(e.arn.as_deref()));
        }
    }
    for (k, e) in old {
        if !new.contains_key(k) {
            out.push(k.change(e.arn.as_deref()));
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};

    use berth_cluster::changes::Notice;
    use berth_cluster::{ClockMode, Cluster, Config};
    use tokio::time::Instant;

    use super::*;

    /// An embedded cluster as the upstream, recording every call, failing on request.
    struct Upstream {
        cluster: Cluster,
        calls: Mutex<Vec<(String, Value, Instant)>>,
        /// Fail calls of this action (any action when empty) with this code, this many times.
        fail: Mutex<Option<(String, ErrorCode)>>,
        fail_left: AtomicU32,
    }

    impl Upstream {
        async fn new() -> Arc<Upstream> {
            let cluster = Cluster::open(Config {
                clock: ClockMode::Manual,
                ..Config::default()
            })
            .await
            .unwrap();
            Arc::new(Upstream {
                cluster,
                calls: Mutex::new(Vec::new()),
                fail: Mutex::new(None),
                fail_left: AtomicU32::new(0),
            })
        }

        fn fail(&self, action: &str, code: ErrorCode, times: u32) {
            *self.fail.lock().unwrap() = Some((action.into(), code));
            self.fail_left.store(times, Ordering::SeqCst);
        }

        /// Calls the cluster directly (the test's own writes, not polling).
        fn act(&self, action: &str, body: Value) -> Value {
            self.cluster
                .call_blocking(action, body.to_string().as_bytes())
                .unwrap_or_else(|e| panic!("{action}: {e}"))
        }

        fn calls_of(&self, action: &str) -> Vec<(Value, Instant)> {
            let calls = self.calls.lock().unwrap();
            calls
                .iter()
                .filter(|c| c.0 == action)
                .map(|c| (c.1.clone(), c.2))
                .collect()
        }
    }

    impl Source for Upstream {
        fn call(&self, action: &str, body: Value) -> BoxFuture<'_, Result<Value, AwsError>> {
            let action = action.to_string();
            Box::pin(async move {
                self.calls
                    .lock()
                    .unwrap()
                    .push((action.clone(), body.clone(), Instant::now()));
                let failing = self.fail.lock().unwrap().clone();
                if let Some((which, code)) = failing {
                    if (which.is_empty() || which == action)
                        && self
                            .fail_left
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                            .is_ok()
                    {
                        return Err(AwsError::new(code, "Rate exceeded"));
                    }
                }
                self.cluster
                    .call(&action, body.to_string().into_bytes())
                    .await
            })
        }
    }

    /// Small pages everywhere, task definitions every round.
    fn small() -> PollConfig {
        PollConfig {
            page_size: 2,
            taskdef_every: 1,
            ..PollConfig::default()
        }
    }

    fn set(changes: impl IntoIterator<Item = Change>) -> BTreeSet<Change> {
        changes
            .into_iter()
            // Not polled (see the module docs).
            .filter(|c| !matches!(c.kind, ChangeKind::Logs | ChangeKind::Scaling))
            .collect()
    }

    /// The changes of one round, which must equal what the cluster published since `at`.
    async fn step(
        feed: &ChangeFeed,
        at: &mut u64,
        up: &Upstream,
        what: &str,
        t: &mut Tracker,
    ) -> BTreeSet<Change> {
        let embedded = set(feed.since(*at).unwrap().into_iter().map(|s| s.change));
        *at = feed.seq();
        let polled = changes(t, up).await;
        assert_eq!(polled, embedded, "{what}");
        polled
    }

    async fn changes(t: &mut Tracker, up: &Upstream) -> BTreeSet<Change> {
        match t.round(up).await.unwrap() {
            Round::Changes(c) => set(c),
            Round::Baseline => panic!("not the first round"),
        }
    }

    #[test]
    fn backoff_doubles_from_the_interval_up_to_the_cap() {
        let cfg = PollConfig {
            interval: Duration::from_secs(5),
            max_backoff: Duration::from_secs(60),
            ..PollConfig::default()
        };
        let secs: Vec<u64> = (0..8).map(|n| cfg.delay(n).as_secs()).collect();
        assert_eq!(secs, [5, 10, 20, 40, 60, 60, 60, 60]);
        assert_eq!(cfg.delay(u32::MAX), Duration::from_secs(60));
        let odd = PollConfig {
            max_backoff: Duration::from_secs(1),
            ..cfg
        };
        assert_eq!(
            odd.delay(3),
            Duration::from_secs(5),
            "never below the interval"
        );
    }

    #[test]
    fn fingerprints_ignore_counts_but_not_state() {
        let a = json!({"clusterName": "x", "status": "ACTIVE", "runningTasksCount": 1});
        let b = json!({"clusterName": "x", "status": "ACTIVE", "runningTasksCount": 2});
        let c = json!({"clusterName": "x", "status": "INACTIVE", "runningTasksCount": 2});
        let fp = |v| fingerprint(ChangeKind::Cluster, v);
        assert_eq!(fp(&a), fp(&b));
        assert_ne!(fp(&b), fp(&c));
        assert_ne!(
            fingerprint(ChangeKind::Task, &json!({"runningTasksCount": 1})),
            fingerprint(ChangeKind::Task, &json!({"runningTasksCount": 2})),
            "only the listed members of the listed kinds are left out"
        );
    }

    /// The poller publishes, round by round, exactly what the embedded cluster's own feed
    /// published for the same operations.
    #[tokio::test]
    async fn polling_publishes_what_the_cluster_publishes() {
        let up = Upstream::new().await;
        let feed = up.cluster.changes().clone();
        // Enough of everything for two pages of each List action (pages of 2).
        up.act("CreateCluster", json!({"clusterName": "extra"}));
        for _ in 0..3 {
            up.act(
                "RegisterTaskDefinition",
                json!({"family": "base", "containerDefinitions": [
                    {"name": "app", "image": "busybox", "memory": 64, "essential": true}]}),
            );
        }
        for name in ["idle-a", "idle-b", "idle-c"] {
            up.act(
                "CreateService",
                json!({"cluster": "extra", "serviceName": name, "taskDefinition": "base",
                    "desiredCount": 0}),
            );
        }
        let mut t = Tracker::new(small());
        assert_eq!(t.round(&*up).await.unwrap(), Round::Baseline);
        assert_eq!(changes(&mut t, &up).await, BTreeSet::new(), "nothing moved");

        let mut at = feed.seq();
        up.act(
            "RegisterTaskDefinition",
            json!({"family": "web", "containerDefinitions": [
                {"name": "app", "image": "nginx:1", "memory": 128, "essential": true}]}),
        );
        up.act("CreateCluster", json!({"clusterName": "other"}));
        let got = step(
            &feed,
            &mut at,
            &up,
            "a task definition and a cluster",
            &mut t,
        )
        .await;
        assert_eq!(
            got.iter()
                .map(|c| (c.kind, c.name.as_str()))
                .collect::<Vec<_>>(),
            [
                (ChangeKind::Cluster, "other"),
                (ChangeKind::Taskdef, "web:1")
            ]
        );
        assert_eq!(
            got.first().and_then(|c| c.arn.as_deref()),
            Some("arn:aws:ecs:us-east-1:000000000000:cluster/other")
        );

        up.act(
            "CreateService",
            json!({"serviceName": "svc", "taskDefinition": "web", "desiredCount": 5}),
        );
        step(&feed, &mut at, &up, "a service", &mut t).await;
        up.cluster.tick().await;
        let got = step(&feed, &mut at, &up, "its tasks placed", &mut t).await;
        assert!(
            got.iter().filter(|c| c.kind == ChangeKind::Task).count() >= 5,
            "{got:?}"
        );
        up.cluster.advance(5).await;
        step(&feed, &mut at, &up, "its tasks started", &mut t).await;

        up.act(
            "UpdateService",
            json!({"service": "svc", "desiredCount": 1}),
        );
        step(&feed, &mut at, &up, "scaled in", &mut t).await;
        up.cluster.advance(5).await;
        step(&feed, &mut at, &up, "tasks stopped", &mut t).await;

        up.act(
            "RunTask",
            json!({"cluster": "default", "taskDefinition": "web:1", "count": 2}),
        );
        up.cluster.advance(4).await;
        step(&feed, &mut at, &up, "standalone tasks", &mut t).await;

        let instances = up.act("ListContainerInstances", json!({}));
        let instance = instances["containerInstanceArns"][0].as_str().unwrap();
        up.act(
            "PutAttributes",
            json!({"attributes": [{"name": "stack", "value": "blue",
                "targetId": instance, "targetType": "container-instance"}]}),
        );
        up.act(
            "TagResource",
            json!({"resourceArn": "arn:aws:ecs:us-east-1:000000000000:cluster/other",
                "tags": [{"key": "team", "value": "a"}]}),
        );
        let got = step(&feed, &mut at, &up, "an attribute and a tag", &mut t).await;
        assert!(
            got.iter().any(|c| c.kind == ChangeKind::Instance),
            "{got:?}"
        );

        up.act(
            "DeregisterTaskDefinition",
            json!({"taskDefinition": "web:1"}),
        );
        up.act("DeleteService", json!({"service": "svc", "force": true}));
        step(&feed, &mut at, &up, "deregistered and deleted", &mut t).await;
        up.cluster.advance(5).await;
        step(&feed, &mut at, &up, "the service drained", &mut t).await;

        up.act("DeleteCluster", json!({"cluster": "other"}));
        step(&feed, &mut at, &up, "a cluster deleted", &mut t).await;

        // Everything was paged: every List action needed a second page somewhere.
        for action in [
            "ListClusters",
            "ListServices",
            "ListTasks",
            "ListContainerInstances",
            "ListTaskDefinitions",
        ] {
            let calls = up.calls_of(action);
            assert!(
                calls.iter().all(|(b, _)| b["maxResults"] == 2),
                "{action}: {calls:?}"
            );
            assert!(
                calls.iter().any(|(b, _)| b.get("nextToken").is_some()),
                "{action} was never paged"
            );
        }
        for (b, _) in up.calls_of("DescribeServices") {
            assert!(b["services"].as_array().unwrap().len() <= 10);
        }
    }

    #[tokio::test]
    async fn a_round_that_hits_the_cap_reports_nothing_it_did_not_reach_as_gone() {
        let up = Upstream::new().await;
        up.act("CreateCluster", json!({"clusterName": "other"}));
        let mut t = Tracker::new(small());
        t.round(&*up).await.unwrap();
        let before = t.snapshot.clone().unwrap();
        assert!(
            before
                .keys()
                .filter(|k| k.kind == ChangeKind::Instance)
                .count()
                == 3,
            "{before:?}"
        );
        // Two clusters, then nothing more.
        t.cfg.max_resources = 2;
        assert_eq!(changes(&mut t, &up).await, BTreeSet::new());
        assert!(t.capped);
        assert_eq!(t.snapshot.as_ref(), Some(&before), "carried over");
        // What it does reach still counts: a new cluster is seen, and nothing is lost.
        up.act("CreateCluster", json!({"clusterName": "aaa"}));
        t.cfg.max_resources = 3;
        let got = changes(&mut t, &up).await;
        assert_eq!(
            got.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["aaa"]
        );
        t.cfg.max_resources = 5_000;
        assert_eq!(changes(&mut t, &up).await, BTreeSet::new());
        assert!(!t.capped);
    }

    #[tokio::test]
    async fn a_failed_round_keeps_the_last_snapshot_and_publishes_nothing() {
        let up = Upstream::new().await;
        let mut t = Tracker::new(small());
        t.round(&*up).await.unwrap();
        let before = t.snapshot.clone();
        // Halfway through: clusters read, tasks not.
        up.fail("ListTasks", ErrorCode::ThrottlingException, 1);
        let e = t.round(&*up).await.unwrap_err();
        assert_eq!(e.code, ErrorCode::ThrottlingException);
        assert_eq!(t.snapshot, before);
        assert_eq!(changes(&mut t, &up).await, BTreeSet::new(), "no vanishes");
    }

    #[tokio::test]
    async fn a_cluster_deleted_mid_round_is_gone_not_an_error() {
        let up = Upstream::new().await;
        up.act("CreateCluster", json!({"clusterName": "other"}));
        let mut t = Tracker::new(small());
        t.round(&*up).await.unwrap();
        // `default` comes first; its ListServices answers as if it had just been deleted.
        up.fail("ListServices", ErrorCode::ClusterNotFoundException, 1);
        let got = changes(&mut t, &up).await;
        assert!(
            got.iter().all(|c| c.cluster.as_deref() == Some("default")),
            "{got:?}"
        );
        assert!(got.iter().any(|c| c.kind == ChangeKind::Cluster), "{got:?}");
        assert_eq!(
            got.iter()
                .filter(|c| c.kind == ChangeKind::Instance)
                .count(),
            3
        );
        // Next round it is back (it never left): reported again.
        assert_eq!(changes(&mut t, &up).await, got);
    }

    #[tokio::test]
    async fn the_poller_resets_then_publishes_backs_off_and_recovers() {
        let up = Upstream::new().await;
        let feed = ChangeFeed::new(100);
        let mut sub = feed.subscribe();
        let cfg = PollConfig {
            interval: Duration::from_millis(20),
            max_backoff: Duration::from_millis(120),
            ..small()
        };
        let poller = Poller::spawn(up.clone(), feed.clone(), cfg);
        let mut status = poller.status();
        assert!(status.borrow().ok);

        // The baseline resets the feed: clients that fetched before it resync.
        let notice = tokio::time::timeout(Duration::from_secs(10), sub.receiver.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(notice, Notice::Reset { seq: 1 });
        let until = |s: &PollStatus| s.last_ok_at.is_some();
        tokio::time::timeout(Duration::from_secs(10), status.wait_for(until))
            .await
            .unwrap()
            .unwrap();

        // A change is published.
        up.act("CreateCluster", json!({"clusterName": "other"}));
        let Notice::Changes(batch) =
            tokio::time::timeout(Duration::from_secs(10), sub.receiver.recv())
                .await
                .unwrap()
                .unwrap()
        else {
            panic!("a reset")
        };
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].change.name, "other");

        // Throttled four rounds in a row (at their first call), while something changes
        // upstream.
        let from = up.calls_of("ListClusters").len();
        up.fail("ListClusters", ErrorCode::ThrottlingException, 4);
        status.changed().await.unwrap();
        let bad = status.borrow_and_update().clone();
        assert!(!bad.ok);
        assert_eq!(
            bad.message.as_deref(),
            Some("ThrottlingException: Rate exceeded")
        );
        assert!(bad.last_ok_at.is_some());
        up.act("DeleteCluster", json!({"cluster": "other"}));
        tokio::time::timeout(Duration::from_secs(10), status.wait_for(|s| s.ok))
            .await
            .unwrap()
            .unwrap();
        // The first change after the outage is the deletion; nothing else vanished meanwhile.
        let Notice::Changes(batch) = sub.receiver.recv().await.unwrap() else {
            panic!("a reset")
        };
        assert_eq!(
            batch
                .iter()
                .map(|s| s.change.name.as_str())
                .collect::<Vec<_>>(),
            ["other"]
        );
        // Waits of 40, 80, 120 (capped), 120 ms between the failed rounds and the good one.
        let starts: Vec<Instant> = up.calls_of("ListClusters")[from..]
            .iter()
            .map(|c| c.1)
            .collect();
        assert!(starts.len() >= 5, "{}", starts.len());
        let gaps: Vec<u128> = starts
            .windows(2)
            .take(4)
            .map(|w| (w[1] - w[0]).as_millis())
            .collect();
        for (gap, least) in gaps.iter().zip([40, 80, 120, 120]) {
            assert!(*gap >= least, "{gaps:?}");
        }
        drop(poller);
    }
}
