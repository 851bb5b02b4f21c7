-- wrk script for `make bench`: the seeded population (bench/seed.py) watching.
--
-- Request g (counted across wrk's threads from BENCH_OFFSET, where the last run of the mode
-- stopped) belongs to profile p = g % BENCH_PROFILES, whose account's token is line p // 5 of
-- BENCH_TOKENS. It is that profile's t-th request of this run, t = (g - offset) // profiles,
-- at simulated time BENCH_EPOCH + t * 10 s (every run starts after the last one's times);
-- k = g // profiles counts on across runs, naming titles not met before.
--
-- BENCH_MODE:
--   steady  a heartbeat of the profile's title s<p> (hot in Redis after the first)
--   starts  a heartbeat of a catalog title the profile never watched, s<(p + 1 + k) % profiles>
--           (not in Redis: read through from the store, which has nothing for it)
--   batch   BENCH_BATCH consecutive heartbeats of s<p> in one request
--   hit     resume read of s<p> (in Redis)
--   miss    resume read of h<k> (in the store only, until this read repairs the cache)

local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  tokens = {}
  for line in io.lines(os.getenv("BENCH_TOKENS")) do
    tokens[#tokens + 1] = line
  end
  mode = os.getenv("BENCH_MODE")
  epoch = tonumber(os.getenv("BENCH_EPOCH"))
  origin = tonumber(os.getenv("BENCH_ORIGIN"))
  offset = tonumber(os.getenv("BENCH_OFFSET") or "0")
  profiles = tonumber(os.getenv("BENCH_PROFILES"))
  stride = tonumber(os.getenv("BENCH_THREADS"))
  batch = tonumber(os.getenv("BENCH_BATCH") or "1")
  counter = 0
end

-- The position is the simulated time since the bench began (BENCH_ORIGIN), so every profile's
-- positions go on across runs as its times do (a position that went back under 180 s would
-- rightly not replace a place beyond it).
local function heartbeat(p, title, k)
  local at = epoch + 10000 * k
  return string.format(
    '{"profile_id":"p%d","movie_id":"%s","video_timestamp_ms":%d,' ..
    '"client_request_time":%d,"device_id":"tv","event_type":"HEARTBEAT"}',
    p, title, 10000 + at - origin, at)
end

function request()
  local g = offset + counter * stride + tid
  counter = counter + 1
  local p = g % profiles
  local k = math.floor(g / profiles)
  local t = math.floor((g - offset) / profiles)
  local headers = {}
  headers["Authorization"] = "Bearer " .. tokens[math.floor(p / 5) + 1]
  if mode == "hit" then
    return wrk.format("GET", string.format("/api/v1/profiles/p%d/positions/s%d", p, p), headers)
  elseif mode == "miss" then
    return wrk.format("GET", string.format("/api/v1/profiles/p%d/positions/h%d", p, k), headers)
  end
  local body
  if mode == "steady" then
    body = heartbeat(p, "s" .. p, t)
  elseif mode == "starts" then
    -- another profile's title: in the catalog, never watched by this profile
    body = heartbeat(p, "s" .. (p + 1 + k) % profiles, 0)
  else
    local parts = {}
    for j = 0, batch - 1 do
      parts[j + 1] = heartbeat(p, "s" .. p, t * batch + j)
    end
    body = '{"heartbeats":[' .. table.concat(parts, ",") .. ']}'
  end
  headers["Content-Type"] = "application/json"
  return wrk.format("POST", "/api/v1/heartbeats", headers, body)
end

function done(summary, latency, requests)
  io.write(string.format("P999 %d\n", latency:percentile(99.9)))
end
