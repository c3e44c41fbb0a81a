import { nextTurn, type Redis } from "@foundation/core";
import { eventMetrics } from "./metrics.ts";
import { publishSerialised, type PublishOptions, type PublishResult, type SerialisedBatch } from "./publish.ts";

/** The most events one shared publish call carries. */
export const SHARED_CALL_MAX_EVENTS = 1000;
/** The most JSON (UTF-16 code units) one shared publish call carries: well within any Redis REST request limit. */
export const SHARED_CALL_MAX_CHARS = 256 * 1024;

/** How long a publish waits for a shared call it joined, by default. */
export const SHARED_CALL_WAIT_LIMIT_MS = 10_000;

/** How often a publish that joined a shared call looks for its answer. */
export const SHARED_CALL_POLL_MS = 1;

/** Where one caller's batch sits in a merged call: the merged batch, and the caller's first event in it. */
export interface Slot {
  batch: number;
  offset: number;
  count: number;
}

/**
 * Merges the batches of several publishes into one call: one batch per stream, each caller's events contiguous and in
 * its own order, callers in the order given. `slots[i]` says where caller _i_'s batches went.
 * @example mergeBatches([[{ stream: "s", ids: ["a"], payloads: ["{…}"] }], [{ stream: "s", ids: ["b"], payloads: ["{…}"] }]])
 */
export function mergeBatches(callers: readonly (readonly SerialisedBatch[])[]): { batches: SerialisedBatch[]; slots: Slot[][] } {
  const byStream = new Map<string, number>();
  const batches: SerialisedBatch[] = [];
  const slots = callers.map((own) =>
    own.map((b): Slot => {
      let batch = byStream.get(b.stream);
      if (batch === undefined) {
        batch = batches.push({ stream: b.stream, ids: [], payloads: [] }) - 1;
        byStream.set(b.stream, batch);
      }
      const merged = batches[batch] as SerialisedBatch;
      const slot = { batch, offset: merged.payloads.length, count: b.payloads.length };
      for (const id of b.ids) merged.ids.push(id);
      for (const payload of b.payloads) merged.payloads.push(payload);
      return slot;
    }),
  );
  return { batches, slots };
}

/**
 * Each caller's share of a merged call's results (see {@link mergeBatches}). A stream's retention outcome goes to
 * the first caller that wrote to it only, so that what the retention trimmed is counted once.
 */
export function splitResults(results: readonly PublishResult[], slots: readonly (readonly Slot[])[]): PublishResult[][] {
  const reported = new Set<number>();
  return slots.map((own) =>
    own.map(({ batch, offset, count }): PublishResult => {
      const merged = results[batch];
      if (!merged) throw new Error(`the publish answered ${results.length} batches; batch ${batch} is missing`);
      const end = offset + count;
      const part: PublishResult = {
        streamIds: merged.streamIds.slice(offset, end),
        eventIds: merged.eventIds.slice(offset, end),
        duplicate: merged.duplicate,
      };
      if (merged.retention && !reported.has(batch)) {
        reported.add(batch);
        part.retention = merged.retention;
      }
      return part;
    }),
  );
}

/** What a shared call answered one caller. */
type Outcome = { results: PublishResult[] } | { error: Error };

interface Caller {
  batches: readonly SerialisedBatch[];
  settle(outcome: Outcome): void;
}

interface Group {
  redis: Redis;
  scope: string;
  options: PublishOptions;
  callers: Caller[];
  events: number;
  chars: number;
}

function sizeOf(batches: readonly SerialisedBatch[]) {
  let events = 0;
  let chars = 0;
  for (const b of batches) {
    events += b.payloads.length;
    for (const p of b.payloads) chars += p.length;
  }
  return { events, chars };
}

/** Whether two publishes' options make the same script call apart from their events (publisher and scope aside). */
function sameCall(a: PublishOptions, b: PublishOptions): boolean {
  return (
    a.retention === b.retention &&
    a.now === b.now &&
    a.retentionCheckIntervalMs === b.retentionCheckIntervalMs &&
    a.requestHash === b.requestHash &&
    a.newTopics?.limit === b.newTopics?.limit &&
    a.newTopics?.windowMs === b.newTopics?.windowMs
  );
}

/**
 * Group commit for publishes (see docs/events.md, "Publishing"): a publish to a topic while another publish of the
 * same publisher to it is waiting for Redis joins the publishes of the same turn of the event loop, and they leave
 * together as one script call, one round trip and one Redis command. A publish with nothing in flight leaves at once,
 * so an idle publisher waits for nothing. Every caller still gets its own answer only after Redis accepted the
 * call, and the call is atomic: its events are all written or none, and a failure is every caller's. Publishes with an
 * `Idempotency-Key` always leave alone (the key's record covers exactly one request).
 */
export class PublishCoalescer {
  readonly #inFlight = new Map<string, number>();
  readonly #open = new Map<string, Group>();
  readonly #clients = new WeakMap<Redis, number>();
  #nextClient = 0;

