-- One failed attempt for a key; locks it when the streak reaches the threshold.
-- KEYS[1] lock (value: locked-until ms) | KEYS[2] failure streak counter
-- ARGV[1] now in ms, '' = the server's clock | ARGV[2] threshold | ARGV[3] lock_ms
-- Returns 1 when the key is locked (already, or from this failure on), else 0.
local now = now_ms(ARGV[1], '')
local threshold = tonumber(ARGV[2])
local lock_ms = math.ceil(tonumber(ARGV[3]))
if tonumber(redis.call('GET', KEYS[1]) or '0') > now then
  return 1
end
local failures = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], lock_ms)
if failures >= threshold then
  redis.call('SET', KEYS[1], string.format('%.3f', now + lock_ms), 'PX', lock_ms)
  redis.call('DEL', KEYS[2])
  return 1
end
return 0
