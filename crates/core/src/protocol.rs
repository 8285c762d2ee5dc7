//! The AWS JSON 1.1 envelope of the ECS API: action names, the error shape, ARNs and pagination
//! tokens.
//!
//! **What it is for.** Everything a server or client of the ECS wire protocol needs that is not
//! a request or response shape (those are in [`crate::model`]): reading the action from an
//! `X-Amz-Target` header ([`action_from_target`]), the error body `{"__type", "message"}` with
//! every exception name ECS models plus the generic AWS ones ([`ErrorCode`], [`AwsError`]), the
//! long-format ARNs of ECS resources ([`Arn`], ecs-semantics §6.4), and opaque pagination tokens
//! with ECS's page-size rules ([`PageToken`], [`page_size`], §6.3).
//!
//! **What it deliberately does not do.** No HTTP, no IO, no SigV4: the embedded cluster and the
//! proxy own transport; this module only computes strings and values, so it also runs in wasm.
//! Tokens are opaque but not encrypted or signed: a client that forges one only pages through
//! its own local data.

use std::fmt;

/// The `X-Amz-Target` prefix of every ECS action.
pub const TARGET_PREFIX: &str = "AmazonEC2ContainerServiceV20141113.";

/// The `Content-Type` of AWS JSON 1.1 requests and responses.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// Region used when nothing else is configured.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Account id used when nothing else is configured.
pub const DEFAULT_ACCOUNT: &str = "000000000000";

/// Reads the ECS action from an `X-Amz-Target` header value.
///
/// The action must be one of the operations of the ECS model ([`crate::model::OPERATIONS`]).
///
/// # Errors
///
/// An [`AwsError`] with [`ErrorCode::UnknownOperationException`] when the header does not start
/// with [`TARGET_PREFIX`] or names an operation ECS does not have.
///
/// # Example
///
/// ```
/// use berth_core::protocol::{action_from_target, ErrorCode};
/// assert_eq!(action_from_target("AmazonEC2ContainerServiceV20141113.ListClusters").unwrap(), "ListClusters");
/// let err = action_from_target("AmazonEC2ContainerServiceV20141113.Nope").unwrap_err();
/// assert_eq!(err.code, ErrorCode::UnknownOperationException);
/// ```
pub fn action_from_target(target: &str) -> Result<&str, AwsError> {
    let action = target.strip_prefix(TARGET_PREFIX).ok_or_else(|| {
        AwsError::new(
            ErrorCode::UnknownOperationException,
            format!("Unknown operation: X-Amz-Target {target:?} is not an ECS action ({TARGET_PREFIX}<Action>)."),
        )
    })?;
    if crate::model::OPERATIONS
        .iter()
        .any(|(name, _, _)| *name == action)
    {
        Ok(action)
    } else {
        Err(AwsError::new(
            ErrorCode::UnknownOperationException,
            format!("Unknown operation {action}."),
        ))
    }
}

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $name:ident ),* $(,)?) => {
        /// The `__type` of an AWS JSON error: every exception of the ECS model, then the generic
        /// errors any AWS JSON service may return.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $(#[$doc])* $name, )*
        }

        impl ErrorCode {
            /// Every code.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name),*];

            /// The name as it goes in `__type`.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$name => stringify!($name),)* }
            }

            /// The code with this name, if there is one.
            pub fn from_name(name: &str) -> Option<ErrorCode> {
                match name { $(stringify!($name) => Some(ErrorCode::$name),)* _ => None }
            }
        }
    };
}

