"""Tasks that really run: `berth serve --runtime docker`, driven by boto3 and the real AWS CLI.

Every test starts a Berth of its own (`--runtime docker`, a fresh data directory) and uses the
test image `berth-test/busybox:latest` that scripts/docker-setup.sh builds with `docker import`
(nothing is pulled). What is checked is what ECS on EC2 would show: published ports that answer,
exit codes, stop codes and reasons, `dependsOn` order seen in Docker's own start/finish times,
health checks that make a service replace its task, the circuit breaker rolling back real crashes,
`awslogs` output in CloudWatch Logs, secrets and SSM parameters in the environment, the task
metadata endpoint read from inside a container, re-adoption after `kill -9` of Berth and after a
restart of dockerd, host access refused without `--allow-host-access`, and a missing image.

Containers are found through the labels Berth puts on them (`com.amazonaws.ecs.task-arn`,
`com.amazonaws.ecs.container-name`, `dev.berth.task-id`, `dev.berth.instance`) and removed at the
end of each test by its Berth instance id, so two Berths (or a developer's own) are never touched.

The module is skipped only when `docker info` fails; with `CI=true` that is an error instead,
because CI runs scripts/docker-setup.sh first. `BERTH_SKIP_DOCKERD_RESTART=1` skips the one test
that restarts dockerd (it stops every container of the machine's engine, not only Berth's).
"""

import json
import os
import random
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import ACCESS_KEY, REGION, REPO, SECRET_KEY, aws_cli, child_env, client
from ecs_helpers import describe_tasks, service, service_tasks, wait_until

IMAGE = "berth-test/busybox:latest"
IMAGE_2 = "berth-test/busybox:2"
EXECUTION_ROLE = "arn:aws:iam::000000000000:role/ecsTaskExecutionRole"
AWSVPC = {"awsvpcConfiguration": {"subnets": ["subnet-12345678"], "assignPublicIp": "DISABLED"}}


