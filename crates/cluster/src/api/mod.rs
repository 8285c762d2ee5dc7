//! The ECS operations: one function per action over the in-memory state.
//!
//! Reads get `&State`; writes get `&mut State` and a set of dirty keys the caller commits to
//! the store before answering. Every handler validates before it mutates, so an error leaves
//! the state as it was.
//!
//! Handlers only change state: they record what was asked (a task to run, a service's new
//! deployment, a stop request) and leave what follows from it (placement of service tasks,
//! deployment steps, reacting to runtime events) to the `reconciler`'s next pass, which shares
//! the record helpers re-exported here. They never call the runtime.

use std::collections::BTreeSet;

use berth_core::model as m;
use berth_core::protocol::{Arn, AwsError, ErrorCode, PageToken, Resource, page_size};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::state::{ClusterRec, Env, Key, State};

mod account;
pub(crate) mod autoscaling;
pub(crate) mod cloudwatch;
mod clusters;
mod instances;
pub(crate) mod logs;
mod providers;
pub(crate) mod secrets;
mod services;
pub(crate) mod ssm;
mod tags;
mod task_sets;
mod taskdefs;
mod tasks;

// Record helpers the reconciler shares with the handlers (it creates and stops tasks as they do).
pub(crate) use instances::new_instance;
pub(crate) use providers::strategy_is_fargate;
pub(crate) use services::Ids;
pub(crate) use taskdefs::parse_reference as parse_task_definition_reference;
pub(crate) use tasks::{
    Launch, NewTask, make_task, placement_inputs, request_stop, requirements, zone_of,
};

/// What a read handler sees.
pub(crate) struct Read<'a> {
    pub st: &'a State,
    pub env: &'a Env,
    pub now: DateTime<Utc>,
    /// Where DescribeTasks and DescribeServices keep their answers.
    pub views: &'a crate::views::Views,
}

/// What a write handler sees.
pub(crate) struct Write<'a> {
    pub st: &'a mut State,
    pub dirty: &'a mut BTreeSet<Key>,
    pub env: &'a Env,
    pub now: DateTime<Utc>,
}

/// Actions that never change state (they take the read lock and commit nothing).
pub(crate) fn is_read_only(action: &str) -> bool {
    action.starts_with("Describe") || action.starts_with("List") || action == "GetTaskProtection"
}

/// Runs a read-only action.
pub(crate) fn read(r: &Read<'_>, action: &str, body: &[u8]) -> Result<Value, AwsError> {
    match action {
        "DescribeClusters" => clusters::describe(r, input(body)?),
        "ListClusters" => clusters::list(r, input(body)?),
        "DescribeCapacityProviders" => providers::describe(r, input(body)?),
        "DescribeTaskDefinition" => taskdefs::describe(r, input(body)?),
        "ListTaskDefinitions" => taskdefs::list(r, input(body)?),
        "ListTaskDefinitionFamilies" => taskdefs::list_families(r, input(body)?),
        "DescribeTasks" => tasks::describe(r, input(body)?),
        "ListTasks" => tasks::list(r, input(body)?),
        "GetTaskProtection" => tasks::get_protection(r, input(body)?),
        "ListContainerInstances" => instances::list(r, input(body)?),
        "DescribeContainerInstances" => instances::describe(r, input(body)?),
        "ListAttributes" => instances::list_attributes(r, input(body)?),
        "ListTagsForResource" => tags::list(r, input(body)?),
        "DescribeServices" => services::describe(r, input(body)?),
        "ListServices" => services::list(r, input(body)?),
        "ListServiceDeployments" => services::list_deployments(r, input(body)?),
        "DescribeServiceDeployments" => services::describe_deployments(r, input(body)?),
        "DescribeServiceRevisions" => services::describe_revisions(r, input(body)?),
        "ListAccountSettings" => account::list(r, input(body)?),
        "DescribeTaskSets" => task_sets::describe(r, input(body)?),
        _ => Err(not_implemented(action)),
    }
}

