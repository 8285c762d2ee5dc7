//! Every operation Berth's AWS endpoint may see — all of ECS, Application Auto Scaling,
//! CloudWatch Logs, CloudWatch, CloudTrail, Secrets Manager and Systems Manager, as their API
//! models list them — with its
//! `X-Amz-Target` and whether it only reads, and each service's wire facts (target prefix,
//! signing name, endpoint prefix, JSON version).
//!
//! The table is generated (`generated.rs`, by `cargo xtask codegen` from the botocore models in
//! `testdata/reference/`; a test in `xtask` fails when it is stale), so it cannot drift from the
//! APIs. It is data only: it does not say which operations the embedded cluster implements (the
//! cluster answers the rest itself), and it does not enforce anything — the upstream
//! [`Policy`](crate::upstream::Policy) and the session roles read it.
//!
//! **Read-only** (what `--read-only` lets through and a viewer may call) follows AWS's managed
//! read-only policies: an operation only reads when its name starts, at a word boundary, with
//! `Describe`, `List`, `Get`, `BatchGet`, `Lookup`, `Filter` or `Test`, or it is CloudWatch Logs'
//! `StartQuery`, `StopQuery` or `StartLiveTail` (which `CloudWatchLogsReadOnlyAccess` grants),
//! and it is not Secrets Manager's `GetSecretValue` or `BatchGetSecretValue` (secret values,
//! which AWS's `ReadOnlyAccess` withholds).
//! Everything else is a write — `ExecuteCommand`, CloudTrail Lake's `StartQuery`, the agent's
//! `DiscoverPollEndpoint` included: when in doubt, a write. The rule itself lives in the
//! generator (`xtask/src/catalog.rs`).

mod generated;

/// A service whose JSON API Berth's endpoint speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// Amazon ECS.
    Ecs,
    /// Application Auto Scaling.
    AutoScaling,
    /// Amazon CloudWatch Logs.
    Logs,
    /// Amazon CloudWatch (metrics).
    CloudWatch,
    /// AWS CloudTrail (Berth's audit trail answers its `LookupEvents`).
    CloudTrail,
    /// AWS Secrets Manager.
    SecretsManager,
    /// AWS Systems Manager (the embedded cluster answers its Parameter Store).
    Ssm,
}

/// A service's wire facts, from its model's metadata.
#[derive(Debug, PartialEq, Eq)]
pub struct ServiceModel {
    /// `serviceFullName`, e.g. `Amazon EC2 Container Service`.
    pub full_name: &'static str,
    /// The part of `X-Amz-Target` before the dot.
    pub target_prefix: &'static str,
    /// The SigV4 signing name (credential scope service).
    pub signing_name: &'static str,
    /// The first label of the regional endpoint host.
    pub endpoint_prefix: &'static str,
    /// `1.0` or `1.1`: the JSON protocol version of `application/x-amz-json-<v>`.
    pub json_version: &'static str,
    /// The API version, e.g. `2014-11-13`.
    pub api_version: &'static str,
}

impl Service {
    /// Every service.
    pub const ALL: [Service; 7] = [
        Service::Ecs,
        Service::AutoScaling,
        Service::Logs,
        Service::CloudWatch,
        Service::CloudTrail,
        Service::SecretsManager,
        Service::Ssm,
    ];

