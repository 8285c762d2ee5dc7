"""Upstream proxy overhead and SigV4 verification cost: berth-loadgen, same generator, same run.

Two experiments, each on 127.0.0.1 only, with servers started and killed by this script:

`proxy` (the default): a *back* `berth serve` (the embedded cluster, seeded as bench/loadgen.py
seeds it: 100 instances, 100 services, 1,000 tasks) and a *front* `berth serve --upstream-url
http://127.0.0.1:<back> --no-imds` in front of it (credentials from the environment, as the AWS
chain reads them; `--poll-interval 1h`, so the dashboard's poller stays out of the measured
window after its first round). The generator runs against the back directly and against the
front, alternately (direct, proxy, then proxy, direct, …: `--rounds`), at each `--concurrency`.
Every run starts on a fresh back, seeded the same way (0.7 s), and a fresh front: the mix grows
the cluster by ~1,000 tasks a second at 32 connections and the back's cost moves with its state
(0.81, 0.75, 0.84, 1.13 ms of CPU per request in four consecutive 10 s runs on one back), which
would otherwise favour one arm or the other. `--back-verify` makes the back verify SigV4 (its credentials
file's key is the one the front signs with, and the generator signs direct calls with it too).

`sigv4`: `berth serve --sigv4 off` and `berth serve --sigv4 verify --credentials-file F`
(fresh and seeded the same way for each run), alternately, with the generator signing every
request for real in both (`berth-loadgen --sign AKID:SECRET`, aws-sigv4 at send time).

It prints one markdown table per experiment (throughput, p50, p99, server CPU per request, the
ratios and differences), every run (with "other load": the CPU the rest of the machine used
during the run, in cores, i.e. /proc/stat's busy time minus the servers' and the generator's),
the per-operation p50s, and writes everything to `--json`.

Usage (from the repository root; .venv from scripts/aws-tests.sh, for botocore):
  cargo build --release -p berth -p berth-loadgen
  .venv/bin/python bench/proxy.py [--experiment proxy|sigv4|both] [--concurrency 32,1]
      [--duration 15] [--warmup 2] [--rounds 2] [--back-verify] [--pin] [--json out.json]

`--compare-front-workers N` adds a third arm, `proxy-<N>w`, whose front runs N tokio worker
threads (`TOKIO_WORKER_THREADS`; the default is one per core).

`--pin` gives the back (the upstream) CPU 1 and the front and the generator CPU 0, in both arms:
on a 2-core machine the front's CPU then never comes out of the upstream's core, as when the
upstream is another machine.
"""

import argparse
import configparser
import itertools
import json
import resource
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loadgen  # noqa: E402  (bench/loadgen.py: servers, seeding, ports)

REPO = loadgen.REPO
SEQUENCE = itertools.count()


def loadavg():
    return Path("/proc/loadavg").read_text().split()[0]


def busy_seconds():
    """CPU time the whole machine spent busy (all cores), from /proc/stat."""
    f = Path("/proc/stat").read_text().split("\n")[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in f[:8])
    return (user + nice + system + irq + softirq + steal) / 100.0


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0


def settle(pid, timeout=15.0):
    """Waits until process `pid` is idle (less than 2 % of a core over half a second)."""
    deadline = time.monotonic() + timeout
    last = cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = cpu_seconds(pid)
        if now - last < 0.01:
            return
        last = now


def pinned(cpus):
    """`taskset -c CPUS` in front of a command, or nothing."""
    return ["taskset", "-c", cpus] if cpus else []


def start_server(binary, tmp, name, extra=(), env=None, cluster=True, cpus=None):
    port = loadgen.free_port()
    data = Path(tmp) / f"{name}-data"
    data.mkdir()
    cmd = pinned(cpus) + [binary, "serve", "--port", str(port), "--data-dir", str(data)]
    if cluster:
        cmd += [
            # The capacity its figures in BENCHMARKS.md were measured with.
            "--instances", str(loadgen.INSTANCES), "--instance-cpu", "2048",
            "--instance-memory", "8192", "--instance-type", "m5.large",
        ]
    cmd += list(extra)
    log = open(Path(tmp) / f"{name}.log", "wb")
    proc = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "RUST_LOG": "warn", "BERTH_RUNTIME": "sim", **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    print(f"  {name}: {' '.join(cmd)}", flush=True)
    loadgen.wait_ready(url + "/", proc)
    return proc, url


