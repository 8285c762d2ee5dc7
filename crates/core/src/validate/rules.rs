//! The rules ECS applies to a `RegisterTaskDefinition` request beyond what the API model states,
//! per launch type, and the warnings for what ECS accepts but is very likely wrong.
//!
//! Sources: `docs/ecs-semantics.md` §1 and §7. Messages quoted from ECS are marked `ecs` in
//! [`CATALOGUE`]; the others are ours, written to say what is wrong and how to fix it.

use super::{Finding, Options, Severity};
use crate::json::Node;
use crate::model::{
    Compatibility, ContainerCondition, ContainerDefinition, LogDriver, NetworkMode, OSFamily,
    RegisterTaskDefinitionRequest, ResourceType, TaskDefinitionPlacementConstraintType,
    TransportProtocol,
};
use std::collections::{BTreeMap, BTreeSet};

/// (code, description). Descriptions starting with `ECS:` use ECS's exact message text.
pub(crate) const CATALOGUE: &[(&str, &str)] = &[
    ("json-syntax", "The text is not JSON."),
    (
        "type",
        "A member has the wrong JSON type for the API model.",
    ),
    ("required", "A member the API model requires is missing."),
    ("enum", "A value is not one the API model allows."),
    (
        "empty-enum",
        "An enumeration member is an empty string, which ECS treats as unset.",
    ),
    (
        "length",
        "A string or list is shorter or longer than the API model allows.",
    ),
    (
        "range",
        "A number is outside the range the API model allows.",
    ),
    (
        "pattern",
        "A string does not match the pattern the API model requires.",
    ),
    (
        "unknown-member",
        "Warning: a member the API model does not define; ECS ignores it, the AWS CLI rejects it (\"did you mean\" help).",
    ),
    (
        "duplicate-member",
        "A member appears twice in one object; only the last counts.",
    ),
    ("deprecated", "A member the API model marks deprecated."),
    (
        "family-invalid",
        "family must be 1-255 letters, digits, hyphens and underscores.",
    ),
    ("containers-empty", "ECS: Container list cannot be empty."),
    (
        "containers-too-many",
        "ECS: Too many containers. (10 per task definition)",
    ),
    (
        "size-limit",
        "ECS: Actual length: '<n>'. Max allowed length is '65536' bytes.",
    ),
    (
        "container-name-required",
        "ECS: Container.name should not be null or empty.",
    ),
    (
        "container-name-invalid",
        "ECS: Container.name contains invalid characters. (ansible/ansible#22860)",
    ),
    (
        "container-name-duplicate",
        "ECS: Container names must be unique within a Task Definition. (Shippable/support#2946, metaps/genova#291)",
    ),
    (
        "image-required",
        "ECS: Container.image should not be null or empty.",
    ),
    (
        "image-invalid",
        "Image references: at most 255 characters before the digest, digests sha256:<64 hex> (errors); other characters than ECS documents (warning).",
    ),
    (
        "essential-required",
        "At least one container must be essential.",
    ),
    (
        "task-cpu-invalid",
        "ECS: Invalid 'cpu' setting for task. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide. (task-level cpu that is neither CPU units nor a vCPU amount; AWS troubleshooting page \"Invalid CPU or memory value specified\")",
    ),
    (
        "task-memory-invalid",
        "Task-level memory must be MiB or a GB amount.",
    ),
    (
        "task-cpu-range",
        "ECS: Invalid 'cpu' setting for task. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide. (task-level cpu on EC2/EXTERNAL outside 128..196608 units; the range is in the help line)",
    ),
    (
        "container-memory-required",
        "ECS: Invalid setting for container 'NAME'. At least one of 'memory' or 'memoryReservation' must be specified.",
    ),
    (
        "memory-reservation-exceeds-memory",
        "A container's memoryReservation must not exceed its memory.",
    ),
    (
        "memory-reservation-sum",
        "ECS: The sum of all container 'memoryReservation' values cannot be greater than the value of the task 'memory'.",
    ),
    (
        "container-memory-exceeds-task",
        "ECS: The 'memory' setting for container '<name>' is greater than for the task. (pulumi/pulumi-awsx#1220, #188)",
    ),
    (
        "container-cpu-sum",
        "The sum of container cpu values must not exceed the task's cpu.",
    ),
    (
        "fargate-network-mode",
        "ECS: Fargate only supports network mode ‘awsvpc’.",
    ),
    (
        "fargate-cpu-required",
        "ECS: Fargate requires that 'cpu' be defined at the task level.",
    ),
    (
        "fargate-memory-required",
        "ECS: Fargate requires that 'memory' be defined at the task level.",
    ),
    (
        "fargate-cpu-memory",
        "ECS: Invalid 'cpu' setting for task. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide. (a cpu outside the Fargate table); ECS: No Fargate configuration exists for given values: <cpu> CPU, <memory> memory. See the Amazon ECS documentation for the valid values. (a Fargate cpu with a memory outside its row; aws-games/cloud-game-development-toolkit#737, towardsthecloud/aws-cdk-examples#1)",
    ),
    (
        "fargate-unsupported",
        "ECS (ipcMode): Tasks using the Fargate launch type do not support ipcMode. (cn-terraform/terraform-aws-ecs-fargate#2); the same form (ours) for the other parameters Fargate forbids; ECS (host volume path): Fargate compatible task definitions do not support sourcePath (cloudposse/terraform-aws-ecs-alb-service-task#174).",
    ),
    (
        "fargate-log-driver",
        "Fargate supports only the awslogs, splunk and awsfirelens log drivers.",
    ),
    (
        "fargate-execution-role-logs",
        "ECS: Fargate requires task definition to have execution role ARN to support log driver awslogs.",
    ),
    (
        "fargate-execution-role-ecr",
        "ECS: Fargate requires task definition to have execution role ARN to support ECR images.",
    ),
    (
        "fargate-timeout",
        "On Fargate startTimeout and stopTimeout must be 2..120 seconds.",
    ),
    (
        "fargate-windows",
        "Windows on Fargate needs at least 1 vCPU and the X86_64 architecture.",
    ),
    (
        "external-unsupported",
        "EXTERNAL (ECS Anywhere) supports neither awsvpc nor EFS volumes.",
    ),
    (
        "network-mode-ports",
        "Port mapping rules of the network mode (awsvpc/host: hostPort = containerPort; none: no mappings).",
    ),
    (
        "container-port-invalid",
        "ECS: Invalid 'containerPort' setting for container 'NAME'.",
    ),
    (
        "port-range-invalid",
        "containerPortRange rules: bridge/awsvpc only, 'first-last', no hostPort, no overlap.",
    ),
    (
        "port-duplicate",
        "The same container port and protocol mapped twice, or the same static host port used twice.",
    ),
    (
        "port-name-invalid",
        "Port mapping names: up to 64 lowercase letters, digits, '_' and '-', not starting with '-', unique in the task.",
    ),
    (
        "links-network-mode",
        "ECS (awsvpc): Links are not supported when networkMode=awsvpc.; links work only in bridge mode.",
    ),
    (
        "link-unknown",
        "A link names a container that is not in the task definition.",
    ),
    (
        "hostname-awsvpc",
        "ECS: hostname is not supported on container when networkMode=awsvpc.",
    ),
    (
        "extra-hosts-awsvpc",
        "extraHosts is not supported when networkMode=awsvpc.",
    ),
    (
        "depends-on-unknown",
        "ECS: Cannot depend on container + 'NAME' because it does not exist",
    ),
    (
        "depends-on-essential",
        "ECS: A dependency container with SUCCESS or COMPLETE condition cannot be an essential container",
    ),
    (
        "depends-on-healthy",
        "A HEALTHY dependency needs a container with a healthCheck.",
    ),
    (
        "depends-on-cycle",
        "Containers that depend on each other in a cycle can never start.",
    ),
    (
        "volumes-from-unknown",
        "volumesFrom names a container that is not in the task definition.",
    ),
    (
        "mount-unknown-volume",
        "ECS: Unknown volume '<name>'. (ansible/ansible#35751, wellcomecollection/platform#677)",
    ),
    (
        "volume-invalid",
        "Volume rules: unique names, one configuration type, EFS access point and IAM rules, one configuredAtLaunch volume.",
    ),
    (
        "secrets-execution-role",
        "ECS: When you are specifying container secrets, you must also specify a value for 'executionRoleArn'.",
    ),
    (
        "secret-parameter-name",
        "ECS: The Systems Manager parameter name specified for secret <NAME> is invalid. The parameter name can be up to 2048 characters and include the following letters and symbols: a-zA-Z0-9_.- (a secrets valueFrom that is neither an ARN nor a parameter name; aws/copilot-cli#3446)",
    ),
    (
        "role-invalid",
        "ECS: Role is not valid (taskRoleArn or executionRoleArn given as the ARN of something other than an IAM role, e.g. a cluster or a CloudFormation stack; aws-samples/aws-modern-application-workshop#9, fabfuel/ecs-deploy#231)",
    ),
    (
        "secret-duplicate",
        "A secret or environment variable name appears twice in a container.",
    ),
    (
        "log-options",
        "ECS: Log driver awslogs requires options: <the missing ones of awslogs-region, awslogs-group> (klothoplatform/klotho#892)",
    ),
    (
        "firelens",
        "awsfirelens needs exactly one container with firelensConfiguration.",
    ),
    (
        "firelens-config-file",
        "ECS: Invalid arn syntax. (firelensConfiguration config-file-type s3 on Fargate, which takes only file, whatever the value — aws/aws-sdk#311; and, inferred from the same text, an s3 config-file-value that is not an ARN)",
    ),
    (
        "health-check",
        "healthCheck ranges: interval 5-300, timeout 2-60, retries 1-10, startPeriod 0-300 (errors); a command not starting with CMD, CMD-SHELL or NONE (warning).",
    ),
    (
        "linux-parameters",
        "linuxParameters rules: known capabilities, swappiness 0-100, maxSwap >= 0, tmpfs sizes and options.",
    ),
    (
        "proxy-configuration",
        "proxyConfiguration must name a container of the task and use awsvpc.",
    ),
    (
        "resource-requirements",
        "GPU counts are positive integers; NeuronDevice is 'ALL'; inference accelerators must be declared.",
    ),
    (
        "placement-constraint-type",
        "ECS: constraint.type 'distinctInstance' is not supported. (a task definition's placement constraint of type distinctInstance, which only services and RunTask take; aws-samples/aws-cdk-examples#628)",
    ),
    (
        "placement-constraint",
        "Task-definition placement constraints: memberOf with a valid cluster-query-language expression of at most 2000 characters, 10 in all.",
    ),
    (
        "tags",
        "Tag rules: at most 50, unique keys, 'aws:' prefix reserved.",
    ),
    (
        "ephemeral-storage",
        "ephemeralStorage.sizeInGiB must be 21..200.",
    ),
    (
        "restart-policy",
        "restartPolicy: restartAttemptPeriod 60-1800 seconds, at most 50 ignoredExitCodes.",
    ),
    (
        "system-controls",
        "Network sysctls need a non-host network mode; IPC sysctls a non-host IPC mode.",
    ),
    (
        "credential-specs",
        "At most one credentialSpecs entry, credentialspec: or credentialspecdomainless: prefixed.",
    ),
    (
        "environment-files",
        "At most 10 environment files of type s3.",
    ),
    (
        "template-placeholder",
        "Warning: a value holds a placeholder of a templating tool (ecspresso, envsubst, CDK) and is checked only after rendering.",
    ),
    (
        "image-latest",
        "Warning: the image has no tag or uses :latest, so each deployment may run different code.",
    ),
    (
        "no-health-check",
        "Warning: an essential container has no health check.",
    ),
    (
        "secret-in-environment",
        "Warning: an environment variable looks like a secret; use secrets instead.",
    ),
    (
        "no-log-configuration",
        "Warning: a container has no logConfiguration, so its output is lost.",
    ),
    (
        "no-memory-limit",
        "Warning: neither the task nor the container sets a hard memory limit.",
    ),
    (
        "windows-unsupported",
        "Warning: a parameter ECS does not support for Windows containers.",
    ),
    (
        "ulimit",
        "Warning: ulimit soft limit above the hard limit, or the same ulimit twice.",
    ),
];

