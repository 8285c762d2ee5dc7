//! CloudWatch Logs (`Logs_20140328.<Action>`) for the `awslogs` streams of the cluster's tasks:
//! groups, streams, GetLogEvents (with forward/backward tokens), FilterLogEvents (term and
//! phrase patterns), PutLogEvents; and [`record_runtime_events`], with which the reconciler
//! writes what the `awslogs` driver would send when a task's containers start and stop.
//!
//! Stream names follow ECS: `<awslogs-stream-prefix>/<container-name>/<task-id>`; without a
//! prefix (allowed on EC2) ECS names the stream after the Docker container id, for which a
//! stable 64-hex id derived from the task id and container name stands in. A group named in
//! `awslogs-group` is created when the task first writes to it (real ECS needs it to exist or
//! `awslogs-create-group`; the local cluster is lenient so that task definitions made for AWS run
//! unchanged).

use std::collections::BTreeSet;

use berth_core::protocol::PageToken;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Page, Read, Write, input};
use crate::apis::ApiFault;
use crate::logstore::{Event, GroupRec, MAX_STREAMS_PER_GROUP, StreamRec};
use crate::runtime::RuntimeEvent;
use crate::state::{Key, State};

type R = Result<Value, ApiFault>;

/// The actions this module answers.
pub(crate) const ACTIONS: &[&str] = &[
    "CreateLogGroup",
    "DeleteLogGroup",
    "DescribeLogGroups",
    "CreateLogStream",
    "DeleteLogStream",
    "DescribeLogStreams",
    "PutLogEvents",
    "GetLogEvents",
    "FilterLogEvents",
];

/// Whether an action only reads.
pub(crate) fn is_read_only(action: &str) -> bool {
    matches!(
        action,
        "DescribeLogGroups" | "DescribeLogStreams" | "GetLogEvents" | "FilterLogEvents"
    )
}

fn invalid(msg: impl Into<String>) -> ApiFault {
    ApiFault::logs("InvalidParameterException", msg)
}

fn group_missing() -> ApiFault {
    ApiFault::logs(
        "ResourceNotFoundException",
        "The specified log group does not exist.",
    )
}

