#!/usr/bin/env bash
# Makes sure a Docker engine answers and the test images of Berth's Docker runtime exist.
#
# Usage: scripts/docker-setup.sh [--no-install] [--no-image]
#
# 1. When `docker info` fails: installs Debian's `docker.io` if `dockerd` is missing (apt-get, as
#    root or through `sudo -n`), starts `dockerd` in the background (setsid + nohup, its log in
#    ${TMPDIR:-/tmp}/berth-dockerd.log) and waits up to 60 s for it to answer.
# 2. Builds `berth-test/busybox:latest` (and tags it `berth-test/busybox:2`, the same image for a
#    second task-definition revision) with `docker import` from a rootfs made of Debian's
#    `busybox-static` (installed when /bin/busybox is missing or not static): /bin/busybox and its
#    applets sh, sleep, httpd, wget, cat, env, echo, ls, printf, kill, true, false, id, nc, …;
#    /etc/passwd and /etc/group; /www/index.html ("hello from berth"); /tmp. Nothing is pulled.
#    The image carries the label `dev.berth.test-image` (a hash of its recipe and busybox), so an
#    up-to-date image is left alone and a stale one is rebuilt.
#
# Idempotent, reads no stdin, says what it does. Exit status: 0 ready; 2 something is missing that
# this script may not install (no root and no sudo, --no-install, not Debian); 1 anything else
# (dockerd did not answer in time, the import failed).
#
# --no-install: never run apt-get (exit 2 when dockerd or busybox is missing).
# --no-image:   only the engine, no test image (scripts/run.sh).
# Environment: DOCKER_HOST is honoured by every docker call; DOCKERD_LOG overrides the log path.
set -euo pipefail

install=1
image=1
for arg in "$@"; do
  case $arg in
    --no-install) install=0 ;;
    --no-image) image=0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "docker-setup: unknown argument: $arg (see --help)" >&2; exit 2 ;;
  esac
done

IMAGE=berth-test/busybox
APPLETS="sh sleep httpd wget cat env echo ls printf kill true false id nc \
grep head tail wc date hostname mkdir rm touch test [ seq timeout ps uname"
INDEX_HTML="hello from berth"
RECIPE_REV=1 # bump when the rootfs layout below changes
dockerd_log=${DOCKERD_LOG:-${TMPDIR:-/tmp}/berth-dockerd.log}

say() { printf 'docker-setup: %s\n' "$*"; }
missing() { printf 'docker-setup: error: %s\n' "$*" >&2; exit 2; }
fail() { printf 'docker-setup: error: %s\n' "$*" >&2; exit 1; }

# Runs a command as root: directly when we are root, else through non-interactive sudo.
as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@"
  else
    missing "'$*' needs root: run this script as root or install sudo (passwordless for this user)"
  fi
}

can_root() { [ "$(id -u)" = 0 ] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }; }

apt_install() {
  local pkgs="$*"
  [ "$install" = 1 ] || missing "$pkgs is not installed (and --no-install was given): apt-get install $pkgs"
  command -v apt-get >/dev/null 2>&1 || missing "$pkgs is not installed and there is no apt-get: install it (Debian package names: $pkgs)"
  can_root || missing "$pkgs is not installed and installing it needs root: run as root, or with passwordless sudo, or 'apt-get install $pkgs' yourself"
  say "installing $pkgs (apt-get update; apt-get install -y $pkgs)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" </dev/null
}

# Is a process named dockerd running? (/proc, so procps is not needed)
dockerd_running() {
  local f
  for f in /proc/[0-9]*/comm; do
    [ "$(cat "$f" 2>/dev/null)" = dockerd ] && return 0
  done
  return 1
}

engine_answers() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1 </dev/null; }

# ---- 1. the engine ------------------------------------------------------------------------------
if engine_answers; then
  say "Docker engine answers ($(docker version --format 'server {{.Server.Version}}' 2>/dev/null </dev/null || echo 'version unknown'))"
