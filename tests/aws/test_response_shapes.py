"""Answers shaped like ECS's: request ids on every response, the members ECS fills in when it
stores a task definition (berth_core::registered has the rules and their corpus evidence), and
the members ECS always returns on services, deployments, tasks and container instances
(berth_core::described; the evidence is listed with ALWAYS below and in docs/ecs-response-shapes.md)."""

import json
import re

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, REGION, SECRET_KEY, _client_config
from ecs_helpers import container, register, wait_until

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def client(endpoint, service):
    return boto3.session.Session().client(
        service,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=_client_config(),
    )


# --- x-amzn-RequestId / x-amzn-ErrorType -----------------------------------------------------


def test_every_success_has_a_fresh_request_id(ecs):
    ids = set()
    for _ in range(3):
        meta = ecs.list_clusters()["ResponseMetadata"]
        assert UUID.match(meta["RequestId"]), meta
        assert meta["HTTPHeaders"]["x-amzn-requestid"] == meta["RequestId"]
        assert "x-amzn-errortype" not in meta["HTTPHeaders"]
        ids.add(meta["RequestId"])
    assert len(ids) == 3, ids


def test_errors_have_a_request_id_and_their_error_type(ecs):
    with pytest.raises(ClientError) as e:
        ecs.list_tasks(cluster="no-such-cluster")
    meta = e.value.response["ResponseMetadata"]
    assert UUID.match(meta["RequestId"]), meta
    assert meta["HTTPHeaders"]["x-amzn-errortype"] == "ClusterNotFoundException"
    assert e.value.response["Error"]["Code"] == "ClusterNotFoundException"
    with pytest.raises(ClientError) as e:
        ecs.register_task_definition(family="bad", containerDefinitions=[{"name": "a", "image": "x", "essential": False, "memory": 64}])
    meta = e.value.response["ResponseMetadata"]
    assert UUID.match(meta["RequestId"]), meta
    assert meta["HTTPHeaders"]["x-amzn-errortype"] == "ClientException"


def test_auto_scaling_and_logs_answers_have_request_ids(endpoint):
    aas = client(endpoint, "application-autoscaling")
    meta = aas.describe_scalable_targets(ServiceNamespace="ecs")["ResponseMetadata"]
    assert UUID.match(meta["RequestId"]), meta
    logs = client(endpoint, "logs")
    meta = logs.describe_log_groups()["ResponseMetadata"]
    assert UUID.match(meta["RequestId"]), meta
    with pytest.raises(ClientError) as e:
        logs.get_log_events(logGroupName="nope", logStreamName="nope")
    meta = e.value.response["ResponseMetadata"]
    assert UUID.match(meta["RequestId"]), meta
    assert meta["HTTPHeaders"]["x-amzn-errortype"] == e.value.response["Error"]["Code"]


# --- task definitions as ECS stores them ------------------------------------------------------


def test_cli_registration_fills_in_what_ecs_fills_in(cli):
    containers = [{"name": "app", "image": "nginx:1.27", "memory": 128, "portMappings": [{"containerPort": 80}]}]
    out = cli.run(
        "register-task-definition",
        "--family",
        "web",
        "--container-definitions",
        json.dumps(containers),
    )
    td = out["taskDefinition"]
    app = td["containerDefinitions"][0]
    # `essential` is true when omitted: scripts that read it must not get null.
    assert app["essential"] is True
    assert app["cpu"] == 0
    # Bridge mode (the EC2 default): no host port means a dynamic one, 0.
    assert app["portMappings"] == [{"containerPort": 80, "hostPort": 0, "protocol": "tcp"}]
    for member in ("environment", "mountPoints", "volumesFrom", "systemControls"):
        assert app[member] == [], member
    assert td["volumes"] == [] and td["placementConstraints"] == []
    assert td["status"] == "ACTIVE" and td["revision"] == 1
    assert td["compatibilities"] == ["EC2"]
    assert td["requiresAttributes"] == []
    assert "networkMode" not in td, "ECS does not echo the default network mode"
    # The CLI's --query reads the member, as scripts do.
    essential = cli.run("describe-task-definition", "--task-definition", "web", "--query", "taskDefinition.containerDefinitions[0].essential")
    assert essential is True


