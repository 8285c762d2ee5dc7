//! The read-only cluster view the engine reads, and an in-memory implementation of it.

use serde::{Deserialize, Serialize};

use super::cql::InstanceFacts;

/// The ECS agent's default reserved host ports (tcp): SSH, the Docker daemon and the agent's
/// introspection/metadata ports.
pub const DEFAULT_RESERVED_TCP_PORTS: [u16; 6] = [22, 2375, 2376, 51678, 51679, 51680];

/// CPU units, MiB of memory and GPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    /// CPU units (1024 per vCPU).
    pub cpu: u32,
    /// Memory in MiB.
    pub memory: u32,
    /// Number of GPUs.
    pub gpu: u32,
}

impl Resources {
    /// A resource amount.
    pub const fn new(cpu: u32, memory: u32, gpu: u32) -> Self {
        Resources { cpu, memory, gpu }
    }
}

/// A transport protocol of a host port.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP (the ECS default).
    #[default]
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    /// `tcp` or `udp`, as ECS spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// One host port with its protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HostPort {
    /// The port number.
    pub port: u16,
    /// Its protocol.
    pub protocol: Protocol,
}

/// Sets of host ports per protocol (ECS's `PORTS` and `PORTS_UDP` STRINGSET resources).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ports {
    /// TCP ports.
    pub tcp: Vec<u16>,
    /// UDP ports.
    pub udp: Vec<u16>,
}

impl Ports {
    /// The agent's default reservation: [`DEFAULT_RESERVED_TCP_PORTS`] and no UDP port.
    pub fn agent_defaults() -> Self {
        Ports {
            tcp: DEFAULT_RESERVED_TCP_PORTS.to_vec(),
            udp: Vec::new(),
        }
    }

    /// Whether the set holds `port`.
    pub fn contains(&self, port: HostPort) -> bool {
        match port.protocol {
            Protocol::Tcp => self.tcp.contains(&port.port),
            Protocol::Udp => self.udp.contains(&port.port),
        }
    }

    /// Adds `port` if it is not there yet.
    pub fn insert(&mut self, port: HostPort) {
        let set = match port.protocol {
            Protocol::Tcp => &mut self.tcp,
            Protocol::Udp => &mut self.udp,
        };
        if !set.contains(&port.port) {
            set.push(port.port);
        }
    }
}

/// `ContainerInstance.status` (every value of the ECS model).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum InstanceStatus {
    /// Registration in progress.
    Registering,
    /// Registration failed.
    RegistrationFailed,
    /// Accepting tasks.
    #[default]
    Active,
    /// Deregistered.
    Inactive,
    /// Deregistration in progress.
    Deregistering,
    /// Being drained: no new tasks.
    Draining,
}

impl InstanceStatus {
    /// The status as ECS spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceStatus::Registering => "REGISTERING",
            InstanceStatus::RegistrationFailed => "REGISTRATION_FAILED",
            InstanceStatus::Active => "ACTIVE",
            InstanceStatus::Inactive => "INACTIVE",
            InstanceStatus::Deregistering => "DEREGISTERING",
            InstanceStatus::Draining => "DRAINING",
        }
    }
}

/// A container-instance attribute (ECS `Attribute`, without the target members).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attribute {
    /// Attribute name, such as `ecs.availability-zone` or a custom name.
    pub name: String,
    /// Its value; ECS allows attributes without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// What placement needs to know about one container instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerInstance {
    /// The container instance ARN; its last path segment is the id ECS prints in events.
    pub container_instance_arn: String,
    /// The EC2 (or SSM managed) instance id.
    pub ec2_instance_id: String,
    /// Lifecycle status; only `ACTIVE` instances take new tasks.
    pub status: InstanceStatus,
    /// Whether the agent is connected; disconnected instances take no new tasks.
    pub agent_connected: bool,
    /// The agent version, such as `1.14.5`.
    pub agent_version: String,
    /// Registration time, seconds since the Unix epoch (UTC). Time is an input, never read.
    pub registered_at: i64,
    /// Built-in (`ecs.*`) and custom attributes.
    pub attributes: Vec<Attribute>,
    /// `registeredResources` CPU, MEMORY and GPU.
    pub registered_resources: Resources,
    /// `remainingResources` CPU, MEMORY and GPU (what running tasks leave).
    pub remaining_resources: Resources,
    /// Host ports reserved at registration (`registeredResources` PORTS/PORTS_UDP); never free.
    pub reserved_ports: Ports,
    /// Every host port unavailable now: the reserved ones plus static ports of running tasks
    /// (`remainingResources` PORTS/PORTS_UDP, which despite the name lists ports in use).
    pub ports_in_use: Ports,
}

