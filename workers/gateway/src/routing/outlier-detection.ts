/**
 * Outlier detection as pure functions of the current time (Envoy's `consecutive_5xx` model): an instance
 * whose last `consecutiveFailures` calls all failed (5xx, connection failure or timeout) is ejected from
 * the rotation for `baseEjectionMs × n`, n being how many times it was ejected lately (capped at
 * `maxEjectionMs`); n drops by one for every `multiplierDecayMs` it then stays in. At most
 * `maxEjectionPercent` of a service's instances are ejected at once, but always at least one may be.
 */

/** How outliers are found and for how long they are ejected. */
export interface OutlierPolicy {
  /** Consecutive failed calls that eject an instance. */
  consecutiveFailures: number;
  /** Ejection time of a first ejection, in ms; the n-th ejection in a row lasts n times as long. */
  baseEjectionMs: number;
  /** Longest ejection, in ms. */
  maxEjectionMs: number;
  /** Largest share of a service's instances ejected at once, in percent (at least one instance regardless). */
  maxEjectionPercent: number;
  /** Time an instance must stay in the rotation for its ejection multiplier to drop by one, in ms. */
  multiplierDecayMs: number;
}

/** Defaults: Envoy's (5 consecutive failures, 30 s growing up to 300 s, decay every 10 s), with up to half the instances ejected. */
export const DEFAULT_OUTLIER_POLICY: OutlierPolicy = {
  consecutiveFailures: 5,
  baseEjectionMs: 30_000,
  maxEjectionMs: 300_000,
  maxEjectionPercent: 50,
  multiplierDecayMs: 10_000,
};

/** What outlier detection knows about one instance. */
export interface OutlierState {
  consecutiveFailures: number;
  /** End of the current or last ejection, or null when never ejected. */
  ejectedUntil: number | null;
  /** The multiplier of the last ejection. */
  ejections: number;
}

/** An instance never seen failing. */
export const HEALTHY: OutlierState = { consecutiveFailures: 0, ejectedUntil: null, ejections: 0 };

/** Whether the instance is out of the rotation at `now`. */
export function isEjected(state: OutlierState, now: number): boolean {
  return state.ejectedUntil !== null && now < state.ejectedUntil;
}

/**
 * How many of `instances` may be ejected at once: `maxEjectionPercent` of them, rounded down, but at least one.
 * @example ejectionBudget(2, { ...DEFAULT_OUTLIER_POLICY, maxEjectionPercent: 10 }) // 1
 */
export function ejectionBudget(instances: number, policy: OutlierPolicy): number {
  return Math.max(1, Math.floor((instances * policy.maxEjectionPercent) / 100));
}

/** The ejection multiplier as of `now`: the last one, less one per `multiplierDecayMs` spent back in the rotation. */
function multiplierAt(state: OutlierState, now: number, policy: OutlierPolicy): number {
  if (state.ejectedUntil === null) return 0;
  const back = Math.max(0, now - state.ejectedUntil);
  return Math.max(0, state.ejections - Math.floor(back / Math.max(1, policy.multiplierDecayMs)));
}

/**
 * Records one call's outcome at `now`. A failure that completes a run of `consecutiveFailures` ejects the
 * instance when `mayEject` (the service's ejection budget is not spent); a success ends the run. Outcomes
 * that arrive while the instance is ejected (calls sent before it was) change nothing.
 * @example recordOutcome(HEALTHY, true, Date.now(), DEFAULT_OUTLIER_POLICY, true).consecutiveFailures // 1
 */
export function recordOutcome(state: OutlierState, failed: boolean, now: number, policy: OutlierPolicy, mayEject: boolean): OutlierState {
  if (isEjected(state, now)) return state;
  if (!failed) return state.consecutiveFailures === 0 ? state : { ...state, consecutiveFailures: 0 };
  const consecutiveFailures = state.consecutiveFailures + 1;
  if (consecutiveFailures < policy.consecutiveFailures || !mayEject) return { ...state, consecutiveFailures };
  const ejections = multiplierAt(state, now, policy) + 1;
  const duration = Math.min(policy.baseEjectionMs * ejections, Math.max(policy.baseEjectionMs, policy.maxEjectionMs));
  return { consecutiveFailures: 0, ejectedUntil: now + duration, ejections };
}
