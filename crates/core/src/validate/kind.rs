//! Which validator a document is for: [`detect_kind`] tells a task definition, a service input
//! and a `RunTask` input apart by their top-level members, and [`RequestForm`] names the form a
//! service or `RunTask` input arrived in.
//!
//! It looks at member *names* (and, for `taskDefinition`, whether the value is an object or a
//! reference), never at values, so a document full of mistakes is still sent to the right
//! validator. It does not validate anything itself.

use crate::json::{self, Node, Value};
use serde::Serialize;

/// What a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputKind {
    /// A task definition in any form [`super::validate_task_definition`] reads.
    TaskDefinition,
    /// A `CreateService` / `UpdateService` input, a service definition file (ecspresso's
    /// `ecs-service-def.json`), or `describe-services` output.
    Service,
    /// A `RunTask` input.
    RunTask,
}

impl std::fmt::Display for InputKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::TaskDefinition => "task definition",
            Self::Service => "service",
            Self::RunTask => "RunTask input",
        })
    }
}

/// The form a service or `RunTask` document arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestForm {
    /// A `CreateService` request (`serviceName` present), as `--cli-input-json` takes it.
    CreateService,
    /// A service definition without `serviceName`, as ecspresso keeps it (the name lives in
    /// ecspresso's config): `CreateService` input otherwise.
    ServiceDefinition,
    /// An `UpdateService` request (`service` names the service).
    UpdateService,
    /// A service as `DescribeServices` returns it (`serviceArn`, `status`, … present).
    Service,
    /// `aws ecs describe-services` output: `{"services": [...], "failures": [...]}`; each
    /// service is checked as a [`RequestForm::Service`].
    DescribeServices,
    /// A `RunTask` request.
    RunTask,
}

/// Members only a task definition has (request and read-only members).
const TASK_DEFINITION_MEMBERS: &[&str] = &[
    "containerDefinitions",
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "volumes",
    "pidMode",
    "ipcMode",
    "proxyConfiguration",
    "inferenceAccelerators",
    "ephemeralStorage",
    "runtimePlatform",
    "taskDefinitionArn",
    "revision",
    "compatibilities",
    "requiresAttributes",
    "registeredAt",
];

/// Members only a service input (or a described service) has.
const SERVICE_MEMBERS: &[&str] = &[
    "serviceName",
    "desiredCount",
    "loadBalancers",
    "deploymentConfiguration",
    "schedulingStrategy",
    "serviceRegistries",
    "healthCheckGracePeriodSeconds",
    "deploymentController",
    "serviceConnectConfiguration",
    "vpcLatticeConfigurations",
    "availabilityZoneRebalancing",
    "forceNewDeployment",
    "role",
    "serviceArn",
    "runningCount",
    "pendingCount",
    "deployments",
];

/// Members only a `RunTask` input has.
const RUN_TASK_MEMBERS: &[&str] = &["count", "overrides", "startedBy", "group", "referenceId"];

/// Members services and `RunTask` share; with no `taskDefinition` they mean a service
/// definition (a `RunTask` input always names its task definition).
const SHARED_REQUEST_MEMBERS: &[&str] = &[
    "launchType",
    "capacityProviderStrategy",
    "networkConfiguration",
    "placementConstraints",
    "placementStrategy",
    "platformVersion",
    "propagateTags",
    "enableECSManagedTags",
    "enableExecuteCommand",
];

