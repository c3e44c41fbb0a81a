import { describe, expect, it } from "vitest";
import { attemptMessageId, readJobAnswer } from "./worker.ts";

describe("a worker's answer to a job attempt", () => {
  it("completes on any 2xx with the JSON body as the result (null for none, the text when not JSON)", () => {
    expect(readJobAnswer(200, null, '{"rows":3}', 0)).toEqual({ kind: "completed", result: { rows: 3 } });
    expect(readJobAnswer(204, null, "", 0)).toEqual({ kind: "completed", result: null });
    expect(readJobAnswer(202, null, "queued elsewhere", 0)).toEqual({ kind: "completed", result: "queued elsewhere" });
  });

  it("throttles on 429 (Retry-After or a second) and on 503 with Retry-After, without failing", () => {
    expect(readJobAnswer(429, "3", "", 0)).toEqual({ kind: "throttled", retryAfterMs: 3000 });
    expect(readJobAnswer(429, null, "", 0)).toEqual({ kind: "throttled", retryAfterMs: 1000 });
    expect(readJobAnswer(503, "2", "", 0)).toEqual({ kind: "throttled", retryAfterMs: 2000 });
  });

  it("fails any other answer with the status and the problem's detail or the start of the body", () => {
    expect(readJobAnswer(503, null, "", 0)).toEqual({ kind: "failed", reason: "HTTP 503" });
    expect(readJobAnswer(500, null, '{"type":"/problems/job-failed","detail":"boom"}', 0)).toEqual({
      kind: "failed",
      reason: "HTTP 500: boom",
    });
    expect(readJobAnswer(400, null, "x".repeat(2000), 0)).toMatchObject({ kind: "failed", reason: `HTTP 400: ${"x".repeat(500)}` });
  });

  it("signs each attempt with its own message id", () => {
    expect(attemptMessageId("reports", "j1", 2)).toBe("job_reports_j1_2");
    expect(attemptMessageId("reports", "j1", 2)).not.toBe(attemptMessageId("reports", "j1", 3));
  });
});
