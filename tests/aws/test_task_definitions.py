"""Task definitions: Register (validated like ECS), Describe, List, ListFamilies, Deregister, Delete."""

import json
import subprocess

import pytest
from botocore.exceptions import ClientError, ParamValidationError

from conftest import ACCOUNT, REGION, REPO, _berth_bin
from ecs_helpers import container, error_code, error_message, expect_error, register

CORPUS = REPO / "testdata" / "corpus" / "taskdefs"
# A Fargate + EC2 task definition written by someone else (New Relic FireLens example):
# `"cpu": "1 vcpu"` and `"memory": "2 gb"` are the unit forms ECS accepts.
CORPUS_FILE = CORPUS / "024-aws-samples-amazon-ecs-firelens-examples-fb-newrelic.json"


def td_arn(family, revision):
    return f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{family}:{revision}"


def test_register_corpus_file_with_cli_input_json(cli, ecs):
    doc = json.loads(CORPUS_FILE.read_text())
    out = cli.run("register-task-definition", "--cli-input-json", f"file://{CORPUS_FILE}")
    td = out["taskDefinition"]
    assert td["taskDefinitionArn"] == td_arn(doc["family"], 1)
    assert td["family"] == doc["family"]
    assert td["revision"] == 1
    assert td["status"] == "ACTIVE"
    assert td["networkMode"] == "awsvpc"
    assert [c["name"] for c in td["containerDefinitions"]] == [c["name"] for c in doc["containerDefinitions"]]
    assert "FARGATE" in td["compatibilities"]
    assert td["requiresCompatibilities"] == ["FARGATE"]
    assert "registeredAt" in td
    # The same document read back through boto3.
    again = ecs.describe_task_definition(taskDefinition=doc["family"])["taskDefinition"]
    assert again["taskDefinitionArn"] == td["taskDefinitionArn"]
    assert again["containerDefinitions"][1]["logConfiguration"]["logDriver"] == "awsfirelens"


def test_register_every_valid_corpus_file_sample(ecs):
    # A handful of corpus documents of different shapes all register and come back lossless
    # for their container names and images.
    names = sorted(p.name for p in CORPUS.glob("*.json"))[:40:4]
    registered = 0
    for name in names:
        doc = json.loads((CORPUS / name).read_text())
        try:
            td = ecs.register_task_definition(**doc)["taskDefinition"]
        except ClientError as e:
            # Documents the validator rejects are rejected with ClientException, never a 5xx.
            assert error_code_of(e) in ("ClientException", "InvalidParameterException"), (name, e)
            continue
        except ParamValidationError:  # boto3's own checks reject documents with wrong types first
            continue
        registered += 1
        assert [(c["name"], c["image"]) for c in td["containerDefinitions"]] == [
            (c["name"], c["image"]) for c in doc["containerDefinitions"]
        ]
    assert registered >= 5


def error_code_of(e):
    return e.response["Error"]["Code"]


