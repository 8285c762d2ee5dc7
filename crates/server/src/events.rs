//! `GET /_berth/events`: the backend's change feed as server-sent events, one stream per tab.
//!
//! Every event has the id `<epoch>-<seq>` of the feed ([`berth_cluster::changes`]), which the
//! browser's `EventSource` sends back as `Last-Event-ID` when it reconnects. On connect:
//! - `Last-Event-ID` of this epoch whose successors the feed still holds: those changes are
//!   replayed first (one `changes` event);
//! - `Last-Event-ID` of another epoch (a restarted server), too old, or unreadable: a `resync`
//!   event first, so the client refetches what it shows;
//! - then always `hello` `{"epoch","seq"}`.
//!
//! Then live: changes are gathered into one `changes` event `{"changes":[…]}` at most every
//! [`COALESCE`] (duplicates within it dropped), with the id of the last change in it. A client
//! that falls too far behind, and every client when the cluster is reset, gets `resync`.
//! A comment every [`KEEP_ALIVE`] keeps proxies from closing an idle stream.
//!
//! In upstream mode the feed is filled by polling ([`crate::poll`]); each turn of the poller's
//! health is sent as an `upstream` event `{"ok": false, "message", "lastOkAt", "at"}` (and
//! `{"ok": true, …}` on recovery), and a stream that opens while the upstream fails gets one at
//! once, after `hello`.
//!
//! It deliberately sends names, not contents (see the feed's docs), and keeps no state per
//! client beyond the open stream: a reconnect is all a client needs to catch up.

use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use berth_cluster::changes::{Change, ChangeFeed, Notice, Sequenced};
use berth_core::protocol::{AwsError, ErrorCode};
use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;

use crate::poll::PollStatus;
use tokio::time::Instant;

use crate::serve::{ApiError, AppState};

/// The shortest time between two `changes` events of one stream.
pub const COALESCE: Duration = Duration::from_millis(100);

/// How often an idle stream gets a keep-alive comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Parses an event id `<epoch>-<seq>`.
fn parse_id(id: &str) -> Option<(u64, u64)> {
    let (e, s) = id.trim().split_once('-')?;
    Some((e.parse().ok()?, s.parse().ok()?))
}

fn id(epoch: u64, seq: u64) -> String {
    format!("{epoch}-{seq}")
}

fn hello(epoch: u64, seq: u64) -> Event {
    Event::default()
        .event("hello")
        .id(id(epoch, seq))
        .data(json!({"epoch": epoch, "seq": seq}).to_string())
}

fn resync(epoch: u64, seq: u64, reason: &str) -> Event {
    Event::default()
        .event("resync")
        .id(id(epoch, seq))
        .data(json!({"epoch": epoch, "seq": seq, "reason": reason}).to_string())
}

/// One `changes` event for `batch` (not empty), duplicates dropped, first occurrence kept.
fn changes(epoch: u64, batch: &[Sequenced]) -> Event {
    let last = batch.last().map_or(0, |s| s.seq);
    let mut seen = HashSet::new();
    let list: Vec<&Change> = batch
        .iter()
        .map(|s| &s.change)
        .filter(|c| seen.insert(*c))
        .collect();
    Event::default()
        .event("changes")
        .id(id(epoch, last))
        .data(json!({ "changes": list }).to_string())
}

/// One client's stream.
struct Conn {
    feed: ChangeFeed,
    receiver: broadcast::Receiver<Notice>,
    /// Events ready to send.
    queue: VecDeque<Event>,
    /// Changes waiting for the next `changes` event.
    pending: Vec<Sequenced>,
    /// Changes at or below this were sent (or replaced by a resync).
    sent: u64,
    /// Not before this may the next `changes` event go.
    next_flush: Instant,
    /// Upstream mode: how polling goes; each turn is sent as an `upstream` event.
    status: Option<watch::Receiver<PollStatus>>,
}

