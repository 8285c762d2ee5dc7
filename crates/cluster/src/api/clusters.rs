//! CreateCluster, DescribeClusters, ListClusters, UpdateCluster, UpdateClusterSettings,
//! DeleteCluster, PutClusterCapacityProviders. The providers themselves are `providers.rs`'s.

use berth_core::model as m;
use berth_core::protocol::{AwsError, ErrorCode};
use serde_json::{Value, json};

use super::providers;
use super::{
    Page, Read, Write, active_cluster_mut, check_tags, cluster_name, failure, out, valid_name,
};
use crate::state::{ClusterRec, Env, Key, State};

/// A new ACTIVE cluster record.
pub(crate) fn new_cluster(env: &Env, name: &str) -> ClusterRec {
    ClusterRec {
        name: name.into(),
        arn: env.cluster_arn(name),
        status: "ACTIVE".into(),
        ..ClusterRec::default()
    }
}

/// The wire form of a cluster, with the parts `include` asks for.
///
/// `statistics` (with `STATISTICS`) splits the counts by launch type under the eight names the
/// model documents, in its order; a task's launch type is its own (`FARGATE` for Fargate
/// capacity-provider tasks, `EC2` for Auto Scaling group ones), a service's is Fargate when it
/// runs on Fargate or on a strategy of Fargate providers. Without `SETTINGS`, `settings` is
/// `[]`, as ECS answers (aws/aws-cli#6404, aws-containers/ecsworkshop#31).
pub(crate) fn view(c: &ClusterRec, include: &[m::ClusterField]) -> m::Cluster {
    let has = |f: &str| include.iter().any(|i| i.as_str() == f);
    // [EC2, Fargate] each.
    let (mut running, mut pending) = ([0i32; 2], [0i32; 2]);
    for id in &c.live {
        if let Some(t) = c.tasks.get(id) {
            let lt =
                usize::from(t.task.launch_type.as_ref().map(|l| l.as_str()) == Some("FARGATE"));
            match t.last_status() {
                "RUNNING" => running[lt] += 1,
                "STOPPED" => {}
                _ => pending[lt] += 1,
            }
        }
    }
    let instances = c
        .instances
        .values()
        .filter(|i| matches!(i.ci.status.as_str(), "ACTIVE" | "DRAINING"))
        .count() as i32;
    let (mut active, mut draining) = ([0i32; 2], [0i32; 2]);
    for s in c.services.values() {
        let s = &s.service;
        let lt = usize::from(
            s.launch_type.as_ref().map(|l| l.as_str()) == Some("FARGATE")
                || s.capacity_provider_strategy
                    .as_deref()
                    .is_some_and(providers::strategy_is_fargate),
        );
        match s.status.as_deref() {
            Some("ACTIVE") => active[lt] += 1,
            Some("DRAINING") => draining[lt] += 1,
            _ => {}
        }
    }
    let mut stats = Vec::new();
    if has("STATISTICS") {
        let kv = |n: &str, v: i32| m::KeyValuePair {
            name: Some(n.into()),
            value: Some(v.to_string()),
        };
        stats = vec![
            kv("runningEC2TasksCount", running[0]),
            kv("runningFargateTasksCount", running[1]),
            kv("pendingEC2TasksCount", pending[0]),
            kv("pendingFargateTasksCount", pending[1]),
            kv("activeEC2ServiceCount", active[0]),
            kv("activeFargateServiceCount", active[1]),
            kv("drainingEC2ServiceCount", draining[0]),
            kv("drainingFargateServiceCount", draining[1]),
        ];
    }
    m::Cluster {
        cluster_arn: Some(c.arn.clone()),
        cluster_name: Some(c.name.clone()),
        status: Some(c.status.clone()),
        registered_container_instances_count: Some(instances),
        running_tasks_count: Some(running[0] + running[1]),
        pending_tasks_count: Some(pending[0] + pending[1]),
        active_services_count: Some(active[0] + active[1]),
        statistics: Some(stats),
        tags: has("TAGS").then(|| c.tags.clone()),
        settings: Some(if has("SETTINGS") {
            c.settings.clone()
        } else {
            vec![]
        }),
        configuration: if has("CONFIGURATIONS") {
            c.configuration.clone()
        } else {
            None
        },
        capacity_providers: Some(c.capacity_providers.clone()),
        default_capacity_provider_strategy: Some(c.default_strategy.clone()),
        ..m::Cluster::default()
    }
}

