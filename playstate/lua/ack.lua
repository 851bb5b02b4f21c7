-- Release claims after their states were written; a claim taken over by another worker
-- (its lease ran out) has another deadline and stays.
-- KEYS: K; ARGV: A, then the members (playstate/scripts.py)
local deadline = tonumber(ARGV[A.deadline])
for i = A_N + 1, #ARGV do
  if tonumber(redis.call('ZSCORE', KEYS[K.inflight], ARGV[i])) == deadline then
    redis.call('ZREM', KEYS[K.inflight], ARGV[i])
  end
end
return 1
