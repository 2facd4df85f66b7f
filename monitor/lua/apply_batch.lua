-- Apply one micro-batch to the state, atomically: window counts, model counters,
-- reference collection, window closing and partition offsets, all or nothing.
--
-- KEYS: every key the payload names, by 1-based index. KEYS[1] is the offsets hash.
-- ARGV[1]: the JSON payload (numbers as strings, so nothing passes through Lua doubles
-- on its way to HINCRBY / HINCRBYFLOAT). ARGV[2..]: blobs the payload names by index,
-- among them each window delta's counters packed as little-endian int64 and float64.
--
-- Returns {"ok"}, or without writing anything:
--   {"stale", "topic/partition", stored_offset}  another consumer already applied these
--   {"conflict", model, stored_events}           the caller's view of a model is out of date
local p = cjson.decode(ARGV[1])

-- 1. Fencing: refuse a batch whose partitions were already moved past its first offset.
for _, o in ipairs(p.offsets) do
  local stored = redis.call('HGET', KEYS[1], o[1])
  if stored and tonumber(stored) > tonumber(o[2]) then
    return {'stale', o[1], stored}
  end
end

-- 2. Optimistic concurrency: window assignment was computed from this event count.
for _, m in ipairs(p.models) do
  -- A write without `expect` counts no events (the join of a model monitored per version).
  local events = redis.call('HGET', KEYS[m.meta], 'events') or '0'
  if m.expect and tonumber(events) ~= tonumber(m.expect) then
    return {'conflict', m.name, events}
  end
  if m.join then
    local version = redis.call('HGET', KEYS[m.meta], 'join_version') or '0'
    if tonumber(version) ~= tonumber(m.join.expect) then
      return {'conflict', m.name, events}
    end
  end
end

-- 2b. The waiting halves of a model server's requests and responses this batch pairs,
-- forgets or adds must still be as its plan read them; the plan stays within the cap.
if p.pairs then
  local q = p.pairs
  local hash = KEYS[q.hash]
  local leaving = {}
  for _, id in ipairs(q.del) do
    if redis.call('HEXISTS', hash, id) == 0 then
      return {'conflict', 'pairing', '0'}
    end
    leaving[id] = true
  end
  for i = 1, #q.store, 3 do
    if not leaving[q.store[i]] and redis.call('HEXISTS', hash, q.store[i]) == 1 then
      return {'conflict', 'pairing', '0'}
    end
  end
  if redis.call('HLEN', hash) - #q.del + #q.store / 3 > tonumber(q.cap) then
    return {'conflict', 'pairing', '0'}
  end
end

-- in_steps comes from steps.lua, prepended when the script is loaded.

