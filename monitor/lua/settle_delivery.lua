-- Settle an outbox entry (delivered, or given up into the dead-letter list): acknowledge
-- and delete it in one step, which only the first settler gets through, so the per-sink
-- depth counter never counts an entry twice.
--
-- KEYS[1] outbox stream, KEYS[2] attempts hash, KEYS[3] depth hash, KEYS[4] dead-letter list
-- ARGV[1] group, ARGV[2] entry id, ARGV[3] sink, ARGV[4] dead-letter JSON or '', ARGV[5] size
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return 0
end
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('HINCRBY', KEYS[3], ARGV[3], -1)
if ARGV[4] ~= '' then
  redis.call('LPUSH', KEYS[4], ARGV[4])
  redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[5]) - 1)
end
return 1
