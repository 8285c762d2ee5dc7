//! CPU and memory utilisation charts, per service (`AWS/ECS`, `ClusterName` + `ServiceName`) and
//! per task (`ECS/ContainerInsights`, `ClusterName` + `TaskDefinitionFamily` + `TaskId`), fetched with CloudWatch's own
//! `GetMetricData` — so the same charts work against real AWS — with the time range in the URL
//! (`?range=3h`) and a table of exactly the numbers the chart draws (`?view=table`).
//!
//! It computes no statistic itself: CloudWatch (or the local cluster) does.

use leptos::prelude::*;
use serde_json::{Value, json};

use crate::api;

use super::host::{query_param, ready, set_query_param};
use crate::views::ui::server_now;

/// CloudWatch's JSON target prefix.
pub const CLOUDWATCH: &str = "GraniteServiceVersion20100801";

/// The ranges offered, with their period (seconds).
const RANGES: &[(&str, &str, i64, i64)] = &[
    ("1h", "1 hour", 3600, 60),
    ("3h", "3 hours", 3 * 3600, 60),
    ("12h", "12 hours", 12 * 3600, 300),
    ("1d", "1 day", 86400, 300),
    ("1w", "1 week", 7 * 86400, 3600),
];

/// Seconds and period of a `range` parameter (1 hour when unknown).
pub fn range_of(r: &str) -> (i64, i64) {
    RANGES
        .iter()
        .find(|x| x.0 == r)
        .map_or((3600, 60), |x| (x.2, x.3))
}

/// What to chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Subject {
    pub namespace: &'static str,
    pub dimensions: Vec<(&'static str, String)>,
    /// (query id, metric name, label)
    pub metrics: Vec<(&'static str, &'static str, &'static str)>,
}

impl Subject {
    /// A service's `AWS/ECS` utilisation.
    pub fn service(cluster: &str, service: &str) -> Subject {
        Subject {
            namespace: "AWS/ECS",
            dimensions: vec![
                ("ClusterName", cluster.into()),
                ("ServiceName", service.into()),
            ],
            metrics: vec![
                ("cpu", "CPUUtilization", "CPU %"),
                ("memory", "MemoryUtilization", "Memory %"),
            ],
        }
    }

    /// A task's Container Insights (enhanced observability) utilisation, whose dimensions are
    /// the cluster, the task definition's family and the task id.
    pub fn task(cluster: &str, family: &str, task_id: &str) -> Subject {
        Subject {
            namespace: "ECS/ContainerInsights",
            dimensions: vec![
                ("ClusterName", cluster.into()),
                ("TaskDefinitionFamily", family.into()),
                ("TaskId", task_id.into()),
            ],
            metrics: vec![
                ("cpu", "TaskCpuUtilization", "CPU %"),
                ("memory", "TaskMemoryUtilization", "Memory %"),
            ],
        }
    }

    /// The `GetMetricData` request for `[start, end)` in epoch seconds.
    pub fn request(&self, start: i64, end: i64, period: i64) -> Value {
        let dims: Vec<Value> = self
            .dimensions
            .iter()
            .map(|(n, v)| json!({"Name": n, "Value": v}))
            .collect();
        json!({
            "MetricDataQueries": self.metrics.iter().map(|(id, name, label)| json!({
                "Id": id,
                "Label": label,
                "MetricStat": {
                    "Metric": {"Namespace": self.namespace, "MetricName": name, "Dimensions": dims},
                    "Period": period,
                    "Stat": "Average",
                },
            })).collect::<Vec<_>>(),
            "StartTime": start,
            "EndTime": end,
            "ScanBy": "TimestampAscending",
        })
    }
}

/// One series: label and (epoch seconds, value) points, oldest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub id: String,
    pub label: String,
    pub points: Vec<(i64, f64)>,
}

