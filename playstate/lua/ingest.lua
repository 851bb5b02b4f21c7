-- Apply a batch of heartbeats: last write wins per title, atomically; schedule each new
-- winner in the pending set (due now for PAUSE/STOP/SEEK, after the window otherwise).
-- Token buckets, in the same call: plain heartbeats spend from their profile's bucket;
-- every heartbeat spends from the hard per-profile and per-account ceilings.
-- KEYS: pending, metrics, account ceiling, then per heartbeat: hot, event, recent,
--       profile bucket, profile ceiling, profile stats (this hour)
-- ARGV: now, hot ttl, window, event ttl, n, profile ceiling/min, account ceiling/min, then
--       per heartbeat: member, movie, pos, crt, dev, evt, dur, event id, urgent, may create,
--       burst, per minute; then counter pairs (field, amount)
-- Returns per heartbeat 0 duplicate, 1 applied, 2 stale, 3 cold, 4 rate limited; then
-- whether to nudge a worker, and the milliseconds until a limited one would pass.
-- (compare.lua is prepended: newer(), bytes_gt())
local now, ttl, window, evttl, n = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local hard_profile, hard_account = tonumber(ARGV[6]), tonumber(ARGV[7])
local per_item, per_keys = 12, 6
local out, counts, nudge, wait = {}, {0, 0, 0, 0, 0}, 0, 0

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
  redis.call('PEXPIRE', key, math.ceil(capacity / rate) + 60000)
  return short
end

for i = 0, n - 1 do
  local a, k = 8 + i * per_item, 4 + i * per_keys
  local hot, evk, recent, bucket, ceiling, stats = KEYS[k], KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], KEYS[k + 5]
  local member, movie, pos, crt, dev = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  local urgent = ARGV[a + 8] == '1'
  local code
  if ARGV[a + 9] == '0' and redis.call('EXISTS', hot) == 0 then
    -- Cold title: the caller reads the store through first, so a late heartbeat cannot
    -- put a state older than the stored one into the cache.
    code = 3
  else
    local short = 0
    if not urgent then short = take(bucket, tonumber(ARGV[a + 10]), tonumber(ARGV[a + 11])) end
    if short == 0 then short = take(ceiling, hard_profile, hard_profile) end
    if short == 0 then short = take(KEYS[3], hard_account, hard_account) end
    redis.call('HINCRBY', stats, 'sent', 1)
    redis.call('EXPIRE', stats, 7200)
    if short > 0 then
      code = 4
      wait = math.max(wait, short)
      redis.call('HINCRBY', stats, 'limited', 1)
    elseif ARGV[a + 7] ~= '' and not redis.call('SET', evk, '1', 'NX', 'EX', evttl) then
      code = 0
    else
      local cur = redis.call('HMGET', hot, 'crt', 'pos', 'dev', 'evt', 'dur')
      if newer({crt, pos, dev, ARGV[a + 5], ARGV[a + 6]}, cur) then
        redis.call('HSET', hot, 'pos', pos, 'crt', crt, 'dev', dev, 'evt', ARGV[a + 5], 'dur', ARGV[a + 6])
        redis.call('HSETNX', hot, 'hid', '0')
        redis.call('ZADD', recent, crt, movie)
        redis.call('EXPIRE', recent, ttl)
        local due = urgent and now or now + window
        if redis.call('ZADD', KEYS[1], 'LT', 'CH', due, member) == 1 and urgent then nudge = 1 end
        code = 1
      else
        code = 2
      end
      redis.call('EXPIRE', hot, ttl)
    end
  end
  out[i + 1] = code
  counts[code + 1] = counts[code + 1] + 1
end
redis.call('HINCRBY', KEYS[2], 'heartbeats_duplicate', counts[1])
redis.call('HINCRBY', KEYS[2], 'heartbeats_applied', counts[2])
redis.call('HINCRBY', KEYS[2], 'heartbeats_stale', counts[3])
redis.call('HINCRBY', KEYS[2], 'heartbeats_accepted', counts[1] + counts[2] + counts[3])
redis.call('HINCRBY', KEYS[2], 'heartbeats_rate_limited', counts[5])
for j = 8 + n * per_item, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[2], ARGV[j], ARGV[j + 1])
end
out[n + 1] = nudge
out[n + 2] = wait
return out
