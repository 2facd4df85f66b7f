-- Shared by finalize_window.lua and apply_alert_plan.lua (prepended when they are loaded):
-- write an alert plan's new states, audit entries and outbox messages. It uses in_steps
-- from steps.lua, prepended before it.
--
-- plan: {version, set: [field, value, ...], audit: [[f, v, ...], ...], audit_size,
-- outbox: [[f, v, ...], ...]}; each outbox message starts with field 'sink', so
-- message[2] is the sink whose depth it adds to.
local function write_alert_plan(states, audit, outbox, depth, plan)
  redis.call('HSET', states, '_version', plan.version)
  in_steps('HSET', states, plan.set)
  for _, entry in ipairs(plan.audit) do
    redis.call('XADD', audit, 'MAXLEN', '~', plan.audit_size, '*', unpack(entry))
  end
  for _, message in ipairs(plan.outbox) do
    redis.call('XADD', outbox, '*', unpack(message))
    redis.call('HINCRBY', depth, message[2], 1)
  end
end

-- Write a plan (JSON) only if the alert state is still at the version it was planned
-- from (KEYS[1..4] as above): 1 when written, after calling mark() first; -2 when the
-- state moved (plan again). The scripts that apply a plan outside a window's record
-- (apply_alert_plan.lua, apply_early_alert.lua) mark what the plan was made from.
local function write_if_current(plan_json, mark)
  local plan = cjson.decode(plan_json)
  local version = redis.call('HGET', KEYS[1], '_version') or ''
  if version ~= plan.expect then
    return -2
  end
  mark()
  write_alert_plan(KEYS[1], KEYS[2], KEYS[3], KEYS[4], plan)
  return 1
end
