-- Prepended to every script (redis_store.load_script). The time of a check is the caller's when
-- it passes one (tests drive a fake clock) and otherwise the Redis server's, so replicas whose own
-- clocks disagree still share one timeline. `server_marker` is the value that asks for the latter.
local function now_ms(given, server_marker)
  if given ~= server_marker then
    return tonumber(given)
  end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