def validator_errors(doc):
    """The error messages `berth validate` gives for a document (what the server must answer)."""
    p = subprocess.run(
        [_berth_bin(), "validate", "--format", "json", "--quiet", "-"],
        input=json.dumps(doc),
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = json.loads(p.stdout)
    return [d["message"] for f in report["files"] for d in f["diagnostics"] if d["severity"] == "error"]


REJECTED = [
    {"family": "bad", "containerDefinitions": [{"name": "a", "image": "nginx:1.27", "essential": False, "memory": 128}]},
    {"family": "bad", "containerDefinitions": [{"name": "a", "image": "nginx:1.27", "essential": True}]},
    {
        "family": "bad",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "8192",
        "containerDefinitions": [{"name": "a", "image": "nginx:1.27", "essential": True}],
    },
    {
        "family": "bad",
        "containerDefinitions": [
            {"name": "a", "image": "nginx:1.27", "memory": 64, "links": ["b"]},
            {"name": "a", "image": "nginx:1.27", "memory": 64},
        ],
    },
]


@pytest.mark.parametrize("doc", REJECTED, ids=["no-essential", "no-memory", "fargate-cpu-memory", "duplicate-names"])
def test_rejected_registration_gets_client_exception_with_the_validators_message(ecs, doc):
    expected = validator_errors(doc)
    assert expected, "the validator rejects this document"
    msg = expect_error("ClientException", ecs.register_task_definition, **doc)
    assert msg in expected, (msg, expected)
    # Nothing was stored.
    assert "bad" not in ecs.list_task_definition_families(status="ALL")["families"]
    expect_error("ClientException", ecs.describe_task_definition, taskDefinition="bad")


def test_rejected_registration_through_the_cli(cli, tmp_path):
    f = tmp_path / "bad.json"
    f.write_text(json.dumps({"family": "bad", "containerDefinitions": [{"name": "a", "image": "x", "essential": False, "memory": 64}]}))
    err = cli.run("register-task-definition", "--cli-input-json", f"file://{f}", check=False)
    assert getattr(err, "code", 0) != 0
    assert "ClientException" in err.stderr
    assert "At least one essential container is required." in err.stderr


def test_describe_by_family_revision_arn_and_tags(ecs):
    register(ecs, "app", tags=[{"key": "team", "value": "a"}])
    register(ecs, "app", containers=[container(image="nginx:1.28")])
    latest = ecs.describe_task_definition(taskDefinition="app")["taskDefinition"]
    assert latest["revision"] == 2
    assert latest["containerDefinitions"][0]["image"] == "nginx:1.28"
    first = ecs.describe_task_definition(taskDefinition="app:1")["taskDefinition"]
    assert first["revision"] == 1 and first["containerDefinitions"][0]["image"] == "nginx:1.27"
    by_arn = ecs.describe_task_definition(taskDefinition=td_arn("app", 1))["taskDefinition"]
    assert by_arn == first
    no_tags = ecs.describe_task_definition(taskDefinition="app:1")
    assert not no_tags.get("tags")
    with_tags = ecs.describe_task_definition(taskDefinition="app:1", include=["TAGS"])
    assert with_tags["tags"] == [{"key": "team", "value": "a"}]
    expect_error("ClientException", ecs.describe_task_definition, taskDefinition="app:3")
    expect_error("ClientException", ecs.describe_task_definition, taskDefinition="nothing")


def test_revisions_are_contiguous_and_never_reused(ecs):
    revs = [register(ecs, "rev")["revision"] for _ in range(5)]
    assert revs == [1, 2, 3, 4, 5]
    ecs.deregister_task_definition(taskDefinition="rev:5")
    ecs.delete_task_definitions(taskDefinitions=["rev:5"])
    assert register(ecs, "rev")["revision"] == 6


def test_list_with_prefix_status_and_sort(ecs):
    for fam in ("api", "api-worker", "batch"):
        for _ in range(2):
            register(ecs, fam)
    ecs.deregister_task_definition(taskDefinition="api:1")

    every = ecs.list_task_definitions()["taskDefinitionArns"]
    assert td_arn("api", 1) not in every, "status defaults to ACTIVE"
    assert every == sorted(every, key=lambda a: (a.rsplit(":", 1)[0], int(a.rsplit(":", 1)[1])))
    api = ecs.list_task_definitions(familyPrefix="api")["taskDefinitionArns"]
    assert api == [td_arn("api", 2)], "familyPrefix matches the whole family name"
    desc = ecs.list_task_definitions(familyPrefix="batch", sort="DESC")["taskDefinitionArns"]
    assert desc == [td_arn("batch", 2), td_arn("batch", 1)]
    inactive = ecs.list_task_definitions(status="INACTIVE")["taskDefinitionArns"]
    assert inactive == [td_arn("api", 1)]


def test_list_families(ecs):
    for fam in ("svc-a", "svc-b", "other"):
        register(ecs, fam)
    ecs.deregister_task_definition(taskDefinition="other:1")
    assert ecs.list_task_definition_families()["families"] == ["svc-a", "svc-b"]
    assert ecs.list_task_definition_families(familyPrefix="svc-a")["families"] == ["svc-a"]
    everything = ecs.list_task_definition_families(status="ALL")["families"]
    assert everything == ["other", "svc-a", "svc-b"]
    assert ecs.list_task_definition_families(status="INACTIVE")["families"] == ["other"]


def test_deregister_and_delete(ecs):
    register(ecs, "old")
    register(ecs, "old")
    d = ecs.deregister_task_definition(taskDefinition="old:1")["taskDefinition"]
    assert d["status"] == "INACTIVE"
    assert "deregisteredAt" in d
    # The family now resolves to the latest ACTIVE revision.
    assert ecs.describe_task_definition(taskDefinition="old")["taskDefinition"]["revision"] == 2
    # INACTIVE revisions can still be described by revision.
    assert ecs.describe_task_definition(taskDefinition="old:1")["taskDefinition"]["status"] == "INACTIVE"

    resp = ecs.delete_task_definitions(taskDefinitions=["old:1", "old:2"])
    assert [t["taskDefinitionArn"] for t in resp["taskDefinitions"]] == [td_arn("old", 1)]
    assert resp["taskDefinitions"][0]["status"] == "DELETE_IN_PROGRESS"
    assert len(resp["failures"]) == 1 and resp["failures"][0]["arn"] == td_arn("old", 2)
    assert "ACTIVE" in resp["failures"][0]["reason"]
    expect_error("ClientException", ecs.deregister_task_definition, taskDefinition="old:9")
    with pytest.raises(ClientError) as e:
        ecs.deregister_task_definition(taskDefinition="old")  # a revision is required
    assert error_code(e) in ("ClientException", "InvalidParameterException"), error_message(e)


def test_list_task_definitions_paginator_over_100(ecs):
    for _ in range(105):
        register(ecs, "many")
    pages = list(ecs.get_paginator("list_task_definitions").paginate(familyPrefix="many"))
    assert [len(p["taskDefinitionArns"]) for p in pages] == [100, 5]
    arns = [a for p in pages for a in p["taskDefinitionArns"]]
    assert arns == [td_arn("many", i) for i in range(1, 106)]
