//! CloudWatch metrics of the local cluster: the utilisation series the simulated runtime
//! generates, the datapoints users and tests push, and one function ([`series`]) that answers
//! "what is this metric, minute by minute" for `GetMetricData`, `GetMetricStatistics` and the
//! target-tracking policies alike — so a chart, the CLI and the scaler can never disagree.
//!
//! **What is generated.** One datapoint per minute, for complete minutes only (a minute's value
//! never changes once it is served):
//!
//! | namespace | metric | dimensions | unit |
//! | --- | --- | --- | --- |
//! | `AWS/ECS` | `CPUUtilization`, `MemoryUtilization` | `ClusterName`, `ServiceName` | Percent |
//! | `AWS/ECS` | `CPUUtilization`, `MemoryUtilization` | `ClusterName` | Percent |
//! | `ECS/ContainerInsights` | `TaskCpuUtilization`, `TaskMemoryUtilization` | `ClusterName`, `TaskDefinitionFamily`, `TaskId` | Percent |
//! | `ECS/ContainerInsights` | `CpuUtilized` (CPU units), `MemoryUtilized` (MiB) | `ClusterName`, `TaskDefinitionFamily`, `TaskId` | None, Megabytes |
//!
//! The per-task metrics are those of Container Insights with enhanced observability, which real
//! ECS publishes only when the cluster's `containerInsights` setting is `enhanced`; the local
//! cluster serves them always. A minute's statistic set is taken over the tasks that ran during
//! it (`startedAt` before the minute's end, not `stoppedAt` before its start), as ECS publishes
//! it: `SampleCount` is the number of tasks, `Average` their mean, `Minimum`/`Maximum` the
//! extremes, `Sum` their sum. The cluster metric covers every task of the cluster. A minute with
//! no running task has no datapoint. History reaches back as far as the stopped tasks are kept
//! (the cluster's retention).
//!
//! **The formula** (deterministic in the cluster's seed, cluster, group and minute). A task's
//! group is its service, or `family:<family>` for a task started by RunTask. With `k` a hash of
//! (seed, cluster, group), `u_i = unit(k, i)` uniform numbers in [0, 1) and `t` the minute index:
//!
//! ```text
//! base   = 12 + 33·u1                     (% CPU per task at the reference count: 12–45)
//! shape  = 1 + 0.35·sin(2πt/1440 + 2πu2) + 0.15·sin(2πt/97 + 2πu3) + 0.06·sin(2πt/11 + 2πu4)
//!            + 0.08·(unit(k, t) − ½)       (a day cycle, slower and faster waves, noise)
//! demand = base · n_ref · shape             (n_ref: the service's desired count at creation; 1)
//! cpu    = clamp(demand / n(t) · (1 + 0.1·(unit(task, t) − ½)), 0.1, 100)
//! memory = clamp(18 + 27·u5 + 0.2·cpu + 3·sin(2πt/720 + 2πu6) + 2·(unit(task, t, 1) − ½), 1, 100)
//! ```
//!
//! where `n(t)` is how many tasks of the group ran during minute `t`: the load is shared, so
//! scaling a service out lowers each task's CPU, as it would for real traffic. At the reference
//! count CPU stays within about 5–72 % and memory within 18–65 %. Values are rounded to 0.01.
//!
//! **What is pushed.** `PutMetricData` (any namespace, including `AWS/ECS`: real CloudWatch
//! reserves `AWS/` namespaces; the local cluster lets users and tests pin the generated metrics)
//! and the test-control `/_berth/metric` store statistic sets per minute. A minute with pushed
//! data answers the pushed data instead of the generated value. Pushed data is durable: one
//! record per metric and UTC day (`metric/<day>/<metric>`), in the same redb table as the rest
//! of the cluster, so a push rewrites at most one day of one metric; minutes older than
//! [`RETENTION_SECS`] (CloudWatch's 15 days for 1-minute data) are purged. High-resolution
//! datapoints (`StorageResolution` 1) are kept at 1-minute resolution.

use std::collections::{BTreeMap, BTreeSet};
use std::f64::consts::TAU;

use serde::{Deserialize, Serialize};

use crate::state::{ClusterRec, Key, State, TaskRec};

