/**
 * Write-ahead headroom: how a busy key's decisions leave its object without waiting for a storage commit each.
 *
 * The object decides on its exact state in memory. What it stores may count more than was admitted: when a
 * write is due, it stores the state with up to `headroom` more units spent than were admitted. Until those
 * units are used up (in the same window), an admission is already counted in storage, so it is answered
 * without a write; the next write stores the truth plus a new headroom. It is what PostgreSQL does for
 * sequences (it logs 32 values ahead of the one it hands out).
 *
 * - Never more than the limit: storage always counts at least every unit an answer admitted, and no answer
 *   leaves before the write that counts it is durable (the output gate holds it).
 * - Exact while the object lives: admissions are decided on the state in memory, not on what is stored.
 * - After a crash or restart the object starts from what is stored, so a key may refuse up to its headroom
 *   early, in that window only. The headroom is at most 0.1 % of the limit, and keys with a limit under
 *   {@link HEADROOM_MIN_LIMIT} take none: every admission of theirs is written before its answer.
 * - An object that goes quiet writes its exact state (`durable-object.ts`), so an idle key loses nothing.
 * Sliding log (exact, small limits) takes no headroom.
 */
import { decide, tokensAt, type Decided, type LimiterState } from "./algorithms/index.ts";
import type { Policy } from "./policy.ts";

/** Keys with a smaller limit write every admission before answering it (exact across restarts). */
export const HEADROOM_MIN_LIMIT = 10_000;
/** The most a key stores ahead, as a fraction of its limit: what a crash may cost it in one window. */
export const HEADROOM_FRACTION = 0.001;
/** A write stores ahead what the key admitted in about this long, at the rate since the last write. */
export const HEADROOM_AHEAD_MS = 100;

/**
 * The most units `policy` may store ahead: 0.1 % of its limit, or 0 below {@link HEADROOM_MIN_LIMIT} and for
 * sliding log.
 * @example headroomCap({ algorithm: "fixed-window", limit: 100_000, windowMs: 60_000 }) // 100
 */
export function headroomCap(policy: Policy): number {
  if (policy.algorithm === "sliding-log" || policy.limit < HEADROOM_MIN_LIMIT) return 0;
  return Math.floor(policy.limit * HEADROOM_FRACTION);
}

/**
 * The headroom of the next write: about {@link HEADROOM_AHEAD_MS} of admissions at the rate since the last
 * write (`units` admitted in `elapsedMs`), at least 1 and at most {@link headroomCap}.
 * @example headroomFor({ algorithm: "fixed-window", limit: 100_000, windowMs: 60_000 }, 50, 10) // 100 (500 capped at 100)
 */
export function headroomFor(policy: Policy, units: number, elapsedMs: number): number {
  const cap = headroomCap(policy);
  if (cap === 0) return 0;
  const perMs = units / Math.max(1, elapsedMs);
  return Math.min(cap, Math.max(1, Math.ceil(perMs * HEADROOM_AHEAD_MS)));
}

/**
 * How many more units the exact state `truth` can admit at `now` before `stored` no longer counts them all:
 * 0 unless both are of `policy`'s algorithm and (for windows) of the window `now` is in. A window that
 * `stored` does not hold counts as 0 there, so a new window starts without headroom.
 * @example coveredUnits({ algorithm: "fixed-window", state: { windowStart: 0, count: 30 } },
 *   { algorithm: "fixed-window", state: { windowStart: 0, count: 10 } }, 500, { algorithm: "fixed-window", limit: 100, windowMs: 1000 }) // 20
 */
export function coveredUnits(stored: LimiterState | undefined, truth: LimiterState | undefined, now: number, policy: Policy): number {
  if (stored === undefined || truth === undefined) return 0;
  if (stored.algorithm === "fixed-window" && truth.algorithm === "fixed-window" && policy.algorithm === "fixed-window") {
    const s = stored.state;
    const t = truth.state;
    const window = Math.max(Math.floor(now / policy.windowMs) * policy.windowMs, t.windowStart);
    return s.windowStart === window && t.windowStart === window ? Math.max(0, s.count - t.count) : 0;
  }
  if (stored.algorithm === "sliding-window" && truth.algorithm === "sliding-window" && policy.algorithm === "sliding-window") {
    const s = stored.state;
    const t = truth.state;
    const window = Math.max(Math.floor(now / policy.windowMs) * policy.windowMs, t.windowStart);
    if (s.windowStart !== window || t.windowStart !== window || s.previous < t.previous) return 0;
    return Math.max(0, s.current - t.current);
  }
  if (stored.algorithm === "token-bucket" && truth.algorithm === "token-bucket" && policy.algorithm === "token-bucket") {
    // Both refill at the same rate up to the same capacity, and a debt is taken after the cap, so a bucket that
    // holds fewer tokens now never holds more later: the difference now is what the truth may spend.
    return Math.max(0, Math.floor(tokensAt(truth.state, now, policy) - tokensAt(stored.state, now, policy)));
  }
  return 0;
}

/**
 * What to store for a decision `result` at `now`: its state with `headroom` more units spent (as many as the
 * quota has room for), with the decision of that state, so the key's expiry covers them. A token bucket keeps
 * them as a `debt`, taken after its refill is capped: a full bucket would otherwise refill them at once.
 * @example storeAhead(decide(undefined, 0, policy, 1), 0, policy, 10).state // the state with 11 units spent
 */
export function storeAhead(result: Decided, now: number, policy: Policy, headroom: number): Decided {
  if (headroom === 0) return result;
  let spent = headroom;
  let ahead = decide(result.state, now, policy, spent);
  if (!ahead.decision.allowed) {
    spent = ahead.decision.remaining;
    if (spent <= 0) return result;
    ahead = decide(result.state, now, policy, spent);
  }
  if (result.state.algorithm === "token-bucket") {
    return { decision: ahead.decision, state: { algorithm: "token-bucket", state: { ...result.state.state, debt: spent } } };
  }
  return ahead;
}
