//! SSM Parameter Store (`AmazonSSM.<Action>`): PutParameter (versions, Overwrite, tags),
//! GetParameter (with `:<version>` selectors and ARNs), GetParameters, GetParametersByPath
//! (Recursive, filters, paging), GetParameterHistory, DeleteParameter, DeleteParameters,
//! DescribeParameters (paging, both filter styles) and the parameter tag operations, shaped and
//! worded as AWS answers them (moto's `ssm` backend and the API reference were the guides; SSM
//! answers a missing parameter with `ParameterNotFound` and no message at all).
//!
//! `/a` and `a` are one parameter, as in SSM: records are keyed by [`normalize`]d name and keep
//! the name they were created with. A SecureString value is kept as given (there is no KMS):
//! read without `WithDecryption` it shows as a base64 stand-in for ciphertext, with it as the
//! value. Not here: labels (LabelParameterVersion), parameter policies, AllowedPattern checks
//! (the pattern is kept, not enforced), shared parameters and the rest of Systems Manager.

use berth_core::protocol::PageToken;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Page, Read, Write, input};
use crate::apis::ApiFault;
use crate::state::{Env, Key, ParamRec, ParamVersionRec, State};

type R = Result<Value, ApiFault>;

/// The actions this module answers.
pub(crate) const ACTIONS: &[&str] = &[
    "PutParameter",
    "GetParameter",
    "GetParameters",
    "GetParametersByPath",
    "GetParameterHistory",
    "DeleteParameter",
    "DeleteParameters",
    "DescribeParameters",
    "AddTagsToResource",
    "RemoveTagsFromResource",
    "ListTagsForResource",
];

/// Whether an action only reads.
pub(crate) fn is_read_only(action: &str) -> bool {
    action.starts_with("Get") || action.starts_with("Describe") || action.starts_with("List")
}

/// Versions kept per parameter (SSM's limit; the oldest goes).
const MAX_VERSIONS: usize = 100;
const STANDARD_MAX: usize = 4096;
const ADVANCED_MAX: usize = 8192;
const NAME_RULES: &str = "Parameter name: can't be prefixed with \"ssm\" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_";

fn validation(msg: impl Into<String>) -> ApiFault {
    ApiFault::ssm("ValidationException", msg)
}

/// SSM's `ParameterNotFound`, which carries no message.
fn not_found() -> ApiFault {
    ApiFault::ssm("ParameterNotFound", "")
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiFault> {
    input(body).map_err(ApiFault::from)
}

/// Runs a read-only action.
pub(crate) fn read(r: &Read<'_>, action: &str, body: &[u8]) -> R {
    match action {
        "GetParameter" => get(r, parse(body)?),
        "GetParameters" => get_many(r, parse(body)?),
        "GetParametersByPath" => by_path(r, parse(body)?),
        "GetParameterHistory" => history(r, parse(body)?),
        "DescribeParameters" => describe(r, parse(body)?),
        "ListTagsForResource" => list_tags(r, parse(body)?),
        _ => Err(ApiFault::unknown_operation(action)),
    }
}

/// Runs a mutating action.
pub(crate) fn write(w: &mut Write<'_>, action: &str, body: &[u8]) -> R {
    match action {
        "PutParameter" => put(w, parse(body)?),
        "DeleteParameter" => delete(w, parse(body)?),
        "DeleteParameters" => delete_many(w, parse(body)?),
        "AddTagsToResource" => add_tags(w, parse(body)?),
        "RemoveTagsFromResource" => remove_tags(w, parse(body)?),
        _ => Err(ApiFault::unknown_operation(action)),
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct Req {
    name: Option<String>,
    names: Option<Vec<String>>,
    value: Option<String>,
    #[serde(rename = "Type")]
    kind: Option<String>,
    description: Option<String>,
    key_id: Option<String>,
    overwrite: Option<bool>,
    allowed_pattern: Option<String>,
    tags: Option<Vec<TagIn>>,
    tier: Option<String>,
    data_type: Option<String>,
    with_decryption: Option<bool>,
    path: Option<String>,
    recursive: Option<bool>,
    parameter_filters: Option<Vec<StringFilter>>,
    filters: Option<Vec<OldFilter>>,
    max_results: Option<i64>,
    next_token: Option<String>,
    resource_type: Option<String>,
    resource_id: Option<String>,
    tag_keys: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagIn {
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: String,
}

/// A `ParameterStringFilter`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StringFilter {
    #[serde(default)]
    key: String,
    #[serde(default)]
    option: Option<String>,
    #[serde(default)]
    values: Vec<String>,
}

/// A (deprecated) `ParametersFilter` of DescribeParameters.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OldFilter {
    #[serde(default)]
    key: String,
    #[serde(default)]
    values: Vec<String>,
}

fn required<T>(v: Option<T>, member: &str) -> Result<T, ApiFault> {
    v.ok_or_else(|| {
        validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
        ))
    })
}

