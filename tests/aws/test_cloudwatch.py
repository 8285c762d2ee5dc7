"""CloudWatch metrics: GetMetricData, GetMetricStatistics, ListMetrics and PutMetricData with the real
AWS CLI and boto3, the series the simulated runtime generates for services, clusters and tasks,
errors in CloudWatch's form, and target tracking acting on the generated CPU series with no
test-control input.

CloudWatch's model offers three protocols (`smithy-rpc-v2-cbor`, `json`, `query`); botocore picks
the first of its own priority list it finds there, which today is `json` (awsJson1_0), while
other SDKs pick RPC v2 CBOR. Both are tested: the `cbor` variants point botocore (and the CLI,
through `AWS_DATA_PATH`) at a copy of its own CloudWatch model that lists only
`smithy-rpc-v2-cbor`, so the real botocore serializer and parser speak CBOR to the server.

The cluster's clock is moved with the test-control API, so a test gets ten complete minutes of
metrics in a few seconds."""

import datetime as dt
import gzip
import json
import subprocess

import boto3
import botocore.config
import botocore.session
import pytest
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, REGION, REPO, SECRET_KEY
from ecs_helpers import register, service, wait_until

NS = "AWS/ECS"
SVC_DIMS = [{"Name": "ClusterName", "Value": "default"}, {"Name": "ServiceName", "Value": "web"}]


@pytest.fixture(scope="module")
def cbor_data_path(tmp_path_factory):
    """A botocore data path whose CloudWatch model lists only RPC v2 CBOR."""
    loader = botocore.session.get_session().get_component("data_loader")
    model = loader.load_service_model("cloudwatch", "service-2")
    assert "smithy-rpc-v2-cbor" in model["metadata"]["protocols"]
    model["metadata"]["protocols"] = ["smithy-rpc-v2-cbor"]
    model["metadata"]["protocol"] = "smithy-rpc-v2-cbor"
    root = tmp_path_factory.mktemp("botocore-data")
    d = root / "cloudwatch" / model["metadata"]["apiVersion"]
    d.mkdir(parents=True)
    (d / "service-2.json").write_text(json.dumps(model))
    return str(root)


def _client(endpoint, name, data_path=None):
    bs = botocore.session.Session()
    if data_path:
        bs.set_config_variable("data_path", data_path)
    return boto3.session.Session(botocore_session=bs).client(
        name,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=botocore.config.Config(retries={"mode": "standard", "max_attempts": 1}),
    )


@pytest.fixture(scope="module", params=["json", "cbor"])
def cw(request, endpoint, cbor_data_path):
    """A boto3 CloudWatch client: botocore's own choice (awsJson1_0), then RPC v2 CBOR."""
    c = _client(endpoint, "cloudwatch", cbor_data_path if request.param == "cbor" else None)
    assert c.meta.service_model.resolved_protocol == {"json": "json", "cbor": "smithy-rpc-v2-cbor"}[request.param]
    return c


@pytest.fixture(scope="module")
def cw_cbor(endpoint, cbor_data_path):
    return _client(endpoint, "cloudwatch", cbor_data_path)


@pytest.fixture(scope="module")
def aas(endpoint):
    return _client(endpoint, "application-autoscaling")


def aws_cw(cli, *args, check=True, data_path=None):
    """`aws cloudwatch ARGS --endpoint-url URL --output json`: parsed JSON, or the failed process.
    With `data_path` the CLI loads the CBOR-only model from there."""
    cmd = [cli.exe, "cloudwatch", *args, "--endpoint-url", cli.endpoint, "--output", "json"]
    env = cli.env(AWS_DATA_PATH=data_path) if data_path else cli.env()
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=120, cwd=str(REPO))
    if check:
        assert p.returncode == 0, f"aws cloudwatch {' '.join(args)} exited {p.returncode}: {p.stderr}"
        return json.loads(p.stdout) if p.stdout.strip() else None
    return p


