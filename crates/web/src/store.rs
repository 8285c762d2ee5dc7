//! What the dashboard holds: keyed collections of ECS objects (clusters, services, tasks,
//! container instances, task-definition families), each row behind its own signal so that a
//! change to one task re-renders one row. Loaders list then describe through [`crate::api`];
//! [`apply`] brings loaded collections up to date from a change-stream batch. Nothing here
//! renders.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};

use crate::wire as w;
use leptos::prelude::*;
use serde_json::{Value, json};

use crate::api::{self, ApiError};
use crate::logic::feed::{Plan, chunks};
use crate::logic::fmt::last_segment;

/// Where a collection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Load {
    /// Not asked for yet.
    Idle,
    /// The first load is running.
    Loading,
    /// Loaded (and kept up to date by the change stream).
    Ready,
    /// The load failed with this message.
    Failed(String),
}

/// One row: a stable key and the object behind its own signal.
#[derive(Clone)]
pub struct Row<T: Send + Sync + 'static> {
    /// The key (`data-key`).
    pub key: Arc<str>,
    /// The object.
    pub data: ArcRwSignal<T>,
}

/// A keyed collection.
#[derive(Clone)]
pub struct Rows<T: Send + Sync + 'static> {
    /// The rows, in load order.
    pub list: ArcRwSignal<Vec<Row<T>>>,
    /// Load state.
    pub state: ArcRwSignal<Load>,
}

impl<T: Clone + PartialEq + Send + Sync + 'static> Default for Rows<T> {
    fn default() -> Self {
        Rows {
            list: ArcRwSignal::new(Vec::new()),
            state: ArcRwSignal::new(Load::Idle),
        }
    }
}

impl<T: Clone + PartialEq + Send + Sync + 'static> Rows<T> {
    /// Inserts or updates one row; an update touches only that row's signal.
    pub fn upsert(&self, key: &str, value: T) {
        let existing = self
            .list
            .with_untracked(|l| l.iter().find(|r| &*r.key == key).map(|r| r.data.clone()));
        match existing {
            Some(data) => {
                if data.with_untracked(|d| d != &value) {
                    data.set(value);
                }
            }
            None => self.list.update(|l| {
                l.push(Row {
                    key: key.into(),
                    data: ArcRwSignal::new(value),
                })
            }),
        }
    }

    /// Removes a row.
    pub fn remove(&self, key: &str) {
        if self
            .list
            .with_untracked(|l| l.iter().any(|r| &*r.key == key))
        {
            self.list.update(|l| l.retain(|r| &*r.key != key));
        }
    }

    /// Replaces the whole collection, keeping the signals of rows that stay.
    pub fn replace_all(&self, items: Vec<(String, T)>) {
        let mut old: HashMap<Arc<str>, ArcRwSignal<T>> = self
            .list
            .with_untracked(|l| l.iter().map(|r| (r.key.clone(), r.data.clone())).collect());
        let rows: Vec<Row<T>> = items
            .into_iter()
            .map(|(k, v)| match old.remove_entry(k.as_str()) {
                Some((key, data)) => {
                    if data.with_untracked(|d| d != &v) {
                        data.set(v);
                    }
                    Row { key, data }
                }
                None => Row {
                    key: k.into(),
                    data: ArcRwSignal::new(v),
                },
            })
            .collect();
        self.list.set(rows);
        self.state.set(Load::Ready);
    }

    /// The row with this key.
    pub fn get(&self, key: &str) -> Option<Row<T>> {
        self.list
            .with(|l| l.iter().find(|r| &*r.key == key).cloned())
    }

    fn loaded(&self) -> bool {
        self.state.with_untracked(|s| *s == Load::Ready)
    }
}

/// Everything the dashboard has loaded.
#[derive(Default)]
pub struct Store {
    /// Clusters by name.
    pub clusters: Rows<w::Cluster>,
    services: Mutex<HashMap<String, Rows<w::Service>>>,
    tasks: Mutex<HashMap<String, Rows<w::Task>>>,
    instances: Mutex<HashMap<String, Rows<w::ContainerInstance>>>,
    /// Task-definition families (name → status).
    pub families: Rows<String>,
    revisions: Mutex<HashMap<String, Rows<Revision>>>,
}

/// One revision in a family's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// Its ARN.
    pub arn: String,
    /// The number.
    pub revision: u32,
    /// `ACTIVE` or `INACTIVE`.
    pub status: String,
}

/// Counters bumped when the change stream says something changed that no collection holds: the
/// views that show it (logs, scaling) track them and fetch what is new.
#[derive(Clone, Copy)]
pub struct Ticks {
    /// CloudWatch Logs groups and streams.
    pub logs: RwSignal<u64>,
    /// Application Auto Scaling.
    pub scaling: RwSignal<u64>,
}

