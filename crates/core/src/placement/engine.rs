//! The placement engine: working state, the pipeline, selection, scale-in and DAEMON placement.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::cluster::{ClusterView, HostPort, InstanceStatus, Protocol, Resources};
use super::cql::{Expression, InstanceFacts};
use super::index::{INFEASIBLE, MinTree};
use super::rng::SplitMix64;
use super::{
    Attribute, DaemonPlan, DaemonStop, DaemonStopReason, Explanation, InstanceRejection,
    MAX_CONSTRAINTS, MAX_EXPRESSION_LEN, MAX_RUN_TASK_COUNT, MAX_STRATEGIES, NetworkMode,
    Placement, PlacementConstraint, PlacementConstraintType, PlacementError, PlacementPlan,
    PlacementRequest, PlacementStrategy, PlacementStrategyType, RejectionReason, TaskRequirements,
    TaskToStop, Unplaced, UnplacedKind, unplaced_message,
};

/// Places tasks onto a working copy of a cluster view.
///
/// Built once from a [`ClusterView`] and a seed; every placement it plans is charged to its
/// working state (resources, ports, group counts), so later calls see earlier ones — the same
/// way a RunTask of count 10 or a service scaling out by N sees its own earlier tasks. The view
/// itself is never modified. Caches (parsed CQL, attribute indexes, per-instance results of
/// static filters) live as long as the `Placer`, so reuse one for many requests.
///
/// Given the same view (in the same order), seed and sequence of calls, every plan is the same
/// on every target.
#[derive(Debug, Clone)]
pub struct Placer {
    st: State,
    cache: Cache,
    /// Selection indexes of recent request shapes, kept up to date by `apply` and `release`.
    indexes: Indexes,
    rng: SplitMix64,
}

/// Plans one request against a view: `Placer::new(view, seed).place(request)`.
///
/// # Errors
///
/// As [`Placer::place`]: a [`PlacementError`] when the request is invalid.
///
/// # Examples
///
/// ```
/// use berth_core::placement::*;
///
/// let mut cluster = Snapshot::new();
/// cluster.push_instance(ContainerInstance::new("arn:ci/a", "i-a", Resources::new(1024, 1024, 0)));
/// let task = TaskRequirements::new("family:web", Resources::new(512, 2048, 0));
/// let plan = plan(&cluster, &PlacementRequest::run_task(task, 1), 7)?;
/// let unplaced = plan.unplaced.expect("needs more memory than the instance has");
/// assert_eq!(unplaced.kind, UnplacedKind::CanNeverPlace);
/// assert_eq!(unplaced.failures()[0].reason, "RESOURCE:MEMORY");
/// # Ok::<(), PlacementError>(())
/// ```
pub fn plan<V: ClusterView + ?Sized>(
    view: &V,
    request: &PlacementRequest,
    seed: u64,
) -> Result<PlacementPlan, PlacementError> {
    Placer::new(view, seed).place(request)
}

// ---------------------------------------------------------------------------------------------
// Working state

#[derive(Debug, Clone)]
struct Inst {
    arn: String,
    ec2: String,
    status: InstanceStatus,
    connected: bool,
    agent_version: String,
    registered_at: i64,
    /// Sorted by name for binary search.
    attrs: Vec<(String, Option<String>)>,
    registered: Resources,
    reserved_tcp: Vec<u16>,
    reserved_udp: Vec<u16>,
    /// Sorted ports in use (reserved + tasks).
    tcp: Vec<u16>,
    udp: Vec<u16>,
    task_count: u32,
    /// (group id, tasks of that group here).
    groups: Vec<(u32, u32)>,
}

#[derive(Debug, Clone)]
struct TaskRec {
    arn: String,
    inst: usize,
    group: u32,
    res: Resources,
    ports: Vec<HostPort>,
    alive: bool,
}

#[derive(Debug, Clone, Default)]
struct State {
    inst: Vec<Inst>,
    // Hot per-instance figures in flat arrays.
    cpu: Vec<u32>,
    mem: Vec<u32>,
    gpu: Vec<u32>,
    tasks: Vec<TaskRec>,
    group_ids: HashMap<String, u32>,
    group_names: Vec<String>,
}

impl State {
    fn group_id(&mut self, name: &str) -> u32 {
        if let Some(id) = self.group_ids.get(name) {
            return *id;
        }
        let id = self.group_names.len() as u32;
        self.group_names.push(name.to_owned());
        self.group_ids.insert(name.to_owned(), id);
        id
    }

    fn attribute(&self, i: usize, name: &str) -> Option<Option<&str>> {
        let attrs = &self.inst[i].attrs;
        attrs
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|k| attrs[k].1.as_deref())
    }

    fn port_in_use(&self, i: usize, p: HostPort) -> bool {
        let set = match p.protocol {
            Protocol::Tcp => &self.inst[i].tcp,
            Protocol::Udp => &self.inst[i].udp,
        };
        set.binary_search(&p.port).is_ok()
    }

    fn port_reserved(&self, i: usize, p: HostPort) -> bool {
        let set = match p.protocol {
            Protocol::Tcp => &self.inst[i].reserved_tcp,
            Protocol::Udp => &self.inst[i].reserved_udp,
        };
        set.contains(&p.port)
    }

    fn group_count(&self, i: usize, g: u32) -> u32 {
        self.inst[i]
            .groups
            .iter()
            .find(|(id, _)| *id == g)
            .map_or(0, |(_, n)| *n)
    }
}

struct Facts<'a> {
    st: &'a State,
    i: usize,
}

impl InstanceFacts for Facts<'_> {
    fn attribute(&self, name: &str) -> Option<Option<&str>> {
        self.st.attribute(self.i, name)
    }
    fn ec2_instance_id(&self) -> &str {
        &self.st.inst[self.i].ec2
    }
    fn registered_at(&self) -> i64 {
        self.st.inst[self.i].registered_at
    }
    fn running_tasks_count(&self) -> u64 {
        u64::from(self.st.inst[self.i].task_count)
    }
    fn agent_version(&self) -> &str {
        &self.st.inst[self.i].agent_version
    }
    fn agent_connected(&self) -> bool {
        self.st.inst[self.i].connected
    }
    fn any_task_group(&self, test: &mut dyn FnMut(&str) -> bool) -> bool {
        self.st.inst[self.i]
            .groups
            .iter()
            .filter(|(_, n)| *n > 0)
            .any(|(g, _)| test(&self.st.group_names[*g as usize]))
    }
}

// ---------------------------------------------------------------------------------------------
// Caches (derived from the state, updated in place as tasks are placed or stopped)

#[derive(Debug, Clone)]
struct AttrIndex {
    /// Per instance, the index of its value in `members`.
    value_of: Vec<u32>,
    /// Per value, the instances that have it (instances without the attribute share one).
    members: Vec<Vec<u32>>,
}

#[derive(Debug, Clone)]
struct SpreadCounts {
    group: u32,
    attr: usize,
    /// Tasks of `group` per value of `attr`.
    counts: Vec<u64>,
}

#[derive(Debug, Clone, Default)]
struct Cache {
    attrs: Vec<AttrIndex>,
    attr_by_name: HashMap<String, usize>,
    /// Per group, tasks of that group per instance.
    dense: Vec<(u32, Vec<u32>)>,
    dense_by_group: HashMap<u32, usize>,
    spread: Vec<SpreadCounts>,
    spread_by_key: HashMap<(u32, usize), usize>,
    /// Instances that pass every static filter of a pipeline, grouped by the value of the
    /// leading spread attribute (or in one list), keyed by the static filters and that attribute.
    candidates: Vec<Vec<Vec<u32>>>,
    candidates_by_key: HashMap<String, usize>,
    exprs: HashMap<String, Arc<Expression>>,
}

impl Cache {
    fn attr_index(&mut self, st: &State, name: &str) -> usize {
        if let Some(k) = self.attr_by_name.get(name) {
            return *k;
        }
        let mut value_ids: HashMap<Option<&str>, u32> = HashMap::new();
        let mut members: Vec<Vec<u32>> = Vec::new();
        let mut value_of = Vec::with_capacity(st.inst.len());
        for i in 0..st.inst.len() {
            // An attribute without a value counts as the empty string; a missing one is its own value.
            let v = st.attribute(i, name).map(|v| v.unwrap_or(""));
            let id = *value_ids.entry(v).or_insert_with(|| {
                members.push(Vec::new());
                (members.len() - 1) as u32
            });
            members[id as usize].push(i as u32);
            value_of.push(id);
        }
        self.attrs.push(AttrIndex { value_of, members });
        let k = self.attrs.len() - 1;
        self.attr_by_name.insert(name.to_owned(), k);
        k
    }

    fn dense(&mut self, st: &State, g: u32) -> usize {
        if let Some(k) = self.dense_by_group.get(&g) {
            return *k;
        }
        let arr = (0..st.inst.len()).map(|i| st.group_count(i, g)).collect();
        self.dense.push((g, arr));
        let k = self.dense.len() - 1;
        self.dense_by_group.insert(g, k);
        k
    }

    fn spread(&mut self, st: &State, g: u32, attr: usize) -> usize {
        if let Some(k) = self.spread_by_key.get(&(g, attr)) {
            return *k;
        }
        let d = self.dense(st, g);
        let idx = &self.attrs[attr];
        let mut counts = vec![0u64; idx.members.len()];
        for (i, n) in self.dense[d].1.iter().enumerate() {
            counts[idx.value_of[i] as usize] += u64::from(*n);
        }
        self.spread.push(SpreadCounts {
            group: g,
            attr,
            counts,
        });
        let k = self.spread.len() - 1;
        self.spread_by_key.insert((g, attr), k);
        k
    }

    /// The statically feasible instances of `p`, built once per distinct static signature.
    fn candidates(&mut self, st: &State, p: &Pipeline) -> usize {
        let lead = match p.ranks.first() {
            Some(Rank::SpreadAttr { attr, .. }) => Some(*attr),
            _ => None,
        };
        let key = format!("{}\u{1}{lead:?}", p.memo_key);
        if let Some(k) = self.candidates_by_key.get(&key) {
            return *k;
        }
        let ok = p.static_results(st);
        let lists = match lead {
            Some(attr) => self.attrs[attr]
                .members
                .iter()
                .map(|m| m.iter().copied().filter(|i| ok[*i as usize]).collect())
                .collect(),
            None => vec![
                (0..st.inst.len() as u32)
                    .filter(|i| ok[*i as usize])
                    .collect(),
            ],
        };
        self.candidates.push(lists);
        let k = self.candidates.len() - 1;
        self.candidates_by_key.insert(key, k);
        k
    }

    fn expression(&mut self, source: &str) -> Result<Arc<Expression>, PlacementError> {
        if let Some(e) = self.exprs.get(source) {
            return Ok(e.clone());
        }
        let e = Arc::new(Expression::parse(source).map_err(|source_err| {
            PlacementError::InvalidExpression {
                expression: source.to_owned(),
                source: source_err,
            }
        })?);
        self.exprs.insert(source.to_owned(), e.clone());
        Ok(e)
    }

