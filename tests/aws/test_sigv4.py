"""SigV4 verification: `berth serve --sigv4 verify --credentials-file FILE`.

Directly, with boto3 and the AWS CLI (a profile file pointing at the credentials file): the
operator key works, a wrong secret gets `InvalidSignatureException`, an unknown key
`UnrecognizedClientException`, a viewer key reads but cannot write, a missing credentials file is
created with an operator key that works at once.

And as a real verifier behind a second Berth in upstream mode (`--upstream-url` the first): with
the front's AWS credentials (environment, or shared-credentials file and profile) set to the
operator key its calls succeed, so the front signs correctly; with a wrong secret the back's
`InvalidSignatureException` comes through the front unchanged.
"""

import json
import os
import stat
import urllib.error
import urllib.request

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import (
    CLOUDTRAIL_TARGET,
    ECS_TARGET,
    INVALID_SIGNATURE_MESSAGE,
    REGION,
    UNRECOGNIZED_CLIENT_MESSAGE,
    aws_cli,
    child_env,
    client,
    raw_call,
    read_credentials_file,
    write_credentials_file,
)

OPERATOR = ("BKIATESTOPERATOR0001", "OpErAtOrSeCrEt0123456789abcdefGHIJKLmnop")
VIEWER = ("BKIATESTVIEWER000001", "ViEwErSeCrEt0123456789abcdefGHIJKLmnopqr")
WRONG_SECRET = "NotTheSecret0123456789abcdefGHIJKLmnopqr"


@pytest.fixture(scope="module")
def keys_file(procs):
    path = procs.tmp / "keys" / "credentials"
    path.parent.mkdir()
    write_credentials_file(
        path, {"operator": (*OPERATOR, "operator"), "viewer": (*VIEWER, "viewer")}
    )
    os.chmod(path, 0o600)
    return path


@pytest.fixture(scope="module")
def verifier(procs, keys_file):
    """A local Berth that verifies every signature against `keys_file`."""
    return procs.berth("berth-sigv4", "--sigv4", "verify", "--credentials-file", keys_file)


def _front(procs, name, back, env):
    return procs.berth(name, "--upstream-url", back.url, "--region", REGION, "--no-imds", env=env)


@pytest.fixture(scope="module")
def front_operator(procs, verifier):
    """Upstream mode in front of the verifier, the operator key in its environment."""
    return _front(procs, "berth-front-operator", verifier, child_env(procs.tmp, *OPERATOR))


@pytest.fixture(scope="module")
def front_profile(procs, verifier, keys_file):
    """The same, finding the operator key through AWS_SHARED_CREDENTIALS_FILE + AWS_PROFILE."""
    env = child_env(procs.tmp, AWS_SHARED_CREDENTIALS_FILE=keys_file, AWS_PROFILE="operator")
    return _front(procs, "berth-front-profile", verifier, env)


@pytest.fixture(scope="module")
def front_wrong(procs, verifier):
    """The same with the operator's key id and a wrong secret."""
    return _front(procs, "berth-front-wrong", verifier, child_env(procs.tmp, OPERATOR[0], WRONG_SECRET))


@pytest.fixture(autouse=True)
def _alive(procs):
    yield
    for p in procs.started:
        p.check_alive()


def cluster_names(url, key=OPERATOR):
    return sorted(a.rsplit("/", 1)[1] for a in client("ecs", url, *key).list_clusters()["clusterArns"])


def expect(code, message, fn, **kwargs):
    with pytest.raises(ClientError) as e:
        fn(**kwargs)
    resp = e.value.response
    assert resp["Error"]["Code"] == code, resp
    if message is not None:
        assert resp["Error"]["Message"] == message, resp
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 400, resp
    return resp


def cli_env(procs, keys_file, profile):
    return child_env(procs.tmp, AWS_SHARED_CREDENTIALS_FILE=keys_file, AWS_PROFILE=profile)


# -- directly -------------------------------------------------------------------------------------


def test_operator_key_works(verifier):
    ecs = client("ecs", verifier.url, *OPERATOR)
    ecs.create_cluster(clusterName="by-operator")
    assert "by-operator" in cluster_names(verifier.url)
    # Every service on the endpoint verifies with its own signing name.
    assert "ScalableTargets" in client("application-autoscaling", verifier.url, *OPERATOR).describe_scalable_targets(
        ServiceNamespace="ecs"
    )
    assert "logGroups" in client("logs", verifier.url, *OPERATOR).describe_log_groups()