/// The tab's [`Ticks`].
pub fn ticks() -> Ticks {
    static S: OnceLock<Ticks> = OnceLock::new();
    *S.get_or_init(|| {
        crate::global(|| Ticks {
            logs: RwSignal::new(0),
            scaling: RwSignal::new(0),
        })
    })
}

/// The one store of this tab.
pub fn store() -> &'static Store {
    static STORE: OnceLock<Store> = OnceLock::new();
    STORE.get_or_init(Store::default)
}

fn rows_of<T: Clone + PartialEq + Send + Sync + 'static>(
    map: &Mutex<HashMap<String, Rows<T>>>,
    key: &str,
) -> Rows<T> {
    map.lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(key.to_string())
        .or_default()
        .clone()
}

impl Store {
    /// The services of a cluster (loading them the first time).
    pub fn services(&self, cluster: &str) -> Rows<w::Service> {
        let rows = rows_of(&self.services, cluster);
        if rows.state.get_untracked() == Load::Idle {
            let (r, c) = (rows.clone(), cluster.to_string());
            leptos::task::spawn_local(async move { load(&r, load_services(&c).await) });
        }
        rows
    }

    /// The tasks of a cluster, running and stopped (loading them the first time).
    pub fn tasks(&self, cluster: &str) -> Rows<w::Task> {
        let rows = rows_of(&self.tasks, cluster);
        if rows.state.get_untracked() == Load::Idle {
            let (r, c) = (rows.clone(), cluster.to_string());
            leptos::task::spawn_local(async move {
                let loaded = load_tasks(&c).await;
                // Marks for the benchmark: data parsed → rows in the DOM (the next frame comes
                // after Leptos has applied the change).
                mark("berth:tasks-data");
                load(&r, loaded);
                request_animation_frame(|| {
                    mark("berth:tasks-rendered");
                    if let Some(p) = window().performance() {
                        let _ = p.measure_with_start_mark_and_end_mark(
                            "berth:tasks-render",
                            "berth:tasks-data",
                            "berth:tasks-rendered",
                        );
                    }
                });
            });
        }
        rows
    }

    /// The container instances of a cluster (loading them the first time).
    pub fn instances(&self, cluster: &str) -> Rows<w::ContainerInstance> {
        let rows = rows_of(&self.instances, cluster);
        if rows.state.get_untracked() == Load::Idle {
            let (r, c) = (rows.clone(), cluster.to_string());
            leptos::task::spawn_local(async move { load(&r, load_instances(&c).await) });
        }
        rows
    }

    /// The clusters (loading them the first time).
    pub fn clusters(&self) -> Rows<w::Cluster> {
        let rows = self.clusters.clone();
        if rows.state.get_untracked() == Load::Idle {
            let r = rows.clone();
            leptos::task::spawn_local(async move { load(&r, load_clusters().await) });
        }
        rows
    }

    /// The task-definition families (loading them the first time).
    pub fn families(&self) -> Rows<String> {
        let rows = self.families.clone();
        if rows.state.get_untracked() == Load::Idle {
            let r = rows.clone();
            leptos::task::spawn_local(async move { load(&r, load_families().await) });
        }
        rows
    }

    /// A family's revisions, newest first (loading them the first time).
    pub fn revisions(&self, family: &str) -> Rows<Revision> {
        let rows = rows_of(&self.revisions, family);
        if rows.state.get_untracked() == Load::Idle {
            let (r, f) = (rows.clone(), family.to_string());
            leptos::task::spawn_local(async move { load(&r, load_revisions(&f).await) });
        }
        rows
    }

    /// Forgets everything and reloads what was loaded (after a `resync`).
    pub fn resync(&self) {
        reload(&self.clusters, load_clusters());
        reload(&self.families, load_families());
        for (c, rows) in snapshot(&self.services) {
            reload(&rows, async move { load_services(&c).await });
        }
        for (c, rows) in snapshot(&self.tasks) {
            reload(&rows, async move { load_tasks(&c).await });
        }
        for (c, rows) in snapshot(&self.instances) {
            reload(&rows, async move { load_instances(&c).await });
        }
        for (f, rows) in snapshot(&self.revisions) {
            reload(&rows, async move { load_revisions(&f).await });
        }
    }
}

fn mark(name: &str) {
    if let Some(p) = window().performance() {
        let _ = p.mark(name);
    }
}

fn snapshot<T: Clone + PartialEq + Send + Sync + 'static>(
    map: &Mutex<HashMap<String, Rows<T>>>,
) -> Vec<(String, Rows<T>)> {
    map.lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|(_, r)| r.loaded())
        .map(|(k, r)| (k.clone(), r.clone()))
        .collect()
}

