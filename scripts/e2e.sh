#!/usr/bin/env bash
# The dashboard's end-to-end browser tests (e2e/, Playwright driving Debian's Chromium).
#
# Usage: scripts/e2e.sh [playwright test arguments…]
#   e.g. scripts/e2e.sh tests/keyboard.spec.ts        scripts/e2e.sh -g 'deep link'
#
# On a fresh Debian machine, as root and without stdin (as CI runs it):
#   1. installs /usr/bin/chromium with apt-get when it is missing (Playwright's own browser
#      download does not work on these machines and is never used);
#   2. runs `npm ci` in e2e/ when e2e/node_modules is older than e2e/package-lock.json;
#   3. builds the dashboard (`cargo xtask dist` → target/dashboard/) and the release server
#      (`cargo build --release --locked -p berth`, which embeds it) unless BERTH_BIN names a binary;
#   4. runs `npx playwright test` under `timeout`, passing the arguments through.
# The suite starts its own `berth serve` on a free port of 127.0.0.1 with a fresh data directory.
#
# Environment: BERTH_BIN (server binary; skips both builds), E2E_TIMEOUT (seconds for the test
# run, default 1800), E2E_SKIP_DIST=1 (use the dashboard already in target/dashboard/).
set -euo pipefail
cd "$(dirname "$0")/.."

timeout_s=${E2E_TIMEOUT:-1800}
chromium=/usr/bin/chromium

step() { printf '\n==> %s\n' "$*"; }
die() { echo "error: $*" >&2; exit 2; }
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' is required but not installed: $2"; }

export DEBIAN_FRONTEND=noninteractive
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

need timeout "install coreutils"

# --- Chromium -------------------------------------------------------------------------------
if [ ! -x "$chromium" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    need apt-get "this script installs Chromium with apt-get (Debian); install $chromium yourself otherwise"
    step "installing chromium (apt-get)"
    timeout 1200 apt-get update </dev/null
    timeout 1800 apt-get install -y --no-install-recommends chromium </dev/null
  else
    die "$chromium is missing and this script is not root: run \`sudo apt-get update && sudo apt-get install -y chromium\` (Debian's package), then run it again"
  fi
fi
[ -x "$chromium" ] || die "$chromium is still missing after installing the chromium package"

# --- Node.js and the suite's npm packages ---------------------------------------------------
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    step "installing nodejs and npm (apt-get)"
    timeout 1200 apt-get update </dev/null
    timeout 1800 apt-get install -y --no-install-recommends nodejs npm </dev/null
  else
    die "Node.js 20 or newer with npm is required (Debian: apt-get install nodejs npm)"
  fi
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js $(node --version) is too old: @playwright/test needs Node.js 20 or newer"

stamp=e2e/node_modules/.berth-e2e-lock
want=$(cksum <e2e/package-lock.json)
if [ ! -d e2e/node_modules ] || [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  step "npm ci (e2e/)"
  (cd e2e && timeout 900 npm ci --no-audit --no-fund </dev/null)
  printf '%s\n' "$want" >"$stamp"
fi

# --- the dashboard and the release server ---------------------------------------------------
if [ -z "${BERTH_BIN:-}" ]; then
  need cargo "install Rust with rustup (https://rustup.rs), or set BERTH_BIN to a berth binary"
  if [ "${E2E_SKIP_DIST:-}" != 1 ]; then
    if command -v rustup >/dev/null 2>&1; then
      rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown </dev/null
    fi
    step "cargo xtask dist (the dashboard → target/dashboard/)"
    timeout 3600 cargo xtask dist </dev/null
  fi
  [ -f target/dashboard/index.html ] || die "target/dashboard/index.html is missing: \`cargo xtask dist\` did not build the dashboard"
  step "cargo build --release --locked -p berth"
  timeout 3600 cargo build --release --locked -p berth </dev/null
  export BERTH_BIN="$PWD/target/release/berth"
fi
[ -x "$BERTH_BIN" ] || die "BERTH_BIN=$BERTH_BIN is not an executable"
export BERTH_BIN

# --- the tests ------------------------------------------------------------------------------
step "playwright test (limit ${timeout_s} s)"
set +e
(cd e2e && timeout --kill-after=30 "$timeout_s" npx --no-install playwright test "$@" </dev/null)
rc=$?
set -e
case $rc in
  0) ;;
  124|137) echo "error: the e2e suite ran past ${timeout_s} s" >&2; exit 1 ;;
esac
exit $rc
