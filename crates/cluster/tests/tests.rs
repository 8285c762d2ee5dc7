//! berth-cluster driven through its action API, with a manual clock so every run is exact.

/// Helpers shared by the modules.
mod support {
    use berth_cluster::{ClockMode, Cluster, Config};
    use serde_json::{Value, json};

    pub async fn cluster(dir: Option<&std::path::Path>) -> Cluster {
        Cluster::open(Config {
            data_dir: dir.map(Into::into),
            clock: ClockMode::Manual,
            ..Config::default()
        })
        .await
        .unwrap()
    }

    pub fn call(c: &Cluster, action: &str, body: Value) -> Value {
        c.call_blocking(action, body.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("{action}: {e}"))
    }

    pub fn err(c: &Cluster, action: &str, body: Value) -> berth_core::protocol::AwsError {
        c.call_blocking(action, body.to_string().as_bytes())
            .expect_err(action)
    }

    pub fn register(c: &Cluster, family: &str, image: &str) -> Value {
        call(
            c,
            "RegisterTaskDefinition",
            json!({"family": family, "containerDefinitions": [
                {"name": "app", "image": image, "memory": 256, "cpu": 256, "essential": true}
            ]}),
        )
    }
}

/// Application Auto Scaling: targets, policies, scheduled actions, activities.
mod autoscaling;
/// Clusters, task definitions, tags.
mod control_plane;
/// DAEMON services: one task per matching instance, deployments, draining, deregistration.
mod daemon;
/// The Docker runtime against the real engine.
mod docker;
/// Draining container instances moves service tasks within the deployment limits.
mod draining;
/// State survives a reopen of the data directory.
mod durability;
/// CloudWatch Logs: the awslogs streams of tasks.
mod logs;
/// CloudWatch metrics: the generated utilisation series, GetMetricData against
/// GetMetricStatistics, pushed data (durable, overriding), and target tracking acting on the
/// generated series.
mod metrics;
/// RegisterContainerInstance: the identity document, resources, re-registration, errors, and
/// the service task that waited for a big enough instance.
mod register_instance;
/// Registered task definitions carry the members ECS fills in: every corpus file that shows
/// what ECS returned, compared member by member with Berth's answer for its request.
mod registered;
/// Stopped tasks, events and finished deployments purged after the retention, durably.
mod retention;
/// A cluster of 5,000 instances, 1,000 services and 100,000 tasks answers reads quickly.
mod scale;
/// Services: rolling deployments, replacement, circuit breaker and rollback.
mod services;
/// Tasks: RunTask, lifecycle, DescribeTasks, ListTasks, StopTask.
mod tasks;
