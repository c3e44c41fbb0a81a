import type { WindowParams } from "./fixed-window.ts";
import { assertCost, type Algorithm } from "./types.ts";

/** Admitted units as [timestamp, units] pairs, oldest first. */
export interface SlidingLogState {
  entries: Array<[number, number]>;
}

/**
 * Sliding log: exact sliding window. Keeps one entry per admitted request, so memory grows with the limit;
 * meant for small limits (the policy schema caps it at 1,000). A clock that goes backwards is treated as
 * standing still, so entries stay in time order.
 * @example slidingLog(undefined, 0, { limit: 3, windowMs: 1000 }, 1).decision.remaining // 2
 */
export const slidingLog: Algorithm<WindowParams, SlidingLogState> = (state, now, policy, cost) => {
  assertCost(cost, policy.limit);
  const { limit, windowMs } = policy;
  const latest = state?.entries.at(-1)?.[0];
  if (latest !== undefined && latest > now) now = latest;
  const entries = (state?.entries ?? []).filter(([t]) => t > now - windowMs);
  const used = entries.reduce((sum, [, n]) => sum + n, 0);
  const allowed = used + cost <= limit;
  if (allowed) entries.push([now, cost]);
  const after = allowed ? used + cost : used;
  let retryAfterMs = 0;
  if (!allowed) {
    let freed = 0;
    for (const [t, n] of entries) {
      freed += n;
      if (used - freed + cost <= limit) {
        retryAfterMs = Math.max(1, t + windowMs - now);
        break;
      }
    }
  }
  const newest = entries.at(-1)?.[0];
  return {
    decision: {
      allowed,
      limit,
      remaining: limit - after,
      resetMs: newest === undefined ? 0 : Math.max(0, newest + windowMs - now),
      retryAfterMs,
    },
    state: { entries },
  };
};
