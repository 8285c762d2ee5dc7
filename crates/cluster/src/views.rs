//! Serialised answers kept between reads: a task's DescribeTasks form and a service's
//! DescribeServices form, as JSON bytes, built on the first read after they changed and reused
//! until the next change. They live beside the state, not in it, so a read that finds every
//! view it names answers without the state lock ([`Views::kept`]): DescribeTasks and
//! DescribeServices, most of what clients poll, never wait for a write.
//!
//! DescribeTasks and DescribeServices are the heaviest reads of the API (each task or service
//! copied, filled in with the members ECS always returns and serialised); what they name
//! changes far less often than it is read. The cluster's `stage` drops an entry when its
//! record is staged for commit: a task's when the task is, a service's when the service or one
//! of its tasks is (its view counts them), every task's of a cluster when one of its container
//! instances is (a task's view shows its instance's `ecs.cpu-architecture`; instances change
//! rarely, tasks often, so the reader does not look the attribute up on every read), and a
//! whole cluster's when the cluster record is (created again, deleted, changed). A reset or
//! a reload of the state forgets every view.
//!
//! **Why that is enough to read without the lock.** A view is built and kept only under the
//! state's read lock, and dropped only under its write lock, in the same critical section as
//! the change that made it stale, before that change is acknowledged. So a kept view is the
//! record as it is now, and a read that starts after a write was acknowledged never sees the
//! view from before it. A cluster has views kept only while it is ACTIVE. What a lock-free read
//! gives up is the snapshot: a DescribeTasks of many tasks running beside a write can show some
//! of them before it and some after, which ECS's eventually consistent reads allow too.
//!
//! **What it does not do.** It does not decide what a view contains (`api::tasks::view`,
//! `api::services::view` do), nor answer a request (`api::kept_json` does, or says it cannot);
//! it is not stored: it starts empty and is rebuilt by reads.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Id → the JSON.
type Entries = HashMap<String, Arc<[u8]>>;

/// The kept views of every cluster, by cluster name.
#[derive(Default)]
pub struct Views {
    clusters: RwLock<HashMap<String, Arc<ClusterViews>>>,
}

impl std::fmt::Debug for Views {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Views")
            .field("clusters", &read(&self.clusters).len())
            .finish()
    }
}

/// One cluster's kept views.
#[derive(Debug, Default)]
pub struct ClusterViews {
    /// Its tasks' DescribeTasks forms (without tags), by task id.
    pub tasks: ViewCache,
    /// Its services' DescribeServices forms (without tags), by service name.
    pub services: ViewCache,
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

impl Views {
    /// The views of `cluster`, made empty when it has none yet. Call it under the state's read
    /// or write lock, for an ACTIVE cluster only: that is what lets [`Views::kept`] trust them.
    pub fn of(&self, cluster: &str) -> Arc<ClusterViews> {
        if let Some(v) = read(&self.clusters).get(cluster) {
            return v.clone();
        }
        write(&self.clusters)
            .entry(cluster.to_string())
            .or_default()
            .clone()
    }

    /// The views kept for `cluster`, if any: for readers without the state lock.
    pub fn kept(&self, cluster: &str) -> Option<Arc<ClusterViews>> {
        read(&self.clusters).get(cluster).cloned()
    }

    /// Forgets every view of `cluster` (its record changed). Under the state's write lock.
    pub fn forget_cluster(&self, cluster: &str) {
        write(&self.clusters).remove(cluster);
    }

    /// Forgets every view (the state was reset or reloaded). Under the state's write lock.
    pub fn clear(&self) {
        write(&self.clusters).clear();
    }
}

/// The kept views of one cluster's tasks, or of its services.
#[derive(Default)]
pub struct ViewCache {
    entries: RwLock<Entries>,
}

impl std::fmt::Debug for ViewCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewCache")
            .field("entries", &read(&self.entries).len())
            .finish()
    }
}

impl ViewCache {
    /// The kept views of every one of `ids`, in their order; `None` as soon as one is not kept.
    pub fn all<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> Option<Vec<Arc<[u8]>>> {
        let entries = read(&self.entries);
        ids.into_iter().map(|id| entries.get(id).cloned()).collect()
    }

    /// The cached view of `id`, or the one `make` builds (then kept).
    ///
    /// # Errors
    ///
    /// `make`'s error; nothing is kept then.
    pub fn get_or<E>(
        &self,
        id: &str,
        make: impl FnOnce() -> Result<Vec<u8>, E>,
    ) -> Result<Arc<[u8]>, E> {
        if let Some(bytes) = read(&self.entries).get(id) {
            return Ok(bytes.clone());
        }
        let bytes: Arc<[u8]> = make()?.into();
        write(&self.entries).insert(id.to_string(), bytes.clone());
        Ok(bytes)
    }

    /// Drops `id`'s view (it changed or is gone).
    pub fn forget(&self, id: &str) {
        write(&self.entries).remove(id);
    }

    /// Drops every view.
    pub fn clear(&self) {
        write(&self.entries).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_until_forgotten_or_cleared() {
        let c = ViewCache::default();
        let make = |s: &'static str| move || Ok::<_, ()>(s.as_bytes().to_vec());
        assert_eq!(&*c.get_or("t", make("a")).unwrap(), b"a");
        assert_eq!(&*c.get_or("t", make("b")).unwrap(), b"a");
        c.forget("t");
        assert_eq!(&*c.get_or("t", make("d")).unwrap(), b"d");
        assert_eq!(c.get_or("u", || Err::<Vec<u8>, _>("no")), Err("no"));
        assert_eq!(&*c.get_or("u", make("e")).unwrap(), b"e");
        assert_eq!(
            c.all(["t", "u", "t"]).map(|v| v.len()),
            Some(3),
            "every one kept, in order"
        );
        assert!(c.all(["t", "v"]).is_none(), "one not kept");
        c.clear();
        assert_eq!(&*c.get_or("u", make("f")).unwrap(), b"f");
        assert_eq!(&*c.get_or("t", make("g")).unwrap(), b"g");
    }

    #[test]
    fn a_cluster_has_views_kept_from_its_first_use_until_forgotten() {
        let v = Views::default();
        assert!(v.kept("a").is_none());
        let a = v.of("a");
        assert!(Arc::ptr_eq(&a, &v.kept("a").unwrap()));
        assert!(Arc::ptr_eq(&a, &v.of("a")), "the same views again");
        v.of("b");
        v.forget_cluster("a");
        assert!(v.kept("a").is_none());
        assert!(v.kept("b").is_some());
        assert!(!Arc::ptr_eq(&a, &v.of("a")), "made afresh");
        v.clear();
        assert!(v.kept("a").is_none() && v.kept("b").is_none());
    }
}
