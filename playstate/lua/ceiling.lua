-- Take up to `n` tokens from an account's hard ceiling (a bucket of `per_minute` refilling
-- at `per_minute`); returns how many it gave, and the milliseconds until the next would be
-- there. On a Redis Cluster the account's bucket is in a slot of its own, so ingest takes it
-- here before the per-slot calls. KEYS: K; ARGV: A (playstate/scripts.py)
local now, capacity, n = tonumber(ARGV[A.now]), tonumber(ARGV[A.per_minute]), tonumber(ARGV[A.n])
local rate = capacity / 60000
local bucket = redis.call('HMGET', KEYS[K.bucket], 't', 'at')
local tokens = tonumber(bucket[1]) or capacity
local at = tonumber(bucket[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local given = math.min(n, math.floor(tokens))
tokens = tokens - given
local wait = 0
if given < n then wait = math.ceil((1 - tokens) / rate) end
redis.call('HSET', KEYS[K.bucket], 't', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[K.bucket], math.ceil(capacity / rate) + 60000)
return {given, wait}
