-- Claim due titles for one worker, first taking back claims whose lease ran out.
-- KEYS: pending, inflight; ARGV: now, lease, limit
local now, deadline, limit = tonumber(ARGV[1]), tonumber(ARGV[1]) + tonumber(ARGV[2]), ARGV[3]
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, limit)) do
  redis.call('ZREM', KEYS[2], m)
  redis.call('ZADD', KEYS[1], 'LT', now, m)
end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, limit)
for _, m in ipairs(due) do
  redis.call('ZREM', KEYS[1], m)
  redis.call('ZADD', KEYS[2], deadline, m)
end
return {deadline, due}
