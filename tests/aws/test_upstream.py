"""Upstream mode: `berth serve --upstream-url URL` in front of moto's server.

Three real processes of each kind on 127.0.0.1: moto "behind" (the upstream of every Berth
here), moto "direct" (a second, fresh moto that the same calls go to without Berth), and Berths
in upstream mode (plain, `--read-only`, `--deny ecs:Delete*`). The same scripted sequence of
boto3 calls (ECS, Application Auto Scaling, CloudWatch Logs) must give the same results through
Berth as directly against moto, and leave moto behind Berth in the same state as moto direct;
refused calls must never reach moto. Both moto servers are reset before every test.

Volatile members differ between two moto servers and are masked before comparing: request ids,
timestamps (datetime values and the epoch-millisecond members of CloudWatch Logs), moto's random
deployment ids (`ecs-svc/<n>`, also inside `rolloutStateReason`) and scalable-target ids.
"""

import json
import re
import time
from datetime import datetime

import pytest
from botocore.exceptions import ClientError

from conftest import ECS_TARGET, REGION, Cli, aws_cli, child_env, client, moto_reset, raw_call

READ_ONLY_RE = (
    r"User: \S+ is not authorized to perform: {action} on resource: \* "
    r"because Berth is running in read-only mode"
)


@pytest.fixture(scope="module")
def moto_behind(procs):
    return procs.moto("moto-behind")


@pytest.fixture(scope="module")
def moto_direct(procs):
    return procs.moto("moto-direct")


def _upstream(procs, name, moto, *extra):
    return procs.berth(name, "--upstream-url", moto.url, "--region", REGION, "--no-imds", *extra)


@pytest.fixture(scope="module")
def proxy(procs, moto_behind):
    return _upstream(procs, "berth-upstream", moto_behind)


@pytest.fixture(scope="module")
def read_only(procs, moto_behind):
    return _upstream(procs, "berth-read-only", moto_behind, "--read-only")


@pytest.fixture(scope="module")
def deny_delete(procs, moto_behind):
    return _upstream(procs, "berth-deny", moto_behind, "--deny", "ecs:Delete*")


@pytest.fixture(scope="module")
def allow_reads(procs, moto_behind):
    return _upstream(procs, "berth-allow", moto_behind, "--allow", "ecs:Describe*", "--allow", "ecs:List*")


@pytest.fixture(autouse=True)
def _fresh_motos(procs, moto_behind, moto_direct):
    moto_reset(moto_behind)
    moto_reset(moto_direct)
    yield
    for p in procs.started:
        p.check_alive()


# -- normalization ------------------------------------------------------------------------------

# Epoch-millisecond members (CloudWatch Logs) that moto fills with its own clock.
MILLIS_KEYS = {"creationTime", "ingestionTime", "lastIngestionTime", "firstEventTimestamp", "lastEventTimestamp"}
VOLATILE_PATTERNS = [
    (re.compile(r"ecs-svc/\d+"), "ecs-svc/<id>"),
    (re.compile(r"scalable-target/[0-9a-z]+"), "scalable-target/<id>"),
]


def normalize(value, key=None):
    """A copy without request metadata, with timestamps and moto's random ids masked."""
    if isinstance(value, dict):
        return {k: normalize(v, k) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, datetime):
        return "<time>"
    if key in MILLIS_KEYS and isinstance(value, (int, float)):
        return "<time>"
    if isinstance(value, str):
        for pattern, repl in VOLATILE_PATTERNS:
            value = pattern.sub(repl, value)
    return value


def clients(url):
    return client("ecs", url), client("application-autoscaling", url), client("logs", url)


