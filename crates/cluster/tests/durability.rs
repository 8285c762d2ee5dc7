use berth_cluster::Store;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn everything_acknowledged_is_there_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let task;
    let set_id;
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
        call(
            &c,
            "PutAccountSettingDefault",
            json!({"name": "containerInsights", "value": "enhanced"}),
        );
        call(
            &c,
            "CreateCapacityProvider",
            json!({"name": "asg", "autoScalingGroupProvider": {"autoScalingGroupArn": "my-asg"},
                "tags": [{"key": "k", "value": "v"}]}),
        );
        call(
            &c,
            "PutClusterCapacityProviders",
            json!({"capacityProviders": ["FARGATE", "asg"],
                "defaultCapacityProviderStrategy": [{"capacityProvider": "asg", "weight": 1}]}),
        );
        call(
            &c,
            "CreateService",
            json!({"serviceName": "ext", "desiredCount": 2,
                "deploymentController": {"type": "EXTERNAL"}}),
        );
        let ts = call(
            &c,
            "CreateTaskSet",
            json!({"cluster": "default", "service": "ext", "taskDefinition": "web:1",
                "launchType": "EC2", "scale": {"value": 50.0, "unit": "PERCENT"}}),
        );
        set_id = ts["taskSet"]["id"].as_str().unwrap().to_string();
        call(
            &c,
            "UpdateServicePrimaryTaskSet",
            json!({"cluster": "default", "service": "ext", "primaryTaskSet": set_id}),
        );
        c.advance(10).await;
    }
    let c = cluster(Some(dir.path())).await;
    // The task set, PRIMARY and running its task, and the service still follows it.
    let ts = call(
        &c,
        "DescribeTaskSets",
        json!({"cluster": "default", "service": "ext", "taskSets": [set_id]}),
    );
    assert_eq!(ts["taskSets"][0]["id"], set_id.as_str());
    assert_eq!(ts["taskSets"][0]["status"], "PRIMARY");
    assert_eq!(ts["taskSets"][0]["computedDesiredCount"], 1);
    assert_eq!(ts["taskSets"][0]["runningCount"], 1);
    let s = call(&c, "DescribeServices", json!({"services": ["ext"]}));
    assert!(
        s["services"][0]["taskDefinition"]
            .as_str()
            .unwrap()
            .ends_with("web:1")
    );
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
    // The account's settings too, and a cluster created now takes its containerInsights.
    let l = call(&c, "ListAccountSettings", json!({}));
    assert_eq!(l["settings"][0]["name"], "containerInsights");
    assert_eq!(l["settings"][0]["value"], "enhanced");
    let n = call(&c, "CreateCluster", json!({"clusterName": "later"}));
    assert_eq!(n["cluster"]["settings"][0]["value"], "enhanced");
    // And the capacity providers, associated with the cluster as they were.
    let p = call(
        &c,
        "DescribeCapacityProviders",
        json!({"capacityProviders": ["asg"], "include": ["TAGS"]}),
    );
    let p = &p["capacityProviders"][0];
    assert_eq!(p["status"], "ACTIVE");
    assert_eq!(
        p["autoScalingGroupProvider"]["autoScalingGroupArn"],
        "my-asg"
    );
    assert_eq!(p["tags"][0]["value"], "v");
    let r = call(&c, "RunTask", json!({"taskDefinition": "web"}));
    assert_eq!(r["tasks"][0]["capacityProviderName"], "asg");
    assert_eq!(r["tasks"][0]["launchType"], "EC2");
}

