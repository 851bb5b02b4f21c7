-- Hide a title from Continue Watching up to its current winner, and schedule the write.
-- KEYS: hot, pending; ARGV: member, now
local crt = redis.call('HGET', KEYS[1], 'crt')
if not crt then return 0 end
redis.call('HSET', KEYS[1], 'hid', crt)
redis.call('ZADD', KEYS[2], 'LT', ARGV[2], ARGV[1])
return 1