def _engine_problem():
    if not shutil.which("docker"):
        return "the docker CLI is not installed"
    try:
        p = subprocess.run(["docker", "info"], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer within 60 s"
    if p.returncode != 0:
        return f"`docker info` exited {p.returncode}: {p.stderr.strip()[-400:]}"
    return None


_problem = _engine_problem()
if _problem:
    _msg = f"no Docker engine answers ({_problem}); scripts/docker-setup.sh installs and starts one"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{_msg}. CI=true, so this is a failure, not a skip.", pytrace=False)
    pytest.skip(_msg, allow_module_level=True)


# ---------------------------------------------------------------------------------------------
# Docker helpers (the docker CLI, so the tests see what a user would see)
# ---------------------------------------------------------------------------------------------


def docker(*args, check=True, timeout=120):
    p = subprocess.run(["docker", *args], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {p.returncode}: {p.stderr.strip()}")
    return p.stdout


def ps(*filters, running_only=False):
    """Ids of the containers matching every `key=value` filter (`label=…`, `status=…`)."""
    args = ["ps", "-q", "--no-trunc"] + ([] if running_only else ["-a"])
    for f in filters:
        args += ["--filter", f]
    return docker(*args).split()


def inspect(ids):
    if not ids:
        return []
    return json.loads(docker("inspect", *ids, check=False) or "[]")


def labels(c):
    return c["Config"].get("Labels") or {}


def task_containers(task_arn, running_only=False):
    """The inspected user containers of a task (pause containers left out), by container name."""
    out = {}
    for c in inspect(ps(f"label=com.amazonaws.ecs.task-arn={task_arn}", running_only=running_only)):
        lb = labels(c)
        if lb.get("dev.berth.role") == "pause":
            continue
        out[lb.get("com.amazonaws.ecs.container-name")] = c
    return out


def docker_time(s):
    """Docker's RFC 3339 timestamps with nanoseconds; None for the zero time (never happened)."""
    if not s or s.startswith("0001-01-01"):
        return None
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", s)
    assert m, f"unexpected Docker timestamp {s!r}"
    frac = (m.group(2) or ".0")[1:7].ljust(6, "0")
    tz = "+00:00" if m.group(3) == "Z" else m.group(3)
    return datetime.fromisoformat(f"{m.group(1)}.{frac}{tz}")


def dockerd_pids():
    pids = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "dockerd":
                pids.append(int(comm.parent.name))
        except OSError:
            pass
    return pids


def task_id(arn):
    return arn.rsplit("/", 1)[1]


def http_get(url, timeout=3):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.read().decode(errors="replace")


# ---------------------------------------------------------------------------------------------
# One Berth with the Docker runtime per test
# ---------------------------------------------------------------------------------------------


class DockerBerth:
    """A `berth serve --runtime docker` on a fresh data directory, with clients and cleanup.

    `restart()` starts another server on the same data directory (after `kill()` or `stop()`);
    `close()` stops the server and removes every container that carries one of the Berth
    instance ids seen during the test (learnt from the labels of its tasks' containers).
    """

    def __init__(self, procs, name, *args):
        self.procs = procs
        self.name = name
        # A seed of its own: task ids come from the seeded generator, and two Berths with the same
        # seed and calls would label their containers with the same task ids.
        self.args = ["--runtime", "docker", "--seed", str(random.getrandbits(62)), *args]
        self.generation = 0
        self.task_ids = set()
        self.instances = set()
        self.proc = procs.berth(name, *self.args)
        self.data_dir = self.proc.data_dir
        self._clients()

    def _clients(self):
        self.url = self.proc.url
        self.ecs = client("ecs", self.url)
        self.logs = client("logs", self.url)

    def env(self):
        return child_env(self.procs.tmp, ACCESS_KEY, SECRET_KEY)

    def cli(self, *args, check=True):
        """The real AWS CLI: `aws ARGS --endpoint-url URL --region REGION --output json`."""
        return aws_cli(*args, "--endpoint-url", self.url, "--region", REGION, env=self.env(), check=check)

    def kill(self):
        """`kill -9`: no shutdown hook runs."""
        self.learn()
        self.proc.proc.kill()
        self.proc.proc.wait(timeout=10)
        self.proc.stop()

    def stop(self):
        self.learn()
        self.proc.stop()

    def restart(self):
        self.generation += 1
        self.proc = self.procs.berth(f"{self.name}-{self.generation}", *self.args, data_dir=self.data_dir)
        self._clients()

    def log_tail(self, n=60):
        return self.proc.log_tail(n)

    def wait(self, what, fn, timeout=60.0, interval=0.25):
        """ecs_helpers.wait_until, with the server's log in the failure (and a dead server caught)."""

        def probe():
            if not self.proc.alive() and not self.proc.stopped:
                raise AssertionError(f"berth exited with {self.proc.proc.returncode}:\n{self.log_tail()}")
            return fn()

        try:
            return wait_until(what, probe, timeout=timeout, interval=interval)
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- berth log (last lines):\n{self.log_tail()}") from None

    # -- ECS shortcuts ---------------------------------------------------------------------------

    def register(self, family, containers, **extra):
        extra.setdefault("networkMode", "bridge")
        td = self.ecs.register_task_definition(family=family, containerDefinitions=containers, **extra)
        return td["taskDefinition"]["taskDefinitionArn"]

    def run(self, task_definition, **extra):
        resp = self.ecs.run_task(taskDefinition=task_definition, launchType="EC2", **extra)
        assert resp["failures"] == [], resp["failures"]
        arn = resp["tasks"][0]["taskArn"]
        self.task_ids.add(task_id(arn))
        return arn

    def task(self, arn):
        [t] = describe_tasks(self.ecs, [arn])
        return t

    def wait_task(self, arn, status, timeout=60.0):
        last = {}

        def reached():
            t = last["task"] = self.task(arn)
            return t if t["lastStatus"] == status else None

        try:
            return self.wait(f"task {task_id(arn)} {status}", reached, timeout=timeout)
        except AssertionError as e:
            t = last.get("task") or {}
            seen = {k: t.get(k) for k in ("lastStatus", "stopCode", "stoppedReason")}
            seen["containers"] = [{k: c.get(k) for k in ("name", "lastStatus", "exitCode", "reason")}
                                  for c in t.get("containers", [])]
            raise AssertionError(f"{e}\n--- the task when the wait ended: {seen}") from None

    def service_tasks(self, name, desired="RUNNING"):
        ts = service_tasks(self.ecs, name, desired=desired)
        self.task_ids.update(task_id(t["taskArn"]) for t in ts)
        return ts

    def wait_service_running(self, name, count, timeout=90.0):
        """Waits for `count` RUNNING tasks of the service (and runningCount = count)."""

        def ok():
            s = service(self.ecs, name)
            ts = [t for t in self.service_tasks(name) if t["lastStatus"] == "RUNNING"]
            return ts if s["runningCount"] == count and len(ts) == count else None

        return self.wait(f"service {name} to run {count} tasks", ok, timeout=timeout)

    def container(self, task_arn, name, timeout=60.0):
        """The inspected Docker container `name` of a task, once it exists. When it never does,
        the failure says what the task became and which of its containers Docker has, so a
        failed create or a launch that never came can be told apart."""
        try:
            return self.wait(
                f"container {name} of task {task_id(task_arn)} in Docker",
                lambda: task_containers(task_arn).get(name),
                timeout=timeout,
            )
        except AssertionError as e:
            try:
                tasks = describe_tasks(self.ecs, [task_arn])
                seen = [{k: t.get(k) for k in ("lastStatus", "desiredStatus", "stopCode", "stoppedReason")}
                        | {"containers": [{k: c.get(k) for k in ("name", "lastStatus", "reason", "runtimeId")}
                                          for c in t.get("containers", [])]} for t in tasks]
            except Exception as d:  # noqa: BLE001 - the server may be the thing that broke
                seen = f"DescribeTasks failed: {d}"
            states = {n: c.get("State", {}).get("Status") for n, c in task_containers(task_arn).items()}
            raise AssertionError(f"{e}\n--- the task as ECS describes it: {seen}\n"
                                 f"--- its containers in Docker (any state): {states}") from None

    def log_events(self, group, stream):
        try:
            out = self.cli("logs", "get-log-events", "--log-group-name", group, "--log-stream-name", stream,
                           "--start-from-head")
        except Exception as e:  # noqa: BLE001 - the stream may not exist yet
            if "ResourceNotFoundException" in str(e):
                return []
            raise
        return [e["message"] for e in out["events"]]

    def wait_log_lines(self, group, stream, predicate, what, timeout=60.0):
        return self.wait(what, lambda: (lambda ms: ms if predicate(ms) else None)(self.log_events(group, stream)),
                         timeout=timeout, interval=0.5)

    # -- cleanup ---------------------------------------------------------------------------------

    def learn(self):
        """Records the task ids the server knows and the Berth instance ids on their containers
        (and the one Berth keeps in its data directory, when it is there)."""
        try:
            inst = (Path(self.data_dir) / "instance-id").read_text().strip()
            if inst:
                self.instances.add(inst)
        except OSError:
            pass
        if self.proc.alive():
            try:
                for cluster in self.ecs.list_clusters()["clusterArns"]:
                    for desired in ("RUNNING", "STOPPED"):
                        for page in self.ecs.get_paginator("list_tasks").paginate(cluster=cluster,
                                                                                  desiredStatus=desired):
                            self.task_ids.update(task_id(a) for a in page["taskArns"])
            except Exception:  # noqa: BLE001 - cleanup is best effort
                pass
        rows = docker("ps", "-a", "--no-trunc", "--filter", "label=dev.berth.task-id", "--format",
                      '{{.ID}}\t{{.Label "dev.berth.task-id"}}\t{{.Label "dev.berth.instance"}}', check=False)
        for line in rows.splitlines():
            parts = line.split("\t")
            if len(parts) == 3 and parts[1] in self.task_ids and parts[2]:
                self.instances.add(parts[2])

    def instance_id(self, timeout=60.0):
        """The `dev.berth.instance` label of this Berth's containers (there must be some)."""

        def labelled():
            self.learn()
            rows = docker("ps", "-a", "--filter", "label=dev.berth.task-id", "--format",
                          '{{.Label "dev.berth.task-id"}}\t{{.Label "dev.berth.instance"}}', check=False)
            return {inst for tid, _, inst in (r.partition("\t") for r in rows.splitlines()) if tid in self.task_ids}

        found = self.wait("a container labelled with this Berth's instance id", labelled, timeout=timeout)
        assert len(found) == 1, f"more than one Berth instance id on this test's containers: {found}"
        return next(iter(found))

    def close(self):
        self.learn()
        self.proc.stop()
        self.learn()
        ids = set()
        for inst in self.instances:
            ids.update(ps(f"label=dev.berth.instance={inst}"))
        if ids:
            docker("rm", "-f", "-v", *sorted(ids), check=False, timeout=180)


@pytest.fixture()
def berth(procs, request):
    """A factory: `berth(*extra_args)` starts a Berth with the Docker runtime for this test."""
    if docker("image", "inspect", IMAGE, check=False).strip() in ("", "[]"):
        pytest.fail(f"the test image {IMAGE} is missing: run scripts/docker-setup.sh")
    started = []
    base = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name).strip("-")[:60]

    def start(*args):
        b = DockerBerth(procs, f"{base}-{len(started)}", *args)
        started.append(b)
        return b

    yield start
    for b in started:
        b.close()


# ---------------------------------------------------------------------------------------------
# Task definitions
# ---------------------------------------------------------------------------------------------


def ctr(name="main", command=None, essential=True, image=IMAGE, **extra):
    """A container of the test image. `stopTimeout` 2 unless given: `sleep` and `httpd` run as
    PID 1, which ignores SIGTERM, so every stop would otherwise wait ECS's default 30 s."""
    c = {"name": name, "image": image, "cpu": 32, "memory": 64, "essential": essential, "stopTimeout": 2}
    if command is not None:
        c["command"] = command
    c.update(extra)
    return c


def awslogs(group, prefix="app"):
    return {
        "logDriver": "awslogs",
        "options": {
            "awslogs-group": group,
            "awslogs-region": REGION,
            "awslogs-stream-prefix": prefix,
            "awslogs-create-group": "true",
        },
    }


HTTPD = ["httpd", "-f", "-p", "8080", "-h", "/www"]
SLEEP = ["sleep", "300"]


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


def test_httpd_service_answers_on_its_network_binding(berth):
    b = berth()
    b.register("web", [ctr("web", HTTPD, portMappings=[{"containerPort": 8080, "hostPort": 0, "protocol": "tcp"}])])
    b.ecs.create_service(serviceName="web", taskDefinition="web:1", desiredCount=1, launchType="EC2")
    [t] = b.wait_service_running("web", 1)
    arn = t["taskArn"]

    def bound():
        c = b.task(arn)["containers"][0]
        return c if c.get("networkBindings") else None

    c = b.wait("networkBindings on the RUNNING task", bound)
    [nb] = c["networkBindings"]
    assert nb["containerPort"] == 8080 and nb["protocol"] == "tcp", nb
    port = nb["hostPort"]
    assert port > 0, nb

    def answers():
        try:
            return http_get(f"http://127.0.0.1:{port}/")
        except (urllib.error.URLError, ConnectionError, OSError):
            return None

    status, body = b.wait(f"httpd to answer on 127.0.0.1:{port}", answers, timeout=20)
    assert status == 200 and "hello from berth" in body, body

    # The container is the one ECS would make: its runtimeId, ECS's labels and name, 127.0.0.1 only.
    d = b.container(arn, "web")
    assert c["runtimeId"] == d["Id"], (c["runtimeId"], d["Id"])
    lb = labels(d)
    assert lb["com.amazonaws.ecs.task-arn"] == arn
    assert lb["com.amazonaws.ecs.container-name"] == "web"
    assert lb["com.amazonaws.ecs.task-definition-family"] == "web"
    assert lb["com.amazonaws.ecs.task-definition-version"] == "1"
    assert lb["com.amazonaws.ecs.cluster"] in ("default", t["clusterArn"]), lb
    assert lb["dev.berth.task-id"] == task_id(arn) and lb["dev.berth.container"] == "web"
    assert re.fullmatch(r"/ecs-web-1-web-[0-9a-f]{20}", d["Name"]), d["Name"]
    published = d["NetworkSettings"]["Ports"]["8080/tcp"]
    assert published and all(p["HostIp"] == "127.0.0.1" for p in published), published
    assert {int(p["HostPort"]) for p in published} == {port}

    # StopTask: the container stops, the task says who stopped it.
    b.ecs.update_service(service="web", desiredCount=0)
    b.ecs.stop_task(task=arn)
    stopped = b.wait_task(arn, "STOPPED")
    assert stopped["stopCode"] in ("UserInitiated", "ServiceSchedulerInitiated"), stopped
    b.wait("the container to stop", lambda: not task_containers(arn, running_only=True))


def test_awsvpc_containers_reach_each_other_on_localhost(berth):
    b = berth()
    client_script = (
        "i=0; while [ $i -lt 100 ]; do wget -qO- http://127.0.0.1:8080/ && exit 0; i=$((i+1)); sleep 0.2; done; exit 1"
    )
    b.register(
        "pair",
        [
            ctr("server", HTTPD, portMappings=[{"containerPort": 8080, "protocol": "tcp"}]),
            ctr("client", ["sh", "-c", client_script], essential=False),
        ],
        networkMode="awsvpc",
    )
    arn = b.run("pair", networkConfiguration=AWSVPC)

    def client_exited():
        c = next(c for c in b.task(arn)["containers"] if c["name"] == "client")
        return c if c.get("exitCode") is not None else None

    c = b.wait("the client container to exit", client_exited, timeout=90)
    assert c["exitCode"] == 0, f"the client could not reach the server on localhost: {c}"
    t = b.task(arn)
    assert t["lastStatus"] == "RUNNING", "a non-essential container's exit leaves the task running"
    # Both containers share one network namespace (the task's, as an ENI would give it).
    cs = task_containers(arn)
    modes = {n: c["HostConfig"]["NetworkMode"] for n, c in cs.items()}
    assert modes["server"] == modes["client"] and modes["server"].startswith("container:"), modes
    # The task's address, where scripts look for it: the ENI attachment's privateIPv4Address
    # (and every container's networkInterfaces) is the namespace's, the pause container's.
    [pause] = inspect([modes["server"].removeprefix("container:")])
    bridge = pause["NetworkSettings"]["Networks"]["bridge"]
    ip = b.cli("ecs", "describe-tasks", "--tasks", arn, "--query",
               "tasks[0].attachments[0].details[?name=='privateIPv4Address'].value | [0]")
    assert ip == bridge["IPAddress"] and ip, (ip, bridge)
    t = b.task(arn)
    [eni] = t["attachments"]
    assert eni["status"] == "ATTACHED" and eni["type"] == "ElasticNetworkInterface", eni
    details = {d["name"]: d["value"] for d in eni["details"]}
    assert details == {
        "subnetId": "subnet-12345678",
        "macAddress": bridge["MacAddress"],
        "privateDnsName": "ip-" + ip.replace(".", "-") + ".ec2.internal",
        "privateIPv4Address": ip,
    }, details
    for c in t["containers"]:
        assert c["networkInterfaces"] == [{"attachmentId": eni["id"], "privateIpv4Address": ip}], c
    b.ecs.stop_task(task=arn)
    stopped = b.wait_task(arn, "STOPPED")
    assert stopped["attachments"] == [{**eni, "status": "DELETED"}], stopped["attachments"]


def test_essential_container_exit_stops_the_task(berth):
    b = berth()
    b.register(
        "exit3",
        [
            ctr("side", SLEEP, essential=False),
            ctr("main", ["sh", "-c", "echo giving up; sleep 1; exit 3"]),
        ],
    )
    arn = b.run("exit3")
    t = b.wait_task(arn, "STOPPED", timeout=90)
    cs = {c["name"]: c for c in t["containers"]}
    assert cs["main"]["exitCode"] == 3, cs["main"]
    assert t["stopCode"] == "EssentialContainerExited", t
    assert t["stoppedReason"] == "Essential container in task exited", t
    # The other container was stopped for it (sleep as PID 1 ignores SIGTERM: SIGKILL after 2 s).
    assert cs["side"]["lastStatus"] == "STOPPED" and cs["side"]["exitCode"] in (137, 143), cs["side"]
    assert not task_containers(arn, running_only=True)
    # What someone debugging the crash does next: the containers stay for the cleanup wait (3 h
    # by default, as the agent keeps them), so the runtimeId the real AWS CLI shows leads to the
    # exited container and its output.
    [cli_task] = b.cli("ecs", "describe-tasks", "--tasks", arn)["tasks"]
    main = next(c for c in cli_task["containers"] if c["name"] == "main")
    state = docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", main["runtimeId"]).strip()
    assert state == "exited 3", state
    logs = subprocess.run(["docker", "logs", main["runtimeId"]], capture_output=True, text=True, timeout=30)
    assert "giving up" in logs.stdout, logs


def test_task_cleanup_wait_zero_removes_a_stopped_tasks_containers_at_once(berth):
    b = berth("--task-cleanup-wait", "0")
    b.register("exit0", [ctr("main", ["sh", "-c", "exit 0"])])
    arn = b.run("exit0")
    t = b.wait_task(arn, "STOPPED", timeout=90)
    assert t["stopCode"] == "EssentialContainerExited", t
    b.wait("the stopped task's container to be removed", lambda: not task_containers(arn), timeout=15)


def test_depends_on_success_orders_starts(berth):
    b = berth()
    b.register(
        "order",
        [
            ctr("a", ["sh", "-c", "sleep 1; exit 0"], essential=False),
            ctr("b", SLEEP, dependsOn=[{"containerName": "a", "condition": "SUCCESS"}]),
        ],
    )
    arn = b.run("order")
    b.wait_task(arn, "RUNNING", timeout=90)
    cs = task_containers(arn)
    a_done = docker_time(cs["a"]["State"]["FinishedAt"])
    b_start = docker_time(cs["b"]["State"]["StartedAt"])
    assert a_done and b_start, (cs["a"]["State"], cs["b"]["State"])
    assert b_start > a_done, f"b started at {b_start}, before a finished at {a_done}"
    t = b.task(arn)
    a = next(c for c in t["containers"] if c["name"] == "a")
    assert a["exitCode"] == 0 and a["lastStatus"] == "STOPPED", a
    b.ecs.stop_task(task=arn)
    b.wait_task(arn, "STOPPED")


def test_depends_on_healthy_waits_for_the_health_check(berth):
    b = berth()
    b.register(
        "healthy",
        [
            ctr(
                "a",
                ["sh", "-c", "sleep 2; touch /tmp/ready; sleep 300"],
                healthCheck={"command": ["CMD-SHELL", "test -f /tmp/ready"], "interval": 5, "timeout": 2, "retries": 3},
            ),
            ctr("b", SLEEP, dependsOn=[{"containerName": "a", "condition": "HEALTHY"}]),
        ],
    )
    arn = b.run("healthy")
    b.wait_task(arn, "RUNNING", timeout=90)
    cs = task_containers(arn)
    health = cs["a"]["State"].get("Health") or {}
    ok = [docker_time(h["End"]) for h in health.get("Log", []) if h["ExitCode"] == 0]
    assert health.get("Status") == "healthy" and ok, health
    b_start = docker_time(cs["b"]["State"]["StartedAt"])
    assert b_start > min(ok), f"b started at {b_start}, before a's first passing health check ended at {min(ok)}"
    a = next(c for c in b.task(arn)["containers"] if c["name"] == "a")
    assert a.get("healthStatus") == "HEALTHY", a
    b.ecs.stop_task(task=arn)
    b.wait_task(arn, "STOPPED", timeout=90)


def test_failing_health_check_replaced_by_the_service(berth):
    b = berth()
    b.register(
        "sick",
        [ctr("main", SLEEP,
             healthCheck={"command": ["CMD-SHELL", "exit 1"], "interval": 5, "timeout": 2, "retries": 1})],
    )
    b.ecs.create_service(serviceName="sick", taskDefinition="sick", desiredCount=1, launchType="EC2")
    [first] = b.wait_service_running("sick", 1)
    first_arn = first["taskArn"]

    def replaced():
        old = b.task(first_arn)
        new = [t for t in b.service_tasks("sick") if t["taskArn"] != first_arn]
        return (old, new) if old["lastStatus"] == "STOPPED" and new else None

    old, new = b.wait("the unhealthy task to be stopped and replaced", replaced, timeout=120)
    assert old["healthStatus"] == "UNHEALTHY", old
    assert old["stopCode"] == "ServiceSchedulerInitiated", old
    assert "health" in old.get("stoppedReason", "").lower(), old
    assert new[0]["taskArn"] != first_arn


def test_circuit_breaker_rolls_back_a_crashing_revision(berth):
    b = berth()
    b.register("crash", [ctr("main", SLEEP)])
    b.ecs.create_service(
        serviceName="crash",
        taskDefinition="crash:1",
        desiredCount=2,
        launchType="EC2",
        deploymentConfiguration={
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
            "deploymentCircuitBreaker": {"enable": True, "rollback": True},
        },
    )

    def settled():
        s = service(b.ecs, "crash")
        ds = s["deployments"]
        return s if len(ds) == 1 and ds[0]["rolloutState"] == "COMPLETED" and s["runningCount"] == 2 else None

    b.wait("the first deployment to complete", settled, timeout=180, interval=1)
    b.register("crash", [ctr("main", ["sh", "-c", "sleep 1; exit 1"], image=IMAGE_2)])
    updated = b.ecs.update_service(service="crash", taskDefinition="crash:2")["service"]
    failed_id = next(d["id"] for d in updated["deployments"] if d["status"] == "PRIMARY")

    def rolled_back():
        s = service(b.ecs, "crash")
        ds = s["deployments"]
        done = len(ds) == 1 and ds[0]["rolloutState"] == "COMPLETED" and ds[0]["id"] != failed_id
        return s if done and s["runningCount"] == 2 else None

    s = b.wait("the circuit breaker to roll back to crash:1", rolled_back, timeout=420, interval=1)
    [d] = s["deployments"]
    assert d["taskDefinition"].endswith("crash:1") and s["taskDefinition"].endswith("crash:1"), s
    messages = [e["message"] for e in s["events"]]
    assert any("rolling back" in m for m in messages), messages
    # Real crashes tripped it (the failed deployment's tasks still starting when it tripped are
    # stopped by the scheduler instead).
    mine = [t for t in b.service_tasks("crash", desired="STOPPED") if t["startedBy"] == failed_id]
    crashed = [t for t in mine if t["stopCode"] == "EssentialContainerExited"]
    assert len(crashed) >= 3, [(t["stopCode"], t.get("stoppedReason")) for t in mine]
    for t in crashed:
        assert t["containers"][0].get("exitCode") == 1, t["containers"]
    assert {t["stopCode"] for t in mine} <= {"EssentialContainerExited", "ServiceSchedulerInitiated"}, mine
    running = b.service_tasks("crash")
    assert len(running) == 2 and all(t["taskDefinitionArn"].endswith("crash:1") for t in running)


def test_awslogs_output_reaches_get_log_events(berth):
    b = berth()
    group = "/berth/test-logs"
    script = "echo line-one; echo line-two >&2; echo line-three"
    b.register("logs", [ctr("main", ["sh", "-c", script], logConfiguration=awslogs(group))])
    arn = b.run("logs")
    b.wait_task(arn, "STOPPED", timeout=90)
    stream = f"app/main/{task_id(arn)}"
    want = {"line-one", "line-two", "line-three"}
    ms = b.wait_log_lines(group, stream, lambda ms: want <= set(ms), f"{sorted(want)} in {group} {stream}")
    assert ms.index("line-one") < ms.index("line-three"), ms
    streams = b.cli("logs", "describe-log-streams", "--log-group-name", group)["logStreams"]
    assert stream in [s["logStreamName"] for s in streams]


def test_secret_from_secrets_manager_in_the_environment(berth):
    b = berth()
    arn = b.cli("secretsmanager", "create-secret", "--name", "berth/test/db-password",
                "--secret-string", "s3cr3t-from-sm")["ARN"]
    group = "/berth/test-secrets"
    b.register(
        "secret",
        [ctr("main", ["sh", "-c", 'echo "S=$MY_SECRET"'], logConfiguration=awslogs(group),
             secrets=[{"name": "MY_SECRET", "valueFrom": arn}])],
        executionRoleArn=EXECUTION_ROLE,
    )
    task = b.run("secret")
    t = b.wait_task(task, "STOPPED", timeout=90)
    assert t["containers"][0].get("exitCode") == 0, t
    b.wait_log_lines(group, f"app/main/{task_id(task)}", lambda ms: "S=s3cr3t-from-sm" in ms,
                     "the secret's value in the container's output")


def test_ssm_parameter_in_the_environment(berth):
    b = berth()
    b.cli("ssm", "put-parameter", "--name", "/berth/test/greeting", "--value", "hello-from-ssm", "--type", "String")
    group = "/berth/test-ssm"
    b.register(
        "param",
        [ctr("main", ["sh", "-c", 'echo "P=$GREETING"'], logConfiguration=awslogs(group),
             secrets=[{"name": "GREETING", "valueFrom": "/berth/test/greeting"}])],
        executionRoleArn=EXECUTION_ROLE,
    )
    task = b.run("param")
    b.wait_task(task, "STOPPED", timeout=90)
    b.wait_log_lines(group, f"app/main/{task_id(task)}", lambda ms: "P=hello-from-ssm" in ms,
                     "the parameter's value in the container's output")


def test_missing_secret_stops_the_task(berth):
    b = berth()
    missing = f"arn:aws:secretsmanager:{REGION}:000000000000:secret:berth/test/nope-AbCdEf"
    b.register(
        "nosecret",
        [ctr("main", SLEEP, secrets=[{"name": "X", "valueFrom": missing}])],
        executionRoleArn=EXECUTION_ROLE,
    )
    task = b.run("nosecret")
    t = b.wait_task(task, "STOPPED", timeout=90)
    assert t["stopCode"] == "TaskFailedToStart", t
    assert "berth/test/nope" in t.get("stoppedReason", ""), t
    assert not task_containers(task, running_only=True)


def test_the_clusters_instances_report_the_engines_docker_version(berth):
    """Under the Docker runtime the cluster's own instances report the engine's version, worded
    as the ECS agent words it."""
    b = berth()
    engine = docker("version", "--format", "{{.Server.Version}}").strip()
    arns = b.ecs.list_container_instances()["containerInstanceArns"]
    got = b.ecs.describe_container_instances(containerInstances=arns)["containerInstances"]
    assert {c["versionInfo"]["dockerVersion"] for c in got} == {f"DockerVersion: {engine}"}


def test_metadata_endpoint_from_inside_a_container(berth):
    b = berth()
    group = "/berth/test-metadata"
    script = (
        'echo "TASK $(wget -qO- "$ECS_CONTAINER_METADATA_URI_V4/task")"; '
        'echo "CONTAINER $(wget -qO- "$ECS_CONTAINER_METADATA_URI_V4")"'
    )
    b.register("meta", [ctr("main", ["sh", "-c", script], logConfiguration=awslogs(group))])
    arn = b.run("meta")
    t = b.wait_task(arn, "STOPPED", timeout=90)
    stream = f"app/main/{task_id(arn)}"

    def both(ms):
        return any(m.startswith("TASK {") for m in ms) and any(m.startswith("CONTAINER {") for m in ms)

    ms = b.wait_log_lines(group, stream, both, "the metadata JSON in the container's output")
    task_json = json.loads(next(m for m in ms if m.startswith("TASK {"))[len("TASK "):])
    container_json = json.loads(next(m for m in ms if m.startswith("CONTAINER {"))[len("CONTAINER "):])
    assert task_json["TaskARN"] == arn, task_json
    assert task_json["Family"] == "meta" and str(task_json["Revision"]) == "1", task_json
    assert [c["Name"] for c in task_json["Containers"]] == ["main"], task_json
    assert container_json["Name"] == "main", container_json
    assert container_json["DockerId"] == t["containers"][0]["runtimeId"], (container_json, t["containers"][0])
    assert container_json["Labels"]["com.amazonaws.ecs.task-arn"] == arn


def test_kill_9_of_berth_readopts_the_containers(berth):
    b = berth()
    b.register("keep", [ctr("main", SLEEP)])
    b.ecs.create_service(serviceName="keep", taskDefinition="keep", desiredCount=2, launchType="EC2")
    before = sorted(t["taskArn"] for t in b.wait_service_running("keep", 2))
    inst = b.instance_id()
    running = sorted(ps(f"label=dev.berth.instance={inst}", "label=dev.berth.role=container", running_only=True))
    assert len(running) == 2, running

    b.kill()
    # The containers outlive Berth (as they outlive the ECS agent).
    assert sorted(ps(f"label=dev.berth.instance={inst}", "label=dev.berth.role=container",
                     running_only=True)) == running
    b.restart()
    after = sorted(t["taskArn"] for t in b.wait_service_running("keep", 2))
    assert after == before, "the same tasks, re-adopted"
    assert b.instance_id() == inst, "the instance id belongs to the data directory"

    # For a while after the restart: the same two containers, nothing new created or running.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        now_all = sorted(ps(f"label=dev.berth.instance={inst}", "label=dev.berth.role=container"))
        now_running = sorted(ps(f"label=dev.berth.instance={inst}", "label=dev.berth.role=container",
                                running_only=True))
        assert now_running == running and now_all == running, (running, now_running, now_all)
        s = service(b.ecs, "keep")
        assert s["runningCount"] == 2 and s["pendingCount"] == 0, s
        time.sleep(1)
    for t in describe_tasks(b.ecs, after):
        assert t["containers"][0]["runtimeId"] in running, t["containers"][0]


def test_dockerd_restart_stops_the_tasks_and_the_service_converges(berth):
    if os.environ.get("BERTH_SKIP_DOCKERD_RESTART") == "1":
        pytest.skip("BERTH_SKIP_DOCKERD_RESTART=1: not restarting this machine's dockerd")
    pids = dockerd_pids()
    if len(pids) != 1:
        pytest.fail(f"expected one dockerd process to restart, found {pids}")
    b = berth()
    b.register("survive", [ctr("main", SLEEP)])
    b.ecs.create_service(serviceName="survive", taskDefinition="survive", desiredCount=2, launchType="EC2")
    before = {t["taskArn"] for t in b.wait_service_running("survive", 2)}
    inst = b.instance_id()
    old_containers = set(ps(f"label=dev.berth.instance={inst}", "label=dev.berth.role=container", running_only=True))
    assert len(old_containers) == 2

    # Restart the engine the way scripts/docker-setup.sh starts it; its containers die with it.
    os.kill(pids[0], signal.SIGTERM)
    deadline = time.monotonic() + 90
    while pids[0] in dockerd_pids():
        assert time.monotonic() < deadline, "dockerd did not exit within 90 s of SIGTERM"
        time.sleep(0.2)
    setup = subprocess.run([str(REPO / "scripts" / "docker-setup.sh"), "--no-install", "--no-image"],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert setup.returncode == 0, f"docker-setup.sh could not start dockerd again:\n{setup.stdout}\n{setup.stderr}"

    def old_stopped():
        ts = describe_tasks(b.ecs, sorted(before))
        return ts if all(t["lastStatus"] == "STOPPED" for t in ts) else None

    for t in b.wait("the tasks whose containers died to be STOPPED", old_stopped, timeout=120):
        assert t.get("stoppedReason"), t
    new = {t["taskArn"] for t in b.wait_service_running("survive", 2, timeout=120)}
    assert not new & before, "replacement tasks, not the dead ones"
    new_running = set(ps(f"label=dev.berth.instance={inst}", "label=dev.berth.role=container", running_only=True))
    assert len(new_running) == 2 and not new_running & old_containers, (new_running, old_containers)
    b.wait("the service to be steady", lambda: (lambda s: s if s["runningCount"] == 2 and len(s["deployments"]) == 1
                                                else None)(service(b.ecs, "survive")), timeout=60)


HOST_ACCESS = {
    "privileged": dict(containers=[ctr("main", SLEEP, privileged=True)]),
    "host-path bind mount": dict(
        containers=[ctr("main", SLEEP, mountPoints=[{"sourceVolume": "h", "containerPath": "/host-tmp"}])],
        volumes=[{"name": "h", "host": {"sourcePath": "/tmp"}}],
    ),
    "host network mode": dict(containers=[ctr("main", SLEEP)], networkMode="host"),
    "host PID mode": dict(containers=[ctr("main", SLEEP)], pidMode="host"),
    "added capability": dict(
        containers=[ctr("main", SLEEP, linuxParameters={"capabilities": {"add": ["SYS_ADMIN"]}})]),
}


def _register_host_access(b, family, spec):
    extra = {k: v for k, v in spec.items() if k != "containers"}
    return b.register(family, spec["containers"], **extra)


def test_host_access_refused_without_allow_host_access(berth):
    b = berth()
    for i, (what, spec) in enumerate(HOST_ACCESS.items()):
        family = f"host{i}"
        _register_host_access(b, family, spec)
        with pytest.raises(ClientError) as e:
            b.ecs.run_task(taskDefinition=family, launchType="EC2")
        err = e.value.response["Error"]
        assert err["Code"] in ("InvalidParameterException", "ClientException"), (what, err)
        assert "--allow-host-access" in err.get("Message", ""), (what, err)
    assert not b.ecs.list_tasks()["taskArns"]


def test_host_access_accepted_with_allow_host_access(berth):
    b = berth("--allow-host-access")
    spec = {
        "containers": [ctr("main", SLEEP, linuxParameters={"capabilities": {"add": ["NET_ADMIN"]}},
                           mountPoints=[{"sourceVolume": "h", "containerPath": "/host-tmp", "readOnly": True}])],
        "volumes": [{"name": "h", "host": {"sourcePath": "/tmp"}}],
    }
    _register_host_access(b, "host", spec)
    arn = b.run("host")
    b.wait_task(arn, "RUNNING", timeout=90)
    d = b.container(arn, "main")
    assert "NET_ADMIN" in (d["HostConfig"].get("CapAdd") or []), d["HostConfig"].get("CapAdd")
    mounts = {m["Destination"]: m for m in d["Mounts"]}
    assert mounts["/host-tmp"]["Source"] == "/tmp" and mounts["/host-tmp"]["RW"] is False, d["Mounts"]
    b.ecs.stop_task(task=arn)
    t = b.wait_task(arn, "STOPPED")
    assert t["stopCode"] == "UserInitiated" and t["stoppedReason"] == "Task stopped by user", t

    # A privileged task is accepted and its container created privileged. Whether it can start
    # depends on the machine: an unprivileged engine, e.g. inside a virtual machine's container,
    # cannot apply the capabilities, the task stops with CannotStartContainerError; its
    # container stays for the cleanup wait, but the poll below accepts the task's own error too.
    # The engine's own error is then the evidence: the same image and command start
    # unprivileged (the task above).
    _register_host_access(b, "priv", HOST_ACCESS["privileged"])
    arn = b.run("priv")

    def created_privileged_or_refused_caps():
        d = task_containers(arn).get("main")
        if d is not None:
            return ("created", d)
        t = describe_tasks(b.ecs, [arn])[0]
        reason = (t.get("containers") or [{}])[0].get("reason", "")
        if t["lastStatus"] == "STOPPED" and "unable to apply caps" in reason:
            return ("refused", t)
        return None

    how, seen = b.wait("the privileged container in Docker, or the engine refusing its capabilities",
                       created_privileged_or_refused_caps, timeout=90, interval=0.05)
    if how == "created":
        assert seen["HostConfig"]["Privileged"] is True, seen["HostConfig"]
        b.ecs.stop_task(task=arn)
        b.wait_task(arn, "STOPPED")
    else:
        assert seen["containers"][0]["reason"].startswith("CannotStartContainerError"), seen


def test_missing_image_is_cannot_pull_container_error(berth):
    b = berth()
    b.register("nope", [ctr("main", SLEEP, image="berth-test/nope:1")])
    arn = b.run("nope")
    t = b.wait_task(arn, "STOPPED", timeout=180)
    c = t["containers"][0]
    assert c.get("reason", "").startswith("CannotPullContainerError"), c
    assert t["stopCode"] == "TaskFailedToStart", t
    assert not task_containers(arn, running_only=True)


def test_engine_stats_become_the_task_and_service_metrics(berth):
    """A busy container's CPU, from Docker's stats, is what CloudWatch answers for its task and
    service (the generated series is off with the Docker runtime)."""
    b = berth()
    b.register("busy", [ctr("main", ["sh", "-c", "while :; do :; done"], cpu=256)])
    b.ecs.create_service(serviceName="busy", taskDefinition="busy", desiredCount=1, launchType="EC2")
    [t] = b.wait_service_running("busy", 1)
    tid = task_id(t["taskArn"])
    cw = client("cloudwatch", b.url)
    now = time.time()

    def stat(metric, namespace, dims):
        out = cw.get_metric_statistics(
            Namespace=namespace, MetricName=metric, Dimensions=[{"Name": k, "Value": v} for k, v in dims],
            StartTime=datetime.utcfromtimestamp(now - 600), EndTime=datetime.utcfromtimestamp(time.time() + 120),
            Period=60, Statistics=["Maximum"],
        )
        return [p["Maximum"] for p in out["Datapoints"]]

    task_dims = [("ClusterName", "default"), ("TaskDefinitionFamily", "busy"), ("TaskId", tid)]
    # Sampled every 15 s: a busy loop uses about one CPU (1024 units), far above the 256 reserved.
    units = b.wait("a CpuUtilized sample of the busy task",
                   lambda: (lambda v: v if v else None)(stat("CpuUtilized", "ECS/ContainerInsights", task_dims)),
                   timeout=60, interval=2)
    assert max(units) > 300, units
    pct = stat("CPUUtilization", "AWS/ECS", [("ClusterName", "default"), ("ServiceName", "busy")])
    assert pct and max(pct) > 100, f"percent of the 256 reserved units: {pct}"
    mem = stat("MemoryUtilized", "ECS/ContainerInsights", task_dims)
    assert mem and 0 < max(mem) < 64, mem
    # Nothing generated for minutes before the task ran.
    assert stat("CpuUtilized", "ECS/ContainerInsights", [("ClusterName", "default"), ("TaskDefinitionFamily", "busy"),
                                                         ("TaskId", "0" * 32)]) == []
    b.ecs.update_service(service="busy", desiredCount=0)
