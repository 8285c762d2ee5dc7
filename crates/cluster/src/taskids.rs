//! Task ids as a cluster's indexes hold them, and the map and sets keyed by them.
//!
//! Every task id the cluster makes is 32 lowercase hex digits ([`crate::state::task_id`]), so
//! an index keys a task by the 128-bit number its id spells ([`TaskId`]): stored inline in the
//! B-tree's nodes and compared as one integer, where a `String` key is a pointer to follow at
//! every comparison of a search. With 100,000 tasks that was most of what adding a task cost
//! (RunTask, and indexing a store when it opens: BENCHMARKS.md). The number orders as the
//! text does, so lists and page tokens keep the id order they had.
//!
//! [`Tasks`] and [`TaskIds`] look tasks up by anything that names one ([`AsTaskId`]: the text
//! of an id, or a [`TaskId`]); text that is not 32 lowercase hex digits names no task, so a
//! lookup of it finds nothing, as a lookup of an id nobody made always did.
//!
//! **What it does not do.** It does not make ids (the state does) or check that a stored
//! task's id has this shape ([`crate::state::State::load`] refuses a store with one that does
//! not); and it keeps no index besides the ones it is given to hold.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Bound;
use std::sync::Arc;

use crate::state::TaskRec;

/// A task id: the number its 32 lowercase hex digits spell.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(u128);

impl TaskId {
    /// The id `s` spells when it is 32 lowercase hex digits; any other text names no task.
    pub fn parse(s: &str) -> Option<TaskId> {
        let hex = s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !hex {
            return None;
        }
        u128::from_str_radix(s, 16).ok().map(TaskId)
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// What names a task in a lookup: an id's text, or a [`TaskId`] (by value or reference).
pub trait AsTaskId {
    /// The id named, `None` when the text cannot be a task's id.
    fn task_id(&self) -> Option<TaskId>;
}

impl AsTaskId for TaskId {
    fn task_id(&self) -> Option<TaskId> {
        Some(*self)
    }
}

impl AsTaskId for &TaskId {
    fn task_id(&self) -> Option<TaskId> {
        Some(**self)
    }
}

impl AsTaskId for &str {
    fn task_id(&self) -> Option<TaskId> {
        TaskId::parse(self)
    }
}

impl AsTaskId for &String {
    fn task_id(&self) -> Option<TaskId> {
        TaskId::parse(self)
    }
}

/// A cluster's tasks by id, in id order.
#[derive(Debug, Clone, Default)]
pub struct Tasks(BTreeMap<TaskId, Arc<TaskRec>>);

impl Tasks {
    /// The task `id` names.
    pub fn get<K: AsTaskId>(&self, id: K) -> Option<&Arc<TaskRec>> {
        self.0.get(&id.task_id()?)
    }

    /// The task `id` names, to change.
    pub fn get_mut<K: AsTaskId>(&mut self, id: K) -> Option<&mut Arc<TaskRec>> {
        self.0.get_mut(&id.task_id()?)
    }

    /// Whether `id` names a task here.
    pub fn contains_key<K: AsTaskId>(&self, id: K) -> bool {
        id.task_id().is_some_and(|k| self.0.contains_key(&k))
    }

    /// Adds (or replaces) the task under `id`.
    pub fn insert(&mut self, id: TaskId, t: Arc<TaskRec>) -> Option<Arc<TaskRec>> {
        self.0.insert(id, t)
    }

    /// Removes the task `id` names.
    pub fn remove<K: AsTaskId>(&mut self, id: K) -> Option<Arc<TaskRec>> {
        self.0.remove(&id.task_id()?)
    }

    /// The tasks with their ids, in id order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (TaskId, &Arc<TaskRec>)> + '_ {
        self.0.iter().map(|(k, t)| (*k, t))
    }

    /// The tasks, in id order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Arc<TaskRec>> + '_ {
        self.0.values()
    }

    /// The ids, in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = TaskId> + '_ {
        self.0.keys().copied()
    }

    /// How many tasks.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A set of task ids, in id order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskIds(BTreeSet<TaskId>);

