-- Apply a batch of heartbeats: last write wins per title, atomically; schedule each new
-- winner in the pending set (due now for PAUSE/STOP/SEEK, after the window otherwise).
-- KEYS: pending, metrics, then per heartbeat: hot, event, recent
-- ARGV: now, hot ttl, window, event ttl, n, then per heartbeat: member, movie, pos, crt, dev,
--       evt, dur, event id, urgent, may create; then counter pairs (field, amount)
-- (compare.lua is prepended: newer(), bytes_gt())
local now, ttl, window, evttl, n = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local out, counts, nudge = {}, {0, 0, 0}, 0
for i = 0, n - 1 do
  local a, k = 6 + i * 10, 3 + i * 3
  local hot, evk, recent = KEYS[k], KEYS[k + 1], KEYS[k + 2]
  local member, movie, pos, crt, dev = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  local code
  if ARGV[a + 9] == '0' and redis.call('EXISTS', hot) == 0 then
    -- Cold title: the caller reads the store through first, so a late heartbeat cannot
    -- put a state older than the stored one into the cache.
    code = 3
  elseif ARGV[a + 7] ~= '' and not redis.call('SET', evk, '1', 'NX', 'EX', evttl) then
    code = 0
  else
    local cur = redis.call('HMGET', hot, 'crt', 'pos', 'dev', 'evt', 'dur')
    if newer({crt, pos, dev, ARGV[a + 5], ARGV[a + 6]}, cur) then
      redis.call('HSET', hot, 'pos', pos, 'crt', crt, 'dev', dev, 'evt', ARGV[a + 5], 'dur', ARGV[a + 6])
      redis.call('HSETNX', hot, 'hid', '0')
      redis.call('ZADD', recent, crt, movie)
      redis.call('EXPIRE', recent, ttl)
      local urgent = ARGV[a + 8] == '1'
      local due = urgent and now or now + window
      if redis.call('ZADD', KEYS[1], 'LT', 'CH', due, member) == 1 and urgent then nudge = 1 end
      code = 1
    else
      code = 2
    end
    redis.call('EXPIRE', hot, ttl)
  end
  out[i + 1] = code
  if code < 3 then counts[code + 1] = counts[code + 1] + 1 end
end
redis.call('HINCRBY', KEYS[2], 'heartbeats_duplicate', counts[1])
redis.call('HINCRBY', KEYS[2], 'heartbeats_applied', counts[2])
redis.call('HINCRBY', KEYS[2], 'heartbeats_stale', counts[3])
for j = 6 + n * 10, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[2], ARGV[j], ARGV[j + 1])
end
out[n + 1] = nudge
return out
