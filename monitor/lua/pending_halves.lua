-- What the pairing of one batch needs to know, in one read (monitor.payloads): the halves
-- waiting under the batch's ids, and the oldest halves the batch may have to forget.
--
-- KEYS[1] waiting halves, KEYS[2] their event times
-- ARGV[1] JSON array of the batch's ids, ARGV[2] expire what happened before this,
-- ARGV[3] at most so many, ARGV[4] halves the batch may add, ARGV[5] max pending
-- Returns {halves waiting, the batch's ids' halves, then the oldest halves' ids, event
-- times and halves: those past the TTL, and as many more as the batch may have to evict}.
-- lookup comes from lookup.lua, prepended when the script is loaded.
local waiting = redis.call('HLEN', KEYS[1])
local stored = lookup(KEYS[1], cjson.decode(ARGV[1]))
local expired = math.min(redis.call('ZCOUNT', KEYS[2], '-inf', '(' .. ARGV[2]), tonumber(ARGV[3]))
local count = expired + math.max(waiting - expired + tonumber(ARGV[4]) - tonumber(ARGV[5]), 0)
local ids, times = {}, {}
if count > 0 then
  local ranked = redis.call('ZRANGE', KEYS[2], 0, count - 1, 'WITHSCORES')
  for i = 1, #ranked, 2 do
    ids[#ids + 1] = ranked[i]
    times[#times + 1] = ranked[i + 1]
  end
end
return {waiting, stored, ids, times, lookup(KEYS[1], ids)}
