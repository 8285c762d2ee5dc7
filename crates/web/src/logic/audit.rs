//! The audit page's logic: its filters as URL query parameters, the CloudTrail `LookupEvents`
//! request they make, and the rows read from the answer (the error code and the pretty record
//! come from each event's `CloudTrailEvent` JSON text).
//!
//! CloudTrail filters on one lookup attribute at a time, and a time range; so does this page.
//! Nothing here sends or renders.

use serde_json::{Value, json};

/// CloudTrail's `LookupEvents` target.
pub const TARGET_PREFIX: &str = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101";
/// Events per page.
pub const PAGE_SIZE: u32 = 50;

/// CloudTrail's lookup attribute keys, with labels.
pub const ATTRIBUTES: [(&str, &str); 8] = [
    ("EventName", "Event name"),
    ("EventSource", "Event source"),
    ("Username", "User name"),
    ("AccessKeyId", "Access key ID"),
    ("ResourceName", "Resource name"),
    ("ResourceType", "Resource type"),
    ("ReadOnly", "Read only"),
    ("EventId", "Event ID"),
];

/// The page's filters, as they stand in the URL (`attr`, `value`, `start`, `end`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// One of [`ATTRIBUTES`]' keys (empty: no attribute filter).
    pub attr: String,
    /// The attribute's value.
    pub value: String,
    /// Start of the range, `YYYY-MM-DDTHH:MM[:SS]` in UTC (a `datetime-local` value).
    pub start: String,
    /// End of the range, likewise.
    pub end: String,
}

impl Filters {
    /// Reads the filters from query pairs.
    pub fn from_pairs(pairs: &[(String, String)]) -> Filters {
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        Filters {
            attr: get("attr"),
            value: get("value"),
            start: get("start"),
            end: get("end"),
        }
    }

    /// The query string (`?attr=…&value=…`, empty ones left out).
    pub fn to_query(&self) -> String {
        let attr = if self.value.is_empty() {
            ""
        } else {
            &self.attr
        };
        crate::logic::query::build(&[
            ("attr", attr),
            ("value", &self.value),
            ("start", &self.start),
            ("end", &self.end),
        ])
    }

    /// Whether any filter is set.
    pub fn any(&self) -> bool {
        !self.value.is_empty() || !self.start.is_empty() || !self.end.is_empty()
    }

    /// The `LookupEvents` input for these filters (and the page after `next_token`).
    ///
    /// # Errors
    ///
    /// A message naming a bad time, an unknown attribute, or a range that ends before it starts.
    pub fn request(&self, next_token: Option<&str>) -> Result<Value, String> {
        let mut body = json!({ "MaxResults": PAGE_SIZE });
        if !self.value.is_empty() {
            let key = if self.attr.is_empty() {
                "EventName"
            } else {
                self.attr.as_str()
            };
            if !ATTRIBUTES.iter().any(|(k, _)| *k == key) {
                return Err(format!("{key} is not a CloudTrail lookup attribute."));
            }
            body["LookupAttributes"] =
                json!([{ "AttributeKey": key, "AttributeValue": self.value }]);
        }
        let start = time_field("Start", &self.start)?;
        let end = time_field("End", &self.end)?;
        if let (Some(s), Some(e)) = (start, end)
            && e < s
        {
            return Err("The end of the time range is before its start.".into());
        }
        if let Some(s) = start {
            body["StartTime"] = json!(s);
        }
        if let Some(e) = end {
            body["EndTime"] = json!(e);
        }
        if let Some(t) = next_token {
            body["NextToken"] = json!(t);
        }
        Ok(body)
    }
}

fn time_field(name: &str, text: &str) -> Result<Option<i64>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    parse_utc(text)
        .map(Some)
        .ok_or_else(|| format!("{name} {text:?} is not a time (YYYY-MM-DDTHH:MM, UTC)."))
}

