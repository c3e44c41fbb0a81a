import { entryField, groupInfos, pendingEntries, readGroupEntries, type Redis } from "@foundation/core";
import type { PendingEntry } from "../backoff.ts";
import type { RawDelivery } from "../delivery.ts";
import { rawEntries, type RawEntry } from "../replay.ts";
import { DEAD_LETTER_MAX_LEN, deadLetterStream, type ConsumerConfig } from "../subscription.ts";
import type { ConsumerGauges } from "./types.ts";

/**
 * The Redis commands of one delivery round, each a named step of `StreamConsumer`'s round. They hold no state:
 * the object decides, these talk to Redis.
 */

/** The first page (`batchSize`) of the group's pending list. */
export async function readPending(redis: Redis, config: ConsumerConfig): Promise<PendingEntry[]> {
  const raw = await redis.xpending(config.stream, config.group, "-", "+", config.batchSize);
  return pendingEntries(raw).map(({ streamId, idleMs, deliveries }) => ({ streamId, idleMs, deliveries }));
}

/** Claims due pending entries for `consumer` and returns them as deliveries, each counted once more than before. */
export async function claim(
  redis: Redis,
  config: ConsumerConfig,
  consumer: string,
  ids: readonly string[],
  pending: readonly PendingEntry[],
): Promise<RawDelivery[]> {
  if (ids.length === 0) return [];
  const counts = new Map(pending.map((p) => [p.streamId, p.deliveries + 1]));
  const claimed = rawEntries(await redis.xclaim(config.stream, config.group, consumer, 0, [...ids]));
  return claimed.map((e) => ({ ...e, deliveryCount: counts.get(e.streamId) ?? 2 }));
}

/**
 * Reads up to `room` new entries for `consumer`. Acknowledgements the last round deferred travel in the same
 * request (one round trip instead of two).
 */
export async function readNew(
  redis: Redis,
  config: ConsumerConfig,
  consumer: string,
  room: number,
  acks: readonly string[],
): Promise<RawEntry[]> {
  let reply: unknown;
  if (acks.length > 0) {
    [, reply] = await redis
      .pipeline()
      .xack(config.stream, config.group, [...acks])
      .xreadgroup(config.group, consumer, config.stream, ">", { count: room })
      .exec();
  } else reply = await redis.xreadgroup(config.group, consumer, config.stream, ">", { count: room });
  return rawEntries(readGroupEntries(reply));
}

/**
 * Takes back the delivery counts of attempts the target throttled: XCLAIM with RETRYCOUNT sets each entry's count
 * to what it was before the attempt, so being asked to slow down never counts toward `maxDeliveries`. A script,
 * because the client leaves out a RETRYCOUNT of 0 (the count of an entry's first attempt).
 */
export async function forgiveAttempts(
  redis: Redis,
  config: ConsumerConfig,
  consumer: string,
  deliveries: readonly RawDelivery[],
): Promise<void> {
  if (deliveries.length === 0) return;
  const args = [config.group, consumer, ...deliveries.flatMap((d) => [d.streamId, String(d.deliveryCount - 1)])];
  await redis.eval(FORGIVE_SCRIPT, [config.stream], args);
}

/** KEYS[1]: the stream; ARGV: group, consumer, then pairs of (entry id, delivery count to set). */
const FORGIVE_SCRIPT = `for i = 3, #ARGV, 2 do
  redis.call("XCLAIM", KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], "RETRYCOUNT", ARGV[i + 1], "JUSTID")
end
return #ARGV`;

/**
 * Removes the group from the stream: its pending entries go with it (the subscription is deleted). A stream that is
 * missing has no group to remove.
 */
export async function destroyGroup(redis: Redis, config: ConsumerConfig): Promise<void> {
  try {
    await redis.xgroup(config.stream, { type: "DESTROY", group: config.group });
  } catch (err) {
    if (!(err instanceof Error) || !err.message.includes("requires the key to exist")) throw err;
  }
}

/** Acknowledges `ids` in the group (nothing to send for none). */
export async function acknowledge(redis: Redis, config: ConsumerConfig, ids: readonly string[]): Promise<void> {
  if (ids.length > 0) await redis.xack(config.stream, config.group, [...ids]);
}

/**
 * Writes one exhausted entry to the dead-letter stream, then acknowledges it. A crash between the two leaves
 * the entry pending, so the next round writes it again: at worst a duplicate dead letter with the same
 * `originalId`, never a lost event. The stored text goes as it is: a corrupt entry is dead-lettered like any other.
 * The write trims the dead-letter stream to about `maxLen` letters (approximate `MAXLEN ~`), dropping the oldest.
 */
export async function writeDeadLetter(
  redis: Redis,
  config: ConsumerConfig,
  dead: PendingEntry,
  lastError: string,
  maxLen = DEAD_LETTER_MAX_LEN,
): Promise<void> {
  const [entry] = entryField(await redis.xrange(config.stream, dead.streamId, dead.streamId), "event");
  await redis.xadd(
    deadLetterStream(config.stream),
    "*",
    { originalId: dead.streamId, group: config.group, deliveries: String(dead.deliveries), lastError, event: entry?.value ?? "" },
    { trim: { type: "MAXLEN", threshold: maxLen, comparison: "~" } },
  );
  await redis.xack(config.stream, config.group, dead.streamId);
}

/**
 * The group's lag and pending count and the dead-letter stream's length. A stream missing from Redis (deleted,
 * evicted, or lost with Redis's data while Postgres still names it) is a state to report, not an error: no lag,
 * nothing pending, and `streamMissing`. The next delivery round creates the stream and its group again.
 */
export async function readGauges(redis: Redis, config: ConsumerConfig): Promise<ConsumerGauges> {
  const [groups, dlqSize] = await Promise.all([
    redis.xinfo(config.stream, { type: "GROUPS" }).catch((err: unknown) => {
      if (err instanceof Error && err.message.includes("no such key")) return undefined;
      throw err;
    }),
    redis.xlen(deadLetterStream(config.stream)),
  ]);
  if (groups === undefined) return { lag: null, pending: 0, dlqSize, streamMissing: true };
  const group = groupInfos(groups).find((g) => g.name === config.group);
  return { lag: group ? group.lag : null, pending: group?.pending ?? 0, dlqSize };
}

/** Creates the group at `id` (and the stream if missing); an existing group is left as it is. Answers whether it created one. */
export async function createGroup(redis: Redis, config: ConsumerConfig, id: string): Promise<boolean> {
  try {
    await redis.xgroup(config.stream, { type: "CREATE", group: config.group, id, options: { MKSTREAM: true } });
    return true;
  } catch (err) {
    if (!(err instanceof Error) || !err.message.includes("BUSYGROUP")) throw err;
    return false;
  }
}