fn reload<T, F>(rows: &Rows<T>, fut: F)
where
    T: Clone + PartialEq + Send + Sync + 'static,
    F: Future<Output = Result<Vec<(String, T)>, ApiError>> + 'static,
{
    if !rows.loaded() {
        return;
    }
    let rows = rows.clone();
    leptos::task::spawn_local(async move {
        if let Ok(items) = fut.await {
            rows.replace_all(items);
        }
    });
}

fn load<T: Clone + PartialEq + Send + Sync + 'static>(
    rows: &Rows<T>,
    result: Result<Vec<(String, T)>, ApiError>,
) {
    match result {
        Ok(items) => rows.replace_all(items),
        Err(e) => rows.state.set(Load::Failed(e.to_string())),
    }
}

/// Runs a paginated list action, collecting `member` across pages.
pub async fn list_all(action: &str, body: Value, member: &str) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut b = body.clone();
        if let Some(t) = &token {
            b["nextToken"] = json!(t);
        }
        let v = api::ecs_json(action, b).await?;
        if let Some(items) = v.get(member).and_then(Value::as_array) {
            out.extend(items.iter().filter_map(|s| s.as_str().map(str::to_string)));
        }
        token = v
            .get("nextToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            return Ok(out);
        }
    }
}

async fn load_clusters() -> Result<Vec<(String, w::Cluster)>, ApiError> {
    let arns = list_all("ListClusters", json!({"maxResults": 100}), "clusterArns").await?;
    describe_clusters(&arns).await
}

