#!/usr/bin/env python3
"""Time botocore's own client-side parameter validation of RegisterTaskDefinition.

Run with a Python that has botocore installed (the project venv), from the repository root:

    python3 -m venv .venv && .venv/bin/pip install botocore     # once
    # throughput over the valid corpus (the 125 files whose berth report has no errors):
    ls testdata/corpus/taskdefs/*.json \
      | grep -v -E '/(022|049|074|079|085|088|108|110|111|121|123|126|133|134|136|137|138)-' \
      | xargs .venv/bin/python bench/botocore_validate.py --bench
    # what botocore rejects, per file, over all 142 files:
    .venv/bin/python bench/botocore_validate.py --verdicts testdata/corpus/taskdefs/*.json

Options:
    --bench            time validation over the given files (default when no mode is given)
    --verdicts         print, per file, whether botocore rejects it and why
    --json             with --verdicts: one JSON object per file instead of text
    --min-time SECS    keep repeating passes for at least this long (default 5)

The shape is botocore's bundled ECS model
(`botocore.session.get_session().get_service_model('ecs')`), operation
`RegisterTaskDefinition`, input shape `RegisterTaskDefinitionRequest`; validation is
`botocore.validate.ParamValidator().validate(params, shape)` — exactly what a boto3 client does
before it sends the request (when `parameter_validation` is on, the default).

Documents are normalised to the registration request the same way berth does
(`berth_core::model::read_task_definition`): describe-task-definition output
`{"taskDefinition": {...}, "tags": [...]}` is unwrapped, the read-only members are dropped, and
the outer tags are moved in. Nothing else is changed (berth also turns cpu/memory unit strings
such as "1 vCPU" into numbers; botocore's model has them as strings, so no change is needed).

The script creates no files.
"""

import argparse
import json
import os
import sys
import time

import botocore
import botocore.session
from botocore.validate import ParamValidator

READ_ONLY = (
    "taskDefinitionArn",
    "revision",
    "status",
    "requiresAttributes",
    "compatibilities",
    "registeredAt",
    "registeredBy",
    "deregisteredAt",
    "deleteRequestedAt",
)


def normalise(doc):
    """The registration request a document amounts to (as berth's InputForm normalisation)."""
    if not isinstance(doc, dict):
        return doc
    if "taskDefinition" in doc:
        td = doc.get("taskDefinition")
        td = dict(td) if isinstance(td, dict) else td
        tags = doc.get("tags")
        if isinstance(td, dict):
            for m in READ_ONLY:
                td.pop(m, None)
            # berth: outer tags win when non-empty, or when the task definition has none
            if (isinstance(tags, list) and tags) or (tags is not None and td.get("tags") is None):
                td["tags"] = tags
        return td
    if any(m in doc for m in READ_ONLY):
        doc = dict(doc)
        for m in READ_ONLY:
            doc.pop(m, None)
    return doc


def load(paths):
    out = []
    for p in paths:
        with open(p, "rb") as f:
            raw = f.read()
        out.append((p, raw))
    return out


def input_shape():
    model = botocore.session.get_session().get_service_model("ecs")
    return model, model.operation_model("RegisterTaskDefinition").input_shape


def time_passes(fn, min_time):
    """Run fn() repeatedly for at least min_time seconds (after one warm-up pass).

    Returns (passes, median wall seconds, best wall seconds, median CPU seconds). CPU time
    (`time.process_time`) is reported beside wall time because on a shared machine the wall
    time of a pass includes the time the process waited for a core.
    """
    fn()  # warm-up
    wall, cpu = [], []
    start = time.perf_counter()
    while True:
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        if time.perf_counter() - start >= min_time and len(wall) >= 5:
            break
    wall.sort()
    cpu.sort()
    return len(wall), wall[len(wall) // 2], wall[0], cpu[len(cpu) // 2]


def bench(files, min_time):
    model, shape = input_shape()
    validator = ParamValidator()
    total = sum(len(raw) for _, raw in files)
    texts = [raw.decode("utf-8") for _, raw in files]
    params = [normalise(json.loads(t)) for t in texts]
    rejected = [p for (p, _), prm in zip(files, params) if validator.validate(prm, shape).has_errors()]

    def validate_only():
        for prm in params:
            validator.validate(prm, shape)

    def loads_only():
        for t in texts:
            json.loads(t)

    def loads_and_validate():
        for t in texts:
            validator.validate(normalise(json.loads(t)), shape)

    print(f"python {sys.version.split()[0]}, botocore {botocore.__version__}, "
          f"ECS model api-version {model.api_version}")
    print(f"files: {len(files)}, total bytes: {total}, rejected by botocore: {len(rejected)}")
    for p in rejected:
        print(f"  rejected: {os.path.basename(p)}")
    print(f"{'measure':<34} {'passes':>6} {'wall ms/pass':>13} {'best ms':>8} {'CPU ms/pass':>12}"
          f" {'MB/s wall':>10} {'MB/s CPU':>9}")
    for name, fn in (
        ("json.loads", loads_only),
        ("ParamValidator.validate", validate_only),
        ("json.loads + normalise + validate", loads_and_validate),
    ):
        n, median, best, cpu = time_passes(fn, min_time)
        print(f"{name:<34} {n:>6} {median * 1e3:>13.3f} {best * 1e3:>8.3f} {cpu * 1e3:>12.3f}"
              f" {total / median / 1e6:>10.2f} {total / cpu / 1e6:>9.2f}")
    print("(medians over the passes; MB = 10^6 bytes)")


def verdicts(files, as_json):
    _, shape = input_shape()
    validator = ParamValidator()
    for path, raw in files:
        name = os.path.basename(path)
        try:
            params = normalise(json.loads(raw.decode("utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            reasons = [f"not JSON: {e}"]
            rejected = True
        else:
            report = validator.validate(params, shape)
            rejected = report.has_errors()
            reasons = report.generate_report().splitlines() if rejected else []
            reasons = [r.strip() for r in reasons if r.strip()]
        if as_json:
            print(json.dumps({"file": name, "rejected": rejected, "reasons": reasons}))
        else:
            print(f"{'REJECT' if rejected else 'ok    '} {name}")
            for r in reasons:
                print(f"         {r}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--verdicts", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--min-time", type=float, default=5.0)
    a = ap.parse_args()
    files = load(a.files)
    if a.verdicts:
        verdicts(files, a.json)
    if a.bench or not a.verdicts:
        bench(files, a.min_time)


if __name__ == "__main__":
    main()
