//! Timestamps as ECS sends them (epoch seconds) and as the AWS CLI prints them (ISO 8601).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A point in time, kept in the spelling it arrived in so a round trip is lossless.
///
/// ECS's JSON protocol sends epoch seconds (a number, possibly fractional); the AWS CLI prints
/// ISO 8601 text. Both are accepted; [`Timestamp::to_datetime`] reads either.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Timestamp {
    /// Seconds since the Unix epoch, as on the wire.
    EpochSeconds(serde_json::Number),
    /// Text such as `2023-01-01T12:00:00.123000+00:00`.
    Text(String),
}

impl Timestamp {
    /// A timestamp in the wire's form (epoch seconds with millisecond precision).
    pub fn from_datetime(at: DateTime<Utc>) -> Self {
        let millis = at.timestamp_millis();
        let number = if millis % 1000 == 0 {
            serde_json::Number::from(millis / 1000)
        } else {
            serde_json::Number::from_f64(millis as f64 / 1000.0).unwrap_or_else(|| 0.into())
        };
        Self::EpochSeconds(number)
    }

    /// The instant, or `None` when the text is not a date this type understands.
    pub fn to_datetime(&self) -> Option<DateTime<Utc>> {
        match self {
            Self::EpochSeconds(n) => {
                let secs = n.as_f64()?;
                if !secs.is_finite() || secs.abs() > 1e13 {
                    return None;
                }
                let millis = (secs * 1000.0).round() as i64;
                DateTime::from_timestamp_millis(millis)
            }
            Self::Text(s) => DateTime::parse_from_rfc3339(s)
                .ok()
                .map(|d| d.with_timezone(&Utc)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_read_and_round_trip() {
        for raw in [
            "1700000000",
            "1700000000.5",
            "\"2023-11-14T22:13:20+00:00\"",
        ] {
            let t: Timestamp = serde_json::from_str(raw).unwrap();
            assert!(t.to_datetime().is_some(), "{raw}");
            assert_eq!(serde_json::to_string(&t).unwrap(), raw);
        }
        let a: Timestamp = serde_json::from_str("1700000000").unwrap();
        let b: Timestamp = serde_json::from_str("\"2023-11-14T22:13:20Z\"").unwrap();
        assert_eq!(a.to_datetime(), b.to_datetime());
        assert_eq!(Timestamp::from_datetime(a.to_datetime().unwrap()), a);
    }

    #[test]
    fn garbage_is_not_a_date() {
        assert_eq!(Timestamp::Text("soon".into()).to_datetime(), None);
        let huge: Timestamp = serde_json::from_str("1e300").unwrap();
        assert_eq!(huge.to_datetime(), None);
    }
}