    /// The model's facts.
    pub fn model(self) -> &'static ServiceModel {
        generated::model(self)
    }

    /// The `X-Amz-Target` prefix: `AmazonEC2ContainerServiceV20141113`,
    /// `AnyScaleFrontendService`, `Logs_20140328`, `GraniteServiceVersion20100801`,
    /// `com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101`, `secretsmanager`, `AmazonSSM`.
    pub fn target_prefix(self) -> &'static str {
        self.model().target_prefix
    }

    /// The SigV4 signing name: `ecs`, `application-autoscaling`, `logs`, `monitoring`,
    /// `cloudtrail`, `secretsmanager`, `ssm`.
    pub fn signing_name(self) -> &'static str {
        self.model().signing_name
    }

    /// The first label of the service's regional endpoint (`https://<prefix>.<region>.amazonaws.com`):
    /// `ecs`, `application-autoscaling`, `logs`, `monitoring`, `cloudtrail`, `secretsmanager`,
    /// `ssm`.
    pub fn endpoint_prefix(self) -> &'static str {
        self.model().endpoint_prefix
    }

    /// CloudTrail's `eventSource` for the service: `<endpoint prefix>.amazonaws.com`
    /// (`monitoring.amazonaws.com` for CloudWatch, as CloudTrail records it).
    pub fn event_source(self) -> &'static str {
        match self {
            Service::Ecs => "ecs.amazonaws.com",
            Service::AutoScaling => "application-autoscaling.amazonaws.com",
            Service::Logs => "logs.amazonaws.com",
            Service::CloudWatch => "monitoring.amazonaws.com",
            Service::CloudTrail => "cloudtrail.amazonaws.com",
            Service::SecretsManager => "secretsmanager.amazonaws.com",
            Service::Ssm => "ssm.amazonaws.com",
        }
    }

    /// The IAM action prefix (`ecs:RunTask`), which `--allow` / `--deny` patterns and
    /// access-denied messages use: `ecs`, `application-autoscaling`, `logs`, `cloudwatch`,
    /// `cloudtrail`, `secretsmanager`, `ssm`.
    pub fn iam_prefix(self) -> &'static str {
        match self {
            Service::Ecs => "ecs",
            Service::AutoScaling => "application-autoscaling",
            Service::Logs => "logs",
            Service::CloudWatch => "cloudwatch",
            Service::CloudTrail => "cloudtrail",
            Service::SecretsManager => "secretsmanager",
            Service::Ssm => "ssm",
        }
    }

    /// The request content type of the service's JSON protocol: `application/x-amz-json-1.1`,
    /// or `application/x-amz-json-1.0` for CloudWatch.
    pub fn content_type(self) -> &'static str {
        match self.model().json_version {
            "1.0" => "application/x-amz-json-1.0",
            _ => "application/x-amz-json-1.1",
        }
    }

    /// The service with this target prefix.
    pub fn from_target_prefix(prefix: &str) -> Option<Service> {
        Service::ALL
            .into_iter()
            .find(|s| s.target_prefix() == prefix)
    }
}

/// One operation of one service.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Operation {
    /// Its service.
    pub service: Service,
    /// Its name, e.g. `RunTask`.
    pub name: &'static str,
    /// Its `X-Amz-Target`: `<target prefix>.<name>`.
    pub target: &'static str,
    /// Whether it only reads (see the module docs for the rule).
    pub read_only: bool,
}

impl Operation {
    /// The IAM action, e.g. `ecs:RunTask`.
    pub fn action(&self) -> String {
        format!("{}:{}", self.service.iam_prefix(), self.name)
    }
}

/// The operation with exactly this `X-Amz-Target` (`<prefix>.<name>`; case matters, as it does
/// for AWS).
pub fn from_target(target: &str) -> Option<&'static Operation> {
    let ops = operations();
    ops.binary_search_by(|o| o.target.cmp(target))
        .ok()
        .map(|i| &ops[i])
}

/// The operation `name` of `service`.
pub fn find(service: Service, name: &str) -> Option<&'static Operation> {
    operations()
        .iter()
        .find(|o| o.service == service && o.name == name)
}

