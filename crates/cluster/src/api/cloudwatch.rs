//! CloudWatch metrics (`GraniteServiceVersion20100801.<Action>`): GetMetricData,
//! GetMetricStatistics, ListMetrics and PutMetricData over the series of [`crate::metrics`].
//!
//! Requests and answers are the JSON documents of the awsJson1_0 protocol (PascalCase members,
//! timestamps as epoch seconds; an RFC 3339 string is accepted too); the server transcodes the
//! Smithy RPC v2 CBOR protocol the current AWS SDKs send into the same documents. Errors are the
//! model's exceptions with their awsQuery codes, since CloudWatch is `awsQueryCompatible`:
//! `InvalidParameterValueException` (`InvalidParameterValue`),
//! `MissingRequiredParameterException` (`MissingParameter`),
//! `InvalidParameterCombinationException` (`InvalidParameterCombination`) and `InvalidNextToken`,
//! with the texts CloudWatch sends where they are known.
//!
//! What it does not do: metric math and Metrics Insights (`Expression` answers
//! `InvalidParameterValue` saying so), percentile and other extended statistics, alarms,
//! dashboards, anomaly detectors, cross-account queries.

use std::collections::{BTreeMap, BTreeSet};

use berth_core::protocol::PageToken;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Read, Write, input};
use crate::apis::ApiFault;
use crate::metrics::{self, MetricId, Statistic, Stats};

type R = Result<Value, ApiFault>;

/// The actions this module answers.
pub(crate) const ACTIONS: &[&str] = &[
    "GetMetricData",
    "GetMetricStatistics",
    "ListMetrics",
    "PutMetricData",
];

/// The model's `StandardUnit` values.
const UNITS: &[&str] = &[
    "Seconds",
    "Microseconds",
    "Milliseconds",
    "Bytes",
    "Kilobytes",
    "Megabytes",
    "Gigabytes",
    "Terabytes",
    "Bits",
    "Kilobits",
    "Megabits",
    "Gigabits",
    "Terabits",
    "Percent",
    "Count",
    "Bytes/Second",
    "Kilobytes/Second",
    "Megabytes/Second",
    "Gigabytes/Second",
    "Terabytes/Second",
    "Bits/Second",
    "Kilobits/Second",
    "Megabits/Second",
    "Gigabits/Second",
    "Terabits/Second",
    "Count/Second",
    "None",
];

/// GetMetricStatistics answers at most this many datapoints.
const MAX_STATISTICS_DATAPOINTS: i64 = 1440;
/// GetMetricData's default and largest `MaxDatapoints`.
const MAX_DATA_DATAPOINTS: usize = 100_800;
/// ListMetrics' page.
const LIST_PAGE: usize = 500;

fn invalid(msg: impl Into<String>) -> ApiFault {
    ApiFault::cloudwatch(
        "InvalidParameterValueException",
        "InvalidParameterValue",
        msg,
    )
}

fn missing(param: &str) -> ApiFault {
    ApiFault::cloudwatch(
        "MissingRequiredParameterException",
        "MissingParameter",
        format!("The parameter {param} is required."),
    )
}

fn combination(msg: impl Into<String>) -> ApiFault {
    ApiFault::cloudwatch(
        "InvalidParameterCombinationException",
        "InvalidParameterCombination",
        msg,
    )
}

