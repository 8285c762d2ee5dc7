//! TagResource, UntagResource, ListTagsForResource on clusters, services, tasks, task
//! definitions, container instances and Auto Scaling group capacity providers.

use berth_core::model as m;
use berth_core::protocol::{Arn, AwsError, ErrorCode, Resource};
use serde_json::{Value, json};

use super::{Read, Write, check_tags, merge_tags, out};
use crate::state::{Key, State};

fn not_found(arn: &str) -> AwsError {
    AwsError::new(
        ErrorCode::InvalidParameterException,
        format!("The specified resource {arn} could not be found."),
    )
}

fn parse(arn: Option<&str>) -> Result<(String, Resource), AwsError> {
    let arn = arn.ok_or_else(|| AwsError::invalid_parameter("resourceArn is required."))?;
    let parsed = Arn::parse(arn).map_err(|e| AwsError::invalid_parameter(e.to_string()))?;
    Ok((arn.to_string(), parsed.resource))
}

/// The tags of a resource, mutably, and its store key.
fn tags_mut<'a>(
    st: &'a mut State,
    arn: &str,
    r: &Resource,
) -> Result<(&'a mut Vec<m::Tag>, Key), AwsError> {
    let nf = || not_found(arn);
    Ok(match r {
        Resource::Cluster { name } => {
            let c = st
                .clusters
                .get_mut(name)
                .filter(|c| c.status == "ACTIVE")
                .ok_or_else(nf)?;
            (&mut c.tags, Key::Cluster(name.clone()))
        }
        Resource::Service { cluster, name } => {
            let s = st
                .clusters
                .get_mut(cluster)
                .and_then(|c| c.services.get_mut(name))
                .ok_or_else(nf)?;
            let tags = s.service.tags.get_or_insert_with(Vec::new);
            (tags, Key::Service(cluster.clone(), name.clone()))
        }
        Resource::Task { cluster, id } => {
            let t = st
                .clusters
                .get_mut(cluster)
                .and_then(|c| c.tasks.get_mut(id).map(std::sync::Arc::make_mut))
                .ok_or_else(nf)?;
            (
                t.task.tags.get_or_insert_with(Vec::new),
                Key::Task(cluster.clone(), id.clone()),
            )
        }
        Resource::ContainerInstance { cluster, id } => {
            let i = st
                .clusters
                .get_mut(cluster)
                .and_then(|c| c.instances.get_mut(id))
                .ok_or_else(nf)?;
            (&mut i.tags, Key::Instance(cluster.clone(), id.clone()))
        }
        Resource::TaskDefinition { family, revision } => {
            let t = st
                .families
                .get_mut(family)
                .and_then(|v| v.get_mut((*revision as usize).checked_sub(1)?))
                .ok_or_else(nf)?;
            (&mut t.tags, Key::TaskDef(family.clone(), *revision))
        }
        Resource::CapacityProvider { name } => {
            let p = st
                .capacity_providers
                .get_mut(name)
                .filter(|p| p.provider.status.as_ref().map(|s| s.as_str()) == Some("ACTIVE"))
                .ok_or_else(nf)?;
            let tags = p.provider.tags.get_or_insert_with(Vec::new);
            (tags, Key::CapacityProvider(name.clone()))
        }
        Resource::TaskSet {
            cluster,
            service,
            id,
        } => {
            let set = st
                .clusters
                .get_mut(cluster)
                .and_then(|c| c.services.get_mut(service))
                .and_then(|s| s.task_sets.iter_mut().find(|t| t.id.as_ref() == Some(id)))
                .ok_or_else(nf)?;
            let tags = set.tags.get_or_insert_with(Vec::new);
            (tags, Key::Service(cluster.clone(), service.clone()))
        }
        _ => {
            return Err(AwsError::invalid_parameter(format!(
                "Tagging is not supported for {arn}."
            )));
        }
    })
}

pub(crate) fn tag(w: &mut Write<'_>, req: m::TagResourceRequest) -> Result<Value, AwsError> {
    let (arn, r) = parse(req.resource_arn.as_deref())?;
    let add = req.tags.unwrap_or_default();
    check_tags(&add)?;
    let (tags, key) = tags_mut(w.st, &arn, &r)?;
    let mut merged = tags.clone();
    merge_tags(&mut merged, &add);
    check_tags(&merged)?;
    *tags = merged;
    w.dirty.insert(key);
    out(json!({}))
}

pub(crate) fn untag(w: &mut Write<'_>, req: m::UntagResourceRequest) -> Result<Value, AwsError> {
    let (arn, r) = parse(req.resource_arn.as_deref())?;
    let keys = req.tag_keys.unwrap_or_default();
    let (tags, key) = tags_mut(w.st, &arn, &r)?;
    tags.retain(|t| !t.key.as_ref().is_some_and(|k| keys.contains(k)));
    w.dirty.insert(key);
    out(json!({}))
}

pub(crate) fn list(r: &Read<'_>, req: m::ListTagsForResourceRequest) -> Result<Value, AwsError> {
    let (arn, res) = parse(req.resource_arn.as_deref())?;
    // Reuse the mutable lookup on a cheap clone-free path: look up read-only here.
    let st = r.st;
    let nf = || not_found(&arn);
    let tags: Vec<m::Tag> = match &res {
        Resource::Cluster { name } => st
            .clusters
            .get(name)
            .filter(|c| c.status == "ACTIVE")
            .ok_or_else(nf)?
            .tags
            .clone(),
        Resource::Service { cluster, name } => st
            .clusters
            .get(cluster)
            .and_then(|c| c.services.get(name))
            .ok_or_else(nf)?
            .service
            .tags
            .clone()
            .unwrap_or_default(),
        Resource::Task { cluster, id } => st
            .clusters
            .get(cluster)
            .and_then(|c| c.tasks.get(id))
            .ok_or_else(nf)?
            .task
            .tags
            .clone()
            .unwrap_or_default(),
        Resource::ContainerInstance { cluster, id } => st
            .clusters
            .get(cluster)
            .and_then(|c| c.instances.get(id))
            .ok_or_else(nf)?
            .tags
            .clone(),
        Resource::TaskDefinition { family, revision } => st
            .families
            .get(family)
            .and_then(|v| v.get((*revision as usize).checked_sub(1)?))
            .ok_or_else(nf)?
            .tags
            .clone(),
        // FARGATE and FARGATE_SPOT have no tags of their own here.
        Resource::CapacityProvider { name } if super::providers::is_fargate(name) => Vec::new(),
        Resource::CapacityProvider { name } => st
            .capacity_providers
            .get(name)
            .filter(|p| p.provider.status.as_ref().map(|s| s.as_str()) == Some("ACTIVE"))
            .ok_or_else(nf)?
            .provider
            .tags
            .clone()
            .unwrap_or_default(),
        Resource::TaskSet {
            cluster,
            service,
            id,
        } => st
            .clusters
            .get(cluster)
            .and_then(|c| c.services.get(service))
            .and_then(|s| s.task_sets.iter().find(|t| t.id.as_ref() == Some(id)))
            .ok_or_else(nf)?
            .tags
            .clone()
            .unwrap_or_default(),
        _ => {
            return Err(AwsError::invalid_parameter(format!(
                "Tagging is not supported for {arn}."
            )));
        }
    };
    out(json!({"tags": tags}))
}
