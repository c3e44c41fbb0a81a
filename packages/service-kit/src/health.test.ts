import { describe, expect, it } from "vitest";
import { runHealthChecks } from "./health.ts";

describe("runHealthChecks", () => {
  it("is ok when every required check passes and reports each latency", async () => {
    const report = await runHealthChecks("svc", "1.0.0", { a: { required: true, probe: async () => "PONG" } });
    expect(report.status).toBe("ok");
    expect(report.checks.a).toMatchObject({ ok: true, required: true });
    expect(report.checks.a?.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it("is degraded when a required check fails, with the error", async () => {
    const report = await runHealthChecks("svc", "1.0.0", {
      db: { required: true, probe: () => Promise.reject(new Error("connection refused")) },
    });
    expect(report.status).toBe("degraded");
    expect(report.checks.db).toMatchObject({ ok: false, error: "connection refused" });
  });

  it("tolerates a failing optional check", async () => {
    const report = await runHealthChecks("svc", "1.0.0", {
      cache: { required: false, probe: () => Promise.reject(new Error("down")) },
    });
    expect(report.status).toBe("ok");
    expect(report.checks.cache?.ok).toBe(false);
  });

  it("fails a check that hangs past the timeout instead of hanging the endpoint", async () => {
    const report = await runHealthChecks("svc", "1.0.0", { slow: { required: true, probe: () => new Promise(() => {}) } }, 20);
    expect(report.status).toBe("degraded");
    expect(report.checks.slow?.error).toMatch(/timed out after 20 ms/);
  });
});
