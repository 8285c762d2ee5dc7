#!/usr/bin/env bash
# Builds everything (release) and starts berth with the embedded cluster on 127.0.0.1.
# Usage: scripts/run.sh [berth serve flags…], e.g. scripts/run.sh --port 7575 --data-dir .berth
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null 2>&1 || { echo "error: cargo is required: install Rust with rustup (https://rustup.rs)" >&2; exit 2; }
cargo build --release --locked -p berth
exec target/release/berth serve "$@"