/// The answer to a read as JSON bytes, for the actions that have a path straight to bytes (the
/// ones the server answers most: no `serde_json::Value` built in between); `None` for the
/// others, which go through [`read`].
pub(crate) fn read_json(
    r: &Read<'_>,
    action: &str,
    body: &[u8],
) -> Option<Result<Vec<u8>, AwsError>> {
    Some(json_read(action, body)?.and_then(|req| answer_json(r, req)))
}

/// A request of one of the reads [`read_json`] answers (DescribeTasks, DescribeServices),
/// parsed once for both of its paths: the kept views without the state lock ([`kept_json`]),
/// then the state.
#[derive(Clone)]
pub(crate) enum JsonRead {
    Tasks(m::DescribeTasksRequest),
    Services(m::DescribeServicesRequest),
}

/// `body` parsed as `action`'s request when [`read_json`] answers it; `None` for the others.
pub(crate) fn json_read(action: &str, body: &[u8]) -> Option<Result<JsonRead, AwsError>> {
    Some(match action {
        "DescribeTasks" => input(body).map(JsonRead::Tasks),
        "DescribeServices" => input(body).map(JsonRead::Services),
        _ => return None,
    })
}

/// The answer to `req` from the state (what [`read_json`] answers).
pub(crate) fn answer_json(r: &Read<'_>, req: JsonRead) -> Result<Vec<u8>, AwsError> {
    match req {
        JsonRead::Tasks(req) => tasks::describe_json(r, req),
        JsonRead::Services(req) => services::describe_json(r, req),
    }
}

/// The answer to `req` from the kept views alone, without the state lock (see
/// [`crate::views`]), when they hold all of it: its cluster has views kept, and every task or
/// service it names has one, and it does not ask for tags. `None` sends it to the state, which
/// answers everything else (errors and `failures` included), so both paths answer alike.
pub(crate) fn kept_json(views: &crate::views::Views, req: &JsonRead) -> Option<Vec<u8>> {
    let (cluster, names, limit, member, tags) = match req {
        JsonRead::Tasks(r) => (
            r.cluster.as_deref(),
            r.tasks.as_deref(),
            100,
            "tasks",
            r.include.iter().flatten().any(|f| f.as_str() == "TAGS"),
        ),
        JsonRead::Services(r) => (
            r.cluster.as_deref(),
            r.services.as_deref(),
            10,
            "services",
            r.include.iter().flatten().any(|f| f.as_str() == "TAGS"),
        ),
    };
    if tags {
        return None;
    }
    let names = names.filter(|n| (1..=limit).contains(&n.len()))?;
    let kept = views.kept(&cluster_name(cluster).ok()?)?;
    let cache = match req {
        JsonRead::Tasks(_) => &kept.tasks,
        JsonRead::Services(_) => &kept.services,
    };
    let found = cache.all(names.iter().map(|n| last_segment(n)))?;
    joined_json(member, &found, &[(); 0]).ok()
}

/// Reads whose work their request bounds (at most 100 tasks or 10 services, one task
/// definition, a page of ARNs): short enough to answer on an async worker when the state lock
/// is free, without a hop to the blocking pool. A ListTasks filter that matches few tasks walks
/// the cluster's tasks to fill its page; DescribeClusters (which counts every live task) is not
/// here.
pub(crate) const INLINE_READS: &[&str] = &[
    "DescribeTasks",
    "DescribeServices",
    "ListTasks",
    "ListServices",
    "DescribeTaskDefinition",
];

/// The rules of `berth validate` for service and RunTask inputs that the handlers below do not
/// check themselves: the local cluster answers them with the same texts (the handlers' own
/// checks stay authoritative for everything else, so their texts are not repeated here).
const REQUEST_RULES_ENFORCED: &[&str] = &[
    "load-balancer-container-name",
    "load-balancer-container-unknown",
    "load-balancer-container-port",
    "platform-version-ec2",
    "assign-public-ip",
    "daemon-desired-count",
    "network-configuration",
    "task-group",
    "request-placement-constraint",
    "placement-constraints-fargate",
    "service-role",
    "load-balancer-host-port",
    "service-registry-port",
    "service-registry-container",
    "task-memory-override",
];

