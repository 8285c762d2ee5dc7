//! CloudWatch metrics through the `GraniteServiceVersion20100801` action API, with the manual
//! clock: the generated series, the two read operations agreeing, pushed data, and target
//! tracking driven by the generated CPU series alone.

use berth_cluster::Cluster;
use berth_cluster::apis::{Api, ApiFault};
use serde_json::{Value, json};

use crate::support::*;

fn cw(c: &Cluster, action: &str, body: Value) -> Value {
    c.call_api_blocking(Api::CloudWatch, action, body.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("{action}: {e}"))
}

fn cw_err(c: &Cluster, action: &str, body: Value) -> ApiFault {
    c.call_api_blocking(Api::CloudWatch, action, body.to_string().as_bytes())
        .expect_err(action)
}

fn aas(c: &Cluster, action: &str, body: Value) -> Value {
    c.call_api_blocking(Api::AutoScaling, action, body.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("{action}: {e}"))
}

fn dims() -> Value {
    json!([{"Name": "ClusterName", "Value": "default"}, {"Name": "ServiceName", "Value": "web"}])
}

fn query(id: &str, metric: &str, period: i64, stat: &str) -> Value {
    json!({"Id": id, "MetricStat": {"Metric": {"Namespace": "AWS/ECS", "MetricName": metric,
        "Dimensions": dims()}, "Period": period, "Stat": stat}})
}

/// The service `web` with `count` running tasks and `minutes` complete minutes of metrics;
/// returns the minute boundary that ends them.
async fn web(c: &Cluster, count: i64, minutes: u32) -> i64 {
    register(c, "web", "nginx:1");
    call(
        c,
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": count}),
    );
    c.advance(10).await;
    let s = call(c, "DescribeServices", json!({"services": ["web"]}));
    assert_eq!(s["services"][0]["runningCount"], count);
    c.advance(minutes * 60).await;
    c.now().timestamp() / 60 * 60
}

fn values(v: &Value) -> Vec<f64> {
    v["Values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[tokio::test]
async fn get_metric_data_and_statistics_agree_on_the_generated_series() {
    let c = cluster(None).await;
    let end = web(&c, 2, 10).await;
    let data = cw(
        &c,
        "GetMetricData",
        json!({"MetricDataQueries": [query("cpu", "CPUUtilization", 60, "Average"),
            query("mem", "MemoryUtilization", 300, "Maximum")],
            "StartTime": end - 600, "EndTime": end, "ScanBy": "TimestampAscending"}),
    );
    let cpu = &data["MetricDataResults"][0];
    assert_eq!(cpu["Label"], "CPUUtilization");
    assert_eq!(cpu["StatusCode"], "Complete");
    let ts: Vec<i64> = cpu["Timestamps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_i64().unwrap())
        .collect();
    assert_eq!(ts, (0..10).map(|i| end - 600 + i * 60).collect::<Vec<_>>());
    let stats = cw(
        &c,
        "GetMetricStatistics",
        json!({"Namespace": "AWS/ECS", "MetricName": "CPUUtilization", "Dimensions": dims(),
            "StartTime": end - 600, "EndTime": end, "Period": 60,
            "Statistics": ["Average", "SampleCount", "Minimum", "Maximum"]}),
    );
    let dps = stats["Datapoints"].as_array().unwrap();
    assert_eq!(dps.len(), 10);
    for (d, v) in dps.iter().zip(values(cpu)) {
        assert_eq!(d["Average"].as_f64().unwrap(), v);
        assert_eq!(d["SampleCount"], 2.0, "one sample per running task");
        assert!(d["Minimum"].as_f64() <= Some(v) && Some(v) <= d["Maximum"].as_f64());
        assert_eq!(d["Unit"], "Percent");
        assert!((1.0..=100.0).contains(&v), "{v}");
    }
    // Five-minute maxima of memory are the maxima of the minutes.
    let mem = &data["MetricDataResults"][1];
    assert_eq!(values(mem).len(), 2);
    let minutes = cw(
        &c,
        "GetMetricData",
        json!({"MetricDataQueries": [query("m", "MemoryUtilization", 60, "Maximum")],
            "StartTime": end - 600, "EndTime": end - 300}),
    );
    let max = values(&minutes["MetricDataResults"][0])
        .into_iter()
        .fold(f64::MIN, f64::max);
    assert_eq!(values(mem)[0], max);
    // The same seed gives the same series in another cluster.
    let other = cluster(None).await;
    web(&other, 2, 10).await;
    let again = cw(
        &other,
        "GetMetricData",
        json!({"MetricDataQueries": [query("cpu", "CPUUtilization", 60, "Average")],
            "StartTime": end - 600, "EndTime": end, "ScanBy": "TimestampAscending"}),
    );
    assert_eq!(values(&again["MetricDataResults"][0]), values(cpu));
    // The minute in progress is not served yet.
    let live = cw(
        &c,
        "GetMetricData",
        json!({"MetricDataQueries": [query("cpu", "CPUUtilization", 60, "Average")],
            "StartTime": end - 60, "EndTime": end + 60}),
    );
    assert_eq!(values(&live["MetricDataResults"][0]).len(), 1);
}

#[tokio::test]
async fn list_metrics_names_clusters_services_tasks_and_pushed_metrics() {
    let c = cluster(None).await;
    web(&c, 1, 2).await;
    cw(
        &c,
        "PutMetricData",
        json!({"Namespace": "App", "MetricData": [{"MetricName": "Queue", "Value": 3,
            "Dimensions": [{"Name": "Env", "Value": "dev"}]}]}),
    );
    let all = cw(&c, "ListMetrics", json!({}))["Metrics"].clone();
    let names: Vec<(String, String, usize)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["Namespace"].as_str().unwrap().to_string(),
                m["MetricName"].as_str().unwrap().to_string(),
                m["Dimensions"].as_array().unwrap().len(),
            )
        })
        .collect();
    for want in [
        ("AWS/ECS", "CPUUtilization", 1),
        ("AWS/ECS", "CPUUtilization", 2),
        ("AWS/ECS", "MemoryUtilization", 2),
        ("ECS/ContainerInsights", "TaskCpuUtilization", 3),
        ("ECS/ContainerInsights", "MemoryUtilized", 3),
        ("App", "Queue", 1),
    ] {
        assert!(
            names.contains(&(want.0.into(), want.1.into(), want.2)),
            "{want:?} in {names:?}"
        );
    }
    let filtered = cw(
        &c,
        "ListMetrics",
        json!({"Namespace": "AWS/ECS", "Dimensions": [{"Name": "ServiceName"}]}),
    );
    assert_eq!(filtered["Metrics"].as_array().unwrap().len(), 2);
    let e = cw_err(&c, "ListMetrics", json!({"NextToken": "nope"}));
    assert_eq!(e.code, "InvalidNextToken");
}

