use berth_core::protocol::ErrorCode;
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn default_cluster_and_cluster_lifecycle() {
    let c = cluster(None).await;
    let d = call(&c, "DescribeClusters", json!({"include": ["STATISTICS"]}));
    assert_eq!(d["clusters"][0]["clusterName"], "default");
    assert_eq!(d["clusters"][0]["registeredContainerInstancesCount"], 3);
    assert_eq!(
        d["clusters"][0]["clusterArn"],
        "arn:aws:ecs:us-east-1:000000000000:cluster/default"
    );
    call(
        &c,
        "CreateCluster",
        json!({"clusterName": "dev", "tags": [{"key": "a", "value": "b"}]}),
    );
    let l = call(&c, "ListClusters", json!({"maxResults": 1}));
    assert_eq!(l["clusterArns"].as_array().unwrap().len(), 1);
    let l2 = call(&c, "ListClusters", json!({"nextToken": l["nextToken"]}));
    assert_eq!(l2["clusterArns"].as_array().unwrap().len(), 1);
    assert!(l2["nextToken"].is_null());
    let missing = call(&c, "DescribeClusters", json!({"clusters": ["nope"]}));
    assert_eq!(missing["failures"][0]["reason"], "MISSING");
    let e = err(&c, "DeleteCluster", json!({"cluster": "default"}));
    assert_eq!(
        e.code,
        ErrorCode::ClusterContainsContainerInstancesException
    );
    let del = call(&c, "DeleteCluster", json!({"cluster": "dev"}));
    assert_eq!(del["cluster"]["status"], "INACTIVE");
    let e = err(&c, "ListTasks", json!({"cluster": "dev"}));
    assert_eq!(e.code, ErrorCode::ClusterNotFoundException);
    assert_eq!(e.message, "Cluster not found.");
}

