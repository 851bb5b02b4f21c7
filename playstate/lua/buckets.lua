-- Token buckets, each its tokens and when they were counted. Each key is a string holding a
-- MessagePack map, read with one GET and written with one SET (its expiry with it) per call;
-- a batch spends from one profile's buckets many times for those two commands. (cmsgpack is
-- C, and copies numbers as they are: this costs Redis less than a hash's fields read,
-- tracked and written one by one, or a JSON object's numbers written and parsed as decimal
-- text; README, "Performance and capacity".) A profile's key holds its plain-heartbeat
-- bucket (b, bt) and hard ceiling (c, ct), and what it sent this hour and the last (h, s, l;
-- ps, pl: hotlayer.profile_stats); an account's, its ceiling (c, ct).
local buckets, bucket_order = {}, {}
-- An account's ceiling refills in a minute, and a missing bucket is a full one.
local ACCOUNT_TTL_MS = 120000

-- The state at `key`, kept for at least `ttl_ms` after this call.
local function bucket_state(key, ttl_ms)
  local held = buckets[key]
  if not held then
    local stored = redis.call('GET', key)
    held = {state = stored and cmsgpack.unpack(stored) or {}, ttl = ttl_ms}
    buckets[key] = held
    bucket_order[#bucket_order + 1] = key
  end
  return held.state
end

-- Up to `n` tokens from the bucket in fields `field` (tokens) and `field`..'t' (when), of
-- `capacity` refilling at `per_minute`; returns how many it gave, and the ms until one more.
local function spend(state, field, capacity, per_minute, n, now)
  local rate = per_minute / 60000
  local at = field .. 't'
  local tokens = math.min(capacity, (state[field] or capacity) + math.max(0, now - (state[at] or now)) * rate)
  local given = math.min(n, math.floor(tokens))
  tokens = tokens - given
  state[field], state[at] = tokens, now
  if given < n then return given, math.ceil((1 - tokens) / rate) end
  return given, 0
end

-- Each state written back. Kept out of the append-only file and the replicas (a third of
-- what a heartbeat wrote there, and so of the file's rewrites): a restart or a failover
-- starts a profile's buckets full and its hour's count at zero, which a rate limit can afford.
local function save_buckets()
  redis.set_repl(redis.REPL_NONE)
  for _, key in ipairs(bucket_order) do
    local held = buckets[key]
    redis.call('SET', key, cmsgpack.pack(held.state), 'PX', held.ttl)
  end
  redis.set_repl(redis.REPL_ALL)
end
