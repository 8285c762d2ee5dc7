//! CreateService, UpdateService, DeleteService, DescribeServices, ListServices,
//! ListServiceDeployments, DescribeServiceDeployments, DescribeServiceRevisions,
//! StopServiceDeployment. The per-service step that carries deployments out is the
//! reconciler's (`reconciler::services`).

use berth_core::deploy as dp;
use berth_core::model as m;
use berth_core::placement as pl;
use berth_core::protocol::{Arn, AwsError, ErrorCode, Resource};
use serde_json::{Value, json};

use super::taskdefs::resolve;
use super::tasks::{
    Launch, check_fargate_placement, check_launch, check_strategy, choose_launch, placement_inputs,
    recorded_launch,
};
use super::{
    Page, Read, Write, active_cluster, active_cluster_mut, check_batch, check_tags, failure,
    last_segment, out, ts, valid_name,
};
use crate::state::{ClusterRec, Env, Key, ServiceRec, State, TaskDefRec};

/// Ids for [`dp::step`], drawn from the stored random source.
pub(crate) struct Ids<'a> {
    pub(crate) st: &'a mut pl::SplitMix64,
    /// When the ids are made (task ids carry it: [`crate::state::task_id`]).
    pub(crate) at: chrono::DateTime<chrono::Utc>,
}

impl dp::IdSource for Ids<'_> {
    fn task_id(&mut self) -> String {
        crate::state::task_id(self.st, self.at)
    }
    fn deployment_id(&mut self) -> String {
        format!(
            "ecs-svc/{:019}",
            self.st.next_u64() % 10_000_000_000_000_000_000
        )
    }
}

/// ECS's answer to placement strategies on a DAEMON service (`berth validate`'s
/// `daemon-placement-strategy`).
const DAEMON_PLACEMENT_STRATEGY: &str = "The daemon scheduling strategy does not support placement strategies. Remove the placement strategy and try again";

fn to_spec_config(c: Option<&m::DeploymentConfiguration>) -> dp::DeploymentConfiguration {
    let Some(c) = c else {
        return dp::DeploymentConfiguration::default();
    };
    dp::DeploymentConfiguration {
        maximum_percent: c.maximum_percent,
        minimum_healthy_percent: c.minimum_healthy_percent,
        deployment_circuit_breaker: c.deployment_circuit_breaker.as_ref().map(|b| {
            dp::DeploymentCircuitBreaker {
                enable: b.enable.unwrap_or(false),
                rollback: b.rollback.unwrap_or(false),
                reset_on_healthy_task: b.reset_on_healthy_task,
                threshold_configuration: b.threshold_configuration.as_ref().and_then(|t| {
                    let kind = match t.r#type.as_ref()?.as_str() {
                        "COUNT" => dp::ThresholdType::Count,
                        "UNBOUNDED_PERCENT" => dp::ThresholdType::UnboundedPercent,
                        _ => dp::ThresholdType::BoundedPercent,
                    };
                    Some(dp::ThresholdConfiguration {
                        threshold_type: kind,
                        value: t.value?,
                    })
                }),
            }
        }),
    }
}

fn health_checked(td: &TaskDefRec) -> bool {
    td.td
        .container_definitions
        .iter()
        .flatten()
        .any(|c| c.essential.unwrap_or(true) && c.health_check.is_some())
}

fn str_of<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn deployment_arn(env: &Env, cluster: &str, service: &str, id: &str) -> String {
    env.arn(Resource::ServiceDeployment {
        cluster: cluster.into(),
        service: service.into(),
        id: id.trim_start_matches("ecs-svc/").into(),
    })
}

fn revision_arn(env: &Env, cluster: &str, service: &str, id: &str) -> String {
    env.arn(Resource::ServiceRevision {
        cluster: cluster.into(),
        service: service.into(),
        id: id.trim_start_matches("ecs-svc/").into(),
    })
}

/// A new deployment (or task set) id, `ecs-svc/<19 digits>`, from the stored random source.
pub(crate) fn new_deployment_id(st: &mut State, now: chrono::DateTime<chrono::Utc>) -> String {
    dp::IdSource::deployment_id(&mut Ids {
        st: &mut st.meta.rng,
        at: now,
    })
}

/// The wire form of a service.
pub(crate) fn view(c: &ClusterRec, rec: &ServiceRec, with_tags: bool) -> m::Service {
    let mut s = rec.service.clone();
    let (mut running, mut pending) = (0, 0);
    for id in &rec.tasks {
        if let Some(t) = c.tasks.get(id) {
            if t.desired_status() == "RUNNING" {
                match t.last_status() {
                    "RUNNING" => running += 1,
                    "STOPPED" => {}
                    _ => pending += 1,
                }
            }
        }
    }
    s.running_count = Some(running);
    s.pending_count = Some(pending);
    s.desired_count = Some(rec.deploy.spec.desired_count as i32);
    s.task_definition = rec.deploy.primary().map(|d| d.task_definition.clone());
    s.deployments = Some(
        rec.deploy
            .deployments
            .iter()
            .rev()
            .filter(|d| d.status != dp::DeploymentStatus::Inactive)
            .map(|d| m::Deployment {
                id: Some(d.id.clone()),
                status: Some(str_of(&d.status)),
                task_definition: Some(d.task_definition.clone()),
                desired_count: Some(d.desired_count as i32),
                pending_count: Some(d.pending_count as i32),
                running_count: Some(d.running_count as i32),
                failed_tasks: Some(d.failed_tasks as i32),
                created_at: Some(ts(d.created_at)),
                updated_at: Some(ts(d.updated_at)),
                launch_type: s.launch_type.clone(),
                capacity_provider_strategy: s.capacity_provider_strategy.clone(),
                network_configuration: s.network_configuration.clone(),
                rollout_state: Some(m::DeploymentRolloutState::from(
                    str_of(&d.rollout_state).as_str(),
                )),
                rollout_state_reason: Some(d.rollout_state_reason.clone()),
                ..m::Deployment::default()
            })
            .collect(),
    );
    if rec.uses_task_sets() {
        s.task_definition = rec.service.task_definition.clone();
        // The PRIMARY set first (ecspresso waits on `taskSets[0]`), then the others oldest first.
        let primary = |t: &&m::TaskSet| t.status.as_deref() == Some("PRIMARY");
        s.task_sets = Some(
            rec.task_sets
                .iter()
                .filter(primary)
                .chain(rec.task_sets.iter().filter(|t| !primary(t)))
                .map(|t| m::TaskSet {
                    tags: None,
                    ..t.clone()
                })
                .collect(),
        );
    }
    s.events = Some(rec.events.iter().take(100).cloned().collect());
    if let Some(p) = rec.deploy.primary() {
        s.current_service_deployment = Some(deployment_arn_from(&s, &p.id));
    }
    berth_core::described::fill_service(&mut s);
    if !with_tags {
        s.tags = None;
    }
    s
}

