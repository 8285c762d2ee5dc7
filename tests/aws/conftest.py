"""Fixtures that drive a real `berth serve` with the real AWS CLI and boto3.

One server is started for the whole session (``target/debug/berth serve``, or ``$BERTH_BIN``) on a
free port of 127.0.0.1 with a fresh temporary data directory; every test starts from a clean
cluster through the test-control API (``POST /_berth/reset``), so tests are independent and can
run in any order.

The default cluster gets ``INSTANCES`` container instances of ``INSTANCE_CPU`` CPU units and
``INSTANCE_MEMORY`` MiB, spread round-robin over three availability zones, each with the custom
attribute ``team=berth``.

Nothing here talks to anything but 127.0.0.1: credentials are dummies, every AWS config file is
pointed at an empty path, and the instance-metadata lookup is disabled.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import botocore.config
import pytest

REPO = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
ACCOUNT = "000000000000"
ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "secret"

INSTANCES = 10
INSTANCE_CPU = 2048
INSTANCE_MEMORY = 4096
AZS = ("us-east-1a", "us-east-1b", "us-east-1c")

READY_TIMEOUT_S = 30.0


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _berth_bin():
    path = os.environ.get("BERTH_BIN") or str(REPO / "target" / "debug" / "berth")
    if not os.access(path, os.X_OK):
        pytest.exit(
            f"berth binary not found at {path}: run `cargo build -p berth` or set BERTH_BIN", returncode=2
        )
    return path


def _isolate_aws_env(tmp):
    """Keeps the CLI and boto3 away from any real AWS configuration of the machine."""
    for k in list(os.environ):
        if k.startswith("AWS_"):
            del os.environ[k]
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": str(Path(tmp) / "aws-config-absent"),
            "AWS_SHARED_CREDENTIALS_FILE": str(Path(tmp) / "aws-credentials-absent"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_PAGER": "",
        }
    )


class Server:
    """A running `berth serve`."""

    def __init__(self, proc, url, data_dir, log_path):
        self.proc = proc
        self.url = url
        self.data_dir = data_dir
        self.log_path = log_path

    def log_tail(self, n=40):
        try:
            lines = Path(self.log_path).read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])


@pytest.fixture(scope="session")
def berth_server():
    tmp = tempfile.mkdtemp(prefix="berth-aws-tests-")
    saved_env = dict(os.environ)
    _isolate_aws_env(tmp)
    data_dir = Path(tmp) / "data"
    data_dir.mkdir()
    log_path = Path(tmp) / "berth.log"
    port = _free_port()
    args = [
        _berth_bin(),
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--instances",
        str(INSTANCES),
        "--instance-cpu",
        str(INSTANCE_CPU),
        "--instance-memory",
        str(INSTANCE_MEMORY),
        "--azs",
        ",".join(AZS),
        "--attribute",
        "team=berth",
    ]
    log = open(log_path, "wb")
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
    url = f"http://127.0.0.1:{port}"
    server = Server(proc, url, data_dir, log_path)
    deadline = time.monotonic() + READY_TIMEOUT_S
    ready = False
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url + "/", timeout=2) as r:
                if r.status == 200:
                    ready = True
                    break
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.1)
    if not ready:
        proc.kill()
        proc.wait(timeout=10)
        log.close()
        pytest.exit(
            f"berth serve did not answer GET / within {READY_TIMEOUT_S:.0f} s "
            f"(exit status {proc.returncode}); its log:\n{server.log_tail()}",
            returncode=3,
        )
    try:
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        log.close()
        os.environ.clear()
        os.environ.update(saved_env)
        if os.environ.get("BERTH_KEEP_TMP"):
            print(f"\nberth test data kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def endpoint(berth_server):
    """The endpoint URL of the running server."""
    return berth_server.url


class Control:
    """The test-control API of the embedded cluster (``POST /_berth/<op>``, JSON in and out)."""

    def __init__(self, url):
        self.url = url

    def _post(self, op, body=None):
        data = json.dumps(body or {}).encode()
        req = urllib.request.Request(
            f"{self.url}/_berth/{op}", data=data, method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise AssertionError(f"/_berth/{op} answered {e.code}: {e.read().decode(errors='replace')}") from e

    def reset(self):
        """Forgets everything: back to the `default` cluster with its configured instances."""
        return self._post("reset")

    def advance(self, seconds):
        """Moves the cluster's clock forward, running one reconciler pass per second."""
        return self._post("advance", {"seconds": int(seconds)})

    def fail_starts(self, count):
        """The next `count` task starts fail (stopCode TaskFailedToStart)."""
        return self._post("fail-starts", {"count": int(count)})

    def crash(self, task, exit_code=1):
        """A running task's essential container exits with `exit_code`."""
        return self._post("crash", {"task": task, "exitCode": int(exit_code)})

    def health(self, task, healthy):
        """A running task reports healthy or unhealthy from now on."""
        return self._post("health", {"task": task, "healthy": bool(healthy)})


