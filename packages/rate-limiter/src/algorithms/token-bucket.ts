import { assertCost, type Algorithm } from "./types.ts";

/** Token bucket parameters. */
export interface TokenBucketParams {
  limit: number;
  refillPerSecond: number;
}

/** Tokens left and when they were counted. */
export interface TokenBucketState {
  tokens: number;
  updatedAt: number;
  /**
   * Tokens to take after the refill is capped, when the state is next used: how a limiter object stores units
   * ahead of what it admitted (see `headroom.ts`); a full bucket cannot hold them in `tokens`. Folded into
   * `tokens` by the next decision.
   */
  debt?: number;
}

/**
 * The tokens a bucket holds at `now`: refilled up to the capacity (nothing for a clock that went backwards),
 * less its debt.
 * @example tokensAt({ tokens: 2, updatedAt: 0, debt: 1 }, 1000, { limit: 10, refillPerSecond: 5 }) // 6
 */
export function tokensAt(state: TokenBucketState, now: number, policy: TokenBucketParams): number {
  const refilled = state.tokens + Math.max(0, now - state.updatedAt) * (policy.refillPerSecond / 1000);
  return Math.min(policy.limit, refilled) - (state.debt ?? 0);
}

/**
 * Token bucket: refills continuously; a request takes `cost` tokens or is refused without taking any.
 * A clock that goes backwards refills nothing. A lowered limit caps the tokens at the new capacity. A state's
 * `debt` is taken after the cap.
 * @example tokenBucket(undefined, Date.now(), { limit: 10, refillPerSecond: 1 }, 1).decision.allowed // true
 */
export const tokenBucket: Algorithm<TokenBucketParams, TokenBucketState> = (state, now, policy, cost) => {
  assertCost(cost, policy.limit);
  const { limit, refillPerSecond } = policy;
  const perMs = refillPerSecond / 1000;
  const available = state ? tokensAt(state, now, policy) : limit;
  const updatedAt = state ? Math.max(now, state.updatedAt) : now;
  const allowed = available >= cost;
  const tokens = allowed ? available - cost : available;
  return {
    decision: {
      allowed,
      limit,
      remaining: Math.max(0, Math.floor(tokens)),
      resetMs: Math.ceil((limit - tokens) / perMs),
      retryAfterMs: allowed ? 0 : Math.ceil((cost - tokens) / perMs),
    },
    state: { tokens, updatedAt },
  };
};