else
  if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    apt_install docker.io
    command -v dockerd >/dev/null 2>&1 || fail "docker.io was installed but dockerd is still not on PATH ($PATH)"
  fi
  if [ -n "${DOCKER_HOST:-}" ] && [ "${DOCKER_HOST#unix://}" = "$DOCKER_HOST" ]; then
    missing "DOCKER_HOST=$DOCKER_HOST does not answer and is not a local socket this script could start dockerd on"
  fi
  if dockerd_running; then
    say "dockerd is running but does not answer yet; waiting for it"
  else
    can_root || missing "no Docker engine answers and starting dockerd needs root: run as root or with passwordless sudo, or start it yourself (e.g. 'sudo systemctl start docker')"
    say "starting dockerd in the background (log: $dockerd_log)"
    mkdir -p "$(dirname "$dockerd_log")"
    # setsid: its own session, so a Ctrl-C or a timeout killing the tests' process group spares it.
    host_args=()
    if [ -n "${DOCKER_HOST:-}" ]; then host_args=(-H "$DOCKER_HOST"); fi
    as_root setsid nohup dockerd "${host_args[@]}" </dev/null >>"$dockerd_log" 2>&1 &
  fi
  deadline=$((SECONDS + 60))
  until engine_answers; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      if dockerd_running && [ -S /var/run/docker.sock ] && [ ! -w /var/run/docker.sock ]; then
        missing "dockerd runs but $(id -un) may not use /var/run/docker.sock: run as root or add the user to the 'docker' group"
      fi
      echo "--- last lines of $dockerd_log:" >&2
      tail -n 30 "$dockerd_log" >&2 2>/dev/null || true
      fail "no Docker engine answered 'docker info' within 60 s"
    fi
    sleep 0.5
  done
  say "Docker engine answers ($(docker version --format 'server {{.Server.Version}}' 2>/dev/null </dev/null || echo 'version unknown'))"
fi

[ "$image" = 1 ] || exit 0

# ---- 2. the test image --------------------------------------------------------------------------
busybox=/bin/busybox
is_static() { [ -x "$1" ] && ! ldd "$1" >/dev/null 2>&1; }
if ! is_static "$busybox"; then
  if [ -x "$busybox" ]; then say "$busybox is dynamically linked; the image needs busybox-static"; fi
  apt_install busybox-static
  is_static "$busybox" || fail "busybox-static was installed but $busybox is not a static executable"
fi

recipe_hash=$(
  {
    printf 'rev=%s\napplets=%s\nindex=%s\n' "$RECIPE_REV" "$APPLETS" "$INDEX_HTML"
    sha256sum <"$busybox"
  } | sha256sum | cut -c1-16
)
have=$(docker image inspect --format '{{index .Config.Labels "dev.berth.test-image"}}' "$IMAGE:latest" 2>/dev/null </dev/null || true)
if [ "$have" = "$recipe_hash" ]; then
  say "$IMAGE:latest is up to date (recipe $recipe_hash)"
else
  if [ -n "$have" ]; then say "$IMAGE:latest is from another recipe ($have); rebuilding"; fi
  say "building $IMAGE:latest from $busybox (recipe $recipe_hash)"
  root=$(mktemp -d "${TMPDIR:-/tmp}/berth-rootfs.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root/bin" "$root/etc" "$root/www" "$root/tmp" "$root/root"
  chmod 1777 "$root/tmp"
  chmod 700 "$root/root"
  cp "$busybox" "$root/bin/busybox"
  chmod 755 "$root/bin/busybox"
  for a in $APPLETS; do ln -s busybox "$root/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  printf '%s\n' "$INDEX_HTML" >"$root/www/index.html"
  chmod 644 "$root/etc/passwd" "$root/etc/group" "$root/www/index.html"
  tar --numeric-owner --owner=0 --group=0 -C "$root" -cf - . |
    docker import -c 'CMD ["/bin/sh"]' -c "LABEL dev.berth.test-image=$recipe_hash" - "$IMAGE:latest" >/dev/null
fi
id=$(docker image inspect --format '{{.Id}}' "$IMAGE:latest" </dev/null)
if [ "$(docker image inspect --format '{{.Id}}' "$IMAGE:2" 2>/dev/null </dev/null || true)" != "$id" ]; then
  say "tagging $IMAGE:2 (the same image, for a second revision)"
  docker tag "$IMAGE:latest" "$IMAGE:2"
fi
say "$IMAGE:latest and $IMAGE:2 = $id"