/// The ARN of the IAM role a CreateService `role` names: an ARN as given, else a role name
/// (with its path, if any) in the account.
fn role_arn(account: &str, role: &str) -> String {
    if role.starts_with("arn:") {
        role.to_string()
    } else {
        format!(
            "arn:aws:iam::{account}:role/{}",
            role.trim_start_matches('/')
        )
    }
}

fn deployment_arn_from(s: &m::Service, id: &str) -> String {
    // service ARN: arn:…:service/<cluster>/<name> → arn:…:service-deployment/<cluster>/<name>/<id>
    let arn = s.service_arn.clone().unwrap_or_default();
    format!(
        "{}/{}",
        arn.replacen(":service/", ":service-deployment/", 1),
        id.trim_start_matches("ecs-svc/")
    )
}

pub(crate) fn create(w: &mut Write<'_>, req: m::CreateServiceRequest) -> Result<Value, AwsError> {
    let name = req
        .service_name
        .clone()
        .ok_or_else(|| AwsError::invalid_parameter("serviceName is required."))?;
    if !valid_name(&name) {
        return Err(AwsError::invalid_parameter(
            "Service name can have up to 255 characters: letters (upper and lower case), numbers, underscores and hyphens.",
        ));
    }
    let cluster = active_cluster(w.st, req.cluster.as_deref())?.name.clone();
    let strategy = req
        .scheduling_strategy
        .as_ref()
        .map_or("REPLICA", |s| s.as_str())
        .to_string();
    let daemon = match strategy.as_str() {
        "REPLICA" => false,
        "DAEMON" => true,
        other => {
            return Err(AwsError::invalid_parameter(format!(
                "Invalid schedulingStrategy {other}; use REPLICA or DAEMON."
            )));
        }
    };
    if daemon {
        // ecs-semantics §3.1/§3.7: not with Fargate, no placement strategies, EC2 only.
        if req
            .launch_type
            .as_ref()
            .is_some_and(|l| l.as_str() == "FARGATE")
        {
            return Err(AwsError::invalid_parameter(
                "The DAEMON scheduling strategy does not support the FARGATE launch type.",
            ));
        }
        // ECS's text, also when the strategy would be the cluster's default: the launch type
        // must then be given (aws/containers-roadmap#692).
        let strategy = req
            .capacity_provider_strategy
            .as_ref()
            .is_some_and(|s| !s.is_empty());
        let cluster_default = req.launch_type.is_none()
            && req.capacity_provider_strategy.is_none()
            && !w.st.clusters[&cluster].default_strategy.is_empty();
        if strategy || cluster_default {
            return Err(AwsError::invalid_parameter(
                "Specifying a capacity provider strategy is not supported when you create a service using the DAEMON scheduling strategy.",
            ));
        }
        if req
            .placement_strategy
            .as_ref()
            .is_some_and(|s| !s.is_empty())
        {
            return Err(AwsError::invalid_parameter(DAEMON_PLACEMENT_STRATEGY));
        }
    }
    let controller = req
        .deployment_controller
        .as_ref()
        .and_then(|d| d.r#type.as_ref())
        .map_or("ECS", |t| t.as_str())
        .to_string();
    match controller.as_str() {
        "ECS" => {}
        "EXTERNAL" | "CODE_DEPLOY" if daemon => {
            return Err(AwsError::invalid_parameter(format!(
                "The {controller} deployment controller does not support the DAEMON scheduling strategy."
            )));
        }
        "EXTERNAL" => return create_external(w, req, cluster, name),
        "CODE_DEPLOY" => {}
        other => {
            return Err(AwsError::invalid_parameter(format!(
                "Invalid deployment controller type {other}; use ECS, CODE_DEPLOY or EXTERNAL."
            )));
        }
    }
    // DAEMON: one task per eligible instance, counted by the reconciler.
    let desired = match req.desired_count {
        _ if daemon => 0,
        Some(d) => d,
        None => {
            return Err(AwsError::invalid_parameter(
                "desiredCount is required for a REPLICA service.",
            ));
        }
    };
    if !(0..=5000).contains(&desired) {
        return Err(AwsError::invalid_parameter(
            "desiredCount must be between 0 and 5000.",
        ));
    }
    let reference = req
        .task_definition
        .clone()
        .ok_or_else(|| AwsError::invalid_parameter("taskDefinition is required."))?;
    super::taskdefs::check_reference(&reference)?;
    let td = resolve(w.st, &reference)
        .ok_or_else(|| AwsError::client("TaskDefinition not found."))?
        .clone();
    super::check_host_access(w.env, &td)?;
    let tags = req.tags.clone().unwrap_or_default();
    check_tags(&tags)?;
    placement_inputs(
        req.placement_constraints.as_ref(),
        req.placement_strategy.as_ref(),
    )?;
    let random = w.st.random(w.dirty);
    let c = &w.st.clusters[&cluster];
    check_name_free(c, &name)?;
    let launch = if daemon {
        Launch::Ec2(None)
    } else {
        choose_launch(
            c,
            req.launch_type.as_ref(),
            req.capacity_provider_strategy.as_deref(),
            random,
        )?
    };
    check_launch(&td, &launch, req.network_configuration.as_ref())?;
    check_fargate_placement(&launch, req.placement_constraints.as_ref())?;
    let spec_cfg = to_spec_config(req.deployment_configuration.as_ref());
    let sched = if daemon {
        dp::SchedulingStrategy::Daemon
    } else {
        dp::SchedulingStrategy::Replica
    };
    spec_cfg
        .effective(sched)
        .map_err(|e| AwsError::invalid_parameter(e.to_string()))?;
    let td_arn = td.td.task_definition_arn.clone().unwrap_or_default();
    let spec = dp::ServiceSpec {
        service_name: name.clone(),
        desired_count: desired as u32,
        scheduling_strategy: sched,
        deployment_configuration: spec_cfg,
        health_check_grace_period_seconds: req.health_check_grace_period_seconds.unwrap_or(0).max(0)
            as u32,
        health_checked: health_checked(&td),
        healthy_after_secs: None,
    };
    let deployment_id = {
        let mut ids = Ids {
            st: &mut w.st.meta.rng,
            at: w.now,
        };
        dp::IdSource::deployment_id(&mut ids)
    };
    let state = dp::ServiceState::new(spec, td_arn.clone(), deployment_id.clone(), w.now);
    // A service on the cluster's default strategy takes that strategy as its own, as on ECS
    // (a DAEMON service cannot be on one: refused above).
    let (launch_type, provider_strategy) = recorded_launch(
        c,
        &launch,
        req.launch_type.as_ref(),
        req.capacity_provider_strategy.as_deref(),
    );
    let service = m::Service {
        launch_type,
        capacity_provider_strategy: provider_strategy,
        platform_version: matches!(launch, Launch::Fargate(_)).then(|| "LATEST".into()),
        task_definition: Some(td_arn),
        deployment_configuration: Some(req.deployment_configuration.clone().unwrap_or_else(|| {
            m::DeploymentConfiguration {
                maximum_percent: Some(if daemon { 100 } else { 200 }),
                minimum_healthy_percent: Some(if daemon { 0 } else { 100 }),
                deployment_circuit_breaker: Some(m::DeploymentCircuitBreaker {
                    enable: Some(false),
                    rollback: Some(false),
                    ..m::DeploymentCircuitBreaker::default()
                }),
                ..m::DeploymentConfiguration::default()
            }
        })),
        network_configuration: req.network_configuration.clone(),
        availability_zone_rebalancing: req.availability_zone_rebalancing.clone(),
        ..base_service(w, &req, &cluster, &name, desired, &controller)
    };
    let mut rec = new_rec(service, state, desired);
    if controller == "CODE_DEPLOY" {
        // ECS makes the service's first task set itself; CodeDeploy makes the next ones.
        rec.deploy.deployments.clear();
        let set =
            super::task_sets::initial(w.env, &cluster, &rec, deployment_id, &td, &launch, w.now);
        rec.task_sets.push(set);
    }
    insert(w, &cluster, &name, rec)
}

/// CreateService for the `EXTERNAL` deployment controller: a service without a task definition,
/// launch or network of its own (its task sets have them), and no deployment.
fn create_external(
    w: &mut Write<'_>,
    req: m::CreateServiceRequest,
    cluster: String,
    name: String,
) -> Result<Value, AwsError> {
    // The members a task set carries. ECS's texts where seen (terraform-aws-modules/
    // terraform-aws-ecs#278, hashicorp/terraform-provider-aws#27291 and #27362, aws/aws-cdk#26335),
    // ours in the same words for the others. `platformVersion` and `role` are accepted (PipeCD
    // sends them).
    let refused: [(bool, &str); 7] = [
        (
            req.task_definition.as_deref() == Some(""),
            "Family should not be null or empty.",
        ),
        (
            req.task_definition.is_some(),
            "TaskDefinition must be blank.",
        ),
        (
            req.load_balancers.as_ref().is_some_and(|l| !l.is_empty()),
            "LoadBalancers must be empty or null.",
        ),
        (
            req.network_configuration.is_some(),
            "NetworkConfiguration must be null.",
        ),
        (req.launch_type.is_some(), "LaunchType must be blank."),
        (
            req.capacity_provider_strategy
                .as_ref()
                .is_some_and(|s| !s.is_empty()),
            "CapacityProviderStrategy must be empty or null.",
        ),
        (
            req.service_registries
                .as_ref()
                .is_some_and(|l| !l.is_empty()),
            "ServiceRegistries must be empty or null.",
        ),
    ];
    if let Some((_, text)) = refused.iter().find(|(given, _)| *given) {
        return Err(AwsError::invalid_parameter(*text));
    }
    let desired = req.desired_count.ok_or_else(|| {
        AwsError::invalid_parameter("desiredCount is required for a REPLICA service.")
    })?;
    if !(0..=5000).contains(&desired) {
        return Err(AwsError::invalid_parameter(
            "desiredCount must be between 0 and 5000.",
        ));
    }
    let tags = req.tags.clone().unwrap_or_default();
    check_tags(&tags)?;
    placement_inputs(
        req.placement_constraints.as_ref(),
        req.placement_strategy.as_ref(),
    )?;
    let spec_cfg = to_spec_config(req.deployment_configuration.as_ref());
    spec_cfg
        .effective(dp::SchedulingStrategy::Replica)
        .map_err(|e| AwsError::invalid_parameter(e.to_string()))?;
    check_name_free(&w.st.clusters[&cluster], &name)?;
    let spec = dp::ServiceSpec {
        service_name: name.clone(),
        desired_count: desired as u32,
        scheduling_strategy: dp::SchedulingStrategy::Replica,
        deployment_configuration: spec_cfg,
        health_check_grace_period_seconds: req.health_check_grace_period_seconds.unwrap_or(0).max(0)
            as u32,
        health_checked: false,
        healthy_after_secs: None,
    };
    let service = m::Service {
        // What ECS answers before a PRIMARY task set gives the service its own (a real
        // DescribeServices, dev.to/t-kikuc).
        launch_type: Some(m::LaunchType::from("EC2")),
        deployment_configuration: Some(req.deployment_configuration.clone().unwrap_or_else(|| {
            m::DeploymentConfiguration {
                maximum_percent: Some(200),
                minimum_healthy_percent: Some(100),
                ..m::DeploymentConfiguration::default()
            }
        })),
        ..base_service(w, &req, &cluster, &name, desired, "EXTERNAL")
    };
    let deploy = dp::ServiceState {
        spec,
        deployments: Vec::new(),
        steady_reported: false,
        stuck_reported: false,
    };
    let rec = new_rec(service, deploy, desired);
    insert(w, &cluster, &name, rec)
}

/// Stores a new service and answers CreateService with it.
fn insert(
    w: &mut Write<'_>,
    cluster: &str,
    name: &str,
    rec: ServiceRec,
) -> Result<Value, AwsError> {
    let c =
        w.st.clusters
            .get_mut(cluster)
            .ok_or_else(AwsError::cluster_not_found)?;
    c.services.insert(name.to_string(), rec);
    w.dirty
        .insert(Key::Service(cluster.to_string(), name.to_string()));
    let v = view(c, &c.services[name], true);
    out(json!({"service": v}))
}

/// The members CreateService records alike for every deployment controller.
fn base_service(
    w: &Write<'_>,
    req: &m::CreateServiceRequest,
    cluster: &str,
    name: &str,
    desired: i32,
    controller: &str,
) -> m::Service {
    m::Service {
        service_arn: Some(w.env.service_arn(cluster, name)),
        service_name: Some(name.to_string()),
        cluster_arn: Some(w.env.cluster_arn(cluster)),
        load_balancers: Some(req.load_balancers.clone().unwrap_or_default()),
        service_registries: Some(req.service_registries.clone().unwrap_or_default()),
        status: Some("ACTIVE".into()),
        desired_count: Some(desired),
        created_at: Some(ts(w.now)),
        placement_constraints: Some(req.placement_constraints.clone().unwrap_or_default()),
        placement_strategy: Some(req.placement_strategy.clone().unwrap_or_default()),
        health_check_grace_period_seconds: req.health_check_grace_period_seconds,
        scheduling_strategy: Some(
            req.scheduling_strategy
                .clone()
                .unwrap_or_else(|| m::SchedulingStrategy::from("REPLICA")),
        ),
        deployment_controller: Some(m::DeploymentController {
            r#type: Some(m::DeploymentControllerType::from(controller)),
        }),
        tags: Some(req.tags.clone().unwrap_or_default()),
        created_by: Some(format!("arn:aws:iam::{}:root", w.env.account)),
        enable_ecs_managed_tags: Some(req.enable_ecs_managed_tags.unwrap_or(false)),
        propagate_tags: Some(
            req.propagate_tags
                .clone()
                .unwrap_or_else(|| m::PropagateTags::from("NONE")),
        ),
        enable_execute_command: Some(req.enable_execute_command.unwrap_or(false)),
        role_arn: req.role.as_deref().map(|r| role_arn(&w.env.account, r)),
        ..m::Service::default()
    }
}

/// A new service record.
fn new_rec(service: m::Service, deploy: dp::ServiceState, desired: i32) -> ServiceRec {
    ServiceRec {
        service,
        deploy,
        events: Vec::new(),
        last_unplaced: None,
        tasks: Default::default(),
        settled: false,
        metric_base: Some(desired),
        inactive_since: None,
        task_sets: Vec::new(),
    }
}

/// CreateService's check that the name is free: no ACTIVE or DRAINING service has it.
fn check_name_free(c: &ClusterRec, name: &str) -> Result<(), AwsError> {
    match c
        .services
        .get(name)
        .and_then(|e| e.service.status.as_deref())
    {
        Some("ACTIVE") => Err(AwsError::invalid_parameter(
            "Creation of service was not idempotent.",
        )),
        Some("DRAINING") => Err(AwsError::invalid_parameter(
            "Unable to Start a service that is still Draining.",
        )),
        _ => Ok(()),
    }
}

fn service_mut<'a>(c: &'a mut ClusterRec, s: &str) -> Result<&'a mut ServiceRec, AwsError> {
    c.services
        .get_mut(last_segment(s))
        .ok_or_else(AwsError::service_not_found)
}

