import { idlePollDelayMs, type RetryPlan } from "../backoff.ts";

/** While a consumer is delivering, its lag and pending gauges are refreshed at most this often (and once when it goes idle). */
export const GAUGE_REFRESH_MS = 5000;
/**
 * While rounds leave nothing pending, the group's pending list is still read this often: it may hold entries
 * of another consumer name (one that read them and was then replaced), and they must not wait forever.
 */
export const PENDING_CHECK_MS = 5000;

/** What a consumer object remembers between rounds, in memory: all of it may be lost, at the cost of one extra read. */
export interface RoundMemory {
  /**
   * Whether the group may hold pending entries this object has not handled: true until a round of this object's
   * lifetime has read the pending list and left nothing behind, and again after any failure. While false, rounds
   * skip XPENDING (one Upstash command and round trip per round) except every {@link PENDING_CHECK_MS}.
   */
  mayHavePending: boolean;
  /** When the pending list was last read. */
  pendingCheckedAt: number;
  /** When the gauges were last refreshed. */
  gaugesAt: number;
  /** Whether deliveries happened since the gauges were last refreshed. */
  gaugesStale: boolean;
}

/** The memory of an object that has not run a round yet. */
export const freshMemory = (): RoundMemory => ({ mayHavePending: true, pendingCheckedAt: 0, gaugesAt: 0, gaugesStale: false });

/**
 * Whether this round reads the group's pending list.
 * @example shouldReadPending({ ...freshMemory(), mayHavePending: false, pendingCheckedAt: 0 }, 6000) // true: the check interval passed
 */
export function shouldReadPending(memory: RoundMemory, now: number): boolean {
  return memory.mayHavePending || now - memory.pendingCheckedAt >= PENDING_CHECK_MS;
}

/** What one round saw and did: the inputs of {@link nextRound}. */
export interface RoundFacts {
  /** The pending entries read this round (none when the list was not read). */
  pendingRead: number;
  plan: Pick<RetryPlan, "redeliver" | "deadLetter" | "nextDueInMs">;
  /** Entries the claim of `plan.redeliver` returned. */
  claimed: number;
  /** How many new entries the read asked for, and how many came. */
  room: number;
  read: number;
  delivered: number;
  failed: number;
  /** When the soonest event that failed this round is due again (its jittered retry delay); null when none failed. */
  retryDueInMs: number | null;
  /** A publish poked the object during the round. */
  poked: boolean;
  /** Empty rounds in a row before this one. */
  emptyPolls: number;
}

/** The subscription settings {@link nextRound} reads. */
export interface RoundSettings {
  batchSize: number;
}

/** What a round decides for the next one. */
export interface NextRound {
  /** Wait before the next round: 0 while there is backlog or a poke came. */
  nextRunInMs: number;
  /** More work is waiting right now (a full read, or a poke): acknowledgements may ride on the next round's read. */
  busy: boolean;
  /** Empty rounds in a row, this one included. */
  emptyPolls: number;
  /** Refresh the gauges now: every {@link GAUGE_REFRESH_MS} while delivering, and once when the work runs out. */
  refreshGauges: boolean;
  memory: RoundMemory;
}

/**
 * Decides what follows a round: when the next one runs, whether the pending list may still hold work, and whether
 * the gauges are due. Pure: the consumer object does the I/O, this says what it means.
 * @example nextRound(facts, settings, memory, Date.now()).nextRunInMs
 */
export function nextRound(facts: RoundFacts, settings: RoundSettings, memory: RoundMemory, now: number): NextRound {
  const { plan } = facts;
  const busy = (facts.room > 0 && facts.read === facts.room) || facts.poked;
  const active = facts.delivered + facts.failed > 0 || plan.deadLetter.length > 0;
  const gaugesStale = memory.gaugesStale || active;
  const refreshGauges = gaugesStale && (!active || now - memory.gaugesAt >= GAUGE_REFRESH_MS);
  const emptyPolls = active ? 0 : facts.emptyPolls + 1;
  // Entries stay pending when an event failed, a retry is not due yet, a claim came back short, or the
  // pending list filled a whole page.
  const mayHavePending =
    facts.failed > 0 ||
    facts.pendingRead !== plan.redeliver.length + plan.deadLetter.length ||
    facts.claimed !== plan.redeliver.length ||
    facts.pendingRead === settings.batchSize;
  const nextRunInMs = busy ? 0 : Math.min(facts.retryDueInMs ?? Infinity, plan.nextDueInMs ?? Infinity, idlePollDelayMs(emptyPolls));
  return {
    nextRunInMs,
    busy,
    emptyPolls,
    refreshGauges,
    memory: {
      ...memory,
      mayHavePending,
      gaugesAt: refreshGauges ? now : memory.gaugesAt,
      gaugesStale: refreshGauges ? false : gaugesStale,
    },
  };
}

/**
 * The batch size after an attempt (additive increase, multiplicative decrease, as TCP paces a sender): halved
 * when the target throttled, grown by a tenth of the configured size (at least 1) back up to it after an answer.
 * @example batchLimitAfter(100, 100, "throttled") // 50
 */
export function batchLimitAfter(limit: number, configured: number, outcome: "throttled" | "answered"): number {
  if (outcome === "throttled") return Math.max(1, Math.floor(limit / 2));
  return Math.min(configured, limit + Math.max(1, Math.ceil(configured / 10)));
}
