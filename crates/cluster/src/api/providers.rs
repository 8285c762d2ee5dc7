//! CreateCapacityProvider, UpdateCapacityProvider, DeleteCapacityProvider and
//! DescribeCapacityProviders, and what the other handlers ask about a provider: whether it
//! exists, whether it is a Fargate one, whether a strategy may name it.
//!
//! Not here:
//! - Placing the tasks of an Auto Scaling group provider. There is no Auto Scaling group behind
//!   the local cluster: its EC2 container instances serve every such provider (`tasks.rs`
//!   places them as EC2 tasks and names the provider on the task).
//! - Managed scaling, which the reconciler does (`reconciler::capacity`); managed termination
//!   protection and managed draining are recorded and answered, never acted on.
//! - Amazon ECS Managed Instances providers (`managedInstancesProvider`): refused with
//!   `UnsupportedFeatureException`.

use berth_core::model as m;
use berth_core::protocol::{AwsError, ErrorCode, Resource};
use serde_json::{Value, json};

use super::{Page, Read, Write, check_tags, failure, last_segment, out};
use crate::state::{Env, Key, ProviderRec, State};

/// The providers every account has: they need only be associated with a cluster.
pub(crate) const FARGATE_PROVIDERS: [&str; 2] = ["FARGATE", "FARGATE_SPOT"];

/// Whether `name` is `FARGATE` or `FARGATE_SPOT`.
pub(crate) fn is_fargate(name: &str) -> bool {
    FARGATE_PROVIDERS.contains(&name)
}

/// Whether `name` is a provider a cluster can be given: a Fargate one, or an `ACTIVE` Auto
/// Scaling group provider.
pub(crate) fn exists(st: &State, name: &str) -> bool {
    is_fargate(name) || active(st, name).is_some()
}

fn active<'a>(st: &'a State, name: &str) -> Option<&'a ProviderRec> {
    st.capacity_providers
        .get(name)
        .filter(|p| p.provider.status.as_ref().map(|s| s.as_str()) == Some("ACTIVE"))
}

/// Whether the tasks of `strategy` run on Fargate. A strategy cannot mix Fargate and Auto
/// Scaling group providers ([`check_mix`]), so its first provider tells.
pub(crate) fn strategy_is_fargate(strategy: &[m::CapacityProviderStrategyItem]) -> bool {
    strategy
        .first()
        .and_then(|i| i.capacity_provider.as_deref())
        .is_some_and(is_fargate)
}

/// ECS's refusal of a strategy with both kinds of provider.
pub(crate) fn check_mix(strategy: &[m::CapacityProviderStrategyItem]) -> Result<(), AwsError> {
    let fargate = strategy
        .iter()
        .filter(|i| is_fargate(i.capacity_provider.as_deref().unwrap_or_default()))
        .count();
    if fargate > 0 && fargate < strategy.len() {
        return Err(AwsError::invalid_parameter(MIXED));
    }
    Ok(())
}

/// ECS's text for a strategy mixing Auto Scaling group and Fargate providers
/// (terraform-aws-modules/terraform-aws-ecs#68, on PutClusterCapacityProviders' default strategy).
pub(crate) const MIXED: &str = "A capacity provider strategy cannot contain a mix of capacity providers using Auto Scaling groups and Fargate providers. Specify one or the other and try again.";

/// ECS's text on DeleteCapacityProvider (terraform-provider-aws `capacity_provider.go`); used for
/// UpdateCapacityProvider too, where ECS's is not on record.
fn not_found() -> AwsError {
    AwsError::client(
        "The specified capacity provider does not exist. Specify a valid name or ARN and try again.",
    )
}

