/**
 * How the gateway spreads `/api/:service/*` over a service's instances: round-robin, outlier ejection,
 * a circuit breaker per instance, retries and timeouts, each a plain module with injected time.
 */
export {
  acquire,
  admitsAt,
  closedBreaker,
  DEFAULT_BREAKER_POLICY,
  record,
  settleBreaker,
  type BreakerPolicy,
  type BreakerState,
  type BreakerStateName,
  type BreakerTicket,
} from "./circuit-breaker.ts";
export {
  DEFAULT_OUTLIER_POLICY,
  ejectionBudget,
  HEALTHY,
  isEjected,
  recordOutcome,
  type OutlierPolicy,
  type OutlierState,
} from "./outlier-detection.ts";
export {
  bodyReplay,
  DEFAULT_RETRY_POLICY,
  IDEMPOTENT_METHODS,
  isIdempotent,
  shouldRetry,
  type AttemptFailure,
  type BodyReplay,
  type RetryPolicy,
} from "./retry-policy.ts";
export { roundRobin } from "./round-robin.ts";
export {
  DEFAULT_UPSTREAM_TIMEOUT_MS,
  MAX_UPSTREAM_TIMEOUT_MS,
  parseTimeouts,
  timeoutFor,
  type TimeoutVars,
  type Timeouts,
} from "./timeouts.ts";
export { UpstreamPool, type Lease, type PickResult, type PoolEvent, type PoolPolicy, type Upstream } from "./upstream-pool.ts";
