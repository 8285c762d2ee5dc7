//! Secrets Manager (`secretsmanager.<Action>`): secrets with versions and staging labels
//! (CreateSecret, GetSecretValue, BatchGetSecretValue, PutSecretValue, UpdateSecret,
//! DescribeSecret, ListSecrets, ListSecretVersionIds, DeleteSecret with a recovery window or
//! without, RestoreSecret, TagResource, UntagResource), shaped and worded as AWS answers them
//! (moto's `secretsmanager` backend and the API reference were the guides).
//!
//! And what ECS does with them when it starts a task: [`resolve_value_from`] turns a container's
//! `secrets[].valueFrom` (a Secrets Manager ARN, an SSM parameter ARN or name) into its value,
//! or into the `stoppedReason` ECS gives a task whose secret cannot be fetched; [`parse_env_file`]
//! reads an `environmentFiles` file with the container agent's rules.
//!
//! Not here: KMS (values are kept as given, encrypted by nothing), rotation, replication,
//! resource policies, GetRandomPassword, and `LastAccessedDate` (reads change nothing). A secret
//! scheduled for deletion disappears once its recovery window has passed: reads stop seeing it
//! at once, and the next write removes its record.

use std::collections::BTreeSet;

use berth_core::protocol::PageToken;
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Page, Read, Write, input};
use crate::apis::ApiFault;
use crate::state::{Env, Key, SecretRec, SecretVersionRec, State};

type R = Result<Value, ApiFault>;

/// The actions this module answers.
pub(crate) const ACTIONS: &[&str] = &[
    "CreateSecret",
    "GetSecretValue",
    "BatchGetSecretValue",
    "PutSecretValue",
    "UpdateSecret",
    "DescribeSecret",
    "ListSecrets",
    "ListSecretVersionIds",
    "DeleteSecret",
    "RestoreSecret",
    "TagResource",
    "UntagResource",
];

/// Whether an action only reads.
pub(crate) fn is_read_only(action: &str) -> bool {
    matches!(
        action,
        "GetSecretValue"
            | "BatchGetSecretValue"
            | "DescribeSecret"
            | "ListSecrets"
            | "ListSecretVersionIds"
    )
}

const NOT_FOUND: &str = "Secrets Manager can't find the specified secret.";
const MARKED_FOR_DELETION: &str =
    "You can't perform this operation on the secret because it was marked for deletion.";
const CURRENT: &str = "AWSCURRENT";
const PREVIOUS: &str = "AWSPREVIOUS";
/// Versions kept per secret; the oldest ones without a staging label go first.
const MAX_VERSIONS: usize = 100;

fn not_found() -> ApiFault {
    ApiFault::secrets("ResourceNotFoundException", NOT_FOUND)
}

fn invalid_param(msg: impl Into<String>) -> ApiFault {
    ApiFault::secrets("InvalidParameterException", msg)
}

