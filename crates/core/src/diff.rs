//! A revision diff for task definitions that shows only what ECS would treat as a change.
//!
//! Two revisions of a task definition rarely look alike even when they mean the same thing:
//! `aws ecs describe-task-definition` prints `"essential": true`, `"cpu": 0`, `"protocol": "tcp"`
//! and a dozen empty lists the author never wrote, and people reorder environment variables
//! freely. A plain JSON diff drowns the one real change in that noise. This module first
//! **normalises** both sides ([`normalize`]), then compares them member by member ([`diff`]) or
//! as text ([`unified`]).
//!
//! # What normalising does
//!
//! 1. **Fills defaults that ECS applies** when a member is absent, and only those the API model
//!    states or that ECS echoes back in `DescribeTaskDefinition`. Those ECS echoes (`essential`,
//!    `cpu`, `protocol`, `hostPort`, the default network mode) come from [`crate::registered`],
//!    the one place that says what a stored task definition looks like; the others are
//!    compared here only:
//!
//!    | Member | Default | Source |
//!    |---|---|---|
//!    | `networkMode` | `bridge`, only when `requiresCompatibilities` lists nothing but `EC2`/`EXTERNAL` and `runtimePlatform` is not Windows | model: "If no network mode is specified, the default is bridge" |
//!    | `enableFaultInjection` | `false` | model |
//!    | task `cpu`, `memory` | unit strings (`"1 vCPU"`, `"2 GB"`) become the integer strings ECS stores | ECS conversion |
//!    | container `essential` | `true` | model |
//!    | container `cpu` | `0` | describe output |
//!    | container `versionConsistency` | `enabled` | model |
//!    | `portMappings[].protocol` | `tcp` | model |
//!    | `portMappings[].hostPort` | `containerPort` in `awsvpc`/`host` mode, `0` (dynamic) in `bridge` mode; not with `containerPortRange` | model, describe output |
//!    | `mountPoints[].readOnly`, `volumesFrom[].readOnly` | `false` | model |
//!    | `healthCheck` `interval`/`timeout`/`retries` | `30`/`5`/`3` (when a health check is present) | model, describe output |
//!    | `restartPolicy.restartAttemptPeriod` | `300` (when a restart policy is present) | model |
//!    | `linuxParameters.swappiness` | `60`, only when `maxSwap` is set (it is ignored otherwise) | model |
//!    | `linuxParameters.devices[].permissions` | `mknod`, `read`, `write` | model |
//!    | EFS `rootDirectory` / `transitEncryption` | `"/"` / `DISABLED` | model |
//!    | EFS `authorizationConfig.iam` | `DISABLED`; an `authorizationConfig` with no access point and IAM off is dropped | model |
//!
//! 2. **Drops switches that are off unless set**: `false` for `privileged`,
//!    `readonlyRootFilesystem`, `disableNetworking`, `interactive`, `pseudoTerminal`,
//!    `linuxParameters.initProcessEnabled`, `dockerVolumeConfiguration.autoprovision` and
//!    `configuredAtLaunch` is removed. The model states no default for them, ECS does not echo
//!    them, and filling `false` into every container would bury the real change in noise.
//! 3. **Drops empty lists and objects** (`"environment": []`, `"dockerLabels": {}`,
//!    `"host": {}`, an empty `linuxParameters`), which mean the same as an absent member. This
//!    includes `command: []` and `entryPoint: []`: describe output seen in the wild carries them
//!    for containers that set neither (`testdata/corpus/taskdefs/100-*-describe-nulls.json`), so
//!    keeping them apart would report changes nobody made.
//! 4. **Sorts lists whose order does not matter** (table below); lists keyed by a member are
//!    sorted by that key with a *stable* sort, so entries that share a key (two `environment`
//!    entries named `A`, where the last one wins) keep their relative order and a swap of them
//!    still shows as a change.
//!
//! | List | Order | Addressed in paths by |
//! |---|---|---|
//! | `containerDefinitions` | **kept** (a reorder is a change) | `name` |
//! | `volumes` | sorted | `name` |
//! | `tags` | sorted | `key` |
//! | `placementConstraints`, `requiresCompatibilities` | sorted | position |
//! | `inferenceAccelerators` | sorted | `deviceName` |
//! | `proxyConfiguration.properties` | sorted | `name` |
//! | `portMappings` | sorted | `containerPort`, else `containerPortRange` |
//! | `environment`, `secrets`, `logConfiguration.secretOptions` | sorted | `name` |
//! | `mountPoints` | sorted | `containerPath` |
//! | `volumesFrom` | sorted | `sourceContainer` |
//! | `dependsOn` | sorted: each entry is a condition that must hold, whatever the order | `containerName` |
//! | `ulimits` | sorted | `name` |
//! | `systemControls` | sorted | `namespace` |
//! | `resourceRequirements` | sorted | `type` |
//! | `extraHosts`, `restartPolicy.ignoredExitCodes` | sorted | position |
//! | `linuxParameters.capabilities.add` / `drop`, `devices`, `devices[].permissions` | sorted | position |
//! | `linuxParameters.tmpfs` | sorted | `containerPath` |
//! | everything else (`command`, `entryPoint`, `links`, `dnsServers`, `dnsSearchDomains`, `environmentFiles` (read top-down), `dockerSecurityOptions`, `healthCheck.command`, `tmpfs[].mountOptions`, …) | **kept** | compared whole |
//!
//! Maps (`dockerLabels`, `logConfiguration.options`, …) are compared member by member.
//!
//! # Paths
//!
//! A [`Change::path`] is a JSON pointer (RFC 6901: `~` is written `~0`, `/` is written `~1`)
//! into the normalised document, with one twist: an element of a list that is addressed by a
//! member (table above) is named by that member's value instead of its position, so
//! `/containerDefinitions/app/image`, `/containerDefinitions/app/environment/LOG_LEVEL/value`,
//! `/containerDefinitions/web/portMappings/8080/hostPort`, `/tags/team`. When such a list has an
//! element without the key, or two elements with the same key, the whole list falls back to
//! positions: `containerDefinitions` element by element, the others as a multiset. Elements of
//! positional lists are numbered in the normalised (sorted) list they come from: the `before`
//! document for [`ChangeKind::Removed`], the `after` document otherwise. A list whose order is
//! kept (`command`, …) changes as a whole: one [`ChangeKind::Modified`] at the list's path. When
//! the same containers appear in a different order, one `Modified` change at
//! `/containerDefinitions` carries the container names in their old and new order.
//!
//! # What it deliberately does not do
//!
//! - **No validation.** An invalid document is normalised as far as it can be and compared; use
//!   the validator to find out whether ECS would accept it.
//! - **No defaults that depend on things outside the document**: the EC2 `stopTimeout` (an agent
//!   setting), the Fargate ephemeral storage size, the log driver mode (an account setting), the
//!   platform of an absent `runtimePlatform`, image digests behind tags. Filling any of them
//!   would hide a change that matters somewhere.
//! - **No read-only members** (`revision`, `status`, `registeredAt`, …): the inputs are
//!   registration requests, which [`crate::model::read_task_definition`] produces from every form
//!   a task definition is kept in, so those are gone before the diff sees them.
//! - **No IO.** The caller reads the files; this computes.
//!
//! [`normalize`] returns the typed [`RegisterTaskDefinitionRequest`] rather than a JSON value so
//! that its result can go wherever a request goes (validation, registration, the editor); the
//! defaults are filled through the typed model, so the compiler checks every member name. List
//! sorting and the diff itself work on the JSON form, driven by the one table above.

use crate::model::{
    ContainerDefinition, DeviceCgroupPermission, EFSAuthorizationConfigIAM, EFSTransitEncryption,
    NetworkMode, RegisterTaskDefinitionRequest, VersionConsistency, Volume, parse_cpu_units,
    parse_memory_mib,
};
use crate::registered;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::fmt::{self, Write as _};

/// What happened to the value at a [`Change::path`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// The value exists only in the second (`after`) document.
    Added,
    /// The value exists only in the first (`before`) document.
    Removed,
    /// The value exists in both documents and differs.
    Modified,
}

/// One difference between two normalised task definitions.
///
/// Serialises as `{"path": "...", "kind": "added"|"removed"|"modified", "before": ..., "after": ...}`,
/// leaving out `before` for additions and `after` for removals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Where the change is: a JSON pointer with list elements named by their key (see the
    /// [module documentation](self#paths)).
    pub path: String,
    /// Whether the value was added, removed or modified.
    pub kind: ChangeKind,
    /// The normalised value in the first document; `None` for [`ChangeKind::Added`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    /// The normalised value in the second document; `None` for [`ChangeKind::Removed`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
}

impl fmt::Display for Change {
    /// One line: `+ path: after`, `- path: before`, or `~ path: before -> after`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<Value>| {
            v.as_ref()
                .map_or_else(|| "null".to_owned(), Value::to_string)
        };
        match self.kind {
            ChangeKind::Added => write!(f, "+ {}: {}", self.path, show(&self.after)),
            ChangeKind::Removed => write!(f, "- {}: {}", self.path, show(&self.before)),
            ChangeKind::Modified => {
                write!(
                    f,
                    "~ {}: {} -> {}",
                    self.path,
                    show(&self.before),
                    show(&self.after)
                )
            }
        }
    }
}

