"""Load generator: the same boto3-shaped ECS request mix against `berth serve` and moto's server.

Both servers run on 127.0.0.1 in the same run, are seeded the same way and are driven by the same
generator (same threads, same seeded choice of operations, same request bodies), one after the
other, and the results are printed as a table and as ratios berth/moto.

Setup, identical on both:
  * cluster `default` with 100 container instances of 8192 CPU units / 32768 MiB (berth: the
    `--instances` flags; moto: 100 EC2 instances from moto's EC2, each registered with
    RegisterContainerInstance, as bench/moto_placement.py does);
  * task definition `bench` (one container, 1 CPU unit, 6 MiB, so RunTask always finds room);
  * service `bench-svc` (desiredCount 10) and 99 more services (`bench-svc-1` …), so
    DescribeServices has 10 to describe;
  * 1,000 tasks: 100 RunTask calls of count 10 (startedBy `seed`).

Request mix (weights, per request, drawn from a seeded random source per worker):
  DescribeServices (10 services) ........ 30
  ListTasks (one page, maxResults 100) .. 25
  DescribeTasks (100 seeded tasks) ...... 25
  RunTask (count 10) .................... 10
  RegisterTaskDefinition ................ 10
Reads dominate, as they do for dashboards, CI pipelines polling deployments and SDK waiters.
Note: moto's ListTasks ignores maxResults and returns every task in one page; that is moto's
behaviour and is part of what is measured.

Each worker thread has its own pre-built raw botocore client (no retries, keep-alive), calls
until the deadline, and records client-side latency (time.perf_counter around the call,
serialisation and parsing included). The client is Python under the GIL, so on a small machine it
can be the bottleneck for the faster server: berth's numbers are a lower bound. `--processes P`
runs P client processes of `--threads` threads each (on a machine with cores to spare for them).

Usage (from the repository root, after scripts/aws-tests.sh created .venv):
  cargo build --release -p berth
  .venv/bin/python bench/loadgen.py [--berth-bin target/release/berth] [--threads 8]
      [--processes 1] [--duration 20] [--warmup 2] [--json out.json] [--only berth|moto]

`--client rust` drives the same mix from `berth-loadgen` (crates/loadgen: tokio + hyper, keep-alive
connections, the same HTTP requests botocore sends) instead of botocore, so the client is not the
bottleneck; this script still starts, seeds and stops both servers:
  cargo build --release -p berth -p berth-loadgen
  .venv/bin/python bench/loadgen.py --client rust [--concurrency 32] [--client-threads 1]
      [--floor] [--weights 30,25,25,0,0] [--writers 4]
`--weights` draws the five actions with other weights (the reads alone, above), on every target.
`--writers N` gives the writes N connections of their own and the reads the rest, on every target
(berth-loadgen's docs say why).

`--seed-only URL [--moto] [--seed-out ctx.json]` only seeds a running server (`--moto`: create
moto's EC2 instances and register them first) and writes the services and tasks to describe, the
file `berth-loadgen --seed-file` reads.
"""

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import botocore.config
import botocore.session
from botocore.exceptions import ClientError

REPO = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
INSTANCES = 100
# m5.2xlarge-sized: at berth's rate (6,000 tasks/s from RunTask) 100 instances of 2048 CPU units /
# 8192 MiB filled up within a run (RESOURCE:MEMORY failures); these hold 540,000 tasks.
INSTANCE_TYPE = "m5.2xlarge"
INSTANCE_CPU = 8192
INSTANCE_MEMORY = 32768
SEED_TASKS = 1000
SERVICES = 100
MIX = [
    ("DescribeServices", 30),
    ("ListTasks", 25),
    ("DescribeTasks", 25),
    ("RunTask", 10),
    ("RegisterTaskDefinition", 10),
]
CONTAINER = {"name": "app", "image": "nginx:1.27", "cpu": 1, "memory": 6, "essential": True}
MAX_DURATION = 120.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url, proc, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers, whatever the status
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def client(service, endpoint, pool=4):
    session = botocore.session.get_session()
    return session.create_client(
        service,
        region_name=REGION,
        endpoint_url=endpoint,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=botocore.config.Config(
            retries={"mode": "standard", "max_attempts": 1},
            max_pool_connections=pool,
            connect_timeout=10,
            read_timeout=120,
        ),
    )


