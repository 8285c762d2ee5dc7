//! ListContainerInstances (with a CQL filter), DescribeContainerInstances,
//! UpdateContainerInstancesState, DeregisterContainerInstance, PutAttributes,
//! DeleteAttributes, ListAttributes.

use berth_core::model as m;
use berth_core::placement as pl;
use berth_core::protocol::AwsError;
use serde_json::{Value, json};

use super::{
    Page, Read, Write, active_cluster, active_cluster_mut, check_batch, failure, last_segment, out,
    ts,
};
use crate::state::{ClusterRec, InstanceRec, Key};

fn resources(r: pl::Resources, ports: &pl::Ports) -> Vec<m::Resource> {
    let int = |name: &str, v: u32| m::Resource {
        name: Some(name.into()),
        r#type: Some("INTEGER".into()),
        integer_value: Some(v as i32),
        ..m::Resource::default()
    };
    let set = |name: &str, v: &[u16]| m::Resource {
        name: Some(name.into()),
        r#type: Some("STRINGSET".into()),
        string_set_value: Some(v.iter().map(u16::to_string).collect()),
        ..m::Resource::default()
    };
    vec![
        int("CPU", r.cpu),
        int("MEMORY", r.memory),
        set("PORTS", &ports.tcp),
        set("PORTS_UDP", &ports.udp),
    ]
}

/// The wire form of a container instance.
pub(crate) fn view(_c: &ClusterRec, i: &InstanceRec, with_tags: bool) -> m::ContainerInstance {
    let ci = &i.ci;
    m::ContainerInstance {
        container_instance_arn: Some(ci.container_instance_arn.clone()),
        ec2_instance_id: Some(ci.ec2_instance_id.clone()),
        version: Some(i.version),
        version_info: Some(m::VersionInfo {
            agent_version: Some(ci.agent_version.clone()),
            agent_hash: Some("berth-sim".into()),
            docker_version: Some("DockerVersion: 25.0.0".into()),
        }),
        remaining_resources: Some(resources(ci.remaining_resources, &ci.ports_in_use)),
        registered_resources: Some(resources(ci.registered_resources, &ci.reserved_ports)),
        status: Some(ci.status.as_str().into()),
        agent_connected: Some(ci.agent_connected),
        running_tasks_count: Some(i.running as i32),
        pending_tasks_count: Some(i.pending as i32),
        attributes: Some(
            ci.attributes
                .iter()
                .map(|a| m::Attribute {
                    name: Some(a.name.clone()),
                    value: a.value.clone(),
                    ..m::Attribute::default()
                })
                .collect(),
        ),
        registered_at: chrono::DateTime::from_timestamp(ci.registered_at, 0).map(ts),
        attachments: Some(vec![]),
        tags: with_tags.then(|| i.tags.clone()),
        ..m::ContainerInstance::default()
    }
}

pub(crate) fn list(r: &Read<'_>, req: m::ListContainerInstancesRequest) -> Result<Value, AwsError> {
    let c = active_cluster(r.st, req.cluster.as_deref())?;
    let page = Page::new(
        "ListContainerInstances",
        req.next_token.as_deref(),
        req.max_results,
        100,
        100,
    )?;
    let filter = match req.filter.as_deref() {
        Some(f) if !f.trim().is_empty() => Some(pl::Expression::parse(f).map_err(|e| {
            AwsError::invalid_parameter(format!("Invalid filter expression: {}", e.message()))
        })?),
        _ => None,
    };
    let status = req.status.as_ref().map(|s| s.as_str().to_string());
    let groups: Vec<&pl::TaskInfo> = if filter.is_some() {
        c.tasks.values().filter_map(|t| t.info.as_ref()).collect()
    } else {
        Vec::new()
    };
    let (arns, next) = page.take(
        "ListContainerInstances",
        c.instances
            .iter()
            .filter(|(_, i)| match &status {
                Some(s) => i.ci.status.as_str() == s,
                None => i.ci.status != pl::InstanceStatus::Inactive,
            })
            .filter(|(_, i)| {
                filter.as_ref().is_none_or(|f| {
                    let on: Vec<&pl::TaskInfo> = groups
                        .iter()
                        .copied()
                        .filter(|t| t.container_instance_arn == i.ci.container_instance_arn)
                        .collect();
                    f.matches(&pl::ContainerInstanceFacts {
                        instance: &i.ci,
                        tasks: &on,
                    })
                })
            })
            .map(|(id, i)| (id.clone(), i.ci.container_instance_arn.clone())),
    );
    out(json!({"containerInstanceArns": arns, "nextToken": next}))
}

