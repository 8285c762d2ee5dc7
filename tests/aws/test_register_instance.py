"""RegisterContainerInstance (the action the ECS agent calls on start): a new instance with the
identity document's attributes and its total resources, re-registration keeping the ARN, the
change stream announcing it, a pending service task placed on it, and ECS's errors."""

import json
import time
import urllib.request

from conftest import INSTANCE_MEMORY, INSTANCES
from ecs_helpers import container, expect_error, register, service, service_tasks, wait_until


def identity_document(instance_id="i-0abc1234def567890", az="us-east-1b", instance_type="m5.2xlarge"):
    return json.dumps(
        {
            "accountId": "000000000000",
            "architecture": "x86_64",
            "availabilityZone": az,
            "imageId": "ami-0123456789abcdef0",
            "instanceId": instance_id,
            "instanceType": instance_type,
            "privateIp": "10.0.1.17",
            "region": "us-east-1",
            "version": "2017-09-30",
        }
    )


def total_resources(cpu=8192, memory=16000):
    return [
        {"name": "CPU", "type": "INTEGER", "integerValue": cpu},
        {"name": "MEMORY", "type": "INTEGER", "integerValue": memory},
        {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["22", "2375", "2376", "51678", "51679"]},
        {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []},
    ]


def resource(resources, name):
    r = next(r for r in resources if r["name"] == name)
    return r.get("integerValue") if r["type"] == "INTEGER" else r.get("stringSetValue")


def attr(ci, name):
    return next((a.get("value") for a in ci["attributes"] if a["name"] == name), None)


def test_register_then_describe(ecs):
    resp = ecs.register_container_instance(
        cluster="default",
        instanceIdentityDocument=identity_document(),
        instanceIdentityDocumentSignature="c2lnbmF0dXJl",
        totalResources=total_resources(),
        versionInfo={"agentVersion": "1.82.1", "agentHash": "abc", "dockerVersion": "DockerVersion: 20.10.25"},
        attributes=[{"name": "stack", "value": "prod"}],
        tags=[{"key": "team", "value": "berth"}],
    )
    ci = resp["containerInstance"]
    arn = ci["containerInstanceArn"]
    assert arn.startswith("arn:aws:ecs:us-east-1:000000000000:container-instance/default/")
    assert ci["tags"] == [{"key": "team", "value": "berth"}]
    arns = ecs.list_container_instances(cluster="default")["containerInstanceArns"]
    assert len(arns) == INSTANCES + 1 and arn in arns

    got = ecs.describe_container_instances(cluster="default", containerInstances=[arn])["containerInstances"][0]
    assert got["ec2InstanceId"] == "i-0abc1234def567890"
    assert got["status"] == "ACTIVE" and got["agentConnected"] is True
    assert got["version"] == 1
    # The agent's versions come back as it registered them.
    assert got["versionInfo"] == {"agentVersion": "1.82.1", "agentHash": "abc", "dockerVersion": "DockerVersion: 20.10.25"}
    seeded = ecs.describe_container_instances(containerInstances=[a for a in arns if a != arn][:1])
    assert got["registeredAt"] >= seeded["containerInstances"][0]["registeredAt"]
    assert attr(got, "ecs.availability-zone") == "us-east-1b"
    assert attr(got, "ecs.instance-type") == "m5.2xlarge"
    assert attr(got, "ecs.ami-id") == "ami-0123456789abcdef0"
    assert attr(got, "ecs.os-type") == "linux"
    assert attr(got, "stack") == "prod"
    for name in ("CPU", "MEMORY", "PORTS", "PORTS_UDP"):
        assert resource(got["registeredResources"], name) == resource(got["remainingResources"], name), name
    assert resource(got["registeredResources"], "CPU") == 8192
    assert resource(got["registeredResources"], "MEMORY") == 16000
    assert sorted(resource(got["registeredResources"], "PORTS")) == sorted(["22", "2375", "2376", "51678", "51679"])
    filtered = ecs.list_container_instances(filter="attribute:ecs.instance-type == m5.2xlarge")
    assert filtered["containerInstanceArns"] == [arn]