/// ECS's answer to a task `cpu` it cannot use, as AWS's troubleshooting page quotes it ("Invalid
/// CPU or memory value specified"; cloudlytics.com/compliance-controls/amazon_ecs_10 cites it).
/// A 2017 report (oranmoshai/ecsServiceRestart#2) quotes the first sentence alone.
pub(crate) const CPU_INVALID: &str = "Invalid 'cpu' setting for task. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.";

const FARGATE: &[(u64, &[u64], bool)] = &[
    // (cpu, allowed memory in MiB, Windows allowed)
    (256, &[512, 1024, 2048], false),
    (512, &[1024, 2048, 3072, 4096], false),
    (1024, &[2048, 3072, 4096, 5120, 6144, 7168, 8192], true),
];

/// Allowed Fargate memory values for a cpu value, and whether Windows may use it.
pub(crate) fn fargate_memory(cpu: u64) -> Option<(Vec<u64>, bool)> {
    if let Some((_, mem, win)) = FARGATE.iter().find(|(c, _, _)| *c == cpu) {
        return Some((mem.to_vec(), *win));
    }
    let (from, to, step, win) = match cpu {
        2048 => (4096, 16384, 1024, true),
        4096 => (8192, 30720, 1024, true),
        8192 => (16384, 61440, 4096, false),
        16384 => (32768, 122880, 8192, false),
        _ => return None,
    };
    Some(((from..=to).step_by(step).collect(), win))
}

const CAPABILITIES: &[&str] = &[
    "ALL",
    "AUDIT_CONTROL",
    "AUDIT_READ",
    "AUDIT_WRITE",
    "BLOCK_SUSPEND",
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "IPC_LOCK",
    "IPC_OWNER",
    "KILL",
    "LEASE",
    "LINUX_IMMUTABLE",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "MKNOD",
    "NET_ADMIN",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_CHROOT",
    "SYS_MODULE",
    "SYS_NICE",
    "SYS_PACCT",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "SYSLOG",
    "WAKE_ALARM",
];

const TMPFS_OPTIONS: &[&str] = &[
    "defaults",
    "ro",
    "rw",
    "suid",
    "nosuid",
    "dev",
    "nodev",
    "exec",
    "noexec",
    "sync",
    "async",
    "dirsync",
    "remount",
    "mand",
    "nomand",
    "atime",
    "noatime",
    "diratime",
    "nodiratime",
    "bind",
    "rbind",
    "unbindable",
    "runbindable",
    "private",
    "rprivate",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "relatime",
    "norelatime",
    "strictatime",
    "nostrictatime",
    "mode",
    "uid",
    "gid",
    "nr_inodes",
    "nr_blocks",
    "mpol",
];

const PROXY_PROPERTIES: &[&str] = &[
    "IgnoredUID",
    "IgnoredGID",
    "AppPorts",
    "ProxyIngressPort",
    "ProxyEgressPort",
    "EgressIgnoredPorts",
    "EgressIgnoredIPs",
];

/// The network mode in effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Net {
    Bridge,
    Host,
    Awsvpc,
    None,
    /// Windows EC2's default (NAT), when networkMode is omitted on Windows.
    WindowsDefault,
}

impl Net {
    fn name(self) -> &'static str {
        match self {
            Self::Bridge => "bridge",
            Self::Host => "host",
            Self::Awsvpc => "awsvpc",
            Self::None => "none",
            Self::WindowsDefault => "default",
        }
    }
}

/// Findings for one launch type, kept apart so `compatibilities` can be computed.
struct Sink {
    general: Vec<Finding>,
    per_launch_type: BTreeMap<&'static str, Vec<Finding>>,
}

impl Sink {
    fn error(
        &mut self,
        code: &'static str,
        path: String,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        self.general.push(Finding {
            code,
            severity: Severity::Error,
            path,
            message: message.into(),
            help,
            on_key: false,
        });
    }
    fn warn(
        &mut self,
        code: &'static str,
        path: String,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        self.general.push(Finding {
            code,
            severity: Severity::Warning,
            path,
            message: message.into(),
            help,
            on_key: false,
        });
    }
    fn lt_error(
        &mut self,
        lt: &'static str,
        code: &'static str,
        path: String,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        self.per_launch_type.entry(lt).or_default().push(Finding {
            code,
            severity: Severity::Error,
            path,
            message: message.into(),
            help,
            on_key: false,
        });
    }
}

fn c(i: usize) -> String {
    format!("/containerDefinitions/{i}")
}

fn is_blank(s: &Option<String>) -> bool {
    s.as_deref().is_none_or(|s| s.trim().is_empty())
}

/// Whether a value is (or contains) a placeholder of a templating tool that renders the file
/// before it is registered: ecspresso/Go templates `{{ … }}`, envsubst/CDK `${…}`, `{…}`.
pub(crate) fn is_template(s: &str) -> bool {
    s.find('{').is_some_and(|open| s[open..].contains('}'))
}

fn template_warning(sink: &mut Sink, path: String, what: &str, value: &str) {
    sink.warn(
        "template-placeholder",
        path,
        format!("{what} '{value}' contains a template placeholder; it is checked only once the template is rendered."),
        Some("Validate the rendered file (e.g. `ecspresso render` or `envsubst`) to check this value.".into()),
    );
}

pub(crate) fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Runs every rule; returns the launch types ECS would list in `compatibilities`.
pub(crate) fn check(
    req: &RegisterTaskDefinitionRequest,
    text: &str,
    options: &Options,
    node: &Node<'_>,
    out: &mut Vec<Finding>,
) -> Vec<Compatibility> {
    let mut sink = Sink {
        general: Vec::new(),
        per_launch_type: BTreeMap::new(),
    };
    let containers: &[ContainerDefinition] = req.container_definitions.as_deref().unwrap_or(&[]);
    let windows = req
        .runtime_platform
        .as_ref()
        .and_then(|p| p.operating_system_family.as_ref())
        .is_some_and(|f| f.is_known() && *f != OSFamily::Linux);
    let net = match req.network_mode.as_ref() {
        Some(NetworkMode::Bridge) => Net::Bridge,
        Some(NetworkMode::Host) => Net::Host,
        Some(NetworkMode::Awsvpc) => Net::Awsvpc,
        Some(NetworkMode::None) => Net::None,
        _ if windows => Net::WindowsDefault,
        _ => Net::Bridge,
    };

    task_level(req, text, containers, &mut sink);
    roles(req, &mut sink);
    let (task_cpu, task_memory) = task_resources(req, &mut sink);
    let names = container_names(containers, &mut sink);
    for (i, cd) in containers.iter().enumerate() {
        container(req, i, cd, containers, &names, net, windows, &mut sink);
    }
    resources(containers, task_cpu, task_memory, &mut sink);
    ports(containers, net, &mut sink);
    depends_on(containers, &names, &mut sink);
    volumes(req, containers, &mut sink);
    secrets_and_logs(req, containers, &mut sink);
    proxy_and_accelerators(req, containers, &names, net, &mut sink);

    // Launch-type rules, for every launch type, so compatibilities can be computed.
    ec2_like(req, containers, task_cpu, task_memory, "EC2", &mut sink);
    ec2_like(
        req,
        containers,
        task_cpu,
        task_memory,
        "EXTERNAL",
        &mut sink,
    );
    ec2_like(
        req,
        containers,
        task_cpu,
        task_memory,
        "MANAGED_INSTANCES",
        &mut sink,
    );
    external(req, net, &mut sink);
    fargate(
        node,
        req,
        containers,
        task_cpu,
        task_memory,
        net,
        windows,
        &mut sink,
    );

    let mut required: BTreeSet<&'static str> = req
        .requires_compatibilities
        .iter()
        .flatten()
        .chain(options.launch_types.iter())
        .filter_map(|lt| match lt {
            Compatibility::Ec2 => Some("EC2"),
            Compatibility::Fargate => Some("FARGATE"),
            Compatibility::External => Some("EXTERNAL"),
            Compatibility::ManagedInstances => Some("MANAGED_INSTANCES"),
            Compatibility::Unknown(_) => None,
        })
        .collect();
    if required.is_empty() {
        required.insert("EC2");
    }
    let general_errors = sink.general.iter().any(|f| f.severity == Severity::Error);
    let passes =
        |lt: &str| !general_errors && sink.per_launch_type.get(lt).is_none_or(Vec::is_empty);
    let mut compatibilities = Vec::new();
    if passes("EC2") {
        compatibilities.push(Compatibility::Ec2);
    }
    for (name, lt) in [
        ("EXTERNAL", Compatibility::External),
        ("MANAGED_INSTANCES", Compatibility::ManagedInstances),
    ] {
        if required.contains(name) && passes(name) {
            compatibilities.push(lt);
        }
    }
    if passes("FARGATE") {
        compatibilities.push(Compatibility::Fargate);
    }

    out.append(&mut sink.general);
    // A finding shared by several required launch types is reported once.
    let mut seen = BTreeSet::new();
    for lt in &required {
        for f in sink.per_launch_type.remove(lt).unwrap_or_default() {
            if seen.insert((f.code, f.path.clone(), f.message.clone())) {
                out.push(f);
            }
        }
    }
    compatibilities
}

