#!/usr/bin/env bash
# Switchboard vs nginx: the same fixed upstream behind nginx (a plain keep-alive reverse proxy)
# and behind the gateway, both driven by wrk at the same concurrency in one run.
# Prints requests/s, p50 and p99 for each target and the gateway/nginx ratios.
# See bench/README.md. Raw wrk outputs go to bench/results/<timestamp>/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

DURATION=${DURATION:-10s}          # wrk -d per measured run
WARMUP=${WARMUP:-2s}               # wrk -d of the unrecorded warm-up before each measured run
CONNECTIONS=${CONNECTIONS:-32}     # wrk -c
THREADS=${THREADS:-1}              # wrk -t
LATENCY=${LATENCY:-1}              # 1 = also measure every target with one connection (-c1):
LATENCY_DURATION=${LATENCY_DURATION:-5s}   #   latency without queueing, the "added latency" figure
ROUNDS=${ROUNDS:-1}                # measured runs per target, interleaved; the median is reported
GATEWAY_THREADS=${GATEWAY_THREADS:-1}   # gateway server.threads (workers)
NGINX_WORKERS=${NGINX_WORKERS:-1}       # worker_processes of the nginx reverse proxy
UPSTREAM=${UPSTREAM:-nginx}        # nginx (fixed `return 200` bodies) | mock (switchboard --mock-upstream)
STREAM=${STREAM:-1}                # 1 = also measure the streaming (SSE) variant
TRACES=${TRACES:-1}                # 1 = also measure the gateway with traces written to /dev/null
TRANSLATE=${TRANSLATE:-1}          # 1 = also measure the translation path (OpenAI in, Anthropic out)
PORT_BASE=${PORT_BASE:-18180}      # nginx ports: BASE (upstream JSON), +1 (upstream SSE), +2/+3 (proxy),
                                   #   +4/+5 (Anthropic-format upstream JSON/SSE)
SWITCHBOARD=${SWITCHBOARD:-$ROOT/build/switchboard}

die() { echo "bench: $*" >&2; exit 1; }

# ---- prerequisites ------------------------------------------------------------------------------
command -v nginx >/dev/null || die "nginx not found (Debian: apt-get install nginx-light)"
command -v wrk >/dev/null || die "wrk not found (Debian: apt-get install wrk)"
command -v curl >/dev/null || die "curl not found"
[ -x "$SWITCHBOARD" ] || die "$SWITCHBOARD not found or not executable: build it first (bash .ci/build)"
case "$UPSTREAM" in nginx|mock) ;; *) die "UPSTREAM must be nginx or mock" ;; esac

UP_JSON_PORT=$PORT_BASE
UP_SSE_PORT=$((PORT_BASE + 1))
PX_JSON_PORT=$((PORT_BASE + 2))
PX_SSE_PORT=$((PORT_BASE + 3))
UP_ANT_PORT=$((PORT_BASE + 4))
UP_ANT_SSE_PORT=$((PORT_BASE + 5))
if [ "$UPSTREAM" = mock ] && [ "$TRANSLATE" = 1 ]; then
  echo "bench: the mock upstream speaks OpenAI only: no translation runs (use UPSTREAM=nginx)" >&2
  TRANSLATE=0
fi
for p in $UP_JSON_PORT $UP_SSE_PORT $PX_JSON_PORT $PX_SSE_PORT $UP_ANT_PORT $UP_ANT_SSE_PORT; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    die "port $p is already in use (set PORT_BASE)"
  fi
done

STAMP=$(date +%Y%m%d-%H%M%S)
RESULTS=$ROOT/bench/results/$STAMP
mkdir -p "$RESULTS"
WORK=$(mktemp -d /tmp/switchboard-bench.XXXXXX)

