-- Shared by the state store's scripts (prepended when they are loaded): one redis.call per
-- step of a list instead of one per item, and never more values at once than unpack() can
-- pass.
--
-- Lua's unpack() fails with "too many results to unpack" beyond ~8,000 values, and a
-- model of 1,000 features has 6,000 latest-result fields (12,000 values); a batch stores
-- and deletes thousands of waiting predictions and labels. `args` is flat (for pairs,
-- field then value); STEP is even, so a pair never straddles two calls. `from` (default
-- 1) skips leading values, as finalize_window.lua's ARGV does.
local STEP = 2000
local function in_steps(command, key, args, from)
  for first = from or 1, #args, STEP do
    redis.call(command, key, unpack(args, first, math.min(first + STEP - 1, #args)))
  end
end
