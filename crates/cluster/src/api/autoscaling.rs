//! Application Auto Scaling (`AnyScaleFrontendService.<Action>`) for ECS services: scalable
//! targets, scaling policies, scheduled actions and scaling activities, plus what makes them act:
//! scheduled actions fired by the reconciler ([`tick`]) and policies evaluated on every metric
//! datapoint with [`berth_core::scaling::replay`] (see [`crate::autoscaling`]): one per minute of
//! the cluster's clock from the CloudWatch series of [`crate::metrics`], and those the
//! test-control API feeds ([`put_metric`]).
//!
//! Members are PascalCase as the AAS model spells them; errors are the model's exceptions
//! (`ValidationException`, `ObjectNotFoundException`, `LimitExceededException`,
//! `InvalidNextTokenException`) with a `Message` member.

use std::collections::BTreeMap;

use berth_core::model as m;
use berth_core::protocol::{AwsError, PageToken};
use berth_core::scaling::{
    self as sc, PolicyType, ScalableTargetAction, ScheduledAction, StepAlarm,
    StepScalingPolicyConfiguration, SuspendedState, TargetTrackingScalingPolicyConfiguration,
};
use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Page, Read, Write, input, ts};
use crate::apis::ApiFault;
use crate::autoscaling::{
    Activity, DIMENSION, MAX_DATAPOINTS, MAX_POLICIES, MAX_SCHEDULED_ACTIONS, MetricWindow,
    NAMESPACE, PolicyRec, ScheduledRec, TargetRec, parse_resource_id,
};
use crate::metrics;
use crate::state::{Key, State};

type R = Result<Value, ApiFault>;

const NAMESPACES: &[&str] = &[
    "ecs",
    "elasticmapreduce",
    "ec2",
    "appstream",
    "dynamodb",
    "rds",
    "sagemaker",
    "custom-resource",
    "comprehend",
    "lambda",
    "cassandra",
    "kafka",
    "elasticache",
    "neptune",
    "workspaces",
];

const ECS_METRICS: &[&str] = &[
    "ECSServiceAverageCPUUtilization",
    "ECSServiceAverageMemoryUtilization",
    "ALBRequestCountPerTarget",
    "ECSServiceAverageCPUUtilizationHighResolution",
    "ECSServiceAverageMemoryUtilizationHighResolution",
];

fn validation(msg: impl Into<String>) -> ApiFault {
    ApiFault::aas("ValidationException", msg)
}

fn not_found(msg: impl Into<String>) -> ApiFault {
    ApiFault::aas("ObjectNotFoundException", msg)
}

fn null(member: &str) -> ApiFault {
    validation(format!(
        "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
    ))
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiFault> {
    input(body).map_err(ApiFault::from)
}

/// The actions this module answers.
pub(crate) const ACTIONS: &[&str] = &[
    "RegisterScalableTarget",
    "DeregisterScalableTarget",
    "DescribeScalableTargets",
    "PutScalingPolicy",
    "DeleteScalingPolicy",
    "DescribeScalingPolicies",
    "PutScheduledAction",
    "DeleteScheduledAction",
    "DescribeScheduledActions",
    "DescribeScalingActivities",
];

/// Runs a read-only action (`Describe*`).
pub(crate) fn read(r: &Read<'_>, action: &str, body: &[u8]) -> R {
    match action {
        "DescribeScalableTargets" => describe_targets(r, parse(body)?),
        "DescribeScalingPolicies" => describe_policies(r, parse(body)?),
        "DescribeScheduledActions" => describe_scheduled(r, parse(body)?),
        "DescribeScalingActivities" => describe_activities(r, parse(body)?),
        _ => Err(ApiFault::unknown_operation(action)),
    }
}

/// Runs a mutating action.
pub(crate) fn write(w: &mut Write<'_>, action: &str, body: &[u8]) -> R {
    match action {
        "RegisterScalableTarget" => register(w, parse(body)?),
        "DeregisterScalableTarget" => deregister(w, parse(body)?),
        "PutScalingPolicy" => put_policy(w, parse(body)?),
        "DeleteScalingPolicy" => delete_policy(w, parse(body)?),
        "PutScheduledAction" => put_scheduled(w, parse(body)?),
        "DeleteScheduledAction" => delete_scheduled(w, parse(body)?),
        _ => Err(ApiFault::unknown_operation(action)),
    }
}

/// Checks `ServiceNamespace`: `Ok(false)` for a valid namespace other than `ecs` (nothing of it
/// exists locally).
fn namespace(ns: Option<&str>) -> Result<bool, ApiFault> {
    let ns = ns.ok_or_else(|| null("serviceNamespace"))?;
    if !NAMESPACES.contains(&ns) {
        return Err(validation(format!(
            "1 validation error detected: Value '{ns}' at 'serviceNamespace' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            NAMESPACES.join(", ")
        )));
    }
    Ok(ns == NAMESPACE)
}

fn dimension(dim: Option<&str>) -> Result<Option<&str>, ApiFault> {
    match dim {
        Some(d) if d != DIMENSION => Err(validation(format!(
            "Unsupported scalable dimension {d} for service namespace ecs: the local cluster scales {DIMENSION}."
        ))),
        d => Ok(d),
    }
}

/// Validates the (namespace, resource id, dimension) triple of a write and returns the resource
/// id.
fn target_key<'a>(
    ns: Option<&str>,
    rid: Option<&'a str>,
    dim: Option<&str>,
) -> Result<&'a str, ApiFault> {
    let ecs = namespace(ns)?;
    let rid = rid.ok_or_else(|| null("resourceId"))?;
    let dim = dimension(dim)?.ok_or_else(|| null("scalableDimension"))?;
    if !ecs {
        return Err(validation(format!(
            "Unsupported service namespace {}: the Berth local cluster scales only ECS services.",
            ns.unwrap_or_default()
        )));
    }
    let _ = dim;
    if parse_resource_id(rid).is_none() {
        return Err(validation(format!(
            "Unsupported resource ID {rid}: an ECS service resource ID has the form service/<cluster-name>/<service-name>."
        )));
    }
    Ok(rid)
}

fn no_target(rid: &str) -> ApiFault {
    not_found(format!(
        "No scalable target registered for service namespace: {NAMESPACE}, resource ID: {rid}, scalable dimension: {DIMENSION}"
    ))
}

