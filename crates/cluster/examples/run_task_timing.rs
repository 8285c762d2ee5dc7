//! Times RunTask against a cluster holding about 5,000 tasks (500 instances): the cost of one
//! call should not grow with the number of tasks, since RunTask reuses the cluster's placement
//! state. Run in release: `cargo run --release -p berth-cluster --example run_task_timing`.

use berth_cluster::{ClockMode, Cluster, Config, InstanceSpec};
use serde_json::{Value, json};

fn call(c: &Cluster, action: &str, body: Value) -> Value {
    c.call_blocking(action, body.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("{action}: {e}"))
}

#[tokio::main]
async fn main() {
    let c = Cluster::open(Config {
        clock: ClockMode::Manual,
        instances: vec![InstanceSpec {
            count: 500,
            cpu: 1 << 20,
            memory: 1 << 22,
            ..InstanceSpec::default()
        }],
        ..Config::default()
    })
    .await
    .expect("an in-memory cluster opens");
    call(
        &c,
        "RegisterTaskDefinition",
        json!({"family": "web", "containerDefinitions": [
            {"name": "app", "image": "nginx:1", "memory": 256, "cpu": 256, "essential": true}]}),
    );
    for k in 0..500 {
        call(
            &c,
            "RunTask",
            json!({"taskDefinition": "web", "count": 10, "group": format!("g{}", k % 50)}),
        );
    }
    let start = std::time::Instant::now();
    for _ in 0..100 {
        call(&c, "RunTask", json!({"taskDefinition": "web", "count": 1}));
    }
    let per = start.elapsed() / 100;
    println!("RunTask at 5,000 tasks: {per:?} per call (100 calls)");
}