fn bad_token() -> ApiFault {
    ApiFault::cloudwatch(
        "InvalidNextToken",
        "InvalidNextToken",
        "The value for parameter NextToken is invalid.",
    )
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiFault> {
    input(body).map_err(ApiFault::from)
}

/// Runs a read-only action.
pub(crate) fn read(r: &Read<'_>, action: &str, body: &[u8]) -> R {
    match action {
        "GetMetricData" => get_metric_data(r, parse(body)?),
        "GetMetricStatistics" => get_metric_statistics(r, parse(body)?),
        "ListMetrics" => list_metrics(r, parse(body)?),
        _ => Err(ApiFault::unknown_operation(action)),
    }
}

/// Runs a mutating action.
pub(crate) fn write(w: &mut Write<'_>, action: &str, body: &[u8]) -> R {
    match action {
        "PutMetricData" => put_metric_data(w, parse(body)?),
        _ => Err(ApiFault::unknown_operation(action)),
    }
}

/// A timestamp: epoch seconds (the protocol's form) or an RFC 3339 string.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Epoch(f64);

impl Epoch {
    /// Whole seconds (rounded down).
    fn secs(self) -> i64 {
        self.0.floor() as i64
    }
}

impl<'de> Deserialize<'de> for Epoch {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        let secs = match &v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.parse::<f64>().ok().or_else(|| {
                chrono::DateTime::parse_from_rfc3339(s)
                    .ok()
                    .map(|t| t.timestamp_millis() as f64 / 1000.0)
            }),
            _ => None,
        };
        secs.filter(|s| s.is_finite())
            .map(Epoch)
            .ok_or_else(|| serde::de::Error::custom(format!("{v} is not a timestamp")))
    }
}

/// A double, also in the JSON protocol's spelling of special values (`"NaN"`, `"Infinity"`,
/// `"-Infinity"`), which validation then rejects with CloudWatch's message.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Num(f64);

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Number(n) => n
                .as_f64()
                .map(Num)
                .ok_or_else(|| serde::de::Error::custom("not a double")),
            Value::String(s) => match s.as_str() {
                "NaN" => Ok(Num(f64::NAN)),
                "Infinity" => Ok(Num(f64::INFINITY)),
                "-Infinity" => Ok(Num(f64::NEG_INFINITY)),
                _ => Err(serde::de::Error::custom(format!("{s} is not a double"))),
            },
            v => Err(serde::de::Error::custom(format!("{v} is not a double"))),
        }
    }
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "PascalCase")]
struct Dimension {
    name: Option<String>,
    value: Option<String>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "PascalCase")]
struct Metric {
    namespace: Option<String>,
    metric_name: Option<String>,
    dimensions: Option<Vec<Dimension>>,
}

fn check_namespace(ns: Option<&str>, member: &str) -> Result<String, ApiFault> {
    let ns = ns
        .filter(|n| !n.is_empty())
        .ok_or_else(|| missing(member))?;
    if ns.chars().count() > 255 || ns.starts_with(':') {
        return Err(invalid(format!(
            "The value {ns} for parameter {member} is invalid."
        )));
    }
    Ok(ns.to_string())
}

fn check_name(name: Option<&str>, member: &str) -> Result<String, ApiFault> {
    let name = name
        .filter(|n| !n.is_empty())
        .ok_or_else(|| missing(member))?;
    if name.chars().count() > 255 {
        return Err(invalid(format!(
            "The value {name} for parameter {member} is invalid."
        )));
    }
    Ok(name.to_string())
}

fn check_dimensions(
    dims: Option<&[Dimension]>,
    member: &str,
) -> Result<Vec<(String, String)>, ApiFault> {
    let dims = dims.unwrap_or_default();
    if dims.len() > 30 {
        return Err(invalid(format!(
            "The collection {member} must not contain more than 30 items."
        )));
    }
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, d) in dims.iter().enumerate() {
        let at = format!("{member}.member.{}", i + 1);
        let name = d
            .name
            .as_deref()
            .filter(|n| !n.is_empty())
            .ok_or_else(|| missing(&format!("{at}.Name")))?;
        let value = d
            .value
            .as_deref()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| missing(&format!("{at}.Value")))?;
        if name.chars().count() > 255 || value.chars().count() > 1024 {
            return Err(invalid(format!("The value for parameter {at} is invalid.")));
        }
        if !seen.insert(name) {
            return Err(invalid(format!(
                "The collection {member} must not contain duplicate dimension names ({name})."
            )));
        }
        out.push((name.to_string(), value.to_string()));
    }
    Ok(out)
}

fn metric_id(m: &Metric, member: &str) -> Result<MetricId, ApiFault> {
    let ns = check_namespace(m.namespace.as_deref(), &format!("{member}.Namespace"))?;
    let name = check_name(m.metric_name.as_deref(), &format!("{member}.MetricName"))?;
    let dims = check_dimensions(m.dimensions.as_deref(), &format!("{member}.Dimensions"))?;
    Ok(MetricId::new(&ns, &name, dims))
}

