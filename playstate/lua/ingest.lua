-- Apply a batch of heartbeats: last write wins per title, atomically; schedule each new
-- winner in the pending set (due a year ago for PAUSE/STOP/SEEK, so they are claimed before
-- any plain title; after the window otherwise).
-- Token buckets, in the same call: plain heartbeats spend from their profile's bucket;
-- every heartbeat spends from the hard per-profile and per-account ceilings (on a Redis
-- Cluster the account's is in another slot: the caller takes it, account_ceiling is 0).
-- KEYS: K, then KI per heartbeat. ARGV: A, then AI per heartbeat, then counter pairs
-- (field, amount) added, with the outcome's, to the counters when A.counting is 1 (one Redis;
-- on a cluster the caller counts). The layouts are named in playstate/scripts.py.
-- Every heartbeat taken (applied or stale) is also a resume point in the title's versions:
-- the latest one per device and 10-minute bucket (playstate/versions.py reads them).
-- Returns per heartbeat 0 duplicate, 1 applied, 2 stale, 3 cold, 4 rate limited; then
-- whether to nudge a worker, and the milliseconds until a limited one would pass.
-- (compare.lua is prepended: newer(), bytes_gt())
local now, window, n = tonumber(ARGV[A.now]), tonumber(ARGV[A.window]), tonumber(ARGV[A.items])
local hot_ttl, event_ttl = tonumber(ARGV[A.hot_ttl]) * 1000, ARGV[A.event_ttl]
local threshold, versions_ttl = ARGV[A.ignore_start], tonumber(ARGV[A.versions_ttl]) * 1000
local hard_profile, hard_account = tonumber(ARGV[A.profile_ceiling]), tonumber(ARGV[A.account_ceiling])
local out, counts, nudge, wait = {}, {0, 0, 0, 0, 0}, 0, 0
local pending = KEYS[K.pending]
local URGENT_AHEAD_MS = 365 * 86400000

-- Keep a key for `ttl_ms` more, give or take `slack_ms`: most calls are a PTTL, a read,
-- rather than a write that the append-only file and the replicas would each receive.
local function keep(key, ttl_ms, slack_ms)
  if redis.call('PTTL', key) < ttl_ms - slack_ms then redis.call('PEXPIRE', key, ttl_ms) end
end

-- Take one token from a bucket of `capacity` refilling at `per_minute`; else the wait in ms.
local function take(key, capacity, per_minute)
  local rate = per_minute / 60000
  local bucket = redis.call('HMGET', key, 't', 'at')
  local tokens = tonumber(bucket[1]) or capacity
  local at = tonumber(bucket[2]) or now
  tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
  local short = 0
  if tokens >= 1 then tokens = tokens - 1 else short = math.ceil((1 - tokens) / rate) end
  redis.call('HSET', key, 't', tostring(tokens), 'at', now)
  -- Kept at least until it would be full again (an expired bucket is a full one).
  keep(key, math.ceil(capacity / rate) + 60000, 60000)
  return short
end