error_codes! {
    /// Not authorised.
    AccessDeniedException,
    /// Too many attributes.
    AttributeLimitExceededException,
    /// The account is blocked.
    BlockedException,
    /// A client error (most validation failures of RegisterTaskDefinition).
    ClientException,
    /// DeleteCluster with capacity providers.
    ClusterContainsCapacityProviderException,
    /// DeleteCluster with registered container instances.
    ClusterContainsContainerInstancesException,
    /// DeleteCluster with active services.
    ClusterContainsServicesException,
    /// DeleteCluster with active tasks.
    ClusterContainsTasksException,
    /// The cluster does not exist.
    ClusterNotFoundException,
    /// A conflicting operation.
    ConflictException,
    /// The daemon is not active.
    DaemonNotActiveException,
    /// The daemon does not exist.
    DaemonNotFoundException,
    /// A parameter is invalid.
    InvalidParameterException,
    /// A limit was exceeded.
    LimitExceededException,
    /// The agent version is missing.
    MissingVersionException,
    /// The namespace does not exist.
    NamespaceNotFoundException,
    /// No agent update is available.
    NoUpdateAvailableException,
    /// The platform does not fit the task definition.
    PlatformTaskDefinitionIncompatibilityException,
    /// Unknown platform version.
    PlatformUnknownException,
    /// The resource is in use.
    ResourceInUseException,
    /// The resource does not exist.
    ResourceNotFoundException,
    /// A server-side failure (the only code answered with HTTP 500).
    ServerException,
    /// The service deployment does not exist.
    ServiceDeploymentNotFoundException,
    /// The service is not ACTIVE.
    ServiceNotActiveException,
    /// The service does not exist.
    ServiceNotFoundException,
    /// The execute-command target is not connected.
    TargetNotConnectedException,
    /// The target does not exist.
    TargetNotFoundException,
    /// The task set does not exist.
    TaskSetNotFoundException,
    /// The feature is not supported (here also: not implemented yet by this server).
    UnsupportedFeatureException,
    /// An update is already in progress.
    UpdateInProgressException,
    /// Generic: the request body is not valid JSON or a member has the wrong type.
    SerializationException,
    /// Generic: `X-Amz-Target` names no known action.
    UnknownOperationException,
    /// Generic: input validation failed.
    ValidationException,
    /// Generic: too many requests.
    ThrottlingException,
    /// Generic: the request body is larger than the server accepts.
    RequestEntityTooLargeException,
    /// Authentication: the SigV4 signature does not match, or its date is outside the window.
    InvalidSignatureException,
    /// Authentication: the `Authorization` header lacks a part SigV4 requires.
    IncompleteSignatureException,
    /// Authentication: the access key id is not known.
    UnrecognizedClientException,
    /// Authentication: the request carries no signature where one is required.
    MissingAuthenticationTokenException,
    /// Authentication: the session token has expired.
    ExpiredTokenException,
}

impl ErrorCode {
    /// The HTTP status: 500 for [`ErrorCode::ServerException`], 413 for
    /// [`ErrorCode::RequestEntityTooLargeException`], 400 for everything else.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::ServerException => 500,
            ErrorCode::RequestEntityTooLargeException => 413,
            _ => 400,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error as the ECS API answers it: `{"__type": "<code>", "message": "<text>"}`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AwsError {
    /// The exception name.
    pub code: ErrorCode,
    /// The message, ECS's own text where it is known.
    pub message: String,
}

impl AwsError {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        AwsError {
            code,
            message: message.into(),
        }
    }

    /// `InvalidParameterException` with a message.
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParameterException, message)
    }

    /// `ClientException` with a message.
    pub fn client(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ClientException, message)
    }

    /// `ClusterNotFoundException` with ECS's message.
    pub fn cluster_not_found() -> Self {
        Self::new(ErrorCode::ClusterNotFoundException, "Cluster not found.")
    }

    /// `ServiceNotFoundException` with ECS's message.
    pub fn service_not_found() -> Self {
        Self::new(ErrorCode::ServiceNotFoundException, "Service not found.")
    }

    /// The JSON body.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"__type": self.code.as_str(), "message": self.message})
    }
}

/// An ECS resource an ARN names (long format, §6.4).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Resource {
    /// `cluster/<name>`
    Cluster {
        /// Cluster name.
        name: String,
    },
    /// `service/<cluster>/<name>`
    Service {
        /// Cluster name.
        cluster: String,
        /// Service name.
        name: String,
    },
    /// `task/<cluster>/<id>`
    Task {
        /// Cluster name.
        cluster: String,
        /// Task id.
        id: String,
    },
    /// `container-instance/<cluster>/<id>`
    ContainerInstance {
        /// Cluster name.
        cluster: String,
        /// Container instance id.
        id: String,
    },
    /// `task-definition/<family>:<revision>`
    TaskDefinition {
        /// Family.
        family: String,
        /// Revision (1-based).
        revision: u32,
    },
    /// `capacity-provider/<name>`
    CapacityProvider {
        /// Provider name.
        name: String,
    },
    /// `container/<cluster>/<task id>/<container id>`
    Container {
        /// Cluster name.
        cluster: String,
        /// Task id.
        task: String,
        /// Container id.
        id: String,
    },
    /// `service-deployment/<cluster>/<service>/<id>`
    ServiceDeployment {
        /// Cluster name.
        cluster: String,
        /// Service name.
        service: String,
        /// Deployment id (without `ecs-svc/`).
        id: String,
    },
    /// `task-set/<cluster>/<service>/ecs-svc/<digits>`
    TaskSet {
        /// Cluster name.
        cluster: String,
        /// Service name.
        service: String,
        /// Task set id, `ecs-svc/<digits>` (two path segments).
        id: String,
    },
    /// `service-revision/<cluster>/<service>/<id>`
    ServiceRevision {
        /// Cluster name.
        cluster: String,
        /// Service name.
        service: String,
        /// Revision id.
        id: String,
    },
}