fn invalid_request(msg: impl Into<String>) -> ApiFault {
    ApiFault::secrets("InvalidRequestException", msg)
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiFault> {
    input(body).map_err(ApiFault::from)
}

/// Runs a read-only action.
pub(crate) fn read(r: &Read<'_>, action: &str, body: &[u8]) -> R {
    match action {
        "GetSecretValue" => get_value(r, parse(body)?),
        "BatchGetSecretValue" => batch_get_value(r, parse(body)?),
        "DescribeSecret" => describe(r, parse(body)?),
        "ListSecrets" => list(r, parse(body)?),
        "ListSecretVersionIds" => list_versions(r, parse(body)?),
        _ => Err(ApiFault::unknown_operation(action)),
    }
}

/// Runs a mutating action.
pub(crate) fn write(w: &mut Write<'_>, action: &str, body: &[u8]) -> R {
    purge_expired(w);
    match action {
        "CreateSecret" => create(w, parse(body)?),
        "PutSecretValue" => put_value(w, parse(body)?),
        "UpdateSecret" => update(w, parse(body)?),
        "DeleteSecret" => delete(w, parse(body)?),
        "RestoreSecret" => restore(w, parse(body)?),
        "TagResource" => tag(w, parse(body)?),
        "UntagResource" => untag(w, parse(body)?),
        _ => Err(ApiFault::unknown_operation(action)),
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct Req {
    name: Option<String>,
    secret_id: Option<String>,
    secret_string: Option<String>,
    secret_binary: Option<String>,
    description: Option<String>,
    kms_key_id: Option<String>,
    client_request_token: Option<String>,
    tags: Option<Vec<TagIn>>,
    tag_keys: Option<Vec<String>>,
    version_id: Option<String>,
    version_stage: Option<String>,
    version_stages: Option<Vec<String>>,
    recovery_window_in_days: Option<i64>,
    force_delete_without_recovery: Option<bool>,
    max_results: Option<i64>,
    next_token: Option<String>,
    filters: Option<Vec<FilterIn>>,
    include_planned_deletion: Option<bool>,
    include_deprecated: Option<bool>,
    sort_order: Option<String>,
    sort_by: Option<String>,
    secret_id_list: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagIn {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct FilterIn {
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    values: Option<Vec<String>>,
}

/// A required member, or the validation error AWS gives for a missing one.
fn required(v: Option<String>, member: &str) -> Result<String, ApiFault> {
    v.ok_or_else(|| {
        ApiFault::secrets(
            "ValidationException",
            format!(
                "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
            ),
        )
    })
}

/// Seconds since the epoch with milliseconds, as the JSON protocol writes timestamps.
fn epoch(t: DateTime<Utc>) -> Value {
    json!(t.timestamp_millis() as f64 / 1000.0)
}

/// Whether a secret still exists at `now` (once its recovery window has passed it is gone).
fn exists(s: &SecretRec, now: DateTime<Utc>) -> bool {
    s.deletion_date.is_none_or(|d| d > now)
}

/// Removes the secrets whose recovery window has passed.
fn purge_expired(w: &mut Write<'_>) {
    let now = w.now;
    let gone: Vec<String> =
        w.st.secrets
            .values()
            .filter(|s| !exists(s, now))
            .map(|s| s.name.clone())
            .collect();
    for name in gone {
        w.st.secrets.remove(&name);
        w.dirty.insert(Key::Secret(name));
    }
}

/// The part of a secret ARN after `:secret:` (`<name>-<suffix>`).
fn arn_tail(arn: &str) -> Option<&str> {
    arn.strip_prefix("arn:")?
        .split_once(":secret:")
        .map(|(_, t)| t)
}

/// The name of the secret a `SecretId` names: its name, its full ARN, or a partial ARN (the
/// ARN without the six random characters).
fn find_name(st: &State, id: &str, now: DateTime<Utc>) -> Option<String> {
    let live = |s: &&SecretRec| exists(s, now);
    if let Some(s) = st.secrets.get(id).filter(live) {
        return Some(s.name.clone());
    }
    let tail = arn_tail(id)?;
    st.secrets
        .values()
        .filter(live)
        .find(|s| arn_tail(&s.arn) == Some(tail))
        .or_else(|| st.secrets.get(tail).filter(live))
        .map(|s| s.name.clone())
}

fn find<'a>(st: &'a State, id: &str, now: DateTime<Utc>) -> Result<&'a SecretRec, ApiFault> {
    find_name(st, id, now)
        .and_then(|n| st.secrets.get(&n))
        .ok_or_else(not_found)
}

/// The secret a name (from [`find_name`]) names, for changing it: marked dirty.
fn change<'a>(w: &'a mut Write<'_>, name: &str) -> Result<&'a mut SecretRec, ApiFault> {
    w.dirty.insert(Key::Secret(name.to_string()));
    w.st.secrets.get_mut(name).ok_or_else(not_found)
}

/// The name of a live secret that is not marked for deletion (what PutSecretValue and
/// UpdateSecret may change).
fn changeable(w: &Write<'_>, id: &str) -> Result<String, ApiFault> {
    let s = find(w.st, id, w.now)?;
    if s.deleted_at.is_some() {
        return Err(invalid_request(MARKED_FOR_DELETION));
    }
    Ok(s.name.clone())
}

fn check_name(name: &str) -> Result<(), ApiFault> {
    let ok = !name.is_empty()
        && name.len() <= 512
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ApiFault::secrets(
            "ValidationException",
            "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!",
        ))
    }
}

fn check_token(token: Option<&str>) -> Result<(), ApiFault> {
    match token {
        Some(t) if !(32..=64).contains(&t.len()) => Err(invalid_param(
            "ClientRequestToken must be 32-64 characters long.",
        )),
        _ => Ok(()),
    }
}

/// `SecretString` and `SecretBinary` of a request (at most one of them).
fn value_of(req: &Req) -> Result<(Option<String>, Option<String>), ApiFault> {
    if req.secret_string.is_some() && req.secret_binary.is_some() {
        return Err(invalid_param(
            "You can't specify both a binary secret value and a string secret value in the same secret.",
        ));
    }
    Ok((req.secret_string.clone(), req.secret_binary.clone()))
}

fn tags_of(tags: Option<Vec<TagIn>>) -> Result<Vec<(String, String)>, ApiFault> {
    let mut out: Vec<(String, String)> = Vec::new();
    for t in tags.unwrap_or_default() {
        let key = t.key.unwrap_or_default();
        if key.is_empty() || key.chars().count() > 128 {
            return Err(ApiFault::secrets(
                "ValidationException",
                "1 validation error detected: Value at 'tags.member.key' failed to satisfy constraint: Member must have length between 1 and 128",
            ));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(invalid_param(
                "Invalid tag key: tag keys can't start with the reserved prefix aws:.",
            ));
        }
        let value = t.value.unwrap_or_default();
        out.retain(|(k, _)| *k != key);
        out.push((key, value));
    }
    if out.len() > 50 {
        return Err(invalid_param("Number of tags exceeds the limit of 50."));
    }
    Ok(out)
}

/// A random version 4 UUID (version ids), from the cluster's stored random source.
fn uuid(st: &mut State, dirty: &mut BTreeSet<Key>) -> String {
    let a = (st.random(dirty) & 0xffff_ffff_ffff_0fff) | 0x4000;
    let b = (st.random(dirty) & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

/// The six random characters Secrets Manager appends to a secret's name in its ARN.
fn suffix(st: &mut State, dirty: &mut BTreeSet<Key>) -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut r = st.random(dirty);
    (0..6)
        .map(|_| {
            let c = ALNUM[(r % 62) as usize] as char;
            r /= 62;
            c
        })
        .collect()
}

/// Adds a version: `AWSCURRENT` moves to it (the version that had it becomes `AWSPREVIOUS`),
/// any other label it takes leaves the version that had it, and the first version of a secret
/// is always `AWSCURRENT`.
fn add_version(s: &mut SecretRec, mut v: SecretVersionRec, now: DateTime<Utc>) {
    let has_current = s
        .versions
        .iter()
        .any(|x| x.stages.iter().any(|l| l == CURRENT));
    if !has_current && !v.stages.iter().any(|l| l == CURRENT) {
        v.stages.push(CURRENT.into());
    }
    for label in &v.stages {
        if label == CURRENT {
            for x in &mut s.versions {
                x.stages.retain(|l| l != PREVIOUS);
            }
            for x in &mut s.versions {
                if x.stages.iter().any(|l| l == CURRENT) {
                    x.stages.retain(|l| l != CURRENT);
                    x.stages.push(PREVIOUS.into());
                }
            }
        } else {
            for x in &mut s.versions {
                x.stages.retain(|l| l != label);
            }
        }
    }
    s.versions.push(v);
    while s.versions.len() > MAX_VERSIONS {
        match s.versions.iter().position(|x| x.stages.is_empty()) {
            Some(i) => {
                s.versions.remove(i);
            }
            None => break,
        }
    }
    s.last_changed = now;
}

/// Whether a `ClientRequestToken` repeats an earlier call: it names a version with the same
/// value (`true`); a version with another value is an error.
fn repeated(
    s: &SecretRec,
    token: Option<&str>,
    string: Option<&str>,
    binary: Option<&str>,
) -> Result<bool, ApiFault> {
    let Some(t) = token else { return Ok(false) };
    match s.versions.iter().find(|v| v.id == t) {
        None => Ok(false),
        Some(v) if v.string.as_deref() == string && v.binary.as_deref() == binary => Ok(true),
        Some(_) => Err(ApiFault::secrets(
            "ResourceExistsException",
            format!(
                "You can't use ClientRequestToken {t} because that value is already in use for a version of secret {}.",
                s.arn
            ),
        )),
    }
}

fn create(w: &mut Write<'_>, req: Req) -> R {
    let name = required(req.name.clone(), "name")?;
    check_name(&name)?;
    let token = req.client_request_token.clone();
    check_token(token.as_deref())?;
    let (string, binary) = value_of(&req)?;
    let tags = tags_of(req.tags)?;
    if let Some(s) = w.st.secrets.get(&name) {
        if s.deleted_at.is_some() {
            return Err(invalid_request(
                "You can't create this secret because a secret with this name is already scheduled for deletion.",
            ));
        }
        if repeated(s, token.as_deref(), string.as_deref(), binary.as_deref())? {
            return Ok(json!({"ARN": s.arn, "Name": s.name, "VersionId": token}));
        }
        return Err(ApiFault::secrets(
            "ResourceExistsException",
            format!("The operation failed because the secret {name} already exists."),
        ));
    }
    let arn = format!(
        "arn:aws:secretsmanager:{}:{}:secret:{name}-{}",
        w.env.region,
        w.env.account,
        suffix(w.st, w.dirty)
    );
    let mut s = SecretRec {
        name: name.clone(),
        arn: arn.clone(),
        description: req.description,
        kms_key_id: req.kms_key_id,
        tags,
        versions: Vec::new(),
        created: w.now,
        last_changed: w.now,
        deleted_at: None,
        deletion_date: None,
    };
    let mut out = json!({"ARN": arn, "Name": name});
    if string.is_some() || binary.is_some() {
        let id = match token {
            Some(t) => t,
            None => uuid(w.st, w.dirty),
        };
        out["VersionId"] = json!(id);
        let v = SecretVersionRec {
            id,
            string,
            binary,
            stages: vec![CURRENT.into()],
            created: w.now,
        };
        add_version(&mut s, v, w.now);
    }
    w.st.secrets.insert(name.clone(), s);
    w.dirty.insert(Key::Secret(name));
    Ok(out)
}

/// The version `VersionId` / `VersionStage` select (`AWSCURRENT` when neither is given).
fn select_version<'a>(
    s: &'a SecretRec,
    version_id: Option<&str>,
    stage: Option<&str>,
) -> Result<&'a SecretVersionRec, ApiFault> {
    if let Some(id) = version_id {
        let v = s.versions.iter().find(|v| v.id == id).ok_or_else(|| {
            ApiFault::secrets(
                "ResourceNotFoundException",
                format!(
                    "Secrets Manager can't find the specified secret value for VersionId: {id}"
                ),
            )
        })?;
        if stage.is_some_and(|st| !v.stages.iter().any(|l| l == st)) {
            return Err(invalid_request(
                "You provided a VersionStage that is not associated to the provided VersionId.",
            ));
        }
        return Ok(v);
    }
    let stage = stage.unwrap_or(CURRENT);
    s.versions
        .iter()
        .find(|v| v.stages.iter().any(|l| l == stage))
        .ok_or_else(|| {
            ApiFault::secrets(
                "ResourceNotFoundException",
                format!(
                    "Secrets Manager can't find the specified secret value for staging label: {stage}"
                ),
            )
        })
}

