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
    path = os.path.abspath(os.environ.get("BERTH_BIN") or str(REPO / "target" / "debug" / "berth"))
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


@pytest.fixture(scope="session")
def unchecked(endpoint):
    """A boto3 ECS client without botocore's own parameter validation: it sends what botocore
    would refuse (as other SDKs may), so the server's refusal is what the test sees."""
    return boto3.session.Session().client(
        "ecs",
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=_client_config().merge(botocore.config.Config(parameter_validation=False)),
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


# ---------------------------------------------------------------------------------------------
# Extra processes for the upstream, SigV4 and audit tests (test_upstream.py, test_sigv4.py,
# test_audit.py): more `berth serve`s (upstream mode, SigV4 verification, their own data
# directories) and moto's server as an upstream, each on 127.0.0.1 with a port of its own,
# started by a module-scoped `procs` and killed at the end of the module. Nothing above changes.
# ---------------------------------------------------------------------------------------------

import re  # noqa: E402  (kept next to the code that uses it)

from botocore.auth import SigV4Auth  # noqa: E402
from botocore.awsrequest import AWSRequest  # noqa: E402
from botocore.credentials import Credentials  # noqa: E402

LISTENING_RE = re.compile(r"berth: listening on (http://127\.0\.0\.1:(\d+))")
ECS_TARGET = "AmazonEC2ContainerServiceV20141113"
CLOUDTRAIL_TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101"
INVALID_SIGNATURE_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)
UNRECOGNIZED_CLIENT_MESSAGE = "The security token included in the request is invalid."


def child_env(tmp, access_key=None, secret=None, **extra):
    """An environment for a child process with no AWS configuration but what is given here.

    Every `AWS_*` variable of ours is dropped, the config and credentials files point at absent
    paths (unless `extra` names others), the instance-metadata lookup is off, and the key pair,
    when given, is the only credential the process can find.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=str(Path(tmp) / "aws-config-absent"),
        AWS_SHARED_CREDENTIALS_FILE=str(Path(tmp) / "aws-credentials-absent"),
        AWS_DEFAULT_REGION=REGION,
        AWS_REGION=REGION,
        AWS_PAGER="",
    )
    if access_key is not None:
        env["AWS_ACCESS_KEY_ID"] = access_key
    if secret is not None:
        env["AWS_SECRET_ACCESS_KEY"] = secret
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Proc:
    """A process started by `Procs`: its URL, log and (for berth) data directory."""

    def __init__(self, name, proc, log_path, log, data_dir=None):
        self.name = name
        self.proc = proc
        self.log_path = Path(log_path)
        self._log = log
        self.data_dir = data_dir
        self.url = None
        self.stopped = False

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])

    def alive(self):
        return self.proc.poll() is None

    def check_alive(self):
        """Fails the test if the process died (one stopped on purpose is fine)."""
        if not self.stopped and not self.alive():
            pytest.fail(f"{self.name} exited with {self.proc.returncode}; its log:\n{self.log_tail()}")

    def stop(self):
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if not self._log.closed:
            self._log.close()


class Procs:
    """Starts `berth serve`s and moto servers in one temporary folder; `close` stops them all."""

    def __init__(self, tmp):
        self.tmp = Path(tmp)
        self.started = []

    def _spawn(self, name, args, env):
        log_path = self.tmp / f"{name}.log"
        log = open(log_path, "wb")
        proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=str(self.tmp), env=env
        )
        p = Proc(name, proc, log_path, log)
        self.started.append(p)
        return p

    def berth(self, name, *args, env=None, data_dir=True, ready=True):
        """`berth serve --port 0 [--data-dir DIR] ARGS…`, ready once it prints where it listens.

        `data_dir`: True (a fresh folder named after the process), False (none) or a path.
        `env` defaults to `child_env` with the tests' dummy key pair. `ready=False` returns at
        once (for servers expected to refuse to start).
        """
        cmd = [os.path.abspath(_berth_bin()), "serve", "--port", "0"]
        ddir = None
        if data_dir:
            ddir = Path(data_dir) if not isinstance(data_dir, bool) else self.tmp / f"{name}-data"
            ddir.mkdir(parents=True, exist_ok=True)
            cmd += ["--data-dir", str(ddir)]
        cmd += [str(a) for a in args]
        p = self._spawn(name, cmd, env if env is not None else child_env(self.tmp, ACCESS_KEY, SECRET_KEY))
        p.data_dir = ddir
        if not ready:
            return p
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            m = LISTENING_RE.search(p.log_text())
            if m:
                p.url = m.group(1)
                break
            if not p.alive():
                break
            time.sleep(0.05)
        if p.url is None:
            p.stop()
            pytest.fail(
                f"{name}: `{' '.join(cmd)}` did not print `berth: listening on http://127.0.0.1:PORT` "
                f"within {READY_TIMEOUT_S:.0f} s (exit status {p.proc.returncode}); its log:\n{p.log_tail()}"
            )
        return p

    def moto(self, name):
        """moto's server (`.venv/bin/moto_server`) on a free port, ready once it resets."""
        exe = Path(sys.executable).parent / "moto_server"
        if not exe.exists():
            pytest.fail("moto_server is not installed (scripts/aws-tests.sh installs moto[server] into .venv)")
        port = _free_port()
        p = self._spawn(name, [str(exe), "-H", "127.0.0.1", "-p", str(port)], child_env(self.tmp))
        p.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if not p.alive():
                break
            try:
                moto_reset(p)
                return p
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.1)
        p.stop()
        pytest.fail(f"{name}: moto_server did not answer within {READY_TIMEOUT_S:.0f} s:\n{p.log_tail()}")

    def close(self):
        for p in reversed(self.started):
            p.stop()