async fn describe_clusters(names: &[String]) -> Result<Vec<(String, w::Cluster)>, ApiError> {
    let mut out = Vec::new();
    for chunk in chunks(names, 100) {
        let r: w::DescribeClustersResponse = api::ecs(
            "DescribeClusters",
            &json!({"clusters": chunk, "include": ["STATISTICS"]}),
        )
        .await?;
        for c in r.clusters.unwrap_or_default() {
            let name = c.cluster_name.clone().unwrap_or_default();
            out.push((name, c));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

async fn load_services(cluster: &str) -> Result<Vec<(String, w::Service)>, ApiError> {
    let arns = list_all(
        "ListServices",
        json!({"cluster": cluster, "maxResults": 100}),
        "serviceArns",
    )
    .await?;
    describe_services(cluster, &arns).await
}

async fn describe_services(
    cluster: &str,
    names: &[String],
) -> Result<Vec<(String, w::Service)>, ApiError> {
    let mut out = Vec::new();
    for chunk in chunks(names, 10) {
        let r: w::DescribeServicesResponse = api::ecs(
            "DescribeServices",
            &json!({"cluster": cluster, "services": chunk}),
        )
        .await?;
        for s in r.services.unwrap_or_default() {
            out.push((s.service_name.clone().unwrap_or_default(), s));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

async fn load_tasks(cluster: &str) -> Result<Vec<(String, w::Task)>, ApiError> {
    let mut out = Vec::new();
    for status in ["RUNNING", "STOPPED"] {
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({"cluster": cluster, "desiredStatus": status, "maxResults": 100});
            if let Some(t) = &token {
                body["nextToken"] = json!(t);
            }
            let page = api::ecs_json("ListTasks", body).await?;
            let arns: Vec<String> = page["taskArns"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect();
            if !arns.is_empty() {
                out.extend(describe_tasks(cluster, &arns).await?.0);
            }
            token = page["nextToken"]
                .as_str()
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if token.is_none() {
                break;
            }
        }
    }
    Ok(out)
}

/// Found tasks and the ids ECS reported missing.
async fn describe_tasks(
    cluster: &str,
    ids: &[String],
) -> Result<(Vec<(String, w::Task)>, Vec<String>), ApiError> {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for chunk in chunks(ids, 100) {
        let r: w::DescribeTasksResponse = api::ecs(
            "DescribeTasks",
            &json!({"cluster": cluster, "tasks": chunk}),
        )
        .await?;
        for t in r.tasks.unwrap_or_default() {
            let id = last_segment(t.task_arn.as_deref().unwrap_or_default()).to_string();
            found.push((id, t));
        }
        for f in r.failures.unwrap_or_default() {
            if let Some(arn) = f.arn {
                missing.push(last_segment(&arn).to_string());
            }
        }
    }
    Ok((found, missing))
}

async fn load_instances(cluster: &str) -> Result<Vec<(String, w::ContainerInstance)>, ApiError> {
    let arns = list_all(
        "ListContainerInstances",
        json!({"cluster": cluster, "maxResults": 100}),
        "containerInstanceArns",
    )
    .await?;
    describe_instances(cluster, &arns).await
}

async fn describe_instances(
    cluster: &str,
    ids: &[String],
) -> Result<Vec<(String, w::ContainerInstance)>, ApiError> {
    let mut out = Vec::new();
    for chunk in chunks(ids, 100) {
        let r: w::DescribeContainerInstancesResponse = api::ecs(
            "DescribeContainerInstances",
            &json!({"cluster": cluster, "containerInstances": chunk}),
        )
        .await?;
        for i in r.container_instances.unwrap_or_default() {
            let id =
                last_segment(i.container_instance_arn.as_deref().unwrap_or_default()).to_string();
            out.push((id, i));
        }
    }
    Ok(out)
}

async fn load_families() -> Result<Vec<(String, String)>, ApiError> {
    let mut out = Vec::new();
    for status in ["ACTIVE", "INACTIVE"] {
        let names = list_all(
            "ListTaskDefinitionFamilies",
            json!({"status": status, "maxResults": 100}),
            "families",
        )
        .await?;
        for n in names {
            if !out.iter().any(|(k, _): &(String, String)| k == &n) {
                out.push((n, status.to_string()));
            }
        }
    }
    out.sort();
    Ok(out)
}

async fn load_revisions(family: &str) -> Result<Vec<(String, Revision)>, ApiError> {
    let mut out = Vec::new();
    for status in ["ACTIVE", "INACTIVE"] {
        let arns = list_all(
            "ListTaskDefinitions",
            json!({"familyPrefix": family, "status": status, "maxResults": 100, "sort": "DESC"}),
            "taskDefinitionArns",
        )
        .await?;
        for arn in arns {
            if crate::logic::fmt::family_of(&arn) != family {
                continue;
            }
            let revision = crate::logic::fmt::revision_number(&arn).unwrap_or(0);
            out.push((
                revision.to_string(),
                Revision {
                    arn,
                    revision,
                    status: status.to_string(),
                },
            ));
        }
    }
    out.sort_by_key(|r| std::cmp::Reverse(r.1.revision));
    Ok(out)
}

/// Brings loaded collections up to date with one change-stream batch.
pub async fn apply(plan: Plan) {
    let s = store();
    if plan.logs {
        ticks().logs.update(|n| *n += 1);
    }
    if plan.scaling {
        ticks().scaling.update(|n| *n += 1);
    }
    if s.clusters.loaded() && !plan.clusters.is_empty() {
        let names: Vec<String> = plan.clusters.iter().cloned().collect();
        if let Ok(found) = describe_clusters(&names).await {
            for name in &names {
                match found.iter().find(|(n, _)| n == name) {
                    Some((_, c)) if c.status.as_deref() != Some("INACTIVE") => {
                        s.clusters.upsert(name, c.clone())
                    }
                    _ => s.clusters.remove(name),
                }
            }
        }
    }
    for (cluster, work) in &plan.per_cluster {
        let tasks = rows_of(&s.tasks, cluster);
        if tasks.loaded() && !work.tasks.is_empty() {
            let ids: Vec<String> = work.tasks.iter().cloned().collect();
            if let Ok((found, missing)) = describe_tasks(cluster, &ids).await {
                for (id, t) in found {
                    tasks.upsert(&id, t);
                }
                for id in missing {
                    tasks.remove(&id);
                }
            }
        }
        let services = rows_of(&s.services, cluster);
        if services.loaded() && !work.services.is_empty() {
            let names: Vec<String> = work.services.iter().cloned().collect();
            if let Ok(found) = describe_services(cluster, &names).await {
                for name in &names {
                    match found.iter().find(|(n, _)| n == name) {
                        Some((_, svc)) if svc.status.as_deref() != Some("INACTIVE") => {
                            services.upsert(name, svc.clone())
                        }
                        _ => services.remove(name),
                    }
                }
            }
        }
        let instances = rows_of(&s.instances, cluster);
        if instances.loaded() && !work.instances.is_empty() {
            let ids: Vec<String> = work.instances.iter().cloned().collect();
            if let Ok(found) = describe_instances(cluster, &ids).await {
                for id in &ids {
                    match found.iter().find(|(n, _)| n == id) {
                        Some((_, i)) => instances.upsert(id, i.clone()),
                        None => instances.remove(id),
                    }
                }
            }
        }
    }
    if !plan.families.is_empty() {
        reload(&s.families, load_families());
        for f in &plan.families {
            let rows = rows_of(&s.revisions, f);
            let family = f.clone();
            reload(&rows, async move { load_revisions(&family).await });
        }
    }
}