/// GetSecretValue's lookup: the secret and the selected version.
fn secret_value<'a>(
    st: &'a State,
    now: DateTime<Utc>,
    id: &str,
    version_id: Option<&str>,
    stage: Option<&str>,
) -> Result<(&'a SecretRec, &'a SecretVersionRec), ApiFault> {
    let s = find(st, id, now)?;
    if s.deleted_at.is_some() {
        return Err(invalid_request(MARKED_FOR_DELETION));
    }
    Ok((s, select_version(s, version_id, stage)?))
}

fn value_json(s: &SecretRec, v: &SecretVersionRec) -> Value {
    let mut out = json!({
        "ARN": s.arn,
        "Name": s.name,
        "VersionId": v.id,
        "VersionStages": v.stages,
        "CreatedDate": epoch(v.created),
    });
    if let Some(x) = &v.string {
        out["SecretString"] = json!(x);
    }
    if let Some(x) = &v.binary {
        out["SecretBinary"] = json!(x);
    }
    out
}

fn get_value(r: &Read<'_>, req: Req) -> R {
    let id = required(req.secret_id, "secretId")?;
    let (s, v) = secret_value(
        r.st,
        r.now,
        &id,
        req.version_id.as_deref(),
        req.version_stage.as_deref(),
    )?;
    Ok(value_json(s, v))
}

fn batch_get_value(r: &Read<'_>, req: Req) -> R {
    let ids = match (req.secret_id_list, &req.filters) {
        (Some(_), Some(_)) => {
            return Err(invalid_param(
                "Either 'SecretIdList' or 'Filters' must be provided, but not both.",
            ));
        }
        (Some(ids), None) => ids,
        (None, Some(filters)) => {
            let filters = Filters::parse(filters)?;
            r.st.secrets
                .values()
                .filter(|s| exists(s, r.now) && s.deleted_at.is_none() && filters.matches(s))
                .map(|s| s.name.clone())
                .collect()
        }
        (None, None) => {
            return Err(invalid_param(
                "Either 'SecretIdList' or 'Filters' must be provided.",
            ));
        }
    };
    if ids.len() > 20 {
        return Err(invalid_param(
            "SecretIdList can contain at most 20 secret ids.",
        ));
    }
    let mut values = Vec::new();
    let mut errors = Vec::new();
    for id in ids {
        match secret_value(r.st, r.now, &id, None, None) {
            Ok((s, v)) => values.push(value_json(s, v)),
            Err(f) => {
                errors.push(json!({"SecretId": id, "ErrorCode": f.code, "Message": f.message}))
            }
        }
    }
    Ok(json!({"SecretValues": values, "Errors": errors}))
}

fn put_value(w: &mut Write<'_>, req: Req) -> R {
    let id = required(req.secret_id.clone(), "secretId")?;
    let token = req.client_request_token.clone();
    check_token(token.as_deref())?;
    let (string, binary) = value_of(&req)?;
    if string.is_none() && binary.is_none() {
        return Err(invalid_param(
            "You must provide either SecretString or SecretBinary.",
        ));
    }
    let stages = req.version_stages.unwrap_or_else(|| vec![CURRENT.into()]);
    let name = changeable(w, &id)?;
    let s = &w.st.secrets[&name];
    if repeated(s, token.as_deref(), string.as_deref(), binary.as_deref())? {
        let v = s.versions.iter().find(|v| Some(&v.id) == token.as_ref());
        let stages = v.map(|v| v.stages.clone()).unwrap_or_default();
        return Ok(
            json!({"ARN": s.arn, "Name": s.name, "VersionId": token, "VersionStages": stages}),
        );
    }
    let new_id = match token {
        Some(t) => t,
        None => uuid(w.st, w.dirty),
    };
    let now = w.now;
    let s = change(w, &name)?;
    let v = SecretVersionRec {
        id: new_id.clone(),
        string,
        binary,
        stages,
        created: now,
    };
    add_version(s, v, now);
    let stages = s
        .versions
        .last()
        .map(|v| v.stages.clone())
        .unwrap_or_default();
    Ok(json!({"ARN": s.arn, "Name": s.name, "VersionId": new_id, "VersionStages": stages}))
}

fn update(w: &mut Write<'_>, req: Req) -> R {
    let id = required(req.secret_id.clone(), "secretId")?;
    let token = req.client_request_token.clone();
    check_token(token.as_deref())?;
    let (string, binary) = value_of(&req)?;
    let new_value = string.is_some() || binary.is_some();
    let name = changeable(w, &id)?;
    let s = &w.st.secrets[&name];
    if new_value && repeated(s, token.as_deref(), string.as_deref(), binary.as_deref())? {
        return Ok(json!({"ARN": s.arn, "Name": s.name, "VersionId": token}));
    }
    let new_id = match (token, new_value) {
        (_, false) => None,
        (Some(t), true) => Some(t),
        (None, true) => Some(uuid(w.st, w.dirty)),
    };
    let now = w.now;
    let s = change(w, &name)?;
    let mut out = json!({"ARN": s.arn, "Name": s.name});
    if let Some(d) = req.description {
        s.description = Some(d);
    }
    if let Some(k) = req.kms_key_id {
        s.kms_key_id = Some(k);
    }
    s.last_changed = now;
    if let Some(id) = new_id {
        out["VersionId"] = json!(id);
        let v = SecretVersionRec {
            id,
            string,
            binary,
            stages: vec![CURRENT.into()],
            created: now,
        };
        add_version(s, v, now);
    }
    Ok(out)
}

fn stages_map(s: &SecretRec) -> Value {
    let mut m = serde_json::Map::new();
    for v in s.versions.iter().filter(|v| !v.stages.is_empty()) {
        m.insert(v.id.clone(), json!(v.stages));
    }
    Value::Object(m)
}

fn tags_json(tags: &[(String, String)]) -> Value {
    json!(
        tags.iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect::<Vec<_>>()
    )
}

