"""Account settings: PutAccountSetting(Default), DeleteAccountSetting, ListAccountSettings with
the AWS CLI and boto3; the account's containerInsights applied to new clusters.

The caller of the local endpoint is the account's root user, so its settings are the account's
defaults (PutAccountSettingDefault answers with the root user's ARN, as ECS does)."""

from conftest import ACCOUNT
from ecs_helpers import expect_error

ROOT = f"arn:aws:iam::{ACCOUNT}:root"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/ecsInstanceRole"

# Every setting ECS has, sorted, with the value that applies when nobody set it.
ECS_DEFAULTS = {
    "awsvpcTrunking": "disabled",
    "containerInsights": "disabled",
    "containerInstanceLongArnFormat": "enabled",
    "defaultLogDriverMode": "non-blocking",
    "dualStackIPv6": "disabled",
    "fargateEventWindows": "disabled",
    "fargateFIPSMode": "disabled",
    "fargateTaskRetirementWaitPeriod": "7",
    "guardDutyActivate": "disabled",
    "serviceLongArnFormat": "enabled",
    "tagResourceAuthorization": "on",
    "taskLongArnFormat": "enabled",
}


def effective(cli, *extra):
    return {s["name"]: s for s in cli.run("list-account-settings", "--effective-settings", *extra)["settings"]}


def test_cli_effective_settings_list_every_setting_with_ecs_defaults_over_two_pages(cli, ecs):
    got = cli.run("list-account-settings", "--effective-settings")["settings"]
    assert [s["name"] for s in got] == list(ECS_DEFAULTS)
    assert {s["name"]: s["value"] for s in got} == ECS_DEFAULTS
    assert {s["principalArn"] for s in got} == {ROOT}
    assert {s["name"] for s in got if s["type"] == "aws_managed"} == {"guardDutyActivate"}
    # Ten to a page, as ECS: the CLI followed the token; boto3 sees the pages.
    first = ecs.list_account_settings(effectiveSettings=True)
    assert len(first["settings"]) == 10 and first["nextToken"]
    rest = ecs.list_account_settings(effectiveSettings=True, nextToken=first["nextToken"])
    assert [s["name"] for s in first["settings"] + rest["settings"]] == list(ECS_DEFAULTS)
    assert "nextToken" not in rest
    # Nothing was set explicitly, so the plain listing is empty.
    assert cli.run("list-account-settings")["settings"] == []


def test_cli_account_default_then_a_roles_own_setting_wins_for_that_role(cli):
    out = cli.run("put-account-setting-default", "--name", "awsvpcTrunking", "--value", "enabled")
    assert out["setting"] == {"name": "awsvpcTrunking", "value": "enabled", "principalArn": ROOT, "type": "user"}
    assert effective(cli)["awsvpcTrunking"]["value"] == "enabled"
    # The role inherits the account default until it has its own.
    assert effective(cli, "--principal-arn", ROLE)["awsvpcTrunking"] == {
        "name": "awsvpcTrunking", "value": "enabled", "principalArn": ROLE, "type": "user"}
    cli.run("put-account-setting", "--name", "awsvpcTrunking", "--value", "disabled", "--principal-arn", ROLE)
    assert effective(cli, "--principal-arn", ROLE)["awsvpcTrunking"]["value"] == "disabled"
    assert effective(cli)["awsvpcTrunking"]["value"] == "enabled"
    # Plain listings show what each principal set itself, filtered by name and value.
    assert cli.run("list-account-settings")["settings"] == [
        {"name": "awsvpcTrunking", "value": "enabled", "principalArn": ROOT, "type": "user"}]
    mine = cli.run("list-account-settings", "--principal-arn", ROLE, "--name", "awsvpcTrunking", "--value", "disabled")
    assert [s["value"] for s in mine["settings"]] == ["disabled"]
    assert cli.run("list-account-settings", "--principal-arn", ROLE, "--name", "awsvpcTrunking",
                   "--value", "enabled")["settings"] == []
    # Deleting the role's own value answers it and falls back to the account default.
    gone = cli.run("delete-account-setting", "--name", "awsvpcTrunking", "--principal-arn", ROLE)
    assert gone["setting"]["value"] == "disabled" and gone["setting"]["principalArn"] == ROLE
    assert effective(cli, "--principal-arn", ROLE)["awsvpcTrunking"]["value"] == "enabled"
    cli.run("delete-account-setting", "--name", "awsvpcTrunking")
    assert effective(cli)["awsvpcTrunking"]["value"] == "disabled"
    assert cli.run("list-account-settings")["settings"] == []


