/**
 * Publishes a batch atomically, deduplicated by an optional idempotency record.
 * KEYS[1]: the stream; KEYS[2] (optional): the idempotency record.
 * ARGV[1]: record TTL in seconds; ARGV[2]: approximate MAXLEN, "0" for none; ARGV[3..]: events as JSON.
 * Returns {duplicate (0|1), comma-separated stream ids}.
 */
export const PUBLISH_SCRIPT = `if #KEYS == 2 then
  local seen = redis.call("GET", KEYS[2])
  if seen then return {1, seen} end
end
local ids = {}
for i = 3, #ARGV do
  if ARGV[2] == "0" then
    ids[#ids + 1] = redis.call("XADD", KEYS[1], "*", "event", ARGV[i])
  else
    ids[#ids + 1] = redis.call("XADD", KEYS[1], "MAXLEN", "~", ARGV[2], "*", "event", ARGV[i])
  end
end
local joined = table.concat(ids, ",")
if #KEYS == 2 then redis.call("SET", KEYS[2], joined, "EX", ARGV[1]) end
return {0, joined}`;

/** SHA-1 of {@link PUBLISH_SCRIPT}, pinned so EVALSHA needs no SCRIPT LOAD round trip; a test checks it. */
export const PUBLISH_SCRIPT_SHA1 = "8d2042eb6b97feabc71257b31f5357f70ce8e500";
