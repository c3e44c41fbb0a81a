/** Retry timing of a subscription. */
export interface RetryPolicy {
  /** Wait before the first redelivery; doubles with every delivery. */
  retryBackoffMs: number;
  /** Upper bound of one wait. */
  maxBackoffMs: number;
  /** Deliveries after which an event is dead-lettered. */
  maxDeliveries: number;
}

/**
 * How long an entry delivered `deliveries` times must stay idle before it is delivered again:
 * exponential, `retryBackoffMs × 2^(deliveries-1)`, capped at `maxBackoffMs`.
 * @example retryDelayMs(3, { retryBackoffMs: 1000, maxBackoffMs: 60000, maxDeliveries: 5 }) // 4000
 */
export function retryDelayMs(deliveries: number, policy: RetryPolicy): number {
  const exp = Math.max(0, deliveries - 1);
  return Math.min(policy.maxBackoffMs, policy.retryBackoffMs * 2 ** Math.min(exp, 30));
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
 * Splits pending entries into those to redeliver now, those to dead-letter, and when to look again.
 * @example planRetries([{ streamId: "1-0", idleMs: 5000, deliveries: 1 }], policy).redeliver // ["1-0"]
 */
export function planRetries(pending: readonly PendingEntry[], policy: RetryPolicy): RetryPlan {
  const plan: RetryPlan = { redeliver: [], deadLetter: [], nextDueInMs: null };
  for (const entry of pending) {
    if (entry.deliveries >= policy.maxDeliveries) {
      plan.deadLetter.push(entry);
      continue;
    }
    const wait = retryDelayMs(entry.deliveries, policy) - entry.idleMs;
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
