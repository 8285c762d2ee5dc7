//! RegisterTaskDefinition, DescribeTaskDefinition, ListTaskDefinitions,
//! ListTaskDefinitionFamilies, DeregisterTaskDefinition, DeleteTaskDefinitions.
//!
//! A registration is stored as ECS stores it: validated by `berth_core::validate`, with the
//! members ECS fills in (`berth_core::registered`), `compatibilities`, `requiresAttributes` and
//! the read-only members. Records stored by an older Berth keep the shape they were stored
//! with; nothing here rewrites them on read.

use berth_core::model as m;
use berth_core::protocol::{Arn, AwsError, Resource};
use berth_core::registered::{fill_registered, requires_attributes};
use berth_core::validate::{Options, Severity, validate_task_definition};
use serde_json::{Value, json};

use super::{Answer, Page, Read, Write, check_batch, check_tags, failure, out, ts};
use crate::state::{Key, State, TaskDefRec};

/// Most revisions per family (ECS quota).
const MAX_REVISIONS: usize = 1_000_000;

/// A RegisterTaskDefinition checked and filled in before the state lock is taken: everything
/// but its revision, ARN and registration time.
pub(crate) struct Prepared {
    /// The task definition as ECS stores it, revision and ARN still unset.
    td: m::TaskDefinition,
    family: String,
    tags: Vec<m::Tag>,
}

/// The checks of a registration that do not read the state (ECS's texts through
/// `berth_core::validate`), and the members ECS fills in.
pub(crate) fn prepare(body: &[u8]) -> Result<Prepared, AwsError> {
    let text = std::str::from_utf8(body).map_err(|_| {
        AwsError::new(
            berth_core::protocol::ErrorCode::SerializationException,
            "Request body is not UTF-8.",
        )
    })?;
    // Wrong JSON types are a serialization error on the wire, before ECS's own checks.
    let _: m::RegisterTaskDefinitionRequest = super::input(body)?;
    let report = validate_task_definition(text, &Options::default());
    if let Some(first) = report.with_severity(Severity::Error).next() {
        return Err(AwsError::client(first.message.clone()));
    }
    let mut request = report
        .request
        .clone()
        .ok_or_else(|| AwsError::client("Unable to read the task definition."))?;
    // What ECS stores is the request with the members it fills in (`essential`, `cpu`, the
    // empty lists, host ports …): `berth_core::registered` holds the rules and their evidence.
    fill_registered(&mut request);
    let requires_attributes = requires_attributes(&request);
    let family = request.family.clone().unwrap_or_default();
    let tags = request.tags.clone().unwrap_or_default();
    check_tags(&tags)?;
    let mut v = serde_json::to_value(&request).map_err(|e| AwsError::client(e.to_string()))?;
    if let Some(o) = v.as_object_mut() {
        o.remove("tags");
        o.insert("status".into(), json!("ACTIVE"));
        o.insert("compatibilities".into(), json!(report.compatibilities));
        o.insert("requiresAttributes".into(), json!(requires_attributes));
    }
    let td: m::TaskDefinition =
        serde_json::from_value(v).map_err(|e| AwsError::client(e.to_string()))?;
    Ok(Prepared { td, family, tags })
}

/// Registers a [`prepare`]d task definition as the family's next revision.
pub(crate) fn register(w: &mut Write<'_>, p: Prepared) -> Result<Answer, AwsError> {
    let Prepared {
        mut td,
        family,
        tags,
    } = p;
    let revisions = w.st.families.get(&family).map_or(0, Vec::len);
    if revisions >= MAX_REVISIONS {
        return Err(AwsError::client(
            "Too many revisions of this task definition family.",
        ));
    }
    let revision = (revisions + 1) as u32;
    td.task_definition_arn = Some(w.env.task_definition_arn(&family, revision));
    td.revision = Some(revision as i32);
    td.registered_at = Some(ts(w.now));
    td.registered_by = Some(format!("arn:aws:iam::{}:root", w.env.account));
    let rec = TaskDefRec::new(td.clone(), tags.clone());
    w.st.families.entry(family.clone()).or_default().push(rec);
    w.dirty.insert(Key::TaskDef(family, revision));
    Ok(Answer::TaskDefinition {
        task_definition: Box::new(td),
        tags,
    })
}