def test_put_account_setting_without_a_principal_sets_the_callers_the_root_users(ecs):
    out = ecs.put_account_setting(name="fargateTaskRetirementWaitPeriod", value="14")["setting"]
    assert out["principalArn"] == ROOT and out["value"] == "14"
    got = ecs.list_account_settings(name="fargateTaskRetirementWaitPeriod", effectiveSettings=True)["settings"]
    assert [(s["name"], s["value"]) for s in got] == [("fargateTaskRetirementWaitPeriod", "14")]


def test_values_a_setting_does_not_take_get_ecss_error(ecs, cli):
    # ECS's text: aws/aws-cli#3785 (upper case), terraform-provider-aws#32114 (tagResourceAuthorization
    # takes on/off).
    assert expect_error("InvalidParameterException", ecs.put_account_setting,
                        name="taskLongArnFormat", value="ENABLED") == "Invalid setting 'value'"
    assert expect_error("InvalidParameterException", ecs.put_account_setting_default,
                        name="tagResourceAuthorization", value="enabled") == "Invalid setting 'value'"
    assert expect_error("InvalidParameterException", ecs.put_account_setting_default,
                        name="fargateTaskRetirementWaitPeriod", value="3") == "Invalid setting 'value'"
    # Their valid neighbours pass.
    ecs.put_account_setting(name="taskLongArnFormat", value="enabled")
    ecs.put_account_setting_default(name="tagResourceAuthorization", value="off")
    # Berth's own texts: a read-only setting, a root-only one, a name ECS does not have, a bad
    # principal, a value filter without a name.
    msg = expect_error("InvalidParameterException", ecs.put_account_setting, name="guardDutyActivate", value="enabled")
    assert "read-only" in msg
    msg = expect_error("InvalidParameterException", ecs.put_account_setting,
                       name="fargateTaskRetirementWaitPeriod", value="0", principalArn=ROLE)
    assert "root user" in msg
    err = cli.run("put-account-setting", "--name", "containerInsight", "--value", "enabled", check=False)
    assert err.code != 0 and "InvalidParameterException" in err.stderr and "containerInsights" in err.stderr
    msg = expect_error("InvalidParameterException", ecs.list_account_settings,
                       principalArn=f"arn:aws:iam::{ACCOUNT}:group/admins")
    assert "principalArn" in msg
    msg = expect_error("InvalidParameterException", ecs.list_account_settings, value="enabled")
    assert "name" in msg
    # Nothing refused was stored.
    assert {(s["name"], s["value"]) for s in ecs.list_account_settings()["settings"]} == {
        ("taskLongArnFormat", "enabled"), ("tagResourceAuthorization", "off")}


def test_new_clusters_take_the_accounts_container_insights(ecs, cli):
    before = ecs.create_cluster(clusterName="before")["cluster"]
    assert before["settings"] == [{"name": "containerInsights", "value": "disabled"}]
    assert before["tags"] == []
    cli.run("put-account-setting-default", "--name", "containerInsights", "--value", "enhanced")
    cli.run("create-cluster", "--cluster-name", "after")
    cli.run("create-cluster", "--cluster-name", "own", "--settings", "name=containerInsights,value=enabled")
    got = cli.run("describe-clusters", "--clusters", "before", "after", "own", "--include", "SETTINGS",
                  "--query", "clusters[].[clusterName, settings[?name=='containerInsights'].value | [0]]")
    assert got == [["before", "disabled"], ["after", "enhanced"], ["own", "enabled"]]
    # Without --include SETTINGS ECS answers an empty list.
    plain = ecs.describe_clusters(clusters=["after"])["clusters"][0]
    assert plain["settings"] == []
