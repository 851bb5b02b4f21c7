-- Read repair: put a stored state back into the cache unless the cache already has a newer one.
-- KEYS: hot, recent; ARGV: pos, crt, dev, evt, dur, hid, ttl, movie
-- (compare.lua is prepended: newer(), bytes_gt())
local cur = redis.call('HMGET', KEYS[1], 'crt', 'pos', 'dev', 'evt', 'dur', 'hid')
if newer({ARGV[2], ARGV[1], ARGV[3], ARGV[4], ARGV[5]}, cur) then
  redis.call('HSET', KEYS[1], 'pos', ARGV[1], 'crt', ARGV[2], 'dev', ARGV[3], 'evt', ARGV[4], 'dur', ARGV[5])
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[8])
  redis.call('EXPIRE', KEYS[2], ARGV[7])
end
if not cur[6] or tonumber(ARGV[6]) > tonumber(cur[6]) then
  redis.call('HSET', KEYS[1], 'hid', ARGV[6])
end
redis.call('EXPIRE', KEYS[1], ARGV[7])
return 1