def test_boto3_fargate_registration_is_filled_in_and_described_alike(ecs):
    td = ecs.register_task_definition(
        family="api",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        executionRoleArn="arn:aws:iam::000000000000:role/exec",
        containerDefinitions=[
            {
                "name": "app",
                "image": "000000000000.dkr.ecr.us-east-1.amazonaws.com/api:1",
                "portMappings": [{"containerPort": 8080}],
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {"awslogs-group": "/ecs/api", "awslogs-region": REGION, "awslogs-stream-prefix": "ecs"},
                },
            }
        ],
    )["taskDefinition"]
    app = td["containerDefinitions"][0]
    assert app["essential"] is True and app["cpu"] == 0
    assert app["portMappings"] == [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}]
    assert td["compatibilities"] == ["EC2", "FARGATE"]
    assert {a["name"] for a in td["requiresAttributes"]} == {
        "com.amazonaws.ecs.capability.logging-driver.awslogs",
        "com.amazonaws.ecs.capability.docker-remote-api.1.19",
        "ecs.capability.execution-role-awslogs",
        "com.amazonaws.ecs.capability.ecr-auth",
        "ecs.capability.execution-role-ecr-pull",
        "com.amazonaws.ecs.capability.docker-remote-api.1.18",
        "ecs.capability.task-eni",
    }
    assert td["registeredBy"].startswith("arn:aws:iam::")
    described = ecs.describe_task_definition(taskDefinition="api:1")["taskDefinition"]
    assert described == td


def test_cli_health_check_comes_back_with_ecs_defaults(cli):
    # ECS answers a health check sent with only its command with interval 30, timeout 5 and
    # retries 3 (never startPeriod): the perpetual diff of terraform-aws-ecs#148 and
    # pulumi-aws#847. A startPeriod needs Docker API 1.29 instead of 1.24.
    containers = [
        {"name": "app", "image": "nginx:1.27", "memory": 128, "healthCheck": {"command": ["CMD-SHELL", "true"]}},
        {"name": "side", "image": "busybox:1.36", "memory": 64, "essential": False, "healthCheck": {"command": ["CMD", "true"], "interval": 7, "startPeriod": 10}},
    ]
    out = cli.run("register-task-definition", "--family", "checked", "--container-definitions", json.dumps(containers))
    td = out["taskDefinition"]
    app, side = td["containerDefinitions"]
    assert app["healthCheck"] == {"command": ["CMD-SHELL", "true"], "interval": 30, "timeout": 5, "retries": 3}
    assert side["healthCheck"] == {"command": ["CMD", "true"], "interval": 7, "timeout": 5, "retries": 3, "startPeriod": 10}
    assert [a["name"] for a in td["requiresAttributes"]] == [
        "ecs.capability.container-health-check",
        "com.amazonaws.ecs.capability.docker-remote-api.1.24",
        "com.amazonaws.ecs.capability.docker-remote-api.1.29",
    ]
    interval = cli.run("describe-task-definition", "--task-definition", "checked", "--query", "taskDefinition.containerDefinitions[0].healthCheck.interval")
    assert interval == 30


def test_members_the_author_set_are_kept(ecs):
    td = ecs.register_task_definition(
        family="kept",
        containerDefinitions=[
            {
                "name": "app",
                "image": "nginx:1.27",
                "memory": 128,
                "cpu": 32,
                "essential": True,
                "environment": [{"name": "A", "value": "1"}],
                "portMappings": [{"containerPort": 80, "hostPort": 8080, "protocol": "udp"}],
            },
            {"name": "side", "image": "busybox:1.36", "memory": 64, "essential": False},
        ],
    )["taskDefinition"]
    app, side = td["containerDefinitions"]
    assert app["cpu"] == 32 and app["environment"] == [{"name": "A", "value": "1"}]
    assert app["portMappings"] == [{"containerPort": 80, "hostPort": 8080, "protocol": "udp"}]
    assert side["essential"] is False and side["cpu"] == 0