@pytest.fixture(scope="session")
def control(berth_server):
    return Control(berth_server.url)


@pytest.fixture(autouse=True)
def _clean_cluster(berth_server):
    """Every test starts from a freshly reset cluster (and fails loudly if the server died)."""
    if berth_server.proc.poll() is not None:
        pytest.fail(f"berth serve exited with {berth_server.proc.returncode}:\n{berth_server.log_tail()}")
    Control(berth_server.url).reset()
    yield
    if berth_server.proc.poll() is not None:
        pytest.fail(f"berth serve exited during the test ({berth_server.proc.returncode}):\n{berth_server.log_tail()}")


def _client_config():
    # No retries: a 5xx or a throttle from the server must show up as a failure, not be hidden.
    return botocore.config.Config(
        region_name=REGION,
        retries={"mode": "standard", "max_attempts": 1},
        connect_timeout=10,
        read_timeout=60,
    )


@pytest.fixture(scope="session")
def ecs(endpoint):
    """A boto3 ECS client pointed at the server."""
    return boto3.session.Session().client(
        "ecs",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=_client_config(),
    )


class CliError(Exception):
    def __init__(self, args, code, stdout, stderr):
        super().__init__(f"aws {' '.join(args)} exited {code}: {stderr.strip()}")
        self.code = code
        self.stdout = stdout
        self.stderr = stderr


class Cli:
    """Runs the real AWS CLI (`aws ecs …`) against the server."""

    def __init__(self, endpoint):
        self.endpoint = endpoint
        exe = Path(sys.executable).parent / "aws"
        self.exe = str(exe) if exe.exists() else shutil.which("aws")
        if not self.exe:
            pytest.fail("the AWS CLI is not installed (scripts/aws-tests.sh installs it into .venv)")

    def env(self, **extra):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
        env.update(
            AWS_ACCESS_KEY_ID=ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=SECRET_KEY,
            AWS_DEFAULT_REGION=REGION,
        )
        env.update(extra)
        return env

    def run(self, *args, endpoint_flag=True, env=None, check=True, timeout=120):
        """`aws ecs ARGS --endpoint-url URL --output json`; returns parsed JSON (or None)."""
        cmd = [self.exe, "ecs", *args, "--output", "json"]
        if endpoint_flag:
            cmd += ["--endpoint-url", self.endpoint]
        p = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env or self.env(),
            timeout=timeout,
            cwd=str(REPO),
        )
        if p.returncode != 0:
            err = CliError(args, p.returncode, p.stdout, p.stderr)
            if check:
                raise err
            return err
        out = p.stdout.strip()
        return json.loads(out) if out else None


@pytest.fixture(scope="session")
def cli(endpoint):
    return Cli(endpoint)


@pytest.fixture()
def instances(ecs):
    """The default cluster's container instances, described (ARN → description)."""
    arns = ecs.list_container_instances(cluster="default")["containerInstanceArns"]
    assert len(arns) == INSTANCES
    described = ecs.describe_container_instances(cluster="default", containerInstances=arns)
    return {ci["containerInstanceArn"]: ci for ci in described["containerInstances"]}
