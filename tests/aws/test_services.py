"""Services: Create, Update (rolling deployment, scale), circuit breaker and rollback with injected
failures, Delete (with and without force), Describe, List (paginator); service deployments and
revisions; DAEMON services; boto3 waiters services_stable and services_inactive."""

import pytest
from botocore.exceptions import WaiterError

from conftest import INSTANCES
from ecs_helpers import FAST, container, expect_error, register, service, service_tasks, wait_until

BREAKER = {
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
    "deploymentCircuitBreaker": {"enable": True, "rollback": True},
}


def stable(ecs, *names, cluster="default"):
    ecs.get_waiter("services_stable").wait(cluster=cluster, services=list(names), WaiterConfig=FAST)


def settle(ecs, control, name, cluster="default", timeout=120):
    """Advances the clock until the service's only deployment is COMPLETED at its desired count.

    ECS counts a task without health checks as healthy once it has been RUNNING for 40 s, so a
    deployment completes (and a rolling update moves on) only on the cluster's clock; the
    test-control API moves that clock instead of the test sleeping.
    """

    def done():
        s = service(ecs, name, cluster)
        ds = s["deployments"]
        ok = len(ds) == 1 and ds[0]["rolloutState"] == "COMPLETED" and s["runningCount"] == s["desiredCount"]
        return s if ok else None

    return wait_until(f"{name} to complete its deployment", done, timeout=timeout, advance=lambda: control.advance(5))


def test_create_service_and_services_stable_waiter(ecs, control):
    register(ecs, "web")
    created = ecs.create_service(
        cluster="default", serviceName="web", taskDefinition="web", desiredCount=3, launchType="EC2"
    )["service"]
    assert created["serviceArn"] == "arn:aws:ecs:us-east-1:000000000000:service/default/web"
    assert created["status"] == "ACTIVE"
    assert created["desiredCount"] == 3
    assert created["schedulingStrategy"] == "REPLICA"
    assert created["deploymentConfiguration"]["maximumPercent"] == 200
    assert created["deploymentConfiguration"]["minimumHealthyPercent"] == 100
    [d] = created["deployments"]
    assert d["status"] == "PRIMARY" and d["rolloutState"] == "IN_PROGRESS"

    # The waiter really waits (wall clock): the simulated runtime starts tasks in ~3 s.
    stable(ecs, "web")
    s = service(ecs, "web")
    assert s["runningCount"] == 3 and s["pendingCount"] == 0
    [d] = s["deployments"]
    assert d["runningCount"] == 3
    # The deployment completes once its tasks have been RUNNING for 40 s (no health checks).
    s = settle(ecs, control, "web")
    [d] = s["deployments"]
    assert d["rolloutState"] == "COMPLETED"
    messages = [e["message"] for e in s["events"]]
    assert any(m == "(service web) has reached a steady state." for m in messages), messages
    assert any(m.startswith("(service web) has started 3 tasks") for m in messages), messages
    tasks = service_tasks(ecs, "web")
    assert len(tasks) == 3
    assert all(t["group"] == "service:web" and t["startedBy"] == d["id"] for t in tasks)
    assert ecs.describe_clusters(clusters=["default"])["clusters"][0]["activeServicesCount"] == 1


def test_create_service_errors(ecs):
    register(ecs, "web")
    expect_error("ClientException", ecs.create_service, serviceName="x", taskDefinition="nope", desiredCount=1)
    expect_error(
        "ClusterNotFoundException", ecs.create_service, cluster="nope", serviceName="x", taskDefinition="web", desiredCount=1
    )
    ecs.create_service(serviceName="dup", taskDefinition="web", desiredCount=0)
    msg = expect_error("InvalidParameterException", ecs.create_service, serviceName="dup", taskDefinition="web", desiredCount=1)
    assert msg == "Creation of service was not idempotent."
    expect_error("InvalidParameterException", ecs.create_service, serviceName="neg", taskDefinition="web", desiredCount=-1)
    expect_error("InvalidParameterException", ecs.create_service, serviceName="bad name", taskDefinition="web", desiredCount=1)