/// An `upstream` event: `{"ok", "message"?, "lastOkAt", "at"}`.
fn upstream(status: &PollStatus) -> Event {
    Event::default()
        .event("upstream")
        .data(serde_json::to_string(status).unwrap_or_default())
}

impl Conn {
    /// The next event, or `None` when the feed is gone.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Some(e);
            }
            let epoch = self.feed.epoch();
            tokio::select! {
                notice = self.receiver.recv() => match notice {
                    Ok(Notice::Changes(batch)) => {
                        let fresh = batch.iter().filter(|s| s.seq > self.sent).cloned();
                        self.pending.extend(fresh);
                    }
                    Ok(Notice::Reset { seq }) => {
                        self.pending.clear();
                        self.sent = seq;
                        self.queue.push_back(resync(epoch, seq, "reset"));
                    }
                    Err(RecvError::Lagged(_)) => {
                        self.pending.clear();
                        let seq = self.feed.seq();
                        self.sent = seq;
                        self.queue.push_back(resync(epoch, seq, "lagged"));
                    }
                    Err(RecvError::Closed) => return None,
                },
                changed = async {
                    match self.status.as_mut() {
                        Some(rx) => rx.changed().await.is_ok(),
                        None => std::future::pending().await,
                    }
                } => {
                    match (changed, self.status.as_mut()) {
                        (true, Some(rx)) => {
                            let st = rx.borrow_and_update().clone();
                            self.queue.push_back(upstream(&st));
                        }
                        _ => self.status = None,
                    }
                }
                () = tokio::time::sleep_until(self.next_flush), if !self.pending.is_empty() => {
                    let batch = std::mem::take(&mut self.pending);
                    self.sent = batch.last().map_or(self.sent, |s| s.seq);
                    self.next_flush = Instant::now() + COALESCE;
                    self.queue.push_back(changes(epoch, &batch));
                }
            }
        }
    }
}

/// `GET /_berth/events`.
pub async fn events(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(feed) = state.backend.changes() else {
        return ApiError(AwsError::new(
            ErrorCode::UnsupportedFeatureException,
            "This backend does not publish changes.",
        ))
        .into_response();
    };
    let epoch = feed.epoch();
    let sub = feed.subscribe();
    let mut queue = VecDeque::new();
    let last = headers
        .get("last-event-id")
        .map(|v| v.to_str().ok().and_then(parse_id));
    match last {
        None => {}
        Some(Some((e, seq))) if e == epoch => match feed.since(seq) {
            Ok(mut missed) => {
                // Later ones arrive through the subscription.
                missed.retain(|s| s.seq <= sub.seq);
                if !missed.is_empty() {
                    queue.push_back(changes(epoch, &missed));
                }
            }
            Err(_) => queue.push_back(resync(epoch, sub.seq, "too-old")),
        },
        Some(_) => queue.push_back(resync(epoch, sub.seq, "epoch")),
    }
    queue.push_back(hello(epoch, sub.seq));
    let mut status = state.backend.poll_status();
    if let Some(rx) = status.as_mut() {
        let st = rx.borrow_and_update().clone();
        if !st.ok {
            queue.push_back(upstream(&st));
        }
    }
    let conn = Conn {
        status,
        feed,
        receiver: sub.receiver,
        queue,
        pending: Vec::new(),
        sent: sub.seq,
        next_flush: Instant::now(),
    };
    let stream = futures_util::stream::unfold(conn, |mut c| async move {
        c.next().await.map(|e| (Ok::<_, Infallible>(e), c))
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_round_trip_and_junk_is_refused() {
        assert_eq!(
            parse_id(&id(1_700_000_000_000_000, 42)),
            Some((1_700_000_000_000_000, 42))
        );
        for bad in ["", "12", "a-1", "1-b", "1-2-3", "-1"] {
            assert_eq!(parse_id(bad), None, "{bad}");
        }
    }
}
