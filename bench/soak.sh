#!/usr/bin/env bash
# Soak test (not a CI test): the gateway under mixed plain, streamed, failing (500, 429, a fallback)
# and client-cancelled traffic, with a config reload every SOAK_RELOAD_SECONDS, for SOAK_SECONDS.
# Samples the gateway's RSS (and fds, requests, upstream connections) every SOAK_SAMPLE_SECONDS
# into a CSV; after the warm-up, RSS may not grow by more than SOAK_MAX_GROWTH_PCT: exit 1 if it does.
# Everything runs on 127.0.0.1: `switchboard --mock-upstream` plays every provider.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SOAK_SECONDS=${SOAK_SECONDS:-1200}             # 20 minutes
SOAK_WARMUP_SECONDS=${SOAK_WARMUP_SECONDS:-120} # RSS growth is measured from the end of this
SOAK_SAMPLE_SECONDS=${SOAK_SAMPLE_SECONDS:-10}
SOAK_MAX_GROWTH_PCT=${SOAK_MAX_GROWTH_PCT:-5}
SOAK_CONNECTIONS=${SOAK_CONNECTIONS:-8}         # wrk -c (plain, streamed and failing requests)
SOAK_DELAY_MS=${SOAK_DELAY_MS:-5}               # pause per wrk connection between requests
SOAK_CANCEL_CONCURRENCY=${SOAK_CANCEL_CONCURRENCY:-8}
SOAK_RELOAD_SECONDS=${SOAK_RELOAD_SECONDS:-60}  # SIGHUP period (0 = never)
SOAK_THREADS=${SOAK_THREADS:-2}                 # gateway server.threads
PORT=${SOAK_PORT:-18280}
SWITCHBOARD=${SWITCHBOARD:-$ROOT/build/switchboard}
export SOAK_DELAY_MS

die() { echo "soak: $*" >&2; exit 1; }
command -v wrk >/dev/null || die "wrk not found (Debian: apt-get install wrk)"
command -v node >/dev/null || die "node not found"
command -v curl >/dev/null || die "curl not found"
[ -x "$SWITCHBOARD" ] || die "$SWITCHBOARD not found: build it first (bash .ci/build)"
[ "$SOAK_WARMUP_SECONDS" -lt "$SOAK_SECONDS" ] || die "SOAK_WARMUP_SECONDS must be < SOAK_SECONDS"
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then die "port $PORT is in use (set SOAK_PORT)"; fi

STAMP=$(date +%Y%m%d-%H%M%S)
RESULTS=$ROOT/bench/results/soak-$STAMP
mkdir -p "$RESULTS"
WORK=$(mktemp -d /tmp/switchboard-soak.XXXXXX)
CSV=$RESULTS/rss.csv

PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# ---- the mock upstream -------------------------------------------------------------------------
"$SWITCHBOARD" --mock-upstream 127.0.0.1:0 --threads 1 2>"$RESULTS/upstream.log" &
PIDS+=($!)
for _ in $(seq 100); do
  UP=$(sed -n 's/.*mock upstream listening on \([0-9.]*:[0-9]*\).*/\1/p' "$RESULTS/upstream.log")
  [ -n "$UP" ] && break
  sleep 0.1
done
[ -n "${UP:-}" ] || die "mock upstream did not start: $(cat "$RESULTS/upstream.log")"

# ---- the gateway -------------------------------------------------------------------------------
provider() {  # name, then extra header lines
  local name=$1; shift
  printf '  %s:\n    type: openai-compatible\n    base_url: "http://%s/v1"\n    keys: [soak-key]\n' "$name" "$UP"
  printf '    timeouts: {connect: 1s, first_byte: 5s, total: 30s}\n    headers:\n'
  printf '      x-soak: "%s"\n' "$name"
  local h
  for h in "$@"; do printf '      %s\n' "$h"; done
}
cat >"$WORK/soak.yaml" <<EOF
server:
  listen: "127.0.0.1:$PORT"
  threads: $SOAK_THREADS
  drain_timeout: 5s
auth:
  mode: open
observability:
  log: {level: warn, format: json}
  traces: {file: /dev/null}
providers:
$(provider plain 'x-mock-response: "a short answer of a few words for the soak"')
$(provider stream 'x-mock-response: "one two three four five six seven eight nine ten eleven twelve"')
$(provider slow 'x-mock-tokens-per-second: "20"' 'x-mock-response: "'"$(printf 'w%d ' $(seq 60))"'"')
$(provider latent 'x-mock-latency-ms: "1000"')
$(provider fail500 'x-mock-status: "500"')
$(provider fail429 'x-mock-status: "429"' 'x-mock-retry-after: "1"')
models:
  soak-plain: {provider: plain, model: m-plain, price: {input: 1, output: 1}}
  soak-stream: {provider: stream, model: m-stream, price: {input: 1, output: 1}}
  soak-slow: {provider: slow, model: m-slow, price: {input: 1, output: 1}}
  soak-latent: {provider: latent, model: m-latent, price: {input: 1, output: 1}}
  soak-500: {provider: fail500, model: m-500, price: {input: 1, output: 1}}
  soak-429: {provider: fail429, model: m-429, price: {input: 1, output: 1}}
  soak-backup: {provider: plain, model: m-backup, price: {input: 1, output: 1}}
routes:
  soak-flaky:
    targets: [soak-500]
    fallbacks: [soak-backup]
    retry: {attempts: 2, backoff: 10ms, max_backoff: 50ms}
