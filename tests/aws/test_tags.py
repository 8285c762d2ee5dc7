"""TagResource, UntagResource, ListTagsForResource on every taggable resource."""

import pytest
from botocore.exceptions import ClientError

from ecs_helpers import error_code, expect_error, register, run_tasks


@pytest.fixture()
def resources(ecs):
    """One of each taggable resource: cluster, task definition, service, task, container instance."""
    cluster = ecs.create_cluster(clusterName="tagged")["cluster"]["clusterArn"]
    td = register(ecs, "web")["taskDefinitionArn"]
    svc = ecs.create_service(serviceName="svc", taskDefinition="web", desiredCount=0)["service"]["serviceArn"]
    task = run_tasks(ecs, "web", 1)[0]
    instance = ecs.list_container_instances()["containerInstanceArns"][0]
    return {"cluster": cluster, "task-definition": td, "service": svc, "task": task, "container-instance": instance}


def as_dict(tags):
    return {t["key"]: t["value"] for t in tags}


@pytest.mark.parametrize("kind", ["cluster", "task-definition", "service", "task", "container-instance"])
def test_tag_list_untag(ecs, resources, kind):
    arn = resources[kind]
    assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == []
    ecs.tag_resource(resourceArn=arn, tags=[{"key": "team", "value": "a"}, {"key": "env", "value": "dev"}])
    assert as_dict(ecs.list_tags_for_resource(resourceArn=arn)["tags"]) == {"team": "a", "env": "dev"}
    # Tagging an existing key overwrites its value.
    ecs.tag_resource(resourceArn=arn, tags=[{"key": "env", "value": "prod"}])
    assert as_dict(ecs.list_tags_for_resource(resourceArn=arn)["tags"]) == {"team": "a", "env": "prod"}
    ecs.untag_resource(resourceArn=arn, tagKeys=["team", "not-there"])
    assert as_dict(ecs.list_tags_for_resource(resourceArn=arn)["tags"]) == {"env": "prod"}


def test_tags_given_at_creation(ecs):
    c = ecs.create_cluster(clusterName="c", tags=[{"key": "k", "value": "v"}])["cluster"]["clusterArn"]
    assert ecs.list_tags_for_resource(resourceArn=c)["tags"] == [{"key": "k", "value": "v"}]
    td = register(ecs, "tagged", tags=[{"key": "k", "value": "td"}])["taskDefinitionArn"]
    assert ecs.list_tags_for_resource(resourceArn=td)["tags"] == [{"key": "k", "value": "td"}]


def test_tag_errors(ecs, resources):
    arn = resources["cluster"]
    expect_error("InvalidParameterException", ecs.tag_resource, resourceArn=arn, tags=[{"key": "aws:reserved", "value": "x"}])
    expect_error(
        "InvalidParameterException",
        ecs.tag_resource,
        resourceArn=arn,
        tags=[{"key": f"k{i}", "value": "v"} for i in range(51)],
    )
    expect_error("InvalidParameterException", ecs.tag_resource, resourceArn=arn, tags=[{"key": "k" * 129, "value": "v"}])
    expect_error("InvalidParameterException", ecs.list_tags_for_resource, resourceArn="not-an-arn")
    # Nothing was stored by the rejected calls.
    assert ecs.list_tags_for_resource(resourceArn=arn)["tags"] == []


def test_unknown_resource(ecs):
    ghost = "arn:aws:ecs:us-east-1:000000000000:cluster/ghost"
    with pytest.raises(ClientError) as e:
        ecs.list_tags_for_resource(resourceArn=ghost)
    assert error_code(e) in ("InvalidParameterException", "ResourceNotFoundException", "ClusterNotFoundException")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_tags_with_the_cli(cli, resources):
    arn = resources["service"]
    cli.run("tag-resource", "--resource-arn", arn, "--tags", "key=owner,value=cli")
    out = cli.run("list-tags-for-resource", "--resource-arn", arn)
    assert out["tags"] == [{"key": "owner", "value": "cli"}]
    cli.run("untag-resource", "--resource-arn", arn, "--tag-keys", "owner")
    assert cli.run("list-tags-for-resource", "--resource-arn", arn)["tags"] == []
