//! CreateTaskSet, UpdateTaskSet, DeleteTaskSet, UpdateServicePrimaryTaskSet and
//! DescribeTaskSets: the task sets of a service with the `EXTERNAL` deployment controller, and
//! the one ECS makes for a `CODE_DEPLOY` service ([`initial`]). The records live on the service
//! ([`crate::state::ServiceRec::task_sets`]).
//!
//! Not here: keeping each set at its computed desired count, its counts and its stability
//! (the reconciler's, `reconciler::task_sets`, with [`berth_core::task_sets`]); CodeDeploy
//! itself (nothing shifts traffic or replaces a CODE_DEPLOY service's set: that is CodeDeploy's
//! job, which the local cluster does not run).

use berth_core::model as m;
use berth_core::protocol::{Arn, AwsError, ErrorCode, Resource};
use berth_core::task_sets as tset;
use serde_json::{Value, json};

use super::taskdefs::resolve;
use super::tasks::{Launch, check_fargate_placement, check_launch, choose_launch, recorded_launch};
use super::{Read, Write, active_cluster, check_batch, check_tags, failure, last_segment, out, ts};
use crate::state::{ClusterRec, Env, Key, ServiceRec, TaskDefRec};

/// ECS's text when a task-set call names a service whose controller is not `EXTERNAL`
/// (hashicorp/terraform-provider-aws#30347; also for CODE_DEPLOY services, whose task sets
/// CodeDeploy makes: inferred, the text names external controllers only).
pub(crate) const NOT_EXTERNAL: &str = "Amazon ECS only supports task set management on services configured to use external deployment controllers.";

/// Task sets per service (ECS's limit, not in its quota tables: aws-samples/ecs-bg-external-controller#6).
const MAX_TASK_SETS: usize = 5;

/// ECS's text for a `taskSet` that is neither a task set id nor a task set ARN (boto/boto3#3895).
const INVALID_ID: &str = "Task Set Identifier is invalid";

/// The ARN of a task set.
pub(crate) fn arn(env: &Env, cluster: &str, service: &str, id: &str) -> String {
    env.arn(Resource::TaskSet {
        cluster: cluster.into(),
        service: service.into(),
        id: id.into(),
    })
}

/// A task set's id from a `taskSet` parameter: `ecs-svc/<digits>` or a task set ARN, else
/// ECS's "invalid identifier" error.
fn set_id(param: &str) -> Result<String, AwsError> {
    let id = if param.starts_with("arn:") {
        match Arn::parse(param) {
            Ok(Arn {
                resource: Resource::TaskSet { id, .. },
                ..
            }) => id,
            _ => return Err(AwsError::invalid_parameter(INVALID_ID)),
        }
    } else {
        param.to_string()
    };
    let digits = id.strip_prefix("ecs-svc/").unwrap_or_default();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AwsError::invalid_parameter(INVALID_ID));
    }
    Ok(id)
}

/// The wire form of a task set (tags only when asked for).
fn view(set: &m::TaskSet, with_tags: bool) -> m::TaskSet {
    let mut v = set.clone();
    if !with_tags {
        v.tags = None;
    }
    v
}

/// The ACTIVE cluster and service a task-set call names, checked as ECS checks them: the
/// cluster and service members are required, the service must exist, be ACTIVE and (unless
/// `describe`, which also answers for `CODE_DEPLOY`) use the `EXTERNAL` controller.
fn service_of<'a>(
    st: &'a crate::state::State,
    cluster: Option<&str>,
    service: Option<&str>,
    describe: bool,
) -> Result<(&'a ClusterRec, &'a ServiceRec), AwsError> {
    let cluster = cluster
        .filter(|c| !c.is_empty())
        .ok_or_else(|| AwsError::invalid_parameter("cluster can not be blank."))?;
    let service = service
        .filter(|s| !s.is_empty())
        .ok_or_else(|| AwsError::invalid_parameter("service can not be blank."))?;
    let c = active_cluster(st, Some(cluster))?;
    let rec = c
        .services
        .get(last_segment(service))
        .ok_or_else(AwsError::service_not_found)?;
    if rec.service.status.as_deref() != Some("ACTIVE") {
        return Err(AwsError::new(
            ErrorCode::ServiceNotActiveException,
            "Service was not ACTIVE.",
        ));
    }
    let allowed = rec.controller() == "EXTERNAL" || (describe && rec.uses_task_sets());
    if !allowed {
        return Err(AwsError::invalid_parameter(NOT_EXTERNAL));
    }
    Ok((c, rec))
}