fn task_level(
    req: &RegisterTaskDefinitionRequest,
    text: &str,
    containers: &[ContainerDefinition],
    sink: &mut Sink,
) {
    if let Some(family) = &req.family {
        if is_template(family) {
            template_warning(sink, "/family".into(), "Family", family);
        } else if !valid_name(family) {
            sink.error(
                "family-invalid",
                "/family".into(),
                format!("Family '{family}' is not valid: up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores are allowed."),
                None,
            );
        }
    }
    if req
        .container_definitions
        .as_ref()
        .is_some_and(Vec::is_empty)
    {
        sink.error(
            "containers-empty",
            "/containerDefinitions".into(),
            "Container list cannot be empty.",
            None,
        );
    }
    if containers.len() > 10 {
        sink.error(
            "containers-too-many",
            "/containerDefinitions".into(),
            "Too many containers.",
            Some(format!(
                "A task definition holds at most 10 containers; this one has {}.",
                containers.len()
            )),
        );
    }
    // ECS measures the serialised request; only a document this large can exceed it.
    if text.len() > 65_536 {
        let n = serde_json::to_string(req).map_or(text.len(), |s| s.len());
        if n > 65_536 {
            sink.error(
                "size-limit",
                String::new(),
                format!("Actual length: '{n}'. Max allowed length is '65536' bytes."),
                None,
            );
        }
    }
    if let Some(tags) = &req.tags {
        let user: Vec<_> = tags
            .iter()
            .filter(|t| {
                !t.key
                    .as_deref()
                    .unwrap_or_default()
                    .to_ascii_lowercase()
                    .starts_with("aws:")
            })
            .collect();
        if user.len() > 50 {
            sink.error(
                "tags",
                "/tags".into(),
                format!(
                    "A resource can have at most 50 tags; this one has {}.",
                    user.len()
                ),
                None,
            );
        }
        let mut keys = BTreeSet::new();
        for (i, t) in tags.iter().enumerate() {
            let key = t.key.as_deref().unwrap_or_default();
            if key.to_ascii_lowercase().starts_with("aws:") {
                sink.error(
                    "tags",
                    format!("/tags/{i}/key"),
                    format!("Tag key '{key}' uses the reserved prefix 'aws:'."),
                    None,
                );
            }
            if !keys.insert(key) {
                sink.error(
                    "tags",
                    format!("/tags/{i}/key"),
                    format!("Tag key '{key}' appears more than once."),
                    None,
                );
            }
        }
    }
    if let Some(size) = req.ephemeral_storage.as_ref().and_then(|e| e.size_in_gib) {
        if !(21..=200).contains(&size) {
            sink.error(
                "ephemeral-storage",
                "/ephemeralStorage/sizeInGiB".into(),
                format!("ephemeralStorage.sizeInGiB is {size}; it must be between 21 and 200."),
                Some("Omit ephemeralStorage for the 20 GiB default.".into()),
            );
        }
    }
    if let Some(constraints) = &req.placement_constraints {
        if constraints.len() > 10 {
            sink.error(
                "placement-constraint",
                "/placementConstraints".into(),
                "At most 10 placement constraints are allowed per task.",
                None,
            );
        }
        for (i, pc) in constraints.iter().enumerate() {
            if let Some(TaskDefinitionPlacementConstraintType::Unknown(t)) = &pc.r#type {
                if t == "distinctInstance" {
                    // ECS's text (aws-samples/aws-cdk-examples#628); it replaces the model's
                    // enum finding at the same pointer (`validate_task_definition`).
                    sink.error(
                        "placement-constraint-type",
                        format!("/placementConstraints/{i}/type"),
                        "constraint.type 'distinctInstance' is not supported.",
                        Some("A task definition takes only memberOf constraints; put distinctInstance in the service's or RunTask's placementConstraints.".into()),
                    );
                    continue;
                }
            }
            let Some(expr) = pc.expression.as_deref() else {
                sink.error(
                    "placement-constraint",
                    format!("/placementConstraints/{i}"),
                    "A memberOf constraint needs an expression.",
                    None,
                );
                continue;
            };
            if expr.chars().count() > 2000 {
                sink.error(
                    "placement-constraint",
                    format!("/placementConstraints/{i}/expression"),
                    "A placement constraint expression can be at most 2000 characters.",
                    None,
                );
            } else if let Err(e) = crate::placement::Expression::parse(expr) {
                sink.error(
                    "placement-constraint",
                    format!("/placementConstraints/{i}/expression"),
                    format!(
                        "The expression is not valid cluster query language: {} (at character {}).",
                        e.message(),
                        e.position() + 1
                    ),
                    None,
                );
            }
        }
    }
}

/// `taskRoleArn` / `executionRoleArn` given as the ARN of something that is not an IAM role: ECS
/// answers `Role is not valid` (a cluster ARN and a CloudFormation stack ARN in
/// aws-samples/aws-modern-application-workshop#9). A role name, an empty value or a template
/// placeholder is left alone: ECS takes a role's name too, and the others are not ARNs yet.
fn roles(req: &RegisterTaskDefinitionRequest, sink: &mut Sink) {
    for (member, value) in [
        ("taskRoleArn", &req.task_role_arn),
        ("executionRoleArn", &req.execution_role_arn),
    ] {
        let Some(v) = value.as_deref().map(str::trim) else {
            continue;
        };
        if !v.starts_with("arn:") || is_template(v) {
            continue;
        }
        let role = v.split(':').collect::<Vec<_>>().get(2..6).is_some_and(|p| {
            p[0] == "iam" && p[1].is_empty() && p[3].starts_with("role/") && p[3].len() > 5
        });
        if !role {
            sink.error(
                "role-invalid",
                format!("/{member}"),
                "Role is not valid",
                Some(format!("{member} must name an IAM role: arn:aws:iam::<account>:role/<name> (or the role's name).")),
            );
        }
    }
}

/// Whether a secret's `valueFrom` can name a Systems Manager parameter of the task's Region: 1 to
/// 2048 of `a-zA-Z0-9_.-` and `/` (hierarchies such as `/prod/db/password`, which ECS takes although
/// its message leaves `/` out).
fn valid_parameter_name(v: &str) -> bool {
    (1..=2048).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-/".contains(&b))
}

fn task_resources(
    req: &RegisterTaskDefinitionRequest,
    sink: &mut Sink,
) -> (Option<u64>, Option<u64>) {
    let cpu = req
        .cpu
        .as_deref()
        .and_then(|cpu| match crate::model::parse_cpu_units(cpu) {
            Ok(v) => Some(v),
            Err(e) => {
                sink.error(
                    "task-cpu-invalid",
                    "/cpu".into(),
                    CPU_INVALID,
                    Some(format!(
                        "{e}: write CPU units such as \"1024\" or vCPU such as \"1 vCPU\"."
                    )),
                );
                None
            }
        });
    let memory = req
        .memory
        .as_deref()
        .and_then(|m| match crate::model::parse_memory_mib(m) {
            Ok(v) => Some(v),
            Err(e) => {
                sink.error(
                    "task-memory-invalid",
                    "/memory".into(),
                    "Invalid 'memory' setting for task.",
                    Some(format!(
                        "{e}: write MiB such as \"2048\" or GB such as \"2 GB\"."
                    )),
                );
                None
            }
        });
    (cpu, memory)
}

fn container_names<'a>(
    containers: &'a [ContainerDefinition],
    sink: &mut Sink,
) -> BTreeMap<&'a str, usize> {
    let mut names = BTreeMap::new();
    for (i, cd) in containers.iter().enumerate() {
        match cd.name.as_deref() {
            None | Some("") => sink.error(
                "container-name-required",
                format!("{}/name", c(i)),
                "Container.name should not be null or empty.",
                None,
            ),
            Some(name) => {
                if is_template(name) {
                    template_warning(sink, format!("{}/name", c(i)), "Container name", name);
                } else if !valid_name(name) {
                    sink.error(
                        "container-name-invalid",
                        format!("{}/name", c(i)),
                        "Container.name contains invalid characters.",
                        Some(format!("Up to 255 letters (uppercase and lowercase), numbers, hyphens, and underscores are allowed; '{name}' has others.")),
                    );
                }
                if names.insert(name, i).is_some() {
                    sink.error(
                        "container-name-duplicate",
                        format!("{}/name", c(i)),
                        "Container names must be unique within a Task Definition.",
                        Some(format!("'{name}' is used by more than one container.")),
                    );
                }
            }
        }
    }
    if !containers.is_empty() && !containers.iter().any(|cd| cd.essential.unwrap_or(true)) {
        sink.error(
            "essential-required",
            "/containerDefinitions".into(),
            "At least one essential container is required.",
            Some(
                "Set \"essential\": true on the container whose exit should stop the task.".into(),
            ),
        );
    }
    names
}