# --- servers -----------------------------------------------------------------------------------


def start_berth(binary, tmp):
    port = free_port()
    data = Path(tempfile.mkdtemp(prefix="berth-data-", dir=tmp))
    log = open(Path(tmp) / "berth.log", "wb")
    proc = subprocess.Popen(
        [
            binary, "serve", "--port", str(port), "--data-dir", str(data),
            "--instances", str(INSTANCES), "--instance-cpu", str(INSTANCE_CPU),
            "--instance-memory", str(INSTANCE_MEMORY), "--instance-type", INSTANCE_TYPE,
            "--runtime", "sim",
        ],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "RUST_LOG": "warn"},
    )
    url = f"http://127.0.0.1:{port}"
    wait_ready(url + "/", proc)
    return proc, url


def start_moto(tmp):
    exe = Path(sys.executable).parent / "moto_server"
    exe = str(exe) if exe.exists() else shutil.which("moto_server")
    if not exe:
        raise SystemExit("moto_server not found: install moto[server] (tests/aws/requirements.txt)")
    port = free_port()
    log = open(Path(tmp) / "moto.log", "wb")
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    wait_ready(url + "/moto-api/", proc)
    return proc, url


# --- setup -------------------------------------------------------------------------------------


def seed_moto_instances(endpoint):
    ec2 = client("ec2", endpoint)
    ecs = client("ecs", endpoint)
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ids = [i["InstanceId"] for i in ec2.run_instances(ImageId=ami, MinCount=INSTANCES, MaxCount=INSTANCES, InstanceType=INSTANCE_TYPE)["Instances"]]
    ecs.create_cluster(clusterName="default")
    for iid in ids:
        ecs.register_container_instance(
            cluster="default",
            instanceIdentityDocument=json.dumps({"instanceId": iid}),
            totalResources=[
                {"name": "CPU", "type": "INTEGER", "integerValue": INSTANCE_CPU},
                {"name": "MEMORY", "type": "INTEGER", "integerValue": INSTANCE_MEMORY},
            ],
        )


def seed(endpoint):
    """The common setup; returns what the workers need (service names, 100 task ARNs)."""
    ecs = client("ecs", endpoint)
    n = len(ecs.list_container_instances(cluster="default", maxResults=100)["containerInstanceArns"])
    if n != INSTANCES:
        raise SystemExit(f"{endpoint}: expected {INSTANCES} container instances, found {n}")
    ecs.register_task_definition(family="bench", containerDefinitions=[CONTAINER])
    services = ["bench-svc"] + [f"bench-svc-{i}" for i in range(1, SERVICES)]
    for i, name in enumerate(services):
        ecs.create_service(cluster="default", serviceName=name, taskDefinition="bench", desiredCount=10 if i == 0 else 0)
    tasks = []
    for _ in range(SEED_TASKS // 10):
        resp = ecs.run_task(cluster="default", taskDefinition="bench", count=10, launchType="EC2", startedBy="seed")
        if resp.get("failures"):
            raise SystemExit(f"{endpoint}: seeding RunTask failed: {resp['failures'][:3]}")
        tasks += [t["taskArn"] for t in resp["tasks"]]
    return {"services": services[:10], "tasks": tasks[:100]}


# --- load --------------------------------------------------------------------------------------


def make_call(ecs, op, ctx):
    if op == "DescribeServices":
        return lambda: ecs.describe_services(cluster="default", services=ctx["services"])
    if op == "ListTasks":
        return lambda: ecs.list_tasks(cluster="default", maxResults=100)
    if op == "DescribeTasks":
        return lambda: ecs.describe_tasks(cluster="default", tasks=ctx["tasks"])
    if op == "RunTask":
        return lambda: ecs.run_task(cluster="default", taskDefinition="bench", count=10, launchType="EC2", startedBy="load")
    if op == "RegisterTaskDefinition":
        return lambda: ecs.register_task_definition(family="bench-load", containerDefinitions=[CONTAINER])
    raise ValueError(op)


def check(op, resp):
    """A cheap sanity check that the answer is the real thing (not an empty success)."""
    if op == "DescribeServices":
        return len(resp["services"]) == 10
    if op == "ListTasks":
        return len(resp["taskArns"]) >= 100
    if op == "DescribeTasks":
        return len(resp["tasks"]) == 100
    if op == "RunTask":
        return len(resp["tasks"]) == 10
    if op == "RegisterTaskDefinition":
        return resp["taskDefinition"]["revision"] >= 1
    return True


def load_worker_process(endpoint, ctx, threads, start, end, seed_value, first, out):
    """One client process: `threads` threads with one botocore client each, until `end`.

    `start`/`end` are time.monotonic() instants shared by every process (CLOCK_MONOTONIC is
    system-wide), so all workers measure the same window.
    """
    ops = [op for op, _ in MIX]
    weights = [w for _, w in MIX]
    clients = [client("ecs", endpoint, pool=2) for _ in range(threads)]
    for c in clients:  # open the connections before timing
        c.list_clusters()
    results = [None] * threads
    first_error = {}

    def worker(i):
        rng = random.Random(seed_value * 1000 + first + i)
        calls = {op: make_call(clients[i], op, ctx) for op in ops}
        samples = {op: [] for op in ops}
        errors = {op: 0 for op in ops}
        while time.monotonic() < start - 0.5:
            time.sleep(0.05)
        while True:
            op = rng.choices(ops, weights)[0]
            now = time.monotonic()
            if now >= end:
                break
            t0 = time.perf_counter()
            try:
                resp = calls[op]()
                ok = check(op, resp)
                if not ok:
                    why = f"unexpected answer: {json.dumps(resp, default=str)[:200]}"
            except ClientError as e:
                ok, why = False, f"{e.response['Error'].get('Code')}: {e.response['Error'].get('Message', '')[:160]}"
            t1 = time.perf_counter()
            if now >= start:
                if ok:
                    samples[op].append(t1 - t0)
                else:
                    errors[op] += 1
                    first_error.setdefault(op, why)
        results[i] = (samples, errors)

    ts = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=max(0.0, end - time.monotonic()) + 180)
    if any(r is None for r in results):
        out.put(None)
        return
    merged = ({op: [] for op in ops}, {op: 0 for op in ops}, first_error)
    for samples, errors in results:
        for op in ops:
            merged[0][op].extend(samples[op])
            merged[1][op] += errors[op]
    out.put(merged)


