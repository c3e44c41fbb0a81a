import { describe, expect, it } from "vitest";
import { RetryBudget } from "./retry-budget.ts";

describe("RetryBudget", () => {
  const policy = { ratio: 0.2, minRetries: 3, windowMs: 10_000 };

  it("allows retries up to a fifth of the requests of the window", () => {
    const budget = new RetryBudget(policy);
    for (let i = 0; i < 100; i++) budget.request(1000);
    let allowed = 0;
    while (budget.tryRetry(1000)) allowed++;
    expect(allowed).toBe(20);
  });

  it("always allows a few retries to a quiet service, and no more", () => {
    const budget = new RetryBudget(policy);
    budget.request(0);
    expect([budget.tryRetry(0), budget.tryRetry(0), budget.tryRetry(0), budget.tryRetry(0)]).toEqual([true, true, true, false]);
  });

  it("recovers once the window has slid past the retries", () => {
    const budget = new RetryBudget(policy);
    for (let i = 0; i < 3; i++) budget.tryRetry(0);
    expect(budget.tryRetry(4000)).toBe(false);
    expect(budget.tryRetry(10_000)).toBe(true);
    expect(budget.tryRetry(60_000)).toBe(true);
  });
});