def scenario(url, now_ms):
    """The scripted sequence; returns [(step, normalized answer or error)]."""
    ecs, aas, logs = clients(url)
    out = []

    def step(name, fn, **kwargs):
        try:
            resp = fn(**kwargs)
        except ClientError as e:
            resp = {
                "Error": e.response["Error"],
                "status": e.response["ResponseMetadata"]["HTTPStatusCode"],
            }
        out.append((name, normalize(resp)))
        return resp

    step("CreateCluster", ecs.create_cluster, clusterName="alpha", tags=[{"key": "env", "value": "test"}])
    td = step(
        "RegisterTaskDefinition",
        ecs.register_task_definition,
        family="web",
        containerDefinitions=[
            {
                "name": "web",
                "image": "nginx:1.27",
                "cpu": 64,
                "memory": 128,
                "essential": True,
                "environment": [{"name": "MODE", "value": "upstream"}],
            }
        ],
    )
    assert "taskDefinition" in td, td
    svc = step(
        "CreateService", ecs.create_service, cluster="alpha", serviceName="svc", taskDefinition="web:1", desiredCount=0
    )
    assert "service" in svc, svc
    svc_arn = svc["service"]["serviceArn"]
    step("ListClusters", ecs.list_clusters)
    step("DescribeClusters", ecs.describe_clusters, clusters=["alpha"], include=["TAGS"])
    step("ListServices", ecs.list_services, cluster="alpha")
    step("DescribeServices", ecs.describe_services, cluster="alpha", services=["svc"])
    step("DescribeTaskDefinition", ecs.describe_task_definition, taskDefinition="web:1")
    step("ListTaskDefinitions", ecs.list_task_definitions)
    step("TagResource", ecs.tag_resource, resourceArn=svc_arn, tags=[{"key": "team", "value": "berth"}])
    step("ListTagsForResource", ecs.list_tags_for_resource, resourceArn=svc_arn)
    step("UntagResource", ecs.untag_resource, resourceArn=svc_arn, tagKeys=["team"])
    step("ListTagsForResource.after", ecs.list_tags_for_resource, resourceArn=svc_arn)
    step(
        "RegisterScalableTarget",
        aas.register_scalable_target,
        ServiceNamespace="ecs",
        ResourceId="service/alpha/svc",
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=1,
        MaxCapacity=3,
    )
    step("DescribeScalableTargets", aas.describe_scalable_targets, ServiceNamespace="ecs")
    step("UpdateService", ecs.update_service, cluster="alpha", service="svc", desiredCount=0)
    step("DeleteService", ecs.delete_service, cluster="alpha", service="svc", force=True)
    step("DeregisterTaskDefinition", ecs.deregister_task_definition, taskDefinition="web:1")
    step("DescribeServices.missingCluster", ecs.describe_services, cluster="nope", services=["svc"])
    step("CreateLogGroup", logs.create_log_group, logGroupName="/ecs/web")
    step("CreateLogStream", logs.create_log_stream, logGroupName="/ecs/web", logStreamName="web/1")
    step(
        "PutLogEvents",
        logs.put_log_events,
        logGroupName="/ecs/web",
        logStreamName="web/1",
        logEvents=[{"timestamp": now_ms, "message": "hello"}, {"timestamp": now_ms + 1, "message": "world"}],
    )
    step("GetLogEvents", logs.get_log_events, logGroupName="/ecs/web", logStreamName="web/1", startFromHead=True)
    step("DescribeLogGroups", logs.describe_log_groups)
    step("CreateLogGroup.again", logs.create_log_group, logGroupName="/ecs/web")
    return out


def state(url):
    """What a moto server holds after the scenario, read directly (normalized)."""
    ecs, aas, logs = clients(url)
    return normalize(
        {
            "clusters": ecs.describe_clusters(clusters=ecs.list_clusters()["clusterArns"] or ["none"], include=["TAGS"]),
            "services": ecs.describe_services(cluster="alpha", services=["svc"]),
            "taskDefinition": ecs.describe_task_definition(taskDefinition="web:1"),
            "scalableTargets": aas.describe_scalable_targets(ServiceNamespace="ecs"),
            "logGroups": logs.describe_log_groups(),
            "events": logs.get_log_events(logGroupName="/ecs/web", logStreamName="web/1", startFromHead=True),
        }
    )


def assert_same_steps(via_berth, direct):
    assert [s for s, _ in via_berth] == [s for s, _ in direct]
    for (name, got), (_, want) in zip(via_berth, direct):
        assert got == want, f"{name} through Berth differs from moto direct:\n{json.dumps(got, indent=1, default=str)}\n" \
                            f"moto direct:\n{json.dumps(want, indent=1, default=str)}"


# -- forwarding -----------------------------------------------------------------------------------


