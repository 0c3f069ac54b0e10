-- Check and record every rule in one atomic step, mirroring sliding_window.py.
-- KEYS[1..n]   hit logs (ZSET: member = unique hit id, score = hit time in ms)
-- KEYS[n+1]    lock of lock_key (value: locked-until ms), KEYS[n+2] its failure streak  [optional]
-- ARGV[1] one space-separated string (one argument is cheaper to send than many):
--   n, now in ms ('-' = the server's clock; tests pass a fake one), unique hit id,
--   '1' when a lock key is given, '1' to acquire or '0' to only look (the usage endpoint),
--   then per rule: limit, window_ms, 'e' (enforce) or 'r' (report: recorded while it has room,
--   never refuses)
-- Returns one string (cheap to parse): "status rejected_index lock_remaining_ms would_reject" then
-- "remaining reset_ms free_ms" per rule (remaining never below 0); status 1 allowed, 0 rejected, 2 locked; would_reject is a
-- bit mask of the report rules that had no room (bit i-1 for rule i); free_ms is the time until
-- one more hit fits (0 while there is room).
local argv = {}
for word in string.gmatch(ARGV[1], '%S+') do argv[#argv + 1] = word end
local n = tonumber(argv[1])
local now = now_ms(argv[2], '-')

local limits, windows, reports, counts, resets = {}, {}, {}, {}, {}
for i = 1, n do
  limits[i] = tonumber(argv[3 + 3 * i])
  windows[i] = tonumber(argv[4 + 3 * i])
  reports[i] = argv[5 + 3 * i] == 'r'
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - windows[i])
  local first = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
  if first[2] == nil then
    counts[i], resets[i] = 0, 0
  else
    counts[i] = redis.call('ZCARD', KEYS[i])
    resets[i] = tonumber(first[2]) + windows[i] - now
  end
end

-- ms until one more hit fits: when the hit `limit` places from the newest leaves the window
local function frees_in(i)
  if counts[i] < limits[i] then return 0 end
  if limits[i] <= 0 then return windows[i] end
  if counts[i] == limits[i] then return resets[i] end
  local surplus = counts[i] - limits[i]   -- more hits than the limit: it was lowered (reload)
  local freeing = redis.call('ZRANGE', KEYS[i], surplus, surplus, 'WITHSCORES')
  return tonumber(freeing[2]) + windows[i] - now
end

local function report(status, rejected, lock_ms, would)
  local out = {status, rejected, string.format('%.3f', lock_ms), string.format('%d', would)}
  for i = 1, n do
    out[#out + 1] = math.max(0, limits[i] - counts[i])
    out[#out + 1] = string.format('%.3f', resets[i])
    out[#out + 1] = string.format('%.3f', frees_in(i))
  end
  return table.concat(out, ' ')
end

if argv[5] ~= '1' then
  return report(1, 0, 0, 0)
end

if argv[4] == '1' then
  local locked_until = tonumber(redis.call('GET', KEYS[n + 1]) or '0')
  if locked_until > now then
    return report(2, 0, locked_until - now, 0)
  end
  redis.call('DEL', KEYS[n + 2])
end

for i = 1, n do
  if counts[i] >= limits[i] and not reports[i] then
    return report(0, i, 0, 0)
  end
end

local would = 0
for i = 1, n do
  if counts[i] >= limits[i] then   -- a report rule without room: counted, not recorded
    would = would + 2 ^ (i - 1)
  else
    redis.call('ZADD', KEYS[i], now, argv[3] .. ':' .. i)
    redis.call('PEXPIRE', KEYS[i], math.ceil(windows[i]))
    if counts[i] == 0 then resets[i] = windows[i] end
    counts[i] = counts[i] + 1
  end
end
return report(1, 0, 0, would)