# ---- process bookkeeping: every process started here is stopped on exit --------------------------
PIDS=()
WRK_PID=""
cleanup() {
  local pid
  for pid in $WRK_PID "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in $WRK_PID "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  for pid in upstream proxy; do
    cp "$WORK/$pid/error.log" "$RESULTS/nginx-$pid-error.log" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_http() {  # wait until URL answers at all (any status), up to 5 s
  local url=$1 i
  for i in $(seq 1 100); do
    if curl -s -o /dev/null -m 1 "$url"; then return 0; fi
    sleep 0.05
  done
  die "$url did not come up"
}

# ---- fixed upstream bodies ------------------------------------------------------------------------
# A typical chat.completion with usage, and the same answer as an SSE stream (3 content chunks,
# a finish chunk, a usage chunk, [DONE]). No `'`, `$` or `\` inside: they are nginx string literals.
JSON_BODY='{"id":"chatcmpl-bench0001","object":"chat.completion","created":1732400000,"model":"bench-model","system_fingerprint":"fp_bench","choices":[{"index":0,"message":{"role":"assistant","content":"Prince Hamlet avenges his father by killing his uncle Claudius, but the revenge costs nearly everyone their life, including his own.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":27,"completion_tokens":26,"total_tokens":53,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}'
sse_chunk() {  # $1 = delta JSON, $2 = finish_reason JSON
  printf 'data: {"id":"chatcmpl-bench0001","object":"chat.completion.chunk","created":1732400000,"model":"bench-model","system_fingerprint":"fp_bench","choices":[{"index":0,"delta":%s,"logprobs":null,"finish_reason":%s}]}\\n\\n' "$1" "$2"
}
SSE_BODY="$(sse_chunk '{"role":"assistant","content":""}' null)$(sse_chunk '{"content":"Prince Hamlet avenges his father "}' null)$(sse_chunk '{"content":"by killing his uncle Claudius, "}' null)$(sse_chunk '{"content":"but the revenge costs nearly everyone their life."}' null)$(sse_chunk '{}' '"stop"')"
SSE_BODY+='data: {"id":"chatcmpl-bench0001","object":"chat.completion.chunk","created":1732400000,"model":"bench-model","system_fingerprint":"fp_bench","choices":[],"usage":{"prompt_tokens":27,"completion_tokens":22,"total_tokens":49}}\n\ndata: [DONE]\n\n'

# The same answer in Anthropic's Messages format, whole and as its event stream.
ANT_JSON_BODY='{"id":"msg_bench0001","type":"message","role":"assistant","model":"claude-bench","content":[{"type":"text","text":"Prince Hamlet avenges his father by killing his uncle Claudius, but the revenge costs nearly everyone their life, including his own."}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":27,"output_tokens":26,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}'
ant_event() {  # $1 = event type, $2 = data JSON
  printf 'event: %s\\ndata: %s\\n\\n' "$1" "$2"
}
ANT_SSE_BODY="$(ant_event message_start '{"type":"message_start","message":{"id":"msg_bench0001","type":"message","role":"assistant","model":"claude-bench","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":27,"output_tokens":1,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}}}')"
ANT_SSE_BODY+="$(ant_event content_block_start '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}')"
for piece in "Prince Hamlet avenges his father " "by killing his uncle Claudius, " "but the revenge costs nearly everyone their life."; do
  ANT_SSE_BODY+="$(ant_event content_block_delta "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"$piece\"}}")"
done
ANT_SSE_BODY+="$(ant_event content_block_stop '{"type":"content_block_stop","index":0}')"
ANT_SSE_BODY+="$(ant_event message_delta '{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":22}}')"
ANT_SSE_BODY+="$(ant_event message_stop '{"type":"message_stop"}')"

nginx_common() {  # $1 = worker_processes
  cat <<EOF
worker_processes $1;
pid nginx.pid;
error_log error.log warn;
events { worker_connections 4096; multi_accept on; }
EOF
}

start_nginx() {  # $1 = name: runs $WORK/$1/nginx.conf (written by the caller) in the foreground
  local dir=$WORK/$1
  nginx -t -q -p "$dir" -c nginx.conf -e "$dir/error.log" -g 'daemon off;' \
    || die "nginx config $1 invalid (see $dir/nginx.conf)"
  nginx -p "$dir" -c nginx.conf -e "$dir/error.log" -g 'daemon off;' >"$dir/stdout.log" 2>&1 </dev/null &
  PIDS+=($!)
}

