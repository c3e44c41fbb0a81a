import type { Policy } from "../policy.ts";
import { fixedWindow, type FixedWindowState } from "./fixed-window.ts";
import { slidingLog, type SlidingLogState } from "./sliding-log.ts";
import { slidingWindow, type SlidingWindowState } from "./sliding-window.ts";
import { tokenBucket, tokensAt, type TokenBucketState } from "./token-bucket.ts";
import type { Decision } from "./types.ts";

export { fixedWindow, slidingLog, slidingWindow, tokenBucket, tokensAt };
export type { FixedWindowState, SlidingLogState, SlidingWindowState, TokenBucketState };
export { assertCost, type Algorithm as AlgorithmFn, type Decision } from "./types.ts";

/** The stored state of any algorithm, tagged with the algorithm that wrote it. */
export type LimiterState =
  | { algorithm: "token-bucket"; state: TokenBucketState }
  | { algorithm: "fixed-window"; state: FixedWindowState }
  | { algorithm: "sliding-window"; state: SlidingWindowState }
  | { algorithm: "sliding-log"; state: SlidingLogState };

/** A decision's result: what it answered and the state after it. */
export interface Decided {
  decision: Decision;
  state: LimiterState;
}

/**
 * Applies `policy` to the stored state. State written by another algorithm is ignored (a policy that
 * switches algorithm starts afresh); a changed limit or rate applies at once to the existing counts.
 * @example decide(undefined, Date.now(), { algorithm: "fixed-window", limit: 10, windowMs: 1000 }, 1)
 */
export function decide(stored: LimiterState | undefined, now: number, policy: Policy, cost: number): Decided {
  switch (policy.algorithm) {
    case "token-bucket": {
      const r = tokenBucket(stored?.algorithm === policy.algorithm ? stored.state : undefined, now, policy, cost);
      return { decision: r.decision, state: { algorithm: policy.algorithm, state: r.state } };
    }
    case "fixed-window": {
      const r = fixedWindow(stored?.algorithm === policy.algorithm ? stored.state : undefined, now, policy, cost);
      return { decision: r.decision, state: { algorithm: policy.algorithm, state: r.state } };
    }
    case "sliding-window": {
      const r = slidingWindow(stored?.algorithm === policy.algorithm ? stored.state : undefined, now, policy, cost);
      return { decision: r.decision, state: { algorithm: policy.algorithm, state: r.state } };
    }
    case "sliding-log": {
      const r = slidingLog(stored?.algorithm === policy.algorithm ? stored.state : undefined, now, policy, cost);
      return { decision: r.decision, state: { algorithm: policy.algorithm, state: r.state } };
    }
  }
}
