import type { WindowParams } from "./fixed-window.ts";
import { assertCost, type Algorithm } from "./types.ts";

/** Counts of the current aligned window and the one before it. */
export interface SlidingWindowState {
  windowStart: number;
  current: number;
  previous: number;
}

/**
 * Sliding window, two-window weighted approximation: estimate = previous × (unexpired share of the previous
 * window) + current. Exact when the previous window's traffic was uniform; in the worst case (the whole
 * previous window's traffic at its very end) a true sliding window can see up to 2× the limit, never more.
 * Use `slidingLog` where exactness matters and limits are small.
 * @example slidingWindow(undefined, 0, { limit: 10, windowMs: 60_000 }, 1).decision.allowed // true
 */
export const slidingWindow: Algorithm<WindowParams, SlidingWindowState> = (state, now, policy, cost) => {
  assertCost(cost, policy.limit);
  const { limit, windowMs: w } = policy;
  const aligned = Math.floor(now / w) * w;
  const windowStart = state ? Math.max(aligned, state.windowStart) : aligned;
  let current = 0;
  let previous = 0;
  if (state?.windowStart === windowStart) {
    current = state.current;
    previous = state.previous;
  } else if (state?.windowStart === windowStart - w) {
    previous = state.current;
  }
  const elapsed = Math.min(w, Math.max(0, now - windowStart));
  const estimate = (previous * (w - elapsed)) / w + current;
  const allowed = estimate + cost <= limit;
  if (allowed) current += cost;
  const used = allowed ? estimate + cost : estimate;
  return {
    decision: {
      allowed,
      limit,
      remaining: Math.max(0, Math.floor(limit - used)),
      resetMs: current > 0 ? windowStart + 2 * w - now : previous > 0 ? windowStart + w - now : 0,
      retryAfterMs: allowed ? 0 : slidingRetryAfter(now, windowStart, w, previous, current, limit, cost),
    },
    state: { windowStart, current, previous },
  };
};

/** When the estimate will have decayed enough for `cost` more units. */
function slidingRetryAfter(now: number, start: number, w: number, previous: number, current: number, limit: number, cost: number): number {
  const room = limit - current - cost;
  if (room >= 0 && previous > 0) return Math.max(1, Math.ceil(start + w - (room * w) / previous - now));
  const next = start + w;
  const roomNext = limit - cost;
  const at = current > roomNext ? next + w - (roomNext * w) / current : next;
  return Math.max(1, Math.ceil(at - now));
}