/// The mutable service record, after [`service_of`] checked it.
fn service_mut<'a>(w: &'a mut Write<'_>, cluster: &str, service: &str) -> &'a mut ServiceRec {
    w.st.clusters
        .get_mut(cluster)
        .and_then(|c| c.services.get_mut(service))
        .expect("checked by service_of")
}

/// The index of the task set a `taskSet` parameter names, or `TaskSetNotFoundException` (ECS's
/// wire text for it is not public; moto's is used).
fn find(rec: &ServiceRec, param: Option<&str>) -> Result<usize, AwsError> {
    let param = param
        .filter(|p| !p.is_empty())
        .ok_or_else(|| AwsError::invalid_parameter("taskSet can not be blank."))?;
    let id = set_id(param)?;
    rec.task_sets
        .iter()
        .position(|s| s.id.as_deref() == Some(id.as_str()))
        .ok_or_else(|| {
            AwsError::new(
                ErrorCode::TaskSetNotFoundException,
                "The specified task set does not exist.",
            )
        })
}

/// The cluster and service names of a task-set call on an EXTERNAL service ([`service_of`]), and
/// the index of the task set it names ([`find`]).
fn located(
    w: &Write<'_>,
    cluster: &Option<String>,
    service: &Option<String>,
    task_set: &Option<String>,
) -> Result<(String, String, usize), AwsError> {
    let (c, rec) = service_of(w.st, cluster.as_deref(), service.as_deref(), false)?;
    let i = find(rec, task_set.as_deref())?;
    Ok((
        c.name.clone(),
        rec.service.service_name.clone().unwrap_or_default(),
        i,
    ))
}

/// A `scale`: a number of percent between 0 and 100 (`unit` PERCENT, the only one).
fn check_scale(scale: &m::Scale) -> Result<f64, AwsError> {
    if let Some(u) = &scale.unit {
        if u.as_str() != "PERCENT" {
            return Err(AwsError::invalid_parameter(format!(
                "Invalid scale unit {}; the only unit is PERCENT.",
                u.as_str()
            )));
        }
    }
    let value = scale.value.unwrap_or(0.0);
    if !(0.0..=tset::MAX_SCALE_PERCENT).contains(&value) {
        return Err(AwsError::invalid_parameter(
            "Scale value must be between 0 and 100 percent.",
        ));
    }
    Ok(value)
}

/// A `scale` of `value` percent.
fn percent(value: f64) -> m::Scale {
    m::Scale {
        value: Some(value),
        unit: Some(m::ScaleUnit::from("PERCENT")),
    }
}

/// Marks a set STABILIZING from `now`.
fn stabilizing(set: &mut m::TaskSet, now: chrono::DateTime<chrono::Utc>) {
    set.stability_status = Some(m::StabilityStatus::from("STABILIZING"));
    set.stability_status_at = Some(ts(now));
}

fn scale_of(set: &m::TaskSet) -> f64 {
    set.scale.as_ref().and_then(|s| s.value).unwrap_or(0.0)
}

