/** The answer of one rate-limit decision. */
export interface Decision {
  allowed: boolean;
  /** The policy's limit (capacity of a token bucket). */
  limit: number;
  /** Units still available after this decision. */
  remaining: number;
  /** Milliseconds until the quota is fully restored. */
  resetMs: number;
  /** Milliseconds until a request of the same cost can succeed; 0 when allowed. */
  retryAfterMs: number;
}

/** A pure rate-limit algorithm: (state, now, policy, cost) → (decision, new state). */
export type Algorithm<P, S> = (state: S | undefined, now: number, policy: P, cost: number) => { decision: Decision; state: S };

/** Throws when a cost can never be admitted by a policy, or is not a positive integer. */
export function assertCost(cost: number, limit: number): void {
  if (!Number.isInteger(cost) || cost < 1) throw new RangeError(`cost must be a positive integer, got ${cost}`);
  if (cost > limit) throw new RangeError(`cost ${cost} exceeds the policy's limit ${limit}; it could never be admitted`);
}
