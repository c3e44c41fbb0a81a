/**
 * A retry budget (Envoy's `retry_budget`): retries may be at most a share of the requests of the last while, with a
 * floor for quiet services. Without one, an outage that fails every request triples the load on the instances
 * left (two retries each), just when they can least take it.
 */

/** How many retries the budget allows. */
export interface RetryBudgetPolicy {
  /** Retries as a share of requests over the window (0.2: one retry per five requests). */
  ratio: number;
  /** Retries always allowed in a window, however few the requests. */
  minRetries: number;
  windowMs: number;
}

/** Defaults: 20 % of requests, at least 10 retries, over 10 s. */
export const DEFAULT_RETRY_BUDGET: RetryBudgetPolicy = { ratio: 0.2, minRetries: 10, windowMs: 10_000 };

/**
 * The retry budget of one service in one isolate. Counts are kept in two halves of the window, so the window slides
 * by half its length and the memory is four numbers.
 * @example const budget = new RetryBudget(); budget.request(now); if (budget.tryRetry(now)) { ...retry... }
 */
export class RetryBudget {
  #bucketStart = 0;
  #requests = [0, 0];
  #retries = [0, 0];

  constructor(private readonly policy: RetryBudgetPolicy = DEFAULT_RETRY_BUDGET) {}

  /** Counts one request. */
  request(now: number): void {
    this.#advance(now);
    this.#requests[1] = (this.#requests[1] ?? 0) + 1;
  }

  /** Whether one more retry fits the budget now; counts it when it does. */
  tryRetry(now: number): boolean {
    this.#advance(now);
    const requests = (this.#requests[0] ?? 0) + (this.#requests[1] ?? 0);
    const retries = (this.#retries[0] ?? 0) + (this.#retries[1] ?? 0);
    if (retries >= Math.max(this.policy.minRetries, Math.floor(requests * this.policy.ratio))) return false;
    this.#retries[1] = (this.#retries[1] ?? 0) + 1;
    return true;
  }

  #advance(now: number): void {
    const half = this.policy.windowMs / 2;
    const passed = Math.floor((now - this.#bucketStart) / half);
    if (passed <= 0) return;
    this.#requests = passed === 1 ? [this.#requests[1] ?? 0, 0] : [0, 0];
    this.#retries = passed === 1 ? [this.#retries[1] ?? 0, 0] : [0, 0];
    this.#bucketStart += passed * half;
  }
}