#[allow(clippy::too_many_arguments)] // reason: one container's rules need the task-wide context
fn container(
    req: &RegisterTaskDefinitionRequest,
    i: usize,
    cd: &ContainerDefinition,
    containers: &[ContainerDefinition],
    names: &BTreeMap<&str, usize>,
    net: Net,
    windows: bool,
    sink: &mut Sink,
) {
    let at = c(i);
    let name = cd.name.as_deref().unwrap_or("");
    match cd.image.as_deref() {
        None | Some("") => sink.error(
            "image-required",
            format!("{at}/image"),
            "Container.image should not be null or empty.",
            None,
        ),
        Some(image) => image_rules(&at, image, sink),
    }
    if let Some(links) = cd.links.as_ref().filter(|l| !l.is_empty()) {
        match net {
            Net::Bridge if !windows => {}
            Net::Awsvpc => sink.error("links-network-mode", format!("{at}/links"), "Links are not supported when networkMode=awsvpc.", None),
            other => sink.error(
                "links-network-mode",
                format!("{at}/links"),
                format!("Links are not supported when networkMode={}.", other.name()),
                Some("Links work only in bridge mode on Linux; containers in awsvpc and host mode reach each other on localhost.".into()),
            ),
        }
        for (j, link) in links.iter().enumerate() {
            let target = link.split(':').next().unwrap_or("");
            if link.split(':').count() > 2 || !valid_name(target) {
                sink.error(
                    "link-unknown",
                    format!("{at}/links/{j}"),
                    format!("Link '{link}' is not of the form name or name:alias."),
                    None,
                );
            } else if !names.contains_key(target) {
                sink.error(
                    "link-unknown",
                    format!("{at}/links/{j}"),
                    format!("Link to container '{target}', which is not in the task definition."),
                    None,
                );
            } else if target == name {
                sink.error(
                    "link-unknown",
                    format!("{at}/links/{j}"),
                    format!("Container '{name}' links to itself."),
                    None,
                );
            }
        }
    }
    if cd.hostname.is_some() && net == Net::Awsvpc {
        sink.error(
            "hostname-awsvpc",
            format!("{at}/hostname"),
            "hostname is not supported on container when networkMode=awsvpc.",
            None,
        );
    }
    if cd.extra_hosts.as_ref().is_some_and(|h| !h.is_empty()) && net == Net::Awsvpc {
        sink.error(
            "extra-hosts-awsvpc",
            format!("{at}/extraHosts"),
            "extraHosts is not supported on container when networkMode=awsvpc.",
            None,
        );
    }
    for (j, from) in cd.volumes_from.iter().flatten().enumerate() {
        let src = from.source_container.as_deref().unwrap_or("");
        if !names.contains_key(src) || src == name {
            sink.error(
                "volumes-from-unknown",
                format!("{at}/volumesFrom/{j}/sourceContainer"),
                format!("volumesFrom names container '{src}', which is not another container of the task definition."),
                None,
            );
        }
    }
    if let Some(hc) = &cd.health_check {
        health_check(&at, hc, sink);
    } else if cd.essential.unwrap_or(true) && containers.len() > 1 {
        sink.warn(
            "no-health-check",
            at.clone(),
            format!("Essential container '{name}' has no health check; ECS will consider it healthy as soon as it runs."),
            Some("Add a healthCheck so deployments and load balancers wait for the container to be ready.".into()),
        );
    }
    if cd.log_configuration.is_none() {
        sink.warn(
            "no-log-configuration",
            at.clone(),
            format!("Container '{name}' has no logConfiguration; its output stays on the instance and is lost with it."),
            Some("Add a logConfiguration, e.g. the awslogs driver.".into()),
        );
    }
    if let Some(lp) = &cd.linux_parameters {
        linux_parameters(&at, lp, sink);
    }
    if let Some(rp) = &cd.restart_policy {
        if let Some(p) = rp.restart_attempt_period {
            if !(60..=1800).contains(&p) {
                sink.error(
                    "restart-policy",
                    format!("{at}/restartPolicy/restartAttemptPeriod"),
                    format!("restartAttemptPeriod is {p}; it must be between 60 and 1800 seconds."),
                    None,
                );
            }
        }
        if rp.ignored_exit_codes.as_ref().is_some_and(|c| c.len() > 50) {
            sink.error(
                "restart-policy",
                format!("{at}/restartPolicy/ignoredExitCodes"),
                "At most 50 ignoredExitCodes are allowed.",
                None,
            );
        }
    }
    if let Some(specs) = &cd.credential_specs {
        if specs.len() > 1 {
            sink.error(
                "credential-specs",
                format!("{at}/credentialSpecs"),
                "At most one credentialSpecs entry is allowed.",
                None,
            );
        }
        for (j, s) in specs.iter().enumerate() {
            if !s.starts_with("credentialspec:") && !s.starts_with("credentialspecdomainless:") {
                sink.error(
                    "credential-specs",
                    format!("{at}/credentialSpecs/{j}"),
                    format!("'{s}' must start with credentialspec: or credentialspecdomainless:."),
                    None,
                );
            }
        }
    }
    if let Some(files) = &cd.environment_files {
        if files.len() > 10 {
            sink.error(
                "environment-files",
                format!("{at}/environmentFiles"),
                "At most 10 environment files are allowed per container.",
                None,
            );
        }
    }
    for (j, sc) in cd.system_controls.iter().flatten().enumerate() {
        let ns = sc.namespace.as_deref().unwrap_or("");
        if ns.starts_with("net.") && net == Net::Host {
            sink.error(
                "system-controls",
                format!("{at}/systemControls/{j}/namespace"),
                format!("'{ns}' cannot be set when networkMode=host."),
                None,
            );
        }
        let ipc = ns.starts_with("kernel.msg")
            || ns.starts_with("kernel.sem")
            || ns.starts_with("kernel.shm")
            || ns.starts_with("fs.mqueue.");
        if ipc && req.ipc_mode.as_ref().is_some_and(|m| m.as_str() == "host") {
            sink.error(
                "system-controls",
                format!("{at}/systemControls/{j}/namespace"),
                format!("'{ns}' cannot be set when ipcMode=host."),
                None,
            );
        }
    }
    let mut seen = BTreeSet::new();
    for (j, u) in cd.ulimits.iter().flatten().enumerate() {
        if let (Some(soft), Some(hard)) = (u.soft_limit, u.hard_limit) {
            if soft > hard {
                sink.warn("ulimit", format!("{at}/ulimits/{j}"), format!("The soft limit {soft} is above the hard limit {hard}; Docker will refuse to start the container."), None);
            }
        }
        if let Some(n) = &u.name {
            if !seen.insert(n.as_str()) {
                sink.warn(
                    "ulimit",
                    format!("{at}/ulimits/{j}/name"),
                    format!("ulimit '{n}' is set more than once."),
                    None,
                );
            }
        }
    }
    environment(&at, cd, sink);
    if windows {
        let unsupported = [
            ("links", cd.links.is_some()),
            ("user", cd.user.is_some()),
            ("disableNetworking", cd.disable_networking.is_some()),
            ("privileged", cd.privileged == Some(true)),
            (
                "readonlyRootFilesystem",
                cd.readonly_root_filesystem == Some(true),
            ),
            ("dnsServers", cd.dns_servers.is_some()),
            ("dnsSearchDomains", cd.dns_search_domains.is_some()),
            ("extraHosts", cd.extra_hosts.is_some()),
            ("linuxParameters", cd.linux_parameters.is_some()),
            ("ulimits", cd.ulimits.is_some()),
            ("systemControls", cd.system_controls.is_some()),
        ];
        for (member, set) in unsupported {
            if set {
                sink.warn(
                    "windows-unsupported",
                    format!("{at}/{member}"),
                    format!("'{member}' is not supported for Windows containers; ECS ignores it."),
                    None,
                );
            }
        }
    }
}

