#!/usr/bin/env bash
# What observability costs: the same gateway with metrics, traces and OTLP off ("off") and with
# metrics, the trace file and OTLP export to a receiver ("on"), against one fixed upstream, driven
# by wrk in alternating rounds. Prints requests/s and p50 of each and the on/off ratio.
# METRICS_OFF=0 keeps metrics on in "off" too (the cost of tracing alone).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DURATION=${DURATION:-10s}        # wrk -d per measured run
WARMUP=${WARMUP:-2s}             # unrecorded wrk run before each measured one
CONNECTIONS=${CONNECTIONS:-32}   # wrk -c
ROUNDS=${ROUNDS:-3}              # measured runs per variant, alternating; medians reported
GATEWAY_THREADS=${GATEWAY_THREADS:-1}
PORT=${PORT:-18280}              # the upstream
ON_OTLP=${ON_OTLP:-1}            # 0 = "on" writes the trace file only (splits the cost)
ON_FILE=${ON_FILE:-1}            # 0 = "on" exports OTLP only, no trace file (the other split)
SAMPLE_RATIO=${SAMPLE_RATIO:-1}  # traces.otlp.sample_ratio of "on" (1, the default: every request)
METRICS_OFF=${METRICS_OFF:-1}    # 0 = metrics stay on in "off" (splits the cost)
# PIN=1: the gateway (all its threads) on CPU 0, and wrk, the upstream and the OTLP receiver on
# CPU 1. The gateway then has a core of its own, as in production, and every microsecond of its
# observability work (worker and background threads) is taken from its own requests; the load
# side's CPU is reported so a saturated CPU 1 shows.
PIN=${PIN:-0}
GATEWAY_CPU=""
LOAD_CPU=""
if [ "$PIN" = 1 ]; then
  [ "$(nproc)" -ge 2 ] || { echo "bench: PIN=1 needs 2 CPUs" >&2; exit 1; }
  GATEWAY_CPU="taskset -c 0"
  LOAD_CPU="taskset -c 1"
fi
SINK=${SINK:-discard}            # the OTLP receiver: discard (default) | nginx | node; see below
SINK_PORT=${SINK_PORT:-$((PORT + 1))}  # the nginx sink
SWITCHBOARD=${SWITCHBOARD:-$ROOT/build/switchboard}
# Where the "on" gateway's trace file goes. The default is under /tmp, on whatever disk that is;
# TRACE_DIR=/dev/shm keeps the file in memory, which leaves out the kernel's writeback to the
# disk (kernel threads and, on a VM, the virtual disk's work): reported as "kernel threads".
TRACE_DIR=${TRACE_DIR:-}

die() { echo "bench: $*" >&2; exit 1; }
command -v wrk >/dev/null || die "wrk not found (Debian: apt-get install wrk)"
command -v node >/dev/null || die "node not found"
command -v curl >/dev/null || die "curl not found"
[ -x "$SWITCHBOARD" ] || die "$SWITCHBOARD not found: build it first (bash .ci/build)"
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then die "port $PORT is in use (set PORT)"; fi

WORK=$(mktemp -d /tmp/switchboard-obs-bench.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
  [ -z "${TRACE_FILE:-}" ] || rm -f "$TRACE_FILE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the upstream: nginx returning a fixed chat.completion, or the built-in mock ----------------
JSON_BODY='{"id":"chatcmpl-bench0001","object":"chat.completion","created":1732400000,"model":"bench-model","choices":[{"index":0,"message":{"role":"assistant","content":"Prince Hamlet avenges his father by killing his uncle Claudius, but the revenge costs nearly everyone their life, including his own.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":27,"completion_tokens":26,"total_tokens":53}}'
if command -v nginx >/dev/null; then
  mkdir -p "$WORK/nginx"
  cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes 1;
pid nginx.pid;
error_log error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:$PORT;
    location / { default_type application/json; return 200 '$JSON_BODY'; }
  }
}
EOF
  $LOAD_CPU nginx -p "$WORK/nginx" -c nginx.conf -e "$WORK/nginx/error.log" -g 'daemon off;' >/dev/null 2>&1 </dev/null &
  PIDS+=($!)
  UPSTREAM_PID=$!
  UPSTREAM_DESC="nginx return 200 (1 worker)"
