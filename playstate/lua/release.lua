-- Give claims back to the pending set at once (their write failed: the store is down), so
-- the backlog shows as pending; a claim taken over by another worker has another deadline
-- and stays. KEYS: K; ARGV: A, then the members (playstate/scripts.py)
local deadline = tonumber(ARGV[A.deadline])
for i = A_N + 1, #ARGV do
  if tonumber(redis.call('ZSCORE', KEYS[K.inflight], ARGV[i])) == deadline then
    redis.call('ZREM', KEYS[K.inflight], ARGV[i])
    redis.call('ZADD', KEYS[K.pending], 'LT', ARGV[A.now], ARGV[i])
  end
end
return 1
