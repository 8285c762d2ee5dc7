//! Group commit: the one thread that makes changes durable.
//!
//! A writer changes the in-memory state under the state's write lock and *stages* the keys it
//! changed ([`Committer::stage`], still under the lock, so staging order is the order of the
//! changes); it then lets the lock go and waits for its ticket ([`Committer::wait`]) before it
//! answers. The commit thread takes every batch staged so far, serialises the union of their
//! keys from the current state under a *read* lock (which, because batches are staged under the
//! write lock, is exactly the state after the last batch it took), writes them in one redb
//! transaction, and fsyncs without holding any state lock. So readers never queue behind an
//! fsync, and writers that arrive during one share the next.
//!
//! Guarantees kept from the one-lock design: a write is acknowledged only after it is durable;
//! commits happen in staging order, so a crash keeps a prefix of the staged batches (revisions
//! stay contiguous); the change feed is published after each durable commit, in order. Readers
//! do not wait: they may see a change whose commit is in flight (a caller that must not can
//! [`Committer::wait`] for [`Committer::staged`] read under its read lock). When a commit fails, memory has run ahead of the store: the thread takes the write lock,
//! fails every batch staged since the last durable commit and reloads the state from the store.
//!
//! **What it does not do.** It does not decide what changed (the handlers and the reconciler
//! do, and [`crate::state::State::record`] serialises a record) and it does not retry a failed
//! commit: the writers get `ServerException` and clients retry as with ECS.

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;

use crate::changes::{self, ChangeFeed};
use crate::state::{Key, State};
use crate::store::Store;
use crate::views::Views;

/// One writer's changes.
struct Batch {
    seq: u64,
    /// Forget every stored record first (a reset).
    clear: bool,
    keys: BTreeSet<Key>,
    feed: Vec<changes::Change>,
}

#[derive(Default)]
struct Queue {
    batches: VecDeque<Batch>,
    /// Ranges of sequence numbers whose commit failed (most recent last, a few kept).
    failed: VecDeque<(u64, u64)>,
    shutdown: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Signalled when a batch is staged or on shutdown.
    work: Condvar,
    /// Signalled when `resolved` moves.
    done: Condvar,
    /// The last sequence number staged.
    staged: AtomicU64,
    /// Every batch up to this one is durable or failed.
    resolved: AtomicU64,
    /// Transactions committed (each holds one or more batches).
    commits: AtomicU64,
    /// Whether any commit failed (so `wait` must look at `Queue::failed`).
    any_failed: std::sync::atomic::AtomicBool,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Why a batch was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the change could not be stored durably")]
pub struct NotStored;

/// The group-commit thread and its queue.
pub struct Committer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Committer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Committer")
            .field("staged", &self.staged())
            .field("resolved", &self.shared.resolved.load(Ordering::Acquire))
            .finish_non_exhaustive()
    }
}

fn read(state: &RwLock<State>) -> std::sync::RwLockReadGuard<'_, State> {
    state.read().unwrap_or_else(|e| e.into_inner())
}

fn write(state: &RwLock<State>) -> std::sync::RwLockWriteGuard<'_, State> {
    state.write().unwrap_or_else(|e| e.into_inner())
}

