-- Record a closed window's evaluation exactly once, whoever evaluated it.
--
-- KEYS[1] closing set, KEYS[2] window hash, KEYS[3] latest results hash,
-- KEYS[4] history list, KEYS[5] model meta hash, KEYS[6] lease key.
-- ARGV[1] window id, ARGV[2] evaluator id, ARGV[3] history entry (JSON),
-- ARGV[4] history size, ARGV[5..] latest-result field/value pairs.
--
-- Returns 1 when recorded, 0 when another evaluator already recorded this window.
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('DEL', KEYS[2])
if #ARGV > 4 then
  redis.call('HSET', KEYS[3], unpack(ARGV, 5))
end
redis.call('LPUSH', KEYS[4], ARGV[3])
redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[4]) - 1)
redis.call('HINCRBY', KEYS[5], 'windows_closed', 1)
if redis.call('GET', KEYS[6]) == ARGV[2] then
  redis.call('DEL', KEYS[6])
end
return 1
