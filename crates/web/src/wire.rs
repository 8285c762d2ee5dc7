//! The ECS shapes the dashboard reads, cut to the members its screens show.
//!
//! **Why not `berth_core::model` directly.** Those types carry every member of the API (a `Service`
//! reaches Service Connect, volume configurations, lifecycle hooks …), and serde's derive makes a
//! deserialiser for all of it: measured, about 300 kB of the dashboard's 1.5 MB wasm. These
//! structs keep the model's member names, value types (`Timestamp`, the model's enums) and
//! nesting for the members the screens use; a test walks each of them against the official API
//! model (`berth_core::model::SHAPES`), so a misspelt or invented member fails the build's tests.
//! Requests, the deployment verdict and everything written back still use `berth_core::model`.

use berth_core::model::{
    DeploymentRolloutState, HealthStatus, LaunchType, SchedulingStrategy,
    ServiceDeploymentRollbackMonitorsStatus, ServiceDeploymentStatus, TaskStopCode, Timestamp,
    TransportProtocol,
};
use serde::Deserialize;

/// `Cluster`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "camelCase", default)]
pub struct Cluster {
    pub cluster_arn: Option<String>,
    pub cluster_name: Option<String>,
    pub status: Option<String>,
    pub registered_container_instances_count: Option<i32>,
    pub running_tasks_count: Option<i32>,
    pub pending_tasks_count: Option<i32>,
    pub active_services_count: Option<i32>,
    pub capacity_providers: Option<Vec<String>>,
}

/// `Deployment` (a service's deployments as DescribeServices lists them).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "camelCase", default)]
pub struct Deployment {
    pub id: Option<String>,
    pub status: Option<String>,
    pub task_definition: Option<String>,
    pub desired_count: Option<i32>,
    pub pending_count: Option<i32>,
    pub running_count: Option<i32>,
    pub failed_tasks: Option<i32>,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
    pub rollout_state: Option<DeploymentRolloutState>,
    pub rollout_state_reason: Option<String>,
}

/// `Scale` (a task set's share of the service's desired count).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "camelCase", default)]
pub struct Scale {
    pub value: Option<f64>,
    pub unit: Option<String>,
}

/// `TaskSet` (a service's task sets as DescribeServices lists them: EXTERNAL and CODE_DEPLOY
/// deployment controllers).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "camelCase", default)]
pub struct TaskSet {
    pub id: Option<String>,
    pub status: Option<String>,
    pub task_definition: Option<String>,
    pub external_id: Option<String>,
    pub computed_desired_count: Option<i32>,
    pub pending_count: Option<i32>,
    pub running_count: Option<i32>,
    pub scale: Option<Scale>,
    pub stability_status: Option<String>,
}

/// `DeploymentController`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "camelCase", default)]
pub struct DeploymentController {
    pub r#type: Option<String>,
}

/// `ServiceEvent`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceEvent {
    pub id: Option<String>,
    pub created_at: Option<Timestamp>,
    pub message: Option<String>,
}

/// `Service`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "camelCase", default)]
pub struct Service {
    pub service_arn: Option<String>,
    pub service_name: Option<String>,
    pub status: Option<String>,
    pub desired_count: Option<i32>,
    pub running_count: Option<i32>,
    pub pending_count: Option<i32>,
    pub launch_type: Option<LaunchType>,
    pub task_definition: Option<String>,
    pub deployments: Option<Vec<Deployment>>,
    pub task_sets: Option<Vec<TaskSet>>,
    pub deployment_controller: Option<DeploymentController>,
    pub events: Option<Vec<ServiceEvent>>,
    pub created_at: Option<Timestamp>,
    pub scheduling_strategy: Option<SchedulingStrategy>,
}

/// `NetworkBinding`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "camelCase", default)]
pub struct NetworkBinding {
    #[serde(rename = "bindIP")]
    pub bind_ip: Option<String>,
    pub container_port: Option<i32>,
    pub host_port: Option<i32>,
    pub protocol: Option<TransportProtocol>,
}

/// `Container` (a task's container).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "camelCase", default)]
pub struct Container {
    pub name: Option<String>,
    pub image: Option<String>,
    pub last_status: Option<String>,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    pub network_bindings: Option<Vec<NetworkBinding>>,
    pub health_status: Option<HealthStatus>,
}

