-- wrk script for bench/soak.sh: a fixed mix of plain, streamed and failing chat requests, paced by
-- SOAK_DELAY_MS per connection; prints a SOAK line with the status counts when done.
local bodies = {}
local function body(model, stream)
  return string.format('{"model":"%s",%s"messages":[{"role":"user","content":"soak test request"}],"max_tokens":32}',
    model, stream and '"stream":true,"stream_options":{"include_usage":true},' or '')
end
-- 20 slots: 9 plain, 6 streamed, 2 failing over (500 then a fallback), 2 failing (500), 1 rate limited (429)
local mix = {
  {"soak-plain", false, 9}, {"soak-stream", true, 6}, {"soak-flaky", false, 2},
  {"soak-500", false, 2}, {"soak-429", true, 1},
}
local delay_ms = tonumber(os.getenv("SOAK_DELAY_MS") or "5")
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for _, m in ipairs(mix) do
    local req = wrk.format("POST", "/v1/chat/completions",
      {["Content-Type"] = "application/json"}, body(m[1], m[2]))
    for _ = 1, m[3] do table.insert(bodies, req) end
  end
  n = 0
  s2, s4, s5, other = 0, 0, 0, 0
end

function request()
  n = n + 1
  return bodies[(n % #bodies) + 1]
end

function delay()
  return delay_ms
end

function response(status, headers, b)
  if status >= 200 and status < 300 then s2 = s2 + 1
  elseif status >= 400 and status < 500 then s4 = s4 + 1
  elseif status >= 500 and status < 600 then s5 = s5 + 1
  else other = other + 1 end
end

function done(summary, latency, requests)
  local t2, t4, t5, to = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    t2 = t2 + t:get("s2"); t4 = t4 + t:get("s4"); t5 = t5 + t:get("s5"); to = to + t:get("other")
  end
  local e = summary.errors
  io.write(string.format("SOAK requests=%d 2xx=%d 4xx=%d 5xx=%d other=%d socket_errors=%d p50_us=%d p99_us=%d\n",
    summary.requests, t2, t4, t5, to, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
