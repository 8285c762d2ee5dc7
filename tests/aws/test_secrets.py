"""The local Secrets Manager and SSM Parameter Store, driven by the real AWS CLI and boto3 on the
same endpoint as ECS: secrets with versions and staging labels, deletion with a recovery window
and restore, parameters with versions, paths and paging, AWS's error codes and texts, and both
surviving a restart of the server."""

import json
import re

import pytest
from botocore.exceptions import ClientError

from conftest import aws_cli, client

ARN = re.compile(r"^arn:aws:secretsmanager:us-east-1:000000000000:secret:(.+)-[A-Za-z0-9]{6}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
NOT_FOUND = "Secrets Manager can't find the specified secret."
MARKED = "You can't perform this operation on the secret because it was marked for deletion."
ALREADY = "The parameter already exists. To overwrite this value, set the overwrite option in the request to true."


@pytest.fixture()
def sm(endpoint):
    return client("secretsmanager", endpoint)


@pytest.fixture()
def ssm(endpoint):
    return client("ssm", endpoint)


def aws(cli, *args, check=True):
    """`aws ARGS… --endpoint-url <server>` with the tests' environment."""
    return aws_cli(*args, "--endpoint-url", cli.endpoint, env=cli.env(), check=check)


def error(call, *args, **kwargs):
    with pytest.raises(ClientError) as e:
        call(*args, **kwargs)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


# --- Secrets Manager -------------------------------------------------------------------------


def test_cli_create_get_put_describe(cli):
    c = aws(cli, "secretsmanager", "create-secret", "--name", "app/db", "--secret-string", '{"user":"u","pw":"p"}',
            "--description", "the database")
    assert ARN.match(c["ARN"]).group(1) == "app/db", c
    assert c["Name"] == "app/db" and UUID.match(c["VersionId"]), c
    g = aws(cli, "secretsmanager", "get-secret-value", "--secret-id", "app/db")
    assert g["SecretString"] == '{"user":"u","pw":"p"}'
    assert g["VersionStages"] == ["AWSCURRENT"] and g["ARN"] == c["ARN"] and g["VersionId"] == c["VersionId"]
    # The full ARN and the partial one (without the random suffix) name it too.
    for sid in (c["ARN"], c["ARN"].rsplit("-", 1)[0]):
        assert aws(cli, "secretsmanager", "get-secret-value", "--secret-id", sid)["Name"] == "app/db"
    p = aws(cli, "secretsmanager", "put-secret-value", "--secret-id", "app/db", "--secret-string", "v2")
    assert p["VersionStages"] == ["AWSCURRENT"] and p["VersionId"] != c["VersionId"]
    assert aws(cli, "secretsmanager", "get-secret-value", "--secret-id", "app/db")["SecretString"] == "v2"
    prev = aws(cli, "secretsmanager", "get-secret-value", "--secret-id", "app/db", "--version-stage", "AWSPREVIOUS")
    assert prev["SecretString"] == '{"user":"u","pw":"p"}' and prev["VersionId"] == c["VersionId"]
    d = aws(cli, "secretsmanager", "describe-secret", "--secret-id", "app/db")
    assert d["Description"] == "the database"
    assert d["VersionIdsToStages"] == {c["VersionId"]: ["AWSPREVIOUS"], p["VersionId"]: ["AWSCURRENT"]}
    assert "DeletedDate" not in d and d["CreatedDate"] and d["LastChangedDate"]


def test_update_secret_and_binary_values(sm):
    sm.create_secret(Name="bin", SecretBinary=b"\x00\x01\xff")
    assert sm.get_secret_value(SecretId="bin")["SecretBinary"] == b"\x00\x01\xff"
    u = sm.update_secret(SecretId="bin", Description="now text", SecretString="text")
    assert UUID.match(u["VersionId"])
    v = sm.get_secret_value(SecretId="bin")
    assert v["SecretString"] == "text" and "SecretBinary" not in v
    assert sm.describe_secret(SecretId="bin")["Description"] == "now text"
    # Only the description: no new version.
    assert "VersionId" not in sm.update_secret(SecretId="bin", Description="again")
    assert len(sm.list_secret_version_ids(SecretId="bin")["Versions"]) == 2


def test_secret_errors(sm, cli):
    sm.create_secret(Name="dup", SecretString="x")
    assert error(sm.create_secret, Name="dup", SecretString="y") == (
        "ResourceExistsException", "The operation failed because the secret dup already exists.")
    assert error(sm.get_secret_value, SecretId="nope") == ("ResourceNotFoundException", NOT_FOUND)
    assert error(sm.describe_secret, SecretId="nope") == ("ResourceNotFoundException", NOT_FOUND)
    assert error(sm.put_secret_value, SecretId="nope", SecretString="x") == ("ResourceNotFoundException", NOT_FOUND)
    code, _ = error(sm.create_secret, Name="both", SecretString="x", SecretBinary=b"y")
    assert code == "InvalidParameterException"
    code, msg = error(sm.get_secret_value, SecretId="dup", VersionStage="AWSPENDING")
    assert (code, msg) == ("ResourceNotFoundException",
                           "Secrets Manager can't find the specified secret value for staging label: AWSPENDING")
    err = aws(cli, "secretsmanager", "get-secret-value", "--secret-id", "nope", check=False)
    assert err.code != 0
    assert f"An error occurred (ResourceNotFoundException) when calling the GetSecretValue operation: {NOT_FOUND}" in err.stderr


def test_delete_restore_and_force(sm, cli):
    sm.create_secret(Name="temp", SecretString="x")
    d = aws(cli, "secretsmanager", "delete-secret", "--secret-id", "temp", "--recovery-window-in-days", "7")
    assert d["Name"] == "temp" and d["DeletionDate"]
    assert error(sm.get_secret_value, SecretId="temp") == ("InvalidRequestException", MARKED)
    assert error(sm.put_secret_value, SecretId="temp", SecretString="y") == ("InvalidRequestException", MARKED)
    assert "DeletedDate" in sm.describe_secret(SecretId="temp")
    assert [s["Name"] for s in sm.list_secrets()["SecretList"]] == []
    assert [s["Name"] for s in sm.list_secrets(IncludePlannedDeletion=True)["SecretList"]] == ["temp"]
    code, _ = error(sm.create_secret, Name="temp", SecretString="z")
    assert code == "InvalidRequestException"
    aws(cli, "secretsmanager", "restore-secret", "--secret-id", "temp")
    assert sm.get_secret_value(SecretId="temp")["SecretString"] == "x"
    assert "DeletedDate" not in sm.describe_secret(SecretId="temp")
    code, _ = error(sm.delete_secret, SecretId="temp", RecoveryWindowInDays=3)
    assert code == "InvalidParameterException"
    code, _ = error(sm.delete_secret, SecretId="temp", RecoveryWindowInDays=7, ForceDeleteWithoutRecovery=True)
    assert code == "InvalidParameterException"
    sm.delete_secret(SecretId="temp", ForceDeleteWithoutRecovery=True)
    assert error(sm.describe_secret, SecretId="temp") == ("ResourceNotFoundException", NOT_FOUND)
    # The name is free again at once.
    sm.create_secret(Name="temp", SecretString="again")
    assert sm.get_secret_value(SecretId="temp")["SecretString"] == "again"


def test_list_secrets_pages_and_filters(sm, cli):
    for i in range(5):
        sm.create_secret(Name=f"team/s{i}", SecretString="x", Tags=[{"Key": "n", "Value": str(i)}])
    sm.create_secret(Name="other", SecretString="x", Description="Database password")
    names = [s["Name"] for page in sm.get_paginator("list_secrets").paginate(PaginationConfig={"PageSize": 2})
             for s in page["SecretList"]]
    assert sorted(names) == ["other"] + [f"team/s{i}" for i in range(5)]
    first = sm.list_secrets(MaxResults=2)
    assert len(first["SecretList"]) == 2 and first["NextToken"]
    listed = aws(cli, "secretsmanager", "list-secrets", "--filters", "Key=name,Values=team/")
    assert sorted(s["Name"] for s in listed["SecretList"]) == [f"team/s{i}" for i in range(5)]
    assert [s["Name"] for s in sm.list_secrets(Filters=[{"Key": "tag-value", "Values": ["3"]}])["SecretList"]] == [
        "team/s3"]
    assert [s["Name"] for s in sm.list_secrets(Filters=[{"Key": "description", "Values": ["database"]}])[
        "SecretList"]] == ["other"]
    entry = sm.list_secrets(Filters=[{"Key": "name", "Values": ["other"]}])["SecretList"][0]
    assert list(entry["SecretVersionsToStages"].values()) == [["AWSCURRENT"]]


def test_tag_and_untag_secret(sm):
    sm.create_secret(Name="tagged", SecretString="x", Tags=[{"Key": "a", "Value": "1"}])
    sm.tag_resource(SecretId="tagged", Tags=[{"Key": "b", "Value": "2"}])
    sm.untag_resource(SecretId="tagged", TagKeys=["a"])
    assert sm.describe_secret(SecretId="tagged")["Tags"] == [{"Key": "b", "Value": "2"}]


# --- SSM Parameter Store ---------------------------------------------------------------------


def test_cli_put_get_and_overwrite(cli):
    v = aws(cli, "ssm", "put-parameter", "--name", "/app/url", "--value", "alpha", "--type", "String")
    assert v == {"Version": 1, "Tier": "Standard"}
    p = aws(cli, "ssm", "get-parameter", "--name", "/app/url")["Parameter"]
    assert p["Value"] == "alpha" and p["Type"] == "String" and p["Version"] == 1 and p["DataType"] == "text"
    assert p["ARN"] == "arn:aws:ssm:us-east-1:000000000000:parameter/app/url"
    err = aws(cli, "ssm", "put-parameter", "--name", "/app/url", "--value", "x", "--type", "String", check=False)
    assert f"An error occurred (ParameterAlreadyExists) when calling the PutParameter operation: {ALREADY}" in err.stderr
    v = aws(cli, "ssm", "put-parameter", "--name", "/app/url", "--value", "beta", "--overwrite")
    assert v["Version"] == 2
    assert aws(cli, "ssm", "get-parameter", "--name", "/app/url")["Parameter"]["Value"] == "beta"
    assert aws(cli, "ssm", "get-parameter", "--name", "/app/url:1")["Parameter"]["Value"] == "alpha"
    err = aws(cli, "ssm", "get-parameter", "--name", "/app/nope", check=False)
    assert err.code != 0
    # SSM says nothing more than the code.
    assert err.stderr.strip().endswith("An error occurred (ParameterNotFound) when calling the GetParameter operation:")


def test_secure_strings(ssm):
    ssm.put_parameter(Name="/app/pw", Value="hunter2", Type="SecureString")
    hidden = ssm.get_parameter(Name="/app/pw")["Parameter"]
    assert hidden["Type"] == "SecureString" and hidden["Value"] != "hunter2"
    assert ssm.get_parameter(Name="/app/pw", WithDecryption=True)["Parameter"]["Value"] == "hunter2"
    meta = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": ["/app/pw"]}])["Parameters"]
    assert meta[0]["KeyId"] == "alias/aws/ssm"


def test_get_parameters_by_path_and_delete(ssm, cli):
    for n in ["/svc/a", "/svc/b", "/svc/deep/c", "/svc/deep/d", "/elsewhere/e"]:
        ssm.put_parameter(Name=n, Value=n.upper(), Type="String")
    got = aws(cli, "ssm", "get-parameters", "--names", "/svc/a", "/svc/missing", "/svc/deep/c")
    assert sorted(p["Name"] for p in got["Parameters"]) == ["/svc/a", "/svc/deep/c"]
    assert got["InvalidParameters"] == ["/svc/missing"]
    one_level = ssm.get_parameters_by_path(Path="/svc")["Parameters"]
    assert sorted(p["Name"] for p in one_level) == ["/svc/a", "/svc/b"]
    pages = list(ssm.get_paginator("get_parameters_by_path").paginate(
        Path="/svc", Recursive=True, PaginationConfig={"PageSize": 3}))
    assert [len(p["Parameters"]) for p in pages] == [3, 1]
    assert sorted(p["Name"] for pg in pages for p in pg["Parameters"]) == [
        "/svc/a", "/svc/b", "/svc/deep/c", "/svc/deep/d"]
    described = [p["Name"] for pg in ssm.get_paginator("describe_parameters").paginate(PaginationConfig={"PageSize": 2})
                 for p in pg["Parameters"]]
    assert len(described) == 5
    aws(cli, "ssm", "delete-parameter", "--name", "/svc/a")
    assert error(ssm.get_parameter, Name="/svc/a") == ("ParameterNotFound", "")
    assert error(ssm.delete_parameter, Name="/svc/a") == ("ParameterNotFound", "")
    d = ssm.delete_parameters(Names=["/svc/b", "/svc/nope"])
    assert d["DeletedParameters"] == ["/svc/b"] and d["InvalidParameters"] == ["/svc/nope"]


def test_parameter_validation(ssm):
    code, msg = error(ssm.put_parameter, Name="no/slash", Value="v", Type="String")
    assert code == "ValidationException"
    code, msg = error(ssm.put_parameter, Name="/x", Value="v")
    assert (code, msg) == ("ValidationException", "A parameter type is required when you create a parameter.")
    ssm.put_parameter(Name="/x", Value="v", Type="String", Tags=[{"Key": "k", "Value": "v"}])
    code, _ = error(ssm.put_parameter, Name="/x", Value="w", Overwrite=True, Tags=[{"Key": "k", "Value": "v"}])
    assert code == "ValidationException"
    assert ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/x")["TagList"] == [{"Key": "k", "Value": "v"}]


# --- Both, across a restart --------------------------------------------------------------------


def test_secrets_and_parameters_survive_a_restart(procs):
    first = procs.berth("secrets-1")
    sm = client("secretsmanager", first.url)
    ssm = client("ssm", first.url)
    arn = sm.create_secret(Name="keep", SecretString="v1")["ARN"]
    sm.put_secret_value(SecretId="keep", SecretString="v2")
    sm.create_secret(Name="doomed", SecretString="x")
    sm.delete_secret(SecretId="doomed", RecoveryWindowInDays=7)
    ssm.put_parameter(Name="/keep/p", Value="one", Type="String")
    ssm.put_parameter(Name="/keep/p", Value="two", Type="String", Overwrite=True)
    first.stop()

    second = procs.berth("secrets-2", data_dir=first.data_dir)
    sm = client("secretsmanager", second.url)
    ssm = client("ssm", second.url)
    v = sm.get_secret_value(SecretId="keep")
    assert (v["ARN"], v["SecretString"]) == (arn, "v2")
    assert sm.get_secret_value(SecretId="keep", VersionStage="AWSPREVIOUS")["SecretString"] == "v1"
    assert error(sm.get_secret_value, SecretId="doomed") == ("InvalidRequestException", MARKED)
    p = ssm.get_parameter(Name="/keep/p")["Parameter"]
    assert (p["Value"], p["Version"]) == ("two", 2)
    assert ssm.put_parameter(Name="/keep/p", Value="three", Overwrite=True)["Version"] == 3


def test_values_stay_out_of_the_audit_trail(procs):
    """Secret values never reach the audit trail: CreateSecret's and PutParameter's values are
    hidden, and GetSecretValue (recorded: it hands out a secret, so it is not a mere read) keeps
    its answer's value hidden too."""
    audited = procs.berth("secrets-audit")
    sm = client("secretsmanager", audited.url)
    ssm = client("ssm", audited.url)
    sm.create_secret(Name="audited", SecretString="s3cr3t-secret-value")
    assert sm.get_secret_value(SecretId="audited")["SecretString"] == "s3cr3t-secret-value"
    ssm.put_parameter(Name="/audited", Value="s3cr3t-param-value", Type="SecureString")
    ct = client("cloudtrail", audited.url)
    events = ct.lookup_events()["Events"]
    names = {e["EventName"] for e in events}
    assert {"CreateSecret", "GetSecretValue", "PutParameter"} <= names, names
    text = json.dumps(events, default=str)
    assert "s3cr3t-secret-value" not in text and "s3cr3t-param-value" not in text
    put = next(json.loads(e["CloudTrailEvent"]) for e in events if e["EventName"] == "PutParameter")
    assert put["eventSource"] == "ssm.amazonaws.com"
    assert put["requestParameters"]["Value"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    assert put["requestParameters"]["Name"] == "/audited"


def test_a_viewer_reads_metadata_but_not_secret_values(procs):
    """With SigV4 verification, a viewer key may describe and list secrets and read parameters,
    but neither change them nor read a secret's value (AWS's ReadOnlyAccess withholds
    `secretsmanager:GetSecretValue` too); the services' signing names are checked."""
    import os

    from conftest import write_credentials_file

    operator = ("BKIASECRETSOPERATOR1", "OpErAtOrSeCrEt0123456789abcdefGHIJKLmnop")
    viewer = ("BKIASECRETSVIEWER001", "ViEwErSeCrEt0123456789abcdefGHIJKLmnopqr")
    keys = procs.tmp / "secrets-keys" / "credentials"
    keys.parent.mkdir()
    write_credentials_file(keys, {"operator": (*operator, "operator"), "viewer": (*viewer, "viewer")})
    os.chmod(keys, 0o600)
    server = procs.berth("secrets-sigv4", "--sigv4", "verify", "--credentials-file", keys)
    client("secretsmanager", server.url, *operator).create_secret(Name="s", SecretString="v")
    client("ssm", server.url, *operator).put_parameter(Name="/p", Value="v", Type="String")
    sm = client("secretsmanager", server.url, *viewer)
    ssm = client("ssm", server.url, *viewer)
    assert sm.describe_secret(SecretId="s")["Name"] == "s"
    assert [s["Name"] for s in sm.list_secrets()["SecretList"]] == ["s"]
    assert ssm.get_parameter(Name="/p")["Parameter"]["Value"] == "v"
    for call, kwargs, action in [
        (sm.get_secret_value, {"SecretId": "s"}, "secretsmanager:GetSecretValue"),
        (sm.create_secret, {"Name": "t", "SecretString": "x"}, "secretsmanager:CreateSecret"),
        (ssm.put_parameter, {"Name": "/q", "Value": "x", "Type": "String"}, "ssm:PutParameter"),
    ]:
        code, msg = error(call, **kwargs)
        assert code == "AccessDeniedException" and action in msg, (code, msg)
