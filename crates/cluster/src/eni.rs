//! The elastic network interface attachment of an `awsvpc` task, as DescribeTasks shows it:
//! created `PRECREATED` with its subnet, `ATTACHED` from PENDING on (ECS attaches it while the
//! task is PROVISIONING), with the address as soon as the runtime reports it (the Docker
//! runtime: once the pause container started, still PENDING), `DELETED` once the task stopped,
//! its details kept throughout (a stopped task still names its address).
//!
//! ECS lists the details in the order `subnetId`, `networkInterfaceId`, `macAddress`,
//! `privateDnsName`, `privateIPv4Address`, and repeats the address on every container as
//! `networkInterfaces: [{attachmentId, privateIpv4Address}]` (a live account's DescribeTasks,
//! `neilkuan/ai-cli-demo` `RECORD.ecs.md`, in `docs/ecs-response-shapes.md`).
//!
//! **What it does not do.** No invented identities: the address and MAC come from the runtime
//! (the Docker runtime's pause container owns the task's network namespace) and the DNS name
//! is derived from the address as EC2 names it; there is no `networkInterfaceId`, because no
//! ENI exists, and the simulated runtime, which has no address, leaves the three out. It keeps
//! no state and decides nothing about the task's lifecycle (the reconciler's events do).

use berth_core::model as m;

use crate::runtime::TaskNetwork;

/// The attachment type ECS gives a task's ENI.
const ENI: &str = "ElasticNetworkInterface";

/// The subnet a task of `td` launched with `config` gets its ENI in: the first one listed, for
/// `awsvpc` task definitions only (the others have no ENI).
pub(crate) fn subnet(
    td: &m::TaskDefinition,
    config: Option<&m::NetworkConfiguration>,
) -> Option<String> {
    if td.network_mode.as_ref().map(|n| n.as_str()) != Some("awsvpc") {
        return None;
    }
    config?
        .awsvpc_configuration
        .as_ref()?
        .subnets
        .as_ref()?
        .first()
        .cloned()
}

/// The attachment of a task just created in `subnet`; its id is derived from the task's, so
/// the same task always gets the same one.
pub(crate) fn precreated(task_id: &str, subnet: String) -> m::Attachment {
    m::Attachment {
        id: Some(attachment_id(task_id)),
        r#type: Some(ENI.into()),
        status: Some("PRECREATED".into()),
        details: Some(vec![detail("subnetId", subnet)]),
    }
}

/// The task's ENI is attached (from PENDING on); with `network` (from a runtime that gave the
/// task an address) its address is added, and shown on each container.
pub(crate) fn attached(task: &mut m::Task, network: Option<&TaskNetwork>) {
    let region = task
        .task_arn
        .as_deref()
        .and_then(|arn| arn.split(':').nth(3))
        .unwrap_or_default()
        .to_owned();
    let Some(eni) = eni_mut(task) else {
        return;
    };
    eni.status = Some("ATTACHED".into());
    let Some(net) = network else {
        return;
    };
    let details = eni.details.get_or_insert_with(Vec::new);
    details.retain(|d| d.name.as_deref() == Some("subnetId"));
    if let Some(mac) = &net.mac {
        details.push(detail("macAddress", mac.clone()));
    }
    details.push(detail(
        "privateDnsName",
        private_dns_name(&region, &net.ipv4),
    ));
    details.push(detail("privateIPv4Address", net.ipv4.clone()));
    let id = eni.id.clone();
    for c in task.containers.iter_mut().flatten() {
        c.network_interfaces = Some(vec![m::NetworkInterface {
            attachment_id: id.clone(),
            private_ipv4_address: Some(net.ipv4.clone()),
            ipv6_address: None,
        }]);
    }
}

/// The task stopped: its ENI is gone, its details stay.
pub(crate) fn deleted(task: &mut m::Task) {
    if let Some(eni) = eni_mut(task) {
        eni.status = Some("DELETED".into());
    }
}