/// The namespace of ECS's own metrics.
pub const ECS_NAMESPACE: &str = "AWS/ECS";
/// The namespace of Container Insights.
pub const INSIGHTS_NAMESPACE: &str = "ECS/ContainerInsights";
/// `AWS/ECS` CPU utilisation.
pub const CPU: &str = "CPUUtilization";
/// `AWS/ECS` memory utilisation.
pub const MEMORY: &str = "MemoryUtilization";
/// How long pushed 1-minute data is kept (CloudWatch: 15 days).
pub const RETENTION_SECS: i64 = 15 * 86_400;
/// Seconds in a day (pushed data is stored per metric and UTC day).
pub const DAY_SECS: i64 = 86_400;

/// A metric's identity: namespace, name and dimensions (sorted by name; a metric is identified
/// by exactly these, as in CloudWatch).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MetricId {
    /// `Namespace`.
    pub namespace: String,
    /// `MetricName`.
    pub name: String,
    /// `Dimensions` as (name, value), sorted by name.
    pub dimensions: Vec<(String, String)>,
}

impl MetricId {
    /// A metric; dimensions are sorted by name.
    ///
    /// ```
    /// use berth_cluster::metrics::MetricId;
    /// let a = MetricId::new("AWS/ECS", "CPUUtilization", [("ServiceName", "web"), ("ClusterName", "default")]);
    /// assert_eq!(a.dimensions[0].0, "ClusterName");
    /// assert_eq!(a.dim("ServiceName"), Some("web"));
    /// ```
    pub fn new<N: Into<String>, V: Into<String>>(
        namespace: &str,
        name: &str,
        dimensions: impl IntoIterator<Item = (N, V)>,
    ) -> Self {
        let mut dimensions: Vec<(String, String)> = dimensions
            .into_iter()
            .map(|(n, v)| (n.into(), v.into()))
            .collect();
        dimensions.sort();
        MetricId {
            namespace: namespace.into(),
            name: name.into(),
            dimensions,
        }
    }

    /// The value of a dimension.
    pub fn dim(&self, name: &str) -> Option<&str> {
        self.dimensions
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn dim_names(&self) -> Vec<&str> {
        self.dimensions.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The canonical text of the identity (part of the store key).
    pub fn key(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A statistic set: what CloudWatch keeps per metric and period.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// `SampleCount`.
    pub count: f64,
    /// `Sum`.
    pub sum: f64,
    /// `Minimum`.
    pub min: f64,
    /// `Maximum`.
    pub max: f64,
}

impl Stats {
    /// One sample.
    pub fn one(v: f64) -> Self {
        Stats {
            count: 1.0,
            sum: v,
            min: v,
            max: v,
        }
    }

    /// Adds another set's samples.
    pub fn merge(&mut self, o: &Stats) {
        self.count += o.count;
        self.sum += o.sum;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
    }

    /// One statistic of the set.
    pub fn get(&self, s: Statistic) -> f64 {
        match s {
            Statistic::Average if self.count > 0.0 => self.sum / self.count,
            Statistic::Average => 0.0,
            Statistic::Sum => self.sum,
            Statistic::Minimum => self.min,
            Statistic::Maximum => self.max,
            Statistic::SampleCount => self.count,
        }
    }
}

/// The five statistics CloudWatch computes from statistic sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Statistic {
    /// `Average`.
    Average,
    /// `Sum`.
    Sum,
    /// `Minimum`.
    Minimum,
    /// `Maximum`.
    Maximum,
    /// `SampleCount`.
    SampleCount,
}

impl Statistic {
    /// Every statistic, as the model's `Statistic` enum lists them.
    pub const ALL: [Statistic; 5] = [
        Statistic::SampleCount,
        Statistic::Average,
        Statistic::Sum,
        Statistic::Minimum,
        Statistic::Maximum,
    ];

    /// The statistic a name (`Average` …) names.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Statistic::Average => "Average",
            Statistic::Sum => "Sum",
            Statistic::Minimum => "Minimum",
            Statistic::Maximum => "Maximum",
            Statistic::SampleCount => "SampleCount",
        }
    }
}

