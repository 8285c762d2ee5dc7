//! Formatting for people: times, ages, ids out of ARNs, revisions.

use berth_core::model::Timestamp;
use chrono::{DateTime, Datelike, Timelike, Utc};

/// ECS keeps stopped tasks for about an hour; Berth keeps them for its retention period. Rows
/// older than this are marked "retained by Berth".
pub const ECS_RETENTION_SECS: i64 = 3600;

/// `2026-12-06 05:10:03` (UTC), or `—`.
pub fn time(t: Option<&Timestamp>) -> String {
    // By hand rather than `format("%Y…")`: chrono's strftime machinery costs the wasm more
    // than this whole module.
    t.and_then(Timestamp::to_datetime)
        .map(|d| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                d.year(),
                d.month(),
                d.day(),
                d.hour(),
                d.minute(),
                d.second()
            )
        })
        .unwrap_or_else(|| "—".into())
}

/// Seconds since the epoch, for sorting (`0` when absent).
pub fn epoch_ms(t: Option<&Timestamp>) -> i64 {
    t.and_then(Timestamp::to_datetime)
        .map(|d| d.timestamp_millis())
        .unwrap_or(0)
}

/// `3m 12s ago`, relative to `now`.
pub fn ago(now: DateTime<Utc>, t: Option<&Timestamp>) -> String {
    let Some(then) = t.and_then(Timestamp::to_datetime) else {
        return "—".into();
    };
    let s = (now - then).num_seconds();
    if s < 0 {
        return "just now".into();
    }
    match s {
        0..=59 => format!("{s}s ago"),
        60..=3599 => format!("{}m {}s ago", s / 60, s % 60),
        3600..=86_399 => format!("{}h {}m ago", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {}h ago", s / 86_400, (s % 86_400) / 3600),
    }
}

/// Whether a stopped task is older than ECS would still show.
pub fn retained(now: DateTime<Utc>, stopped_at: Option<&Timestamp>) -> bool {
    stopped_at
        .and_then(Timestamp::to_datetime)
        .is_some_and(|t| (now - t).num_seconds() > ECS_RETENTION_SECS)
}

/// The last `/`-separated segment of an ARN (a task id, a service name, an instance id).
pub fn last_segment(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// `family:revision` of a task-definition ARN (or the input when it is not an ARN).
pub fn family_revision(arn: &str) -> &str {
    last_segment(arn)
}

/// The revision number of a task-definition ARN or `family:revision`.
pub fn revision_number(arn: &str) -> Option<u32> {
    family_revision(arn).rsplit_once(':')?.1.parse().ok()
}

/// The family of a task-definition ARN or `family:revision`.
pub fn family_of(arn: &str) -> &str {
    let fr = family_revision(arn);
    fr.rsplit_once(':').map_or(fr, |(f, _)| f)
}

/// CPU units as people say them: `1024 (1 vCPU)`.
pub fn cpu(units: i64) -> String {
    if units % 1024 == 0 && units > 0 {
        format!("{units} ({} vCPU)", units / 1024)
    } else {
        format!("{units} ({:.2} vCPU)", units as f64 / 1024.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        serde_json::from_value(serde_json::json!(s)).unwrap()
    }

    #[test]
    fn times_and_ages() {
        let t = ts("2026-12-06T05:10:03Z");
        assert_eq!(time(Some(&t)), "2026-12-06 05:10:03");
        assert_eq!(time(None), "—");
        let now = t.to_datetime().unwrap() + chrono::Duration::seconds(192);
        assert_eq!(ago(now, Some(&t)), "3m 12s ago");
        assert!(!retained(now, Some(&t)));
        let later = now + chrono::Duration::hours(2);
        assert!(retained(later, Some(&t)));
        assert!(!retained(later, None));
        let n: Timestamp = serde_json::from_value(serde_json::json!(1_733_456_789.5)).unwrap();
        assert_eq!(epoch_ms(Some(&n)), 1_733_456_789_500);
    }

    #[test]
    fn arns() {
        let td = "arn:aws:ecs:us-east-1:000000000000:task-definition/web:7";
        assert_eq!(family_revision(td), "web:7");
        assert_eq!(revision_number(td), Some(7));
        assert_eq!(family_of(td), "web");
        assert_eq!(
            last_segment("arn:aws:ecs:us-east-1:0:task/default/abc123"),
            "abc123"
        );
        assert_eq!(revision_number("web"), None);
        assert_eq!(cpu(2048), "2048 (2 vCPU)");
        assert_eq!(cpu(256), "256 (0.25 vCPU)");
    }
}