EOF
"$SWITCHBOARD" --check-config "$WORK/soak.yaml" >/dev/null || die "soak config invalid"
"$SWITCHBOARD" --config "$WORK/soak.yaml" >/dev/null 2>"$RESULTS/gateway.log" &
GW=$!
PIDS+=($GW)
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null || die "gateway did not start: $(cat "$RESULTS/gateway.log")"

# ---- load --------------------------------------------------------------------------------------
echo "soak: ${SOAK_SECONDS}s (warm-up ${SOAK_WARMUP_SECONDS}s), wrk -c$SOAK_CONNECTIONS delay ${SOAK_DELAY_MS}ms," \
  "$SOAK_CANCEL_CONCURRENCY cancelling clients, SIGHUP every ${SOAK_RELOAD_SECONDS}s; results in $RESULTS"
wrk -t1 -c"$SOAK_CONNECTIONS" -d"${SOAK_SECONDS}s" --timeout 10s -s bench/soak_mixed.lua \
  "http://127.0.0.1:$PORT" >"$RESULTS/wrk.txt" 2>&1 &
PIDS+=($!)
WRK=$!
node bench/soak_cancel.mjs "http://127.0.0.1:$PORT" "$SOAK_SECONDS" "$SOAK_CANCEL_CONCURRENCY" \
  >"$RESULTS/cancel.txt" 2>&1 &
PIDS+=($!)
CANCEL=$!

metric() {  # sum of a metric's samples whose line matches $2
  awk -v name="$1" -v filter="${2:-}" '$1 ~ "^"name"([{]|$)" && index($0, filter) {s += $NF} END {printf "%d", s}' \
    <<<"$METRICS"
}
sample() {
  local elapsed=$1 rss fds
  rss=$(awk '/^VmRSS:/{print $2}' "/proc/$GW/status")
  fds=$(ls "/proc/$GW/fd" | wc -l)
  METRICS=$(curl -s --max-time 5 "http://127.0.0.1:$PORT/metrics" || true)
  echo "$elapsed,$rss,$fds,$(metric switchboard_requests_total),$(metric switchboard_upstream_connections 'state="active"'),$(metric switchboard_upstream_connections 'state="idle"')" >>"$CSV"
}

echo "elapsed_s,rss_kib,fds,requests_total,upstream_active,upstream_idle" >"$CSV"
START=$(date +%s)
NEXT_RELOAD=$SOAK_RELOAD_SECONDS
RELOADS=0
sample 0
while :; do
  sleep "$SOAK_SAMPLE_SECONDS"
  kill -0 "$GW" 2>/dev/null || die "the gateway died: $(tail -5 "$RESULTS/gateway.log")"
  ELAPSED=$(($(date +%s) - START))
  if [ "$SOAK_RELOAD_SECONDS" -gt 0 ] && [ "$ELAPSED" -ge "$NEXT_RELOAD" ]; then
    kill -HUP "$GW"
    RELOADS=$((RELOADS + 1))
    NEXT_RELOAD=$((NEXT_RELOAD + SOAK_RELOAD_SECONDS))
  fi
  sample "$ELAPSED"
  tail -1 "$CSV"
  [ "$ELAPSED" -lt "$SOAK_SECONDS" ] || break
done
wait "$WRK" || true
wait "$CANCEL" || true

# After the load: nothing in flight upstream (no leaked call), the gateway still answers.
sleep 2
METRICS=$(curl -s --max-time 5 "http://127.0.0.1:$PORT/metrics")
ACTIVE_AFTER=$(metric switchboard_upstream_connections 'state="active"')
RELOAD_OK=$(metric switchboard_config_reloads_total 'result="success"')
grep '^SOAK' "$RESULTS/wrk.txt" "$RESULTS/cancel.txt" | sed 's/^[^:]*://'
echo "reloads: $RELOADS sent, $RELOAD_OK succeeded; upstream connections active after the load: $ACTIVE_AFTER"

# ---- verdict -----------------------------------------------------------------------------------
node - "$CSV" "$SOAK_WARMUP_SECONDS" "$SOAK_MAX_GROWTH_PCT" "$ACTIVE_AFTER" <<'EOF'
const [csv, warmup, maxPct, activeAfter] = process.argv.slice(2);
const rows = require('fs').readFileSync(csv, 'utf8').trim().split('\n').slice(1)
  .map((l) => l.split(',').map(Number)).map(([t, rss, fds, req]) => ({ t, rss, fds, req }));
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const after = rows.filter((r) => r.t >= Number(warmup));
if (after.length < 2) { console.log('soak: too few samples after the warm-up'); process.exit(1); }
// Robust ends: the median of the first and of the last minute (6 samples) after the warm-up.
const n = Math.max(1, Math.min(6, Math.floor(after.length / 3)));
const base = median(after.slice(0, n).map((r) => r.rss));
const end = median(after.slice(-n).map((r) => r.rss));
const peak = Math.max(...after.map((r) => r.rss));
const growth = (100 * (end - base)) / base;
const last = rows.at(-1);
const rate = (last.req - rows[0].req) / (last.t - rows[0].t);
console.log(`RSS after warm-up: ${(base / 1024).toFixed(1)} MiB -> ${(end / 1024).toFixed(1)} MiB ` +
  `(${growth >= 0 ? '+' : ''}${growth.toFixed(2)}%, peak ${(peak / 1024).toFixed(1)} MiB, limit +${maxPct}%); ` +
  `fds ${after[0].fds} -> ${last.fds}; ${last.req} requests (${rate.toFixed(0)}/s)`);
let ok = growth <= Number(maxPct);
if (Number(activeAfter) !== 0) { console.log('soak: upstream connections still active after the load'); ok = false; }
console.log(ok ? 'soak: PASS' : 'soak: FAIL');
process.exit(ok ? 0 : 1);
EOF