/// Finds a task definition by `family` (latest ACTIVE), `family:revision` or ARN.
pub(crate) fn resolve<'a>(st: &'a State, reference: &str) -> Option<&'a TaskDefRec> {
    let (family, revision) = parse_reference(reference)?;
    let revs = st.families.get(&family)?;
    match revision {
        Some(r) => revs.get((r as usize).checked_sub(1)?),
        None => revs
            .iter()
            .rev()
            .find(|t| t.td.status.as_ref().is_some_and(|s| s.as_str() == "ACTIVE")),
    }
}

/// `(family, revision)` of a reference; `None` when it is not one.
pub(crate) fn parse_reference(reference: &str) -> Option<(String, Option<u32>)> {
    if reference.starts_with("arn:") {
        return match Arn::parse(reference).ok()?.resource {
            Resource::TaskDefinition { family, revision } => Some((family, Some(revision))),
            _ => None,
        };
    }
    match reference.rsplit_once(':') {
        Some((f, r)) => Some((f.to_string(), Some(r.parse().ok()?))),
        None => Some((reference.to_string(), None)),
    }
}

/// ECS's answers to a `taskDefinition` reference that cannot name a revision, before looking it
/// up (CreateService / UpdateService); the texts and their sources are berth-core's
/// [`berth_core::validate::ReferenceFault`].
pub(crate) fn check_reference(reference: &str) -> Result<(), AwsError> {
    use berth_core::validate::{ReferenceFault, reference_fault};
    match reference_fault(reference) {
        None => Ok(()),
        Some(f @ ReferenceFault::InvalidRevision) => Err(AwsError::invalid_parameter(f.message())),
        Some(f @ ReferenceFault::FamilyInvalid) => Err(AwsError::client(f.message())),
    }
}

fn status(t: &TaskDefRec) -> &str {
    t.td.status.as_ref().map_or("ACTIVE", |s| s.as_str())
}

pub(crate) fn describe(
    r: &Read<'_>,
    req: m::DescribeTaskDefinitionRequest,
) -> Result<Value, AwsError> {
    let reference = req
        .task_definition
        .ok_or_else(|| AwsError::client("taskDefinition is required."))?;
    let t = resolve(r.st, &reference)
        .ok_or_else(|| AwsError::client("Unable to describe task definition."))?;
    let with_tags = req
        .include
        .unwrap_or_default()
        .iter()
        .any(|f| f.as_str() == "TAGS");
    let mut v = json!({"taskDefinition": t.td});
    if with_tags {
        v["tags"] = json!(t.tags);
    }
    out(v)
}

pub(crate) fn list(r: &Read<'_>, req: m::ListTaskDefinitionsRequest) -> Result<Value, AwsError> {
    let page = Page::new(
        "ListTaskDefinitions",
        req.next_token.as_deref(),
        req.max_results,
        100,
        100,
    )?;
    let want = req
        .status
        .as_ref()
        .map_or("ACTIVE", |s| s.as_str())
        .to_string();
    let desc = req.sort.as_ref().is_some_and(|s| s.as_str() == "DESC");
    // `familyPrefix` is the full family name despite its name (ECS API reference).
    let family = req.family_prefix;
    let families: Box<dyn Iterator<Item = (&String, &Vec<TaskDefRec>)>> = match &family {
        Some(f) => Box::new(r.st.families.get_key_value(f).into_iter()),
        None => Box::new(r.st.families.iter()),
    };
    let mut items: Vec<(String, String)> = Vec::new();
    for (name, revs) in families {
        for t in revs.iter().filter(|t| status(t) == want) {
            let rev = t.td.revision.unwrap_or_default();
            items.push((
                format!("{name}\u{0}{rev:010}"),
                t.td.task_definition_arn.clone().unwrap_or_default(),
            ));
        }
    }
    items.sort();
    let (arns, next) = if desc {
        page.take_desc("ListTaskDefinitions", items.into_iter().rev())
    } else {
        page.take("ListTaskDefinitions", items.into_iter())
    };
    out(json!({"taskDefinitionArns": arns, "nextToken": next}))
}

