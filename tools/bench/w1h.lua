-- W1h: the W1 workflow (set -> condition -> set) executed over HTTP with
-- keep-alive; each request waits for the run to settle (?wait=true), so
-- wrk's latency is trigger -> complete (a run that does not complete is
-- still a 201: w1h.sh checks a sample). Driven by tools/bench/w1h.sh.
wrk.method = "POST"
wrk.body = '{"inputs": {"x": 1}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("ZF_KEY")

done = function(summary, latency, requests)
  io.write(string.format(
    '{"workload":"W1h","requests":%d,"non_2xx":%d,"errors":%d,' ..
    '"runs_per_s":%.1f,"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f}\n',
    summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
