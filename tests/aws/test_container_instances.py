"""Container instances: List (cluster query language filter, status), Describe (registered and
remaining resources), UpdateContainerInstancesState (DRAINING moves service tasks off),
Deregister; attributes: Put/Delete/ListAttributes."""

from collections import Counter

from conftest import AZS, INSTANCE_CPU, INSTANCE_MEMORY, INSTANCES
from ecs_helpers import FAST, container, expect_error, register, service, service_tasks, wait_until


def resource(resources, name):
    r = next(r for r in resources if r["name"] == name)
    return r.get("integerValue") if r["type"] == "INTEGER" else r.get("stringSetValue")


def attr(ci, name):
    return next((a.get("value") for a in ci["attributes"] if a["name"] == name), None)


def test_list_and_describe(ecs, instances):
    assert len(instances) == INSTANCES
    for ci in instances.values():
        assert ci["status"] == "ACTIVE"
        assert ci["agentConnected"] is True
        assert ci["ec2InstanceId"].startswith("i-")
        assert resource(ci["registeredResources"], "CPU") == INSTANCE_CPU
        assert resource(ci["registeredResources"], "MEMORY") == INSTANCE_MEMORY
        assert resource(ci["remainingResources"], "CPU") == INSTANCE_CPU
        assert ci["runningTasksCount"] == 0 and ci["pendingTasksCount"] == 0
        assert attr(ci, "team") == "berth", "the --attribute flag of berth serve"
        assert attr(ci, "ecs.instance-type") == "t3.medium"
    zones = Counter(attr(ci, "ecs.availability-zone") for ci in instances.values())
    assert set(zones) == set(AZS)
    assert max(zones.values()) - min(zones.values()) <= 1, "spread round-robin"


def test_list_with_cluster_query_language_filter(ecs, instances):
    in_a = {arn for arn, ci in instances.items() if attr(ci, "ecs.availability-zone") == "us-east-1a"}
    got = ecs.list_container_instances(filter="attribute:ecs.availability-zone == us-east-1a")["containerInstanceArns"]
    assert set(got) == in_a and len(got) == len(in_a)
    got = ecs.list_container_instances(filter="attribute:ecs.availability-zone in [us-east-1b, us-east-1c]")[
        "containerInstanceArns"
    ]
    assert set(got) == set(instances) - in_a
    got = ecs.list_container_instances(filter="attribute:ecs.instance-type =~ t3.*")["containerInstanceArns"]
    assert len(got) == INSTANCES
    assert ecs.list_container_instances(filter="attribute:team != berth")["containerInstanceArns"] == []
    # A custom attribute put on two instances is what the filter sees.
    two = sorted(instances)[:2]
    ecs.put_attributes(
        attributes=[{"name": "stack", "value": "prod", "targetType": "container-instance", "targetId": a} for a in two]
    )
    got = ecs.list_container_instances(filter="attribute:stack == prod")["containerInstanceArns"]
    assert sorted(got) == two
    got = ecs.list_container_instances(filter="attribute:stack exists")["containerInstanceArns"]
    assert sorted(got) == two
    got = ecs.list_container_instances(filter="not(attribute:stack exists) and attribute:team == berth")[
        "containerInstanceArns"
    ]
    assert sorted(got) == sorted(set(instances) - set(two))


def test_filter_syntax_error_is_invalid_parameter(ecs):
    msg = expect_error("InvalidParameterException", ecs.list_container_instances, filter="attribute:stack ==")
    assert msg


def test_list_paginates(ecs, instances):
    pages = list(ecs.get_paginator("list_container_instances").paginate(PaginationConfig={"PageSize": 4}))
    assert [len(p["containerInstanceArns"]) for p in pages] == [4, 4, 2]
    assert sorted(a for p in pages for a in p["containerInstanceArns"]) == sorted(instances)


