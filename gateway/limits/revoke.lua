-- Record a revoked token id until its token would expire; prune ids already expired.
-- KEYS[1] ids by sequence (ZSET) | KEYS[2] ids by expiry ms (ZSET) | KEYS[3] sequence counter
-- ARGV[1] now in ms, '' = the server's clock | ARGV[2] token id | ARGV[3] ttl_ms
local now = now_ms(ARGV[1], '')
local ttl_ms = math.ceil(tonumber(ARGV[3]))
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[1], id)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
-- The sequence is never below the server clock in microseconds, so it keeps growing across a
-- Redis restart (or flush): a replica's cursor from before is then always below the new ids,
-- where a counter restarting at 1 would hide the first revocations after a restart from every
-- replica whose cursor had already passed them.
local seq = math.max(tonumber(redis.call('GET', KEYS[3]) or '0') + 1, math.floor(now * 1000))
redis.call('SET', KEYS[3], string.format('%d', seq))
redis.call('ZADD', KEYS[1], seq, ARGV[2])
redis.call('ZADD', KEYS[2], now + ttl_ms, ARGV[2])
local keep_ms = math.max(ttl_ms, redis.call('PTTL', KEYS[2]))
for i = 1, 3 do
  redis.call('PEXPIRE', KEYS[i], keep_ms)
end
return seq