def test_scripted_sequence_gives_the_same_results_as_moto_direct(proxy, moto_behind, moto_direct):
    now_ms = int(time.time() * 1000)
    via_berth = scenario(proxy.url, now_ms)
    direct = scenario(moto_direct.url, now_ms)
    assert_same_steps(via_berth, direct)
    # Sanity: the sequence did what it says (on both sides alike, as just compared).
    results = dict(direct)
    assert results["DescribeServices.missingCluster"]["Error"]["Code"] == "ClusterNotFoundException"
    assert results["CreateLogGroup.again"]["Error"]["Code"] == "ResourceAlreadyExistsException"
    assert [e["message"] for e in results["GetLogEvents"]["events"]] == ["hello", "world"]

    # What was done through Berth is on moto behind it, as on moto direct: Berth forwarded it.
    behind = state(moto_behind.url)
    assert behind == state(moto_direct.url)
    assert [c["clusterName"] for c in behind["clusters"]["clusters"]] == ["alpha"]
    assert behind["services"]["services"][0]["status"] == "INACTIVE"
    assert behind["taskDefinition"]["taskDefinition"]["status"] == "INACTIVE"
    assert behind["scalableTargets"]["ScalableTargets"][0]["ResourceId"] == "service/alpha/svc"
    assert [e["message"] for e in behind["events"]["events"]] == ["hello", "world"]


def test_reads_through_berth_see_what_is_on_moto(proxy, moto_behind):
    direct = client("ecs", moto_behind.url)
    direct.create_cluster(clusterName="made-on-moto")
    via = client("ecs", proxy.url)
    assert via.list_clusters()["clusterArns"] == direct.list_clusters()["clusterArns"]
    got = via.describe_clusters(clusters=["made-on-moto"])["clusters"][0]
    assert got["clusterArn"].endswith(":cluster/made-on-moto")
    # moto's account, not Berth's: the answer is moto's.
    assert ":123456789012:" in got["clusterArn"]


def test_aws_cli_through_berth(proxy, moto_behind, moto_direct):
    through = Cli(proxy.url)
    direct_behind = Cli(moto_behind.url)
    direct_other = Cli(moto_direct.url)
    created = through.run("create-cluster", "--cluster-name", "cli-made")
    assert created["cluster"]["clusterName"] == "cli-made"
    assert direct_other.run("create-cluster", "--cluster-name", "cli-made") == created
    listed = through.run("list-clusters")
    assert listed == direct_behind.run("list-clusters") == direct_other.run("list-clusters")
    assert listed["clusterArns"] == [created["cluster"]["clusterArn"]]
    # An upstream error through the CLI: same exit status and message as moto direct.
    err = through.run("describe-services", "--cluster", "nope", "--services", "x", check=False)
    want = direct_other.run("describe-services", "--cluster", "nope", "--services", "x", check=False)
    assert err.code == want.code != 0
    assert err.stderr.strip() == want.stderr.strip()
    assert "ClusterNotFoundException" in err.stderr


def test_upstream_error_passes_through_unchanged(proxy, moto_direct):
    body = {"cluster": "nope", "services": ["svc"]}
    via = raw_call(proxy.url, f"{ECS_TARGET}.DescribeServices", body)
    direct = raw_call(moto_direct.url, f"{ECS_TARGET}.DescribeServices", body)
    assert direct.status == 400, direct
    assert via.status == direct.status, via
    assert via.body == direct.body, (via, direct)
    assert via.json()["__type"] == "ClusterNotFoundException"
    assert via.headers.get("x-amzn-errortype") == direct.headers.get("x-amzn-errortype")
    # The request id is moto's (52 letters and digits), passed through, not one of Berth's own.
    rid = via.headers.get("x-amzn-requestid", "")
    assert re.fullmatch(r"[A-Za-z0-9]{52}", rid), f"x-amzn-RequestId {rid!r} is not moto's: {via}"

    # boto3 sees the same code, message and status both ways.
    for url in (proxy.url, moto_direct.url):
        with pytest.raises(ClientError) as e:
            client("ecs", url).describe_services(cluster="nope", services=["svc"])
        assert e.value.response["Error"] == {"Code": "ClusterNotFoundException", "Message": "Cluster not found."}
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_successful_answer_is_moto_s_bytes(proxy, moto_behind, moto_direct):
    client("ecs", moto_behind.url).create_cluster(clusterName="bytes")
    client("ecs", moto_direct.url).create_cluster(clusterName="bytes")
    via = raw_call(proxy.url, f"{ECS_TARGET}.DescribeClusters", {"clusters": ["bytes"]})
    direct = raw_call(moto_direct.url, f"{ECS_TARGET}.DescribeClusters", {"clusters": ["bytes"]})
    assert via.status == direct.status == 200
    assert via.body == direct.body
    assert re.fullmatch(r"[A-Za-z0-9]{52}", via.headers.get("x-amzn-requestid", "")), via