/// A new task set record (STABILIZING, counts zero; the reconciler takes it from there).
#[allow(clippy::too_many_arguments)]
fn new_set(
    env: &Env,
    cluster: &str,
    rec: &ServiceRec,
    id: String,
    td: &TaskDefRec,
    launch: &Launch,
    req: NewSet,
    now: chrono::DateTime<chrono::Utc>,
) -> m::TaskSet {
    let service = rec.service.service_name.clone().unwrap_or_default();
    let desired = rec.deploy.spec.desired_count;
    let fargate = matches!(launch, Launch::Fargate(_));
    m::TaskSet {
        task_set_arn: Some(arn(env, cluster, &service, &id)),
        id: Some(id),
        service_arn: rec.service.service_arn.clone(),
        cluster_arn: rec.service.cluster_arn.clone(),
        started_by: req.started_by,
        external_id: req.external_id,
        status: Some(req.status.as_str().into()),
        task_definition: td.td.task_definition_arn.clone(),
        computed_desired_count: Some(tset::computed_desired_count(desired, req.scale) as i32),
        pending_count: Some(0),
        running_count: Some(0),
        created_at: Some(ts(now)),
        updated_at: Some(ts(now)),
        launch_type: req.launch_type,
        capacity_provider_strategy: req.capacity_provider_strategy,
        // ECS answers the version it resolved LATEST to (a real DescribeServices, dev.to/t-kikuc).
        platform_version: fargate.then(|| match req.platform_version.as_deref() {
            None | Some("LATEST") => "1.4.0".to_string(),
            Some(v) => v.to_string(),
        }),
        platform_family: fargate.then(|| "Linux".into()),
        network_configuration: req.network_configuration,
        load_balancers: Some(req.load_balancers),
        service_registries: Some(req.service_registries),
        scale: Some(percent(req.scale)),
        stability_status: Some(m::StabilityStatus::from("STABILIZING")),
        stability_status_at: Some(ts(now)),
        tags: Some(req.tags),
        ..m::TaskSet::default()
    }
}

/// What a new task set is made of besides its service, id and task definition.
struct NewSet {
    status: tset::TaskSetStatus,
    scale: f64,
    started_by: Option<String>,
    external_id: Option<String>,
    launch_type: Option<m::LaunchType>,
    capacity_provider_strategy: Option<Vec<m::CapacityProviderStrategyItem>>,
    platform_version: Option<String>,
    network_configuration: Option<m::NetworkConfiguration>,
    load_balancers: Vec<m::LoadBalancer>,
    service_registries: Vec<m::ServiceRegistry>,
    tags: Vec<m::Tag>,
}

/// The PRIMARY task set ECS makes for a new `CODE_DEPLOY` service from its own task
/// definition, launch and network configuration, at 100 percent.
pub(crate) fn initial(
    env: &Env,
    cluster: &str,
    rec: &ServiceRec,
    id: String,
    td: &TaskDefRec,
    launch: &Launch,
    now: chrono::DateTime<chrono::Utc>,
) -> m::TaskSet {
    let s = &rec.service;
    new_set(
        env,
        cluster,
        rec,
        id,
        td,
        launch,
        NewSet {
            status: tset::TaskSetStatus::Primary,
            scale: 100.0,
            started_by: None,
            external_id: None,
            launch_type: s.launch_type.clone(),
            capacity_provider_strategy: s.capacity_provider_strategy.clone(),
            platform_version: s.platform_version.clone(),
            network_configuration: s.network_configuration.clone(),
            load_balancers: s.load_balancers.clone().unwrap_or_default(),
            service_registries: s.service_registries.clone().unwrap_or_default(),
            tags: Vec::new(),
        },
        now,
    )
}

/// Sets a set's computed desired count for the service's `desired` count and its scale; a set
/// whose count changes is STABILIZING again.
fn recount(set: &mut m::TaskSet, desired: u32, now: chrono::DateTime<chrono::Utc>) {
    let count = tset::computed_desired_count(desired, scale_of(set)) as i32;
    if set.computed_desired_count != Some(count) {
        set.computed_desired_count = Some(count);
        set.updated_at = Some(ts(now));
        stabilizing(set, now);
    }
}

/// Sets every task set's computed desired count from the service's desired count (UpdateService
/// and Application Auto Scaling change it).
pub(crate) fn rescale(rec: &mut ServiceRec, now: chrono::DateTime<chrono::Utc>) {
    let desired = rec.deploy.spec.desired_count;
    for set in &mut rec.task_sets {
        if set.status.as_deref() != Some("DRAINING") {
            recount(set, desired, now);
        }
    }
}

/// The service members that follow its PRIMARY task set ("any parameters that are updated on
/// the primary task set in a service will transition to the service").
pub(crate) fn follow_primary(rec: &mut ServiceRec) {
    let Some(p) = rec
        .task_sets
        .iter()
        .find(|s| s.status.as_deref() == Some("PRIMARY"))
        .cloned()
    else {
        return;
    };
    let s = &mut rec.service;
    s.task_definition = p.task_definition;
    s.launch_type = p.launch_type;
    s.capacity_provider_strategy = p.capacity_provider_strategy;
    s.platform_version = p.platform_version;
    s.platform_family = p.platform_family;
    s.network_configuration = p.network_configuration;
    s.load_balancers = p.load_balancers;
    s.service_registries = p.service_registries;
}

