#!/usr/bin/env bash
# Without a Docker daemon: rebuilds the runtime stage of docker/Dockerfile as a chroot (debootstrap
# minbase bookworm, about what debian:bookworm-slim holds), installs the Dockerfile's runtime
# package list, drops build/switchboard in, and runs it there as the image's non-root user:
# --version, --check-config on the default config, then serve and --healthcheck itself.
# Needs root and Debian's package mirror (debootstrap is installed if missing). Not a CI test.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${SWITCHBOARD_BIN:-$ROOT/build/switchboard}
[ -x "$BIN" ] || { echo "verify-runtime: $BIN missing: run .ci/build" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "verify-runtime: needs root (debootstrap, chroot)" >&2; exit 1; }
command -v debootstrap >/dev/null || apt-get install -y -qq --no-install-recommends debootstrap >/dev/null

# The runtime stage's `apt-get install` list: the continuation lines after the last one.
packages=$(awk '/^FROM /{stage++} stage==2 && /apt-get install/{grab=1; next}
  grab && /^ *&&/{grab=0} grab{gsub(/\\/, ""); printf "%s ", $0}' docker/Dockerfile | xargs)
echo "runtime packages: $packages"

CHROOT=${CHROOT:-/tmp/switchboard-runtime-root}
if [ ! -x "$CHROOT/usr/bin/apt-get" ]; then
  debootstrap --variant=minbase bookworm "$CHROOT" >/tmp/switchboard-debootstrap.log 2>&1 ||
    { tail -20 /tmp/switchboard-debootstrap.log; exit 1; }
fi
mountpoint -q "$CHROOT/proc" || mount -t proc proc "$CHROOT/proc"
trap 'umount "$CHROOT/proc" 2>/dev/null || true' EXIT
# shellcheck disable=SC2086
chroot "$CHROOT" sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages >/dev/null"
chroot "$CHROOT" sh -c 'getent passwd switchboard >/dev/null || { groupadd --system --gid 10001 switchboard &&
  useradd --system --uid 10001 --gid switchboard --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin switchboard; }'
install -m 0755 "$BIN" "$CHROOT/usr/local/bin/switchboard"
mkdir -p "$CHROOT/etc/switchboard"
cp config/switchboard.yaml "$CHROOT/etc/switchboard/switchboard.yaml"

run() { chroot --userspec=10001:10001 "$CHROOT" "$@"; }
echo "--- ldd in the runtime root"
if chroot "$CHROOT" ldd /usr/local/bin/switchboard | grep 'not found'; then
  echo "verify-runtime: missing libraries" >&2; exit 1
fi
run /usr/local/bin/switchboard --version
run /usr/local/bin/switchboard --check-config /etc/switchboard/switchboard.yaml
PORT=${PORT:-18099}
# chroot execs env execs the binary: $! is the gateway itself.
chroot --userspec=10001:10001 "$CHROOT" env SWITCHBOARD_LISTEN=127.0.0.1:$PORT \
  /usr/local/bin/switchboard --config /etc/switchboard/switchboard.yaml >/tmp/switchboard-runtime.out 2>&1 &
pid=$!
for _ in $(seq 50); do
  run /usr/local/bin/switchboard --healthcheck "http://127.0.0.1:$PORT/healthz" 2>/dev/null && break
  sleep 0.2
done
run /usr/local/bin/switchboard --healthcheck "http://127.0.0.1:$PORT/readyz"
echo "healthcheck ok (uid $(ps -o uid= -p "$pid" | tr -d ' '))"
kill -TERM "$pid"; wait "$pid" || true
echo "verify-runtime: ok"