impl Committer {
    /// Starts the commit thread for `state`, writing to `store` and publishing to `feed`
    /// (`seed` is the cluster's, for reloading the state after a failed commit, which forgets
    /// every kept view in `views`).
    pub fn start(
        state: Arc<RwLock<State>>,
        store: Store,
        feed: ChangeFeed,
        seed: u64,
        views: Arc<Views>,
    ) -> Committer {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            work: Condvar::new(),
            done: Condvar::new(),
            staged: AtomicU64::new(0),
            resolved: AtomicU64::new(0),
            commits: AtomicU64::new(0),
            any_failed: std::sync::atomic::AtomicBool::new(false),
        });
        let thread = std::thread::Builder::new()
            .name("berth-commit".into())
            .spawn({
                let shared = shared.clone();
                move || run(&shared, &state, &store, &feed, seed, &views)
            })
            .expect("spawn the commit thread");
        Committer {
            shared,
            thread: Some(thread),
        }
    }

    /// Queues the changed `keys` (and their change-feed entries, which may name records changed
    /// in memory only) for the next commit; `clear` forgets every stored record first. A batch
    /// without keys is published in its turn without a transaction. Call it while holding the
    /// state's write lock, after the change. Returns the ticket to [`Committer::wait`] for.
    pub fn stage(&self, keys: BTreeSet<Key>, feed: Vec<changes::Change>, clear: bool) -> u64 {
        let mut q = self.shared.queue();
        let seq = self.shared.staged.load(Ordering::Acquire) + 1;
        q.batches.push_back(Batch {
            seq,
            clear,
            keys,
            feed,
        });
        self.shared.staged.store(seq, Ordering::Release);
        self.shared.work.notify_one();
        seq
    }

    /// The last ticket staged: read under the state's read lock, it names every change the
    /// reader can see.
    pub fn staged(&self) -> u64 {
        self.shared.staged.load(Ordering::Acquire)
    }

    /// How many transactions were committed so far (each makes one or more batches durable).
    pub fn commits(&self) -> u64 {
        self.shared.commits.load(Ordering::Acquire)
    }

    /// Waits until batch `seq` (and every one before it) is durable.
    ///
    /// # Errors
    ///
    /// [`NotStored`] when that batch's commit failed (the state was then reloaded from the
    /// store, without it).
    pub fn wait(&self, seq: u64) -> Result<(), NotStored> {
        if self.shared.resolved.load(Ordering::Acquire) < seq {
            let mut q = self.shared.queue();
            while self.shared.resolved.load(Ordering::Acquire) < seq {
                q = self.shared.done.wait(q).unwrap_or_else(|e| e.into_inner());
            }
            return failed(&q, seq);
        }
        if self.shared.any_failed.load(Ordering::Acquire) {
            return failed(&self.shared.queue(), seq);
        }
        Ok(())
    }
}

fn failed(q: &Queue, seq: u64) -> Result<(), NotStored> {
    if q.failed
        .iter()
        .any(|&(from, to)| (from..=to).contains(&seq))
    {
        Err(NotStored)
    } else {
        Ok(())
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        self.shared.queue().shutdown = true;
        self.shared.work.notify_all();
        if let Some(t) = self.thread.take() {
            // The store closes when the thread ends, so the data directory can be reopened.
            let _ = t.join();
        }
    }
}