pub(crate) fn update(w: &mut Write<'_>, req: m::UpdateServiceRequest) -> Result<Value, AwsError> {
    let cluster = active_cluster(w.st, req.cluster.as_deref())?.name.clone();
    let name = req
        .service
        .clone()
        .ok_or_else(|| AwsError::invalid_parameter("service is required."))?;
    let name = last_segment(&name).to_string();
    if let Some(r) = &req.task_definition {
        super::taskdefs::check_reference(r)?;
    }
    let td = match &req.task_definition {
        Some(r) => Some(
            resolve(w.st, r)
                .ok_or_else(|| AwsError::client("TaskDefinition not found."))?
                .clone(),
        ),
        None => None,
    };
    if let Some(td) = &td {
        super::check_host_access(w.env, td)?;
    }
    placement_inputs(
        req.placement_constraints.as_ref(),
        req.placement_strategy.as_ref(),
    )?;
    if let Some(d) = req.desired_count {
        if !(0..=5000).contains(&d) {
            return Err(AwsError::invalid_parameter(
                "desiredCount must be between 0 and 5000.",
            ));
        }
    }
    if let Some(rec) = w.st.clusters[&cluster].services.get(&name) {
        let other_controller = req
            .deployment_controller
            .as_ref()
            .and_then(|d| d.r#type.as_ref())
            .is_some_and(|t| t.as_str() != rec.controller());
        if rec.uses_task_sets() || other_controller {
            return update_task_set_service(w, req, cluster, name);
        }
    }
    let (strategy_change, current_td) = strategy_update(w.st, &cluster, &name, &req)?;
    let now = w.now;
    let c =
        w.st.clusters
            .get_mut(&cluster)
            .ok_or_else(AwsError::cluster_not_found)?;
    let rec = service_mut(c, &name)?;
    if rec.service.status.as_deref() != Some("ACTIVE") {
        return Err(AwsError::new(
            ErrorCode::ServiceNotActiveException,
            "Service was not ACTIVE.",
        ));
    }
    let fargate = match &strategy_change {
        Some(s) => super::providers::strategy_is_fargate(s),
        None => {
            rec.service
                .launch_type
                .as_ref()
                .is_some_and(|l| l.as_str() == "FARGATE")
                || rec
                    .service
                    .capacity_provider_strategy
                    .as_deref()
                    .is_some_and(super::providers::strategy_is_fargate)
        }
    };
    if fargate
        && req
            .placement_constraints
            .as_ref()
            .is_some_and(|p| !p.is_empty())
    {
        // GetSimpl/cloudlift#138, hashicorp/terraform-provider-aws#26337.
        return Err(AwsError::invalid_parameter(
            "Placement constraints are not supported with FARGATE launch type.",
        ));
    }
    let checked = td
        .as_ref()
        .or(current_td.as_ref().filter(|_| strategy_change.is_some()));
    if let Some(td) = checked {
        let launch = if fargate {
            Launch::Fargate(None)
        } else {
            Launch::Ec2(None)
        };
        let net = req
            .network_configuration
            .as_ref()
            .or(rec.service.network_configuration.as_ref());
        check_launch(td, &launch, net)?;
    }
    apply_settings(rec, &req)?;
    if let Some(z) = &req.availability_zone_rebalancing {
        rec.service.availability_zone_rebalancing = Some(z.clone());
    }
    let daemon = rec.deploy.spec.scheduling_strategy == dp::SchedulingStrategy::Daemon;
    if daemon && req.desired_count.is_some() {
        // ECS's text on UpdateService too (fabfuel/ecs-deploy#59).
        return Err(AwsError::invalid_parameter(
            "The daemon scheduling strategy does not support a desired count for services. Remove the desired count value and try again",
        ));
    }
    if daemon
        && req
            .placement_strategy
            .as_ref()
            .is_some_and(|s| !s.is_empty())
    {
        return Err(AwsError::invalid_parameter(DAEMON_PLACEMENT_STRATEGY));
    }
    if let Some(d) = req.desired_count {
        rec.deploy.set_desired_count(d as u32, now);
        rec.service.desired_count = Some(d);
    }
    let mut new_deployment = req.force_new_deployment.unwrap_or(false);
    let mut td_arn = rec
        .deploy
        .primary()
        .map(|d| d.task_definition.clone())
        .unwrap_or_default();
    if let Some(td) = &td {
        let arn = td.td.task_definition_arn.clone().unwrap_or_default();
        if arn != td_arn {
            new_deployment = true;
            td_arn = arn;
        }
        rec.deploy.spec.health_checked = health_checked(td);
    }
    if let Some(pc) = &req.placement_constraints {
        rec.service.placement_constraints = Some(pc.clone());
        new_deployment = true;
    }
    if let Some(ps) = &req.placement_strategy {
        rec.service.placement_strategy = Some(ps.clone());
        new_deployment = true;
    }
    if let Some(n) = &req.network_configuration {
        rec.service.network_configuration = Some(n.clone());
        new_deployment = true;
    }
    if let Some(s) = strategy_change {
        rec.service.capacity_provider_strategy = (!s.is_empty()).then_some(s);
        rec.service.launch_type = None;
        new_deployment = true;
    }
    if new_deployment {
        let id = dp::IdSource::deployment_id(&mut Ids {
            st: &mut w.st.meta.rng,
            at: w.now,
        });
        w.dirty.insert(Key::Meta);
        let c =
            w.st.clusters
                .get_mut(&cluster)
                .ok_or_else(AwsError::cluster_not_found)?;
        let rec = service_mut(c, &name)?;
        rec.deploy.start_deployment(td_arn.clone(), id, now);
        rec.service.task_definition = Some(td_arn);
    }
    let c = &w.st.clusters[&cluster];
    w.dirty.insert(Key::Service(cluster.clone(), name.clone()));
    let v = view(c, &c.services[&name], true);
    out(json!({"service": v}))
}

/// UpdateService's deployment configuration and health check grace period, which every kind of
/// service takes.
fn apply_settings(rec: &mut ServiceRec, req: &m::UpdateServiceRequest) -> Result<(), AwsError> {
    if let Some(cfg) = &req.deployment_configuration {
        let spec_cfg = to_spec_config(Some(cfg));
        spec_cfg
            .effective(rec.deploy.spec.scheduling_strategy)
            .map_err(|e| AwsError::invalid_parameter(e.to_string()))?;
        rec.deploy.spec.deployment_configuration = spec_cfg;
        rec.service.deployment_configuration = Some(cfg.clone());
    }
    if let Some(g) = req.health_check_grace_period_seconds {
        rec.deploy.spec.health_check_grace_period_seconds = g.max(0) as u32;
        rec.service.health_check_grace_period_seconds = Some(g);
    }
    Ok(())
}

/// UpdateService on a service whose task sets carry its task definition, launch and network
/// (`EXTERNAL`, `CODE_DEPLOY`): those cannot change here (a new task set does that), and a
/// new desired count rescales every task set. Also where a change of deployment controller is
/// refused.
fn update_task_set_service(
    w: &mut Write<'_>,
    req: m::UpdateServiceRequest,
    cluster: String,
    name: String,
) -> Result<Value, AwsError> {
    let c = &w.st.clusters[&cluster];
    let rec = c
        .services
        .get(&name)
        .ok_or_else(AwsError::service_not_found)?;
    if rec.service.status.as_deref() != Some("ACTIVE") {
        return Err(AwsError::new(
            ErrorCode::ServiceNotActiveException,
            "Service was not ACTIVE.",
        ));
    }
    let controller = rec.controller().to_string();
    if let Some(asked) = req
        .deployment_controller
        .as_ref()
        .and_then(|d| d.r#type.as_ref())
    {
        if asked.as_str() != controller {
            // ECS allows some changes (CODE_DEPLOY → ECS or EXTERNAL, ECS ↔ EXTERNAL); the local
            // cluster does not carry a service across yet, and says so.
            return Err(AwsError::new(
                ErrorCode::UnsupportedFeatureException,
                format!(
                    "Changing the deployment controller of a service (from {controller} to {}) is not implemented by the Berth local cluster yet.",
                    asked.as_str()
                ),
            ));
        }
    }
    // Refused when given at all, even unchanged (kayac/ecspresso#393). ECS's texts for
    // CODE_DEPLOY (boto/boto3#1936, hashicorp/terraform-provider-aws#8005, kayac/ecspresso#393);
    // the platform version, registries and strategy, and every EXTERNAL text, are ours in the
    // same words.
    let how = if controller == "CODE_DEPLOY" {
        "Use AWS CodeDeploy to trigger a new deployment."
    } else {
        "Create a new task set to change it."
    };
    let refused = |what: &str| {
        AwsError::invalid_parameter(format!(
            "Unable to update {what} on services with a {controller} deployment controller. {how}"
        ))
    };
    let given = [
        (req.task_definition.is_some(), "task definition"),
        (req.network_configuration.is_some(), "network parameters"),
        (req.load_balancers.is_some(), "load balancers"),
        (req.platform_version.is_some(), "platform version"),
        (req.service_registries.is_some(), "service registries"),
        (
            req.capacity_provider_strategy.is_some(),
            "capacity provider strategy",
        ),
    ];
    if let Some((_, what)) = given.iter().find(|(g, _)| *g) {
        return Err(refused(what));
    }
    if req.force_new_deployment.unwrap_or(false) {
        return Err(AwsError::invalid_parameter(format!(
            "Cannot force a new deployment on services with a {controller} deployment controller. {how}"
        )));
    }
    placement_inputs(
        req.placement_constraints.as_ref(),
        req.placement_strategy.as_ref(),
    )?;
    let now = w.now;
    let c =
        w.st.clusters
            .get_mut(&cluster)
            .ok_or_else(AwsError::cluster_not_found)?;
    let rec = service_mut(c, &name)?;
    apply_settings(rec, &req)?;
    if let Some(pc) = &req.placement_constraints {
        rec.service.placement_constraints = Some(pc.clone());
    }
    if let Some(ps) = &req.placement_strategy {
        rec.service.placement_strategy = Some(ps.clone());
    }
    if let Some(e) = req.enable_execute_command {
        rec.service.enable_execute_command = Some(e);
    }
    if let Some(d) = req.desired_count {
        rec.deploy.set_desired_count(d as u32, now);
        rec.service.desired_count = Some(d);
        super::task_sets::rescale(rec, now);
    }
    w.dirty.insert(Key::Service(cluster.clone(), name.clone()));
    let c = &w.st.clusters[&cluster];
    let v = view(c, &c.services[&name], true);
    out(json!({"service": v}))
}

/// UpdateService's `capacityProviderStrategy`: the strategy the service moves to when it
/// changes (an empty one is the cluster's default), and the service's current task definition to
/// check it against. A change — or a first strategy for a service on a launch type — needs
/// `forceNewDeployment` (ECS's text: pipe-cd/pipecd#6385, kayac/ecspresso#481,
/// reproio/ecs_deploy#74, aws/aws-cdk#34631); every provider must be associated with the cluster.
fn strategy_update(
    st: &State,
    cluster: &str,
    name: &str,
    req: &m::UpdateServiceRequest,
) -> Result<
    (
        Option<Vec<m::CapacityProviderStrategyItem>>,
        Option<TaskDefRec>,
    ),
    AwsError,
> {
    let Some(asked) = &req.capacity_provider_strategy else {
        return Ok((None, None));
    };
    let c = &st.clusters[cluster];
    let rec = c
        .services
        .get(name)
        .ok_or_else(AwsError::service_not_found)?;
    let strategy = if asked.is_empty() {
        c.default_strategy.clone()
    } else {
        asked.clone()
    };
    if !strategy.is_empty() {
        check_strategy(&strategy, Some(&c.capacity_providers))?;
    }
    let key = |v: &[m::CapacityProviderStrategyItem]| {
        v.iter()
            .map(|i| {
                (
                    i.capacity_provider.clone(),
                    i.weight.unwrap_or(0),
                    i.base.unwrap_or(0),
                )
            })
            .collect::<Vec<_>>()
    };
    let current = rec
        .service
        .capacity_provider_strategy
        .as_deref()
        .unwrap_or_default();
    let changed = rec.service.launch_type.is_some() || key(&strategy) != key(current);
    if !changed {
        return Ok((None, None));
    }
    if !req.force_new_deployment.unwrap_or(false) {
        return Err(AwsError::invalid_parameter(
            "When switching from launch type to capacity provider strategy on an existing service, or making a change to a capacity provider strategy on a service that is already using one, you must force a new deployment.",
        ));
    }
    let current_td = rec
        .deploy
        .primary()
        .and_then(|d| resolve(st, &d.task_definition))
        .cloned();
    Ok((Some(strategy), current_td))
}

pub(crate) fn delete(w: &mut Write<'_>, req: m::DeleteServiceRequest) -> Result<Value, AwsError> {
    let now = w.now;
    let c = active_cluster_mut(w.st, req.cluster.as_deref())?;
    let name = req
        .service
        .clone()
        .ok_or_else(|| AwsError::invalid_parameter("service is required."))?;
    let name = last_segment(&name).to_string();
    let rec = service_mut(c, &name)?;
    match rec.service.status.as_deref() {
        Some("ACTIVE") => {}
        _ => {
            return Err(AwsError::new(
                ErrorCode::ServiceNotActiveException,
                "Service was not ACTIVE.",
            ));
        }
    }
    // `force` is needed only for REPLICA services (§3.2).
    let daemon = rec.deploy.spec.scheduling_strategy == dp::SchedulingStrategy::Daemon;
    if !daemon && rec.deploy.spec.desired_count > 0 && !req.force.unwrap_or(false) {
        return Err(AwsError::invalid_parameter(
            "The service cannot be stopped while it is scaled above 0.",
        ));
    }
    rec.deploy.set_desired_count(0, now);
    rec.service.desired_count = Some(0);
    rec.service.status = Some("DRAINING".into());
    for set in &mut rec.task_sets {
        if set.status.as_deref() != Some("DRAINING") {
            set.status = Some("DRAINING".into());
            set.computed_desired_count = Some(0);
            set.updated_at = Some(ts(now));
        }
    }
    w.dirty.insert(Key::Service(c.name.clone(), name.clone()));
    let v = view(c, &c.services[&name], false);
    out(json!({"service": v}))
}

/// DescribeServices: the services found and the failures for the others.
/// Whether DescribeServices' `include` asks for tags.
fn with_tags(include: Option<&[m::ServiceField]>) -> bool {
    include
        .unwrap_or_default()
        .iter()
        .any(|f| f.as_str() == "TAGS")
}

/// The views of the `wanted` services of `c`, and a `MISSING` failure for each one it does not
/// hold.
fn described(
    r: &Read<'_>,
    c: &ClusterRec,
    wanted: &[String],
    with_tags: bool,
) -> (Vec<m::Service>, Vec<m::Failure>) {
    let mut found = Vec::new();
    let mut failures = Vec::new();
    for s in wanted {
        match c.services.get(last_segment(s)) {
            Some(rec) => found.push(view(c, rec, with_tags)),
            None => failures.push(failure(
                r.env.service_arn(&c.name, last_segment(s)),
                "MISSING",
            )),
        }
    }
    (found, failures)
}

pub(crate) fn describe(r: &Read<'_>, req: m::DescribeServicesRequest) -> Result<Value, AwsError> {
    let c = active_cluster(r.st, req.cluster.as_deref())?;
    let wanted = req.services.unwrap_or_default();
    check_batch(wanted.len(), 10, "services", "services")?;
    let (found, failures) = described(r, c, &wanted, with_tags(req.include.as_deref()));
    out(json!({"services": found, "failures": failures}))
}

/// [`describe`] written straight to bytes (the server's path: no `Value` in between).
pub(crate) fn describe_json(
    r: &Read<'_>,
    req: m::DescribeServicesRequest,
) -> Result<Vec<u8>, AwsError> {
    #[derive(serde::Serialize)]
    struct Out {
        services: Vec<m::Service>,
        failures: Vec<m::Failure>,
    }
    let c = active_cluster(r.st, req.cluster.as_deref())?;
    let wanted = req.services.unwrap_or_default();
    check_batch(wanted.len(), 10, "services", "services")?;
    if with_tags(req.include.as_deref()) {
        let (services, failures) = described(r, c, &wanted, true);
        return super::out_json(&Out { services, failures });
    }
    // Without tags, each service's view comes from the cluster's cache ([`crate::views`]).
    let mut found: Vec<std::sync::Arc<[u8]>> = Vec::with_capacity(wanted.len());
    let mut failures = Vec::new();
    let views = r.views.of(&c.name);
    for s in &wanted {
        let name = last_segment(s);
        match c.services.get(name) {
            Some(rec) => {
                let make = || super::out_json(&view(c, rec, false));
                let bytes = views.services.get_or(name, make)?;
                debug_assert_eq!(*bytes, *make()?, "the kept view of service {name} is stale");
                found.push(bytes);
            }
            None => failures.push(failure(r.env.service_arn(&c.name, name), "MISSING")),
        }
    }
    super::joined_json("services", &found, &failures)
}

pub(crate) fn list(r: &Read<'_>, req: m::ListServicesRequest) -> Result<Value, AwsError> {
    let c = active_cluster(r.st, req.cluster.as_deref())?;
    let page = Page::new(
        "ListServices",
        req.next_token.as_deref(),
        req.max_results,
        10,
        100,
    )?;
    let launch = req.launch_type.as_ref().map(|l| l.as_str().to_string());
    let sched = req
        .scheduling_strategy
        .as_ref()
        .map(|s| s.as_str().to_string());
    let (arns, next) = page.take(
        "ListServices",
        c.services
            .iter()
            .filter(|(_, s)| s.service.status.as_deref() == Some("ACTIVE"))
            .filter(|(_, s)| {
                launch
                    .as_ref()
                    .is_none_or(|l| s.service.launch_type.as_ref().map(|x| x.as_str()) == Some(l))
            })
            .filter(|(_, s)| {
                sched.as_ref().is_none_or(|x| {
                    s.service.scheduling_strategy.as_ref().map(|y| y.as_str()) == Some(x)
                })
            })
            .map(|(n, s)| (n.clone(), s.service.service_arn.clone().unwrap_or_default())),
    );
    out(json!({"serviceArns": arns, "nextToken": next}))
}

fn brief(
    env: &Env,
    cluster: &str,
    rec: &ServiceRec,
    d: &dp::Deployment,
) -> m::ServiceDeploymentBrief {
    let name = rec.service.service_name.clone().unwrap_or_default();
    let finished = matches!(
        d.service_deployment_status,
        dp::ServiceDeploymentStatus::Successful
            | dp::ServiceDeploymentStatus::Stopped
            | dp::ServiceDeploymentStatus::RollbackSuccessful
            | dp::ServiceDeploymentStatus::RollbackFailed
    );
    m::ServiceDeploymentBrief {
        service_deployment_arn: Some(deployment_arn(env, cluster, &name, &d.id)),
        service_arn: rec.service.service_arn.clone(),
        cluster_arn: Some(env.cluster_arn(cluster)),
        started_at: Some(ts(d.created_at)),
        created_at: Some(ts(d.created_at)),
        finished_at: finished.then(|| ts(d.updated_at)),
        target_service_revision_arn: Some(revision_arn(env, cluster, &name, &d.id)),
        status: Some(m::ServiceDeploymentStatus::from(
            str_of(&d.service_deployment_status).as_str(),
        )),
        status_reason: d.status_reason.clone(),
    }
}

pub(crate) fn list_deployments(
    r: &Read<'_>,
    req: m::ListServiceDeploymentsRequest,
) -> Result<Value, AwsError> {
    let c = active_cluster(r.st, req.cluster.as_deref())?;
    let name = req
        .service
        .clone()
        .ok_or_else(|| AwsError::invalid_parameter("service is required."))?;
    let rec = c
        .services
        .get(last_segment(&name))
        .ok_or_else(AwsError::service_not_found)?;
    let page = Page::new(
        "ListServiceDeployments",
        req.next_token.as_deref(),
        req.max_results,
        20,
        100,
    )?;
    let statuses: Option<Vec<String>> = req
        .status
        .map(|v| v.iter().map(|s| s.as_str().to_string()).collect());
    let after = req
        .created_at
        .as_ref()
        .and_then(|c| c.after.as_ref())
        .and_then(m::Timestamp::to_datetime);
    let before = req
        .created_at
        .as_ref()
        .and_then(|c| c.before.as_ref())
        .and_then(m::Timestamp::to_datetime);
    let n = rec.deploy.deployments.len();
    let (items, next) = page.take(
        "ListServiceDeployments",
        rec.deploy
            .deployments
            .iter()
            .rev()
            .enumerate()
            .filter(|(_, d)| {
                statuses
                    .as_ref()
                    .is_none_or(|s| s.contains(&str_of(&d.service_deployment_status)))
            })
            .filter(|(_, d)| {
                after.is_none_or(|a| d.created_at >= a) && before.is_none_or(|b| d.created_at <= b)
            })
            .map(|(i, d)| (format!("{:010}", i.min(n)), brief(r.env, &c.name, rec, d))),
    );
    out(json!({"serviceDeployments": items, "nextToken": next}))
}

fn find_deployment<'a>(
    st: &'a State,
    arn: &str,
) -> Option<(&'a ClusterRec, &'a ServiceRec, &'a dp::Deployment)> {
    let (cluster, service, id) = match Arn::parse(arn).ok()?.resource {
        Resource::ServiceDeployment {
            cluster,
            service,
            id,
        }
        | Resource::ServiceRevision {
            cluster,
            service,
            id,
        } => (cluster, service, id),
        _ => return None,
    };
    let c = st.clusters.get(&cluster)?;
    let rec = c.services.get(&service)?;
    let d = rec
        .deploy
        .deployments
        .iter()
        .find(|d| d.id.trim_start_matches("ecs-svc/") == id)?;
    Some((c, rec, d))
}

/// The revisions a deployment replaces (`sourceServiceRevisions`): the deployment before it,
/// which was the running revision when it started, and any older one still not INACTIVE (a
/// deployment started while another was in flight replaces both). Empty for a service's first
/// deployment, as in ECS.
fn source_revisions<'a>(
    rec: &'a ServiceRec,
    d: &'a dp::Deployment,
) -> impl Iterator<Item = &'a dp::Deployment> + 'a {
    let all = &rec.deploy.deployments;
    let at = all.iter().position(|e| e.id == d.id).unwrap_or(0);
    all[..at].iter().enumerate().filter_map(move |(i, e)| {
        (i + 1 == at || e.status != dp::DeploymentStatus::Inactive).then_some(e)
    })
}

