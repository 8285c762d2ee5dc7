use std::sync::Arc;
use std::time::Duration;

use berth_cluster::{ClockMode, Cluster, Config};
use berth_server::serve::{AppState, app};
use futures_util::StreamExt;
use serde_json::{Value, json};

/// A berth server on a free port of 127.0.0.1 (manual clock: only API calls change things).
async fn server() -> (String, Cluster) {
    let cluster = Cluster::open(Config {
        clock: ClockMode::Manual,
        ..Config::default()
    })
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let router = app(AppState::new(Arc::new(cluster.clone())));
    tokio::spawn(axum::serve(listener, router).into_future());
    (url, cluster)
}

/// One server-sent event.
#[derive(Debug)]
struct Sse {
    event: String,
    id: String,
    data: Value,
}

/// A minimal `text/event-stream` reader over reqwest's byte stream.
struct Stream {
    bytes: futures_util::stream::BoxStream<'static, reqwest::Result<Vec<u8>>>,
    buf: String,
}

impl Stream {
    async fn open(url: &str, last_event_id: Option<&str>) -> Stream {
        let mut req = reqwest::Client::new().get(format!("{url}/_berth/events"));
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        assert_eq!(resp.headers()["cache-control"], "no-cache");
        Stream {
            bytes: resp.bytes_stream().map(|r| r.map(|b| b.to_vec())).boxed(),
            buf: String::new(),
        }
    }

    /// The next event (comments skipped), failing after `within`.
    async fn next(&mut self, within: Duration) -> Sse {
        tokio::time::timeout(within, async {
            loop {
                if let Some(end) = self.buf.find("\n\n") {
                    let block: String = self.buf.drain(..end + 2).collect();
                    let (mut event, mut id, mut data) =
                        (String::new(), String::new(), String::new());
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("event:") {
                            event = v.trim().into();
                        } else if let Some(v) = line.strip_prefix("id:") {
                            id = v.trim().into();
                        } else if let Some(v) = line.strip_prefix("data:") {
                            data.push_str(v.trim());
                        }
                    }
                    if !event.is_empty() {
                        return Sse {
                            event,
                            id,
                            data: serde_json::from_str(&data).unwrap(),
                        };
                    }
                    continue;
                }
                let chunk = self.bytes.next().await.expect("stream ended").unwrap();
                self.buf.push_str(&String::from_utf8_lossy(&chunk));
            }
        })
        .await
        .expect("no event in time")
    }
}

async fn ecs(url: &str, action: &str, body: Value) -> Value {
    let resp = reqwest::Client::new()
        .post(format!("{url}/"))
        .header("content-type", "application/x-amz-json-1.1")
        .header(
            "x-amz-target",
            format!("AmazonEC2ContainerServiceV20141113.{action}"),
        )
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{action}");
    serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap()
}

fn taskdef(family: &str) -> Value {
    json!({"family": family, "containerDefinitions": [
        {"name": "app", "image": "nginx:1", "memory": 128, "essential": true}]})
}

const SECOND: Duration = Duration::from_secs(1);