/// Runs [`REQUEST_RULES_ENFORCED`] over a CreateService / UpdateService / RunTask / StartTask
/// body, against the task definition it names (when it resolves).
fn request_rules(st: &State, action: &str, body: &[u8]) -> Result<(), AwsError> {
    use berth_core::validate as v;
    let Ok(text) = std::str::from_utf8(body) else {
        return Ok(());
    };
    let reference = serde_json::from_str::<Value>(text).ok().and_then(|b| {
        b.get("taskDefinition")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let td = reference
        .as_deref()
        .and_then(|r| resolve_task_definition(st, r))
        .map(|r| &r.td);
    let report = match action {
        "CreateService" | "UpdateService" => v::validate_service(
            text,
            &v::ServiceOptions {
                task_definition: td,
            },
        ),
        _ => v::validate_run_task(
            text,
            &v::RunTaskOptions {
                task_definition: td,
            },
        ),
    };
    match report
        .diagnostics
        .iter()
        .find(|d| d.severity == v::Severity::Error && REQUEST_RULES_ENFORCED.contains(&d.code))
    {
        Some(d) => Err(AwsError::invalid_parameter(d.message.clone())),
        None => Ok(()),
    }
}

/// Runs a mutating action.
/// What a write prepares before it takes the state lock: the checks and the work that do not
/// read the state (a task definition's validation), so the lock is held only for the change.
pub(crate) enum Prepared {
    /// Nothing to prepare for this action.
    Nothing,
    /// A RegisterTaskDefinition, validated and filled in.
    TaskDefinition(Box<taskdefs::Prepared>),
}

/// The part of `action` that does not read the state; its errors are the action's.
pub(crate) fn prepare(action: &str, body: &[u8]) -> Result<Prepared, AwsError> {
    Ok(match action {
        "RegisterTaskDefinition" => Prepared::TaskDefinition(Box::new(taskdefs::prepare(body)?)),
        _ => Prepared::Nothing,
    })
}

/// A write's answer. The large ones (RunTask's tasks, a registered task definition) are kept
/// as the model's values and written out after the state lock is let go.
pub(crate) enum Answer {
    /// A document already built.
    Value(Value),
    /// RunTask's and StartTask's `tasks` and `failures`.
    Tasks {
        tasks: Vec<m::Task>,
        failures: Vec<m::Failure>,
    },
    /// RegisterTaskDefinition's `taskDefinition` and `tags`.
    TaskDefinition {
        task_definition: Box<m::TaskDefinition>,
        tags: Vec<m::Tag>,
    },
}

#[derive(Serialize)]
struct TasksOut<'a> {
    tasks: &'a [m::Task],
    failures: &'a [m::Failure],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TaskDefinitionOut<'a> {
    task_definition: &'a m::TaskDefinition,
    tags: &'a [m::Tag],
}

impl Answer {
    /// The answer as a JSON document.
    pub(crate) fn into_value(self) -> Result<Value, AwsError> {
        match self {
            Answer::Value(v) => Ok(v),
            Answer::Tasks { tasks, failures } => out(TasksOut {
                tasks: &tasks,
                failures: &failures,
            }),
            Answer::TaskDefinition {
                task_definition,
                tags,
            } => out(TaskDefinitionOut {
                task_definition: &task_definition,
                tags: &tags,
            }),
        }
    }

    /// The answer as JSON bytes ([`Answer::into_value`]'s, serialised).
    pub(crate) fn into_json(self) -> Result<Vec<u8>, AwsError> {
        match self {
            Answer::Value(v) => out_json(&v),
            Answer::Tasks { tasks, failures } => out_json(&TasksOut {
                tasks: &tasks,
                failures: &failures,
            }),
            Answer::TaskDefinition {
                task_definition,
                tags,
            } => out_json(&TaskDefinitionOut {
                task_definition: &task_definition,
                tags: &tags,
            }),
        }
    }
}

pub(crate) fn write(
    w: &mut Write<'_>,
    action: &str,
    body: &[u8],
    prepared: Prepared,
) -> Result<Answer, AwsError> {
    if matches!(
        action,
        "CreateService" | "UpdateService" | "RunTask" | "StartTask"
    ) {
        request_rules(w.st, action, body)?;
    }
    match action {
        "RegisterTaskDefinition" => {
            let p = match prepared {
                Prepared::TaskDefinition(p) => *p,
                Prepared::Nothing => taskdefs::prepare(body)?,
            };
            return taskdefs::register(w, p);
        }
        "RunTask" => return tasks::run(w, input(body)?),
        "StartTask" => return tasks::start(w, input(body)?),
        _ => {}
    }
    let value = match action {
        "CreateCluster" => clusters::create(w, input(body)?),
        "UpdateCluster" => clusters::update(w, input(body)?),
        "UpdateClusterSettings" => clusters::update_settings(w, input(body)?),
        "DeleteCluster" => clusters::delete(w, input(body)?),
        "PutClusterCapacityProviders" => clusters::put_capacity_providers(w, input(body)?),
        "CreateCapacityProvider" => providers::create(w, input(body)?),
        "UpdateCapacityProvider" => providers::update(w, input(body)?),
        "DeleteCapacityProvider" => providers::delete(w, input(body)?),
        "DeregisterTaskDefinition" => taskdefs::deregister(w, input(body)?),
        "DeleteTaskDefinitions" => taskdefs::delete(w, input(body)?),
        "StopTask" => tasks::stop(w, input(body)?),
        "UpdateTaskProtection" => tasks::update_protection(w, input(body)?),
        "UpdateContainerInstancesState" => instances::update_state(w, input(body)?),
        "RegisterContainerInstance" => instances::register(w, input(body)?),
        "DeregisterContainerInstance" => instances::deregister(w, input(body)?),
        "PutAttributes" => instances::put_attributes(w, input(body)?),
        "DeleteAttributes" => instances::delete_attributes(w, input(body)?),
        "TagResource" => tags::tag(w, input(body)?),
        "UntagResource" => tags::untag(w, input(body)?),
        "CreateService" => services::create(w, input(body)?),
        "UpdateService" => services::update(w, input(body)?),
        "DeleteService" => services::delete(w, input(body)?),
        "StopServiceDeployment" => services::stop_deployment(w, input(body)?),
        "CreateTaskSet" => task_sets::create(w, input(body)?),
        "UpdateTaskSet" => task_sets::update(w, input(body)?),
        "DeleteTaskSet" => task_sets::delete(w, input(body)?),
        "UpdateServicePrimaryTaskSet" => task_sets::update_primary(w, input(body)?),
        "PutAccountSetting" => account::put(w, input(body)?),
        "PutAccountSettingDefault" => account::put_default(w, input(body)?),
        "DeleteAccountSetting" => account::delete(w, input(body)?),
        _ => Err(not_implemented(action)),
    }?;
    Ok(Answer::Value(value))
}

/// Refuses a task definition that reaches beyond its containers when the runtime touches the
/// host and the server was not started with `--allow-host-access`.
pub(crate) fn check_host_access(env: &Env, td: &crate::state::TaskDefRec) -> Result<(), AwsError> {
    if !env.refuse_host_access {
        return Ok(());
    }
    let reasons = crate::docker::spec::host_access(&td.td);
    if reasons.is_empty() {
        return Ok(());
    }
    Err(AwsError::invalid_parameter(format!(
        "Task definition {} reaches beyond its containers ({}); the local cluster runs it on this machine's Docker engine only when berth serve runs with --allow-host-access.",
        td.td.task_definition_arn.as_deref().unwrap_or_default(),
        reasons.join("; ")
    )))
}

/// The error for an ECS action this server does not implement yet.
pub(crate) fn not_implemented(action: &str) -> AwsError {
    AwsError::new(
        ErrorCode::UnsupportedFeatureException,
        format!("{action} is not implemented by the Berth local cluster yet."),
    )
}

/// Parses a request body (an empty body is `{}`).
pub(crate) fn input<T: DeserializeOwned>(body: &[u8]) -> Result<T, AwsError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    // serde would read a JSON array as a struct; the protocol takes only objects.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{')
        && serde_json::from_slice::<Value>(body).is_ok()
    {
        return Err(AwsError::new(
            ErrorCode::SerializationException,
            "Invalid request body: expected a JSON object.",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        let message = if e.is_syntax() || e.is_eof() {
            format!("Malformed JSON request body: {e}")
        } else {
            format!("Invalid request body: {e}")
        };
        AwsError::new(ErrorCode::SerializationException, message)
    })
}

/// The limits of a batch member (DescribeServices' `services`, DescribeTasks' `tasks`, …): at least
/// one entry and at most `max`, else ECS's InvalidParameterException.
pub(crate) fn check_batch(
    len: usize,
    max: usize,
    member: &str,
    noun: &str,
) -> Result<(), AwsError> {
    if len == 0 || len > max {
        return Err(AwsError::invalid_parameter(format!(
            "{member} must list between 1 and {max} {noun}."
        )));
    }
    Ok(())
}

/// Serialises a response.
pub(crate) fn out<T: Serialize>(v: T) -> Result<Value, AwsError> {
    let mut v = serde_json::to_value(v)
        .map_err(|e| AwsError::new(ErrorCode::ServerException, e.to_string()))?;
    drop_nulls(&mut v);
    Ok(v)
}

/// A response as bytes. The model's types leave unset members out themselves (`out`'s
/// null-dropping is for `json!` bodies), so this is [`out`]'s answer, serialised.
pub(crate) fn out_json<T: Serialize>(v: &T) -> Result<Vec<u8>, AwsError> {
    serde_json::to_vec(v).map_err(|e| AwsError::new(ErrorCode::ServerException, e.to_string()))
}

/// `{"<member>":[<item>,…],"failures":<failures>}` from items already serialised (the kept
/// views of DescribeTasks and DescribeServices).
pub(crate) fn joined_json<I: AsRef<[u8]>>(
    member: &str,
    items: &[I],
    failures: &impl Serialize,
) -> Result<Vec<u8>, AwsError> {
    let failures = out_json(failures)?;
    let size = items.iter().map(|i| i.as_ref().len() + 1).sum::<usize>();
    let mut out = Vec::with_capacity(size + member.len() + failures.len() + 20);
    out.extend_from_slice(b"{\"");
    out.extend_from_slice(member.as_bytes());
    out.extend_from_slice(b"\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item.as_ref());
    }
    out.extend_from_slice(b"],\"failures\":");
    out.extend_from_slice(&failures);
    out.push(b'}');
    Ok(out)
}

/// AWS leaves unset members out of responses instead of sending `null`.
fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// The cluster name a `cluster` parameter names (name or ARN; absent means `default`).
pub(crate) fn cluster_name(param: Option<&str>) -> Result<String, AwsError> {
    match param {
        None | Some("") => Ok("default".into()),
        Some(p) if p.starts_with("arn:") => match Arn::parse(p) {
            Ok(Arn {
                resource: Resource::Cluster { name },
                ..
            }) => Ok(name),
            _ => Err(AwsError::invalid_parameter(format!(
                "Invalid cluster ARN: {p}"
            ))),
        },
        Some(p) => Ok(p.into()),
    }
}

/// An ACTIVE cluster, or `ClusterNotFoundException`.
pub(crate) fn active_cluster<'a>(
    st: &'a State,
    param: Option<&str>,
) -> Result<&'a ClusterRec, AwsError> {
    let name = cluster_name(param)?;
    st.clusters
        .get(&name)
        .filter(|c| c.status == "ACTIVE")
        .ok_or_else(AwsError::cluster_not_found)
}