pub(crate) fn describe_deployments(
    r: &Read<'_>,
    req: m::DescribeServiceDeploymentsRequest,
) -> Result<Value, AwsError> {
    let arns = req.service_deployment_arns.unwrap_or_default();
    check_batch(arns.len(), 20, "serviceDeploymentArns", "ARNs")?;
    let mut found = Vec::new();
    let mut failures = Vec::new();
    for arn in arns {
        let Some((c, rec, d)) =
            find_deployment(r.st, &arn).filter(|_| arn.contains(":service-deployment/"))
        else {
            failures.push(failure(arn, "MISSING"));
            continue;
        };
        let b = brief(r.env, &c.name, rec, d);
        let threshold = rec
            .deploy
            .spec
            .deployment_configuration
            .deployment_circuit_breaker
            .as_ref()
            .filter(|b| b.enable)
            .map(|b| {
                dp::failure_threshold(
                    rec.deploy.spec.desired_count,
                    b.threshold_configuration.as_ref(),
                )
            });
        let name = rec.service.service_name.as_deref().unwrap_or_default();
        let revision = |e: &dp::Deployment| {
            json!({
                "arn": revision_arn(r.env, &c.name, name, &e.id),
                "requestedTaskCount": e.desired_count,
                "runningTaskCount": e.running_count,
                "pendingTaskCount": e.pending_count,
            })
        };
        let mut config = rec
            .service
            .deployment_configuration
            .clone()
            .unwrap_or_default();
        berth_core::described::fill_deployment_configuration(
            &mut config,
            rec.deploy.spec.scheduling_strategy == dp::SchedulingStrategy::Daemon,
        );
        let alarms_on = config
            .alarms
            .as_ref()
            .is_some_and(|a| a.enable == Some(true));
        let breaker = match (threshold, &d.rollout_state) {
            (None, _) => "DISABLED",
            (Some(_), dp::RolloutState::Failed) => "TRIGGERED",
            (Some(_), _) if b.finished_at.is_some() => "MONITORING_COMPLETE",
            (Some(_), _) => "MONITORING",
        };
        found.push(json!({
            "serviceDeploymentArn": b.service_deployment_arn,
            "serviceArn": b.service_arn,
            "clusterArn": b.cluster_arn,
            "createdAt": b.created_at,
            "startedAt": b.started_at,
            "finishedAt": b.finished_at,
            "updatedAt": ts(d.updated_at),
            "sourceServiceRevisions": source_revisions(rec, d).map(revision).collect::<Vec<_>>(),
            "targetServiceRevision": revision(d),
            "status": b.status,
            "statusReason": b.status_reason,
            "deploymentConfiguration": config,
            "deploymentCircuitBreaker": {
                "status": breaker,
                "failureCount": d.failed_tasks,
                "threshold": threshold.unwrap_or(0),
            },
            // Berth does not watch CloudWatch alarms: a deployment without them says so.
            "alarms": (!alarms_on).then(|| json!({"status": "DISABLED"})),
            "rollback": d.rolled_back_by.as_ref().map(|id| json!({
                "reason": d.status_reason,
                "serviceRevisionArn": revision_arn(r.env, &c.name, name, id),
            })),
        }));
    }
    out(json!({"serviceDeployments": found, "failures": failures}))
}

