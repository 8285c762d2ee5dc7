use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn everything_acknowledged_is_there_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let task;
    {
        let c = cluster(Some(dir.path())).await;
        for _ in 0..3 {
            register(&c, "web", "nginx:1");
        }
        call(
            &c,
            "CreateService",
            json!({"serviceName": "web", "taskDefinition": "web", "desiredCount": 2}),
        );
        let r = call(&c, "RunTask", json!({"taskDefinition": "web:2"}));
        task = r["tasks"][0]["taskArn"].as_str().unwrap().to_string();
        c.advance(10).await;
    }
    let c = cluster(Some(dir.path())).await;
    let l = call(&c, "ListTaskDefinitions", json!({}));
    assert_eq!(l["taskDefinitionArns"].as_array().unwrap().len(), 3);
    assert_eq!(
        register(&c, "web", "nginx:2")["taskDefinition"]["revision"],
        4
    );
    let d = call(&c, "DescribeTasks", json!({"tasks": [task]}));
    assert_eq!(d["tasks"][0]["lastStatus"], "RUNNING");
    let s = call(&c, "DescribeServices", json!({"services": ["web"]}));
    assert_eq!(s["services"][0]["runningCount"], 2);
    // The reconciler carries on: the adopted task can still be stopped.
    call(&c, "StopTask", json!({"task": task}));
    c.advance(5).await;
    let d = call(&c, "DescribeTasks", json!({"tasks": [task]}));
    assert_eq!(d["tasks"][0]["lastStatus"], "STOPPED");
    let ci = call(&c, "DescribeClusters", json!({}));
    assert_eq!(ci["clusters"][0]["registeredContainerInstancesCount"], 3);
}
