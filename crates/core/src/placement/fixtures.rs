//! A fixed scenario with a fixed seed, for comparing builds (native vs `wasm32-unknown-unknown`).
//!
//! [`reference_plan`] places tasks on [`reference_cluster`] with [`REFERENCE_SEED`] through three
//! requests — spread over availability zones then binpack on memory (with a `memberOf`
//! constraint), pure `random`, and a service scale-in — and returns the chosen instance ids
//! and stopped task ARNs as strings. Every target must return [`REFERENCE_PLAN`] exactly; the
//! unit test below checks it natively, and a wasm harness can call [`reference_plan`] and
//! compare.

use super::{
    ContainerInstance, PlacementConstraint, PlacementError, PlacementRequest, PlacementStrategy,
    Placer, Resources, Snapshot, TaskInfo, TaskRequirements,
};

/// The seed of the reference scenario.
pub const REFERENCE_SEED: u64 = 0x00BE_47D5_EED5;

/// What [`reference_plan`] returns on every target.
pub const REFERENCE_PLAN: &[&str] = &[
    // spread(attribute:ecs.availability-zone), binpack(memory), memberOf(attribute:stack != test)
    "ci-05", "ci-00", "ci-00", "ci-05", "ci-10", "ci-00", "ci-05", "ci-10", "ci-10", "ci-11",
    // random
    "ci-11", "ci-02", "ci-10", "ci-09", "ci-07", "ci-07", "ci-08", "ci-03", "ci-06", "ci-10",
    // scale-in of service:web by 3 with the service default
    "t3", "t1", "t0",
];

/// Twelve instances in three zones (`us-east-1a/b/c`), memory 2–8 GiB, two of them `stack=test`,
/// with four tasks of `service:web` already running.
pub fn reference_cluster() -> Snapshot {
    let mut s = Snapshot::new();
    for n in 0..12u32 {
        let az = ["us-east-1a", "us-east-1b", "us-east-1c"][(n % 3) as usize];
        let stack = if n == 4 || n == 9 { "test" } else { "prod" };
        s.push_instance(
            ContainerInstance::new(
                format!("arn:aws:ecs:us-east-1:123456789012:container-instance/default/ci-{n:02}"),
                format!("i-{n:017x}"),
                Resources::new(2048, 2048 + 512 * (n % 5) * 3, 0),
            )
            .with_attribute("ecs.availability-zone", Some(az))
            .with_attribute(
                "ecs.instance-type",
                Some(if n % 2 == 0 { "m5.large" } else { "c5.large" }),
            )
            .with_attribute("stack", Some(stack)),
        );
    }
    for (k, n) in [0u32, 1, 1, 5].iter().enumerate() {
        s.start_task(TaskInfo {
            task_arn: format!("arn:aws:ecs:us-east-1:123456789012:task/default/t{k}"),
            container_instance_arn: format!(
                "arn:aws:ecs:us-east-1:123456789012:container-instance/default/ci-{n:02}"
            ),
            group: "service:web".into(),
            resources: Resources::new(256, 512, 0),
            host_ports: Vec::new(),
        });
    }
    s
}

/// Runs the reference scenario and returns, in order, the instance id of every placement
/// followed by the ARN suffix of every task chosen on scale-in.
///
/// # Errors
///
/// Never for the built-in scenario; the `Result` only carries [`PlacementError`] through.
///
/// # Examples
///
/// ```
/// use berth_core::placement::fixtures::{reference_plan, REFERENCE_PLAN};
/// assert_eq!(reference_plan()?, REFERENCE_PLAN);
/// # Ok::<(), berth_core::placement::PlacementError>(())
/// ```
pub fn reference_plan() -> Result<Vec<String>, PlacementError> {
    let cluster = reference_cluster();
    let mut placer = Placer::new(&cluster, REFERENCE_SEED);
    let web = TaskRequirements::new("service:web", Resources::new(256, 512, 0));
    let mut out = Vec::new();
    let packed = PlacementRequest::run_task(web.clone(), 10)
        .with_constraint(PlacementConstraint::member_of("attribute:stack != test"))
        .with_strategies(vec![
            PlacementStrategy::spread("attribute:ecs.availability-zone"),
            PlacementStrategy::binpack("memory"),
        ]);
    let random = PlacementRequest::run_task(
        TaskRequirements::new("family:batch", Resources::new(128, 128, 0)),
        10,
    )
    .with_strategies(vec![PlacementStrategy::random()]);
    for req in [&packed, &random] {
        let plan = placer.run_task(req)?;
        out.extend(
            plan.placements
                .iter()
                .map(|p| super::instance_id(&p.container_instance_arn).to_owned()),
        );
    }
    for t in placer.scale_in("service:web", &[], 3)? {
        out.push(super::instance_id(&t.task_arn).to_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_plan_is_fixed() {
        let got = reference_plan().unwrap_or_default();
        assert_eq!(got, REFERENCE_PLAN);
    }
}