pub(crate) fn describe_revisions(
    r: &Read<'_>,
    req: m::DescribeServiceRevisionsRequest,
) -> Result<Value, AwsError> {
    let arns = req.service_revision_arns.unwrap_or_default();
    check_batch(arns.len(), 20, "serviceRevisionArns", "ARNs")?;
    let mut found = Vec::new();
    let mut failures = Vec::new();
    for arn in arns {
        let Some((c, rec, d)) =
            find_deployment(r.st, &arn).filter(|_| arn.contains(":service-revision/"))
        else {
            failures.push(failure(arn, "MISSING"));
            continue;
        };
        let mut platform = m::Deployment::default();
        berth_core::described::fill_deployment(
            &mut platform,
            rec.service.platform_version.as_deref(),
        );
        let images: Vec<Value> = resolve(r.st, &d.task_definition)
            .map(|td| {
                td.td
                    .container_definitions
                    .iter()
                    .flatten()
                    .map(|cd| json!({"containerName": cd.name, "image": cd.image}))
                    .collect()
            })
            .unwrap_or_default();
        found.push(json!({
            "serviceRevisionArn": arn,
            "serviceArn": rec.service.service_arn,
            "clusterArn": c.arn,
            "taskDefinition": d.task_definition,
            "launchType": rec.service.launch_type,
            "capacityProviderStrategy": rec.service.capacity_provider_strategy,
            "platformVersion": platform.platform_version,
            "platformFamily": platform.platform_family,
            "networkConfiguration": rec.service.network_configuration,
            "loadBalancers": rec.service.load_balancers,
            "containerImages": images,
            // Berth runs no GuardDuty agent and no Service Connect proxy.
            "guardDutyEnabled": false,
            "serviceConnectConfiguration": {"enabled": false},
            "createdAt": ts(d.created_at),
        }));
    }
    out(json!({"serviceRevisions": found, "failures": failures}))
}