else
  "$SWITCHBOARD" --mock-upstream "127.0.0.1:$PORT" --threads 1 >/dev/null 2>"$WORK/mock.log" </dev/null &
  PIDS+=($!)
  UPSTREAM_PID=$!
  UPSTREAM_DESC="switchboard --mock-upstream (1 thread)"
fi

# ---- the OTLP receiver ------------------------------------------------------------------------------
# In production the collector runs on another machine: neither its CPU nor its wake-ups reach
# the gateway's box. Here it shares the 2 cores with everything else, so it is made as cheap and
# as unobtrusive as a receiver can be, and what it still costs is counted and printed:
# - SINK=discard (default): build/switchboard_otlp_sink (bench/otlp_sink.cpp), which answers 200
#   and drops each body inside the kernel (recv with MSG_TRUNC): ~0.15 us a span here, against
#   ~0.45 for nginx, which reads a body 4 KB at a time to discard it.
# - SINK=nginx: nginx answering 200 (one process, no master).
# - SINK=node: the fake collector in count mode (node decoding ~1.5 KB of JSON a span: several
#   us a span).
# The receiver runs as a batch process (SCHED_BATCH, `chrt -b`): it still gets its share of the
# CPU, but a POST arriving no longer preempts wrk, the upstream or a gateway thread, which a
# collector on another machine never does. Delivery is proven by the gateway's own counters
# (exported, failed, dropped) printed at the end.
BATCH=""
command -v chrt >/dev/null && BATCH="chrt -b 0"
wait_port_file() {  # $1 = the file the receiver prints its port to; sets COLLECTOR_PORT
  for _ in $(seq 1 100); do [ -s "$1" ] && break; sleep 0.05; done
  COLLECTOR_PORT=$(head -1 "$1")
  [ -n "$COLLECTOR_PORT" ] || die "the OTLP receiver did not start"
}
if [ "$SINK" = discard ]; then
  SINK_BIN=${SINK_BIN:-$ROOT/build/switchboard_otlp_sink}
  if [ ! -x "$SINK_BIN" ]; then
    cmake --build "$ROOT/build" --target switchboard_otlp_sink >/dev/null || die "cannot build $SINK_BIN"
  fi
  $LOAD_CPU $BATCH "$SINK_BIN" 0 >"$WORK/sink.port" 2>"$WORK/sink.log" </dev/null &
  PIDS+=($!)
  SINK_PID=$!
  wait_port_file "$WORK/sink.port"
  SINK_DESC="switchboard_otlp_sink (discards in the kernel)"
elif [ "$SINK" = nginx ]; then
  command -v nginx >/dev/null || die "SINK=nginx needs nginx (or SINK=discard)"
  if (exec 3<>"/dev/tcp/127.0.0.1/$SINK_PORT") 2>/dev/null; then die "port $SINK_PORT is in use (set SINK_PORT)"; fi
  mkdir -p "$WORK/sink"
  cat >"$WORK/sink/nginx.conf" <<EOF
master_process off;
worker_processes 1;
pid nginx.pid;
error_log error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_max_body_size 0;
  client_body_buffer_size 1m;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  server {
    listen 127.0.0.1:$SINK_PORT;
    location = /v1/traces { default_type application/json; return 200 '{"partialSuccess":{}}'; }
  }
}
EOF
  $LOAD_CPU $BATCH nginx -p "$WORK/sink" -c nginx.conf -e "$WORK/sink/error.log" -g 'daemon off;' >/dev/null 2>&1 </dev/null &
  PIDS+=($!)
  SINK_PID=$!
  COLLECTOR_PORT=$SINK_PORT
  SINK_DESC="nginx answering 200 (1 process)"
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$SINK_PORT") 2>/dev/null && break; sleep 0.05; done
elif [ "$SINK" = node ]; then
  # count mode: no validation, counts spans, answers 200 at once
  $LOAD_CPU $BATCH node tests/integration/fakes/otlp_collector.mjs count >"$WORK/collector.port" 2>"$WORK/collector.log" &
  PIDS+=($!)
  SINK_PID=$!
  wait_port_file "$WORK/collector.port"
  SINK_DESC="the fake collector (node, count mode)"