fn image_rules(at: &str, image: &str, sink: &mut Sink) {
    let (reference, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-_:./#".contains(c);
    if reference.chars().count() > 255 || reference.is_empty() {
        sink.error(
            "image-invalid",
            format!("{at}/image"),
            format!("Image '{image}' is longer than 255 characters before the digest."),
            None,
        );
        return;
    }
    if !reference.chars().all(allowed) {
        if is_template(reference) || reference.contains('<') {
            template_warning(sink, format!("{at}/image"), "Image", image);
            return;
        }
        sink.warn(
            "image-invalid",
            format!("{at}/image"),
            format!("Image '{image}' is not a valid image reference."),
            Some("Image references use letters, digits, '-', '_', ':', '.', '/' and '#', then an optional @sha256:<digest>; Docker will fail to pull this one.".into()),
        );
        return;
    }
    if let Some(d) = digest {
        let ok = d
            .strip_prefix("sha256:")
            .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
        if !ok {
            sink.error(
                "image-invalid",
                format!("{at}/image"),
                format!(
                    "Image digest '{d}' is not valid; ECS supports only sha256:<64 hex digits>."
                ),
                None,
            );
        }
        return;
    }
    // The tag is what follows the last ':' after the last '/'.
    let last = reference.rsplit('/').next().unwrap_or(reference);
    match last.split_once(':') {
        None => sink.warn(
            "image-latest",
            format!("{at}/image"),
            format!("Image '{image}' has no tag, so it means :latest and each new task may run different code."),
            Some("Pin a version tag or a digest.".into()),
        ),
        Some((_, "latest")) => sink.warn(
            "image-latest",
            format!("{at}/image"),
            format!("Image '{image}' uses the :latest tag, so each new task may run different code."),
            Some("Pin a version tag or a digest.".into()),
        ),
        _ => {}
    }
}

fn health_check(at: &str, hc: &crate::model::HealthCheck, sink: &mut Sink) {
    let ranges = [
        ("interval", hc.interval, 5, 300),
        ("timeout", hc.timeout, 2, 60),
        ("retries", hc.retries, 1, 10),
        ("startPeriod", hc.start_period, 0, 300),
    ];
    for (member, value, lo, hi) in ranges {
        if let Some(v) = value {
            if !(lo..=hi).contains(&v) {
                sink.error(
                    "health-check",
                    format!("{at}/healthCheck/{member}"),
                    format!("healthCheck.{member} is {v}; it must be between {lo} and {hi}."),
                    None,
                );
            }
        }
    }
    match hc.command.as_deref() {
        Some([]) => sink.error("health-check", format!("{at}/healthCheck/command"), "healthCheck.command cannot be empty.", None),
        Some([first, ..]) if !matches!(first.as_str(), "CMD" | "CMD-SHELL" | "NONE") => sink.warn(
            "health-check",
            format!("{at}/healthCheck/command/0"),
            format!("healthCheck.command should start with CMD or CMD-SHELL, not '{first}'; Docker may not run it as intended."),
            Some("[\"CMD-SHELL\", \"curl -f http://localhost/ || exit 1\"] runs a shell; [\"CMD\", \"prog\", \"arg\"] runs a program.".into()),
        ),
        Some([first]) if first != "NONE" => sink.error("health-check", format!("{at}/healthCheck/command"), "healthCheck.command has CMD/CMD-SHELL but no command to run.", None),
        _ => {}
    }
}

fn linux_parameters(at: &str, lp: &crate::model::LinuxParameters, sink: &mut Sink) {
    if let Some(caps) = &lp.capabilities {
        for (list, values) in [("add", &caps.add), ("drop", &caps.drop)] {
            for (j, cap) in values.iter().flatten().enumerate() {
                if !CAPABILITIES.contains(&cap.as_str()) {
                    let help = super::schema_walk::suggest(cap, CAPABILITIES.iter().copied())
                        .map(|s| format!("Did you mean '{s}'?"));
                    sink.error(
                        "linux-parameters",
                        format!("{at}/linuxParameters/capabilities/{list}/{j}"),
                        format!("'{cap}' is not a Linux capability ECS supports."),
                        help,
                    );
                }
            }
        }
    }
    if let Some(s) = lp.swappiness {
        if !(0..=100).contains(&s) {
            sink.error(
                "linux-parameters",
                format!("{at}/linuxParameters/swappiness"),
                format!("swappiness is {s}; it must be between 0 and 100."),
                None,
            );
        }
    }
    if let Some(m) = lp.max_swap {
        if m < 0 {
            sink.error(
                "linux-parameters",
                format!("{at}/linuxParameters/maxSwap"),
                format!("maxSwap is {m}; it must be 0 or more."),
                None,
            );
        }
    }
    if let Some(s) = lp.shared_memory_size {
        if s <= 0 {
            sink.error(
                "linux-parameters",
                format!("{at}/linuxParameters/sharedMemorySize"),
                format!("sharedMemorySize is {s}; it must be positive."),
                None,
            );
        }
    }
    for (j, t) in lp.tmpfs.iter().flatten().enumerate() {
        if t.size.is_some_and(|s| s <= 0) {
            sink.error(
                "linux-parameters",
                format!("{at}/linuxParameters/tmpfs/{j}/size"),
                "tmpfs size must be a positive number of MiB.",
                None,
            );
        }
        for (k, opt) in t.mount_options.iter().flatten().enumerate() {
            let key = opt.split('=').next().unwrap_or(opt);
            if !TMPFS_OPTIONS.contains(&key) {
                sink.error(
                    "linux-parameters",
                    format!("{at}/linuxParameters/tmpfs/{j}/mountOptions/{k}"),
                    format!("'{opt}' is not a tmpfs mount option ECS supports."),
                    None,
                );
            }
        }
    }
}

fn environment(at: &str, cd: &ContainerDefinition, sink: &mut Sink) {
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for (j, kv) in cd.environment.iter().flatten().enumerate() {
        let name = kv.name.as_deref().unwrap_or("");
        if !names.insert(name) {
            sink.warn("secret-duplicate", format!("{at}/environment/{j}/name"), format!("Environment variable '{name}' is set more than once; which value wins is not defined."), None);
        }
        let value = kv.value.as_deref().unwrap_or("");
        if looks_secret(name, value) {
            sink.warn(
                "secret-in-environment",
                format!("{at}/environment/{j}/value"),
                format!("Environment variable '{name}' looks like a secret; anyone who can describe the task definition can read it."),
                Some("Move it to \"secrets\" with a Secrets Manager or SSM Parameter Store ARN in valueFrom.".into()),
            );
        }
    }
    for (j, s) in cd.secrets.iter().flatten().enumerate() {
        let name = s.name.as_deref().unwrap_or("");
        if !names.insert(name) {
            sink.error(
                "secret-duplicate",
                format!("{at}/secrets/{j}/name"),
                format!("'{name}' is set more than once in environment and secrets."),
                None,
            );
        }
    }
}

fn looks_secret(name: &str, value: &str) -> bool {
    let value = value.trim();
    if value.is_empty() || value.starts_with("arn:") || value.contains("${") || value.contains("{{")
    {
        return false;
    }
    // An AWS access key id is unmistakable whatever the variable is called.
    let access_key = value.len() == 20
        && (value.starts_with("AKIA") || value.starts_with("ASIA"))
        && value
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if access_key || value.starts_with("-----BEGIN") {
        return true;
    }
    let upper = name.to_ascii_uppercase();
    let secret_name = [
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "API_KEY",
        "APIKEY",
        "PRIVATE_KEY",
        "ACCESS_KEY",
        "CREDENTIAL",
    ]
    .iter()
    .any(|w| upper.contains(w));
    let not_secret = [
        "_FILE",
        "_PATH",
        "_ARN",
        "_URL",
        "_ENDPOINT",
        "_NAME",
        "_ID",
        "_LENGTH",
        "_TTL",
        "_EXPIR",
    ]
    .iter()
    .any(|w| upper.ends_with(w) || upper.contains(w));
    let placeholder = matches!(
        value.to_ascii_lowercase().as_str(),
        "true" | "false" | "none" | "null" | "changeme" | "xxx"
    ) || value.starts_with('<')
        || value.starts_with('$')
        || value.bytes().all(|b| b.is_ascii_digit());
    secret_name && !not_secret && !placeholder && value.len() >= 6
}

fn resources(
    containers: &[ContainerDefinition],
    task_cpu: Option<u64>,
    task_memory: Option<u64>,
    sink: &mut Sink,
) {
    let mut reservation_sum = 0i64;
    let mut cpu_sum = 0i64;
    for (i, cd) in containers.iter().enumerate() {
        let at = c(i);
        let name = cd.name.as_deref().unwrap_or("");
        if let (Some(m), Some(r)) = (cd.memory, cd.memory_reservation) {
            if r > m {
                sink.error(
                    "memory-reservation-exceeds-memory",
                    format!("{at}/memoryReservation"),
                    format!("Invalid setting for container '{name}'. 'memoryReservation' ({r}) must be less than or equal to 'memory' ({m})."),
                    None,
                );
            }
        }
        if let (Some(m), Some(t)) = (cd.memory, task_memory) {
            if m > 0 && m as u64 > t {
                sink.error(
                    "container-memory-exceeds-task",
                    format!("{at}/memory"),
                    format!(
                        "The 'memory' setting for container '{name}' is greater than for the task."
                    ),
                    Some(format!(
                        "The container asks for {m} MiB; the task has {t} MiB."
                    )),
                );
            }
        }
        reservation_sum += i64::from(cd.memory_reservation.or(cd.memory).unwrap_or(0).max(0));
        cpu_sum += i64::from(cd.cpu.unwrap_or(0).max(0));
        if task_memory.is_none() && cd.memory.is_none() && cd.memory_reservation.is_some() {
            sink.warn(
                "no-memory-limit",
                format!("{at}/memoryReservation"),
                format!("Container '{name}' has only a soft memory limit and the task none, so it can use all of the instance's memory."),
                Some("Set task-level memory or the container's memory.".into()),
            );
        }
    }
    if let Some(t) = task_memory {
        let reservations: i64 = containers
            .iter()
            .map(|cd| i64::from(cd.memory_reservation.unwrap_or(0).max(0)))
            .sum();
        if reservations > t as i64 {
            sink.error(
                "memory-reservation-sum",
                "/containerDefinitions".into(),
                "The sum of all container 'memoryReservation' values cannot be greater than the value of the task 'memory'.",
                Some(format!("The containers reserve {reservations} MiB; the task has {t} MiB.")),
            );
        }
        let _ = reservation_sum;
    }
    if let Some(t) = task_cpu {
        if cpu_sum > t as i64 {
            sink.error(
                "container-cpu-sum",
                "/containerDefinitions".into(),
                "The sum of all container 'cpu' values cannot be greater than the value of the task 'cpu'.",
                Some(format!("The containers ask for {cpu_sum} CPU units; the task has {t}.")),
            );
        }
    }
}

fn parse_range(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once('-')?;
    let (a, b) = (a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?);
    (1..=65535).contains(&a).then_some(())?;
    (1..=65535).contains(&b).then_some(())?;
    (a < b).then_some((a, b))
}

fn ports(containers: &[ContainerDefinition], net: Net, sink: &mut Sink) {
    let mut host_ports: BTreeMap<(i32, &str), String> = BTreeMap::new();
    let mut port_names: BTreeSet<&str> = BTreeSet::new();
    for (i, cd) in containers.iter().enumerate() {
        let at = c(i);
        let name = cd.name.as_deref().unwrap_or("");
        let mappings = cd.port_mappings.as_deref().unwrap_or(&[]);
        if net == Net::None && !mappings.is_empty() {
            sink.error(
                "network-mode-ports",
                format!("{at}/portMappings"),
                "Port mappings are not supported when networkMode=none.",
                Some("Remove portMappings or choose another network mode.".into()),
            );
            continue;
        }
        let mut seen: BTreeSet<(i32, &str)> = BTreeSet::new();
        let mut ranges: Vec<(u32, u32, &str)> = Vec::new();
        for (j, pm) in mappings.iter().enumerate() {
            let here = format!("{at}/portMappings/{j}");
            let proto = pm
                .protocol
                .as_ref()
                .map_or("tcp", TransportProtocol::as_str);
            if let Some(range) = pm.container_port_range.as_deref() {
                if !matches!(net, Net::Bridge | Net::Awsvpc) {
                    sink.error("port-range-invalid", format!("{here}/containerPortRange"), format!("containerPortRange is supported only in bridge and awsvpc network modes, not {}.", net.name()), None);
                }
                if pm.container_port.is_some() || pm.host_port.is_some() {
                    sink.error("port-range-invalid", here.clone(), "A mapping with containerPortRange cannot also set containerPort or hostPort.", None);
                }
                match parse_range(range) {
                    None => sink.error("port-range-invalid", format!("{here}/containerPortRange"), format!("'{range}' is not a port range 'first-last' with 1 <= first < last <= 65535."), None),
                    Some((a, b)) => {
                        if ranges.iter().any(|&(x, y, p)| p == proto && a <= y && x <= b) {
                            sink.error("port-range-invalid", format!("{here}/containerPortRange"), format!("Port range '{range}' overlaps another mapping of container '{name}'."), None);
                        }
                        ranges.push((a, b, proto));
                    }
                }
                continue;
            }
            let Some(cp) = pm.container_port else {
                sink.error(
                    "container-port-invalid",
                    here.clone(),
                    format!("Invalid 'containerPort' setting for container '{name}'."),
                    Some(
                        "Each port mapping needs a containerPort (or a containerPortRange).".into(),
                    ),
                );
                continue;
            };
            if !(1..=65535).contains(&cp) {
                sink.error(
                    "container-port-invalid",
                    format!("{here}/containerPort"),
                    format!("Invalid 'containerPort' setting for container '{name}'."),
                    Some(format!("{cp} is not a port between 1 and 65535.")),
                );
            }
            if let Some(hp) = pm.host_port {
                match net {
                    Net::Awsvpc if hp != cp && hp != 0 => sink.error(
                        "network-mode-ports",
                        format!("{here}/hostPort"),
                        "When networkMode=awsvpc, the host ports and container ports in port mappings must match.",
                        Some(format!("Set hostPort to {cp} or leave it out.")),
                    ),
                    Net::Host if hp != cp && hp != 0 => sink.error(
                        "network-mode-ports",
                        format!("{here}/hostPort"),
                        "When networkMode=host, the host ports and container ports in port mappings must match.",
                        Some(format!("Set hostPort to {cp} or leave it out.")),
                    ),
                    _ => {}
                }
            }
            if !seen.insert((cp, proto)) {
                sink.error("port-duplicate", format!("{here}/containerPort"), format!("Container port {cp}/{proto} is mapped more than once in container '{name}'."), None);
            }
            let static_host = match net {
                Net::Awsvpc | Net::Host => Some(cp),
                _ => pm.host_port.filter(|&h| h != 0),
            };
            if let Some(hp) = static_host {
                if let Some(other) = host_ports.insert((hp, proto), name.to_string()) {
                    // In awsvpc/host mode a repeat within one container is the containerPort
                    // repeat already reported above.
                    if other != name || net == Net::Bridge {
                        sink.error("port-duplicate", here.clone(), format!("Host port {hp}/{proto} is used by both '{other}' and '{name}'; a port can be bound once per task."), None);
                    }
                }
            }
            if let Some(pname) = pm.name.as_deref() {
                let ok = !pname.is_empty()
                    && pname.len() <= 64
                    && !pname.starts_with('-')
                    && pname.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                    });
                if !ok {
                    sink.error("port-name-invalid", format!("{here}/name"), format!("Port name '{pname}' is not valid: up to 64 lowercase letters, numbers, underscores and hyphens, not starting with a hyphen."), None);
                } else if !port_names.insert(pname) {
                    sink.error(
                        "port-name-invalid",
                        format!("{here}/name"),
                        format!("Port name '{pname}' is used by more than one port mapping."),
                        None,
                    );
                }
            }
        }
        if ranges.len() > 100 {
            sink.error(
                "port-range-invalid",
                format!("{at}/portMappings"),
                "At most 100 port ranges are allowed per container.",
                None,
            );
        }
    }
}