def test_wrong_secret_is_an_invalid_signature(verifier):
    ecs = client("ecs", verifier.url, OPERATOR[0], WRONG_SECRET)
    expect("InvalidSignatureException", INVALID_SIGNATURE_MESSAGE, ecs.create_cluster, clusterName="wrong-secret")
    raw = raw_call(verifier.url, f"{ECS_TARGET}.ListClusters", {}, OPERATOR[0], WRONG_SECRET)
    assert raw.status == 400, raw
    assert raw.json() == {"__type": "InvalidSignatureException", "message": INVALID_SIGNATURE_MESSAGE}, raw
    assert raw.headers.get("x-amzn-errortype", "").split(":")[0] == "InvalidSignatureException", raw
    assert raw.headers.get("x-amzn-requestid"), raw
    assert "wrong-secret" not in cluster_names(verifier.url)


def test_unknown_key_is_an_unrecognized_client(verifier):
    ecs = client("ecs", verifier.url, "BKIANOBODYKNOWSTHIS1", OPERATOR[1])
    expect("UnrecognizedClientException", UNRECOGNIZED_CLIENT_MESSAGE, ecs.create_cluster, clusterName="unknown")
    expect("UnrecognizedClientException", UNRECOGNIZED_CLIENT_MESSAGE, ecs.list_clusters)
    assert "unknown" not in cluster_names(verifier.url)


def test_unsigned_and_tampered_requests_are_refused(verifier):
    unsigned = raw_call(verifier.url, f"{ECS_TARGET}.CreateCluster", {"clusterName": "unsigned"}, sign=False)
    assert unsigned.status == 400, unsigned
    assert unsigned.json()["__type"] == "MissingAuthenticationTokenException", unsigned
    # A request signed for ListClusters and replayed as CreateCluster: the target is signed.
    data = json.dumps({"clusterName": "tampered"}).encode()
    req = AWSRequest(
        method="POST",
        url=verifier.url + "/",
        data=data,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"{ECS_TARGET}.ListClusters"},
    )
    SigV4Auth(Credentials(*OPERATOR), "ecs", REGION).add_auth(req)
    headers = dict(req.prepare().headers.items())
    headers["X-Amz-Target"] = f"{ECS_TARGET}.CreateCluster"
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(urllib.request.Request(verifier.url + "/", data=data, headers=headers, method="POST"))
    assert e.value.code == 400
    assert json.loads(e.value.read()) == {"__type": "InvalidSignatureException", "message": INVALID_SIGNATURE_MESSAGE}
    names = cluster_names(verifier.url)
    assert "unsigned" not in names and "tampered" not in names


def test_viewer_reads_but_cannot_write(verifier):
    ecs = client("ecs", verifier.url, *VIEWER)
    assert "clusterArns" in ecs.list_clusters()
    assert ecs.describe_clusters(clusters=["default"])["clusters"][0]["clusterName"] == "default"
    resp = expect("AccessDeniedException", None, ecs.create_cluster, clusterName="by-viewer")
    assert "ecs:CreateCluster" in resp["Error"]["Message"], resp
    resp = expect(
        "AccessDeniedException",
        None,
        client("logs", verifier.url, *VIEWER).create_log_group,
        logGroupName="/by-viewer",
    )
    assert "logs:CreateLogGroup" in resp["Error"]["Message"], resp
    assert "by-viewer" not in cluster_names(verifier.url)


def test_cli_with_profiles_of_the_credentials_file(procs, verifier, keys_file):
    made = aws_cli(
        "ecs", "create-cluster", "--cluster-name", "by-cli", "--endpoint-url", verifier.url,
        env=cli_env(procs, keys_file, "operator"),
    )
    assert made["cluster"]["clusterName"] == "by-cli"
    listed = aws_cli("ecs", "list-clusters", "--endpoint-url", verifier.url, env=cli_env(procs, keys_file, "viewer"))
    assert any(a.endswith("/by-cli") for a in listed["clusterArns"])
    err = aws_cli(
        "ecs", "create-cluster", "--cluster-name", "by-cli-viewer", "--endpoint-url", verifier.url,
        env=cli_env(procs, keys_file, "viewer"), check=False,
    )
    assert err.code != 0 and "AccessDeniedException" in err.stderr, err.stderr
    bad = procs.tmp / "bad-credentials"
    write_credentials_file(bad, {"operator": (OPERATOR[0], WRONG_SECRET, None)})
    err = aws_cli(
        "ecs", "list-clusters", "--endpoint-url", verifier.url, env=cli_env(procs, bad, "operator"), check=False
    )
    assert err.code != 0
    assert f"(InvalidSignatureException) when calling the ListClusters operation: {INVALID_SIGNATURE_MESSAGE}" in (
        err.stderr
    ), err.stderr