/// `KeyValuePair` (an attachment's details): the two members the dashboard reads of an
/// `Attribute` too.
pub type KeyValuePair = Attribute;

/// `Attachment` (an `awsvpc` task's ENI).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "camelCase", default)]
pub struct Attachment {
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub status: Option<String>,
    pub details: Option<Vec<KeyValuePair>>,
}

impl Attachment {
    /// The value of detail `name`.
    pub fn detail(&self, name: &str) -> Option<&str> {
        self.details
            .iter()
            .flatten()
            .find(|d| d.name.as_deref() == Some(name))
            .and_then(|d| d.value.as_deref())
    }
}

/// `Task`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "camelCase", default)]
pub struct Task {
    pub attachments: Option<Vec<Attachment>>,
    pub task_arn: Option<String>,
    pub availability_zone: Option<String>,
    pub container_instance_arn: Option<String>,
    pub containers: Option<Vec<Container>>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub created_at: Option<Timestamp>,
    pub desired_status: Option<String>,
    pub group: Option<String>,
    pub health_status: Option<HealthStatus>,
    pub last_status: Option<String>,
    pub launch_type: Option<LaunchType>,
    pub started_at: Option<Timestamp>,
    pub started_by: Option<String>,
    pub stop_code: Option<TaskStopCode>,
    pub stopped_at: Option<Timestamp>,
    pub stopped_reason: Option<String>,
    pub stopping_at: Option<Timestamp>,
    pub task_definition_arn: Option<String>,
}

/// `Attribute`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "camelCase", default)]
pub struct Attribute {
    pub name: Option<String>,
    pub value: Option<String>,
}

/// `Resource`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "camelCase", default)]
pub struct Resource {
    pub name: Option<String>,
    pub integer_value: Option<i32>,
}

/// `ContainerInstance`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerInstance {
    pub container_instance_arn: Option<String>,
    pub status: Option<String>,
    pub remaining_resources: Option<Vec<Resource>>,
    pub registered_resources: Option<Vec<Resource>>,
    pub running_tasks_count: Option<i32>,
    pub pending_tasks_count: Option<i32>,
    pub attributes: Option<Vec<Attribute>>,
    pub capacity_provider_name: Option<String>,
}

/// `Failure`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "camelCase", default)]
pub struct Failure {
    pub arn: Option<String>,
    pub reason: Option<String>,
    pub detail: Option<String>,
}

/// `DescribeClustersResponse`.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "camelCase", default)]
pub struct DescribeClustersResponse {
    pub clusters: Option<Vec<Cluster>>,
    pub failures: Option<Vec<Failure>>,
}

/// `DescribeServicesResponse`.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "camelCase", default)]
pub struct DescribeServicesResponse {
    pub services: Option<Vec<Service>>,
    pub failures: Option<Vec<Failure>>,
}

/// `DescribeTasksResponse`.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "camelCase", default)]
pub struct DescribeTasksResponse {
    pub tasks: Option<Vec<Task>>,
    pub failures: Option<Vec<Failure>>,
}

/// `DescribeContainerInstancesResponse`.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "camelCase", default)]
pub struct DescribeContainerInstancesResponse {
    pub container_instances: Option<Vec<ContainerInstance>>,
    pub failures: Option<Vec<Failure>>,
}

/// `ServiceRevisionSummary`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceRevisionSummary {
    pub arn: Option<String>,
    pub requested_task_count: Option<i32>,
    pub running_task_count: Option<i32>,
    pub pending_task_count: Option<i32>,
}

/// `Rollback`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "camelCase", default)]
pub struct Rollback {
    pub reason: Option<String>,
    pub started_at: Option<Timestamp>,
    pub service_revision_arn: Option<String>,
}

/// `ServiceDeploymentCircuitBreaker`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceDeploymentCircuitBreaker {
    pub status: Option<ServiceDeploymentRollbackMonitorsStatus>,
    pub failure_count: Option<i32>,
    pub threshold: Option<i32>,
}