/// DescribeSecret's answer, or a ListSecrets entry (`list`), which names the version map
/// `SecretVersionsToStages` instead of `VersionIdsToStages`.
fn secret_json(s: &SecretRec, list: bool) -> Value {
    let mut v = json!({
        "ARN": s.arn,
        "Name": s.name,
        "LastChangedDate": epoch(s.last_changed),
        "CreatedDate": epoch(s.created),
    });
    if let Some(d) = &s.description {
        v["Description"] = json!(d);
    }
    if let Some(k) = &s.kms_key_id {
        v["KmsKeyId"] = json!(k);
    }
    if let Some(d) = s.deleted_at {
        v["DeletedDate"] = epoch(d);
    }
    if !s.tags.is_empty() {
        v["Tags"] = tags_json(&s.tags);
    }
    if !s.versions.is_empty() {
        let member = if list {
            "SecretVersionsToStages"
        } else {
            "VersionIdsToStages"
        };
        v[member] = stages_map(s);
    }
    v
}

fn describe(r: &Read<'_>, req: Req) -> R {
    let id = required(req.secret_id, "secretId")?;
    Ok(secret_json(find(r.st, &id, r.now)?, false))
}

/// ListSecrets' filters: every filter must match; a filter matches when one of its values does
/// (a value starting with `!` matches what the rest does not).
struct Filters(Vec<(String, Vec<String>)>);

impl Filters {
    const KEYS: [&'static str; 7] = [
        "description",
        "name",
        "tag-key",
        "tag-value",
        "primary-region",
        "owning-service",
        "all",
    ];

    fn parse(filters: &[FilterIn]) -> Result<Filters, ApiFault> {
        let mut out = Vec::new();
        for (i, f) in filters.iter().enumerate() {
            let key = f
                .key
                .clone()
                .ok_or_else(|| invalid_param("Invalid filter key"))?;
            if !Self::KEYS.contains(&key.as_str()) {
                return Err(ApiFault::secrets(
                    "ValidationException",
                    format!(
                        "1 validation error detected: Value '{key}' at 'filters.{}.member.key' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                        i + 1,
                        Self::KEYS.join(", ")
                    ),
                ));
            }
            let values = f
                .values
                .clone()
                .ok_or_else(|| invalid_param(format!("Invalid filter values for key: {key}")))?;
            out.push((key, values));
        }
        Ok(Filters(out))
    }

    fn matches(&self, s: &SecretRec) -> bool {
        self.0.iter().all(|(key, values)| {
            let (fields, case_sensitive): (Vec<&str>, bool) = match key.as_str() {
                "name" => (vec![s.name.as_str()], true),
                "description" => (s.description.as_deref().into_iter().collect(), false),
                "tag-key" => (s.tags.iter().map(|(k, _)| k.as_str()).collect(), true),
                "tag-value" => (s.tags.iter().map(|(_, v)| v.as_str()).collect(), true),
                "all" => {
                    let mut f = vec![s.name.as_str()];
                    f.extend(s.description.as_deref());
                    f.extend(s.tags.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()]));
                    (f, false)
                }
                // No replicas and no owning services here.
                _ => (Vec::new(), true),
            };
            let hit = |prefix: &str| {
                fields.iter().any(|f| {
                    if case_sensitive {
                        f.starts_with(prefix)
                    } else {
                        f.to_lowercase().starts_with(&prefix.to_lowercase())
                            || (key == "all"
                                && f.to_lowercase()
                                    .split(|c: char| !c.is_alphanumeric())
                                    .any(|w| w.starts_with(&prefix.to_lowercase())))
                    }
                })
            };
            values.iter().any(|v| match v.strip_prefix('!') {
                Some(neg) => !hit(neg),
                None => hit(v),
            })
        })
    }
}

fn page(op: &str, max_results: Option<i64>, token: Option<&str>) -> Result<Page, ApiFault> {
    let size = match max_results {
        None => 100,
        Some(n) if (1..=100).contains(&n) => n as usize,
        Some(n) => {
            return Err(ApiFault::secrets(
                "ValidationException",
                format!(
                    "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 100"
                ),
            ));
        }
    };
    let after = match token {
        Some(t) if !t.is_empty() => Some(
            PageToken::decode(op, t)
                .map_err(|_| {
                    ApiFault::secrets(
                        "InvalidNextTokenException",
                        "You provided an invalid NextToken value.",
                    )
                })?
                .cursor,
        ),
        _ => None,
    };
    Ok(Page { size, after })
}

fn list(r: &Read<'_>, req: Req) -> R {
    const OP: &str = "ListSecrets";
    let filters = Filters::parse(req.filters.as_deref().unwrap_or_default())?;
    let desc = match req.sort_order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(o) => {
            return Err(ApiFault::secrets(
                "ValidationException",
                format!(
                    "1 validation error detected: Value '{o}' at 'sortOrder' failed to satisfy constraint: Member must satisfy enum value set: [asc, desc]"
                ),
            ));
        }
    };
    let by_name = matches!(req.sort_by.as_deref(), Some("name"));
    let by_changed = matches!(req.sort_by.as_deref(), Some("last-changed-date"));
    let page = page(OP, req.max_results, req.next_token.as_deref())?;
    let planned = req.include_planned_deletion.unwrap_or(false);
    let mut items: Vec<(String, Value)> =
        r.st.secrets
            .values()
            .filter(|s| exists(s, r.now) && (planned || s.deleted_at.is_none()))
            .filter(|s| filters.matches(s))
            .map(|s| {
                let key = if by_name {
                    s.name.clone()
                } else {
                    let t = if by_changed {
                        s.last_changed
                    } else {
                        s.created
                    };
                    format!("{:020}\n{}", t.timestamp_millis().max(0), s.name)
                };
                (key, secret_json(s, true))
            })
            .collect();
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let (items, next) = if desc {
        items.reverse();
        page.take_desc(OP, items.into_iter())
    } else {
        page.take(OP, items.into_iter())
    };
    let mut out = json!({"SecretList": items});
    if let Some(t) = next {
        out["NextToken"] = json!(t);
    }
    Ok(out)
}

fn list_versions(r: &Read<'_>, req: Req) -> R {
    let id = required(req.secret_id, "secretId")?;
    let s = find(r.st, &id, r.now)?;
    let all = req.include_deprecated.unwrap_or(false);
    let versions: Vec<Value> = s
        .versions
        .iter()
        .rev()
        .filter(|v| all || !v.stages.is_empty())
        .map(|v| json!({"VersionId": v.id, "VersionStages": v.stages, "CreatedDate": epoch(v.created)}))
        .collect();
    Ok(json!({"ARN": s.arn, "Name": s.name, "Versions": versions}))
}

fn delete(w: &mut Write<'_>, req: Req) -> R {
    let id = required(req.secret_id, "secretId")?;
    let force = req.force_delete_without_recovery.unwrap_or(false);
    if let Some(days) = req.recovery_window_in_days {
        if force {
            return Err(invalid_param(
                "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
            ));
        }
        if !(7..=30).contains(&days) {
            return Err(invalid_param(
                "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).",
            ));
        }
    }
    let now = w.now;
    let Some(name) = find_name(w.st, &id, now) else {
        // As AWS does: forcing the deletion of a secret that is not there succeeds.
        if force {
            let name = arn_tail(&id).unwrap_or(&id).to_string();
            let arn = if id.starts_with("arn:") {
                id.clone()
            } else {
                format!(
                    "arn:aws:secretsmanager:{}:{}:secret:{name}",
                    w.env.region, w.env.account
                )
            };
            return Ok(json!({"ARN": arn, "Name": name, "DeletionDate": epoch(now)}));
        }
        return Err(not_found());
    };
    w.dirty.insert(Key::Secret(name.clone()));
    if force {
        let s = w.st.secrets.remove(&name).ok_or_else(not_found)?;
        return Ok(json!({"ARN": s.arn, "Name": s.name, "DeletionDate": epoch(now)}));
    }
    let s = w.st.secrets.get_mut(&name).ok_or_else(not_found)?;
    if s.deleted_at.is_some() {
        return Err(invalid_request(MARKED_FOR_DELETION));
    }
    let days = req.recovery_window_in_days.unwrap_or(30);
    let when = now + Duration::days(days);
    s.deleted_at = Some(now);
    s.deletion_date = Some(when);
    Ok(json!({"ARN": s.arn, "Name": s.name, "DeletionDate": epoch(when)}))
}

