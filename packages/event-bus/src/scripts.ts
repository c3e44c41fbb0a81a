/**
 * Publishes a batch atomically, deduplicated by an optional idempotency record, then applies the stream's
 * retention at most once per check interval without ever trimming an entry that a consumer group still
 * needs (its oldest pending entry, or the first entry it has not read).
 * KEYS[1]: the stream; KEYS[2]: the retention check marker; KEYS[3] (optional): the idempotency record.
 * ARGV[1]: record TTL in seconds; ARGV[2]: trim kind "none" | "maxlen" | "minid"; ARGV[3]: max length or
 * oldest id to keep; ARGV[4]: check interval in ms ("0": every publish); ARGV[5..]: events as JSON.
 * Returns {duplicate (0|1), comma-separated stream ids, entries held back (-1: not checked or not
 * countable this time), entries trimmed}. Counts of held-back entries stop at 10,000 for age-based
 * retention, and a group with 10,000 or more entries in flight postpones length-based trimming.
 */
export const PUBLISH_SCRIPT = `local SCAN_LIMIT = 10000
local function split(id)
  local ms, seq = string.match(id, "^(%d+)-(%d+)$")
  return tonumber(ms), tonumber(seq)
end
local function before(a, b)
  local am, as = split(a)
  local bm, bs = split(b)
  return am < bm or (am == bm and as < bs)
end
local function successor(id)
  local ms, seq = string.match(id, "^(%d+)-(%d+)$")
  return ms .. "-" .. string.format("%d", tonumber(seq) + 1)
end
local function oldest_needed(stream)
  local floor, need, exact = nil, 0, true
  for _, g in ipairs(redis.call("XINFO", "GROUPS", stream)) do
    local f = {}
    for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
    local from, inflight = successor(f["last-delivered-id"]), 0
    if f["pending"] > 0 then
      from = redis.call("XPENDING", stream, f["name"])[2]
      inflight = #redis.call("XRANGE", stream, from, f["last-delivered-id"], "COUNT", SCAN_LIMIT)
      if inflight == SCAN_LIMIT then exact = false end
    end
    if not f["lag"] then exact = false end
    if floor == nil or before(from, floor) then floor = from end
    need = math.max(need, (f["lag"] or 0) + inflight)
  end
  return floor, need, exact
end
local function trim_maxlen(stream, maxlen)
  if redis.call("XLEN", stream) <= maxlen then return {0, 0} end
  local floor, need, exact = oldest_needed(stream)
  if floor == nil or (exact and need <= maxlen) then
    return {0, redis.call("XTRIM", stream, "MAXLEN", "~", maxlen)}
  end
  if not exact then return {-1, 0} end
  return {need - maxlen, redis.call("XTRIM", stream, "MINID", "~", floor)}
end
local function trim_minid(stream, cut)
  local first = redis.call("XRANGE", stream, "-", "+", "COUNT", 1)[1]
  if first == nil or not before(first[1], cut) then return {0, 0} end
  local floor = oldest_needed(stream)
  if floor == nil or not before(floor, cut) then
    return {0, redis.call("XTRIM", stream, "MINID", "~", cut)}
  end
  local held = #redis.call("XRANGE", stream, floor, "(" .. cut, "COUNT", SCAN_LIMIT)
  return {held, redis.call("XTRIM", stream, "MINID", "~", floor)}
end
if #KEYS == 3 then
  local seen = redis.call("GET", KEYS[3])
  if seen then return {1, seen, -1, 0} end
end
local ids = {}
for i = 5, #ARGV do
  ids[#ids + 1] = redis.call("XADD", KEYS[1], "*", "event", ARGV[i])
end
local joined = table.concat(ids, ",")
if #KEYS == 3 then redis.call("SET", KEYS[3], joined, "EX", ARGV[1]) end
local result = {-1, 0}
if ARGV[2] ~= "none" and (ARGV[4] == "0" or redis.call("SET", KEYS[2], "1", "NX", "PX", ARGV[4])) then
  if ARGV[2] == "maxlen" then result = trim_maxlen(KEYS[1], tonumber(ARGV[3])) else result = trim_minid(KEYS[1], ARGV[3]) end
end
return {0, joined, result[1], result[2]}`;

/** SHA-1 of {@link PUBLISH_SCRIPT}, pinned so EVALSHA needs no SCRIPT LOAD round trip; a test checks it. */
export const PUBLISH_SCRIPT_SHA1 = "f94d34d255216c4d149be900b26d10a4b8d10863";
