#!/usr/bin/env bash
# Runs every test of the workspace, installing what it needs first.
# Usage: scripts/test.sh        (CI runs exactly this through .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }
need() {
  command -v "$1" >/dev/null 2>&1 || { echo "error: '$1' is required but not installed: $2" >&2; exit 2; }
}

need cargo "install Rust with rustup (https://rustup.rs)"
need rustup "install Rust with rustup (https://rustup.rs); the wasm32 target is added through it"
need node "install Node.js (Debian: apt-get install nodejs npm); it runs berth-core's wasm build in the native-vs-wasm test and the dashboard's browser tests"
need npm "install npm (Debian: apt-get install npm); it installs Playwright for the dashboard's browser tests"
need python3 "install Python 3 with venv (Debian: apt-get install python3 python3-venv); the AWS CLI and boto3 tests run in a venv"

step "toolchain: wasm32-unknown-unknown target, rustfmt, clippy"
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed | grep -q '^clippy' || rustup component add clippy

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "berth-core and the dashboard build for wasm32-unknown-unknown (the dashboard and its lazily loaded tools module clippy-clean there too)"
cargo build -p berth-core --target wasm32-unknown-unknown --locked
cargo build -p berth-wasm-probe --target wasm32-unknown-unknown --release --locked
cargo clippy -p berth-web -p berth-tools --target wasm32-unknown-unknown --locked -- -D warnings

step "a Docker engine and the test image berth-test/busybox (scripts/docker-setup.sh; the Docker runtime's tests need both)"
scripts/docker-setup.sh

step "cargo test (unit, integration, doc tests; native-vs-wasm comparison included)"
cargo test --workspace --locked

step "the real AWS CLI and boto3 against berth serve (tests/aws, venv in .venv; test_docker.py against the Docker runtime)"
cargo build -p berth --locked
scripts/docker-setup.sh
scripts/aws-tests.sh

step "the dashboard in Chromium (e2e/, Playwright; builds the dashboard and the release server)"
scripts/e2e.sh