def read_key(path):
    """The operator key of a Berth credentials file."""
    ini = configparser.ConfigParser()
    ini.read(path)
    for section in ini.sections():
        s = ini[section]
        if s.get("role", "").strip() == "operator":
            return s["aws_access_key_id"].strip(), s["aws_secret_access_key"].strip()
    raise SystemExit(f"{path}: no operator key")


def seed(url, key=None):
    """bench/loadgen.py's seeding, signed with `key` when the server verifies."""
    if key is None:
        return loadgen.seed(url)
    plain = loadgen.client

    def signed_client(service, endpoint, pool=4):
        return loadgen.botocore.session.get_session().create_client(
            service, region_name=loadgen.REGION, endpoint_url=endpoint,
            aws_access_key_id=key[0], aws_secret_access_key=key[1],
            config=loadgen.botocore.config.Config(
                retries={"mode": "standard", "max_attempts": 1}, max_pool_connections=pool,
                connect_timeout=10, read_timeout=120,
            ),
        )

    loadgen.client = signed_client
    try:
        return loadgen.seed(url)
    finally:
        loadgen.client = plain


def run_loadgen(args, label, url, ctx, pids, tmp, concurrency, sign=None):
    seed_file = Path(tmp) / "seed.json"
    seed_file.write_text(json.dumps(ctx))
    out = Path(tmp) / f"{label}-result.json"
    cmd = pinned(args.client_cpus) + [
        args.loadgen_bin, "--target", url, "--seed-file", str(seed_file), "--label", label,
        "--duration", str(args.duration), "--warmup", str(args.warmup), "--seed", str(args.seed),
        "--concurrency", str(concurrency), "--threads", "1", "--json", str(out),
    ]
    for p in pids:
        cmd += ["--server-pid", str(p)]
    shown = list(cmd)
    if sign:
        cmd += ["--sign", f"{sign[0]}:{sign[1]}"]
        shown += ["--sign", f"{sign[0]}:<secret>"]
    print("  " + " ".join(shown), flush=True)
    before = loadavg()
    t0, busy0, ours0 = time.monotonic(), busy_seconds(), children_cpu() + sum(cpu_seconds(p) for p in pids)
    rc = subprocess.run(cmd).returncode
    elapsed = time.monotonic() - t0
    ours = children_cpu() + sum(cpu_seconds(p) for p in pids) - ours0
    if rc not in (0, 1):
        raise SystemExit(f"berth-loadgen failed ({rc})")
    r = json.loads(out.read_text())
    r["loadavg"] = f"{before} → {loadavg()}"
    # Everything else the machine ran meanwhile (other people's builds), in cores.
    r["other_cores"] = max(0.0, (busy_seconds() - busy0 - ours) / elapsed)
    r["started"] = next(SEQUENCE)
    r["pids"] = pids
    return r


def alternate(arms, rounds):
    """A, B; B, A; … (so neither arm always goes first)."""
    order = []
    for i in range(rounds):
        order += arms if i % 2 == 0 else list(reversed(arms))
    return order


def check_alive(procs, tmp):
    for p in procs:
        if p.poll() is not None:
            raise SystemExit(f"a server exited during the run ({p.returncode}); its log is in {tmp}")


