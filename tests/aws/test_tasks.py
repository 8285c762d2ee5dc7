"""Tasks: RunTask (count, placement, failures), StartTask, StopTask, DescribeTasks, ListTasks,
task protection; boto3 waiters tasks_running / tasks_stopped; ListTasks paginator over 100 tasks."""

from collections import Counter

import pytest
from botocore.exceptions import WaiterError

from conftest import AZS, INSTANCE_MEMORY, INSTANCES
from ecs_helpers import FAST, container, describe_tasks, expect_error, register, run_tasks


def az_of(instance):
    return next(a["value"] for a in instance["attributes"] if a["name"] == "ecs.availability-zone")


def test_run_task_count_and_tasks_running_waiter(ecs):
    register(ecs, "web")
    resp = ecs.run_task(cluster="default", taskDefinition="web", count=3, launchType="EC2", startedBy="tester", group="family:web")
    assert resp["failures"] == []
    tasks = resp["tasks"]
    assert len(tasks) == 3
    for t in tasks:
        assert t["lastStatus"] in ("PROVISIONING", "PENDING")
        assert t["desiredStatus"] == "RUNNING"
        assert t["launchType"] == "EC2"
        assert t["startedBy"] == "tester"
        assert t["group"] == "family:web"
        assert t["taskDefinitionArn"].endswith("task-definition/web:1")
        assert t["containerInstanceArn"].startswith("arn:aws:ecs:us-east-1:")
        assert t["containers"][0]["name"] == "web"
    arns = [t["taskArn"] for t in tasks]
    ecs.get_waiter("tasks_running").wait(cluster="default", tasks=arns, WaiterConfig=FAST)
    for t in describe_tasks(ecs, arns):
        assert t["lastStatus"] == "RUNNING"
        assert t["containers"][0]["lastStatus"] == "RUNNING"
        assert "startedAt" in t and "pullStartedAt" in t
    c = ecs.describe_clusters(clusters=["default"])["clusters"][0]
    assert c["runningTasksCount"] == 3


def test_stop_task_and_tasks_stopped_waiter(ecs):
    register(ecs, "web")
    arns = run_tasks(ecs, "web", 2)
    ecs.get_waiter("tasks_running").wait(cluster="default", tasks=arns, WaiterConfig=FAST)
    stopped = ecs.stop_task(cluster="default", task=arns[0], reason="done testing")["task"]
    assert stopped["desiredStatus"] == "STOPPED"
    ecs.get_waiter("tasks_stopped").wait(cluster="default", tasks=[arns[0]], WaiterConfig=FAST)
    t, other = describe_tasks(ecs, arns)
    assert t["lastStatus"] == "STOPPED"
    assert t["stopCode"] == "UserInitiated"
    assert t["stoppedReason"] == "done testing"
    assert "stoppedAt" in t and "stoppingAt" in t
    assert t["containers"][0]["lastStatus"] == "STOPPED"
    assert other["lastStatus"] == "RUNNING", "stopping one task leaves the other alone"


def test_tasks_running_waiter_fails_when_the_task_fails_to_start(ecs, control):
    register(ecs, "web")
    control.fail_starts(1)
    arns = run_tasks(ecs, "web", 1)
    with pytest.raises(WaiterError):
        ecs.get_waiter("tasks_running").wait(cluster="default", tasks=arns, WaiterConfig=FAST)
    t = describe_tasks(ecs, arns)[0]
    assert t["lastStatus"] == "STOPPED"
    assert t["stopCode"] == "TaskFailedToStart"


def test_crashed_essential_container_stops_the_task(ecs, control):
    register(ecs, "web")
    arns = run_tasks(ecs, "web", 1)
    ecs.get_waiter("tasks_running").wait(cluster="default", tasks=arns, WaiterConfig=FAST)
    control.crash(arns[0], exit_code=137)
    ecs.get_waiter("tasks_stopped").wait(cluster="default", tasks=arns, WaiterConfig=FAST)
    t = describe_tasks(ecs, arns)[0]
    assert t["stopCode"] == "EssentialContainerExited"
    assert t["containers"][0]["exitCode"] == 137


def test_run_task_limits(ecs):
    register(ecs, "web")
    expect_error("InvalidParameterException", ecs.run_task, taskDefinition="web", count=11, launchType="EC2")
    expect_error("InvalidParameterException", ecs.run_task, taskDefinition="web", count=0, launchType="EC2")
    expect_error("ClientException", ecs.run_task, taskDefinition="missing", launchType="EC2")
    expect_error("ClusterNotFoundException", ecs.run_task, cluster="nope", taskDefinition="web")
    expect_error(
        "InvalidParameterException",
        ecs.run_task,
        taskDefinition="web",
        launchType="EC2",
        capacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
    )