/// A new cluster's settings: the request's, and the account's `containerInsights` when the
/// request does not set it (ECS applies the account setting to clusters created after it).
pub(crate) fn cluster_settings(
    requested: Option<Vec<m::ClusterSetting>>,
    account: &crate::state::AccountSettings,
    env: &Env,
) -> Vec<m::ClusterSetting> {
    let mut settings = requested.unwrap_or_default();
    if !settings
        .iter()
        .any(|s| s.name.as_ref().map(|n| n.as_str()) == Some("containerInsights"))
    {
        settings.push(m::ClusterSetting {
            name: Some(m::ClusterSettingName::from("containerInsights")),
            value: Some(super::account::container_insights(account, &env.account)),
        });
    }
    settings
}

/// The providers a cluster is given: each one existing, an Auto Scaling group provider on no other
/// cluster, at most 20; and the default strategy over them.
fn check_providers(
    st: &State,
    cluster: &str,
    providers: &[String],
    strategy: &[m::CapacityProviderStrategyItem],
) -> Result<(), AwsError> {
    // ECS's texts (`docs/ecs-error-harvest.md`, section P).
    if providers.len() > 20 {
        return Err(AwsError::invalid_parameter(
            "The maximum number of capacity providers per cluster has been exceeded.",
        ));
    }
    for p in providers {
        if !providers::exists(st, p) {
            if st.capacity_providers.contains_key(p) {
                return Err(AwsError::invalid_parameter(format!(
                    "The specified capacity provider '{p}' is not in an ACTIVE state. Specify a valid capacity provider and try again."
                )));
            }
            return Err(AwsError::invalid_parameter(
                "The specified capacity provider was not found. Specify a valid capacity provider and try again.",
            ));
        }
        if providers::is_fargate(p) {
            continue;
        }
        if let Some(other) = st
            .clusters
            .values()
            .find(|c| c.status == "ACTIVE" && c.name != cluster && c.capacity_providers.contains(p))
        {
            return Err(AwsError::invalid_parameter(format!(
                "The specified capacity provider {p} is already associated with cluster {}. An Auto Scaling group capacity provider can be associated with one cluster.",
                other.name
            )));
        }
    }
    super::tasks::check_strategy(strategy, Some(providers))
}

pub(crate) fn create(w: &mut Write<'_>, req: m::CreateClusterRequest) -> Result<Value, AwsError> {
    let name = req.cluster_name.clone().unwrap_or_else(|| "default".into());
    if !valid_name(&name) {
        return Err(AwsError::invalid_parameter(
            "Cluster name can have up to 255 characters: letters (upper and lower case), numbers, underscores and hyphens.",
        ));
    }
    let tags = req.tags.clone().unwrap_or_default();
    check_tags(&tags)?;
    let providers = req.capacity_providers.clone().unwrap_or_default();
    let strategy = req
        .default_capacity_provider_strategy
        .clone()
        .unwrap_or_default();
    if let Some(c) = w.st.clusters.get(&name).filter(|c| c.status == "ACTIVE") {
        // ECS answers CreateCluster for an existing active cluster with that cluster.
        return out(json!({"cluster": view(c, &["TAGS".into(), "SETTINGS".into()])}));
    }
    check_providers(w.st, &name, &providers, &strategy)?;
    let old = w.st.clusters.remove(&name);
    let mut c = new_cluster(w.env, &name);
    if let Some(old) = old {
        // Re-creating an INACTIVE cluster keeps its (stopped) history.
        c.tasks = old.tasks;
        c.services = old.services;
        c.instances = old.instances;
    }
    c.tags = tags;
    c.settings = cluster_settings(req.settings, &w.st.account_settings, w.env);
    c.configuration = req.configuration;
    c.capacity_providers = providers;
    c.default_strategy = strategy;
    // CreateCluster answers with the cluster's tags (`[]` without any) and settings.
    let v = view(&c, &["TAGS".into(), "SETTINGS".into()]);
    w.st.clusters.insert(name.clone(), c);
    w.dirty.insert(Key::Cluster(name));
    out(json!({"cluster": v}))
}

pub(crate) fn describe(r: &Read<'_>, req: m::DescribeClustersRequest) -> Result<Value, AwsError> {
    let names = req.clusters.unwrap_or_else(|| vec!["default".into()]);
    if names.len() > 100 {
        return Err(AwsError::invalid_parameter(
            "At most 100 clusters can be described at once.",
        ));
    }
    let include = req.include.unwrap_or_default();
    let mut clusters = Vec::new();
    let mut failures = Vec::new();
    for n in names {
        let name = cluster_name(Some(&n))?;
        match r.st.clusters.get(&name) {
            Some(c) => clusters.push(view(c, &include)),
            None => failures.push(failure(r.env.cluster_arn(&name), "MISSING")),
        }
    }
    out(json!({"clusters": clusters, "failures": failures}))
}

