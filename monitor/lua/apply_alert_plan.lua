-- Apply an alert plan made from a window's quality verdict, once per window.
--
-- KEYS[1] alert state hash, KEYS[2] audit stream, KEYS[3] outbox stream,
-- KEYS[4] outbox depth hash, KEYS[5] set of quality windows already alerted on.
-- ARGV[1] window id, ARGV[2] alert plan (JSON, as finalize_window.lua reads it).
--
-- Returns 1 when applied, 0 when this window's quality was already alerted on,
-- -2 when the alert state moved since the plan was computed (plan again).
-- write_if_current, write_alert_plan and in_steps come from alert_plan.lua and steps.lua, prepended when
-- the script is loaded.
if redis.call('SISMEMBER', KEYS[5], ARGV[1]) == 1 then
  return 0
end
return write_if_current(ARGV[2], function() redis.call('SADD', KEYS[5], ARGV[1]) end)
