"""Clusters: Create, Describe (include), List, Update, Delete, capacity providers; CLI and boto3."""

from conftest import ACCOUNT, INSTANCES, REGION
from ecs_helpers import FAST, expect_error, register


def arn(name):
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{name}"


def test_default_cluster_exists_with_its_instances(ecs):
    c = ecs.describe_clusters(clusters=["default"])["clusters"][0]
    assert c["clusterArn"] == arn("default")
    assert c["clusterName"] == "default"
    assert c["status"] == "ACTIVE"
    assert c["registeredContainerInstancesCount"] == INSTANCES
    assert c["runningTasksCount"] == 0
    assert c["pendingTasksCount"] == 0
    assert c["activeServicesCount"] == 0
    # Describe with no cluster at all means `default`, as in ECS.
    assert ecs.describe_clusters()["clusters"][0]["clusterArn"] == arn("default")


def test_create_describe_include_list(ecs):
    created = ecs.create_cluster(
        clusterName="alpha",
        tags=[{"key": "env", "value": "test"}],
        settings=[{"name": "containerInsights", "value": "enabled"}],
    )["cluster"]
    assert created["clusterArn"] == arn("alpha")
    assert created["status"] == "ACTIVE"
    assert created["registeredContainerInstancesCount"] == 0

    plain = ecs.describe_clusters(clusters=["alpha"])["clusters"][0]
    assert not plain.get("tags"), "tags are only returned with include=TAGS"
    full = ecs.describe_clusters(clusters=[arn("alpha")], include=["TAGS", "SETTINGS", "STATISTICS"])["clusters"][0]
    assert full["tags"] == [{"key": "env", "value": "test"}]
    assert {"name": "containerInsights", "value": "enabled"} in full["settings"]
    assert "statistics" in full

    listed = ecs.list_clusters()["clusterArns"]
    assert set(listed) >= {arn("default"), arn("alpha")}


def test_create_is_idempotent(ecs):
    a = ecs.create_cluster(clusterName="same")["cluster"]["clusterArn"]
    b = ecs.create_cluster(clusterName="same")["cluster"]["clusterArn"]
    assert a == b
    assert ecs.list_clusters()["clusterArns"].count(a) == 1


def test_invalid_cluster_name_rejected(ecs):
    msg = expect_error("InvalidParameterException", ecs.create_cluster, clusterName="bad name!")
    assert msg


def test_describe_missing_cluster_is_a_failure_not_an_error(ecs):
    resp = ecs.describe_clusters(clusters=["default", "nope"])
    assert [c["clusterName"] for c in resp["clusters"]] == ["default"]
    assert len(resp["failures"]) == 1
    assert resp["failures"][0]["reason"] == "MISSING"
    assert resp["failures"][0]["arn"].endswith("nope")


def test_operations_on_unknown_cluster_raise_cluster_not_found(ecs):
    expect_error("ClusterNotFoundException", ecs.list_tasks, cluster="nope")
    expect_error("ClusterNotFoundException", ecs.list_services, cluster="nope")
    expect_error("ClusterNotFoundException", ecs.delete_cluster, cluster="nope")
    expect_error("ClusterNotFoundException", ecs.update_cluster, cluster="nope", settings=[])


def test_update_cluster_settings(ecs):
    ecs.create_cluster(clusterName="upd")
    resp = ecs.update_cluster(cluster="upd", settings=[{"name": "containerInsights", "value": "enhanced"}])
    assert {"name": "containerInsights", "value": "enhanced"} in resp["cluster"]["settings"]
    resp = ecs.update_cluster_settings(cluster="upd", settings=[{"name": "containerInsights", "value": "disabled"}])
    got = ecs.describe_clusters(clusters=["upd"], include=["SETTINGS"])["clusters"][0]["settings"]
    assert got == [{"name": "containerInsights", "value": "disabled"}]


def test_delete_cluster(ecs):
    ecs.create_cluster(clusterName="gone")
    deleted = ecs.delete_cluster(cluster="gone")["cluster"]
    assert deleted["status"] == "INACTIVE"
    assert arn("gone") not in ecs.list_clusters()["clusterArns"]
    # ECS still describes a deleted cluster for a while, as INACTIVE.
    described = ecs.describe_clusters(clusters=["gone"])
    statuses = [c["status"] for c in described["clusters"]]
    assert statuses in (["INACTIVE"], []), described
    expect_error("ClusterNotFoundException", ecs.list_tasks, cluster="gone")


def test_delete_cluster_with_instances_refused(ecs):
    expect_error("ClusterContainsContainerInstancesException", ecs.delete_cluster, cluster="default")
    assert ecs.describe_clusters(clusters=["default"])["clusters"][0]["status"] == "ACTIVE"


def test_list_clusters_paginates(ecs):
    for i in range(12):
        ecs.create_cluster(clusterName=f"page-{i:02}")
    pages = list(ecs.get_paginator("list_clusters").paginate(PaginationConfig={"PageSize": 5}))
    sizes = [len(p["clusterArns"]) for p in pages]
    assert sizes == [5, 5, 3], sizes
    every = [a for p in pages for a in p["clusterArns"]]
    assert len(set(every)) == 13
    expect_error("InvalidParameterException", ecs.list_clusters, maxResults=101)