/// Returns `request` in the canonical form the diff compares: ECS defaults filled, switches that
/// are off dropped, empty lists and objects dropped, lists whose order does not matter sorted.
///
/// Two requests that ECS treats the same normalise to equal values; normalising twice changes
/// nothing more. See the [module documentation](self) for exactly which defaults and lists.
///
/// # Example
///
/// ```
/// use berth_core::diff::normalize;
/// use berth_core::model::read_task_definition;
///
/// let written = read_task_definition(r#"{"family": "web", "containerDefinitions": [
///     {"name": "app", "image": "nginx:1.27", "environment": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]}]}"#).unwrap();
/// let described = read_task_definition(r#"{"taskDefinition": {"family": "web", "revision": 7,
///     "networkMode": "bridge", "containerDefinitions": [{"name": "app", "image": "nginx:1.27", "cpu": 0,
///     "essential": true, "mountPoints": [], "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]}}"#).unwrap();
/// assert_eq!(normalize(&written.request), normalize(&described.request));
/// ```
#[must_use]
pub fn normalize(request: &RegisterTaskDefinitionRequest) -> RegisterTaskDefinitionRequest {
    let filled = fill_defaults(request);
    let Ok(mut value) = serde_json::to_value(&filled) else {
        return filled;
    };
    canonicalise(&mut value, &mut String::new());
    RegisterTaskDefinitionRequest::deserialize(&value).unwrap_or(filled)
}

/// Lists the changes from `before` to `after`, after normalising both; empty when ECS would
/// treat the two as the same task definition.
///
/// Changes come in document order: members in the model's order, list elements in the order of
/// `before` and then the elements new in `after`. The result is empty exactly when the
/// normalised documents are equal, and then [`unified`] returns an empty string too.
///
/// # Example
///
/// ```
/// use berth_core::diff::{diff, ChangeKind};
/// use berth_core::model::read_task_definition;
///
/// let a = read_task_definition(r#"{"family": "web", "containerDefinitions": [{"name": "app", "image": "nginx:1.26"}]}"#).unwrap();
/// let b = read_task_definition(r#"{"family": "web", "containerDefinitions": [{"name": "app", "image": "nginx:1.27", "essential": true}]}"#).unwrap();
/// let changes = diff(&a.request, &b.request);
/// assert_eq!(changes.len(), 1);
/// assert_eq!(changes[0].path, "/containerDefinitions/app/image");
/// assert_eq!(changes[0].kind, ChangeKind::Modified);
/// assert_eq!(changes[0].to_string(), r#"~ /containerDefinitions/app/image: "nginx:1.26" -> "nginx:1.27""#);
/// ```
#[must_use]
pub fn diff(
    before: &RegisterTaskDefinitionRequest,
    after: &RegisterTaskDefinitionRequest,
) -> Vec<Change> {
    let a = normalized_value(before);
    let b = normalized_value(after);
    let mut out = Vec::new();
    diff_value("", "", &a, &b, &mut out);
    out
}

/// Renders the difference of the two normalised documents, pretty-printed as JSON, as a unified
/// diff (`---`/`+++` headers named `before_name` and `after_name`, `@@` hunks with three lines of
/// context), ready for `patch`, a terminal or a diff viewer. Returns an empty string when the
/// normalised documents are equal.
///
/// # Example
///
/// ```
/// use berth_core::diff::unified;
/// use berth_core::model::read_task_definition;
///
/// let a = read_task_definition(r#"{"family": "web", "containerDefinitions": [{"name": "app", "image": "nginx:1.26"}]}"#).unwrap();
/// let b = read_task_definition(r#"{"family": "web", "containerDefinitions": [{"name": "app", "image": "nginx:1.27"}]}"#).unwrap();
/// let text = unified("web:1", "web:2", &a.request, &b.request);
/// assert!(text.starts_with("--- web:1\n+++ web:2\n@@ "));
/// assert!(text.contains("\n-      \"image\": \"nginx:1.26\",\n+      \"image\": \"nginx:1.27\",\n"));
/// assert_eq!(unified("web:1", "web:1", &a.request, &a.request), "");
/// ```
#[must_use]
pub fn unified(
    before_name: &str,
    after_name: &str,
    before: &RegisterTaskDefinitionRequest,
    after: &RegisterTaskDefinitionRequest,
) -> String {
    let a = normalized_value(before);
    let b = normalized_value(after);
    if a == b {
        return String::new();
    }
    let a_text = serde_json::to_string_pretty(&a).unwrap_or_default();
    let b_text = serde_json::to_string_pretty(&b).unwrap_or_default();
    unified_text(before_name, after_name, &a_text, &b_text, CONTEXT)
}

// ---------------------------------------------------------------------------------------------
// Normalisation

/// The normalised request as JSON: what [`diff`] and [`unified`] compare.
fn normalized_value(request: &RegisterTaskDefinitionRequest) -> Value {
    let filled = fill_defaults(request);
    let mut value = serde_json::to_value(&filled).unwrap_or(Value::Null);
    canonicalise(&mut value, &mut String::new());
    value
}

/// Fills the defaults ECS applies and drops switches that are off (steps 1 and 2 of the module
/// documentation), through the typed model.
fn fill_defaults(request: &RegisterTaskDefinitionRequest) -> RegisterTaskDefinitionRequest {
    let mut r = request.clone();
    if let Some(cpu) = &r.cpu {
        if let Ok(units) = parse_cpu_units(cpu) {
            r.cpu = Some(units.to_string());
        }
    }
    if let Some(memory) = &r.memory {
        if let Ok(mib) = parse_memory_mib(memory) {
            r.memory = Some(mib.to_string());
        }
    }
    if r.network_mode.is_none() {
        r.network_mode = registered::effective_network_mode(&r);
    }
    r.enable_fault_injection.get_or_insert(false);
    let mode = r.network_mode.clone();
    for container in r.container_definitions.iter_mut().flatten() {
        container_defaults(container, mode.as_ref());
    }
    for volume in r.volumes.iter_mut().flatten() {
        volume_defaults(volume);
    }
    r
}

/// The container defaults: first those ECS returns ([`registered::fill_container`], shared with
/// the embedded cluster's registration), then those ECS applies without echoing them.
fn container_defaults(c: &mut ContainerDefinition, mode: Option<&NetworkMode>) {
    registered::fill_container(c, mode);
    c.version_consistency
        .get_or_insert(VersionConsistency::Enabled);
    for mount in c.mount_points.iter_mut().flatten() {
        mount.read_only.get_or_insert(false);
    }
    for from in c.volumes_from.iter_mut().flatten() {
        from.read_only.get_or_insert(false);
    }
    if let Some(policy) = &mut c.restart_policy {
        policy.restart_attempt_period.get_or_insert(300);
    }
    if let Some(linux) = &mut c.linux_parameters {
        if linux.max_swap.is_some() {
            linux.swappiness.get_or_insert(60);
        }
        for device in linux.devices.iter_mut().flatten() {
            if device.permissions.as_ref().is_none_or(Vec::is_empty) {
                device.permissions = Some(vec![
                    DeviceCgroupPermission::Read,
                    DeviceCgroupPermission::Write,
                    DeviceCgroupPermission::Mknod,
                ]);
            }
        }
        drop_false(&mut linux.init_process_enabled);
    }
    for switch in [
        &mut c.privileged,
        &mut c.readonly_root_filesystem,
        &mut c.disable_networking,
        &mut c.interactive,
        &mut c.pseudo_terminal,
    ] {
        drop_false(switch);
    }
}

fn volume_defaults(v: &mut Volume) {
    drop_false(&mut v.configured_at_launch);
    if let Some(docker) = &mut v.docker_volume_configuration {
        drop_false(&mut docker.autoprovision);
    }
    if let Some(efs) = &mut v.efs_volume_configuration {
        efs.root_directory.get_or_insert_with(|| "/".to_owned());
        efs.transit_encryption
            .get_or_insert(EFSTransitEncryption::Disabled);
        let off = efs.authorization_config.as_ref().is_some_and(|auth| {
            auth.access_point_id.is_none()
                && auth
                    .iam
                    .as_ref()
                    .is_none_or(|iam| *iam == EFSAuthorizationConfigIAM::Disabled)
        });
        if off {
            efs.authorization_config = None;
        } else if let Some(auth) = &mut efs.authorization_config {
            auth.iam.get_or_insert(EFSAuthorizationConfigIAM::Disabled);
        }
    }
}

fn drop_false(switch: &mut Option<bool>) {
    if *switch == Some(false) {
        *switch = None;
    }
}

/// How the elements of a list relate (see the table in the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListRule {
    /// Order matters; the list is compared whole.
    Ordered,
    /// Order does not matter; elements are sorted and compared as a multiset.
    Set,
    /// Elements are named by the first of these members they have; `ordered` says whether the
    /// list's order matters.
    Keyed {
        keys: &'static [&'static str],
        ordered: bool,
    },
}