/// `ServiceDeployment`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceDeployment {
    pub service_deployment_arn: Option<String>,
    pub created_at: Option<Timestamp>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    pub stopped_at: Option<Timestamp>,
    pub source_service_revisions: Option<Vec<ServiceRevisionSummary>>,
    pub target_service_revision: Option<ServiceRevisionSummary>,
    pub status: Option<ServiceDeploymentStatus>,
    pub status_reason: Option<String>,
    pub rollback: Option<Rollback>,
    pub deployment_circuit_breaker: Option<ServiceDeploymentCircuitBreaker>,
}

/// `DescribeServiceDeploymentsResponse`.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(rename_all = "camelCase", default)]
pub struct DescribeServiceDeploymentsResponse {
    pub service_deployments: Option<Vec<ServiceDeployment>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_core::model::schema::{ShapeKind, by_index, shape};
    use serde::Serialize;
    use serde_json::{Value, json};

    /// Every member of `v` (recursively) is a member of `shape_name` in the API model.
    fn assert_in_model(shape_name: &str, v: &Value, path: &str) {
        let s = shape(shape_name).unwrap_or_else(|| panic!("{path}: no shape {shape_name}"));
        match (v, s.kind) {
            (Value::Object(o), ShapeKind::Structure { .. }) => {
                for (k, val) in o {
                    let m = s
                        .member(k)
                        .unwrap_or_else(|| panic!("{path}/{k}: not a member of {shape_name}"));
                    assert_in_model(by_index(m.shape).name, val, &format!("{path}/{k}"));
                }
            }
            (Value::Array(items), ShapeKind::List { member, .. }) => {
                for (i, item) in items.iter().enumerate() {
                    assert_in_model(by_index(member).name, item, &format!("{path}/{i}"));
                }
            }
            (Value::Object(_) | Value::Array(_), _) => {
                panic!("{path}: {shape_name} is not a structure or list")
            }
            _ => {}
        }
    }

    /// A value of `T` with every member present, through serde: `Default` gives `None`s, so
    /// the JSON of every member is built from a template that names them all.
    fn full<T: for<'de> Deserialize<'de> + Serialize>(template: Value) -> Value {
        let t: T = serde_json::from_value(template.clone()).unwrap();
        let back = serde_json::to_value(&t).unwrap();
        assert_eq!(
            back, template,
            "the template names every member exactly once"
        );
        back
    }