def test_cloudwatch_metrics_through_berth(proxy, moto_behind, moto_direct):
    """CloudWatch (botocore speaks Smithy RPC v2 CBOR to it) is forwarded too."""
    results = []
    for url in (proxy.url, moto_direct.url):
        cw = client("cloudwatch", url)
        cw.put_metric_data(
            Namespace="Berth/Test", MetricData=[{"MetricName": "hits", "Value": 3.0, "Unit": "Count"}]
        )
        results.append(normalize(cw.list_metrics(Namespace="Berth/Test")))
    assert results[0] == results[1]
    assert results[0]["Metrics"][0]["MetricName"] == "hits"
    direct = client("cloudwatch", moto_behind.url).list_metrics(Namespace="Berth/Test")
    assert [m["MetricName"] for m in direct["Metrics"]] == ["hits"]


# -- refusals: --read-only and --deny -------------------------------------------------------------


def expect_denied(action, fn, **kwargs):
    with pytest.raises(ClientError) as e:
        fn(**kwargs)
    err = e.value.response["Error"]
    assert err["Code"] == "AccessDeniedException", e.value.response
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return err["Message"]


def test_read_only_lets_reads_through(read_only, moto_behind):
    client("ecs", moto_behind.url).create_cluster(clusterName="seen")
    ecs = client("ecs", read_only.url)
    assert [a.rsplit("/", 1)[1] for a in ecs.list_clusters()["clusterArns"]] == ["seen"]
    assert ecs.describe_clusters(clusters=["seen"])["clusters"][0]["status"] == "ACTIVE"
    assert client("application-autoscaling", read_only.url).describe_scalable_targets(ServiceNamespace="ecs")[
        "ScalableTargets"
    ] == []
    assert client("logs", read_only.url).describe_log_groups()["logGroups"] == []
    # An upstream error on a read still comes through.
    with pytest.raises(ClientError) as e:
        ecs.describe_services(cluster="nope", services=["x"])
    assert e.value.response["Error"]["Code"] == "ClusterNotFoundException"


def test_read_only_refuses_writes_before_the_upstream(read_only, moto_behind):
    direct_ecs = client("ecs", moto_behind.url)
    direct_ecs.create_cluster(clusterName="existing")
    td = direct_ecs.register_task_definition(
        family="ro", containerDefinitions=[{"name": "c", "image": "busybox", "memory": 32, "essential": True}]
    )["taskDefinition"]["taskDefinitionArn"]
    ecs = client("ecs", read_only.url)
    aas = client("application-autoscaling", read_only.url)
    logs = client("logs", read_only.url)

    msg = expect_denied("ecs:CreateCluster", ecs.create_cluster, clusterName="refused")
    assert re.fullmatch(READ_ONLY_RE.format(action="ecs:CreateCluster"), msg), msg
    msg = expect_denied("ecs:RunTask", ecs.run_task, cluster="existing", taskDefinition=td)
    assert re.fullmatch(READ_ONLY_RE.format(action="ecs:RunTask"), msg), msg
    msg = expect_denied("ecs:DeleteCluster", ecs.delete_cluster, cluster="existing")
    assert re.fullmatch(READ_ONLY_RE.format(action="ecs:DeleteCluster"), msg), msg
    msg = expect_denied("ecs:DeregisterTaskDefinition", ecs.deregister_task_definition, taskDefinition=td)
    assert re.fullmatch(READ_ONLY_RE.format(action="ecs:DeregisterTaskDefinition"), msg), msg
    msg = expect_denied(
        "application-autoscaling:RegisterScalableTarget",
        aas.register_scalable_target,
        ServiceNamespace="ecs",
        ResourceId="service/existing/svc",
        ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=1,
        MaxCapacity=2,
    )
    assert re.fullmatch(READ_ONLY_RE.format(action="application-autoscaling:RegisterScalableTarget"), msg), msg
    msg = expect_denied("logs:CreateLogGroup", logs.create_log_group, logGroupName="/refused")
    assert re.fullmatch(READ_ONLY_RE.format(action="logs:CreateLogGroup"), msg), msg

    # None of it reached moto.
    assert [a.rsplit("/", 1)[1] for a in direct_ecs.list_clusters()["clusterArns"]] == ["existing"]
    assert direct_ecs.list_tasks(cluster="existing")["taskArns"] == []
    assert direct_ecs.describe_task_definition(taskDefinition=td)["taskDefinition"]["status"] == "ACTIVE"
    assert client("application-autoscaling", moto_behind.url).describe_scalable_targets(ServiceNamespace="ecs")[
        "ScalableTargets"
    ] == []
    assert client("logs", moto_behind.url).describe_log_groups()["logGroups"] == []


