"""The audit trail, read with `aws cloudtrail lookup-events --endpoint-url …`.

A Berth of its own (local mode, `--data-dir DIR`) so the trail holds only this module's calls:
mutating, denied and failed calls are recorded CloudTrail-shaped with environment values
redacted, successful reads are not, `--lookup-attributes` filters, and the trail is kept in
`DIR/audit/*.jsonl` across a restart. (Upstream mode's trail is checked in test_upstream.py.)
"""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import REGION, aws_cli, child_env, client

SECRET_VALUE = "s3cr3t-value"
OVERRIDE_SECRET = "0verride-s3cr3t"


@pytest.fixture(scope="module")
def audited(procs):
    return procs.berth("berth-audit", "--instances", "2")


@pytest.fixture(autouse=True)
def _alive(procs):
    yield
    for p in procs.started:
        p.check_alive()


def lookup_cli(procs, url, *lookup_attributes, check=True):
    args = ["cloudtrail", "lookup-events", "--endpoint-url", url, "--region", REGION]
    if lookup_attributes:
        args += ["--lookup-attributes", *lookup_attributes]
    env = child_env(procs.tmp, "AKIDEXAMPLE", "secret")
    return aws_cli(*args, env=env, check=check)


def lookup_raw_stdout(procs, url, *lookup_attributes):
    """The CLI's exact output, for searching it for secrets."""
    args = ["cloudtrail", "lookup-events", "--endpoint-url", url, "--region", REGION]
    if lookup_attributes:
        args += ["--lookup-attributes", *lookup_attributes]
    return aws_cli(*args, env=child_env(procs.tmp, "AKIDEXAMPLE", "secret"), raw=True)


def records(events):
    return [json.loads(e["CloudTrailEvent"]) for e in events]


def audit_files(server):
    files = sorted((server.data_dir / "audit").glob("*.jsonl"))
    assert files, f"no audit files under {server.data_dir / 'audit'}"
    return files


def register_with_secret(url, family):
    ecs = client("ecs", url)
    return ecs.register_task_definition(
        family=family,
        containerDefinitions=[
            {
                "name": "app",
                "image": "nginx:1.27",
                "cpu": 64,
                "memory": 128,
                "essential": True,
                "environment": [{"name": "DB_PASSWORD", "value": SECRET_VALUE}, {"name": "MODE", "value": "prod"}],
            }
        ],
    )["taskDefinition"]


def test_register_task_definition_is_recorded_with_the_secret_hidden(procs, audited):
    td = register_with_secret(audited.url, "audited")
    ecs = client("ecs", audited.url)
    # A RunTask whose override carries a secret too.
    ecs.run_task(
        cluster="default",
        taskDefinition=td["taskDefinitionArn"],
        overrides={"containerOverrides": [{"name": "app", "environment": [{"name": "TOKEN", "value": OVERRIDE_SECRET}]}]},
    )

    out = lookup_raw_stdout(procs, audited.url)
    assert SECRET_VALUE not in out
    assert OVERRIDE_SECRET not in out
    events = json.loads(out)["Events"]
    by_name = {}
    for e in events:
        by_name.setdefault(e["EventName"], []).append(e)
    assert "RegisterTaskDefinition" in by_name, [e["EventName"] for e in events]
    assert "RunTask" in by_name, [e["EventName"] for e in events]

    event = by_name["RegisterTaskDefinition"][0]
    assert event["ReadOnly"] == "false"
    assert event["EventSource"] == "ecs.amazonaws.com"
    rec = json.loads(event["CloudTrailEvent"])
    assert rec["eventName"] == "RegisterTaskDefinition"
    assert rec["readOnly"] is False
    assert rec["eventSource"] == "ecs.amazonaws.com"
    assert rec["awsRegion"] == REGION
    assert rec["eventType"] == "AwsApiCall"
    assert rec["sourceIPAddress"] == "127.0.0.1"
    assert rec["eventID"] == event["EventId"]
    assert rec["requestParameters"]["family"] == "audited"
    env = rec["requestParameters"]["containerDefinitions"][0]["environment"]
    assert [v["name"] for v in env] == ["DB_PASSWORD", "MODE"]
    assert all(v["value"] != SECRET_VALUE for v in env)

    # The files on disk: one JSON record a line, with the same record and no secret.
    lines = []
    for f in audit_files(audited):
        text = f.read_text()
        assert SECRET_VALUE not in text and OVERRIDE_SECRET not in text, f
        lines += [json.loads(line) for line in text.splitlines() if line.strip()]
    assert rec["eventID"] in [r["eventID"] for r in lines]


def test_lookup_attributes_filter_by_event_name(procs, audited):
    register_with_secret(audited.url, "filtered")
    client("ecs", audited.url).create_cluster(clusterName="not-a-task-definition")
    every = lookup_cli(procs, audited.url)["Events"]
    assert {"RegisterTaskDefinition", "CreateCluster"} <= {e["EventName"] for e in every}

    only = lookup_cli(procs, audited.url, "AttributeKey=EventName,AttributeValue=RegisterTaskDefinition")["Events"]
    assert only, "no RegisterTaskDefinition events"
    assert {e["EventName"] for e in only} == {"RegisterTaskDefinition"}
    families = {r["requestParameters"]["family"] for r in records(only)}
    assert "filtered" in families
    # Newest first, as CloudTrail.
    times = [e["EventTime"] for e in only]
    assert times == sorted(times, reverse=True)

    none = lookup_cli(procs, audited.url, "AttributeKey=EventName,AttributeValue=NoSuchOperation")["Events"]
    assert none == []


def test_reads_are_not_recorded_but_failures_are(procs, audited):
    ecs = client("ecs", audited.url)
    ecs.list_clusters()
    ecs.describe_clusters(clusters=["default"])
    with pytest.raises(ClientError):
        ecs.describe_services(cluster="no-such-cluster", services=["x"])

    assert lookup_cli(procs, audited.url, "AttributeKey=EventName,AttributeValue=ListClusters")["Events"] == []
    assert lookup_cli(procs, audited.url, "AttributeKey=EventName,AttributeValue=DescribeClusters")["Events"] == []
    failed = records(
        lookup_cli(procs, audited.url, "AttributeKey=EventName,AttributeValue=DescribeServices")["Events"]
    )
    assert len(failed) == 1, failed
    assert failed[0]["errorCode"] == "ClusterNotFoundException"
    assert failed[0]["readOnly"] is True
    assert failed[0]["requestParameters"]["cluster"] == "no-such-cluster"

    read_only = lookup_cli(procs, audited.url, "AttributeKey=ReadOnly,AttributeValue=true")["Events"]
    assert {e["EventName"] for e in read_only} == {"DescribeServices"}


def test_the_trail_survives_a_restart(procs):
    data = procs.tmp / "restart-data"
    first = procs.berth("berth-audit-first", data_dir=data)
    register_with_secret(first.url, "before-restart")
    first.stop()
    assert list((data / "audit").glob("*.jsonl")), "no audit file after the first run"
    second = procs.berth("berth-audit-second", data_dir=data)
    found = records(
        lookup_cli(procs, second.url, "AttributeKey=EventName,AttributeValue=RegisterTaskDefinition")["Events"]
    )
    assert [r["requestParameters"]["family"] for r in found] == ["before-restart"]
