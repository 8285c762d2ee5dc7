//! The APIs the cluster answers besides ECS: Application Auto Scaling
//! (`AnyScaleFrontendService.<Action>`), CloudWatch Logs (`Logs_20140328.<Action>`), Secrets
//! Manager (`secretsmanager.<Action>`) and SSM Parameter Store (`AmazonSSM.<Action>`) in AWS
//! JSON 1.1, and CloudWatch metrics (`GraniteServiceVersion20100801.<Action>`, see
//! [`crate::metrics`]) whose requests and answers are JSON 1.0 documents here (the server
//! carries them over awsJson1_0 or transcodes them from and to Smithy RPC v2 CBOR), with their
//! own error shape ([`ApiFault`]: any exception name, `Message` or `message` as each service
//! spells it, and the awsQuery code for CloudWatch), and the test-control entry points that feed
//! scaling metrics.

use std::collections::BTreeSet;

use berth_core::protocol::{AwsError, ErrorCode};
use berth_core::scaling::StepAlarm;
use serde_json::{Value, json};

use crate::{Cluster, api};

/// A non-ECS API on the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// Application Auto Scaling.
    AutoScaling,
    /// CloudWatch Logs.
    Logs,
    /// CloudWatch metrics.
    CloudWatch,
    /// Secrets Manager.
    SecretsManager,
    /// SSM Parameter Store.
    Ssm,
}

/// `X-Amz-Target` prefix of Application Auto Scaling.
pub const AUTOSCALING_PREFIX: &str = "AnyScaleFrontendService.";
/// `X-Amz-Target` prefix of CloudWatch Logs.
pub const LOGS_PREFIX: &str = "Logs_20140328.";
/// `X-Amz-Target` prefix of CloudWatch (awsJson1_0); the service's name in RPC v2 CBOR paths.
pub const CLOUDWATCH_PREFIX: &str = "GraniteServiceVersion20100801.";
/// `X-Amz-Target` prefix of Secrets Manager.
pub const SECRETS_MANAGER_PREFIX: &str = "secretsmanager.";
/// `X-Amz-Target` prefix of SSM.
pub const SSM_PREFIX: &str = "AmazonSSM.";
/// The Smithy namespace of CloudWatch's shapes (RPC v2 CBOR errors name
/// `com.amazonaws.cloudwatch#<Exception>`).
pub const CLOUDWATCH_SHAPE_NAMESPACE: &str = "com.amazonaws.cloudwatch";

impl Api {
    /// The API and action an `X-Amz-Target` names, when it is one of these APIs.
    ///
    /// ```
    /// use berth_cluster::apis::Api;
    /// assert_eq!(Api::from_target("Logs_20140328.GetLogEvents"), Some((Api::Logs, "GetLogEvents")));
    /// assert_eq!(Api::from_target("AmazonEC2ContainerServiceV20141113.ListTasks"), None);
    /// ```
    pub fn from_target(target: &str) -> Option<(Api, &str)> {
        if let Some(a) = target.strip_prefix(AUTOSCALING_PREFIX) {
            return Some((Api::AutoScaling, a));
        }
        if let Some(a) = target.strip_prefix(CLOUDWATCH_PREFIX) {
            return Some((Api::CloudWatch, a));
        }
        if let Some(a) = target.strip_prefix(SECRETS_MANAGER_PREFIX) {
            return Some((Api::SecretsManager, a));
        }
        if let Some(a) = target.strip_prefix(SSM_PREFIX) {
            return Some((Api::Ssm, a));
        }
        target.strip_prefix(LOGS_PREFIX).map(|a| (Api::Logs, a))
    }