/// The pushed datapoints of one metric.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pushed {
    /// The unit of the latest push (`None` when never given).
    pub unit: Option<String>,
    /// Statistic sets by minute (epoch seconds of the minute's start).
    pub minutes: BTreeMap<i64, Stats>,
}

/// Every pushed metric.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    /// Pushed data by metric.
    pub pushed: BTreeMap<MetricId, Pushed>,
    /// Whether utilisation is measured (a runtime with real containers records it through
    /// [`record_usage`]) rather than generated by the formula above.
    pub measured: bool,
}

/// The stored form: one metric's minutes of one UTC day.
#[derive(Serialize, Deserialize)]
struct DayRec {
    id: MetricId,
    unit: Option<String>,
    minutes: Vec<(i64, Stats)>,
}

/// The minute (epoch seconds of its start) that contains `secs`.
pub fn minute_of(secs: i64) -> i64 {
    secs.div_euclid(60) * 60
}

impl Metrics {
    /// Stores a statistic set for the minute containing `at` (epoch seconds); `replace` drops
    /// what the minute had (test control), otherwise the samples are added (PutMetricData).
    /// Returns the record key to commit.
    pub fn push(
        &mut self,
        id: &MetricId,
        unit: Option<&str>,
        at: i64,
        stats: Stats,
        replace: bool,
    ) -> Key {
        let m = minute_of(at);
        let p = self.pushed.entry(id.clone()).or_default();
        if let Some(u) = unit {
            p.unit = Some(u.to_string());
        }
        match p.minutes.get_mut(&m) {
            Some(s) if !replace => s.merge(&stats),
            _ => {
                p.minutes.insert(m, stats);
            }
        }
        Key::Metric(m.div_euclid(DAY_SECS), id.key())
    }

    /// The stored form of one metric's day (`None`: nothing left that day).
    pub fn record(&self, day: i64, id_key: &str) -> Option<Vec<u8>> {
        let id: MetricId = serde_json::from_str(id_key).ok()?;
        let p = self.pushed.get(&id)?;
        let minutes: Vec<(i64, Stats)> = p
            .minutes
            .range(day * DAY_SECS..(day + 1) * DAY_SECS)
            .map(|(m, s)| (*m, *s))
            .collect();
        if minutes.is_empty() {
            return None;
        }
        serde_json::to_vec(&DayRec {
            id,
            unit: p.unit.clone(),
            minutes,
        })
        .ok()
    }

    /// Loads a stored day.
    ///
    /// # Errors
    ///
    /// The parse error when the record is not a metric day.
    pub fn load(&mut self, value: &[u8]) -> Result<(), serde_json::Error> {
        let d: DayRec = serde_json::from_slice(value)?;
        let p = self.pushed.entry(d.id).or_default();
        if d.unit.is_some() {
            p.unit = d.unit;
        }
        p.minutes.extend(d.minutes);
        Ok(())
    }

    /// Forgets minutes before `cutoff` (epoch seconds); returns the record keys that changed.
    pub fn purge(&mut self, cutoff: i64) -> Vec<Key> {
        let mut keys = Vec::new();
        for (id, p) in &mut self.pushed {
            let old: BTreeSet<i64> = p
                .minutes
                .range(..cutoff)
                .map(|(m, _)| m.div_euclid(DAY_SECS))
                .collect();
            if old.is_empty() {
                continue;
            }
            p.minutes = p.minutes.split_off(&cutoff);
            keys.extend(old.into_iter().map(|d| Key::Metric(d, id.key())));
        }
        self.pushed.retain(|_, p| !p.minutes.is_empty());
        keys
    }
}

/// A metric the local cluster generates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Cpu,
    Memory,
    CpuUnits,
    MemoryMib,
}

/// What a metric id asks the generator for.
enum Scope<'a> {
    Service(&'a ClusterRec, &'a str),
    Cluster(&'a ClusterRec),
    Task(&'a ClusterRec, &'a TaskRec),
}