fn epoch(t: DateTime<Utc>) -> Value {
    json!(t.timestamp_millis() as f64 / 1000.0)
}

/// A name without its ARN prefix: `arn:<partition>:ssm:<region>:<account>:parameter/a/b` is
/// `/a/b` (the region and account are not checked).
fn strip_arn(name: &str) -> &str {
    let Some(rest) = name.strip_prefix("arn:") else {
        return name;
    };
    let parts: Vec<&str> = rest.splitn(5, ':').collect();
    match parts.as_slice() {
        [_, "ssm", _, _, resource] => resource.strip_prefix("parameter").unwrap_or(name),
        _ => name,
    }
}

/// The key a parameter is stored under: a leading slash is dropped from a name that has no
/// other (`/a` and `a` are one parameter, as SSM has it), a path keeps it (`/a/b`).
pub(crate) fn normalize(name: &str) -> String {
    match name.strip_prefix('/') {
        Some(rest) if !rest.contains('/') => rest.to_string(),
        _ => name.to_string(),
    }
}

/// A parameter's ARN (`…:parameter/a` for `a` and `/a`, `…:parameter/a/b` for `/a/b`).
fn arn(env: &Env, name: &str) -> String {
    format!(
        "arn:aws:ssm:{}:{}:parameter/{}",
        env.region,
        env.account,
        name.trim_start_matches('/')
    )
}

/// A parameter's path form (`a` is `/a`), for GetParametersByPath and the `Path` filter.
fn path_form(key: &str) -> String {
    if key.starts_with('/') {
        key.to_string()
    } else {
        format!("/{key}")
    }
}

type Found<'a> = (&'a ParamRec, &'a ParamVersionRec, Option<&'a str>);

/// The parameter and version a name, ARN or `name:<version>` names: `Ok(None)` when there is
/// none (or a label is asked for: labels are not kept), `ParameterVersionNotFound` when the
/// parameter is there but not that version.
fn lookup<'a>(st: &'a State, name: &'a str) -> Result<Option<Found<'a>>, ApiFault> {
    let bare = strip_arn(name);
    let mut parts = bare.split(':');
    let base = parts.next().unwrap_or_default();
    let selector = parts.next();
    if parts.next().is_some() {
        return Ok(None);
    }
    let Some(p) = st.parameters.get(&normalize(base)) else {
        return Ok(None);
    };
    let v = match selector {
        None => p.versions.last(),
        Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            let v = p.versions.iter().find(|v| v.version.to_string() == s);
            if v.is_none() {
                return Err(ApiFault::ssm(
                    "ParameterVersionNotFound",
                    format!(
                        "Systems Manager could not find version {s} of {base}. Verify the version and try again."
                    ),
                ));
            }
            v
        }
        Some(label) => p
            .versions
            .iter()
            .rev()
            .find(|v| v.labels.iter().any(|l| l == label)),
    };
    Ok(v.map(|v| (p, v, selector)))
}

/// The value of a parameter read with decryption (what ECS injects for a `valueFrom`), or
/// `None` when GetParameters would list the name as invalid.
pub(crate) fn decrypted_value(st: &State, name: &str) -> Option<String> {
    match lookup(st, name) {
        Ok(Some((_, v, _))) => Some(v.value.clone()),
        _ => None,
    }
}

/// Base64 (standard alphabet, padded).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The value as a read shows it: a SecureString read without decryption shows a base64
/// stand-in for its ciphertext (`kms:<key>:<value>`; nothing is encrypted here).
fn shown_value(v: &ParamVersionRec, decrypt: bool) -> String {
    if v.kind == "SecureString" && !decrypt {
        let key = v.key_id.as_deref().unwrap_or("alias/aws/ssm");
        base64(format!("kms:{key}:{}", v.value).as_bytes())
    } else {
        v.value.clone()
    }
}

fn param_json(env: &Env, found: Found<'_>, decrypt: bool) -> Value {
    let (p, v, selector) = found;
    let mut out = json!({
        "Name": p.name,
        "Type": v.kind,
        "Value": shown_value(v, decrypt),
        "Version": v.version,
        "LastModifiedDate": epoch(v.modified),
        "ARN": arn(env, &p.name),
        "DataType": v.data_type,
    });
    if let Some(s) = selector {
        out["Selector"] = json!(format!(":{s}"));
    }
    out
}

