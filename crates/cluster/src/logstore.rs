//! CloudWatch Logs state of the local cluster: log groups, streams and their events — where
//! the `awslogs` driver of simulated tasks writes.
//!
//! **Durable and bounded.** Groups (`loggroup/<name>`) and streams (`logstream/<group>:<stream>`,
//! a `:` never appears in a group name) are records in the same redb table as the rest of the
//! cluster, so the logs of a task are still there after a restart, like the task itself. Each
//! stream keeps its newest [`MAX_EVENTS_PER_STREAM`] events and each group its
//! [`MAX_STREAMS_PER_GROUP`] most recently written streams; an append rewrites the stream's
//! record, which is cheap at the volumes the simulated runtime writes (a few lines per task).

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

/// Events kept per stream (oldest dropped first).
pub const MAX_EVENTS_PER_STREAM: usize = 1000;
/// Streams kept per group (the least recently written dropped first).
pub const MAX_STREAMS_PER_GROUP: usize = 2000;

/// Every log group, by name.
#[derive(Debug, Clone, Default)]
pub struct Logs {
    /// Groups by name.
    pub groups: BTreeMap<String, GroupRec>,
}

/// A log group.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRec {
    /// `logGroupName`.
    pub name: String,
    /// `creationTime`, epoch milliseconds.
    pub created_at: i64,
    /// `retentionInDays`.
    #[serde(default)]
    pub retention_in_days: Option<i32>,
    /// Tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Streams by name (stored as their own records).
    #[serde(skip)]
    pub streams: BTreeMap<String, StreamRec>,
}

/// A log stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamRec {
    /// The group it belongs to.
    pub group: String,
    /// `logStreamName`.
    pub name: String,
    /// `creationTime`, epoch milliseconds.
    pub created_at: i64,
    /// The sequence number the next event gets.
    pub next_seq: u64,
    /// `lastIngestionTime`, epoch milliseconds.
    #[serde(default)]
    pub last_ingestion: Option<i64>,
    /// Events in ingestion order (the newest [`MAX_EVENTS_PER_STREAM`]).
    #[serde(default)]
    pub events: VecDeque<Event>,
}

/// One log event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Position in the stream, increasing.
    pub seq: u64,
    /// `timestamp`, epoch milliseconds.
    pub timestamp: i64,
    /// `ingestionTime`, epoch milliseconds.
    pub ingestion_time: i64,
    /// `message`.
    pub message: String,
}

impl StreamRec {
    /// A new empty stream.
    pub fn new(group: &str, name: &str, now_ms: i64) -> Self {
        StreamRec {
            group: group.into(),
            name: name.into(),
            created_at: now_ms,
            next_seq: 0,
            last_ingestion: None,
            events: VecDeque::new(),
        }
    }

    /// Appends an event, dropping the oldest beyond [`MAX_EVENTS_PER_STREAM`].
    pub fn append(&mut self, timestamp: i64, message: String, now_ms: i64) {
        self.events.push_back(Event {
            seq: self.next_seq,
            timestamp,
            ingestion_time: now_ms,
            message,
        });
        self.next_seq += 1;
        self.last_ingestion = Some(now_ms);
        while self.events.len() > MAX_EVENTS_PER_STREAM {
            self.events.pop_front();
        }
    }

    /// `firstEventTimestamp`.
    pub fn first_event(&self) -> Option<i64> {
        self.events.iter().map(|e| e.timestamp).min()
    }

    /// `lastEventTimestamp`.
    pub fn last_event(&self) -> Option<i64> {
        self.events.iter().map(|e| e.timestamp).max()
    }

    /// `storedBytes` (message bytes plus 26 bytes of overhead per event, as CloudWatch counts).
    pub fn stored_bytes(&self) -> u64 {
        self.events
            .iter()
            .map(|e| e.message.len() as u64 + 26)
            .sum()
    }
}

impl Logs {
    /// The stored form of a group.
    pub fn group_record(&self, group: &str) -> Option<Vec<u8>> {
        self.groups
            .get(group)
            .and_then(|g| serde_json::to_vec(g).ok())
    }

    /// The stored form of a stream.
    pub fn stream_record(&self, group: &str, stream: &str) -> Option<Vec<u8>> {
        self.groups
            .get(group)?
            .streams
            .get(stream)
            .and_then(|s| serde_json::to_vec(s).ok())
    }

    /// Loads a stored group.
    ///
    /// # Errors
    ///
    /// The parse error.
    pub fn load_group(&mut self, value: &[u8]) -> Result<(), serde_json::Error> {
        let g: GroupRec = serde_json::from_slice(value)?;
        let streams = self
            .groups
            .remove(&g.name)
            .map(|old| old.streams)
            .unwrap_or_default();
        let name = g.name.clone();
        self.groups.insert(name, GroupRec { streams, ..g });
        Ok(())
    }

    /// Loads a stored stream (after its group or before: a placeholder group is replaced when
    /// the group record loads; streams whose group never loads are dropped by
    /// [`Logs::finish_load`]).
    ///
    /// # Errors
    ///
    /// The parse error.
    pub fn load_stream(&mut self, value: &[u8]) -> Result<(), serde_json::Error> {
        let s: StreamRec = serde_json::from_slice(value)?;
        let g = self
            .groups
            .entry(s.group.clone())
            .or_insert_with(|| GroupRec {
                name: String::new(),
                created_at: 0,
                retention_in_days: None,
                tags: BTreeMap::new(),
                streams: BTreeMap::new(),
            });
        g.streams.insert(s.name.clone(), s);
        Ok(())
    }

    /// Drops placeholder groups left by streams whose group record is gone.
    pub fn finish_load(&mut self) {
        self.groups.retain(|_, g| !g.name.is_empty());
    }
}