else
  die "SINK must be discard, nginx or node"
fi

# ---- the two gateways -------------------------------------------------------------------------------
start_gateway() {  # $1 = name, $2 = traces file, $3 = OTLP endpoint, $4 = metrics; sets ADDR and GW_PID
  local log=$WORK/$1.log
  BENCH_THREADS=$GATEWAY_THREADS BENCH_TRACES=$2 BENCH_OTLP=$3 BENCH_METRICS=$4 BENCH_SAMPLE_RATIO=$SAMPLE_RATIO \
    BENCH_UPSTREAM=127.0.0.1:$PORT \
    $GATEWAY_CPU "$SWITCHBOARD" --config "$ROOT/bench/observability.yaml" 2>"$log" >/dev/null </dev/null &
  GW_PID=$!
  PIDS+=("$GW_PID")
  ADDR=""
  for _ in $(seq 1 100); do
    ADDR=$(grep -o 'listening on [0-9.]*:[0-9]*' "$log" | head -1 | cut -d' ' -f3 || true)
    [ -n "$ADDR" ] && break
    kill -0 "$GW_PID" 2>/dev/null || { cat "$log" >&2; die "gateway $1 exited"; }
    sleep 0.05
  done
  [ -n "$ADDR" ] || die "gateway $1 did not start"
}
if [ -n "$TRACE_DIR" ]; then
  [ -d "$TRACE_DIR" ] && [ -w "$TRACE_DIR" ] || die "TRACE_DIR $TRACE_DIR is not a writable directory"
  TRACE_FILE=$(mktemp "$TRACE_DIR/switchboard-obs-bench-traces.XXXXXX")
else
  TRACE_FILE=$WORK/traces.jsonl