/// Tasks stored before task keys were ordered by time (`task/<cluster>/<id>`) are moved to
/// their current key when the cluster opens, in one transaction: each loads once, later writes
/// go to the new key, and nothing is left under the old one.
#[tokio::test]
async fn tasks_under_their_old_keys_are_moved_once() {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<String>;
    {
        let c = cluster(Some(dir.path())).await;
        register(&c, "web", "nginx:1");
        let r = call(&c, "RunTask", json!({"taskDefinition": "web", "count": 3}));
        ids = r["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let arn = t["taskArn"].as_str().unwrap();
                arn.rsplit('/').next().unwrap().to_string()
            })
            .collect();
        assert_eq!(ids.len(), 3);
        c.advance(5).await;
    }
    let task_keys = |store: &Store| -> Vec<String> {
        let mut keys: Vec<String> = store
            .load()
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| k.starts_with("task/"))
            .collect();
        keys.sort();
        keys
    };
    let current: Vec<String> = {
        let mut keys: Vec<String> = ids
            .iter()
            .map(|id| format!("task/default/{}{}", &id[20..], &id[..20]))
            .collect();
        keys.sort();
        keys
    };
    {
        let store = Store::open(Some(dir.path())).unwrap();
        assert_eq!(task_keys(&store), current, "tasks are kept by time");
        let mut old = Vec::new();
        for (k, v) in store.load().unwrap() {
            if let Some(rotated) = k.strip_prefix("task/default/") {
                let id = format!("{}{}", &rotated[12..], &rotated[..12]);
                old.push((k.clone(), None));
                old.push((format!("task/default/{id}"), Some(v)));
            }
        }
        store.commit(&old).unwrap();
        assert_ne!(task_keys(&store), current);
    }
    {
        let c = cluster(Some(dir.path())).await;
        let l = call(&c, "ListTasks", json!({}));
        assert_eq!(l["taskArns"].as_array().unwrap().len(), 3, "{l}");
        let d = call(&c, "DescribeClusters", json!({}));
        assert_eq!(d["clusters"][0]["runningTasksCount"], 3, "each loads once");
        call(&c, "StopTask", json!({"task": ids[0]}));
        c.advance(5).await;
    }
    let store = Store::open(Some(dir.path())).unwrap();
    assert_eq!(task_keys(&store), current, "moved, and nothing left behind");
    let stopped = store
        .load()
        .unwrap()
        .into_iter()
        .find(|(k, _)| k.ends_with(&ids[0][..20]))
        .unwrap();
    let stopped = String::from_utf8(stopped.1).unwrap();
    assert!(
        stopped.contains("\"STOPPED\""),
        "the stop went to the new key"
    );
}

/// A simulated task launched but still PROVISIONING when the process stops is started over
/// after the restart (as an agent restarting its pulls would), and runs, counted once.
#[tokio::test]
async fn a_simulated_task_launched_but_not_yet_pending_starts_over_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let arn;
    {
        let c = cluster(Some(dir.path())).await;
        register(&c, "web", "nginx:1");
        let r = call(&c, "RunTask", json!({"taskDefinition": "web"}));
        arn = r["tasks"][0]["taskArn"].as_str().unwrap().to_string();
        c.tick().await;
        let d = call(&c, "DescribeTasks", json!({"tasks": [arn]}));
        assert_eq!(d["tasks"][0]["lastStatus"], "PROVISIONING");
    }
    let c = cluster(Some(dir.path())).await;
    c.advance(5).await;
    let d = call(&c, "DescribeTasks", json!({"tasks": [arn]}));
    assert_eq!(d["tasks"][0]["lastStatus"], "RUNNING", "{d}");
    let ci = call(&c, "DescribeClusters", json!({}));
    assert_eq!(ci["clusters"][0]["runningTasksCount"], 1);
    assert_eq!(ci["clusters"][0]["pendingTasksCount"], 0);
}

