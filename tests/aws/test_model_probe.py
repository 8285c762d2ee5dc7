"""Every operation of every JSON-protocol API Berth answers, probed from the official API models
(`testdata/reference/*-service-2.json*`): a plausible input built from the model (required members
only, names that exist in a seeded cluster), then one member at a time, at any depth, replaced by a
wrongly typed or extreme value (a number for a string, a string for a list, 70,000 characters,
2^63, NaN-free floats out of range, a 2,000-element list, an unknown member …), and a few bodies
that are not JSON objects at all.

Every answer must be a client's error or a success, never 5xx, always a JSON document, and the
server must still be answering with the seeded resources intact afterwards. The checks that the
answers are the right errors live with each operation's own tests; this sweep is what keeps a
panic or a 500 from hiding in a member nobody thought to send wrong.

Operations Berth does not implement are answered `UnknownOperationException` once and skipped.
A Berth of its own, so what the sweep creates or changes never reaches the other modules.
"""

import copy
import gzip
import http.client
import json
import urllib.parse

import pytest

from conftest import REPO, client

MODELS = sorted((REPO / "testdata" / "reference").glob("*-service-2.json*"))

# Wrong values per shape type (None, i.e. JSON null, is added for every member).
BAD = {
    "string": [123, [], {}, True, "", "x" * 70_000, "\u0000\u202e", "arn:aws:ecs:us-east-1:000000000000:cluster/" + "a" * 3000, "::::", "/"],
    "integer": ["1", 1.5, 2**63, -(2**63) - 1, 10**30, -1, 0, 2**31, []],
    "long": ["1", 1.5, 2**64, -1, []],
    "double": ["x", 1e308, -1e308, []],
    "float": ["x", 1e308, []],
    "boolean": ["true", 1, []],
    "timestamp": ["x", -1e20, 1e20, 1e300, [], {}],
    "list": ["x", 1, {}, [None], [1], [[]], [{}, {}, {}], list(range(2000))],
    "map": ["x", [], {"k": None}, {"": ""}, {"k" * 5000: "v"}, {str(i): "v" for i in range(500)}],
    "structure": ["x", [], 1, {"Unknown": 1}],
    "blob": [1, [], "!!!"],
}
NOT_OBJECTS = [b"", b"null", b"[]", b'{"a":', b"\xff\xfe", b"1"]


def load(path):
    with (gzip.open(path) if path.suffix == ".gz" else open(path, "rb")) as f:
        return json.load(f)


def json_models():
    out = []
    for p in MODELS:
        m = load(p)
        md = m["metadata"]
        if "json" in (md.get("protocols") or [md.get("protocol")]) and md.get("targetPrefix"):
            out.append(pytest.param(p, id=p.name.split("-service-2")[0]))
    return out


def sample(shapes, name, depth=0):
    """A plausible value of shape `name`: required members only, `default` for names."""
    s = shapes[name]
    t = s["type"]
    if t == "structure":
        if depth > 3:
            return {}
        return {m: sample(shapes, s["members"][m]["shape"], depth + 1) for m in s.get("required", [])}
    if t == "list":
        return [sample(shapes, s["member"]["shape"], depth + 1)] if depth < 4 else []
    if t == "map":
        return {"k": sample(shapes, s["value"]["shape"], depth + 1)}
    if t == "string":
        return s["enum"][0] if "enum" in s else "default"
    return {"integer": 1, "long": 1, "double": 1.0, "float": 1.0, "boolean": True, "timestamp": 1_700_000_000,
            "blob": "AAAA"}.get(t)


def member_paths(shapes, name, prefix=(), depth=0):
    """(path, shape) of every member reachable from shape `name` (lists and maps through their
    first element), down to a depth of 5."""
    s = shapes[name]
    yield prefix, name
    if depth > 4:
        return
    if s["type"] == "structure":
        for m, ms in s.get("members", {}).items():
            yield from member_paths(shapes, ms["shape"], prefix + (m,), depth + 1)
    elif s["type"] == "list":
        yield from member_paths(shapes, s["member"]["shape"], prefix + (0,), depth + 1)
    elif s["type"] == "map":
        yield from member_paths(shapes, s["value"]["shape"], prefix + ("k",), depth + 1)


def empty(shapes, name):
    t = shapes[name]["type"]
    return [] if t == "list" else {} if t == "map" else sample(shapes, name, 5)