def test_remaining_resources_follow_tasks(ecs, instances):
    register(ecs, "web", containers=[container(cpu=256, memory=512, portMappings=[{"containerPort": 80, "hostPort": 8080}])])
    target = sorted(instances)[0]
    task = ecs.start_task(taskDefinition="web", containerInstances=[target])["tasks"][0]
    ecs.get_waiter("tasks_running").wait(tasks=[task["taskArn"]], WaiterConfig=FAST)
    ci = ecs.describe_container_instances(containerInstances=[target])["containerInstances"][0]
    assert resource(ci["remainingResources"], "CPU") == INSTANCE_CPU - 256
    assert resource(ci["remainingResources"], "MEMORY") == INSTANCE_MEMORY - 512
    assert "8080" in resource(ci["remainingResources"], "PORTS")
    assert ci["runningTasksCount"] == 1
    # The host port is taken: a second copy cannot go on the same instance.
    resp = ecs.start_task(taskDefinition="web", containerInstances=[target])
    assert resp["tasks"] == [] and resp["failures"]
    assert any("PORTS" in f["reason"] for f in resp["failures"]), resp["failures"]
    ecs.stop_task(task=task["taskArn"])
    ecs.get_waiter("tasks_stopped").wait(tasks=[task["taskArn"]], WaiterConfig=FAST)
    ci = ecs.describe_container_instances(containerInstances=[target])["containerInstances"][0]
    assert resource(ci["remainingResources"], "CPU") == INSTANCE_CPU
    assert ci["runningTasksCount"] == 0


def test_describe_missing_and_limits(ecs, instances):
    real = sorted(instances)[0]
    ghost = real.rsplit("/", 1)[0] + "/00000000000000000000000000000000"
    resp = ecs.describe_container_instances(containerInstances=[real, ghost])
    assert [c["containerInstanceArn"] for c in resp["containerInstances"]] == [real]
    assert resp["failures"][0]["reason"] == "MISSING"
    expect_error("InvalidParameterException", ecs.describe_container_instances, containerInstances=[f"x{i}" for i in range(101)])
    expect_error("ClusterNotFoundException", ecs.list_container_instances, cluster="nope")


def test_draining_moves_service_tasks_off(ecs, control, instances):
    register(ecs, "web")
    ecs.create_service(
        serviceName="web",
        taskDefinition="web",
        desiredCount=10,
        launchType="EC2",
        placementStrategy=[{"type": "spread", "field": "instanceId"}],
    )
    ecs.get_waiter("services_stable").wait(services=["web"], WaiterConfig=FAST)
    control.advance(45)  # tasks count as healthy after 40 s RUNNING
    victim = sorted(instances)[0]
    on_victim = ecs.list_tasks(containerInstance=victim)["taskArns"]
    assert on_victim, "spread by instance put a task on every instance"
    resp = ecs.update_container_instances_state(containerInstances=[victim], status="DRAINING")
    assert resp["failures"] == []
    assert resp["containerInstances"][0]["status"] == "DRAINING"
    assert ecs.list_container_instances(status="DRAINING")["containerInstanceArns"] == [victim]

    def moved():
        tasks = service_tasks(ecs, "web")
        running = [t for t in tasks if t["lastStatus"] == "RUNNING"]
        return (
            len(running) == 10
            and all(t["containerInstanceArn"] != victim for t in tasks)
            and service(ecs, "web")["runningCount"] == 10
        )

    wait_until("the service's tasks to leave the draining instance", moved, timeout=90, advance=lambda: control.advance(2))
    ci = ecs.describe_container_instances(containerInstances=[victim])["containerInstances"][0]
    assert ci["runningTasksCount"] == 0
    # Nothing new is placed on a DRAINING instance.
    resp = ecs.start_task(taskDefinition="web", containerInstances=[victim])
    assert resp["tasks"] == [] and resp["failures"]
    ecs.update_container_instances_state(containerInstances=[victim], status="ACTIVE")
    assert ecs.describe_container_instances(containerInstances=[victim])["containerInstances"][0]["status"] == "ACTIVE"


