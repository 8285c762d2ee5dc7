"""Malformed requests over raw HTTP: every one gets an AWS-shaped 4xx (JSON with `__type` and a
message, the x-amz-json-1.1 content type), never a 5xx, and nothing stored is lost."""

import http.client
import json
import threading
import urllib.error
import urllib.parse
import urllib.request

from ecs_helpers import expect_error, register

ECS = "AmazonEC2ContainerServiceV20141113"


def raw(endpoint, body, target=None, content_type="application/x-amz-json-1.1", method="POST", path="/"):
    headers = {"Content-Type": content_type}
    if target is not None:
        headers["X-Amz-Target"] = target
    data = body if isinstance(body, bytes) else body.encode()
    req = urllib.request.Request(endpoint + path, data=data if method == "POST" else None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def assert_aws_error(status, headers, body, codes, http_status=400):
    assert status < 500, f"a malformed request got HTTP {status}: {body[:300]!r}"
    assert status == http_status, (status, body[:300])
    assert headers.get("Content-Type", headers.get("content-type", "")).startswith("application/x-amz-json-1.1")
    doc = json.loads(body)
    kind = doc.get("__type", "").rsplit("#", 1)[-1]
    assert kind in codes, doc
    assert doc.get("message") or doc.get("Message"), doc
    return doc


def test_get_root_and_health(endpoint):
    status, headers, body = raw(endpoint, b"", method="GET")
    assert status == 200 and b"Berth" in body
    status, _, body = raw(endpoint, b"", method="GET", path="/healthz")
    assert status == 200 and body.strip() == b"ok"


def test_bad_json(endpoint):
    status, headers, body = raw(endpoint, '{"clusters": [', target=f"{ECS}.DescribeClusters")
    assert_aws_error(status, headers, body, {"SerializationException"})


def test_body_that_is_not_an_object(endpoint):
    for payload in ("[]", "null", "42", '"text"'):
        status, headers, body = raw(endpoint, payload, target=f"{ECS}.ListClusters")
        assert_aws_error(status, headers, body, {"SerializationException", "InvalidParameterException"})


def test_invalid_utf8(endpoint):
    status, headers, body = raw(endpoint, b'{"clusterName": "\xff\xfe"}', target=f"{ECS}.CreateCluster")
    assert_aws_error(status, headers, body, {"SerializationException", "InvalidParameterException"})


def test_wrong_types(endpoint):
    status, headers, body = raw(endpoint, '{"taskDefinition": "web", "count": "ten"}', target=f"{ECS}.RunTask")
    assert_aws_error(status, headers, body, {"SerializationException", "InvalidParameterException"})
    status, headers, body = raw(endpoint, '{"clusters": "default"}', target=f"{ECS}.DescribeClusters")
    assert_aws_error(status, headers, body, {"SerializationException", "InvalidParameterException"})


def test_unknown_action(endpoint):
    status, headers, body = raw(endpoint, "{}", target=f"{ECS}.LaunchRockets")
    assert_aws_error(status, headers, body, {"UnknownOperationException", "InvalidAction"})


def test_unknown_service_prefix(endpoint):
    status, headers, body = raw(endpoint, "{}", target="NotARealService_20990101.DoIt")
    assert_aws_error(status, headers, body, {"UnknownOperationException", "InvalidAction"})


def test_missing_target(endpoint):
    status, headers, body = raw(endpoint, "{}")
    assert_aws_error(status, headers, body, {"UnknownOperationException", "MissingAction", "InvalidAction"})


def test_oversized_body(endpoint):
    # 2 MiB of JSON, twice the server's body limit: 413 with an AWS error, the connection survives.
    payload = json.dumps({"family": "big", "containerDefinitions": [{"name": "a", "image": "x" * (2 * 1024 * 1024)}]}).encode()
    u = urllib.parse.urlparse(endpoint)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        try:
            conn.request(
                "POST",
                "/",
                body=payload,
                headers={"X-Amz-Target": f"{ECS}.RegisterTaskDefinition", "Content-Type": "application/x-amz-json-1.1"},
            )
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer before reading everything; the answer is what matters
        resp = conn.getresponse()
        body = resp.read()
        assert_aws_error(resp.status, dict(resp.getheaders()), body, {"RequestEntityTooLargeException", "SerializationException", "ClientException"}, http_status=413)
    finally:
        conn.close()


def test_task_definition_over_64_kib_is_a_client_exception(ecs):
    env = [{"name": f"VAR_{i}", "value": "v" * 100} for i in range(700)]  # ~80 KiB, under the body limit
    msg = expect_error(
        "ClientException",
        ecs.register_task_definition,
        family="huge",
        containerDefinitions=[{"name": "a", "image": "nginx:1.27", "memory": 64, "essential": True, "environment": env}],
    )
    assert msg
    assert "huge" not in ecs.list_task_definition_families()["families"]


def test_malformed_requests_leave_state_intact(ecs, endpoint):
    register(ecs, "keep")
    ecs.create_cluster(clusterName="keep")
    for payload, target in (
        ('{"family": "keep", "containerDefinitions": ', f"{ECS}.RegisterTaskDefinition"),
        ('{"cluster": 7}', f"{ECS}.DeleteCluster"),
        ("{}", f"{ECS}.DeleteCluster"),
        ('{"taskDefinition": "keep:1"', f"{ECS}.DeregisterTaskDefinition"),
    ):
        status, _, body = raw(endpoint, payload, target=target)
        assert 400 <= status < 500, (status, body)
    assert ecs.describe_task_definition(taskDefinition="keep")["taskDefinition"]["status"] == "ACTIVE"
    assert ecs.describe_clusters(clusters=["keep"])["clusters"][0]["status"] == "ACTIVE"


def test_concurrent_requests_never_5xx(endpoint, ecs):
    register(ecs, "web")
    errors = []

    def worker(i):
        for j in range(25):
            target, payload = [
                (f"{ECS}.DescribeClusters", '{"clusters": ["default"]}'),
                (f"{ECS}.RegisterTaskDefinition", json.dumps({"family": f"c{i}", "containerDefinitions": [{"name": "a", "image": "nginx:1.27", "memory": 64}]})),
                (f"{ECS}.ListTasks", "{}"),
                (f"{ECS}.RunTask", '{"taskDefinition": "web", "count": 1, "launchType": "EC2"}'),
                (f"{ECS}.DescribeClusters", "{bad json"),
            ][j % 5]
            status, _, body = raw(endpoint, payload, target=target)
            if status >= 500 or (status != 200 and "bad json" not in payload):
                errors.append((target, status, body[:200]))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    # Revisions stayed contiguous under concurrent registration.
    for i in range(8):
        arns = ecs.list_task_definitions(familyPrefix=f"c{i}")["taskDefinitionArns"]
        assert [int(a.rsplit(":", 1)[1]) for a in arns] == list(range(1, 6))


def test_responses_carry_no_json_nulls(endpoint, ecs):
    # AWS JSON 1.1 services leave unset members out; they never send `null`.
    register(ecs, "web")
    for target, payload in (
        (f"{ECS}.ListClusters", "{}"),
        (f"{ECS}.DescribeClusters", '{"clusters": ["default"]}'),
        (f"{ECS}.ListTasks", "{}"),
        (f"{ECS}.DescribeTaskDefinition", '{"taskDefinition": "web"}'),
        (f"{ECS}.ListContainerInstances", "{}"),
    ):
        status, _, body = raw(endpoint, payload, target=target)
        assert status == 200, body[:200]
        assert b":null" not in body.replace(b" ", b""), (target, body[:300])
