import { describe, expect, it } from "vitest";
import { HttpProblem } from "@foundation/core";
import type { JobBrief, QueueSummary } from "@foundation/jobs";
import type { AuthContext } from "@foundation/service-kit";
import { boardJob, checkBoardAccess, MAX_REASON_CHARS, publicQueue, unreadQueue } from "./board.ts";

const summary: QueueSummary = {
  name: "reports",
  settings: {
    target: { url: "https://10.0.0.7:8443/internal/run" },
    concurrency: 5,
    defaults: {
      attempts: 3,
      backoff: { type: "exponential", delayMs: 1000 },
      timeoutMs: 30_000,
      removeOnComplete: { count: 1000 },
      removeOnFail: { count: 10_000 },
    },
  },
  paused: true,
  counts: { waiting: 4, delayed: 1, active: 2, completed: 90, failed: 3, cancelled: 0 },
  schedules: 2,
  lastMinute: { completed: 12, failed: 1 },
};

const failed: JobBrief = {
  id: "job-1",
  name: "weekly",
  state: "failed",
  attemptsMade: 3,
  attempts: 3,
  failedReason: "HTTP 500: boom",
  runAt: "2026-01-01T00:00:00.000Z",
  finishedAt: "2026-01-01T00:00:01.000Z",
};

const caller = (scopes: string[], services?: string[]): AuthContext => ({
  subject: "ops",
  scopes: new Set(scopes),
  claims: {},
  ...(services ? { services: new Set(services) } : {}),
});

const problemOf = (run: () => void): { status: number; slug: string | undefined } => {
  try {
    run();
  } catch (err) {
    if (err instanceof HttpProblem) return { status: err.status, slug: err.problem.type.split("/").at(-1) };
    throw err;
  }
  throw new Error("no problem thrown");
};

describe("job board", () => {
  it("shows a queue publicly by its name, pause state, counts and last minute only: no target or settings", () => {
    const shown = publicQueue(summary);
    expect(shown).toEqual({
      name: "reports",
      paused: true,
      counts: { waiting: 4, delayed: 1, active: 2, completed: 90, failed: 3, cancelled: 0 },
      lastMinute: { completed: 12, failed: 1 },
    });
    expect(JSON.stringify(shown)).not.toContain("10.0.0.7");
  });

  it("shows a queue whose object did not answer with unknown numbers", () => {
    expect(unreadQueue("reports")).toEqual({ name: "reports", paused: null, counts: null, lastMinute: null });
  });

  it("lists a job by the brief's fields only, dropping data or result an answer may carry", () => {
    const withPrivateFields = { ...failed, data: { customer: "c-4242" }, result: { token: "t0k3n" } } as JobBrief;
    const shown = boardJob(withPrivateFields);
    expect(shown).toEqual(failed);
    expect(JSON.stringify(shown)).not.toMatch(/c-4242|t0k3n/);
  });

  it("cuts a long failure reason to the most the board shows", () => {
    const shown = boardJob({ ...failed, failedReason: "x".repeat(MAX_REASON_CHARS + 50) });
    expect(shown.failedReason).toBe(`${"x".repeat(MAX_REASON_CHARS)}…`);
    expect(boardJob({ ...failed, failedReason: null }).failedReason).toBeNull();
  });

  it("lets an admin token for Foundation see the board's jobs, and refuses other scopes or a token for another service", () => {
    expect(() => checkBoardAccess(caller(["admin"]))).not.toThrow();
    expect(() => checkBoardAccess(caller(["admin"], ["foundation"]))).not.toThrow();
    expect(problemOf(() => checkBoardAccess(caller(["publish", "read"])))).toEqual({ status: 403, slug: "insufficient-scope" });
    expect(problemOf(() => checkBoardAccess(caller(["admin"], ["billing"])))).toEqual({ status: 403, slug: "wrong-audience" });
  });
});
