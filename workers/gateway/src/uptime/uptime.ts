/**
 * Uptime as pure functions: what a probe's answer means, what the registry is told about it, and the share
 * of passing probes per window. The cron handler and the API around them only move data (see `checks.ts`).
 */
import type { Heartbeat, Instance } from "@foundation/registry";

const HOUR_MS = 60 * 60 * 1000;

/** The windows uptime is reported over, by the field that reports it. */
export const UPTIME_WINDOWS = { uptime24h: 24 * HOUR_MS, uptime7d: 7 * 24 * HOUR_MS, uptime30d: 30 * 24 * HOUR_MS } as const;
/** The name of an uptime window. */
export type UptimeWindow = keyof typeof UPTIME_WINDOWS;
/** The longest window: older probes never count. */
export const LONGEST_WINDOW_MS = UPTIME_WINDOWS.uptime30d;

/** Days of probe history kept when `HEALTH_CHECK_RETENTION_DAYS` is unset: the longest window. */
export const DEFAULT_HEALTH_CHECK_RETENTION_DAYS = 30;
/** Probe rows one cron run deletes at most, so a run stays short however much history is due. */
export const HEALTH_CHECK_PRUNE_BATCH = 10_000;

/**
 * The retention cutoff as of `now`: probes checked before it are deleted.
 * @example retentionCutoff(Date.UTC(2026, 5, 30), 30) // Date.UTC(2026, 4, 31)
 */
export function retentionCutoff(now: number, retentionDays: number): number {
  return now - retentionDays * 24 * HOUR_MS;
}

/** The metadata that asks the gateway's probe to heartbeat an instance that cannot heartbeat itself. */
export const PROBE_METADATA = { key: "probe", value: "gateway" } as const;

/** One probe of one instance's `/health`. */
export interface ProbeResult {
  service: string;
  instanceId: string;
  ok: boolean;
  latencyMs: number;
  /** Why it failed, or the status it answered. */
  detail: string;
  /** Epoch ms. */
  checkedAt: number;
}

/** Probes of one target within one window: how many, and how many passed. */
export interface WindowCounts {
  total: number;
  ok: number;
}

/** What Postgres knows about one target's probes. */
export interface TargetCounts {
  windows: Record<UptimeWindow, WindowCounts>;
  lastCheckAt: number | null;
  lastOk: boolean | null;
}

/** The uptime of one instance, as `GET /api/foundation/uptime` answers it (ratios between 0 and 1). */
export interface InstanceUptime {
  service: string;
  instanceId: string;
  uptime24h: number | null;
  uptime7d: number | null;
  uptime30d: number | null;
  lastCheckAt: string | null;
  lastOk: boolean | null;
}

/**
 * The `health_checks.target` of an instance.
 * @example probeTarget("billing", "4f1c…") // "billing/4f1c…"
 */
export function probeTarget(service: string, instanceId: string): string {
  return `${service}/${instanceId}`;
}

/**
 * The share of passing probes, rounded to 1/10,000; null when there were none (unknown, not down).
 * @example uptimeRatio({ total: 3, ok: 2 }) // 0.6667
 */
export function uptimeRatio(counts: WindowCounts): number | null {
  if (counts.total === 0) return null;
  return Math.round((counts.ok / counts.total) * 10_000) / 10_000;
}

/** The start (epoch ms, exclusive) of `window` as of `now`. */
export function windowStart(window: UptimeWindow, now: number): number {
  return now - UPTIME_WINDOWS[window];
}

/** An instance's uptime from its probe counts (no counts: never probed). */
export function instanceUptime(service: string, instanceId: string, counts: TargetCounts | undefined): InstanceUptime {
  const ratio = (w: UptimeWindow) => (counts ? uptimeRatio(counts.windows[w]) : null);
  return {
    service,
    instanceId,
    uptime24h: ratio("uptime24h"),
    uptime7d: ratio("uptime7d"),
    uptime30d: ratio("uptime30d"),
    lastCheckAt: counts?.lastCheckAt ? new Date(counts.lastCheckAt).toISOString() : null,
    lastOk: counts?.lastOk ?? null,
  };
}

/**
 * What an answer to `GET /health` means: 2xx passes; a redirect is not followed and fails (a health
 * endpoint that redirects is misconfigured, and following it could leave the instance's host).
 * @example probeVerdict(503) // { ok: false, detail: "HTTP 503" }
 */
export function probeVerdict(status: number): { ok: boolean; detail: string } {
  if (status >= 200 && status < 300) return { ok: true, detail: `HTTP ${status}` };
  if (status >= 300 && status < 400) return { ok: false, detail: `HTTP ${status}: redirect not followed` };
  return { ok: false, detail: `HTTP ${status}` };
}

/**
 * The heartbeat the probe sends for `instance`, or null when the instance heartbeats itself. Only
 * instances registered with metadata `probe: "gateway"` are heartbeated by the probe: a self-heartbeating
 * service knows its own health better, and two writers would flap its status.
 */
export function probeHeartbeat(instance: Pick<Instance, "metadata">, result: Pick<ProbeResult, "ok" | "detail">): Heartbeat | null {
  if (instance.metadata[PROBE_METADATA.key] !== PROBE_METADATA.value) return null;
  return { status: result.ok ? "passing" : "critical", output: `gateway probe of /health: ${result.detail}` };
}
