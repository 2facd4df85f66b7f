-- Record a closed window's evaluation exactly once, whoever evaluated it, together with
-- the alert transitions, audit entries and outbox messages that window causes.
--
-- KEYS[1] closing set, KEYS[2] window hash, KEYS[3] latest results hash,
-- KEYS[4] history list, KEYS[5] model meta hash, KEYS[6] lease key,
-- KEYS[7] alert state hash, KEYS[8] audit stream, KEYS[9] outbox stream,
-- KEYS[10] outbox depth hash.
-- ARGV[1] window id, ARGV[2] evaluator id, ARGV[3] history entry (JSON),
-- ARGV[4] history size, ARGV[5] alert plan (JSON, or '' for none),
-- ARGV[6..] latest-result field/value pairs.
--
-- The alert plan: {expect, version, set: [field, value, ...], audit: [[f, v, ...], ...],
-- audit_size, outbox: [[f, v, ...], ...]}. It was computed from the alert state at version
-- `expect`; if the stored version differs, nothing is written.
--
-- Returns 1 when recorded; 0 when another evaluator already recorded this window;
-- -1 when an older window of the model still waits (windows are recorded in order, as the
-- alert state machine counts consecutive windows); -2 when the alert state moved since the
-- plan was computed (plan again from the stored state).
-- write_alert_plan and in_steps come from alert_plan.lua and steps.lua, prepended when
-- the script is loaded.
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return 0
end
if redis.call('ZRANGE', KEYS[1], 0, 0)[1] ~= ARGV[1] then
  return -1
end
local plan = nil
if ARGV[5] ~= '' then
  plan = cjson.decode(ARGV[5])
  local version = redis.call('HGET', KEYS[7], '_version') or ''
  if version ~= plan.expect then
    return -2
  end
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
if #ARGV > 5 then
  in_steps('HSET', KEYS[3], ARGV, 6)
end
redis.call('LPUSH', KEYS[4], ARGV[3])
redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[4]) - 1)
redis.call('HINCRBY', KEYS[5], 'windows_closed', 1)
if redis.call('GET', KEYS[6]) == ARGV[2] then
  redis.call('DEL', KEYS[6])
end
if plan then
  write_alert_plan(KEYS[7], KEYS[8], KEYS[9], KEYS[10], plan)
end
return 1