fn stream_missing() -> ApiFault {
    ApiFault::logs(
        "ResourceNotFoundException",
        "The specified log stream does not exist.",
    )
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiFault> {
    input(body).map_err(ApiFault::from)
}

/// Runs a read-only action.
pub(crate) fn read(r: &Read<'_>, action: &str, body: &[u8]) -> R {
    match action {
        "DescribeLogGroups" => describe_groups(r, parse(body)?),
        "DescribeLogStreams" => describe_streams(r, parse(body)?),
        "GetLogEvents" => get_events(r, parse(body)?),
        "FilterLogEvents" => filter_events(r, parse(body)?),
        _ => Err(ApiFault::unknown_operation(action)),
    }
}

/// Runs a mutating action.
pub(crate) fn write(w: &mut Write<'_>, action: &str, body: &[u8]) -> R {
    match action {
        "CreateLogGroup" => create_group(w, parse(body)?),
        "DeleteLogGroup" => delete_group(w, parse(body)?),
        "CreateLogStream" => create_stream(w, parse(body)?),
        "DeleteLogStream" => delete_stream(w, parse(body)?),
        "PutLogEvents" => put_events(w, parse(body)?),
        _ => Err(ApiFault::unknown_operation(action)),
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Req {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_group_name_prefix: Option<String>,
    log_group_name_pattern: Option<String>,
    log_stream_name: Option<String>,
    log_stream_name_prefix: Option<String>,
    log_stream_names: Option<Vec<String>>,
    order_by: Option<String>,
    descending: Option<bool>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    start_from_head: Option<bool>,
    filter_pattern: Option<String>,
    next_token: Option<String>,
    limit: Option<i64>,
    tags: Option<std::collections::BTreeMap<String, String>>,
    log_events: Option<Vec<InputEvent>>,
}

#[derive(Deserialize)]
struct InputEvent {
    timestamp: i64,
    message: String,
}

fn valid_group_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 512
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/#".contains(&b))
}

fn valid_stream_name(n: &str) -> bool {
    !n.is_empty() && n.len() <= 512 && !n.contains([':', '*'])
}

fn group_arn(w_region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:logs:{w_region}:{account}:log-group:{name}")
}

/// The group a request names (`logGroupName`, or `logGroupIdentifier` as a name or an ARN).
fn group_param(req: &Req) -> Result<String, ApiFault> {
    let name = match (&req.log_group_name, &req.log_group_identifier) {
        (Some(n), None) => n.clone(),
        (None, Some(id)) => match id.strip_prefix("arn:") {
            Some(_) => id
                .split_once(":log-group:")
                .map(|(_, n)| n.trim_end_matches(":*").to_string())
                .ok_or_else(|| invalid(format!("Invalid log group ARN: {id}")))?,
            None => id.clone(),
        },
        (Some(_), Some(_)) => {
            return Err(invalid(
                "LogGroupName and LogGroupIdentifier are mutually exclusive.",
            ));
        }
        (None, None) => {
            return Err(invalid(
                "Either LogGroupName or LogGroupIdentifier must be specified.",
            ));
        }
    };
    if !valid_group_name(&name) {
        return Err(invalid(format!(
            "1 validation error detected: Value '{name}' at 'logGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+"
        )));
    }
    Ok(name)
}

fn limit(v: Option<i64>, max: i64, default: usize) -> Result<usize, ApiFault> {
    match v {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n as usize),
        Some(n) => Err(invalid(format!(
            "1 validation error detected: Value '{n}' at 'limit' failed to satisfy constraint: Member must have value between 1 and {max}"
        ))),
    }
}

fn page(op: &str, req: &Req, max: i64, default: usize) -> Result<Page, ApiFault> {
    let size = limit(req.limit, max, default)?;
    let after = match req.next_token.as_deref() {
        Some(t) if !t.is_empty() => Some(
            PageToken::decode(op, t)
                .map_err(|_| invalid("The specified nextToken is invalid."))?
                .cursor,
        ),
        _ => None,
    };
    Ok(Page { size, after })
}

fn with_token(mut v: Value, token: Option<String>) -> Value {
    if let Some(t) = token {
        v["nextToken"] = json!(t);
    }
    v
}

/// Creates a group if needed; true when it was created.
fn ensure_group(st: &mut State, dirty: &mut BTreeSet<Key>, name: &str, now_ms: i64) -> bool {
    if st.logs.groups.contains_key(name) {
        return false;
    }
    st.logs.groups.insert(
        name.to_string(),
        GroupRec {
            name: name.to_string(),
            created_at: now_ms,
            retention_in_days: None,
            tags: Default::default(),
            streams: Default::default(),
        },
    );
    dirty.insert(Key::LogGroup(name.to_string()));
    true
}

fn create_group(w: &mut Write<'_>, req: Req) -> R {
    let name = group_param(&req)?;
    let now = w.now.timestamp_millis();
    if !ensure_group(w.st, w.dirty, &name, now) {
        return Err(ApiFault::logs(
            "ResourceAlreadyExistsException",
            "The specified log group already exists",
        ));
    }
    if let (Some(g), Some(tags)) = (w.st.logs.groups.get_mut(&name), req.tags) {
        g.tags = tags;
    }
    Ok(json!({}))
}

fn delete_group(w: &mut Write<'_>, req: Req) -> R {
    let name = group_param(&req)?;
    let g = w.st.logs.groups.remove(&name).ok_or_else(group_missing)?;
    for s in g.streams.keys() {
        w.dirty.insert(Key::LogStream(name.clone(), s.clone()));
    }
    w.dirty.insert(Key::LogGroup(name));
    Ok(json!({}))
}

fn stream_param(req: &Req) -> Result<String, ApiFault> {
    let s = req
        .log_stream_name
        .clone()
        .ok_or_else(|| invalid("logStreamName is required."))?;
    if !valid_stream_name(&s) {
        return Err(invalid(format!(
            "1 validation error detected: Value '{s}' at 'logStreamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [^:*]*"
        )));
    }
    Ok(s)
}

fn create_stream(w: &mut Write<'_>, req: Req) -> R {
    let group = group_param(&req)?;
    let stream = stream_param(&req)?;
    let now = w.now.timestamp_millis();
    let g = w.st.logs.groups.get_mut(&group).ok_or_else(group_missing)?;
    if g.streams.contains_key(&stream) {
        return Err(ApiFault::logs(
            "ResourceAlreadyExistsException",
            "The specified log stream already exists",
        ));
    }
    g.streams
        .insert(stream.clone(), StreamRec::new(&group, &stream, now));
    w.dirty.insert(Key::LogStream(group, stream));
    Ok(json!({}))
}

fn delete_stream(w: &mut Write<'_>, req: Req) -> R {
    let group = group_param(&req)?;
    let stream = stream_param(&req)?;
    let g = w.st.logs.groups.get_mut(&group).ok_or_else(group_missing)?;
    g.streams.remove(&stream).ok_or_else(stream_missing)?;
    w.dirty.insert(Key::LogStream(group, stream));
    Ok(json!({}))
}

fn put_events(w: &mut Write<'_>, req: Req) -> R {
    let group = group_param(&req)?;
    let stream = stream_param(&req)?;
    let events = req.log_events.unwrap_or_default();
    if events.is_empty() || events.len() > 10_000 {
        return Err(invalid(
            "logEvents must contain between 1 and 10000 events.",
        ));
    }
    let now = w.now.timestamp_millis();
    let g = w.st.logs.groups.get_mut(&group).ok_or_else(group_missing)?;
    let s = g.streams.get_mut(&stream).ok_or_else(stream_missing)?;
    let mut sorted = events;
    sorted.sort_by_key(|e| e.timestamp);
    for e in sorted {
        s.append(e.timestamp, e.message, now);
    }
    w.dirty.insert(Key::LogStream(group, stream));
    Ok(json!({"nextSequenceToken": format!("{:056}", now.max(0))}))
}

fn describe_groups(r: &Read<'_>, req: Req) -> R {
    const OP: &str = "DescribeLogGroups";
    if req.log_group_name_prefix.is_some() && req.log_group_name_pattern.is_some() {
        return Err(invalid(
            "LogGroupNamePrefix and LogGroupNamePattern are mutually exclusive.",
        ));
    }
    let page = page(OP, &req, 50, 50)?;
    let items =
        r.st.logs
            .groups
            .values()
            .filter(|g| {
                req.log_group_name_prefix
                    .as_ref()
                    .is_none_or(|p| g.name.starts_with(p.as_str()))
                    && req
                        .log_group_name_pattern
                        .as_ref()
                        .is_none_or(|p| g.name.to_lowercase().contains(&p.to_lowercase()))
            })
            .map(|g| {
                let arn = group_arn(&r.env.region, &r.env.account, &g.name);
                let mut v = json!({
                    "logGroupName": g.name,
                    "creationTime": g.created_at,
                    "metricFilterCount": 0,
                    "arn": format!("{arn}:*"),
                    "logGroupArn": arn,
                    "storedBytes": g.streams.values().map(StreamRec::stored_bytes).sum::<u64>(),
                    "logGroupClass": "STANDARD",
                });
                if let Some(d) = g.retention_in_days {
                    v["retentionInDays"] = json!(d);
                }
                (g.name.clone(), v)
            });
    let (items, next) = page.take(OP, items);
    Ok(with_token(json!({"logGroups": items}), next))
}

fn stream_json(r: &Read<'_>, s: &StreamRec) -> Value {
    let mut v = json!({
        "logStreamName": s.name,
        "creationTime": s.created_at,
        "arn": format!(
            "{}:log-stream:{}",
            group_arn(&r.env.region, &r.env.account, &s.group),
            s.name
        ),
        "storedBytes": s.stored_bytes(),
    });
    if let Some(t) = s.first_event() {
        v["firstEventTimestamp"] = json!(t);
    }
    if let Some(t) = s.last_event() {
        v["lastEventTimestamp"] = json!(t);
    }
    if let Some(t) = s.last_ingestion {
        v["lastIngestionTime"] = json!(t);
    }
    v
}

fn describe_streams(r: &Read<'_>, req: Req) -> R {
    const OP: &str = "DescribeLogStreams";
    let group = group_param(&req)?;
    let by_time = match req.order_by.as_deref() {
        None | Some("LogStreamName") => false,
        Some("LastEventTime") => true,
        Some(o) => {
            return Err(invalid(format!(
                "1 validation error detected: Value '{o}' at 'orderBy' failed to satisfy constraint: Member must satisfy enum value set: [LogStreamName, LastEventTime]"
            )));
        }
    };
    if by_time && req.log_stream_name_prefix.is_some() {
        return Err(invalid(
            "Cannot order by LastEventTime with a logStreamNamePrefix.",
        ));
    }
    let page = page(OP, &req, 50, 50)?;
    let g = r.st.logs.groups.get(&group).ok_or_else(group_missing)?;
    let desc = req.descending.unwrap_or(false);
    let mut items: Vec<(String, Value)> = g
        .streams
        .values()
        .filter(|s| {
            req.log_stream_name_prefix
                .as_ref()
                .is_none_or(|p| s.name.starts_with(p.as_str()))
        })
        .map(|s| {
            let key = if by_time {
                format!("{:020}\n{}", s.last_event().unwrap_or(0).max(0), s.name)
            } else {
                s.name.clone()
            };
            (key, stream_json(r, s))
        })
        .collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let (items, next) = if desc {
        items.reverse();
        page.take_desc(OP, items.into_iter())
    } else {
        page.take(OP, items.into_iter())
    };
    Ok(with_token(json!({"logStreams": items}), next))
}

fn event_json(e: &Event) -> Value {
    json!({"timestamp": e.timestamp, "message": e.message, "ingestionTime": e.ingestion_time})
}

fn in_range(e: &Event, req: &Req) -> bool {
    req.start_time.is_none_or(|s| e.timestamp >= s) && req.end_time.is_none_or(|t| e.timestamp < t)
}

fn get_events(r: &Read<'_>, req: Req) -> R {
    let group = group_param(&req)?;
    let stream = stream_param(&req)?;
    let limit = limit(req.limit, 10_000, 10_000)?;
    let g = r.st.logs.groups.get(&group).ok_or_else(group_missing)?;
    let s = g.streams.get(&stream).ok_or_else(stream_missing)?;
    let events: Vec<&Event> = s.events.iter().filter(|e| in_range(e, &req)).collect();
    let bad_token = || invalid("The specified nextToken is invalid.");
    // Tokens: `f/<seq>` = events from seq on; `b/<seq>` = events before seq.
    let (forward, at) = match req.next_token.as_deref() {
        Some(t) if !t.is_empty() => {
            let (dir, n) = t.split_once('/').ok_or_else(bad_token)?;
            let n: u64 = n.parse().map_err(|_| bad_token())?;
            match dir {
                "f" => (true, Some(n)),
                "b" => (false, Some(n)),
                _ => return Err(bad_token()),
            }
        }
        _ => (req.start_from_head.unwrap_or(false), None),
    };
    let chosen: Vec<&Event> = if forward {
        let from = at.unwrap_or(0);
        events
            .iter()
            .filter(|e| e.seq >= from)
            .take(limit)
            .copied()
            .collect()
    } else {
        let before: Vec<&Event> = events
            .iter()
            .filter(|e| at.is_none_or(|n| e.seq < n))
            .copied()
            .collect();
        before[before.len().saturating_sub(limit)..].to_vec()
    };
    let (fwd, bwd) = match (chosen.first(), chosen.last()) {
        (Some(f), Some(l)) => (l.seq + 1, f.seq),
        _ => {
            let n = at.unwrap_or(if forward { 0 } else { s.next_seq });
            (n, n)
        }
    };
    Ok(json!({
        "events": chosen.into_iter().map(event_json).collect::<Vec<_>>(),
        "nextForwardToken": format!("f/{fwd:020}"),
        "nextBackwardToken": format!("b/{bwd:020}"),
    }))
}

/// A basic CloudWatch Logs filter pattern: every term must occur (`"quoted phrases"` as one
/// term), a `-term` must not occur, `?a ?b` matches when any of them occurs. JSON and
/// space-delimited patterns (`{ … }`, `[ … ]`) are refused.
struct Pattern {
    all: Vec<String>,
    none: Vec<String>,
    any: Vec<String>,
}

impl Pattern {
    fn parse(p: &str) -> Result<Pattern, ApiFault> {
        let p = p.trim();
        if p.starts_with('{') || p.starts_with('[') {
            return Err(invalid(
                "The Berth local cluster supports term and phrase filter patterns only (not JSON or space-delimited patterns).",
            ));
        }
        let mut out = Pattern {
            all: Vec::new(),
            none: Vec::new(),
            any: Vec::new(),
        };
        let mut rest = p;
        while !rest.is_empty() {
            rest = rest.trim_start();
            if rest.is_empty() {
                break;
            }
            let (prefix, body) = match rest.as_bytes()[0] {
                b'-' => ("-", &rest[1..]),
                b'?' => ("?", &rest[1..]),
                _ => ("", rest),
            };
            let (term, next) = if let Some(q) = body.strip_prefix('"') {
                match q.find('"') {
                    Some(end) => (&q[..end], &q[end + 1..]),
                    None => (q, ""),
                }
            } else {
                match body.find(char::is_whitespace) {
                    Some(end) => (&body[..end], &body[end..]),
                    None => (body, ""),
                }
            };
            rest = next;
            if term.is_empty() {
                continue;
            }
            match prefix {
                "-" => out.none.push(term.to_string()),
                "?" => out.any.push(term.to_string()),
                _ => out.all.push(term.to_string()),
            }
        }
        Ok(out)
    }

    fn matches(&self, m: &str) -> bool {
        self.all.iter().all(|t| m.contains(t.as_str()))
            && !self.none.iter().any(|t| m.contains(t.as_str()))
            && (self.any.is_empty() || self.any.iter().any(|t| m.contains(t.as_str())))
    }
}

fn filter_events(r: &Read<'_>, req: Req) -> R {
    const OP: &str = "FilterLogEvents";
    let group = group_param(&req)?;
    if req.log_stream_names.is_some() && req.log_stream_name_prefix.is_some() {
        return Err(invalid(
            "logStreamNames and logStreamNamePrefix are mutually exclusive.",
        ));
    }
    let pattern = Pattern::parse(req.filter_pattern.as_deref().unwrap_or(""))?;
    let page = page(OP, &req, 10_000, 10_000)?;
    let g = r.st.logs.groups.get(&group).ok_or_else(group_missing)?;
    let mut items: Vec<(String, Value)> = g
        .streams
        .values()
        .filter(|s| {
            req.log_stream_names
                .as_ref()
                .is_none_or(|n| n.contains(&s.name))
                && req
                    .log_stream_name_prefix
                    .as_ref()
                    .is_none_or(|p| s.name.starts_with(p.as_str()))
        })
        .flat_map(|s| {
            s.events
                .iter()
                .filter(|e| in_range(e, &req) && pattern.matches(&e.message))
                .map(|e| {
                    let key = format!("{:020}\n{}\n{:020}", e.timestamp.max(0), s.name, e.seq);
                    let mut v = event_json(e);
                    v["logStreamName"] = json!(s.name);
                    v["eventId"] = json!(format!("{:020}{:020}", e.timestamp.max(0), e.seq));
                    (key, v)
                })
        })
        .collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let (items, next) = page.take(OP, items.into_iter());
    Ok(with_token(
        json!({"events": items, "searchedLogStreams": []}),
        next,
    ))
}

// ---------------------------------------------------------------------------------------------
// The awslogs driver of simulated tasks

fn fnv(s: &str, seed: u64) -> u64 {
    s.bytes().fold(seed, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The stream ECS's awslogs driver writes a container's output to.
pub(crate) fn stream_name(prefix: Option<&str>, container: &str, task_id: &str) -> String {
    match prefix.filter(|p| !p.is_empty()) {
        Some(p) => format!("{p}/{container}/{task_id}"),
        None => {
            let key = format!("{task_id}/{container}");
            (0..4)
                .map(|i| format!("{:016x}", fnv(&key, 0xcbf2_9ce4_8422_2325 ^ i)))
                .collect()
        }
    }
}

/// Appends one event to `group`/`stream`, creating both as needed and keeping the group within
/// [`MAX_STREAMS_PER_GROUP`].
pub(crate) fn append(
    st: &mut State,
    dirty: &mut BTreeSet<Key>,
    group: &str,
    stream: &str,
    timestamp: i64,
    message: String,
    now_ms: i64,
) {
    if !valid_group_name(group) || !valid_stream_name(stream) {
        return;
    }
    ensure_group(st, dirty, group, now_ms);
    let Some(g) = st.logs.groups.get_mut(group) else {
        return;
    };
    g.streams
        .entry(stream.to_string())
        .or_insert_with(|| StreamRec::new(group, stream, now_ms))
        .append(timestamp, message, now_ms);
    dirty.insert(Key::LogStream(group.into(), stream.into()));
    while g.streams.len() > MAX_STREAMS_PER_GROUP {
        let oldest = g
            .streams
            .values()
            .min_by_key(|s| (s.last_ingestion.unwrap_or(s.created_at), s.name.clone()))
            .map(|s| s.name.clone());
        let Some(oldest) = oldest else { break };
        g.streams.remove(&oldest);
        dirty.insert(Key::LogStream(group.into(), oldest));
    }
}

/// What the `awslogs` driver would have shipped for these runtime events (already applied to
/// the tasks): a line with the container's command when the task starts running, and its exit
/// code when it stops.
pub(crate) fn record_runtime_events(
    st: &mut State,
    dirty: &mut BTreeSet<Key>,
    events: &[RuntimeEvent],
    now: chrono::DateTime<chrono::Utc>,
) {
    let now_ms = now.timestamp_millis();
    for e in events {
        let (task_id, at, starting) = match e {
            RuntimeEvent::Running { task_id, at, .. } => (task_id, at, true),
            RuntimeEvent::Stopped { task_id, at, .. } => (task_id, at, false),
            _ => continue,
        };
        let Some(task) = st
            .clusters
            .values()
            .find_map(|c| c.tasks.get(task_id.as_str()))
        else {
            continue;
        };
        let td_arn = task.task.task_definition_arn.clone().unwrap_or_default();
        let Some(td) = super::resolve_task_definition(st, &td_arn) else {
            continue;
        };
        let mut lines = Vec::new();
        for cd in td.td.container_definitions.iter().flatten() {
            let Some(lc) = &cd.log_configuration else {
                continue;
            };
            if lc.log_driver.as_ref().map(|d| d.as_str()) != Some("awslogs") {
                continue;
            }
            let opts = lc.options.clone().unwrap_or_default();
            let Some(group) = opts.get("awslogs-group") else {
                continue;
            };
            let name = cd.name.clone().unwrap_or_default();
            let stream = stream_name(
                opts.get("awslogs-stream-prefix").map(String::as_str),
                &name,
                task_id,
            );
            let over = task
                .task
                .overrides
                .as_ref()
                .and_then(|o| o.container_overrides.as_ref())
                .and_then(|cs| cs.iter().find(|c| c.name.as_deref() == Some(name.as_str())));
            let message = if starting {
                let command = over
                    .and_then(|o| o.command.clone())
                    .or_else(|| cd.command.clone())
                    .unwrap_or_default();
                let argv: Vec<String> = cd
                    .entry_point
                    .clone()
                    .unwrap_or_default()
                    .into_iter()
                    .chain(command)
                    .collect();
                let image = cd.image.clone().unwrap_or_default();
                if argv.is_empty() {
                    format!("[berth] container {name} started: image {image} (its default command)")
                } else {
                    format!(
                        "[berth] container {name} started: image {image}: {}",
                        argv.join(" ")
                    )
                }
            } else {
                let code = task
                    .task
                    .containers
                    .iter()
                    .flatten()
                    .find(|c| c.name.as_deref() == Some(name.as_str()))
                    .and_then(|c| c.exit_code);
                match code {
                    Some(c) => format!("[berth] container {name} exited with code {c}"),
                    None => format!("[berth] container {name} stopped"),
                }
            };
            lines.push((group.clone(), stream, message));
        }
        for (group, stream, message) in lines {
            append(
                st,
                dirty,
                &group,
                &stream,
                at.timestamp_millis(),
                message,
                now_ms,
            );
        }
    }
}