/// Lists that are not [`ListRule::Ordered`], by their path with every list element written `*`.
const LIST_RULES: &[(&str, ListRule)] = &[
    ("/containerDefinitions", keyed_ordered(&["name"])),
    ("/volumes", keyed(&["name"])),
    ("/tags", keyed(&["key"])),
    ("/placementConstraints", ListRule::Set),
    ("/requiresCompatibilities", ListRule::Set),
    ("/inferenceAccelerators", keyed(&["deviceName"])),
    ("/proxyConfiguration/properties", keyed(&["name"])),
    (
        "/containerDefinitions/*/portMappings",
        keyed(&["containerPort", "containerPortRange"]),
    ),
    ("/containerDefinitions/*/environment", keyed(&["name"])),
    ("/containerDefinitions/*/secrets", keyed(&["name"])),
    (
        "/containerDefinitions/*/mountPoints",
        keyed(&["containerPath"]),
    ),
    (
        "/containerDefinitions/*/volumesFrom",
        keyed(&["sourceContainer"]),
    ),
    (
        "/containerDefinitions/*/dependsOn",
        keyed(&["containerName"]),
    ),
    ("/containerDefinitions/*/extraHosts", ListRule::Set),
    ("/containerDefinitions/*/ulimits", keyed(&["name"])),
    (
        "/containerDefinitions/*/systemControls",
        keyed(&["namespace"]),
    ),
    (
        "/containerDefinitions/*/resourceRequirements",
        keyed(&["type"]),
    ),
    (
        "/containerDefinitions/*/restartPolicy/ignoredExitCodes",
        ListRule::Set,
    ),
    (
        "/containerDefinitions/*/logConfiguration/secretOptions",
        keyed(&["name"]),
    ),
    (
        "/containerDefinitions/*/linuxParameters/capabilities/add",
        ListRule::Set,
    ),
    (
        "/containerDefinitions/*/linuxParameters/capabilities/drop",
        ListRule::Set,
    ),
    (
        "/containerDefinitions/*/linuxParameters/devices",
        ListRule::Set,
    ),
    (
        "/containerDefinitions/*/linuxParameters/devices/*/permissions",
        ListRule::Set,
    ),
    (
        "/containerDefinitions/*/linuxParameters/tmpfs",
        keyed(&["containerPath"]),
    ),
];

const fn keyed(keys: &'static [&'static str]) -> ListRule {
    ListRule::Keyed {
        keys,
        ordered: false,
    }
}

const fn keyed_ordered(keys: &'static [&'static str]) -> ListRule {
    ListRule::Keyed {
        keys,
        ordered: true,
    }
}

fn list_rule(pattern: &str) -> ListRule {
    LIST_RULES
        .iter()
        .find(|(p, _)| *p == pattern)
        .map_or(ListRule::Ordered, |(_, rule)| *rule)
}

/// Drops empty lists and objects and sorts unordered lists (steps 3 and 4), bottom-up.
/// `pattern` is the path of `value` with list elements written `*`.
fn canonicalise(value: &mut Value, pattern: &mut String) {
    match value {
        Value::Object(map) => {
            for (key, member) in map.iter_mut() {
                let len = pattern.len();
                pattern.push('/');
                pattern.push_str(key);
                canonicalise(member, pattern);
                pattern.truncate(len);
            }
            map.retain(|_, member| !is_empty_container(member));
        }
        Value::Array(items) => {
            let len = pattern.len();
            pattern.push_str("/*");
            for item in items.iter_mut() {
                canonicalise(item, pattern);
            }
            pattern.truncate(len);
            match list_rule(pattern) {
                ListRule::Ordered | ListRule::Keyed { ordered: true, .. } => {}
                ListRule::Set => items.sort_by(cmp_values),
                // Stable: entries sharing a key keep their order (the last one wins in ECS).
                ListRule::Keyed {
                    keys,
                    ordered: false,
                } => {
                    items.sort_by(|a, b| cmp_keys(key_of(a, keys), key_of(b, keys)));
                }
            }
        }
        _ => {}
    }
}

fn is_empty_container(value: &Value) -> bool {
    match value {
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

/// The value an element is named by: the first of `keys` it has as a string or number.
fn key_of<'v>(element: &'v Value, keys: &[&str]) -> Option<&'v Value> {
    keys.iter()
        .filter_map(|k| element.get(k))
        .find(|v| v.is_string() || v.is_number())
}

fn cmp_keys(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => cmp_values(a, b),
    }
}