    fn actions(self) -> &'static [&'static str] {
        match self {
            Api::AutoScaling => api::autoscaling::ACTIONS,
            Api::Logs => api::logs::ACTIONS,
            Api::CloudWatch => api::cloudwatch::ACTIONS,
            Api::SecretsManager => api::secrets::ACTIONS,
            Api::Ssm => api::ssm::ACTIONS,
        }
    }

    /// Whether the member at `path` (member names from the root of `action`'s answer; list
    /// levels add nothing) is modelled as a timestamp: what a protocol with typed timestamps
    /// (RPC v2 CBOR's tag 1) needs to know. Checked against CloudWatch's model in the tests.
    pub fn is_timestamp(self, action: &str, path: &[&str]) -> bool {
        match (self, action) {
            (Api::CloudWatch, "GetMetricData") => path == ["MetricDataResults", "Timestamps"],
            (Api::CloudWatch, "GetMetricStatistics") => path == ["Datapoints", "Timestamp"],
            _ => false,
        }
    }

    /// Whether `action` has an output structure (PutMetricData has none: RPC v2 CBOR then
    /// answers without a body).
    pub fn has_output(self, action: &str) -> bool {
        !(self == Api::CloudWatch && action == "PutMetricData")
    }

    fn is_read_only(self, action: &str) -> bool {
        match self {
            Api::AutoScaling => action.starts_with("Describe"),
            Api::Logs => api::logs::is_read_only(action),
            Api::CloudWatch => action != "PutMetricData",
            Api::SecretsManager => api::secrets::is_read_only(action),
            Api::Ssm => api::ssm::is_read_only(action),
        }
    }
}

/// An error of one of these APIs: `{"__type": code, "<Message|message>": text}` with an HTTP
/// status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiFault {
    /// The exception name (`ValidationException`, `ResourceNotFoundException` …).
    pub code: String,
    /// The text.
    pub message: String,
    /// The HTTP status (400 for client errors, 500 for internal ones).
    pub status: u16,
    /// `Message` (Application Auto Scaling models it so) or `message`.
    pub message_member: &'static str,
    /// The awsQuery error code of a query-compatible service (CloudWatch's
    /// `InvalidParameterValue` for `InvalidParameterValueException`): sent as
    /// `x-amzn-query-error: <code>;Sender`, from which SDKs take the error code.
    pub query_code: Option<&'static str>,
}

impl ApiFault {
    /// An Application Auto Scaling client error.
    pub fn aas(code: &str, message: impl Into<String>) -> Self {
        ApiFault {
            code: code.into(),
            message: message.into(),
            status: 400,
            message_member: "Message",
            query_code: None,
        }
    }

    /// A CloudWatch Logs client error.
    pub fn logs(code: &str, message: impl Into<String>) -> Self {
        ApiFault {
            code: code.into(),
            message: message.into(),
            status: 400,
            message_member: "message",
            query_code: None,
        }
    }

    /// A Secrets Manager client error (`Message`).
    pub fn secrets(code: &str, message: impl Into<String>) -> Self {
        ApiFault {
            code: code.into(),
            message: message.into(),
            status: 400,
            message_member: "Message",
            query_code: None,
        }
    }

    /// An SSM client error, with the message member its model gives the exception (`message`
    /// for most of Parameter Store's, `Message` for `ValidationException`, `InvalidNextToken`,
    /// `InvalidFilterValue` and `AccessDeniedException`). An empty message is left out of the
    /// body, as SSM answers `ParameterNotFound`.
    pub fn ssm(code: &str, message: impl Into<String>) -> Self {
        let message_member = match code {
            "ValidationException"
            | "InvalidNextToken"
            | "InvalidFilterValue"
            | "AccessDeniedException" => "Message",
            _ => "message",
        };
        ApiFault {
            code: code.into(),
            message: message.into(),
            status: 400,
            message_member,
            query_code: None,
        }
    }

    /// A CloudWatch client error: the exception's shape name and its awsQuery code.
    pub fn cloudwatch(code: &str, query_code: &'static str, message: impl Into<String>) -> Self {
        ApiFault {
            code: code.into(),
            message: message.into(),
            status: 400,
            message_member: "message",
            query_code: Some(query_code),
        }
    }

    /// The `x-amzn-query-error` header value (`<code>;Sender`, `;Receiver` for server faults).
    pub fn query_error(&self) -> Option<String> {
        let side = if self.status >= 500 {
            "Receiver"
        } else {
            "Sender"
        };
        self.query_code.map(|q| format!("{q};{side}"))
    }

    /// `UnknownOperationException` for an action the API does not have.
    pub fn unknown_operation(action: &str) -> Self {
        ApiFault::logs(
            "UnknownOperationException",
            format!("Unknown operation {action}."),
        )
    }

    /// The JSON body (without a message member when the message is empty).
    pub fn to_json(&self) -> Value {
        let mut v = json!({"__type": self.code});
        if !self.message.is_empty() {
            v[self.message_member] = json!(self.message);
        }
        v
    }
}

impl From<AwsError> for ApiFault {
    fn from(e: AwsError) -> Self {
        ApiFault {
            code: e.code.as_str().into(),
            message: e.message,
            status: e.code.http_status(),
            message_member: "message",
            query_code: None,
        }
    }
}