/// Checks a name as PutParameter does.
fn check_name(name: &str) -> Result<(), ApiFault> {
    if name.contains('/') && !name.starts_with('/') {
        return Err(validation("Parameter name must be a fully qualified name."));
    }
    let chars_ok = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.-/".contains(&b));
    let segments_ok = name
        .strip_prefix('/')
        .unwrap_or(name)
        .split('/')
        .all(|s| !s.is_empty());
    if name.is_empty() || !chars_ok || !segments_ok {
        return Err(validation(NAME_RULES));
    }
    let lower = name.to_ascii_lowercase();
    let first = lower.trim_start_matches('/');
    if first.starts_with("aws") || first.starts_with("ssm") {
        let is_path = name.matches('/').count() > 1;
        if lower.starts_with("/aws") && is_path {
            return Err(ApiFault::ssm(
                "AccessDeniedException",
                format!("No access to reserved parameter name: {name}."),
            ));
        }
        return Err(validation(if is_path {
            NAME_RULES
        } else {
            "Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive)."
        }));
    }
    if name.matches('/').count() > 15 {
        return Err(ApiFault::ssm(
            "HierarchyLevelLimitExceededException",
            "A hierarchy can have a maximum of 15 levels. For more information, see Requirements and constraints for parameter names in the Amazon Web Services Systems Manager User Guide.",
        ));
    }
    Ok(())
}

fn put(w: &mut Write<'_>, req: Req) -> R {
    let name = required(req.name, "name")?;
    check_name(&name)?;
    let value = required(req.value, "value")?;
    if value.is_empty() {
        return Err(validation(
            "1 validation error detected: Value '' at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1.",
        ));
    }
    let overwrite = req.overwrite.unwrap_or(false);
    let tags = req.tags.unwrap_or_default();
    if overwrite && !tags.is_empty() {
        return Err(validation(
            "Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.",
        ));
    }
    let key = normalize(&name);
    let prev = w.st.parameters.get(&key).and_then(|p| p.versions.last());
    if let Some(k) = req
        .kind
        .as_ref()
        .filter(|k| !matches!(k.as_str(), "String" | "StringList" | "SecureString"))
    {
        return Err(validation(format!(
            "1 validation error detected: Value '{k}' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]"
        )));
    }
    if prev.is_some() && !overwrite {
        return Err(ApiFault::ssm(
            "ParameterAlreadyExists",
            "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.",
        ));
    }
    let kind = match (req.kind, prev) {
        (Some(k), _) => k,
        (None, Some(p)) => p.kind.clone(),
        (None, None) => {
            return Err(validation(
                "A parameter type is required when you create a parameter.",
            ));
        }
    };
    let data_type = req
        .data_type
        .or_else(|| prev.map(|p| p.data_type.clone()))
        .unwrap_or_else(|| "text".into());
    if !matches!(
        data_type.as_str(),
        "text" | "aws:ec2:image" | "aws:ssm:integration"
    ) {
        return Err(validation(format!(
            "The following data type is not supported: {data_type} (Data type names are all lowercase.)"
        )));
    }
    let tier = match req.tier.as_deref() {
        None => prev.map_or("Standard", |p| p.tier.as_str()).to_string(),
        Some("Intelligent-Tiering") if value.len() <= STANDARD_MAX => "Standard".into(),
        Some("Intelligent-Tiering") => "Advanced".into(),
        Some(t @ ("Standard" | "Advanced")) => t.to_string(),
        Some(t) => {
            return Err(validation(format!(
                "1 validation error detected: Value '{t}' at 'tier' failed to satisfy constraint: Member must satisfy enum value set: [Advanced, Intelligent-Tiering, Standard]"
            )));
        }
    };
    if tier == "Standard" && value.len() > STANDARD_MAX {
        return Err(validation(
            "Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier. For more information, see https://docs.aws.amazon.com/systems-manager/latest/userguide/advanced-parameters.html",
        ));
    }
    if value.len() > ADVANCED_MAX {
        return Err(validation(
            "Advanced tier parameters support a maximum parameter value of 8192 characters.",
        ));
    }
    let key_id = if kind == "SecureString" {
        Some(
            req.key_id
                .or_else(|| prev.and_then(|p| p.key_id.clone()))
                .unwrap_or_else(|| "alias/aws/ssm".into()),
        )
    } else if req.key_id.is_some() {
        return Err(validation(
            "KeyId is required for SecureString type parameter only.",
        ));
    } else {
        None
    };
    let version = ParamVersionRec {
        version: prev.map_or(1, |p| p.version + 1),
        value,
        kind,
        description: req
            .description
            .or_else(|| prev.and_then(|p| p.description.clone())),
        key_id,
        allowed_pattern: req
            .allowed_pattern
            .or_else(|| prev.and_then(|p| p.allowed_pattern.clone())),
        data_type,
        tier: tier.clone(),
        modified: w.now,
        labels: Vec::new(),
    };
    let n = version.version;
    let p =
        w.st.parameters
            .entry(key.clone())
            .or_insert_with(|| ParamRec {
                name,
                versions: Vec::new(),
                tags: tags.into_iter().map(|t| (t.key, t.value)).collect(),
            });
    p.versions.push(version);
    if p.versions.len() > MAX_VERSIONS {
        p.versions.remove(0);
    }
    w.dirty.insert(Key::Parameter(key));
    Ok(json!({"Version": n, "Tier": tier}))
}