def proxy_run(args, arm, concurrency, tmp):
    """One run on a fresh back (and, for `proxy`, a fresh front in front of it)."""
    front_env = {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(Path(tmp) / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(Path(tmp) / "no-aws-credentials"),
        "AWS_PROFILE": "",
    }
    back_extra = []
    creds = Path(tmp) / "back-credentials"
    if args.back_verify:
        back_extra = ["--sigv4", "verify", "--credentials-file", str(creds)]
    procs = []
    try:
        back, back_url = start_server(args.berth_bin, tmp, "back", back_extra, cpus=args.back_cpus)
        procs.append(back)
        key = read_key(creds) if args.back_verify else ("AKIDBERTHPROXYBENCH1", "proxy-bench-secret-0123456789abcdef")
        ctx = seed(back_url, key if args.back_verify else None)
        url, pids, sign = back_url, [back.pid], (key if args.back_verify else None)
        if arm.startswith("proxy"):
            front_env["AWS_ACCESS_KEY_ID"], front_env["AWS_SECRET_ACCESS_KEY"] = key
            if arm != "proxy":  # proxy-<N>w: the front's runtime with N worker threads
                front_env["TOKIO_WORKER_THREADS"] = arm.removeprefix("proxy-").removesuffix("w")
            front, front_url = start_server(
                args.berth_bin, tmp, "front",
                ["--upstream-url", back_url, "--no-imds", "--poll-interval", "1h"],
                env=front_env, cluster=False, cpus=args.front_cpus,
            )
            procs.append(front)
            settle(front.pid)
            url, pids, sign = front_url, [back.pid, front.pid], None
        settle(back.pid)
        r = run_loadgen(args, f"{arm}-c{concurrency}", url, ctx, pids, tmp, concurrency, sign)
        check_alive(procs, tmp)
        return r
    finally:
        for p in reversed(procs):
            loadgen.stop(p)


def sigv4_run(args, arm, concurrency, tmp):
    """One run on a fresh server with `--sigv4 off` or `verify`; the generator signs either way
    (with the credentials file's key for `verify`, with a key of the same shape for `off`)."""
    creds = Path(tmp) / "verify-credentials"
    extra = ["--sigv4", "verify", "--credentials-file", str(creds)] if arm == "verify" else []
    procs = []
    try:
        server, url = start_server(args.berth_bin, tmp, f"sigv4-{arm}", extra, cpus=args.back_cpus)
        procs.append(server)
        key = read_key(creds) if arm == "verify" else ("BKIABERTHSIGV4BENCH1", "sigv4+bench/secret0123456789abcdefABCDEF")
        ctx = seed(url, key if arm == "verify" else None)
        settle(server.pid)
        r = run_loadgen(args, f"sigv4-{arm}-c{concurrency}", url, ctx, [server.pid], tmp, concurrency, key)
        check_alive(procs, tmp)
        return r
    finally:
        for p in reversed(procs):
            loadgen.stop(p)


def run_level(args, exp, concurrency):
    arms = ["direct", "proxy"] if exp == "proxy" else ["off", "verify"]
    if exp == "proxy" and args.compare_front_workers:
        arms.append(f"proxy-{args.compare_front_workers}w")
    results = {a: [] for a in arms}
    for arm in alternate(arms, args.rounds):
        with tempfile.TemporaryDirectory(prefix=f"berth-{exp}-") as tmp:
            run = proxy_run if exp == "proxy" else sigv4_run
            results[arm].append(run(args, arm, concurrency, tmp))
    return results


def fmt(x, digits=2):
    return "-" if x is None or x != x else f"{x:,.{digits}f}"


def summary(runs):
    """Median over the rounds: throughput, p50, p99, server CPU per request (per process)."""
    med = lambda k: statistics.median(r[k] for r in runs if r.get(k) is not None)  # noqa: E731
    per_proc = [
        statistics.median(r["servers"][i]["cpu_ms_per_request"] for r in runs)
        for i in range(len(runs[0]["servers"]))
    ]
    return {
        "throughput": med("throughput"),
        "p50_ms": med("p50_ms"),
        "p99_ms": med("p99_ms"),
        "cpu_ms": per_proc,
        "requests": sum(r["requests"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
    }


def print_tables(kind, levels, a, b, a_name, b_name):
    print(f"\n### {kind}: {a_name} vs {b_name} (median of the rounds; every round below)\n")
    print(
        f"| connections | {a_name} req/s | p50 | p99 | {b_name} req/s | p50 | p99 | throughput {b_name}/{a_name} "
        f"| p50 added | p99 added | server CPU/request {a_name} → {b_name} |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for c, res in levels.items():
        x, y = summary(res[a]), summary(res[b])
        cpu_b = " + ".join(fmt(v, 3) for v in y["cpu_ms"])
        print(
            f"| {c} | {fmt(x['throughput'], 1)} | {fmt(x['p50_ms'])} ms | {fmt(x['p99_ms'])} ms "
            f"| {fmt(y['throughput'], 1)} | {fmt(y['p50_ms'])} ms | {fmt(y['p99_ms'])} ms "
            f"| **{y['throughput'] / x['throughput']:.2f}×** | **{y['p50_ms'] - x['p50_ms']:+.3f} ms** "
            f"| {y['p99_ms'] - x['p99_ms']:+.2f} ms | {fmt(x['cpu_ms'][0], 3)} → {cpu_b} ms |"
        )
    print("\nRounds (in the order run):\n")
    print("| connections | arm | req/s | p50 | p99 | requests | errors | server CPU/request | other load | load average |")
    print("|---:|---|---:|---:|---:|---:|---:|---|---:|---|")
    for c, res in levels.items():
        runs = sorted(res[a] + res[b], key=lambda r: r["started"])
        for r in runs:
            cpu = " + ".join(fmt(s["cpu_ms_per_request"], 3) for s in r["servers"])
            print(
                f"| {c} | {r['label']} | {fmt(r['throughput'], 1)} | {fmt(r['p50_ms'])} ms | {fmt(r['p99_ms'])} ms "
                f"| {r['requests']:,} | {r['errors']} | {cpu} ms | {r['other_cores']:.2f} cores | {r['loadavg']} |"
            )
    print("\nPer operation, p50 (median of the rounds):\n")
    ops = [op for op, _ in loadgen.MIX]
    print(f"| connections | arm | {' | '.join(ops)} |")
    print("|---:|---|" + "---:|" * len(ops))
    for c, res in levels.items():
        for arm in (a, b):
            cells = [fmt(statistics.median(r["ops"][op]["p50_ms"] for r in res[arm])) for op in ops]
            print(f"| {c} | {arm} | {' | '.join(cells)} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--berth-bin", default=os.environ.get("BERTH_BIN") or str(REPO / "target" / "release" / "berth"))
    ap.add_argument("--loadgen-bin", default=os.environ.get("BERTH_LOADGEN_BIN") or str(REPO / "target" / "release" / "berth-loadgen"))
    ap.add_argument("--experiment", choices=["proxy", "sigv4", "both"], default="proxy")
    ap.add_argument("--concurrency", default="32,1", help="comma-separated connection counts")
    ap.add_argument("--duration", type=float, default=15.0, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=2, help="runs per arm, alternating the order")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--back-verify", action="store_true", help="proxy: the back verifies SigV4")
    ap.add_argument(
        "--compare-front-workers", type=int, metavar="N",
        help="proxy: a third arm, proxy-<N>w, whose front runs N tokio worker threads (TOKIO_WORKER_THREADS)",
    )
    ap.add_argument(
        "--pin", action="store_true",
        help="pin the back (and sigv4's servers) to CPU 1, the front and the generator to CPU 0 (taskset), "
        "so the upstream has the same core whether proxied or not",
    )
    ap.add_argument("--json", help="also write every run's report here")
    args = ap.parse_args()
    args.back_cpus, args.front_cpus, args.client_cpus = ("1", "0", "0") if args.pin else (None, None, None)
    for b in (args.berth_bin, args.loadgen_bin):
        if not os.access(b, os.X_OK):
            raise SystemExit(f"{b} not found: cargo build --release -p berth -p berth-loadgen")
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]
    print(
        f"proxy.py: {args.experiment}, connections {levels}, {args.duration:.0f} s (+{args.warmup:.0f} s warm-up) "
        f"× {args.rounds} rounds per arm; {os.cpu_count()} CPUs{'; pinned: back CPU 1, front and generator CPU 0' if args.pin else ''}; "
        f"load average {loadavg()}",
        flush=True,
    )
    out = {}
    experiments = ["proxy", "sigv4"] if args.experiment == "both" else [args.experiment]
    for exp in experiments:
        out[exp] = {}
        for c in levels:
            print(f"{exp}, {c} connections:", flush=True)
            out[exp][c] = run_level(args, exp, c)
    for exp, levels_res in out.items():
        if exp == "proxy":
            title = "Proxy" + (" (back verifies SigV4)" if args.back_verify else "")
            print_tables(title, levels_res, "direct", "proxy", "direct", "proxy")
            if args.compare_front_workers:
                w = f"proxy-{args.compare_front_workers}w"
                print_tables(title, levels_res, "direct", w, "direct", w)
        else:
            print_tables("SigV4 verification, generator signing", levels_res, "off", "verify", "off", "verify")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": out}, indent=2))


if __name__ == "__main__":
    main()