def test_update_to_new_revision_rolls_out(ecs, control):
    register(ecs, "web")
    ecs.create_service(serviceName="web", taskDefinition="web:1", desiredCount=4, launchType="EC2")
    settle(ecs, control, "web")
    old = {t["taskArn"] for t in service_tasks(ecs, "web")}
    register(ecs, "web", containers=[container(image="nginx:1.28")])
    updated = ecs.update_service(service="web", taskDefinition="web:2")["service"]
    assert updated["taskDefinition"].endswith("web:2")
    primary = [d for d in updated["deployments"] if d["status"] == "PRIMARY"]
    assert len(primary) == 1 and primary[0]["taskDefinition"].endswith("web:2")
    assert any(d["status"] == "ACTIVE" and d["taskDefinition"].endswith("web:1") for d in updated["deployments"])

    s = settle(ecs, control, "web")
    [d] = s["deployments"]
    assert d["taskDefinition"].endswith("web:2") and d["rolloutState"] == "COMPLETED"
    # boto3's waiter agrees.
    stable(ecs, "web")
    tasks = service_tasks(ecs, "web")
    assert len(tasks) == 4
    assert all(t["taskDefinitionArn"].endswith("web:2") for t in tasks)
    assert not old & {t["taskArn"] for t in tasks}, "every old task was replaced"
    # The old tasks were stopped by the scheduler.
    stopped = service_tasks(ecs, "web", desired="STOPPED")
    assert old <= {t["taskArn"] for t in stopped}


def test_rolling_update_respects_minimum_healthy_percent(ecs, control):
    register(ecs, "web")
    ecs.create_service(
        serviceName="web",
        taskDefinition="web:1",
        desiredCount=4,
        launchType="EC2",
        deploymentConfiguration={"maximumPercent": 150, "minimumHealthyPercent": 50},
    )
    settle(ecs, control, "web")  # the old tasks are healthy (RUNNING for 40 s)
    register(ecs, "web", containers=[container(image="nginx:1.28")])
    ecs.update_service(service="web", taskDefinition="web:2")
    # Sample the service while it rolls: never fewer than 2 running, never more than 6 tasks.
    seen_running, seen_total = [], []

    def done():
        s = service(ecs, "web")
        seen_running.append(s["runningCount"])
        seen_total.append(sum(d["runningCount"] + d["pendingCount"] for d in s["deployments"]))
        return len(s["deployments"]) == 1 and s["runningCount"] == 4 and s["deployments"][0]["taskDefinition"].endswith("web:2")

    wait_until("the rolling update", done, timeout=90, advance=lambda: control.advance(1))
    assert min(seen_running) >= 2, seen_running
    assert max(seen_total) <= 6, seen_total


def test_scale_up_and_down(ecs, control):
    register(ecs, "web")
    ecs.create_service(serviceName="web", taskDefinition="web", desiredCount=1, launchType="EC2")
    stable(ecs, "web")
    ecs.update_service(service="web", desiredCount=5)
    stable(ecs, "web")
    assert service(ecs, "web")["runningCount"] == 5
    ecs.update_service(service="web", desiredCount=2)
    stable(ecs, "web")
    assert service(ecs, "web")["runningCount"] == 2
    assert len(service_tasks(ecs, "web")) == 2


def test_force_new_deployment_replaces_tasks(ecs, control):
    register(ecs, "web")
    ecs.create_service(serviceName="web", taskDefinition="web", desiredCount=2, launchType="EC2")
    settle(ecs, control, "web")
    before = {t["taskArn"] for t in service_tasks(ecs, "web")}
    ecs.update_service(service="web", forceNewDeployment=True)
    settle(ecs, control, "web")
    after = {t["taskArn"] for t in service_tasks(ecs, "web")}
    assert len(after) == 2 and not before & after


def test_failed_task_is_replaced(ecs, control):
    register(ecs, "web")
    ecs.create_service(serviceName="web", taskDefinition="web", desiredCount=2, launchType="EC2")
    stable(ecs, "web")
    victim = service_tasks(ecs, "web")[0]["taskArn"]
    control.crash(victim, exit_code=1)
    wait_until(
        "a replacement task",
        lambda: victim not in {t["taskArn"] for t in service_tasks(ecs, "web")} and service(ecs, "web")["runningCount"] == 2,
        timeout=30,
    )


