-- Claim titles due by A.due_by (A.now, or later to write them ahead of time) for one
-- worker, first taking back claims whose lease ran out.
-- KEYS: K; ARGV: A (playstate/scripts.py)
local pending, inflight = KEYS[K.pending], KEYS[K.inflight]
local now, limit, due_by = tonumber(ARGV[A.now]), ARGV[A.limit], ARGV[A.due_by]
local deadline = now + tonumber(ARGV[A.lease])
for _, m in ipairs(redis.call('ZRANGEBYSCORE', inflight, '-inf', now, 'LIMIT', 0, limit)) do
  redis.call('ZREM', inflight, m)
  redis.call('ZADD', pending, 'LT', now, m)
end
local due = redis.call('ZRANGEBYSCORE', pending, '-inf', due_by, 'LIMIT', 0, limit)
for _, m in ipairs(due) do
  redis.call('ZREM', pending, m)
  redis.call('ZADD', inflight, deadline, m)
end
-- What stays (not yet due, or in flight): the slot must be looked at again.
return {deadline, due, redis.call('ZCARD', pending) + redis.call('ZCARD', inflight)}
