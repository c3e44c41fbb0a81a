import { describe, expect, it } from "vitest";
import { earliest, LAZY_FLUSH_MS, MAX_RETRY_DELAY_MS, outboxWakeAt, retryDelayMs, URGENT_FLUSH_MS } from "./outbox.ts";

describe("write-through scheduling", () => {
  it("backs off exponentially from 1 s up to 60 s", () => {
    expect([0, 1, 2, 3, 6, 7, 50].map(retryDelayMs)).toEqual([0, 1000, 2000, 4000, 32_000, MAX_RETRY_DELAY_MS, MAX_RETRY_DELAY_MS]);
  });

  it("writes urgent entries within the group-commit window and coalesces heartbeat-only ones for longer", () => {
    expect(outboxWakeAt({ oldestUrgentAt: 500, oldestLazyAt: 100, failures: 0, retryAt: null })).toBe(500 + URGENT_FLUSH_MS);
    expect(outboxWakeAt({ oldestUrgentAt: null, oldestLazyAt: 100, failures: 0, retryAt: null })).toBe(100 + LAZY_FLUSH_MS);
  });

  it("waits for the retry time after a failure and sleeps when empty", () => {
    expect(outboxWakeAt({ oldestUrgentAt: 500, oldestLazyAt: null, failures: 2, retryAt: 9000 })).toBe(9000);
    expect(outboxWakeAt({ oldestUrgentAt: null, oldestLazyAt: null, failures: 2, retryAt: 9000 })).toBeNull();
  });

  it("picks the earliest wanted time", () => {
    expect(earliest(null, 5, 3, null)).toBe(3);
    expect(earliest(null, null)).toBeNull();
  });
});
