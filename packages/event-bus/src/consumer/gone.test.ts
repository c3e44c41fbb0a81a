import { describe, expect, it } from "vitest";
import { goneExpired, goneExpiresAt, SUBSCRIPTION_GONE_RETENTION_DAYS } from "./gone.ts";

const DAY = 24 * 60 * 60 * 1000;
const at = Date.UTC(2026, 0, 1);
const gone = { reason: "the subscriber answered 410 Gone", at, gone: true as const };
const byOperator = { reason: "paused by an operator", at };

describe("a subscription paused because its target is gone", () => {
  it("expires 30 days after the 410, to the millisecond", () => {
    expect(SUBSCRIPTION_GONE_RETENTION_DAYS).toBe(30);
    expect(goneExpiresAt(gone)).toBe(Date.UTC(2026, 0, 31));
    expect(goneExpired(gone, at + 30 * DAY - 1)).toBe(false);
    expect(goneExpired(gone, at + 30 * DAY)).toBe(true);
  });

  it("never expires when an operator paused it, however long ago", () => {
    expect(goneExpiresAt(byOperator)).toBeNull();
    expect(goneExpired(byOperator, at + 3650 * DAY)).toBe(false);
  });
});