pub(crate) fn stop_deployment(
    w: &mut Write<'_>,
    req: m::StopServiceDeploymentRequest,
) -> Result<Value, AwsError> {
    let arn = req
        .service_deployment_arn
        .clone()
        .ok_or_else(|| AwsError::invalid_parameter("serviceDeploymentArn is required."))?;
    let not_found = || {
        AwsError::new(
            ErrorCode::ServiceDeploymentNotFoundException,
            "The service deployment does not exist.",
        )
    };
    let (cluster, service, id) = match Arn::parse(&arn).map(|a| a.resource) {
        Ok(Resource::ServiceDeployment {
            cluster,
            service,
            id,
        }) => (cluster, service, id),
        _ => return Err(not_found()),
    };
    let stop_type = match req.stop_type.as_ref().map_or("ROLLBACK", |s| s.as_str()) {
        "ABORT" => dp::StopType::Abort,
        _ => dp::StopType::Rollback,
    };
    let now = w.now;
    let rec =
        w.st.clusters
            .get_mut(&cluster)
            .and_then(|c| c.services.get_mut(&service))
            .ok_or_else(not_found)?;
    let is_primary = rec
        .deploy
        .primary()
        .is_some_and(|d| d.id.trim_start_matches("ecs-svc/") == id);
    if !rec
        .deploy
        .deployments
        .iter()
        .any(|d| d.id.trim_start_matches("ecs-svc/") == id)
    {
        return Err(not_found());
    }
    if !is_primary || !rec.deploy.request_stop(stop_type, now) {
        return Err(AwsError::new(
            ErrorCode::ConflictException,
            "The service deployment is not in progress, so it cannot be stopped.",
        ));
    }
    w.dirty.insert(Key::Service(cluster, service));
    out(json!({"serviceDeploymentArn": arn}))
}