def test_run_task_resource_failures(ecs):
    register(ecs, "huge", containers=[container(memory=INSTANCE_MEMORY * 2)])
    resp = ecs.run_task(taskDefinition="huge", count=2, launchType="EC2")
    assert resp["tasks"] == []
    assert resp["failures"], "nothing fits, so RunTask reports why"
    assert any(f["reason"] == "RESOURCE:MEMORY" for f in resp["failures"]), resp["failures"]
    assert ecs.list_tasks()["taskArns"] == []


def test_placement_constraint_member_of(ecs, instances):
    register(ecs, "web")
    resp = ecs.run_task(
        taskDefinition="web",
        count=6,
        launchType="EC2",
        placementConstraints=[{"type": "memberOf", "expression": "attribute:ecs.availability-zone == us-east-1b"}],
    )
    assert resp["failures"] == []
    assert len(resp["tasks"]) == 6
    assert {az_of(instances[t["containerInstanceArn"]]) for t in resp["tasks"]} == {"us-east-1b"}
    # An expression no instance satisfies places nothing and says so.
    resp = ecs.run_task(
        taskDefinition="web",
        count=1,
        launchType="EC2",
        placementConstraints=[{"type": "memberOf", "expression": "attribute:team == nobody"}],
    )
    assert resp["tasks"] == [] and resp["failures"]


def test_placement_constraint_distinct_instance(ecs):
    register(ecs, "web")
    resp = ecs.run_task(
        taskDefinition="web", count=8, launchType="EC2", placementConstraints=[{"type": "distinctInstance"}]
    )
    assert resp["failures"] == []
    on = [t["containerInstanceArn"] for t in resp["tasks"]]
    assert len(set(on)) == 8


def test_placement_strategy_spread_over_zones(ecs, instances):
    register(ecs, "web")
    resp = ecs.run_task(
        taskDefinition="web",
        count=9,
        launchType="EC2",
        placementStrategy=[{"type": "spread", "field": "attribute:ecs.availability-zone"}],
    )
    assert resp["failures"] == []
    per_az = Counter(az_of(instances[t["containerInstanceArn"]]) for t in resp["tasks"])
    assert per_az == {az: 3 for az in AZS}


def test_placement_strategy_binpack_memory(ecs):
    register(ecs, "web")
    resp = ecs.run_task(
        taskDefinition="web", count=7, launchType="EC2", placementStrategy=[{"type": "binpack", "field": "memory"}]
    )
    assert resp["failures"] == []
    assert len({t["containerInstanceArn"] for t in resp["tasks"]}) == 1, "binpack fills one instance first"
    # Spread by instance puts them all on different instances instead.
    resp = ecs.run_task(
        taskDefinition="web", count=7, launchType="EC2", placementStrategy=[{"type": "spread", "field": "instanceId"}]
    )
    assert len({t["containerInstanceArn"] for t in resp["tasks"]}) == 7


def test_invalid_placement_expression_is_rejected(ecs):
    register(ecs, "web")
    expect_error(
        "InvalidParameterException",
        ecs.run_task,
        taskDefinition="web",
        launchType="EC2",
        placementConstraints=[{"type": "memberOf", "expression": "attribute:ecs.instance-type =="}],
    )


def test_run_task_overrides_and_tags(ecs):
    register(ecs, "web")
    resp = ecs.run_task(
        taskDefinition="web",
        launchType="EC2",
        overrides={"containerOverrides": [{"name": "web", "environment": [{"name": "MODE", "value": "test"}], "memory": 256}]},
        tags=[{"key": "purpose", "value": "override"}],
    )
    t = resp["tasks"][0]
    assert t["overrides"]["containerOverrides"][0]["environment"] == [{"name": "MODE", "value": "test"}]
    tags = ecs.list_tags_for_resource(resourceArn=t["taskArn"])["tags"]
    assert tags == [{"key": "purpose", "value": "override"}]
    described = ecs.describe_tasks(tasks=[t["taskArn"]], include=["TAGS"])["tasks"][0]
    assert described["tags"] == [{"key": "purpose", "value": "override"}]


def test_fargate_launch_type(ecs):
    ecs.register_task_definition(
        family="fg",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "app", "image": "nginx:1.27", "essential": True}],
    )
    resp = ecs.run_task(
        taskDefinition="fg",
        launchType="FARGATE",
        count=2,
        networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-12345678"], "assignPublicIp": "DISABLED"}},
    )
    assert resp["failures"] == []
    for t in resp["tasks"]:
        assert t["launchType"] == "FARGATE"
        assert "containerInstanceArn" not in t
        assert t["cpu"] == "256" and t["memory"] == "512"
    arns = [t["taskArn"] for t in resp["tasks"]]
    ecs.get_waiter("tasks_running").wait(tasks=arns, WaiterConfig=FAST)
    assert set(ecs.list_tasks(launchType="FARGATE")["taskArns"]) == set(arns)
    assert ecs.list_tasks(launchType="EC2")["taskArns"] == []