impl TaskIds {
    /// Adds `id`; whether it was not there.
    pub fn insert(&mut self, id: TaskId) -> bool {
        self.0.insert(id)
    }

    /// Removes what `id` names; whether it was there.
    pub fn remove<K: AsTaskId>(&mut self, id: K) -> bool {
        id.task_id().is_some_and(|k| self.0.remove(&k))
    }

    /// Whether `id` names an id in the set.
    pub fn contains<K: AsTaskId>(&self, id: K) -> bool {
        id.task_id().is_some_and(|k| self.0.contains(&k))
    }

    /// The ids in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = TaskId> + '_ {
        self.0.iter().copied()
    }

    /// The ids that sort after the text `after` (a page token's last id), in order.
    pub fn after<'a>(&'a self, after: &'a str) -> Box<dyn Iterator<Item = TaskId> + 'a> {
        match TaskId::parse(after) {
            Some(k) => Box::new(
                self.0
                    .range((Bound::Excluded(k), Bound::Unbounded))
                    .copied(),
            ),
            // Not an id: the ids after it are those whose text sorts after it.
            None => Box::new(self.iter().filter(move |k| k.to_string().as_str() > after)),
        }
    }

    /// How many ids.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a TaskIds {
    type Item = TaskId;
    type IntoIter = std::iter::Copied<std::collections::btree_set::Iter<'a, TaskId>>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().copied()
    }
}

impl IntoIterator for TaskIds {
    type Item = TaskId;
    type IntoIter = std::collections::btree_set::IntoIter<TaskId>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl Extend<TaskId> for TaskIds {
    fn extend<I: IntoIterator<Item = TaskId>>(&mut self, iter: I) {
        self.0.extend(iter);
    }
}

impl FromIterator<TaskId> for TaskIds {
    fn from_iter<I: IntoIterator<Item = TaskId>>(iter: I) -> Self {
        TaskIds(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_order_as_their_text_and_print_back() {
        let texts = [
            "00000000000000000000000000000000",
            "0123456789abcdef0123456789abcdef",
            "0123456789abcdf00000000000000000",
            "ffffffffffffffffffffffffffffffff",
        ];
        let ids: Vec<TaskId> = texts.iter().map(|t| TaskId::parse(t).unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        for (id, text) in ids.iter().zip(texts) {
            assert_eq!(id.to_string(), text);
        }
    }

    #[test]
    fn text_that_is_not_an_id_names_no_task() {
        for bad in [
            "",
            "short",
            "0123456789ABCDEF0123456789abcdef",
            "0123456789abcdef0123456789abcde",
            "0123456789abcdef0123456789abcdef0",
            "+123456789abcdef0123456789abcdef",
            "0123456789abcdef0123456789abcdeg",
        ] {
            assert_eq!(TaskId::parse(bad), None, "{bad}");
        }
        let mut set = TaskIds::default();
        set.insert(TaskId::parse("0123456789abcdef0123456789abcdef").unwrap());
        assert!(!set.contains("short"));
        assert!(!set.remove("short"));
        assert!(set.contains("0123456789abcdef0123456789abcdef"));
    }

    #[test]
    fn after_a_page_token_continues_in_text_order() {
        let ids: TaskIds = ["1", "5", "a"]
            .iter()
            .map(|d| TaskId::parse(&d.repeat(32)).unwrap())
            .collect();
        let after = |t: &str| ids.after(t).map(|k| k.to_string()).collect::<Vec<_>>();
        assert_eq!(after(&"1".repeat(32)), ["5".repeat(32), "a".repeat(32)]);
        assert_eq!(after(&"a".repeat(32)), Vec::<String>::new());
        // A token that is not an id still continues where its text sorts.
        assert_eq!(after("2"), ["5".repeat(32), "a".repeat(32)]);
        assert_eq!(after(""), ["1".repeat(32), "5".repeat(32), "a".repeat(32)]);
    }
}