/// The desired count of the ACTIVE ECS service a resource id names.
fn current_desired(st: &State, rid: &str) -> Option<i32> {
    let (c, s) = parse_resource_id(rid)?;
    let rec = st.clusters.get(c)?.services.get(s)?;
    (rec.service.status.as_deref() == Some("ACTIVE"))
        .then_some(rec.deploy.spec.desired_count as i32)
}

/// Whether the service behind `rid` has a deployment in progress (more than one deployment, or
/// its primary still rolling out).
fn deploying(st: &State, rid: &str) -> bool {
    let Some((c, s)) = parse_resource_id(rid) else {
        return false;
    };
    st.clusters
        .get(c)
        .and_then(|c| c.services.get(s))
        .is_some_and(|rec| {
            let live: Vec<_> = rec
                .deploy
                .deployments
                .iter()
                .filter(|d| d.status != berth_core::deploy::DeploymentStatus::Inactive)
                .collect();
            live.len() > 1
                || live
                    .iter()
                    .any(|d| d.rollout_state == berth_core::deploy::RolloutState::InProgress)
        })
}

fn uuid(w: &mut Write<'_>) -> String {
    let a = w.st.random(w.dirty);
    let b = w.st.random(w.dirty);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

fn secs(t: DateTime<Utc>) -> Value {
    json!(ts(t))
}

fn opt_time(v: Option<&Value>, member: &str) -> Result<Option<DateTime<Utc>>, ApiFault> {
    let bad = || validation(format!("Invalid timestamp for {member}."));
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            let f = n.as_f64().filter(|f| f.is_finite()).ok_or_else(bad)?;
            Utc.timestamp_millis_opt((f * 1000.0).round() as i64)
                .single()
                .map(Some)
                .ok_or_else(bad)
        }
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| bad()),
        Some(_) => Err(bad()),
    }
}

/// One page: `MaxResults` 1–50 (default 50), a token of this operation.
fn page(op: &str, max_results: Option<i32>, token: Option<&str>) -> Result<Page, ApiFault> {
    let size = match max_results {
        None => 50,
        Some(n) if (1..=50).contains(&n) => n as usize,
        Some(n) => {
            return Err(validation(format!(
                "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 50"
            )));
        }
    };
    let after = match token {
        Some(t) if !t.is_empty() => Some(
            PageToken::decode(op, t)
                .map_err(|_| ApiFault::aas("InvalidNextTokenException", "Invalid token"))?
                .cursor,
        ),
        _ => None,
    };
    Ok(Page { size, after })
}

// ---------------------------------------------------------------------------------------------
// Scalable targets

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RegisterReq {
    service_namespace: Option<String>,
    resource_id: Option<String>,
    scalable_dimension: Option<String>,
    min_capacity: Option<i32>,
    max_capacity: Option<i32>,
    #[serde(rename = "RoleARN")]
    role_arn: Option<String>,
    suspended_state: Option<SuspendedState>,
    tags: Option<BTreeMap<String, String>>,
}