/// A total order on JSON values: numbers numerically, strings by code point, numbers before
/// strings, anything else by its JSON text.
fn cmp_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.total_cmp(&y)
                .then_with(|| a.to_string().cmp(&b.to_string()))
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Number(_), Value::String(_)) => Ordering::Less,
        (Value::String(_), Value::Number(_)) => Ordering::Greater,
        _ => a.to_string().cmp(&b.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// Structural diff

/// Appends the changes from `a` to `b` at `path` (a JSON pointer) to `out`. `pattern` is the
/// same path with every list element written `*`, to look up the [`ListRule`].
fn diff_value(path: &str, pattern: &str, a: &Value, b: &Value, out: &mut Vec<Change>) {
    let start = out.len();
    match (a, b) {
        (Value::Object(ma), Value::Object(mb)) => {
            for (key, va) in ma {
                let child = child_path(path, key);
                match mb.get(key) {
                    Some(vb) => diff_value(&child, &format!("{pattern}/{key}"), va, vb, out),
                    None => out.push(removed(child, va)),
                }
            }
            for (key, vb) in mb.iter().filter(|(key, _)| !ma.contains_key(*key)) {
                out.push(added(child_path(path, key), vb));
            }
        }
        (Value::Array(la), Value::Array(lb)) => match list_rule(pattern) {
            ListRule::Ordered => {}
            ListRule::Set => diff_multiset(path, la, lb, out),
            ListRule::Keyed { keys, ordered } => {
                match (element_names(la, keys), element_names(lb, keys)) {
                    (Some(na), Some(nb)) => {
                        diff_keyed(path, pattern, (la, &na), (lb, &nb), ordered, out);
                    }
                    _ if ordered => diff_positional(path, pattern, la, lb, out),
                    _ => diff_multiset(path, la, lb, out),
                }
            }
        },
        _ => {}
    }
    // Whatever the structure found, unequal values always produce at least one change (this is
    // also how whole-list changes of ordered lists and scalar changes are reported).
    if out.len() == start && a != b {
        out.push(Change {
            path: path.to_owned(),
            kind: ChangeKind::Modified,
            before: Some(a.clone()),
            after: Some(b.clone()),
        });
    }
}

/// `path` with one more reference token, escaped as RFC 6901 says (`~` → `~0`, `/` → `~1`).
fn child_path(path: &str, token: &str) -> String {
    let mut child = String::with_capacity(path.len() + token.len() + 1);
    child.push_str(path);
    child.push('/');
    for ch in token.chars() {
        match ch {
            '~' => child.push_str("~0"),
            '/' => child.push_str("~1"),
            _ => child.push(ch),
        }
    }
    child
}

/// The name of every element, or `None` when one has no key or two share one (then the list is
/// compared by position).
fn element_names(items: &[Value], keys: &[&str]) -> Option<Vec<String>> {
    let mut seen = HashSet::with_capacity(items.len());
    let mut names = Vec::with_capacity(items.len());
    for item in items {
        let name = match key_of(item, keys)? {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if !seen.insert(name.clone()) {
            return None;
        }
        names.push(name);
    }
    Some(names)
}

/// Matches elements by name: removed, then (in `b`'s order) added; and for a list whose order
/// matters, one change when the names both sides share come in a different order.
fn diff_keyed(
    path: &str,
    pattern: &str,
    (la, na): (&[Value], &[String]),
    (lb, nb): (&[Value], &[String]),
    ordered: bool,
    out: &mut Vec<Change>,
) {
    let index_b: HashMap<&str, usize> = nb
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let names_a: HashSet<&str> = na.iter().map(String::as_str).collect();
    let element_pattern = format!("{pattern}/*");
    for (va, name) in la.iter().zip(na) {
        let child = child_path(path, name);
        match index_b.get(name.as_str()) {
            Some(&j) => diff_value(&child, &element_pattern, va, &lb[j], out),
            None => out.push(removed(child, va)),
        }
    }
    for (vb, name) in lb.iter().zip(nb) {
        if !names_a.contains(name.as_str()) {
            out.push(added(child_path(path, name), vb));
        }
    }
    if ordered {
        let common_a = na.iter().filter(|n| index_b.contains_key(n.as_str()));
        let common_b = nb.iter().filter(|n| names_a.contains(n.as_str()));
        if !common_a.eq(common_b) {
            out.push(Change {
                path: path.to_owned(),
                kind: ChangeKind::Modified,
                before: Some(Value::from(na.to_vec())),
                after: Some(Value::from(nb.to_vec())),
            });
        }
    }
}

/// Compares element `i` with element `i`.
fn diff_positional(path: &str, pattern: &str, la: &[Value], lb: &[Value], out: &mut Vec<Change>) {
    let element_pattern = format!("{pattern}/*");
    for i in 0..la.len().max(lb.len()) {
        let child = child_path(path, &i.to_string());
        match (la.get(i), lb.get(i)) {
            (Some(va), Some(vb)) => diff_value(&child, &element_pattern, va, vb, out),
            (Some(va), None) => out.push(removed(child, va)),
            (None, Some(vb)) => out.push(added(child, vb)),
            (None, None) => {}
        }
    }
}

/// Elements of `la` with no equal partner in `lb` are removed, and the other way round added;
/// each is numbered by its position in its own list.
fn diff_multiset(path: &str, la: &[Value], lb: &[Value], out: &mut Vec<Change>) {
    let mut matched_b = vec![false; lb.len()];
    let mut unmatched_a = Vec::new();
    for (i, va) in la.iter().enumerate() {
        let partner = (0..lb.len()).find(|&j| !matched_b[j] && lb[j] == *va);
        match partner {
            Some(j) => matched_b[j] = true,
            None => unmatched_a.push(i),
        }
    }
    for i in unmatched_a {
        out.push(removed(child_path(path, &i.to_string()), &la[i]));
    }
    for (j, vb) in lb.iter().enumerate().filter(|&(j, _)| !matched_b[j]) {
        out.push(added(child_path(path, &j.to_string()), vb));
    }
}

fn added(path: String, value: &Value) -> Change {
    Change {
        path,
        kind: ChangeKind::Added,
        before: None,
        after: Some(value.clone()),
    }
}

fn removed(path: String, value: &Value) -> Change {
    Change {
        path,
        kind: ChangeKind::Removed,
        before: Some(value.clone()),
        after: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Line diff (Myers, linear space) and unified output

/// Lines of context around each change in [`unified`] output.
const CONTEXT: usize = 3;

/// One step of a line edit script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edit {
    /// Line `a` of the old text equals line `b` of the new text.
    Keep(usize, usize),
    /// Line `a` of the old text is removed.
    Delete(usize),
    /// Line `b` of the new text is inserted.
    Insert(usize),
}

fn unified_text(a_name: &str, b_name: &str, a_text: &str, b_text: &str, context: usize) -> String {
    let a_lines: Vec<&str> = a_text.lines().collect();
    let b_lines: Vec<&str> = b_text.lines().collect();
    // Compare small integers instead of strings.
    let mut ids: HashMap<&str, usize> = HashMap::new();
    let a_ids: Vec<usize> = a_lines.iter().map(|l| intern(&mut ids, l)).collect();
    let b_ids: Vec<usize> = b_lines.iter().map(|l| intern(&mut ids, l)).collect();
    let edits = line_diff(&a_ids, &b_ids);
    if edits.iter().all(|e| matches!(e, Edit::Keep(..))) {
        return String::new();
    }

    let mut out = format!("--- {a_name}\n+++ {b_name}\n");
    let (mut done, mut a_pos, mut b_pos) = (0, 0, 0);
    for (start, end) in hunks(&edits, context) {
        let (a_skip, b_skip) = counts(&edits[done..start]);
        (a_pos, b_pos) = (a_pos + a_skip, b_pos + b_skip);
        let hunk = &edits[start..end];
        let (a_count, b_count) = counts(hunk);
        let _ = writeln!(
            out,
            "@@ -{} +{} @@",
            range(a_pos, a_count),
            range(b_pos, b_count)
        );
        for edit in hunk {
            match *edit {
                Edit::Keep(i, _) => push_line(&mut out, ' ', a_lines[i]),
                Edit::Delete(i) => push_line(&mut out, '-', a_lines[i]),
                Edit::Insert(j) => push_line(&mut out, '+', b_lines[j]),
            }
        }
        (done, a_pos, b_pos) = (end, a_pos + a_count, b_pos + b_count);
    }
    out
}

fn intern<'t>(ids: &mut HashMap<&'t str, usize>, line: &'t str) -> usize {
    let next = ids.len();
    *ids.entry(line).or_insert(next)
}

fn push_line(out: &mut String, marker: char, line: &str) {
    out.push(marker);
    out.push_str(line);
    out.push('\n');
}

/// A hunk range as `diff -u` writes it: `start,count`, `start` alone when count is 1, and the
/// line before the hunk (`n,0`) when it is empty.
fn range(lines_before: usize, count: usize) -> String {
    match count {
        0 => format!("{lines_before},0"),
        1 => format!("{}", lines_before + 1),
        _ => format!("{},{count}", lines_before + 1),
    }
}

/// How many old and new lines `edits` covers.
fn counts(edits: &[Edit]) -> (usize, usize) {
    edits.iter().fold((0, 0), |(a, b), e| match e {
        Edit::Keep(..) => (a + 1, b + 1),
        Edit::Delete(_) => (a + 1, b),
        Edit::Insert(_) => (a, b + 1),
    })
}

/// Ranges `start..end` of `edits` that form hunks: each change with up to `context` unchanged
/// lines around it, merged when the gap between two changes is at most `2 * context`.
fn hunks(edits: &[Edit], context: usize) -> Vec<(usize, usize)> {
    let mut result: Vec<(usize, usize)> = Vec::new();
    let changes = edits
        .iter()
        .enumerate()
        .filter(|(_, e)| !matches!(e, Edit::Keep(..)));
    for (i, _) in changes {
        let start = i.saturating_sub(context);
        let end = (i + 1 + context).min(edits.len());
        match result.last_mut() {
            Some(last) if start <= last.1 => last.1 = end,
            _ => result.push((start, end)),
        }
    }
    result
}

/// A shortest edit script from `a` to `b` (Myers' O((N+M)D) algorithm in its linear-space form:
/// find the middle snake, recurse on both halves).
fn line_diff(a: &[usize], b: &[usize]) -> Vec<Edit> {
    let max_d = (a.len() + b.len()).div_ceil(2) + 1;
    let mut vf = vec![0usize; 2 * max_d + 2];
    let mut vb = vec![0usize; 2 * max_d + 2];
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    conquer(a, 0, b, 0, &mut vf, &mut vb, &mut out);
    out
}

/// Appends the edits turning `a` (starting at old line `a0`) into `b` (at new line `b0`).
fn conquer(
    a: &[usize],
    a0: usize,
    b: &[usize],
    b0: usize,
    vf: &mut [usize],
    vb: &mut [usize],
    out: &mut Vec<Edit>,
) {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    out.extend((0..prefix).map(|i| Edit::Keep(a0 + i, b0 + i)));
    let (a, b, a0, b0) = (&a[prefix..], &b[prefix..], a0 + prefix, b0 + prefix);
    let suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (a_mid, b_mid) = (&a[..a.len() - suffix], &b[..b.len() - suffix]);

    if a_mid.is_empty() {
        out.extend((0..b_mid.len()).map(|j| Edit::Insert(b0 + j)));
    } else if b_mid.is_empty() {
        out.extend((0..a_mid.len()).map(|i| Edit::Delete(a0 + i)));
    } else if let Some((x, y)) = middle_snake(a_mid, b_mid, vf, vb)
        .filter(|&(x, y)| x + y > 0 && x + y < a_mid.len() + b_mid.len())
    {
        conquer(&a_mid[..x], a0, &b_mid[..y], b0, vf, vb, out);
        conquer(&a_mid[x..], a0 + x, &b_mid[y..], b0 + y, vf, vb, out);
    } else {
        // Unreachable once common ends are stripped (a middle snake strictly inside the
        // problem always exists); stay correct, and never recurse on the same problem, anyway.
        out.extend((0..a_mid.len()).map(|i| Edit::Delete(a0 + i)));
        out.extend((0..b_mid.len()).map(|j| Edit::Insert(b0 + j)));
    }

    let (a_end, b_end) = (a0 + a_mid.len(), b0 + b_mid.len());
    out.extend((0..suffix).map(|i| Edit::Keep(a_end + i, b_end + i)));
}

/// Finds where a shortest edit path crosses its middle, as a split point `(x, y)` with
/// `0 < x + y < n + m`, by running the forward and backward searches until they overlap.
/// The arrays are indexed by diagonal `k` (`x - y`) shifted by `offset` so they stay unsigned.
fn middle_snake(
    a: &[usize],
    b: &[usize],
    vf: &mut [usize],
    vb: &mut [usize],
) -> Option<(usize, usize)> {
    let (n, m) = (a.len(), b.len());
    let (ni, mi) = (isize::try_from(n).ok()?, isize::try_from(m).ok()?);
    let delta = ni - mi;
    let odd = delta % 2 != 0;
    let offset = isize::try_from(vf.len() / 2).ok()?;
    let at = |k: isize| usize::try_from(k + offset).ok();
    let d_max = (ni + mi + 1) / 2;
    // vf[k]: furthest x reached on diagonal k going forward; vb[k]: furthest distance from the
    // end reached on diagonal k (of the reversed problem) going backward.
    *vf.get_mut(at(1)?)? = 0;
    *vb.get_mut(at(1)?)? = 0;
    for d in 0..=d_max {
        let mut k = -d;
        while k <= d {
            let down = k == -d || (k != d && vf[at(k - 1)?] < vf[at(k + 1)?]);
            let x_start = if down {
                vf[at(k + 1)?]
            } else {
                vf[at(k - 1)?] + 1
            };
            let y_start = usize::try_from(isize::try_from(x_start).ok()? - k).ok()?;
            let (mut x, mut y) = (x_start, y_start);
            while x < n && y < m && a[x] == b[y] {
                x += 1;
                y += 1;
            }
            vf[at(k)?] = x;
            let kb = delta - k;
            if odd && (-(d - 1)..=(d - 1)).contains(&kb) && x + vb[at(kb)?] >= n {
                return Some((x_start, y_start));
            }
            k += 2;
        }
        let mut k = -d;
        while k <= d {
            let down = k == -d || (k != d && vb[at(k - 1)?] < vb[at(k + 1)?]);
            let x_start = if down {
                vb[at(k + 1)?]
            } else {
                vb[at(k - 1)?] + 1
            };
            let y_start = usize::try_from(isize::try_from(x_start).ok()? - k).ok()?;
            let (mut x, mut y) = (x_start, y_start);
            while x < n && y < m && a[n - x - 1] == b[m - y - 1] {
                x += 1;
                y += 1;
            }
            vb[at(k)?] = x;
            let kf = delta - k;
            if !odd && (-d..=d).contains(&kf) && x + vf[at(kf)?] >= n {
                return Some((n - x, m - y));
            }
            k += 2;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        Compatibility, ContainerDefinition, HostEntry, KernelCapabilities, KeyValuePair,
        LinuxParameters, MountPoint, PortMapping, Secret, Tag, TaskDefinitionPlacementConstraint,
        TransportProtocol, Ulimit, UlimitName, read_task_definition,
    };
    use proptest::prelude::*;
    use serde_json::json;

    fn request(text: &str) -> RegisterTaskDefinitionRequest {
        match read_task_definition(text) {
            Ok(input) => input.request,
            Err(e) => panic!("test document does not parse: {e}"),
        }
    }

    fn from_json(value: Value) -> RegisterTaskDefinitionRequest {
        request(&value.to_string())
    }

    const REGISTER: &str = r#"{
      "family": "web",
      "networkMode": "awsvpc",
      "requiresCompatibilities": ["FARGATE"],
      "cpu": "0.5 vCPU",
      "memory": "1 GB",
      "executionRoleArn": "arn:aws:iam::123456789012:role/exec",
      "containerDefinitions": [
        {
          "name": "app",
          "image": "nginx:1.27",
          "portMappings": [{"containerPort": 80}],
          "environment": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}],
          "secrets": [{"name": "TOKEN", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/token"}],
          "healthCheck": {"command": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"]},
          "mountPoints": [{"sourceVolume": "data", "containerPath": "/data"}],
          "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/web", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "app"}}
        },
        {"name": "sidecar", "image": "busybox:1.36", "essential": false, "command": ["sleep", "infinity"]}
      ],
      "volumes": [{"name": "data"}],
      "tags": [{"key": "team", "value": "edge"}, {"key": "env", "value": "prod"}]
    }"#;

    const DESCRIBED: &str = r#"{
      "taskDefinition": {
        "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/web:3",
        "containerDefinitions": [
          {
            "name": "app",
            "image": "nginx:1.27",
            "cpu": 0,
            "portMappings": [{"containerPort": 80, "hostPort": 80, "protocol": "tcp"}],
            "essential": true,
            "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
            "environmentFiles": [],
            "mountPoints": [{"sourceVolume": "data", "containerPath": "/data", "readOnly": false}],
            "volumesFrom": [],
            "secrets": [{"name": "TOKEN", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/token"}],
            "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-stream-prefix": "app", "awslogs-group": "/ecs/web", "awslogs-region": "us-east-1"}, "secretOptions": []},
            "healthCheck": {"command": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"], "interval": 30, "timeout": 5, "retries": 3},
            "ulimits": [],
            "systemControls": []
          },
          {
            "name": "sidecar",
            "image": "busybox:1.36",
            "cpu": 0,
            "portMappings": [],
            "essential": false,
            "command": ["sleep", "infinity"],
            "environment": [],
            "mountPoints": [],
            "volumesFrom": [],
            "systemControls": []
          }
        ],
        "family": "web",
        "executionRoleArn": "arn:aws:iam::123456789012:role/exec",
        "networkMode": "awsvpc",
        "revision": 3,
        "volumes": [{"name": "data", "host": {}}],
        "status": "ACTIVE",
        "requiresAttributes": [{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.18"}, {"name": "ecs.capability.task-eni"}],
        "placementConstraints": [],
        "compatibilities": ["EC2", "FARGATE"],
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "512",
        "memory": "1024",
        "enableFaultInjection": false,
        "registeredAt": "2024-05-01T12:00:00.000Z",
        "registeredBy": "arn:aws:iam::123456789012:root"
      },
      "tags": [{"key": "env", "value": "prod"}, {"key": "team", "value": "edge"}]
    }"#;

    fn app_image(image: &str) -> RegisterTaskDefinitionRequest {
        let mut r = request(REGISTER);
        if let Some(c) = r.container_definitions.as_mut().and_then(|c| c.first_mut()) {
            c.image = Some(image.to_owned());
        }
        r
    }

    #[test]
    fn register_request_and_its_describe_output_are_equal() {
        let (a, b) = (request(REGISTER), request(DESCRIBED));
        assert_eq!(diff(&a, &b), vec![]);
        assert_eq!(unified("a", "b", &a, &b), "");
        assert_eq!(normalize(&a), normalize(&b));
    }

    #[test]
    fn environment_secrets_and_tags_reordered_are_equal() {
        let a = from_json(
            json!({"family": "f", "tags": [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}],
            "containerDefinitions": [{"name": "c", "image": "i",
                "environment": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}, {"name": "Z", "value": "3"}],
                "secrets": [{"name": "S1", "valueFrom": "p1"}, {"name": "S2", "valueFrom": "p2"}]}]}),
        );
        let b = from_json(
            json!({"family": "f", "tags": [{"key": "b", "value": "2"}, {"key": "a", "value": "1"}],
            "containerDefinitions": [{"name": "c", "image": "i",
                "environment": [{"name": "Z", "value": "3"}, {"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
                "secrets": [{"name": "S2", "valueFrom": "p2"}, {"name": "S1", "valueFrom": "p1"}]}]}),
        );
        assert_eq!(diff(&a, &b), vec![]);
        assert_eq!(unified("a", "b", &a, &b), "");
    }

    #[test]
    fn changed_image_is_one_modification_at_the_containers_image() {
        let changes = diff(&request(REGISTER), &app_image("nginx:1.28"));
        assert_eq!(
            changes,
            vec![Change {
                path: "/containerDefinitions/app/image".into(),
                kind: ChangeKind::Modified,
                before: Some(json!("nginx:1.27")),
                after: Some(json!("nginx:1.28")),
            }]
        );
    }

    #[test]
    fn added_and_removed_environment_variables() {
        let a = from_json(
            json!({"family": "f", "containerDefinitions": [{"name": "c", "image": "i",
            "environment": [{"name": "KEEP", "value": "1"}, {"name": "OLD", "value": "x"}]}]}),
        );
        let b = from_json(
            json!({"family": "f", "containerDefinitions": [{"name": "c", "image": "i",
            "environment": [{"name": "NEW", "value": "y"}, {"name": "KEEP", "value": "2"}]}]}),
        );
        assert_eq!(
            diff(&a, &b),
            vec![
                Change {
                    path: "/containerDefinitions/c/environment/KEEP/value".into(),
                    kind: ChangeKind::Modified,
                    before: Some(json!("1")),
                    after: Some(json!("2")),
                },
                Change {
                    path: "/containerDefinitions/c/environment/OLD".into(),
                    kind: ChangeKind::Removed,
                    before: Some(json!({"name": "OLD", "value": "x"})),
                    after: None,
                },
                Change {
                    path: "/containerDefinitions/c/environment/NEW".into(),
                    kind: ChangeKind::Added,
                    before: None,
                    after: Some(json!({"name": "NEW", "value": "y"})),
                },
            ]
        );
        // Removing the last variable leaves `environment: []`, which is the same as none at all.
        let none = from_json(
            json!({"family": "f", "containerDefinitions": [{"name": "c", "image": "i", "environment": []}]}),
        );
        let kinds: Vec<_> = diff(&a, &none)
            .into_iter()
            .map(|c| (c.path, c.kind))
            .collect();
        assert_eq!(
            kinds,
            vec![(
                "/containerDefinitions/c/environment".to_owned(),
                ChangeKind::Removed
            )]
        );
    }

    #[test]
    fn renamed_container_is_removed_and_added() {
        let a = from_json(
            json!({"family": "f", "containerDefinitions": [{"name": "app", "image": "i"}]}),
        );
        let b = from_json(
            json!({"family": "f", "containerDefinitions": [{"name": "web", "image": "i"}]}),
        );
        let changes = diff(&a, &b);
        let summary: Vec<_> = changes.iter().map(|c| (c.path.as_str(), c.kind)).collect();
        assert_eq!(
            summary,
            vec![
                ("/containerDefinitions/app", ChangeKind::Removed),
                ("/containerDefinitions/web", ChangeKind::Added)
            ]
        );
        assert_eq!(
            changes[0].before.as_ref().and_then(|c| c.get("essential")),
            Some(&json!(true))
        );
    }

    #[test]
    fn reordered_containers_are_one_change_naming_the_order() {
        let a = from_json(
            json!({"family": "f", "containerDefinitions": [{"name": "a", "image": "i"}, {"name": "b", "image": "i"}]}),
        );
        let b = from_json(
            json!({"family": "f", "containerDefinitions": [{"name": "b", "image": "i"}, {"name": "a", "image": "i"}]}),
        );
        assert_eq!(
            diff(&a, &b),
            vec![Change {
                path: "/containerDefinitions".into(),
                kind: ChangeKind::Modified,
                before: Some(json!(["a", "b"])),
                after: Some(json!(["b", "a"])),
            }]
        );
        assert_ne!(unified("a", "b", &a, &b), "");
    }

    #[test]
    fn unified_text_of_a_small_change() {
        let a = from_json(
            json!({"family": "web", "networkMode": "awsvpc", "containerDefinitions": [
            {"name": "app", "image": "nginx:1.27", "portMappings": [{"containerPort": 80}],
             "environment": [{"name": "MODE", "value": "blue"}]}]}),
        );
        let b = from_json(
            json!({"family": "web", "networkMode": "awsvpc", "containerDefinitions": [
            {"name": "app", "image": "nginx:1.28", "portMappings": [{"containerPort": 80, "hostPort": 80, "protocol": "tcp"}],
             "environment": [{"name": "MODE", "value": "blue"}, {"name": "DEBUG", "value": "1"}]}]}),
        );
        let expected = "\
--- web:1
+++ web:2
@@ -4,7 +4,7 @@
   \"containerDefinitions\": [
     {
       \"name\": \"app\",
-      \"image\": \"nginx:1.27\",
+      \"image\": \"nginx:1.28\",
       \"cpu\": 0,
       \"portMappings\": [
         {
@@ -15,6 +15,10 @@
       ],
       \"essential\": true,
       \"environment\": [
+        {
+          \"name\": \"DEBUG\",
+          \"value\": \"1\"
+        },
         {
           \"name\": \"MODE\",
           \"value\": \"blue\"
";
        // Byte for byte what `git diff --no-index` prints for the two normalised documents.
        assert_eq!(unified("web:1", "web:2", &a, &b), expected);
    }

    #[test]
    fn defaults_depend_on_network_mode_and_launch_type() {
        // Linux EC2: absent networkMode is bridge, and an absent hostPort is dynamic (0).
        let ec2 = from_json(
            json!({"family": "f", "containerDefinitions": [{"name": "c", "image": "i", "portMappings": [{"containerPort": 80}]}]}),
        );
        let explicit = from_json(
            json!({"family": "f", "networkMode": "bridge", "containerDefinitions": [{"name": "c", "image": "i",
            "portMappings": [{"containerPort": 80, "hostPort": 0, "protocol": "tcp"}]}]}),
        );
        assert_eq!(diff(&ec2, &explicit), vec![]);
        // bridge: a static host port is a real change.
        let fixed = from_json(
            json!({"family": "f", "containerDefinitions": [{"name": "c", "image": "i", "portMappings": [{"containerPort": 80, "hostPort": 8080}]}]}),
        );
        let changes = diff(&ec2, &fixed);
        assert_eq!(changes.len(), 1);
        assert_eq!(
            changes[0].path,
            "/containerDefinitions/c/portMappings/80/hostPort"
        );
        // Fargate does not default to bridge, so an absent networkMode stays absent.
        let fargate = normalize(&from_json(
            json!({"family": "f", "requiresCompatibilities": ["FARGATE"], "containerDefinitions": []}),
        ));
        assert_eq!(fargate.network_mode, None);
        let windows = normalize(&from_json(
            json!({"family": "f", "runtimePlatform": {"operatingSystemFamily": "WINDOWS_SERVER_2022_CORE"}}),
        ));
        assert_eq!(windows.network_mode, None);
        // host mode: hostPort = containerPort; a port range gets no hostPort.
        let host = normalize(&from_json(
            json!({"family": "f", "networkMode": "host", "containerDefinitions": [{"name": "c",
            "portMappings": [{"containerPort": 53, "protocol": "udp"}, {"containerPortRange": "9000-9010"}]}]}),
        ));
        let ports = host
            .container_definitions
            .unwrap_or_default()
            .remove(0)
            .port_mappings
            .unwrap_or_default();
        assert_eq!(ports[0].host_port, Some(53));
        assert_eq!(ports[0].protocol, Some(TransportProtocol::Udp));
        assert_eq!(
            (ports[1].host_port, ports[1].protocol.clone()),
            (None, Some(TransportProtocol::Tcp))
        );
    }

    #[test]
    fn switches_volumes_and_linux_parameters() {
        let a = from_json(json!({"family": "f", "networkMode": "bridge",
            "volumes": [
                {"name": "efs", "efsVolumeConfiguration": {"fileSystemId": "fs-1", "authorizationConfig": {}}},
                {"name": "docker", "dockerVolumeConfiguration": {"scope": "shared", "autoprovision": false, "labels": {}}},
                {"name": "host", "host": {}, "configuredAtLaunch": false}],
            "containerDefinitions": [{"name": "c", "image": "i", "privileged": false, "interactive": false,
                "readonlyRootFilesystem": false, "command": [], "entryPoint": [],
                "linuxParameters": {"initProcessEnabled": false, "capabilities": {"add": [], "drop": []}, "tmpfs": [],
                    "devices": [{"hostPath": "/dev/fuse"}], "maxSwap": 0},
                "restartPolicy": {"enabled": true, "ignoredExitCodes": [2, 1]},
                "dependsOn": [{"containerName": "z", "condition": "START"}, {"containerName": "y", "condition": "HEALTHY"}]}]}));
        let b = from_json(json!({"family": "f",
            "volumes": [
                {"name": "host"},
                {"name": "efs", "efsVolumeConfiguration": {"fileSystemId": "fs-1", "rootDirectory": "/", "transitEncryption": "DISABLED"}},
                {"name": "docker", "dockerVolumeConfiguration": {"scope": "shared"}}],
            "containerDefinitions": [{"name": "c", "image": "i",
                "linuxParameters": {"devices": [{"hostPath": "/dev/fuse", "permissions": ["write", "mknod", "read"]}], "maxSwap": 0, "swappiness": 60},
                "restartPolicy": {"enabled": true, "ignoredExitCodes": [1, 2], "restartAttemptPeriod": 300},
                "dependsOn": [{"containerName": "y", "condition": "HEALTHY"}, {"containerName": "z", "condition": "START"}]}]}));
        assert_eq!(diff(&a, &b), vec![]);
        // An order that matters is still a change: command and dnsServers are kept as written.
        let c1 = from_json(
            json!({"family": "f", "containerDefinitions": [{"name": "c", "command": ["a", "b"], "dnsServers": ["1.1.1.1", "8.8.8.8"]}]}),
        );
        let c2 = from_json(
            json!({"family": "f", "containerDefinitions": [{"name": "c", "command": ["b", "a"], "dnsServers": ["8.8.8.8", "1.1.1.1"]}]}),
        );
        let paths: Vec<_> = diff(&c1, &c2).into_iter().map(|c| c.path).collect();
        assert_eq!(
            paths,
            [
                "/containerDefinitions/c/command",
                "/containerDefinitions/c/dnsServers"
            ]
        );
    }

    #[test]
    fn duplicate_keys_fall_back_to_positions_and_keep_their_order() {
        // Two variables named A: the last one wins, so swapping them is a change.
        let a = from_json(
            json!({"family": "f", "containerDefinitions": [{"name": "c", "environment": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]}]}),
        );
        let b = from_json(
            json!({"family": "f", "containerDefinitions": [{"name": "c", "environment": [{"name": "A", "value": "2"}, {"name": "A", "value": "1"}]}]}),
        );
        let changes = diff(&a, &b);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path, "/containerDefinitions/c/environment");
        // Unnamed containers are compared by position.
        let u1 = from_json(
            json!({"family": "f", "containerDefinitions": [{"image": "x"}, {"image": "y"}]}),
        );
        let u2 = from_json(
            json!({"family": "f", "containerDefinitions": [{"image": "x"}, {"image": "z"}]}),
        );
        let paths: Vec<_> = diff(&u1, &u2).into_iter().map(|c| c.path).collect();
        assert_eq!(paths, ["/containerDefinitions/1/image"]);
        // Lists without keys are multisets, numbered in their own (sorted) document.
        let h1 = from_json(
            json!({"family": "f", "containerDefinitions": [{"name": "c", "extraHosts": [{"hostname": "a", "ipAddress": "10.0.0.1"}]}]}),
        );
        let h2 = from_json(
            json!({"family": "f", "containerDefinitions": [{"name": "c", "extraHosts": [{"hostname": "b", "ipAddress": "10.0.0.2"}, {"hostname": "a", "ipAddress": "10.0.0.1"}]}]}),
        );
        let changes = diff(&h1, &h2);
        assert_eq!(changes.len(), 1);
        assert_eq!(
            (changes[0].path.as_str(), changes[0].kind),
            ("/containerDefinitions/c/extraHosts/1", ChangeKind::Added)
        );
    }

    #[test]
    fn paths_escape_pointer_characters_and_changes_serialise() {
        let a = from_json(
            json!({"family": "f", "containerDefinitions": [{"name": "c", "dockerLabels": {"com.example/x~y": "1"}}]}),
        );
        let b = from_json(
            json!({"family": "f", "containerDefinitions": [{"name": "c", "dockerLabels": {"com.example/x~y": "2"}}]}),
        );
        let changes = diff(&a, &b);
        assert_eq!(
            changes[0].path,
            "/containerDefinitions/c/dockerLabels/com.example~1x~0y"
        );
        assert_eq!(
            serde_json::to_value(&changes).ok(),
            Some(
                json!([{"path": "/containerDefinitions/c/dockerLabels/com.example~1x~0y", "kind": "modified", "before": "1", "after": "2"}])
            )
        );
        let added = Change {
            path: "/p".into(),
            kind: ChangeKind::Added,
            before: None,
            after: Some(json!(1)),
        };
        assert_eq!(
            serde_json::to_value(&added).ok(),
            Some(json!({"path": "/p", "kind": "added", "after": 1}))
        );
        assert_eq!(added.to_string(), "+ /p: 1");
    }

    #[test]
    fn normalize_agrees_with_what_diff_compares() {
        let r = request(DESCRIBED);
        let n = normalize(&r);
        assert_eq!(serde_json::to_value(&n).ok(), Some(normalized_value(&r)));
        assert_eq!(normalize(&n), n);
    }

    #[test]
    fn the_developer_guides_sleep360_equals_its_describe_output() {
        // The register request from the ECS Developer Guide and the describe output the guide
        // shows for it (testdata/corpus/taskdefs/128-…-describe-wrapper.json).
        let registered = request(
            r#"{"family": "sleep360", "containerDefinitions": [{"name": "sleep", "image": "busybox",
                "cpu": 10, "command": ["sleep", "360"], "memory": 10, "essential": true}]}"#,
        );
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/corpus/taskdefs/128-awsdocs-amazon-ecs-developer-guide-doc-describe-wrapper.json"
        );
        let described = request(&std::fs::read_to_string(path).unwrap_or_default());
        assert_eq!(diff(&registered, &described), vec![]);
    }

    // --- the real corpus -------------------------------------------------------------------

    fn corpus() -> Vec<(String, RegisterTaskDefinitionRequest)> {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../testdata/corpus/taskdefs"
        );
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        entries.sort();
        entries
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .filter_map(|p| {
                let text = std::fs::read_to_string(&p).ok()?;
                let input = read_task_definition(&text).ok()?;
                Some((p.display().to_string(), input.request))
            })
            .collect()
    }

    #[test]
    fn every_corpus_file_equals_itself_after_a_round_trip() {
        let files = corpus();
        assert!(
            files.len() >= 100,
            "only {} corpus files were read",
            files.len()
        );
        for (name, original) in &files {
            let text = serde_json::to_string_pretty(original).unwrap_or_default();
            let again = request(&text);
            assert_eq!(diff(original, &again), vec![], "{name}");
            assert_eq!(unified(name, name, original, &again), "", "{name}");
            let n = normalize(original);
            assert_eq!(normalize(&n), n, "{name}: normalize is not idempotent");
            let mut seed = 0x9e37_79b9_7f4a_7c15;
            let shuffled = shuffle_unordered(original, &mut seed);
            assert_eq!(diff(original, &shuffled), vec![], "{name}: shuffled");
        }
    }

    // --- property tests ----------------------------------------------------------------------

    fn next(seed: &mut u64) -> u64 {
        // xorshift64*
        *seed ^= *seed >> 12;
        *seed ^= *seed << 25;
        *seed ^= *seed >> 27;
        seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn shuffle<T>(list: &mut Option<Vec<T>>, seed: &mut u64) {
        if let Some(items) = list {
            for i in (1..items.len()).rev() {
                let j = usize::try_from(next(seed) % (i as u64 + 1)).unwrap_or(0);
                items.swap(i, j);
            }
        }
    }

    /// Shuffles every list whose order ECS ignores; keyed lists only where keys are unique
    /// (entries sharing a key keep their order, as ECS's last-one-wins needs).
    fn shuffle_unordered(
        r: &RegisterTaskDefinitionRequest,
        seed: &mut u64,
    ) -> RegisterTaskDefinitionRequest {
        fn unique<T>(list: &Option<Vec<T>>, key: impl Fn(&T) -> Option<String>) -> bool {
            let keys: Vec<_> = list.iter().flatten().map(key).collect();
            keys.iter().all(Option::is_some)
                && keys.iter().collect::<HashSet<_>>().len() == keys.len()
        }
        let mut r = r.clone();
        if unique(&r.tags, |t| t.key.clone()) {
            shuffle(&mut r.tags, seed);
        }
        if unique(&r.volumes, |v| v.name.clone()) {
            shuffle(&mut r.volumes, seed);
        }
        shuffle(&mut r.requires_compatibilities, seed);
        shuffle(&mut r.placement_constraints, seed);
        for c in r.container_definitions.iter_mut().flatten() {
            if unique(&c.environment, |e| e.name.clone()) {
                shuffle(&mut c.environment, seed);
            }
            if unique(&c.secrets, |e| e.name.clone()) {
                shuffle(&mut c.secrets, seed);
            }
            if unique(&c.port_mappings, |p| {
                p.container_port
                    .map(|p| p.to_string())
                    .or(p.container_port_range.clone())
            }) {
                shuffle(&mut c.port_mappings, seed);
            }
            if unique(&c.mount_points, |m| m.container_path.clone()) {
                shuffle(&mut c.mount_points, seed);
            }
            if unique(&c.ulimits, |u| u.name.as_ref().map(|n| format!("{n:?}"))) {
                shuffle(&mut c.ulimits, seed);
            }
            shuffle(&mut c.extra_hosts, seed);
            if let Some(caps) = c
                .linux_parameters
                .as_mut()
                .and_then(|l| l.capabilities.as_mut())
            {
                shuffle(&mut caps.add, seed);
                shuffle(&mut caps.drop, seed);
            }
        }
        r
    }

    /// Adds what DescribeTaskDefinition adds: defaults spelled out and empty lists.
    fn as_described(r: &RegisterTaskDefinitionRequest) -> RegisterTaskDefinitionRequest {
        let mut r = r.clone();
        r.placement_constraints.get_or_insert_with(Vec::new);
        r.volumes.get_or_insert_with(Vec::new);
        for c in r.container_definitions.iter_mut().flatten() {
            c.essential.get_or_insert(true);
            c.cpu.get_or_insert(0);
            c.environment.get_or_insert_with(Vec::new);
            c.mount_points.get_or_insert_with(Vec::new);
            c.volumes_from.get_or_insert_with(Vec::new);
            c.system_controls.get_or_insert_with(Vec::new);
            for p in c.port_mappings.get_or_insert_with(Vec::new) {
                p.protocol.get_or_insert(TransportProtocol::Tcp);
            }
        }
        r
    }

    fn container() -> impl Strategy<Value = ContainerDefinition> {
        let env = prop::collection::btree_map("[A-Z_]{1,4}", "[a-z0-9]{0,3}", 0..5);
        let secrets = prop::collection::btree_map("[A-Z]{1,3}", "arn:[a-z]{1,3}", 0..3);
        let ports =
            prop::collection::btree_map(1i32..9000, prop::option::of(prop::bool::ANY), 0..4);
        let mounts = prop::collection::btree_map(
            "/[a-z]{1,4}",
            (
                prop::sample::select(vec!["v1", "v2"]),
                prop::option::of(prop::bool::ANY),
            ),
            0..3,
        );
        let hosts = prop::collection::vec(("[a-z]{1,3}", "10\\.0\\.0\\.[0-9]"), 0..3);
        let caps = prop::collection::vec(
            prop::sample::select(vec!["SYS_PTRACE", "NET_ADMIN", "CHOWN"]).prop_map(String::from),
            0..3,
        );
        let ulimits = prop::collection::btree_set(
            prop::sample::select(vec![
                UlimitName::Nofile,
                UlimitName::Core,
                UlimitName::Nproc,
            ]),
            0..3,
        );
        let labels = prop::collection::btree_map("[a-z./]{1,5}", "[a-z]{0,2}", 0..3);
        let scalars = (
            "[a-z]{1,5}(:[0-9])?",
            prop::option::of(prop::bool::ANY),
            prop::option::of(prop::sample::select(vec![0, 128, 256])),
            prop::collection::vec("[a-z]{1,3}", 0..3),
        );
        (
            (env, secrets, ports, mounts),
            (hosts, caps, ulimits, labels),
            scalars,
        )
            .prop_map(
                |(
                    (env, secrets, ports, mounts),
                    (hosts, caps, ulimits, labels),
                    (image, essential, cpu, command),
                )| ContainerDefinition {
                    image: Some(image),
                    essential,
                    cpu,
                    command: Some(command),
                    environment: Some(
                        env.into_iter()
                            .map(|(name, value)| KeyValuePair {
                                name: Some(name),
                                value: Some(value),
                            })
                            .collect(),
                    ),
                    secrets: Some(
                        secrets
                            .into_iter()
                            .map(|(name, from)| Secret {
                                name: Some(name),
                                value_from: Some(from),
                            })
                            .collect(),
                    ),
                    port_mappings: Some(
                        ports
                            .into_iter()
                            .map(|(port, udp)| PortMapping {
                                container_port: Some(port),
                                protocol: udp.map(|u| {
                                    if u {
                                        TransportProtocol::Udp
                                    } else {
                                        TransportProtocol::Tcp
                                    }
                                }),
                                ..PortMapping::default()
                            })
                            .collect(),
                    ),
                    mount_points: Some(
                        mounts
                            .into_iter()
                            .map(|(path, (volume, read_only))| MountPoint {
                                container_path: Some(path),
                                source_volume: Some(volume.to_owned()),
                                read_only,
                            })
                            .collect(),
                    ),
                    extra_hosts: Some(
                        hosts
                            .into_iter()
                            .map(|(h, ip)| HostEntry {
                                hostname: Some(h),
                                ip_address: Some(ip),
                            })
                            .collect(),
                    ),
                    linux_parameters: Some(LinuxParameters {
                        capabilities: Some(KernelCapabilities {
                            drop: Some(caps.iter().rev().cloned().collect()),
                            add: Some(caps),
                        }),
                        ..LinuxParameters::default()
                    }),
                    ulimits: Some(
                        ulimits
                            .into_iter()
                            .map(|name| Ulimit {
                                name: Some(name),
                                soft_limit: Some(1024),
                                hard_limit: Some(4096),
                            })
                            .collect(),
                    ),
                    docker_labels: Some(labels),
                    ..ContainerDefinition::default()
                },
            )
    }

    fn task_definition() -> impl Strategy<Value = RegisterTaskDefinitionRequest> {
        (
            prop::collection::btree_set("[a-z]{1,4}", 1..4),
            prop::collection::vec(container(), 3),
            prop::option::of(prop::sample::select(vec![
                NetworkMode::Bridge,
                NetworkMode::Awsvpc,
                NetworkMode::Host,
            ])),
            prop::collection::vec(
                prop::sample::select(vec![
                    Compatibility::Ec2,
                    Compatibility::Fargate,
                    Compatibility::External,
                ]),
                0..3,
            ),
            prop::collection::btree_map("[a-z]{1,3}", "[a-z]{0,3}", 0..4),
            prop::collection::vec("attribute:[a-z]{1,3} == [a-z]", 0..3),
        )
            .prop_map(
                |(names, containers, network_mode, compat, tags, constraints)| {
                    RegisterTaskDefinitionRequest {
                        family: Some("family".into()),
                        network_mode,
                        requires_compatibilities: Some(compat),
                        tags: Some(
                            tags.into_iter()
                                .map(|(key, value)| Tag {
                                    key: Some(key),
                                    value: Some(value),
                                })
                                .collect(),
                        ),
                        placement_constraints: Some(
                            constraints
                                .into_iter()
                                .map(|expression| TaskDefinitionPlacementConstraint {
                                    r#type: None,
                                    expression: Some(expression),
                                })
                                .collect(),
                        ),
                        volumes: Some(vec![
                            Volume {
                                name: Some("v1".into()),
                                ..Volume::default()
                            },
                            Volume {
                                name: Some("v2".into()),
                                ..Volume::default()
                            },
                        ]),
                        container_definitions: Some(
                            names
                                .into_iter()
                                .zip(containers)
                                .map(|(name, c)| ContainerDefinition {
                                    name: Some(name),
                                    ..c
                                })
                                .collect(),
                        ),
                        ..RegisterTaskDefinitionRequest::default()
                    }
                },
            )
    }

    /// Documents ECS would reject: missing and repeated container names, repeated variable
    /// names, port mappings on the same port.
    fn messy_task_definition() -> impl Strategy<Value = RegisterTaskDefinitionRequest> {
        (
            task_definition(),
            prop::collection::vec(prop::option::of("[ab]"), 0..4),
            prop::collection::vec(("[AB]", "[12]"), 0..4),
            prop::collection::vec(prop::sample::select(vec![80, 443]), 0..3),
        )
            .prop_map(|(mut r, names, env, ports)| {
                let containers = r.container_definitions.get_or_insert_with(Vec::new);
                for (c, name) in containers.iter_mut().zip(names) {
                    c.name = name;
                    c.environment = Some(
                        env.iter()
                            .map(|(n, v)| KeyValuePair {
                                name: Some(n.clone()),
                                value: Some(v.clone()),
                            })
                            .collect(),
                    );
                    c.port_mappings = Some(
                        ports
                            .iter()
                            .map(|&p| PortMapping {
                                container_port: Some(p),
                                ..PortMapping::default()
                            })
                            .collect(),
                    );
                }
                r
            })
    }

    proptest! {
        #[test]
        fn a_document_equals_itself_shuffled_and_described(x in task_definition(), seed in any::<u64>()) {
            prop_assert_eq!(diff(&x, &x), vec![]);
            let mut seed = seed | 1;
            let shuffled = shuffle_unordered(&x, &mut seed);
            prop_assert_eq!(diff(&x, &shuffled), vec![]);
            prop_assert_eq!(unified("a", "b", &x, &shuffled), "");
            prop_assert_eq!(diff(&x, &as_described(&shuffled)), vec![]);
            let n = normalize(&x);
            prop_assert_eq!(normalize(&n), n.clone());
            prop_assert_eq!(diff(&n, &x), vec![]);
        }

        #[test]
        fn no_changes_exactly_when_normalised_documents_are_equal(x in task_definition(), y in task_definition()) {
            let changes = diff(&x, &y);
            let equal = normalized_value(&x) == normalized_value(&y);
            prop_assert_eq!(changes.is_empty(), equal);
            prop_assert_eq!(unified("x", "y", &x, &y).is_empty(), equal);
            for change in &changes {
                prop_assert!(change.path.starts_with('/'));
                prop_assert_eq!(change.before.is_some(), change.kind != ChangeKind::Added);
                prop_assert_eq!(change.after.is_some(), change.kind != ChangeKind::Removed);
            }
        }

        #[test]
        fn documents_ecs_would_reject_still_diff_consistently(
            x in messy_task_definition(),
            y in messy_task_definition(),
            seed in any::<u64>(),
        ) {
            let equal = normalized_value(&x) == normalized_value(&y);
            prop_assert_eq!(diff(&x, &y).is_empty(), equal);
            prop_assert_eq!(unified("x", "y", &x, &y).is_empty(), equal);
            let n = normalize(&x);
            prop_assert_eq!(normalize(&n), n);
            let mut seed = seed | 1;
            prop_assert_eq!(diff(&x, &shuffle_unordered(&x, &mut seed)), vec![]);
        }

        #[test]
        fn line_diff_is_a_shortest_edit_script(
            a in prop::collection::vec(0usize..4, 0..40),
            b in prop::collection::vec(0usize..4, 0..40),
        ) {
            let edits = line_diff(&a, &b);
            // It rebuilds both sides, in order.
            let mut old = Vec::new();
            let mut new = Vec::new();
            for edit in &edits {
                match *edit {
                    Edit::Keep(i, j) => {
                        prop_assert_eq!(a[i], b[j]);
                        old.push(i);
                        new.push(j);
                    }
                    Edit::Delete(i) => old.push(i),
                    Edit::Insert(j) => new.push(j),
                }
            }
            prop_assert_eq!(old, (0..a.len()).collect::<Vec<_>>());
            prop_assert_eq!(new, (0..b.len()).collect::<Vec<_>>());
            // And it is minimal: it keeps as many lines as the longest common subsequence.
            let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
            for i in (0..a.len()).rev() {
                for j in (0..b.len()).rev() {
                    lcs[i][j] = if a[i] == b[j] { lcs[i + 1][j + 1] + 1 } else { lcs[i + 1][j].max(lcs[i][j + 1]) };
                }
            }
            let kept = edits.iter().filter(|e| matches!(e, Edit::Keep(..))).count();
            prop_assert_eq!(kept, lcs[0][0]);
        }
    }

    #[test]
    fn unified_hunk_ranges_follow_diff_u() {
        // Pure insertion at the top and deletion at the end: empty ranges name the line before.
        let text = unified_text("a", "b", "x\ny", "new\nx", 3);
        assert_eq!(text, "--- a\n+++ b\n@@ -1,2 +1,2 @@\n+new\n x\n-y\n");
        let text = unified_text("a", "b", "", "only", 3);
        assert_eq!(text, "--- a\n+++ b\n@@ -0,0 +1 @@\n+only\n");
        // Changes 7 lines apart are two hunks; 6 apart, one.
        let a: String = (1..=20).map(|i| format!("{i}\n")).collect();
        let two = a.replace("3\n", "three\n").replace("11\n", "eleven\n");
        assert_eq!(
            unified_text("a", "b", &a, &two, 3).matches("@@ -").count(),
            2
        );
        let one = a.replace("3\n", "three\n").replace("10\n", "ten\n");
        assert_eq!(
            unified_text("a", "b", &a, &one, 3).matches("@@ -").count(),
            1
        );
    }
}