pub(crate) fn create(w: &mut Write<'_>, req: m::CreateTaskSetRequest) -> Result<Value, AwsError> {
    let (c, rec) = service_of(w.st, req.cluster.as_deref(), req.service.as_deref(), false)?;
    let (cluster, service) = (
        c.name.clone(),
        rec.service.service_name.clone().unwrap_or_default(),
    );
    let reference = req
        .task_definition
        .clone()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| AwsError::invalid_parameter("taskDefinition can not be blank."))?;
    super::taskdefs::check_reference(&reference)?;
    let td = resolve(w.st, &reference)
        .ok_or_else(|| AwsError::client("TaskDefinition not found."))?
        .clone();
    super::check_host_access(w.env, &td)?;
    // Without `scale` a set wants no task: the AWS CLI's create-task-set example (no --scale)
    // answers `scale` 0.0 and `computedDesiredCount` 0.
    let scale = match &req.scale {
        Some(s) => check_scale(s)?,
        None => 0.0,
    };
    let tags = req.tags.clone().unwrap_or_default();
    check_tags(&tags)?;
    if rec.task_sets.len() >= MAX_TASK_SETS {
        return Err(AwsError::invalid_parameter(format!(
            "{MAX_TASK_SETS} deployments exist on the service. Unable to create new TaskSet since this exceeds the maximum limit."
        )));
    }
    let random = w.st.random(w.dirty);
    let (c, rec) = service_of(w.st, Some(&cluster), Some(&service), false)?;
    let launch = choose_launch(
        c,
        req.launch_type.as_ref(),
        req.capacity_provider_strategy.as_deref(),
        random,
    )?;
    check_launch(&td, &launch, req.network_configuration.as_ref())?;
    check_fargate_placement(&launch, rec.service.placement_constraints.as_ref())?;
    if req.platform_version.is_some() && !matches!(launch, Launch::Fargate(_)) {
        return Err(AwsError::invalid_parameter(
            "The platform version must be null when specifying an EC2 launch type.",
        ));
    }
    let id = super::services::new_deployment_id(w.st, w.now);
    w.dirty.insert(Key::Meta);
    let c = &w.st.clusters[&cluster];
    let rec = &c.services[&service];
    let (launch_type, strategy) = recorded_launch(
        c,
        &launch,
        req.launch_type.as_ref(),
        req.capacity_provider_strategy.as_deref(),
    );
    let set = new_set(
        w.env,
        &cluster,
        rec,
        id,
        &td,
        &launch,
        NewSet {
            status: tset::TaskSetStatus::Active,
            scale,
            started_by: None,
            external_id: req.external_id.clone(),
            launch_type,
            capacity_provider_strategy: strategy,
            platform_version: req.platform_version.clone(),
            network_configuration: req.network_configuration.clone(),
            load_balancers: req.load_balancers.clone().unwrap_or_default(),
            service_registries: req.service_registries.clone().unwrap_or_default(),
            tags,
        },
        w.now,
    );
    let rec = service_mut(w, &cluster, &service);
    rec.task_sets.push(set.clone());
    w.dirty.insert(Key::Service(cluster, service));
    out(json!({"taskSet": view(&set, true)}))
}

pub(crate) fn update(w: &mut Write<'_>, req: m::UpdateTaskSetRequest) -> Result<Value, AwsError> {
    let (cluster, service, i) = located(w, &req.cluster, &req.service, &req.task_set)?;
    let rec = &w.st.clusters[&cluster].services[&service];
    let scale = req
        .scale
        .as_ref()
        .ok_or_else(|| AwsError::invalid_parameter("scale can not be blank."))?;
    let value = check_scale(scale)?;
    if rec.task_sets[i].status.as_deref() == Some("DRAINING") {
        return Err(AwsError::invalid_parameter(
            "The specified task set is DRAINING and can not be updated.",
        ));
    }
    let now = w.now;
    let rec = service_mut(w, &cluster, &service);
    let desired = rec.deploy.spec.desired_count;
    let set = &mut rec.task_sets[i];
    set.scale = Some(percent(value));
    recount(set, desired, now);
    set.updated_at = Some(ts(now));
    let v = view(set, true);
    w.dirty.insert(Key::Service(cluster, service));
    out(json!({"taskSet": v}))
}

