#!/usr/bin/env bash
# Builds everything (the dashboard, then the release server that embeds it) and starts berth with
# the embedded cluster on 127.0.0.1 (default port 7575; open http://127.0.0.1:7575/).
# Usage: scripts/run.sh [berth serve flags…], e.g. scripts/run.sh --port 7575 --data-dir .berth
#
# Installs what it needs: the wasm32-unknown-unknown target (rustup). wasm-opt comes from npm's
# `binaryen` package when npm is there (cargo xtask dist installs it into target/tools); without
# npm the dashboard ships unoptimised (bigger, same behaviour). Starts dockerd when it is installed
# but not running (scripts/docker-setup.sh --no-install --no-image); never fails without Docker.
set -euo pipefail
cd "$(dirname "$0")/.."
die() { echo "error: $*" >&2; exit 2; }
command -v cargo >/dev/null 2>&1 || die "cargo is required: install Rust with rustup (https://rustup.rs)"
command -v rustup >/dev/null 2>&1 || die "rustup is required to add the wasm32-unknown-unknown target (https://rustup.rs)"
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown </dev/null
cargo xtask dist </dev/null
cargo build --release --locked -p berth </dev/null
# The Docker runtime when an engine answers (dockerd is started if installed); else berth falls back to the simulated one.
scripts/docker-setup.sh --no-install --no-image </dev/null ||
  echo "note: no Docker engine answers; berth will run tasks with the simulated runtime" >&2
exec target/release/berth serve "$@"
