-- wrk script for bench/ocsp.py: replays OCSP requests from a file, one per line.
-- args: <file> <get|post> <path prefix> <delay ms per request, 0 = as fast as possible>
local lines, i, mode, prefix, pause = {}, 0, "get", "/", 0

local function unhex(s)
  return (s:gsub("..", function(h) return string.char(tonumber(h, 16)) end))
end

function init(args)
  mode, prefix, pause = args[2], args[3], tonumber(args[4])
  for line in io.lines(args[1]) do
    if mode == "post" then line = unhex(line) end
    lines[#lines + 1] = line
  end
end

function request()
  i = i + 1
  local item = lines[(i - 1) % #lines + 1]
  if mode == "get" then
    return wrk.format("GET", prefix .. item)
  end
  return wrk.format("POST", prefix, {["Content-Type"] = "application/ocsp-request"}, item)
end

function delay()
  return pause
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %.0f %.0f %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
