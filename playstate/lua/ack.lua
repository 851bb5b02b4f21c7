-- Release claims after their states were written; a claim taken over by another worker
-- (its lease ran out) has another deadline and stays.
-- KEYS: inflight, metrics; ARGV: deadline, written count, members...
for i = 3, #ARGV do
  if tonumber(redis.call('ZSCORE', KEYS[1], ARGV[i])) == tonumber(ARGV[1]) then
    redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
redis.call('HINCRBY', KEYS[2], 'store_writes', ARGV[2])
return 1
