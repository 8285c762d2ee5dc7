//! Application Auto Scaling: targets, policies, scheduled actions and activities, through the
//! `AnyScaleFrontendService` action API, with the manual clock.

use berth_cluster::Cluster;
use berth_cluster::apis::{Api, ApiFault};
use serde_json::{Value, json};

use crate::support::*;

const RID: &str = "service/default/web";

fn aas(c: &Cluster, action: &str, body: Value) -> Value {
    c.call_api_blocking(Api::AutoScaling, action, body.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("{action}: {e}"))
}

fn aas_err(c: &Cluster, action: &str, body: Value) -> ApiFault {
    c.call_api_blocking(Api::AutoScaling, action, body.to_string().as_bytes())
        .expect_err(action)
}

fn key() -> Value {
    json!({"ServiceNamespace": "ecs", "ResourceId": RID, "ScalableDimension": "ecs:service:DesiredCount"})
}

fn with(mut base: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

fn desired(c: &Cluster) -> i64 {
    call(c, "DescribeServices", json!({"services": ["web"]}))["services"][0]["desiredCount"]
        .as_i64()
        .unwrap()
}

fn activities(c: &Cluster) -> Vec<Value> {
    aas(
        c,
        "DescribeScalingActivities",
        json!({"ServiceNamespace": "ecs", "ResourceId": RID}),
    )["ScalingActivities"]
        .as_array()
        .unwrap()
        .clone()
}

async fn web(c: &Cluster, count: i64) {
    register(c, "web", "nginx:1");
    call(
        c,
        "CreateService",
        json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": count}),
    );
}

#[tokio::test]
async fn targets_are_validated_registered_described_and_deregistered() {
    let c = cluster(None).await;
    let e = aas_err(
        &c,
        "RegisterScalableTarget",
        with(key(), json!({"MinCapacity": 1, "MaxCapacity": 4})),
    );
    assert_eq!(e.code, "ValidationException");
    assert_eq!(e.message, "ECS service doesn't exist: service/default/web");
    assert_eq!(e.to_json()["Message"], e.message);
    web(&c, 1).await;
    let e = aas_err(&c, "RegisterScalableTarget", key());
    assert_eq!(
        e.code, "ValidationException",
        "min/max needed at first registration"
    );
    let e = aas_err(
        &c,
        "RegisterScalableTarget",
        with(key(), json!({"MinCapacity": 5, "MaxCapacity": 4})),
    );
    assert_eq!(e.code, "ValidationException");
    let r = aas(
        &c,
        "RegisterScalableTarget",
        with(key(), json!({"MinCapacity": 2, "MaxCapacity": 6})),
    );
    let arn = r["ScalableTargetARN"].as_str().unwrap().to_string();
    assert!(
        arn.starts_with("arn:aws:application-autoscaling:us-east-1:000000000000:scalable-target/")
    );
    // A minimum above the desired count moves it into range, with an activity.
    assert_eq!(desired(&c), 2);
    let a = activities(&c);
    assert_eq!(a[0]["Description"], "Setting desired count to 2.");
    assert_eq!(a[0]["Cause"], "minimum capacity was set to 2");
    assert_eq!(a[0]["StatusCode"], "Successful");
    // Re-registering updates only what is given.
    aas(
        &c,
        "RegisterScalableTarget",
        with(
            key(),
            json!({"MaxCapacity": 8, "SuspendedState": {"ScheduledScalingSuspended": false}}),
        ),
    );
    let d = aas(
        &c,
        "DescribeScalableTargets",
        json!({"ServiceNamespace": "ecs"}),
    );
    let t = &d["ScalableTargets"][0];
    assert_eq!(
        (t["MinCapacity"].as_i64(), t["MaxCapacity"].as_i64()),
        (Some(2), Some(8))
    );
    assert_eq!(t["ScalableTargetARN"], arn.as_str());
    assert_eq!(t["SuspendedState"]["DynamicScalingInSuspended"], false);
    assert!(t["CreationTime"].is_number());
    // Other namespaces are valid and empty; unknown ones are not.
    let d = aas(
        &c,
        "DescribeScalableTargets",
        json!({"ServiceNamespace": "dynamodb"}),
    );
    assert_eq!(d["ScalableTargets"], json!([]));
    assert_eq!(
        aas_err(
            &c,
            "DescribeScalableTargets",
            json!({"ServiceNamespace": "nope"})
        )
        .code,
        "ValidationException"
    );
    assert_eq!(
        aas_err(
            &c,
            "DescribeScalableTargets",
            json!({"ServiceNamespace": "ecs", "MaxResults": 51})
        )
        .code,
        "ValidationException"
    );
    assert_eq!(
        aas_err(
            &c,
            "DescribeScalableTargets",
            json!({"ServiceNamespace": "ecs", "NextToken": "zz"})
        )
        .code,
        "InvalidNextTokenException"
    );
    aas(&c, "DeregisterScalableTarget", key());
    let e = aas_err(&c, "DeregisterScalableTarget", key());
    assert_eq!(e.code, "ObjectNotFoundException");
    assert_eq!(
        e.message,
        "No scalable target registered for service namespace: ecs, resource ID: service/default/web, scalable dimension: ecs:service:DesiredCount"
    );
    assert_eq!(
        aas_err(&c, "Nope", json!({})).code,
        "UnknownOperationException"
    );
}

#[tokio::test]
async fn target_tracking_scales_out_on_fed_metrics_and_policies_page() {
    let c = cluster(None).await;
    web(&c, 2).await;
    aas(
        &c,
        "RegisterScalableTarget",
        with(key(), json!({"MinCapacity": 1, "MaxCapacity": 10})),
    );
    let e = aas_err(
        &c,
        "PutScalingPolicy",
        with(
            key(),
            json!({"PolicyName": "cpu50", "PolicyType": "TargetTrackingScaling"}),
        ),
    );
    assert_eq!(e.code, "ValidationException");
    let p = aas(
        &c,
        "PutScalingPolicy",
        with(
            key(),
            json!({"PolicyName": "cpu50", "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 50.0,
                "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}}}),
        ),
    );
    assert!(
        p["PolicyARN"]
            .as_str()
            .unwrap()
            .ends_with(":resource/ecs/service/default/web:policyName/cpu50")
    );
    let alarms = p["Alarms"].as_array().unwrap();
    assert_eq!(alarms.len(), 2);
    assert!(
        alarms[0]["AlarmName"]
            .as_str()
            .unwrap()
            .starts_with("TargetTracking-service/default/web-AlarmHigh-")
    );
    aas(
        &c,
        "PutScalingPolicy",
        with(
            key(),
            json!({"PolicyName": "steps", "PolicyType": "StepScaling",
            "StepScalingPolicyConfiguration": {"AdjustmentType": "ChangeInCapacity",
                "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}]}}),
        ),
    );
    let e = aas_err(
        &c,
        "PutScalingPolicy",
        with(
            key(),
            json!({"PolicyName": "bad", "PolicyType": "StepScaling",
            "StepScalingPolicyConfiguration": {"AdjustmentType": "ChangeInCapacity",
                "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "MetricIntervalUpperBound": 10.0, "ScalingAdjustment": 1},
                                    {"MetricIntervalLowerBound": 20.0, "ScalingAdjustment": 2}]}}),
        ),
    );
    assert_eq!(e.code, "ValidationException");
    // Pagination over two policies.
    let page1 = aas(
        &c,
        "DescribeScalingPolicies",
        json!({"ServiceNamespace": "ecs", "MaxResults": 1}),
    );
    assert_eq!(page1["ScalingPolicies"][0]["PolicyName"], "cpu50");
    let token = page1["NextToken"].as_str().unwrap();
    let page2 = aas(
        &c,
        "DescribeScalingPolicies",
        json!({"ServiceNamespace": "ecs", "MaxResults": 1, "NextToken": token}),
    );
    assert_eq!(page2["ScalingPolicies"][0]["PolicyName"], "steps");
    assert_eq!(
        page2["ScalingPolicies"][0]["StepScalingPolicyConfiguration"]["AdjustmentType"],
        "ChangeInCapacity"
    );
    assert!(page2.get("NextToken").is_none());
    // Three datapoints above the target: ceil(2 × 100 / 50) = 4.
    for i in 0..3 {
        let r = c
            .put_metric(RID, "ECSServiceAverageCPUUtilization", 100.0)
            .unwrap();
        assert_eq!(r["activities"], if i == 2 { 1 } else { 0 }, "{r}");
        c.advance(60).await;
    }
    assert_eq!(desired(&c), 4);
    let a = activities(&c);
    assert_eq!(a[0]["Description"], "Setting desired count to 4.");
    let cause = a[0]["Cause"].as_str().unwrap();
    assert!(
        cause.starts_with("monitor alarm TargetTracking-service/default/web-AlarmHigh-"),
        "{cause}"
    );
    assert!(
        cause.ends_with(" in state ALARM triggered policy cpu50"),
        "{cause}"
    );
    assert_eq!(
        a[0]["StatusMessage"],
        "Successfully set desired count to 4. Change successfully fulfilled by ecs."
    );
    // The scale-out cooldown holds the next high datapoint at the same level.
    c.put_metric(RID, "ECSServiceAverageCPUUtilization", 100.0)
        .unwrap();
    assert_eq!(desired(&c), 4);
    // A step policy acts once its alarm is attached.
    c.attach_step_alarm(
        RID,
        "steps",
        serde_json::from_value(json!({"MetricName": "Queue", "Threshold": 10.0, "ComparisonOperator": "GreaterThanOrEqualToThreshold"})).unwrap(),
    )
    .unwrap();
    c.put_metric(RID, "Queue", 15.0).unwrap();
    assert_eq!(desired(&c), 5);
    assert!(
        activities(&c)[0]["Cause"]
            .as_str()
            .unwrap()
            .contains("triggered policy steps")
    );
    c.advance(120).await;
    let s = call(&c, "DescribeServices", json!({"services": ["web"]}));
    assert_eq!(
        s["services"][0]["runningCount"], 5,
        "{}",
        s["services"][0]["events"]
    );
    aas(
        &c,
        "DeleteScalingPolicy",
        with(key(), json!({"PolicyName": "steps"})),
    );
    let e = aas_err(
        &c,
        "DeleteScalingPolicy",
        with(key(), json!({"PolicyName": "steps"})),
    );
    assert_eq!(e.code, "ObjectNotFoundException");
    assert!(c.put_metric("service/default/nope", "x", 1.0).is_err());
}

#[tokio::test]
async fn scheduled_actions_fire_on_the_cluster_clock_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let c = cluster(Some(dir.path())).await;
        web(&c, 1).await;
        aas(
            &c,
            "RegisterScalableTarget",
            with(key(), json!({"MinCapacity": 1, "MaxCapacity": 10})),
        );
        let e = aas_err(
            &c,
            "PutScheduledAction",
            with(
                key(),
                json!({"ScheduledActionName": "x", "Schedule": "cron(nope)"}),
            ),
        );
        assert_eq!(e.code, "ValidationException");
        let e = aas_err(
            &c,
            "PutScheduledAction",
            with(
                key(),
                json!({"ScheduledActionName": "a/b", "Schedule": "rate(5 minutes)"}),
            ),
        );
        assert_eq!(e.code, "ValidationException");
        // The manual clock starts at 2026-01-01T00:00:00Z.
        aas(
            &c,
            "PutScheduledAction",
            with(
                key(),
                json!({"ScheduledActionName": "morning", "Schedule": "at(2026-01-01T00:02:00)",
                "ScalableTargetAction": {"MinCapacity": 3}}),
            ),
        );
        aas(
            &c,
            "PutScheduledAction",
            with(
                key(),
                json!({"ScheduledActionName": "night", "Schedule": "cron(0 3 * * ? *)",
                "Timezone": "Europe/Paris", "ScalableTargetAction": {"MinCapacity": 1, "MaxCapacity": 2}}),
            ),
        );
        let d = aas(
            &c,
            "DescribeScheduledActions",
            json!({"ServiceNamespace": "ecs", "ScheduledActionNames": ["night"]}),
        );
        let a = &d["ScheduledActions"][0];
        assert_eq!(a["Schedule"], "cron(0 3 * * ? *)");
        assert_eq!(a["Timezone"], "Europe/Paris");
        assert!(
            a["ScheduledActionARN"]
                .as_str()
                .unwrap()
                .ends_with(":scheduledActionName/night")
        );
        c.advance(119).await;
        assert_eq!(desired(&c), 1);
        c.advance(2).await;
        assert_eq!(desired(&c), 3);
        let a = activities(&c);
        assert_eq!(a[0]["Description"], "Setting desired count to 3.");
        assert_eq!(a[0]["Cause"], "minimum capacity was set to 3");
        assert_eq!(a[1]["Description"], "Setting min capacity to 3");
        assert_eq!(a[1]["Cause"], "scheduled action name morning was triggered");
    }
    let c = cluster(Some(dir.path())).await;
    let t = aas(
        &c,
        "DescribeScalableTargets",
        json!({"ServiceNamespace": "ecs", "ResourceIds": [RID]}),
    );
    assert_eq!(t["ScalableTargets"][0]["MinCapacity"], 3);
    // 03:00 in Paris is 02:00 UTC: the "night" action lowers the maximum to 2.
    c.advance(2 * 3600).await;
    assert_eq!(desired(&c), 2);
    let a = activities(&c);
    assert_eq!(a[0]["Cause"], "maximum capacity was set to 2");
    assert_eq!(a[1]["Cause"], "scheduled action name night was triggered");
    let page = aas(
        &c,
        "DescribeScalingActivities",
        json!({"ServiceNamespace": "ecs", "MaxResults": 2}),
    );
    assert_eq!(page["ScalingActivities"].as_array().unwrap().len(), 2);
    let next = aas(
        &c,
        "DescribeScalingActivities",
        json!({"ServiceNamespace": "ecs", "MaxResults": 2, "NextToken": page["NextToken"]}),
    );
    assert_eq!(
        next["ScalingActivities"][0]["Cause"],
        "minimum capacity was set to 3"
    );
    aas(
        &c,
        "DeleteScheduledAction",
        with(key(), json!({"ScheduledActionName": "night"})),
    );
    assert_eq!(
        aas_err(
            &c,
            "DeleteScheduledAction",
            with(key(), json!({"ScheduledActionName": "night"}))
        )
        .code,
        "ObjectNotFoundException"
    );
}

/// Target tracking on CPU at 50 % for `web` (1–10 tasks).
fn track_cpu(c: &Cluster) {
    aas(
        c,
        "RegisterScalableTarget",
        with(key(), json!({"MinCapacity": 1, "MaxCapacity": 10})),
    );
    aas(
        c,
        "PutScalingPolicy",
        with(
            key(),
            json!({"PolicyName": "cpu50", "PolicyType": "TargetTrackingScaling",
            "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 50.0,
                "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}}}),
        ),
    );
}

#[tokio::test]
async fn scale_in_waits_while_a_deployment_is_in_progress_and_scale_out_does_not() {
    let c = cluster(None).await;
    web(&c, 4).await;
    track_cpu(&c);
    c.advance(60).await;
    // A deployment that cannot finish: every start of the new revision fails (no breaker).
    register(&c, "web", "nginx:2");
    c.fail_next_starts(10_000).unwrap();
    call(
        &c,
        "UpdateService",
        json!({"service": "web", "taskDefinition": "web:2"}),
    );
    // 20 minutes of low CPU: target tracking would scale in after 15, but not now.
    for _ in 0..20 {
        c.put_metric(RID, "ECSServiceAverageCPUUtilization", 5.0)
            .unwrap();
        c.advance(60).await;
    }
    let s = &call(&c, "DescribeServices", json!({"services": ["web"]}))["services"][0];
    assert!(
        s["deployments"].as_array().unwrap().len() > 1,
        "still deploying: {s:#}"
    );
    assert_eq!(desired(&c), 4, "no scale-in during the deployment");
    // Scale-out goes on: three high minutes.
    for _ in 0..3 {
        c.put_metric(RID, "ECSServiceAverageCPUUtilization", 100.0)
            .unwrap();
        c.advance(60).await;
    }
    assert_eq!(desired(&c), 8, "scale-out during the deployment");
    // The deployment ends (back to web:1, whose starts succeed) and low CPU scales in again,
    // evaluated afresh from then on.
    c.fail_next_starts(0).unwrap();
    call(
        &c,
        "UpdateService",
        json!({"service": "web", "taskDefinition": "web:1"}),
    );
    c.advance(120).await;
    let s = &call(&c, "DescribeServices", json!({"services": ["web"]}))["services"][0];
    assert_eq!(s["deployments"].as_array().unwrap().len(), 1, "{s:#}");
    // The low minutes fed during the deployment are not acted on late.
    assert_eq!(desired(&c), 8, "no scale-in decided during the deployment");
    for _ in 0..17 {
        c.put_metric(RID, "ECSServiceAverageCPUUtilization", 5.0)
            .unwrap();
        c.advance(60).await;
    }
    assert!(desired(&c) < 8, "scaled in after the deployment");
}