fn depends_on(containers: &[ContainerDefinition], names: &BTreeMap<&str, usize>, sink: &mut Sink) {
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); containers.len()];
    for (i, cd) in containers.iter().enumerate() {
        for (j, dep) in cd.depends_on.iter().flatten().enumerate() {
            let here = format!("{}/dependsOn/{j}", c(i));
            let target = dep.container_name.as_deref().unwrap_or("");
            let Some(&t) = names.get(target) else {
                sink.error(
                    "depends-on-unknown",
                    format!("{here}/containerName"),
                    format!("Cannot depend on container + '{target}' because it does not exist"),
                    None,
                );
                continue;
            };
            edges[i].push(t);
            let target_cd = &containers[t];
            match dep.condition.as_ref() {
                Some(ContainerCondition::Complete | ContainerCondition::Success) if target_cd.essential.unwrap_or(true) => sink.error(
                    "depends-on-essential",
                    format!("{here}/condition"),
                    "A dependency container with SUCCESS or COMPLETE condition cannot be an essential container",
                    Some(format!("Set \"essential\": false on '{target}', or depend on it with START or HEALTHY.")),
                ),
                Some(ContainerCondition::Healthy) if target_cd.health_check.is_none() => sink.error(
                    "depends-on-healthy",
                    format!("{here}/condition"),
                    format!("Container '{target}' has no healthCheck, so a HEALTHY dependency on it can never be met."),
                    None,
                ),
                _ => {}
            }
        }
    }
    // Cycle detection: colour DFS, report each container on a cycle once.
    let mut state = vec![0u8; containers.len()];
    let mut on_cycle = BTreeSet::new();
    fn visit(
        n: usize,
        edges: &[Vec<usize>],
        state: &mut [u8],
        stack: &mut Vec<usize>,
        on_cycle: &mut BTreeSet<usize>,
    ) {
        state[n] = 1;
        stack.push(n);
        for &m in &edges[n] {
            if state[m] == 1 {
                if let Some(pos) = stack.iter().position(|&x| x == m) {
                    on_cycle.extend(stack[pos..].iter().copied());
                }
            } else if state[m] == 0 {
                visit(m, edges, state, stack, on_cycle);
            }
        }
        stack.pop();
        state[n] = 2;
    }
    for n in 0..containers.len() {
        if state[n] == 0 {
            visit(n, &edges, &mut state, &mut Vec::new(), &mut on_cycle);
        }
    }
    for n in on_cycle {
        let name = containers[n].name.as_deref().unwrap_or("");
        sink.error(
            "depends-on-cycle",
            format!("{}/dependsOn", c(n)),
            format!("Container '{name}' is part of a dependsOn cycle, so it can never start."),
            None,
        );
    }
}

fn volumes(
    req: &RegisterTaskDefinitionRequest,
    containers: &[ContainerDefinition],
    sink: &mut Sink,
) {
    let vols = req.volumes.as_deref().unwrap_or(&[]);
    let mut names = BTreeSet::new();
    let mut at_launch = 0;
    for (i, v) in vols.iter().enumerate() {
        let here = format!("/volumes/{i}");
        let name = v.name.as_deref().unwrap_or("");
        if !valid_name(name)
            && (!name.is_empty()
                || v.efs_volume_configuration.is_some()
                || v.configured_at_launch == Some(true))
        {
            sink.error("volume-invalid", format!("{here}/name"), format!("Volume name '{name}' is not valid: up to 255 letters, numbers, hyphens, and underscores."), None);
        }
        if !name.is_empty() && !names.insert(name) {
            sink.error(
                "volume-invalid",
                format!("{here}/name"),
                format!("Volume name '{name}' is used more than once."),
                None,
            );
        }
        let kinds = [
            v.host.is_some(),
            v.docker_volume_configuration.is_some(),
            v.efs_volume_configuration.is_some(),
            v.s3files_volume_configuration.is_some(),
            v.fsx_windows_file_server_volume_configuration.is_some(),
            v.configured_at_launch == Some(true),
        ];
        if kinds.iter().filter(|k| **k).count() > 1 {
            sink.error("volume-invalid", here.clone(), format!("Volume '{name}' sets more than one volume type; choose one of host, dockerVolumeConfiguration, efsVolumeConfiguration, s3filesVolumeConfiguration, fsxWindowsFileServerVolumeConfiguration, configuredAtLaunch."), None);
        }
        if v.configured_at_launch == Some(true) {
            at_launch += 1;
            if at_launch > 1 {
                sink.error(
                    "volume-invalid",
                    format!("{here}/configuredAtLaunch"),
                    "At most one volume can be configuredAtLaunch.",
                    None,
                );
            }
        }
        if let Some(efs) = &v.efs_volume_configuration {
            let transit = efs
                .transit_encryption
                .as_ref()
                .is_some_and(|t| t.as_str() == "ENABLED");
            if let Some(auth) = &efs.authorization_config {
                if auth.access_point_id.is_some() {
                    if efs
                        .root_directory
                        .as_deref()
                        .is_some_and(|r| r != "/" && !r.is_empty())
                    {
                        sink.error("volume-invalid", format!("{here}/efsVolumeConfiguration/rootDirectory"), "When an EFS access point is used, rootDirectory must be omitted or set to '/'.", None);
                    }
                    if !transit {
                        sink.error(
                            "volume-invalid",
                            format!("{here}/efsVolumeConfiguration/transitEncryption"),
                            "When an EFS access point is used, transitEncryption must be ENABLED.",
                            None,
                        );
                    }
                }
                if auth.iam.as_ref().is_some_and(|x| x.as_str() == "ENABLED") && !transit {
                    sink.error(
                        "volume-invalid",
                        format!("{here}/efsVolumeConfiguration/transitEncryption"),
                        "When EFS IAM authorization is ENABLED, transitEncryption must be ENABLED.",
                        None,
                    );
                }
            }
        }
        if let Some(dv) = &v.docker_volume_configuration {
            if dv.autoprovision == Some(true)
                && dv.scope.as_ref().is_some_and(|s| s.as_str() == "task")
            {
                sink.error(
                    "volume-invalid",
                    format!("{here}/dockerVolumeConfiguration/autoprovision"),
                    "autoprovision is supported only when scope is shared.",
                    None,
                );
            }
        }
    }
    for (i, cd) in containers.iter().enumerate() {
        for (j, mp) in cd.mount_points.iter().flatten().enumerate() {
            let src = mp.source_volume.as_deref().unwrap_or("");
            if !names.contains(src) {
                let help = super::schema_walk::suggest(src, names.iter().copied())
                    .map(|s| format!("Did you mean '{s}'?"))
                    .or_else(|| {
                        Some("Mount points must name a volume of the task definition.".into())
                    });
                sink.error(
                    "mount-unknown-volume",
                    format!("{}/mountPoints/{j}/sourceVolume", c(i)),
                    format!("Unknown volume '{src}'."),
                    help,
                );
            }
            if mp.container_path.as_deref().is_none_or(str::is_empty) {
                sink.error(
                    "mount-unknown-volume",
                    format!("{}/mountPoints/{j}", c(i)),
                    "A mount point needs a containerPath.",
                    None,
                );
            }
        }
    }
}