impl ContainerInstance {
    /// An `ACTIVE`, connected instance with nothing running: remaining = registered, the agent's
    /// default reserved ports, agent version `1.0.0`, registered at the epoch and no attributes.
    pub fn new(
        container_instance_arn: impl Into<String>,
        ec2_instance_id: impl Into<String>,
        registered: Resources,
    ) -> Self {
        ContainerInstance {
            container_instance_arn: container_instance_arn.into(),
            ec2_instance_id: ec2_instance_id.into(),
            status: InstanceStatus::Active,
            agent_connected: true,
            agent_version: "1.0.0".into(),
            registered_at: 0,
            attributes: Vec::new(),
            registered_resources: registered,
            remaining_resources: registered,
            reserved_ports: Ports::agent_defaults(),
            ports_in_use: Ports::agent_defaults(),
        }
    }

    /// Sets (or replaces) an attribute and returns the instance.
    pub fn with_attribute(mut self, name: &str, value: Option<&str>) -> Self {
        self.attributes.retain(|a| a.name != name);
        self.attributes.push(Attribute {
            name: name.into(),
            value: value.map(Into::into),
        });
        self
    }

    /// The id ECS prints in events: the ARN's last path segment.
    pub fn id(&self) -> &str {
        instance_id(&self.container_instance_arn)
    }

    /// The value of an attribute: `None` if absent, `Some(None)` if present without a value.
    pub fn attribute(&self, name: &str) -> Option<Option<&str>> {
        self.attributes
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.value.as_deref())
    }
}

/// The last path segment of a container-instance ARN (the whole string if it has no `/`).
pub fn instance_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// A task occupying a container instance (running, or pending and already placed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskInfo {
    /// The task ARN.
    pub task_arn: String,
    /// The container instance it runs on.
    pub container_instance_arn: String,
    /// Its task group (`service:<name>`, `family:<family>` or a custom group).
    pub group: String,
    /// What it reserves on the instance.
    pub resources: Resources,
    /// Its static host ports.
    pub host_ports: Vec<HostPort>,
}

/// The narrow, read-only view of a cluster that the placement engine reads.
///
/// Implement it over whatever holds the state (the embedded cluster's store, a response of
/// `DescribeContainerInstances` and `ListTasks`); [`Snapshot`] is the in-memory implementation.
/// Iteration order must be stable: the engine breaks ties with a seeded random source, and the
/// same seed only gives the same plan when instances come in the same order.
pub trait ClusterView {
    /// Every container instance of the cluster (any status), in a stable order.
    fn container_instances(&self) -> Box<dyn Iterator<Item = &ContainerInstance> + '_>;
    /// Every task that occupies an instance. `remainingResources` and `portsInUse` of the
    /// instances already account for them; the engine uses tasks for groups and scale-in.
    fn tasks(&self) -> Box<dyn Iterator<Item = &TaskInfo> + '_>;
}

/// An in-memory [`ClusterView`]: a list of instances and tasks, for tests and other crates.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// The container instances, in placement order.
    pub container_instances: Vec<ContainerInstance>,
    /// The tasks on them.
    pub tasks: Vec<TaskInfo>,
}

/// Another name for [`Snapshot`].
pub type InMemoryCluster = Snapshot;

impl Snapshot {
    /// An empty cluster.
    pub fn new() -> Self {
        Snapshot::default()
    }

    /// Adds an instance as given.
    pub fn push_instance(&mut self, instance: ContainerInstance) -> &mut Self {
        self.container_instances.push(instance);
        self
    }