# --- services, deployments, tasks and container instances as ECS returns them ------------------
#
# The members ECS returns on every object of each shape, from real describe outputs (the evidence
# per member, and what ECS returns only sometimes, is in docs/ecs-response-shapes.md):
#   [CLI]  the AWS CLI's own examples, aws/aws-cli awscli/examples/ecs/
#          https://github.com/aws/aws-cli/blob/develop/awscli/examples/ecs/create-service.rst
#          https://github.com/aws/aws-cli/blob/develop/awscli/examples/ecs/update-service.rst
#          https://github.com/aws/aws-cli/blob/develop/awscli/examples/ecs/describe-service-deployments.rst
#          https://github.com/aws/aws-cli/blob/develop/awscli/examples/ecs/describe-service-revisions.rst
#          https://github.com/aws/aws-cli/blob/develop/awscli/examples/ecs/describe-tasks.rst
#          https://github.com/aws/aws-cli/blob/develop/awscli/examples/ecs/run-task.rst
#          https://github.com/aws/aws-cli/blob/develop/awscli/examples/ecs/update-container-instances-state.rst
#          https://github.com/aws/aws-cli/blob/develop/awscli/examples/ecs/deregister-container-instance.rst
#   [REC]  a session recorded against a live account (2025-09), describe-services and describe-tasks:
#          https://github.com/neilkuan/ai-cli-demo/blob/main/gemini-cli/ops-chat/RECORD.ecs.md

ALWAYS = {
    # [CLI] create-service examples 1, 2, 5; update-service examples 1-5; [REC]. launchType or
    # capacityProviderStrategy is checked apart (exactly one of them).
    "Service": {
        "serviceArn", "serviceName", "clusterArn", "loadBalancers", "serviceRegistries", "status",
        "desiredCount", "runningCount", "pendingCount", "taskDefinition", "deploymentConfiguration",
        "deployments", "events", "createdAt", "placementConstraints", "placementStrategy",
        "schedulingStrategy", "deploymentController", "createdBy", "enableECSManagedTags",
        "propagateTags", "enableExecuteCommand", "healthCheckGracePeriodSeconds",
        "availabilityZoneRebalancing",
    },
    # [CLI] create-service example 5, update-service examples 1-5; [REC].
    "DeploymentConfiguration": {"deploymentCircuitBreaker", "maximumPercent", "minimumHealthyPercent"},
    # services[].deployments[]: the same outputs.
    "Deployment": {
        "id", "status", "taskDefinition", "desiredCount", "pendingCount", "runningCount", "failedTasks",
        "createdAt", "updatedAt", "rolloutState", "rolloutStateReason",
    },
    # [CLI] describe-service-deployments; finishedAt once it finished.
    "ServiceDeployment": {
        "serviceDeploymentArn", "serviceArn", "clusterArn", "createdAt", "startedAt", "updatedAt",
        "sourceServiceRevisions", "targetServiceRevision", "status", "deploymentConfiguration",
        "deploymentCircuitBreaker", "alarms",
    },
    "ServiceRevisionSummary": {"arn", "requestedTaskCount", "runningTaskCount", "pendingTaskCount"},
    # [CLI] describe-service-revisions.
    "ServiceRevision": {
        "serviceRevisionArn", "serviceArn", "clusterArn", "taskDefinition", "containerImages",
        "guardDutyEnabled", "serviceConnectConfiguration", "createdAt",
    },
    # [CLI] run-task 1-2, describe-tasks 1-2; [REC]. Started tasks add STARTED_TASK.
    "Task": {
        "attachments", "attributes", "availabilityZone", "clusterArn", "containers", "cpu", "createdAt",
        "desiredStatus", "enableExecuteCommand", "group", "lastStatus", "launchType", "memory",
        "overrides", "tags", "taskArn", "taskDefinitionArn", "version",
    },
    "StartedTask": {"connectivity", "connectivityAt", "pullStartedAt", "pullStoppedAt", "startedAt", "healthStatus"},
    "FargateTask": {"platformVersion", "platformFamily", "ephemeralStorage", "fargateEphemeralStorage"},
    # The same outputs; a started container adds healthStatus (and networkBindings, checked apart).
    "Container": {"containerArn", "taskArn", "name", "image", "lastStatus", "networkInterfaces", "cpu"},
    # [CLI] update-container-instances-state, deregister-container-instance.
    "ContainerInstance": {
        "containerInstanceArn", "ec2InstanceId", "version", "versionInfo", "remainingResources",
        "registeredResources", "status", "agentConnected", "runningTasksCount", "pendingTasksCount",
        "attributes", "registeredAt", "attachments", "tags",
    },
    "Resource": {"name", "type", "doubleValue", "longValue", "integerValue"},
}