fn secrets_and_logs(
    req: &RegisterTaskDefinitionRequest,
    containers: &[ContainerDefinition],
    sink: &mut Sink,
) {
    let has_role = !is_blank(&req.execution_role_arn);
    let firelens: Vec<usize> = containers
        .iter()
        .enumerate()
        .filter(|(_, cd)| cd.firelens_configuration.is_some())
        .map(|(i, _)| i)
        .collect();
    if firelens.len() > 1 {
        sink.error(
            "firelens",
            format!("{}/firelensConfiguration", c(firelens[1])),
            "Only one container in a task definition can have a firelensConfiguration.",
            None,
        );
    }
    for (i, cd) in containers.iter().enumerate() {
        let at = c(i);
        if !has_role {
            if cd.secrets.as_ref().is_some_and(|s| !s.is_empty()) {
                sink.error("secrets-execution-role", format!("{at}/secrets"), "When you are specifying container secrets, you must also specify a value for 'executionRoleArn'.", Some("The execution role is what lets ECS fetch the secret values for the container.".into()));
            }
            if cd
                .log_configuration
                .as_ref()
                .and_then(|l| l.secret_options.as_ref())
                .is_some_and(|s| !s.is_empty())
            {
                sink.error("secrets-execution-role", format!("{at}/logConfiguration/secretOptions"), "When you are specifying container secrets, you must also specify a value for 'executionRoleArn'.", None);
            }
        }
        for (j, secret) in cd.secrets.iter().flatten().enumerate() {
            let Some(v) = secret.value_from.as_deref() else {
                continue;
            };
            // ARNs are Secrets Manager's or a parameter's; placeholders (`{{…}}`, `$$$X$$$`,
            // `<X>`) are checked once rendered; an empty value is the skeleton's.
            let placeholder = is_template(v) || v.starts_with('$') || v.starts_with('<');
            if v.is_empty() || v.starts_with("arn:") || placeholder || valid_parameter_name(v) {
                continue;
            }
            let name = secret.name.as_deref().unwrap_or_default();
            // ECS's text (aws/copilot-cli#3446).
            sink.error(
                "secret-parameter-name",
                format!("{at}/secrets/{j}/valueFrom"),
                format!("The Systems Manager parameter name specified for secret {name} is invalid. The parameter name can be up to 2048 characters and include the following letters and symbols: a-zA-Z0-9_.-"),
                Some(format!("'{v}' is neither an ARN (Secrets Manager secret or parameter) nor a parameter name; give the full ARN, or the parameter's name (a path such as /prod/db/password is fine).")),
            );
        }
        if let Some(options) = cd
            .firelens_configuration
            .as_ref()
            .and_then(|f| f.options.as_ref())
        {
            let value = options.get("config-file-value").map(String::as_str);
            if options.get("config-file-type").map(String::as_str) == Some("s3")
                && value.is_some_and(|v| !v.starts_with("arn:") && !is_template(v))
            {
                sink.error(
                    "firelens-config-file",
                    format!("{at}/firelensConfiguration/options/config-file-value"),
                    "Invalid arn syntax.",
                    Some("With config-file-type s3, config-file-value is the S3 object's ARN: arn:aws:s3:::<bucket>/<key> (not an s3:// URL).".into()),
                );
            }
        }
        let Some(log) = &cd.log_configuration else {
            continue;
        };
        let options = log.options.as_ref();
        match log.log_driver.as_ref() {
            Some(LogDriver::Awslogs) => {
                // One finding naming every missing option, in ECS's order
                // (klothoplatform/klotho#892: `… requires options: awslogs-region, awslogs-group`).
                let missing: Vec<&str> = ["awslogs-region", "awslogs-group"]
                    .into_iter()
                    .filter(|r| !options.is_some_and(|o| o.contains_key(*r)))
                    .collect();
                if !missing.is_empty() {
                    sink.error(
                        "log-options",
                        format!("{at}/logConfiguration/options"),
                        format!("Log driver awslogs requires options: {}", missing.join(", ")),
                        Some("awslogs needs the log group and its region.".into()),
                    );
                }
            }
            Some(LogDriver::Awsfirelens) if firelens.is_empty() => sink.error(
                "firelens",
                format!("{at}/logConfiguration/logDriver"),
                "The awsfirelens log driver needs a container with a firelensConfiguration in the task definition.",
                None,
            ),
            _ => {}
        }
    }
}

#[allow(deprecated)] // reason: inferenceAccelerators is deprecated but still accepted; its references must be checked
fn proxy_and_accelerators(
    req: &RegisterTaskDefinitionRequest,
    containers: &[ContainerDefinition],
    names: &BTreeMap<&str, usize>,
    net: Net,
    sink: &mut Sink,
) {
    if let Some(proxy) = &req.proxy_configuration {
        let name = proxy.container_name.as_deref().unwrap_or("");
        if !names.contains_key(name) {
            sink.error("proxy-configuration", "/proxyConfiguration/containerName".into(), format!("proxyConfiguration names container '{name}', which is not in the task definition."), None);
        }
        if net != Net::Awsvpc {
            sink.error(
                "proxy-configuration",
                "/proxyConfiguration".into(),
                "An APPMESH proxyConfiguration requires networkMode awsvpc.",
                None,
            );
        }
        for (j, p) in proxy.properties.iter().flatten().enumerate() {
            let pname = p.name.as_deref().unwrap_or("");
            if !PROXY_PROPERTIES.contains(&pname) {
                sink.error(
                    "proxy-configuration",
                    format!("/proxyConfiguration/properties/{j}/name"),
                    format!(
                        "'{pname}' is not an App Mesh proxy property; use one of {}.",
                        PROXY_PROPERTIES.join(", ")
                    ),
                    None,
                );
            }
        }
    }
    let devices: BTreeSet<&str> = req
        .inference_accelerators
        .iter()
        .flatten()
        .filter_map(|a| a.device_name.as_deref())
        .collect();
    let mut neuron = 0;
    for (i, cd) in containers.iter().enumerate() {
        for (j, rr) in cd.resource_requirements.iter().flatten().enumerate() {
            let here = format!("{}/resourceRequirements/{j}/value", c(i));
            let value = rr.value.as_deref().unwrap_or("");
            match rr.r#type.as_ref() {
                Some(ResourceType::Gpu) if value != "ALL" && value.parse::<u32>().map_or(true, |n| n == 0) => {
                    sink.error("resource-requirements", here, format!("GPU value '{value}' must be a positive number of GPUs."), None)
                }
                Some(ResourceType::NeuronDevice) => {
                    neuron += 1;
                    if value != "ALL" {
                        sink.error("resource-requirements", here, "The NeuronDevice value must be 'ALL'.", None);
                    }
                }
                Some(ResourceType::InferenceAccelerator) if !devices.contains(value) => sink.error(
                    "resource-requirements",
                    here,
                    format!("Inference accelerator '{value}' is not declared in the task definition's inferenceAccelerators."),
                    None,
                ),
                _ => {}
            }
        }
    }
    if neuron > 1 {
        sink.error(
            "resource-requirements",
            "/containerDefinitions".into(),
            "Only one container in a task definition can request NeuronDevice.",
            None,
        );
    }
}

fn needs_memory(
    containers: &[ContainerDefinition],
    task_memory: Option<u64>,
) -> impl Iterator<Item = (usize, &ContainerDefinition)> {
    containers.iter().enumerate().filter(move |(_, cd)| {
        task_memory.is_none()
            && cd.memory.unwrap_or(0) <= 0
            && cd.memory_reservation.unwrap_or(0) <= 0
    })
}

fn ec2_like(
    req: &RegisterTaskDefinitionRequest,
    containers: &[ContainerDefinition],
    task_cpu: Option<u64>,
    task_memory: Option<u64>,
    lt: &'static str,
    sink: &mut Sink,
) {
    if let Some(cpu) = task_cpu {
        if !(128..=196_608).contains(&cpu) {
            sink.lt_error(
                lt,
                "task-cpu-range",
                "/cpu".into(),
                CPU_INVALID,
                Some(format!(
                    "Task cpu on {lt} must be between 128 and 196608 CPU units, not {cpu}."
                )),
            );
        }
    }
    for (i, cd) in needs_memory(containers, task_memory) {
        let name = cd.name.as_deref().unwrap_or("");
        sink.lt_error(
            lt,
            "container-memory-required",
            c(i),
            format!("Invalid setting for container '{name}'. At least one of 'memory' or 'memoryReservation' must be specified."),
            Some("Set the container's memory or memoryReservation, or task-level memory.".into()),
        );
    }
    let _ = req;
}

fn external(req: &RegisterTaskDefinitionRequest, net: Net, sink: &mut Sink) {
    if net == Net::Awsvpc {
        sink.lt_error(
            "EXTERNAL",
            "external-unsupported",
            "/networkMode".into(),
            "Tasks using the EXTERNAL launch type do not support networkMode awsvpc.",
            Some("Use bridge, host or none.".into()),
        );
    }
    for (i, v) in req.volumes.iter().flatten().enumerate() {
        if v.efs_volume_configuration.is_some() {
            sink.lt_error(
                "EXTERNAL",
                "external-unsupported",
                format!("/volumes/{i}/efsVolumeConfiguration"),
                "Tasks using the EXTERNAL launch type do not support EFS volumes.",
                None,
            );
        }
    }
}

