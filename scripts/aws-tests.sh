#!/usr/bin/env bash
# Drives a real `berth serve` with the real AWS CLI and boto3 (tests/aws).
#
# Usage: scripts/aws-tests.sh [pytest arguments…]      e.g. scripts/aws-tests.sh -k services
#
# Creates or reuses the virtual environment .venv (python3 -m venv) and installs
# tests/aws/requirements.txt into it when that file changed; builds `berth` with cargo
# (incremental, a no-op when it is up to date) unless BERTH_BIN names a binary; then runs pytest,
# which starts the server on a free port of 127.0.0.1 with a fresh data directory.
# Needs no stdin and no network beyond the Python package index (first run) and 127.0.0.1.
#
# Environment: BERTH_BIN (server binary, default target/debug/berth), AWS_TESTS_TIMEOUT (seconds
# for the whole pytest run, default 1500), PYTHON (interpreter for the venv, default python3).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
req=tests/aws/requirements.txt
timeout_s=${AWS_TESTS_TIMEOUT:-1500}
python=${PYTHON:-python3}

step() { printf '\n==> %s\n' "$*"; }
die() { echo "error: $*" >&2; exit 2; }
command -v "$python" >/dev/null 2>&1 || die "'$python' is required (Python 3.9 or newer)"
command -v timeout >/dev/null 2>&1 || die "'timeout' (coreutils) is required"

# The suite drives the simulated runtime (fault injection, clock control); test_docker.py asks
# for --runtime docker itself.
export BERTH_RUNTIME=${BERTH_RUNTIME:-sim}
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PYTHONDONTWRITEBYTECODE=1

if [ ! -x "$venv/bin/python" ]; then
  step "creating $venv"
  "$python" -m venv "$venv" </dev/null
fi
stamp="$venv/.aws-tests-requirements"
want=$(cksum <"$req")
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ] || [ ! -x "$venv/bin/aws" ]; then
  step "installing $req into $venv"
  timeout 900 "$venv/bin/python" -m pip install --quiet -r "$req" </dev/null
  printf '%s\n' "$want" >"$stamp"
fi

if [ -z "${BERTH_BIN:-}" ]; then
  command -v cargo >/dev/null 2>&1 || die "cargo is required to build berth (or set BERTH_BIN)"
  step "cargo build -p berth"
  timeout 1800 cargo build -p berth </dev/null
fi

step "pytest tests/aws (limit ${timeout_s} s)"
set +e
timeout --kill-after=30 "$timeout_s" "$venv/bin/python" -m pytest tests/aws -q "$@" </dev/null
rc=$?
set -e
case $rc in
  0) ;;
  5) echo "error: pytest collected no tests" >&2; exit 1 ;;
  124|137) echo "error: tests/aws ran past ${timeout_s} s" >&2; exit 1 ;;
esac
exit $rc