fn restore(w: &mut Write<'_>, req: Req) -> R {
    let id = required(req.secret_id, "secretId")?;
    let name = find_name(w.st, &id, w.now).ok_or_else(not_found)?;
    let s = change(w, &name)?;
    s.deleted_at = None;
    s.deletion_date = None;
    Ok(json!({"ARN": s.arn, "Name": s.name}))
}

fn tag(w: &mut Write<'_>, req: Req) -> R {
    let id = required(req.secret_id.clone(), "secretId")?;
    let add = tags_of(req.tags)?;
    let name = find_name(w.st, &id, w.now).ok_or_else(not_found)?;
    let mut tags = w.st.secrets[&name].tags.clone();
    for (k, v) in add {
        tags.retain(|(x, _)| *x != k);
        tags.push((k, v));
    }
    if tags.len() > 50 {
        return Err(invalid_param("Number of tags exceeds the limit of 50."));
    }
    let now = w.now;
    let s = change(w, &name)?;
    s.tags = tags;
    s.last_changed = now;
    Ok(json!({}))
}

fn untag(w: &mut Write<'_>, req: Req) -> R {
    let id = required(req.secret_id.clone(), "secretId")?;
    let keys = req.tag_keys.unwrap_or_default();
    let name = find_name(w.st, &id, w.now).ok_or_else(not_found)?;
    let now = w.now;
    let s = change(w, &name)?;
    s.tags.retain(|(k, _)| !keys.contains(k));
    s.last_changed = now;
    Ok(json!({}))
}

// ---------------------------------------------------------------------------------------------
// What ECS does with secrets when it starts a task

/// The stoppedReason ECS (Fargate) gives a task whose Secrets Manager secret cannot be fetched,
/// before the cause, as seen in the wild: `… unable to retrieve secret from asm: service call has
/// been retried 1 time(s): failed to fetch secret arn:aws:secretsmanager:…:secret:…-EaPYTy from
/// secrets manager: AccessDeniedException: …` (GiamPy5/terraform-aws-directus#10; with
/// `RequestCanceled` after 5 retries in Releem/releem-agent#195 and aws/copilot-cli#5171),
/// `… retried 1 time(s): retrieved secret from Secrets Manager did not contain json key
/// app_definition_id` (the agent's text, aws/amazon-ecs-agent `agent/asm/asm.go`).
const ASM_REASON: &str = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: ";
/// The same for SSM parameters: `… unable to retrieve secrets from ssm: service call has been
/// retried 1 time(s): AccessDeniedException: …` (aws/copilot-cli#2095, #3104, #5639), where a
/// missing parameter is the agent's `invalid parameters: <names>` (aws/amazon-ecs-agent
/// `agent/ssm/ssm.go`, the names comma-joined).
const SSM_REASON: &str = "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: ";
const RETRIED: &str = "service call has been retried 1 time(s): ";

/// What a `valueFrom` refers to.
#[derive(Debug, PartialEq, Eq)]
enum Reference {
    /// A Secrets Manager secret: the secret id (the ARN without the selectors), and the
    /// `json-key`, `version-stage` and `version-id` selectors.
    Asm {
        secret_id: String,
        json_key: Option<String>,
        stage: Option<String>,
        version_id: Option<String>,
    },
    /// An SSM parameter, by name or ARN.
    Ssm(String),
}

/// Reads a `valueFrom` as the agent does (`getASMParametersFromInput`): a Secrets Manager ARN is
/// `arn:…:secret:<id>` or `arn:…:secret:<id>:<json-key>:<version-stage>:<version-id>` (empty
/// selectors mean none); anything else is an SSM parameter.
fn reference(value_from: &str) -> Result<Reference, String> {
    let parts: Vec<&str> = value_from.splitn(6, ':').collect();
    if parts.len() < 6 || parts[0] != "arn" || parts[2] != "secretsmanager" {
        return Ok(Reference::Ssm(value_from.to_string()));
    }
    let resource: Vec<&str> = parts[5].split(':').collect();
    let selector = |i: usize| {
        resource
            .get(i)
            .filter(|s| !s.is_empty())
            .map(|s| s.to_string())
    };
    match resource.len() {
        2 => Ok(Reference::Asm {
            secret_id: value_from.to_string(),
            json_key: None,
            stage: None,
            version_id: None,
        }),
        5 => Ok(Reference::Asm {
            secret_id: format!("{}:{}:{}", parts[..5].join(":"), resource[0], resource[1]),
            json_key: selector(2),
            stage: selector(3),
            version_id: selector(4),
        }),
        _ => Err(format!(
            "{ASM_REASON}trying to retrieve secret with value {value_from} resulted in error: an invalid ARN format for the AWS Secrets Manager secret was specified. Specify a valid ARN and try again."
        )),
    }
}

/// A secret for a task: as GetSecretValue finds it, and failing that (a task definition
/// written for AWS names the secret with AWS's random suffix, another region or account) the
/// secret whose name is the ARN's without the suffix.
fn task_secret<'a>(
    st: &'a State,
    now: DateTime<Utc>,
    secret_id: &str,
    version_id: Option<&str>,
    stage: Option<&str>,
) -> Result<(&'a SecretRec, &'a SecretVersionRec), ApiFault> {
    let found = find_name(st, secret_id, now).or_else(|| {
        let tail = arn_tail(secret_id)?;
        let (name, suffix) = tail.rsplit_once('-')?;
        (suffix.len() == 6)
            .then_some(name)
            .and_then(|n| st.secrets.get(n))
            .filter(|s| exists(s, now))
            .map(|s| s.name.clone())
    });
    let name = found.ok_or_else(not_found)?;
    secret_value(st, now, &name, version_id, stage)
}

/// Go's `%v` of a value `encoding/json` decoded into `interface{}` (how the agent turns a JSON
/// field into an environment value): numbers are float64 (`1e+06`, `0.5`), objects are
/// `map[k:v …]` with sorted keys, arrays `[a b]`, null `<nil>`.
fn go_value(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => go_float(n.as_f64().unwrap_or(0.0)),
        Value::String(s) => s.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(go_value).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(m) => {
            let mut items: Vec<(&String, &Value)> = m.iter().collect();
            items.sort_by(|a, b| a.0.cmp(b.0));
            let items: Vec<String> = items
                .into_iter()
                .map(|(k, v)| format!("{k}:{}", go_value(v)))
                .collect();
            format!("map[{}]", items.join(" "))
        }
    }
}

