"""The Docker runtime's cost: Berth starting a service's containers against raw `docker run -d`,
and Berth's own memory and CPU while it keeps 200 containers running.

Two experiments, on 127.0.0.1 and the machine's Docker engine, with the test image
`berth-test/busybox:latest` (scripts/docker-setup.sh builds it; nothing is pulled):

`start` (issue 10's goal: Berth ≤ 1.2× raw Docker): in each of `--rounds` rounds, in an order
that rotates from round to round,
  * berth — a fresh `berth serve --runtime docker` (own data directory, already answering, the
    task definition already registered) gets CreateService with desiredCount `--tasks` (20); the
    time is from the CreateService call to DescribeServices' runningCount = 20, polled every
    50 ms with a keep-alive botocore client;
  * docker-seq — `--tasks` × `docker run -d IMAGE sleep 3600`, one after the other, as a user
    (or a script) would type them; the time is from the first call to the last one's return
    (`docker run -d` returns once the container is started);
  * docker-par — the same `docker run -d` calls all at once (one process each).
Every arm's containers are removed (`docker rm -f`) before the next arm starts; each run prints
how busy the machine was meanwhile (cores, from /proc/stat, the arm's own work included) and the
load average. The table gives the median per arm and Berth's ratio to each raw-Docker arm.

`idle`: a fresh `berth serve --runtime docker` with `--instances 4 --instance-cpu 8192
--instance-memory 16384` (room for 200 tasks of 10 CPU units / 16 MiB); Berth's RSS (VmRSS of
/proc/<pid>/status, sampled every second) and CPU time (utime + stime of /proc/<pid>/stat) are
measured over `--idle-seconds` (30) first with no task, then again once a service of
`--containers` (200) `sleep` tasks is RUNNING (after a 5 s settle). dockerd's and containerd's
CPU over the same windows is printed beside it: what Berth's event stream and stats polling cost
the engine.

Usage (from the repository root; .venv from scripts/aws-tests.sh, for botocore):
  scripts/docker-setup.sh
  cargo build --release -p berth
  .venv/bin/python bench/docker.py [--experiment start|idle|both] [--rounds 3] [--tasks 20]
      [--containers 200] [--idle-seconds 30] [--berth-bin target/release/berth] [--json out.json]

Containers are found by label (Berth's `dev.berth.instance`, `dev.berth.bench` for the raw ones)
and removed at the end of each arm, also when the script fails or is interrupted.
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loadgen  # noqa: E402  (bench/loadgen.py: ports, readiness, botocore clients, /proc CPU)

REPO = loadgen.REPO
IMAGE = "berth-test/busybox:latest"
COMMAND = ["sleep", "3600"]
POLL_S = 0.05


# --- machine and processes ---------------------------------------------------------------------


def loadavg():
    return Path("/proc/loadavg").read_text().split()[0]


def busy_seconds():
    """CPU time the whole machine spent busy (all cores), from /proc/stat."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = f[3] + f[4]
    return (sum(f[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def status_field(pid, name):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    return None


def pids_named(comm):
    out = []
    for p in Path("/proc").glob("[0-9]*/comm"):
        try:
            if p.read_text().strip() == comm:
                out.append(int(p.parent.name))
        except OSError:
            pass
    return out


def cpu_of(pids):
    return sum(loadgen.cpu_seconds(p) or 0.0 for p in pids)


# --- docker --------------------------------------------------------------------------------------


def docker(*args, check=True, timeout=300):
    p = subprocess.run(["docker", *args], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise SystemExit(f"docker {' '.join(args[:4])} … exited {p.returncode}: {p.stderr.strip()}")
    return p.stdout


def ids_with_label(label, running_only=False):
    args = ["ps", "-q", "--no-trunc", "--filter", f"label={label}"]
    if not running_only:
        args.insert(1, "-a")
    return docker(*args).split()


def remove(ids):
    for i in range(0, len(ids), 50):
        docker("rm", "-f", "-v", *ids[i : i + 50], check=False)


def berth_instances():
    """{dev.berth.instance: [container ids]} over every Berth-made container of the engine."""
    rows = docker("ps", "-a", "--no-trunc", "--filter", "label=dev.berth.instance", "--format",
                  '{{.ID}}\t{{.Label "dev.berth.instance"}}')
    out = {}
    for line in rows.splitlines():
        cid, inst = line.split("\t")
        out.setdefault(inst, []).append(cid)
    return out


def check_engine():
    if subprocess.run(["docker", "info"], stdin=subprocess.DEVNULL, capture_output=True).returncode != 0:
        raise SystemExit("no Docker engine answers `docker info`: run scripts/docker-setup.sh")
    if subprocess.run(["docker", "image", "inspect", IMAGE], stdin=subprocess.DEVNULL,
                      capture_output=True).returncode != 0:
        raise SystemExit(f"the image {IMAGE} is missing: run scripts/docker-setup.sh")


# --- berth ---------------------------------------------------------------------------------------


class Berth:
    """A `berth serve --runtime docker` on a fresh data directory; `close` removes its containers."""

    def __init__(self, binary, tmp, name, extra=()):
        self.before = set(berth_instances())
        self.instances = set()
        port = loadgen.free_port()
        data = self.data = Path(tmp) / f"{name}-data"
        data.mkdir()
        self.log_path = Path(tmp) / f"{name}.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [binary, "serve", "--runtime", "docker", "--port", str(port), "--data-dir", str(data),
             "--seed", str(random.getrandbits(62)), *extra],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
        )
        self.url = f"http://127.0.0.1:{port}"
        loadgen.wait_ready(self.url + "/", self.proc)
        self.ecs = loadgen.client("ecs", self.url)

    @property
    def pid(self):
        return self.proc.pid

    def register(self, cpu, memory):
        self.ecs.register_task_definition(
            family="bench",
            networkMode="bridge",
            containerDefinitions=[{"name": "app", "image": IMAGE, "command": COMMAND, "cpu": cpu,
                                   "memory": memory, "essential": True, "stopTimeout": 2}],
        )

    def running_count(self, name):
        return self.ecs.describe_services(cluster="default", services=[name])["services"][0]["runningCount"]

    def wait_running(self, name, count, timeout):
        deadline = time.monotonic() + timeout
        while True:
            if self.running_count(name) >= count:
                return time.perf_counter()
            if self.proc.poll() is not None:
                raise SystemExit(f"berth exited with {self.proc.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise SystemExit(f"service {name}: runningCount {self.running_count(name)} < {count} after "
                                 f"{timeout:.0f} s\n{self.log_tail()}")
            time.sleep(POLL_S)

    def log_tail(self, n=30):
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def learn(self):
        """The instance ids on the containers of this Berth's tasks (its seed is its own, so its
        task ARNs are too), leaving out instances that existed before it started."""
        arns = set()
        for desired in ("RUNNING", "STOPPED"):
            for page in self.ecs.get_paginator("list_tasks").paginate(cluster="default", desiredStatus=desired):
                arns.update(page["taskArns"])
        rows = docker("ps", "-a", "--no-trunc", "--filter", "label=dev.berth.instance", "--format",
                      '{{.Label "com.amazonaws.ecs.task-arn"}}\t{{.Label "dev.berth.instance"}}')
        for line in rows.splitlines():
            arn, inst = line.split("\t")
            if arn in arns and inst not in self.before:
                self.instances.add(inst)

    def close(self):
        try:
            self.instances.add((self.data / "instance-id").read_text().strip())  # where Berth keeps it
        except OSError:
            pass
        self.instances.discard("")
        try:
            if self.proc.poll() is None:
                self.learn()
        finally:
            loadgen.stop(self.proc)
            self.log.close()
            found = berth_instances()
            remove([c for inst in self.instances for c in found.get(inst, [])])


# --- experiment: start -------------------------------------------------------------------------


def arm_berth(args, tmp, n):
    b = Berth(args.berth_bin, tmp, f"start-{n}")
    try:
        b.register(cpu=10, memory=32)
        t0 = time.perf_counter()
        b.ecs.create_service(cluster="default", serviceName="bench", taskDefinition="bench", desiredCount=args.tasks,
                             launchType="EC2")
        t1 = b.wait_running("bench", args.tasks, timeout=300)
        return t1 - t0
    finally:
        b.close()


def arm_docker(args, parallel):
    token = uuid.uuid4().hex
    cmd = ["docker", "run", "-d", "--label", f"dev.berth.bench={token}", IMAGE, *COMMAND]
    try:
        t0 = time.perf_counter()
        if parallel:
            ps = [subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                  for _ in range(args.tasks)]
            for p in ps:
                _, err = p.communicate(timeout=300)
                if p.returncode != 0:
                    raise SystemExit(f"docker run exited {p.returncode}: {err.decode(errors='replace')}")
        else:
            for _ in range(args.tasks):
                subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True, timeout=300)
        t1 = time.perf_counter()
        running = ids_with_label(f"dev.berth.bench={token}", running_only=True)
        assert len(running) == args.tasks, f"{len(running)} of {args.tasks} raw containers running"
        return t1 - t0
    finally:
        remove(ids_with_label(f"dev.berth.bench={token}"))


def experiment_start(args, tmp):
    arms = {
        "berth": lambda n: arm_berth(args, tmp, n),
        "docker-seq": lambda n: arm_docker(args, parallel=False),
        "docker-par": lambda n: arm_docker(args, parallel=True),
    }
    names = list(arms)
    times = {k: [] for k in names}
    runs = []
    for r in range(args.rounds):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            busy0, wall0 = busy_seconds(), time.perf_counter()
            t = arms[name](r)
            other = (busy_seconds() - busy0) / (time.perf_counter() - wall0)
            times[name].append(t)
            runs.append({"round": r + 1, "arm": name, "seconds": t, "machine_busy_cores": other,
                         "loadavg": loadavg()})
            print(f"round {r + 1}: {name:<10} {t:7.3f} s   (machine busy {other:.2f} cores, load {loadavg()})",
                  flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\n### {args.tasks} containers started: CreateService → runningCount {args.tasks} vs `docker run -d`\n")
    print("| arm | median | min | max | rounds |")
    print("|---|---:|---:|---:|---:|")
    for k in names:
        v = times[k]
        print(f"| {k} | {med[k]:.2f} s | {min(v):.2f} s | {max(v):.2f} s | {len(v)} |")
    print()
    print("| ratio | median | per round |")
    print("|---|---:|---|")
    for raw in ("docker-seq", "docker-par"):
        per = ", ".join(f"{b / d:.2f}" for b, d in zip(times["berth"], times[raw]))
        print(f"| berth / {raw} | **{med['berth'] / med[raw]:.2f}×** | {per} |")
    return {"times": times, "median": med, "runs": runs}


# --- experiment: idle --------------------------------------------------------------------------


def sample_window(pid, seconds):
    """RSS every second and CPU time over `seconds`, for Berth, dockerd and containerd."""
    engine = {"dockerd": pids_named("dockerd"), "containerd": pids_named("containerd")}
    shims = pids_named("containerd-shim-runc-v2") + pids_named("containerd-shim")
    cpu0 = loadgen.cpu_seconds(pid)
    eng0 = {k: cpu_of(v) for k, v in engine.items()}
    shim0 = cpu_of(shims)
    busy0 = busy_seconds()
    t0 = time.monotonic()
    rss = []
    while time.monotonic() - t0 < seconds:
        rss.append(rss_kib(pid))
        time.sleep(1.0)
    wall = time.monotonic() - t0
    return {
        "seconds": wall,
        "rss_mib": [x / 1024 for x in rss],
        "hwm_mib": int(status_field(pid, "VmHWM").split()[0]) / 1024,
        "threads": int(status_field(pid, "Threads")),
        "cpu_s": loadgen.cpu_seconds(pid) - cpu0,
        "engine_cpu_s": {k: cpu_of(v) - eng0[k] for k, v in engine.items()},
        "shims": len(shims),
        "shim_cpu_s": cpu_of(shims) - shim0,
        "machine_busy_cores": (busy_seconds() - busy0) / wall,
    }


def experiment_idle(args, tmp):
    extra = ["--instances", "4", "--instance-cpu", "8192", "--instance-memory", "16384"]
    b = Berth(args.berth_bin, tmp, "idle", extra)
    try:
        b.register(cpu=10, memory=16)
        print(f"idle: sampling berth with no task for {args.idle_seconds} s", flush=True)
        empty = sample_window(b.pid, args.idle_seconds)
        t0 = time.perf_counter()
        b.ecs.create_service(cluster="default", serviceName="idle", taskDefinition="bench",
                             desiredCount=args.containers, launchType="EC2")
        t1 = b.wait_running("idle", args.containers, timeout=args.start_timeout)
        print(f"idle: {args.containers} tasks RUNNING after {t1 - t0:.1f} s; settling 5 s", flush=True)
        time.sleep(5)
        print(f"idle: sampling berth with {args.containers} running containers for {args.idle_seconds} s", flush=True)
        full = sample_window(b.pid, args.idle_seconds)
        still = b.running_count("idle")
    finally:
        b.close()

    print(f"\n### Berth idle with {args.containers} running containers ({args.idle_seconds} s windows)\n")
    print("| window | Berth RSS (mean / max) | Berth peak RSS (VmHWM) | Berth CPU | Berth threads | dockerd CPU | "
          "containerd CPU | shims (count, CPU) | machine busy |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, w in (("no tasks", empty), (f"{args.containers} running", full)):
        pct = lambda s: f"{100 * s / w['seconds']:.2f} %"  # noqa: E731  (% of one core)
        print(f"| {label} | {statistics.mean(w['rss_mib']):.1f} / {max(w['rss_mib']):.1f} MiB | "
              f"{w['hwm_mib']:.1f} MiB | {w['cpu_s']:.2f} s ({pct(w['cpu_s'])}) | {w['threads']} | "
              f"{pct(w['engine_cpu_s']['dockerd'])} | {pct(w['engine_cpu_s']['containerd'])} | "
              f"{w['shims']}, {pct(w['shim_cpu_s'])} | {w['machine_busy_cores']:.2f} cores |")
    print(f"\nCPU percentages are of one core over the window; runningCount at the end: {still}; "
          f"{args.containers} tasks reached RUNNING in {t1 - t0:.1f} s.")
    return {"empty": empty, "full": full, "start_seconds": t1 - t0, "running_at_end": still}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--experiment", choices=["start", "idle", "both"], default="both")
    ap.add_argument("--berth-bin", default=str(REPO / "target" / "release" / "berth"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tasks", type=int, default=20)
    ap.add_argument("--containers", type=int, default=200)
    ap.add_argument("--idle-seconds", type=int, default=30)
    ap.add_argument("--start-timeout", type=float, default=900.0, help="for the idle experiment's service")
    ap.add_argument("--json")
    args = ap.parse_args()
    if not os.access(args.berth_bin, os.X_OK):
        raise SystemExit(f"{args.berth_bin} not found: cargo build --release -p berth")
    check_engine()
    print(f"berth {args.berth_bin}; docker {docker('version', '--format', '{{.Server.Version}}').strip()}; "
          f"nproc {os.cpu_count()}; load {loadavg()}", flush=True)
    out = {}
    with tempfile.TemporaryDirectory(prefix="berth-bench-docker-") as tmp:
        if args.experiment in ("start", "both"):
            out["start"] = experiment_start(args, tmp)
        if args.experiment in ("idle", "both"):
            out["idle"] = experiment_idle(args, tmp)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
