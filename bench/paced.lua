-- wrk script for bench/lending.sh: barcode scans offered at a fixed rate (open loop), latency
-- measured from when each scan was due, not from when it was sent, so a slow answer that holds
-- the next scans back counts against them too (the correction wrk2 and `oha
-- --latency-correction` make). wrk itself only measures from the send; LuaJIT's FFI reads the
-- clock. Run with as many threads as connections; each connection offers RATE / connections
-- scans per second from its own items (checkout-N.txt). Arguments: the directory of the item
-- files, the archivist's access token, the total rate per second. Prints one RESULT line.
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } timespec;
  int clock_gettime(int clock_id, timespec *tp);
]]
local clock = ffi.new("timespec")
local function now_ms()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local items = {}
local index = 1
-- wrk tells a thread nothing of its siblings: lending.sh passes the number of connections.
local connections = tonumber(os.getenv("PACED_CONNECTIONS"))
local period, start, due
latencies = {}
created, other = 0, 0

function init(args)
  for line in io.lines(args[1] .. "/checkout-" .. id .. ".txt") do
    local request_id, barcode = line:match("(%S+) (%S+)")
    items[#items + 1] = { request_id, barcode }
  end
  wrk.headers["Authorization"] = "Bearer " .. args[2]
  wrk.headers["Content-Type"] = "application/json"
  period = 1000 * connections / tonumber(args[3])
end

function delay()
  if start == nil then
    -- Connections start spread over one period, not all at once.
    start = now_ms() + period * id / connections
  end
  due = start + (index - 1) * period
  local wait = due - now_ms()
  return wait > 0 and wait or 0
end

function request()
  local item = items[((index - 1) % #items) + 1]
  return wrk.format("POST", "/api/v1/checkouts", nil,
    string.format('{"request_id":"%s","barcode":"%s"}', item[1], item[2]))
end

function response(status, headers, body)
  latencies[#latencies + 1] = now_ms() - due
  if status == 201 then created = created + 1 else other = other + 1 end
  index = index + 1
end

function done(summary, latency, requests)
  local all, made, others = {}, 0, 0
  for _, thread in ipairs(threads) do
    made = made + thread:get("created")
    others = others + thread:get("other")
    local mine = thread:get("latencies")
    for i = 1, #mine do all[#all + 1] = mine[i] end
  end
  table.sort(all)
  local function percentile(p)
    if #all == 0 then return 0 end
    return all[math.max(1, math.ceil(#all * p / 100))]
  end
  local seconds = summary.duration / 1e6
  io.write(string.format("RESULT created=%d other=%d scans_per_s=%.1f p50=%.2f p95=%.2f p99=%.2f max=%.2f\n",
    made, others, made / seconds, percentile(50), percentile(95), percentile(99), all[#all] or 0))
end