/// Go's `%v` of a float64 (`strconv` `'g'` with the shortest digits: the exponent form when the
/// exponent is below -4 or at least 6).
fn go_float(f: f64) -> String {
    if f == 0.0 || !f.is_finite() {
        return format!("{f}");
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..6).contains(&exp) {
        format!("{f}")
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

/// The field `key` of a secret's JSON value, as the agent reads it.
fn json_field(text: &str, key: &str) -> Result<String, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| {
        if text.trim().is_empty() {
            "unexpected end of JSON input".to_string()
        } else {
            format!("invalid JSON in the secret value: {e}")
        }
    })?;
    let Value::Object(m) = v else {
        let kind = match v {
            Value::Array(_) => "array",
            Value::String(_) => "string",
            Value::Number(_) => "number",
            Value::Bool(_) => "bool",
            _ => "null",
        };
        return Err(format!(
            "json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
        ));
    };
    m.get(key).map(go_value).ok_or_else(|| {
        format!("retrieved secret from Secrets Manager did not contain json key {key}")
    })
}

/// The value of a container's `secrets[].valueFrom`, as ECS fetches it before it creates the
/// task's containers: a Secrets Manager ARN (`arn:aws:secretsmanager:<region>:<account>:secret:
/// <name>-<suffix>`, optionally followed by `:<json-key>:<version-stage>:<version-id>`; with a
/// json-key the value is that field of the secret's JSON), an SSM parameter ARN
/// (`arn:aws:ssm:<region>:<account>:parameter/<name>`) or an SSM parameter name (`/a/b`, `a`,
/// `a:3` for version 3). SecureString parameters are read decrypted, as ECS does.
///
/// Region and account are not checked, and a secret ARN whose six-character suffix is not
/// this secret's still finds the secret by name, so task definitions written for AWS run
/// unchanged against secrets created here (`env` is taken for symmetry with the other
/// resolvers and not read).
///
/// # Errors
///
/// The task's `stoppedReason`, worded as ECS words it: `ResourceInitializationError: unable to
/// pull secrets or registry auth: execution resource retrieval failed: unable to retrieve
/// secret from asm: service call has been retried 1 time(s): failed to fetch secret <id> from
/// secrets manager: ResourceNotFoundException: Secrets Manager can't find the specified
/// secret.` (or `InvalidRequestException` for a secret marked for deletion, `… did not contain
/// json key <k>`), and for SSM `… unable to retrieve secrets from ssm: service call has been
/// retried 1 time(s): invalid parameters: <valueFrom>`.
pub(crate) fn resolve_value_from(
    st: &State,
    _env: &Env,
    value_from: &str,
) -> Result<String, String> {
    let now = st.meta.clock;
    match reference(value_from)? {
        Reference::Ssm(name) => super::ssm::decrypted_value(st, &name)
            .ok_or_else(|| format!("{SSM_REASON}{RETRIED}invalid parameters: {name}")),
        Reference::Asm {
            secret_id,
            json_key,
            stage,
            version_id,
        } => {
            let (_, v) = task_secret(
                st,
                now,
                &secret_id,
                version_id.as_deref(),
                stage.as_deref(),
            )
            .map_err(|f| {
                format!(
                    "{ASM_REASON}{RETRIED}failed to fetch secret {secret_id} from secrets manager: {}: {}",
                    f.code, f.message
                )
            })?;
            let text = v.string.clone().unwrap_or_default();
            match json_key {
                None => Ok(text),
                Some(k) => json_field(&text, &k).map_err(|e| format!("{ASM_REASON}{RETRIED}{e}")),
            }
        }
    }
}

/// Every `valueFrom` of a task at once, in order, as the agent fetches them: the SSM parameters
/// in one batch whose missing names are listed together (`invalid parameters: a,b`), then the
/// Secrets Manager secrets, whose errors are joined with `;`.
///
/// # Errors
///
/// The task's `stoppedReason` (see [`resolve_value_from`]).
pub(crate) fn resolve_all(
    st: &State,
    env: &Env,
    value_froms: &[&str],
) -> Result<Vec<String>, String> {
    let mut missing_params = Vec::new();
    let mut asm_errors = Vec::new();
    let mut out = Vec::new();
    for vf in value_froms {
        match resolve_value_from(st, env, vf) {
            Ok(v) => out.push(v),
            Err(e) => {
                if matches!(reference(vf), Ok(Reference::Ssm(_))) {
                    missing_params.push(*vf);
                } else {
                    asm_errors.push(e.strip_prefix(ASM_REASON).unwrap_or(&e).to_string());
                }
            }
        }
    }
    if !missing_params.is_empty() {
        return Err(format!(
            "{SSM_REASON}{RETRIED}invalid parameters: {}",
            missing_params.join(",")
        ));
    }
    if !asm_errors.is_empty() {
        return Err(format!("{ASM_REASON}{}", asm_errors.join(";")));
    }
    Ok(out)
}