def test_start_task_on_a_chosen_instance(ecs, instances):
    register(ecs, "web")
    target = sorted(instances)[3]
    resp = ecs.start_task(taskDefinition="web", containerInstances=[target], startedBy="manual")
    assert resp["failures"] == []
    assert resp["tasks"][0]["containerInstanceArn"] == target
    assert ecs.list_tasks(containerInstance=target)["taskArns"] == [resp["tasks"][0]["taskArn"]]


def test_describe_tasks_missing_and_limits(ecs):
    register(ecs, "web")
    arns = run_tasks(ecs, "web", 1)
    bogus = arns[0].rsplit("/", 1)[0] + "/0123456789abcdef0123456789abcdef"
    resp = ecs.describe_tasks(tasks=[arns[0], bogus])
    assert [t["taskArn"] for t in resp["tasks"]] == [arns[0]]
    assert len(resp["failures"]) == 1
    assert resp["failures"][0]["reason"] == "MISSING"
    assert resp["failures"][0]["arn"].endswith("0123456789abcdef0123456789abcdef")
    # Describing by bare task id works too.
    task_id = arns[0].rsplit("/", 1)[1]
    assert ecs.describe_tasks(tasks=[task_id])["tasks"][0]["taskArn"] == arns[0]
    expect_error("InvalidParameterException", ecs.describe_tasks, tasks=[f"t{i}" for i in range(101)])
    expect_error("InvalidParameterException", ecs.describe_tasks, tasks=[])


def test_list_tasks_filters(ecs, instances):
    register(ecs, "web")
    register(ecs, "api")
    web = run_tasks(ecs, "web", 3, startedBy="alice")
    api = run_tasks(ecs, "api", 2, startedBy="bob")
    assert set(ecs.list_tasks()["taskArns"]) == set(web + api)
    assert set(ecs.list_tasks(family="web")["taskArns"]) == set(web)
    assert set(ecs.list_tasks(startedBy="bob")["taskArns"]) == set(api)
    one = describe_tasks(ecs, [web[0]])[0]["containerInstanceArn"]
    on_one = set(ecs.list_tasks(containerInstance=one)["taskArns"])
    expected = {t["taskArn"] for t in describe_tasks(ecs, web + api) if t["containerInstanceArn"] == one}
    assert on_one == expected and web[0] in on_one
    ecs.stop_task(task=web[1])
    assert set(ecs.list_tasks(desiredStatus="STOPPED")["taskArns"]) == {web[1]}
    assert web[1] not in ecs.list_tasks()["taskArns"]
    expect_error("ServiceNotFoundException", ecs.list_tasks, serviceName="nope")


def test_list_tasks_paginator_over_100_tasks(ecs):
    register(ecs, "many")
    started = []
    for _ in range(11):
        started += run_tasks(ecs, "many", 10)
    assert len(set(started)) == 110
    paginator = ecs.get_paginator("list_tasks")
    pages = list(paginator.paginate(cluster="default", family="many"))
    assert [len(p["taskArns"]) for p in pages] == [100, 10]
    listed = [a for p in pages for a in p["taskArns"]]
    assert sorted(listed) == sorted(started)
    small = list(paginator.paginate(cluster="default", PaginationConfig={"PageSize": 30}))
    assert [len(p["taskArns"]) for p in small] == [30, 30, 30, 20]
    assert sorted(a for p in small for a in p["taskArns"]) == sorted(started)
    # DescribeTasks of 100 at once.
    described = ecs.describe_tasks(tasks=listed[:100])
    assert len(described["tasks"]) == 100 and described["failures"] == []
    expect_error("InvalidParameterException", ecs.list_tasks, maxResults=101)
    expect_error("InvalidParameterException", ecs.list_tasks, nextToken="not-a-token")


def test_paginator_with_the_cli(cli, ecs):
    register(ecs, "many")
    started = []
    for _ in range(11):
        started += run_tasks(ecs, "many", 10)
    # The CLI follows nextToken by itself; --page-size makes it take several pages.
    out = cli.run("list-tasks", "--cluster", "default", "--page-size", "40")
    assert sorted(out["taskArns"]) == sorted(started)