pub(crate) fn describe(
    r: &Read<'_>,
    req: m::DescribeContainerInstancesRequest,
) -> Result<Value, AwsError> {
    let c = active_cluster(r.st, req.cluster.as_deref())?;
    let wanted = req.container_instances.unwrap_or_default();
    check_batch(
        wanted.len(),
        100,
        "containerInstances",
        "container instances",
    )?;
    let with_tags = req
        .include
        .unwrap_or_default()
        .iter()
        .any(|f| f.as_str() == "TAGS");
    let mut found = Vec::new();
    let mut failures = Vec::new();
    for w in wanted {
        match c.instances.get(last_segment(&w)) {
            Some(i) => found.push(view(c, i, with_tags)),
            None => failures.push(failure(
                r.env.instance_arn(&c.name, last_segment(&w)),
                "MISSING",
            )),
        }
    }
    out(json!({"containerInstances": found, "failures": failures}))
}

pub(crate) fn update_state(
    w: &mut Write<'_>,
    req: m::UpdateContainerInstancesStateRequest,
) -> Result<Value, AwsError> {
    let status = req
        .status
        .as_ref()
        .map(|s| s.as_str().to_string())
        .ok_or_else(|| AwsError::invalid_parameter("status is required."))?;
    let to = match status.as_str() {
        "ACTIVE" => pl::InstanceStatus::Active,
        "DRAINING" => pl::InstanceStatus::Draining,
        other => {
            return Err(AwsError::invalid_parameter(format!(
                "Container instances can only be set to ACTIVE or DRAINING, not {other}."
            )));
        }
    };
    let wanted = req.container_instances.clone().unwrap_or_default();
    check_batch(
        wanted.len(),
        10,
        "containerInstances",
        "container instances",
    )?;
    let c = active_cluster_mut(w.st, req.cluster.as_deref())?;
    let mut done = Vec::new();
    let mut failures = Vec::new();
    for x in wanted {
        let id = last_segment(&x).to_string();
        let Some(i) = c.instances.get_mut(&id) else {
            failures.push(failure(w.env.instance_arn(&c.name, &id), "MISSING"));
            continue;
        };
        if !matches!(
            i.ci.status,
            pl::InstanceStatus::Active | pl::InstanceStatus::Draining
        ) {
            failures.push(failure(i.ci.container_instance_arn.clone(), "INACTIVE"));
            continue;
        }
        if i.ci.status != to {
            i.ci.status = to;
            i.version += 1;
            w.dirty.insert(Key::Instance(c.name.clone(), id.clone()));
        }
        let i = &c.instances[&id];
        done.push(view(c, i, false));
    }
    out(json!({"containerInstances": done, "failures": failures}))
}

pub(crate) fn deregister(
    w: &mut Write<'_>,
    req: m::DeregisterContainerInstanceRequest,
) -> Result<Value, AwsError> {
    let c = active_cluster_mut(w.st, req.cluster.as_deref())?;
    let x = req
        .container_instance
        .clone()
        .ok_or_else(|| AwsError::invalid_parameter("containerInstance is required."))?;
    let id = last_segment(&x).to_string();
    let i = c
        .instances
        .get(&id)
        .filter(|i| i.ci.status != pl::InstanceStatus::Inactive)
        .ok_or_else(|| {
            AwsError::invalid_parameter("The referenced container instance was not found.")
        })?;
    if i.running + i.pending > 0 && !req.force.unwrap_or(false) {
        return Err(AwsError::invalid_parameter(
            "Found running tasks on the instance. Stop them first, or deregister with force.",
        ));
    }
    if let Some(i) = c.instances.get_mut(&id) {
        i.ci.status = pl::InstanceStatus::Inactive;
        i.ci.agent_connected = false;
        i.version += 1;
    }
    w.dirty.insert(Key::Instance(c.name.clone(), id.clone()));
    let v = view(c, &c.instances[&id], false);
    out(json!({"containerInstance": v}))
}