/// The mutable ACTIVE cluster, or `ClusterNotFoundException`.
pub(crate) fn active_cluster_mut<'a>(
    st: &'a mut State,
    param: Option<&str>,
) -> Result<&'a mut ClusterRec, AwsError> {
    let name = cluster_name(param)?;
    st.clusters
        .get_mut(&name)
        .filter(|c| c.status == "ACTIVE")
        .ok_or_else(AwsError::cluster_not_found)
}

/// The last path segment of an ARN, or the text itself (task ids, instance ids, names).
pub(crate) fn last_segment(s: &str) -> &str {
    if s.starts_with("arn:") {
        s.rsplit('/').next().unwrap_or(s)
    } else {
        s
    }
}

/// One page of `items` (already in order) starting after the token's cursor.
pub(crate) struct Page {
    pub size: usize,
    pub after: Option<String>,
}

impl Page {
    pub(crate) fn new(
        op: &str,
        token: Option<&str>,
        max_results: Option<i32>,
        default: usize,
        max: usize,
    ) -> Result<Page, AwsError> {
        let size = page_size(max_results, default, max)?;
        let after = match token {
            Some(t) if !t.is_empty() => Some(PageToken::decode(op, t)?.cursor),
            _ => None,
        };
        Ok(Page { size, after })
    }

