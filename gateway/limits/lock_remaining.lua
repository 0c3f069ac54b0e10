-- Milliseconds a key stays locked (as a string, 0 when not locked).
-- KEYS[1] lock (value: locked-until ms) | ARGV[1] now in ms, '' = the server's clock
local now = now_ms(ARGV[1], '')
local locked_until = tonumber(redis.call('GET', KEYS[1]) or '0')
return string.format('%.3f', math.max(0, locked_until - now))
