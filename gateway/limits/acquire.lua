-- Check and record every rule in one atomic step, mirroring sliding_window.py.
-- KEYS[1..n]   hit logs (ZSET: member = unique hit id, score = hit time in ms)
-- KEYS[n+1]    lock of lock_key (value: locked-until ms), KEYS[n+2] its failure streak  [optional]
-- ARGV[1] one space-separated string (one argument is cheaper to send than many):
--   n, now in ms ('-' = the server's clock; tests pass a fake one), unique hit id,
--   '1' when a lock key is given, then limit and window_ms per rule
-- Returns one string (cheap to parse): "status rejected_index lock_remaining_ms retry_ms" then
-- "count reset_ms" per rule; status 1 allowed, 0 rejected, 2 locked.
local argv = {}
for word in string.gmatch(ARGV[1], '%S+') do argv[#argv + 1] = word end
local n = tonumber(argv[1])
local now = now_ms(argv[2], '-')

local limits, windows, counts, resets = {}, {}, {}, {}
for i = 1, n do
  limits[i] = tonumber(argv[3 + 2 * i])
  windows[i] = tonumber(argv[4 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - windows[i])
  local first = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
  if first[2] == nil then
    counts[i], resets[i] = 0, 0
  else
    counts[i] = redis.call('ZCARD', KEYS[i])
    resets[i] = tonumber(first[2]) + windows[i] - now
  end
end

local function report(status, rejected, lock_ms, retry_ms)
  local out = {status, rejected, string.format('%.3f', lock_ms), string.format('%.3f', retry_ms)}
  for i = 1, n do
    out[#out + 1] = counts[i]
    out[#out + 1] = string.format('%.3f', resets[i])
  end
  return table.concat(out, ' ')
end

if argv[4] == '1' then
  local locked_until = tonumber(redis.call('GET', KEYS[n + 1]) or '0')
  if locked_until > now then
    return report(2, 0, locked_until - now, locked_until - now)
  end
  redis.call('DEL', KEYS[n + 2])
end

for i = 1, n do
  if counts[i] >= limits[i] then
    local retry = windows[i]
    if limits[i] > 0 then
      local surplus = counts[i] - limits[i]
      local freeing = redis.call('ZRANGE', KEYS[i], surplus, surplus, 'WITHSCORES')
      retry = tonumber(freeing[2]) + windows[i] - now
    end
    return report(0, i, 0, retry)
  end
end

for i = 1, n do
  redis.call('ZADD', KEYS[i], now, argv[3] .. ':' .. i)
  redis.call('PEXPIRE', KEYS[i], math.ceil(windows[i]))
  if counts[i] == 0 then resets[i] = windows[i] end
  counts[i] = counts[i] + 1
end
return report(1, 0, 0, 0)
