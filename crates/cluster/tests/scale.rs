//! A big cluster stays responsive: 5,000 container instances, 1,000 services and 100,000
//! tasks (release builds, or `BERTH_SCALE=full`; a tenth of that in debug builds so the suite
//! stays fast). State is built in process through the action API and the reconciler, then the
//! read handlers are timed. Prints the numbers BENCHMARKS.md quotes:
//! `cargo test --release -p berth-cluster --test tests scale -- --nocapture`.

use std::time::{Duration, Instant};

use berth_cluster::{ClockMode, Cluster, Config, InstanceSpec};
use serde_json::{Value, json};

use crate::support::*;

/// Racks of 50 instances; each service is pinned to one rack by a `memberOf` constraint.
const RACK: u32 = 50;

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The median of `n` timed calls (server time: parse, handler, response value).
fn median(c: &Cluster, n: usize, action: &str, body: &Value) -> Duration {
    let bytes = body.to_string().into_bytes();
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            c.call_blocking(action, &bytes)
                .unwrap_or_else(|e| panic!("{action} {body}: {e}"));
            t.elapsed()
        })
        .collect();
    times.sort();
    times[n / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_cluster_stays_responsive() {
    let full = !cfg!(debug_assertions) || std::env::var("BERTH_SCALE").as_deref() == Ok("full");
    let (instances, services, per_service) = if full {
        (5_000u32, 1_000u32, 100u32)
    } else {
        (250, 50, 100)
    };
    let dir = tempfile::tempdir().unwrap();
    let on_disk = std::env::var("BERTH_SCALE_STORE").as_deref() != Ok("memory");
    let racks = instances / RACK;
    let t0 = Instant::now();
    let config = || Config {
        data_dir: on_disk.then(|| dir.path().into()),
        clock: ClockMode::Manual,
        instances: (0..racks)
            .map(|r| InstanceSpec {
                count: RACK,
                cpu: 8192,
                memory: 16384,
                attributes: vec![("rack".into(), Some(format!("r{r}")))],
                ..InstanceSpec::default()
            })
            .collect(),
        ..Config::default()
    };
    let c = Cluster::open(config()).await.unwrap();
    call(
        &c,
        "RegisterTaskDefinition",
        json!({"family": "app", "containerDefinitions": [
            {"name": "app", "image": "app:1", "cpu": 64, "memory": 128, "essential": true}
        ]}),
    );
    for s in 0..services {
        call(
            &c,
            "CreateService",
            json!({
                "serviceName": format!("svc-{s:04}"), "taskDefinition": "app",
                "desiredCount": per_service,
                "placementConstraints": [
                    {"type": "memberOf", "expression": format!("attribute:rack == r{}", s % racks)}
                ],
            }),
        );
    }
    let created = t0.elapsed();
    let rss_created = rss_kib("VmRSS:");
    let t1 = Instant::now();
    c.tick().await;
    let first_pass = t1.elapsed();
    let rss_first = rss_kib("VmRSS:");
    // Tasks run after 3 s and count healthy 40 s later; then every service is steady (debug
    // builds stop once the tasks run, to stay quick).
    c.advance(if full { 45 } else { 5 }).await;
    let built = t0.elapsed();
    let t2 = Instant::now();
    c.tick().await;
    let steady_pass = t2.elapsed();

    let page = call(&c, "ListTasks", json!({}));
    let arns = page["taskArns"].clone();
    assert_eq!(arns.as_array().unwrap().len(), 100);
    let token = page["nextToken"].as_str().unwrap().to_string();
    let d = call(&c, "DescribeTasks", json!({"tasks": arns}));
    assert_eq!(d["tasks"].as_array().unwrap().len(), 100);
    assert!(
        d["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["lastStatus"] == "RUNNING")
    );
    let s = call(&c, "DescribeServices", json!({"services": ["svc-0000"]}));
    assert_eq!(s["services"][0]["runningCount"], per_service);
    let ci = call(&c, "ListContainerInstances", json!({}))["containerInstanceArns"][0].clone();

    let describe = median(&c, 21, "DescribeTasks", &json!({"tasks": arns}));
    let list_first = median(&c, 21, "ListTasks", &json!({}));
    let list_next = median(&c, 21, "ListTasks", &json!({"nextToken": token}));
    let list_service = median(
        &c,
        21,
        "ListTasks",
        &json!({"serviceName": format!("svc-{:04}", services / 2)}),
    );
    let list_instance = median(&c, 21, "ListTasks", &json!({"containerInstance": ci}));
    let describe_services = median(
        &c,
        21,
        "DescribeServices",
        &json!({"services": (0..10).map(|i| format!("svc-{i:04}")).collect::<Vec<_>>()}),
    );
    let rss = rss_kib("VmRSS:");
    let peak = rss_kib("VmHWM:");
    eprintln!(
        "scale: {instances} instances, {services} services, {} tasks; built in {built:.2?} \
         (create {created:.2?}, first reconcile pass {first_pass:.2?}); steady pass {steady_pass:.2?}; \
         DescribeTasks(100) {describe:.2?}; ListTasks first page {list_first:.2?}, next page \
         {list_next:.2?}, by service {list_service:.2?}, by instance {list_instance:.2?}; \
         DescribeServices(10) {describe_services:.2?}; RSS {} MiB (peak {} MiB; {} MiB after \
         creating the services, {} MiB after the first pass); store {}",
        services * per_service,
        rss / 1024,
        peak / 1024,
        rss_created / 1024,
        rss_first / 1024,
        if on_disk { "on disk" } else { "in memory" },
    );
    // The goal is well under 10 ms in release (the printed numbers); the asserted bound leaves
    // room for a loaded, shared CI machine. Debug builds are several times slower.
    let bound = if cfg!(debug_assertions) {
        Duration::from_millis(100)
    } else {
        Duration::from_millis(20)
    };
    for (what, t) in [
        ("DescribeTasks", describe),
        ("ListTasks", list_first),
        ("ListTasks nextToken", list_next),
        ("ListTasks serviceName", list_service),
        ("ListTasks containerInstance", list_instance),
    ] {
        assert!(t < bound, "{what} took {t:?}");
    }
    // 796 MiB when this test was written (issue 4), ~1.05 GiB since the records grew with the
    // Docker runtime's members (issue 10): the bound catches the next doubling, not noise.
    assert!(rss < 1536 * 1024, "RSS {rss} KiB is over 1.5 GiB");

    if !on_disk {
        return;
    }
    // Restart: the store is read back, every task re-adopted, and the first answer given.
    drop(c);
    let t3 = Instant::now();
    let c = Cluster::open(config()).await.unwrap();
    let reopened = t3.elapsed();
    let page = call(&c, "ListTasks", json!({}));
    let ready = t3.elapsed();
    assert_eq!(page["taskArns"], arns, "the same tasks after the restart");
    let t4 = Instant::now();
    c.tick().await;
    let pass_after = t4.elapsed();
    let s = call(&c, "DescribeServices", json!({"services": ["svc-0000"]}));
    assert_eq!(s["services"][0]["runningCount"], per_service);
    eprintln!(
        "scale: restart over {} tasks: open {reopened:.2?}, first answer at {ready:.2?}, first \
         reconcile pass after it {pass_after:.2?}",
        services * per_service
    );
}
