-- Apply an alert plan made from a checkpoint look at a still open count window, once per look.
--
-- KEYS[1] alert state hash, KEYS[2] audit stream, KEYS[3] outbox stream,
-- KEYS[4] outbox depth hash, KEYS[5] string: the latest look applied, as a number
-- (window id * 1000 + look), KEYS[6] sorted set of the model's open windows.
-- ARGV[1] this look as that number, ARGV[2] window id, ARGV[3] alert plan (JSON, as
-- finalize_window.lua reads it).
--
-- Returns 1 when applied, 0 when this look (or a later one) was applied already or the
-- window has closed meanwhile (its close judges it), -2 when the alert state moved since
-- the plan was computed (plan again).
-- write_if_current, write_alert_plan and in_steps come from alert_plan.lua and steps.lua, prepended when
-- the script is loaded.
local last = tonumber(redis.call('GET', KEYS[5]) or '-1')
if last >= tonumber(ARGV[1]) then
  return 0
end
if not redis.call('ZSCORE', KEYS[6], ARGV[2]) then
  return 0
end
return write_if_current(ARGV[3], function() redis.call('SET', KEYS[5], ARGV[1]) end)