#[tokio::test]
async fn pushed_data_overrides_its_minutes_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let end;
    {
        let c = cluster(Some(dir.path())).await;
        end = web(&c, 2, 5).await;
        cw(
            &c,
            "PutMetricData",
            json!({"Namespace": "AWS/ECS", "MetricData": [{"MetricName": "CPUUtilization",
                "Dimensions": dims(), "Timestamp": end - 120, "Value": 91.0, "Unit": "Percent"}]}),
        );
        let e = cw_err(
            &c,
            "PutMetricData",
            json!({"Namespace": "App", "MetricData": [{"MetricName": "q", "Value": "NaN"}]}),
        );
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            (
                "InvalidParameterValueException",
                "The value NaN for parameter MetricData.member.1.Value is invalid."
            )
        );
        assert_eq!(
            e.query_error().as_deref(),
            Some("InvalidParameterValue;Sender")
        );
    }
    let c = cluster(Some(dir.path())).await;
    // A manual clock resumes at the last reconciler write; bring it back to where it was.
    let behind = end - c.now().timestamp();
    c.advance(behind.max(0) as u32).await;
    let v = cw(
        &c,
        "GetMetricData",
        json!({"MetricDataQueries": [query("cpu", "CPUUtilization", 60, "Average")],
            "StartTime": end - 300, "EndTime": end, "ScanBy": "TimestampAscending"}),
    );
    let got = values(&v["MetricDataResults"][0]);
    assert_eq!(got.len(), 5);
    assert_eq!(got[3], 91.0, "{got:?}");
    assert_eq!(got.iter().filter(|v| **v == 91.0).count(), 1);
}

