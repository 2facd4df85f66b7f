-- Shared by the scripts that read many fields of a hash at once (prepended after steps.lua):
-- their values, STEP ids at a time (unpack() takes ~8,000 at most), false where there is none.
local function lookup(hash, ids)
  local found = {}
  for first = 1, #ids, STEP do
    local part = redis.call('HMGET', hash, unpack(ids, first, math.min(first + STEP - 1, #ids)))
    for i = 1, #part do
      found[#found + 1] = part[i]
    end
  end
  return found
end
