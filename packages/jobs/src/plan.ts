import { Cron } from "croner";
import type { Backoff, RateLimit, Repeat } from "./schema.ts";

/**
 * The pure decisions of a queue: when a failed attempt runs again, whether the rate limit lets a job start, when a
 * schedule fires next, and which job id a schedule's run gets. The queue object does the I/O around them.
 */

/**
 * How long a job waits after its `attemptsMade`-th attempt failed: `delayMs` for `fixed`, `delayMs × 2^(attemptsMade-1)`
 * for `exponential` (capped at a day).
 * @example backoffDelayMs({ type: "exponential", delayMs: 1000 }, 3) // 4000
 */
export function backoffDelayMs(backoff: Backoff, attemptsMade: number): number {
  if (backoff.type === "fixed") return backoff.delayMs;
  return Math.min(86_400_000, backoff.delayMs * 2 ** Math.min(Math.max(0, attemptsMade - 1), 30));
}

/** One job start the rate limit counts: when, and how many units it took. */
export interface Start {
  at: number;
  cost: number;
}

/**
 * How long a job of `cost` units must wait before the rate limit lets it start at `now` (0: now), given the starts
 * of the window. A job costing more than the whole limit starts alone, once the window is empty, rather than never.
 * @example rateWaitMs([{ at: 0, cost: 10 }], 500, { max: 10, durationMs: 1000 }, 1) // 500
 */
export function rateWaitMs(starts: readonly Start[], now: number, limit: RateLimit, cost: number): number {
  const from = now - limit.durationMs;
  const live = starts.filter((s) => s.at > from).sort((a, b) => a.at - b.at);
  let used = live.reduce((a, s) => a + s.cost, 0);
  const allowed = Math.min(cost, limit.max);
  if (used + allowed <= limit.max) return 0;
  // Wait until enough of the oldest starts leave the window.
  for (const s of live) {
    used -= s.cost;
    if (used + allowed <= limit.max) return s.at + limit.durationMs - now;
  }
  return limit.durationMs;
}

/** The starts still inside the window at `now` (the rest can be forgotten). */
export function liveStarts(starts: readonly Start[], now: number, limit: RateLimit | undefined): Start[] {
  if (!limit) return [];
  return starts.filter((s) => s.at > now - limit.durationMs);
}

/** A cron pattern or time zone that cannot be used: why. */
export function cronProblem(pattern: string, tz: string): string | undefined {
  try {
    const next = new Cron(pattern, { timezone: tz, paused: true, mode: "5-or-6-parts" }).nextRun(new Date());
    return next ? undefined : "the pattern never matches";
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/**
 * When a schedule fires next after `afterMs` (exclusive): the next match of its cron pattern in its time zone, or the
 * next multiple of `everyMs` since the epoch (so runs keep their times across restarts). Null when a pattern has no
 * further match.
 * @example nextRunAt({ everyMs: 60_000 }, 90_000) // 120000
 */
export function nextRunAt(repeat: Repeat, afterMs: number): number | null {
  if ("everyMs" in repeat) return (Math.floor(afterMs / repeat.everyMs) + 1) * repeat.everyMs;
  const next = new Cron(repeat.cron, { timezone: repeat.tz, paused: true, mode: "5-or-6-parts" }).nextRun(new Date(afterMs));
  return next ? next.getTime() : null;
}

/**
 * The id of the job a schedule adds for its run at `runAt`: the same run always gets the same id, so a schedule that
 * fires twice for one time (a crash between the two writes, say) adds one job.
 * @example scheduledJobId("nightly", 1700000000000) // "schedule:nightly:1700000000000"
 */
export function scheduledJobId(schedule: string, runAt: number): string {
  return `schedule:${schedule}:${runAt}`;
}
