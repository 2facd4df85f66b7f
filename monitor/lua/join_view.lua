-- What the label join of one batch needs to know, in one read: the model's join version, the
-- labels already waiting for the batch's predictions and the predictions waiting for its labels.
--
-- KEYS[1] model meta, KEYS[2] waiting labels, KEYS[3] waiting predictions
-- ARGV[1] JSON array of the batch's prediction ids, ARGV[2] of its label ids
-- Returns {join_version, the labels waiting for those predictions, the predictions waiting
-- for those labels}: ids travel as one JSON text each instead of one argument per id.
-- lookup comes from lookup.lua, prepended when the script is loaded.
local version = redis.call('HGET', KEYS[1], 'join_version') or '0'
return {version, lookup(KEYS[2], cjson.decode(ARGV[1])), lookup(KEYS[3], cjson.decode(ARGV[2]))}
