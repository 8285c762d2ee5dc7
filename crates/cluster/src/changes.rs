//! The change feed: which resources changed, in commit order, for live views.
//!
//! **What it is for.** The dashboard keeps its tables fresh without polling: after every
//! durable commit (an API write or a reconciler pass) [`crate::Cluster`] publishes one
//! [`Change`] per changed record — "service `web` of cluster `default` changed" — into its
//! [`ChangeFeed`]. Each change gets the next sequence number of the feed; the feed keeps the
//! most recent ones in a bounded ring so a client that reconnects can catch up with
//! [`ChangeFeed::since`], and hands live ones to subscribers ([`ChangeFeed::subscribe`], a tokio
//! broadcast channel). A feed has an [`ChangeFeed::epoch`], fixed for its life and different in
//! the next process, so a sequence number is only ever compared with numbers of the same feed.
//!
//! **What it deliberately does not do, and why.**
//! - No contents: a change names a resource, never its new state. Clients describe what they
//!   show (the same ECS calls they make anyway), so the feed cannot disagree with the API and
//!   costs the same whatever a record weighs.
//! - No durability: the ring lives in memory. A restarted server has a new epoch and clients
//!   resync, which they must be able to do anyway (a slow client loses its place too).
//! - No per-client filtering or coalescing: that is transport policy and lives in the server's
//!   stream endpoint.
//! - Not tied to the embedded cluster: [`ChangeFeed::new`] and [`ChangeFeed::publish`] are
//!   public so that any backend (the upstream proxy, which learns of changes by polling AWS)
//!   can feed the same endpoint.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// How many changes a feed keeps for replay by default.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// How many published batches a subscriber may fall behind before it is told it lagged.
const CHANNEL_CAPACITY: usize = 1024;

/// What kind of resource changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// A cluster (its settings, counts or status); `name` is the cluster name.
    Cluster,
    /// A service; `name` is the service name.
    Service,
    /// A task; `name` is the task id.
    Task,
    /// A container instance; `name` is its id.
    Instance,
    /// A task definition revision; `name` is `family:revision`.
    Taskdef,
    /// An Application Auto Scaling target, its policies, scheduled actions or activities;
    /// `name` is the resource id (`service/<cluster>/<service>`).
    Scaling,
    /// A CloudWatch Logs group (`name` is the group) or stream (`group/stream`).
    Logs,
}

/// One changed resource.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Change {
    /// What kind of resource.
    pub kind: ChangeKind,
    /// The cluster it belongs to (`None` for task definitions and logs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Its name within its kind (see [`ChangeKind`]).
    pub name: String,
    /// Its ARN, when it has one the feed can name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
}

impl Change {
    /// A change of `kind` named `name` in `cluster`, without an ARN.
    pub fn new(kind: ChangeKind, cluster: Option<&str>, name: impl Into<String>) -> Change {
        Change {
            kind,
            cluster: cluster.map(str::to_string),
            name: name.into(),
            arn: None,
        }
    }

    /// The same change with its ARN.
    pub fn with_arn(mut self, arn: impl Into<String>) -> Change {
        self.arn = Some(arn.into());
        self
    }
}

/// A change with its place in the feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sequenced {
    /// Its sequence number (the first change of a feed is 1).
    pub seq: u64,
    /// The change.
    pub change: Change,
}

/// What subscribers receive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The changes of one commit, in order.
    Changes(Arc<[Sequenced]>),
    /// Everything was forgotten (test-control reset) at sequence number `seq`: whatever a
    /// subscriber knows is stale and must be fetched again.
    Reset {
        /// The feed's sequence number at the reset; later changes follow it.
        seq: u64,
    },
}

/// [`ChangeFeed::since`] cannot replay from that sequence number: the ring no longer holds
/// everything after it (or it was never a number of this feed, or a reset happened after it).
/// The client must refetch what it shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "changes after sequence number {requested} are no longer kept (the feed keeps those after {oldest}, up to {current})"
)]
pub struct TooOld {
    /// The sequence number asked for.
    pub requested: u64,
    /// The oldest sequence number the feed can replay from.
    pub oldest: u64,
    /// The feed's current sequence number.
    pub current: u64,
}