def test_capacity_providers(ecs):
    cps = ecs.describe_capacity_providers(capacityProviders=["FARGATE", "FARGATE_SPOT"])["capacityProviders"]
    assert sorted(c["name"] for c in cps) == ["FARGATE", "FARGATE_SPOT"]
    assert all(c["status"] == "ACTIVE" for c in cps)
    ecs.create_cluster(clusterName="cp")
    resp = ecs.put_cluster_capacity_providers(
        cluster="cp",
        capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[
            {"capacityProvider": "FARGATE", "weight": 1, "base": 1},
            {"capacityProvider": "FARGATE_SPOT", "weight": 3},
        ],
    )
    c = resp["cluster"]
    assert sorted(c["capacityProviders"]) == ["FARGATE", "FARGATE_SPOT"]
    strategy = {s["capacityProvider"]: s for s in c["defaultCapacityProviderStrategy"]}
    assert strategy["FARGATE"]["base"] == 1 and strategy["FARGATE_SPOT"]["weight"] == 3
    expect_error(
        "InvalidParameterException",
        ecs.put_cluster_capacity_providers,
        cluster="cp",
        capacityProviders=["NOPE"],
        defaultCapacityProviderStrategy=[],
    )


def test_cli_create_list_delete_with_endpoint_flag(cli):
    out = cli.run("create-cluster", "--cluster-name", "from-cli", "--tags", "key=k,value=v")
    assert out["cluster"]["clusterArn"] == arn("from-cli")
    listed = cli.run("list-clusters")
    assert arn("from-cli") in listed["clusterArns"]
    described = cli.run("describe-clusters", "--clusters", "from-cli", "--include", "TAGS")
    assert described["clusters"][0]["tags"] == [{"key": "k", "value": "v"}]
    cli.run("delete-cluster", "--cluster", "from-cli")
    assert arn("from-cli") not in cli.run("list-clusters")["clusterArns"]


def test_cli_with_aws_endpoint_url_ecs_env(cli, endpoint):
    env = cli.env(AWS_ENDPOINT_URL_ECS=endpoint)
    out = cli.run("create-cluster", "--cluster-name", "via-env", endpoint_flag=False, env=env)
    assert out["cluster"]["clusterArn"] == arn("via-env")
    listed = cli.run("list-clusters", endpoint_flag=False, env=env)
    assert arn("via-env") in listed["clusterArns"]


def test_cli_error_exit_status_and_message(cli):
    err = cli.run("describe-services", "--cluster", "nope", "--services", "x", check=False)
    assert getattr(err, "code", 0) != 0, "the CLI must fail"
    assert "ClusterNotFoundException" in err.stderr


def test_statistics_split_tasks_and_services_by_launch_type(ecs, cli):
    """STATISTICS answers the eight counts the model documents (by launch type, in its order);
    a Fargate task or service is not counted as EC2."""
    register(ecs, "web")
    ecs.register_task_definition(
        family="fg", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "app", "image": "nginx:1.27", "essential": True}],
    )
    net = {"awsvpcConfiguration": {"subnets": ["subnet-12345678"]}}
    ec2 = [t["taskArn"] for t in ecs.run_task(taskDefinition="web", launchType="EC2", count=2)["tasks"]]
    fg = [t["taskArn"] for t in ecs.run_task(taskDefinition="fg", launchType="FARGATE", networkConfiguration=net)["tasks"]]
    ecs.get_waiter("tasks_running").wait(tasks=ec2 + fg, WaiterConfig=FAST)
    ecs.create_service(serviceName="on-ec2", taskDefinition="web", desiredCount=0, launchType="EC2")
    ecs.create_service(serviceName="on-fargate", taskDefinition="fg", desiredCount=0, networkConfiguration=net,
                       capacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 1}])
    ecs.create_service(serviceName="gone", taskDefinition="fg", desiredCount=0, launchType="FARGATE",
                       networkConfiguration=net)
    ecs.delete_service(service="gone")
    stats = cli.run("describe-clusters", "--include", "STATISTICS", "--query", "clusters[0].statistics")
    gone = ecs.describe_services(services=["gone"])["services"][0]["status"]
    assert [s["name"] for s in stats] == [
        "runningEC2TasksCount", "runningFargateTasksCount", "pendingEC2TasksCount", "pendingFargateTasksCount",
        "activeEC2ServiceCount", "activeFargateServiceCount", "drainingEC2ServiceCount", "drainingFargateServiceCount",
    ]
    got = {s["name"]: int(s["value"]) for s in stats}
    assert got["runningEC2TasksCount"] == 2 and got["runningFargateTasksCount"] == 1
    assert got["pendingEC2TasksCount"] == 0 and got["pendingFargateTasksCount"] == 0
    assert got["activeEC2ServiceCount"] == 1 and got["activeFargateServiceCount"] == 1
    c = ecs.describe_clusters()["clusters"][0]
    assert c["runningTasksCount"] == 3 and c["activeServicesCount"] == 2
    # A deleted service drains, then goes INACTIVE; while it drains it is Fargate's, never EC2's.
    assert got["drainingEC2ServiceCount"] == 0
    assert got["drainingFargateServiceCount"] == (1 if gone == "DRAINING" else 0), gone
    assert c["statistics"] == [], "statistics only with include=STATISTICS"