def test_deregister_container_instance(ecs, instances):
    register(ecs, "web")
    target = sorted(instances)[1]
    task = ecs.start_task(taskDefinition="web", containerInstances=[target])["tasks"][0]
    expect_error("InvalidParameterException", ecs.deregister_container_instance, containerInstance=target)
    gone = ecs.deregister_container_instance(containerInstance=target, force=True)["containerInstance"]
    assert gone["status"] == "INACTIVE"
    assert target not in ecs.list_container_instances()["containerInstanceArns"]
    c = ecs.describe_clusters(clusters=["default"])["clusters"][0]
    assert c["registeredContainerInstancesCount"] == INSTANCES - 1
    assert task["taskArn"]


def test_cli_container_instance_health(cli, ecs, instances):
    """`--include CONTAINER_INSTANCE_HEALTH` answers one CONTAINER_RUNTIME check, OK while the agent
    is connected (the shape of the AWS developer guide's example); without it there is none."""
    first, second = sorted(instances)[:2]
    out = cli.run("describe-container-instances", "--container-instances", first,
                  "--include", "CONTAINER_INSTANCE_HEALTH", "--query", "containerInstances[0]")
    h = out["healthStatus"]
    assert h["overallStatus"] == "OK"
    [d] = h["details"]
    assert (d["type"], d["status"]) == ("CONTAINER_RUNTIME", "OK")
    assert d["lastStatusChange"] <= d["lastUpdated"]
    assert "healthStatus" not in ecs.describe_container_instances(containerInstances=[first])["containerInstances"][0]
    # A deregistered instance's agent is gone: nothing reports on its runtime.
    ecs.deregister_container_instance(containerInstance=second)
    gone = ecs.describe_container_instances(containerInstances=[second], include=["CONTAINER_INSTANCE_HEALTH"])
    h = gone["containerInstances"][0]["healthStatus"]
    assert h["overallStatus"] == "INSUFFICIENT_DATA" and h["details"][0]["status"] == "INSUFFICIENT_DATA"


def test_attributes_put_list_delete(ecs, instances):
    a, b = sorted(instances)[:2]
    resp = ecs.put_attributes(
        attributes=[
            {"name": "stack", "value": "prod", "targetType": "container-instance", "targetId": a},
            {"name": "stack", "value": "dev", "targetType": "container-instance", "targetId": b},
            {"name": "gpu-ready", "targetId": a},
        ]
    )
    assert len(resp["attributes"]) == 3
    listed = ecs.list_attributes(targetType="container-instance", attributeName="stack")["attributes"]
    assert sorted((x["targetId"], x["value"]) for x in listed) == sorted([(a, "prod"), (b, "dev")])
    only_prod = ecs.list_attributes(targetType="container-instance", attributeName="stack", attributeValue="prod")
    assert [x["targetId"] for x in only_prod["attributes"]] == [a]
    # The attribute is part of the instance now.
    ci = ecs.describe_container_instances(containerInstances=[a])["containerInstances"][0]
    assert attr(ci, "stack") == "prod" and any(x["name"] == "gpu-ready" for x in ci["attributes"])
    ecs.delete_attributes(attributes=[{"name": "stack", "targetId": a}])
    listed = ecs.list_attributes(targetType="container-instance", attributeName="stack")["attributes"]
    assert [x["targetId"] for x in listed] == [b]
    # Built-in attributes are listed too.
    zones = ecs.list_attributes(targetType="container-instance", attributeName="ecs.availability-zone")["attributes"]
    assert len(zones) == INSTANCES


def test_attribute_errors(ecs, instances):
    a = sorted(instances)[0]
    ghost = a.rsplit("/", 1)[0] + "/00000000000000000000000000000000"
    expect_error("TargetNotFoundException", ecs.put_attributes, attributes=[{"name": "x", "targetId": ghost}])
    expect_error(
        "InvalidParameterException", ecs.put_attributes, attributes=[{"name": "bad name!", "targetId": a}]
    )
    expect_error(
        "InvalidParameterException",
        ecs.put_attributes,
        attributes=[{"name": f"n{i}", "targetId": a} for i in range(11)],
    )
    expect_error("InvalidParameterException", ecs.list_attributes, targetType="container-instance", attributeValue="v")