/// The commit loop: take what is staged, write it, fsync, publish, wake the waiters.
fn run(
    shared: &Shared,
    state: &RwLock<State>,
    store: &Store,
    feed: &ChangeFeed,
    seed: u64,
    views: &Views,
) {
    loop {
        let (batches, result) = {
            // The read lock first, then the queue: a writer stages under the write lock, so
            // what is staged now is exactly what the state holds.
            let mut q = shared.queue();
            while q.batches.is_empty() && !q.shutdown {
                q = shared.work.wait(q).unwrap_or_else(|e| e.into_inner());
            }
            if q.batches.is_empty() {
                return;
            }
            drop(q);
            let st = read(state);
            let batches: Vec<Batch> = shared.queue().batches.drain(..).collect();
            let clear = batches.iter().any(|b| b.clear);
            let mut keys: BTreeSet<&Key> = BTreeSet::new();
            for b in &batches {
                keys.extend(b.keys.iter());
            }
            if keys.is_empty() && !clear {
                // Only change-feed entries (changes kept in memory): nothing to write, and no
                // fsync to wait for; they are published after the batches before them.
                drop(st);
                (batches, Ok(false))
            } else {
                // Taken under the read lock (readers go on; writers wait, as the records must be
                // this state's): a task as a second reference to it, any other record serialised
                // (see `State::snapshot`). The tasks are serialised after the lock is let go, one
                // at a time into the transaction, so even a pass that placed thousands of tasks
                // holds the lock only for the references and never sits in memory twice.
                let snapshots: Vec<_> = keys
                    .into_iter()
                    .map(|k| (k.encode(), st.snapshot(k)))
                    .collect();
                drop(st);
                let staged = store.stage(
                    clear,
                    snapshots.into_iter().map(|(k, s)| (k, s.into_record())),
                );
                (batches, staged.and_then(|t| t.commit()).map(|()| true))
            }
        };
        let last = batches.last().map_or(0, |b| b.seq);
        match result {
            Ok(wrote) => {
                for b in batches {
                    if b.clear {
                        feed.reset();
                    }
                    feed.publish(b.feed);
                }
                let _q = shared.queue();
                if wrote {
                    shared.commits.fetch_add(1, Ordering::AcqRel);
                }
                shared.resolved.store(last, Ordering::Release);
                shared.done.notify_all();
            }
            Err(e) => {
                tracing::error!(error = %e, "commit failed; reloading stored state");
                let first = batches.first().map_or(0, |b| b.seq);
                // No writer can stage while this lock is held: fail everything staged since.
                let mut st = write(state);
                let mut q = shared.queue();
                let last = shared.staged.load(Ordering::Acquire);
                q.batches.clear();
                q.failed.push_back((first, last));
                shared.any_failed.store(true, Ordering::Release);
                while q.failed.len() > 64 {
                    q.failed.pop_front();
                }
                // Rewrites of old keys were committed when the cluster opened.
                match State::open(store, seed, st.meta.clock).map(|(mut fresh, _)| {
                    fresh.metrics.measured = st.metrics.measured;
                    fresh.keep_unstarted(&st);
                    fresh
                }) {
                    Ok(fresh) => {
                        *st = fresh;
                        views.clear();
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "reload after a failed commit failed too")
                    }
                }
                shared.resolved.store(last, Ordering::Release);
                shared.done.notify_all();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::SecretRec;
    use std::sync::atomic::AtomicBool;

    fn secret(name: &str) -> SecretRec {
        serde_json::from_value(serde_json::json!({
            "name": name, "arn": format!("arn:{name}"),
            "created": "2026-01-01T00:00:00Z", "lastChanged": "2026-01-01T00:00:00Z",
        }))
        .unwrap()
    }

    fn start(store: Store) -> (Arc<RwLock<State>>, Committer, ChangeFeed) {
        let state = Arc::new(RwLock::new(State::new(1, chrono::Utc::now())));
        let feed = ChangeFeed::default();
        let c = Committer::start(state.clone(), store, feed.clone(), 1, Arc::default());
        (state, c, feed)
    }

    /// One writer: change, stage under the lock, wait without it.
    fn put(state: &RwLock<State>, c: &Committer, name: &str) -> Result<(), NotStored> {
        let ticket = {
            let mut st = write(state);
            st.secrets.insert(name.into(), secret(name));
            let feed = vec![changes::Change::new(changes::ChangeKind::Logs, None, name)];
            c.stage(BTreeSet::from([Key::Secret(name.into())]), feed, false)
        };
        c.wait(ticket)
    }

    #[test]
    fn concurrent_writers_share_commits_and_every_acknowledged_write_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let (state, c, feed) = start(Store::open(Some(dir.path())).unwrap());
        let c = Arc::new(c);
        let threads: Vec<_> = (0..16)
            .map(|t| {
                let (state, c) = (state.clone(), c.clone());
                std::thread::spawn(move || {
                    for i in 0..40 {
                        put(&state, &c, &format!("s{t}-{i}")).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(c.staged(), 640);
        // On a real file, writers that arrive during an fsync share the next one.
        assert!(c.commits() < 640, "{} commits for 640 writes", c.commits());
        assert_eq!(
            feed.seq(),
            640,
            "one feed entry per write, after its commit"
        );
        drop(Arc::into_inner(c).unwrap());
        let records = Store::open(Some(dir.path())).unwrap().load().unwrap();
        assert_eq!(records.len(), 640);
    }

    #[test]
    fn a_reader_waits_for_what_it_saw_and_a_reset_clears_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let (state, c, _feed) = start(Store::open(Some(dir.path())).unwrap());
        put(&state, &c, "a").unwrap();
        let seen = {
            let _st = read(&state);
            c.staged()
        };
        c.wait(seen).unwrap();
        let ticket = {
            let mut st = write(&state);
            *st = State::new(1, chrono::Utc::now());
            st.secrets.insert("b".into(), secret("b"));
            c.stage(BTreeSet::from([Key::Secret("b".into())]), Vec::new(), true)
        };
        c.wait(ticket).unwrap();
        drop(c);
        let keys: Vec<String> = Store::open(Some(dir.path()))
            .unwrap()
            .load()
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, ["secret/b"]);
    }

    /// Memory whose fsync fails on demand.
    #[derive(Debug)]
    struct Flaky {
        mem: redb::backends::InMemoryBackend,
        fail: Arc<AtomicBool>,
    }

    impl redb::StorageBackend for Flaky {
        fn len(&self) -> std::io::Result<u64> {
            self.mem.len()
        }
        fn read(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
            self.mem.read(offset, len)
        }
        fn set_len(&self, len: u64) -> std::io::Result<()> {
            self.mem.set_len(len)
        }
        fn sync_data(&self, eventual: bool) -> std::io::Result<()> {
            if self.fail.load(Ordering::SeqCst) {
                return Err(std::io::Error::other("injected fsync failure"));
            }
            self.mem.sync_data(eventual)
        }
        fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
            self.mem.write(offset, data)
        }
    }

    /// An in-memory store whose writes fail once the flag is set.
    fn flaky() -> (Store, Arc<AtomicBool>) {
        let fail = Arc::new(AtomicBool::new(false));
        let store = Store::with_backend(Flaky {
            mem: redb::backends::InMemoryBackend::new(),
            fail: fail.clone(),
        })
        .unwrap();
        (store, fail)
    }

    #[test]
    fn a_failed_commit_fails_its_writer_and_memory_goes_back_to_what_is_stored() {
        let (store, fail) = flaky();
        let (state, c, feed) = start(store);
        put(&state, &c, "kept").unwrap();
        fail.store(true, Ordering::SeqCst);
        assert_eq!(put(&state, &c, "lost"), Err(NotStored));
        let st = read(&state);
        assert!(st.secrets.contains_key("kept"), "acknowledged data stays");
        assert!(
            !st.secrets.contains_key("lost"),
            "memory does not run ahead of the store"
        );
        assert_eq!(feed.seq(), 1, "nothing published for the failed commit");
    }

    #[test]
    fn a_reload_after_a_failed_commit_forgets_every_kept_view() {
        let (store, fail) = flaky();
        let state = Arc::new(RwLock::new(State::new(1, chrono::Utc::now())));
        let views = Arc::new(Views::default());
        let c = Committer::start(
            state.clone(),
            store,
            ChangeFeed::default(),
            1,
            views.clone(),
        );
        put(&state, &c, "kept").unwrap();
        views
            .of("default")
            .tasks
            .get_or("t", || Ok::<_, ()>(b"{}".to_vec()))
            .unwrap();
        fail.store(true, Ordering::SeqCst);
        assert_eq!(put(&state, &c, "lost"), Err(NotStored));
        assert!(
            views.kept("default").is_none(),
            "made from a state that is gone"
        );
    }

    #[test]
    fn a_task_not_yet_handed_to_the_runtime_is_still_to_start_after_a_failed_commit() {
        use crate::state::{ClusterRec, TaskRec};
        let (store, fail) = flaky();
        let (state, c, _feed) = start(store);
        // Task ids as the cluster makes them: 32 hex digits.
        let (new, handed) = ("1".repeat(32), "2".repeat(32));
        let task = |id: &str, unstarted| TaskRec {
            task: berth_core::model::Task {
                task_arn: Some(format!(
                    "arn:aws:ecs:us-east-1:000000000000:task/default/{id}"
                )),
                last_status: Some("PROVISIONING".into()),
                desired_status: Some("RUNNING".into()),
                ..Default::default()
            },
            service: None,
            info: None,
            stop_cause: None,
            health_checked: false,
            launched: true,
            unstarted,
            stop_sent: false,
            protection: None,
        };
        let ticket = {
            let mut st = write(&state);
            let mut cluster = ClusterRec {
                name: "default".into(),
                status: "ACTIVE".into(),
                ..Default::default()
            };
            cluster.insert_task(task(&new, true));
            cluster.insert_task(task(&handed, false));
            st.clusters.insert("default".into(), cluster);
            let keys = BTreeSet::from([
                Key::Cluster("default".into()),
                Key::Task("default".into(), new.clone()),
                Key::Task("default".into(), handed.clone()),
            ]);
            c.stage(keys, vec![], false)
        };
        c.wait(ticket).unwrap();
        fail.store(true, Ordering::SeqCst);
        assert_eq!(put(&state, &c, "lost"), Err(NotStored));
        let st = read(&state);
        let tasks = &st.clusters["default"].tasks;
        assert!(
            tasks.get(&new).unwrap().unstarted,
            "still to be handed to the runtime"
        );
        assert!(!tasks.get(&handed).unwrap().unstarted, "the runtime has it");
        assert!(st.clusters["default"].work.contains(&new));
    }
}