def test_circuit_breaker_rolls_back(ecs, control):
    register(ecs, "web")
    ecs.create_service(
        serviceName="web", taskDefinition="web:1", desiredCount=3, launchType="EC2", deploymentConfiguration=BREAKER
    )
    settle(ecs, control, "web")
    register(ecs, "web", containers=[container(image="nginx:broken")])
    # threshold = max(3, ceil(0.5 x 3)) = 3: exactly the failures that trip it.
    control.fail_starts(3)
    updated = ecs.update_service(service="web", taskDefinition="web:2")["service"]
    failed_id = next(d["id"] for d in updated["deployments"] if d["status"] == "PRIMARY")
    seen_failed = []

    def rolled_back():
        s = service(ecs, "web")
        seen_failed.extend(d for d in s["deployments"] if d["id"] == failed_id and d.get("rolloutState") == "FAILED")
        ds = s["deployments"]
        done = len(ds) == 1 and ds[0]["rolloutState"] == "COMPLETED" and ds[0]["id"] != failed_id
        return s if done and s["runningCount"] == 3 else None

    s = wait_until("the circuit breaker to roll back", rolled_back, timeout=120, advance=lambda: control.advance(2))
    [d] = s["deployments"]
    assert d["taskDefinition"].endswith("web:1"), "rolled back to the last completed revision"
    assert s["taskDefinition"].endswith("web:1")
    assert all(t["taskDefinitionArn"].endswith("web:1") for t in service_tasks(ecs, "web"))
    messages = [e["message"] for e in s["events"]]
    assert any(f"deployment {failed_id}) deployment failed" in m for m in messages), messages
    assert any(m.startswith("(service web) rolling back to deployment") for m in messages), messages
    # The tasks of the failed deployment really failed to start.
    failed_tasks = [t for t in service_tasks(ecs, "web", desired="STOPPED") if t["startedBy"] == failed_id]
    assert len(failed_tasks) == 3 and all(t["stopCode"] == "TaskFailedToStart" for t in failed_tasks)
    # The ServiceDeployment records the verdict: rolled back by the circuit breaker.
    deps = ecs.list_service_deployments(cluster="default", service="web")["serviceDeployments"]
    failed = [sd for sd in deps if sd["serviceDeploymentArn"].endswith(failed_id.split("/")[-1])]
    assert len(failed) == 1, deps
    assert failed[0]["status"] == "ROLLBACK_SUCCESSFUL"
    assert "circuit breaker" in failed[0].get("statusReason", "").lower()
    detail = ecs.describe_service_deployments(serviceDeploymentArns=[failed[0]["serviceDeploymentArn"]])
    sd = detail["serviceDeployments"][0]
    assert sd["deploymentCircuitBreaker"]["status"] == "TRIGGERED"
    assert sd["deploymentCircuitBreaker"]["failureCount"] >= 3


def test_circuit_breaker_without_rollback_reports_rollout_failed(ecs, control):
    register(ecs, "web")
    ecs.create_service(
        serviceName="web",
        taskDefinition="web:1",
        desiredCount=3,
        launchType="EC2",
        deploymentConfiguration={**BREAKER, "deploymentCircuitBreaker": {"enable": True, "rollback": False}},
    )
    settle(ecs, control, "web")
    register(ecs, "web", containers=[container(image="nginx:broken")])
    control.fail_starts(1000)
    ecs.update_service(service="web", taskDefinition="web:2")

    def failed():
        s = service(ecs, "web")
        d = next(d for d in s["deployments"] if d["status"] == "PRIMARY")
        return d if d.get("rolloutState") == "FAILED" else None

    d = wait_until("rolloutState FAILED", failed, timeout=90, advance=lambda: control.advance(1))
    assert d["taskDefinition"].endswith("web:2")
    assert d["failedTasks"] >= 3
    assert "circuit breaker" in d.get("rolloutStateReason", "").lower(), d
    # Without rollback the old tasks keep serving.
    s = service(ecs, "web")
    assert s["runningCount"] >= 3
    control.fail_starts(0)


