//! CloudWatch Logs: the awslogs streams of simulated tasks, through the `Logs_20140328` action
//! API.

use berth_cluster::Cluster;
use berth_cluster::apis::{Api, ApiFault};
use serde_json::{Value, json};

use crate::support::*;

fn logs(c: &Cluster, action: &str, body: Value) -> Value {
    c.call_api_blocking(Api::Logs, action, body.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("{action}: {e}"))
}

fn logs_err(c: &Cluster, action: &str, body: Value) -> ApiFault {
    c.call_api_blocking(Api::Logs, action, body.to_string().as_bytes())
        .expect_err(action)
}

fn messages(v: &Value) -> Vec<String> {
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn awslogs_streams_get_start_and_exit_lines() {
    let dir = tempfile::tempdir().unwrap();
    let task_id;
    {
        let c = cluster(Some(dir.path())).await;
        call(
            &c,
            "RegisterTaskDefinition",
            json!({"family": "web", "containerDefinitions": [
                {"name": "app", "image": "nginx:1", "memory": 256, "essential": true,
                 "command": ["nginx", "-g", "daemon off;"],
                 "logConfiguration": {"logDriver": "awslogs", "options": {
                     "awslogs-group": "/ecs/web", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "web"}}},
                {"name": "quiet", "image": "busybox:1", "memory": 64, "essential": false}
            ]}),
        );
        let r = call(&c, "RunTask", json!({"taskDefinition": "web"}));
        let arn = r["tasks"][0]["taskArn"].as_str().unwrap().to_string();
        task_id = arn.rsplit('/').next().unwrap().to_string();
        c.advance(30).await;
        let stream = format!("web/app/{task_id}");
        let g = logs(
            &c,
            "DescribeLogGroups",
            json!({"logGroupNamePrefix": "/ecs/"}),
        );
        assert_eq!(g["logGroups"][0]["logGroupName"], "/ecs/web");
        assert_eq!(
            g["logGroups"][0]["logGroupArn"],
            "arn:aws:logs:us-east-1:000000000000:log-group:/ecs/web"
        );
        let s = logs(
            &c,
            "DescribeLogStreams",
            json!({"logGroupName": "/ecs/web"}),
        );
        assert_eq!(
            s["logStreams"].as_array().unwrap().len(),
            1,
            "only the awslogs container: {s}"
        );
        assert_eq!(s["logStreams"][0]["logStreamName"], stream.as_str());
        let e = logs(
            &c,
            "GetLogEvents",
            json!({"logGroupName": "/ecs/web", "logStreamName": stream, "startFromHead": true}),
        );
        assert_eq!(
            messages(&e),
            vec!["[berth] container app started: image nginx:1: nginx -g daemon off;"]
        );
        call(&c, "StopTask", json!({"task": arn}));
        c.advance(60).await;
    }
    // Durable: the lines are there after a restart.
    let c = cluster(Some(dir.path())).await;
    let stream = format!("web/app/{task_id}");
    let e = logs(
        &c,
        "GetLogEvents",
        json!({"logGroupName": "/ecs/web", "logStreamName": stream, "startFromHead": true}),
    );
    let m = messages(&e);
    assert_eq!(m.len(), 2, "{m:?}");
    assert!(
        m[1].starts_with("[berth] container app exited with code "),
        "{m:?}"
    );
    // Forward paging ends on the same token; backward paging from the end walks back.
    let first = logs(
        &c,
        "GetLogEvents",
        json!({"logGroupName": "/ecs/web", "logStreamName": stream, "startFromHead": true, "limit": 1}),
    );
    assert_eq!(messages(&first).len(), 1);
    let fwd = first["nextForwardToken"].as_str().unwrap();
    let second = logs(
        &c,
        "GetLogEvents",
        json!({"logGroupName": "/ecs/web", "logStreamName": stream, "nextToken": fwd}),
    );
    assert_eq!(messages(&second), vec![m[1].clone()]);
    let end = second["nextForwardToken"].as_str().unwrap();
    let again = logs(
        &c,
        "GetLogEvents",
        json!({"logGroupName": "/ecs/web", "logStreamName": stream, "nextToken": end}),
    );
    assert!(messages(&again).is_empty());
    assert_eq!(again["nextForwardToken"], end);
    let last = logs(
        &c,
        "GetLogEvents",
        json!({"logGroupName": "/ecs/web", "logStreamName": stream, "limit": 1}),
    );
    assert_eq!(messages(&last), vec![m[1].clone()]);
    let back = logs(
        &c,
        "GetLogEvents",
        json!({"logGroupName": "/ecs/web", "logStreamName": stream, "nextToken": last["nextBackwardToken"]}),
    );
    assert_eq!(messages(&back), vec![m[0].clone()]);
    // FilterLogEvents: terms, phrases and exclusions.
    let f = logs(
        &c,
        "FilterLogEvents",
        json!({"logGroupName": "/ecs/web", "filterPattern": "exited code"}),
    );
    assert_eq!(messages(&f), vec![m[1].clone()]);
    assert_eq!(f["events"][0]["logStreamName"], stream.as_str());
    let f = logs(
        &c,
        "FilterLogEvents",
        json!({"logGroupIdentifier": "arn:aws:logs:us-east-1:000000000000:log-group:/ecs/web:*", "filterPattern": "\"daemon off\" -exited"}),
    );
    assert_eq!(messages(&f), vec![m[0].clone()]);
    assert_eq!(
        logs_err(
            &c,
            "FilterLogEvents",
            json!({"logGroupName": "/ecs/web", "filterPattern": "{ $.x = 1 }"})
        )
        .code,
        "InvalidParameterException"
    );
    // Errors as CloudWatch Logs spells them.
    let e = logs_err(
        &c,
        "GetLogEvents",
        json!({"logGroupName": "/nope", "logStreamName": "x"}),
    );
    assert_eq!(e.code, "ResourceNotFoundException");
    assert_eq!(
        e.to_json(),
        json!({"__type": "ResourceNotFoundException", "message": "The specified log group does not exist."})
    );
    assert_eq!(
        logs_err(&c, "CreateLogGroup", json!({"logGroupName": "/ecs/web"})).code,
        "ResourceAlreadyExistsException"
    );
    // PutLogEvents into a stream of one's own, then delete the group.
    logs(&c, "CreateLogGroup", json!({"logGroupName": "mine"}));
    logs(
        &c,
        "CreateLogStream",
        json!({"logGroupName": "mine", "logStreamName": "s"}),
    );
    logs(
        &c,
        "PutLogEvents",
        json!({"logGroupName": "mine", "logStreamName": "s", "logEvents": [{"timestamp": 2, "message": "b"}, {"timestamp": 1, "message": "a"}]}),
    );
    let e = logs(
        &c,
        "GetLogEvents",
        json!({"logGroupName": "mine", "logStreamName": "s", "startFromHead": true}),
    );
    assert_eq!(messages(&e), vec!["a", "b"]);
    logs(&c, "DeleteLogGroup", json!({"logGroupName": "mine"}));
    assert_eq!(
        logs_err(&c, "DescribeLogStreams", json!({"logGroupName": "mine"})).code,
        "ResourceNotFoundException"
    );
}