/// The variables of an `environmentFiles` file, read as the container agent reads them
/// (`readEnvVarsFromFile` in aws/amazon-ecs-agent `agent/taskresource/envFiles/envfile.go`):
/// line by line (a trailing `\r` dropped, as Go's line scanner does), a line starting with `#`
/// is a comment, a line without `=` is ignored, the rest splits at the first `=` and counts
/// only when both the name and the value are non-empty. Nothing is trimmed and quotes are kept.
/// A name given twice takes the later value (the agent fills a map) at its first position.
pub(crate) fn parse_env_file(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if k.is_empty() || v.is_empty() {
            continue;
        }
        match out.iter_mut().find(|(x, _)| x == k) {
            Some(e) => e.1 = v.to_string(),
            None => out.push((k.to_string(), v.to_string())),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Env;

    fn env() -> Env {
        Env {
            region: "us-east-1".into(),
            account: "123456789012".into(),
            seed: 7,
            refuse_host_access: false,
            task_healthy_after_secs: 40,
            docker_version: None,
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-01-01T00:00:00Z".parse().unwrap()
    }

    fn call(st: &mut State, action: &str, body: Value) -> R {
        let env = env();
        let bytes = body.to_string().into_bytes();
        if is_read_only(action) {
            let r = Read {
                st,
                env: &env,
                now: now(),
                views: &Default::default(),
            };
            read(&r, action, &bytes)
        } else {
            let mut dirty = BTreeSet::new();
            let mut w = Write {
                st,
                dirty: &mut dirty,
                env: &env,
                now: now(),
            };
            write(&mut w, action, &bytes)
        }
    }

    fn ok(st: &mut State, action: &str, body: Value) -> Value {
        call(st, action, body).unwrap_or_else(|e| panic!("{action}: {e}"))
    }

    fn err(st: &mut State, action: &str, body: Value) -> ApiFault {
        call(st, action, body).expect_err(action)
    }

    fn state() -> State {
        let mut st = State::new(7, now());
        st.meta.clock = now();
        st
    }

    #[test]
    fn create_get_put_and_stages() {
        let mut st = state();
        let c = ok(
            &mut st,
            "CreateSecret",
            json!({"Name": "db", "SecretString": "one"}),
        );
        let arn = c["ARN"].as_str().unwrap().to_string();
        let (head, tail) = arn.rsplit_once('-').unwrap();
        assert_eq!(
            head,
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:db"
        );
        assert_eq!(tail.len(), 6);
        assert!(tail.bytes().all(|b| b.is_ascii_alphanumeric()));
        let v1 = c["VersionId"].as_str().unwrap().to_string();
        assert_eq!(v1.len(), 36);
        let g = ok(&mut st, "GetSecretValue", json!({"SecretId": "db"}));
        assert_eq!(g["SecretString"], "one");
        assert_eq!(g["VersionStages"], json!(["AWSCURRENT"]));
        // Full and partial ARNs find it too.
        for id in [arn.as_str(), head] {
            let g = ok(&mut st, "GetSecretValue", json!({"SecretId": id}));
            assert_eq!(g["Name"], "db");
        }
        let p = ok(
            &mut st,
            "PutSecretValue",
            json!({"SecretId": "db", "SecretString": "two"}),
        );
        assert_eq!(p["VersionStages"], json!(["AWSCURRENT"]));
        let g = ok(&mut st, "GetSecretValue", json!({"SecretId": "db"}));
        assert_eq!(g["SecretString"], "two");
        let prev = ok(
            &mut st,
            "GetSecretValue",
            json!({"SecretId": "db", "VersionStage": "AWSPREVIOUS"}),
        );
        assert_eq!(prev["SecretString"], "one");
        assert_eq!(prev["VersionId"], json!(v1));
        let d = ok(&mut st, "DescribeSecret", json!({"SecretId": "db"}));
        assert_eq!(d["VersionIdsToStages"][&v1], json!(["AWSPREVIOUS"]));
        let e = err(
            &mut st,
            "GetSecretValue",
            json!({"SecretId": "db", "VersionStage": "NOPE"}),
        );
        assert_eq!(e.code, "ResourceNotFoundException");
        assert_eq!(
            e.message,
            "Secrets Manager can't find the specified secret value for staging label: NOPE"
        );
    }

    #[test]
    fn errors_are_worded_as_aws_words_them() {
        let mut st = state();
        ok(
            &mut st,
            "CreateSecret",
            json!({"Name": "db", "SecretString": "x"}),
        );
        let e = err(
            &mut st,
            "CreateSecret",
            json!({"Name": "db", "SecretString": "y"}),
        );
        assert_eq!(e.code, "ResourceExistsException");
        assert_eq!(
            e.message,
            "The operation failed because the secret db already exists."
        );
        assert_eq!(
            e.to_json(),
            json!({"__type": "ResourceExistsException", "Message": e.message})
        );
        let e = err(&mut st, "GetSecretValue", json!({"SecretId": "nope"}));
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("ResourceNotFoundException", NOT_FOUND)
        );
        let e = err(
            &mut st,
            "CreateSecret",
            json!({"Name": "x", "SecretString": "a", "SecretBinary": "YQ=="}),
        );
        assert_eq!(e.code, "InvalidParameterException");
        let e = err(&mut st, "CreateSecret", json!({"Name": "bad name"}));
        assert_eq!(e.code, "ValidationException");
    }

    #[test]
    fn idempotent_create_with_the_same_token() {
        let mut st = state();
        let token = "a".repeat(32);
        let body = json!({"Name": "db", "SecretString": "x", "ClientRequestToken": token});
        let a = ok(&mut st, "CreateSecret", body.clone());
        let b = ok(&mut st, "CreateSecret", body);
        assert_eq!(a, b);
        assert_eq!(a["VersionId"], json!(token));
        let e = err(
            &mut st,
            "CreateSecret",
            json!({"Name": "db", "SecretString": "other", "ClientRequestToken": token}),
        );
        assert_eq!(e.code, "ResourceExistsException");
    }

    #[test]
    fn delete_restore_and_force() {
        let mut st = state();
        ok(
            &mut st,
            "CreateSecret",
            json!({"Name": "db", "SecretString": "x"}),
        );
        let d = ok(
            &mut st,
            "DeleteSecret",
            json!({"SecretId": "db", "RecoveryWindowInDays": 7}),
        );
        let when = now() + Duration::days(7);
        assert_eq!(d["DeletionDate"], epoch(when));
        let e = err(&mut st, "GetSecretValue", json!({"SecretId": "db"}));
        assert_eq!(e.code, "InvalidRequestException");
        assert_eq!(e.message, MARKED_FOR_DELETION);
        assert!(
            ok(&mut st, "DescribeSecret", json!({"SecretId": "db"}))
                .get("DeletedDate")
                .is_some()
        );
        let l = ok(&mut st, "ListSecrets", json!({}));
        assert_eq!(l["SecretList"], json!([]));
        let l = ok(
            &mut st,
            "ListSecrets",
            json!({"IncludePlannedDeletion": true}),
        );
        assert_eq!(l["SecretList"].as_array().unwrap().len(), 1);
        let e = err(
            &mut st,
            "CreateSecret",
            json!({"Name": "db", "SecretString": "y"}),
        );
        assert_eq!(e.code, "InvalidRequestException");
        ok(&mut st, "RestoreSecret", json!({"SecretId": "db"}));
        assert_eq!(
            ok(&mut st, "GetSecretValue", json!({"SecretId": "db"}))["SecretString"],
            "x"
        );
        let e = err(
            &mut st,
            "DeleteSecret",
            json!({"SecretId": "db", "RecoveryWindowInDays": 3}),
        );
        assert_eq!(e.code, "InvalidParameterException");
        ok(
            &mut st,
            "DeleteSecret",
            json!({"SecretId": "db", "ForceDeleteWithoutRecovery": true}),
        );
        assert!(st.secrets.is_empty());
        let e = err(&mut st, "DescribeSecret", json!({"SecretId": "db"}));
        assert_eq!(e.code, "ResourceNotFoundException");
    }

    #[test]
    fn a_passed_recovery_window_removes_the_secret() {
        let mut st = state();
        ok(
            &mut st,
            "CreateSecret",
            json!({"Name": "db", "SecretString": "x"}),
        );
        st.secrets.get_mut("db").unwrap().deleted_at = Some(now() - Duration::days(8));
        st.secrets.get_mut("db").unwrap().deletion_date = Some(now() - Duration::days(1));
        assert_eq!(
            err(&mut st, "DescribeSecret", json!({"SecretId": "db"})).code,
            "ResourceNotFoundException"
        );
        ok(
            &mut st,
            "CreateSecret",
            json!({"Name": "db", "SecretString": "new"}),
        );
        assert_eq!(
            ok(&mut st, "GetSecretValue", json!({"SecretId": "db"}))["SecretString"],
            "new"
        );
    }

    #[test]
    fn list_filters_and_pages() {
        let mut st = state();
        for n in ["app/a", "app/b", "app/c", "other"] {
            ok(
                &mut st,
                "CreateSecret",
                json!({"Name": n, "SecretString": "x", "Tags": [{"Key": "team", "Value": n}]}),
            );
        }
        let names = |v: &Value| -> Vec<String> {
            v["SecretList"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["Name"].as_str().unwrap().to_string())
                .collect()
        };
        let l = ok(
            &mut st,
            "ListSecrets",
            json!({"Filters": [{"Key": "name", "Values": ["app/"]}], "MaxResults": 2, "SortBy": "name"}),
        );
        assert_eq!(names(&l), ["app/a", "app/b"]);
        let l = ok(
            &mut st,
            "ListSecrets",
            json!({"Filters": [{"Key": "name", "Values": ["app/"]}], "MaxResults": 2, "SortBy": "name", "NextToken": l["NextToken"]}),
        );
        assert_eq!(names(&l), ["app/c"]);
        assert!(l.get("NextToken").is_none());
        let l = ok(
            &mut st,
            "ListSecrets",
            json!({"Filters": [{"Key": "name", "Values": ["!app"]}]}),
        );
        assert_eq!(names(&l), ["other"]);
        let l = ok(
            &mut st,
            "ListSecrets",
            json!({"Filters": [{"Key": "tag-value", "Values": ["app/b"]}]}),
        );
        assert_eq!(names(&l), ["app/b"]);
        let e = err(
            &mut st,
            "ListSecrets",
            json!({"Filters": [{"Key": "bogus", "Values": ["x"]}]}),
        );
        assert_eq!(e.code, "ValidationException");
    }

    #[test]
    fn resolves_value_from_as_ecs_does() {
        let mut st = state();
        let env = env();
        let c = ok(
            &mut st,
            "CreateSecret",
            json!({"Name": "db", "SecretString": "{\"user\":\"u\",\"port\":5432,\"big\":1000000,\"ok\":true,\"o\":{\"b\":1,\"a\":[1,2]}}"}),
        );
        let arn = c["ARN"].as_str().unwrap().to_string();
        assert!(
            resolve_value_from(&st, &env, &arn)
                .unwrap()
                .starts_with("{\"user\"")
        );
        let field = |k: &str| resolve_value_from(&st, &env, &format!("{arn}:{k}::"));
        assert_eq!(field("user").unwrap(), "u");
        assert_eq!(field("port").unwrap(), "5432");
        assert_eq!(field("big").unwrap(), "1e+06");
        assert_eq!(field("ok").unwrap(), "true");
        assert_eq!(field("o").unwrap(), "map[a:[1 2] b:1]");
        assert_eq!(
            field("nope").unwrap_err(),
            "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): retrieved secret from Secrets Manager did not contain json key nope"
        );
        // A task definition written for AWS: another account, region and suffix.
        assert!(
            resolve_value_from(
                &st,
                &env,
                "arn:aws:secretsmanager:eu-west-1:999999999999:secret:db-AbC123:user::"
            )
            .is_ok()
        );
        let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AbCdEf";
        assert_eq!(
            resolve_value_from(&st, &env, missing).unwrap_err(),
            format!(
                "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secret from asm: service call has been retried 1 time(s): failed to fetch secret {missing} from secrets manager: ResourceNotFoundException: Secrets Manager can't find the specified secret."
            )
        );
        assert!(
            resolve_value_from(
                &st,
                &env,
                "arn:aws:secretsmanager:us-east-1:1:secret:db-AbCdEf:too"
            )
            .unwrap_err()
            .contains("an invalid ARN format")
        );
        // Versions by stage and id.
        let p = ok(
            &mut st,
            "PutSecretValue",
            json!({"SecretId": "db", "SecretString": "{\"user\":\"v2\"}"}),
        );
        let v2 = p["VersionId"].as_str().unwrap();
        assert_eq!(
            resolve_value_from(&st, &env, &format!("{arn}:user:AWSPREVIOUS:")).unwrap(),
            "u"
        );
        assert_eq!(
            resolve_value_from(&st, &env, &format!("{arn}:user::{v2}")).unwrap(),
            "v2"
        );
        ok(&mut st, "DeleteSecret", json!({"SecretId": "db"}));
        assert!(
            resolve_value_from(&st, &env, &arn)
                .unwrap_err()
                .ends_with("InvalidRequestException: You can't perform this operation on the secret because it was marked for deletion.")
        );
        // SSM: names, ARNs, missing ones.
        assert_eq!(
            resolve_value_from(&st, &env, "/app/missing").unwrap_err(),
            "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): invalid parameters: /app/missing"
        );
        assert_eq!(
            resolve_all(&st, &env, &["/a", "b"]).unwrap_err(),
            "ResourceInitializationError: unable to pull secrets or registry auth: execution resource retrieval failed: unable to retrieve secrets from ssm: service call has been retried 1 time(s): invalid parameters: /a,b"
        );
    }

    #[test]
    fn secrets_and_parameters_round_trip_through_their_records() {
        let mut st = state();
        ok(
            &mut st,
            "CreateSecret",
            json!({"Name": "app/db", "SecretString": "x", "Tags": [{"Key": "k", "Value": "v"}]}),
        );
        let env = env();
        let mut dirty = BTreeSet::new();
        let mut w = Write {
            st: &mut st,
            dirty: &mut dirty,
            env: &env,
            now: now(),
        };
        super::super::ssm::write(
            &mut w,
            "PutParameter",
            json!({"Name": "/flat", "Value": "p", "Type": "String"})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        assert!(dirty.contains(&Key::Parameter("flat".into())));
        let records: Vec<(String, Vec<u8>)> =
            [Key::Secret("app/db".into()), Key::Parameter("flat".into())]
                .iter()
                .map(|k| (k.encode(), st.record(k).unwrap()))
                .collect();
        assert_eq!(records[0].0, "secret/app/db");
        assert_eq!(records[1].0, "ssmparam/flat");
        let (back, _) = State::load(records, 7, now()).unwrap();
        assert_eq!(back.secrets["app/db"].arn, st.secrets["app/db"].arn);
        assert_eq!(back.secrets["app/db"].tags, [("k".into(), "v".into())]);
        assert_eq!(back.parameters["flat"].name, "/flat");
        assert_eq!(resolve_value_from(&back, &env, "/flat").as_deref(), Ok("p"));
    }

    #[test]
    fn go_formatting_of_json_numbers() {
        assert_eq!(go_float(5.0), "5");
        assert_eq!(go_float(123456.0), "123456");
        assert_eq!(go_float(1234567.0), "1.234567e+06");
        assert_eq!(go_float(0.5), "0.5");
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(-2.5), "-2.5");
        assert_eq!(go_value(&json!(null)), "<nil>");
    }

    #[test]
    fn env_files_follow_the_agent() {
        let text = "# comment\nA=1\r\nB=x=y\n =space key\nC=\n=v\nno equals\nD= spaced \nA=2\n  #not=comment\nE=\"q\"";
        assert_eq!(
            parse_env_file(text),
            [
                ("A", "2"),
                ("B", "x=y"),
                (" ", "space key"),
                ("D", " spaced "),
                ("  #not", "comment"),
                ("E", "\"q\""),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert!(parse_env_file("").is_empty());
    }

    #[test]
    fn references() {
        assert_eq!(reference("/a/b").unwrap(), Reference::Ssm("/a/b".into()));
        assert_eq!(
            reference("arn:aws:ssm:us-east-1:1:parameter/a").unwrap(),
            Reference::Ssm("arn:aws:ssm:us-east-1:1:parameter/a".into())
        );
        assert_eq!(
            reference("arn:aws:secretsmanager:r:1:secret:n-AbCdEf:k:AWSCURRENT:").unwrap(),
            Reference::Asm {
                secret_id: "arn:aws:secretsmanager:r:1:secret:n-AbCdEf".into(),
                json_key: Some("k".into()),
                stage: Some("AWSCURRENT".into()),
                version_id: None,
            }
        );
    }
}