/// Epoch seconds of `YYYY-MM-DDTHH:MM[:SS]` (or with a space instead of `T`) in UTC.
pub fn parse_utc(text: &str) -> Option<i64> {
    let t = text.trim();
    let (date, time) = t.split_once(['T', ' ']).unwrap_or((t, "00:00"));
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let mut parts = time
        .split(':')
        .map(|p| p.split('.').next().unwrap_or(p).parse::<i64>().ok());
    let hh = parts.next()??;
    let mm = parts.next()??;
    let ss = parts.next().flatten().unwrap_or(0);
    if !(0..24).contains(&hh) || !(0..60).contains(&mm) || !(0..61).contains(&ss) {
        return None;
    }
    Some(days_from_civil(y, m, day) * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of epoch seconds.
pub fn format_utc(epoch_secs: i64) -> String {
    let days = epoch_secs.div_euclid(86_400);
    let s = epoch_secs.rem_euclid(86_400);
    // The inverse of `days_from_civil`.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        s / 3600,
        (s % 3600) / 60,
        s % 60
    )
}

/// One row of the audit table.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `EventId` (the row key).
    pub id: String,
    /// `EventName` (`RegisterTaskDefinition` …).
    pub name: String,
    /// `EventSource` (`ecs.amazonaws.com` …).
    pub source: String,
    /// `Username`.
    pub user: String,
    /// `AccessKeyId`.
    pub access_key_id: String,
    /// `EventTime`, epoch seconds.
    pub time: Option<f64>,
    /// `ReadOnly` (`"true"`/`"false"`).
    pub read_only: String,
    /// `errorCode` of the record, if the call failed or was denied.
    pub error_code: Option<String>,
    /// `(ResourceType, ResourceName)` pairs.
    pub resources: Vec<(String, String)>,
    /// The record, pretty-printed (or as sent when it is not JSON).
    pub record: String,
}

impl Event {
    /// The time as shown (`—` when absent).
    pub fn time_text(&self) -> String {
        self.time
            .map(|t| format_utc(t.floor() as i64))
            .unwrap_or_else(|| "—".into())
    }