def test_cli_register_and_re_register_keeps_the_arn(cli):
    first = cli.run(
        "register-container-instance",
        "--cluster",
        "default",
        "--instance-identity-document",
        identity_document(),
        "--total-resources",
        json.dumps(total_resources(memory=8000)),
        "--version-info",
        "agentVersion=1.82.1",
    )["containerInstance"]
    arn = first["containerInstanceArn"]
    assert attr(first, "ecs.instance-type") == "m5.2xlarge"
    again = cli.run(
        "register-container-instance",
        "--cluster",
        "default",
        "--instance-identity-document",
        identity_document(),
        "--total-resources",
        json.dumps(total_resources(memory=12000)),
        "--container-instance-arn",
        arn,
    )["containerInstance"]
    assert again["containerInstanceArn"] == arn
    assert again["ec2InstanceId"] == first["ec2InstanceId"]
    assert again["version"] == first["version"] + 1
    assert resource(again["registeredResources"], "MEMORY") == 12000
    described = cli.run("describe-container-instances", "--container-instances", arn)["containerInstances"][0]
    assert described["containerInstanceArn"] == arn
    assert resource(described["remainingResources"], "MEMORY") == 12000
    # A changed instance type is refused as ECS refuses it.
    err = cli.run(
        "register-container-instance",
        "--instance-identity-document",
        identity_document(instance_type="m5.large"),
        "--total-resources",
        json.dumps(total_resources()),
        "--container-instance-arn",
        arn,
        check=False,
    )
    assert err.code != 0
    assert "ClientException" in err.stderr
    assert "Container instance type changes are not supported." in err.stderr


class EventStream:
    """`GET /_berth/events`, read line by line (server-sent events)."""

    def __init__(self, endpoint):
        self.resp = urllib.request.urlopen(endpoint + "/_berth/events", timeout=30)
        assert self.next_event()[0] == "hello"

    def next_event(self):
        kind, data = None, []
        while True:
            line = self.resp.readline()
            if not line:
                raise AssertionError("the event stream ended")
            line = line.decode().rstrip("\r\n")
            if line == "":
                if kind or data:
                    return kind, "\n".join(data)
                continue
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())

    def wait_for(self, pred, timeout=30.0):
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            kind, data = self.next_event()
            if kind == "changes":
                for ch in json.loads(data)["changes"]:
                    ch = ch.get("change", ch)
                    seen.append(ch)
                    if pred(ch):
                        return ch
        raise AssertionError(f"no matching change within {timeout:.0f} s; saw {seen[-20:]!r}")

    def close(self):
        self.resp.close()


def test_pending_service_runs_after_a_big_enough_instance_registers(ecs, control, endpoint):
    big = INSTANCE_MEMORY + 2000
    register(ecs, "big", containers=[container(cpu=512, memory=big)])
    ecs.create_service(cluster="default", serviceName="big", taskDefinition="big", desiredCount=1, launchType="EC2")

    def unplaceable():
        s = service(ecs, "big")
        return s["runningCount"] == 0 and any(
            "was unable to place a task because no container instance met all of its requirements." in e["message"]
            and "insufficient memory" in e["message"]
            for e in s["events"]
        )

    wait_until("the placement-failure event", unplaceable, timeout=60, advance=lambda: control.advance(1))
    control.advance(5)
    assert service(ecs, "big")["runningCount"] == 0

    stream = EventStream(endpoint)
    try:
        ci = ecs.register_container_instance(
            instanceIdentityDocument=identity_document(),
            totalResources=total_resources(memory=big + 1000),
        )["containerInstance"]
        arn = ci["containerInstanceArn"]
        change = stream.wait_for(lambda ch: ch.get("kind") == "instance" and ch.get("arn") == arn)
        assert change["cluster"] == "default" and change["name"] == arn.rsplit("/", 1)[1]
    finally:
        stream.close()

    s = wait_until(
        "the service task to run on the new instance",
        lambda: (lambda s: s if s["runningCount"] == 1 else None)(service(ecs, "big")),
        timeout=60,
        advance=lambda: control.advance(1),
    )
    assert s["pendingCount"] == 0
    (task,) = service_tasks(ecs, "big")
    assert task["lastStatus"] == "RUNNING"
    assert task["containerInstanceArn"] == arn
    got = ecs.describe_container_instances(containerInstances=[arn])["containerInstances"][0]
    assert resource(got["remainingResources"], "MEMORY") == 1000
    assert got["runningTasksCount"] == 1


def test_errors(ecs):
    msg = expect_error(
        "ClusterNotFoundException",
        ecs.register_container_instance,
        cluster="nope",
        instanceIdentityDocument=identity_document(),
        totalResources=total_resources(),
    )
    assert msg == "Cluster not found."
    msg = expect_error(
        "InvalidParameterException",
        ecs.register_container_instance,
        instanceIdentityDocument=identity_document(),
    )
    assert "CPU and MEMORY" in msg
    msg = expect_error(
        "InvalidParameterException",
        ecs.register_container_instance,
        totalResources=[
            {"name": "CPU", "type": "INTEGER", "integerValue": 1024},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": 2048},
            {"name": "PORTS", "type": "STRINGSET", "stringSetValue": ["http"]},
        ],
    )
    assert "Invalid port 'http'" in msg
    expect_error(
        "InvalidParameterException",
        ecs.register_container_instance,
        instanceIdentityDocument="{not json",
        totalResources=total_resources(),
    )
    assert len(ecs.list_container_instances()["containerInstanceArns"]) == INSTANCES, "nothing registered"