#[tokio::test]
async fn task_definitions_revisions_and_validation() {
    let c = cluster(None).await;
    for i in 1..=3 {
        let r = register(&c, "web", &format!("nginx:1.{i}"));
        assert_eq!(r["taskDefinition"]["revision"], i);
        assert_eq!(r["taskDefinition"]["status"], "ACTIVE");
    }
    let d = call(
        &c,
        "DescribeTaskDefinition",
        json!({"taskDefinition": "web"}),
    );
    assert_eq!(d["taskDefinition"]["revision"], 3);
    let d = call(
        &c,
        "DescribeTaskDefinition",
        json!({"taskDefinition": "web:2"}),
    );
    assert_eq!(
        d["taskDefinition"]["containerDefinitions"][0]["image"],
        "nginx:1.2"
    );
    let arn = d["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        arn,
        "arn:aws:ecs:us-east-1:000000000000:task-definition/web:2"
    );
    call(
        &c,
        "DeregisterTaskDefinition",
        json!({"taskDefinition": arn}),
    );
    let l = call(
        &c,
        "ListTaskDefinitions",
        json!({"familyPrefix": "web", "sort": "DESC"}),
    );
    let arns: Vec<&str> = l["taskDefinitionArns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(arns[0].ends_with("web:3") && arns[1].ends_with("web:1") && arns.len() == 2);
    let l = call(&c, "ListTaskDefinitions", json!({"status": "INACTIVE"}));
    assert_eq!(l["taskDefinitionArns"].as_array().unwrap().len(), 1);
    let del = call(
        &c,
        "DeleteTaskDefinitions",
        json!({"taskDefinitions": ["web:2", "web:3"]}),
    );
    assert_eq!(del["taskDefinitions"][0]["status"], "DELETE_IN_PROGRESS");
    assert_eq!(del["failures"].as_array().unwrap().len(), 1);
    let e = err(
        &c,
        "DescribeTaskDefinition",
        json!({"taskDefinition": "nope"}),
    );
    assert_eq!(
        (e.code, e.message.as_str()),
        (
            ErrorCode::ClientException,
            "Unable to describe task definition."
        )
    );
    // What the validator rejects, ECS's ClientException and message.
    let e = err(
        &c,
        "RegisterTaskDefinition",
        json!({"family": "f", "requiresCompatibilities": ["FARGATE"], "networkMode": "bridge",
               "cpu": "256", "memory": "512", "containerDefinitions": [{"name": "a", "image": "x:1"}]}),
    );
    assert_eq!(e.code, ErrorCode::ClientException);
    assert_eq!(e.message, "Fargate only supports network mode ‘awsvpc’.");
    let e = err(
        &c,
        "RegisterTaskDefinition",
        json!({"family": "f", "containerDefinitions": "x"}),
    );
    assert_eq!(e.code, ErrorCode::SerializationException);
    let fam = call(&c, "ListTaskDefinitionFamilies", json!({"status": "ALL"}));
    assert_eq!(fam["families"], json!(["web"]));
}

#[tokio::test]
async fn tags_on_every_kind() {
    let c = cluster(None).await;
    let td = register(&c, "web", "nginx:1");
    let arn = td["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .unwrap()
        .to_string();
    call(
        &c,
        "TagResource",
        json!({"resourceArn": arn, "tags": [{"key": "k", "value": "v"}, {"key": "x", "value": "y"}]}),
    );
    call(
        &c,
        "UntagResource",
        json!({"resourceArn": arn, "tagKeys": ["x"]}),
    );
    let t = call(&c, "ListTagsForResource", json!({"resourceArn": arn}));
    assert_eq!(t["tags"], json!([{"key": "k", "value": "v"}]));
    let cl = "arn:aws:ecs:us-east-1:000000000000:cluster/default";
    call(
        &c,
        "TagResource",
        json!({"resourceArn": cl, "tags": [{"key": "team", "value": "a"}]}),
    );
    let t = call(&c, "ListTagsForResource", json!({"resourceArn": cl}));
    assert_eq!(t["tags"][0]["key"], "team");
    let e = err(
        &c,
        "TagResource",
        json!({"resourceArn": cl, "tags": [{"key": "aws:x", "value": "a"}]}),
    );
    assert_eq!(e.code, ErrorCode::InvalidParameterException);
}

#[tokio::test]
async fn container_instances_filters_and_attributes() {
    let c = cluster(None).await;
    let l = call(
        &c,
        "ListContainerInstances",
        json!({"filter": "attribute:ecs.availability-zone == us-east-1b"}),
    );
    assert_eq!(l["containerInstanceArns"].as_array().unwrap().len(), 1);
    let ci = l["containerInstanceArns"][0].as_str().unwrap().to_string();
    call(
        &c,
        "PutAttributes",
        json!({"attributes": [{"name": "stack", "value": "prod", "targetId": ci}]}),
    );
    let l = call(
        &c,
        "ListContainerInstances",
        json!({"filter": "attribute:stack == prod"}),
    );
    assert_eq!(l["containerInstanceArns"], json!([ci]));
    let a = call(
        &c,
        "ListAttributes",
        json!({"targetType": "container-instance", "attributeName": "stack"}),
    );
    assert_eq!(a["attributes"][0]["value"], "prod");
    let e = err(
        &c,
        "ListContainerInstances",
        json!({"filter": "attribute:stack =="}),
    );
    assert_eq!(e.code, ErrorCode::InvalidParameterException);
    let d = call(
        &c,
        "DescribeContainerInstances",
        json!({"containerInstances": [ci, "nope"]}),
    );
    assert_eq!(
        d["containerInstances"][0]["registeredResources"][0]["integerValue"],
        2048
    );
    assert_eq!(d["failures"][0]["reason"], "MISSING");
    let u = call(
        &c,
        "UpdateContainerInstancesState",
        json!({"containerInstances": [ci], "status": "DRAINING"}),
    );
    assert_eq!(u["containerInstances"][0]["status"], "DRAINING");
}