local function keys_of(pairs_list)
  local ids = {}
  for i = 1, #pairs_list, 2 do
    ids[#ids + 1] = pairs_list[i]
  end
  return ids
end

-- Waiting predictions (or labels) are a hash of id -> entry and a sorted set of the
-- same ids by arrival time; these keep the two in step.
local function keep_waiting(hash, times, now, entries)
  in_steps('HSET', hash, entries)
  local args = {}
  for i = 1, #entries, 2 do
    args[i] = now
    args[i + 1] = entries[i]
  end
  in_steps('ZADD', times, args)
end

local function forget(hash, times, ids)
  in_steps('HDEL', hash, ids)
  in_steps('ZREM', times, ids)
end

-- Forget waiting entries older than the TTL, then the oldest past the size cap;
-- returns how many were forgotten.
local function expire(hash, times, before, cap)
  local ids = redis.call('ZRANGEBYSCORE', times, '-inf', before, 'LIMIT', 0, 5000)
  -- They are the set's first #ids by rank: removed as a range, not looked up one by one.
  in_steps('HDEL', hash, ids)
  if #ids > 0 then
    redis.call('ZREMRANGEBYRANK', times, 0, #ids - 1)
  end
  local gone = #ids
  local over = redis.call('ZCARD', times) - tonumber(cap)
  if over > 0 then
    in_steps('HDEL', hash, keys_of(redis.call('ZPOPMIN', times, over)))
    gone = gone + over
  end
  return gone
end

-- A window's counters are two packed vectors, added to element by element. One HINCRBY
-- per counter cost ~2 us each, 2,300 per window and batch; unpacking a few thousand
-- values per struct call and packing the sums back costs a tenth of that. Counts stay
-- exact: Lua's doubles hold integers up to 2^53.
--
-- Adding still costs ~0.3 us a value here, and a wide model's window has hundreds of
-- thousands (900 numeric features: 451,400 floats, 100 to 400 ms a batch). So a window's
-- next PENDING deltas are only stored beside it, in fields `<field>+1` .. `+PENDING`,
-- and its reader adds them in that order (monitor/store.py); the delta after them folds
-- them all in, in the same order, as one pass. The sums are those of adding each delta
-- as it came; a window gets one or two deltas when batches are as large as windows, so
-- then nothing is added here at all. Only window counters defer (`pending` = PENDING):
-- the label-quality counters are small and their readers expect the sum (`pending` 0).
local CHUNK = 4000 -- values per struct call: a C function returns at most ~8000 values
local PENDING = 3
local function add_packed(key, field, delta, code, size, pending)
  local length = redis.call('HSTRLEN', key, field)
  if length == 0 then
    redis.call('HSET', key, field, delta)
    return
  end
  if length ~= #delta then
    return -- another layout: the window is not evaluated against this reference anyway
  end
  local vectors = {false}
  for k = 1, pending do
    local slot = field .. '+' .. k
    if redis.call('HEXISTS', key, slot) == 0 then
      redis.call('HSET', key, slot, delta)
      return
    end
    vectors[k + 1] = redis.call('HGET', key, slot)
  end
  vectors[1] = redis.call('HGET', key, field)
  vectors[#vectors + 1] = delta
  local n = #delta / size
  local parts = {}
  for first = 0, n - 1, CHUNK do
    local count = math.min(CHUNK, n - first)
    local format = '<' .. string.rep(code, count)
    local sums = {struct.unpack(format, vectors[1], first * size + 1)}
    for v = 2, #vectors do
      local adds = {struct.unpack(format, vectors[v], first * size + 1)}
      for i = 1, count do
        sums[i] = sums[i] + adds[i]
      end
    end
    parts[#parts + 1] = struct.pack(format, unpack(sums, 1, count))
  end
  redis.call('HSET', key, field, table.concat(parts))
  for k = 1, pending do
    redis.call('HDEL', key, field .. '+' .. k)
  end
end

-- Byte order, which is Python's order of str (code points) for UTF-8; Lua's `<` on
-- strings is strcoll, which follows the server's locale.
local function bytes_less(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then
      return x < y
    end
  end
  return #a < #b
end

-- A window's heaviest tail values by name, per categorical signal: a JSON object
-- {signal: {value: count}} in the window's 'tails' field (a segment's: 'tails@<name>').
-- A batch's counts are summed in, then only the `keep` largest of each signal stay (ties
-- by value), as detectors.sketch.merge_names does: the field stays bounded however many
-- values come.
local function add_tails(key, field, tails, keep)
  local stored = redis.call('HGET', key, field)
  local all = stored and cjson.decode(stored) or {}
  for _, t in ipairs(tails) do
    local signal, counts = t[1], all[t[1]] or {}
    for _, pair in ipairs(t[2]) do
      counts[pair[1]] = (counts[pair[1]] or 0) + tonumber(pair[2])
    end
    local ranked = {}
    for value, n in pairs(counts) do
      ranked[#ranked + 1] = {value, n}
    end
    table.sort(ranked, function(a, b)
      if a[2] ~= b[2] then
        return a[2] > b[2]
      end
      return bytes_less(a[1], b[1])
    end)
    local kept = {}
    for i = 1, math.min(#ranked, keep) do
      kept[ranked[i][1]] = ranked[i][2]
    end
    all[signal] = kept
  end
  redis.call('HSET', key, field, cjson.encode(all))
end

-- A window's segments (monitor/segmenting.py) are fields of its hash, suffixed by the
-- segment's name: events 'n@<name>' always; counters and tail names when it is judged.
local function add_segments(key, segments, counted, keep)
  for _, s in ipairs(segments) do
    local suffix = '@' .. s.name
    redis.call('HINCRBY', key, 'n' .. suffix, s.n)
    if counted and s.ints then
      add_packed(key, 'ints' .. suffix, ARGV[s.ints], 'i8', 8, PENDING)
      add_packed(key, 'floats' .. suffix, ARGV[s.floats], 'd', 8, PENDING)
      if s.tails then
        add_tails(key, 'tails' .. suffix, s.tails, keep)
      end
    end
  end
end

local function apply_join(meta, j)
  redis.call('HINCRBY', meta, 'join_version', 1)
  forget(KEYS[j.preds], KEYS[j.pred_times], j.del_preds)
  forget(KEYS[j.labels], KEYS[j.label_times], j.del_labels)
  keep_waiting(KEYS[j.preds], KEYS[j.pred_times], j.now, j.store_preds)
  keep_waiting(KEYS[j.labels], KEYS[j.label_times], j.now, j.store_labels)
  -- Quality by stream: the model's own, or (monitored per version) each version's whose
  -- predictions joined; then those streams' joined and keyed counts.
  for _, s in ipairs(j.quality) do
    for _, q in ipairs(s.deltas) do
      local key = KEYS[q.key]
      for _, p in ipairs(q.packed) do
        add_packed(key, p[1], ARGV[p[2]], p[3], 8, 0)
      end
      for i = 1, #q.ints, 2 do
        redis.call('HINCRBY', key, q.ints[i], q.ints[i + 1])
      end
      for i = 1, #q.floats, 2 do
        redis.call('HINCRBYFLOAT', key, q.floats[i], q.floats[i + 1])
      end
      redis.call('SADD', KEYS[s.dirty], q.id)
      redis.call('ZADD', KEYS[s.windows], q.id, q.id)
    end
  end
  for _, s in ipairs(j.streams) do
    redis.call('HINCRBY', KEYS[s[1]], 'joined', s[2])
    redis.call('HINCRBY', KEYS[s[1]], 'predictions_keyed', s[3])
  end
  redis.call('HINCRBY', meta, 'joined', j.joined)
  redis.call('HINCRBY', meta, 'labels_received', j.labels_received)
  redis.call('HINCRBY', meta, 'predictions_keyed', j.predictions_keyed)
  local unlabelled = expire(KEYS[j.preds], KEYS[j.pred_times], j.expire_before, j.max_pending)
  local unmatched = expire(KEYS[j.labels], KEYS[j.label_times], j.expire_before, j.max_pending)
  redis.call('HINCRBY', meta, 'predictions_unlabelled', unlabelled)
  redis.call('HINCRBY', meta, 'labels_unmatched', unmatched)
end

-- 3. Apply every model's changes.
for _, m in ipairs(p.models) do
  local meta = KEYS[m.meta]
  redis.call('HINCRBY', meta, 'events', m.events)
  if m.late ~= '0' then
    redis.call('HINCRBY', meta, 'late', m.late)
  end
  if m.watermark then
    local current = redis.call('HGET', meta, 'watermark')
    if not current or tonumber(current) < tonumber(m.watermark) then
      redis.call('HSET', meta, 'watermark', m.watermark)
    end
  end
  if m.marks then
    -- Planned from the cursor this batch's expected event count fenced: a plain write.
    redis.call('HSET', meta, 'partition_marks', m.marks)
  end
  if m.ref_rows then
    redis.call('HINCRBY', meta, 'reference_collected', m.ref_rows)
  end
  if m.refbuf_arg then
    redis.call('RPUSH', KEYS[m.refbuf], ARGV[m.refbuf_arg])
  end
  if m.reference_arg then
    redis.call('SET', KEYS[m.reference], ARGV[m.reference_arg])
    redis.call('DEL', KEYS[m.refbuf])
    redis.call('HSET', meta, 'reference_id', m.ref_id)
  end
  for _, w in ipairs(m.windows) do
    local key = KEYS[w.key]
    redis.call('HINCRBY', key, 'n', w.n)
    redis.call('HSETNX', key, 'ref', m.ref_id)
    local counted = redis.call('HGET', key, 'ref') == m.ref_id
    if counted then
      add_packed(key, 'ints', ARGV[w.ints], 'i8', 8, PENDING)
      add_packed(key, 'floats', ARGV[w.floats], 'd', 8, PENDING)
      if w.tails then
        add_tails(key, 'tails', w.tails, tonumber(w.keep))
      end
    end
    if w.segments then
      add_segments(key, w.segments, counted, tonumber(w.keep))
    end
    if w.version then
      redis.call('HSET', key, 'model_version', w.version)
    end
    local first = redis.call('HGET', key, 'start')
    if not first or tonumber(first) > tonumber(w.start) then
      redis.call('HSET', key, 'start', w.start)
    end
    local last = redis.call('HGET', key, 'end')
    if not last or tonumber(last) < tonumber(w['end']) then
      redis.call('HSET', key, 'end', w['end'])
    end
    redis.call('ZADD', KEYS[m.open], w.id, w.id)
  end
  for _, id in ipairs(m.close) do
    redis.call('ZREM', KEYS[m.open], id)
    redis.call('ZADD', KEYS[m.closing], id, id)
  end
  if m.join then
    apply_join(meta, m.join)
  end
  if m.sequential then
    local s = m.sequential
    in_steps('HSET', KEYS[s.states], s.set)
    for _, found in ipairs(s.found) do
      redis.call('LPUSH', KEYS[s.detections], found)
    end
    redis.call('LTRIM', KEYS[s.detections], 0, tonumber(s.keep) - 1)
    redis.call('HINCRBY', meta, 'sequential_detections', #s.found)
  end
end

-- Events of model versions without a reference, skipped: counted with their offsets.
if p.unknown_versions then
  for _, u in ipairs(p.unknown_versions) do
    redis.call('HINCRBY', KEYS[u[1]], 'unknown_version', u[2])
  end
end
-- The pairing: halves paired or forgotten leave, new ones wait (`store`: id, the ARGV of
-- its message, its event time, by threes), ordered by event time; its counters.
if p.pairs then
  local q = p.pairs
  forget(KEYS[q.hash], KEYS[q.times], q.del)
  local entries, times = {}, {}
  for i = 1, #q.store, 3 do
    entries[#entries + 1] = q.store[i]
    entries[#entries + 1] = ARGV[tonumber(q.store[i + 1])]
    times[#times + 1] = q.store[i + 2]
    times[#times + 1] = q.store[i]
  end
  in_steps('HSET', KEYS[q.hash], entries)
  in_steps('ZADD', KEYS[q.times], times)
  for i = 1, #q.counts, 2 do
    redis.call('HINCRBY', KEYS[q.counts_key], q.counts[i], q.counts[i + 1])
  end
end

-- Dead letters by reason, counted with the offsets that skip them (for reports).
if p.dead then
  for i = 1, #p.dead.counts, 2 do
    redis.call('HINCRBY', KEYS[p.dead.key], p.dead.counts[i], p.dead.counts[i + 1])
  end
end

-- 4. Move the partitions' cursors past the batch.
for _, o in ipairs(p.offsets) do
  redis.call('HSET', KEYS[1], o[1], o[3])
end
return {'ok'}
