"""Task sets with the AWS CLI and boto3: services with the EXTERNAL deployment controller and their
task sets (CreateTaskSet, UpdateTaskSet, DeleteTaskSet, UpdateServicePrimaryTaskSet,
DescribeTaskSets), and CODE_DEPLOY services with the PRIMARY task set ECS makes for them.

ECS's texts and response shapes are cited in docs/ecs-error-harvest.md (section "Task sets") and
docs/ecs-response-shapes.md (Task sets)."""

import math

from conftest import ACCOUNT, REGION
from ecs_helpers import container, expect_error, register, service, service_tasks, wait_until

SERVICE_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/default/ext"
NOT_EXTERNAL = ("Amazon ECS only supports task set management on services configured to use external "
                "deployment controllers.")


def external(ecs, name="ext", desired=4, **kw):
    return ecs.create_service(cluster="default", serviceName=name, desiredCount=desired,
                              deploymentController={"type": "EXTERNAL"}, **kw)["service"]


def create_set(ecs, td="web", scale=100.0, service_name="ext", **kw):
    return ecs.create_task_set(cluster="default", service=service_name, taskDefinition=td,
                               scale={"value": scale, "unit": "PERCENT"}, launchType="EC2", **kw)["taskSet"]


def task_set(ecs, set_id, service_name="ext"):
    resp = ecs.describe_task_sets(cluster="default", service=service_name, taskSets=[set_id])
    assert resp["failures"] == [], resp["failures"]
    return resp["taskSets"][0]


def settled_set(ecs, control, set_id, service_name="ext"):
    """Advances the cluster's clock until the task set is STEADY_STATE (tasks without health
    checks count as healthy after 40 s RUNNING)."""
    def steady():
        s = task_set(ecs, set_id, service_name)
        return s if s["stabilityStatus"] == "STEADY_STATE" else None
    return wait_until(f"task set {set_id} to be steady", steady, timeout=120,
                      advance=lambda: control.advance(10))


def set_tasks(ecs, set_id, service_name="ext"):
    return [t for t in service_tasks(ecs, service_name) if t["startedBy"] == set_id]