/// A task is stored launched when it is created, so handing it to the runtime writes nothing
/// more; one acknowledged but not yet handed over when the process stops is started after the
/// restart, and so is one stored before that rule (`launched` false), whose launch is stored
/// first.
#[tokio::test]
async fn a_task_is_stored_launched_when_created_and_started_after_a_restart_either_way() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second);
    let stored_launched = |store: &Store, id: &str| -> Option<bool> {
        store
            .load()
            .unwrap()
            .into_iter()
            .find(|(k, _)| k.starts_with("task/") && k.ends_with(&id[..20]))
            .map(|(_, v)| {
                serde_json::from_slice::<serde_json::Value>(&v).unwrap()["launched"] == true
            })
    };
    {
        let c = cluster(Some(dir.path())).await;
        register(&c, "web", "nginx:1");
        let r = call(&c, "RunTask", json!({"taskDefinition": "web", "count": 2}));
        let ids: Vec<String> = r["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                t["taskArn"]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect();
        (first, second) = (ids[0].clone(), ids[1].clone());
        // The pass that hands them to the runtime changes no task record.
        let seq = c.changes().seq();
        c.tick().await;
        let feed = c.changes().since(seq).unwrap();
        assert!(!feed.iter().any(|s| s.change.name == first), "{feed:?}");
    }
    {
        let store = Store::open(Some(dir.path())).unwrap();
        assert_eq!(stored_launched(&store, &first), Some(true));
        // The second as a store from before the rule has it: not launched yet.
        let (k, v) = store
            .load()
            .unwrap()
            .into_iter()
            .find(|(k, _)| k.starts_with("task/") && k.ends_with(&second[..20]))
            .unwrap();
        let mut rec: serde_json::Value = serde_json::from_slice(&v).unwrap();
        rec["launched"] = json!(false);
        store
            .commit(&[(k, Some(serde_json::to_vec(&rec).unwrap()))])
            .unwrap();
        assert_eq!(stored_launched(&store, &second), Some(false));
    }
    {
        let c = cluster(Some(dir.path())).await;
        c.advance(5).await;
        let d = call(&c, "DescribeTasks", json!({"tasks": [&first, &second]}));
        for t in d["tasks"].as_array().unwrap() {
            assert_eq!(t["lastStatus"], "RUNNING", "{d}");
        }
        let ci = call(&c, "DescribeClusters", json!({}));
        assert_eq!(ci["clusters"][0]["runningTasksCount"], 2);
        assert_eq!(ci["clusters"][0]["pendingTasksCount"], 0);
        // A task stopped before any pass handed it to the runtime stops at once.
        let r = call(&c, "RunTask", json!({"taskDefinition": "web"}));
        let arn = r["tasks"][0]["taskArn"].as_str().unwrap().to_string();
        let s = call(&c, "StopTask", json!({"task": arn}));
        assert_eq!(s["task"]["lastStatus"], "STOPPED", "{s}");
    }
    let store = Store::open(Some(dir.path())).unwrap();
    assert_eq!(
        stored_launched(&store, &second),
        Some(true),
        "its launch was stored"
    );
}

/// PENDING is shown and published at once but stored only with the task's next change: a
/// restart in between finds the task as it was created, starts it over, and it runs.
#[tokio::test]
async fn pending_is_stored_with_the_next_change_and_a_restart_before_it_starts_over() {
    let dir = tempfile::tempdir().unwrap();
    let stored_status = |id: &str| -> String {
        let store = Store::open(Some(dir.path())).unwrap();
        let (_, v) = store
            .load()
            .unwrap()
            .into_iter()
            .find(|(k, _)| k.starts_with("task/") && k.ends_with(&id[..20]))
            .unwrap();
        let rec: serde_json::Value = serde_json::from_slice(&v).unwrap();
        rec["task"]["lastStatus"].as_str().unwrap().to_string()
    };
    let id;
    {
        let c = cluster(Some(dir.path())).await;
        register(&c, "web", "nginx:1");
        let r = call(&c, "RunTask", json!({"taskDefinition": "web"}));
        let arn = r["tasks"][0]["taskArn"].as_str().unwrap().to_string();
        id = arn.rsplit('/').next().unwrap().to_string();
        let seq = c.changes().seq();
        c.advance(1).await;
        let d = call(&c, "DescribeTasks", json!({"tasks": [&arn]}));
        assert_eq!(d["tasks"][0]["lastStatus"], "PENDING", "{d}");
        let feed = c.changes().since(seq).unwrap();
        assert!(
            feed.iter().any(|s| s.change.name == id),
            "the dashboard hears of it: {feed:?}"
        );
    }
    assert_eq!(stored_status(&id), "PROVISIONING");
    {
        let c = cluster(Some(dir.path())).await;
        let d = call(&c, "DescribeTasks", json!({"tasks": [&id]}));
        assert_eq!(d["tasks"][0]["lastStatus"], "PROVISIONING", "{d}");
        c.advance(1).await;
        let d = call(&c, "DescribeTasks", json!({"tasks": [&id]}));
        assert_eq!(d["tasks"][0]["lastStatus"], "PENDING", "started over: {d}");
        c.advance(3).await;
        let d = call(&c, "DescribeTasks", json!({"tasks": [&id]}));
        assert_eq!(d["tasks"][0]["lastStatus"], "RUNNING", "{d}");
        assert!(d["tasks"][0]["pullStartedAt"].is_number(), "{d}");
    }
    assert_eq!(stored_status(&id), "RUNNING");
}
