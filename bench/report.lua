-- Shared by the wrk scripts: after the run, print one machine-readable line
--   BENCH <requests/s> <p50 us> <p99 us> <requests> <errors>
-- (errors = connect + read + write + timeout + non-2xx/3xx status). run.sh parses it.
done = function(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.timeout + e.status
  io.write(string.format("BENCH %.2f %d %d %d %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), summary.requests, errors))
end