/// A parsed ECS ARN: `arn:<partition>:ecs:<region>:<account>:<resource>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Arn {
    /// `aws`, `aws-cn`, `aws-us-gov`.
    pub partition: String,
    /// The region.
    pub region: String,
    /// The account id.
    pub account: String,
    /// The resource.
    pub resource: Resource,
}

/// Why text is not an ECS ARN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{arn:?} is not a valid ECS ARN: {reason}")]
pub struct ArnError {
    /// The text.
    pub arn: String,
    /// What is wrong.
    pub reason: &'static str,
}

/// The six `:`-separated parts of an ARN (`arn`, partition, service, region, account, resource;
/// the resource keeps any further `:`), or `None` when there are fewer.
pub fn arn_parts(text: &str) -> Option<[&str; 6]> {
    let mut parts = text.splitn(6, ':');
    Some([
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    ])
}

impl Arn {
    /// A long-format ARN in partition `aws`.
    pub fn new(region: &str, account: &str, resource: Resource) -> Self {
        Arn {
            partition: "aws".into(),
            region: region.into(),
            account: account.into(),
            resource,
        }
    }

    /// Parses a long-format ECS ARN.
    ///
    /// # Errors
    ///
    /// [`ArnError`] when the text is not `arn:<partition>:ecs:<region>:<account>:<resource>` with
    /// a resource of a known type and the right number of path segments.
    ///
    /// # Example
    ///
    /// ```
    /// use berth_core::protocol::{Arn, Resource};
    /// let arn = Arn::parse("arn:aws:ecs:us-east-1:000000000000:task-definition/web:3")?;
    /// assert_eq!(arn.resource, Resource::TaskDefinition { family: "web".into(), revision: 3 });
    /// assert_eq!(arn.to_string(), "arn:aws:ecs:us-east-1:000000000000:task-definition/web:3");
    /// # Ok::<(), berth_core::protocol::ArnError>(())
    /// ```
    pub fn parse(text: &str) -> Result<Arn, ArnError> {
        let err = |reason| ArnError {
            arn: text.into(),
            reason,
        };
        let Some(["arn", partition, "ecs", region, account, rest]) = arn_parts(text) else {
            return Err(err(
                "expected arn:<partition>:ecs:<region>:<account>:<resource>",
            ));
        };
        let (kind, path) = rest
            .split_once('/')
            .ok_or_else(|| err("no resource path"))?;
        let segs: Vec<&str> = path.split('/').collect();
        if segs.iter().any(|s| s.is_empty()) {
            return Err(err("empty path segment"));
        }
        let s = |i: usize| segs[i].to_string();
        let resource = match (kind, segs.len()) {
            ("cluster", 1) => Resource::Cluster { name: s(0) },
            ("service", 2) => Resource::Service {
                cluster: s(0),
                name: s(1),
            },
            ("task", 2) => Resource::Task {
                cluster: s(0),
                id: s(1),
            },
            ("container-instance", 2) => Resource::ContainerInstance {
                cluster: s(0),
                id: s(1),
            },
            ("capacity-provider", 1) => Resource::CapacityProvider { name: s(0) },
            ("container", 3) => Resource::Container {
                cluster: s(0),
                task: s(1),
                id: s(2),
            },
            ("service-deployment", 3) => Resource::ServiceDeployment {
                cluster: s(0),
                service: s(1),
                id: s(2),
            },
            ("service-revision", 3) => Resource::ServiceRevision {
                cluster: s(0),
                service: s(1),
                id: s(2),
            },
            ("task-set", 4) if segs[2] == "ecs-svc" => Resource::TaskSet {
                cluster: s(0),
                service: s(1),
                id: format!("ecs-svc/{}", segs[3]),
            },
            ("task-definition", 1) => {
                let (family, rev) = segs[0]
                    .rsplit_once(':')
                    .ok_or_else(|| err("task definition without :<revision>"))?;
                let revision = rev
                    .parse::<u32>()
                    .ok()
                    .filter(|r| *r > 0)
                    .ok_or_else(|| err("revision is not a positive number"))?;
                if family.is_empty() {
                    return Err(err("empty family"));
                }
                Resource::TaskDefinition {
                    family: family.into(),
                    revision,
                }
            }
            _ => {
                return Err(err(
                    "unknown resource type or wrong number of path segments",
                ));
            }
        };
        Ok(Arn {
            partition: partition.into(),
            region: region.into(),
            account: account.into(),
            resource,
        })
    }
}

