//! Serialised answers kept between reads: a task's DescribeTasks form and a service's
//! DescribeServices form, as JSON bytes, built on the first read after they changed and reused
//! until the next change.
//!
//! DescribeTasks and DescribeServices are the heaviest reads of the API (each task or service
//! copied, filled in with the members ECS always returns and serialised); what they name
//! changes far less often than it is read. The cluster's `stage` drops an entry when its
//! record is staged for commit: a task's when the task is, a service's when the service or one
//! of its tasks is (its view counts them), and every task's of a cluster when one of its
//! container instances is (a task's view shows its instance's `ecs.cpu-architecture`; instances
//! change rarely, tasks often, so the reader does not look the attribute up on every read).
//!
//! **What it does not do.** It does not decide what a view contains (`api::tasks::view`,
//! `api::services::view` do) and it is not stored: it starts empty and is rebuilt by reads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Id → the JSON.
type Entries = HashMap<String, Arc<[u8]>>;

/// The cached views of one cluster's tasks, or of its services.
#[derive(Default)]
pub struct ViewCache {
    entries: Mutex<Entries>,
}

impl Clone for ViewCache {
    /// A copy starts empty: entries are rebuilt from the records.
    fn clone(&self) -> Self {
        ViewCache::default()
    }
}

impl std::fmt::Debug for ViewCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewCache")
            .field("entries", &self.lock().len())
            .finish()
    }
}

impl ViewCache {
    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
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
        if let Some(bytes) = self.lock().get(id) {
            return Ok(bytes.clone());
        }
        let bytes: Arc<[u8]> = make()?.into();
        self.lock().insert(id.to_string(), bytes.clone());
        Ok(bytes)
    }

    /// Drops `id`'s view (it changed or is gone).
    pub fn forget(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Drops every view.
    pub fn clear(&self) {
        self.lock().clear();
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
        assert_eq!(c.clone().lock().len(), 0, "a copy starts empty");
        c.clear();
        assert_eq!(&*c.get_or("u", make("f")).unwrap(), b"f");
        assert_eq!(&*c.get_or("t", make("g")).unwrap(), b"g");
    }
}