def test_delete_service_without_and_with_force(ecs):
    register(ecs, "web")
    ecs.create_service(serviceName="web", taskDefinition="web", desiredCount=2, launchType="EC2")
    stable(ecs, "web")
    msg = expect_error("InvalidParameterException", ecs.delete_service, service="web")
    assert "scale" in msg.lower(), msg
    deleted = ecs.delete_service(service="web", force=True)["service"]
    assert deleted["status"] == "DRAINING"
    ecs.get_waiter("services_inactive").wait(services=["web"], WaiterConfig=FAST)
    assert service(ecs, "web")["status"] == "INACTIVE"
    assert ecs.list_services()["serviceArns"] == []
    wait_until("the service's tasks to stop", lambda: service_tasks(ecs, "web") == [], timeout=30)
    expect_error("ServiceNotActiveException", ecs.update_service, service="web", desiredCount=1)
    # The name can be used again once the service is inactive.
    again = ecs.create_service(serviceName="web", taskDefinition="web", desiredCount=0)["service"]
    assert again["status"] == "ACTIVE"


def test_delete_service_scaled_to_zero_without_force(ecs):
    register(ecs, "web")
    ecs.create_service(serviceName="web", taskDefinition="web", desiredCount=1, launchType="EC2")
    stable(ecs, "web")
    ecs.update_service(service="web", desiredCount=0)
    deleted = ecs.delete_service(service="web")["service"]
    assert deleted["status"] in ("DRAINING", "INACTIVE")
    ecs.get_waiter("services_inactive").wait(services=["web"], WaiterConfig=FAST)


def test_describe_services_missing_and_limits(ecs):
    register(ecs, "web")
    ecs.create_service(serviceName="a", taskDefinition="web", desiredCount=0)
    resp = ecs.describe_services(services=["a", "ghost"])
    assert [s["serviceName"] for s in resp["services"]] == ["a"]
    assert resp["failures"][0]["reason"] == "MISSING"
    assert resp["failures"][0]["arn"].endswith("ghost")
    expect_error("InvalidParameterException", ecs.describe_services, services=[f"s{i}" for i in range(11)])
    expect_error("ServiceNotFoundException", ecs.update_service, service="ghost", desiredCount=1)
    expect_error("ServiceNotFoundException", ecs.delete_service, service="ghost")


def test_list_services_paginator_over_100(ecs):
    register(ecs, "web")
    for i in range(105):
        ecs.create_service(serviceName=f"svc-{i:03}", taskDefinition="web", desiredCount=0)
    paginator = ecs.get_paginator("list_services")
    # ListServices returns 10 per page unless asked for more (up to 100).
    default_pages = list(paginator.paginate(cluster="default"))
    assert [len(p["serviceArns"]) for p in default_pages] == [10] * 10 + [5]
    pages = list(paginator.paginate(cluster="default", PaginationConfig={"PageSize": 100}))
    assert [len(p["serviceArns"]) for p in pages] == [100, 5]
    names = sorted(a.rsplit("/", 1)[1] for p in pages for a in p["serviceArns"])
    assert names == [f"svc-{i:03}" for i in range(105)]
    expect_error("InvalidParameterException", ecs.list_services, maxResults=101)


def test_service_tags_and_propagation(ecs):
    register(ecs, "web", tags=[{"key": "from", "value": "taskdef"}])
    s = ecs.create_service(
        serviceName="web",
        taskDefinition="web",
        desiredCount=1,
        launchType="EC2",
        tags=[{"key": "owner", "value": "me"}],
        propagateTags="SERVICE",
        enableECSManagedTags=True,
    )["service"]
    assert ecs.list_tags_for_resource(resourceArn=s["serviceArn"])["tags"] == [{"key": "owner", "value": "me"}]
    stable(ecs, "web")
    task = ecs.describe_tasks(tasks=[service_tasks(ecs, "web")[0]["taskArn"]], include=["TAGS"])["tasks"][0]
    tags = {t["key"]: t["value"] for t in task.get("tags", [])}
    assert tags.get("owner") == "me", tags


