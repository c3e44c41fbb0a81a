import { describe, expect, it } from "vitest";
import { backoffDelayMs, cronProblem, nextRunAt, rateWaitMs, scheduledJobId } from "./plan.ts";
import { AddJobsBody, QueueSettingsInput, ScheduleInput } from "./schema.ts";

describe("backoff", () => {
  it("doubles from delayMs for exponential and keeps it for fixed", () => {
    expect([1, 2, 3, 4].map((n) => backoffDelayMs({ type: "exponential", delayMs: 1000 }, n))).toEqual([1000, 2000, 4000, 8000]);
    expect([1, 2, 3].map((n) => backoffDelayMs({ type: "fixed", delayMs: 250 }, n))).toEqual([250, 250, 250]);
    expect(backoffDelayMs({ type: "exponential", delayMs: 1000 }, 99)).toBe(86_400_000);
  });
});

describe("rate limit", () => {
  const limit = { max: 10, durationMs: 1000 };

  it("lets a job start while the window has room", () => {
    expect(rateWaitMs([], 0, limit, 1)).toBe(0);
    expect(
      rateWaitMs(
        Array.from({ length: 9 }, (_, i) => ({ at: i, cost: 1 })),
        100,
        limit,
        1,
      ),
    ).toBe(0);
  });

  it("waits until the oldest starts leave the window", () => {
    const full = Array.from({ length: 10 }, (_, i) => ({ at: i * 10, cost: 1 }));
    expect(rateWaitMs(full, 500, limit, 1)).toBe(500);
    expect(rateWaitMs(full, 500, limit, 3)).toBe(520);
    expect(rateWaitMs(full, 999, limit, 1)).toBe(1);
    expect(rateWaitMs(full, 1000, limit, 1)).toBe(0);
  });

  it("weighs starts by cost, and starts a job costing more than the limit alone", () => {
    expect(rateWaitMs([{ at: 0, cost: 8 }], 10, limit, 3)).toBe(990);
    expect(rateWaitMs([{ at: 0, cost: 8 }], 10, limit, 2)).toBe(0);
    expect(rateWaitMs([], 10, limit, 50)).toBe(0);
    expect(rateWaitMs([{ at: 0, cost: 1 }], 10, limit, 50)).toBe(990);
  });
});

describe("schedules", () => {
  it("runs every N ms on multiples of N since the epoch, so restarts keep the times", () => {
    expect(nextRunAt({ everyMs: 60_000 }, 90_000)).toBe(120_000);
    expect(nextRunAt({ everyMs: 60_000 }, 120_000)).toBe(180_000);
  });

  it("follows a cron pattern in its time zone", () => {
    const at = Date.parse("2026-12-01T10:30:00Z");
    expect(new Date(nextRunAt({ cron: "0 9 * * *", tz: "UTC" }, at) ?? 0).toISOString()).toBe("2026-12-02T09:00:00.000Z");
    // 09:00 in New York is 14:00 UTC in December.
    expect(new Date(nextRunAt({ cron: "0 9 * * *", tz: "America/New_York" }, at) ?? 0).toISOString()).toBe("2026-12-01T14:00:00.000Z");
    expect(new Date(nextRunAt({ cron: "*/15 * * * * *", tz: "UTC" }, at) ?? 0).toISOString()).toBe("2026-12-01T10:30:15.000Z");
  });

  it("names what is wrong with a pattern or a time zone", () => {
    expect(cronProblem("0 9 * * *", "UTC")).toBeUndefined();
    expect(cronProblem("61 * * * *", "UTC")).toBeDefined();
    expect(cronProblem("0 9 * * *", "Mars/Olympus")).toBeDefined();
    expect(cronProblem("not a cron", "UTC")).toBeDefined();
  });

  it("gives a run of a schedule one job id", () => {
    expect(scheduledJobId("nightly", 5)).toBe("schedule:nightly:5");
  });
});

describe("input", () => {
  it("fills in a queue's defaults", () => {
    expect(QueueSettingsInput.parse({ target: { service: "example" } })).toMatchObject({
      concurrency: 10,
      defaults: { attempts: 3, backoff: { type: "exponential", delayMs: 1000 }, timeoutMs: 30_000 },
    });
  });

  it.each([
    ["a negative delay", { name: "a", delayMs: -1 }],
    ["delay and runAt", { name: "a", delayMs: 1, runAt: "2027-01-01T00:00:00Z" }],
    ["oversized data", { name: "a", data: "x".repeat(70_000) }],
    ["a reserved id", { name: "a", jobId: "schedule:x" }],
    ["an unknown field", { name: "a", when: 5 }],
    ["no name", { data: 1 }],
  ])("refuses %s", (_, job) => {
    expect(AddJobsBody.safeParse(job).success).toBe(false);
  });

  it("takes one job or a batch, and a schedule by cron or interval", () => {
    expect(AddJobsBody.safeParse([{ name: "a" }, { name: "b", data: { x: 1 }, priority: 2 }]).success).toBe(true);
    expect(ScheduleInput.safeParse({ repeat: { cron: "0 9 * * *", tz: "Europe/Paris" }, job: { name: "report" } }).success).toBe(true);
    expect(ScheduleInput.safeParse({ repeat: { everyMs: 500 }, job: { name: "report" } }).success).toBe(false);
  });
});