/// The name rule of the model's documentation: up to 255 letters, digits, `_` and `-`, not
/// starting with `aws`, `ecs` or `fargate` in any case (aws/aws-cdk#36584: `Ecs…` is refused).
/// ECS's text (aws-samples/aws-cdk-examples#626); its exception is not on record.
fn check_name(name: &str) -> Result<(), AwsError> {
    let lower = name.to_ascii_lowercase();
    let reserved = ["aws", "ecs", "fargate"]
        .iter()
        .any(|p| lower.starts_with(p));
    if !super::valid_name(name) || reserved {
        return Err(AwsError::client(
            "The specified capacity provider name is invalid. Up to 255 characters are allowed, including letters (upper and lowercase), numbers, underscores, and hyphens. The name cannot be prefixed with \"aws\", \"ecs\", or \"fargate\". Specify a valid name and try again.",
        ));
    }
    Ok(())
}

/// An Auto Scaling group's ARN
/// (`arn:…:autoscaling:…:autoScalingGroup:<id>:autoScalingGroupName/<name>`) or name, as the
/// model allows both.
fn check_group(group: &str) -> Result<(), AwsError> {
    let bad = || {
        AwsError::client(format!(
            "The specified Auto Scaling group {group:?} is not an Auto Scaling group ARN or name."
        ))
    };
    if group.is_empty() || group.len() > 1600 || group.chars().any(char::is_control) {
        return Err(bad());
    }
    if group.starts_with("arn:") {
        let parts: Vec<&str> = group.splitn(6, ':').collect();
        let ok = parts.len() == 6
            && parts[2] == "autoscaling"
            && parts[5].starts_with("autoScalingGroup:")
            && parts[5].contains(":autoScalingGroupName/");
        if !ok {
            return Err(bad());
        }
    }
    Ok(())
}

/// The Auto Scaling group's name in an ARN or name, which identifies it for the one-provider
/// rule whichever form each provider was given.
fn group_name(group: &str) -> &str {
    group
        .rsplit_once(":autoScalingGroupName/")
        .map_or(group, |(_, n)| n)
}

/// `managedScaling` with ECS's defaults filled in (over `base`, the current settings, for an
/// update), checked against the model's ranges. The step-size text is ECS's (aws/aws-cli#4781);
/// the others follow it.
fn managed_scaling(
    given: Option<&m::ManagedScaling>,
    base: Option<&m::ManagedScaling>,
) -> Result<m::ManagedScaling, AwsError> {
    let pick = |f: fn(&m::ManagedScaling) -> Option<i32>, default: i32| {
        given
            .and_then(f)
            .or_else(|| base.and_then(f))
            .unwrap_or(default)
    };
    let status = given
        .and_then(|g| g.status.clone())
        .or_else(|| base.and_then(|b| b.status.clone()))
        .unwrap_or_else(|| m::ManagedScalingStatus::from("DISABLED"));
    if !matches!(status.as_str(), "ENABLED" | "DISABLED") {
        return Err(AwsError::invalid_parameter(format!(
            "Invalid managedScaling status {}; use ENABLED or DISABLED.",
            status.as_str()
        )));
    }
    let target = pick(|s| s.target_capacity, 100);
    let min_step = pick(|s| s.minimum_scaling_step_size, 1);
    let max_step = pick(|s| s.maximum_scaling_step_size, 10_000);
    let warmup = pick(|s| s.instance_warmup_period, 300);
    let invalid = |what: &str| AwsError::client(format!("The specified {what} is invalid."));
    if !(1..=100).contains(&target) {
        return Err(invalid("target capacity"));
    }
    if !(1..=10_000).contains(&min_step) {
        return Err(invalid("minimum scaling step size"));
    }
    if !(1..=10_000).contains(&max_step) || min_step > max_step {
        return Err(invalid("maximum scaling step size"));
    }
    if !(0..=10_000).contains(&warmup) {
        return Err(invalid("instance warmup period"));
    }
    Ok(m::ManagedScaling {
        status: Some(status),
        target_capacity: Some(target),
        minimum_scaling_step_size: Some(min_step),
        maximum_scaling_step_size: Some(max_step),
        instance_warmup_period: Some(warmup),
    })
}

