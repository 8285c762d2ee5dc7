//! The Docker runtime against the real engine, with the test image `berth-test/busybox:latest`
//! (`scripts/docker-setup.sh` builds it). Without an engine these tests say so and pass, unless
//! `CI` is set: there the engine is part of the machine and its absence fails them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_cluster::docker::DockerRuntime;
use berth_cluster::runtime::Runtime;
use berth_cluster::{Cluster, Config};
use serde_json::{Value, json};

use crate::support::call;

const IMAGE: &str = "berth-test/busybox:latest";

async fn docker_cluster(dir: &std::path::Path, instance: &str) -> Option<Cluster> {
    docker_cluster_with(dir, instance, None)
        .await
        .map(|(c, _)| c)
}

/// The cluster and its background reconciler (abort it to let the cluster go); a stopped
/// task's containers stay `cleanup_wait` (the runtime's default when `None`).
async fn docker_cluster_with(
    dir: &std::path::Path,
    instance: &str,
    cleanup_wait: Option<Duration>,
) -> Option<(Cluster, tokio::task::JoinHandle<()>)> {
    let rt = match DockerRuntime::connect(instance).await {
        Ok(rt) => rt,
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI needs a Docker engine: {e}"
            );
            eprintln!("skipped: no Docker engine ({e})");
            return None;
        }
    };
    if let Some(wait) = cleanup_wait {
        rt.set_cleanup_wait(wait);
    }
    let rt: Arc<dyn Runtime> = Arc::new(rt);
    let c = Cluster::open_with_runtime(
        Config {
            data_dir: Some(dir.into()),
            ..Config::default()
        },
        rt,
    )
    .await
    .unwrap();
    let reconciler = c.spawn_reconciler().unwrap();
    Some((c, reconciler))
}

fn task(c: &Cluster, arn: &str) -> Value {
    call(c, "DescribeTasks", json!({"tasks": [arn]}))["tasks"][0].clone()
}

async fn wait_for(c: &Cluster, arn: &str, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let t = task(c, arn);
        if f(&t) {
            return t;
        }
        assert!(Instant::now() < deadline, "{what}: {t:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn instance_id(tag: &str) -> String {
    format!("test-{tag}-{}", std::process::id())
}

/// Removes the test's containers when dropped, also when an assertion failed.
struct Cleanup(String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        cleanup(&self.0);
    }
}

fn cleanup(instance: &str) {
    let ids = containers(&format!("label=dev.berth.instance={instance}"), true);
    if !ids.is_empty() {
        let _ = std::process::Command::new("docker")
            .args(["rm", "-f"])
            .args(&ids)
            .output();
    }
}

