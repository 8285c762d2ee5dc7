//! Picks the embedded cluster's runtime (`--runtime docker|sim|auto`), opens the cluster with
//! it and, for Docker, serves the task metadata endpoint where containers reach it: on the
//! gateway address of Docker's `bridge` network (a separate listener that answers only the
//! metadata routes of [`crate::tmds`], never the AWS API or the dashboard).
//!
//! It does not run containers (`berth_cluster::docker` does) and does not decide anything
//! about tasks.

use std::path::Path;
use std::sync::Arc;

use berth_cluster::docker::DockerRuntime;
use berth_cluster::runtime::{Runtime, SimRuntime};
use berth_cluster::{Cluster, Config};

/// `--runtime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RuntimeChoice {
    /// Docker when an engine answers, else the simulated runtime.
    #[default]
    Auto,
    /// Real containers on the Docker engine.
    Docker,
    /// Simulated tasks, no containers.
    Sim,
}

/// This data directory's Berth instance id (the `dev.berth.instance` label of its
/// containers): kept in `<data-dir>/instance-id` so a restarted Berth re-adopts its own
/// containers and no one else's; a fresh one per process without a data directory.
fn instance_id(data_dir: Option<&Path>) -> Result<String, String> {
    let fresh = || {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        h.write_u32(std::process::id());
        format!("{:016x}", h.finish())
    };
    let Some(dir) = data_dir else {
        return Ok(format!("mem-{}", fresh()));
    };
    let path = dir.join("instance-id");
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => Ok(s.trim().to_string()),
        _ => {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            let id = fresh();
            std::fs::write(&path, format!("{id}\n"))
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok(id)
        }
    }
}

/// Opens the embedded cluster with the chosen runtime, saying which one runs tasks; with
/// Docker, a stopped task's containers stay `cleanup_wait` before they are removed.
///
/// # Errors
///
/// `--runtime docker` without an engine that answers; the cluster's own errors.
pub async fn open_cluster(
    choice: RuntimeChoice,
    cleanup_wait: std::time::Duration,
    config: &Config,
) -> Result<Cluster, String> {
    let mut config = config.clone();
    let config = &mut config;
    let docker = match choice {
        RuntimeChoice::Sim => None,
        RuntimeChoice::Docker | RuntimeChoice::Auto => {
            let id = instance_id(config.data_dir.as_deref())?;
            // Containers keep their metadata URL across restarts: the key is as stable as the id.
            config.metadata_key = id.clone();
            match DockerRuntime::connect(&id).await {
                Ok(d) => {
                    d.set_cleanup_wait(cleanup_wait);
                    Some(d)
                }
                Err(e) if choice == RuntimeChoice::Docker => {
                    return Err(format!(
                        "--runtime docker: {e} (start dockerd, or set DOCKER_HOST; --runtime sim runs without Docker)"
                    ));
                }
                Err(e) => {
                    eprintln!("berth: runtime sim (simulated tasks, no containers): {e}");
                    None
                }
            }
        }
    };
    let Some(docker) = docker else {
        if choice == RuntimeChoice::Sim {
            eprintln!("berth: runtime sim (simulated tasks, no containers)");
        }
        let rt: Arc<dyn Runtime> = Arc::new(SimRuntime::new(config.sim, config.seed));
        return Cluster::open_with_runtime(config.clone(), rt)
            .await
            .map_err(|e| e.to_string());
    };
    // The metadata endpoint must be known before the cluster re-adopts or starts anything.
    let tmds = match docker.bridge_gateway().await {
        Some(ip) => match tokio::net::TcpListener::bind((ip, 0)).await {
            Ok(l) => {
                let addr = l.local_addr().map_err(|e| e.to_string())?;
                docker.set_metadata_url(format!("http://{addr}"));
                Some((l, addr))
            }
            Err(e) => {
                eprintln!(
                    "berth: warning: cannot serve the task metadata endpoint on {ip}: {e}; containers get no ECS_CONTAINER_METADATA_URI_V4"
                );
                None
            }
        },
        None => {
            eprintln!(
                "berth: warning: Docker's bridge network has no gateway address; containers get no ECS_CONTAINER_METADATA_URI_V4"
            );
            None
        }
    };
    if config.data_dir.is_none() {
        // Nothing could re-adopt this Berth's containers: they go when it stops.
        let d = docker.clone();
        tokio::spawn(async move {
            stop_signal().await;
            eprintln!("berth: stopping: removing this server's containers (it has no --data-dir)");
            d.remove_everything().await;
            std::process::exit(0);
        });
    }
    let rt: Arc<dyn Runtime> = Arc::new(docker);
    let cluster = Cluster::open_with_runtime(config.clone(), rt)
        .await
        .map_err(|e| e.to_string())?;
    let host_access = if config.allow_host_access {
        "host access allowed"
    } else {
        "host access refused (--allow-host-access)"
    };
    let kept = if cleanup_wait.is_zero() {
        "stopped tasks' containers removed at once".to_string()
    } else {
        format!(
            "stopped tasks' containers kept {} (--task-cleanup-wait)",
            humantime_short(cleanup_wait)
        )
    };
    match &tmds {
        Some((_, addr)) => eprintln!(
            "berth: runtime docker (containers on the local Docker engine, ports on 127.0.0.1, {host_access}, {kept}); task metadata on http://{addr}"
        ),
        None => eprintln!(
            "berth: runtime docker (containers on the local Docker engine, ports on 127.0.0.1, {host_access}, {kept})"
        ),
    }
    if let Some((listener, _)) = tmds {
        let router = crate::tmds::router(cluster.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "task metadata endpoint stopped");
            }
        });
    }
    Ok(cluster)
}

/// `3h`, `1h30m`, `90s`: a duration as `--task-cleanup-wait` takes it (whole seconds).
fn humantime_short(d: std::time::Duration) -> String {
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    if out.is_empty() {
        out = format!("{}ms", d.as_millis());
    }
    out
}

/// SIGINT or SIGTERM.
async fn stop_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_instance_id_is_kept_in_the_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let a = instance_id(Some(dir.path())).unwrap();
        let b = instance_id(Some(dir.path())).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 16);
        let m = instance_id(None).unwrap();
        assert!(m.starts_with("mem-"));
        assert_ne!(m, instance_id(None).unwrap());
    }

    #[test]
    fn a_cleanup_wait_is_said_as_it_is_written() {
        use std::time::Duration;
        assert_eq!(humantime_short(Duration::from_secs(3 * 3600)), "3h");
        assert_eq!(humantime_short(Duration::from_secs(5400)), "1h30m");
        assert_eq!(humantime_short(Duration::from_secs(3661)), "1h1m1s");
        assert_eq!(humantime_short(Duration::from_secs(90)), "1m30s");
        assert_eq!(humantime_short(Duration::from_millis(250)), "250ms");
    }
}