def test_cli_external_service_runs_a_task_set_to_a_steady_state(cli, ecs, control):
    register(ecs, "web")
    created = cli.run("create-service", "--service-name", "ext", "--desired-count", "4",
                      "--deployment-controller", "type=EXTERNAL")["service"]
    # Task definition, launch and network belong to the task sets: the service has none, and no
    # deployments (which is why the services-stable waiter never succeeds for it on ECS either).
    assert created["deploymentController"] == {"type": "EXTERNAL"}
    # Until a PRIMARY task set gives it its own, ECS answers launchType EC2 (a real answer:
    # dev.to/t-kikuc/ecs-external-deployment-taskset-complete-guide-21dl).
    assert "taskDefinition" not in created and created["launchType"] == "EC2"
    assert created["deployments"] == [] and created["taskSets"] == []
    out = cli.run("create-task-set", "--cluster", "default", "--service", "ext",
                  "--task-definition", "web", "--external-id", "deploy-1",
                  "--scale", "value=50,unit=PERCENT", "--launch-type", "EC2",
                  "--tags", "key=stage,value=blue")["taskSet"]
    set_id = out["id"]
    assert set_id.startswith("ecs-svc/") and len(set_id) == len("ecs-svc/") + 19
    assert out["taskSetArn"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-set/default/ext/{set_id}"
    assert out["serviceArn"] == SERVICE_ARN
    assert out["clusterArn"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/default"
    assert out["status"] == "ACTIVE" and out["externalId"] == "deploy-1"
    assert out["taskDefinition"] == f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/web:1"
    assert out["computedDesiredCount"] == 2  # 4 × 50 %
    assert (out["pendingCount"], out["runningCount"]) == (0, 0)
    assert out["scale"] == {"value": 50.0, "unit": "PERCENT"}
    assert out["stabilityStatus"] == "STABILIZING" and out["launchType"] == "EC2"
    assert out["loadBalancers"] == [] and out["serviceRegistries"] == []
    assert out["tags"] == [{"key": "stage", "value": "blue"}]

    s = settled_set(ecs, control, set_id)
    assert (s["runningCount"], s["pendingCount"]) == (2, 0)
    assert s["stabilityStatusAt"].timestamp() > out["stabilityStatusAt"]
    assert "tags" not in s or s["tags"] == []
    tagged = cli.run("describe-task-sets", "--cluster", "default", "--service", "ext",
                     "--task-sets", set_id, "--include", "TAGS")["taskSets"]
    assert tagged[0]["tags"] == [{"key": "stage", "value": "blue"}]
    ecs.tag_resource(resourceArn=out["taskSetArn"], tags=[{"key": "team", "value": "web"}])
    assert ecs.list_tags_for_resource(resourceArn=out["taskSetArn"])["tags"] == [
        {"key": "stage", "value": "blue"}, {"key": "team", "value": "web"}]
    tasks = set_tasks(ecs, set_id)
    assert len(tasks) == 2
    assert all(t["group"] == "service:ext" and t["lastStatus"] == "RUNNING" for t in tasks)
    svc = service(ecs, "ext")
    assert svc["runningCount"] == 2 and svc["desiredCount"] == 4
    assert [ts["id"] for ts in svc["taskSets"]] == [set_id]
    messages = [e["message"] for e in svc["events"]]
    assert f"(service ext, taskSet {set_id}) updated state to STEADY_STATE." in messages, messages
    assert any(m.startswith("(service ext) has started 2 tasks") for m in messages), messages


def test_scale_and_desired_count_set_the_computed_desired_count_rounded_up(ecs, control):
    register(ecs, "web")
    external(ecs, desired=3)
    s = create_set(ecs, scale=50.0)
    assert s["computedDesiredCount"] == math.ceil(3 * 0.5)
    settled_set(ecs, control, s["id"])
    # Scale in: the extra task stops, the set is steady again at one task.
    up = ecs.update_task_set(cluster="default", service="ext", taskSet=s["taskSetArn"],
                             scale={"value": 10.0, "unit": "PERCENT"})["taskSet"]
    assert up["computedDesiredCount"] == 1 and up["stabilityStatus"] == "STABILIZING"
    assert up["scale"] == {"value": 10.0, "unit": "PERCENT"}
    settled_set(ecs, control, s["id"])
    assert len(set_tasks(ecs, s["id"])) == 1
    stopped = service_tasks(ecs, "ext", desired="STOPPED")
    assert [t["stoppedReason"] for t in stopped] == [f"Scaling activity initiated by (deployment {s['id']})"]
    # The service's desired count (UpdateService, also Application Auto Scaling) rescales the set.
    svc = ecs.update_service(cluster="default", service="ext", desiredCount=25)["service"]
    assert svc["taskSets"][0]["computedDesiredCount"] == 3  # 2.5 → 3
    s = settled_set(ecs, control, s["id"])
    assert s["runningCount"] == 3


def test_primary_task_set_moves_and_the_service_follows_it(ecs, control):
    register(ecs, "web")
    register(ecs, "web", containers=[container(image="nginx:1.28")])
    external(ecs, desired=2)
    blue = create_set(ecs, td="web:1")
    green = create_set(ecs, td="web:2", scale=0.0)
    assert green["computedDesiredCount"] == 0
    p = ecs.update_service_primary_task_set(cluster="default", service="ext",
                                            primaryTaskSet=blue["id"])["taskSet"]
    assert p["status"] == "PRIMARY"
    svc = service(ecs, "ext")
    assert svc["taskDefinition"].endswith(":task-definition/web:1") and svc["launchType"] == "EC2"
    # Blue/green: scale green up, make it PRIMARY, blue is ACTIVE again, then delete blue.
    ecs.update_task_set(cluster="default", service="ext", taskSet=green["id"],
                        scale={"value": 100.0, "unit": "PERCENT"})
    settled_set(ecs, control, green["id"])
    p = ecs.update_service_primary_task_set(cluster="default", service="ext",
                                            primaryTaskSet=green["taskSetArn"])["taskSet"]
    assert p["id"] == green["id"] and p["status"] == "PRIMARY"
    assert task_set(ecs, blue["id"])["status"] == "ACTIVE"
    svc = service(ecs, "ext")
    assert svc["taskDefinition"].endswith(":task-definition/web:2")
    assert {t["id"]: t["status"] for t in svc["taskSets"]} == {blue["id"]: "ACTIVE", green["id"]: "PRIMARY"}
    d = ecs.delete_task_set(cluster="default", service="ext", taskSet=blue["id"], force=True)["taskSet"]
    assert d["status"] == "DRAINING"

    def drained():
        return service(ecs, "ext")["taskSets"]
    sets = wait_until("blue to drain", lambda: len(drained()) == 1 and drained(), advance=lambda: control.advance(5))
    assert sets[0]["id"] == green["id"]
    assert set_tasks(ecs, blue["id"]) == []
    assert len(set_tasks(ecs, green["id"])) == 2
    gone = ecs.describe_task_sets(cluster="default", service="ext", taskSets=[blue["id"]])
    assert gone["taskSets"] == []
    assert gone["failures"] == [{"arn": blue["taskSetArn"], "reason": "MISSING"}]


def test_task_set_refusals_and_their_valid_neighbours(ecs, unchecked):
    register(ecs, "web")
    ecs.create_service(cluster="default", serviceName="rolling", taskDefinition="web", desiredCount=0)
    for call, kw in [
        (ecs.create_task_set, {"taskDefinition": "web"}),
        (ecs.describe_task_sets, {}),
        (ecs.update_task_set, {"taskSet": "ecs-svc/1", "scale": {"value": 1.0, "unit": "PERCENT"}}),
        (ecs.delete_task_set, {"taskSet": "ecs-svc/1"}),
        (ecs.update_service_primary_task_set, {"primaryTaskSet": "ecs-svc/1"}),
    ]:
        msg = expect_error("InvalidParameterException", call, cluster="default", service="rolling", **kw)
        assert msg == NOT_EXTERNAL, call
    expect_error("ServiceNotFoundException", ecs.create_task_set, cluster="default", service="nope",
                 taskDefinition="web")
    expect_error("ClusterNotFoundException", ecs.describe_task_sets, cluster="nope", service="ext")

    # The members a task set carries are refused on an EXTERNAL service, with ECS's texts
    # (terraform-aws-modules/terraform-aws-ecs#278, hashicorp/terraform-provider-aws#27291,
    # aws/aws-cdk#26335); platformVersion is not one of them (PipeCD sends it).
    for kw, text in [
        ({"taskDefinition": "web"}, "TaskDefinition must be blank."),
        ({"loadBalancers": [{"targetGroupArn": "tg", "containerName": "web", "containerPort": 80}]},
         "LoadBalancers must be empty or null."),
        ({"networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}}},
         "NetworkConfiguration must be null."),
    ]:
        assert expect_error("InvalidParameterException", external, ecs, "ext2", **kw) == text
    external(ecs, desired=0, platformVersion="LATEST")
    s = create_set(ecs)
    # DescribeTaskSets wants ids (aws/aws-cli#5380) that are task set ids or ARNs (boto/boto3#3895).
    msg = expect_error("InvalidParameterException", ecs.describe_task_sets, cluster="default", service="ext")
    assert msg == "TaskSets cannot be empty."
    task_arn = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/default/0123456789abcdef0123456789abcdef"
    for bad in (task_arn, "0123", "ecs-svc/"):
        msg = expect_error("InvalidParameterException", ecs.describe_task_sets, cluster="default",
                           service="ext", taskSets=[bad])
        assert msg == "Task Set Identifier is invalid"
    found = ecs.describe_task_sets(cluster="default", service="ext", taskSets=[s["id"], s["taskSetArn"]])
    assert [t["id"] for t in found["taskSets"]] == [s["id"], s["id"]] and found["failures"] == []
    expect_error("ClientException", ecs.create_task_set, cluster="default", service="ext",
                 taskDefinition="nope")
    for bad in (100.5, -1.0):
        expect_error("InvalidParameterException", unchecked.update_task_set, cluster="default",
                     service="ext", taskSet=s["id"], scale={"value": bad, "unit": "PERCENT"})
    ok = ecs.update_task_set(cluster="default", service="ext", taskSet=s["id"],
                             scale={"value": 100.0, "unit": "PERCENT"})["taskSet"]
    assert ok["scale"]["value"] == 100.0
    expect_error("TaskSetNotFoundException", ecs.update_task_set, cluster="default", service="ext",
                 taskSet="ecs-svc/1234567890123456789", scale={"value": 1.0, "unit": "PERCENT"})
    expect_error("TaskSetNotFoundException", ecs.update_service_primary_task_set, cluster="default",
                 service="ext", primaryTaskSet="ecs-svc/1234567890123456789")
    # The set is changed through task sets, never through UpdateService.
    expect_error("InvalidParameterException", ecs.update_service, cluster="default", service="ext",
                 taskDefinition="web")
    expect_error("UnsupportedFeatureException", ecs.update_service, cluster="default", service="ext",
                 deploymentController={"type": "ECS"})
    # Five task sets at most (aws-samples/ecs-bg-external-controller#6).
    for _ in range(4):
        create_set(ecs, scale=0.0)
    msg = expect_error("InvalidParameterException", create_set, ecs, scale=0.0)
    assert msg == ("5 deployments exist on the service. Unable to create new TaskSet since this exceeds "
                   "the maximum limit.")
    assert len(service(ecs, "ext")["taskSets"]) == 5
    for t in service(ecs, "ext")["taskSets"]:
        if t["id"] != s["id"]:
            ecs.delete_task_set(cluster="default", service="ext", taskSet=t["id"])
    # The refusals stored nothing: the service's single task set is where it was.
    sets = service(ecs, "ext")["taskSets"]
    assert {t["id"]: t["status"] for t in sets if t["status"] != "DRAINING"} == {s["id"]: "ACTIVE"}


def test_only_the_primary_task_set_needs_force_to_be_deleted(ecs, control):
    register(ecs, "web")
    external(ecs, desired=2)
    primary = create_set(ecs)
    other = create_set(ecs)
    ecs.update_service_primary_task_set(cluster="default", service="ext", primaryTaskSet=primary["id"])
    msg = expect_error("InvalidParameterException", ecs.delete_task_set, cluster="default", service="ext",
                       taskSet=primary["id"])
    assert msg == "Primary TaskSet cannot be deleted"  # dev.to/t-kikuc, terraform-provider-aws#30839
    assert task_set(ecs, primary["id"])["status"] == "PRIMARY"
    # An ACTIVE set is deleted without force, scaled or not (the AWS sample does so).
    d = ecs.delete_task_set(cluster="default", service="ext", taskSet=other["taskSetArn"])["taskSet"]
    assert d["status"] == "DRAINING" and d["computedDesiredCount"] == 0
    assert d["scale"] == {"value": 0.0, "unit": "PERCENT"}
    d = ecs.delete_task_set(cluster="default", service="ext", taskSet=primary["id"], force=True)["taskSet"]
    assert d["status"] == "DRAINING"
    wait_until("both sets to drain", lambda: service(ecs, "ext")["taskSets"] == [],
               advance=lambda: control.advance(5))
    assert service_tasks(ecs, "ext") == []


def test_a_task_set_without_scale_wants_no_task(ecs, control):
    register(ecs, "web")
    external(ecs, desired=3)
    # The AWS CLI's create-task-set example sends no scale and answers 0.0 / computedDesiredCount 0.
    s = ecs.create_task_set(cluster="default", service="ext", taskDefinition="web")["taskSet"]
    assert s["scale"] == {"value": 0.0, "unit": "PERCENT"} and s["computedDesiredCount"] == 0
    assert s["launchType"] == "EC2"
    s = settled_set(ecs, control, s["id"])
    assert s["runningCount"] == 0


def test_code_deploy_service_gets_a_primary_task_set_and_refuses_a_new_task_definition(ecs, control):
    port = [{"containerPort": 80, "hostPort": 0}]
    register(ecs, "web", containers=[container(portMappings=port)])
    register(ecs, "web", containers=[container(image="nginx:1.28", portMappings=port)])
    # CDK names a CODE_DEPLOY service's task definition by its family alone (aws-cdk's
    # base-service.ts strips the revision): the latest ACTIVE revision runs.
    created = ecs.create_service(
        cluster="default", serviceName="bg", taskDefinition="web", desiredCount=2, launchType="EC2",
        deploymentController={"type": "CODE_DEPLOY"},
        loadBalancers=[{"targetGroupArn": f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/blue/1",
                        "containerName": "web", "containerPort": 80}],
    )["service"]
    assert created["deploymentController"] == {"type": "CODE_DEPLOY"}
    assert created["deployments"] == []
    [ts] = created["taskSets"]
    assert ts["status"] == "PRIMARY" and ts["computedDesiredCount"] == 2
    assert ts["taskDefinition"] == created["taskDefinition"]
    assert ts["taskDefinition"].endswith(":task-definition/web:2")
    assert ts["scale"] == {"value": 100.0, "unit": "PERCENT"}
    settled_set(ecs, control, ts["id"], "bg")
    assert len(set_tasks(ecs, ts["id"], "bg")) == 2
    # Refused when given at all (boto/boto3#1936, terraform-provider-aws#8005, kayac/ecspresso#393).
    for kw, what in [
        ({"taskDefinition": "web:1"}, "task definition"),
        ({"networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}}}, "network parameters"),
        ({"loadBalancers": created["loadBalancers"]}, "load balancers"),
    ]:
        msg = expect_error("InvalidParameterException", ecs.update_service, cluster="default", service="bg",
                           desiredCount=2, **kw)
        assert msg == (f"Unable to update {what} on services with a CODE_DEPLOY deployment controller. "
                       "Use AWS CodeDeploy to trigger a new deployment.")
    msg = expect_error("InvalidParameterException", ecs.update_service, cluster="default", service="bg",
                       forceNewDeployment=True)
    assert msg == ("Cannot force a new deployment on services with a CODE_DEPLOY deployment controller. "
                   "Use AWS CodeDeploy to trigger a new deployment.")
    # A desired count change is the service's own: the PRIMARY set follows it.
    svc = ecs.update_service(cluster="default", service="bg", desiredCount=3)["service"]
    assert svc["taskSets"][0]["computedDesiredCount"] == 3
    s = settled_set(ecs, control, ts["id"], "bg")
    assert s["runningCount"] == 3
    # CodeDeploy makes a CODE_DEPLOY service's task sets; CreateTaskSet is for EXTERNAL ones.
    msg = expect_error("InvalidParameterException", ecs.create_task_set, cluster="default", service="bg",
                       taskDefinition="web:2")
    assert msg == NOT_EXTERNAL
    # Deleting the service drains its task set and stops its tasks.
    ecs.delete_service(cluster="default", service="bg", force=True)
    wait_until("bg's tasks to stop", lambda: service_tasks(ecs, "bg") == [], advance=lambda: control.advance(5))


def test_fargate_task_set_needs_and_gets_its_network_configuration(ecs, control):
    ecs.register_task_definition(family="fg", networkMode="awsvpc", requiresCompatibilities=["FARGATE"],
                                 cpu="256", memory="512", containerDefinitions=[container()])
    external(ecs, desired=1)
    msg = expect_error("InvalidParameterException", ecs.create_task_set, cluster="default", service="ext",
                       taskDefinition="fg", launchType="FARGATE")
    assert msg == "Network Configuration must be provided when networkMode 'awsvpc' is specified."
    net = {"awsvpcConfiguration": {"subnets": ["subnet-12344321"], "securityGroups": ["sg-12344321"]}}
    s = ecs.create_task_set(cluster="default", service="ext", taskDefinition="fg", launchType="FARGATE",
                            networkConfiguration=net, scale={"value": 100.0, "unit": "PERCENT"})["taskSet"]
    # ECS answers the version LATEST resolved to (a real answer: dev.to/t-kikuc).
    assert s["launchType"] == "FARGATE" and s["platformVersion"] == "1.4.0"
    assert s["platformFamily"] == "Linux"
    assert s["networkConfiguration"] == net
    settled_set(ecs, control, s["id"])
    [t] = set_tasks(ecs, s["id"])
    assert t["launchType"] == "FARGATE"
    [eni] = t["attachments"]
    subnet = [d["value"] for d in eni["details"] if d["name"] == "subnetId"]
    assert subnet == ["subnet-12344321"]