/// The unit of a generated metric, `None` when the local cluster does not generate it.
pub fn generated_unit(id: &MetricId) -> Option<&'static str> {
    match (id.namespace.as_str(), id.name.as_str()) {
        (ECS_NAMESPACE, CPU | MEMORY) => Some("Percent"),
        (INSIGHTS_NAMESPACE, "TaskCpuUtilization" | "TaskMemoryUtilization") => Some("Percent"),
        (INSIGHTS_NAMESPACE, "CpuUtilized") => Some("None"),
        (INSIGHTS_NAMESPACE, "MemoryUtilized") => Some("Megabytes"),
        _ => None,
    }
}

fn scope<'a>(st: &'a State, id: &MetricId) -> Option<(Scope<'a>, Kind)> {
    let kind = match (id.namespace.as_str(), id.name.as_str()) {
        (ECS_NAMESPACE, CPU) | (INSIGHTS_NAMESPACE, "TaskCpuUtilization") => Kind::Cpu,
        (ECS_NAMESPACE, MEMORY) | (INSIGHTS_NAMESPACE, "TaskMemoryUtilization") => Kind::Memory,
        (INSIGHTS_NAMESPACE, "CpuUtilized") => Kind::CpuUnits,
        (INSIGHTS_NAMESPACE, "MemoryUtilized") => Kind::MemoryMib,
        _ => return None,
    };
    let c = st.clusters.get(id.dim("ClusterName")?)?;
    let names = id.dim_names();
    if id.namespace == ECS_NAMESPACE {
        return match names.as_slice() {
            ["ClusterName"] => Some((Scope::Cluster(c), kind)),
            ["ClusterName", "ServiceName"] => {
                let (name, _) = c.services.get_key_value(id.dim("ServiceName")?)?;
                Some((Scope::Service(c, name.as_str()), kind))
            }
            _ => None,
        };
    }
    if names != ["ClusterName", "TaskDefinitionFamily", "TaskId"] {
        return None;
    }
    let t = c.tasks.get(id.dim("TaskId")?)?;
    (family(t) == id.dim("TaskDefinitionFamily")?).then_some((Scope::Task(c, t), kind))
}

/// The family of a task's task definition.
pub fn family(t: &TaskRec) -> &str {
    let arn = t.task.task_definition_arn.as_deref().unwrap_or_default();
    let tail = arn.rsplit('/').next().unwrap_or(arn);
    tail.rsplit_once(':').map_or(tail, |(f, _)| f)
}

/// The group whose load a task shares: its service, or its family for RunTask tasks.
fn group(t: &TaskRec) -> String {
    match &t.service {
        Some(s) => s.clone(),
        None => format!("family:{}", family(t)),
    }
}

/// When a task ran, in epoch seconds: [startedAt, stoppedAt).
type Interval = (i64, Option<i64>);

/// When a task ran ([`Interval`]); `None` for a task that never started.
fn interval(t: &TaskRec) -> Option<Interval> {
    let secs = |ts: &Option<berth_core::model::Timestamp>| {
        ts.as_ref()
            .and_then(berth_core::model::Timestamp::to_datetime)
            .map(|d| d.timestamp())
    };
    let start = secs(&t.task.started_at)?;
    Some((start, secs(&t.task.stopped_at)))
}

fn runs_in(iv: Interval, m: i64) -> bool {
    iv.0 < m + 60 && iv.1.is_none_or(|s| s > m)
}

