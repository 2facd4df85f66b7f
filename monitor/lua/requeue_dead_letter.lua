-- Put a dead letter back on the outbox as a new entry, once: only the caller that removes
-- it from the dead-letter list adds it, so two redrives of the same letter send it once.
--
-- KEYS[1] dead-letter list, KEYS[2] outbox stream, KEYS[3] depth hash
-- ARGV[1] the dead letter as stored, ARGV[2] sink, ARGV[3..] the stream entry's fields
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then
  return 0
end
redis.call('XADD', KEYS[2], '*', unpack(ARGV, 3))
redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
return 1