fn register(w: &mut Write<'_>, req: RegisterReq) -> R {
    let rid = target_key(
        req.service_namespace.as_deref(),
        req.resource_id.as_deref(),
        req.scalable_dimension.as_deref(),
    )?
    .to_string();
    let Some(current) = current_desired(w.st, &rid) else {
        return Err(validation(format!("ECS service doesn't exist: {rid}")));
    };
    for (v, member) in [
        (req.min_capacity, "minCapacity"),
        (req.max_capacity, "maxCapacity"),
    ] {
        if v.is_some_and(|v| v < 0) {
            return Err(validation(format!(
                "1 validation error detected: Value '{}' at '{member}' failed to satisfy constraint: Member must have value greater than or equal to 0",
                v.unwrap_or_default()
            )));
        }
    }
    let existing = w.st.autoscaling.targets.get(&rid);
    let (min, max) = match existing {
        Some(t) => (
            req.min_capacity.unwrap_or(t.min_capacity),
            req.max_capacity.unwrap_or(t.max_capacity),
        ),
        None => match (req.min_capacity, req.max_capacity) {
            (Some(a), Some(b)) => (a, b),
            _ => {
                return Err(validation(
                    "MinCapacity and MaxCapacity are required when registering a new scalable target.",
                ));
            }
        },
    };
    if min > max {
        return Err(validation(format!(
            "Minimum capacity ({min}) cannot be greater than maximum capacity ({max})."
        )));
    }
    if existing.is_none() {
        let a = w.st.random(w.dirty);
        let b = w.st.random(w.dirty);
        let arn = format!(
            "arn:aws:application-autoscaling:{}:{}:scalable-target/0ec5{a:016x}{b:016x}",
            w.env.region, w.env.account
        );
        let role_arn = req.role_arn.clone().unwrap_or_else(|| {
            format!(
                "arn:aws:iam::{}:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService",
                w.env.account
            )
        });
        w.st.autoscaling.targets.insert(
            rid.clone(),
            TargetRec {
                resource_id: rid.clone(),
                arn,
                min_capacity: min,
                max_capacity: max,
                role_arn,
                suspended_state: SuspendedState::default(),
                created_at: w.now,
                tags: req.tags.clone().unwrap_or_default(),
                policies: BTreeMap::new(),
                scheduled: BTreeMap::new(),
                activities: Vec::new(),
                window: MetricWindow::default(),
            },
        );
    }
    let Some(t) = w.st.autoscaling.targets.get_mut(&rid) else {
        return Err(no_target(&rid));
    };
    t.min_capacity = min;
    t.max_capacity = max;
    if let Some(r) = req.role_arn {
        t.role_arn = r;
    }
    if let Some(s) = req.suspended_state {
        let merge = |new: Option<bool>, old: Option<bool>| new.or(old);
        let old = t.suspended_state;
        t.suspended_state = SuspendedState {
            dynamic_scaling_in_suspended: merge(
                s.dynamic_scaling_in_suspended,
                old.dynamic_scaling_in_suspended,
            ),
            dynamic_scaling_out_suspended: merge(
                s.dynamic_scaling_out_suspended,
                old.dynamic_scaling_out_suspended,
            ),
            scheduled_scaling_suspended: merge(
                s.scheduled_scaling_suspended,
                old.scheduled_scaling_suspended,
            ),
        };
    }
    t.restart_window();
    let arn = t.arn.clone();
    w.dirty.insert(Key::ScalableTarget(rid.clone()));
    // A new minimum above (or maximum below) the current desired count moves it into range.
    if current < min {
        scale_to(w, &rid, min, format!("minimum capacity was set to {min}"));
    } else if current > max {
        scale_to(w, &rid, max, format!("maximum capacity was set to {max}"));
    }
    Ok(json!({"ScalableTargetARN": arn}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyReq {
    service_namespace: Option<String>,
    resource_id: Option<String>,
    scalable_dimension: Option<String>,
    policy_name: Option<String>,
    scheduled_action_name: Option<String>,
}

fn deregister(w: &mut Write<'_>, req: KeyReq) -> R {
    let rid = target_key(
        req.service_namespace.as_deref(),
        req.resource_id.as_deref(),
        req.scalable_dimension.as_deref(),
    )?;
    if w.st.autoscaling.targets.remove(rid).is_none() {
        return Err(no_target(rid));
    }
    w.dirty.insert(Key::ScalableTarget(rid.to_string()));
    Ok(json!({}))
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DescribeReq {
    service_namespace: Option<String>,
    resource_ids: Option<Vec<String>>,
    resource_id: Option<String>,
    scalable_dimension: Option<String>,
    policy_names: Option<Vec<String>>,
    scheduled_action_names: Option<Vec<String>>,
    max_results: Option<i32>,
    next_token: Option<String>,
    #[allow(dead_code)] // reason: accepted; the local cluster records no "not scaled" activities
    include_not_scaled_activities: Option<bool>,
}

impl DescribeReq {
    /// Validates the common members; `None` when nothing can match (another namespace).
    fn targets<'a>(
        &self,
        st: &'a State,
        op: &str,
    ) -> Result<Option<(Page, Vec<&'a TargetRec>)>, ApiFault> {
        let ecs = namespace(self.service_namespace.as_deref())?;
        dimension(self.scalable_dimension.as_deref())?;
        for list in [
            &self.resource_ids,
            &self.policy_names,
            &self.scheduled_action_names,
        ]
        .into_iter()
        .flatten()
        {
            if list.len() > 50 {
                return Err(validation(
                    "1 validation error detected: a list member must have length less than or equal to 50",
                ));
            }
        }
        let page = page(op, self.max_results, self.next_token.as_deref())?;
        if !ecs {
            return Ok(None);
        }
        let targets = st
            .autoscaling
            .targets
            .values()
            .filter(|t| {
                self.resource_ids
                    .as_ref()
                    .is_none_or(|ids| ids.is_empty() || ids.contains(&t.resource_id))
                    && self
                        .resource_id
                        .as_ref()
                        .is_none_or(|r| *r == t.resource_id)
            })
            .collect();
        Ok(Some((page, targets)))
    }
}

fn with_token(mut v: Value, token: Option<String>) -> Value {
    if let Some(t) = token {
        v["NextToken"] = json!(t);
    }
    v
}

fn suspended_json(s: &SuspendedState) -> Value {
    json!({
        "DynamicScalingInSuspended": s.dynamic_scaling_in_suspended.unwrap_or(false),
        "DynamicScalingOutSuspended": s.dynamic_scaling_out_suspended.unwrap_or(false),
        "ScheduledScalingSuspended": s.scheduled_scaling_suspended.unwrap_or(false),
    })
}

fn describe_targets(r: &Read<'_>, req: DescribeReq) -> R {
    const OP: &str = "DescribeScalableTargets";
    let Some((page, targets)) = req.targets(r.st, OP)? else {
        return Ok(json!({"ScalableTargets": []}));
    };
    let (items, next) = page.take(
        OP,
        targets.into_iter().map(|t| {
            (
                t.resource_id.clone(),
                json!({
                    "ServiceNamespace": NAMESPACE,
                    "ResourceId": t.resource_id,
                    "ScalableDimension": DIMENSION,
                    "MinCapacity": t.min_capacity,
                    "MaxCapacity": t.max_capacity,
                    "RoleARN": t.role_arn,
                    "CreationTime": secs(t.created_at),
                    "SuspendedState": suspended_json(&t.suspended_state),
                    "ScalableTargetARN": t.arn,
                }),
            )
        }),
    );
    Ok(with_token(json!({"ScalableTargets": items}), next))
}

// ---------------------------------------------------------------------------------------------
// Scaling policies

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutPolicyReq {
    policy_name: Option<String>,
    service_namespace: Option<String>,
    resource_id: Option<String>,
    scalable_dimension: Option<String>,
    policy_type: Option<String>,
    step_scaling_policy_configuration: Option<StepScalingPolicyConfiguration>,
    target_tracking_scaling_policy_configuration: Option<TargetTrackingScalingPolicyConfiguration>,
    predictive_scaling_policy_configuration: Option<Value>,
}

fn check_policy_name(name: Option<&str>, member: &str) -> Result<String, ApiFault> {
    let name = name.ok_or_else(|| null(member))?;
    if name.is_empty() || name.chars().count() > 256 || name.chars().any(char::is_control) {
        return Err(validation(format!(
            "1 validation error detected: Value '{name}' at '{member}' failed to satisfy constraint: Member must have length between 1 and 256 and contain only printable characters"
        )));
    }
    Ok(name.to_string())
}

fn put_policy(w: &mut Write<'_>, req: PutPolicyReq) -> R {
    let name = check_policy_name(req.policy_name.as_deref(), "policyName")?;
    let rid = target_key(
        req.service_namespace.as_deref(),
        req.resource_id.as_deref(),
        req.scalable_dimension.as_deref(),
    )?
    .to_string();
    let policy_type = match req.policy_type.as_deref() {
        None | Some("StepScaling") => PolicyType::StepScaling,
        Some("TargetTrackingScaling") => PolicyType::TargetTrackingScaling,
        Some("PredictiveScaling") => PolicyType::PredictiveScaling,
        Some(other) => {
            return Err(validation(format!(
                "1 validation error detected: Value '{other}' at 'policyType' failed to satisfy constraint: Member must satisfy enum value set: [PredictiveScaling, StepScaling, TargetTrackingScaling]"
            )));
        }
    };
    let step = req.step_scaling_policy_configuration;
    let tt = req.target_tracking_scaling_policy_configuration;
    let predictive = req.predictive_scaling_policy_configuration;
    match policy_type {
        PolicyType::StepScaling => {
            if tt.is_some() || predictive.is_some() {
                return Err(validation(
                    "Only StepScalingPolicyConfiguration may be specified for a StepScaling policy.",
                ));
            }
            let c = step.as_ref().ok_or_else(|| {
                validation("StepScalingPolicyConfiguration is required for a StepScaling policy.")
            })?;
            let Some(adj) = c.adjustment_type else {
                return Err(validation(
                    "AdjustmentType is required for a StepScaling policy.",
                ));
            };
            if c.min_adjustment_magnitude.is_some()
                && adj != sc::AdjustmentType::PercentChangeInCapacity
            {
                return Err(validation(
                    "MinAdjustmentMagnitude may only be specified when AdjustmentType is PercentChangeInCapacity.",
                ));
            }
            if c.cooldown.is_some_and(|c| c < 0) {
                return Err(validation("Cooldown must be greater than or equal to 0."));
            }
            sc::validate_steps(&c.step_adjustments).map_err(|e| validation(e.to_string()))?;
        }
        PolicyType::TargetTrackingScaling => {
            if step.is_some() || predictive.is_some() {
                return Err(validation(
                    "Only TargetTrackingScalingPolicyConfiguration may be specified for a TargetTrackingScaling policy.",
                ));
            }
            let c = tt.as_ref().ok_or_else(|| {
                validation(
                    "TargetTrackingScalingPolicyConfiguration is required for a TargetTrackingScaling policy.",
                )
            })?;
            match (
                &c.predefined_metric_specification,
                &c.customized_metric_specification,
            ) {
                (Some(p), None) => {
                    if !ECS_METRICS.contains(&p.predefined_metric_type.as_str()) {
                        return Err(validation(format!(
                            "Unsupported predefined metric type {} for service namespace ecs.",
                            p.predefined_metric_type
                        )));
                    }
                    if p.predefined_metric_type == "ALBRequestCountPerTarget"
                        && p.resource_label.as_deref().is_none_or(str::is_empty)
                    {
                        return Err(validation(
                            "ResourceLabel is required for predefined metric type ALBRequestCountPerTarget.",
                        ));
                    }
                }
                (None, Some(_)) => {}
                _ => {
                    return Err(validation(
                        "Exactly one of PredefinedMetricSpecification and CustomizedMetricSpecification must be specified.",
                    ));
                }
            }
            if !c.target_value.is_finite() || c.target_value <= 0.0 {
                return Err(validation("TargetValue must be a number greater than 0."));
            }
            if c.scale_in_cooldown.is_some_and(|v| v < 0)
                || c.scale_out_cooldown.is_some_and(|v| v < 0)
            {
                return Err(validation("Cooldowns must be greater than or equal to 0."));
            }
        }
        PolicyType::PredictiveScaling => {
            if predictive.is_none() || step.is_some() || tt.is_some() {
                return Err(validation(
                    "PredictiveScalingPolicyConfiguration is required for a PredictiveScaling policy.",
                ));
            }
        }
    }
    let t =
        w.st.autoscaling
            .targets
            .get(&rid)
            .ok_or_else(|| no_target(&rid))?;
    let existing = t.policies.get(&name).cloned();
    if existing.is_none() && t.policies.len() >= MAX_POLICIES {
        return Err(ApiFault::aas(
            "LimitExceededException",
            format!("Maximum number of scaling policies ({MAX_POLICIES}) reached for {rid}."),
        ));
    }
    let id = match &existing {
        Some(p) => p.arn.split(':').nth(6).unwrap_or_default().to_string(),
        None => uuid(w),
    };
    let arn = existing.as_ref().map(|p| p.arn.clone()).unwrap_or_else(|| {
        format!(
            "arn:aws:autoscaling:{}:{}:scalingPolicy:{id}:resource/ecs/{rid}:policyName/{name}",
            w.env.region, w.env.account
        )
    });
    let alarms = match policy_type {
        PolicyType::TargetTrackingScaling => {
            match existing.as_ref().filter(|p| p.alarms.len() == 2) {
                Some(p) => p.alarms.clone(),
                None => {
                    let u = uuid(w);
                    ["AlarmHigh", "AlarmLow"]
                        .iter()
                        .map(|k| {
                            let n = format!("TargetTracking-{rid}-{k}-{u}");
                            let a = format!(
                                "arn:aws:cloudwatch:{}:{}:alarm:{n}",
                                w.env.region, w.env.account
                            );
                            (n, a)
                        })
                        .collect()
                }
            }
        }
        PolicyType::StepScaling => existing
            .as_ref()
            .filter(|p| p.policy.policy_type == PolicyType::StepScaling)
            .map(|p| p.alarms.clone())
            .unwrap_or_default(),
        PolicyType::PredictiveScaling => Vec::new(),
    };
    let alarm = existing
        .as_ref()
        .filter(|_| policy_type == PolicyType::StepScaling)
        .and_then(|p| p.policy.alarm.clone());
    let rec = PolicyRec {
        arn: arn.clone(),
        policy: sc::ScalingPolicy {
            policy_name: name.clone(),
            policy_type,
            step_scaling_policy_configuration: step,
            target_tracking_scaling_policy_configuration: tt,
            alarm,
        },
        predictive,
        alarms: alarms.clone(),
        created_at: existing.as_ref().map_or(w.now, |p| p.created_at),
    };
    let Some(t) = w.st.autoscaling.targets.get_mut(&rid) else {
        return Err(no_target(&rid));
    };
    t.policies.insert(name, rec);
    t.restart_window();
    w.dirty.insert(Key::ScalableTarget(rid));
    let alarms: Vec<Value> = alarms
        .iter()
        .map(|(n, a)| json!({"AlarmName": n, "AlarmARN": a}))
        .collect();
    Ok(json!({"PolicyARN": arn, "Alarms": alarms}))
}

fn delete_policy(w: &mut Write<'_>, req: KeyReq) -> R {
    let name = check_policy_name(req.policy_name.as_deref(), "policyName")?;
    let rid = target_key(
        req.service_namespace.as_deref(),
        req.resource_id.as_deref(),
        req.scalable_dimension.as_deref(),
    )?
    .to_string();
    let t = w.st.autoscaling.targets.get_mut(&rid);
    if t.and_then(|t| {
        t.restart_window();
        t.policies.remove(&name)
    })
    .is_none()
    {
        return Err(not_found(format!(
            "No scaling policy found for service namespace: {NAMESPACE}, resource ID: {rid}, scalable dimension: {DIMENSION}, policy name: {name}"
        )));
    }
    w.dirty.insert(Key::ScalableTarget(rid));
    Ok(json!({}))
}

fn policy_json(t: &TargetRec, p: &PolicyRec) -> Value {
    let mut v = json!({
        "PolicyARN": p.arn,
        "PolicyName": p.policy.policy_name,
        "ServiceNamespace": NAMESPACE,
        "ResourceId": t.resource_id,
        "ScalableDimension": DIMENSION,
        "PolicyType": p.policy.policy_type,
        "Alarms": p.alarms.iter().map(|(n, a)| json!({"AlarmName": n, "AlarmARN": a})).collect::<Vec<_>>(),
        "CreationTime": secs(p.created_at),
    });
    if let Some(c) = &p.policy.step_scaling_policy_configuration {
        v["StepScalingPolicyConfiguration"] = json!(c);
    }
    if let Some(c) = &p.policy.target_tracking_scaling_policy_configuration {
        v["TargetTrackingScalingPolicyConfiguration"] = json!(c);
    }
    if let Some(c) = &p.predictive {
        v["PredictiveScalingPolicyConfiguration"] = c.clone();
    }
    v
}

fn describe_policies(r: &Read<'_>, req: DescribeReq) -> R {
    const OP: &str = "DescribeScalingPolicies";
    let Some((page, targets)) = req.targets(r.st, OP)? else {
        return Ok(json!({"ScalingPolicies": []}));
    };
    let names = req.policy_names.as_ref().filter(|n| !n.is_empty());
    let items = targets.into_iter().flat_map(|t| {
        t.policies
            .values()
            .filter(move |p| names.is_none_or(|n| n.contains(&p.policy.policy_name)))
            .map(move |p| {
                (
                    format!("{}\n{}", t.resource_id, p.policy.policy_name),
                    policy_json(t, p),
                )
            })
    });
    let (items, next) = page.take(OP, items);
    Ok(with_token(json!({"ScalingPolicies": items}), next))
}

// ---------------------------------------------------------------------------------------------
// Scheduled actions

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutScheduledReq {
    service_namespace: Option<String>,
    resource_id: Option<String>,
    scalable_dimension: Option<String>,
    scheduled_action_name: Option<String>,
    schedule: Option<String>,
    timezone: Option<String>,
    start_time: Option<Value>,
    end_time: Option<Value>,
    scalable_target_action: Option<ScalableTargetAction>,
}

fn check_action_name(name: Option<&str>) -> Result<String, ApiFault> {
    let name = name.ok_or_else(|| null("scheduledActionName"))?;
    if name.is_empty()
        || name.chars().count() > 256
        || name.contains([':', '/', '|'])
        || name.chars().any(char::is_control)
        || name.trim() != name
    {
        return Err(validation(format!(
            "Invalid scheduled action name {name:?}: 1 to 256 characters, no ':', '/' or '|', no control characters and no leading or trailing spaces."
        )));
    }
    Ok(name.to_string())
}

fn put_scheduled(w: &mut Write<'_>, req: PutScheduledReq) -> R {
    let name = check_action_name(req.scheduled_action_name.as_deref())?;
    let rid = target_key(
        req.service_namespace.as_deref(),
        req.resource_id.as_deref(),
        req.scalable_dimension.as_deref(),
    )?
    .to_string();
    let start = opt_time(req.start_time.as_ref(), "StartTime")?;
    let end = opt_time(req.end_time.as_ref(), "EndTime")?;
    let t =
        w.st.autoscaling
            .targets
            .get(&rid)
            .ok_or_else(|| no_target(&rid))?;
    let existing = t.scheduled.get(&name).cloned();
    if existing.is_none() && t.scheduled.len() >= MAX_SCHEDULED_ACTIONS {
        return Err(ApiFault::aas(
            "LimitExceededException",
            format!(
                "Maximum number of scheduled actions ({MAX_SCHEDULED_ACTIONS}) reached for {rid}."
            ),
        ));
    }
    let old = existing.as_ref().map(|e| &e.action);
    let schedule = req
        .schedule
        .or_else(|| old.map(|a| a.schedule.clone()))
        .ok_or_else(|| validation("Schedule is required when creating a scheduled action."))?;
    if schedule.is_empty() || schedule.len() > 1600 {
        return Err(validation(
            "Schedule must be between 1 and 1600 characters.",
        ));
    }
    let action = ScheduledAction {
        scheduled_action_name: name.clone(),
        schedule,
        timezone: req
            .timezone
            .or_else(|| old.and_then(|a| a.timezone.clone())),
        start_time: start.or_else(|| old.and_then(|a| a.start_time)),
        end_time: end.or_else(|| old.and_then(|a| a.end_time)),
        scalable_target_action: req
            .scalable_target_action
            .or_else(|| old.and_then(|a| a.scalable_target_action)),
    };
    sc::Schedule::parse(&action.schedule).map_err(|e| validation(e.to_string()))?;
    sc::parse_timezone(action.timezone.as_deref()).map_err(|e| validation(e.to_string()))?;
    if let Some(a) = action.scalable_target_action {
        if a.min_capacity.is_some_and(|v| v < 0) || a.max_capacity.is_some_and(|v| v < 0) {
            return Err(validation(
                "ScalableTargetAction capacities must be at least 0.",
            ));
        }
        if let (Some(lo), Some(hi)) = (a.min_capacity, a.max_capacity) {
            if lo > hi {
                return Err(validation(format!(
                    "Minimum capacity ({lo}) cannot be greater than maximum capacity ({hi})."
                )));
            }
        }
    }
    if let (Some(s), Some(e)) = (action.start_time, action.end_time) {
        if e < s {
            return Err(validation("EndTime must be after StartTime."));
        }
    }
    let created_at = existing.as_ref().map_or(w.now, |e| e.created_at);
    let next_fire = action
        .next_fire(w.now, created_at)
        .map_err(|e| validation(e.to_string()))?;
    let arn = match &existing {
        Some(e) => e.arn.clone(),
        None => {
            let id = uuid(w);
            format!(
                "arn:aws:autoscaling:{}:{}:scheduledAction:{id}:resource/ecs/{rid}:scheduledActionName/{name}",
                w.env.region, w.env.account
            )
        }
    };
    let Some(t) = w.st.autoscaling.targets.get_mut(&rid) else {
        return Err(no_target(&rid));
    };
    t.scheduled.insert(
        name,
        ScheduledRec {
            arn,
            action,
            created_at,
            next_fire,
        },
    );
    w.dirty.insert(Key::ScalableTarget(rid));
    Ok(json!({}))
}

fn delete_scheduled(w: &mut Write<'_>, req: KeyReq) -> R {
    let name = check_action_name(req.scheduled_action_name.as_deref())?;
    let rid = target_key(
        req.service_namespace.as_deref(),
        req.resource_id.as_deref(),
        req.scalable_dimension.as_deref(),
    )?
    .to_string();
    let removed =
        w.st.autoscaling
            .targets
            .get_mut(&rid)
            .and_then(|t| t.scheduled.remove(&name));
    if removed.is_none() {
        return Err(not_found(format!(
            "No scheduled action found for service namespace: {NAMESPACE}, resource ID: {rid}, scalable dimension: {DIMENSION}, scheduled action name: {name}"
        )));
    }
    w.dirty.insert(Key::ScalableTarget(rid));
    Ok(json!({}))
}

fn scheduled_json(t: &TargetRec, s: &ScheduledRec) -> Value {
    let a = &s.action;
    let mut v = json!({
        "ScheduledActionName": a.scheduled_action_name,
        "ScheduledActionARN": s.arn,
        "ServiceNamespace": NAMESPACE,
        "Schedule": a.schedule,
        "ResourceId": t.resource_id,
        "ScalableDimension": DIMENSION,
        "CreationTime": secs(s.created_at),
    });
    if let Some(tz) = &a.timezone {
        v["Timezone"] = json!(tz);
    }
    if let Some(x) = a.start_time {
        v["StartTime"] = secs(x);
    }
    if let Some(x) = a.end_time {
        v["EndTime"] = secs(x);
    }
    if let Some(x) = &a.scalable_target_action {
        v["ScalableTargetAction"] = json!(x);
    }
    v
}

fn describe_scheduled(r: &Read<'_>, req: DescribeReq) -> R {
    const OP: &str = "DescribeScheduledActions";
    let Some((page, targets)) = req.targets(r.st, OP)? else {
        return Ok(json!({"ScheduledActions": []}));
    };
    let names = req
        .scheduled_action_names
        .as_ref()
        .filter(|n| !n.is_empty());
    let items = targets.into_iter().flat_map(|t| {
        t.scheduled
            .iter()
            .filter(move |(n, _)| names.is_none_or(|names| names.contains(n)))
            .map(move |(n, s)| (format!("{}\n{n}", t.resource_id), scheduled_json(t, s)))
    });
    let (items, next) = page.take(OP, items);
    Ok(with_token(json!({"ScheduledActions": items}), next))
}

// ---------------------------------------------------------------------------------------------
// Scaling activities

fn describe_activities(r: &Read<'_>, req: DescribeReq) -> R {
    const OP: &str = "DescribeScalingActivities";
    let Some((page, targets)) = req.targets(r.st, OP)? else {
        return Ok(json!({"ScalingActivities": []}));
    };
    let mut all: Vec<(String, Value)> = targets
        .into_iter()
        .flat_map(|t| {
            t.activities.iter().map(move |a| {
                let mut v = json!({
                    "ActivityId": a.id,
                    "ServiceNamespace": NAMESPACE,
                    "ResourceId": t.resource_id,
                    "ScalableDimension": DIMENSION,
                    "Description": a.description,
                    "Cause": a.cause,
                    "StartTime": secs(a.start),
                    "StatusCode": a.status_code,
                    "StatusMessage": a.status_message,
                });
                if let Some(e) = a.end {
                    v["EndTime"] = secs(e);
                }
                // Newest first; ties broken by id so the cursor is total.
                (
                    format!("{:020}\n{}", a.start.timestamp_millis().max(0), a.id),
                    v,
                )
            })
        })
        .collect();
    all.sort_by(|a, b| b.0.cmp(&a.0));
    let (items, next) = page.take_desc(OP, all.into_iter());
    Ok(with_token(json!({"ScalingActivities": items}), next))
}

// ---------------------------------------------------------------------------------------------
// Acting: desired count changes, scheduled actions, policies

fn activity(
    w: &mut Write<'_>,
    description: String,
    cause: String,
    ok: Result<String, String>,
) -> Activity {
    let id = uuid(w);
    let (status_code, status_message) = match ok {
        Ok(m) => ("Successful", m),
        Err(m) => ("Failed", m),
    };
    Activity {
        id,
        description,
        cause,
        start: w.now,
        end: Some(w.now),
        status_code: status_code.into(),
        status_message,
    }
}

fn push_activity(w: &mut Write<'_>, rid: &str, a: Activity) {
    if let Some(t) = w.st.autoscaling.targets.get_mut(rid) {
        t.push_activity(a);
        w.dirty.insert(Key::ScalableTarget(rid.to_string()));
    }
}

/// Sets the service's desired count (as UpdateService does) and records the activity.
fn scale_to(w: &mut Write<'_>, rid: &str, to: i32, cause: String) {
    let result = match parse_resource_id(rid) {
        Some((c, s)) => super::services::update(
            w,
            m::UpdateServiceRequest {
                cluster: Some(c.to_string()),
                service: Some(s.to_string()),
                desired_count: Some(to),
                ..Default::default()
            },
        )
        .map(|_| {
            format!("Successfully set desired count to {to}. Change successfully fulfilled by ecs.")
        })
        .map_err(|e| {
            format!(
                "Failed to set desired count to {to}. {}: {}",
                e.code, e.message
            )
        }),
        None => Err(format!(
            "Failed to set desired count to {to}. Invalid resource ID {rid}."
        )),
    };
    let ok = result.is_ok();
    let a = activity(w, format!("Setting desired count to {to}."), cause, result);
    push_activity(w, rid, a);
    if ok {
        if let Some(t) = w.st.autoscaling.targets.get_mut(rid) {
            t.window.expected = to;
        }
    }
}

/// The reconciler's part: fires every scheduled action that is due at `w.now`, then feeds the
/// minute that ended to the policies ([`feed_metrics`]).
pub(crate) fn tick(w: &mut Write<'_>) {
    let now = w.now;
    let due: Vec<(String, String, bool)> =
        w.st.autoscaling
            .targets
            .values()
            .flat_map(|t| {
                let suspended = t
                    .suspended_state
                    .scheduled_scaling_suspended
                    .unwrap_or(false);
                t.scheduled
                    .iter()
                    .filter(|(_, s)| s.next_fire.is_some_and(|f| f <= now))
                    .map(move |(n, _)| (t.resource_id.clone(), n.clone(), suspended))
            })
            .collect();
    for (rid, name, suspended) in due {
        fire(w, &rid, &name, suspended);
    }
    feed_metrics(w);
}

fn fire(w: &mut Write<'_>, rid: &str, name: &str, suspended: bool) {
    let now = w.now;
    let Some(t) = w.st.autoscaling.targets.get_mut(rid) else {
        return;
    };
    let Some(s) = t.scheduled.get_mut(name) else {
        return;
    };
    s.next_fire = s.action.next_fire(now, s.created_at).ok().flatten();
    let act = s.action.scalable_target_action.unwrap_or_default();
    w.dirty.insert(Key::ScalableTarget(rid.to_string()));
    if suspended {
        return;
    }
    let (mut min, mut max) = (t.min_capacity, t.max_capacity);
    if let Some(v) = act.min_capacity {
        min = v;
    }
    if let Some(v) = act.max_capacity {
        max = v;
    }
    if min > max {
        // Keep the bounds coherent: the bound the action sets wins (as `replay` does).
        if act.min_capacity.is_some() {
            max = min;
        } else {
            min = max;
        }
    }
    t.min_capacity = min;
    t.max_capacity = max;
    t.restart_window();
    let what = match (act.min_capacity, act.max_capacity) {
        (Some(_), Some(_)) => format!("min capacity to {min} and max capacity to {max}"),
        (Some(_), None) => format!("min capacity to {min}"),
        (None, Some(_)) => format!("max capacity to {max}"),
        (None, None) => "no capacity change".to_string(),
    };
    let a = activity(
        w,
        format!("Setting {what}"),
        format!("scheduled action name {name} was triggered"),
        Ok(format!("Successfully set {what}")),
    );
    push_activity(w, rid, a);
    match current_desired(w.st, rid) {
        Some(c) if c < min => scale_to(w, rid, min, format!("minimum capacity was set to {min}")),
        Some(c) if c > max => scale_to(w, rid, max, format!("maximum capacity was set to {max}")),
        _ => {}
    }
}

fn bad(msg: impl Into<String>) -> AwsError {
    AwsError::invalid_parameter(msg)
}

/// Test control: one metric datapoint at the cluster's current time for a scalable target; the
/// target's policies are evaluated with [`berth_core::scaling::replay`] and any change is applied
/// at once. Returns the desired count and the activities written. A value for a predefined ECS
/// metric (or `CPUUtilization` / `MemoryUtilization`) also pins the service's `AWS/ECS` series
/// for the current minute, so GetMetricData shows what the policies saw.
pub(crate) fn put_metric(
    w: &mut Write<'_>,
    rid: &str,
    metric: &str,
    value: f64,
) -> Result<Value, AwsError> {
    if !value.is_finite() {
        return Err(bad("value must be a finite number."));
    }
    current_desired(w.st, rid).ok_or_else(|| bad(format!("ECS service doesn't exist: {rid}")))?;
    if !w.st.autoscaling.targets.contains_key(rid) {
        return Err(bad(no_target(rid).message));
    }
    let now = w.now;
    if let Some(id) =
        parse_resource_id(rid).and_then(|(c, s)| metrics::service_metric(c, s, metric))
    {
        let key = w.st.metrics.push(
            &id,
            Some("Percent"),
            now.timestamp(),
            metrics::Stats::one(value),
            true,
        );
        w.dirty.insert(key);
    }
    let written = evaluate(w, rid, sc::Datapoint::single(now, metric, value))?;
    Ok(json!({
        "desiredCount": current_desired(w.st, rid),
        "activities": written,
    }))
}

/// Adds a datapoint to a target's metric window (merged into the last one when it is not
/// newer), replays the window and applies the changes not applied yet; returns how many
/// scaling activities were written.
fn evaluate(w: &mut Write<'_>, rid: &str, dp: sc::Datapoint) -> Result<usize, AwsError> {
    let current = current_desired(w.st, rid)
        .ok_or_else(|| bad(format!("ECS service doesn't exist: {rid}")))?;
    let deploying = deploying(w.st, rid);
    let t =
        w.st.autoscaling
            .targets
            .get_mut(rid)
            .ok_or_else(|| bad(no_target(rid).message))?;
    if t.window.anchor_capacity.is_none()
        || t.window.expected != current
        || t.window.datapoints.len() >= MAX_DATAPOINTS
    {
        t.window = MetricWindow {
            anchor_capacity: Some(current),
            expected: current,
            applied: 0,
            datapoints: Vec::new(),
        };
    }
    match t.window.datapoints.last_mut() {
        Some(d) if d.timestamp >= dp.timestamp => d.values.extend(dp.values),
        _ => t.window.datapoints.push(dp),
    }

    let input = sc::ReplayInput {
        target: t.core(),
        initial_capacity: t.window.anchor_capacity.unwrap_or(current),
        policies: t.evaluable_policies(),
        scheduled_actions: Vec::new(),
        created_at: None,
        datapoints: t.window.datapoints.clone(),
    };
    let timeline = sc::replay(&input).map_err(|e| bad(e.to_string()))?;
    let mut fresh: Vec<sc::CapacityChange> = timeline
        .changes
        .get(t.window.applied..)
        .unwrap_or_default()
        .to_vec();
    t.window.applied = timeline.changes.len();
    // Application Auto Scaling suspends scale-in while an ECS deployment is in progress
    // (scale-out goes on): a scale-in decided now is dropped, and the window starts over so it
    // is not applied late; it is decided again on fresh datapoints after the deployment.
    let mut restart = false;
    if deploying && let Some(i) = fresh.iter().position(|ch| ch.to < ch.from) {
        fresh.truncate(i);
        restart = true;
    }
    let causes: Vec<String> = fresh
        .iter()
        .map(|ch| {
            let (policy, out) = match &ch.cause {
                sc::Cause::TargetTracking { policy_name }
                | sc::Cause::StepScaling { policy_name } => (policy_name.clone(), ch.to > ch.from),
                sc::Cause::Scheduled {
                    scheduled_action_name,
                } => {
                    return format!("scheduled action name {scheduled_action_name} was triggered");
                }
            };
            let alarm = t
                .policies
                .get(&policy)
                .and_then(|p| {
                    let key = if out { "-AlarmHigh-" } else { "-AlarmLow-" };
                    p.alarms
                        .iter()
                        .find(|(n, _)| n.contains(key))
                        .or(p.alarms.first())
                        .map(|(n, _)| n.clone())
                })
                .unwrap_or_else(|| format!("{policy}-alarm"));
            format!("monitor alarm {alarm} in state ALARM triggered policy {policy}")
        })
        .collect();
    w.dirty.insert(Key::ScalableTarget(rid.to_string()));
    let mut written = 0;
    for (ch, cause) in fresh.iter().zip(causes) {
        scale_to(w, rid, ch.to, cause);
        written += 1;
    }
    if restart {
        let now = current_desired(w.st, rid).unwrap_or(current);
        if let Some(t) = w.st.autoscaling.targets.get_mut(rid) {
            t.window = MetricWindow {
                anchor_capacity: Some(now),
                expected: now,
                applied: 0,
                datapoints: Vec::new(),
            };
        }
    }
    Ok(written)
}

/// The CloudWatch metrics a target's evaluable policies read, as (datapoint key, metric,
/// statistic): the service's `AWS/ECS` series for the predefined ECS metrics and for step
/// alarms on `CPUUtilization` / `MemoryUtilization`, and the named metric of a customized
/// (single-metric) target-tracking specification.
fn policy_metrics(
    t: &TargetRec,
    cluster: &str,
    service: &str,
) -> Vec<(String, metrics::MetricId, metrics::Statistic)> {
    let mut out = Vec::new();
    for p in t.evaluable_policies() {
        if let Some(c) = &p.target_tracking_scaling_policy_configuration {
            let key = c.metric_key();
            if let Some(pre) = &c.predefined_metric_specification {
                if let Some(id) =
                    metrics::service_metric(cluster, service, &pre.predefined_metric_type)
                {
                    out.push((key, id, metrics::Statistic::Average));
                }
            } else if let Some(cm) = c
                .customized_metric_specification
                .as_ref()
                .filter(|cm| cm.metrics.is_none())
            {
                if let (Some(ns), Some(name)) = (&cm.namespace, &cm.metric_name) {
                    let id = metrics::MetricId::new(
                        ns,
                        name,
                        cm.dimensions
                            .iter()
                            .map(|d| (d.name.clone(), d.value.clone())),
                    );
                    let stat = cm
                        .statistic
                        .as_deref()
                        .and_then(metrics::Statistic::parse)
                        .unwrap_or(metrics::Statistic::Average);
                    out.push((key, id, stat));
                }
            }
        }
        if let Some(a) = &p.alarm {
            if let Some(id) = metrics::service_metric(cluster, service, &a.metric_name) {
                out.push((a.metric_name.clone(), id, metrics::Statistic::Average));
            }
        }
    }
    out
}

/// The reconciler's part for metrics: once per minute of the cluster's clock, every scalable
/// target whose policies read CloudWatch metrics gets the datapoint of the minute that just
/// ended from [`metrics::series`] (generated, or pushed where pushed) and is evaluated. A
/// target that already has a datapoint for that minute (fed through the test-control API) is
/// left alone.
fn feed_metrics(w: &mut Write<'_>) {
    let now = w.now.timestamp();
    let minute = metrics::minute_of(now) - 60;
    let Some(at) = DateTime::from_timestamp(minute, 0) else {
        return;
    };
    let st: &State = w.st;
    let mut todo = Vec::new();
    for t in st.autoscaling.targets.values() {
        if t.window
            .datapoints
            .last()
            .is_some_and(|d| d.timestamp.timestamp() >= minute)
        {
            continue;
        }
        let Some((cluster, service)) = parse_resource_id(&t.resource_id) else {
            continue;
        };
        let mut values = BTreeMap::new();
        for (key, id, stat) in policy_metrics(t, cluster, service) {
            if values.contains_key(&key) {
                continue;
            }
            let series = metrics::series(st, w.env.seed, &id, minute, minute + 60, now);
            if let Some(s) = series.get(&minute) {
                values.insert(key, s.get(stat));
            }
        }
        if !values.is_empty() {
            todo.push((
                t.resource_id.clone(),
                sc::Datapoint {
                    timestamp: at,
                    values,
                },
            ));
        }
    }
    for (rid, dp) in todo {
        if let Err(e) = evaluate(w, &rid, dp) {
            tracing::debug!(resource_id = rid, error = %e, "metric datapoint not evaluated");
        }
    }
}

/// Test control: attaches the CloudWatch alarm that invokes a step-scaling policy (AAS leaves
/// alarms to CloudWatch, which the local cluster does not have).
pub(crate) fn attach_alarm(
    w: &mut Write<'_>,
    rid: &str,
    policy: &str,
    alarm: StepAlarm,
) -> Result<(), AwsError> {
    let region = w.env.region.clone();
    let account = w.env.account.clone();
    let t =
        w.st.autoscaling
            .targets
            .get_mut(rid)
            .ok_or_else(|| bad(no_target(rid).message))?;
    let p = t
        .policies
        .get_mut(policy)
        .filter(|p| p.policy.policy_type == PolicyType::StepScaling)
        .ok_or_else(|| bad(format!("No step scaling policy {policy} on {rid}.")))?;
    let name = format!("{policy}-{}", alarm.metric_name);
    p.alarms = vec![(
        name.clone(),
        format!("arn:aws:cloudwatch:{region}:{account}:alarm:{name}"),
    )];
    p.policy.alarm = Some(alarm);
    t.restart_window();
    w.dirty.insert(Key::ScalableTarget(rid.to_string()));
    Ok(())
}
