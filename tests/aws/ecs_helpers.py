"""Small helpers shared by the tests (not fixtures: plain functions over a boto3 client)."""

import time

import pytest
from botocore.exceptions import ClientError

# Waiter settings: poll every second (the simulated runtime starts a task in ~3 s) with a bound.
FAST = {"Delay": 1, "MaxAttempts": 60}


def container(name="web", image="nginx:1.27", cpu=64, memory=128, **extra):
    c = {"name": name, "image": image, "cpu": cpu, "memory": memory, "essential": True}
    c.update(extra)
    return c


def register(ecs, family="web", containers=None, **extra):
    """Registers an EC2 task definition; returns its description."""
    resp = ecs.register_task_definition(family=family, containerDefinitions=containers or [container()], **extra)
    return resp["taskDefinition"]


def error_code(exc_info):
    return exc_info.value.response["Error"]["Code"]


def error_message(exc_info):
    return exc_info.value.response["Error"].get("Message", "")


def expect_error(code, fn, *args, **kwargs):
    """Calls fn and asserts it fails with the AWS error `code` and a 4xx; returns the message."""
    with pytest.raises(ClientError) as e:
        fn(*args, **kwargs)
    status = e.value.response["ResponseMetadata"]["HTTPStatusCode"]
    assert error_code(e) == code, f"expected {code}, got {error_code(e)}: {error_message(e)}"
    assert 400 <= status < 500, f"{code} answered with HTTP {status}"
    return error_message(e)


def run_tasks(ecs, task_definition, count, cluster="default", **kwargs):
    resp = ecs.run_task(cluster=cluster, taskDefinition=task_definition, count=count, launchType="EC2", **kwargs)
    assert resp["failures"] == [], resp["failures"]
    assert len(resp["tasks"]) == count
    return [t["taskArn"] for t in resp["tasks"]]


def describe_tasks(ecs, arns, cluster="default"):
    out = []
    for i in range(0, len(arns), 100):
        resp = ecs.describe_tasks(cluster=cluster, tasks=arns[i : i + 100])
        assert resp["failures"] == [], resp["failures"]
        out += resp["tasks"]
    return out


def wait_until(what, fn, timeout=60.0, interval=0.5, advance=None):
    """Polls fn() until it returns a truthy value; `advance` (a callable) is called between polls."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        if advance:
            advance()
        else:
            time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last value: {last!r}")


def service(ecs, name, cluster="default"):
    resp = ecs.describe_services(cluster=cluster, services=[name])
    assert resp["failures"] == [], resp["failures"]
    return resp["services"][0]


def service_tasks(ecs, name, cluster="default", desired="RUNNING"):
    arns = []
    for page in ecs.get_paginator("list_tasks").paginate(cluster=cluster, serviceName=name, desiredStatus=desired):
        arns += page["taskArns"]
    return describe_tasks(ecs, arns, cluster) if arns else []
