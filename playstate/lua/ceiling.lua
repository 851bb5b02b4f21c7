-- Take `n` tokens from an account's hard ceiling (a bucket of `per_minute` refilling at
-- `per_minute`), all or none; returns 0, or the milliseconds until they would be there.
-- On a Redis Cluster the account's bucket is in a slot of its own, so ingest takes it here
-- before the per-slot calls. KEYS: K; ARGV: A (playstate/scripts.py)
local now, capacity, n = tonumber(ARGV[A.now]), tonumber(ARGV[A.per_minute]), tonumber(ARGV[A.n])
local rate = capacity / 60000
local bucket = redis.call('HMGET', KEYS[K.bucket], 't', 'at')
local tokens = tonumber(bucket[1]) or capacity
local at = tonumber(bucket[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local short = 0
if tokens >= n then tokens = tokens - n else short = math.ceil((n - tokens) / rate) end
redis.call('HSET', KEYS[K.bucket], 't', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[K.bucket], math.ceil(capacity / rate) + 60000)
return short
