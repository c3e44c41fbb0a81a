/** Result of one dependency check in the health document. */
export interface CheckResult {
  ok: boolean;
  latencyMs: number;
  required: boolean;
  error?: string;
}

/** The body of `GET /health`. */
export interface HealthReport {
  status: "ok" | "degraded";
  service: string;
  version: string;
  checks: Record<string, CheckResult>;
}

/** A named dependency probe: resolves when the dependency answers, throws otherwise. */
export interface DependencyCheck {
  required: boolean;
  probe: () => Promise<unknown>;
}

/** Rejects after `ms` so one hung dependency cannot hang the health endpoint. */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => {
    if (timer !== undefined) clearTimeout(timer);
  });
}

/**
 * Runs every check concurrently with a timeout and builds the health report.
 * The service is `degraded` when a required check fails; optional failures are reported but tolerated.
 * @example const report = await runHealthChecks("gateway", "1.0.0", { redis: { required: true, probe: () => redis.ping() } });
 */
export async function runHealthChecks(
  service: string,
  version: string,
  checks: Record<string, DependencyCheck>,
  timeoutMs = 2000,
  now: () => number = () => performance.now(),
): Promise<HealthReport> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]): Promise<[string, CheckResult]> => {
      const started = now();
      try {
        await withTimeout(check.probe(), timeoutMs);
        return [name, { ok: true, latencyMs: round(now() - started), required: check.required }];
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        return [name, { ok: false, latencyMs: round(now() - started), required: check.required, error }];
      }
    }),
  );
  const results = Object.fromEntries(entries);
  const degraded = entries.some(([, r]) => r.required && !r.ok);
  return { status: degraded ? "degraded" : "ok", service, version, checks: results };
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
