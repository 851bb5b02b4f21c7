-- Token buckets kept as fields of a hash, read once per key and written once per call
-- (a batch spends from one profile's buckets many times for two commands). A profile's hash
-- holds its plain-heartbeat bucket (b, bt), its hard ceiling (c, ct) and what it sent this
-- hour and the last (h, s, l; ps, pl); an account's, its ceiling (c, ct). 'exp' is when the
-- key's expiry was last pushed out to, so most calls renew it without a PTTL.
local PROFILE_FIELDS = {'b', 'bt', 'c', 'ct', 'h', 's', 'l', 'ps', 'pl', 'exp'}
local ACCOUNT_FIELDS = {'c', 'ct', 'exp'}
local buckets, bucket_order = {}, {}

-- The `fields` of the hash at `key` as numbers (and the names of those changed since), kept
-- for at least `ttl_ms` after this call.
local function bucket_hash(key, ttl_ms, fields)
  local state = buckets[key]
  if not state then
    local values = redis.call('HMGET', key, unpack(fields))
    state = {ttl = ttl_ms, changed = {}}
    for i, name in ipairs(fields) do state[name] = tonumber(values[i]) end
    buckets[key] = state
    bucket_order[#bucket_order + 1] = key
  end
  return state
end

local function set(state, name, value)
  if state[name] ~= value then
    state[name] = value
    state.changed[name] = true
  end
end

-- Up to `n` tokens from the bucket in fields `field` (tokens) and `field`..'t' (when), of
-- `capacity` refilling at `per_minute`; returns how many it gave, and the ms until one more.
local function spend(state, field, capacity, per_minute, n, now)
  local rate = per_minute / 60000
  local at = field .. 't'
  local tokens = math.min(capacity, (state[field] or capacity) + math.max(0, now - (state[at] or now)) * rate)
  local given = math.min(n, math.floor(tokens))
  tokens = tokens - given
  set(state, field, tokens)
  set(state, at, now)
  if given < n then return given, math.ceil((1 - tokens) / rate) end
  return given, 0
end

-- Whether a key whose expiry was last pushed out to `exp` (nil: never) is within a tenth of
-- `ttl_ms` of running out, and due a renewal (ingest.lua renews a title's hash the same way).
local function expiring(exp, ttl_ms, now)
  return (exp or 0) < now + ttl_ms * 0.9
end

-- One HSET of the changed fields per hash; its expiry pushed out when `expiring`. Kept out of
-- the append-only file and the replicas (a third of what a heartbeat wrote there, and so of
-- the file's rewrites): a restart or a failover starts a profile's buckets full and its
-- hour's count at zero, which a rate limit can afford.
local function save_buckets(now)
  redis.set_repl(redis.REPL_NONE)
  for _, key in ipairs(bucket_order) do
    local state = buckets[key]
    local renew = expiring(state.exp, state.ttl, now)
    if renew then set(state, 'exp', now + state.ttl) end
    local fields = {}
    for name in pairs(state.changed) do
      fields[#fields + 1] = name
      fields[#fields + 1] = state[name]
    end
    if #fields > 0 then redis.call('HSET', key, unpack(fields)) end
    if renew then redis.call('PEXPIRE', key, state.ttl) end
  end
  redis.set_repl(redis.REPL_ALL)
end
