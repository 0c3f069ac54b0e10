-- Milliseconds a key stays locked (as a string, 0 when not locked).
-- KEYS[1] lock (value: locked-until ms) | ARGV[1] now in ms, '' = the server's clock
local now
if ARGV[1] ~= '' then
  now = tonumber(ARGV[1])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
local locked_until = tonumber(redis.call('GET', KEYS[1]) or '0')
return string.format('%.3f', math.max(0, locked_until - now))