# ---- the upstream ---------------------------------------------------------------------------------
mkdir -p "$WORK/upstream" "$WORK/proxy"
if [ "$UPSTREAM" = nginx ]; then
  { nginx_common 1; cat <<EOF
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  client_body_buffer_size 64k;
  server {
    listen 127.0.0.1:$UP_JSON_PORT reuseport;
    location / { default_type application/json; return 200 '$JSON_BODY'; }
  }
  server {
    listen 127.0.0.1:$UP_SSE_PORT reuseport;
    location / { default_type text/event-stream; return 200 '$SSE_BODY'; }
  }
  server {
    listen 127.0.0.1:$UP_ANT_PORT reuseport;
    location / { default_type application/json; return 200 '$ANT_JSON_BODY'; }
  }
  server {
    listen 127.0.0.1:$UP_ANT_SSE_PORT reuseport;
    location / { default_type text/event-stream; return 200 '$ANT_SSE_BODY'; }
  }
}
EOF
  } >"$WORK/upstream/nginx.conf"
  start_nginx upstream
  UPSTREAM_DESC="nginx return 200 (1 worker)"
else
  # The mock answers streaming and non-streaming calls on one port, from the request body.
  "$SWITCHBOARD" --mock-upstream "127.0.0.1:$UP_JSON_PORT" --threads 1 >/dev/null 2>"$RESULTS/mock-upstream.log" </dev/null &
  PIDS+=($!)
  UP_SSE_PORT=$UP_JSON_PORT
  UPSTREAM_DESC="switchboard --mock-upstream (1 thread)"
fi
wait_http "http://127.0.0.1:$UP_JSON_PORT/"