def test_read_only_refusal_through_the_cli(read_only, moto_behind):
    err = Cli(read_only.url).run("create-cluster", "--cluster-name", "cli-refused", check=False)
    assert err.code != 0
    assert "AccessDeniedException" in err.stderr
    assert "because Berth is running in read-only mode" in err.stderr
    assert client("ecs", moto_behind.url).list_clusters()["clusterArns"] == []


def test_deny_glob_refuses_only_what_it_names(deny_delete, moto_behind):
    direct = client("ecs", moto_behind.url)
    direct.create_cluster(clusterName="keep")
    ecs = client("ecs", deny_delete.url)
    msg = expect_denied("ecs:DeleteCluster", ecs.delete_cluster, cluster="keep")
    assert re.fullmatch(
        r"User: \S+ is not authorized to perform: ecs:DeleteCluster on resource: \* "
        r"with an explicit deny in Berth's --deny ecs:Delete\*",
        msg,
    ), msg
    # Other writes pass: this one lands on moto.
    ecs.create_cluster(clusterName="made-through-deny")
    names = sorted(a.rsplit("/", 1)[1] for a in direct.list_clusters()["clusterArns"])
    assert names == ["keep", "made-through-deny"]
    ecs.register_task_definition(
        family="d", containerDefinitions=[{"name": "c", "image": "busybox", "memory": 32, "essential": True}]
    )
    ecs.create_service(cluster="keep", serviceName="s", taskDefinition="d:1", desiredCount=0)
    msg = expect_denied("ecs:DeleteService", ecs.delete_service, cluster="keep", service="s", force=True)
    assert "ecs:DeleteService" in msg, msg
    assert direct.describe_services(cluster="keep", services=["s"])["services"][0]["status"] == "ACTIVE"
    assert direct.describe_clusters(clusters=["keep"])["clusters"][0]["status"] == "ACTIVE"


def test_allow_globs_let_only_what_they_name(allow_reads, moto_behind):
    direct = client("ecs", moto_behind.url)
    direct.create_cluster(clusterName="listed")
    ecs = client("ecs", allow_reads.url)
    assert [a.rsplit("/", 1)[1] for a in ecs.list_clusters()["clusterArns"]] == ["listed"]
    assert ecs.describe_clusters(clusters=["listed"])["clusters"][0]["clusterName"] == "listed"
    msg = expect_denied("ecs:CreateCluster", ecs.create_cluster, clusterName="not-allowed")
    assert msg.endswith("because no Berth --allow pattern allows the ecs:CreateCluster action"), msg
    msg = expect_denied("logs:DescribeLogGroups", client("logs", allow_reads.url).describe_log_groups)
    assert "logs:DescribeLogGroups" in msg, msg
    assert [a.rsplit("/", 1)[1] for a in direct.list_clusters()["clusterArns"]] == ["listed"]


# -- audit in upstream mode -----------------------------------------------------------------------


def lookup(url, *attrs):
    args = ["cloudtrail", "lookup-events", "--endpoint-url", url, "--region", REGION]
    if attrs:
        args += ["--lookup-attributes", *attrs]
    return aws_cli(*args, env=child_env("/nonexistent", "AKIDEXAMPLE", "secret"))["Events"]


def test_proxied_and_refused_calls_are_audited(proxy, read_only, moto_behind):
    client("ecs", proxy.url).create_cluster(clusterName="audited-upstream")
    with pytest.raises(ClientError):
        client("ecs", read_only.url).create_cluster(clusterName="audited-refused")

    events = lookup(proxy.url, "AttributeKey=EventName,AttributeValue=CreateCluster")
    records = [json.loads(e["CloudTrailEvent"]) for e in events]
    mine = [r for r in records if (r.get("requestParameters") or {}).get("clusterName") == "audited-upstream"]
    assert len(mine) == 1, records
    assert mine[0]["readOnly"] is False
    assert mine[0]["eventSource"] == "ecs.amazonaws.com"
    assert mine[0].get("berthMode") == "upstream"
    assert not mine[0].get("errorCode")

    events = lookup(read_only.url, "AttributeKey=EventName,AttributeValue=CreateCluster")
    records = [json.loads(e["CloudTrailEvent"]) for e in events]
    refused = [r for r in records if (r.get("requestParameters") or {}).get("clusterName") == "audited-refused"]
    assert len(refused) == 1, records
    assert refused[0]["errorCode"] == "AccessDeniedException"
    assert "read-only mode" in refused[0].get("errorMessage", "")