fn get(r: &Read<'_>, req: Req) -> R {
    let name = required(req.name, "name")?;
    let found = lookup(r.st, &name)?.ok_or_else(not_found)?;
    let decrypt = req.with_decryption.unwrap_or(false);
    Ok(json!({"Parameter": param_json(r.env, found, decrypt)}))
}

fn check_batch(names: &[String]) -> Result<(), ApiFault> {
    if names.is_empty() || names.len() > 10 {
        return Err(validation(format!(
            "1 validation error detected: Value '[{}]' at 'names' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1.",
            names.join(", ")
        )));
    }
    Ok(())
}

fn get_many(r: &Read<'_>, req: Req) -> R {
    let names = required(req.names, "names")?;
    check_batch(&names)?;
    let decrypt = req.with_decryption.unwrap_or(false);
    let mut seen = Vec::new();
    let mut params = Vec::new();
    let mut invalid = Vec::new();
    for name in &names {
        if seen.contains(&name) {
            continue;
        }
        seen.push(name);
        match lookup(r.st, name) {
            Ok(Some(found)) => params.push(param_json(r.env, found, decrypt)),
            _ => invalid.push(name.clone()),
        }
    }
    Ok(json!({"Parameters": params, "InvalidParameters": invalid}))
}

fn page(op: &str, req: &Req, max: i64) -> Result<Page, ApiFault> {
    let size = match req.max_results {
        None => max as usize,
        Some(n) if (1..=max).contains(&n) => n as usize,
        Some(n) => {
            return Err(validation(format!(
                "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to {max}"
            )));
        }
    };
    let after = match req.next_token.as_deref() {
        Some(t) if !t.is_empty() => Some(
            PageToken::decode(op, t)
                .map_err(|_| ApiFault::ssm("InvalidNextToken", "The specified token isn't valid."))?
                .cursor,
        ),
        _ => None,
    };
    Ok(Page { size, after })
}

fn with_token(mut v: Value, token: Option<String>) -> Value {
    if let Some(t) = token {
        v["NextToken"] = json!(t);
    }
    v
}

/// One `ParameterStringFilter`, checked against the keys and options the operation allows.
struct Filter {
    key: String,
    option: String,
    values: Vec<String>,
}

impl Filter {
    fn parse(f: &StringFilter, by_path: bool) -> Result<Filter, ApiFault> {
        let key = f.key.clone();
        let known = if by_path {
            matches!(
                key.as_str(),
                "Type" | "KeyId" | "Label" | "DataType" | "Tier"
            ) || key.starts_with("tag:")
        } else {
            matches!(
                key.as_str(),
                "Name" | "Type" | "KeyId" | "Path" | "Tier" | "DataType" | "Label"
            ) || key.starts_with("tag:")
        };
        if !known {
            return Err(ApiFault::ssm(
                "InvalidFilterKey",
                format!("The following filter key is not valid: {key}."),
            ));
        }
        let default = if key == "Path" { "OneLevel" } else { "Equals" };
        let option = f.option.clone().unwrap_or_else(|| default.into());
        let valid = match key.as_str() {
            "Path" => matches!(option.as_str(), "OneLevel" | "Recursive"),
            "Name" => matches!(option.as_str(), "Equals" | "BeginsWith" | "Contains"),
            k if k.starts_with("tag:") => matches!(option.as_str(), "Equals" | "BeginsWith"),
            _ => matches!(option.as_str(), "Equals" | "BeginsWith"),
        };
        if !valid {
            return Err(ApiFault::ssm(
                "InvalidFilterOption",
                format!(
                    "The following filter option is not valid: {option}. Valid options include: [Recursive, OneLevel]."
                ),
            ));
        }
        Ok(Filter {
            key,
            option,
            values: f.values.clone(),
        })
    }