#[tokio::test]
async fn target_tracking_scales_out_on_the_generated_cpu_series() {
    let c = cluster(None).await;
    let end = web(&c, 2, 3).await;
    let rid = json!({"ServiceNamespace": "ecs", "ResourceId": "service/default/web",
        "ScalableDimension": "ecs:service:DesiredCount"});
    let mut target = rid.clone();
    target["MinCapacity"] = json!(1);
    target["MaxCapacity"] = json!(8);
    aas(&c, "RegisterScalableTarget", target);
    // The service's CPU over the last minutes decides what the policy should do.
    let cpu = cw(
        &c,
        "GetMetricData",
        json!({"MetricDataQueries": [query("cpu", "CPUUtilization", 60, "Average")],
            "StartTime": end - 180, "EndTime": end}),
    );
    let low = values(&cpu["MetricDataResults"][0])
        .into_iter()
        .fold(f64::MAX, f64::min);
    let mut policy = rid.clone();
    policy["PolicyName"] = json!("cpu");
    policy["PolicyType"] = json!("TargetTrackingScaling");
    // A target below every recent value: each minute that ends is a high datapoint.
    policy["TargetTrackingScalingPolicyConfiguration"] = json!({"TargetValue": (low / 3.0).floor().max(1.0),
        "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}});
    aas(&c, "PutScalingPolicy", policy);
    let desired = |c: &Cluster| {
        call(c, "DescribeServices", json!({"services": ["web"]}))["services"][0]["desiredCount"]
            .as_i64()
            .unwrap()
    };
    // Two datapoints (the minute before the policy and one more) are not enough…
    c.advance(60).await;
    assert_eq!(desired(&c), 2);
    // …the third is.
    c.advance(60).await;
    assert!(desired(&c) > 2, "{}", desired(&c));
    let acts = aas(
        &c,
        "DescribeScalingActivities",
        json!({"ServiceNamespace": "ecs", "ResourceId": "service/default/web"}),
    );
    let a = &acts["ScalingActivities"][0];
    assert_eq!(a["StatusCode"], "Successful");
    assert!(a["Cause"].as_str().unwrap().contains("-AlarmHigh-"));
    // More tasks share the load: each one's CPU drops.
    let before = desired(&c);
    c.advance(120).await;
    let now = c.now().timestamp() / 60 * 60;
    let after = cw(
        &c,
        "GetMetricStatistics",
        json!({"Namespace": "AWS/ECS", "MetricName": "CPUUtilization", "Dimensions": dims(),
            "StartTime": now - 60, "EndTime": now, "Period": 60, "Statistics": ["SampleCount"]}),
    );
    assert_eq!(
        after["Datapoints"][0]["SampleCount"].as_f64(),
        Some(before as f64)
    );
}

#[tokio::test]
async fn requests_cloudwatch_rejects_are_rejected_with_its_texts() {
    let c = cluster(None).await;
    let end = web(&c, 1, 1).await;
    let e = cw_err(
        &c,
        "GetMetricStatistics",
        json!({"Namespace": "AWS/ECS", "MetricName": "CPUUtilization", "StartTime": end - 86_400 * 2,
            "EndTime": end, "Period": 60, "Statistics": ["Average"]}),
    );
    assert_eq!(e.code, "InvalidParameterCombinationException");
    assert_eq!(
        e.message,
        "You have requested up to 2,880 datapoints, which exceeds the limit of 1,440. You may reduce the datapoints requested by increasing Period, or decreasing the time range."
    );
    let e = cw_err(
        &c,
        "GetMetricStatistics",
        json!({"MetricName": "CPUUtilization", "StartTime": end - 60, "EndTime": end, "Period": 60}),
    );
    assert_eq!(
        (e.code.as_str(), e.message.as_str(), e.query_code),
        (
            "MissingRequiredParameterException",
            "The parameter Namespace is required.",
            Some("MissingParameter")
        )
    );
    let e = cw_err(
        &c,
        "GetMetricData",
        json!({"MetricDataQueries": [{"Id": "a", "Expression": "SUM(METRICS())"}],
            "StartTime": end - 60, "EndTime": end}),
    );
    assert!(e.message.contains("does not evaluate metric math"), "{e}");
    let e = cw_err(
        &c,
        "GetMetricData",
        json!({"MetricDataQueries": [query("a", "CPUUtilization", 60, "Average"), query("a", "CPUUtilization", 60, "Sum")],
            "StartTime": end - 60, "EndTime": end}),
    );
    assert_eq!(
        e.message,
        "The values for parameter Id in MetricDataQueries are not unique."
    );
    let e = cw_err(
        &c,
        "GetMetricData",
        json!({"MetricDataQueries": [query("a", "CPUUtilization", 60, "p99")],
            "StartTime": end - 60, "EndTime": end}),
    );
    assert_eq!(e.code, "InvalidParameterValueException");
    let e = cw_err(
        &c,
        "GetMetricData",
        json!({"MetricDataQueries": [query("a", "CPUUtilization", 60, "Average")],
            "StartTime": end, "EndTime": end - 60}),
    );
    assert_eq!(
        e.message,
        "The parameter StartTime must be less than the parameter EndTime."
    );
    assert_eq!(
        cw_err(&c, "PutAlarm", json!({})).code,
        "UnknownOperationException"
    );
}