def with_value(shapes, root, doc, path, value):
    """`doc` with the member at `path` set to `value`, its parents made up as needed."""
    cur, name = doc, root
    for i, p in enumerate(path):
        s = shapes[name]
        last = i == len(path) - 1
        if s["type"] == "structure":
            nxt = s["members"][p]["shape"]
            if last:
                cur[p] = value
                return doc
            if not isinstance(cur.get(p), (dict, list)):
                cur[p] = empty(shapes, nxt)
            cur, name = cur[p], nxt
        elif s["type"] == "list":
            nxt = s["member"]["shape"]
            if not cur:
                cur.append(empty(shapes, nxt))
            if last:
                cur[0] = value
                return doc
            cur, name = cur[0], nxt
        else:
            nxt = s["value"]["shape"]
            if last:
                cur["k"] = value
                return doc
            if not isinstance(cur.get("k"), (dict, list)):
                cur["k"] = empty(shapes, nxt)
            cur, name = cur["k"], nxt
    return doc


@pytest.fixture(scope="module")
def probed(procs):
    """A Berth of its own with a cluster, a task definition, a service and a task all named
    `default`, so the model's plausible inputs reach past the lookups."""
    b = procs.berth("berth-probe", "--instances", "2")
    ecs = client("ecs", b.url)
    ecs.register_task_definition(
        family="default",
        containerDefinitions=[{"name": "default", "image": "busybox", "memory": 32,
                               "portMappings": [{"containerPort": 80}]}],
    )
    ecs.create_service(cluster="default", serviceName="default", taskDefinition="default", desiredCount=1)
    ecs.run_task(cluster="default", taskDefinition="default")
    client("logs", b.url).create_log_group(logGroupName="default")
    client("secretsmanager", b.url).create_secret(Name="default", SecretString="v")
    client("ssm", b.url).put_parameter(Name="default", Value="v", Type="String")
    return b


def post(url, version, target, body):
    u = urllib.parse.urlparse(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    try:
        c.request("POST", "/", data, {
            "Content-Type": f"application/x-amz-json-{version}",
            "X-Amz-Target": target,
            "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/ecs/aws4_request, "
                             "SignedHeaders=host, Signature=00",
        })
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def kind(body):
    try:
        return json.loads(body).get("__type", "").rsplit("#", 1)[-1]
    except (ValueError, AttributeError):
        return ""


@pytest.mark.parametrize("model_path", json_models())
def test_no_wrongly_typed_member_gets_a_5xx(probed, model_path):
    m = load(model_path)
    md, shapes = m["metadata"], m["shapes"]
    version = md.get("jsonVersion", "1.0")
    bad, sent, answered = [], 0, []
    for op, o in sorted(m["operations"].items()):
        if "input" not in o:
            continue
        target = f"{md['targetPrefix']}.{op}"
        root = o["input"]["shape"]
        base = sample(shapes, root)
        status, body = post(probed.url, version, target, base)
        sent += 1
        if status == 400 and kind(body) == "UnknownOperationException":
            continue
        answered.append(op)
        cases = [base, {}, *NOT_OBJECTS]
        for path, shape in member_paths(shapes, root):
            if path:
                for v in [*BAD.get(shapes[shape]["type"], []), None]:
                    cases.append(with_value(shapes, root, copy.deepcopy(base), path, v))
        for case in cases:
            status, body = post(probed.url, version, target, case)
            sent += 1
            try:
                json.loads(body or b"{}")
                is_json = True
            except ValueError:
                is_json = False
            if status >= 500 or not is_json:
                shown = case if isinstance(case, bytes) else json.dumps(case)[:300]
                bad.append(f"{op} {status} {body[:200]!r} for {shown!r}")
        probed.check_alive()
    assert answered, f"no operation of {model_path.name} is answered"
    assert not bad, f"{len(bad)} of {sent} requests got a 5xx or no JSON; the first:\n" + "\n".join(bad[:20])
    # Nothing the sweep sent lost what was there.
    ecs = client("ecs", probed.url)
    assert ecs.describe_services(cluster="default", services=["default"])["services"][0]["status"] == "ACTIVE"
    assert ecs.describe_task_definition(taskDefinition="default")["taskDefinition"]["family"] == "default"