    /// Takes a page from items sorted by key; returns the page and the next token.
    pub(crate) fn take<T>(
        &self,
        op: &str,
        items: impl Iterator<Item = (String, T)>,
    ) -> (Vec<T>, Option<String>) {
        self.take_by(op, items, false)
    }

    /// As [`Page::take`] for items sorted by descending key.
    pub(crate) fn take_desc<T>(
        &self,
        op: &str,
        items: impl Iterator<Item = (String, T)>,
    ) -> (Vec<T>, Option<String>) {
        self.take_by(op, items, true)
    }

    fn take_by<T>(
        &self,
        op: &str,
        items: impl Iterator<Item = (String, T)>,
        desc: bool,
    ) -> (Vec<T>, Option<String>) {
        let mut out = Vec::new();
        let mut last = None;
        let mut more = false;
        for (k, v) in items {
            if self
                .after
                .as_ref()
                .is_some_and(|a| if desc { &k >= a } else { &k <= a })
            {
                continue;
            }
            if out.len() == self.size {
                more = true;
                break;
            }
            last = Some(k);
            out.push(v);
        }
        let next = if more {
            last.map(|k| PageToken::new(op, &k).encode())
        } else {
            None
        };
        (out, next)
    }
}

/// `failures[]` entry.
pub(crate) fn failure(arn: impl Into<String>, reason: &str) -> berth_core::model::Failure {
    berth_core::model::Failure {
        arn: Some(arn.into()),
        reason: Some(reason.into()),
        detail: None,
    }
}

