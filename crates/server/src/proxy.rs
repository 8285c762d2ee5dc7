//! The backend of upstream mode: answers the server's [`Backend`] questions from the upstream
//! proxy ([`crate::upstream`]) and publishes what the poller ([`crate::poll`]) finds there into
//! a change feed of its own, so the dashboard's change stream works unchanged, labelled as
//! polled.
//!
//! It does not forward the AWS endpoint's calls: `serve.rs` sends those to
//! [`Upstream::forward`] byte for byte. This backend only serves what needs JSON (the poller,
//! `GET /_berth/info`).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_cluster::Cluster;
use berth_cluster::changes::ChangeFeed;
use berth_core::protocol::{AwsError, ErrorCode};
use serde_json::Value;
use tokio::sync::watch;

use crate::catalog::{self, Service};
use crate::poll::{PollConfig, PollStatus, Poller, Source};
use crate::serve::{Backend, BackendInfo, BoxFuture};
use crate::upstream::Upstream;

/// ECS actions, as the poller calls them, sent to the upstream.
struct UpstreamSource(Arc<Upstream>);

fn ecs_call<'a>(
    up: &'a Upstream,
    action: &str,
    body: Value,
) -> BoxFuture<'a, Result<Value, AwsError>> {
    let op = catalog::find(Service::Ecs, action);
    let action = action.to_string();
    Box::pin(async move {
        let op = op.ok_or_else(|| {
            AwsError::new(
                ErrorCode::UnknownOperationException,
                format!("Unknown ECS operation {action}."),
            )
        })?;
        up.call_json(op, body).await
    })
}

impl Source for UpstreamSource {
    fn call(&self, action: &str, body: Value) -> BoxFuture<'_, Result<Value, AwsError>> {
        ecs_call(&self.0, action, body)
    }
}

/// Upstream mode's backend.
pub struct ProxyBackend {
    upstream: Arc<Upstream>,
    feed: ChangeFeed,
    poller: Poller,
    read_only: bool,
    interval: Duration,
}

impl ProxyBackend {
    /// Starts polling `upstream` every `interval` (with backoff on errors).
    pub fn spawn(upstream: Arc<Upstream>, interval: Duration, read_only: bool) -> ProxyBackend {
        let feed = ChangeFeed::new(4096);
        let cfg = PollConfig {
            interval,
            ..PollConfig::default()
        };
        let poller = Poller::spawn(
            Arc::new(UpstreamSource(upstream.clone())),
            feed.clone(),
            cfg,
        );
        ProxyBackend {
            upstream,
            feed,
            poller,
            read_only,
            interval,
        }
    }
}

impl Backend for ProxyBackend {
    fn call(&self, action: String, body: Vec<u8>) -> BoxFuture<'_, Result<Value, AwsError>> {
        let body = if body.iter().all(u8::is_ascii_whitespace) {
            Ok(Value::Object(Default::default()))
        } else {
            serde_json::from_slice(&body)
                .map_err(|e| AwsError::new(ErrorCode::SerializationException, e.to_string()))
        };
        match body {
            Ok(b) => ecs_call(&self.upstream, &action, b),
            Err(e) => Box::pin(async move { Err(e) }),
        }
    }

    fn cluster(&self) -> Option<&Cluster> {
        None
    }

    fn changes(&self) -> Option<ChangeFeed> {
        Some(self.feed.clone())
    }

    fn poll_status(&self) -> Option<watch::Receiver<PollStatus>> {
        Some(self.poller.status())
    }

    fn info(&self) -> BackendInfo {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        BackendInfo {
            backend: self.upstream.kind().into(),
            runtime: "upstream".into(),
            region: self.upstream.region().to_string(),
            account: String::new(),
            clock: "system".into(),
            read_only: self.read_only,
            now,
            upstream: Some(crate::serve::UpstreamInfo {
                url: self.upstream.endpoint_label(),
                region: self.upstream.region().to_string(),
                polled: true,
                interval_seconds: self.interval.as_secs_f64(),
            }),
        }
    }
}