def cpu_seconds(pid):
    """User + system CPU time of a process (Linux /proc), or None where that cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def sleep_until(t):
    while True:
        left = t - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.5))


def run_load(endpoint, ctx, threads, processes, duration, warmup, seed_value, server_pid=None):
    """`processes` client processes x `threads` threads; returns latencies and error counts per op,
    and the server's CPU seconds over the measured window."""
    import multiprocessing as mp

    ops = [op for op, _ in MIX]
    start = time.monotonic() + 3.0 + warmup  # time for the processes to build their clients
    end = start + duration
    cpu = {}

    def sample_cpu():
        if server_pid:
            sleep_until(start)
            cpu["start"] = cpu_seconds(server_pid)
            sleep_until(end)
            cpu["end"] = cpu_seconds(server_pid)

    sampler = threading.Thread(target=sample_cpu, daemon=True)
    sampler.start()
    if processes <= 1:
        import queue

        q = queue.Queue()
        load_worker_process(endpoint, ctx, threads, start, end, seed_value, 0, q)
        parts = [q.get()]
    else:
        mpc = mp.get_context("fork")
        q = mpc.Queue()
        procs = [
            mpc.Process(target=load_worker_process, args=(endpoint, ctx, threads, start, end, seed_value, p * threads, q))
            for p in range(processes)
        ]
        for p in procs:
            p.start()
        parts = [q.get(timeout=duration + warmup + 240) for _ in procs]
        for p in procs:
            p.join(timeout=30)
    samples = {op: [] for op in ops}
    errors = {op: 0 for op in ops}
    for part in parts:
        if part is None:
            raise SystemExit("a worker did not finish (server hung?)")
        for op, why in part[2].items():
            print(f"  first error of {op}: {why}", flush=True)
        for op in ops:
            samples[op] += part[0][op]
            errors[op] += part[1][op]
    sampler.join(timeout=10)
    server_cpu = None
    if cpu.get("start") is not None and cpu.get("end") is not None:
        server_cpu = cpu["end"] - cpu["start"]
    return samples, errors, server_cpu