    /// The resources as one line (`cluster default, service web`).
    pub fn resources_text(&self) -> String {
        self.resources
            .iter()
            .map(|(t, n)| {
                let t = t.rsplit("::").next().unwrap_or(t);
                if t.is_empty() {
                    n.clone()
                } else {
                    format!("{t} {n}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A `LookupEvents` answer: the events and the next page's token.
pub fn read_page(v: &Value) -> (Vec<Event>, Option<String>) {
    let s = |e: &Value, k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let events = v
        .get("Events")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| {
                    let text = s(e, "CloudTrailEvent");
                    let record: Option<Value> = serde_json::from_str(&text).ok();
                    Event {
                        id: s(e, "EventId"),
                        name: s(e, "EventName"),
                        source: s(e, "EventSource"),
                        user: s(e, "Username"),
                        access_key_id: s(e, "AccessKeyId"),
                        time: e.get("EventTime").and_then(|t| {
                            t.as_f64()
                                .or_else(|| t.as_str().and_then(parse_utc).map(|x| x as f64))
                        }),
                        read_only: s(e, "ReadOnly"),
                        error_code: record
                            .as_ref()
                            .and_then(|r| r.get("errorCode"))
                            .and_then(Value::as_str)
                            .map(str::to_string),
                        resources: e
                            .get("Resources")
                            .and_then(Value::as_array)
                            .map(|rs| {
                                rs.iter()
                                    .map(|r| (s(r, "ResourceType"), s(r, "ResourceName")))
                                    .collect()
                            })
                            .unwrap_or_default(),
                        record: record
                            .and_then(|r| serde_json::to_string_pretty(&r).ok())
                            .unwrap_or(text),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let next = v
        .get("NextToken")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    (events, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_round_trip_the_url() {
        let f = Filters {
            attr: "EventName".into(),
            value: "RegisterTaskDefinition".into(),
            start: "2026-12-06T05:00".into(),
            end: String::new(),
        };
        let q = f.to_query();
        assert_eq!(
            q,
            "?attr=EventName&value=RegisterTaskDefinition&start=2026-12-06T05%3A00"
        );
        assert_eq!(Filters::from_pairs(&crate::logic::query::parse(&q)), f);
        // An attribute without a value is no filter.
        let f = Filters {
            attr: "Username".into(),
            ..Filters::default()
        };
        assert_eq!(f.to_query(), "");
        assert!(!f.any());
    }

    #[test]
    fn builds_lookup_events_requests() {
        let f = Filters {
            attr: "Username".into(),
            value: "operator".into(),
            start: "2026-12-06T05:00".into(),
            end: "2026-12-06 06:00:30".into(),
        };
        let r = f.request(Some("tok")).unwrap();
        assert_eq!(
            r,
            json!({
                "MaxResults": 50,
                "LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": "operator"}],
                "StartTime": 1_796_533_200,
                "EndTime": 1_796_536_830,
                "NextToken": "tok"
            })
        );
        assert_eq!(
            Filters::default().request(None).unwrap(),
            json!({"MaxResults": 50})
        );
        let bad = Filters {
            start: "yesterday".into(),
            ..Filters::default()
        };
        assert!(bad.request(None).unwrap_err().contains("yesterday"));
        let backwards = Filters {
            start: "2026-12-06T06:00".into(),
            end: "2026-12-06T05:00".into(),
            ..Filters::default()
        };
        assert!(backwards.request(None).is_err());
        let unknown = Filters {
            attr: "Region".into(),
            value: "x".into(),
            ..Filters::default()
        };
        assert!(unknown.request(None).is_err());
    }

    #[test]
    fn parses_and_formats_utc() {
        assert_eq!(parse_utc("1970-01-01T00:00"), Some(0));
        assert_eq!(parse_utc("2000-03-01T00:00:00"), Some(951_868_800));
        assert_eq!(parse_utc("2026-12-06"), Some(1_796_515_200));
        assert_eq!(parse_utc("2026-13-01T00:00"), None);
        assert_eq!(parse_utc("2026-12-06T25:00"), None);
        for t in [0, 951_868_800, 1_796_533_200, 4_102_444_799] {
            assert_eq!(parse_utc(&format_utc(t)), Some(t));
        }
        assert_eq!(format_utc(1_796_536_830), "2026-12-06 06:00:30");
    }

    #[test]
    fn reads_a_lookup_events_page() {
        let record = json!({
            "eventVersion": "1.11",
            "eventName": "RunTask",
            "errorCode": "AccessDeniedException",
            "requestParameters": {"cluster": "default"}
        })
        .to_string();
        let v = json!({
            "Events": [
                {
                    "EventId": "e1",
                    "EventName": "RunTask",
                    "ReadOnly": "false",
                    "AccessKeyId": "BKIAVIEWER",
                    "EventTime": 1_796_536_830.5,
                    "EventSource": "ecs.amazonaws.com",
                    "Username": "viewer",
                    "Resources": [{"ResourceType": "AWS::ECS::Cluster", "ResourceName": "default"}],
                    "CloudTrailEvent": record
                },
                {"EventId": "e2", "EventName": "CreateCluster", "CloudTrailEvent": "not json"}
            ],
            "NextToken": "n2"
        });
        let (events, next) = read_page(&v);
        assert_eq!(next.as_deref(), Some("n2"));
        assert_eq!(events.len(), 2);
        let e = &events[0];
        assert_eq!(e.error_code.as_deref(), Some("AccessDeniedException"));
        assert_eq!(e.time_text(), "2026-12-06 06:00:30");
        assert_eq!(e.resources_text(), "Cluster default");
        assert!(
            e.record
                .contains("\n  \"errorCode\": \"AccessDeniedException\"")
        );
        assert_eq!(events[1].error_code, None);
        assert_eq!(events[1].record, "not json");
        assert_eq!(events[1].time_text(), "—");
        assert_eq!(read_page(&json!({"Events": [], "NextToken": ""})).1, None);
    }
}