/// An `ENABLED`/`DISABLED` member, given or kept, checked.
fn switch(
    given: Option<&str>,
    kept: Option<&str>,
    default: &str,
    member: &str,
) -> Result<String, AwsError> {
    let v = given.or(kept).unwrap_or(default);
    if !matches!(v, "ENABLED" | "DISABLED") {
        return Err(AwsError::invalid_parameter(format!(
            "Invalid {member} {v}; use ENABLED or DISABLED."
        )));
    }
    Ok(v.to_string())
}

/// The provider's Auto Scaling group settings: `given` over `kept`, defaults filled in.
fn group_provider(
    group: String,
    given: &m::AutoScalingGroupProviderUpdate,
    kept: Option<&m::AutoScalingGroupProvider>,
) -> Result<m::AutoScalingGroupProvider, AwsError> {
    let scaling = given.managed_scaling.as_ref();
    let termination = given
        .managed_termination_protection
        .as_ref()
        .map(|t| t.as_str());
    let draining = given.managed_draining.as_ref().map(|t| t.as_str());
    let scaling = managed_scaling(scaling, kept.and_then(|k| k.managed_scaling.as_ref()))?;
    let termination = switch(
        termination,
        kept.and_then(|k| k.managed_termination_protection.as_ref())
            .map(|t| t.as_str()),
        "DISABLED",
        "managedTerminationProtection",
    )?;
    let draining = switch(
        draining,
        kept.and_then(|k| k.managed_draining.as_ref())
            .map(|t| t.as_str()),
        "ENABLED",
        "managedDraining",
    )?;
    // Termination protection without managed scaling "doesn't work" (the model), but ECS is not
    // known to refuse it, so neither does this.
    Ok(m::AutoScalingGroupProvider {
        auto_scaling_group_arn: Some(group),
        managed_scaling: Some(scaling),
        managed_termination_protection: Some(m::ManagedTerminationProtection::from(
            termination.as_str(),
        )),
        managed_draining: Some(m::ManagedDraining::from(draining.as_str())),
    })
}

fn unsupported_managed_instances() -> AwsError {
    AwsError::new(
        ErrorCode::UnsupportedFeatureException,
        "Amazon ECS Managed Instances capacity providers are not implemented by the Berth local cluster yet; create an Auto Scaling group provider (autoScalingGroupProvider).",
    )
}

/// The built-in view of `FARGATE` or `FARGATE_SPOT`.
fn fargate_view(env: &Env, name: &str) -> Value {
    let arn = env.arn(Resource::CapacityProvider { name: name.into() });
    json!({"capacityProviderArn": arn, "name": name, "status": "ACTIVE", "type": name, "tags": []})
}

/// A stored provider as ECS answers it: `tags` empty unless asked for, as the AWS CLI's
/// describe-capacity-providers example shows them without `--include TAGS`.
fn view(p: &ProviderRec, tags: bool) -> m::CapacityProvider {
    let mut v = p.provider.clone();
    if !tags {
        v.tags = Some(Vec::new());
    }
    v
}