    fn matches(&self, key: &str, p: &ParamRec, v: &ParamVersionRec) -> bool {
        let test = |field: &str, value: &str| match self.option.as_str() {
            "BeginsWith" => field.starts_with(value),
            "Contains" => field.contains(value),
            _ => field == value,
        };
        let any = |field: &str| self.values.iter().any(|x| test(field, x));
        match self.key.as_str() {
            "Name" => {
                let full = path_form(key);
                self.values.iter().any(|x| match self.option.as_str() {
                    "Equals" => normalize(x) == key,
                    "BeginsWith" => full.starts_with(&path_form(x)) || p.name.starts_with(x),
                    _ => p.name.contains(x.as_str()),
                })
            }
            "Type" => any(&v.kind),
            "KeyId" => v.key_id.as_deref().is_some_and(any),
            "Tier" => any(&v.tier),
            "DataType" => any(&v.data_type),
            "Label" => v.labels.iter().any(|l| any(l)),
            "Path" => {
                let full = path_form(key);
                self.values
                    .iter()
                    .any(|x| under(&full, x, self.option == "Recursive"))
            }
            k => {
                let tag = k.trim_start_matches("tag:");
                p.tags
                    .iter()
                    .any(|(tk, tv)| tk == tag && (self.values.is_empty() || any(tv)))
            }
        }
    }
}

/// Whether a parameter's path form lies under `path` (directly, or at any depth).
fn under(full: &str, path: &str, recursive: bool) -> bool {
    let prefix = format!("{}/", path.trim_end_matches('/'));
    full.strip_prefix(&prefix)
        .is_some_and(|rest| recursive || !rest.contains('/'))
}

fn by_path(r: &Read<'_>, req: Req) -> R {
    const OP: &str = "GetParametersByPath";
    let path = required(req.path.clone(), "path")?;
    if !path.starts_with('/') {
        return Err(validation(
            "The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\". It can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). It must use only letters, numbers, or the following symbols: . (period), - (hyphen), _ (underscore). Special characters are not allowed. All sub-paths, if specified, must use the forward slash symbol \"/\". Valid example: /get/parameters2-/by1./path0_.",
        ));
    }
    let filters = req
        .parameter_filters
        .iter()
        .flatten()
        .map(|f| Filter::parse(f, true))
        .collect::<Result<Vec<_>, _>>()?;
    let page = page(OP, &req, 10)?;
    let recursive = req.recursive.unwrap_or(false);
    let decrypt = req.with_decryption.unwrap_or(false);
    let items = r.st.parameters.iter().filter_map(|(key, p)| {
        let v = p.versions.last()?;
        let hit = under(&path_form(key), &path, recursive)
            && filters.iter().all(|f| f.matches(key, p, v));
        hit.then(|| (key.clone(), param_json(r.env, (p, v, None), decrypt)))
    });
    let (items, next) = page.take(OP, items);
    Ok(with_token(json!({"Parameters": items}), next))
}

fn history(r: &Read<'_>, req: Req) -> R {
    const OP: &str = "GetParameterHistory";
    let name = required(req.name.clone(), "name")?;
    let p =
        r.st.parameters
            .get(&normalize(strip_arn(&name)))
            .ok_or_else(not_found)?;
    let page = page(OP, &req, 50)?;
    let decrypt = req.with_decryption.unwrap_or(false);
    let items = p.versions.iter().map(|v| {
        let mut e = json!({
            "Name": p.name,
            "Type": v.kind,
            "LastModifiedDate": epoch(v.modified),
            "Value": shown_value(v, decrypt),
            "Version": v.version,
            "Labels": v.labels,
            "Tier": v.tier,
            "Policies": [],
            "DataType": v.data_type,
        });
        if let Some(k) = &v.key_id {
            e["KeyId"] = json!(k);
        }
        if let Some(d) = &v.description {
            e["Description"] = json!(d);
        }
        if let Some(a) = &v.allowed_pattern {
            e["AllowedPattern"] = json!(a);
        }
        (format!("{:020}", v.version.max(0)), e)
    });
    let (items, next) = page.take(OP, items);
    Ok(with_token(json!({"Parameters": items}), next))
}