pub(crate) fn list(r: &Read<'_>, req: m::ListClustersRequest) -> Result<Value, AwsError> {
    let page = Page::new(
        "ListClusters",
        req.next_token.as_deref(),
        req.max_results,
        100,
        100,
    )?;
    let (arns, next) = page.take(
        "ListClusters",
        r.st.clusters
            .values()
            .filter(|c| c.status == "ACTIVE")
            .map(|c| (c.name.clone(), c.arn.clone())),
    );
    out(json!({"clusterArns": arns, "nextToken": next}))
}

pub(crate) fn update(w: &mut Write<'_>, req: m::UpdateClusterRequest) -> Result<Value, AwsError> {
    let c = active_cluster_mut(w.st, req.cluster.as_deref())?;
    if let Some(s) = req.settings {
        c.settings = s;
    }
    if let Some(cfg) = req.configuration {
        c.configuration = Some(cfg);
    }
    // ECS answers UpdateCluster with the cluster's settings included.
    let v = view(c, &["SETTINGS".into()]);
    w.dirty.insert(Key::Cluster(c.name.clone()));
    out(json!({"cluster": v}))
}

pub(crate) fn update_settings(
    w: &mut Write<'_>,
    req: m::UpdateClusterSettingsRequest,
) -> Result<Value, AwsError> {
    let c = active_cluster_mut(w.st, req.cluster.as_deref())?;
    let settings = req
        .settings
        .ok_or_else(|| AwsError::invalid_parameter("settings is required."))?;
    for s in settings {
        c.settings.retain(|x| x.name != s.name);
        c.settings.push(s);
    }
    let v = view(c, &["SETTINGS".into()]);
    w.dirty.insert(Key::Cluster(c.name.clone()));
    out(json!({"cluster": v}))
}

pub(crate) fn delete(w: &mut Write<'_>, req: m::DeleteClusterRequest) -> Result<Value, AwsError> {
    let c = active_cluster_mut(w.st, req.cluster.as_deref())?;
    if c.instances
        .values()
        .any(|i| matches!(i.ci.status.as_str(), "ACTIVE" | "DRAINING"))
    {
        return Err(AwsError::new(
            ErrorCode::ClusterContainsContainerInstancesException,
            "The Cluster cannot be deleted while Container Instances are active or draining.",
        ));
    }
    if c.services
        .values()
        .any(|s| matches!(s.service.status.as_deref(), Some("ACTIVE" | "DRAINING")))
    {
        return Err(AwsError::new(
            ErrorCode::ClusterContainsServicesException,
            "The Cluster cannot be deleted while Services are active.",
        ));
    }
    if c.tasks.values().any(|t| !t.is_stopped()) {
        return Err(AwsError::new(
            ErrorCode::ClusterContainsTasksException,
            "The Cluster cannot be deleted while Tasks are active.",
        ));
    }
    c.status = "INACTIVE".into();
    let v = view(c, &[]);
    w.dirty.insert(Key::Cluster(c.name.clone()));
    out(json!({"cluster": v}))
}

pub(crate) fn put_capacity_providers(
    w: &mut Write<'_>,
    req: m::PutClusterCapacityProvidersRequest,
) -> Result<Value, AwsError> {
    let providers = req
        .capacity_providers
        .ok_or_else(|| AwsError::invalid_parameter("capacityProviders is required."))?;
    let strategy = req.default_capacity_provider_strategy.ok_or_else(|| {
        AwsError::invalid_parameter("defaultCapacityProviderStrategy is required.")
    })?;
    let name = super::active_cluster(w.st, req.cluster.as_deref())?
        .name
        .clone();
    check_providers(w.st, &name, &providers, &strategy)?;
    let c = active_cluster_mut(w.st, Some(&name))?;
    // A provider taken away must not be running tasks or named by a service's strategy.
    for gone in c
        .capacity_providers
        .iter()
        .filter(|p| !providers.contains(p))
    {
        let tasks = c.live.iter().filter_map(|id| c.tasks.get(id)).any(|t| {
            !t.is_stopped() && t.task.capacity_provider_name.as_deref() == Some(gone.as_str())
        });
        let services = c.services.values().any(|s| {
            matches!(s.service.status.as_deref(), Some("ACTIVE" | "DRAINING"))
                && s.service
                    .capacity_provider_strategy
                    .iter()
                    .flatten()
                    .any(|i| i.capacity_provider.as_deref() == Some(gone.as_str()))
        });
        if tasks || services {
            return Err(AwsError::new(ErrorCode::ResourceInUseException, IN_USE));
        }
    }
    c.capacity_providers = providers;
    c.default_strategy = strategy;
    let v = view(c, &[]);
    w.dirty.insert(Key::Cluster(c.name.clone()));
    out(json!({"cluster": v}))
}

/// ECS's text (pahud/cdk-fargate-patterns#71, aws/aws-cdk#15366).
const IN_USE: &str = "The specified capacity provider is in use and cannot be removed.";