def test_missing_credentials_file_is_created_with_a_working_operator_key(procs):
    path = procs.tmp / "fresh" / "sub" / "credentials"
    assert not path.exists()
    fresh = procs.berth("berth-sigv4-fresh", "--sigv4", "verify", "--credentials-file", path)
    assert path.exists(), fresh.log_tail()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    profiles = read_credentials_file(path)
    assert list(profiles) == ["operator"], profiles
    op = profiles["operator"]
    assert op["role"] == "operator"
    key = (op["aws_access_key_id"], op["aws_secret_access_key"])
    assert len(key[1]) >= 16
    # The secret is in the file only, never printed.
    assert key[1] not in fresh.log_text()
    client("ecs", fresh.url, *key).create_cluster(clusterName="fresh-key")
    assert "fresh-key" in cluster_names(fresh.url, key)
    listed = aws_cli("ecs", "list-clusters", "--endpoint-url", fresh.url, env=cli_env(procs, path, "operator"))
    assert any(a.endswith("/fresh-key") for a in listed["clusterArns"])
    expect("UnrecognizedClientException", UNRECOGNIZED_CLIENT_MESSAGE, client("ecs", fresh.url).list_clusters)


# -- behind a Berth in upstream mode --------------------------------------------------------------


def test_front_signs_for_a_real_verifier(verifier, front_operator):
    # The caller of the front uses the tests' dummy key (the front verifies nothing); the front
    # re-signs with the operator key from its environment.
    ecs = client("ecs", front_operator.url)
    made = ecs.create_cluster(clusterName="via-front")["cluster"]
    assert made["clusterName"] == "via-front"
    assert "via-front" in cluster_names(verifier.url)
    assert "via-front" in [a.rsplit("/", 1)[1] for a in ecs.list_clusters()["clusterArns"]]
    # Other services' signing names verify too.
    assert "ScalableTargets" in client("application-autoscaling", front_operator.url).describe_scalable_targets(
        ServiceNamespace="ecs"
    )
    assert "logGroups" in client("logs", front_operator.url).describe_log_groups()
    # The verifier's audit names the key it verified: the operator's.
    resp = raw_call(
        verifier.url,
        f"{CLOUDTRAIL_TARGET}.LookupEvents",
        {"LookupAttributes": [{"AttributeKey": "EventName", "AttributeValue": "CreateCluster"}]},
        *OPERATOR,
        signing_name="cloudtrail",
    )
    assert resp.status == 200, resp
    records = [json.loads(e["CloudTrailEvent"]) for e in resp.json()["Events"]]
    mine = [r for r in records if (r.get("requestParameters") or {}).get("clusterName") == "via-front"]
    assert len(mine) == 1, records
    assert mine[0]["userIdentity"]["accessKeyId"] == OPERATOR[0]
    assert mine[0]["userIdentity"]["type"] == "SigV4Key"


def test_front_finds_the_key_through_a_profile(verifier, front_profile):
    client("ecs", front_profile.url).create_cluster(clusterName="via-profile")
    assert "via-profile" in cluster_names(verifier.url)


def test_wrong_secret_behind_the_front_comes_through_unchanged(verifier, front_wrong):
    ecs = client("ecs", front_wrong.url)
    expect("InvalidSignatureException", INVALID_SIGNATURE_MESSAGE, ecs.create_cluster, clusterName="via-wrong")
    via = raw_call(front_wrong.url, f"{ECS_TARGET}.ListClusters", {})
    direct = raw_call(verifier.url, f"{ECS_TARGET}.ListClusters", {}, OPERATOR[0], WRONG_SECRET)
    assert direct.status == 400, direct
    assert (via.status, via.body) == (direct.status, direct.body), (via, direct)
    assert via.headers.get("x-amzn-errortype") == direct.headers.get("x-amzn-errortype")
    assert via.headers.get("x-amzn-requestid"), via
    assert "via-wrong" not in cluster_names(verifier.url)
    # The CLI sees the same.
    err = aws_cli(
        "ecs", "list-clusters", "--endpoint-url", front_wrong.url,
        env=child_env(front_wrong.log_path.parent, "AKIDEXAMPLE", "secret"), check=False,
    )
    assert err.code != 0
    assert f"(InvalidSignatureException) when calling the ListClusters operation: {INVALID_SIGNATURE_MESSAGE}" in (
        err.stderr
    ), err.stderr


def test_no_secret_leaks_into_answers_or_logs(procs, verifier, front_operator, front_wrong):
    answers = [
        raw_call(front_operator.url, f"{ECS_TARGET}.ListClusters", {}),
        raw_call(front_operator.url, f"{ECS_TARGET}.DescribeServices", {"cluster": "nope", "services": ["x"]}),
        raw_call(front_wrong.url, f"{ECS_TARGET}.ListClusters", {}),
    ]
    for a in answers:
        blob = a.body + json.dumps(a.headers).encode()
        assert OPERATOR[1].encode() not in blob and WRONG_SECRET.encode() not in blob, a
    for p in (verifier, front_operator, front_wrong):
        text = p.log_text()
        assert OPERATOR[1] not in text and WRONG_SECRET not in text, f"{p.name} logged a secret"
