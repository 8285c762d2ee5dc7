//! Placement throughput: 10,000 tasks onto 5,000 container instances with
//! spread(attribute:ecs.availability-zone) + binpack(memory) + a memberOf expression.
//!
//! Run with `cargo bench -p berth-core --bench placement`. Two shapes of the same work:
//! one service scaling out by 10,000 (one request), and 1,000 RunTask calls of count 10 on one
//! `Placer`. The working state is built outside the timed part (`iter_batched`), so the figures
//! are placements per second of the engine itself; building a `Placer` from a 5,000-instance
//! snapshot is measured separately.

use berth_core::placement::{
    ContainerInstance, PlacementConstraint, PlacementRequest, PlacementStrategy, Placer, Resources,
    Snapshot, TaskRequirements,
};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const INSTANCES: usize = 5_000;
const TASKS: u32 = 10_000;

fn cluster() -> Snapshot {
    let mut s = Snapshot::new();
    let types = ["m5.large", "m5.xlarge", "c5.xlarge", "r5.large"];
    for n in 0..INSTANCES {
        let az = ["us-east-1a", "us-east-1b", "us-east-1c"][n % 3];
        s.push_instance(
            ContainerInstance::new(
                format!("arn:aws:ecs:us-east-1:123456789012:container-instance/bench/{n:05}"),
                format!("i-{n:017x}"),
                Resources::new(2048 * (1 + (n % 2) as u32), 4096 * (1 + (n % 4) as u32), 0),
            )
            .with_attribute("ecs.availability-zone", Some(az))
            .with_attribute("ecs.instance-type", Some(types[n % 4]))
            .with_attribute("ecs.os-type", Some("linux"))
            .with_attribute("stack", Some(if n % 10 == 0 { "canary" } else { "prod" })),
        );
    }
    s
}

fn request(count: u32) -> PlacementRequest {
    PlacementRequest::run_task(
        TaskRequirements::new("service:web", Resources::new(128, 256, 0)),
        count,
    )
    .with_constraint(PlacementConstraint::member_of(
        "attribute:ecs.instance-type =~ m5.* and attribute:stack != canary",
    ))
    .with_strategies(vec![
        PlacementStrategy::spread("attribute:ecs.availability-zone"),
        PlacementStrategy::binpack("memory"),
    ])
}

fn bench(c: &mut Criterion) {
    let snapshot = cluster();
    let mut g = c.benchmark_group("placement");
    g.sample_size(10);
    g.throughput(Throughput::Elements(u64::from(TASKS)));
    g.bench_function("service_scale_out_10k_on_5k", |b| {
        let req = request(TASKS);
        b.iter_batched(
            || Placer::new(&snapshot, 42),
            |mut p| {
                let plan = p.place(&req).unwrap_or_default();
                assert_eq!(plan.placements.len(), TASKS as usize);
                plan
            },
            BatchSize::LargeInput,
        );
    });
    g.bench_function("run_task_x10_1000_calls_on_5k", |b| {
        let req = request(10);
        b.iter_batched(
            || Placer::new(&snapshot, 42),
            |mut p| {
                let mut placed = 0;
                for _ in 0..TASKS / 10 {
                    placed += p
                        .run_task(&req)
                        .map(|plan| plan.placements.len())
                        .unwrap_or(0);
                }
                assert_eq!(placed, TASKS as usize);
                p
            },
            BatchSize::LargeInput,
        );
    });
    g.throughput(Throughput::Elements(INSTANCES as u64));
    g.bench_function("build_placer_from_5k_snapshot", |b| {
        b.iter(|| Placer::new(&snapshot, 42));
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