fn seconds(v: &Value) -> Option<i64> {
    v.as_f64().map(|f| f as i64).or_else(|| {
        v.as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.timestamp())
    })
}

/// Reads `MetricDataResults`, following `NextToken` pages already merged by the caller.
pub fn read_results(v: &Value) -> Vec<Series> {
    v["MetricDataResults"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let ts = r["Timestamps"].as_array().cloned().unwrap_or_default();
            let vals = r["Values"].as_array().cloned().unwrap_or_default();
            let mut points: Vec<(i64, f64)> = ts
                .iter()
                .zip(vals.iter())
                .filter_map(|(t, v)| Some((seconds(t)?, v.as_f64()?)))
                .collect();
            points.sort_by_key(|p| p.0);
            Series {
                id: r["Id"].as_str().unwrap_or_default().to_string(),
                label: r["Label"].as_str().unwrap_or_default().to_string(),
                points,
            }
        })
        .collect()
}

async fn load(subject: &Subject, start: i64, end: i64, period: i64) -> Result<Vec<Series>, String> {
    let mut body = subject.request(start, end, period);
    let mut all: Vec<Series> = Vec::new();
    for _ in 0..20 {
        let v: Value = api::call(CLOUDWATCH, "GetMetricData", &body)
            .await
            .map_err(|e| e.to_string())?;
        for s in read_results(&v) {
            match all.iter_mut().find(|x| x.id == s.id) {
                Some(x) => x.points.extend(s.points),
                None => all.push(s),
            }
        }
        match v["NextToken"].as_str() {
            Some(t) if !t.is_empty() => body["NextToken"] = json!(t),
            _ => break,
        }
    }
    Ok(all)
}

/// Start, end and the series of one load, or why it failed.
type Loaded = Result<(i64, i64, Vec<Series>), String>;

fn time_label(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// Charts (or a table) of a subject's metrics over the URL's range.
#[component]
pub fn Metrics(subject: Subject) -> impl IntoView {
    let range = query_param("range");
    let mode = query_param("view");
    let set_range = set_query_param("range");
    let set_mode = set_query_param("view");
    let data: RwSignal<Option<Loaded>> = RwSignal::new(None);
    Effect::new(move |_| {
        let (span, period) = range_of(&range.get());
        // The change stream ticks with the cluster; refresh with the services' changes.
        let end = server_now().timestamp() / period * period + period;
        let start = end - span;
        let subject = subject.clone();
        leptos::task::spawn_local(async move {
            let res = load(&subject, start, end, period)
                .await
                .map(|s| (start, end, s));
            data.set(Some(res));
            ready().set(true);
        });
    });
    view! {
        <div class="table-tools">
            <label class="field-inline">
                "Range"
                <select aria-label="Time range" on:change=move |ev| set_range(event_target_value(&ev))>
                    {RANGES.iter().map(|(k, label, _, _)| view! {
                        <option value=*k selected=move || { let r = range.get(); r == *k || (r.is_empty() && *k == "1h") }>{*label}</option>
                    }).collect::<Vec<_>>()}
                </select>
            </label>
            <label class="check">
                <input
                    type="checkbox"
                    prop:checked=move || mode.get() == "table"
                    on:change=move |ev| set_mode(if event_target_checked(&ev) { "table".into() } else { String::new() })
                />
                "Table"
            </label>
        </div>
        {move || match data.get() {
            None => view! { <p class="muted">"Loading metrics…"</p> }.into_any(),
            Some(Err(e)) => view! { <p role="alert" class="error">{e}</p> }.into_any(),
            Some(Ok((start, end, series))) => {
                if series.iter().all(|s| s.points.is_empty()) {
                    return view! { <p class="muted">"No datapoints in this range."</p> }.into_any();
                }
                if mode.get() == "table" {
                    let mut times: Vec<i64> = series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).collect();
                    times.sort_unstable();
                    times.dedup();
                    view! {
                        <table class="plain" data-table="metrics">
                            <thead><tr><th scope="col">"Time (UTC)"</th>{series.iter().map(|s| view! { <th scope="col" class="num">{s.label.clone()}</th> }).collect::<Vec<_>>()}</tr></thead>
                            <tbody>
                                {times.into_iter().map(|t| view! {
                                    <tr data-time=t.to_string()>
                                        <td class="nowrap">{time_label(t)}</td>
                                        {series.iter().map(|s| {
                                            let v = s.points.iter().find(|p| p.0 == t).map(|p| format!("{:.2}", p.1)).unwrap_or_default();
                                            view! { <td class="num" data-metric=s.id.clone()>{v}</td> }
                                        }).collect::<Vec<_>>()}
                                    </tr>
                                }).collect::<Vec<_>>()}
                            </tbody>
                        </table>
                    }.into_any()
                } else {
                    view! {
                        <div class="charts">
                            {series.into_iter().map(|s| view! { <Chart series=s start=start end=end /> }).collect::<Vec<_>>()}
                        </div>
                    }.into_any()
                }
            }
        }}
    }
}