/// Every operation, sorted by target.
pub fn operations() -> &'static [Operation] {
    &generated::OPERATIONS
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Every ECS operation of the vendored model, and whether it only reads. Changing the rule
    /// or the model shows up here as a diff to review.
    const ECS: &[(&str, bool)] = &[
        ("ContinueServiceDeployment", false),
        ("CreateCapacityProvider", false),
        ("CreateCluster", false),
        ("CreateDaemon", false),
        ("CreateExpressGatewayService", false),
        ("CreateService", false),
        ("CreateTaskSet", false),
        ("DeleteAccountSetting", false),
        ("DeleteAttributes", false),
        ("DeleteCapacityProvider", false),
        ("DeleteCluster", false),
        ("DeleteDaemon", false),
        ("DeleteDaemonTaskDefinition", false),
        ("DeleteExpressGatewayService", false),
        ("DeleteService", false),
        ("DeleteTaskDefinitions", false),
        ("DeleteTaskSet", false),
        ("DeregisterContainerInstance", false),
        ("DeregisterTaskDefinition", false),
        ("DescribeCapacityProviders", true),
        ("DescribeClusters", true),
        ("DescribeContainerInstances", true),
        ("DescribeDaemon", true),
        ("DescribeDaemonDeployments", true),
        ("DescribeDaemonRevisions", true),
        ("DescribeDaemonTaskDefinition", true),
        ("DescribeExpressGatewayService", true),
        ("DescribeServiceDeployments", true),
        ("DescribeServiceRevisions", true),
        ("DescribeServices", true),
        ("DescribeTaskDefinition", true),
        ("DescribeTaskSets", true),
        ("DescribeTasks", true),
        ("DiscoverPollEndpoint", false),
        ("ExecuteCommand", false),
        ("GetTaskProtection", true),
        ("ListAccountSettings", true),
        ("ListAttributes", true),
        ("ListClusters", true),
        ("ListContainerInstances", true),
        ("ListDaemonDeployments", true),
        ("ListDaemonTaskDefinitions", true),
        ("ListDaemons", true),
        ("ListServiceDeployments", true),
        ("ListServices", true),
        ("ListServicesByNamespace", true),
        ("ListTagsForResource", true),
        ("ListTaskDefinitionFamilies", true),
        ("ListTaskDefinitions", true),
        ("ListTasks", true),
        ("PutAccountSetting", false),
        ("PutAccountSettingDefault", false),
        ("PutAttributes", false),
        ("PutClusterCapacityProviders", false),
        ("RegisterContainerInstance", false),
        ("RegisterDaemonTaskDefinition", false),
        ("RegisterTaskDefinition", false),
        ("RunTask", false),
        ("StartTask", false),
        ("StopServiceDeployment", false),
        ("StopTask", false),
        ("SubmitAttachmentStateChanges", false),
        ("SubmitContainerStateChange", false),
        ("SubmitTaskStateChange", false),
        ("TagResource", false),
        ("UntagResource", false),
        ("UpdateCapacityProvider", false),
        ("UpdateCluster", false),
        ("UpdateClusterSettings", false),
        ("UpdateContainerAgent", false),
        ("UpdateContainerInstancesState", false),
        ("UpdateDaemon", false),
        ("UpdateExpressGatewayService", false),
        ("UpdateService", false),
        ("UpdateServicePrimaryTaskSet", false),
        ("UpdateTaskProtection", false),
        ("UpdateTaskSet", false),
    ];

    fn model_ops(rel: &str) -> BTreeSet<String> {
        let path = format!(
            "{}/../../testdata/reference/{rel}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["operations"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }

    #[test]
    fn every_ecs_operation_is_classified() {
        let in_model = model_ops("ecs-service-2.json");
        let in_table: BTreeSet<String> = ECS.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(
            in_table, in_model,
            "the table above lists every ECS operation"
        );
        for (name, read_only) in ECS {
            let target = format!("AmazonEC2ContainerServiceV20141113.{name}");
            let op = from_target(&target).unwrap_or_else(|| panic!("{target} is in the catalog"));
            assert_eq!(op.service, Service::Ecs);
            assert_eq!(op.name, *name);
            assert_eq!(op.read_only, *read_only, "{name}");
        }
        let ecs = operations()
            .iter()
            .filter(|o| o.service == Service::Ecs)
            .count();
        assert_eq!(ecs, ECS.len());
    }

    #[test]
    fn every_autoscaling_operation_is_in_the_catalog() {
        for name in model_ops("application-autoscaling-service-2.json") {
            assert!(find(Service::AutoScaling, &name).is_some(), "{name}");
        }
    }

    #[test]
    fn known_classifications_across_services() {
        let cases = [
            (Service::Logs, "StartLiveTail", true),
            (Service::Logs, "StartQuery", true),
            (Service::Logs, "GetLogEvents", true),
            (Service::Logs, "FilterLogEvents", true),
            (Service::Logs, "PutLogEvents", false),
            (Service::Logs, "DeleteLogGroup", false),
            (Service::CloudWatch, "GetMetricWidgetImage", true),
            (Service::CloudWatch, "GetMetricData", true),
            (Service::CloudWatch, "PutMetricData", false),
            (Service::CloudTrail, "LookupEvents", true),
            (Service::CloudTrail, "StartQuery", false),
            (Service::CloudTrail, "StopLogging", false),
            (Service::AutoScaling, "DescribeScalingPolicies", true),
            (Service::AutoScaling, "GetPredictiveScalingForecast", true),
            (Service::AutoScaling, "PutScalingPolicy", false),
            (Service::SecretsManager, "GetSecretValue", false),
            (Service::SecretsManager, "BatchGetSecretValue", false),
            (Service::SecretsManager, "DescribeSecret", true),
            (Service::SecretsManager, "ListSecrets", true),
            (Service::SecretsManager, "CreateSecret", false),
            (Service::SecretsManager, "PutSecretValue", false),
            (Service::Ssm, "GetParameter", true),
            (Service::Ssm, "GetParametersByPath", true),
            (Service::Ssm, "DescribeParameters", true),
            (Service::Ssm, "PutParameter", false),
            (Service::Ssm, "DeleteParameters", false),
        ];
        for (service, name, read_only) in cases {
            let op = find(service, name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(op.read_only, read_only, "{service:?} {name}");
            assert_eq!(from_target(op.target), Some(op));
        }
    }

    #[test]
    fn service_facts() {
        let want = [
            (
                Service::Ecs,
                "AmazonEC2ContainerServiceV20141113",
                "ecs",
                "ecs",
                "application/x-amz-json-1.1",
            ),
            (
                Service::AutoScaling,
                "AnyScaleFrontendService",
                "application-autoscaling",
                "application-autoscaling",
                "application/x-amz-json-1.1",
            ),
            (
                Service::Logs,
                "Logs_20140328",
                "logs",
                "logs",
                "application/x-amz-json-1.1",
            ),
            (
                Service::CloudWatch,
                "GraniteServiceVersion20100801",
                "monitoring",
                "cloudwatch",
                "application/x-amz-json-1.0",
            ),
            (
                Service::CloudTrail,
                "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101",
                "cloudtrail",
                "cloudtrail",
                "application/x-amz-json-1.1",
            ),
            (
                Service::SecretsManager,
                "secretsmanager",
                "secretsmanager",
                "secretsmanager",
                "application/x-amz-json-1.1",
            ),
            (
                Service::Ssm,
                "AmazonSSM",
                "ssm",
                "ssm",
                "application/x-amz-json-1.1",
            ),
        ];
        for (s, prefix, signing, iam, ct) in want {
            assert_eq!(s.target_prefix(), prefix);
            assert_eq!(s.signing_name(), signing);
            assert_eq!(s.endpoint_prefix(), signing);
            assert_eq!(s.iam_prefix(), iam);
            assert_eq!(s.content_type(), ct);
            assert_eq!(s.event_source(), format!("{signing}.amazonaws.com"));
            assert_eq!(Service::from_target_prefix(prefix), Some(s));
        }
    }

    #[test]
    fn lookups() {
        let ops = operations();
        assert!(ops.windows(2).all(|w| w[0].target < w[1].target));
        for op in ops {
            assert_eq!(
                op.target,
                format!("{}.{}", op.service.target_prefix(), op.name)
            );
        }
        let run = from_target("AmazonEC2ContainerServiceV20141113.RunTask").unwrap();
        assert_eq!(run.action(), "ecs:RunTask");
        assert!(!run.read_only);
        assert!(from_target("AmazonEC2ContainerServiceV20141113.runtask").is_none());
        assert!(from_target("AmazonEC2ContainerServiceV20141113.").is_none());
        assert!(from_target("RunTask").is_none());
        assert!(from_target("").is_none());
        assert!(find(Service::Ecs, "PutLogEvents").is_none());
    }
}
