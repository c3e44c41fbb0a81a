import { z } from "@hono/zod-openapi";

/** Upstream timeout of a service that configures none: 10 s. */
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 10_000;
/** Longest upstream timeout accepted: 5 minutes. */
export const MAX_UPSTREAM_TIMEOUT_MS = 300_000;

const Milliseconds = z.coerce.number().int().min(1).max(MAX_UPSTREAM_TIMEOUT_MS);
const PerService = z.record(z.string().regex(/^[a-z0-9-]{1,64}$/), Milliseconds);

/** The vars that set upstream timeouts: a default for every service and a JSON object of per-service overrides. */
export interface TimeoutVars {
  UPSTREAM_TIMEOUT_MS?: string;
  UPSTREAM_TIMEOUTS?: string;
}

/** Upstream timeouts: the default and the services that set their own. */
export interface Timeouts {
  defaultMs: number;
  perService: Readonly<Record<string, number>>;
}

/**
 * Parses the timeout vars; empty ones take the defaults. Throws on an invalid value: it is a deployment error.
 * @example parseTimeouts({ UPSTREAM_TIMEOUT_MS: "5000", UPSTREAM_TIMEOUTS: '{"reports": 30000}' }).perService.reports // 30000
 */
export function parseTimeouts(vars: TimeoutVars): Timeouts {
  const defaultMs = vars.UPSTREAM_TIMEOUT_MS ? Milliseconds.safeParse(vars.UPSTREAM_TIMEOUT_MS) : undefined;
  if (defaultMs && !defaultMs.success) {
    throw new Error(`UPSTREAM_TIMEOUT_MS must be an integer from 1 to ${MAX_UPSTREAM_TIMEOUT_MS} (ms)`, { cause: defaultMs.error });
  }
  let perService: Record<string, number> = {};
  if (vars.UPSTREAM_TIMEOUTS) {
    let raw: unknown;
    try {
      raw = JSON.parse(vars.UPSTREAM_TIMEOUTS);
    } catch (cause) {
      throw new Error("UPSTREAM_TIMEOUTS must be a JSON object of service name → ms", { cause });
    }
    const parsed = PerService.safeParse(raw);
    if (!parsed.success) {
      throw new Error(`UPSTREAM_TIMEOUTS must map service names to integers from 1 to ${MAX_UPSTREAM_TIMEOUT_MS} (ms)`, {
        cause: parsed.error,
      });
    }
    perService = parsed.data;
  }
  return { defaultMs: defaultMs?.data ?? DEFAULT_UPSTREAM_TIMEOUT_MS, perService };
}

/**
 * The upstream timeout of `service`: its own, else the default.
 * @example timeoutFor(parseTimeouts({ UPSTREAM_TIMEOUT_MS: "2000" }), "example") // 2000
 */
export function timeoutFor(timeouts: Timeouts, service: string): number {
  return Object.hasOwn(timeouts.perService, service) ? (timeouts.perService[service] ?? timeouts.defaultMs) : timeouts.defaultMs;
}