impl fmt::Display for Arn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "arn:{}:ecs:{}:{}:",
            self.partition, self.region, self.account
        )?;
        match &self.resource {
            Resource::Cluster { name } => write!(f, "cluster/{name}"),
            Resource::Service { cluster, name } => write!(f, "service/{cluster}/{name}"),
            Resource::Task { cluster, id } => write!(f, "task/{cluster}/{id}"),
            Resource::ContainerInstance { cluster, id } => {
                write!(f, "container-instance/{cluster}/{id}")
            }
            Resource::TaskDefinition { family, revision } => {
                write!(f, "task-definition/{family}:{revision}")
            }
            Resource::CapacityProvider { name } => write!(f, "capacity-provider/{name}"),
            Resource::Container { cluster, task, id } => {
                write!(f, "container/{cluster}/{task}/{id}")
            }
            Resource::ServiceDeployment {
                cluster,
                service,
                id,
            } => write!(f, "service-deployment/{cluster}/{service}/{id}"),
            Resource::ServiceRevision {
                cluster,
                service,
                id,
            } => write!(f, "service-revision/{cluster}/{service}/{id}"),
            Resource::TaskSet {
                cluster,
                service,
                id,
            } => write!(f, "task-set/{cluster}/{service}/{id}"),
        }
    }
}

/// An opaque pagination token: the operation it belongs to and where the next page starts.
///
/// Encoded as hex of `v1\n<operation>\n<cursor>`, so a token of one operation is refused by
/// another, and clients cannot mistake it for something meaningful.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageToken {
    /// The operation, such as `ListTasks`.
    pub operation: String,
    /// The sort key after which the next page starts.
    pub cursor: String,
}

impl PageToken {
    /// A token for `operation` that resumes after `cursor`.
    pub fn new(operation: &str, cursor: &str) -> Self {
        PageToken {
            operation: operation.into(),
            cursor: cursor.into(),
        }
    }