pub(crate) fn create(
    w: &mut Write<'_>,
    req: m::CreateCapacityProviderRequest,
) -> Result<Value, AwsError> {
    let name = req
        .name
        .clone()
        .ok_or_else(|| AwsError::invalid_parameter("name is required."))?;
    check_name(&name)?;
    if req.managed_instances_provider.is_some() {
        return Err(unsupported_managed_instances());
    }
    let given = req.auto_scaling_group_provider.as_ref().ok_or_else(|| {
        AwsError::invalid_parameter(
            "autoScalingGroupProvider is required: the local cluster creates Auto Scaling group capacity providers.",
        )
    })?;
    let group = given
        .auto_scaling_group_arn
        .clone()
        .ok_or_else(|| AwsError::invalid_parameter("autoScalingGroupArn is required."))?;
    check_group(&group)?;
    let tags = req.tags.clone().unwrap_or_default();
    check_tags(&tags)?;
    let settings = m::AutoScalingGroupProviderUpdate {
        managed_scaling: given.managed_scaling.clone(),
        managed_termination_protection: given.managed_termination_protection.clone(),
        managed_draining: given.managed_draining.clone(),
    };
    let asg = group_provider(group.clone(), &settings, None)?;
    if active(w.st, &name).is_some() {
        return Err(AwsError::client(EXISTS));
    }
    let taken = w.st.capacity_providers.values().any(|p| {
        p.provider.status.as_ref().map(|s| s.as_str()) == Some("ACTIVE")
            && p.provider
                .auto_scaling_group_provider
                .as_ref()
                .and_then(|a| a.auto_scaling_group_arn.as_deref())
                .is_some_and(|g| group_name(g) == group_name(&group))
    });
    if taken {
        return Err(AwsError::client(GROUP_TAKEN));
    }
    let provider = m::CapacityProvider {
        capacity_provider_arn: Some(w.env.arn(Resource::CapacityProvider { name: name.clone() })),
        name: Some(name.clone()),
        status: Some(m::CapacityProviderStatus::from("ACTIVE")),
        auto_scaling_group_provider: Some(asg),
        tags: Some(tags),
        r#type: Some(m::CapacityProviderType::from("EC2_AUTOSCALING")),
        ..m::CapacityProvider::default()
    };
    let rec = ProviderRec {
        provider,
        created_at: w.now,
    };
    let v = view(&rec, true);
    w.st.capacity_providers.insert(name.clone(), rec);
    w.dirty.insert(Key::CapacityProvider(name));
    out(json!({ "capacityProvider": v }))
}

/// ECS's texts (`docs/ecs-error-harvest.md`, section P: terraform-provider-aws#11358,
/// aws/containers-roadmap#632).
const EXISTS: &str = "The specified capacity provider already exists. To change the configuration of an existing capacity provider, update the capacity provider.";
const GROUP_TAKEN: &str = "The specified Auto Scaling group ARN is already being used by another capacity provider. Specify a unique Auto Scaling group ARN and try again.";

/// The provider a request names (by name or ARN), which cannot be `FARGATE` or `FARGATE_SPOT`.
fn named(param: Option<&str>, member: &str, verb: &str) -> Result<String, AwsError> {
    let name = param
        .map(last_segment)
        .ok_or_else(|| AwsError::invalid_parameter(format!("{member} is required.")))?;
    if is_fargate(name) {
        return Err(AwsError::invalid_parameter(format!(
            "The FARGATE and FARGATE_SPOT capacity providers are reserved and cannot be {verb}; PutClusterCapacityProviders disassociates them from a cluster."
        )));
    }
    Ok(name.to_string())
}

pub(crate) fn update(
    w: &mut Write<'_>,
    req: m::UpdateCapacityProviderRequest,
) -> Result<Value, AwsError> {
    if req.managed_instances_provider.is_some() {
        return Err(unsupported_managed_instances());
    }
    let name = named(req.name.as_deref(), "name", "updated")?;
    let rec = active(w.st, &name).ok_or_else(not_found)?;
    let given = req
        .auto_scaling_group_provider
        .as_ref()
        .ok_or_else(|| AwsError::invalid_parameter("autoScalingGroupProvider is required."))?;
    let kept = rec.provider.auto_scaling_group_provider.as_ref();
    let group = kept
        .and_then(|k| k.auto_scaling_group_arn.clone())
        .unwrap_or_default();
    let asg = group_provider(group, given, kept)?;
    let rec =
        w.st.capacity_providers
            .get_mut(&name)
            .ok_or_else(not_found)?;
    // ECS answers with the settings as they were and `UPDATE_IN_PROGRESS` (the AWS CLI's
    // update-capacity-provider example); here the update is complete once answered.
    let mut v = view(rec, false);
    v.update_status = Some(m::CapacityProviderUpdateStatus::from("UPDATE_IN_PROGRESS"));
    v.update_status_reason = None;
    rec.provider.auto_scaling_group_provider = Some(asg);
    rec.provider.update_status = Some(m::CapacityProviderUpdateStatus::from("UPDATE_COMPLETE"));
    rec.provider.update_status_reason = None;
    w.dirty.insert(Key::CapacityProvider(name));
    out(json!({ "capacityProvider": v }))
}