    #[test]
    fn every_member_is_in_the_api_model() {
        let ts = json!(1_733_456_789.5);
        let task = full::<Task>(json!({
            "attachments": [{"id": "x", "type": "ElasticNetworkInterface", "status": "ATTACHED",
                "details": [{"name": "privateIPv4Address", "value": "172.17.0.3"}]}],
            "taskArn": "a", "availabilityZone": "az", "containerInstanceArn": "i",
            "containers": [{"name": "n", "image": "i", "lastStatus": "RUNNING", "exitCode": 1,
                "reason": "r", "networkBindings": [{"bindIP": "0.0.0.0", "containerPort": 80,
                "hostPort": 8080, "protocol": "tcp"}], "healthStatus": "HEALTHY"}],
            "cpu": "256", "memory": "512", "createdAt": ts, "desiredStatus": "RUNNING",
            "group": "g", "healthStatus": "UNKNOWN", "lastStatus": "RUNNING", "launchType": "EC2",
            "startedAt": ts, "startedBy": "s", "stopCode": "UserInitiated", "stoppedAt": ts,
            "stoppedReason": "r", "stoppingAt": ts, "taskDefinitionArn": "t"
        }));
        assert_in_model("Task", &task, "");
        let t: Task = serde_json::from_value(task.clone()).unwrap();
        let eni = &t.attachments.as_ref().unwrap()[0];
        assert_eq!(eni.detail("privateIPv4Address"), Some("172.17.0.3"));
        assert_eq!(eni.detail("subnetId"), None);
        let service = full::<Service>(json!({
            "serviceArn": "a", "serviceName": "n", "status": "ACTIVE", "desiredCount": 1,
            "runningCount": 1, "pendingCount": 0, "launchType": "EC2", "taskDefinition": "t",
            "deployments": [{"id": "d", "status": "PRIMARY", "taskDefinition": "t",
                "desiredCount": 1, "pendingCount": 0, "runningCount": 1, "failedTasks": 0,
                "createdAt": ts, "updatedAt": ts, "rolloutState": "COMPLETED",
                "rolloutStateReason": "r"}],
            "taskSets": [{"id": "ecs-svc/1", "status": "PRIMARY", "taskDefinition": "t",
                "externalId": "x", "computedDesiredCount": 2, "pendingCount": 0,
                "runningCount": 2, "scale": {"value": 50.0, "unit": "PERCENT"},
                "stabilityStatus": "STEADY_STATE"}],
            "deploymentController": {"type": "EXTERNAL"},
            "events": [{"id": "e", "createdAt": ts, "message": "m"}],
            "createdAt": ts, "schedulingStrategy": "REPLICA"
        }));
        assert_in_model("Service", &service, "");
        let cluster = full::<Cluster>(json!({
            "clusterArn": "a", "clusterName": "c", "status": "ACTIVE",
            "registeredContainerInstancesCount": 1, "runningTasksCount": 2,
            "pendingTasksCount": 0, "activeServicesCount": 1, "capacityProviders": ["FARGATE"]
        }));
        assert_in_model("Cluster", &cluster, "");
        let instance = full::<ContainerInstance>(json!({
            "containerInstanceArn": "a", "status": "ACTIVE",
            "remainingResources": [{"name": "CPU", "integerValue": 1}],
            "registeredResources": [{"name": "CPU", "integerValue": 2}],
            "runningTasksCount": 1, "pendingTasksCount": 0,
            "attributes": [{"name": "ecs.availability-zone", "value": "az"}],
            "capacityProviderName": "asg"
        }));
        assert_in_model("ContainerInstance", &instance, "");
        let rev = json!({"arn": "r", "requestedTaskCount": 2, "runningTaskCount": 1, "pendingTaskCount": 1});
        let deployment = full::<ServiceDeployment>(json!({
            "serviceDeploymentArn": "a", "createdAt": ts, "startedAt": ts, "finishedAt": ts,
            "stoppedAt": ts, "sourceServiceRevisions": [rev], "targetServiceRevision": rev,
            "status": "ROLLBACK_SUCCESSFUL", "statusReason": "r",
            "rollback": {"reason": "r", "startedAt": ts, "serviceRevisionArn": "s"},
            "deploymentCircuitBreaker": {"status": "TRIGGERED", "failureCount": 3, "threshold": 3}
        }));
        assert_in_model("ServiceDeployment", &deployment, "");
        assert_in_model(
            "DescribeServiceDeploymentsResponse",
            &json!({"serviceDeployments": [deployment]}),
            "",
        );
        let failure = json!({"arn": "a", "reason": "MISSING", "detail": "d"});
        for (shape_name, v) in [
            (
                "DescribeClustersResponse",
                json!({"clusters": [cluster], "failures": [failure]}),
            ),
            (
                "DescribeServicesResponse",
                json!({"services": [service], "failures": [failure]}),
            ),
            (
                "DescribeTasksResponse",
                json!({"tasks": [task], "failures": [failure]}),
            ),
            (
                "DescribeContainerInstancesResponse",
                json!({"containerInstances": [instance], "failures": [failure]}),
            ),
        ] {
            assert_in_model(shape_name, &v, "");
        }
    }

    #[test]
    fn the_model_check_catches_an_invented_member() {
        let r = std::panic::catch_unwind(|| {
            assert_in_model("Task", &json!({"taskArn": "a", "inventedMember": 1}), "")
        });
        assert!(r.is_err());
    }

    #[test]
    fn reads_what_the_model_reads() {
        let text = r#"{"tasks":[{"taskArn":"arn:aws:ecs:us-east-1:0:task/c/abc","lastStatus":"STOPPED",
            "stopCode":"EssentialContainerExited","containers":[{"name":"app","exitCode":1}],
            "overrides":{"containerOverrides":[]},"attachments":[]}],"failures":[]}"#;
        let lean: DescribeTasksResponse = serde_json::from_str(text).unwrap();
        let model: berth_core::model::DescribeTasksResponse = serde_json::from_str(text).unwrap();
        let (l, m) = (&lean.tasks.unwrap()[0], &model.tasks.unwrap()[0]);
        assert_eq!(l.task_arn, m.task_arn);
        assert_eq!(l.stop_code, m.stop_code);
        assert_eq!(l.containers.as_ref().unwrap()[0].exit_code, Some(1));
    }
}