    /// The opaque string sent as `nextToken`.
    pub fn encode(&self) -> String {
        let raw = format!("v1\n{}\n{}", self.operation, self.cursor);
        let mut out = String::with_capacity(raw.len() * 2);
        for b in raw.bytes() {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }

    /// Reads a `nextToken` that must belong to `operation`.
    ///
    /// # Errors
    ///
    /// `InvalidParameterException` when the token was not made by [`PageToken::encode`] for this
    /// operation.
    ///
    /// # Example
    ///
    /// ```
    /// use berth_core::protocol::PageToken;
    /// let t = PageToken::new("ListTasks", "abc").encode();
    /// assert_eq!(PageToken::decode("ListTasks", &t)?.cursor, "abc");
    /// assert!(PageToken::decode("ListServices", &t).is_err());
    /// # Ok::<(), berth_core::protocol::AwsError>(())
    /// ```
    pub fn decode(operation: &str, token: &str) -> Result<PageToken, AwsError> {
        let bad = || {
            AwsError::invalid_parameter(
                "Invalid nextToken: the token is not valid for this request.",
            )
        };
        if token.len() % 2 != 0 || token.len() > 8192 {
            return Err(bad());
        }
        let bytes: Option<Vec<u8>> = (0..token.len())
            .step_by(2)
            .map(|i| {
                token
                    .get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
            })
            .collect();
        let text = String::from_utf8(bytes.ok_or_else(bad)?).map_err(|_| bad())?;
        let mut parts = text.splitn(3, '\n');
        match (parts.next(), parts.next(), parts.next()) {
            (Some("v1"), Some(op), Some(cursor)) if op == operation => {
                Ok(PageToken::new(op, cursor))
            }
            _ => Err(bad()),
        }
    }
}

/// The page size of a list operation: `maxResults` if given (it must lie in `1..=max`), else the
/// operation's default (§6.3: 100 for most, 10 for ListServices, 20 for ListServiceDeployments).
///
/// # Errors
///
/// `InvalidParameterException` when `maxResults` is outside `1..=max`.
///
/// # Example
///
/// ```
/// use berth_core::protocol::page_size;
/// assert_eq!(page_size(None, 10, 100)?, 10);
/// assert_eq!(page_size(Some(100), 10, 100)?, 100);
/// assert!(page_size(Some(0), 10, 100).is_err());
/// # Ok::<(), berth_core::protocol::AwsError>(())
/// ```
pub fn page_size(max_results: Option<i32>, default: usize, max: usize) -> Result<usize, AwsError> {
    match max_results {
        None => Ok(default),
        Some(n) if n >= 1 && (n as usize) <= max => Ok(n as usize),
        Some(n) => Err(AwsError::invalid_parameter(format!(
            "maxResults must be between 1 and {max}; {n} was given."
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_exception_has_a_code() {
        for name in crate::model::EXCEPTIONS {
            let code = ErrorCode::from_name(name).unwrap_or_else(|| panic!("{name}"));
            assert_eq!(code.as_str(), *name);
        }
        assert_eq!(ErrorCode::ServerException.http_status(), 500);
        assert_eq!(ErrorCode::ClientException.http_status(), 400);
    }

    #[test]
    fn error_json_shape() {
        let e = AwsError::cluster_not_found();
        assert_eq!(
            e.to_json(),
            serde_json::json!({"__type": "ClusterNotFoundException", "message": "Cluster not found."})
        );
    }

    #[test]
    fn arns_round_trip() {
        for text in [
            "arn:aws:ecs:us-east-1:000000000000:cluster/default",
            "arn:aws:ecs:us-east-1:000000000000:service/default/web",
            "arn:aws:ecs:us-east-1:000000000000:task/default/0123456789abcdef0123456789abcdef",
            "arn:aws:ecs:eu-west-1:1:container-instance/c/abc",
            "arn:aws:ecs:eu-west-1:1:task-definition/web-app:12",
            "arn:aws:ecs:eu-west-1:1:capacity-provider/FARGATE",
            "arn:aws-cn:ecs:cn-north-1:1:service-deployment/c/s/123",
            "arn:aws:ecs:us-east-1:1:service-revision/c/s/456",
            "arn:aws:ecs:us-west-2:1:task-set/c/s/ecs-svc/1234567890123456789",
        ] {
            assert_eq!(Arn::parse(text).unwrap().to_string(), text);
        }
        for bad in [
            "",
            "arn:aws:s3:::bucket",
            "arn:aws:ecs:us-east-1:1:task-definition/web",
            "arn:aws:ecs:us-east-1:1:task-definition/web:0",
            "arn:aws:ecs:us-east-1:1:service/web",
            "arn:aws:ecs:us-east-1:1:widget/x",
            "arn:aws:ecs:us-east-1:1:task//x",
            "arn:aws:ecs:us-east-1:1:task-set/c/s/other/1",
        ] {
            assert!(Arn::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tokens_are_bound_to_their_operation_and_reject_garbage() {
        let t = PageToken::new("ListTasks", "k\n2").encode();
        assert_eq!(PageToken::decode("ListTasks", &t).unwrap().cursor, "k\n2");
        let other = PageToken::new("ListServices", "k").encode();
        for bad in ["", "zz", "abc", "7631", &other] {
            assert!(PageToken::decode("ListTasks", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn targets() {
        assert!(action_from_target("ListClusters").is_err());
        assert_eq!(
            action_from_target("AmazonEC2ContainerServiceV20141113.RunTask").unwrap(),
            "RunTask"
        );
    }
}