fi
start_gateway off "" "" "$([ "$METRICS_OFF" = 1 ] && echo false || echo true)"
OFF=http://$ADDR
OFF_PID=$GW_PID
start_gateway on "$([ "$ON_FILE" = 1 ] && echo "$TRACE_FILE")" "$([ "$ON_OTLP" = 1 ] && echo "http://127.0.0.1:$COLLECTOR_PORT")" true
ON=http://$ADDR
ON_PID=$GW_PID
HZ=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime + stime, all threads
# The upstream's CPU: its nginx worker (the master idles), or the mock's process.
upstream_ticks() {
  local pid t=0
  for pid in "$UPSTREAM_PID" $(pgrep -P "$UPSTREAM_PID" || true); do t=$((t + $(cpu_ticks "$pid"))); done
  echo "$t"
}
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }  # the whole machine
cpu1_ticks() { awk '/^cpu1 / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
# Kernel threads (children of kthreadd, pid 2): writeback of the trace file, among others.
kthread_ticks() {
  local f t=0
  for f in /proc/[0-9]*/stat; do
    read -r -a v <"$f" 2>/dev/null || continue
    # fields after the "(comm)" may shift when comm has spaces; kernel thread names have none
    [ "${v[3]}" = 2 ] && t=$((t + v[13] + v[14]))
  done
  echo "$t"
}
# utime + stime per thread name ("name ticks" lines; the comm field may hold spaces).
thread_ticks() {
  local f
  for f in /proc/"$1"/task/*/stat; do
    sed -E 's/^[0-9]+ \((.*)\) (.*)$/\1|\2/' "$f" 2>/dev/null | awk -F'|' '{split($2, v, " "); gsub(/ /, "_", $1); print $1, v[12] + v[13]}'
  done | awk '{t[$1] += $2} END {for (n in t) print n, t[n]}' | sort
}

REQ=$(sed -n "s/^wrk.body = '\(.*\)'$/\1/p" bench/post_chat.lua)
for url in "$OFF" "$ON"; do
  code=$(curl -s -o "$WORK/check.out" -w '%{http_code}' -m 5 -X POST -H 'content-type: application/json' \
    --data "$REQ" "$url/v1/chat/completions") || true
  [ "$code" = 200 ] || { cat "$WORK/check.out" >&2; die "$url answered $code"; }
done

{
  echo "date: $(date -Is)"
  echo "host: $(uname -srm), $(nproc) cores; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "upstream: $UPSTREAM_DESC; gateway: server.threads $GATEWAY_THREADS"
  echo "wrk: -t1 -c$CONNECTIONS -d$DURATION (warm-up $WARMUP), $ROUNDS rounds, off/on alternating"
  echo "off: $([ "$METRICS_OFF" = 1 ] && echo "metrics.enabled false" || echo "metrics on"), traces.file \"\", no OTLP" \
    "| on: metrics$([ "$ON_FILE" = 1 ] && echo ", traces.file (a file)")$([ "$ON_OTLP" = 1 ] && echo " + OTLP/HTTP JSON to $SINK_DESC, sample_ratio $SAMPLE_RATIO")"
}

# One line per measured run in $WORK/runs: variant rps p50_ms cpu_us_per_request
: >"$WORK/runs"
: >"$WORK/threads"
measure() {  # $1 = variant, $2 = URL, $3 = the gateway's pid
  $LOAD_CPU wrk -t1 -c"$CONNECTIONS" -d"$WARMUP" -s bench/post_chat.lua "$2" >/dev/null 2>&1 || die "wrk warm-up failed"
  : >"$TRACE_FILE"  # keep the trace file small; the gateway appends (O_APPEND)
  local t0 t1 rps p50 errors requests cpu s0 s1 u0 u1 b0 b1 c0 c1 others machine
  t0=$(cpu_ticks "$3")
  thread_ticks "$3" >"$WORK/threads.0"
  s0=$(cpu_ticks "$SINK_PID")
  u0=$(upstream_ticks)
  b0=$(busy_ticks)
  local w0 w1 k0 k1
  c0=$(cpu1_ticks)
  k0=$(kthread_ticks)
  w0=$(date +%s.%N)
  /usr/bin/time -f '%U %S' -o "$WORK/wrk.time" \
    $LOAD_CPU wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s bench/post_chat.lua "$2" >"$WORK/wrk.out" 2>&1 \
    || { cat "$WORK/wrk.out" >&2; die "wrk failed"; }
  t1=$(cpu_ticks "$3")
  thread_ticks "$3" >"$WORK/threads.1"
  s1=$(cpu_ticks "$SINK_PID")
  u1=$(upstream_ticks)
  b1=$(busy_ticks)
  c1=$(cpu1_ticks)
  k1=$(kthread_ticks)
  w1=$(date +%s.%N)
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$WORK/wrk.out")
  p50=$(awk '$1 == "50%" {v = $2; if (v ~ /us$/) {sub(/us/, "", v); v /= 1000} else if (v ~ /ms$/) sub(/ms/, "", v); else if (v ~ /s$/) {sub(/s/, "", v); v *= 1000}; print v}' "$WORK/wrk.out")
  errors=$(awk '/Non-2xx|Socket errors/ {e = 1} END {print e + 0}' "$WORK/wrk.out")
  [ "$errors" = 0 ] || { cat "$WORK/wrk.out" >&2; die "$1: wrk saw errors"; }
  requests=$(awk '/requests in/ {print $1}' "$WORK/wrk.out")
  cpu=$(awk -v t=$((t1 - t0)) -v n="$requests" -v hz="$HZ" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }')
  # The rest of the machine per request: the upstream, wrk, and everything (busy CPU time).
  others=$(awk -v u=$((u1 - u0)) -v b=$((b1 - b0)) -v c=$((c1 - c0)) -v k=$((k1 - k0)) -v n="$requests" -v hz="$HZ" \
    -v pin="$PIN" -v wall="$(awk -v a="$w0" -v b="$w1" 'BEGIN {print b - a}')" '
    { w = $1 + $2 } END {
      printf "upstream %.1f, wrk %.1f, kernel threads %.1f, whole machine %.1f", u * 1e6 / hz / n, w * 1e6 / n, k * 1e6 / hz / n, b * 1e6 / hz / n
      if (pin == 1) printf "; CPU 1 (wrk, upstream, receiver) %.0f%% busy", c * 100 / hz / wall
    }' "$WORK/wrk.time")
  machine=$(awk -v b=$((b1 - b0)) -v n="$requests" -v hz="$HZ" 'BEGIN { printf "%.2f", b * 1e6 / hz / n }')
  echo "$1 $rps $p50 $cpu $machine" >>"$WORK/runs"
  # Per thread name, and the OTLP sink's process, in us per request.
  local split
  split=$( { cat "$WORK/threads.0"; echo --; cat "$WORK/threads.1"; echo "sink $((s1 - s0))"; } | awk -v n="$requests" -v hz="$HZ" '
    $1 == "--" { after = 1; next }
    $1 == "sink" { sink = $2; next }
    !after { t0[$1] = $2; next }
    { names[$1] = 1; t1[$1] = $2 }
    END {
      for (k in names) printf "%s=%.1f ", k, (t1[k] - t0[k]) * 1e6 / hz / n
      if (sink != "") printf "[otlp sink %.1f]", sink * 1e6 / hz / n
    }')
  for kv in $split; do
    case $kv in *=*) echo "$1 ${kv%%=*} ${kv#*=}" >>"$WORK/threads" ;; esac
  done
  printf '  %-4s %10.0f req/s  p50 %.3f ms  gateway CPU %s us/request: %s\n' "$1" "$rps" "$p50" "$cpu" "$split"
  printf '       CPU us/request elsewhere: %s\n' "$others"
}
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round/$ROUNDS"
  if [ $((round % 2)) = 1 ]; then measure off "$OFF" "$OFF_PID"; measure on "$ON" "$ON_PID"
  else measure on "$ON" "$ON_PID"; measure off "$OFF" "$OFF_PID"; fi
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

otlp_metric() { curl -s "$ON/metrics" | awk -v n="$1" '$1 == n {print $2}'; }
sleep 1.5  # the last batch
echo "OTLP on the 'on' gateway: exported $(otlp_metric switchboard_otlp_spans_exported_total)," \
  "failed $(otlp_metric switchboard_otlp_spans_failed_total), dropped $(otlp_metric switchboard_otlp_spans_dropped_total)"

awk '
  function median(v, c,   i, j, t) {
    for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    return c % 2 ? v[(c + 1) / 2] : (v[c / 2] + v[c / 2 + 1]) / 2
  }
  $1 == "off" { off[++no] = $2; offp[no] = $3; offc[no] = $4; offm[no] = $5 }
  $1 == "on" { on[++nn] = $2; onp[nn] = $3; onc[nn] = $4; onm[nn] = $5 }
  END {
    # Each round measures both back to back: its own ratio cancels the drift between rounds.
    # (Taken first: median() sorts its array in place.)
    for (i = 1; i <= no && i <= nn; i++) { pr[i] = on[i] / off[i]; rounds = rounds sprintf(" %.3f", pr[i]) }
    r_off = median(off, no); r_on = median(on, nn); p_off = median(offp, no); p_on = median(onp, nn)
    printf "\nmedian req/s: off %.0f, on %.0f -> on/off %.3f (cost %.1f%% of requests/s)\n", r_off, r_on, r_on / r_off, (1 - r_on / r_off) * 100
    printf "median of the rounds'"'"' own on/off: %.3f (rounds:%s)\n", median(pr, i - 1), rounds
    printf "median p50: off %.3f ms, on %.3f ms\n", p_off, p_on
    c_off = median(offc, no); c_on = median(onc, nn)
    printf "median gateway CPU per request: off %.1f us, on %.1f us -> +%.1f%% (the steadier figure on a shared machine)\n", c_off, c_on, (c_on / c_off - 1) * 100
    # The box is near saturation, so requests/s goes as the inverse of this.
    m_off = median(offm, no); m_on = median(onm, nn)
    printf "median whole-machine CPU per request: off %.1f us, on %.1f us -> +%.1f%%\n", m_off, m_on, (m_on / m_off - 1) * 100
  }' "$WORK/runs"
echo "median CPU per request by gateway thread (us; the worker threads share the process name):"
awk '
  { k = $1 " " $2; n = ++c[k]; v[k, n] = $3 }
  END {
    for (k in c) {
      m = c[k]
      for (i = 1; i <= m; i++) a[i] = v[k, i]
      for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      printf "  %-4s %-16s %.1f\n", substr(k, 1, index(k, " ") - 1), substr(k, index(k, " ") + 1), m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
    }
  }' "$WORK/threads" | sort