def moto_reset(moto):
    """Forgets every resource of a moto server (`POST /moto-api/reset`)."""
    req = urllib.request.Request(moto.url + "/moto-api/reset", data=b"", method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200


@pytest.fixture(scope="module")
def procs(berth_server):
    """Extra processes for one test module (after the session server isolated the AWS env)."""
    tmp = tempfile.mkdtemp(prefix="berth-aws-procs-")
    group = Procs(tmp)
    try:
        yield group
    finally:
        group.close()
        if os.environ.get("BERTH_KEEP_TMP"):
            print(f"\nextra processes' logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def client(service, url, access_key=ACCESS_KEY, secret=SECRET_KEY, region=REGION, **kwargs):
    """A boto3 client for `service` at `url` with the given key pair (no retries)."""
    return boto3.session.Session().client(
        service,
        region_name=region,
        endpoint_url=url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret,
        config=_client_config(),
        **kwargs,
    )


class Raw:
    """One HTTP answer: status, headers (lower-case names) and body bytes."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body

    def json(self):
        return json.loads(self.body or b"{}")

    def __repr__(self):
        return f"Raw({self.status}, {self.headers}, {self.body[:500]!r})"


def raw_call(url, target, body=None, access_key=ACCESS_KEY, secret=SECRET_KEY, signing_name="ecs", region=REGION,
             sign=True, content_type="application/x-amz-json-1.1"):
    """`POST /` with `X-Amz-Target: target`, SigV4-signed by botocore unless `sign` is false.

    Returns a `Raw` for every status (errors included), so bodies can be compared byte for byte.
    """
    data = json.dumps(body or {}).encode()
    headers = {"Content-Type": content_type, "X-Amz-Target": target}
    req = AWSRequest(method="POST", url=url + "/", data=data, headers=headers)
    if sign:
        SigV4Auth(Credentials(access_key, secret), signing_name, region).add_auth(req)
    prepared = req.prepare()
    r = urllib.request.Request(prepared.url, data=data, headers=dict(prepared.headers.items()), method="POST")
    try:
        with urllib.request.urlopen(r, timeout=60) as resp:
            return Raw(resp.status, dict(resp.headers.items()), resp.read())
    except urllib.error.HTTPError as e:
        return Raw(e.code, dict(e.headers.items()), e.read())


def write_credentials_file(path, profiles):
    """Writes a Berth/AWS shared-credentials file: {profile: (access_key_id, secret, role)}."""
    lines = ["# Berth keys for the tests."]
    for profile, (akid, secret, role) in profiles.items():
        lines += [f"[{profile}]", f"aws_access_key_id = {akid}", f"aws_secret_access_key = {secret}"]
        if role is not None:
            lines.append(f"role = {role}")
        lines.append("")
    Path(path).write_text("\n".join(lines))


def read_credentials_file(path):
    """The profiles of a shared-credentials file: {profile: {key: value}}."""
    import configparser

    cp = configparser.RawConfigParser()
    cp.read(path)
    return {s: dict(cp.items(s)) for s in cp.sections()}


def aws_cli(*args, env, check=True, timeout=120, raw=False):
    """Runs `.venv/bin/aws ARGS… --output json` with exactly `env`; JSON out (its text with
    `raw`), or a CliError."""
    exe = Path(sys.executable).parent / "aws"
    exe = str(exe) if exe.exists() else shutil.which("aws")
    if not exe:
        pytest.fail("the AWS CLI is not installed (scripts/aws-tests.sh installs it into .venv)")
    cmd = [exe, *[str(a) for a in args], "--output", "json"]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, timeout=timeout,
                       cwd=str(REPO))
    if p.returncode != 0:
        err = CliError(args, p.returncode, p.stdout, p.stderr)
        if check:
            raise err
        return err
    out = p.stdout.strip()
    if raw:
        return p.stdout
    return json.loads(out) if out else None
