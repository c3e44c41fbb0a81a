/**
 * Publishes events to one or more streams (a topic's partitions) atomically, in one script: every event is
 * written, or none. With an idempotency record, a retry of the same request (same hash) is answered from the
 * record, and the same key with another request is refused; either way nothing is written. Then each stream's
 * retention is applied at most once per check interval, without ever trimming an entry a consumer group still
 * needs (its oldest pending entry, or the first entry it has not read).
 * A topic that is neither in the set of known topics nor has any of its streams in Redis is new: creating it
 * counts against the publisher's quota of new topics per window, and a publish past the quota writes nothing.
 * KEYS: for each stream, the stream then its retention check marker; then the set of known topics; then the
 * publisher's new-topic counter; then the idempotency record, if any.
 * ARGV[1]: record TTL in seconds; ARGV[2]: the request's hash ("" without a record); ARGV[3]: trim kind
 * "none" | "maxlen" | "minid"; ARGV[4]: max length or oldest id to keep; ARGV[5]: check interval in ms ("0":
 * every publish); ARGV[6]: number of streams; ARGV[7]: the topic; ARGV[8]: new topics the publisher may create
 * per window ("-1": no limit); ARGV[9]: the window in ms; then per stream: its event count n, its n event ids (only
 * with a record, which keeps them), and its n events as JSON. Returns {status, then per stream: its comma-separated
 * stream ids and the list of its event ids as the record kept them (empty on a fresh write: the caller has them),
 * then per stream: entries held back (-1: not checked or not countable this time) and entries trimmed}. Status 0:
 * written; 1: a retry, answered from the record; 2: the key belongs to another request (nothing more follows); 3:
 * the topic is new and the publisher's quota of new topics is used up, followed by the ms until the window ends.
 * Counts of held-back entries stop at 10,000 for age-based retention, and a group with 10,000 or more entries in
 * flight postpones length-based trimming.
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
local streams = tonumber(ARGV[6])
local topics, quota, record = KEYS[2 * streams + 1], KEYS[2 * streams + 2], KEYS[2 * streams + 3]
if record then
  local seen = redis.call("HGET", record, "hash")
  if seen then
    if seen ~= ARGV[2] then return {2} end
    local out = {1}
    for i = 1, streams do
      local ids = {}
      for j = 1, tonumber(redis.call("HGET", record, "n" .. i) or "0") do
        ids[j] = redis.call("HGET", record, "e" .. i .. "." .. j)
      end
      out[#out + 1] = redis.call("HGET", record, "s" .. i) or ""
      out[#out + 1] = ids
    end
    for i = 1, streams do
      out[#out + 1] = -1
      out[#out + 1] = 0
    end
    return out
  end
end
if redis.call("SISMEMBER", topics, ARGV[7]) == 0 then
  local exists = 0
  for i = 1, streams do exists = exists + redis.call("EXISTS", KEYS[2 * i - 1]) end
  if exists == 0 and ARGV[8] ~= "-1" then
    if tonumber(redis.call("GET", quota) or "0") >= tonumber(ARGV[8]) then
      local left = redis.call("PTTL", quota)
      if left < 0 then left = tonumber(ARGV[9]) end
      return {3, left}
    end
    if redis.call("INCR", quota) == 1 then redis.call("PEXPIRE", quota, ARGV[9]) end
  end
  redis.call("SADD", topics, ARGV[7])
end
local out, at, stored = {0}, 10, {"hash", ARGV[2]}
local width = record and 2 or 1
for i = 1, streams do
  local n = tonumber(ARGV[at])
  local ids = {}
  local first = at + (width - 1) * n
  for j = 1, n do
    ids[j] = redis.call("XADD", KEYS[2 * i - 1], "*", "event", ARGV[first + j])
  end
  local joined = table.concat(ids, ",")
  out[#out + 1] = joined
  out[#out + 1] = {}
  if record then
    stored[#stored + 1] = "s" .. i
    stored[#stored + 1] = joined
    stored[#stored + 1] = "n" .. i
    stored[#stored + 1] = n
    for j = 1, n do
      stored[#stored + 1] = "e" .. i .. "." .. j
      stored[#stored + 1] = ARGV[at + j]
    end
  end
  at = at + 1 + width * n
end
if record then
  redis.call("HSET", record, unpack(stored))
  redis.call("EXPIRE", record, ARGV[1])
end
for i = 1, streams do
  local result = {-1, 0}
  if ARGV[3] ~= "none" and (ARGV[5] == "0" or redis.call("SET", KEYS[2 * i], "1", "NX", "PX", ARGV[5])) then
    if ARGV[3] == "maxlen" then result = trim_maxlen(KEYS[2 * i - 1], tonumber(ARGV[4])) else result = trim_minid(KEYS[2 * i - 1], ARGV[4]) end
  end
  out[#out + 1] = result[1]
  out[#out + 1] = result[2]
end
return out`;

/** SHA-1 of {@link PUBLISH_SCRIPT}, pinned so EVALSHA needs no SCRIPT LOAD round trip; a test checks it. */
export const PUBLISH_SCRIPT_SHA1 = "4b11fae887914bcf90dbcd8410b9eeb1e115fd0d";