def iso(secs):
    return dt.datetime.fromtimestamp(secs, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch(t):
    """A timestamp as botocore or the CLI prints it, in epoch seconds."""
    if isinstance(t, (int, float)):
        return int(t)
    if isinstance(t, str):
        t = dt.datetime.fromisoformat(t.replace("Z", "+00:00"))
    return int(t.timestamp())


@pytest.fixture()
def web(ecs, control):
    """The service `web` with 2 running tasks and ten complete minutes of metrics; returns the
    minute boundary that ends them (epoch seconds)."""
    register(ecs, "web")
    ecs.create_service(cluster="default", serviceName="web", taskDefinition="web", desiredCount=2, launchType="EC2")
    wait_until("web to run 2 tasks", lambda: service(ecs, "web")["runningCount"] == 2, advance=lambda: control.advance(2))
    now = control.advance(600)["now"]
    return int(now // 60 * 60)


def captured(client):
    """Collects (url, headers) of the requests a client sends."""
    seen = []
    def text(v):
        return v.decode() if isinstance(v, bytes) else v

    client.meta.events.register(
        "before-send.cloudwatch",
        lambda request, **_: seen.append((request.url, {k: text(v) for k, v in request.headers.items()}, request.body)),
    )
    return seen


def test_each_protocol_on_the_wire(cw, web):
    seen = captured(cw)
    r = cw.get_metric_statistics(
        Namespace=NS, MetricName="CPUUtilization", Dimensions=SVC_DIMS,
        StartTime=web - 600, EndTime=web, Period=60, Statistics=["Average"],
    )
    url, headers, _ = seen[-1]
    answer = r["ResponseMetadata"]["HTTPHeaders"]
    if cw.meta.service_model.resolved_protocol == "json":
        assert url.rstrip("/") == cw.meta.endpoint_url
        assert headers["X-Amz-Target"] == "GraniteServiceVersion20100801.GetMetricStatistics"
        assert headers["Content-Type"] == "application/x-amz-json-1.0"
        assert answer["content-type"] == "application/x-amz-json-1.0"
    else:
        assert url.endswith("/service/GraniteServiceVersion20100801/operation/GetMetricStatistics")
        assert headers["Content-Type"] == "application/cbor"
        assert headers["smithy-protocol"] == "rpc-v2-cbor"
        assert answer["smithy-protocol"] == "rpc-v2-cbor"
        assert answer["content-type"] == "application/cbor"
    assert len(r["Datapoints"]) == 10
    assert all(isinstance(d["Timestamp"], dt.datetime) for d in r["Datapoints"])


@pytest.mark.parametrize("protocol", ["json", "cbor"])
def test_cli_get_metric_data_equals_get_metric_statistics(cli, web, protocol, cbor_data_path):
    data_path = cbor_data_path if protocol == "cbor" else None
    queries = [
        {"Id": "cpu", "MetricStat": {"Metric": {"Namespace": NS, "MetricName": "CPUUtilization", "Dimensions": SVC_DIMS}, "Period": 60, "Stat": "Average"}},
        {"Id": "mem", "MetricStat": {"Metric": {"Namespace": NS, "MetricName": "MemoryUtilization", "Dimensions": SVC_DIMS}, "Period": 60, "Stat": "Maximum"}},
    ]
    data = aws_cw(cli, "get-metric-data", "--metric-data-queries", json.dumps(queries), "--start-time", iso(web - 600),
                  "--end-time", iso(web), data_path=data_path)
    cpu, mem = data["MetricDataResults"]
    assert (cpu["Id"], cpu["Label"], cpu["StatusCode"]) == ("cpu", "CPUUtilization", "Complete")
    assert len(cpu["Values"]) == len(cpu["Timestamps"]) == 10
    stamps = [epoch(t) for t in cpu["Timestamps"]]
    assert stamps == sorted(stamps, reverse=True), "TimestampDescending is the default"
    assert stamps[0] == web - 60 and stamps[-1] == web - 600
    assert all(1 <= v <= 100 for v in cpu["Values"] + mem["Values"]), data

    stats = aws_cw(
        cli, "get-metric-statistics", "--namespace", NS, "--metric-name", "CPUUtilization",
        "--dimensions", "Name=ClusterName,Value=default", "Name=ServiceName,Value=web",
        "--start-time", iso(web - 600), "--end-time", iso(web), "--period", "60",
        "--statistics", "Average", "SampleCount", "Minimum", "Maximum", data_path=data_path,
    )
    assert stats["Label"] == "CPUUtilization"
    by_time = {epoch(d["Timestamp"]): d for d in stats["Datapoints"]}
    assert sorted(by_time) == sorted(stamps)
    for t, v in zip(stamps, cpu["Values"]):
        d = by_time[t]
        assert d["Average"] == pytest.approx(v, abs=1e-9)
        assert d["SampleCount"] == 2.0, "one sample per running task"
        assert d["Minimum"] <= d["Average"] <= d["Maximum"]
        assert d["Unit"] == "Percent"


def test_boto3_periods_and_scan_order_agree(cw, web):
    q = {"Id": "cpu", "MetricStat": {"Metric": {"Namespace": NS, "MetricName": "CPUUtilization", "Dimensions": SVC_DIMS}, "Period": 300, "Stat": "Average"}}
    data = cw.get_metric_data(MetricDataQueries=[q], StartTime=web - 600, EndTime=web, ScanBy="TimestampAscending")
    [r] = data["MetricDataResults"]
    stats = cw.get_metric_statistics(Namespace=NS, MetricName="CPUUtilization", Dimensions=SVC_DIMS, StartTime=web - 600, EndTime=web, Period=300, Statistics=["Average"])
    points = sorted((d["Timestamp"], d["Average"]) for d in stats["Datapoints"])
    assert [t for t, _ in points] == r["Timestamps"] and len(points) == 2
    assert [v for _, v in points] == pytest.approx(r["Values"])
    # Paging: one datapoint per page, merged by the paginator.
    pages = list(cw.get_paginator("get_metric_data").paginate(
        MetricDataQueries=[dict(q, MetricStat=dict(q["MetricStat"], Period=60))], StartTime=web - 600, EndTime=web,
        PaginationConfig={"PageSize": 4},
    ))
    assert len(pages) == 3
    values = [v for p in pages for r in p["MetricDataResults"] for v in r["Values"]]
    assert len(values) == 10
    assert pages[0]["MetricDataResults"][0]["StatusCode"] == "PartialData"
    assert pages[-1]["MetricDataResults"][0]["StatusCode"] == "Complete"
    # The same numbers are stable: asking again answers the same.
    again = cw.get_metric_data(MetricDataQueries=[q], StartTime=web - 600, EndTime=web, ScanBy="TimestampAscending")
    assert again["MetricDataResults"][0]["Values"] == r["Values"]


def test_cluster_and_task_metrics_and_list_metrics(cli, cw, ecs, web):
    listed = aws_cw(cli, "list-metrics", "--namespace", NS)["Metrics"]
    names = {(m["MetricName"], tuple((d["Name"], d["Value"]) for d in m["Dimensions"])) for m in listed}
    assert ("CPUUtilization", (("ClusterName", "default"), ("ServiceName", "web"))) in names
    assert ("MemoryUtilization", (("ClusterName", "default"),)) in names
    only = aws_cw(cli, "list-metrics", "--namespace", NS, "--dimensions", "Name=ServiceName,Value=web")["Metrics"]
    assert sorted(m["MetricName"] for m in only) == ["CPUUtilization", "MemoryUtilization"]
    # The cluster metric averages every task of the cluster: here the same two tasks.
    svc = cw.get_metric_statistics(Namespace=NS, MetricName="CPUUtilization", Dimensions=SVC_DIMS, StartTime=web - 300, EndTime=web, Period=300, Statistics=["Average"])
    clu = cw.get_metric_statistics(Namespace=NS, MetricName="CPUUtilization", Dimensions=SVC_DIMS[:1], StartTime=web - 300, EndTime=web, Period=300, Statistics=["Average"])
    assert clu["Datapoints"][0]["Average"] == pytest.approx(svc["Datapoints"][0]["Average"])
    # Per task: Container Insights (enhanced observability) dimensions.
    task_arn = ecs.list_tasks(cluster="default", serviceName="web")["taskArns"][0]
    task_id = task_arn.rsplit("/", 1)[1]
    insights = cw.list_metrics(Namespace="ECS/ContainerInsights", Dimensions=[{"Name": "TaskId", "Value": task_id}])["Metrics"]
    assert sorted(m["MetricName"] for m in insights) == ["CpuUtilized", "MemoryUtilized", "TaskCpuUtilization", "TaskMemoryUtilization"]
    dims = insights[0]["Dimensions"]
    assert [d["Name"] for d in dims] == ["ClusterName", "TaskDefinitionFamily", "TaskId"]
    q = [{"Id": "pct", "MetricStat": {"Metric": {"Namespace": "ECS/ContainerInsights", "MetricName": "TaskCpuUtilization", "Dimensions": dims}, "Period": 60, "Stat": "Average"}},
         {"Id": "units", "MetricStat": {"Metric": {"Namespace": "ECS/ContainerInsights", "MetricName": "CpuUtilized", "Dimensions": dims}, "Period": 60, "Stat": "Average"}}]
    pct, units = cw.get_metric_data(MetricDataQueries=q, StartTime=web - 300, EndTime=web)["MetricDataResults"]
    assert len(pct["Values"]) == 5
    # The task definition reserves 64 CPU units.
    for p, u in zip(pct["Values"], units["Values"]):
        assert u == pytest.approx(p * 64 / 100, abs=0.01)


def test_put_metric_data_custom_and_override(cli, cw, control, web, cbor_data_path):
    now = int(control.advance(0)["now"])
    aws_cw(cli, "put-metric-data", "--namespace", "App", "--metric-name", "Queue", "--dimensions", "Env=dev", "--value", "5",
           "--unit", "Count", data_path=cbor_data_path)
    cw.put_metric_data(Namespace="App", MetricData=[
        {"MetricName": "Queue", "Dimensions": [{"Name": "Env", "Value": "dev"}], "Values": [1.0, 9.0], "Counts": [2.0, 1.0], "Unit": "Count"},
    ])
    stats = cw.get_metric_statistics(Namespace="App", MetricName="Queue", Dimensions=[{"Name": "Env", "Value": "dev"}],
                                     StartTime=now - 120, EndTime=now + 240, Period=360, Statistics=["Sum", "SampleCount", "Maximum"])
    [d] = stats["Datapoints"]
    assert (d["Sum"], d["SampleCount"], d["Maximum"], d["Unit"]) == (16.0, 4.0, 9.0, "Count")
    assert {"Namespace": "App", "MetricName": "Queue", "Dimensions": [{"Name": "Env", "Value": "dev"}]} in cw.list_metrics(Namespace="App")["Metrics"]
    # A pushed value replaces the generated one for its minute.
    minute = web - 300
    cw.put_metric_data(Namespace=NS, MetricData=[{"MetricName": "CPUUtilization", "Dimensions": SVC_DIMS, "Timestamp": minute + 10, "Value": 97.5, "Unit": "Percent"}])
    q = {"Id": "cpu", "MetricStat": {"Metric": {"Namespace": NS, "MetricName": "CPUUtilization", "Dimensions": SVC_DIMS}, "Period": 60, "Stat": "Average"}}
    [r] = cw.get_metric_data(MetricDataQueries=[q], StartTime=web - 600, EndTime=web)["MetricDataResults"]
    by_time = dict(zip((int(t.timestamp()) for t in r["Timestamps"]), r["Values"]))
    assert by_time[minute] == 97.5
    assert sum(1 for v in r["Values"] if v == 97.5) == 1


def test_large_put_metric_data_is_sent_gzipped(cw, control):
    now = int(control.advance(0)["now"])
    seen = captured(cw)
    data = [{"MetricName": f"m{i:03d}", "Dimensions": [{"Name": "Shard", "Value": f"shard-{i:04d}"}], "Value": float(i), "Timestamp": now}
            for i in range(300)]
    cw.put_metric_data(Namespace="Bulk", MetricData=data)
    _, headers, body = seen[-1]
    assert headers.get("Content-Encoding") == "gzip", headers
    assert gzip.decompress(body)
    listed = list(cw.get_paginator("list_metrics").paginate(Namespace="Bulk"))
    assert sum(len(p["Metrics"]) for p in listed) == 300


def test_errors_in_cloudwatch_form(cli, cw, web, cbor_data_path):
    for data_path in (None, cbor_data_path):
        p = aws_cw(cli, "get-metric-statistics", "--namespace", NS, "--metric-name", "CPUUtilization",
                   "--start-time", iso(web - 600), "--end-time", iso(web), "--period", "90", "--statistics", "Average",
                   check=False, data_path=data_path)
        assert p.returncode == 255, p.stderr  # AWS CLI v1: a service error exits 255
        assert ("An error occurred (InvalidParameterValue) when calling the GetMetricStatistics operation: "
                "The parameter Period must be a multiple of 60.") in p.stderr
    with pytest.raises(cw.exceptions.InvalidParameterCombinationException) as e:
        cw.get_metric_statistics(Namespace=NS, MetricName="CPUUtilization", StartTime=web - 86400 * 2, EndTime=web, Period=60, Statistics=["Average"])
    err = e.value.response["Error"]
    assert err["Code"] == "InvalidParameterCombination"
    assert err["Message"] == ("You have requested up to 2,880 datapoints, which exceeds the limit of 1,440. You may reduce "
                              "the datapoints requested by increasing Period, or decreasing the time range.")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as e:
        cw.get_metric_data(MetricDataQueries=[{"Id": "x", "Expression": "SUM(METRICS())"}], StartTime=web - 600, EndTime=web)
    assert e.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "does not evaluate metric math" in e.value.response["Error"]["Message"]
    with pytest.raises(cw.exceptions.InvalidParameterValueException):
        cw.put_metric_data(Namespace="App", MetricData=[{"MetricName": "q", "Value": 1.0, "Timestamp": web + 3 * 3600}])
    with pytest.raises(cw.exceptions.MissingRequiredParameterException) as e:
        cw.put_metric_data(Namespace="App", MetricData=[])
    assert e.value.response["Error"]["Message"] == "The parameter MetricData is required."


def test_answers_match_the_botocore_model(cw, endpoint, web):
    """Every member the JSON 1.0 answers carry is in the operation's output shape with its type,
    and the timestamp members the server tags in CBOR are exactly those the model has."""
    import urllib.request

    model = cw.meta.service_model

    def check(shape, value, path):
        t = shape.type_name
        if t == "structure":
            assert isinstance(value, dict), path
            for k, v in value.items():
                assert k in shape.members, f"{path}.{k} is not in {shape.name}"
                check(shape.members[k], v, f"{path}.{k}")
        elif t == "list":
            assert isinstance(value, list), path
            for v in value:
                check(shape.member, v, path + "[]")
        elif t in ("double", "integer", "long", "timestamp"):
            assert isinstance(value, (int, float)) and not isinstance(value, bool), path
        elif t == "string":
            assert isinstance(value, str), path
            if shape.enum:
                assert value in shape.enum, (path, value)

    def timestamps(shape, path=()):
        if shape.type_name == "timestamp":
            yield path
        elif shape.type_name == "structure":
            for k, m in shape.members.items():
                yield from timestamps(m, path + (k,))
        elif shape.type_name == "list":
            yield from timestamps(shape.member, path)

    def call(op, body):
        req = urllib.request.Request(endpoint + "/_berth/api", data=json.dumps(body).encode(), method="POST", headers={
            "X-Amz-Target": f"GraniteServiceVersion20100801.{op}", "Content-Type": "application/x-amz-json-1.0"})
        with urllib.request.urlopen(req) as r:
            assert r.headers["Content-Type"] == "application/x-amz-json-1.0"
            return json.loads(r.read())

    q = {"Id": "cpu", "MetricStat": {"Metric": {"Namespace": NS, "MetricName": "CPUUtilization", "Dimensions": SVC_DIMS}, "Period": 60, "Stat": "Average"}}
    answers = {
        "GetMetricData": call("GetMetricData", {"MetricDataQueries": [q], "StartTime": web - 600, "EndTime": web}),
        "GetMetricStatistics": call("GetMetricStatistics", {"Namespace": NS, "MetricName": "CPUUtilization", "Dimensions": SVC_DIMS,
                                                            "StartTime": web - 600, "EndTime": web, "Period": 60, "Statistics": ["Average", "Sum"]}),
        "ListMetrics": call("ListMetrics", {"Namespace": NS}),
    }
    for op, answer in answers.items():
        check(model.operation_model(op).output_shape, answer, op)
    assert answers["GetMetricData"]["MetricDataResults"][0]["Values"]
    tagged = {op: sorted(timestamps(model.operation_model(op).output_shape)) for op in answers}
    assert tagged == {
        "GetMetricData": [("MetricDataResults", "Timestamps")],
        "GetMetricStatistics": [("Datapoints", "Timestamp")],
        "ListMetrics": [],
    }
    assert model.operation_model("PutMetricData").output_shape is None


def test_target_tracking_acts_on_the_generated_cpu_series(aas, ecs, control, web):
    rid = "service/default/web"
    aas.register_scalable_target(ServiceNamespace="ecs", ResourceId=rid, ScalableDimension="ecs:service:DesiredCount", MinCapacity=1, MaxCapacity=6)
    # A target far below what the generated series ever shows: every minute is "high".
    aas.put_scaling_policy(
        PolicyName="cpu", ServiceNamespace="ecs", ResourceId=rid, ScalableDimension="ecs:service:DesiredCount",
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={"TargetValue": 2.0, "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"}},
    )
    control.advance(240)
    acts = aas.describe_scaling_activities(ServiceNamespace="ecs", ResourceId=rid)["ScalingActivities"]
    assert acts, "three minutes above the target scale out without any test-control metric"
    assert "AlarmHigh" in acts[0]["Cause"] and acts[0]["StatusCode"] == "Successful"
    assert service(ecs, "web")["desiredCount"] > 2
