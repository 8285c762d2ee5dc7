"""State survives `kill -9`: a second `berth serve` on its own data directory is killed and
restarted, and every acknowledged registration, service and task is there afterwards."""

import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3
import pytest

from conftest import ACCESS_KEY, REGION, SECRET_KEY, _berth_bin, _client_config, _free_port
from ecs_helpers import FAST, container


def start(data_dir, log):
    port = _free_port()
    proc = subprocess.Popen(
        [_berth_bin(), "serve", "--port", str(port), "--data-dir", str(data_dir), "--instances", "4"],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"berth serve exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url + "/", timeout=2).read()
            break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("berth serve did not answer GET / within 30 s")
    ecs = boto3.session.Session().client(
        "ecs",
        region_name=REGION,
        endpoint_url=url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=_client_config(),
    )
    return proc, ecs


def test_state_survives_kill_9():
    with tempfile.TemporaryDirectory(prefix="berth-durability-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        with open(Path(tmp) / "berth.log", "wb") as log:
            proc, ecs = start(data, log)
            try:
                for i in range(3):
                    ecs.register_task_definition(family="keep", containerDefinitions=[container(image=f"nginx:1.2{i}")])
                ecs.create_cluster(clusterName="extra", tags=[{"key": "k", "value": "v"}])
                ecs.put_account_setting_default(name="awsvpcTrunking", value="enabled")
                ecs.create_service(serviceName="svc", taskDefinition="keep:2", desiredCount=2, launchType="EC2")
                ecs.get_waiter("services_stable").wait(services=["svc"], WaiterConfig=FAST)
                task = ecs.run_task(taskDefinition="keep:3", launchType="EC2", startedBy="durable")["tasks"][0]["taskArn"]
                ecs.get_waiter("tasks_running").wait(tasks=[task], WaiterConfig=FAST)
                before = sorted(ecs.list_tasks()["taskArns"])
            finally:
                proc.kill()  # SIGKILL: no shutdown hook runs
                proc.wait(timeout=10)

            proc, ecs = start(data, log)
            try:
                arns = ecs.list_task_definitions(familyPrefix="keep")["taskDefinitionArns"]
                assert [a.rsplit(":", 1)[1] for a in arns] == ["1", "2", "3"]
                assert ecs.describe_task_definition(taskDefinition="keep:3")["taskDefinition"]["containerDefinitions"][0][
                    "image"
                ] == "nginx:1.22"
                assert ecs.register_task_definition(family="keep", containerDefinitions=[container()])["taskDefinition"][
                    "revision"
                ] == 4, "revisions stay contiguous after a crash"
                c = ecs.describe_clusters(clusters=["extra"], include=["TAGS"])["clusters"][0]
                assert c["status"] == "ACTIVE" and c["tags"] == [{"key": "k", "value": "v"}]
                got = ecs.list_account_settings(name="awsvpcTrunking")["settings"]
                assert [s["value"] for s in got] == ["enabled"], "account settings survive a crash"
                s = ecs.describe_services(services=["svc"])["services"][0]
                assert s["desiredCount"] == 2 and s["taskDefinition"].endswith("keep:2")
                assert sorted(ecs.list_tasks()["taskArns"]) == before
                t = ecs.describe_tasks(tasks=[task])["tasks"][0]
                assert t["lastStatus"] == "RUNNING" and t["startedBy"] == "durable"
                # The reconciler carries on: the service still answers to scaling.
                ecs.update_service(service="svc", desiredCount=3)
                ecs.get_waiter("services_stable").wait(services=["svc"], WaiterConfig=FAST)
                assert ecs.describe_services(services=["svc"])["services"][0]["runningCount"] == 3
            finally:
                proc.kill()
                proc.wait(timeout=10)