/// Checks tags as ECS does (≤50, key 1–128, value ≤256, no `aws:` prefix).
pub(crate) fn check_tags(tags: &[berth_core::model::Tag]) -> Result<(), AwsError> {
    if tags.len() > 50 {
        return Err(AwsError::invalid_parameter(
            "A resource can have at most 50 tags.",
        ));
    }
    for t in tags {
        let key = t.key.as_deref().unwrap_or_default();
        if key.is_empty() || key.chars().count() > 128 {
            return Err(AwsError::invalid_parameter(
                "Tag keys must be between 1 and 128 characters.",
            ));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(AwsError::invalid_parameter(
                "Tag keys cannot start with the reserved prefix 'aws:'.",
            ));
        }
        if t.value.as_deref().unwrap_or_default().chars().count() > 256 {
            return Err(AwsError::invalid_parameter(
                "Tag values can be at most 256 characters.",
            ));
        }
    }
    Ok(())
}

/// Whether a name is 1–255 of `[A-Za-z0-9_-]`.
pub(crate) fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Epoch-seconds timestamp.
pub(crate) fn ts(t: DateTime<Utc>) -> berth_core::model::Timestamp {
    berth_core::model::Timestamp::from_datetime(t)
}

/// Merges tags by key (TagResource semantics).
pub(crate) fn merge_tags(into: &mut Vec<berth_core::model::Tag>, add: &[berth_core::model::Tag]) {
    for t in add {
        into.retain(|x| x.key != t.key);
        into.push(t.clone());
    }
}

pub(crate) use clusters::{cluster_settings, new_cluster};

/// Finds a task definition by reference (used outside the handlers).
pub(crate) fn resolve_task_definition<'a>(
    st: &'a State,
    reference: &str,
) -> Option<&'a crate::state::TaskDefRec> {
    taskdefs::resolve(st, reference)
}