pub(crate) fn delete(
    w: &mut Write<'_>,
    req: m::DeleteCapacityProviderRequest,
) -> Result<Value, AwsError> {
    let name = named(
        req.capacity_provider.as_deref(),
        "capacityProvider",
        "deleted",
    )?;
    active(w.st, &name).ok_or_else(not_found)?;
    let cluster =
        w.st.clusters
            .values()
            .find(|c| c.status == "ACTIVE" && c.capacity_providers.contains(&name))
            .map(|c| c.name.clone());
    let rec =
        w.st.capacity_providers
            .get_mut(&name)
            .ok_or_else(not_found)?;
    // ECS answers a provider still associated with a cluster with 200 and `DELETE_FAILED`, the
    // provider staying ACTIVE (repost.aws knowledge-center/ecs-capacity-provider-error,
    // hashicorp/terraform-provider-aws#48156). Otherwise it answers `ACTIVE` and
    // `DELETE_IN_PROGRESS` (the AWS CLI's delete-capacity-provider example) and the provider
    // becomes `INACTIVE`, `DELETE_COMPLETE`; here at once.
    let v = if let Some(cluster) = cluster {
        rec.provider.update_status = Some(m::CapacityProviderUpdateStatus::from("DELETE_FAILED"));
        rec.provider.update_status_reason = Some(format!(
            "The capacity provider cannot be deleted because it is associated with cluster: {cluster}. Remove the capacity provider from the cluster and try again."
        ));
        view(rec, false)
    } else {
        let mut v = view(rec, false);
        v.update_status = Some(m::CapacityProviderUpdateStatus::from("DELETE_IN_PROGRESS"));
        v.update_status_reason = None;
        rec.provider.status = Some(m::CapacityProviderStatus::from("INACTIVE"));
        rec.provider.update_status = Some(m::CapacityProviderUpdateStatus::from("DELETE_COMPLETE"));
        rec.provider.update_status_reason = None;
        v
    };
    w.dirty.insert(Key::CapacityProvider(name));
    out(json!({ "capacityProvider": v }))
}

