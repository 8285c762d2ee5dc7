use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use berth_cluster::{ClockMode, Cluster, Config};
use berth_server::serve::{AppState, app};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const TARGET: &str = "AmazonEC2ContainerServiceV20141113.";

async fn router() -> axum::Router {
    let cluster = Cluster::open(Config {
        clock: ClockMode::Manual,
        ..Config::default()
    })
    .await
    .unwrap();
    app(AppState::new(Arc::new(cluster)))
}

async fn send(
    app: &axum::Router,
    target: Option<&str>,
    body: impl Into<Body>,
) -> (StatusCode, Value) {
    let mut req = Request::post("/")
        .header("content-type", "application/x-amz-json-1.1")
        .header("authorization", "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/ecs/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=00")
        .header("x-amz-date", "20260101T000000Z");
    if let Some(t) = target {
        req = req.header("x-amz-target", t);
    }
    let resp = app
        .clone()
        .oneshot(req.body(body.into()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn action(app: &axum::Router, name: &str, body: Value) -> (StatusCode, Value) {
    send(app, Some(&format!("{TARGET}{name}")), body.to_string()).await
}

#[tokio::test]
async fn signed_requests_work_in_process() {
    let app = router().await;
    let (s, v) = action(&app, "ListClusters", json!({})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v["clusterArns"][0],
        "arn:aws:ecs:us-east-1:000000000000:cluster/default"
    );
    let (s, v) = action(&app, "DescribeClusters", json!({"clusters": ["nope"]})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["failures"][0]["reason"], "MISSING");
    let (s, v) = action(&app, "ListTasks", json!({"cluster": "nope"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        v,
        json!({"__type": "ClusterNotFoundException", "message": "Cluster not found."})
    );
}

#[tokio::test]
async fn malformed_requests_get_aws_shaped_4xx() {
    let app = router().await;
    let (s, v) = send(&app, Some(&format!("{TARGET}ListClusters")), "{not json").await;
    assert_eq!(
        (s, v["__type"].as_str()),
        (StatusCode::BAD_REQUEST, Some("SerializationException"))
    );
    let (s, v) = action(&app, "Frobnicate", json!({})).await;
    assert_eq!(
        (s, v["__type"].as_str()),
        (StatusCode::BAD_REQUEST, Some("UnknownOperationException"))
    );
    let (s, v) = send(&app, None, "{}").await;
    assert_eq!(
        (s, v["__type"].as_str()),
        (StatusCode::BAD_REQUEST, Some("UnknownOperationException"))
    );
    let (s, v) = action(&app, "RunTask", json!({"taskDefinition": 7, "count": "x"})).await;
    assert_eq!(
        (s, v["__type"].as_str()),
        (StatusCode::BAD_REQUEST, Some("SerializationException"))
    );
    let (s, v) = action(&app, "ListClusters", json!({"maxResults": 1000})).await;
    assert_eq!(
        (s, v["__type"].as_str()),
        (StatusCode::BAD_REQUEST, Some("InvalidParameterException"))
    );
    let big = format!("{{\"family\": \"{}\"}}", "a".repeat(2 * 1024 * 1024));
    let (s, v) = send(&app, Some(&format!("{TARGET}RegisterTaskDefinition")), big).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(v["__type"], "RequestEntityTooLargeException");
    let (s, v) = action(&app, "ExecuteCommand", json!({})).await;
    assert_eq!(
        (s, v["__type"].as_str()),
        (StatusCode::BAD_REQUEST, Some("UnsupportedFeatureException"))
    );
    assert!(v["message"].as_str().unwrap().contains("ExecuteCommand"));
}

#[tokio::test]
async fn index_health_and_test_control() {
    let app = router().await;
    let resp = app
        .clone()
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = app
        .clone()
        .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    action(&app, "RegisterTaskDefinition", json!({"family": "w", "containerDefinitions": [{"name": "a", "image": "x:1", "memory": 64}]})).await;
    let (_, r) = action(&app, "RunTask", json!({"taskDefinition": "w"})).await;
    let arn = r["tasks"][0]["taskArn"].clone();
    let ctl = |path: &str, body: Value| {
        Request::post(path)
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let resp = app
        .clone()
        .oneshot(ctl("/_berth/advance", json!({"seconds": 5})))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (_, d) = action(&app, "DescribeTasks", json!({"tasks": [arn]})).await;
    assert_eq!(d["tasks"][0]["lastStatus"], "RUNNING");
    let resp = app
        .clone()
        .oneshot(ctl("/_berth/crash", json!({"task": arn, "exitCode": 2})))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    app.clone()
        .oneshot(ctl("/_berth/advance", json!({"seconds": 5})))
        .await
        .unwrap();
    let (_, d) = action(&app, "DescribeTasks", json!({"tasks": [arn]})).await;
    assert_eq!(d["tasks"][0]["containers"][0]["exitCode"], 2);
    let resp = app
        .clone()
        .oneshot(ctl("/_berth/reset", json!({})))
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (_, l) = action(&app, "ListTaskDefinitions", json!({})).await;
    assert_eq!(l["taskDefinitionArns"], json!([]));
}

/// A minimal HTTP/1.1 client over a TCP socket, so no client crate is needed.
fn post(port: u16, target: &str, body: &str) -> std::io::Result<(u16, Value)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    write!(
        s,
        "POST / HTTP/1.1\r\nhost: 127.0.0.1\r\nx-amz-target: {TARGET}{target}\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let status = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map(|x| x.1).unwrap_or_default();
    Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

#[tokio::test]
async fn over_a_real_socket() {
    let cluster = Cluster::open(Config {
        clock: ClockMode::Manual,
        ..Config::default()
    })
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(axum::serve(listener, app(AppState::new(Arc::new(cluster)))).into_future());
    let (s, v) = tokio::task::spawn_blocking(move || post(port, "ListClusters", "{}"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(s, 200);
    assert_eq!(v["clusterArns"].as_array().unwrap().len(), 1);
}

struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(dir: &std::path::Path, port: u16) -> Server {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .env("BERTH_RUNTIME", "sim")
        .args(["serve", "--port", &port.to_string(), "--data-dir"])
        .arg(dir)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Dropping the guard kills and waits for the child on every path.
    let server = Server(child);
    for _ in 0..200 {
        if post(port, "ListClusters", "{}").is_ok_and(|(s, _)| s == 200) {
            return server;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("berth serve did not become ready");
}

#[test]
fn kill_9_during_concurrent_writes_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = start(dir.path(), port);
    let acked = Arc::new(std::sync::Mutex::new(Vec::<(String, Value)>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let acked = acked.clone();
        let stop = stop.clone();
        writers.push(std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                i += 1;
                let family = format!("fam{}", w % 2);
                let td = json!({"family": family, "containerDefinitions": [{"name": "a", "image": format!("x:{i}"), "memory": 8}]});
                let Ok((200, v)) = post(port, "RegisterTaskDefinition", &td.to_string()) else { break };
                acked.lock().unwrap().push(("td".into(), v["taskDefinition"]["taskDefinitionArn"].clone()));
                let svc = json!({"serviceName": format!("s{w}-{i}"), "taskDefinition": family, "desiredCount": 1});
                let Ok((200, v)) = post(port, "CreateService", &svc.to_string()) else { break };
                acked.lock().unwrap().push(("svc".into(), v["service"]["serviceName"].clone()));
                let Ok((200, v)) = post(port, "RunTask", &json!({"taskDefinition": family}).to_string()) else { break };
                if let Some(t) = v["tasks"][0]["taskArn"].as_str() {
                    acked.lock().unwrap().push(("task".into(), json!(t)));
                }
            }
        }));
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // SIGKILL while the writers are still writing.
    server.0.kill().unwrap();
    server.0.wait().unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for w in writers {
        w.join().unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 3,
        "the writers got too little done: {}",
        acked.len()
    );
    let _server = start(dir.path(), port);
    for fam in ["fam0", "fam1"] {
        let (_, l) = post(
            port,
            "ListTaskDefinitions",
            &json!({"familyPrefix": fam, "maxResults": 100}).to_string(),
        )
        .unwrap();
        let revs: Vec<u64> = l["taskDefinitionArns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                a.as_str()
                    .unwrap()
                    .rsplit(':')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        assert_eq!(
            revs,
            (1..=revs.len() as u64).collect::<Vec<_>>(),
            "revisions of {fam} are contiguous"
        );
    }
    for (kind, v) in &acked {
        match kind.as_str() {
            "td" => {
                let (s, _) = post(
                    port,
                    "DescribeTaskDefinition",
                    &json!({"taskDefinition": v}).to_string(),
                )
                .unwrap();
                assert_eq!(s, 200, "{v}");
            }
            "svc" => {
                let (_, d) = post(
                    port,
                    "DescribeServices",
                    &json!({"services": [v]}).to_string(),
                )
                .unwrap();
                assert_eq!(d["services"][0]["serviceName"], *v);
            }
            _ => {
                let (_, d) =
                    post(port, "DescribeTasks", &json!({"tasks": [v]}).to_string()).unwrap();
                assert_eq!(d["tasks"][0]["taskArn"], *v);
            }
        }
    }
}

#[test]
fn a_log_that_is_not_a_terminal_gets_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let log_path = dir.path().join("berth.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .env("BERTH_RUNTIME", "sim")
        .env_remove("NO_COLOR")
        .env("RUST_LOG", "info")
        .args(["serve", "--port", &port.to_string(), "--data-dir"])
        .arg(dir.path().join("data"))
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let server = Server(child);
    for _ in 0..200 {
        if post(port, "ListClusters", "{}").is_ok_and(|(s, _)| s == 200) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    drop(server);
    let text = std::fs::read_to_string(&log_path).unwrap();
    assert!(text.contains("berth serve: ready"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "escape codes in a log file: {text:?}"
    );
}
