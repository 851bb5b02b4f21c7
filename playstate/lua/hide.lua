-- Hide a title from Continue Watching up to its current winner, and schedule the write.
-- KEYS: K; ARGV: A (playstate/scripts.py)
local crt = redis.call('HGET', KEYS[K.hot], 'crt')
if not crt then return 0 end
redis.call('HSET', KEYS[K.hot], 'hid', crt)
redis.call('ZADD', KEYS[K.pending], 'LT', ARGV[A.now], ARGV[A.member])
return 1