#[tokio::test]
async fn hello_then_an_api_change_arrives_within_a_second() {
    let (url, cluster) = server().await;
    let mut s = Stream::open(&url, None).await;
    let hello = s.next(SECOND).await;
    let epoch = cluster.changes().epoch();
    let seq = cluster.changes().seq();
    assert_eq!(hello.event, "hello");
    assert_eq!(hello.data, json!({"epoch": epoch, "seq": seq}));
    assert_eq!(hello.id, format!("{epoch}-{seq}"));

    ecs(&url, "RegisterTaskDefinition", taskdef("web")).await;
    let e = s.next(SECOND).await;
    assert_eq!(e.event, "changes");
    assert_eq!(
        e.data,
        json!({"changes": [{"kind": "taskdef", "name": "web:1",
            "arn": "arn:aws:ecs:us-east-1:000000000000:task-definition/web:1"}]})
    );
    assert_eq!(e.id, format!("{epoch}-{}", seq + 1));

    // Through the dashboard's route too, with the cluster named.
    let resp = reqwest::Client::new()
        .post(format!("{url}/_berth/api"))
        .header(
            "x-amz-target",
            "AmazonEC2ContainerServiceV20141113.CreateService",
        )
        .body(json!({"serviceName": "svc", "taskDefinition": "web", "desiredCount": 1}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let e = s.next(SECOND).await;
    let list = e.data["changes"].as_array().unwrap();
    assert!(
        list.contains(
            &json!({"kind": "service", "cluster": "default", "name": "svc",
            "arn": "arn:aws:ecs:us-east-1:000000000000:service/default/svc"})
        ),
        "{list:?}"
    );
}

#[tokio::test]
async fn changes_are_coalesced_and_deduplicated() {
    use berth_cluster::changes::{Change, ChangeKind};
    let (url, cluster) = server().await;
    let feed = cluster.changes();
    let mut s = Stream::open(&url, None).await;
    assert_eq!(s.next(SECOND).await.event, "hello");
    // Four commits within microseconds, three of them about the same service.
    let svc = || Change::new(ChangeKind::Service, Some("default"), "web");
    feed.publish([Change::new(ChangeKind::Cluster, Some("default"), "default")]);
    for _ in 0..3 {
        feed.publish([svc()]);
    }
    let last = format!("{}-{}", feed.epoch(), feed.seq());
    let mut events = Vec::new();
    loop {
        let e = s.next(SECOND).await;
        assert_eq!(e.event, "changes");
        events.push(e.data["changes"].as_array().unwrap().clone());
        if e.id == last {
            break;
        }
    }
    assert!(
        events.len() <= 2,
        "at most one event per 100 ms: {events:?}"
    );
    for list in &events {
        let mut dedup = list.clone();
        dedup.dedup();
        assert_eq!(&dedup, list, "no duplicates within an event");
    }
    // Deduplicated within each event: the service once per event, whichever of the (at most
    // two) coalescing windows its three commits fell into under load.
    for list in &events {
        let services = list.iter().filter(|c| c["kind"] == "service").count();
        assert!(services <= 1, "{events:?}");
    }
    assert!(
        events.iter().flatten().any(|c| c["kind"] == "service"),
        "{events:?}"
    );
}

#[tokio::test]
async fn reconnecting_with_last_event_id_replays_what_was_missed() {
    let (url, cluster) = server().await;
    let mut s = Stream::open(&url, None).await;
    let hello = s.next(SECOND).await;
    drop(s);

    ecs(&url, "RegisterTaskDefinition", taskdef("a")).await;
    ecs(&url, "RegisterTaskDefinition", taskdef("b")).await;

    let mut s = Stream::open(&url, Some(&hello.id)).await;
    let replay = s.next(SECOND).await;
    assert_eq!(replay.event, "changes");
    let names: Vec<&str> = replay.data["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a:1", "b:1"]);
    let epoch = cluster.changes().epoch();
    let seq = cluster.changes().seq();
    assert_eq!(replay.id, format!("{epoch}-{seq}"));
    let hello = s.next(SECOND).await;
    assert_eq!(
        (hello.event.as_str(), &hello.data),
        ("hello", &json!({"epoch": epoch, "seq": seq}))
    );

    // Up to date: nothing to replay, just hello.
    let mut s = Stream::open(&url, Some(&hello.id)).await;
    assert_eq!(s.next(SECOND).await.event, "hello");
}

#[tokio::test]
async fn a_foreign_epoch_an_unreadable_id_or_a_reset_get_resync() {
    let (url, cluster) = server().await;
    let epoch = cluster.changes().epoch();
    for id in ["1-5".to_string(), "junk".into(), format!("{epoch}-999999")] {
        let mut s = Stream::open(&url, Some(&id)).await;
        let first = s.next(SECOND).await;
        assert_eq!(first.event, "resync", "{id}");
        assert_eq!(first.data["epoch"], json!(epoch));
        assert_eq!(s.next(SECOND).await.event, "hello", "{id}");
    }

    let mut s = Stream::open(&url, None).await;
    let hello = s.next(SECOND).await;
    let resp = reqwest::Client::new()
        .post(format!("{url}/_berth/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let e = s.next(SECOND).await;
    assert_eq!(e.event, "resync");
    assert_eq!(e.data["reason"], "reset");

    // An id from before the reset cannot be replayed.
    let mut s = Stream::open(&url, Some(&hello.id)).await;
    assert_eq!(s.next(SECOND).await.event, "resync");
    assert_eq!(s.next(SECOND).await.event, "hello");
}

#[tokio::test]
async fn a_client_that_falls_behind_gets_resync() {
    use berth_cluster::changes::{Change, ChangeKind};
    let (url, cluster) = server().await;
    let feed = cluster.changes();
    let mut s = Stream::open(&url, None).await;
    assert_eq!(s.next(SECOND).await.event, "hello");
    // The test runtime has one thread: the stream cannot run while this loop publishes far
    // more commits than a subscriber may fall behind.
    for i in 0..3000 {
        feed.publish([Change::new(
            ChangeKind::Task,
            Some("default"),
            format!("t{i}"),
        )]);
    }
    let e = s.next(SECOND).await;
    assert_eq!(e.event, "resync");
    assert_eq!(e.data["reason"], "lagged");
    assert_eq!(e.id, format!("{}-{}", feed.epoch(), feed.seq()));
    // Live again afterwards.
    feed.publish([Change::new(ChangeKind::Task, Some("default"), "after")]);
    loop {
        let e = s.next(SECOND).await;
        let names = e.data["changes"].as_array().cloned().unwrap_or_default();
        if names.iter().any(|c| c["name"] == "after") {
            break;
        }
    }
}