/// Named providers (up to 100, `MISSING` failures for the others), or every provider of the
/// account, `FARGATE` and `FARGATE_SPOT` first and the others in creation order, ten to a page.
pub(crate) fn describe(
    r: &Read<'_>,
    req: m::DescribeCapacityProvidersRequest,
) -> Result<Value, AwsError> {
    let tags = req.include.iter().flatten().any(|i| i.as_str() == "TAGS");
    let page = Page::new(
        "DescribeCapacityProviders",
        req.next_token.as_deref(),
        req.max_results,
        10,
        10,
    )?;
    let mut failures = Vec::new();
    let rows: Vec<(String, Value)> = match &req.capacity_providers {
        Some(names) => {
            if names.len() > 100 {
                return Err(AwsError::invalid_parameter(
                    "At most 100 capacity providers can be described in one request.",
                ));
            }
            let mut rows = Vec::new();
            for (n, asked) in names.iter().enumerate() {
                let name = last_segment(asked);
                let key = format!("{n:03}");
                if is_fargate(name) {
                    rows.push((key, fargate_view(r.env, name)));
                } else if let Some(p) = r.st.capacity_providers.get(name) {
                    rows.push((key, serde_json::to_value(view(p, tags)).unwrap_or_default()));
                } else {
                    let arn = r.env.arn(Resource::CapacityProvider { name: name.into() });
                    failures.push(failure(arn, "MISSING"));
                }
            }
            rows
        }
        None => {
            let mut rows: Vec<(String, Value)> = FARGATE_PROVIDERS
                .iter()
                .enumerate()
                .map(|(n, name)| (format!("0/{n}"), fargate_view(r.env, name)))
                .collect();
            let mut own: Vec<&ProviderRec> = r.st.capacity_providers.values().collect();
            own.sort_by_key(|p| p.created_at);
            rows.extend(own.into_iter().map(|p| {
                let key = format!(
                    "1/{:020}/{}",
                    p.created_at.timestamp_nanos_opt().unwrap_or_default(),
                    p.provider.name.as_deref().unwrap_or_default()
                );
                (key, serde_json::to_value(view(p, tags)).unwrap_or_default())
            }));
            rows
        }
    };
    let (providers, next) = page.take("DescribeCapacityProviders", rows.into_iter());
    out(json!({"capacityProviders": providers, "failures": failures, "nextToken": next}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(name: &str) -> m::CapacityProviderStrategyItem {
        m::CapacityProviderStrategyItem {
            capacity_provider: Some(name.into()),
            weight: Some(1),
            ..m::CapacityProviderStrategyItem::default()
        }
    }

    #[test]
    fn names_follow_the_models_rule() {
        assert!(check_name("ec2-spot_1").is_ok());
        for bad in ["", "awsome", "ECS-a", "Fargate2", "a b", &"x".repeat(256)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn groups_are_arns_or_names() {
        let arn = "arn:aws:autoscaling:us-east-1:000000000000:autoScalingGroup:57ffcb94-11f0-4d6d-bf60-3bac5EXAMPLE:autoScalingGroupName/MyASG";
        assert!(check_group(arn).is_ok());
        assert!(check_group("MyASG").is_ok());
        assert_eq!(group_name(arn), "MyASG");
        assert_eq!(group_name("MyASG"), "MyASG");
        assert!(check_group("arn:aws:ec2:us-east-1:000000000000:instance/i-1").is_err());
        assert!(check_group("").is_err());
    }

    #[test]
    fn managed_scaling_takes_ecs_defaults_and_ranges() {
        let s = managed_scaling(None, None).unwrap();
        assert_eq!(s.status.as_ref().map(|s| s.as_str()), Some("DISABLED"));
        assert_eq!(
            (
                s.target_capacity,
                s.minimum_scaling_step_size,
                s.maximum_scaling_step_size,
                s.instance_warmup_period
            ),
            (Some(100), Some(1), Some(10_000), Some(300))
        );
        let given = m::ManagedScaling {
            target_capacity: Some(90),
            ..m::ManagedScaling::default()
        };
        // An update keeps what it does not name.
        let kept = managed_scaling(Some(&given), Some(&s)).unwrap();
        assert_eq!(kept.target_capacity, Some(90));
        assert_eq!(kept.instance_warmup_period, Some(300));
        for bad in [0, 101] {
            let g = m::ManagedScaling {
                target_capacity: Some(bad),
                ..m::ManagedScaling::default()
            };
            assert!(managed_scaling(Some(&g), None).is_err());
        }
        let g = m::ManagedScaling {
            minimum_scaling_step_size: Some(5),
            maximum_scaling_step_size: Some(4),
            ..m::ManagedScaling::default()
        };
        assert!(managed_scaling(Some(&g), None).is_err());
    }

    #[test]
    fn a_strategy_is_fargate_or_auto_scaling_never_both() {
        assert!(strategy_is_fargate(&[
            item("FARGATE_SPOT"),
            item("FARGATE")
        ]));
        assert!(!strategy_is_fargate(&[item("asg")]));
        assert!(check_mix(&[item("FARGATE"), item("FARGATE_SPOT")]).is_ok());
        assert!(check_mix(&[item("a"), item("b")]).is_ok());
        let e = check_mix(&[item("asg"), item("FARGATE")]).unwrap_err();
        assert_eq!(e.message, MIXED);
    }
}