# ---- nginx as a plain keep-alive reverse proxy ---------------------------------------------------
{ nginx_common "$NGINX_WORKERS"; cat <<EOF
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  client_body_buffer_size 64k;
  upstream up_json { server 127.0.0.1:$UP_JSON_PORT; keepalive 64; keepalive_requests 1000000; }
  upstream up_sse  { server 127.0.0.1:$UP_SSE_PORT;  keepalive 64; keepalive_requests 1000000; }
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  proxy_set_header Authorization "Bearer bench-key";
  server {
    listen 127.0.0.1:$PX_JSON_PORT reuseport;
    location / { proxy_pass http://up_json; }
  }
  server {
    listen 127.0.0.1:$PX_SSE_PORT reuseport;
    location / { proxy_pass http://up_sse; proxy_buffering off; }
  }
}
EOF
} >"$WORK/proxy/nginx.conf"
start_nginx proxy
wait_http "http://127.0.0.1:$PX_JSON_PORT/"

# ---- the gateway ----------------------------------------------------------------------------------
GATEWAY_PID=""
GATEWAY_ADDR=""
start_gateway() {  # $1 = traces file ("" = off)
  local log=$RESULTS/gateway${1:+-traces}.log i
  BENCH_LISTEN=127.0.0.1:0 BENCH_THREADS=$GATEWAY_THREADS BENCH_TRACES=$1 \
    BENCH_UPSTREAM_JSON=127.0.0.1:$UP_JSON_PORT BENCH_UPSTREAM_SSE=127.0.0.1:$UP_SSE_PORT \
    BENCH_UPSTREAM_ANTHROPIC=127.0.0.1:$UP_ANT_PORT BENCH_UPSTREAM_ANTHROPIC_SSE=127.0.0.1:$UP_ANT_SSE_PORT \
    "$SWITCHBOARD" --config "$ROOT/bench/gateway.yaml" 2>"$log" >/dev/null </dev/null &
  GATEWAY_PID=$!
  PIDS+=("$GATEWAY_PID")
  GATEWAY_ADDR=""
  for i in $(seq 1 100); do
    GATEWAY_ADDR=$(grep -o 'listening on [0-9.]*:[0-9]*' "$log" | head -1 | cut -d' ' -f3 || true)
    [ -n "$GATEWAY_ADDR" ] && break
    kill -0 "$GATEWAY_PID" 2>/dev/null || { cat "$log" >&2; die "gateway exited"; }
    sleep 0.05
  done
  [ -n "$GATEWAY_ADDR" ] || { cat "$log" >&2; die "gateway did not log its listen address"; }
}

# ---- measuring ------------------------------------------------------------------------------------
REQ_JSON=$(sed -n "s/^wrk.body = '\(.*\)'$/\1/p" bench/post_chat.lua)
REQ_SSE=$(sed -n "s/^wrk.body = '\(.*\)'$/\1/p" bench/post_chat_stream.lua)
REQ_TR=$(sed -n "s/^wrk.body = '\(.*\)'$/\1/p" bench/post_chat_translate.lua)
REQ_TR_SSE=$(sed -n "s/^wrk.body = '\(.*\)'$/\1/p" bench/post_chat_translate_stream.lua)

check_target() {  # $1 = base URL, $2 = body, $3 = text the answer must contain: one request, 200
  local code
  code=$(curl -s -o "$WORK/check.out" -w '%{http_code}' -m 5 -X POST \
    -H 'content-type: application/json' -H 'authorization: Bearer bench-client' \
    --data "$2" "$1/v1/chat/completions") || true
  if [ "$code" != 200 ] || ! grep -qF -- "$3" "$WORK/check.out"; then
    cat "$WORK/check.out" >&2 || true
    die "$1 answered $code without '$3'"
  fi
}

cpu_ticks() {  # summed utime+stime (all threads) of the given pids, in clock ticks
  local pid total=0
  for pid in "$@"; do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
  done
  echo "$total"
}
HZ=$(getconf CLK_TCK)

# Each measured run leaves one line in $WORK/runs:
#   label rps p50_us p99_us requests errors proxy_cpu_us_per_req upstream_cpu_us_per_req
: >"$WORK/runs"
run_wrk() {  # $1 = output file, then wrk's arguments; in the background so a signal stops it at once
  local out=$1 rc=0
  shift
  wrk "$@" >"$out" 2>&1 &
  WRK_PID=$!
  wait "$WRK_PID" || rc=$?
  WRK_PID=""
  return "$rc"
}

measure() {  # $1 = label, $2 = base URL, $3 = lua script, $4 = round, $5 = proxy pids ("" = none),
             # $6 = connections, $7 = duration
  local out=$RESULTS/$1.round$4.txt line p0 p1 u0 u1 n pcpu ucpu t=$THREADS
  [ "$6" -lt "$t" ] && t=$6
  run_wrk "$RESULTS/warmup.txt" -t"$t" -c"$6" -d"$WARMUP" -s "$3" "$2" \
    || { cat "$RESULTS/warmup.txt" >&2; die "wrk warm-up against $1 ($2) failed"; }
  p0=$(cpu_ticks $5); u0=$(cpu_ticks "${UPSTREAM_PIDS[@]}")
  run_wrk "$out" -t"$t" -c"$6" -d"$7" --latency -s "$3" "$2" \
    || { cat "$out" >&2; die "wrk against $1 ($2) failed"; }
  p1=$(cpu_ticks $5); u1=$(cpu_ticks "${UPSTREAM_PIDS[@]}")
  line=$(grep '^BENCH ' "$out" | tail -1) || die "no BENCH line from wrk for $1 (see $out)"
  n=$(awk '{print $5}' <<<"$line")
  pcpu=$(awk -v t=$((p1 - p0)) -v n="$n" -v hz="$HZ" 'BEGIN { printf "%.1f", n ? t * 1e6 / hz / n : 0 }')
  ucpu=$(awk -v t=$((u1 - u0)) -v n="$n" -v hz="$HZ" 'BEGIN { printf "%.1f", n ? t * 1e6 / hz / n : 0 }')
  echo "$1 ${line#BENCH } $pcpu $ucpu" >>"$WORK/runs"
}

start_gateway ""
PLAIN_GW=http://$GATEWAY_ADDR
PLAIN_GW_PID=$GATEWAY_PID
TRACE_GW=""
TRACE_GW_PID=""
if [ "$TRACES" = 1 ]; then
  start_gateway /dev/null
  TRACE_GW=http://$GATEWAY_ADDR
  TRACE_GW_PID=$GATEWAY_PID
fi

# CPU accounting: nginx workers are the master's children; the gateway is one process.
UP_MASTER=${PIDS[0]}
PX_MASTER=${PIDS[1]}
if [ "$UPSTREAM" = nginx ]; then
  mapfile -t UPSTREAM_PIDS < <(pgrep -P "$UP_MASTER")
else
  UPSTREAM_PIDS=("$UP_MASTER")
fi
PROXY_PIDS=$(pgrep -P "$PX_MASTER" | tr '\n' ' ')

UP_JSON=http://127.0.0.1:$UP_JSON_PORT
UP_SSE=http://127.0.0.1:$UP_SSE_PORT
PX_JSON=http://127.0.0.1:$PX_JSON_PORT
PX_SSE=http://127.0.0.1:$PX_SSE_PORT
for t in "$UP_JSON" "$PX_JSON" "$PLAIN_GW" ${TRACE_GW:+"$TRACE_GW"}; do
  check_target "$t" "$REQ_JSON" '"chat.completion"'
done
if [ "$STREAM" = 1 ]; then
  for t in "$UP_SSE" "$PX_SSE" "$PLAIN_GW" ${TRACE_GW:+"$TRACE_GW"}; do
    check_target "$t" "$REQ_SSE" 'data: [DONE]'
  done
fi

if [ "$TRANSLATE" = 1 ]; then
  check_target "$PLAIN_GW" "$REQ_TR" 'Prince Hamlet avenges'
  [ "$STREAM" = 1 ] && check_target "$PLAIN_GW" "$REQ_TR_SSE" 'data: [DONE]'
fi

{
  echo "date: $(date -Is)"
  echo "host: $(uname -srm), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
  echo "switchboard: $("$SWITCHBOARD" --version 2>&1 | head -1)"
  echo "nginx: $(nginx -v 2>&1 | cut -d/ -f2), wrk: $(wrk -v 2>&1 | head -1 | cut -d' ' -f2)"
  echo "upstream: $UPSTREAM_DESC; nginx proxy: $NGINX_WORKERS worker(s); gateway: server.threads $GATEWAY_THREADS"
  echo "wrk: -t$THREADS -c$CONNECTIONS -d$DURATION (warm-up $WARMUP), rounds $ROUNDS$( [ "$LATENCY" = 1 ] && echo "; latency runs (lat-*): -t1 -c1 -d$LATENCY_DURATION")"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$RESULTS/summary.txt"

# Targets: label|url|script|pids whose CPU time is the proxy's. Interleaved per round.
TARGETS=(
  "upstream-direct|$UP_JSON|bench/post_chat.lua|"
  "nginx|$PX_JSON|bench/post_chat.lua|$PROXY_PIDS"
  "gateway|$PLAIN_GW|bench/post_chat.lua|$PLAIN_GW_PID"
)
[ -n "$TRACE_GW" ] && TARGETS+=("gateway+traces|$TRACE_GW|bench/post_chat.lua|$TRACE_GW_PID")
[ "$TRANSLATE" = 1 ] && TARGETS+=("gateway-translate|$PLAIN_GW|bench/post_chat_translate.lua|$PLAIN_GW_PID")
if [ "$STREAM" = 1 ]; then
  TARGETS+=(
    "stream-upstream-direct|$UP_SSE|bench/post_chat_stream.lua|"
    "stream-nginx|$PX_SSE|bench/post_chat_stream.lua|$PROXY_PIDS"
    "stream-gateway|$PLAIN_GW|bench/post_chat_stream.lua|$PLAIN_GW_PID"
  )
  [ -n "$TRACE_GW" ] && TARGETS+=("stream-gateway+traces|$TRACE_GW|bench/post_chat_stream.lua|$TRACE_GW_PID")
  [ "$TRANSLATE" = 1 ] && TARGETS+=("stream-gateway-translate|$PLAIN_GW|bench/post_chat_translate_stream.lua|$PLAIN_GW_PID")
fi

for round in $(seq 1 "$ROUNDS"); do
  for t in "${TARGETS[@]}"; do
    IFS='|' read -r label url script pids <<<"$t"
    echo "round $round/$ROUNDS: $label -c$CONNECTIONS ..." >&2
    measure "$label" "$url" "$script" "$round" "$pids" "$CONNECTIONS" "$DURATION"
  done
  if [ "$LATENCY" = 1 ]; then
    for t in "${TARGETS[@]}"; do
      IFS='|' read -r label url script pids <<<"$t"
      echo "round $round/$ROUNDS: $label -c1 ..." >&2
      measure "lat-$label" "$url" "$script" "$round" "$pids" 1 "$LATENCY_DURATION"
    done
  fi
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$RESULTS/summary.txt"

# ---- summary --------------------------------------------------------------------------------------
# Per label, the round with the median requests/s (its p50/p99/CPU are shown with it).
awk -v conns="$CONNECTIONS" '
  { n[$1]++; m = n[$1]; line[$1, m] = $0; rps[$1, m] = $2
    if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 } }
  function median(l,   i, j, idx, tmp, c) {
    c = n[l]; for (i = 1; i <= c; i++) idx[i] = i
    for (i = 1; i <= c; i++) for (j = i + 1; j <= c; j++)
      if (rps[l, idx[j]] < rps[l, idx[i]]) { tmp = idx[i]; idx[i] = idx[j]; idx[j] = tmp }
    return idx[int((c + 1) / 2)]
  }
  END {
    printf "\n%-26s %10s %8s %8s %9s %6s %11s %11s\n", "target", "req/s", "p50 us", "p99 us",
      "requests", "errors", "proxy cpu", "upstr. cpu"
    printf "%-26s %10s %8s %8s %9s %6s %11s %11s\n", "", "", "", "", "", "", "us/req", "us/req"
    for (i = 1; i <= k; i++) {
      l = order[i]; split(line[l, median(l)], f, " ")
      R[l] = f[2]; P50[l] = f[3]; P99[l] = f[4]; C[l] = f[7]
      printf "%-26s %10.0f %8d %8d %9d %6d %11s %11s\n", l, f[2], f[3], f[4], f[5], f[6],
        (l ~ /upstream-direct/ ? "-" : f[7]), f[8]
    }
    np = split("|stream-|lat-|lat-stream-", prefixes, "|")
    for (pi = 1; pi <= np; pi++) {
      p = prefixes[pi]; nx = p "nginx"; up = p "upstream-direct"
      if (!(nx in R)) continue
      printf "\n%s%s (nginx adds %+d us p50 over the upstream alone)\n", (p ~ /stream/ ? "streaming" : "non-streaming"),
        (p ~ /lat/ ? ", 1 connection" : ", " conns " connections"), P50[nx] - P50[up]
      for (gi = 1; gi <= 2; gi++) {
        g = p (gi == 1 ? "gateway" : "gateway+traces")
        if (!(g in R)) continue
        printf "  %-15s req/s %.2fx nginx | p50 %+d us vs nginx | p99 %+d us vs nginx | CPU/req %.1fx nginx | p50 %+d us over upstream alone\n",
          substr(g, length(p) + 1), R[g] / R[nx], P50[g] - P50[nx], P99[g] - P99[nx],
          (C[nx] > 0 ? C[g] / C[nx] : 0), P50[g] - P50[up]
      }
      tr = p "gateway-translate"; pt = p "gateway"
      if ((tr in R) && (pt in R))
        printf "  translation     req/s %.2fx pass-through (OpenAI in, Anthropic out) | p50 %+d us vs pass-through | CPU/req %.1fx pass-through\n",
          R[tr] / R[pt], P50[tr] - P50[pt], (C[pt] > 0 ? C[tr] / C[pt] : 0)
    }
  }' "$WORK/runs" | tee -a "$RESULTS/summary.txt"
cp "$WORK/runs" "$RESULTS/runs.txt"
echo "raw results: ${RESULTS#"$ROOT"/}/" >&2