def pct(values, p):
    if not values:
        return float("nan")
    v = sorted(values)
    k = min(len(v) - 1, max(0, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def r_duration(r):
    return r["requests"] / r["throughput"] if r["throughput"] else float("nan")


def summarise(samples, errors, duration, server_cpu=None):
    every = [x for op in samples for x in samples[op]]
    done = len(every) + sum(errors.values())
    out = {
        "server_cpu_s": server_cpu,
        "server_cpu_ms_per_request": (server_cpu * 1000 / done) if server_cpu is not None and done else None,
        "requests": len(every),
        "errors": sum(errors.values()),
        "throughput": len(every) / duration,
        "p50_ms": pct(every, 50) * 1000,
        "p99_ms": pct(every, 99) * 1000,
        "ops": {},
    }
    for op in samples:
        s = samples[op]
        out["ops"][op] = {
            "requests": len(s),
            "errors": errors[op],
            "throughput": len(s) / duration,
            "p50_ms": pct(s, 50) * 1000,
            "p99_ms": pct(s, 99) * 1000,
        }
    return out


def run_rust_load(name, url, ctx, args, server_pid, tmp):
    """Runs berth-loadgen against a seeded server and returns its report (summarise()'s shape)."""
    seed_file = Path(tmp) / f"{name}-seed.json"
    seed_file.write_text(json.dumps(ctx))
    out = Path(tmp) / f"{name}-result.json"
    cmd = [
        args.loadgen_bin, "--target", url, "--seed-file", str(seed_file), "--label", name,
        "--duration", str(args.duration), "--warmup", str(args.warmup), "--seed", str(args.seed),
        "--concurrency", str(args.concurrency), "--threads", str(args.client_threads),
        "--server-pid", str(server_pid), "--json", str(out),
    ]
    if args.requests:
        cmd += ["--requests", str(args.requests)]
    if args.weights:
        cmd += ["--weights", args.weights]
    if args.writers:
        cmd += ["--writers", str(args.writers)]
    print("  " + " ".join(cmd), flush=True)
    rc = subprocess.run(cmd).returncode
    if rc not in (0, 1):
        raise SystemExit(f"berth-loadgen failed ({rc})")
    r = json.loads(out.read_text())
    nan = float("nan")
    for o in [r] + list(r["ops"].values()):
        for k in ("p50_ms", "p99_ms"):
            if o.get(k) is None:
                o[k] = nan
    return r


def bench_target(name, start, args, prepare=None, tmp=None):
    proc, url = start()
    try:
        t0 = time.perf_counter()
        if prepare:
            prepare(url)
        ctx = seed(url)
        print(f"{name}: seeded in {time.perf_counter() - t0:.1f} s ({url})", flush=True)
        if args.client == "rust":
            r = run_rust_load(name, url, ctx, args, proc.pid, tmp)
            if proc.poll() is not None:
                raise SystemExit(f"{name} exited during the run ({proc.returncode})")
            return r
        samples, errors, server_cpu = run_load(
            url, ctx, args.threads, args.processes, args.duration, args.warmup, args.seed, server_pid=proc.pid
        )
        if proc.poll() is not None:
            raise SystemExit(f"{name} exited during the run ({proc.returncode})")
        return summarise(samples, errors, args.duration, server_cpu)
    finally:
        stop(proc)


def bench_floor(args, tmp):
    """The floor: a seeded berth answers each request of the mix once, `berth-loadgen
    --serve-floor` keeps those bytes and serves them from a bare axum handler; berth is stopped
    before the floor is measured, so the two never share the cores."""
    proc, url = start_berth(args.berth_bin, tmp)
    try:
        ctx = seed(url)
        seed_file = Path(tmp) / "floor-seed.json"
        seed_file.write_text(json.dumps(ctx))
        port = free_port()
        log = open(Path(tmp) / "floor.log", "wb")
        floor = subprocess.Popen(
            [args.loadgen_bin, "--target", url, "--seed-file", str(seed_file), "--serve-floor", str(port)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )
        floor_url = f"http://127.0.0.1:{port}"
        wait_ready(floor_url + "/", floor)
    finally:
        stop(proc)
    try:
        print(f"floor: answers captured from berth, serving them at {floor_url}", flush=True)
        r = run_rust_load("floor", floor_url, ctx, args, floor.pid, tmp)
        if floor.poll() is not None:
            raise SystemExit(f"the floor exited during the run ({floor.returncode})")
        return r
    finally:
        stop(floor)


READS = ("DescribeServices", "ListTasks", "DescribeTasks")


def fmt(x, digits=1):
    return "-" if x != x else f"{x:,.{digits}f}"


def print_table(results):
    print()
    print(f"{'target':8} {'operation':24} {'requests':>9} {'errors':>7} {'req/s':>10} {'p50 ms':>9} {'p99 ms':>9}")
    for name, r in results.items():
        for op, o in r["ops"].items():
            print(f"{name:8} {op:24} {o['requests']:>9} {o['errors']:>7} {fmt(o['throughput']):>10} {fmt(o['p50_ms'], 2):>9} {fmt(o['p99_ms'], 2):>9}")
        print(f"{name:8} {'(all)':24} {r['requests']:>9} {r['errors']:>7} {fmt(r['throughput']):>10} {fmt(r['p50_ms'], 2):>9} {fmt(r['p99_ms'], 2):>9}")
    print()
    print("server CPU over the measured window (client-independent cost per request)")
    for name, r in results.items():
        if r["server_cpu_s"] is not None:
            print(
                f"{name:8} {r['server_cpu_s']:.2f} CPU s = {r['server_cpu_s'] / r_duration(r):.0%} of one core, "
                f"{r['server_cpu_ms_per_request']:.3f} CPU ms per request"
            )
        if r.get("client_cpu_s") is not None:
            print(f"{name:8} client (berth-loadgen) {r['client_cpu_s']:.2f} CPU s = {r['client_cpu_s'] / r_duration(r):.0%} of one core")
    if "berth" in results and "moto" in results:
        b, m = results["berth"], results["moto"]
        print()
        print("ratios berth/moto (throughput: higher is better; latency: lower is better)")
        print(f"{'operation':24} {'throughput':>11} {'p50':>9} {'p99':>9}")
        for op in b["ops"]:
            bo, mo = b["ops"][op], m["ops"][op]
            print(
                f"{op:24} {ratio(bo['throughput'], mo['throughput']):>11} "
                f"{ratio(bo['p50_ms'], mo['p50_ms']):>9} {ratio(bo['p99_ms'], mo['p99_ms']):>9}"
            )
        print(
            f"{'(all)':24} {ratio(b['throughput'], m['throughput']):>11} "
            f"{ratio(b['p50_ms'], m['p50_ms']):>9} {ratio(b['p99_ms'], m['p99_ms']):>9}"
        )
        if b["server_cpu_ms_per_request"] and m["server_cpu_ms_per_request"]:
            print(
                f"server CPU per request: berth/moto = {ratio(b['server_cpu_ms_per_request'], m['server_cpu_ms_per_request'])} "
                f"(moto needs {m['server_cpu_ms_per_request'] / b['server_cpu_ms_per_request']:.0f}x the CPU per request)"
            )
        print(
            f"goal: throughput >= 50x moto -> {'met' if b['throughput'] >= 50 * m['throughput'] else 'NOT met'}; "
            f"p99 <= 1/20 of moto -> {'met' if b['p99_ms'] * 20 <= m['p99_ms'] else 'NOT met'}"
        )
    if "berth" in results and "floor" in results:
        b, f = results["berth"], results["floor"]
        print()
        print("berth against the floor (bare axum handler answering prebuilt bytes, same HTTP stack)")
        for op in b["ops"]:
            print(f"{op:24} {ratio(b['ops'][op]['throughput'], f['ops'][op]['throughput']):>11}")
        br = sum(b["ops"][op]["throughput"] for op in READS)
        fr = sum(f["ops"][op]["throughput"] for op in READS)
        print(f"{'reads':24} {ratio(br, fr):>11}  ({br:,.1f} vs {fr:,.1f} req/s)")
        print(f"goal: read throughput >= 50% of the floor's -> {'met' if br * 2 >= fr else 'NOT met'} ({br / fr:.0%})")


def ratio(a, b):
    if not b or a != a or b != b:
        return "-"
    r = a / b
    return f"{r:.1f}x" if r >= 1 else f"1/{1 / r:.1f}" if r > 0 else "0"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--berth-bin", default=os.environ.get("BERTH_BIN") or str(REPO / "target" / "release" / "berth"))
    ap.add_argument("--threads", type=int, default=8, help="worker threads per client process")
    ap.add_argument("--processes", type=int, default=1, help="client processes (the Python client is GIL-bound)")
    ap.add_argument("--duration", type=float, default=20.0, help="measured seconds per target (max 120)")
    ap.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each measurement")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", choices=["berth", "moto", "floor"])
    ap.add_argument("--floor", action="store_true", help="--client rust: also measure the floor (bare axum, prebuilt answers)")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--client", choices=["python", "rust"], default="python", help="botocore threads, or berth-loadgen")
    ap.add_argument("--loadgen-bin", default=os.environ.get("BERTH_LOADGEN_BIN") or str(REPO / "target" / "release" / "berth-loadgen"))
    ap.add_argument("--concurrency", type=int, default=32, help="--client rust: keep-alive connections")
    ap.add_argument("--client-threads", type=int, default=1, help="--client rust: runtime threads of berth-loadgen")
    ap.add_argument("--requests", type=int, default=0, help="--client rust: stop after this many measured requests")
    ap.add_argument("--weights", help="--client rust: five weights instead of the mix's (DescribeServices, ListTasks, DescribeTasks, RunTask, RegisterTaskDefinition), e.g. 30,25,25,0,0 for the reads alone")
    ap.add_argument("--writers", type=int, default=0, help="--client rust: the first N connections only write (RunTask, RegisterTaskDefinition), the others only read, on every target")
    ap.add_argument("--seed-only", metavar="URL", help="only seed the server at URL and write --seed-out")
    ap.add_argument("--moto", action="store_true", help="--seed-only: the server is moto (create and register EC2 instances)")
    ap.add_argument("--seed-out", help="--seed-only: write the services and tasks to describe here (default: stdout)")
    args = ap.parse_args()
    if args.seed_only:
        if args.moto:
            seed_moto_instances(args.seed_only)
        ctx = json.dumps(seed(args.seed_only))
        if args.seed_out:
            Path(args.seed_out).write_text(ctx)
        else:
            print(ctx)
        return
    if (args.writers or args.weights) and args.client != "rust":
        raise SystemExit("--weights and --writers need --client rust")
    args.duration = min(max(args.duration, 1.0), MAX_DURATION)
    args.warmup = min(max(args.warmup, 0.0), 30.0)
    if args.client == "rust" and not os.access(args.loadgen_bin, os.X_OK):
        raise SystemExit(f"berth-loadgen not found at {args.loadgen_bin} (cargo build --release -p berth-loadgen, or --loadgen-bin)")
    if args.only != "moto" and not os.access(args.berth_bin, os.X_OK):
        raise SystemExit(f"berth binary not found at {args.berth_bin} (cargo build --release -p berth, or --berth-bin)")
    import moto

    client_desc = (
        f"berth-loadgen, {args.concurrency} connections, {args.client_threads} client thread(s)"
        if args.client == "rust"
        else f"{args.processes} process(es) x {args.threads} threads"
    )
    if args.client == "rust" and args.weights:
        client_desc += f", weights {args.weights}"
    if args.client == "rust" and args.writers:
        client_desc += f", {args.writers} connections only write and {args.concurrency - args.writers} only read"
    print(
        f"loadgen: {client_desc} x {args.duration:.0f} s (+{args.warmup:.0f} s warm-up) per target; "
        f"botocore {botocore.__version__}, moto {moto.__version__}, {os.cpu_count()} CPUs; "
        f"mix {', '.join(f'{op} {w}' for op, w in MIX)}",
        flush=True,
    )
    tmp = tempfile.mkdtemp(prefix="berth-loadgen-")
    results = {}
    try:
        if args.only in (None, "berth"):
            results["berth"] = bench_target("berth", lambda: start_berth(args.berth_bin, tmp), args, tmp=tmp)
        if args.only in (None, "moto"):
            results["moto"] = bench_target("moto", lambda: start_moto(tmp), args, prepare=seed_moto_instances, tmp=tmp)
        if args.only == "floor" or (args.floor and args.only is None):
            if args.client != "rust":
                raise SystemExit("--floor needs --client rust")
            results["floor"] = bench_floor(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print_table(results)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"processes": args.processes, "threads": args.threads, "duration_s": args.duration, "mix": dict(MIX), "results": results}, indent=2)
        )


if __name__ == "__main__":
    main()