/// FNV-1a over the parts (a stable hash: std's hasher may change between Rust releases).
fn fnv(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.iter().chain(&[0xff]) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// SplitMix64's finaliser of `k` mixed with `x`.
fn mix(k: u64, x: u64) -> u64 {
    let mut z = k ^ x.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform number in [0, 1) from `k` and `x`.
fn unit(k: u64, x: u64) -> f64 {
    (mix(k, x) >> 11) as f64 / (1u64 << 53) as f64
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// The per-group part of the formula (see the module docs).
#[derive(Debug, Clone, Copy)]
struct GroupLoad {
    k: u64,
    base: f64,
    mem_base: f64,
    phases: [f64; 4],
    n_ref: f64,
}

impl GroupLoad {
    fn new(seed: u64, cluster: &str, group: &str, n_ref: u32) -> Self {
        let k = fnv(&[&seed.to_le_bytes(), cluster.as_bytes(), group.as_bytes()]);
        let u = |i| unit(k, i);
        GroupLoad {
            k,
            base: 12.0 + 33.0 * u(1),
            mem_base: 18.0 + 27.0 * u(5),
            phases: [TAU * u(2), TAU * u(3), TAU * u(4), TAU * u(6)],
            n_ref: f64::from(n_ref.max(1)),
        }
    }

    /// CPU and memory (%) of one task of the group in minute `m` when `n` tasks ran.
    fn task(&self, task_key: u64, m: i64, n: usize) -> (f64, f64) {
        let t = m.div_euclid(60);
        let tf = t as f64;
        let [p1, p2, p3, p4] = self.phases;
        let shape = 1.0
            + 0.35 * (TAU * tf / 1440.0 + p1).sin()
            + 0.15 * (TAU * tf / 97.0 + p2).sin()
            + 0.06 * (TAU * tf / 11.0 + p3).sin()
            + 0.08 * (unit(self.k, 1000 + t as u64) - 0.5);
        let demand = self.base * self.n_ref * shape;
        let share = demand / n.max(1) as f64;
        let cpu = (share * (1.0 + 0.1 * (unit(task_key, t as u64) - 0.5))).clamp(0.1, 100.0);
        let mem = (self.mem_base
            + 0.2 * cpu
            + 3.0 * (TAU * tf / 720.0 + p4).sin()
            + 2.0 * (unit(task_key ^ 1, t as u64) - 0.5))
            .clamp(1.0, 100.0);
        (round2(cpu), round2(mem))
    }
}

/// A group's load and the tasks of it that matter, with when they ran.
type Group<'a> = (GroupLoad, Vec<(&'a TaskRec, Interval)>);

/// A task's reserved CPU units and memory (MiB), from the task or what it occupies.
fn reserved(t: &TaskRec) -> (f64, f64) {
    let parse = |s: &Option<String>| s.as_deref().and_then(|v| v.parse::<f64>().ok());
    let info = t.info.as_ref().map(|i| i.resources);
    let cpu = parse(&t.task.cpu)
        .or(info.map(|r| f64::from(r.cpu)))
        .unwrap_or(0.0);
    let mem = parse(&t.task.memory)
        .or(info.map(|r| f64::from(r.memory)))
        .unwrap_or(0.0);
    (cpu, mem)
}

/// The reference count of a group: a service's desired count when it was created.
fn n_ref(c: &ClusterRec, group: &str) -> u32 {
    c.services.get(group).map_or(1, |s| {
        s.metric_base
            .unwrap_or(s.service.desired_count.unwrap_or(1))
            .max(1) as u32
    })
}

/// The generated statistic sets of a metric for the complete minutes (`m + 60 <= now`) in
/// [`from`, `to`), by minute; empty for metrics the cluster does not generate.
pub fn generated(
    st: &State,
    seed: u64,
    id: &MetricId,
    from: i64,
    to: i64,
    now: i64,
) -> BTreeMap<i64, Stats> {
    let mut out = BTreeMap::new();
    let Some((scope, kind)) = scope(st, id) else {
        return out;
    };
    let c = match scope {
        Scope::Service(c, _) | Scope::Cluster(c) | Scope::Task(c, _) => c,
    };
    let from = minute_of(from);
    let to = to.min(minute_of(now));
    if from >= to {
        return out;
    }
    // The tasks that decide the values: the scope's own, and for a task its group's (the group's
    // size divides the load).
    let members: Vec<&TaskRec> = match scope {
        Scope::Service(_, s) => c.services[s]
            .tasks
            .iter()
            .filter_map(|id| c.tasks.get(id).map(|t| &**t))
            .collect(),
        Scope::Cluster(_) => c.tasks.values().map(|t| &**t).collect(),
        Scope::Task(_, t) => {
            let g = group(t);
            match &t.service {
                Some(s) => c
                    .services
                    .get(s)
                    .map(|s| {
                        s.tasks
                            .iter()
                            .filter_map(|id| c.tasks.get(id).map(|t| &**t))
                            .collect()
                    })
                    .unwrap_or_else(|| vec![t]),
                None => c
                    .tasks
                    .values()
                    .map(|t| &**t)
                    .filter(|x| group(x) == g)
                    .collect(),
            }
        }
    };
    let mut groups: BTreeMap<String, Group<'_>> = BTreeMap::new();
    for t in members {
        let Some(iv) = interval(t) else { continue };
        if iv.0 >= to || iv.1.is_some_and(|s| s <= from) {
            continue;
        }
        let g = group(t);
        groups
            .entry(g.clone())
            .or_insert_with(|| (GroupLoad::new(seed, &c.name, &g, n_ref(c, &g)), Vec::new()))
            .1
            .push((t, iv));
    }
    for (load, tasks) in groups.values() {
        let first = tasks
            .iter()
            .map(|(_, iv)| minute_of(iv.0))
            .min()
            .unwrap_or(from);
        let mut m = first.max(from);
        while m < to {
            let running: Vec<&TaskRec> = tasks
                .iter()
                .filter(|(_, iv)| runs_in(*iv, m))
                .map(|(t, _)| *t)
                .collect();
            for t in &running {
                if let Scope::Task(_, only) = scope {
                    if only.id() != t.id() {
                        continue;
                    }
                }
                let (cpu, mem) = load.task(fnv(&[t.id().as_bytes()]), m, running.len());
                let (rc, rm) = reserved(t);
                let v = match kind {
                    Kind::Cpu => cpu,
                    Kind::Memory => mem,
                    Kind::CpuUnits if rc > 0.0 => round2(cpu * rc / 100.0),
                    Kind::MemoryMib if rm > 0.0 => round2(mem * rm / 100.0),
                    _ => continue,
                };
                out.entry(m)
                    .and_modify(|s: &mut Stats| s.merge(&Stats::one(v)))
                    .or_insert_with(|| Stats::one(v));
            }
            m += 60;
        }
    }
    out
}

/// The series of a metric for minutes in [`from`, `to`): pushed minutes, else generated ones.
pub fn series(
    st: &State,
    seed: u64,
    id: &MetricId,
    from: i64,
    to: i64,
    now: i64,
) -> BTreeMap<i64, Stats> {
    let mut out = if st.metrics.measured {
        BTreeMap::new()
    } else {
        generated(st, seed, id, from, to, now)
    };
    if let Some(p) = st.metrics.pushed.get(id) {
        for (m, s) in p.minutes.range(minute_of(from)..to.max(minute_of(from))) {
            out.insert(*m, *s);
        }
    }
    out
}

/// The unit of a metric's data: the generated metric's, else the pushed unit, else `None`.
pub fn unit_of(st: &State, id: &MetricId) -> String {
    generated_unit(id)
        .map(str::to_string)
        .or_else(|| st.metrics.pushed.get(id).and_then(|p| p.unit.clone()))
        .unwrap_or_else(|| "None".into())
}

/// Every metric that has data: the generated ones (clusters, their ACTIVE and DRAINING services,
/// tasks that ran) and the pushed ones, sorted.
pub fn all_metrics(st: &State) -> BTreeSet<MetricId> {
    let mut out = BTreeSet::new();
    for c in st.clusters.values().filter(|c| c.status == "ACTIVE") {
        for name in [CPU, MEMORY] {
            out.insert(MetricId::new(
                ECS_NAMESPACE,
                name,
                [("ClusterName", &c.name)],
            ));
        }
        for (s, rec) in &c.services {
            if rec.service.status.as_deref() == Some("INACTIVE") {
                continue;
            }
            for name in [CPU, MEMORY] {
                out.insert(MetricId::new(
                    ECS_NAMESPACE,
                    name,
                    [
                        ("ClusterName", c.name.as_str()),
                        ("ServiceName", s.as_str()),
                    ],
                ));
            }
        }
        for t in c.tasks.values().filter(|t| interval(t).is_some()) {
            for name in [
                "TaskCpuUtilization",
                "TaskMemoryUtilization",
                "CpuUtilized",
                "MemoryUtilized",
            ] {
                out.insert(MetricId::new(
                    INSIGHTS_NAMESPACE,
                    name,
                    [
                        ("ClusterName", c.name.as_str()),
                        ("TaskDefinitionFamily", family(t)),
                        ("TaskId", t.id()),
                    ],
                ));
            }
        }
    }
    out.extend(st.metrics.pushed.keys().cloned());
    out
}

/// Records one measurement of a running task (CPU units and MiB it uses, from the engine's
/// stats) as samples of the minute containing `at`: the task's Container Insights metrics and
/// the `AWS/ECS` utilisation of its service and cluster (percent of what the task reserves;
/// a task that reserves nothing is measured against one vCPU and 512 MiB). Several samples in
/// a minute average out, as CloudWatch's statistic sets do. Returns the keys to commit.
pub fn record_usage(
    st: &mut State,
    cluster: &str,
    task_id: &str,
    cpu_units: f64,
    memory_mib: f64,
    at: i64,
) -> Vec<Key> {
    let Some(t) = st.clusters.get(cluster).and_then(|c| c.tasks.get(task_id)) else {
        return Vec::new();
    };
    let (cpu_res, mem_res) = reserved(t);
    let cpu_res = if cpu_res > 0.0 { cpu_res } else { 1024.0 };
    let mem_res = if mem_res > 0.0 { mem_res } else { 512.0 };
    let cpu_pct = round2((cpu_units / cpu_res * 100.0).clamp(0.0, 100.0 * 64.0));
    let mem_pct = round2((memory_mib / mem_res * 100.0).max(0.0));
    let fam = family(t).to_string();
    let service = t.service.clone();
    let mut points = vec![
        (
            MetricId::new(
                INSIGHTS_NAMESPACE,
                "TaskCpuUtilization",
                [
                    ("ClusterName", cluster),
                    ("TaskDefinitionFamily", fam.as_str()),
                    ("TaskId", task_id),
                ],
            ),
            cpu_pct,
        ),
        (
            MetricId::new(
                INSIGHTS_NAMESPACE,
                "TaskMemoryUtilization",
                [
                    ("ClusterName", cluster),
                    ("TaskDefinitionFamily", fam.as_str()),
                    ("TaskId", task_id),
                ],
            ),
            mem_pct,
        ),
        (
            MetricId::new(
                INSIGHTS_NAMESPACE,
                "CpuUtilized",
                [
                    ("ClusterName", cluster),
                    ("TaskDefinitionFamily", fam.as_str()),
                    ("TaskId", task_id),
                ],
            ),
            round2(cpu_units),
        ),
        (
            MetricId::new(
                INSIGHTS_NAMESPACE,
                "MemoryUtilized",
                [
                    ("ClusterName", cluster),
                    ("TaskDefinitionFamily", fam.as_str()),
                    ("TaskId", task_id),
                ],
            ),
            round2(memory_mib),
        ),
        (
            MetricId::new(ECS_NAMESPACE, CPU, [("ClusterName", cluster)]),
            cpu_pct,
        ),
        (
            MetricId::new(ECS_NAMESPACE, MEMORY, [("ClusterName", cluster)]),
            mem_pct,
        ),
    ];
    if let Some(svc) = &service {
        points.push((
            MetricId::new(
                ECS_NAMESPACE,
                CPU,
                [("ClusterName", cluster), ("ServiceName", svc.as_str())],
            ),
            cpu_pct,
        ));
        points.push((
            MetricId::new(
                ECS_NAMESPACE,
                MEMORY,
                [("ClusterName", cluster), ("ServiceName", svc.as_str())],
            ),
            mem_pct,
        ));
    }
    let mut keys = Vec::new();
    for (id, v) in points {
        let unit = generated_unit(&id);
        keys.push(st.metrics.push(&id, unit, at, Stats::one(v), false));
    }
    keys
}

/// The `AWS/ECS` service metric behind a predefined target-tracking metric type or a step
/// alarm's metric name.
pub fn service_metric(cluster: &str, service: &str, metric: &str) -> Option<MetricId> {
    let name = match metric {
        "ECSServiceAverageCPUUtilization"
        | "ECSServiceAverageCPUUtilizationHighResolution"
        | CPU => CPU,
        "ECSServiceAverageMemoryUtilization"
        | "ECSServiceAverageMemoryUtilizationHighResolution"
        | MEMORY => MEMORY,
        _ => return None,
    };
    Some(MetricId::new(
        ECS_NAMESPACE,
        name,
        [("ClusterName", cluster), ("ServiceName", service)],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_merge_and_statistics() {
        let mut s = Stats::one(10.0);
        s.merge(&Stats::one(30.0));
        assert_eq!(s.get(Statistic::Average), 20.0);
        assert_eq!(s.get(Statistic::SampleCount), 2.0);
        assert_eq!(s.get(Statistic::Minimum), 10.0);
        assert_eq!(s.get(Statistic::Maximum), 30.0);
        assert_eq!(s.get(Statistic::Sum), 40.0);
        assert_eq!(Statistic::parse("Average"), Some(Statistic::Average));
        assert_eq!(Statistic::parse("p99"), None);
    }

    #[test]
    fn the_group_load_is_deterministic_plausible_and_shared() {
        let g = GroupLoad::new(1, "default", "web", 2);
        let again = GroupLoad::new(1, "default", "web", 2);
        let other = GroupLoad::new(2, "default", "web", 2);
        let day = 1_767_225_600; // 2026-01-01
        let mut cpus = Vec::new();
        for i in 0..1440 {
            let m = day + i * 60;
            let (cpu, mem) = g.task(7, m, 2);
            assert_eq!((cpu, mem), again.task(7, m, 2));
            assert!((4.0..=80.0).contains(&cpu), "{cpu}");
            assert!((15.0..=70.0).contains(&mem), "{mem}");
            cpus.push(cpu);
            // Twice the tasks, about half the CPU each.
            let (half, _) = g.task(7, m, 4);
            assert!(
                (half - cpu / 2.0).abs() < 0.06 * cpu + 0.02,
                "{half} vs {cpu}"
            );
        }
        assert_ne!(g.task(7, day, 2), other.task(7, day, 2), "the seed matters");
        // It moves: not a constant, and neighbouring minutes are close (smooth).
        let max = cpus.iter().cloned().fold(f64::MIN, f64::max);
        let min = cpus.iter().cloned().fold(f64::MAX, f64::min);
        assert!(max - min > 5.0, "{min}..{max}");
        for w in cpus.windows(2) {
            assert!((w[1] - w[0]).abs() < 0.2 * max, "{w:?}");
        }
    }

    #[test]
    fn pushed_days_round_trip_and_purge() {
        let mut m = Metrics::default();
        let id = MetricId::new("App", "Queue", [("Env", "dev")]);
        let k1 = m.push(&id, Some("Count"), 86_400 + 61, Stats::one(3.0), false);
        m.push(&id, None, 86_400 + 90, Stats::one(5.0), false);
        let k2 = m.push(&id, None, 2 * 86_400, Stats::one(1.0), false);
        assert_ne!(k1, k2, "one record per day");
        let (Key::Metric(d1, key), Key::Metric(d2, _)) = (&k1, &k2) else {
            panic!("{k1:?}")
        };
        let rec = m.record(*d1, key).unwrap();
        let mut back = Metrics::default();
        back.load(&rec).unwrap();
        back.load(&m.record(*d2, key).unwrap()).unwrap();
        assert_eq!(back.pushed, m.pushed);
        let s = m.pushed[&id].minutes[&(86_400 + 60)];
        assert_eq!((s.count, s.sum), (2.0, 8.0));
        // Test control replaces a minute.
        m.push(&id, None, 86_400 + 70, Stats::one(9.0), true);
        assert_eq!(m.pushed[&id].minutes[&(86_400 + 60)], Stats::one(9.0));
        assert_eq!(m.purge(2 * 86_400), vec![k1.clone()]);
        assert_eq!(m.record(*d1, key), None, "the day's record is deleted");
        assert!(m.record(*d2, key).is_some());
        assert!(m.purge(3 * 86_400).len() == 1 && m.pushed.is_empty());
    }

    #[test]
    fn service_metrics_behind_policies() {
        let id = service_metric("default", "web", "ECSServiceAverageCPUUtilization").unwrap();
        assert_eq!(id.name, CPU);
        assert_eq!(id.dim("ServiceName"), Some("web"));
        assert_eq!(
            service_metric("c", "s", "MemoryUtilization").unwrap().name,
            MEMORY
        );
        assert!(service_metric("c", "s", "ALBRequestCountPerTarget").is_none());
    }
}
