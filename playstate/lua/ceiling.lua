-- Take up to `n` tokens from an account's hard ceiling (a bucket of `per_minute` refilling
-- at `per_minute`); returns how many it gave, and the milliseconds until the next would be
-- there. On a Redis Cluster the account's bucket is in a slot of its own, so ingest takes it
-- here before the per-slot calls. KEYS: K; ARGV: A (playstate/scripts.py)
-- (buckets.lua is prepended: bucket_state(), spend(), save_buckets())
local now, per_minute = tonumber(ARGV[A.now]), tonumber(ARGV[A.per_minute])
local account = bucket_state(KEYS[K.bucket], ACCOUNT_TTL_MS)
local given, wait = spend(account, 'c', per_minute, per_minute, tonumber(ARGV[A.n]), now)
save_buckets()
return {given, wait}
