//! The change stream's reducer: a batch of changes from `/_berth/events` becomes the smallest set
//! of API calls that brings what the page holds up to date (DescribeTasks for the changed tasks of
//! a loaded cluster, DescribeServices for changed services …), so one task's change touches one
//! row and no view polls.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

/// One change, as the server sends it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Change {
    /// `cluster`, `service`, `task`, `instance`, `taskdef`, `scaling`, `logs`.
    pub kind: String,
    /// The cluster, when the thing lives in one.
    #[serde(default)]
    pub cluster: Option<String>,
    /// The thing's name or id.
    #[serde(default)]
    pub name: String,
}

/// A `changes` event's data.
#[derive(Debug, Clone, Deserialize)]
pub struct Batch {
    /// The changes, oldest first.
    pub changes: Vec<Change>,
}

/// What to refetch for one cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterWork {
    /// Task ids to describe.
    pub tasks: BTreeSet<String>,
    /// Service names to describe.
    pub services: BTreeSet<String>,
    /// Container instance ids to describe.
    pub instances: BTreeSet<String>,
}

/// The refetch plan for a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Clusters whose summary (counts) may have changed.
    pub clusters: BTreeSet<String>,
    /// Per-cluster work.
    pub per_cluster: BTreeMap<String, ClusterWork>,
    /// Task-definition families whose revisions changed.
    pub families: BTreeSet<String>,
    /// Whether any CloudWatch Logs group or stream changed (open log views fetch what is new).
    pub logs: bool,
    /// Whether any Application Auto Scaling target, policy or action changed.
    pub scaling: bool,
}

impl Plan {
    /// Plans the refetches for a batch. Any change inside a cluster may move its counts, so the
    /// cluster's summary is refetched too.
    pub fn of(changes: &[Change]) -> Plan {
        let mut plan = Plan::default();
        for c in changes {
            let cluster = c.cluster.clone().filter(|c| !c.is_empty());
            match (c.kind.as_str(), cluster) {
                ("cluster", _) => {
                    plan.clusters.insert(c.name.clone());
                }
                ("task", Some(cl)) => {
                    plan.clusters.insert(cl.clone());
                    plan.per_cluster
                        .entry(cl)
                        .or_default()
                        .tasks
                        .insert(c.name.clone());
                }
                ("service", Some(cl)) => {
                    plan.clusters.insert(cl.clone());
                    plan.per_cluster
                        .entry(cl)
                        .or_default()
                        .services
                        .insert(c.name.clone());
                }
                ("instance", Some(cl)) => {
                    plan.clusters.insert(cl.clone());
                    plan.per_cluster
                        .entry(cl)
                        .or_default()
                        .instances
                        .insert(c.name.clone());
                }
                ("logs", _) => plan.logs = true,
                ("scaling", _) => plan.scaling = true,
                ("taskdef", _) => {
                    let family = c.name.rsplit_once(':').map_or(c.name.as_str(), |(f, _)| f);
                    plan.families.insert(family.to_string());
                }
                _ => {}
            }
        }
        plan
    }
}

/// Splits ids into the batches an API call takes (`DescribeTasks` 100, `DescribeServices` 10).
pub fn chunks<T: Clone>(items: &[T], size: usize) -> Vec<Vec<T>> {
    items.chunks(size.max(1)).map(<[T]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(kind: &str, cluster: Option<&str>, name: &str) -> Change {
        Change {
            kind: kind.into(),
            cluster: cluster.map(str::to_string),
            name: name.into(),
        }
    }

    #[test]
    fn groups_by_cluster_and_dedupes() {
        let plan = Plan::of(&[
            ch("task", Some("default"), "t1"),
            ch("task", Some("default"), "t1"),
            ch("task", Some("default"), "t2"),
            ch("service", Some("default"), "web"),
            ch("instance", Some("other"), "i1"),
            ch("cluster", None, "new"),
            ch("taskdef", None, "web:3"),
            ch("logs", None, "/ecs/web"),
        ]);
        let d = &plan.per_cluster["default"];
        assert_eq!(d.tasks.len(), 2);
        assert_eq!(d.services.iter().collect::<Vec<_>>(), ["web"]);
        assert_eq!(plan.per_cluster["other"].instances.len(), 1);
        assert_eq!(
            plan.clusters.iter().collect::<Vec<_>>(),
            ["default", "new", "other"]
        );
        assert_eq!(plan.families.iter().collect::<Vec<_>>(), ["web"]);
    }

    #[test]
    fn parses_the_wire_batch() {
        let b: Batch = serde_json::from_str(
            r#"{"changes":[{"kind":"task","cluster":"default","name":"abc"},{"kind":"taskdef","name":"web:1"}]}"#,
        )
        .unwrap();
        assert_eq!(b.changes.len(), 2);
        assert_eq!(b.changes[1].cluster, None);
    }

    #[test]
    fn chunking() {
        let ids: Vec<u32> = (0..250).collect();
        let c = chunks(&ids, 100);
        assert_eq!(c.iter().map(Vec::len).collect::<Vec<_>>(), [100, 100, 50]);
        assert!(chunks::<u32>(&[], 100).is_empty());
    }
}