def test_service_deployments_and_revisions(ecs, control):
    register(ecs, "web")
    ecs.create_service(serviceName="web", taskDefinition="web:1", desiredCount=2, launchType="EC2")
    settle(ecs, control, "web")
    register(ecs, "web", containers=[container(image="nginx:1.28")])
    ecs.update_service(service="web", taskDefinition="web:2")
    settle(ecs, control, "web")
    listed = ecs.list_service_deployments(cluster="default", service="web")["serviceDeployments"]
    assert len(listed) == 2
    arns = [sd["serviceDeploymentArn"] for sd in listed]
    described = ecs.describe_service_deployments(serviceDeploymentArns=arns)
    assert described["failures"] == []
    assert {sd["status"] for sd in described["serviceDeployments"]} == {"SUCCESSFUL"}
    latest = max(described["serviceDeployments"], key=lambda sd: sd["createdAt"])
    revs = ecs.describe_service_revisions(serviceRevisionArns=[latest["targetServiceRevision"]["arn"]])
    assert revs["failures"] == []
    assert revs["serviceRevisions"][0]["taskDefinition"].endswith("web:2")
    completed = ecs.list_service_deployments(service="web", status=["SUCCESSFUL"])["serviceDeployments"]
    assert len(completed) == 2
    missing = ecs.describe_service_deployments(
        serviceDeploymentArns=["arn:aws:ecs:us-east-1:000000000000:service-deployment/default/web/123"]
    )
    assert missing["serviceDeployments"] == [] and missing["failures"][0]["reason"] == "MISSING"


def test_stop_service_deployment_rolls_back(ecs, control):
    register(ecs, "web")
    ecs.create_service(serviceName="web", taskDefinition="web:1", desiredCount=2, launchType="EC2", deploymentConfiguration=BREAKER)
    settle(ecs, control, "web")
    register(ecs, "web", containers=[container(image="nginx:1.28")])
    ecs.update_service(service="web", taskDefinition="web:2")
    running = ecs.list_service_deployments(service="web", status=["IN_PROGRESS", "PENDING"])["serviceDeployments"]
    assert len(running) == 1
    ecs.stop_service_deployment(serviceDeploymentArn=running[0]["serviceDeploymentArn"], stopType="ROLLBACK")
    s = settle(ecs, control, "web")
    assert s["taskDefinition"].endswith("web:1")
    assert all(t["taskDefinitionArn"].endswith("web:1") for t in service_tasks(ecs, "web"))
    sd = ecs.describe_service_deployments(serviceDeploymentArns=[running[0]["serviceDeploymentArn"]])["serviceDeployments"][0]
    assert sd["status"] in ("ROLLBACK_SUCCESSFUL", "STOPPED"), sd


def test_cli_service_lifecycle(cli, ecs):
    register(ecs, "web")
    out = cli.run(
        "create-service", "--cluster", "default", "--service-name", "clisvc", "--task-definition", "web",
        "--desired-count", "2", "--launch-type", "EC2",
    )
    assert out["service"]["desiredCount"] == 2
    # `aws ecs wait services-stable` is the same waiter as boto3's, with the CLI's 15 s delay;
    # poll with describe-services instead to keep the test quick.
    wait_until(
        "clisvc to be stable",
        lambda: (lambda s: s["runningCount"] == 2 and len(s["deployments"]) == 1)(
            cli.run("describe-services", "--services", "clisvc")["services"][0]
        ),
        timeout=30,
        interval=1,
    )
    cli.run("update-service", "--service", "clisvc", "--desired-count", "0")
    cli.run("delete-service", "--service", "clisvc")
    assert cli.run("list-services")["serviceArns"] == []


def test_daemon_service_runs_one_task_per_instance(ecs, control):
    register(ecs, "agent")
    created = ecs.create_service(serviceName="agent", taskDefinition="agent", schedulingStrategy="DAEMON", launchType="EC2")
    s = created["service"]
    assert s["schedulingStrategy"] == "DAEMON"
    assert s["deploymentConfiguration"]["maximumPercent"] == 100
    assert s["deploymentConfiguration"]["minimumHealthyPercent"] == 0
    # The scheduler sets desiredCount to the number of eligible instances.
    wait_until(
        "one daemon task per instance",
        lambda: (lambda s: s["desiredCount"] == INSTANCES and s["runningCount"] == INSTANCES)(service(ecs, "agent")),
        timeout=60,
        advance=lambda: control.advance(2),
    )
    ecs.get_waiter("services_stable").wait(services=["agent"], WaiterConfig=FAST)
    tasks = service_tasks(ecs, "agent")
    assert len({t["containerInstanceArn"] for t in tasks}) == INSTANCES