/// Tells what a JSON document is from its top-level members; `None` when the text is not a
/// JSON object or has none of the telling members (callers treat that as a task definition,
/// which is what `berth validate` did before it knew other kinds).
///
/// - `containerDefinitions`, `family` or another task-definition member, or `taskDefinition`
///   holding an object (`describe-task-definition` output) → [`InputKind::TaskDefinition`];
/// - a `services` array (`describe-services` output), `serviceName`, `desiredCount`,
///   `loadBalancers`, `deploymentConfiguration`, `schedulingStrategy` or another service member,
///   or `service` naming the service to update → [`InputKind::Service`];
/// - `count`, `overrides`, `startedBy`, `group`, or a `taskDefinition` reference without any
///   service member → [`InputKind::RunTask`];
/// - only members services and `RunTask` share (`launchType`, `networkConfiguration`, …) and no
///   `taskDefinition` → [`InputKind::Service`] (ecspresso's service definitions leave it out).
///
/// ```
/// use berth_core::validate::{detect_kind, InputKind};
/// assert_eq!(detect_kind(r#"{"family": "web", "containerDefinitions": []}"#), Some(InputKind::TaskDefinition));
/// assert_eq!(detect_kind(r#"{"schedulingStrategy": "DAEMON"}"#), Some(InputKind::Service));
/// assert_eq!(detect_kind(r#"{"taskDefinition": "web:3", "count": 2}"#), Some(InputKind::RunTask));
/// assert_eq!(detect_kind(r#"{"taskDefinition": "web:3"}"#), Some(InputKind::RunTask));
/// assert_eq!(detect_kind("[1, 2]"), None);
/// ```
pub fn detect_kind(text: &str) -> Option<InputKind> {
    detect_node(&json::parse(text).ok()?)
}

/// [`detect_kind`] on a parsed document.
pub(crate) fn detect_node(doc: &Node<'_>) -> Option<InputKind> {
    let entries = doc.as_object()?;
    let has = |names: &[&str]| entries.iter().any(|e| names.contains(&e.key.as_ref()));
    let task_definition = doc.get("taskDefinition");
    if has(TASK_DEFINITION_MEMBERS)
        || task_definition.is_some_and(|t| matches!(t.value, Value::Object(_)))
    {
        return Some(InputKind::TaskDefinition);
    }
    let described = doc
        .get("services")
        .is_some_and(|s| matches!(s.value, Value::Array(_)));
    let wrapped = doc
        .get("service")
        .is_some_and(|s| matches!(s.value, Value::Object(_) | Value::String(_)));
    if described || wrapped || has(SERVICE_MEMBERS) {
        return Some(InputKind::Service);
    }
    if has(RUN_TASK_MEMBERS) || task_definition.is_some() {
        return Some(InputKind::RunTask);
    }
    if has(SHARED_REQUEST_MEMBERS) {
        return Some(InputKind::Service);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_members() {
        let cases = [
            (
                r#"{"containerDefinitions": []}"#,
                Some(InputKind::TaskDefinition),
            ),
            (r#"{"family": "x"}"#, Some(InputKind::TaskDefinition)),
            (
                r#"{"taskDefinition": {"family": "x"}, "tags": []}"#,
                Some(InputKind::TaskDefinition),
            ),
            (
                r#"{"services": [], "failures": []}"#,
                Some(InputKind::Service),
            ),
            (
                r#"{"service": "web", "desiredCount": 3}"#,
                Some(InputKind::Service),
            ),
            (
                r#"{"service": {"serviceName": "web"}}"#,
                Some(InputKind::Service),
            ),
            (
                r#"{"serviceName": "web", "taskDefinition": "web:1"}"#,
                Some(InputKind::Service),
            ),
            (r#"{"launchType": "FARGATE"}"#, Some(InputKind::Service)),
            (
                r#"{"taskDefinition": "web", "launchType": "FARGATE"}"#,
                Some(InputKind::RunTask),
            ),
            (r#"{"overrides": {}}"#, Some(InputKind::RunTask)),
            (
                r#"{"startedBy": "ci", "taskDefinition": "x"}"#,
                Some(InputKind::RunTask),
            ),
            ("{}", None),
            (r#"{"tags": []}"#, None),
            ("not json", None),
            ("3", None),
        ];
        for (text, kind) in cases {
            assert_eq!(detect_kind(text), kind, "{text}");
        }
    }
}