fn describe(r: &Read<'_>, req: Req) -> R {
    const OP: &str = "DescribeParameters";
    if req.filters.is_some() && req.parameter_filters.is_some() {
        return Err(validation(
            "You can use either Filters or ParameterFilters in a single request.",
        ));
    }
    let filters = req
        .parameter_filters
        .iter()
        .flatten()
        .map(|f| Filter::parse(f, false))
        .collect::<Result<Vec<_>, _>>()?;
    for f in req.filters.iter().flatten() {
        if !matches!(f.key.as_str(), "Name" | "Type" | "KeyId") {
            return Err(validation(format!(
                "1 validation error detected: Value '{}' at 'filters.1.member.key' failed to satisfy constraint: Member must satisfy enum value set: [Name, Type, KeyId]",
                f.key
            )));
        }
    }
    let old_ok = |p: &ParamRec, v: &ParamVersionRec| {
        req.filters.iter().flatten().all(|f| {
            f.values.iter().any(|x| match f.key.as_str() {
                "Name" => p.name.starts_with(x.as_str()),
                "Type" => v.kind == *x,
                _ => v.key_id.as_deref() == Some(x.as_str()),
            })
        })
    };
    let page = page(OP, &req, 50)?;
    let items = r.st.parameters.iter().filter_map(|(key, p)| {
        let v = p.versions.last()?;
        let hit = old_ok(p, v) && filters.iter().all(|f| f.matches(key, p, v));
        hit.then(|| {
            let mut e = json!({
                "Name": p.name,
                "ARN": arn(r.env, &p.name),
                "Type": v.kind,
                "LastModifiedDate": epoch(v.modified),
                "Version": v.version,
                "Tier": v.tier,
                "Policies": [],
                "DataType": v.data_type,
            });
            if let Some(k) = &v.key_id {
                e["KeyId"] = json!(k);
            }
            if let Some(d) = &v.description {
                e["Description"] = json!(d);
            }
            if let Some(a) = &v.allowed_pattern {
                e["AllowedPattern"] = json!(a);
            }
            (key.clone(), e)
        })
    });
    let (items, next) = page.take(OP, items);
    Ok(with_token(json!({"Parameters": items}), next))
}

fn delete(w: &mut Write<'_>, req: Req) -> R {
    let name = required(req.name, "name")?;
    let key = normalize(strip_arn(&name));
    w.st.parameters.remove(&key).ok_or_else(not_found)?;
    w.dirty.insert(Key::Parameter(key));
    Ok(json!({}))
}

fn delete_many(w: &mut Write<'_>, req: Req) -> R {
    let names = required(req.names, "names")?;
    check_batch(&names)?;
    let mut deleted = Vec::new();
    let mut invalid = Vec::new();
    for name in names {
        let key = normalize(strip_arn(&name));
        if w.st.parameters.remove(&key).is_some() {
            w.dirty.insert(Key::Parameter(key));
            deleted.push(name);
        } else if !deleted.contains(&name) && !invalid.contains(&name) {
            invalid.push(name);
        }
    }
    Ok(json!({"DeletedParameters": deleted, "InvalidParameters": invalid}))
}

/// The parameter key a tag operation's `ResourceType` / `ResourceId` name.
fn tag_target(st: &State, req: &Req) -> Result<String, ApiFault> {
    let kind = required(req.resource_type.clone(), "resourceType")?;
    let id = required(req.resource_id.clone(), "resourceId")?;
    match kind.as_str() {
        "Parameter" => {}
        "Document" | "ManagedInstance" | "MaintenanceWindow" | "PatchBaseline" | "OpsItem"
        | "OpsMetadata" | "Automation" | "Association" => {
            return Err(ApiFault::ssm("InvalidResourceId", "Invalid Resource Id"));
        }
        _ => {
            return Err(ApiFault::ssm(
                "InvalidResourceType",
                "Invalid Resource Type",
            ));
        }
    }
    let key = normalize(strip_arn(&id));
    if st.parameters.contains_key(&key) {
        Ok(key)
    } else {
        Err(ApiFault::ssm("InvalidResourceId", "Invalid Resource Id"))
    }
}

fn add_tags(w: &mut Write<'_>, req: Req) -> R {
    let key = tag_target(w.st, &req)?;
    let tags = required(req.tags, "tags")?;
    let Some(p) = w.st.parameters.get_mut(&key) else {
        return Err(ApiFault::ssm("InvalidResourceId", "Invalid Resource Id"));
    };
    let mut merged = p.tags.clone();
    for t in tags {
        merged.retain(|(k, _)| *k != t.key);
        merged.push((t.key, t.value));
    }
    if merged.len() > 50 {
        return Err(ApiFault::ssm(
            "TooManyTagsError",
            "The Targets parameter includes too many tags. Remove one or more tags and try the command again.",
        ));
    }
    p.tags = merged;
    w.dirty.insert(Key::Parameter(key));
    Ok(json!({}))
}

fn remove_tags(w: &mut Write<'_>, req: Req) -> R {
    let key = tag_target(w.st, &req)?;
    let keys = required(req.tag_keys, "tagKeys")?;
    if let Some(p) = w.st.parameters.get_mut(&key) {
        p.tags.retain(|(k, _)| !keys.contains(k));
    }
    w.dirty.insert(Key::Parameter(key));
    Ok(json!({}))
}