impl Cluster {
    /// Runs one Application Auto Scaling, CloudWatch Logs, CloudWatch, Secrets Manager or SSM
    /// action, blocking on the durable commit.
    ///
    /// # Errors
    ///
    /// The API's exception for the request; `UnknownOperationException` for an action it does
    /// not have; `ServerException` when the change could not be stored.
    pub fn call_api_blocking(
        &self,
        api: Api,
        action: &str,
        body: &[u8],
    ) -> Result<Value, ApiFault> {
        if !api.actions().contains(&action) {
            return Err(ApiFault::unknown_operation(action));
        }
        let env = &self.inner.env;
        let now = self.now();
        if api.is_read_only(action) {
            let st = self.read();
            let r = api::Read {
                st: &st,
                env,
                now,
                views: &self.inner.views,
            };
            return match api {
                Api::AutoScaling => api::autoscaling::read(&r, action, body),
                Api::Logs => api::logs::read(&r, action, body),
                Api::CloudWatch => api::cloudwatch::read(&r, action, body),
                Api::SecretsManager => api::secrets::read(&r, action, body),
                Api::Ssm => api::ssm::read(&r, action, body),
            };
        }
        let mut st = self.write();
        let mut dirty = BTreeSet::new();
        let result = {
            let mut w = api::Write {
                st: &mut st,
                dirty: &mut dirty,
                env,
                now,
            };
            match api {
                Api::AutoScaling => api::autoscaling::write(&mut w, action, body),
                Api::Logs => api::logs::write(&mut w, action, body),
                Api::CloudWatch => api::cloudwatch::write(&mut w, action, body),
                Api::SecretsManager => api::secrets::write(&mut w, action, body),
                Api::Ssm => api::ssm::write(&mut w, action, body),
            }
        };
        crate::unsettle(&mut st, &dirty);
        let ticket = self.stage(&mut st, dirty);
        drop(st);
        self.durable(ticket)?;
        result
    }

    /// [`Cluster::call_api_blocking`] on tokio's blocking pool.
    ///
    /// # Errors
    ///
    /// As [`Cluster::call_api_blocking`].
    pub async fn call_api(&self, api: Api, action: &str, body: Vec<u8>) -> Result<Value, ApiFault> {
        let this = self.clone();
        let action = action.to_string();
        tokio::task::spawn_blocking(move || this.call_api_blocking(api, &action, &body))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "request handler panicked");
                ApiFault::from(AwsError::new(ErrorCode::ServerException, "Internal error."))
            })?
    }

    fn control_write<T>(
        &self,
        f: impl FnOnce(&mut api::Write<'_>) -> Result<T, AwsError>,
    ) -> Result<T, AwsError> {
        let env = &self.inner.env;
        let now = self.now();
        let mut st = self.write();
        let mut dirty = BTreeSet::new();
        let result = f(&mut api::Write {
            st: &mut st,
            dirty: &mut dirty,
            env,
            now,
        });
        crate::unsettle(&mut st, &dirty);
        let ticket = self.stage(&mut st, dirty);
        drop(st);
        self.durable(ticket)?;
        result
    }

    /// Test control: one metric datapoint (`metric` is a predefined metric type such as
    /// `ECSServiceAverageCPUUtilization`, a customized metric's name, or a step alarm's metric)
    /// for the scalable target `resource_id` at the cluster's current time. The target's
    /// policies are evaluated at once with [`berth_core::scaling::replay`]; the answer carries
    /// the service's desired count and how many scaling activities were written.
    ///
    /// # Errors
    ///
    /// `InvalidParameterException` when there is no such target or ECS service.
    pub fn put_metric(
        &self,
        resource_id: &str,
        metric: &str,
        value: f64,
    ) -> Result<Value, AwsError> {
        self.control_write(|w| api::autoscaling::put_metric(w, resource_id, metric, value))
    }

    /// Test control: attaches the CloudWatch alarm that invokes a step-scaling policy.
    ///
    /// # Errors
    ///
    /// `InvalidParameterException` when there is no such target or step policy.
    pub fn attach_step_alarm(
        &self,
        resource_id: &str,
        policy_name: &str,
        alarm: StepAlarm,
    ) -> Result<(), AwsError> {
        self.control_write(|w| api::autoscaling::attach_alarm(w, resource_id, policy_name, alarm))
    }
}