/// A live subscription: the point it starts from and the receiver of what follows.
#[derive(Debug)]
pub struct Subscription {
    /// The feed's sequence number when the subscription was made: every change after it
    /// arrives through `receiver`, none at or before it does.
    pub seq: u64,
    /// Live notices. A subscriber that falls more than 1,024 commits behind gets
    /// [`broadcast::error::RecvError::Lagged`] and should resync.
    pub receiver: broadcast::Receiver<Notice>,
}

struct Ring {
    /// The last sequence number given out.
    seq: u64,
    /// `since(s)` works for `floor <= s <= seq`: everything after `floor` is in `buf`.
    floor: u64,
    buf: VecDeque<Sequenced>,
}

struct FeedInner {
    epoch: u64,
    capacity: usize,
    ring: Mutex<Ring>,
    tx: broadcast::Sender<Notice>,
}

/// The change feed of one backend: an epoch, a sequence, a ring of recent changes and live
/// subscribers. Cheap to clone (clones share the feed).
#[derive(Clone)]
pub struct ChangeFeed {
    inner: Arc<FeedInner>,
}

impl std::fmt::Debug for ChangeFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeFeed")
            .field("epoch", &self.inner.epoch)
            .field("seq", &self.seq())
            .finish_non_exhaustive()
    }
}

impl Default for ChangeFeed {
    fn default() -> Self {
        ChangeFeed::new(DEFAULT_CAPACITY)
    }
}

/// A new epoch: microseconds since 1970 at creation (exact in a JavaScript number, unlike
/// nanoseconds), and above every epoch given out earlier in this process.
fn new_epoch() -> u64 {
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(1);
    let prev = LAST
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |last| {
            Some(now.max(last + 1))
        })
        .unwrap_or(0);
    now.max(prev + 1)
}

impl ChangeFeed {
    /// A new feed that keeps the last `capacity` changes (at least one) for replay, with a
    /// fresh epoch.
    ///
    /// ```
    /// use berth_cluster::changes::{Change, ChangeFeed, ChangeKind};
    ///
    /// let feed = ChangeFeed::new(100);
    /// feed.publish([Change::new(ChangeKind::Service, Some("default"), "web")]);
    /// assert_eq!(feed.seq(), 1);
    /// assert_eq!(feed.since(0).unwrap()[0].change.name, "web");
    /// ```
    pub fn new(capacity: usize) -> ChangeFeed {
        let (tx, _) = broadcast::channel(CHANNEL_CAPACITY);
        ChangeFeed {
            inner: Arc::new(FeedInner {
                epoch: new_epoch(),
                capacity: capacity.max(1),
                ring: Mutex::new(Ring {
                    seq: 0,
                    floor: 0,
                    buf: VecDeque::new(),
                }),
                tx,
            }),
        }
    }

    fn ring(&self) -> MutexGuard<'_, Ring> {
        self.inner.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The feed's epoch: fixed for its life, different for a feed made later (a restarted
    /// server). Sequence numbers of different epochs are unrelated.
    pub fn epoch(&self) -> u64 {
        self.inner.epoch
    }

    /// The sequence number of the last change (0 before the first).
    pub fn seq(&self) -> u64 {
        self.ring().seq
    }

    /// Publishes the changes of one commit, in order; returns the sequence number of the last
    /// one (the current one when `changes` is empty, which publishes nothing).
    pub fn publish(&self, changes: impl IntoIterator<Item = Change>) -> u64 {
        let mut ring = self.ring();
        let mut batch = Vec::new();
        for change in changes {
            ring.seq += 1;
            batch.push(Sequenced {
                seq: ring.seq,
                change,
            });
        }
        if batch.is_empty() {
            return ring.seq;
        }
        ring.buf.extend(batch.iter().cloned());
        while ring.buf.len() > self.inner.capacity {
            if let Some(gone) = ring.buf.pop_front() {
                ring.floor = gone.seq;
            }
        }
        // Sent under the lock, so subscribers see batches in sequence order and a
        // subscription splits the feed exactly (see `subscribe`). No receiver is not an error.
        let _ = self.inner.tx.send(Notice::Changes(batch.into()));
        ring.seq
    }

    /// Marks that everything was forgotten (the cluster was reset): the ring is emptied,
    /// replay from any earlier sequence number fails with [`TooOld`], and subscribers get
    /// [`Notice::Reset`]. Returns the sequence number of the reset.
    pub fn reset(&self) -> u64 {
        let mut ring = self.ring();
        ring.seq += 1;
        ring.floor = ring.seq;
        ring.buf.clear();
        let _ = self.inner.tx.send(Notice::Reset { seq: ring.seq });
        ring.seq
    }