fn check_unit(unit: Option<&str>, member: &str) -> Result<(), ApiFault> {
    match unit {
        Some(u) if !UNITS.contains(&u) => Err(invalid(format!(
            "The value {u} for parameter {member} is invalid."
        ))),
        _ => Ok(()),
    }
}

/// A period CloudWatch accepts: 1, 5, 10, 30 (high resolution) or a multiple of 60.
fn check_period(period: Option<i64>, member: &str) -> Result<i64, ApiFault> {
    let p = period.ok_or_else(|| missing(member))?;
    if p < 1 || !(matches!(p, 1 | 5 | 10 | 30) || p % 60 == 0) {
        return Err(invalid(format!(
            "The parameter {member} must be a multiple of 60."
        )));
    }
    Ok(p)
}

/// The time range in whole seconds, StartTime rounded down to the period's grain (the minute,
/// or the high-resolution period) as CloudWatch rounds it; EndTime is exclusive.
fn range(start: Option<Epoch>, end: Option<Epoch>, period: i64) -> Result<(i64, i64), ApiFault> {
    let start = start.ok_or_else(|| missing("StartTime"))?.secs();
    let end = end.ok_or_else(|| missing("EndTime"))?.0.ceil() as i64;
    if start >= end {
        return Err(invalid(
            "The parameter StartTime must be less than the parameter EndTime.",
        ));
    }
    let grain = if period % 60 == 0 { 60 } else { period };
    Ok((start.div_euclid(grain) * grain, end))
}

/// The minutes of `series` in [`start`, `end`) aggregated into periods that start at `start`.
fn aggregate(
    series: &BTreeMap<i64, Stats>,
    start: i64,
    end: i64,
    period: i64,
) -> Vec<(i64, Stats)> {
    let mut out: BTreeMap<i64, Stats> = BTreeMap::new();
    for (m, s) in series.range(start..end.max(start)) {
        let b = start + (m - start).div_euclid(period) * period;
        out.entry(b)
            .and_modify(|x: &mut Stats| x.merge(s))
            .or_insert(*s);
    }
    out.into_iter().collect()
}