fn is_ecr(image: &str) -> bool {
    let registry = image.split('/').next().unwrap_or("");
    registry.contains(".dkr.ecr.") && registry.contains(".amazonaws.com")
}

fn present(node: &Node<'_>, member: &str) -> bool {
    node.get(member)
        .is_some_and(|v| !matches!(v.value, crate::json::Value::Null))
}

#[allow(clippy::too_many_arguments)] // reason: the Fargate rules need the task-wide context
fn fargate(
    node: &Node<'_>,
    req: &RegisterTaskDefinitionRequest,
    containers: &[ContainerDefinition],
    task_cpu: Option<u64>,
    task_memory: Option<u64>,
    net: Net,
    windows: bool,
    sink: &mut Sink,
) {
    const LT: &str = "FARGATE";
    let no = |sink: &mut Sink, path: String, what: &str| {
        sink.lt_error(
            LT,
            "fargate-unsupported",
            path,
            format!("Tasks using the Fargate launch type do not support {what}."),
            None,
        );
    };
    if net != Net::Awsvpc {
        sink.lt_error(
            LT,
            "fargate-network-mode",
            "/networkMode".into(),
            "Fargate only supports network mode ‘awsvpc’.",
            Some("Set \"networkMode\": \"awsvpc\".".into()),
        );
    }
    // A member that is present with the wrong JSON type was reported by the schema walk; it is
    // not "missing" as well.
    if req.cpu.is_none() && !present(node, "cpu") {
        sink.lt_error(
            LT,
            "fargate-cpu-required",
            "/cpu".into(),
            "Fargate requires that 'cpu' be defined at the task level.",
            None,
        );
    }
    if req.memory.is_none() && !present(node, "memory") {
        sink.lt_error(
            LT,
            "fargate-memory-required",
            "/memory".into(),
            "Fargate requires that 'memory' be defined at the task level.",
            None,
        );
    }
    if let (Some(cpu), Some(memory)) = (task_cpu, task_memory) {
        match fargate_memory(cpu) {
            None => sink.lt_error(
                LT,
                "fargate-cpu-memory",
                "/cpu".into(),
                CPU_INVALID,
                Some(format!(
                    "Fargate cpu must be one of 256, 512, 1024, 2048, 4096, 8192, 16384; not {cpu}."
                )),
            ),
            Some((allowed, win_ok)) => {
                if !allowed.contains(&memory) {
                    // ECS's text for this case, as the API answered it in
                    // aws-games/cloud-game-development-toolkit#737 and
                    // towardsthecloud/aws-cdk-examples#1 (1024/1024, 512/512).
                    sink.lt_error(
                        LT,
                        "fargate-cpu-memory",
                        "/memory".into(),
                        format!(
                            "No Fargate configuration exists for given values: {cpu} CPU, {memory} memory. See the Amazon ECS documentation for the valid values."
                        ),
                        Some(format!(
                            "With cpu {cpu}, Fargate memory must be one of {} MiB; not {memory}.",
                            allowed
                                .iter()
                                .map(u64::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                    );
                }
                if windows && !win_ok {
                    sink.lt_error(
                        LT,
                        "fargate-windows",
                        "/cpu".into(),
                        CPU_INVALID,
                        Some(format!(
                            "Windows on Fargate supports cpu 1024, 2048 and 4096; not {cpu}."
                        )),
                    );
                }
            }
        }
    }
    if windows {
        if let Some(arch) = req
            .runtime_platform
            .as_ref()
            .and_then(|p| p.cpu_architecture.as_ref())
        {
            if arch.as_str() != "X86_64" {
                sink.lt_error(
                    LT,
                    "fargate-windows",
                    "/runtimePlatform/cpuArchitecture".into(),
                    "Windows on Fargate requires the X86_64 cpu architecture.",
                    None,
                );
            }
        }
    }
    if req
        .ipc_mode
        .as_ref()
        .is_some_and(|m| !m.as_str().is_empty())
    {
        no(sink, "/ipcMode".into(), "ipcMode");
    }
    if req.pid_mode.as_ref().is_some_and(|m| m.as_str() == "host") {
        no(sink, "/pidMode".into(), "pidMode 'host'");
    }
    if req
        .placement_constraints
        .as_ref()
        .is_some_and(|p| !p.is_empty())
    {
        no(sink, "/placementConstraints".into(), "placementConstraints");
    }
    for (i, v) in req.volumes.iter().flatten().enumerate() {
        if v.docker_volume_configuration.is_some() {
            no(
                sink,
                format!("/volumes/{i}/dockerVolumeConfiguration"),
                "dockerVolumeConfiguration",
            );
        }
        if v.host.as_ref().is_some_and(|h| h.source_path.is_some()) {
            // ECS's own wording for this one (cloudposse/terraform-aws-ecs-alb-service-task#174).
            sink.lt_error(
                LT,
                "fargate-unsupported",
                format!("/volumes/{i}/host/sourcePath"),
                "Fargate compatible task definitions do not support sourcePath",
                Some("Fargate tasks cannot mount host paths: remove sourcePath (a host volume without it is a scratch volume), or use an EFS volume.".into()),
            );
        }
    }
    for (i, cd) in containers.iter().enumerate() {
        let s3 = cd
            .firelens_configuration
            .as_ref()
            .and_then(|f| f.options.as_ref())
            .and_then(|o| o.get("config-file-type"))
            .is_some_and(|t| t == "s3");
        if s3 {
            // What ECS answered, whatever the ARN (aws/aws-sdk#311; aws/aws-cli#7147).
            sink.lt_error(
                LT,
                "firelens-config-file",
                format!("{}/firelensConfiguration/options/config-file-type", c(i)),
                "Invalid arn syntax.",
                Some("Fargate supports only config-file-type file: put the configuration in the log router's image and name its path, or launch on EC2.".into()),
            );
        }
    }
    let has_role = !is_blank(&req.execution_role_arn);
    for (i, cd) in containers.iter().enumerate() {
        let at = c(i);
        let flags = [
            ("privileged", cd.privileged == Some(true)),
            ("links", cd.links.as_ref().is_some_and(|l| !l.is_empty())),
            ("disableNetworking", cd.disable_networking.is_some()),
            (
                "dnsServers",
                cd.dns_servers.as_ref().is_some_and(|l| !l.is_empty()),
            ),
            (
                "dnsSearchDomains",
                cd.dns_search_domains
                    .as_ref()
                    .is_some_and(|l| !l.is_empty()),
            ),
            (
                "dockerSecurityOptions",
                cd.docker_security_options
                    .as_ref()
                    .is_some_and(|l| !l.is_empty()),
            ),
            (
                "extraHosts",
                cd.extra_hosts.as_ref().is_some_and(|l| !l.is_empty()),
            ),
        ];
        for (member, set) in flags {
            if set {
                no(sink, format!("{at}/{member}"), member);
            }
        }
        for (j, rr) in cd.resource_requirements.iter().flatten().enumerate() {
            if rr.r#type.as_ref() == Some(&ResourceType::Gpu) {
                no(
                    sink,
                    format!("{at}/resourceRequirements/{j}"),
                    "GPU resource requirements",
                );
            }
        }
        if let Some(lp) = &cd.linux_parameters {
            let lflags = [
                (
                    "devices",
                    lp.devices.as_ref().is_some_and(|d| !d.is_empty()),
                ),
                ("sharedMemorySize", lp.shared_memory_size.is_some()),
                ("tmpfs", lp.tmpfs.as_ref().is_some_and(|d| !d.is_empty())),
                ("maxSwap", lp.max_swap.is_some()),
                ("swappiness", lp.swappiness.is_some()),
            ];
            for (member, set) in lflags {
                if set {
                    no(
                        sink,
                        format!("{at}/linuxParameters/{member}"),
                        &format!("linuxParameters.{member}"),
                    );
                }
            }
            for (j, cap) in lp
                .capabilities
                .as_ref()
                .and_then(|c| c.add.as_ref())
                .into_iter()
                .flatten()
                .enumerate()
            {
                if cap != "SYS_PTRACE" {
                    no(
                        sink,
                        format!("{at}/linuxParameters/capabilities/add/{j}"),
                        &format!("adding the {cap} capability (only SYS_PTRACE)"),
                    );
                }
            }
        }
        for (member, value) in [
            ("startTimeout", cd.start_timeout),
            ("stopTimeout", cd.stop_timeout),
        ] {
            if let Some(v) = value {
                if !(2..=120).contains(&v) {
                    sink.lt_error(
                        LT,
                        "fargate-timeout",
                        format!("{at}/{member}"),
                        format!(
                            "{member} is {v}; on Fargate it must be between 2 and 120 seconds."
                        ),
                        None,
                    );
                }
            }
        }
        if let Some(log) = &cd.log_configuration {
            match log.log_driver.as_ref() {
                Some(LogDriver::Awslogs) if !has_role => sink.lt_error(
                    LT,
                    "fargate-execution-role-logs",
                    format!("{at}/logConfiguration/logDriver"),
                    "Fargate requires task definition to have execution role ARN to support log driver awslogs.",
                    Some("Set executionRoleArn to a role with the AmazonECSTaskExecutionRolePolicy.".into()),
                ),
                Some(LogDriver::Awslogs | LogDriver::Splunk | LogDriver::Awsfirelens) | None => {}
                Some(other) => sink.lt_error(LT, "fargate-log-driver", format!("{at}/logConfiguration/logDriver"), format!("Fargate does not support the {other} log driver; use awslogs, splunk or awsfirelens."), None),
            }
        }
        if cd.image.as_deref().is_some_and(is_ecr) && !has_role {
            sink.lt_error(LT, "fargate-execution-role-ecr", format!("{at}/image"), "Fargate requires task definition to have execution role ARN to support ECR images.", Some("Set executionRoleArn to a role that can pull from ECR.".into()));
        }
    }
}
