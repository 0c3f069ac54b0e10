-- Live revoked ids with a sequence above the cursor, and the new cursor.
-- KEYS[1] ids by sequence | KEYS[2] ids by expiry ms | KEYS[3] sequence counter
-- ARGV[1] now in ms, '' = the server's clock | ARGV[2] cursor
-- A cursor above the counter means Redis lost its data (restart): start over from zero.
local now = now_ms(ARGV[1], '')
local seq = tonumber(redis.call('GET', KEYS[3]) or '0')
local cursor = tonumber(ARGV[2])
if cursor > seq then cursor = 0 end
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. cursor, '+inf')
local live = {}
for _, id in ipairs(ids) do
  local expires = redis.call('ZSCORE', KEYS[2], id)
  if expires and tonumber(expires) > now then live[#live + 1] = id end
end
return {seq, live}
