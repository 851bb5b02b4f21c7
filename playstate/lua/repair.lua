-- Read repair: put a stored state back into the cache unless the cache already has a newer
-- one; the hidings only grow. A state it replaces stays a resume point. KEYS: K; ARGV: A
-- (playstate/scripts.py). (compare.lua and versions.lua are prepended)
local cur = redis.call('HMGET', KEYS[K.hot], 'sig', 'crt', 'pos', 'dev', 'evt', 'dur', 'hid', 'fgt')
local ttl = ARGV[A.ttl]
local new = {ARGV[A.sig], ARGV[A.crt], ARGV[A.pos], ARGV[A.dev], ARGV[A.evt], ARGV[A.dur]}
if newer(new, cur, ARGV[A.ignore_start]) then
  leaving(KEYS[K.versions], cur, math.max(tonumber(cur[8]) or 0, tonumber(ARGV[A.fgt])), new)
  save_versions(tonumber(ARGV[A.versions_ttl]) * 1000)
  redis.call('HSET', KEYS[K.hot], 'sig', ARGV[A.sig], 'pos', ARGV[A.pos], 'crt', ARGV[A.crt],
    'dev', ARGV[A.dev], 'evt', ARGV[A.evt], 'dur', ARGV[A.dur])
  redis.call('ZADD', KEYS[K.recent], ARGV[A.crt], ARGV[A.movie])
  redis.call('EXPIRE', KEYS[K.recent], ttl)
end
if not cur[7] or tonumber(ARGV[A.hid]) > tonumber(cur[7]) then
  redis.call('HSET', KEYS[K.hot], 'hid', ARGV[A.hid])
end
if tonumber(ARGV[A.fgt]) > (tonumber(cur[8]) or 0) then
  redis.call('HSET', KEYS[K.hot], 'fgt', ARGV[A.fgt])
end
redis.call('EXPIRE', KEYS[K.hot], ttl)
return 1