/// The value of the task's ENI detail `name` (`macAddress`, `privateIPv4Address` …), if it has
/// an ENI with that detail.
pub(crate) fn detail_of<'a>(task: &'a m::Task, name: &str) -> Option<&'a str> {
    task.attachments
        .iter()
        .flatten()
        .find(|a| a.r#type.as_deref() == Some(ENI))?
        .details
        .iter()
        .flatten()
        .find(|d| d.name.as_deref() == Some(name))?
        .value
        .as_deref()
}

fn eni_mut(task: &mut m::Task) -> Option<&mut m::Attachment> {
    task.attachments
        .iter_mut()
        .flatten()
        .find(|a| a.r#type.as_deref() == Some(ENI))
}

fn detail(name: &str, value: String) -> m::KeyValuePair {
    m::KeyValuePair {
        name: Some(name.into()),
        value: Some(value),
    }
}

/// A UUID-shaped id mixed from the task id (32 hex digits), stable for the task.
fn attachment_id(task_id: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut next = || {
        for b in task_id.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        // SplitMix64's finaliser spreads the FNV state over every bit.
        let mut z = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let (a, b) = (next(), next());
    let hex = format!("{a:016x}{b:016x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// EC2's private DNS name for `ip`: `ip-10-0-1-23.ec2.internal` in us-east-1,
/// `ip-10-0-1-23.<region>.compute.internal` elsewhere.
fn private_dns_name(region: &str, ip: &str) -> String {
    let host = format!("ip-{}", ip.replace('.', "-"));
    if region == "us-east-1" || region.is_empty() {
        format!("{host}.ec2.internal")
    } else {
        format!("{host}.{region}.compute.internal")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_ids_are_stable_distinct_uuids() {
        let a = attachment_id("6f9b6dae6f4c57a84a3b01a251c691ab");
        assert_eq!(a, attachment_id("6f9b6dae6f4c57a84a3b01a251c691ab"));
        assert_ne!(a, attachment_id("6f9b6dae6f4c57a84a3b01a251c691ac"));
        let parts: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(parts, [8, 4, 4, 4, 12]);
        assert!(a.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
    }

    #[test]
    fn dns_names_follow_ec2() {
        assert_eq!(
            private_dns_name("us-east-1", "172.17.0.3"),
            "ip-172-17-0-3.ec2.internal"
        );
        assert_eq!(
            private_dns_name("ap-east-2", "172.31.41.248"),
            "ip-172-31-41-248.ap-east-2.compute.internal"
        );
    }

    #[test]
    fn the_lifecycle_keeps_the_details() {
        let mut task = m::Task {
            task_arn: Some("arn:aws:ecs:eu-west-1:1:task/c/abc".into()),
            containers: Some(vec![m::Container::default()]),
            attachments: Some(vec![precreated("abc", "subnet-1".into())]),
            ..m::Task::default()
        };
        attached(
            &mut task,
            Some(&TaskNetwork {
                ipv4: "172.17.0.9".into(),
                mac: Some("02:42:ac:11:00:09".into()),
            }),
        );
        deleted(&mut task);
        let eni = &task.attachments.as_ref().unwrap()[0];
        assert_eq!(eni.status.as_deref(), Some("DELETED"));
        assert_eq!(detail_of(&task, "macAddress"), Some("02:42:ac:11:00:09"));
        let names: Vec<_> = eni
            .details
            .iter()
            .flatten()
            .map(|d| (d.name.clone().unwrap(), d.value.clone().unwrap()))
            .collect();
        assert_eq!(
            names,
            [
                ("subnetId".to_string(), "subnet-1".to_string()),
                ("macAddress".into(), "02:42:ac:11:00:09".into()),
                (
                    "privateDnsName".into(),
                    "ip-172-17-0-9.eu-west-1.compute.internal".into()
                ),
                ("privateIPv4Address".into(), "172.17.0.9".into()),
            ]
        );
        let ni = &task.containers.as_ref().unwrap()[0]
            .network_interfaces
            .as_ref()
            .unwrap()[0];
        assert_eq!(ni.attachment_id, eni.id);
        assert_eq!(ni.private_ipv4_address.as_deref(), Some("172.17.0.9"));
    }
}