def missing(shape, obj):
    return sorted(ALWAYS[shape] - set(obj))


def check_service(s):
    assert missing("Service", s) == [], s
    assert ("launchType" in s) != ("capacityProviderStrategy" in s), s
    assert missing("DeploymentConfiguration", s["deploymentConfiguration"]) == []
    for d in s["deployments"]:
        assert missing("Deployment", d) == [], d
        assert ("launchType" in d) != ("capacityProviderStrategy" in d), d


def test_services_carry_every_member_ecs_always_returns(ecs, cli, control):
    register(ecs, "web")
    created = ecs.create_service(serviceName="web", taskDefinition="web", desiredCount=1)["service"]
    check_service(created)
    assert created["healthCheckGracePeriodSeconds"] == 0
    assert created["deploymentConfiguration"]["deploymentCircuitBreaker"] == {"enable": False, "rollback": False}
    assert created["availabilityZoneRebalancing"] == "DISABLED"
    assert "roleArn" not in created, "no awsvpc, no load balancer, no role: ECS names none"
    control.advance(10)
    # An update that sets only part of the configuration: the rest is still answered.
    updated = ecs.update_service(
        service="web",
        taskDefinition=register(ecs, "web")["taskDefinitionArn"],
        deploymentConfiguration={"maximumPercent": 150},
    )["service"]
    check_service(updated)
    assert updated["deploymentConfiguration"]["minimumHealthyPercent"] == 100
    assert len(updated["deployments"]) == 2
    described = cli.run("describe-services", "--services", "web")["services"][0]
    check_service(described)
    assert "tags" not in described, "DescribeServices leaves tags out without include=TAGS"


def test_awsvpc_service_names_the_service_linked_role_and_its_platform(ecs, cli):
    ecs.register_task_definition(
        family="api",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "app", "image": "nginx:1.27"}],
    )
    net = {"awsvpcConfiguration": {"subnets": ["subnet-12344321"]}}
    s = ecs.create_service(
        serviceName="api", taskDefinition="api", desiredCount=1, launchType="FARGATE", networkConfiguration=net
    )["service"]
    check_service(s)
    assert s["roleArn"] == "arn:aws:iam::000000000000:role/aws-service-role/ecs.amazonaws.com/AWSServiceRoleForECS"
    assert s["platformVersion"] == "LATEST" and s["platformFamily"] == "Linux"
    [d] = cli.run("describe-services", "--services", "api")["services"][0]["deployments"]
    assert d["platformVersion"] == "1.4.0" and d["platformFamily"] == "Linux"
    # A role the request names is the one answered (a name becomes an ARN in the account).
    # A role the request names (allowed with one load balancer outside awsvpc) is the one
    # answered, a name as an ARN in the account ([CLI] create-service example 4).
    register(ecs, "web", [container(portMappings=[{"containerPort": 80, "hostPort": 0}])])
    tg = "arn:aws:elasticloadbalancing:us-east-1:000000000000:targetgroup/web/0123456789abcdef"
    s = ecs.create_service(
        serviceName="lb",
        taskDefinition="web",
        desiredCount=0,
        role="ecsServiceRole",
        loadBalancers=[{"targetGroupArn": tg, "containerName": "web", "containerPort": 80}],
    )["service"]
    assert s["roleArn"] == "arn:aws:iam::000000000000:role/ecsServiceRole"
    z = ecs.create_service(serviceName="z", taskDefinition="web", desiredCount=0, availabilityZoneRebalancing="ENABLED")
    assert z["service"]["availabilityZoneRebalancing"] == "ENABLED"
    z = ecs.update_service(service="z", availabilityZoneRebalancing="DISABLED")
    assert z["service"]["availabilityZoneRebalancing"] == "DISABLED"


