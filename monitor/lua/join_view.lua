-- What the label join of one batch needs to know, in one read: the model's join version, the
-- labels already waiting for the batch's predictions and the predictions waiting for its labels.
--
-- KEYS[1] model meta, KEYS[2] waiting labels, KEYS[3] waiting predictions
-- ARGV[1] JSON array of the batch's prediction ids, ARGV[2] of its label ids
-- Returns {join_version, the labels waiting for those predictions, the predictions waiting
-- for those labels}, each aligned with its ids or empty when nothing waits: ids travel as
-- one JSON text each instead of one argument per id.
-- lookup comes from lookup.lua, prepended when the script is loaded.
-- A hash nothing waits in is not searched (its reply is empty): labels usually come after
-- their predictions, so a batch's thousands of prediction ids mostly find no label waiting.
local function waiting_for(hash, ids)
  if redis.call('EXISTS', hash) == 0 then
    return {}
  end
  return lookup(hash, cjson.decode(ids))
end
local version = redis.call('HGET', KEYS[1], 'join_version') or '0'
return {version, waiting_for(KEYS[2], ARGV[1]), waiting_for(KEYS[3], ARGV[2])}