fn target_of<'a>(
    c: &'a mut ClusterRec,
    a: &m::Attribute,
) -> Result<(String, &'a mut InstanceRec), AwsError> {
    if let Some(t) = &a.target_type {
        if t.as_str() != "container-instance" {
            return Err(AwsError::invalid_parameter(
                "targetType must be container-instance.",
            ));
        }
    }
    let target = a
        .target_id
        .as_deref()
        .ok_or_else(|| AwsError::invalid_parameter("Attribute targetId is required."))?;
    let id = last_segment(target).to_string();
    let i = c.instances.get_mut(&id).ok_or_else(|| {
        AwsError::new(
            berth_core::protocol::ErrorCode::TargetNotFoundException,
            format!("Could not find {target}"),
        )
    })?;
    Ok((id, i))
}

fn valid_attribute(a: &m::Attribute) -> Result<(), AwsError> {
    let name = a.name.as_deref().unwrap_or_default();
    let ok_char = |b: u8| b.is_ascii_alphanumeric() || b"-_./@".contains(&b);
    if name.is_empty() || name.len() > 128 || !name.bytes().all(ok_char) {
        return Err(AwsError::invalid_parameter(format!(
            "Invalid attribute name {name:?}."
        )));
    }
    if let Some(v) = &a.value {
        if v.is_empty() || v.len() > 128 {
            return Err(AwsError::invalid_parameter(format!(
                "Invalid attribute value for {name}."
            )));
        }
    }
    Ok(())
}

pub(crate) fn put_attributes(
    w: &mut Write<'_>,
    req: m::PutAttributesRequest,
) -> Result<Value, AwsError> {
    let attrs = req.attributes.clone().unwrap_or_default();
    check_batch(attrs.len(), 10, "attributes", "attributes")?;
    attrs.iter().try_for_each(valid_attribute)?;
    let c = active_cluster_mut(w.st, req.cluster.as_deref())?;
    for a in &attrs {
        target_of(c, a)?;
    }
    let name = c.name.clone();
    for a in &attrs {
        let (id, i) = target_of(c, a)?;
        let n = a.name.clone().unwrap_or_default();
        i.ci = i.ci.clone().with_attribute(&n, a.value.as_deref());
        i.version += 1;
        w.dirty.insert(Key::Instance(name.clone(), id));
    }
    out(json!({"attributes": attrs}))
}

pub(crate) fn delete_attributes(
    w: &mut Write<'_>,
    req: m::DeleteAttributesRequest,
) -> Result<Value, AwsError> {
    let attrs = req.attributes.clone().unwrap_or_default();
    check_batch(attrs.len(), 10, "attributes", "attributes")?;
    let c = active_cluster_mut(w.st, req.cluster.as_deref())?;
    for a in &attrs {
        target_of(c, a)?;
    }
    let name = c.name.clone();
    for a in &attrs {
        let (id, i) = target_of(c, a)?;
        let n = a.name.clone().unwrap_or_default();
        i.ci.attributes.retain(|x| x.name != n);
        i.version += 1;
        w.dirty.insert(Key::Instance(name.clone(), id));
    }
    out(json!({"attributes": attrs}))
}

pub(crate) fn list_attributes(
    r: &Read<'_>,
    req: m::ListAttributesRequest,
) -> Result<Value, AwsError> {
    let c = active_cluster(r.st, req.cluster.as_deref())?;
    match req.target_type.as_ref().map(|t| t.as_str()) {
        Some("container-instance") => {}
        _ => {
            return Err(AwsError::invalid_parameter(
                "targetType is required and must be container-instance.",
            ));
        }
    }
    if req.attribute_value.is_some() && req.attribute_name.is_none() {
        return Err(AwsError::invalid_parameter(
            "attributeValue requires attributeName.",
        ));
    }
    let page = Page::new(
        "ListAttributes",
        req.next_token.as_deref(),
        req.max_results,
        100,
        100,
    )?;
    let (attrs, next) = page.take(
        "ListAttributes",
        c.instances.iter().flat_map(|(id, i)| {
            let arn = i.ci.container_instance_arn.clone();
            let id = id.clone();
            let name = req.attribute_name.clone();
            let value = req.attribute_value.clone();
            i.ci.attributes.iter().filter_map(move |a| {
                if name.as_ref().is_some_and(|n| n != &a.name)
                    || value.is_some() && value != a.value
                {
                    return None;
                }
                Some((
                    format!("{id}\u{0}{}", a.name),
                    m::Attribute {
                        name: Some(a.name.clone()),
                        value: a.value.clone(),
                        target_type: Some(m::TargetType::from("container-instance")),
                        target_id: Some(arn.clone()),
                    },
                ))
            })
        }),
    );
    out(json!({"attributes": attrs, "nextToken": next}))
}