def test_service_deployments_and_revisions_carry_every_member(ecs, cli, control):
    register(ecs, "web")
    first = ecs.create_service(serviceName="web", taskDefinition="web", desiredCount=1)["service"]
    first_arn = first["currentServiceDeployment"]
    control.advance(10)
    second_arn = ecs.update_service(service="web", taskDefinition=register(ecs, "web")["taskDefinitionArn"])["service"][
        "currentServiceDeployment"
    ]
    out = cli.run("describe-service-deployments", "--service-deployment-arns", first_arn, second_arn)
    assert out["failures"] == []
    one, two = sorted(out["serviceDeployments"], key=lambda d: d["createdAt"])
    for d in (one, two):
        assert missing("ServiceDeployment", d) == [], d
        assert missing("ServiceRevisionSummary", d["targetServiceRevision"]) == []
        assert missing("DeploymentConfiguration", d["deploymentConfiguration"]) == []
        assert d["alarms"] == {"status": "DISABLED"}
        assert d["deploymentCircuitBreaker"]["status"] == "DISABLED"
    # The first deployment replaced nothing; the second replaced the first's revision.
    assert one["sourceServiceRevisions"] == []
    [src] = two["sourceServiceRevisions"]
    assert missing("ServiceRevisionSummary", src) == []
    assert src["arn"] == one["targetServiceRevision"]["arn"]
    assert "finishedAt" in one and one["status"] == "STOPPED"
    revisions = cli.run(
        "describe-service-revisions",
        "--service-revision-arns",
        one["targetServiceRevision"]["arn"],
        two["targetServiceRevision"]["arn"],
    )["serviceRevisions"]
    assert len(revisions) == 2
    for r in revisions:
        assert missing("ServiceRevision", r) == [], r
        assert r["guardDutyEnabled"] is False and r["serviceConnectConfiguration"] == {"enabled": False}


def test_circuit_breaker_monitoring_completes_with_the_deployment(ecs, control):
    register(ecs, "web")
    s = ecs.create_service(
        serviceName="web",
        taskDefinition="web",
        desiredCount=1,
        deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": True}},
    )["service"]
    arn = s["currentServiceDeployment"]
    [d] = ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"]
    assert d["deploymentCircuitBreaker"]["status"] == "MONITORING"
    assert d["deploymentConfiguration"]["maximumPercent"] == 200

    def done():
        [d] = ecs.describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"]
        return d if d["status"] == "SUCCESSFUL" else None

    d = wait_until("the deployment to succeed", done, timeout=120, advance=lambda: control.advance(5))
    assert d["deploymentCircuitBreaker"]["status"] == "MONITORING_COMPLETE"


