//! The cluster's clock: wall time or a manual clock that only tests move.

use chrono::{DateTime, Duration, TimeZone, Utc};
use std::sync::Mutex;

use crate::config::ClockMode;

/// The instant a manual clock starts at: 2026-01-01T00:00:00Z.
pub fn manual_epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// A clock that can be moved forward (never back).
#[derive(Debug)]
pub struct Clock {
    mode: ClockMode,
    /// Manual: the current instant. System: the offset added to wall time, as an instant past
    /// the Unix epoch.
    inner: Mutex<DateTime<Utc>>,
}

impl Clock {
    /// A clock in `mode`.
    pub fn new(mode: ClockMode) -> Self {
        let start = match mode {
            ClockMode::Manual => manual_epoch(),
            ClockMode::System => DateTime::UNIX_EPOCH,
        };
        Clock {
            mode,
            inner: Mutex::new(start),
        }
    }

    /// The mode.
    pub fn mode(&self) -> ClockMode {
        self.mode
    }

    /// The current instant, at millisecond precision.
    pub fn now(&self) -> DateTime<Utc> {
        let v = *self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let t = match self.mode {
            ClockMode::Manual => v,
            ClockMode::System => Utc::now() + (v - DateTime::UNIX_EPOCH),
        };
        DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut v = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *v += by.max(Duration::zero());
    }

    /// Makes sure the clock is at least at `at` (after a restart, a manual clock resumes where
    /// the stored state left it).
    pub fn ensure_at_least(&self, at: DateTime<Utc>) {
        if self.mode == ClockMode::Manual {
            let mut v = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            if *v < at {
                *v = at;
            }
        }
    }

    /// Back to the start (test-control reset).
    pub fn reset(&self) {
        let mut v = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        *v = match self.mode {
            ClockMode::Manual => manual_epoch(),
            ClockMode::System => DateTime::UNIX_EPOCH,
        };
    }
}
