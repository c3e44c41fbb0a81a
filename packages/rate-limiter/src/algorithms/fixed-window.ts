import { assertCost, type Algorithm } from "./types.ts";

/** Fixed window parameters. */
export interface WindowParams {
  limit: number;
  windowMs: number;
}

/** Units admitted in the window that starts at `windowStart`. */
export interface FixedWindowState {
  windowStart: number;
  count: number;
}

/**
 * Fixed window aligned to multiples of `windowMs`: exact per window, but up to twice the limit can pass
 * around a boundary. A clock that goes backwards stays in the newest window it has seen.
 * @example fixedWindow(undefined, 0, { limit: 2, windowMs: 1000 }, 1).decision.remaining // 1
 */
export const fixedWindow: Algorithm<WindowParams, FixedWindowState> = (state, now, policy, cost) => {
  assertCost(cost, policy.limit);
  const { limit, windowMs } = policy;
  const aligned = Math.floor(now / windowMs) * windowMs;
  const windowStart = state ? Math.max(aligned, state.windowStart) : aligned;
  const count = state && state.windowStart === windowStart ? state.count : 0;
  const allowed = count + cost <= limit;
  const after = allowed ? count + cost : count;
  const resetMs = Math.max(0, windowStart + windowMs - now);
  return {
    decision: { allowed, limit, remaining: Math.max(0, limit - after), resetMs, retryAfterMs: allowed ? 0 : resetMs },
    state: { windowStart, count: after },
  };
};