def test_tasks_carry_every_member_ecs_always_returns(ecs, cli, control):
    register(ecs, "worker", [container("worker"), container("side", essential=False)])
    run = ecs.run_task(
        taskDefinition="worker",
        launchType="EC2",
        overrides={"containerOverrides": [{"name": "side", "command": ["sleep", "1"]}]},
    )["tasks"][0]
    assert missing("Task", run) == [], run
    for c in run["containers"]:
        assert missing("Container", c) == [], c
        assert "networkBindings" not in c and "healthStatus" not in c, "a PENDING container has neither"
    assert run["attributes"] == [{"name": "ecs.cpu-architecture", "value": "x86_64"}]
    # Every container is named; the given override comes first, untouched.
    assert run["overrides"]["containerOverrides"] == [
        {"name": "side", "command": ["sleep", "1"]},
        {"name": "worker"},
    ]
    assert run["overrides"]["inferenceAcceleratorOverrides"] == []
    control.advance(10)
    [t] = cli.run("describe-tasks", "--tasks", run["taskArn"])["tasks"]
    assert missing("Task", t) == [] and missing("StartedTask", t) == [], t
    assert "containerInstanceArn" in t
    assert t["tags"] == [], "without include=TAGS the list is empty"
    for c in t["containers"]:
        assert missing("Container", c) == [], c
        assert c["healthStatus"] == "UNKNOWN"
        # No port mappings: no host port, so ECS answers an empty list.
        assert c["networkBindings"] == []
    stopped = ecs.stop_task(task=run["taskArn"])["task"]
    assert missing("Task", stopped) == [], stopped


def test_fargate_tasks_carry_their_platform_and_storage(ecs, cli, control):
    ecs.register_task_definition(
        family="api",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        runtimePlatform={"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"},
        ephemeralStorage={"sizeInGiB": 30},
        containerDefinitions=[{"name": "app", "image": "nginx:1.27", "portMappings": [{"containerPort": 80}]}],
    )
    run = ecs.run_task(
        taskDefinition="api",
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-12344321"]}},
    )["tasks"][0]
    assert missing("Task", run) == [] and missing("FargateTask", run) == [], run
    assert run["ephemeralStorage"] == {"sizeInGiB": 30} and run["fargateEphemeralStorage"] == {"sizeInGiB": 30}
    assert run["attributes"] == [{"name": "ecs.cpu-architecture", "value": "arm64"}]
    control.advance(10)
    [t] = cli.run("describe-tasks", "--tasks", run["taskArn"])["tasks"]
    assert missing("StartedTask", t) == [] and missing("FargateTask", t) == [], t
    # awsvpc: the port is the task's own, so no host binding (ECS answers []).
    assert t["containers"][0]["networkBindings"] == []
    # Its ENI: PRECREATED in the first subnet when run, ATTACHED once running; the simulated
    # runtime has no address, so only the subnet is named (the Docker runtime adds the rest).
    [eni] = run["attachments"]
    assert eni["type"] == "ElasticNetworkInterface" and eni["status"] == "PRECREATED"
    assert eni["details"] == [{"name": "subnetId", "value": "subnet-12344321"}]
    assert UUID.match(eni["id"]), eni
    [attached] = t["attachments"]
    assert attached == {**eni, "status": "ATTACHED"}
    ecs.stop_task(task=run["taskArn"])
    control.advance(5)
    [stopped] = ecs.describe_tasks(tasks=[run["taskArn"]])["tasks"]
    assert stopped["lastStatus"] == "STOPPED" and stopped["attachments"] == [{**eni, "status": "DELETED"}]


def test_container_instances_carry_every_member_ecs_always_returns(ecs, cli):
    arns = ecs.list_container_instances()["containerInstanceArns"]
    out = cli.run("describe-container-instances", "--container-instances", *arns[:2])
    assert out["failures"] == []
    for ci in out["containerInstances"]:
        assert missing("ContainerInstance", ci) == [], ci
        assert ci["tags"] == [] and ci["attachments"] == []
        for r in ci["registeredResources"] + ci["remainingResources"]:
            assert missing("Resource", r) == [], r
            if r["type"] == "STRINGSET":
                assert r["integerValue"] == 0 and r["longValue"] == 0 and r["doubleValue"] == 0
    drained = ecs.update_container_instances_state(containerInstances=arns[:1], status="DRAINING")
    assert missing("ContainerInstance", drained["containerInstances"][0]) == []