/// One line chart, with its last value and range in words for screen readers.
#[component]
fn Chart(series: Series, start: i64, end: i64) -> impl IntoView {
    let max = series
        .points
        .iter()
        .map(|p| p.1)
        .fold(0.0f64, f64::max)
        .max(if series.label.ends_with('%') {
            100.0
        } else {
            1.0
        });
    let (w, h) = (600.0, 140.0);
    let x = |t: i64| (t - start) as f64 / (end - start).max(1) as f64 * w;
    let y = |v: f64| h - v / max * (h - 10.0);
    let pts: Vec<String> = series
        .points
        .iter()
        .map(|p| format!("{:.1},{:.1}", x(p.0), y(p.1)))
        .collect();
    let last = series.points.last().map(|p| p.1).unwrap_or(0.0);
    let (lo, hi) = series
        .points
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let summary = format!(
        "{}: {} datapoints, last {:.2}, lowest {:.2}, highest {:.2}",
        series.label,
        series.points.len(),
        last,
        lo,
        hi
    );
    view! {
        <figure class="chart" data-metric=series.id.clone()>
            <figcaption>{series.label.clone()} <span class="muted">{format!(" last {last:.1}")}</span></figcaption>
            <svg viewBox=format!("0 0 {w} {h}") preserveAspectRatio="none" role="img" aria-label=summary>
                <line class="axis" x1="0" y1=format!("{:.1}", y(max / 2.0)) x2=w.to_string() y2=format!("{:.1}", y(max / 2.0))></line>
                <polyline class="series" points=pts.join(" ")></polyline>
            </svg>
            <div class="chart-axis muted"><span>{time_label(start)}</span><span>{format!("max {max:.0}")}</span><span>{time_label(end)}</span></div>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_name_the_metric_and_dimensions() {
        let r = Subject::service("c", "web").request(0, 3600, 60);
        let q = &r["MetricDataQueries"][0]["MetricStat"];
        assert_eq!(q["Metric"]["Namespace"], "AWS/ECS");
        assert_eq!(q["Metric"]["MetricName"], "CPUUtilization");
        assert_eq!(
            q["Metric"]["Dimensions"][1],
            json!({"Name": "ServiceName", "Value": "web"})
        );
        assert_eq!(q["Period"], 60);
    }

    #[test]
    fn results_read_as_sorted_points() {
        let v = json!({"MetricDataResults": [{"Id": "cpu", "Label": "CPU %",
            "Timestamps": [120.0, 60.0], "Values": [2.0, 1.0], "StatusCode": "Complete"}]});
        let s = read_results(&v);
        assert_eq!(s[0].points, vec![(60, 1.0), (120, 2.0)]);
        assert_eq!(range_of("12h"), (43200, 300));
        assert_eq!(range_of("bogus"), (3600, 60));
    }
}