pub(crate) fn list_families(
    r: &Read<'_>,
    req: m::ListTaskDefinitionFamiliesRequest,
) -> Result<Value, AwsError> {
    let page = Page::new(
        "ListTaskDefinitionFamilies",
        req.next_token.as_deref(),
        req.max_results,
        100,
        100,
    )?;
    let want = req
        .status
        .as_ref()
        .map_or("ACTIVE", |s| s.as_str())
        .to_string();
    let prefix = req.family_prefix.unwrap_or_default();
    let (families, next) = page.take(
        "ListTaskDefinitionFamilies",
        r.st.families
            .iter()
            .filter(|(f, _)| f.starts_with(&prefix))
            .filter(|(_, revs)| {
                let active = revs.iter().any(|t| status(t) == "ACTIVE");
                match want.as_str() {
                    "ALL" => true,
                    "INACTIVE" => !active,
                    _ => active,
                }
            })
            .map(|(f, _)| (f.clone(), f.clone())),
    );
    out(json!({"families": families, "nextToken": next}))
}

pub(crate) fn deregister(
    w: &mut Write<'_>,
    req: m::DeregisterTaskDefinitionRequest,
) -> Result<Value, AwsError> {
    let reference = req
        .task_definition
        .ok_or_else(|| AwsError::client("taskDefinition is required."))?;
    let Some((family, Some(revision))) = parse_reference(&reference) else {
        return Err(AwsError::client(
            "Invalid revision number. Specify the task definition as family:revision or its full ARN.",
        ));
    };
    let t =
        w.st.families
            .get_mut(&family)
            .and_then(|v| v.get_mut((revision as usize).checked_sub(1)?))
            .ok_or_else(|| AwsError::client("The specified task definition does not exist."))?;
    if status(t) == "ACTIVE" {
        t.td.status = Some(m::TaskDefinitionStatus::from("INACTIVE"));
        t.td.deregistered_at = Some(ts(w.now));
        w.dirty.insert(Key::TaskDef(family, revision));
    }
    out(json!({"taskDefinition": t.td}))
}

pub(crate) fn delete(
    w: &mut Write<'_>,
    req: m::DeleteTaskDefinitionsRequest,
) -> Result<Value, AwsError> {
    let refs = req.task_definitions.unwrap_or_default();
    check_batch(refs.len(), 10, "taskDefinitions", "task definitions")?;
    let mut done = Vec::new();
    let mut failures = Vec::new();
    for reference in refs {
        let Some((family, Some(revision))) = parse_reference(&reference) else {
            failures.push(failure(reference, "The specified task definition identifier is invalid. Specify a family:revision or an ARN."));
            continue;
        };
        let arn = w.env.task_definition_arn(&family, revision);
        let Some(t) =
            w.st.families
                .get_mut(&family)
                .and_then(|v| v.get_mut((revision as usize).checked_sub(1)?))
        else {
            failures.push(failure(arn, "The specified task definition does not exist. Specify a valid account, family, revision and try again."));
            continue;
        };
        match status(t) {
            "ACTIVE" => failures.push(failure(arn, "The specified task definition is still in ACTIVE status. Please deregister the target and try again.")),
            _ => {
                if status(t) == "INACTIVE" {
                    t.td.status = Some(m::TaskDefinitionStatus::from("DELETE_IN_PROGRESS"));
                    t.td.delete_requested_at = Some(ts(w.now));
                    w.dirty.insert(Key::TaskDef(family, revision));
                }
                done.push(t.td.clone());
            }
        }
    }
    out(json!({"taskDefinitions": done, "failures": failures}))
}
