-- W3h: batched event ingestion over HTTP with keep-alive. Each request is
-- POST /api/v2/events {"events": [...]} with ZF_BATCH events (default 100):
-- record.created / record.updated (with previous) / record.deleted in equal
-- parts over ten modules, each record with a uniform integer `score` in
-- 0..9999 that the automations' guards select on (tools/bench/w3.sh). The
-- 202 comes after the runs the batch started are durable, so wrk's latency
-- is the durable ack. 16 bodies are generated per thread at start-up.
local batch = tonumber(os.getenv("ZF_BATCH") or "100")
local modules = {"contacts", "deals", "tickets", "orders", "invoices", "leads",
                 "accounts", "tasks", "products", "campaigns"}
local types = {"record.created", "record.updated", "record.deleted"}
local statuses = {"new", "open", "won", "lost"}
local bodies = {}
local nbody = 0

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("ZF_KEY")

local function record(n)
  return string.format(
    '{"id":"rec-%d","name":"Ada Lovelace","email":"user%d@example.com",' ..
    '"score":%d,"amount":%.2f,"status":"%s"}',
    n, n, math.random(0, 9999), math.random(0, 99999) / 100, statuses[math.random(1, 4)])
end

local function event(n)
  local t = n % 3
  local head = string.format('{"type":"%s","module":"%s","record":%s', types[t + 1],
                              modules[math.random(1, 10)], record(n))
  if t == 1 then
    head = head .. ',"previous":{"status":"new","amount":0}'
  end
  return head .. "}"
end

init = function(args)
  math.randomseed(tonumber(os.getenv("ZF_SEED") or "1"))
  for k = 1, 16 do
    local evs = {}
    for i = 1, batch do evs[i] = event((k - 1) * batch + i) end
    bodies[k] = '{"events":[' .. table.concat(evs, ",") .. "]}"
  end
end

request = function()
  nbody = nbody % 16 + 1
  return wrk.format(nil, nil, nil, bodies[nbody])
end

done = function(summary, latency, requests)
  local rps = summary.requests / (summary.duration / 1e6)
  io.write(string.format(
    '{"workload":"W3h","batch":%d,"requests":%d,"non_2xx":%d,"errors":%d,' ..
    '"requests_per_s":%.1f,"events_per_s":%.0f,"p50_ms":%.3f,"p90_ms":%.3f,' ..
    '"p99_ms":%.3f,"max_ms":%.3f}\n',
    batch, summary.requests, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    rps, rps * batch,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