    /// Subscribes to what is published from now on. Taken under the same lock as
    /// [`ChangeFeed::publish`], so [`Subscription::seq`] splits the feed exactly: a client
    /// replays `since(last)` up to `seq` and takes the rest from the receiver, missing nothing
    /// and getting nothing twice.
    pub fn subscribe(&self) -> Subscription {
        let ring = self.ring();
        Subscription {
            seq: ring.seq,
            receiver: self.inner.tx.subscribe(),
        }
    }

    /// The changes after sequence number `seq`, oldest first (empty when `seq` is current).
    ///
    /// # Errors
    ///
    /// [`TooOld`] when the ring no longer holds every change after `seq` (the client fell
    /// more than the capacity behind, or a reset happened since), or when `seq` is ahead of
    /// the feed (it belongs to another epoch).
    ///
    /// ```
    /// use berth_cluster::changes::{Change, ChangeFeed, ChangeKind};
    ///
    /// let feed = ChangeFeed::new(2);
    /// for name in ["a", "b", "c"] {
    ///     feed.publish([Change::new(ChangeKind::Task, Some("default"), name)]);
    /// }
    /// assert_eq!(feed.since(1).unwrap().len(), 2);
    /// assert!(feed.since(0).is_err()); // "a" fell out of the ring
    /// ```
    pub fn since(&self, seq: u64) -> Result<Vec<Sequenced>, TooOld> {
        let ring = self.ring();
        if seq < ring.floor || seq > ring.seq {
            return Err(TooOld {
                requested: seq,
                oldest: ring.floor,
                current: ring.seq,
            });
        }
        // Sequence numbers in the ring are contiguous from `floor + 1`.
        let skip = (seq - ring.floor) as usize;
        Ok(ring.buf.iter().skip(skip).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str) -> Change {
        Change::new(ChangeKind::Task, Some("default"), id)
    }

    fn names(v: &[Sequenced]) -> Vec<(u64, &str)> {
        v.iter().map(|s| (s.seq, s.change.name.as_str())).collect()
    }

    #[test]
    fn publish_numbers_changes_and_replays_them() {
        let feed = ChangeFeed::new(10);
        assert_eq!(feed.seq(), 0);
        assert_eq!(feed.since(0).unwrap(), vec![]);
        assert_eq!(feed.publish([task("a"), task("b")]), 2);
        assert_eq!(feed.publish([]), 2, "an empty commit publishes nothing");
        assert_eq!(feed.publish([task("c")]), 3);
        assert_eq!(
            names(&feed.since(0).unwrap()),
            [(1, "a"), (2, "b"), (3, "c")]
        );
        assert_eq!(names(&feed.since(2).unwrap()), [(3, "c")]);
        assert_eq!(feed.since(3).unwrap(), vec![]);
    }

    #[test]
    fn replay_from_before_the_ring_or_from_the_future_is_too_old() {
        let feed = ChangeFeed::new(3);
        for id in ["a", "b", "c", "d", "e"] {
            feed.publish([task(id)]);
        }
        assert_eq!(
            names(&feed.since(2).unwrap()),
            [(3, "c"), (4, "d"), (5, "e")]
        );
        assert_eq!(
            feed.since(1),
            Err(TooOld {
                requested: 1,
                oldest: 2,
                current: 5
            })
        );
        assert!(feed.since(6).is_err(), "a number this feed never gave out");
    }

    #[tokio::test]
    async fn subscribers_get_batches_after_their_split_point() {
        let feed = ChangeFeed::new(10);
        feed.publish([task("before")]);
        let mut sub = feed.subscribe();
        assert_eq!(sub.seq, 1);
        feed.publish([task("x"), task("y")]);
        match sub.receiver.recv().await.unwrap() {
            Notice::Changes(b) => assert_eq!(names(&b), [(2, "x"), (3, "y")]),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn reset_empties_the_ring_and_tells_subscribers() {
        let feed = ChangeFeed::new(10);
        feed.publish([task("a")]);
        let mut sub = feed.subscribe();
        assert_eq!(feed.reset(), 2);
        assert_eq!(sub.receiver.recv().await.unwrap(), Notice::Reset { seq: 2 });
        assert!(feed.since(1).is_err(), "replay across a reset must resync");
        assert_eq!(feed.since(2).unwrap(), vec![]);
        feed.publish([task("b")]);
        assert_eq!(names(&feed.since(2).unwrap()), [(3, "b")]);
    }

    #[test]
    fn epochs_differ_and_changes_serialise_for_the_wire() {
        assert_ne!(ChangeFeed::new(1).epoch(), ChangeFeed::new(1).epoch());
        let c = Change::new(ChangeKind::Taskdef, None, "web:3").with_arn("arn:x");
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            serde_json::json!({"kind": "taskdef", "name": "web:3", "arn": "arn:x"})
        );
        assert_eq!(
            serde_json::to_value(task("t1")).unwrap(),
            serde_json::json!({"kind": "task", "cluster": "default", "name": "t1"})
        );
    }

    /// What the cluster publishes for API writes and reconciler passes.
    mod cluster {
        use super::super::*;
        use crate::{ClockMode, Cluster, Config};
        use serde_json::json;

        fn kinds(v: &[Sequenced]) -> Vec<(ChangeKind, String)> {
            let mut out: Vec<_> = v
                .iter()
                .map(|s| (s.change.kind, s.change.name.clone()))
                .collect();
            out.sort();
            out.dedup();
            out
        }

        fn call(c: &Cluster, action: &str, body: serde_json::Value) -> serde_json::Value {
            c.call_blocking(action, body.to_string().as_bytes())
                .unwrap_or_else(|e| panic!("{action}: {e}"))
        }

        #[tokio::test]
        async fn api_writes_and_reconciler_passes_publish_what_they_changed() {
            let c = Cluster::open(Config {
                clock: ClockMode::Manual,
                ..Config::default()
            })
            .await
            .unwrap();
            let feed = c.changes().clone();
            let start = feed.seq();

            call(
                &c,
                "RegisterTaskDefinition",
                json!({"family": "web", "containerDefinitions": [
                    {"name": "app", "image": "nginx:1", "memory": 256, "essential": true}]}),
            );
            let got = feed.since(start).unwrap();
            assert_eq!(
                got.iter().map(|s| s.change.clone()).collect::<Vec<_>>(),
                [Change::new(ChangeKind::Taskdef, None, "web:1")
                    .with_arn("arn:aws:ecs:us-east-1:000000000000:task-definition/web:1")],
                "one change, no Meta"
            );

            let at = feed.seq();
            call(
                &c,
                "CreateService",
                json!({"serviceName": "svc", "taskDefinition": "web", "desiredCount": 2}),
            );
            let got = feed.since(at).unwrap();
            assert!(
                kinds(&got).contains(&(ChangeKind::Service, "svc".into())),
                "{got:?}"
            );
            let svc = got
                .iter()
                .find(|s| s.change.kind == ChangeKind::Service)
                .unwrap();
            assert_eq!(svc.change.cluster.as_deref(), Some("default"));
            assert_eq!(
                svc.change.arn.as_deref(),
                Some("arn:aws:ecs:us-east-1:000000000000:service/default/svc")
            );

            // The reconciler places the service's tasks: task changes, from a pass.
            let mut sub = feed.subscribe();
            let at = feed.seq();
            c.tick().await;
            let got = feed.since(at).unwrap();
            let tasks = got
                .iter()
                .filter(|s| s.change.kind == ChangeKind::Task)
                .count();
            assert!(tasks >= 2, "{got:?}");
            assert!(
                got.iter()
                    .all(|s| s.change.kind != ChangeKind::Cluster || s.change.name == "default")
            );
            match sub.receiver.try_recv().unwrap() {
                Notice::Changes(b) => assert_eq!(b.first().map(|s| s.seq), Some(at + 1)),
                other => panic!("{other:?}"),
            }

            // A failed write publishes nothing.
            let at = feed.seq();
            assert!(
                c.call_blocking("DescribeServices", b"{\"cluster\":\"nope\"}")
                    .is_err()
            );
            assert!(c.call_blocking("DeleteCluster", b"{}").is_err());
            assert_eq!(feed.seq(), at);

            // Reset: subscribers are told, replay across it is refused.
            let mut sub = feed.subscribe();
            c.reset().await.unwrap();
            assert!(matches!(
                sub.receiver.recv().await.unwrap(),
                Notice::Reset { .. }
            ));
            assert!(feed.since(at).is_err());
        }
    }
}
