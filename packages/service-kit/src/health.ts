import type { DbEnv } from "@foundation/db";
import { timingSafeEqual } from "hono/utils/buffer";
import { verifyCaller, type AuthEnv, type Credentials } from "./auth/jwt.ts";
import { ADMIN_SCOPE } from "./auth/scopes.ts";
import type { AuthContext } from "./auth/types.ts";

/** Result of one dependency check in the health document. */
export interface CheckResult {
  ok: boolean;
  latencyMs: number;
  required: boolean;
  /** Why the check failed: only for operators (see {@link mayReadHealthErrors}), since it may name internal hosts. */
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

/** The report without the checks' error text, for callers who are not operators. */
export function withoutErrors(report: HealthReport): HealthReport {
  const checks = Object.fromEntries(Object.entries(report.checks).map(([name, { error: _error, ...check }]) => [name, check]));
  return { ...report, checks };
}

/**
 * Whether `authorization` is `Bearer <token>`, compared in constant time: a comparison that stops at the first
 * differing character tells a caller, by its timing, how much of a guess was right.
 */
export async function bearerMatches(authorization: string | undefined, token: string): Promise<boolean> {
  return authorization !== undefined && (await timingSafeEqual(authorization, `Bearer ${token}`));
}

/**
 * Whether a `/health` caller may read the checks' error text: the bearer of `METRICS_TOKEN`, or a caller verified
 * with the `admin` scope (a token or API key, or `verified`: the caller an earlier middleware verified).
 */
export async function mayReadHealthErrors(
  credentials: Credentials,
  env: AuthEnv & Partial<DbEnv> & { METRICS_TOKEN?: string },
  verified?: AuthContext,
): Promise<boolean> {
  if (env.METRICS_TOKEN && (await bearerMatches(credentials.authorization, env.METRICS_TOKEN))) return true;
  if (verified) return verified.scopes.has(ADMIN_SCOPE);
  if (credentials.authorization === undefined && credentials.apiKey === undefined) return false;
  return verifyCaller(credentials, env).then(
    (auth) => auth.scopes.has(ADMIN_SCOPE),
    () => false,
  );
}
