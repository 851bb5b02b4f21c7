-- Read repair: put a stored state back into the cache unless the cache already has a newer one.
-- KEYS: K; ARGV: A (playstate/scripts.py). (compare.lua is prepended: newer(), bytes_gt())
local cur = redis.call('HMGET', KEYS[K.hot], 'crt', 'pos', 'dev', 'evt', 'dur', 'hid')
local ttl = ARGV[A.ttl]
if newer({ARGV[A.crt], ARGV[A.pos], ARGV[A.dev], ARGV[A.evt], ARGV[A.dur]}, cur) then
  redis.call('HSET', KEYS[K.hot], 'pos', ARGV[A.pos], 'crt', ARGV[A.crt], 'dev', ARGV[A.dev],
    'evt', ARGV[A.evt], 'dur', ARGV[A.dur])
  redis.call('ZADD', KEYS[K.recent], ARGV[A.crt], ARGV[A.movie])
  redis.call('EXPIRE', KEYS[K.recent], ttl)
end
if not cur[6] or tonumber(ARGV[A.hid]) > tonumber(cur[6]) then
  redis.call('HSET', KEYS[K.hot], 'hid', ARGV[A.hid])
end
redis.call('EXPIRE', KEYS[K.hot], ttl)
return 1
