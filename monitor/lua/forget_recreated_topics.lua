-- Forget the stored offsets of topics recreated since they were stored (one atomic step).
-- KEYS[1]: hash topic -> Kafka topic id; KEYS[2]: hash "topic/partition" -> next offset.
-- ARGV: topic, id, topic, id, ... (the topics' ids now). A topic seen for the first time
-- keeps its offsets and has its id recorded; a topic whose id changed loses the offsets of
-- its partitions (they count messages of the deleted topic) and has the new id recorded.
-- Returns the recreated topics. Topic names hold no "/" (Kafka allows [a-zA-Z0-9._-]), so
-- "topic/" prefixes exactly that topic's fields.
local recreated = {}
for i = 1, #ARGV, 2 do
  local topic, id = ARGV[i], ARGV[i + 1]
  local known = redis.call('HGET', KEYS[1], topic)
  if known ~= id then
    if known then
      local prefix = topic .. '/'
      local stale = {}
      for _, name in ipairs(redis.call('HKEYS', KEYS[2])) do
        if string.sub(name, 1, #prefix) == prefix then
          table.insert(stale, name)
        end
      end
      in_steps('HDEL', KEYS[2], stale)
      table.insert(recreated, topic)
    end
    redis.call('HSET', KEYS[1], topic, id)
  end
end
return recreated