def test_daemon_service_leaves_a_draining_instance(ecs, control):
    register(ecs, "agent")
    ecs.create_service(serviceName="agent", taskDefinition="agent", schedulingStrategy="DAEMON", launchType="EC2")
    wait_until(
        "one daemon task per instance",
        lambda: service(ecs, "agent")["runningCount"] == INSTANCES,
        timeout=60,
        advance=lambda: control.advance(2),
    )
    victim = ecs.list_container_instances()["containerInstanceArns"][0]
    ecs.update_container_instances_state(containerInstances=[victim], status="DRAINING")
    wait_until(
        "the daemon task to leave the draining instance",
        lambda: all(t["containerInstanceArn"] != victim for t in service_tasks(ecs, "agent"))
        and service(ecs, "agent")["desiredCount"] == INSTANCES - 1,
        timeout=60,
        advance=lambda: control.advance(2),
    )


def test_services_stable_waiter_fails_for_a_missing_service(ecs):
    with pytest.raises(WaiterError) as e:
        ecs.get_waiter("services_stable").wait(services=["ghost"], WaiterConfig=FAST)
    assert "MISSING" in str(e.value) or "failure" in str(e.value).lower()


# ECS's own texts, harvested from public reports (docs/ecs-error-harvest.md); each beside the
# valid neighbour that passes.


def test_create_service_role_and_classic_load_balancer_get_ecs_s_texts(ecs):
    register(ecs, "web", containers=[container(portMappings=[{"containerPort": 80}])])
    register(ecs, "static", containers=[container(portMappings=[{"containerPort": 80, "hostPort": 80}])])
    # A role for a service without a load balancer (cloudposse/terraform-aws-ecs-alb-service-task#118).
    msg = expect_error(
        "InvalidParameterException",
        ecs.create_service,
        serviceName="a",
        taskDefinition="web",
        desiredCount=1,
        role="ecsServiceRole",
    )
    assert msg == "You cannot specify an IAM role for services that require a service linked role."
    # A Classic Load Balancer on a dynamic host port (aws/aws-sdk-js#1397, hashicorp/terraform#9285).
    clb = [{"loadBalancerName": "classic", "containerName": "web", "containerPort": 80}]
    msg = expect_error(
        "InvalidParameterException", ecs.create_service, serviceName="b", taskDefinition="web", desiredCount=1, loadBalancers=clb
    )
    assert msg == "A host port mapping for the container port 80 is required."
    ecs.create_service(serviceName="b", taskDefinition="static", desiredCount=1, loadBalancers=clb, role="ecsServiceRole")


def test_capacity_provider_strategy_change_needs_a_forced_deployment(ecs):
    ecs.register_task_definition(
        family="fg",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[container()],
    )
    net = {"awsvpcConfiguration": {"subnets": ["subnet-1"]}}
    ecs.create_service(
        serviceName="fg",
        taskDefinition="fg",
        desiredCount=1,
        networkConfiguration=net,
        capacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
    )
    spot = [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]
    # pipe-cd/pipecd#6385, kayac/ecspresso#481, aws/aws-cdk#34631
    msg = expect_error("InvalidParameterException", ecs.update_service, service="fg", capacityProviderStrategy=spot)
    assert msg == (
        "When switching from launch type to capacity provider strategy on an existing service, or making a change to a"
        " capacity provider strategy on a service that is already using one, you must force a new deployment."
    )
    s = ecs.update_service(service="fg", capacityProviderStrategy=spot, forceNewDeployment=True)["service"]
    assert s["capacityProviderStrategy"] == [{"capacityProvider": "FARGATE_SPOT", "weight": 1}]
    # Placement constraints with Fargate (GetSimpl/cloudlift#138, hashicorp/terraform-provider-aws#26337).
    msg = expect_error(
        "InvalidParameterException",
        ecs.update_service,
        service="fg",
        placementConstraints=[{"type": "distinctInstance"}],
    )
    assert msg == "Placement constraints are not supported with FARGATE launch type."