/// `1440` → `1,440`, as CloudWatch writes counts in its messages.
fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// A finite double as JSON.
fn num(v: f64) -> Value {
    serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct StatisticsReq {
    namespace: Option<String>,
    metric_name: Option<String>,
    dimensions: Option<Vec<Dimension>>,
    start_time: Option<Epoch>,
    end_time: Option<Epoch>,
    period: Option<i64>,
    statistics: Option<Vec<String>>,
    extended_statistics: Option<Vec<String>>,
    unit: Option<String>,
}

fn get_metric_statistics(r: &Read<'_>, req: StatisticsReq) -> R {
    let ns = check_namespace(req.namespace.as_deref(), "Namespace")?;
    let name = check_name(req.metric_name.as_deref(), "MetricName")?;
    let dims = check_dimensions(req.dimensions.as_deref(), "Dimensions")?;
    let id = MetricId::new(&ns, &name, dims);
    req.start_time.ok_or_else(|| missing("StartTime"))?;
    req.end_time.ok_or_else(|| missing("EndTime"))?;
    let period = check_period(req.period, "Period")?;
    let names = req.statistics.unwrap_or_default();
    let extended = req.extended_statistics.unwrap_or_default();
    if !extended.is_empty() {
        return Err(invalid(format!(
            "The Berth local cluster does not compute extended statistics ({}); ask for \
             SampleCount, Average, Sum, Minimum or Maximum.",
            extended.join(", ")
        )));
    }
    if names.is_empty() {
        return Err(combination(
            "Must specify either Statistics or ExtendedStatistics.",
        ));
    }
    if names.len() > 5 {
        return Err(invalid(
            "The collection Statistics must not contain more than 5 items.",
        ));
    }
    let mut stats = Vec::new();
    for (i, s) in names.iter().enumerate() {
        let st = Statistic::parse(s).ok_or_else(|| {
            invalid(format!(
                "The value {s} for parameter Statistics.member.{} is invalid.",
                i + 1
            ))
        })?;
        if !stats.contains(&st) {
            stats.push(st);
        }
    }
    check_unit(req.unit.as_deref(), "Unit")?;
    let (start, end) = range(req.start_time, req.end_time, period)?;
    let count = (end - start + period - 1) / period;
    if count > MAX_STATISTICS_DATAPOINTS {
        return Err(combination(format!(
            "You have requested up to {} datapoints, which exceeds the limit of 1,440. You may \
             reduce the datapoints requested by increasing Period, or decreasing the time range.",
            thousands(count)
        )));
    }
    let unit = metrics::unit_of(r.st, &id);
    let mut datapoints = Vec::new();
    if req.unit.as_deref().is_none_or(|u| u == unit) {
        let series = metrics::series(r.st, r.env.seed, &id, start, end, r.now.timestamp());
        for (t, s) in aggregate(&series, start, end, period) {
            let mut dp = Map::new();
            dp.insert("Timestamp".into(), json!(t));
            for st in &stats {
                dp.insert(st.as_str().into(), num(s.get(*st)));
            }
            dp.insert("Unit".into(), json!(unit));
            datapoints.push(Value::Object(dp));
        }
    }
    Ok(json!({"Label": name, "Datapoints": datapoints}))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct MetricStat {
    metric: Option<Metric>,
    period: Option<i64>,
    stat: Option<String>,
    unit: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct Query {
    id: Option<String>,
    metric_stat: Option<MetricStat>,
    expression: Option<String>,
    label: Option<String>,
    return_data: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct DataReq {
    metric_data_queries: Option<Vec<Query>>,
    start_time: Option<Epoch>,
    end_time: Option<Epoch>,
    next_token: Option<String>,
    scan_by: Option<String>,
    max_datapoints: Option<i64>,
}

/// A query's id: starts with a lowercase letter, then letters, digits and `_`.
fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && id.len() <= 255
}

fn get_metric_data(r: &Read<'_>, req: DataReq) -> R {
    let queries = req
        .metric_data_queries
        .filter(|q| !q.is_empty())
        .ok_or_else(|| missing("MetricDataQueries"))?;
    if queries.len() > 500 {
        return Err(invalid(
            "The collection MetricDataQueries must not contain more than 500 items.",
        ));
    }
    req.start_time.ok_or_else(|| missing("StartTime"))?;
    req.end_time.ok_or_else(|| missing("EndTime"))?;
    let descending = match req.scan_by.as_deref() {
        None | Some("TimestampDescending") => true,
        Some("TimestampAscending") => false,
        Some(s) => {
            return Err(invalid(format!(
                "The value {s} for parameter ScanBy is invalid."
            )));
        }
    };
    let max = match req.max_datapoints {
        None => MAX_DATA_DATAPOINTS,
        Some(n) if n >= 1 => (n as usize).min(MAX_DATA_DATAPOINTS),
        Some(n) => {
            return Err(invalid(format!(
                "The value {n} for parameter MaxDatapoints is invalid."
            )));
        }
    };
    let mut ids = BTreeSet::new();
    struct Planned {
        id: String,
        label: String,
        metric: MetricId,
        period: i64,
        stat: Statistic,
        unit: Option<String>,
        returned: bool,
    }
    let mut planned = Vec::new();
    for (i, q) in queries.iter().enumerate() {
        let at = format!("MetricDataQueries.member.{}", i + 1);
        let id =
            q.id.as_deref()
                .ok_or_else(|| missing(&format!("{at}.Id")))?;
        if !valid_id(id) {
            return Err(invalid(format!(
                "The value {id} for parameter {at}.Id is invalid: it must start with a lowercase \
                 letter and contain only letters, numbers and underscores."
            )));
        }
        if !ids.insert(id.to_string()) {
            return Err(invalid(
                "The values for parameter Id in MetricDataQueries are not unique.",
            ));
        }
        if let Some(e) = &q.expression {
            return Err(invalid(format!(
                "The Berth local cluster does not evaluate metric math or Metrics Insights \
                 expressions ({at}.Expression: {e}); query metrics with MetricStat instead."
            )));
        }
        let ms = q
            .metric_stat
            .as_ref()
            .ok_or_else(|| missing(&format!("{at}.MetricStat")))?;
        let metric = ms
            .metric
            .as_ref()
            .ok_or_else(|| missing(&format!("{at}.MetricStat.Metric")))?;
        let metric = metric_id(metric, &format!("{at}.MetricStat.Metric"))?;
        let period = check_period(ms.period, &format!("{at}.MetricStat.Period"))?;
        let stat_name = ms
            .stat
            .as_deref()
            .ok_or_else(|| missing(&format!("{at}.MetricStat.Stat")))?;
        let stat = Statistic::parse(stat_name).ok_or_else(|| {
            invalid(format!(
                "The value {stat_name} for parameter {at}.MetricStat.Stat is invalid: the Berth \
                 local cluster computes SampleCount, Average, Sum, Minimum and Maximum."
            ))
        })?;
        check_unit(ms.unit.as_deref(), &format!("{at}.MetricStat.Unit"))?;
        planned.push(Planned {
            id: id.to_string(),
            label: q.label.clone().unwrap_or_else(|| metric.name.clone()),
            metric,
            period,
            stat,
            unit: ms.unit.clone(),
            returned: q.return_data.unwrap_or(true),
        });
    }
    // Every query's datapoints, in the order asked for.
    let mut results: Vec<(&Planned, Vec<(i64, f64)>)> = Vec::new();
    for p in planned.iter().filter(|p| p.returned) {
        let (start, end) = range(req.start_time, req.end_time, p.period)?;
        let unit = metrics::unit_of(r.st, &p.metric);
        let mut points = Vec::new();
        if p.unit.as_deref().is_none_or(|u| u == unit) {
            let series =
                metrics::series(r.st, r.env.seed, &p.metric, start, end, r.now.timestamp());
            points = aggregate(&series, start, end, p.period)
                .into_iter()
                .map(|(t, s)| (t, s.get(p.stat)))
                .collect();
        }
        if descending {
            points.reverse();
        }
        results.push((p, points));
    }
    // One page of at most `max` datapoints over the queries in order; a query cut by the page's
    // end answers PartialData and continues on the next page.
    let offset = match req.next_token.as_deref() {
        Some(t) if !t.is_empty() => PageToken::decode("GetMetricData", t)
            .ok()
            .and_then(|t| t.cursor.parse::<usize>().ok())
            .ok_or_else(bad_token)?,
        _ => 0,
    };
    let total: usize = results.iter().map(|(_, p)| p.len()).sum();
    let page_end = offset.saturating_add(max).min(total);
    let mut out = Vec::new();
    let mut at = 0usize;
    for (p, points) in &results {
        let (from, to) = (at, at + points.len());
        at = to;
        let shown = from.max(offset)..to.min(page_end);
        let empty_here = points.is_empty() && offset == 0;
        if shown.is_empty() && !empty_here {
            continue;
        }
        let slice = points
            .get(shown.start.saturating_sub(from)..shown.end.saturating_sub(from))
            .unwrap_or_default();
        out.push(json!({
            "Id": p.id,
            "Label": p.label,
            "Timestamps": slice.iter().map(|(t, _)| json!(t)).collect::<Vec<_>>(),
            "Values": slice.iter().map(|(_, v)| num(*v)).collect::<Vec<_>>(),
            "StatusCode": if shown.end < to { "PartialData" } else { "Complete" },
        }));
    }
    let mut v = json!({"MetricDataResults": out, "Messages": []});
    if page_end < total {
        v["NextToken"] = json!(PageToken::new("GetMetricData", &page_end.to_string()).encode());
    }
    Ok(v)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct ListReq {
    namespace: Option<String>,
    metric_name: Option<String>,
    dimensions: Option<Vec<Dimension>>,
    next_token: Option<String>,
    recently_active: Option<String>,
}

fn list_metrics(r: &Read<'_>, req: ListReq) -> R {
    let filters = req.dimensions.unwrap_or_default();
    if filters.len() > 10 {
        return Err(invalid(
            "The collection Dimensions must not contain more than 10 items.",
        ));
    }
    for (i, f) in filters.iter().enumerate() {
        if f.name.as_deref().is_none_or(str::is_empty) {
            return Err(missing(&format!("Dimensions.member.{}.Name", i + 1)));
        }
    }
    let recent = match req.recently_active.as_deref() {
        None => None,
        Some("PT3H") => Some(r.now.timestamp() - 3 * 3600),
        Some(v) => {
            return Err(invalid(format!(
                "The value {v} for parameter RecentlyActive is invalid."
            )));
        }
    };
    let after = match req.next_token.as_deref() {
        Some(t) if !t.is_empty() => Some(
            PageToken::decode("ListMetrics", t)
                .map_err(|_| bad_token())?
                .cursor,
        ),
        _ => None,
    };
    let now = r.now.timestamp();
    let mut page = Vec::new();
    let mut next = None;
    for id in metrics::all_metrics(r.st) {
        if req.namespace.as_ref().is_some_and(|n| *n != id.namespace)
            || req.metric_name.as_ref().is_some_and(|n| *n != id.name)
            || !filters.iter().all(|f| {
                id.dimensions.iter().any(|(n, v)| {
                    Some(n) == f.name.as_ref() && f.value.as_ref().is_none_or(|x| x == v)
                })
            })
        {
            continue;
        }
        let key = id.key();
        if after.as_ref().is_some_and(|a| key <= *a) {
            continue;
        }
        if let Some(since) = recent {
            if metrics::series(r.st, r.env.seed, &id, since, now, now).is_empty() {
                continue;
            }
        }
        if page.len() == LIST_PAGE {
            next = page
                .last()
                .map(|(k, _): &(String, Value)| PageToken::new("ListMetrics", k).encode());
            break;
        }
        let dims: Vec<Value> = id
            .dimensions
            .iter()
            .map(|(n, v)| json!({"Name": n, "Value": v}))
            .collect();
        page.push((
            key,
            json!({"Namespace": id.namespace, "MetricName": id.name, "Dimensions": dims}),
        ));
    }
    let mut v = json!({"Metrics": page.into_iter().map(|(_, m)| m).collect::<Vec<_>>()});
    if let Some(t) = next {
        v["NextToken"] = json!(t);
    }
    Ok(v)
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "PascalCase")]
struct StatisticSet {
    sample_count: Option<Num>,
    sum: Option<Num>,
    minimum: Option<Num>,
    maximum: Option<Num>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(rename_all = "PascalCase")]
struct Datum {
    metric_name: Option<String>,
    dimensions: Option<Vec<Dimension>>,
    timestamp: Option<Epoch>,
    value: Option<Num>,
    statistic_values: Option<StatisticSet>,
    values: Option<Vec<Num>>,
    counts: Option<Vec<Num>>,
    unit: Option<String>,
    storage_resolution: Option<i64>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct EntityMetricData {
    metric_data: Option<Vec<Datum>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct PutReq {
    namespace: Option<String>,
    metric_data: Option<Vec<Datum>>,
    entity_metric_data: Option<Vec<EntityMetricData>>,
}

fn finite(v: Num, member: &str) -> Result<f64, ApiFault> {
    // CloudWatch accepts magnitudes up to 2^360.
    if v.0.is_finite() && v.0.abs() <= 2f64.powi(360) {
        Ok(v.0)
    } else {
        Err(invalid(format!(
            "The value {} for parameter {member} is invalid.",
            v.0
        )))
    }
}

/// One datum as a statistic set at a time, after CloudWatch's checks.
fn datum_stats(d: &Datum, at: &str, now: i64) -> Result<(i64, Stats), ApiFault> {
    let t = d.timestamp.map_or(now, Epoch::secs);
    if t > now + 2 * 3600 {
        return Err(invalid(format!(
            "The parameter {at}.Timestamp must specify a time no more than two hours in the future."
        )));
    }
    if t < now - 14 * 86_400 {
        return Err(invalid(format!(
            "The parameter {at}.Timestamp must specify a time within the past two weeks."
        )));
    }
    let given = [
        d.value.is_some(),
        d.statistic_values.is_some(),
        d.values.is_some(),
    ];
    let names = ["Value", "StatisticValues", "Values"];
    let set: Vec<&str> = names
        .iter()
        .zip(given)
        .filter(|(_, g)| *g)
        .map(|(n, _)| *n)
        .collect();
    if set.len() > 1 {
        return Err(combination(format!(
            "The parameters {at}.{} and {at}.{} are mutually exclusive and you have specified both.",
            set[0], set[1]
        )));
    }
    let stats = if let Some(v) = d.value {
        Stats::one(finite(v, &format!("{at}.Value"))?)
    } else if let Some(s) = &d.statistic_values {
        let field = |v: Option<Num>, n: &str| {
            let member = format!("{at}.StatisticValues.{n}");
            finite(v.ok_or_else(|| missing(&member))?, &member)
        };
        let st = Stats {
            count: field(s.sample_count, "SampleCount")?,
            sum: field(s.sum, "Sum")?,
            min: field(s.minimum, "Minimum")?,
            max: field(s.maximum, "Maximum")?,
        };
        if st.count <= 0.0 || st.min > st.max {
            return Err(invalid(format!(
                "The parameter {at}.StatisticValues must have a SampleCount above 0 and a Minimum \
                 no greater than its Maximum."
            )));
        }
        st
    } else if let Some(values) = &d.values {
        if values.is_empty() || values.len() > 150 {
            return Err(invalid(format!(
                "The collection {at}.Values must contain between 1 and 150 items."
            )));
        }
        let counts = d.counts.clone().unwrap_or_default();
        if !counts.is_empty() && counts.len() != values.len() {
            return Err(combination(format!(
                "The parameters {at}.Values and {at}.Counts must be of the same size."
            )));
        }
        let mut st: Option<Stats> = None;
        for (i, v) in values.iter().enumerate() {
            let v = finite(*v, &format!("{at}.Values.member.{}", i + 1))?;
            let c = match counts.get(i) {
                Some(c) => finite(*c, &format!("{at}.Counts.member.{}", i + 1))?,
                None => 1.0,
            };
            if c <= 0.0 {
                continue;
            }
            let one = Stats {
                count: c,
                sum: v * c,
                min: v,
                max: v,
            };
            match &mut st {
                Some(s) => s.merge(&one),
                None => st = Some(one),
            }
        }
        match st {
            Some(s) => s,
            None => {
                return Err(invalid(format!(
                    "The collection {at}.Counts must count at least one value."
                )));
            }
        }
    } else {
        return Err(missing(&format!("{at}.Value")));
    };
    Ok((t, stats))
}

fn put_metric_data(w: &mut Write<'_>, req: PutReq) -> R {
    let ns = check_namespace(req.namespace.as_deref(), "Namespace")?;
    let mut data: Vec<(String, Datum)> = req
        .metric_data
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, d)| (format!("MetricData.member.{}", i + 1), d))
        .collect();
    for (e, group) in req
        .entity_metric_data
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        for (i, d) in group
            .metric_data
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            data.push((
                format!(
                    "EntityMetricData.member.{}.MetricData.member.{}",
                    e + 1,
                    i + 1
                ),
                d,
            ));
        }
    }
    if data.is_empty() {
        return Err(missing("MetricData"));
    }
    if data.len() > 1000 {
        return Err(invalid(
            "The collection MetricData must not contain more than 1,000 items.",
        ));
    }
    let now = w.now.timestamp();
    // Every datum is checked before any is stored: a rejected request stores nothing.
    let mut checked = Vec::new();
    for (at, d) in &data {
        let name = check_name(d.metric_name.as_deref(), &format!("{at}.MetricName"))?;
        let dims = check_dimensions(d.dimensions.as_deref(), &format!("{at}.Dimensions"))?;
        check_unit(d.unit.as_deref(), &format!("{at}.Unit"))?;
        if let Some(r) = d.storage_resolution {
            if r != 1 && r != 60 {
                return Err(invalid(format!(
                    "The value {r} for parameter {at}.StorageResolution is invalid."
                )));
            }
        }
        let (t, stats) = datum_stats(d, at, now)?;
        checked.push((MetricId::new(&ns, &name, dims), d.unit.clone(), t, stats));
    }
    for (id, unit, t, stats) in checked {
        let key = w.st.metrics.push(&id, unit.as_deref(), t, stats, false);
        w.dirty.insert(key);
    }
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_written_as_cloudwatch_writes_them() {
        assert_eq!(thousands(1440), "1,440");
        assert_eq!(thousands(16_666), "16,666");
        assert_eq!(thousands(100), "100");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }

    #[test]
    fn periods_group_minutes_from_the_rounded_start() {
        let series: BTreeMap<i64, Stats> = (0..10)
            .map(|i| (600 + i * 60, Stats::one(i as f64)))
            .collect();
        let five = aggregate(&series, 600, 1200, 300);
        assert_eq!(five.len(), 2);
        assert_eq!((five[0].0, five[0].1.get(Statistic::Average)), (600, 2.0));
        assert_eq!((five[1].0, five[1].1.get(Statistic::Sum)), (900, 35.0));
        let (start, end) = range(Some(Epoch(634.5)), Some(Epoch(1199.2)), 60).unwrap();
        assert_eq!((start, end), (600, 1200));
        assert!(range(Some(Epoch(10.0)), Some(Epoch(10.0)), 60).is_err());
        assert_eq!(check_period(Some(300), "Period"), Ok(300));
        assert_eq!(check_period(Some(10), "Period"), Ok(10));
        let e = check_period(Some(90), "Period").unwrap_err();
        assert_eq!(e.message, "The parameter Period must be a multiple of 60.");
        assert_eq!(
            e.query_error().as_deref(),
            Some("InvalidParameterValue;Sender")
        );
    }

    #[test]
    fn query_ids_follow_the_model_pattern() {
        assert!(valid_id("cpu"));
        assert!(valid_id("m1_avg"));
        assert!(!valid_id("Cpu"));
        assert!(!valid_id("1cpu"));
        assert!(!valid_id("a-b"));
        assert!(!valid_id(""));
    }

    #[test]
    fn timestamps_and_doubles_in_every_spelling() {
        let e: Epoch = serde_json::from_value(json!(1_767_225_600.5)).unwrap();
        assert_eq!(e.secs(), 1_767_225_600);
        let e: Epoch = serde_json::from_value(json!("2026-01-01T00:01:00Z")).unwrap();
        assert_eq!(e.secs(), 1_767_225_660);
        assert!(serde_json::from_value::<Epoch>(json!(true)).is_err());
        let n: Num = serde_json::from_value(json!("NaN")).unwrap();
        assert!(n.0.is_nan());
        assert!(finite(n, "MetricData.member.1.Value").is_err());
    }

    #[test]
    fn a_datum_becomes_one_statistic_set() {
        let d: Datum = serde_json::from_value(
            json!({"MetricName": "q", "Values": [1.0, 3.0], "Counts": [2.0, 1.0]}),
        )
        .unwrap();
        let (_, s) = datum_stats(&d, "MetricData.member.1", 1000).unwrap();
        assert_eq!((s.count, s.sum, s.min, s.max), (3.0, 5.0, 1.0, 3.0));
        let both: Datum = serde_json::from_value(json!({"MetricName": "q", "Value": 1.0,
            "StatisticValues": {"SampleCount": 1, "Sum": 1, "Minimum": 1, "Maximum": 1}}))
        .unwrap();
        let e = datum_stats(&both, "MetricData.member.1", 1000).unwrap_err();
        assert_eq!(e.code, "InvalidParameterCombinationException");
        assert_eq!(
            e.message,
            "The parameters MetricData.member.1.Value and MetricData.member.1.StatisticValues are mutually exclusive and you have specified both."
        );
        let late: Datum = serde_json::from_value(
            json!({"MetricName": "q", "Value": 1.0, "Timestamp": 1000 + 7201}),
        )
        .unwrap();
        assert!(datum_stats(&late, "MetricData.member.1", 1000).is_err());
    }
}
