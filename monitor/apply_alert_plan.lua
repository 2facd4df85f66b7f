-- Apply an alert plan made from a window's quality verdict, once per window.
--
-- KEYS[1] alert state hash, KEYS[2] audit stream, KEYS[3] outbox stream,
-- KEYS[4] outbox depth hash, KEYS[5] set of quality windows already alerted on.
-- ARGV[1] window id, ARGV[2] alert plan (JSON, as finalize_window.lua reads it).
--
-- Returns 1 when applied, 0 when this window's quality was already alerted on,
-- -2 when the alert state moved since the plan was computed (plan again).
if redis.call('SISMEMBER', KEYS[5], ARGV[1]) == 1 then
  return 0
end
local plan = cjson.decode(ARGV[2])
local version = redis.call('HGET', KEYS[1], '_version') or ''
if version ~= plan.expect then
  return -2
end
redis.call('SADD', KEYS[5], ARGV[1])
redis.call('HSET', KEYS[1], '_version', plan.version)
if #plan.set > 0 then
  redis.call('HSET', KEYS[1], unpack(plan.set))
end
for _, entry in ipairs(plan.audit) do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', plan.audit_size, '*', unpack(entry))
end
for _, message in ipairs(plan.outbox) do
  redis.call('XADD', KEYS[3], '*', unpack(message))
  redis.call('HINCRBY', KEYS[4], message[2], 1)
end
return 1
