import { fnv1a } from "./partitions.ts";

/** Retry timing of a subscription. */
export interface RetryPolicy {
  /** Wait before the first redelivery; doubles with every delivery. */
  retryBackoffMs: number;
  /** Upper bound of one wait before jitter (see {@link retryDelayMs}). */
  maxBackoffMs: number;
  /** Deliveries after which an event is dead-lettered. */
  maxDeliveries: number;
}

/** The lowest factor jitter applies to a retry delay. */
export const RETRY_JITTER_MIN = 0.75;
/** The highest factor jitter applies to a retry delay (exclusive). */
export const RETRY_JITTER_MAX = 1.25;

/**
 * The jitter factor of an entry's retry, in [{@link RETRY_JITTER_MIN}, {@link RETRY_JITTER_MAX}): a hash of the
 * key (the entry's stream id) and its delivery count. Deterministic, because the retry plan is computed again
 * every round from XPENDING's idle time, so one entry must get the same delay each time; different entries get
 * different factors, so consumers that failed together do not retry together.
 * @example retryJitter("1719000000000-0", 2) // 0.75 ≤ factor < 1.25, the same on every call
 */
export function retryJitter(key: string, deliveries: number): number {
  let h = fnv1a(`${key}#${deliveries}`);
  // murmur3's finaliser: FNV-1a alone moves the high bits little for keys that differ only in their last digit.
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h = (h ^ (h >>> 16)) >>> 0;
  return RETRY_JITTER_MIN + (RETRY_JITTER_MAX - RETRY_JITTER_MIN) * (h / 2 ** 32);
}

/**
 * How long an entry delivered `deliveries` times must stay idle before it is delivered again: exponential,
 * `retryBackoffMs × 2^(deliveries-1)`, capped at `maxBackoffMs`; with a `key` (the entry's stream id), times its
 * {@link retryJitter} factor, rounded down to a millisecond.
 * @example retryDelayMs(3, { retryBackoffMs: 1000, maxBackoffMs: 60000, maxDeliveries: 5 }) // 4000
 * @example retryDelayMs(3, policy, "1719000000000-0") // between 3000 and 4999
 */
export function retryDelayMs(deliveries: number, policy: RetryPolicy, key?: string): number {
  const exp = Math.max(0, deliveries - 1);
  const base = Math.min(policy.maxBackoffMs, policy.retryBackoffMs * 2 ** Math.min(exp, 30));
  return key === undefined ? base : Math.floor(base * retryJitter(key, deliveries));
}

/**
 * When the soonest of entries that just failed is due again (their jittered delays), or null for none: how long
 * a consumer waits before the round that redelivers them.
 * @example firstRetryDueInMs([{ streamId: "1-0", deliveries: 1 }], policy) // about retryBackoffMs
 */
export function firstRetryDueInMs(failed: readonly Pick<PendingEntry, "streamId" | "deliveries">[], policy: RetryPolicy): number | null {
  let first: number | null = null;
  for (const entry of failed) {
    const due = retryDelayMs(entry.deliveries, policy, entry.streamId);
    first = first === null ? due : Math.min(first, due);
  }
  return first;
}

/** One entry of a group's pending list, as XPENDING reports it. */
export interface PendingEntry {
  streamId: string;
  idleMs: number;
  deliveries: number;
}

/** What to do with the pending entries this round. */
export interface RetryPlan {
  /** Due again and still under maxDeliveries: claim and redeliver. */
  redeliver: string[];
  /** Delivered maxDeliveries times already: write to the dead-letter stream, then acknowledge. */
  deadLetter: PendingEntry[];
  /** Milliseconds until the next entry becomes due, or null when none waits. */
  nextDueInMs: number | null;
}

/**
 * Splits pending entries into those to redeliver now, those to dead-letter, and when to look again. Each entry
 * waits its jittered {@link retryDelayMs}, keyed by its stream id.
 * @example planRetries([{ streamId: "1-0", idleMs: 5000, deliveries: 1 }], policy).redeliver // ["1-0"]
 */
export function planRetries(pending: readonly PendingEntry[], policy: RetryPolicy): RetryPlan {
  const plan: RetryPlan = { redeliver: [], deadLetter: [], nextDueInMs: null };
  for (const entry of pending) {
    if (entry.deliveries >= policy.maxDeliveries) {
      plan.deadLetter.push(entry);
      continue;
    }
    const wait = retryDelayMs(entry.deliveries, policy, entry.streamId) - entry.idleMs;
    if (wait <= 0) plan.redeliver.push(entry.streamId);
    else plan.nextDueInMs = plan.nextDueInMs === null ? wait : Math.min(plan.nextDueInMs, wait);
  }
  return plan;
}

/**
 * The idle consumer's next poll: doubles from `minMs` up to `maxMs` while nothing arrives, so an idle
 * subscription costs almost no Redis commands; a publish pokes the consumer awake in the meantime.
 */
export function idlePollDelayMs(emptyPolls: number, minMs = 1000, maxMs = 60_000): number {
  return Math.min(maxMs, minMs * 2 ** Math.min(emptyPolls, 16));
}