/// Ids of the containers matching `filter` (`label=…`): running ones, or all with `all`.
fn containers(filter: &str, all: bool) -> Vec<String> {
    let flags = if all { "-aq" } else { "-q" };
    std::process::Command::new("docker")
        .args(["ps", flags, "--filter", filter])
        .output()
        .map(|out| {
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_httpd_task_answers_on_its_reported_binding_and_an_exit_code_stops_its_task() {
    let dir = tempfile::tempdir().unwrap();
    let instance = instance_id("httpd");
    let _cleanup = Cleanup(instance.clone());
    let Some(c) = docker_cluster(dir.path(), &instance).await else {
        return;
    };
    call(
        &c,
        "RegisterTaskDefinition",
        json!({"family": "web", "containerDefinitions": [{
            "name": "httpd", "image": IMAGE, "memory": 64,
            "command": ["httpd", "-f", "-p", "8080", "-h", "/www"], "stopTimeout": 2,
            "portMappings": [{"containerPort": 8080}]
        }]}),
    );
    call(
        &c,
        "RegisterTaskDefinition",
        json!({"family": "exit3", "containerDefinitions": [{
            "name": "main", "image": IMAGE, "memory": 64,
            "command": ["sh", "-c", "echo bye; exit 3"]
        }]}),
    );
    let web = call(&c, "RunTask", json!({"taskDefinition": "web"}))["tasks"][0]["taskArn"]
        .as_str()
        .unwrap()
        .to_string();
    let exit = call(&c, "RunTask", json!({"taskDefinition": "exit3"}))["tasks"][0]["taskArn"]
        .as_str()
        .unwrap()
        .to_string();
    let t = wait_for(&c, &web, "web RUNNING", |t| t["lastStatus"] == "RUNNING").await;
    let b = &t["containers"][0]["networkBindings"][0];
    assert_eq!(b["bindIP"], "127.0.0.1", "{t:#}");
    assert_eq!(b["containerPort"], 8080);
    let port = b["hostPort"].as_i64().unwrap();
    let body = http_get(port as u16).await;
    assert!(body.contains("hello"), "{body}");
    assert!(t["containers"][0]["runtimeId"].as_str().unwrap().len() >= 12);

    let t = wait_for(&c, &exit, "exit3 STOPPED", |t| t["lastStatus"] == "STOPPED").await;
    assert_eq!(t["containers"][0]["exitCode"], 3, "{t:#}");
    assert_eq!(t["stopCode"], "EssentialContainerExited");
    assert_eq!(t["stoppedReason"], "Essential container in task exited");

    call(&c, "StopTask", json!({"task": web}));
    let t = wait_for(&c, &web, "web STOPPED", |t| t["lastStatus"] == "STOPPED").await;
    assert_eq!(t["stopCode"], "UserInitiated", "{t:#}");
}

async fn http_get(port: u16) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
                .await
                .unwrap();
            let mut out = String::new();
            let _ = s.read_to_string(&mut out).await;
            if !out.is_empty() {
                return out;
            }
        }
        assert!(
            Instant::now() < deadline,
            "nothing answers on 127.0.0.1:{port}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn run(c: &Cluster, td: &str) -> String {
    call(c, "RunTask", json!({"taskDefinition": td}))["tasks"][0]["taskArn"]
        .as_str()
        .unwrap()
        .to_string()
}

fn container<'a>(t: &'a Value, name: &str) -> &'a Value {
    t["containers"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no container {name}: {t:#}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn awsvpc_containers_share_localhost_and_depends_on_orders_starts() {
    let dir = tempfile::tempdir().unwrap();
    let instance = instance_id("awsvpc");
    let _cleanup = Cleanup(instance.clone());
    let Some(c) = docker_cluster(dir.path(), &instance).await else {
        return;
    };
    call(
        &c,
        "RegisterTaskDefinition",
        json!({"family": "pair", "networkMode": "awsvpc", "containerDefinitions": [
            {"name": "init", "image": IMAGE, "memory": 32, "essential": false,
             "command": ["sh", "-c", "sleep 2; exit 0"]},
            {"name": "web", "image": IMAGE, "memory": 64, "stopTimeout": 2,
             "command": ["httpd", "-f", "-p", "8080", "-h", "/www"],
             "portMappings": [{"containerPort": 8080}],
             "dependsOn": [{"containerName": "init", "condition": "SUCCESS"}]},
            {"name": "client", "image": IMAGE, "memory": 32, "essential": false,
             "command": ["sh", "-c", "sleep 1; wget -qO- http://127.0.0.1:8080/ | grep -q hello"],
             "dependsOn": [{"containerName": "web", "condition": "START"}]}
        ]}),
    );
    let arn = call(
        &c,
        "RunTask",
        json!({"taskDefinition": "pair", "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}}}),
    )["tasks"][0]["taskArn"]
        .as_str()
        .unwrap()
        .to_string();
    // While init runs (web waits for it) the task is PENDING, and its ENI already has the
    // address, as ECS shows it on a PENDING task.
    let pending = wait_for(&c, &arn, "an address while PENDING", |t| {
        t["attachments"][0]["details"]
            .as_array()
            .is_some_and(|d| d.iter().any(|d| d["name"] == "privateIPv4Address"))
    })
    .await;
    assert_eq!(pending["lastStatus"], "PENDING", "{pending:#}");
    let t = wait_for(&c, &arn, "client done", |t| {
        t["containers"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["name"] == "client" && c["lastStatus"] == "STOPPED")
        })
    })
    .await;
    assert_eq!(container(&t, "init")["exitCode"], 0, "{t:#}");
    assert_eq!(
        container(&t, "client")["exitCode"],
        0,
        "client reached web on localhost: {t:#}"
    );
    assert_eq!(container(&t, "web")["lastStatus"], "RUNNING", "{t:#}");
    assert_eq!(t["lastStatus"], "RUNNING", "{t:#}");
    // The web container started only after init exited 0.
    let inspect = |id: &str, what: &str| inspect(id, what).unwrap_or_default();
    let init_finished = inspect(
        container(&t, "init")["runtimeId"].as_str().unwrap(),
        "{{.State.FinishedAt}}",
    );
    let web_started = inspect(
        container(&t, "web")["runtimeId"].as_str().unwrap(),
        "{{.State.StartedAt}}",
    );
    assert!(
        web_started > init_finished,
        "web {web_started} before init ended {init_finished}"
    );
    // Its port is published (by the pause container) on 127.0.0.1.
    let b = &container(&t, "web")["networkBindings"][0];
    assert_eq!(b["bindIP"], "127.0.0.1");
    let body = http_get(b["hostPort"].as_i64().unwrap() as u16).await;
    assert!(body.contains("hello"), "{body}");
    // The task's ENI carries the address of its network namespace: the pause container's,
    // as the engine reports it (the test never connects to it).
    let mode = inspect(
        container(&t, "web")["runtimeId"].as_str().unwrap(),
        "{{.HostConfig.NetworkMode}}",
    );
    let pause = mode
        .strip_prefix("container:")
        .expect("web joins the pause container");
    let ip = inspect(pause, "{{.NetworkSettings.Networks.bridge.IPAddress}}");
    let mac = inspect(pause, "{{.NetworkSettings.Networks.bridge.MacAddress}}");
    assert!(ip.contains('.'), "pause address {ip:?}");
    let eni = &t["attachments"][0];
    assert_eq!(eni["type"], "ElasticNetworkInterface", "{t:#}");
    assert_eq!(eni["status"], "ATTACHED", "{t:#}");
    assert_eq!(
        pending["attachments"][0]["details"], eni["details"],
        "{pending:#}"
    );
    assert_eq!(
        eni["details"],
        json!([
            {"name": "subnetId", "value": "subnet-1"},
            {"name": "macAddress", "value": mac},
            {"name": "privateDnsName", "value": format!("ip-{}.ec2.internal", ip.replace('.', "-"))},
            {"name": "privateIPv4Address", "value": ip},
        ]),
        "{t:#}"
    );
    for name in ["init", "web", "client"] {
        assert_eq!(
            container(&t, name)["networkInterfaces"],
            json!([{"attachmentId": eni["id"], "privateIpv4Address": ip}]),
            "{name}: {t:#}"
        );
    }
    // The task metadata endpoint tells a container the same address.
    let id = arn.rsplit('/').next().unwrap();
    let token = berth_cluster::metadata::token(&c.config().metadata_key, id, 1);
    let md = c.task_metadata(&token).unwrap();
    assert_eq!(md.container["Networks"][0]["IPv4Addresses"], json!([ip]));
    assert_eq!(md.container["Networks"][0]["MACAddress"], mac.as_str());
    call(&c, "StopTask", json!({"task": arn}));
    let t = wait_for(&c, &arn, "STOPPED", |t| t["lastStatus"] == "STOPPED").await;
    assert_eq!(t["attachments"][0]["status"], "DELETED", "{t:#}");
    assert_eq!(t["attachments"][0]["details"][3]["value"], ip.as_str());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_image_fails_the_task_and_a_restart_re_adopts_running_containers() {
    let dir = tempfile::tempdir().unwrap();
    let instance = instance_id("adopt");
    let _cleanup = Cleanup(instance.clone());
    let Some((c, reconciler)) = docker_cluster_with(dir.path(), &instance, None).await else {
        return;
    };
    call(
        &c,
        "RegisterTaskDefinition",
        json!({"family": "nope", "containerDefinitions": [
            {"name": "app", "image": "berth-test/nope:1", "memory": 32}]}),
    );
    call(
        &c,
        "RegisterTaskDefinition",
        json!({"family": "sleeper", "containerDefinitions": [
            {"name": "app", "image": IMAGE, "memory": 32, "command": ["sleep", "600"], "stopTimeout": 1}]}),
    );
    let nope = run(&c, "nope");
    let t = wait_for(&c, &nope, "nope STOPPED", |t| t["lastStatus"] == "STOPPED").await;
    assert_eq!(t["stopCode"], "TaskFailedToStart", "{t:#}");
    let reason = t["containers"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("CannotPullContainerError: "), "{t:#}");

    let arn = run(&c, "sleeper");
    let t = wait_for(&c, &arn, "RUNNING", |t| t["lastStatus"] == "RUNNING").await;
    let id = t["containers"][0]["runtimeId"]
        .as_str()
        .unwrap()
        .to_string();
    // Berth dies: its reconciler stops and its state goes; the containers keep running.
    reconciler.abort();
    let _ = reconciler.await;
    drop(c);
    // A new Berth on the same data directory (the old one's drivers are gone with its runtime).
    let c = docker_cluster(dir.path(), &instance).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let t = task(&c, &arn);
    assert_eq!(t["lastStatus"], "RUNNING", "{t:#}");
    assert_eq!(t["containers"][0]["runtimeId"], id.as_str());
    assert_eq!(
        containers(&format!("label=dev.berth.instance={instance}"), false).len(),
        1
    );
    // The adopted task still stops.
    call(&c, "StopTask", json!({"task": arn}));
    let t = wait_for(&c, &arn, "STOPPED", |t| t["lastStatus"] == "STOPPED").await;
    assert_eq!(t["stopCode"], "UserInitiated");
}

/// `docker inspect -f FORMAT ID`, or `None` when the container does not exist.
fn inspect(id: &str, format: &str) -> Option<String> {
    let out = std::process::Command::new("docker")
        .args(["inspect", "-f", format, id])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_tasks_containers_stay_for_the_cleanup_wait_also_across_a_restart() {
    const WAIT: Duration = Duration::from_secs(8);
    let dir = tempfile::tempdir().unwrap();
    let instance = instance_id("cleanup");
    let _cleanup = Cleanup(instance.clone());
    let Some((c, reconciler)) = docker_cluster_with(dir.path(), &instance, Some(WAIT)).await else {
        return;
    };
    // awsvpc, so there is a pause container too, publishing a port.
    call(
        &c,
        "RegisterTaskDefinition",
        json!({"family": "crash", "networkMode": "awsvpc", "containerDefinitions": [{
            "name": "main", "image": IMAGE, "memory": 32,
            "command": ["sh", "-c", "echo about to fail; sleep 1; exit 3"],
            "portMappings": [{"containerPort": 8080}]
        }]}),
    );
    let run_crash = |c: &Cluster| {
        call(
            c,
            "RunTask",
            json!({"taskDefinition": "crash", "networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}}}),
        )["tasks"][0]["taskArn"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let arn = run_crash(&c);
    let t = wait_for(&c, &arn, "STOPPED", |t| t["lastStatus"] == "STOPPED").await;
    let stopped = Instant::now();
    assert_eq!(t["containers"][0]["exitCode"], 3, "{t:#}");
    let id = t["containers"][0]["runtimeId"]
        .as_str()
        .unwrap()
        .to_string();
    let port = t["containers"][0]["networkBindings"][0]["hostPort"]
        .as_i64()
        .unwrap() as u16;
    // Still there, exited with its code, its output readable, as the agent leaves it.
    assert_eq!(
        inspect(&id, "{{.State.Status}} {{.State.ExitCode}}").as_deref(),
        Some("exited 3")
    );
    let logs = std::process::Command::new("docker")
        .args(["logs", &id])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&logs.stdout).contains("about to fail"),
        "{logs:?}"
    );
    // Nothing of the task runs any more: the pause container is stopped and the port is free.
    let of_instance = format!("label=dev.berth.instance={instance}");
    assert_eq!(containers(&of_instance, false), Vec::<String>::new());
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("the task's host port is free");
    let of_task = format!(
        "label=dev.berth.task-id={}",
        arn.rsplit('/').next().unwrap()
    );
    assert_eq!(
        containers(&of_task, true).len(),
        2,
        "the container and its pause container are kept"
    );

    // Berth restarts before the wait is over: the new one keeps them for the rest of it.
    reconciler.abort();
    let _ = reconciler.await;
    drop(c);
    let (c, reconciler) = docker_cluster_with(dir.path(), &instance, Some(WAIT))
        .await
        .unwrap();
    assert!(
        inspect(&id, "{{.State.Status}}").is_some(),
        "removed too early"
    );
    let deadline = stopped + WAIT + Duration::from_secs(20);
    while inspect(&id, "{{.State.Status}}").is_some() {
        assert!(
            Instant::now() < deadline,
            "still there {:?} after it stopped",
            stopped.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // FinishedAt is the engine's clock, the test's `stopped` a poll later: a second of slack.
    assert!(
        stopped.elapsed() + Duration::from_secs(1) >= WAIT,
        "removed after {:?}, before the wait of {WAIT:?}",
        stopped.elapsed()
    );
    assert_eq!(
        containers(&of_task, true),
        Vec::<String>::new(),
        "the pause container went too"
    );

    // With no wait, they go as the task stops.
    reconciler.abort();
    let _ = reconciler.await;
    drop(c);
    let (c, _reconciler) = docker_cluster_with(dir.path(), &instance, Some(Duration::ZERO))
        .await
        .unwrap();
    let arn = run_crash(&c);
    let t = wait_for(&c, &arn, "STOPPED", |t| t["lastStatus"] == "STOPPED").await;
    let id = t["containers"][0]["runtimeId"]
        .as_str()
        .unwrap()
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(5);
    while inspect(&id, "{{.State.Status}}").is_some() {
        assert!(Instant::now() < deadline, "kept with no cleanup wait");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reset_removes_the_containers_and_the_fresh_tasks_never_see_the_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let instance = instance_id("reset");
    let _cleanup = Cleanup(instance.clone());
    let Some(c) = docker_cluster(dir.path(), &instance).await else {
        return;
    };
    let td = json!({"family": "sleeper", "containerDefinitions": [
        {"name": "app", "image": IMAGE, "memory": 32, "command": ["sleep", "600"], "stopTimeout": 1}]});
    call(&c, "RegisterTaskDefinition", td.clone());
    let before = run(&c, "sleeper");
    let t = wait_for(&c, &before, "RUNNING", |t| t["lastStatus"] == "RUNNING").await;
    let old_id = t["containers"][0]["runtimeId"]
        .as_str()
        .unwrap()
        .to_string();

    c.reset().await.unwrap();
    // Nothing of the forgotten task is left on the engine, running or kept.
    let of_instance = format!("label=dev.berth.instance={instance}");
    assert_eq!(containers(&of_instance, true), Vec::<String>::new());

    // The fresh cluster starts tasks as before, and the old task's driver, stopping, reaches
    // none of them (the ids' seeded part repeats after a reset; with a manual clock, whose
    // time resets too, the whole id does).
    call(&c, "RegisterTaskDefinition", td);
    let after = run(&c, "sleeper");
    assert_eq!(after[..after.len() - 12], before[..before.len() - 12]);
    let t = wait_for(&c, &after, "RUNNING", |t| t["lastStatus"] == "RUNNING").await;
    let new_id = t["containers"][0]["runtimeId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new_id, old_id);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let t = task(&c, &after);
    assert_eq!(t["lastStatus"], "RUNNING", "{t:#}");
    assert_eq!(
        containers(&of_instance, false),
        vec![new_id[..12].to_string()]
    );
}
