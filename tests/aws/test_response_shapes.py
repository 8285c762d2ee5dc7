"""Answers shaped like ECS's: request ids on every response, and the members ECS fills in when it
stores a task definition (berth_core::registered has the rules and their corpus evidence)."""

import json
import re

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, REGION, SECRET_KEY, _client_config

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
