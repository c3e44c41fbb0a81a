import { describe, expect, it } from "vitest";
import {
  DEFAULT_HEALTH_CHECK_RETENTION_DAYS,
  instanceUptime,
  LONGEST_WINDOW_MS,
  probeHeartbeat,
  probeTarget,
  probeVerdict,
  retentionCutoff,
  uptimeRatio,
  windowStart,
  type TargetCounts,
} from "./uptime.ts";

const counts = (c: Partial<TargetCounts> = {}): TargetCounts => ({
  windows: { uptime24h: { total: 4, ok: 3 }, uptime7d: { total: 10, ok: 9 }, uptime30d: { total: 3, ok: 0 } },
  lastCheckAt: Date.UTC(2026, 0, 2),
  lastOk: true,
  ...c,
});

describe("uptime", () => {
  it("names a probe target after the service and the instance", () => {
    expect(probeTarget("billing", "i-1")).toBe("billing/i-1");
  });

  it("reports the share of passing probes, rounded, and null (unknown) without probes", () => {
    expect(uptimeRatio({ total: 3, ok: 2 })).toBe(0.6667);
    expect(uptimeRatio({ total: 5, ok: 5 })).toBe(1);
    expect(uptimeRatio({ total: 5, ok: 0 })).toBe(0);
    expect(uptimeRatio({ total: 0, ok: 0 })).toBeNull();
  });

  it("starts each window the window's length before now", () => {
    const now = Date.UTC(2026, 5, 30);
    expect(windowStart("uptime24h", now)).toBe(Date.UTC(2026, 5, 29));
    expect(windowStart("uptime7d", now)).toBe(Date.UTC(2026, 5, 23));
    expect(windowStart("uptime30d", now)).toBe(Date.UTC(2026, 4, 31));
  });

  it("cuts probe history off the retention's days before now, by default no sooner than the longest window reads", () => {
    const now = Date.UTC(2026, 5, 30);
    expect(retentionCutoff(now, 30)).toBe(Date.UTC(2026, 4, 31));
    expect(retentionCutoff(now, 90)).toBe(Date.UTC(2026, 3, 1));
    expect(retentionCutoff(now, DEFAULT_HEALTH_CHECK_RETENTION_DAYS)).toBe(now - LONGEST_WINDOW_MS);
  });

  it("turns an instance's counts into its three uptimes and last probe", () => {
    expect(instanceUptime("billing", "i-1", counts())).toEqual({
      service: "billing",
      instanceId: "i-1",
      uptime24h: 0.75,
      uptime7d: 0.9,
      uptime30d: 0,
      lastCheckAt: "2026-01-02T00:00:00.000Z",
      lastOk: true,
    });
  });

  it("reports an instance never probed as unknown, not down", () => {
    expect(instanceUptime("billing", "i-1", undefined)).toEqual({
      service: "billing",
      instanceId: "i-1",
      uptime24h: null,
      uptime7d: null,
      uptime30d: null,
      lastCheckAt: null,
      lastOk: null,
    });
  });

  it("passes 2xx answers and fails errors and redirects, which it never follows", () => {
    expect(probeVerdict(200)).toEqual({ ok: true, detail: "HTTP 200" });
    expect(probeVerdict(204).ok).toBe(true);
    expect(probeVerdict(302)).toEqual({ ok: false, detail: "HTTP 302: redirect not followed" });
    expect(probeVerdict(503)).toEqual({ ok: false, detail: "HTTP 503" });
  });

  it("heartbeats only instances that asked for the gateway's probe, passing or critical", () => {
    const probed = { metadata: { probe: "gateway" } };
    expect(probeHeartbeat(probed, { ok: true, detail: "HTTP 200" })).toEqual({
      status: "passing",
      output: "gateway probe of /health: HTTP 200",
    });
    expect(probeHeartbeat(probed, { ok: false, detail: "no answer within 5000 ms" })).toEqual({
      status: "critical",
      output: "gateway probe of /health: no answer within 5000 ms",
    });
    expect(probeHeartbeat({ metadata: {} }, { ok: false, detail: "HTTP 503" })).toBeNull();
    expect(probeHeartbeat({ metadata: { probe: "self" } }, { ok: false, detail: "HTTP 503" })).toBeNull();
  });
});