    /// Charges (`+1`) or releases (`-1`) one task of group `g` on instance `i` in every cache.
    fn count_task(&mut self, g: u32, i: usize, add: bool) {
        if let Some(d) = self.dense_by_group.get(&g) {
            let c = &mut self.dense[*d].1[i];
            *c = if add { *c + 1 } else { c.saturating_sub(1) };
        }
        for s in self.spread.iter_mut().filter(|s| s.group == g) {
            let v = self.attrs[s.attr].value_of[i] as usize;
            let c = &mut s.counts[v];
            *c = if add { *c + 1 } else { c.saturating_sub(1) };
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The pipeline

#[derive(Debug, Clone)]
enum Filter {
    Lifecycle,
    Attributes(Vec<Attribute>),
    Cpu(u32),
    Memory(u32),
    Gpu(u32),
    Ports(Vec<HostPort>),
    DistinctInstance,
    MemberOf(Arc<Expression>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Cpu,
    Memory,
}

#[derive(Debug, Clone, Copy)]
enum Rank {
    /// Fewest tasks of the group at the instance's value of an attribute.
    SpreadAttr { spread: usize, attr: usize },
    /// Fewest tasks of the group on the instance.
    SpreadInstance,
    /// Least of the resource left after placing.
    Binpack(Field),
}

#[derive(Debug, Clone)]
struct Pipeline {
    group: u32,
    group_name: String,
    dense: usize,
    needs: Resources,
    ports: Vec<HostPort>,
    filters: Vec<Filter>,
    /// The filters other than cpu/memory/GPU whose answer changes as tasks are placed.
    dynamic: Vec<Filter>,
    ranks: Vec<Rank>,
    memo_key: String,
}

impl Pipeline {
    /// The whole placement pipeline for one request, assembled in one place.
    fn new(
        st: &mut State,
        cache: &mut Cache,
        task: &TaskRequirements,
        request_constraints: &[PlacementConstraint],
        strategies: &[PlacementStrategy],
    ) -> Result<Pipeline, PlacementError> {
        let count = task.placement_constraints.len() + request_constraints.len();
        if count > MAX_CONSTRAINTS {
            return Err(PlacementError::TooManyConstraints {
                count,
                max: MAX_CONSTRAINTS,
            });
        }
        let ports = static_ports(task)?;
        let group = st.group_id(&task.group);
        let dense = cache.dense(st, group);
        let mut filters = Vec::new();
        // 1. Lifecycle: ECS considers only ACTIVE instances with a connected agent; a fixed fact, so it is memoised and checked first.
        filters.push(Filter::Lifecycle);
        // 2. requiresAttributes: also fixed per instance; ECS filters on it together with resources, before constraints.
        if !task.requires_attributes.is_empty() {
            filters.push(Filter::Attributes(task.requires_attributes.clone()));
        }
        // 3-5. CPU, memory, GPU: the resource filter of §2.1 step 1, in ECS's order; these change with every placement.
        filters.push(Filter::Cpu(task.resources.cpu));
        filters.push(Filter::Memory(task.resources.memory));
        if task.resources.gpu > 0 {
            filters.push(Filter::Gpu(task.resources.gpu));
        }
        // 6. Static host ports (bridge/host only): the last resource check of step 1; dynamic and awsvpc ports never conflict.
        if !ports.is_empty() {
            filters.push(Filter::Ports(ports.clone()));
        }
        // 7-8. Constraints (step 2): binding, after resources so "closest match" prefers instances that at least fit.
        for (c, from_task_def) in task
            .placement_constraints
            .iter()
            .map(|c| (c, true))
            .chain(request_constraints.iter().map(|c| (c, false)))
        {
            filters.push(constraint_filter(cache, c, from_task_def)?);
        }
        // 9. Strategies (step 3), in the order given: each orders only within the ties of the ones before it.
        let ranks = build_ranks(st, cache, group, strategies)?;
        // 10. Selector (step 4): lowest rank wins; remaining ties go to the seeded random source (see `select`).
        let memo_key = memo_key(&filters);
        // Resources are checked inline in `passes_dynamic`; the rest of the dynamic filters follow.
        let dynamic = filters
            .iter()
            .filter(|f| {
                !f.is_static() && !matches!(f, Filter::Cpu(_) | Filter::Memory(_) | Filter::Gpu(_))
            })
            .cloned()
            .collect();
        Ok(Pipeline {
            dynamic,
            group,
            group_name: task.group.clone(),
            dense,
            needs: task.resources,
            ports,
            filters,
            ranks,
            memo_key,
        })
    }

    /// Per instance, whether it passes every static filter. A `memberOf` that reads only
    /// attributes is evaluated once per distinct combination of their values (instances of a
    /// fleet share a few), not once per instance.
    fn static_results(&self, st: &State) -> Vec<bool> {
        let mut ok = vec![true; st.inst.len()];
        for f in self.filters.iter().filter(|f| f.is_static()) {
            let names = match f {
                Filter::MemberOf(e) => e.attribute_names(),
                _ => None,
            };
            match (f, names) {
                (Filter::MemberOf(e), Some(names)) => {
                    let mut memo: HashMap<Vec<Option<Option<&str>>>, bool> = HashMap::new();
                    for (i, ok) in ok.iter_mut().enumerate().filter(|(_, ok)| **ok) {
                        let values = names.iter().map(|n| st.attribute(i, n)).collect();
                        *ok = *memo
                            .entry(values)
                            .or_insert_with(|| e.matches(&Facts { st, i }));
                    }
                }
                _ => {
                    for (i, ok) in ok.iter_mut().enumerate().filter(|(_, ok)| **ok) {
                        *ok = f.passes(st, self, None, i);
                    }
                }
            }
        }
        ok
    }

    #[inline]
    fn passes_dynamic(&self, st: &State, cache: &Cache, i: usize) -> bool {
        st.cpu[i] >= self.needs.cpu
            && st.mem[i] >= self.needs.memory
            && st.gpu[i] >= self.needs.gpu
            && self
                .dynamic
                .iter()
                .all(|f| f.passes(st, self, Some(cache), i))
    }

    fn reasons(&self, st: &State, cache: &Cache, i: usize) -> Vec<RejectionReason> {
        let mut out = Vec::new();
        for f in &self.filters {
            f.reasons(st, cache, self, i, &mut out);
        }
        out
    }
}

fn static_ports(task: &TaskRequirements) -> Result<Vec<HostPort>, PlacementError> {
    if !matches!(task.network_mode, NetworkMode::Bridge | NetworkMode::Host) {
        return Ok(Vec::new());
    }
    let mut ports = task.host_ports.clone();
    ports.sort();
    for w in ports.windows(2) {
        if w[0] == w[1] {
            return Err(PlacementError::DuplicateHostPort {
                port: w[0].port,
                protocol: w[0].protocol,
            });
        }
    }
    Ok(ports)
}

fn constraint_filter(
    cache: &mut Cache,
    c: &PlacementConstraint,
    from_task_def: bool,
) -> Result<Filter, PlacementError> {
    let expr = c.expression.as_deref().filter(|e| !e.trim().is_empty());
    match c.kind {
        PlacementConstraintType::DistinctInstance => {
            if from_task_def {
                return Err(PlacementError::DistinctInstanceInTaskDefinition);
            }
            // ECS refuses the member even empty (hashicorp/terraform#11446).
            if c.expression.is_some() {
                return Err(PlacementError::UnexpectedExpression);
            }
            Ok(Filter::DistinctInstance)
        }
        PlacementConstraintType::MemberOf => {
            let Some(src) = expr else {
                return Err(PlacementError::MissingExpression);
            };
            let length = src.chars().count();
            if length > MAX_EXPRESSION_LEN {
                return Err(PlacementError::ExpressionTooLong {
                    length,
                    max: MAX_EXPRESSION_LEN,
                });
            }
            Ok(Filter::MemberOf(cache.expression(src)?))
        }
    }
}

fn build_ranks(
    st: &State,
    cache: &mut Cache,
    group: u32,
    strategies: &[PlacementStrategy],
) -> Result<Vec<Rank>, PlacementError> {
    if strategies.len() > MAX_STRATEGIES {
        return Err(PlacementError::TooManyStrategies {
            count: strategies.len(),
            max: MAX_STRATEGIES,
        });
    }
    let mut ranks = Vec::new();
    let mut truncated = false;
    for s in strategies {
        let field = s.field.as_deref().map(str::trim);
        let rank = match s.kind {
            PlacementStrategyType::Random => None,
            PlacementStrategyType::Binpack => match field.map(str::to_ascii_lowercase).as_deref() {
                Some("cpu") => Some(Rank::Binpack(Field::Cpu)),
                Some("memory") => Some(Rank::Binpack(Field::Memory)),
                _ => {
                    return Err(PlacementError::InvalidStrategyField {
                        kind: "binpack".into(),
                        field: s.field.clone(),
                        expected: "cpu or memory".into(),
                    });
                }
            },
            PlacementStrategyType::Spread => {
                let f = field.unwrap_or("");
                let bad = || PlacementError::InvalidStrategyField {
                    kind: "spread".into(),
                    field: s.field.clone(),
                    expected: "instanceId, host or attribute:<name>".into(),
                };
                if f.eq_ignore_ascii_case("instanceId") || f.eq_ignore_ascii_case("host") {
                    Some(Rank::SpreadInstance)
                } else if let Some(p) = f.get(..10)
                    && p.eq_ignore_ascii_case("attribute:")
                    && f.len() > 10
                {
                    let attr = cache.attr_index(st, &f[10..]);
                    let spread = cache.spread(st, group, attr);
                    Some(Rank::SpreadAttr { spread, attr })
                } else {
                    return Err(bad());
                }
            }
        };
        // Random orders every candidate uniquely, so strategies after it can never break a tie:
        // it becomes "stop ranking here" and the selector's random tie-break does the rest.
        // (Later strategies are still validated.)
        match rank {
            Some(r) if !truncated => ranks.push(r),
            Some(_) => {}
            None => truncated = true,
        }
    }
    Ok(ranks)
}

fn memo_key(filters: &[Filter]) -> String {
    let mut key = String::new();
    for f in filters.iter().filter(|f| f.is_static()) {
        match f {
            Filter::Lifecycle => key.push_str("L;"),
            Filter::Attributes(a) => {
                for a in a {
                    key.push_str("A:");
                    key.push_str(&a.name);
                    if let Some(v) = &a.value {
                        key.push('=');
                        key.push_str(v);
                    }
                    key.push('\u{0}');
                }
            }
            Filter::MemberOf(e) => {
                key.push_str("M:");
                key.push_str(e.source());
                key.push('\u{0}');
            }
            _ => {}
        }
    }
    key
}

impl Filter {
    /// Whether the result for an instance cannot change while tasks are placed.
    fn is_static(&self) -> bool {
        match self {
            Filter::Lifecycle | Filter::Attributes(_) => true,
            Filter::MemberOf(e) => e.is_static(),
            _ => false,
        }
    }

    #[inline]
    fn passes(&self, st: &State, p: &Pipeline, cache: Option<&Cache>, i: usize) -> bool {
        match self {
            Filter::Lifecycle => {
                st.inst[i].status == InstanceStatus::Active && st.inst[i].connected
            }
            Filter::Attributes(req) => req.iter().all(|a| attr_ok(st, i, a)),
            Filter::Cpu(n) => st.cpu[i] >= *n,
            Filter::Memory(n) => st.mem[i] >= *n,
            Filter::Gpu(n) => st.gpu[i] >= *n,
            Filter::Ports(ports) => ports.iter().all(|pt| !st.port_in_use(i, *pt)),
            Filter::DistinctInstance => match cache {
                Some(c) => c.dense[p.dense].1[i] == 0,
                None => st.group_count(i, p.group) == 0,
            },
            Filter::MemberOf(e) => e.matches(&Facts { st, i }),
        }
    }

    fn reasons(
        &self,
        st: &State,
        cache: &Cache,
        p: &Pipeline,
        i: usize,
        out: &mut Vec<RejectionReason>,
    ) {
        let inst = &st.inst[i];
        match self {
            Filter::Lifecycle => {
                if inst.status != InstanceStatus::Active {
                    out.push(RejectionReason::NotActive {
                        status: inst.status,
                    });
                }
                if !inst.connected {
                    out.push(RejectionReason::AgentDisconnected);
                }
            }
            Filter::Attributes(req) => {
                for a in req.iter().filter(|a| !attr_ok(st, i, a)) {
                    out.push(RejectionReason::MissingAttribute {
                        name: a.name.clone(),
                        value: a.value.clone(),
                    });
                }
            }
            Filter::Cpu(n) if st.cpu[i] < *n => out.push(RejectionReason::InsufficientCpu {
                needed: *n,
                available: st.cpu[i],
                registered: inst.registered.cpu,
            }),
            Filter::Memory(n) if st.mem[i] < *n => out.push(RejectionReason::InsufficientMemory {
                needed: *n,
                available: st.mem[i],
                registered: inst.registered.memory,
            }),
            Filter::Gpu(n) if st.gpu[i] < *n => out.push(RejectionReason::InsufficientGpu {
                needed: *n,
                available: st.gpu[i],
                registered: inst.registered.gpu,
            }),
            Filter::Ports(ports) => {
                for pt in ports.iter().filter(|pt| st.port_in_use(i, **pt)) {
                    out.push(RejectionReason::PortInUse {
                        port: pt.port,
                        protocol: pt.protocol,
                        reserved: st.port_reserved(i, *pt),
                    });
                }
            }
            Filter::DistinctInstance if !self.passes(st, p, Some(cache), i) => {
                out.push(RejectionReason::DistinctInstance {
                    group: p.group_name.clone(),
                })
            }
            Filter::MemberOf(e) if !e.matches(&Facts { st, i }) => {
                out.push(RejectionReason::ConstraintNotSatisfied {
                    expression: e.source().to_owned(),
                    depends_on_tasks: !e.is_static(),
                })
            }
            _ => {}
        }
    }
}

fn attr_ok(st: &State, i: usize, a: &Attribute) -> bool {
    match (st.attribute(i, &a.name), &a.value) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(have), Some(want)) => have == Some(want.as_str()),
    }
}

// ---------------------------------------------------------------------------------------------
// Selection

/// Keeps the best candidate seen so far; ties are broken by reservoir sampling, which picks
/// uniformly among all candidates with the best keys using the seeded source.
struct Selector {
    best: Option<usize>,
    keys: [u64; MAX_STRATEGIES],
    ties: u64,
}

impl Selector {
    fn new() -> Self {
        Selector {
            best: None,
            keys: [0; MAX_STRATEGIES],
            ties: 0,
        }
    }

    #[inline]
    fn offer(
        &mut self,
        i: usize,
        keys: &[u64; MAX_STRATEGIES],
        n: usize,
        rng: &mut SplitMix64,
        max: bool,
    ) {
        if self.best.is_none() {
            self.best = Some(i);
            self.keys = *keys;
            self.ties = 1;
            return;
        }
        let mut ord = keys[..n].cmp(&self.keys[..n]);
        if max {
            ord = ord.reverse();
        }
        match ord {
            std::cmp::Ordering::Less => {
                self.best = Some(i);
                self.keys = *keys;
                self.ties = 1;
            }
            std::cmp::Ordering::Equal => {
                self.ties += 1;
                if rng.below(self.ties) == 0 {
                    self.best = Some(i);
                }
            }
            std::cmp::Ordering::Greater => {}
        }
    }
}

#[inline]
fn rank_keys(
    st: &State,
    cache: &Cache,
    p: &Pipeline,
    ranks: &[Rank],
    i: usize,
) -> [u64; MAX_STRATEGIES] {
    let mut keys = [0u64; MAX_STRATEGIES];
    for (k, r) in keys.iter_mut().zip(ranks) {
        *k = match *r {
            Rank::SpreadAttr { spread, attr } => {
                cache.spread[spread].counts[cache.attrs[attr].value_of[i] as usize]
            }
            Rank::SpreadInstance => u64::from(cache.dense[p.dense].1[i]),
            Rank::Binpack(Field::Cpu) => u64::from(st.cpu[i].saturating_sub(p.needs.cpu)),
            Rank::Binpack(Field::Memory) => u64::from(st.mem[i].saturating_sub(p.needs.memory)),
        };
    }
    keys
}

fn select(
    st: &State,
    cache: &Cache,
    p: &Pipeline,
    candidates: usize,
    rng: &mut SplitMix64,
) -> Option<usize> {
    let lists = &cache.candidates[candidates];
    if let Some(Rank::SpreadAttr { spread, .. }) = p.ranks.first().copied() {
        // A leading spread over an attribute partitions instances by value: any feasible
        // instance at the least-loaded value beats every instance elsewhere, so visit values in
        // load order and stop at the first load level that has a feasible instance.
        let counts = &cache.spread[spread].counts;
        let mut order: Vec<u32> = (0..counts.len() as u32)
            .filter(|v| !lists[*v as usize].is_empty())
            .collect();
        order.sort_by_key(|v| (counts[*v as usize], *v));
        let rest = &p.ranks[1..];
        let mut at = 0;
        while at < order.len() {
            let level = counts[order[at] as usize];
            let mut end = at;
            while end < order.len() && counts[order[end] as usize] == level {
                end += 1;
            }
            let mut sel = Selector::new();
            for v in &order[at..end] {
                for &i in &lists[*v as usize] {
                    let i = i as usize;
                    if p.passes_dynamic(st, cache, i) {
                        let keys = rank_keys(st, cache, p, rest, i);
                        sel.offer(i, &keys, rest.len(), rng, false);
                    }
                }
            }
            if sel.best.is_some() {
                return sel.best;
            }
            at = end;
        }
        None
    } else {
        let mut sel = Selector::new();
        for &i in lists.iter().flatten() {
            let i = i as usize;
            if p.passes_dynamic(st, cache, i) {
                let keys = rank_keys(st, cache, p, &p.ranks, i);
                sel.offer(i, &keys, p.ranks.len(), rng, false);
            }
        }
        sel.best
    }
}

/// Most strategies after the leading spread that [`SelIndex`] can key on (32 bits each).
const INDEX_RANKS: usize = 3;
/// Fewest tasks in one request for which building a [`SelIndex`] pays off (building it costs
/// about one scan of every candidate).
const INDEX_MIN_COUNT: u32 = 3;

/// The candidates of one request in a [`MinTree`], keyed by their rank values (after the leading
/// spread) or [`INFEASIBLE`], so that `select` need not scan them for every task.
///
/// Within one request only the instance that took the last task changes: its resources, ports,
/// group counts and task count (all the dynamic filters and the per-instance ranks read) — so
/// its key is recomputed after each placement and every other key stays valid. Spread counts per
/// attribute value change too, which is why a spread over an attribute is only allowed as the
/// leading strategy (it orders the lists, not the keys). The random draws of [`Selector`] are
/// replayed exactly (see [`level_select`]), so plans are the same as with the scan.
#[derive(Debug, Clone)]
struct SelIndex {
    tree: MinTree,
    /// Per instance, its position in the tree (`u32::MAX` when it is not a candidate).
    pos_of: Vec<u32>,
    /// Per position, the instance.
    inst_at: Vec<u32>,
    /// Per candidate list (a value of the leading spread attribute, or the single list), its
    /// positions `lo..hi`.
    segs: Vec<(usize, usize)>,
    /// The ranks the keys are made of.
    ranks: Vec<Rank>,
    /// Scratch: values in load order, and the lists of one load level.
    order: Vec<u32>,
    level: Vec<(usize, usize)>,
}

impl SelIndex {
    /// The index for `p`, or `None` when its ranks cannot be kept per instance.
    fn new(st: &State, cache: &Cache, p: &Pipeline, candidates: usize) -> Option<SelIndex> {
        let ranks = index_ranks(p)?;
        let lists = &cache.candidates[candidates];
        let total: usize = lists.iter().map(Vec::len).sum();
        let mut pos_of = vec![u32::MAX; st.inst.len()];
        let mut inst_at = Vec::with_capacity(total);
        let mut keys = Vec::with_capacity(total);
        let mut segs = Vec::with_capacity(lists.len());
        for list in lists {
            let lo = inst_at.len();
            for &i in list {
                pos_of[i as usize] = inst_at.len() as u32;
                inst_at.push(i);
                keys.push(index_key(st, cache, p, ranks, i as usize));
            }
            segs.push((lo, inst_at.len()));
        }
        Some(SelIndex {
            tree: MinTree::new(&keys),
            pos_of,
            inst_at,
            segs,
            ranks: ranks.to_vec(),
            order: Vec::new(),
            level: Vec::new(),
        })
    }

    /// Recomputes the key of instance `i` (after a task was placed on it).
    fn refresh(&mut self, st: &State, cache: &Cache, p: &Pipeline, i: usize) {
        let pos = self.pos_of[i];
        if pos != u32::MAX {
            let key = index_key(st, cache, p, &self.ranks, i);
            self.tree.set(pos as usize, key);
        }
    }

    /// What `select` would choose (consuming the same random numbers), without the scan.
    fn select(&mut self, cache: &Cache, p: &Pipeline, rng: &mut SplitMix64) -> Option<usize> {
        let pos = if let Some(Rank::SpreadAttr { spread, .. }) = p.ranks.first().copied() {
            // As in `select`: values in load order, one load level at a time.
            let counts = &cache.spread[spread].counts;
            let segs = &self.segs;
            self.order.clear();
            self.order.extend(
                (0..segs.len() as u32).filter(|v| segs[*v as usize].0 < segs[*v as usize].1),
            );
            self.order.sort_by_key(|v| (counts[*v as usize], *v));
            let mut at = 0;
            let mut found = None;
            while at < self.order.len() {
                let load = counts[self.order[at] as usize];
                let mut end = at;
                self.level.clear();
                while end < self.order.len() && counts[self.order[end] as usize] == load {
                    self.level.push(segs[self.order[end] as usize]);
                    end += 1;
                }
                found = level_select(&self.tree, &self.level, rng);
                if found.is_some() {
                    break;
                }
                at = end;
            }
            found
        } else {
            level_select(&self.tree, &self.segs, rng)
        };
        pos.map(|k| self.inst_at[k] as usize)
    }
}

/// The ranks a [`SelIndex`] keys on (those after a leading spread over an attribute), or `None`
/// when they cannot be kept per instance.
fn index_ranks(p: &Pipeline) -> Option<&[Rank]> {
    let ranks = match p.ranks.first() {
        Some(Rank::SpreadAttr { .. }) => &p.ranks[1..],
        _ => &p.ranks[..],
    };
    (ranks.len() <= INDEX_RANKS && !ranks.iter().any(|r| matches!(r, Rank::SpreadAttr { .. })))
        .then_some(ranks)
}

/// Most [`SelIndex`]es a `Placer` keeps (each placement refreshes every one).
const MAX_INDEXES: usize = 8;

/// The [`SelIndex`]es of recent request shapes, so that a sequence of small requests of one
/// shape (RunTask after RunTask) does not rebuild one each time. Each is kept valid by
/// refreshing, after every change to an instance, that instance's key in every index.
#[derive(Debug, Clone, Default)]
struct Indexes {
    /// (signature, the pipeline its keys are computed for, the index, last use).
    built: Vec<(String, Pipeline, SelIndex, u64)>,
    /// Signatures asked for once without an index being built (the second time builds one).
    seen: HashSet<String>,
    clock: u64,
}

impl Indexes {
    /// The position in `built` of the index for `p`, built if `count` tasks (or a signature
    /// seen before) make that worthwhile; `None` when `p`'s ranks allow no index.
    fn get(
        &mut self,
        st: &State,
        cache: &Cache,
        p: &Pipeline,
        candidates: usize,
        count: u32,
        index_from: u32,
    ) -> Option<usize> {
        index_ranks(p)?;
        let sig = index_signature(p, candidates);
        self.clock += 1;
        if let Some(k) = self.built.iter().position(|b| b.0 == sig) {
            self.built[k].3 = self.clock;
            return Some(k);
        }
        if count < index_from && !self.seen.contains(&sig) {
            if self.seen.len() >= 1024 {
                self.seen.clear();
            }
            self.seen.insert(sig);
            return None;
        }
        self.seen.remove(&sig);
        let ix = SelIndex::new(st, cache, p, candidates)?;
        if self.built.len() >= MAX_INDEXES
            && let Some(oldest) = (0..self.built.len()).min_by_key(|k| self.built[*k].3)
        {
            self.built.swap_remove(oldest);
        }
        self.built.push((sig, p.clone(), ix, self.clock));
        Some(self.built.len() - 1)
    }

    /// Recomputes instance `i`'s key in every index.
    fn refresh(&mut self, st: &State, cache: &Cache, i: usize) {
        for (_, p, ix, _) in &mut self.built {
            ix.refresh(st, cache, p, i);
        }
    }
}

/// Everything a [`SelIndex`]'s lists and keys depend on besides the working state: the
/// candidate lists (static filters and leading spread), the group, the resources and ports
/// needed, the dynamic filters and the ranks.
fn index_signature(p: &Pipeline, candidates: usize) -> String {
    let mut sig = format!(
        "{candidates};{};{:?};{:?};{:?}",
        p.group, p.needs, p.ports, p.ranks
    );
    for f in &p.dynamic {
        match f {
            Filter::DistinctInstance => sig.push_str(";D"),
            Filter::MemberOf(e) => {
                sig.push_str(";M:");
                sig.push_str(e.source());
            }
            // Ports are in the signature already; resources are checked inline.
            _ => {}
        }
    }
    sig
}

/// The key of instance `i` in a [`SelIndex`]: [`INFEASIBLE`] when a dynamic filter fails,
/// otherwise the values of `ranks` (as `rank_keys` computes them, each below 2³²), most
/// significant first.
#[inline]
fn index_key(st: &State, cache: &Cache, p: &Pipeline, ranks: &[Rank], i: usize) -> u128 {
    if !p.passes_dynamic(st, cache, i) {
        return INFEASIBLE;
    }
    let mut key = 0u128;
    for r in ranks {
        let v = match *r {
            Rank::SpreadInstance => cache.dense[p.dense].1[i],
            Rank::Binpack(Field::Cpu) => st.cpu[i].saturating_sub(p.needs.cpu),
            Rank::Binpack(Field::Memory) => st.mem[i].saturating_sub(p.needs.memory),
            // Excluded by `SelIndex::new`.
            Rank::SpreadAttr { .. } => 0,
        };
        key = (key << 32) | u128::from(v);
    }
    key
}

/// [`Selector`] over the positions of `segs` in order, from the tree: the same choice and the
/// same random numbers as offering every feasible position in turn.
///
/// Walking the positions in order, each key below every key before it (a new least key) resets
/// the selector's tie count, and each repeat of the least key so far draws one number. Only the
/// draws of the last least key (the least of the level) decide the choice; the earlier ones are
/// counted and skipped. The walk visits one tree path per new least key, not every position.
fn level_select(tree: &MinTree, segs: &[(usize, usize)], rng: &mut SplitMix64) -> Option<usize> {
    let mut draws = 0u64;
    let mut least = INFEASIBLE;
    // Repeats of `least` after its first occurrence, which is at `segs[first.0]`, position `first.1`.
    let mut repeats = 0u32;
    let mut first = (0usize, 0usize);
    for (s, &(lo, hi)) in segs.iter().enumerate() {
        let mut pos = lo;
        loop {
            let (next, equal) = tree.scan_below(pos, hi, least);
            if least != INFEASIBLE {
                repeats += equal;
            }
            let Some(q) = next else { break };
            if least != INFEASIBLE {
                draws += u64::from(repeats);
            }
            least = tree.get(q);
            repeats = 0;
            first = (s, q);
            pos = q + 1;
        }
    }
    if least == INFEASIBLE {
        return None;
    }
    rng.skip(draws);
    let chosen = rng.reservoir(u64::from(repeats) + 1) as u32;
    if chosen == 0 {
        return Some(first.1);
    }
    let mut n = chosen - 1;
    for (s, &(lo, hi)) in segs.iter().enumerate().skip(first.0) {
        let lo = if s == first.0 { first.1 + 1 } else { lo };
        match tree.nth_equal(lo, hi, least, n) {
            Ok(pos) => return Some(pos),
            Err(c) => n -= c,
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// The public engine

impl Placer {
    /// Copies what placement needs out of `view`. `seed` fixes every random choice.
    pub fn new<V: ClusterView + ?Sized>(view: &V, seed: u64) -> Placer {
        let mut st = State::default();
        let mut by_arn: HashMap<String, usize> = HashMap::new();
        for ci in view.container_instances() {
            let mut attrs: Vec<(String, Option<String>)> = ci
                .attributes
                .iter()
                .map(|a| (a.name.clone(), a.value.clone()))
                .collect();
            attrs.sort_by(|a, b| a.0.cmp(&b.0));
            attrs.dedup_by(|a, b| a.0 == b.0);
            let sorted = |v: &[u16]| {
                let mut v = v.to_vec();
                v.sort_unstable();
                v.dedup();
                v
            };
            let mut tcp = sorted(&ci.ports_in_use.tcp);
            let mut udp = sorted(&ci.ports_in_use.udp);
            // Reserved ports are never free, whatever the in-use list says.
            for p in &ci.reserved_ports.tcp {
                if let Err(k) = tcp.binary_search(p) {
                    tcp.insert(k, *p);
                }
            }
            for p in &ci.reserved_ports.udp {
                if let Err(k) = udp.binary_search(p) {
                    udp.insert(k, *p);
                }
            }
            by_arn.insert(ci.container_instance_arn.clone(), st.inst.len());
            st.cpu.push(ci.remaining_resources.cpu);
            st.mem.push(ci.remaining_resources.memory);
            st.gpu.push(ci.remaining_resources.gpu);
            st.inst.push(Inst {
                arn: ci.container_instance_arn.clone(),
                ec2: ci.ec2_instance_id.clone(),
                status: ci.status,
                connected: ci.agent_connected,
                agent_version: ci.agent_version.clone(),
                registered_at: ci.registered_at,
                attrs,
                registered: ci.registered_resources,
                reserved_tcp: sorted(&ci.reserved_ports.tcp),
                reserved_udp: sorted(&ci.reserved_ports.udp),
                tcp,
                udp,
                task_count: 0,
                groups: Vec::new(),
            });
        }
        for t in view.tasks() {
            // Tasks on instances the view does not list cannot affect placement.
            let Some(&i) = by_arn.get(&t.container_instance_arn) else {
                continue;
            };
            let g = st.group_id(&t.group);
            add_group(&mut st.inst[i], g);
            st.inst[i].task_count += 1;
            st.tasks.push(TaskRec {
                arn: t.task_arn.clone(),
                inst: i,
                group: g,
                res: t.resources,
                ports: t.host_ports.clone(),
                alive: true,
            });
        }
        Placer {
            st,
            cache: Cache::default(),
            indexes: Indexes::default(),
            rng: SplitMix64::new(seed),
        }
    }

    /// Restarts the random sequence from `seed`, keeping the working state and caches: a
    /// `Placer` kept up to date across requests then plans exactly as
    /// `Placer::new(view, seed)` would on a view of the same state.
    pub fn reseed(&mut self, seed: u64) {
        self.rng = SplitMix64::new(seed);
    }

    /// Number of container instances in the working state.
    pub fn instance_count(&self) -> usize {
        self.st.inst.len()
    }

    /// Remaining cpu/memory/GPU of an instance in the working state (after planned placements).
    pub fn remaining(&self, container_instance_arn: &str) -> Option<Resources> {
        let i = self.index_of(container_instance_arn)?;
        Some(Resources::new(
            self.st.cpu[i],
            self.st.mem[i],
            self.st.gpu[i],
        ))
    }

    /// Tasks of `group` on an instance in the working state (after planned placements).
    pub fn group_count(&self, container_instance_arn: &str, group: &str) -> u32 {
        match (
            self.index_of(container_instance_arn),
            self.st.group_ids.get(group),
        ) {
            (Some(i), Some(g)) => self.st.group_count(i, *g),
            _ => 0,
        }
    }

    fn index_of(&self, arn: &str) -> Option<usize> {
        self.st.inst.iter().position(|i| i.arn == arn)
    }

    /// Places `request.count` tasks one after another, each seeing the ones before it.
    ///
    /// Stops at the first task that no instance can take and reports it as
    /// [`PlacementPlan::unplaced`] (the remaining tasks would fail the same way), with every
    /// instance's reasons, whether it can ever be placed, and ECS's event text.
    ///
    /// # Errors
    ///
    /// [`PlacementError`] when the request is invalid whatever the cluster: more than 10
    /// constraints or 5 strategies, a strategy field its type does not accept, a `memberOf`
    /// without (or a `distinctInstance` with) an expression, `distinctInstance` in the task
    /// definition, an expression over 2000 characters or that does not parse, or a static host
    /// port listed twice.
    ///
    /// # Examples
    ///
    /// ```
    /// use berth_core::placement::*;
    ///
    /// let mut cluster = Snapshot::new();
    /// for n in 0..3 {
    ///     cluster.push_instance(ContainerInstance::new(format!("arn:ci/{n}"), format!("i-{n}"),
    ///                                                  Resources::new(4096, 8192, 0)));
    /// }
    /// let mut placer = Placer::new(&cluster, 1);
    /// let task = TaskRequirements::new("family:web", Resources::new(1024, 1024, 0));
    /// let req = PlacementRequest::run_task(task, 3)
    ///     .with_constraint(PlacementConstraint::distinct_instance());
    /// let plan = placer.place(&req)?;
    /// assert_eq!(plan.placements.len(), 3);
    /// // A fourth task of the group has nowhere to go for now.
    /// let more = placer.place(&PlacementRequest { count: 1, ..req.clone() })?;
    /// assert_eq!(more.unplaced.map(|u| u.kind), Some(UnplacedKind::CannotPlaceNow));
    ///
    /// let bad = req.with_constraint(PlacementConstraint::member_of("attribute:x =="));
    /// assert!(matches!(placer.place(&bad), Err(PlacementError::InvalidExpression { .. })));
    /// # Ok::<(), PlacementError>(())
    /// ```
    pub fn place(&mut self, request: &PlacementRequest) -> Result<PlacementPlan, PlacementError> {
        self.place_with(request, INDEX_MIN_COUNT)
    }

    /// [`Placer::place`], selecting through a [`SelIndex`] when one is kept for the request's
    /// shape or `request.count` is at least `index_from` (and the strategies allow one), by
    /// scanning otherwise (always when `index_from` is `u32::MAX`); both give the same plan.
    fn place_with(
        &mut self,
        request: &PlacementRequest,
        index_from: u32,
    ) -> Result<PlacementPlan, PlacementError> {
        let pipe = Pipeline::new(
            &mut self.st,
            &mut self.cache,
            &request.task,
            &request.placement_constraints,
            &request.placement_strategy,
        )?;
        let candidates = self.cache.candidates(&self.st, &pipe);
        let index = if index_from == u32::MAX {
            None
        } else {
            self.indexes.get(
                &self.st,
                &self.cache,
                &pipe,
                candidates,
                request.count,
                index_from,
            )
        };
        let mut plan = PlacementPlan::default();
        for k in 0..request.count {
            let chosen = match index {
                Some(x) => self.indexes.built[x]
                    .2
                    .select(&self.cache, &pipe, &mut self.rng),
                None => select(&self.st, &self.cache, &pipe, candidates, &mut self.rng),
            };
            match chosen {
                Some(i) => {
                    self.apply(&pipe, i);
                    plan.placements.push(Placement {
                        container_instance_arn: self.st.inst[i].arn.clone(),
                        ec2_instance_id: self.st.inst[i].ec2.clone(),
                    });
                }
                None => {
                    plan.unplaced = Some(self.unplaced(&pipe, request.count - k));
                    break;
                }
            }
        }
        Ok(plan)
    }

    /// [`Placer::place`] with RunTask's limit on `count` (1–10).
    ///
    /// # Errors
    ///
    /// [`PlacementError::CountOutOfRange`] for a count outside 1–10, otherwise as
    /// [`Placer::place`].
    ///
    /// # Examples
    ///
    /// ```
    /// use berth_core::placement::*;
    ///
    /// let mut placer = Placer::new(&Snapshot::new(), 0);
    /// let task = TaskRequirements::new("family:web", Resources::new(256, 256, 0));
    /// let err = placer.run_task(&PlacementRequest::run_task(task.clone(), 11)).unwrap_err();
    /// assert!(matches!(err, PlacementError::CountOutOfRange { count: 11, .. }));
    /// let plan = placer.run_task(&PlacementRequest::run_task(task, 1))?;
    /// assert_eq!(plan.unplaced.map(|u| u.kind), Some(UnplacedKind::NoContainerInstances));
    /// # Ok::<(), PlacementError>(())
    /// ```
    pub fn run_task(
        &mut self,
        request: &PlacementRequest,
    ) -> Result<PlacementPlan, PlacementError> {
        if request.count == 0 || request.count > MAX_RUN_TASK_COUNT {
            return Err(PlacementError::CountOutOfRange {
                count: request.count,
                max: MAX_RUN_TASK_COUNT,
            });
        }
        self.place(request)
    }

    /// Where the next task of `request` would land, and every other instance's reasons —
    /// without changing the working state or the random sequence (the dashboard's "why is this
    /// task pending" view). `request.count` is ignored.
    ///
    /// # Errors
    ///
    /// As [`Placer::place`].
    ///
    /// # Examples
    ///
    /// ```
    /// use berth_core::placement::*;
    ///
    /// let mut cluster = Snapshot::new();
    /// let mut draining = ContainerInstance::new("arn:ci/d", "i-d", Resources::new(1024, 1024, 0));
    /// draining.status = InstanceStatus::Draining;
    /// cluster.push_instance(draining);
    /// cluster.push_instance(ContainerInstance::new("arn:ci/a", "i-a", Resources::new(1024, 1024, 0)));
    /// let task = TaskRequirements::new("family:web", Resources::new(256, 256, 0));
    /// let why = Placer::new(&cluster, 0).explain(&PlacementRequest::run_task(task, 1))?;
    /// assert_eq!(why.chosen.as_deref(), Some("arn:ci/a"));
    /// assert_eq!(why.rejections[0].reasons,
    ///            vec![RejectionReason::NotActive { status: InstanceStatus::Draining }]);
    /// # Ok::<(), PlacementError>(())
    /// ```
    pub fn explain(&mut self, request: &PlacementRequest) -> Result<Explanation, PlacementError> {
        let pipe = Pipeline::new(
            &mut self.st,
            &mut self.cache,
            &request.task,
            &request.placement_constraints,
            &request.placement_strategy,
        )?;
        let candidates = self.cache.candidates(&self.st, &pipe);
        let mut rng = self.rng.clone();
        let chosen = select(&self.st, &self.cache, &pipe, candidates, &mut rng)
            .map(|i| self.st.inst[i].arn.clone());
        let mut out = Explanation {
            chosen,
            eligible: Vec::new(),
            rejections: Vec::new(),
        };
        for i in 0..self.st.inst.len() {
            let reasons = pipe.reasons(&self.st, &self.cache, i);
            if reasons.is_empty() {
                out.eligible.push(self.st.inst[i].arn.clone());
            } else {
                out.rejections.push(InstanceRejection {
                    container_instance_arn: self.st.inst[i].arn.clone(),
                    reasons,
                });
            }
        }
        Ok(out)
    }

    /// Chooses `count` tasks of `group` to stop on scale-in, one after another, each choice
    /// seeing the ones before it. Strategies are applied in order, each within the ties of the
    /// ones before: `binpack` stops the task on the instance that would have the most of the
    /// resource left afterwards; `spread` takes from the most-loaded value (or instance);
    /// `random` picks at random. Empty strategies mean the service default (most-loaded
    /// availability zone, then most-loaded instance, then random). Tasks whose ARN is empty
    /// (planned but not yet started) are not candidates. Fewer than `count` tasks are returned
    /// when the group has fewer.
    ///
    /// # Errors
    ///
    /// [`PlacementError::TooManyStrategies`] or [`PlacementError::InvalidStrategyField`].
    ///
    /// # Examples
    ///
    /// ```
    /// use berth_core::placement::*;
    ///
    /// let mut cluster = Snapshot::new();
    /// for n in ["a", "b"] {
    ///     cluster.push_instance(ContainerInstance::new(format!("arn:ci/{n}"), n, Resources::new(4096, 4096, 0)));
    /// }
    /// for (t, ci, mem) in [("t1", "a", 512), ("t2", "b", 1024), ("t3", "b", 1024)] {
    ///     cluster.start_task(TaskInfo { task_arn: t.into(), container_instance_arn: format!("arn:ci/{ci}"),
    ///         group: "service:web".into(), resources: Resources::new(0, mem, 0), host_ports: vec![] });
    /// }
    /// let stop = Placer::new(&cluster, 0)
    ///     .scale_in("service:web", &[PlacementStrategy::binpack("memory")], 1)?;
    /// // a has 3584 MiB left, b 2048: stopping t1 leaves a with 4096, the most.
    /// assert_eq!(stop[0].task_arn, "t1");
    /// # Ok::<(), PlacementError>(())
    /// ```
    pub fn scale_in(
        &mut self,
        group: &str,
        strategies: &[PlacementStrategy],
        count: u32,
    ) -> Result<Vec<TaskToStop>, PlacementError> {
        let defaults;
        let strategies = if strategies.is_empty() {
            defaults = PlacementStrategy::service_default();
            &defaults[..]
        } else {
            strategies
        };
        let g = self.st.group_id(group);
        let dense = self.cache.dense(&self.st, g);
        let ranks = build_ranks(&self.st, &mut self.cache, g, strategies)?;
        let mut out = Vec::new();
        for _ in 0..count {
            let mut sel = Selector::new();
            for (k, t) in self.st.tasks.iter().enumerate() {
                if !t.alive || t.group != g || t.arn.is_empty() {
                    continue;
                }
                let mut keys = [0u64; MAX_STRATEGIES];
                for (key, r) in keys.iter_mut().zip(&ranks) {
                    *key = match *r {
                        Rank::SpreadAttr { spread, attr } => {
                            self.cache.spread[spread].counts
                                [self.cache.attrs[attr].value_of[t.inst] as usize]
                        }
                        Rank::SpreadInstance => u64::from(self.cache.dense[dense].1[t.inst]),
                        Rank::Binpack(Field::Cpu) => {
                            u64::from(self.st.cpu[t.inst]) + u64::from(t.res.cpu)
                        }
                        Rank::Binpack(Field::Memory) => {
                            u64::from(self.st.mem[t.inst]) + u64::from(t.res.memory)
                        }
                    };
                }
                sel.offer(k, &keys, ranks.len(), &mut self.rng, true);
            }
            let Some(k) = sel.best else { break };
            self.release(k);
            let t = &self.st.tasks[k];
            out.push(TaskToStop {
                task_arn: t.arn.clone(),
                container_instance_arn: self.st.inst[t.inst].arn.clone(),
            });
        }
        Ok(out)
    }

    /// Plans a DAEMON service: one task of `task.group` on every instance that is ACTIVE and
    /// connected, matches `constraints` and `requiresAttributes`, and has room — and which of
    /// the group's tasks to stop: those on instances that are no longer ACTIVE (DRAINING …) or no
    /// longer match, and duplicates. Starts are charged to the working state (daemon tasks are
    /// placed before the services that share the instances).
    ///
    /// # Errors
    ///
    /// As [`Placer::place`] (strategies do not apply to DAEMON services).
    ///
    /// # Examples
    ///
    /// ```
    /// use berth_core::placement::*;
    ///
    /// let mut cluster = Snapshot::new();
    /// for (n, stack) in [("a", "prod"), ("b", "test")] {
    ///     cluster.push_instance(ContainerInstance::new(format!("arn:ci/{n}"), n, Resources::new(1024, 1024, 0))
    ///         .with_attribute("stack", Some(stack)));
    /// }
    /// let task = TaskRequirements::new("service:agent", Resources::new(128, 128, 0));
    /// let plan = Placer::new(&cluster, 0)
    ///     .place_daemon(&task, &[PlacementConstraint::member_of("attribute:stack == prod")])?;
    /// assert_eq!(plan.start.len(), 1);
    /// assert_eq!(plan.start[0].container_instance_arn, "arn:ci/a");
    /// # Ok::<(), PlacementError>(())
    /// ```
    pub fn place_daemon(
        &mut self,
        task: &TaskRequirements,
        constraints: &[PlacementConstraint],
    ) -> Result<DaemonPlan, PlacementError> {
        let pipe = Pipeline::new(&mut self.st, &mut self.cache, task, constraints, &[])?;
        let mut on: Vec<Vec<usize>> = vec![Vec::new(); self.st.inst.len()];
        for (k, t) in self.st.tasks.iter().enumerate() {
            if t.alive && t.group == pipe.group {
                on[t.inst].push(k);
            }
        }
        let mut plan = DaemonPlan::default();
        for (i, existing) in on.iter().enumerate() {
            let inst = &self.st.inst[i];
            if existing.is_empty() {
                let reasons = pipe.reasons(&self.st, &self.cache, i);
                if reasons.is_empty() {
                    self.apply(&pipe, i);
                    plan.start.push(Placement {
                        container_instance_arn: self.st.inst[i].arn.clone(),
                        ec2_instance_id: self.st.inst[i].ec2.clone(),
                    });
                } else {
                    plan.rejections.push(InstanceRejection {
                        container_instance_arn: inst.arn.clone(),
                        reasons,
                    });
                }
                continue;
            }
            let stop_all = if inst.status != InstanceStatus::Active {
                Some(DaemonStopReason::InstanceNotActive {
                    status: inst.status,
                })
            } else {
                let mut reasons = Vec::new();
                for f in pipe
                    .filters
                    .iter()
                    .filter(|f| matches!(f, Filter::Attributes(_) | Filter::MemberOf(_)))
                {
                    f.reasons(&self.st, &self.cache, &pipe, i, &mut reasons);
                }
                (!reasons.is_empty()).then_some(DaemonStopReason::NoLongerEligible { reasons })
            };
            // Everything goes when the instance no longer qualifies; otherwise keep the first.
            let (skip, reason) = match stop_all {
                Some(r) => (0, r),
                None => (1, DaemonStopReason::Duplicate),
            };
            for &k in existing.iter().skip(skip) {
                plan.stop.push(DaemonStop {
                    task: TaskToStop {
                        task_arn: self.st.tasks[k].arn.clone(),
                        container_instance_arn: self.st.inst[i].arn.clone(),
                    },
                    reason: reason.clone(),
                });
            }
        }
        for s in &plan.stop {
            if let Some(k) = self
                .st
                .tasks
                .iter()
                .position(|t| t.alive && t.arn == s.task.task_arn)
            {
                self.release(k);
            }
        }
        Ok(plan)
    }

    /// Charges one task of the pipeline's shape to instance `i`.
    fn apply(&mut self, p: &Pipeline, i: usize) {
        let st = &mut self.st;
        st.cpu[i] = st.cpu[i].saturating_sub(p.needs.cpu);
        st.mem[i] = st.mem[i].saturating_sub(p.needs.memory);
        st.gpu[i] = st.gpu[i].saturating_sub(p.needs.gpu);
        let inst = &mut st.inst[i];
        for pt in &p.ports {
            let set = match pt.protocol {
                Protocol::Tcp => &mut inst.tcp,
                Protocol::Udp => &mut inst.udp,
            };
            if let Err(k) = set.binary_search(&pt.port) {
                set.insert(k, pt.port);
            }
        }
        inst.task_count += 1;
        add_group(inst, p.group);
        st.tasks.push(TaskRec {
            arn: String::new(),
            inst: i,
            group: p.group,
            res: p.needs,
            ports: p.ports.clone(),
            alive: true,
        });
        self.cache.count_task(p.group, i, true);
        self.indexes.refresh(&self.st, &self.cache, i);
    }

    /// Releases task `k` (scale-in or daemon stop): resources, ports and counts come back.
    fn release(&mut self, k: usize) {
        let st = &mut self.st;
        let t = &mut st.tasks[k];
        if !t.alive {
            return;
        }
        t.alive = false;
        let (i, g, res) = (t.inst, t.group, t.res);
        let ports = std::mem::take(&mut t.ports);
        st.cpu[i] = st.cpu[i].saturating_add(res.cpu);
        st.mem[i] = st.mem[i].saturating_add(res.memory);
        st.gpu[i] = st.gpu[i].saturating_add(res.gpu);
        let inst = &mut st.inst[i];
        for pt in ports {
            let reserved = match pt.protocol {
                Protocol::Tcp => inst.reserved_tcp.contains(&pt.port),
                Protocol::Udp => inst.reserved_udp.contains(&pt.port),
            };
            let set = match pt.protocol {
                Protocol::Tcp => &mut inst.tcp,
                Protocol::Udp => &mut inst.udp,
            };
            if !reserved && let Ok(k) = set.binary_search(&pt.port) {
                set.remove(k);
            }
        }
        inst.task_count = inst.task_count.saturating_sub(1);
        if let Some(e) = inst.groups.iter_mut().find(|(id, _)| *id == g) {
            e.1 = e.1.saturating_sub(1);
        }
        self.cache.count_task(g, i, false);
        self.indexes.refresh(&self.st, &self.cache, i);
    }

    fn unplaced(&self, p: &Pipeline, count: u32) -> Unplaced {
        let mut rejections = Vec::new();
        let mut closest: Option<(usize, usize, usize)> = None; // (rejection index, #reasons, stage)
        for i in 0..self.st.inst.len() {
            let reasons = p.reasons(&self.st, &self.cache, i);
            if reasons.is_empty() {
                continue; // cannot happen after a failed selection; keep the plan consistent anyway
            }
            let stage = reasons.first().map_or(0, stage_of);
            let better = match closest {
                None => true,
                Some((_, n, s)) => reasons.len() < n || (reasons.len() == n && stage > s),
            };
            if better {
                closest = Some((rejections.len(), reasons.len(), stage));
            }
            rejections.push(InstanceRejection {
                container_instance_arn: self.st.inst[i].arn.clone(),
                reasons,
            });
        }
        let kind = if self.st.inst.is_empty() {
            UnplacedKind::NoContainerInstances
        } else if rejections.len() == self.st.inst.len()
            && rejections
                .iter()
                .all(|r| r.reasons.iter().any(RejectionReason::is_permanent))
        {
            UnplacedKind::CanNeverPlace
        } else {
            UnplacedKind::CannotPlaceNow
        };
        let closest_rej = closest.map(|(k, _, _)| &rejections[k]);
        let message = unplaced_message(closest_rej.and_then(|r| {
            r.reasons
                .first()
                .map(|reason| (super::instance_id(&r.container_instance_arn), reason))
        }));
        Unplaced {
            count,
            kind,
            closest_container_instance_arn: closest_rej.map(|r| r.container_instance_arn.clone()),
            message,
            rejections,
        }
    }
}

fn add_group(inst: &mut Inst, g: u32) {
    match inst.groups.iter_mut().find(|(id, _)| *id == g) {
        Some(e) => e.1 += 1,
        None => inst.groups.push((g, 1)),
    }
}

fn stage_of(r: &RejectionReason) -> usize {
    match r {
        RejectionReason::NotActive { .. } => 0,
        RejectionReason::AgentDisconnected => 1,
        RejectionReason::MissingAttribute { .. } => 2,
        RejectionReason::InsufficientCpu { .. } => 3,
        RejectionReason::InsufficientMemory { .. } => 4,
        RejectionReason::InsufficientGpu { .. } => 5,
        RejectionReason::PortInUse { .. } => 6,
        RejectionReason::DistinctInstance { .. } => 7,
        RejectionReason::ConstraintNotSatisfied { .. } => 8,
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use proptest::prelude::*;

    fn arn(n: &str) -> String {
        format!("arn:aws:ecs:us-east-1:123456789012:container-instance/default/{n}")
    }

    fn inst(n: &str, az: &str, cpu: u32, mem: u32) -> ContainerInstance {
        ContainerInstance::new(arn(n), format!("i-{n}"), Resources::new(cpu, mem, 0))
            .with_attribute("ecs.availability-zone", Some(az))
    }

    fn cluster(list: Vec<ContainerInstance>) -> Snapshot {
        let mut s = Snapshot::new();
        for i in list {
            s.push_instance(i);
        }
        s
    }

    fn task(group: &str, on: &str, k: usize, cpu: u32, mem: u32) -> TaskInfo {
        TaskInfo {
            task_arn: format!("arn:aws:ecs:us-east-1:123456789012:task/default/{on}-{k}"),
            container_instance_arn: arn(on),
            group: group.into(),
            resources: Resources::new(cpu, mem, 0),
            host_ports: Vec::new(),
        }
    }

    fn ids(plan: &PlacementPlan) -> Vec<&str> {
        plan.placements
            .iter()
            .map(|p| instance_id(&p.container_instance_arn))
            .collect()
    }

    fn web(cpu: u32, mem: u32) -> TaskRequirements {
        TaskRequirements::new("service:web", Resources::new(cpu, mem, 0))
    }

    fn place(s: &Snapshot, req: &PlacementRequest) -> PlacementPlan {
        Placer::new(s, 1)
            .place(req)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    // ---- strategies: the worked examples of ecs-semantics §2.2 ----------------------------

    #[test]
    fn spread_az_then_binpack_memory() {
        // AZ a already runs one task of the group, so b wins; inside b, the instance with the
        // least memory that still fits wins.
        let mut s = cluster(vec![
            inst("a1", "a", 4096, 1024),
            inst("b1", "b", 4096, 8192),
            inst("b2", "b", 4096, 2048),
            inst("b3", "b", 4096, 512), // too small for the task
        ]);
        s.start_task(task("service:web", "a1", 0, 0, 0));
        let req = PlacementRequest::run_task(web(256, 1024), 3).with_strategies(vec![
            PlacementStrategy::spread("attribute:ecs.availability-zone"),
            PlacementStrategy::binpack("memory"),
        ]);
        // 1st → b2 (b has 0 tasks; b2 leaves 1024); then a and b tie at 1: a1 leaves 0, b2 leaves 0 → random
        // between them; the third goes to the other zone's tightest instance.
        let plan = place(&s, &req);
        assert_eq!(ids(&plan)[0], "b2");
        let mut rest = ids(&plan)[1..].to_vec();
        rest.sort();
        assert_eq!(rest, vec!["a1", "b2"]);
        assert!(plan.unplaced.is_none());
    }

    #[test]
    fn spread_az_then_spread_instance() {
        let s = cluster(vec![
            inst("a1", "a", 4096, 4096),
            inst("a2", "a", 4096, 4096),
            inst("b1", "b", 4096, 4096),
            inst("b2", "b", 4096, 4096),
            inst("c1", "c", 4096, 4096),
            inst("c2", "c", 4096, 4096),
        ]);
        let plan = place(&s, &PlacementRequest::service(web(128, 128), 6));
        let mut got = ids(&plan);
        // Every prefix of three covers the three zones; the six cover every instance once.
        let mut zones: Vec<char> = got[..3]
            .iter()
            .map(|i| i.chars().next().unwrap_or(' '))
            .collect();
        zones.sort();
        assert_eq!(zones, vec!['a', 'b', 'c']);
        got.sort();
        assert_eq!(got, vec!["a1", "a2", "b1", "b2", "c1", "c2"]);
    }

    #[test]
    fn binpack_cpu_fills_the_fullest_instance_first() {
        let s = cluster(vec![
            inst("big", "a", 4096, 8192),
            inst("mid", "a", 2048, 8192),
            inst("small", "a", 512, 8192),
        ]);
        let req = PlacementRequest::run_task(web(1024, 128), 4)
            .with_strategies(vec![PlacementStrategy::binpack("CPU")]);
        // small cannot fit; mid leaves 1024 then 0; then big.
        assert_eq!(ids(&place(&s, &req)), vec!["mid", "mid", "big", "big"]);
    }

    #[test]
    fn spread_on_custom_attribute_and_host_alias() {
        let s = cluster(vec![
            inst("x1", "a", 4096, 4096).with_attribute("rack", Some("r1")),
            inst("x2", "a", 4096, 4096).with_attribute("rack", Some("r1")),
            inst("x3", "a", 4096, 4096).with_attribute("rack", Some("r2")),
        ]);
        let req = PlacementRequest::run_task(web(1, 1), 4).with_strategies(vec![
            PlacementStrategy::spread("attribute:rack"),
            PlacementStrategy::spread("host"),
        ]);
        let plan = place(&s, &req);
        let got = ids(&plan);
        let r2 = got.iter().filter(|i| **i == "x3").count();
        assert_eq!(r2, 2, "{got:?}");
        assert!(got.contains(&"x1") && got.contains(&"x2"));
    }

    #[test]
    fn random_is_seeded_and_spreads_over_candidates() {
        let s = cluster(
            (0..8)
                .map(|n| inst(&format!("r{n}"), "a", 4096, 4096))
                .collect(),
        );
        let req = PlacementRequest::run_task(web(1, 1), 10).with_strategies(vec![
            PlacementStrategy::random(),
            PlacementStrategy::binpack("memory"),
        ]);
        let a = Placer::new(&s, 99).place(&req).unwrap_or_default();
        let b = Placer::new(&s, 99).place(&req).unwrap_or_default();
        let c = Placer::new(&s, 100).place(&req).unwrap_or_default();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mut distinct = ids(&a);
        distinct.sort();
        distinct.dedup();
        assert!(distinct.len() > 3, "{distinct:?}"); // binpack after random has no effect
    }

    // ---- rejection reasons ------------------------------------------------------------------

    #[test]
    fn every_rejection_reason() {
        let mut draining = inst("draining", "a", 4096, 4096);
        draining.status = InstanceStatus::Draining;
        let mut away = inst("away", "a", 4096, 4096);
        away.agent_connected = false;
        let mut gpu = inst("gpu", "a", 4096, 4096);
        gpu.registered_resources.gpu = 1;
        gpu.remaining_resources.gpu = 1;
        let mut udp = inst("udp", "a", 4096, 4096);
        udp.ports_in_use.udp.push(53);
        let mut s = cluster(vec![
            draining,
            away,
            inst("noattr", "a", 4096, 4096),
            inst("wrongattr", "a", 4096, 4096).with_attribute("stack", Some("test")),
            inst("cpu", "a", 100, 4096).with_attribute("stack", Some("prod")),
            inst("mem", "a", 4096, 100).with_attribute("stack", Some("prod")),
            gpu.with_attribute("stack", Some("prod")),
            inst("port", "a", 4096, 4096).with_attribute("stack", Some("prod")),
            udp.with_attribute("stack", Some("prod")),
            inst("distinct", "a", 4096, 4096).with_attribute("stack", Some("prod")),
            inst("member", "b", 4096, 4096).with_attribute("stack", Some("prod")),
        ]);
        s.start_task(TaskInfo {
            host_ports: vec![HostPort {
                port: 8080,
                protocol: Protocol::Tcp,
            }],
            ..task("family:other", "port", 0, 0, 0)
        });
        s.start_task(task("service:web", "distinct", 0, 0, 0));
        let mut t = web(512, 512);
        t.resources.gpu = 2;
        t.host_ports = vec![
            HostPort {
                port: 8080,
                protocol: Protocol::Tcp,
            },
            HostPort {
                port: 53,
                protocol: Protocol::Udp,
            },
        ];
        t.requires_attributes = vec![Attribute {
            name: "stack".into(),
            value: Some("prod".into()),
        }];
        let req = PlacementRequest::run_task(t, 1)
            .with_constraint(PlacementConstraint::distinct_instance())
            .with_constraint(PlacementConstraint::member_of(
                "attribute:ecs.availability-zone == a",
            ));
        let why = Placer::new(&s, 0)
            .explain(&req)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(why.chosen, None);
        assert!(why.eligible.is_empty());
        let by = |n: &str| {
            why.rejections
                .iter()
                .find(|r| instance_id(&r.container_instance_arn) == n)
                .map(|r| r.reasons.clone())
                .unwrap_or_default()
        };
        use RejectionReason as R;
        let gpu_short = R::InsufficientGpu {
            needed: 2,
            available: 0,
            registered: 0,
        };
        let missing = R::MissingAttribute {
            name: "stack".into(),
            value: Some("prod".into()),
        };
        assert_eq!(
            by("draining")[0],
            R::NotActive {
                status: InstanceStatus::Draining
            }
        );
        assert_eq!(by("away")[0], R::AgentDisconnected);
        assert_eq!(by("noattr")[0], missing);
        assert_eq!(by("wrongattr")[0], missing);
        assert_eq!(
            by("cpu"),
            vec![
                R::InsufficientCpu {
                    needed: 512,
                    available: 100,
                    registered: 100
                },
                gpu_short.clone()
            ]
        );
        assert_eq!(
            by("mem"),
            vec![
                R::InsufficientMemory {
                    needed: 512,
                    available: 100,
                    registered: 100
                },
                gpu_short.clone()
            ]
        );
        assert_eq!(
            by("gpu"),
            vec![R::InsufficientGpu {
                needed: 2,
                available: 1,
                registered: 1
            }]
        );
        assert_eq!(
            by("port"),
            vec![
                gpu_short.clone(),
                R::PortInUse {
                    port: 8080,
                    protocol: Protocol::Tcp,
                    reserved: false
                }
            ]
        );
        assert_eq!(
            by("udp"),
            vec![
                gpu_short.clone(),
                R::PortInUse {
                    port: 53,
                    protocol: Protocol::Udp,
                    reserved: false
                }
            ]
        );
        assert_eq!(
            by("distinct"),
            vec![
                gpu_short.clone(),
                R::DistinctInstance {
                    group: "service:web".into()
                }
            ]
        );
        assert_eq!(
            by("member"),
            vec![
                gpu_short,
                R::ConstraintNotSatisfied {
                    expression: "attribute:ecs.availability-zone == a".into(),
                    depends_on_tasks: false
                }
            ]
        );
        let codes: Vec<&str> = why
            .rejections
            .iter()
            .map(|r| r.reasons[0].failure_reason())
            .collect();
        assert_eq!(
            codes,
            vec![
                "INACTIVE",
                "AGENT",
                "ATTRIBUTE",
                "ATTRIBUTE",
                "RESOURCE:CPU",
                "RESOURCE:MEMORY",
                "RESOURCE:GPU",
                "RESOURCE:GPU",
                "RESOURCE:GPU",
                "RESOURCE:GPU",
                "RESOURCE:GPU"
            ]
        );
    }

    #[test]
    fn reserved_port_is_permanent() {
        let s = cluster(vec![inst("a", "a", 4096, 4096)]);
        let mut t = web(1, 1);
        t.network_mode = NetworkMode::Host;
        t.host_ports = vec![HostPort {
            port: 22,
            protocol: Protocol::Tcp,
        }];
        let u = place(&s, &PlacementRequest::run_task(t, 1))
            .unplaced
            .unwrap_or_else(|| panic!("placed"));
        assert_eq!(u.kind, UnplacedKind::CanNeverPlace);
        assert_eq!(
            u.rejections[0].reasons,
            vec![RejectionReason::PortInUse {
                port: 22,
                protocol: Protocol::Tcp,
                reserved: true
            }]
        );
        assert_eq!(
            u.service_event("web"),
            "(service web) was unable to place a task because no container instance met all of its \
             requirements. The closest matching (container-instance a) is already using a port \
             required by your task. For more information, see the Troubleshooting section of the \
             Amazon ECS Developer Guide."
        );
        assert_eq!(
            u.failures(),
            vec![Failure {
                arn: arn("a"),
                reason: "RESOURCE:PORTS".into()
            }]
        );
    }

    #[test]
    fn cannot_place_now_vs_never_vs_no_instances() {
        let mut s = cluster(vec![inst("a", "a", 1024, 2048), inst("b", "a", 1024, 1024)]);
        s.start_task(task("family:x", "a", 0, 0, 1536));
        // Needs 1024 MiB: b fits now.
        assert!(
            place(&s, &PlacementRequest::run_task(web(1, 1024), 1))
                .unplaced
                .is_none()
        );
        // Needs 1536 MiB: a could take it once its task stops → cannot place now.
        let u = place(&s, &PlacementRequest::run_task(web(1, 1536), 1)).unplaced;
        let u = u.unwrap_or_else(|| panic!("placed"));
        assert_eq!(u.kind, UnplacedKind::CannotPlaceNow);
        assert_eq!(
            u.closest_container_instance_arn.as_deref(),
            Some(arn("a").as_str())
        );
        assert_eq!(
            u.message,
            "was unable to place a task because no container instance met all of its requirements. \
             The closest matching container-instance a has insufficient memory available. For more \
             information, see the Troubleshooting section of the Amazon ECS Developer Guide."
        );
        // Needs more CPU than any instance registered → can never place.
        let u = place(&s, &PlacementRequest::run_task(web(2048, 1), 1)).unplaced;
        let u = u.unwrap_or_else(|| panic!("placed"));
        assert_eq!(u.kind, UnplacedKind::CanNeverPlace);
        assert!(
            u.message.contains("has insufficient CPU units available."),
            "{}",
            u.message
        );
        // No instances at all.
        let u = place(&Snapshot::new(), &PlacementRequest::run_task(web(1, 1), 1)).unplaced;
        let u = u.unwrap_or_else(|| panic!("placed"));
        assert_eq!(u.kind, UnplacedKind::NoContainerInstances);
        assert!(
            u.message
                .ends_with("Reason: No Container Instances were found in your cluster.")
        );
    }

    #[test]
    fn closest_match_messages() {
        let mut away = inst("away", "a", 4096, 4096);
        away.agent_connected = false;
        let u = place(
            &cluster(vec![away]),
            &PlacementRequest::run_task(web(1, 1), 1),
        )
        .unplaced;
        let u = u.unwrap_or_else(|| panic!("placed"));
        assert!(
            u.message
                .contains("container-instance away encountered error \"AGENT\"."),
            "{}",
            u.message
        );
        assert_eq!(u.kind, UnplacedKind::CannotPlaceNow);
        let mut t = web(1, 1);
        t.requires_attributes = vec![Attribute {
            name: "ecs.capability.efs".into(),
            value: None,
        }];
        let u = place(
            &cluster(vec![inst("x", "a", 1, 1)]),
            &PlacementRequest::run_task(t, 1),
        )
        .unplaced;
        let u = u.unwrap_or_else(|| panic!("placed"));
        assert!(
            u.message
                .contains("is missing an attribute required by your task."),
            "{}",
            u.message
        );
        assert_eq!(u.kind, UnplacedKind::CanNeverPlace);
    }

    // ---- invalid input ----------------------------------------------------------------------

    #[test]
    fn invalid_requests() {
        let s = cluster(vec![inst("a", "a", 1, 1)]);
        let base = PlacementRequest::run_task(web(1, 1), 1);
        let mut many = base.clone();
        many.placement_constraints = vec![PlacementConstraint::member_of("attribute:a exists"); 6];
        many.task.placement_constraints =
            vec![PlacementConstraint::member_of("attribute:a exists"); 5];
        let mut with_expr = PlacementConstraint::distinct_instance();
        with_expr.expression = Some("attribute:a exists".into());
        let mut in_td = base.clone();
        in_td.task.placement_constraints = vec![PlacementConstraint::distinct_instance()];
        let mut dup = base.clone();
        dup.task.host_ports = vec![
            HostPort {
                port: 80,
                protocol: Protocol::Tcp
            };
            2
        ];
        let mut no_expr = PlacementConstraint::member_of("");
        no_expr.expression = None;
        let cases: Vec<(PlacementRequest, &str)> = vec![
            (many, "at most 10 placement constraints"),
            (
                base.clone()
                    .with_strategies(vec![PlacementStrategy::random(); 6]),
                "at most 5",
            ),
            (
                base.clone()
                    .with_strategies(vec![PlacementStrategy::binpack("disk")]),
                "cpu or memory",
            ),
            (
                base.clone()
                    .with_strategies(vec![PlacementStrategy::spread("attribute:")]),
                "instanceId",
            ),
            (
                base.clone().with_strategies(vec![PlacementStrategy {
                    kind: PlacementStrategyType::Spread,
                    field: None,
                }]),
                "instanceId",
            ),
            (
                base.clone().with_constraint(with_expr),
                "distinctInstance expression should not be specified.",
            ),
            (
                base.clone().with_constraint(no_expr),
                "requires an expression",
            ),
            (in_td, "not valid in a task definition"),
            (
                base.clone()
                    .with_constraint(PlacementConstraint::member_of(&"x".repeat(2001))),
                "at most 2000",
            ),
            (
                base.clone()
                    .with_constraint(PlacementConstraint::member_of("attribute:a == (")),
                "at byte 15",
            ),
            (dup, "used twice"),
        ];
        for (req, needle) in cases {
            let err = Placer::new(&s, 0)
                .place(&req)
                .err()
                .unwrap_or_else(|| panic!("accepted: {needle}"));
            assert!(err.to_string().contains(needle), "{err} / {needle}");
        }
        // Exactly 10 constraints and 5 strategies are fine.
        let mut ten = base
            .clone()
            .with_strategies(vec![PlacementStrategy::binpack("memory"); 5]);
        ten.placement_constraints = vec![PlacementConstraint::member_of("attribute:a !exists"); 10];
        assert!(Placer::new(&s, 0).place(&ten).is_ok());
    }

    // ---- many tasks at once -----------------------------------------------------------------

    #[test]
    fn each_placement_sees_the_previous_ones() {
        let s = cluster(vec![inst("a", "a", 1024, 1024), inst("b", "b", 1024, 1024)]);
        let mut t = web(256, 256);
        t.host_ports = vec![HostPort {
            port: 80,
            protocol: Protocol::Tcp,
        }];
        let mut placer = Placer::new(&s, 3);
        let plan = placer
            .run_task(&PlacementRequest::run_task(t, 3))
            .unwrap_or_default();
        let mut got = ids(&plan);
        got.sort();
        assert_eq!(got, vec!["a", "b"]);
        let u = plan.unplaced.unwrap_or_else(|| panic!("third placed"));
        assert_eq!(u.count, 1);
        assert_eq!(u.kind, UnplacedKind::CannotPlaceNow);
        assert!(u.rejections.iter().all(|r| matches!(
            r.reasons[0],
            RejectionReason::PortInUse {
                port: 80,
                reserved: false,
                ..
            }
        )));
        assert_eq!(
            placer.remaining(&arn("a")),
            Some(Resources::new(768, 768, 0))
        );
        assert_eq!(placer.group_count(&arn("a"), "service:web"), 1);
        // Dynamic ports (bridge, hostPort 0) never conflict.
        let dynamic = TaskRequirements::from_containers(
            "service:web",
            NetworkMode::Bridge,
            None,
            None,
            &[ContainerResources {
                cpu: Some(10),
                memory: Some(10),
                port_mappings: vec![PortMapping {
                    container_port: 80,
                    host_port: Some(0),
                    protocol: Protocol::Tcp,
                }],
                ..Default::default()
            }],
        );
        let plan = placer
            .run_task(&PlacementRequest::run_task(dynamic, 10))
            .unwrap_or_default();
        assert_eq!(plan.placements.len(), 10);
    }

    #[test]
    fn dynamic_constraints_are_reevaluated_per_task() {
        let s = cluster(vec![inst("a", "a", 4096, 4096), inst("b", "a", 4096, 4096)]);
        let req = PlacementRequest::run_task(web(1, 1), 5)
            .with_constraint(PlacementConstraint::member_of("runningTasksCount < 2"))
            .with_strategies(vec![PlacementStrategy::binpack("memory")]);
        let plan = place(&s, &req);
        assert_eq!(plan.placements.len(), 4);
        let u = plan.unplaced.unwrap_or_else(|| panic!("fifth placed"));
        assert_eq!(u.count, 1);
        assert!(matches!(
            &u.rejections[0].reasons[0],
            RejectionReason::ConstraintNotSatisfied {
                depends_on_tasks: true,
                ..
            }
        ));
        assert_eq!(u.kind, UnplacedKind::CannotPlaceNow);
        // task:group: keep away from the database.
        let mut s = cluster(vec![inst("a", "a", 4096, 4096), inst("b", "a", 4096, 4096)]);
        s.start_task(task("service:db", "a", 0, 0, 0));
        let req = PlacementRequest::run_task(web(1, 1), 3).with_constraint(
            PlacementConstraint::member_of("not(task:group == service:db)"),
        );
        assert_eq!(ids(&place(&s, &req)), vec!["b", "b", "b"]);
    }

    #[test]
    fn distinct_instance_across_calls() {
        let s = cluster(
            (0..3)
                .map(|n| inst(&format!("d{n}"), "a", 4096, 4096))
                .collect(),
        );
        let mut placer = Placer::new(&s, 5);
        let req = PlacementRequest::run_task(web(1, 1), 2)
            .with_constraint(PlacementConstraint::distinct_instance());
        let first = placer.place(&req).unwrap_or_default();
        let second = placer.place(&req).unwrap_or_default();
        let mut all = ids(&first);
        all.extend(ids(&second));
        assert_eq!(all.len(), 3);
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 3);
        assert!(second.unplaced.is_some_and(|u| u.count == 1));
    }

    #[test]
    fn requirements_from_containers() {
        let c = |cpu, mem, res, port: Option<PortMapping>| ContainerResources {
            cpu,
            memory: mem,
            memory_reservation: res,
            gpu: 1,
            port_mappings: port.into_iter().collect(),
        };
        let pm = |cp, hp| PortMapping {
            container_port: cp,
            host_port: hp,
            protocol: Protocol::Udp,
        };
        let list = [
            c(Some(256), Some(1024), Some(512), Some(pm(53, None))),
            c(None, Some(300), None, Some(pm(80, Some(8080)))),
        ];
        let t = TaskRequirements::from_containers("g", NetworkMode::Bridge, None, None, &list);
        assert_eq!(t.resources, Resources::new(256, 812, 2));
        assert_eq!(
            t.host_ports,
            vec![HostPort {
                port: 8080,
                protocol: Protocol::Udp
            }]
        );
        let t = TaskRequirements::from_containers(
            "g",
            NetworkMode::Host,
            Some(1024),
            Some(2048),
            &list,
        );
        assert_eq!(t.resources, Resources::new(1024, 2048, 2));
        assert_eq!(t.host_ports.len(), 2);
        let t = TaskRequirements::from_containers("g", NetworkMode::Awsvpc, None, None, &list);
        assert!(t.host_ports.is_empty());
        // awsvpc never checks host ports even when listed.
        let s = cluster(vec![inst("a", "a", 4096, 4096)]);
        let mut t = web(1, 1);
        t.network_mode = NetworkMode::Awsvpc;
        t.host_ports = vec![HostPort {
            port: 22,
            protocol: Protocol::Tcp,
        }];
        assert!(
            place(&s, &PlacementRequest::run_task(t, 2))
                .unplaced
                .is_none()
        );
    }

    // ---- scale-in ---------------------------------------------------------------------------

    fn scale_cluster() -> Snapshot {
        let mut s = cluster(vec![
            inst("a1", "a", 4096, 4096),
            inst("a2", "a", 4096, 4096),
            inst("b1", "b", 4096, 4096),
        ]);
        for (k, (on, mem)) in [("a1", 1024), ("a1", 1024), ("a2", 512), ("b1", 256)]
            .iter()
            .enumerate()
        {
            s.start_task(task("service:web", on, k, 0, *mem));
        }
        s.start_task(task("service:other", "b1", 9, 0, 3000));
        s
    }

    fn stop_ids(v: &[TaskToStop]) -> Vec<&str> {
        v.iter().map(|t| instance_id(&t.task_arn)).collect()
    }

    #[test]
    fn scale_in_binpack_frees_the_emptiest_instance() {
        let s = scale_cluster();
        // After stopping: a1 → 2048+1024, a2 → 3584+512 = 4096, b1 → 840+256 = 1096. a2 wins.
        let got =
            Placer::new(&s, 0).scale_in("service:web", &[PlacementStrategy::binpack("memory")], 2);
        let got = got.unwrap_or_default();
        // Then a1 (3072) beats b1 (1096).
        assert_eq!(
            stop_ids(&got),
            vec![
                "a2-2",
                if stop_ids(&got)[1] == "a1-0" {
                    "a1-0"
                } else {
                    "a1-1"
                }
            ]
        );
    }

    #[test]
    fn scale_in_spread_takes_from_the_most_loaded_value() {
        let s = scale_cluster();
        let mut placer = Placer::new(&s, 0);
        let got = placer
            .scale_in(
                "service:web",
                &[
                    PlacementStrategy::spread("attribute:ecs.availability-zone"),
                    PlacementStrategy::spread("instanceId"),
                ],
                2,
            )
            .unwrap_or_default();
        // a has 3 tasks (a1: 2, a2: 1), b has 1: the first two come from a1 then a (a1 and a2 tie at 1).
        let ids = stop_ids(&got);
        assert!(ids[0].starts_with("a1"), "{ids:?}");
        assert!(ids[1].starts_with('a'), "{ids:?}");
        // Default (empty) is the same rule; then everything left is balanced one per instance.
        let rest = placer.scale_in("service:web", &[], 10).unwrap_or_default();
        assert_eq!(rest.len(), 2);
        assert_eq!(
            placer.group_count(&arn("a1"), "service:web")
                + placer.group_count(&arn("b1"), "service:web"),
            0
        );
    }

    #[test]
    fn scale_in_random_is_seeded() {
        let s = scale_cluster();
        let r = [PlacementStrategy::random()];
        let a = Placer::new(&s, 11)
            .scale_in("service:web", &r, 2)
            .unwrap_or_default();
        let b = Placer::new(&s, 11)
            .scale_in("service:web", &r, 2)
            .unwrap_or_default();
        assert_eq!(a, b);
        assert!(
            Placer::new(&s, 0)
                .scale_in("service:web", &[PlacementStrategy::binpack("x")], 1)
                .is_err()
        );
    }

    #[test]
    fn scale_in_frees_resources_for_later_placements() {
        let mut s = cluster(vec![inst("a", "a", 1024, 1024)]);
        s.start_task(TaskInfo {
            host_ports: vec![HostPort {
                port: 80,
                protocol: Protocol::Tcp,
            }],
            ..task("service:web", "a", 0, 1024, 1024)
        });
        let mut placer = Placer::new(&s, 0);
        let mut t = web(1024, 1024);
        t.host_ports = vec![HostPort {
            port: 80,
            protocol: Protocol::Tcp,
        }];
        let req = PlacementRequest::run_task(t, 1);
        assert!(placer.place(&req).unwrap_or_default().unplaced.is_some());
        assert_eq!(
            placer
                .scale_in("service:web", &[], 1)
                .unwrap_or_default()
                .len(),
            1
        );
        assert!(placer.place(&req).unwrap_or_default().unplaced.is_none());
    }

    // ---- DAEMON -----------------------------------------------------------------------------

    #[test]
    fn daemon_start_stop_and_reject() {
        let mut draining = inst("drain", "a", 4096, 4096).with_attribute("stack", Some("prod"));
        draining.status = InstanceStatus::Draining;
        let mut s = cluster(vec![
            inst("fresh", "a", 4096, 4096).with_attribute("stack", Some("prod")),
            inst("has", "a", 4096, 4096).with_attribute("stack", Some("prod")),
            inst("dup", "a", 4096, 4096).with_attribute("stack", Some("prod")),
            draining,
            inst("moved", "b", 4096, 4096).with_attribute("stack", Some("test")),
            inst("full", "a", 4096, 64).with_attribute("stack", Some("prod")),
            inst("other", "a", 4096, 4096).with_attribute("stack", Some("test")),
        ]);
        for (k, on) in ["has", "dup", "dup", "drain", "moved"].iter().enumerate() {
            s.start_task(task("service:agent", on, k, 0, 0));
        }
        let t = TaskRequirements::new("service:agent", Resources::new(128, 128, 0));
        let mut placer = Placer::new(&s, 0);
        let plan = placer
            .place_daemon(
                &t,
                &[PlacementConstraint::member_of("attribute:stack == prod")],
            )
            .unwrap_or_default();
        let start: Vec<&str> = plan
            .start
            .iter()
            .map(|p| instance_id(&p.container_instance_arn))
            .collect();
        assert_eq!(start, vec!["fresh"]);
        let stops: Vec<(&str, &DaemonStopReason)> = plan
            .stop
            .iter()
            .map(|d| (instance_id(&d.task.task_arn), &d.reason))
            .collect();
        assert_eq!(stops.len(), 3);
        assert_eq!(stops[0], ("dup-2", &DaemonStopReason::Duplicate));
        assert_eq!(
            stops[1],
            (
                "drain-3",
                &DaemonStopReason::InstanceNotActive {
                    status: InstanceStatus::Draining
                }
            )
        );
        assert!(matches!(
            stops[2],
            ("moved-4", DaemonStopReason::NoLongerEligible { .. })
        ));
        let rejected: Vec<&str> = plan
            .rejections
            .iter()
            .map(|r| instance_id(&r.container_instance_arn))
            .collect();
        assert_eq!(rejected, vec!["full", "other"]);
        assert!(matches!(
            plan.rejections[0].reasons[0],
            RejectionReason::InsufficientMemory { .. }
        ));
        // Running it again changes nothing: the plan was charged to the working state.
        let again = placer
            .place_daemon(
                &t,
                &[PlacementConstraint::member_of("attribute:stack == prod")],
            )
            .unwrap_or_default();
        assert!(again.start.is_empty() && again.stop.is_empty());
    }

    // ---- properties -------------------------------------------------------------------------

    #[derive(Debug, Clone)]
    struct Scenario {
        cluster: Snapshot,
        requests: Vec<PlacementRequest>,
    }

    fn scenario() -> impl Strategy<Value = Scenario> {
        let instance = (
            0u32..4096,
            0u32..4096,
            0u32..3,
            0usize..3,
            proptest::bool::weighted(0.9),
            proptest::collection::vec(0u16..6, 0..3),
        );
        let strategy = prop_oneof![
            Just(PlacementStrategy::random()),
            Just(PlacementStrategy::binpack("cpu")),
            Just(PlacementStrategy::binpack("memory")),
            Just(PlacementStrategy::spread("instanceId")),
            Just(PlacementStrategy::spread("attribute:ecs.availability-zone")),
            Just(PlacementStrategy::spread("attribute:rack")),
        ];
        let request = (
            0u32..1024,
            0u32..1024,
            0u32..2,
            proptest::collection::vec((0u16..6, proptest::bool::ANY), 0..3),
            proptest::collection::vec(strategy, 0..4),
            proptest::bool::weighted(0.3),
            1u32..12,
            0usize..3,
        );
        (
            proptest::collection::vec(instance, 0..12),
            proptest::collection::vec(request, 1..5),
        )
            .prop_map(|(insts, reqs)| {
                let mut cluster = Snapshot::new();
                for (n, (cpu, mem, gpu, az, active, used)) in insts.into_iter().enumerate() {
                    let mut i = inst(&format!("p{n}"), ["a", "b", "c"][az], cpu, mem);
                    i.registered_resources.gpu = gpu;
                    i.remaining_resources.gpu = gpu;
                    if !active {
                        i.status = InstanceStatus::Draining;
                    }
                    if n % 2 == 0 {
                        i = i.with_attribute("rack", Some(if n % 4 == 0 { "r1" } else { "r2" }));
                    }
                    for p in used {
                        i.ports_in_use.tcp.push(8000 + p);
                    }
                    cluster.push_instance(i);
                }
                let requests = reqs
                    .into_iter()
                    .map(
                        |(cpu, mem, gpu, ports, strategies, distinct, count, group)| {
                            let mut t = TaskRequirements::new(
                                format!("g{group}"),
                                Resources::new(cpu, mem, gpu),
                            );
                            let mut ports: Vec<HostPort> = ports
                                .into_iter()
                                .map(|(p, udp)| HostPort {
                                    port: 8000 + p,
                                    protocol: if udp { Protocol::Udp } else { Protocol::Tcp },
                                })
                                .collect();
                            ports.sort();
                            ports.dedup();
                            t.host_ports = ports;
                            let mut r =
                                PlacementRequest::run_task(t, count).with_strategies(strategies);
                            if distinct {
                                r = r.with_constraint(PlacementConstraint::distinct_instance());
                            }
                            r
                        },
                    )
                    .collect();
                Scenario { cluster, requests }
            })
    }

    /// Larger clusters with few distinct sizes (so that ties are common), several zones and
    /// racks, static and dynamic `memberOf`, and longer requests: for comparing the indexed
    /// selection with the scan.
    fn tie_scenario() -> impl Strategy<Value = Scenario> {
        let instance = (
            0usize..4,
            0usize..4,
            0usize..3,
            proptest::bool::weighted(0.9),
            proptest::bool::weighted(0.2),
            0usize..3,
        );
        let strategy = prop_oneof![
            Just(PlacementStrategy::random()),
            Just(PlacementStrategy::binpack("cpu")),
            Just(PlacementStrategy::binpack("memory")),
            Just(PlacementStrategy::spread("instanceId")),
            Just(PlacementStrategy::spread("attribute:ecs.availability-zone")),
            Just(PlacementStrategy::spread("attribute:rack")),
        ];
        let constraint = prop_oneof![
            Just(None),
            Just(Some("attribute:rack == r1")),
            Just(Some(
                "attribute:rack != r2 and attribute:ecs.availability-zone in [a, b]"
            )),
            Just(Some("runningTasksCount < 3")),
            Just(Some("not(task:group == g1)")),
        ];
        let request = (
            0usize..4,
            0usize..4,
            proptest::collection::vec(0u16..3, 0..2),
            proptest::collection::vec(strategy, 0..4),
            proptest::bool::weighted(0.2),
            constraint,
            1u32..60,
            0usize..3,
        );
        (
            proptest::collection::vec(instance, 0..90),
            proptest::collection::vec(request, 1..6),
        )
            .prop_map(|(insts, reqs)| {
                let sizes = [0u32, 512, 1024, 2048];
                let mut cluster = Snapshot::new();
                for (n, (cpu, mem, az, active, used, rack)) in insts.into_iter().enumerate() {
                    let mut i = inst(
                        &format!("q{n}"),
                        ["a", "b", "c"][az],
                        sizes[cpu] * 2,
                        sizes[mem] * 2,
                    );
                    if !active {
                        i.status = InstanceStatus::Draining;
                    }
                    if rack > 0 {
                        i = i.with_attribute("rack", Some(["r1", "r2"][rack - 1]));
                    }
                    if used {
                        i.ports_in_use.tcp.push(8000);
                    }
                    cluster.push_instance(i);
                    // Running tasks, for scale-in to stop between requests.
                    for k in 0..n % 3 {
                        let g = format!("g{}", (n + k) % 3);
                        cluster.start_task(task(
                            &g,
                            &format!("q{n}"),
                            k,
                            sizes[cpu] / 4,
                            sizes[mem] / 4,
                        ));
                    }
                }
                let requests = reqs
                    .into_iter()
                    .map(
                        |(cpu, mem, ports, strategies, distinct, member_of, count, group)| {
                            let mut t = TaskRequirements::new(
                                format!("g{group}"),
                                Resources::new(sizes[cpu] / 4, sizes[mem] / 4, 0),
                            );
                            let mut ports: Vec<HostPort> = ports
                                .into_iter()
                                .map(|p| HostPort {
                                    port: 8000 + p,
                                    protocol: Protocol::Tcp,
                                })
                                .collect();
                            ports.sort();
                            ports.dedup();
                            t.host_ports = ports;
                            let mut r =
                                PlacementRequest::run_task(t, count).with_strategies(strategies);
                            if distinct {
                                r = r.with_constraint(PlacementConstraint::distinct_instance());
                            }
                            if let Some(e) = member_of {
                                r = r.with_constraint(PlacementConstraint::member_of(e));
                            }
                            r
                        },
                    )
                    .collect();
                Scenario { cluster, requests }
            })
    }

    /// Per instance: cpu, memory, GPU, host ports and groups placed by the plan.
    type Usage = (u64, u64, u64, Vec<HostPort>, Vec<String>);

    proptest! {
        #[test]
        fn never_overcommits(sc in scenario(), seed in any::<u64>()) {
            let mut placer = Placer::new(&sc.cluster, seed);
            let mut used: std::collections::HashMap<String, Usage> = Default::default();
            for req in &sc.requests {
                let plan = placer.place(req).unwrap_or_default();
                for p in &plan.placements {
                    let e = used.entry(p.container_instance_arn.clone()).or_default();
                    e.0 += u64::from(req.task.resources.cpu);
                    e.1 += u64::from(req.task.resources.memory);
                    e.2 += u64::from(req.task.resources.gpu);
                    e.3.extend(req.task.host_ports.iter().copied());
                    e.4.push(req.task.group.clone());
                    let distinct = req.placement_constraints.iter().any(|c| c.kind == PlacementConstraintType::DistinctInstance);
                    if distinct {
                        prop_assert_eq!(e.4.iter().filter(|g| **g == req.task.group).count(), 1);
                    }
                }
                prop_assert_eq!(plan.placements.len() as u32 + plan.unplaced.as_ref().map_or(0, |u| u.count), req.count);
            }
            for i in &sc.cluster.container_instances {
                let Some((cpu, mem, gpu, ports, _)) = used.get(&i.container_instance_arn) else { continue };
                prop_assert_eq!(i.status, InstanceStatus::Active);
                prop_assert!(*cpu <= u64::from(i.remaining_resources.cpu));
                prop_assert!(*mem <= u64::from(i.remaining_resources.memory));
                prop_assert!(*gpu <= u64::from(i.remaining_resources.gpu));
                let mut seen = ports.clone();
                seen.sort();
                let before = seen.len();
                seen.dedup();
                prop_assert_eq!(before, seen.len(), "a host port was given twice");
                for p in ports {
                    prop_assert!(!i.ports_in_use.contains(*p));
                }
                let left = placer.remaining(&i.container_instance_arn).unwrap_or_default();
                prop_assert_eq!(u64::from(left.memory) + mem, u64::from(i.remaining_resources.memory));
            }
        }

        #[test]
        fn index_selects_as_the_scan(sc in tie_scenario(), seed in any::<u64>()) {
            let mut indexed = Placer::new(&sc.cluster, seed);
            let mut scanned = Placer::new(&sc.cluster, seed);
            for (n, req) in sc.requests.iter().enumerate() {
                // Requests of one shape in a row reuse the kept index; scale-in in between
                // releases tasks, which must refresh it.
                for round in 0..3 {
                    let a = indexed.place_with(req, 0).unwrap_or_default();
                    let b = scanned.place_with(req, u32::MAX).unwrap_or_default();
                    prop_assert_eq!(a, b);
                    prop_assert_eq!(&indexed.rng, &scanned.rng);
                    let group = format!("g{}", (n + round) % 3);
                    let a = indexed.scale_in(&group, &[], 2).unwrap_or_default();
                    let b = scanned.scale_in(&group, &[], 2).unwrap_or_default();
                    prop_assert_eq!(a, b);
                }
            }
        }

        #[test]
        fn same_seed_same_plan(sc in scenario(), seed in any::<u64>()) {
            let run = || {
                let mut placer = Placer::new(&sc.cluster, seed);
                let plans: Vec<PlacementPlan> = sc.requests.iter().map(|r| placer.place(r).unwrap_or_default()).collect();
                let stops = placer.scale_in("g0", &[], 3).unwrap_or_default();
                (plans, stops)
            };
            prop_assert_eq!(run(), run());
        }
    }
}
