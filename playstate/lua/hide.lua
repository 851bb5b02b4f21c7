-- Hide a title up to its current winner: from Continue Watching (field 'hid') or from
-- history ('fgt'); the hidings only grow. Schedule the write. KEYS: K; ARGV: A
-- (playstate/scripts.py)
local crt = redis.call('HGET', KEYS[K.hot], 'crt')
if not crt then return 0 end
local field = ARGV[A.field]
if tonumber(crt) > (tonumber(redis.call('HGET', KEYS[K.hot], field)) or 0) then
  redis.call('HSET', KEYS[K.hot], field, crt)
end
redis.call('ZADD', KEYS[K.pending], 'LT', ARGV[A.now], ARGV[A.member])
-- For devices that were away: a `since=` catch-up replays removals newer than it.
redis.call('ZADD', KEYS[K.removals], ARGV[A.now], ARGV[A.movie])
redis.call('EXPIRE', KEYS[K.removals], ARGV[A.removals_ttl])
return 1