    /// Adds a task and charges it to its instance: remaining resources go down (saturating at
    /// zero) and its host ports become in use. A task whose instance is unknown is still recorded.
    pub fn start_task(&mut self, task: TaskInfo) -> &mut Self {
        if let Some(inst) = self
            .container_instances
            .iter_mut()
            .find(|i| i.container_instance_arn == task.container_instance_arn)
        {
            let r = &mut inst.remaining_resources;
            r.cpu = r.cpu.saturating_sub(task.resources.cpu);
            r.memory = r.memory.saturating_sub(task.resources.memory);
            r.gpu = r.gpu.saturating_sub(task.resources.gpu);
            for p in &task.host_ports {
                inst.ports_in_use.insert(*p);
            }
        }
        self.tasks.push(task);
        self
    }

    /// Adds a task record without touching instance accounting (when the instance figures
    /// already include it, as ECS's `remainingResources` do).
    pub fn push_task(&mut self, task: TaskInfo) -> &mut Self {
        self.tasks.push(task);
        self
    }
}

impl ClusterView for Snapshot {
    fn container_instances(&self) -> Box<dyn Iterator<Item = &ContainerInstance> + '_> {
        Box::new(self.container_instances.iter())
    }

    fn tasks(&self) -> Box<dyn Iterator<Item = &TaskInfo> + '_> {
        Box::new(self.tasks.iter())
    }
}

/// A [`ContainerInstance`] together with the groups of its tasks, so a CQL
/// [`Expression`](super::Expression) can be evaluated against it (for example as a
/// `ListContainerInstances.filter`).
#[derive(Debug, Clone, Copy)]
pub struct ContainerInstanceFacts<'a> {
    /// The instance.
    pub instance: &'a ContainerInstance,
    /// The tasks on it.
    pub tasks: &'a [&'a TaskInfo],
}

impl InstanceFacts for ContainerInstanceFacts<'_> {
    fn attribute(&self, name: &str) -> Option<Option<&str>> {
        self.instance.attribute(name)
    }
    fn ec2_instance_id(&self) -> &str {
        &self.instance.ec2_instance_id
    }
    fn registered_at(&self) -> i64 {
        self.instance.registered_at
    }
    fn running_tasks_count(&self) -> u64 {
        self.tasks.len() as u64
    }
    fn agent_version(&self) -> &str {
        &self.instance.agent_version
    }
    fn agent_connected(&self) -> bool {
        self.instance.agent_connected
    }
    fn any_task_group(&self, test: &mut dyn FnMut(&str) -> bool) -> bool {
        self.tasks.iter().any(|t| test(&t.group))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_task_charges_the_instance() {
        let mut s = Snapshot::new();
        s.push_instance(ContainerInstance::new(
            "arn:x/ci-1",
            "i-1",
            Resources::new(1024, 2048, 1),
        ));
        s.start_task(TaskInfo {
            task_arn: "t1".into(),
            container_instance_arn: "arn:x/ci-1".into(),
            group: "g".into(),
            resources: Resources::new(2000, 512, 1),
            host_ports: vec![HostPort {
                port: 80,
                protocol: Protocol::Udp,
            }],
        });
        let i = &s.container_instances[0];
        assert_eq!(i.remaining_resources, Resources::new(0, 1536, 0));
        assert!(i.ports_in_use.contains(HostPort {
            port: 80,
            protocol: Protocol::Udp
        }));
        assert!(!i.ports_in_use.contains(HostPort {
            port: 80,
            protocol: Protocol::Tcp
        }));
        assert_eq!(i.id(), "ci-1");
        assert_eq!(s.tasks().count(), 1);
    }

    #[test]
    fn serde_is_camel_case() {
        let i =
            ContainerInstance::new("a", "i-1", Resources::new(1, 2, 0)).with_attribute("k", None);
        let v = serde_json::to_value(&i).unwrap_or_default();
        assert_eq!(v["containerInstanceArn"], "a");
        assert_eq!(v["status"], "ACTIVE");
        assert_eq!(v["registeredResources"]["memory"], 2);
        let back: ContainerInstance = serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, i);
    }
}
