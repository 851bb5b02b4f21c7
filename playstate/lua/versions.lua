-- A title's resume points: the latest point (by client time, then position, then event) of
-- each device, bucket of client time and bucket of position. A start over, or a seek back,
-- within ten minutes keeps the place it left beside the new one (a jump within ten minutes of
-- the title does not).
-- The title's state is a point of its own and is not copied here while it is the state
-- (readers add it: hotlayer.with_state). A state is written here when a newer one replaces it
-- from another bucket (or one it would not beat there: see `leaving`), so steady viewing
-- writes a point about once per ten minutes, not one per heartbeat. Heartbeats that lose to
-- the state are kept here at once. A state hidden from history is not kept.
-- Past MAX_VERSIONS points (the state counted), drop the oldest down to KEEP_VERSIONS. The key
-- lives versions_ttl past its newest bucket's end. As the titles' states, the points a call
-- meets are read once and written once, at the end.
local MAX_VERSIONS, KEEP_VERSIONS, BUCKET_MS = 64, 48, 600000
local versions = {}

-- Whether point (c, p, e) beats (oc, op, oe): the greater client time, then position, then
-- event name (bytewise), in any order of arrival.
local function point_beats(c, p, e, oc, op, oe)
  if c ~= oc then return c > oc end
  if p ~= op then return p > op end
  return bytes_gt(e, oe)
end

local function remember(key, crt, pos, dev, evt)
  local field = dev .. '|' .. math.floor(tonumber(crt) / BUCKET_MS) .. '|' .. math.floor(tonumber(pos) / BUCKET_MS)
  local points = versions[key]
  if not points then
    points = {}
    versions[key] = points
  end
  local point = points[field]
  if not point then
    local old = redis.call('HGET', key, field)
    point = {stored = old ~= false}
    if old then
      local ocrt, opos, oevt = string.match(old, '^(%d+)|(%d+)|(.*)$')
      point.crt, point.pos, point.evt = tonumber(ocrt), tonumber(opos), oevt
    end
    points[field] = point
  end
  local c, p = tonumber(crt), tonumber(pos)
  if point.crt and not point_beats(c, p, evt, point.crt, point.pos, point.evt) then return end
  point.crt, point.pos, point.evt, point.value = c, p, evt, crt .. '|' .. pos .. '|' .. evt
end

-- A state `cur` ({sig, crt, pos, dev, evt, ...}, forgotten before `fgt`) that `new` replaces:
-- kept as a point unless `new` stands for it (the same bucket, and beats it as a point).
local function leaving(key, cur, fgt, new)
  if not cur[2] or tonumber(cur[2]) <= (tonumber(fgt) or 0) then return end
  local c, p, oc, op = tonumber(new[2]), tonumber(new[3]), tonumber(cur[2]), tonumber(cur[3])
  if new[4] == cur[4] and math.floor(c / BUCKET_MS) == math.floor(oc / BUCKET_MS)
      and math.floor(p / BUCKET_MS) == math.floor(op / BUCKET_MS)
      and point_beats(c, p, new[5], oc, op, cur[5]) then
    return
  end
  remember(key, cur[2], cur[3], cur[4], cur[5])
end

local function save_versions(ttl_ms)
  for key, points in pairs(versions) do
    local fields, added = {}, false
    for field, point in pairs(points) do
      if point.value then
        fields[#fields + 1] = field
        fields[#fields + 1] = point.value
        added = added or not point.stored
      end
    end
    if #fields > 0 then redis.call('HSET', key, unpack(fields)) end
    if added then
      redis.call('PEXPIRE', key, ttl_ms + BUCKET_MS)
      if redis.call('HLEN', key) > MAX_VERSIONS - 1 then
        local all, by_time = redis.call('HGETALL', key), {}
        for j = 1, #all, 2 do
          by_time[#by_time + 1] = {tonumber(string.match(all[j + 1], '^(%d+)|')), all[j]}
        end
        table.sort(by_time, function(x, y) return x[1] < y[1] end)
        for j = 1, #by_time - (KEEP_VERSIONS - 1) do redis.call('HDEL', key, by_time[j][2]) end
      end
    end
  end
end