def test_task_protection(ecs):
    register(ecs, "web")
    arns = run_tasks(ecs, "web", 1)
    ecs.get_waiter("tasks_running").wait(tasks=arns, WaiterConfig=FAST)
    resp = ecs.update_task_protection(cluster="default", tasks=arns, protectionEnabled=True, expiresInMinutes=60)
    assert resp["failures"] == []
    assert resp["protectedTasks"][0]["protectionEnabled"] is True
    got = ecs.get_task_protection(cluster="default", tasks=arns)["protectedTasks"][0]
    assert got["taskArn"] == arns[0] and got["protectionEnabled"] is True and "expirationDate" in got
    ecs.update_task_protection(cluster="default", tasks=arns, protectionEnabled=False)
    assert ecs.get_task_protection(cluster="default", tasks=arns)["protectedTasks"][0]["protectionEnabled"] is False


def test_cluster_counts_follow_tasks(ecs):
    register(ecs, "web")
    arns = run_tasks(ecs, "web", 4)
    ecs.get_waiter("tasks_running").wait(tasks=arns, WaiterConfig=FAST)
    c = ecs.describe_clusters(clusters=["default"])["clusters"][0]
    assert c["runningTasksCount"] == 4 and c["pendingTasksCount"] == 0
    for a in arns:
        ecs.stop_task(task=a)
    ecs.get_waiter("tasks_stopped").wait(tasks=arns, WaiterConfig=FAST)
    c = ecs.describe_clusters(clusters=["default"])["clusters"][0]
    assert c["runningTasksCount"] == 0


def test_instances_fit_the_configured_capacity(ecs):
    # 10 instances x 2048 CPU: 1024-CPU tasks fit exactly 2 per instance, 20 in all.
    register(ecs, "big", containers=[container(cpu=1024, memory=256)])
    placed = []
    for _ in range(2):
        placed += run_tasks(ecs, "big", 10)
    resp = ecs.run_task(taskDefinition="big", count=1, launchType="EC2")
    assert resp["tasks"] == []
    assert any(f["reason"] == "RESOURCE:CPU" for f in resp["failures"]), resp["failures"]
    assert len(placed) == 2 * INSTANCES


def test_cli_run_task_and_wait(cli, ecs):
    register(ecs, "web")
    out = cli.run("run-task", "--cluster", "default", "--task-definition", "web", "--count", "2", "--launch-type", "EC2")
    assert out["failures"] == []
    arns = [t["taskArn"] for t in out["tasks"]]
    # The CLI's own waiter (boto's tasks_running, polling every 6 s).
    cli.run("wait", "tasks-running", "--cluster", "default", "--tasks", *arns)
    described = cli.run("describe-tasks", "--cluster", "default", "--tasks", *arns)
    assert [t["lastStatus"] for t in described["tasks"]] == ["RUNNING", "RUNNING"]
    cli.run("stop-task", "--cluster", "default", "--task", arns[0], "--reason", "cli")
    cli.run("wait", "tasks-stopped", "--cluster", "default", "--tasks", arns[0])
    t = cli.run("describe-tasks", "--cluster", "default", "--tasks", arns[0])["tasks"][0]
    assert t["stoppedReason"] == "cli"


def test_run_task_harvested_ecs_texts(ecs):
    """ECS's own texts (docs/ecs-error-harvest.md), each beside the valid neighbour that runs."""
    register(ecs, "web", containers=[container(memory=256)])
    # A task memory override below a container's memory (artilleryio/artillery#591).
    msg = expect_error(
        "InvalidParameterException", ecs.run_task, taskDefinition="web", launchType="EC2", overrides={"memory": "128"}
    )
    assert msg == "'memory' setting for container 'web' is greater than for task."
    assert ecs.run_task(taskDefinition="web", launchType="EC2", overrides={"memory": "512"})["tasks"]
    # A capacity provider the cluster does not have (dask/dask-cloudprovider#328).
    ecs.create_cluster(clusterName="bare")
    ecs.register_task_definition(
        family="fg",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[container()],
    )
    spot = dict(
        cluster="bare",
        taskDefinition="fg",
        capacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT", "weight": 1}],
        networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-1"]}},
    )
    msg = expect_error("InvalidParameterException", ecs.run_task, **spot)
    assert msg == (
        "The specified capacity provider strategy cannot contain a capacity provider that is not associated with the"
        " cluster. Associate the capacity provider with the cluster or specify a valid capacity provider and try again."
    )
    ecs.put_cluster_capacity_providers(
        cluster="bare", capacityProviders=["FARGATE", "FARGATE_SPOT"], defaultCapacityProviderStrategy=[]
    )
    assert ecs.run_task(**spot)["tasks"][0]["capacityProviderName"] == "FARGATE_SPOT"
