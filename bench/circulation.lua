-- wrk script for bench/lending.sh. Run it with as many threads as connections: one connection per
-- thread, so a thread's state is its client's state. Arguments: mode, the directory of the item
-- files, the archivist's access token. Prints one machine-readable RESULT line.
--   scan:  each client scans its own approved items (checkout-N.txt) with POST /checkouts.
--   cycle: clients 2k and 2k+1 scan the same items (cycle-k.txt) and race for each; the winner
--          returns the archive (POST /returns), the loser's 409 sends it on to the next item.
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local mode
local items = {}
local index = 1
local returning = false
checkouts, refused, returns, failed = 0, 0, 0, 0

function init(args)
  mode = args[1]
  local file = mode == "cycle" and ("cycle-" .. math.floor(id / 2)) or ("checkout-" .. id)
  for line in io.lines(args[2] .. "/" .. file .. ".txt") do
    local request_id, barcode = line:match("(%S+) (%S+)")
    items[#items + 1] = { request_id, barcode }
  end
  wrk.headers["Authorization"] = "Bearer " .. args[3]
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  -- Past the last item the scans repeat and answer 409: in scan mode a sign of too few items.
  local item = items[((index - 1) % #items) + 1]
  if returning then
    return wrk.format("POST", "/api/v1/returns", nil,
      string.format('{"barcode":"%s","condition":"intact"}', item[2]))
  end
  return wrk.format("POST", "/api/v1/checkouts", nil,
    string.format('{"request_id":"%s","barcode":"%s"}', item[1], item[2]))
end

function response(status, headers, body)
  if returning then
    if status == 200 then returns = returns + 1 else failed = failed + 1 end
    returning = false
    index = index + 1
    return
  end
  if status == 201 then
    checkouts = checkouts + 1
    returning = mode == "cycle"
  elseif status == 409 then
    refused = refused + 1
  else
    failed = failed + 1
  end
  if not returning then index = index + 1 end
end

function done(summary, latency, requests)
  local c, r, ret, f = 0, 0, 0, 0
  for _, thread in ipairs(threads) do
    c = c + thread:get("checkouts")
    r = r + thread:get("refused")
    ret = ret + thread:get("returns")
    f = f + thread:get("failed")
  end
  local seconds = summary.duration / 1e6
  io.write(string.format("RESULT checkouts=%d refused=%d returns=%d failed=%d scans_per_s=%.1f cycles_per_s=%.1f p50=%.2f p95=%.2f p99=%.2f\n",
    c, r, ret, f, c / seconds, ret / seconds,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