fn list_tags(r: &Read<'_>, req: Req) -> R {
    let key = tag_target(r.st, &req)?;
    let tags: Vec<Value> = r.st.parameters[&key]
        .tags
        .iter()
        .map(|(k, v)| json!({"Key": k, "Value": v}))
        .collect();
    Ok(json!({"TagList": tags}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn env() -> Env {
        Env {
            region: "us-east-1".into(),
            account: "123456789012".into(),
            seed: 1,
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
            read(
                &Read {
                    st,
                    env: &env,
                    now: now(),
                    views: &Default::default(),
                },
                action,
                &bytes,
            )
        } else {
            let mut dirty = BTreeSet::new();
            write(
                &mut Write {
                    st,
                    dirty: &mut dirty,
                    env: &env,
                    now: now(),
                },
                action,
                &bytes,
            )
        }
    }

    fn ok(st: &mut State, action: &str, body: Value) -> Value {
        call(st, action, body).unwrap_or_else(|e| panic!("{action}: {e}"))
    }

    fn err(st: &mut State, action: &str, body: Value) -> ApiFault {
        call(st, action, body).expect_err(action)
    }

    fn names(v: &Value) -> Vec<String> {
        v["Parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["Name"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn put_get_versions_and_errors() {
        let mut st = State::new(1, now());
        let v = ok(
            &mut st,
            "PutParameter",
            json!({"Name": "/app/db", "Value": "one", "Type": "String"}),
        );
        assert_eq!(v, json!({"Version": 1, "Tier": "Standard"}));
        let e = err(
            &mut st,
            "PutParameter",
            json!({"Name": "/app/db", "Value": "two", "Type": "String"}),
        );
        assert_eq!(e.code, "ParameterAlreadyExists");
        assert_eq!(
            e.message,
            "The parameter already exists. To overwrite this value, set the overwrite option in the request to true."
        );
        let v = ok(
            &mut st,
            "PutParameter",
            json!({"Name": "/app/db", "Value": "two", "Overwrite": true}),
        );
        assert_eq!(v["Version"], 2);
        let g = ok(&mut st, "GetParameter", json!({"Name": "/app/db"}));
        assert_eq!(g["Parameter"]["Value"], "two");
        assert_eq!(g["Parameter"]["Type"], "String");
        assert_eq!(
            g["Parameter"]["ARN"],
            "arn:aws:ssm:us-east-1:123456789012:parameter/app/db"
        );
        let g = ok(&mut st, "GetParameter", json!({"Name": "/app/db:1"}));
        assert_eq!(g["Parameter"]["Value"], "one");
        assert_eq!(g["Parameter"]["Selector"], ":1");
        let g = ok(
            &mut st,
            "GetParameter",
            json!({"Name": "arn:aws:ssm:us-east-1:123456789012:parameter/app/db"}),
        );
        assert_eq!(g["Parameter"]["Version"], 2);
        let e = err(&mut st, "GetParameter", json!({"Name": "/nope"}));
        assert_eq!(e.code, "ParameterNotFound");
        assert_eq!(e.to_json(), json!({"__type": "ParameterNotFound"}));
        assert_eq!(
            err(&mut st, "GetParameter", json!({"Name": "/app/db:9"})).code,
            "ParameterVersionNotFound"
        );
        assert_eq!(
            err(&mut st, "PutParameter", json!({"Name": "x", "Value": "v"})).message,
            "A parameter type is required when you create a parameter."
        );
        assert_eq!(
            err(
                &mut st,
                "PutParameter",
                json!({"Name": "a/b", "Value": "v", "Type": "String"})
            )
            .code,
            "ValidationException"
        );
        assert_eq!(
            err(
                &mut st,
                "PutParameter",
                json!({"Name": "/aws/x/y", "Value": "v", "Type": "String"})
            )
            .code,
            "AccessDeniedException"
        );
    }

    #[test]
    fn leading_slash_names_are_one_parameter() {
        let mut st = State::new(1, now());
        ok(
            &mut st,
            "PutParameter",
            json!({"Name": "/flat", "Value": "v", "Type": "String"}),
        );
        assert_eq!(
            ok(&mut st, "GetParameter", json!({"Name": "flat"}))["Parameter"]["Name"],
            "/flat"
        );
        assert_eq!(
            err(
                &mut st,
                "PutParameter",
                json!({"Name": "flat", "Value": "v", "Type": "String"})
            )
            .code,
            "ParameterAlreadyExists"
        );
        assert_eq!(decrypted_value(&st, "flat").as_deref(), Some("v"));
        assert_eq!(
            decrypted_value(&st, "arn:aws:ssm:us-east-1:123456789012:parameter/flat").as_deref(),
            Some("v")
        );
        ok(&mut st, "DeleteParameter", json!({"Name": "flat"}));
        assert!(st.parameters.is_empty());
    }

    #[test]
    fn secure_strings_show_ciphertext_unless_decrypted() {
        let mut st = State::new(1, now());
        ok(
            &mut st,
            "PutParameter",
            json!({"Name": "/s", "Value": "pw", "Type": "SecureString"}),
        );
        let g = ok(&mut st, "GetParameter", json!({"Name": "/s"}));
        assert_eq!(g["Parameter"]["Value"], base64(b"kms:alias/aws/ssm:pw"));
        let g = ok(
            &mut st,
            "GetParameter",
            json!({"Name": "/s", "WithDecryption": true}),
        );
        assert_eq!(g["Parameter"]["Value"], "pw");
        let d = ok(&mut st, "DescribeParameters", json!({}));
        assert_eq!(d["Parameters"][0]["KeyId"], "alias/aws/ssm");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        assert_eq!(base64(b"a"), "YQ==");
    }

    #[test]
    fn get_parameters_and_by_path() {
        let mut st = State::new(1, now());
        for n in ["/app/a", "/app/b", "/app/sub/c", "/other/d", "top"] {
            ok(
                &mut st,
                "PutParameter",
                json!({"Name": n, "Value": n, "Type": "String"}),
            );
        }
        let g = ok(
            &mut st,
            "GetParameters",
            json!({"Names": ["/app/a", "/missing", "/app/a", "top"]}),
        );
        assert_eq!(names(&g), ["/app/a", "top"]);
        assert_eq!(g["InvalidParameters"], json!(["/missing"]));
        let p = ok(&mut st, "GetParametersByPath", json!({"Path": "/app"}));
        assert_eq!(names(&p), ["/app/a", "/app/b"]);
        let p = ok(
            &mut st,
            "GetParametersByPath",
            json!({"Path": "/app/", "Recursive": true, "MaxResults": 2}),
        );
        assert_eq!(names(&p), ["/app/a", "/app/b"]);
        let p = ok(
            &mut st,
            "GetParametersByPath",
            json!({"Path": "/app/", "Recursive": true, "MaxResults": 2, "NextToken": p["NextToken"]}),
        );
        assert_eq!(names(&p), ["/app/sub/c"]);
        assert!(p.get("NextToken").is_none());
        let p = ok(&mut st, "GetParametersByPath", json!({"Path": "/"}));
        assert_eq!(names(&p), ["top"]);
        let d = ok(
            &mut st,
            "DescribeParameters",
            json!({"ParameterFilters": [{"Key": "Name", "Option": "BeginsWith", "Values": ["/app"]}], "MaxResults": 2}),
        );
        assert_eq!(names(&d), ["/app/a", "/app/b"]);
        assert!(d.get("NextToken").is_some());
        let d = ok(
            &mut st,
            "DescribeParameters",
            json!({"ParameterFilters": [{"Key": "Path", "Option": "Recursive", "Values": ["/app"]}]}),
        );
        assert_eq!(names(&d), ["/app/a", "/app/b", "/app/sub/c"]);
        let del = ok(
            &mut st,
            "DeleteParameters",
            json!({"Names": ["/app/a", "/nope"]}),
        );
        assert_eq!(
            del,
            json!({"DeletedParameters": ["/app/a"], "InvalidParameters": ["/nope"]})
        );
        assert_eq!(
            err(&mut st, "DeleteParameter", json!({"Name": "/app/a"})).code,
            "ParameterNotFound"
        );
    }

    #[test]
    fn tags() {
        let mut st = State::new(1, now());
        ok(
            &mut st,
            "PutParameter",
            json!({"Name": "/t", "Value": "v", "Type": "String", "Tags": [{"Key": "a", "Value": "1"}]}),
        );
        ok(
            &mut st,
            "AddTagsToResource",
            json!({"ResourceType": "Parameter", "ResourceId": "/t", "Tags": [{"Key": "b", "Value": "2"}]}),
        );
        ok(
            &mut st,
            "RemoveTagsFromResource",
            json!({"ResourceType": "Parameter", "ResourceId": "/t", "TagKeys": ["a"]}),
        );
        let l = ok(
            &mut st,
            "ListTagsForResource",
            json!({"ResourceType": "Parameter", "ResourceId": "/t"}),
        );
        assert_eq!(l["TagList"], json!([{"Key": "b", "Value": "2"}]));
        assert_eq!(
            err(
                &mut st,
                "ListTagsForResource",
                json!({"ResourceType": "Parameter", "ResourceId": "/x"})
            )
            .code,
            "InvalidResourceId"
        );
    }
}