  /**
   * Publishes serialised batches as {@link publishSerialised} does, sharing the call with concurrent publishes where it
   * can. `wait.defer` (the request's `waitUntil`) keeps a group this publish opens alive for the other callers in it,
   * also when this publish's own request ends first; `wait.limitMs` bounds how long a publish waits for a group it
   * joined (default {@link SHARED_CALL_WAIT_LIMIT_MS}; give at least the Redis client's deadline, twice over).
   */
  publish(
    redis: Redis,
    batches: readonly SerialisedBatch[],
    scope: string,
    options: PublishOptions = {},
    wait: { defer?: (work: Promise<unknown>) => void; limitMs?: number } = {},
  ): Promise<PublishResult[]> {
    if (options.idempotencyKey !== undefined) return this.#send(undefined, redis, batches, scope, options);
    const lane = `${this.#clientId(redis)}\u0000${scope}\u0000${options.publisher ?? ""}`;
    const open = this.#open.get(lane);
    // Nothing to share with: leave at once, without sizing the events.
    if (!open && !this.#inFlight.get(lane)) return this.#send(lane, redis, batches, scope, options);
    const size = sizeOf(batches);
    const fits = (g: Group) =>
      g.events + size.events <= SHARED_CALL_MAX_EVENTS && g.chars + size.chars <= SHARED_CALL_MAX_CHARS && sameCall(g.options, options);
    if (open)
      return fits(open)
        ? this.#join(open, batches, size, wait.limitMs ?? SHARED_CALL_WAIT_LIMIT_MS)
        : this.#send(lane, redis, batches, scope, options);
    const group: Group = { redis, scope, options, callers: [], events: 0, chars: 0 };
    if (!fits(group)) return this.#send(lane, redis, batches, scope, options);
    this.#open.set(lane, group);
    const joined = this.#join(group, batches, size);
    const leaving = this.#leave(lane, group);
    wait.defer?.(leaving);
    return joined;
  }

  #clientId(redis: Redis): number {
    let id = this.#clients.get(redis);
    if (id === undefined) {
      id = this.#nextClient++;
      this.#clients.set(redis, id);
    }
    return id;
  }

  /**
   * Adds a caller to a group. The request that opened the group (no `limitMs`) runs the call and is answered by it
   * directly. A request that joined is not: workerd binds a promise's continuation and every I/O object to the request
   * that created it, and a request waiting on another's call is cancelled as hung or fails with cross-request I/O
   * errors. So the call only leaves the joiner's share in plain memory, and the joiner looks for it on timers of its
   * own, every {@link SHARED_CALL_POLL_MS} ms; past `limitMs` it fails as a call that did not answer would.
   */
  async #join(
    group: Group,
    batches: readonly SerialisedBatch[],
    size: { events: number; chars: number },
    limitMs?: number,
  ): Promise<PublishResult[]> {
    group.events += size.events;
    group.chars += size.chars;
    if (limitMs === undefined) {
      return new Promise<PublishResult[]>((resolve, reject) =>
        group.callers.push({ batches, settle: (o) => ("results" in o ? resolve(o.results) : reject(o.error)) }),
      );
    }
    let outcome: Outcome | undefined;
    group.callers.push({ batches, settle: (o) => (outcome = o) });
    for (let waited = 0; outcome === undefined; waited += SHARED_CALL_POLL_MS) {
      if (waited >= limitMs) throw new Error(`the shared publish did not answer within ${limitMs} ms`);
      await new Promise((resume) => setTimeout(resume, SHARED_CALL_POLL_MS));
    }
    if ("error" in outcome) throw outcome.error;
    return outcome.results;
  }

  async #send(
    lane: string | undefined,
    redis: Redis,
    batches: readonly SerialisedBatch[],
    scope: string,
    options: PublishOptions,
  ): Promise<PublishResult[]> {
    eventMetrics.publishCalls.inc({ stream: scope });
    if (lane === undefined) return publishSerialised(redis, batches, scope, options);
    this.#inFlight.set(lane, (this.#inFlight.get(lane) ?? 0) + 1);
    try {
      return await publishSerialised(redis, batches, scope, options);
    } finally {
      const left = (this.#inFlight.get(lane) ?? 1) - 1;
      if (left > 0) this.#inFlight.set(lane, left);
      else this.#inFlight.delete(lane);
    }
  }

  async #leave(lane: string, group: Group): Promise<void> {
    const { callers } = group;
    // The publishes of this turn join; the next one to the lane opens a group of its own.
    await nextTurn();
    this.#open.delete(lane);
    try {
      const { batches, slots } = mergeBatches(callers.map((c) => c.batches));
      const shares = splitResults(await this.#send(lane, group.redis, batches, group.scope, group.options), slots);
      callers.forEach((c, i) => c.settle({ results: shares[i] ?? [] }));
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      for (const c of callers) c.settle({ error });
    }
  }
}