-- Keep the latest point (by client time, then position) of each device and bucket; past
-- MAX_VERSIONS buckets, drop the oldest down to KEEP_VERSIONS.
local MAX_VERSIONS, KEEP_VERSIONS, BUCKET_MS = 64, 48, 600000
local function remember(key, crt, pos, dev, evt)
  local field = dev .. '|' .. math.floor(tonumber(crt) / BUCKET_MS)
  local old = redis.call('HGET', key, field)
  if old then
    local ocrt, opos = string.match(old, '^(%d+)|(%d+)|')
    ocrt, opos = tonumber(ocrt), tonumber(opos)
    local c, p = tonumber(crt), tonumber(pos)
    if c < ocrt or (c == ocrt and p <= opos) then return end
  end
  redis.call('HSET', key, field, crt .. '|' .. pos .. '|' .. evt)
  keep(key, versions_ttl, versions_ttl / 10)
  if not old and redis.call('HLEN', key) > MAX_VERSIONS then
    local all, points = redis.call('HGETALL', key), {}
    for j = 1, #all, 2 do
      points[#points + 1] = {tonumber(string.match(all[j + 1], '^(%d+)|')), all[j]}
    end
    table.sort(points, function(x, y) return x[1] < y[1] end)
    for j = 1, #points - KEEP_VERSIONS do redis.call('HDEL', key, points[j][2]) end
  end
end

for i = 0, n - 1 do
  local k, a = K_N + i * KI_N + 1, A_N + i * AI_N + 1
  local hot, recent, stats = KEYS[k + KI.hot], KEYS[k + KI.recent], KEYS[k + KI.stats]
  local pos, crt, dev = ARGV[a + AI.pos], ARGV[a + AI.crt], ARGV[a + AI.dev]
  local evt, dur, sig = ARGV[a + AI.evt], ARGV[a + AI.dur], ARGV[a + AI.sig]
  local urgent = ARGV[a + AI.urgent] == '1'
  local code
  if ARGV[a + AI.may_create] == '0' and redis.call('EXISTS', hot) == 0 then
    -- Cold title: the caller reads the store through first, so a late heartbeat cannot
    -- put a state older than the stored one into the cache.
    code = 3
  else
    local short = 0
    if not urgent then
      short = take(KEYS[k + KI.bucket], tonumber(ARGV[a + AI.burst]), tonumber(ARGV[a + AI.per_minute]))
    end
    if short == 0 then short = take(KEYS[k + KI.ceiling], hard_profile, hard_profile) end
    if short == 0 and hard_account > 0 then
      short = take(KEYS[K.account_ceiling], hard_account, hard_account)
    end
    if redis.call('HINCRBY', stats, 'sent', 1) == 1 then redis.call('EXPIRE', stats, 7200) end
    if short > 0 then
      code = 4
      wait = math.max(wait, short)
      redis.call('HINCRBY', stats, 'limited', 1)
    elseif ARGV[a + AI.event_id] ~= '' and not redis.call('SET', KEYS[k + KI.event], '1', 'NX', 'EX', event_ttl) then
      code = 0
    else
      local cur = redis.call('HMGET', hot, 'sig', 'crt', 'pos', 'dev', 'evt', 'dur')
      if newer({sig, crt, pos, dev, evt, dur}, cur, threshold) then
        redis.call('HSET', hot, 'sig', sig, 'pos', pos, 'crt', crt, 'dev', dev, 'evt', evt, 'dur', dur)
        -- A new title is not hidden; an existing one keeps its hiding mark.
        if not cur[2] then redis.call('HSET', hot, 'hid', '0') end
        redis.call('ZADD', recent, crt, ARGV[a + AI.movie])
        keep(recent, hot_ttl, hot_ttl / 10)
        -- PAUSE/STOP/SEEK go ahead of every plain title, overdue ones included: a device
        -- hears of a pause promptly even while the workers work through a backlog.
        local due = urgent and now - URGENT_AHEAD_MS or now + window
        if redis.call('ZADD', pending, 'LT', 'CH', due, ARGV[a + AI.member]) == 1 and urgent then
          nudge = 1
        end
        code = 1
      else
        code = 2
      end
      keep(hot, hot_ttl, hot_ttl / 10)
      remember(KEYS[k + KI.versions], crt, pos, dev, evt)
    end
  end
  out[i + 1] = code
  counts[code + 1] = counts[code + 1] + 1
end
if ARGV[A.counting] == '1' then
  local metrics = KEYS[K.metrics]
  local function add(name, amount)
    if tonumber(amount) ~= 0 then redis.call('HINCRBY', metrics, name, amount) end
  end
  add('heartbeats_duplicate', counts[1])
  add('heartbeats_applied', counts[2])
  add('heartbeats_stale', counts[3])
  add('heartbeats_accepted', counts[1] + counts[2] + counts[3])
  add('heartbeats_rate_limited', counts[5])
  for j = A_N + n * AI_N + 1, #ARGV, 2 do add(ARGV[j], ARGV[j + 1]) end
end
out[n + 1] = nudge
out[n + 2] = wait
return out