pub(crate) fn delete(w: &mut Write<'_>, req: m::DeleteTaskSetRequest) -> Result<Value, AwsError> {
    let (cluster, service, i) = located(w, &req.cluster, &req.service, &req.task_set)?;
    let rec = &w.st.clusters[&cluster].services[&service];
    let set = &rec.task_sets[i];
    if set.status.as_deref() == Some("DRAINING") {
        return Err(AwsError::invalid_parameter(
            "The specified task set is already being deleted.",
        ));
    }
    // Only the PRIMARY set needs `force` (ECS's text: dev.to/t-kikuc; the AWS sample
    // aws-samples/ecs-bg-external-controller deletes a scaled ACTIVE set without it).
    if set.status.as_deref() == Some("PRIMARY") && !req.force.unwrap_or(false) {
        return Err(AwsError::invalid_parameter(
            "Primary TaskSet cannot be deleted",
        ));
    }
    let now = w.now;
    let rec = service_mut(w, &cluster, &service);
    let set = &mut rec.task_sets[i];
    set.status = Some("DRAINING".into());
    set.computed_desired_count = Some(0);
    set.scale = Some(percent(0.0));
    stabilizing(set, now);
    set.updated_at = Some(ts(now));
    let v = view(set, true);
    w.dirty.insert(Key::Service(cluster, service));
    out(json!({"taskSet": v}))
}

pub(crate) fn update_primary(
    w: &mut Write<'_>,
    req: m::UpdateServicePrimaryTaskSetRequest,
) -> Result<Value, AwsError> {
    let (cluster, service, i) = located(w, &req.cluster, &req.service, &req.primary_task_set)?;
    let rec = &w.st.clusters[&cluster].services[&service];
    if rec.task_sets[i].status.as_deref() == Some("DRAINING") {
        return Err(AwsError::invalid_parameter(
            "The specified task set is DRAINING and can not be made primary.",
        ));
    }
    let now = w.now;
    let rec = service_mut(w, &cluster, &service);
    for (k, set) in rec.task_sets.iter_mut().enumerate() {
        let was = set.status.clone();
        if k == i {
            set.status = Some("PRIMARY".into());
        } else if was.as_deref() == Some("PRIMARY") {
            set.status = Some("ACTIVE".into());
        }
        if set.status != was {
            set.updated_at = Some(ts(now));
        }
    }
    follow_primary(rec);
    let v = view(&rec.task_sets[i], true);
    w.dirty.insert(Key::Service(cluster, service));
    out(json!({"taskSet": v}))
}

pub(crate) fn describe(r: &Read<'_>, req: m::DescribeTaskSetsRequest) -> Result<Value, AwsError> {
    let (c, rec) = service_of(r.st, req.cluster.as_deref(), req.service.as_deref(), true)?;
    let with_tags = req.include.iter().flatten().any(|f| f.as_str() == "TAGS");
    let service = rec.service.service_name.clone().unwrap_or_default();
    // ECS refuses a request without ids although its documentation says all are described
    // (aws/aws-cli#5380).
    let wanted = req
        .task_sets
        .as_ref()
        .filter(|w| !w.is_empty())
        .ok_or_else(|| AwsError::invalid_parameter("TaskSets cannot be empty."))?;
    check_batch(wanted.len(), 100, "taskSets", "task sets")?;
    let mut sets = Vec::new();
    let mut failures = Vec::new();
    for p in wanted {
        let id = set_id(p)?;
        match rec.task_sets.iter().find(|s| s.id.as_deref() == Some(&id)) {
            Some(s) => sets.push(view(s, with_tags)),
            None => failures.push(failure(
                if p.starts_with("arn:") {
                    p.clone()
                } else {
                    arn(r.env, &c.name, &service, &id)
                },
                "MISSING",
            )),
        }
    }
    out(json!({"taskSets": sets, "failures": failures}))
}
