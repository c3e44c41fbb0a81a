import { checkPublicUrl } from "@foundation/core";
import type { Registration } from "./instance.ts";
import { DEFAULT_TTL_SECONDS, MAX_DEREGISTER_AFTER_SECONDS, MIN_DEREGISTER_AFTER_SECONDS, RegistrationRequest } from "./schemas.ts";

/** One refused field of a registration; `path` is relative to the request body. */
export interface RegistrationIssue {
  path: (string | number)[];
  message: string;
  code: string;
}

/** What the registry knows about where it runs, to judge an instance's address. */
export interface AddressPolicy {
  /** `ENVIRONMENT` is `local`: loopback `http:` URLs are accepted. */
  local: boolean;
  /** Whether the gateway has a service binding of this name. */
  isServiceBinding: (binding: string) => boolean;
}

/** A validated registration, or the reasons it was refused. */
export type ParsedRegistration = { ok: true; registration: Registration } | { ok: false; issues: RegistrationIssue[] };

/** The deregister delay of an instance that names none: ten TTLs, at least ten minutes (Consul's model needs it "much longer"). */
export function defaultDeregisterAfterSeconds(ttlSeconds: number): number {
  return Math.min(MAX_DEREGISTER_AFTER_SECONDS, Math.max(10 * ttlSeconds, 10 * MIN_DEREGISTER_AFTER_SECONDS));
}

/**
 * Validates a registration (schema, then the address against `policy`) and fills in the defaults.
 * @example parseRegistration({ name: "billing", url: "https://billing.example.com", version: "1.0.0" }, policy)
 */
export function parseRegistration(input: unknown, policy: AddressPolicy): ParsedRegistration {
  const parsed = RegistrationRequest.safeParse(input);
  if (!parsed.success) {
    return {
      ok: false,
      issues: parsed.error.issues.map((i) => ({
        path: i.path.map((p) => (typeof p === "symbol" ? String(p) : p)),
        message: i.message,
        code: i.code,
      })),
    };
  }
  const r = parsed.data;
  const ttlSeconds = r.ttlSeconds ?? DEFAULT_TTL_SECONDS;
  const base = {
    service: r.name,
    version: r.version,
    metadata: r.metadata ?? {},
    ttlMs: ttlSeconds * 1000,
    deregisterAfterMs: (r.deregisterAfterSeconds ?? defaultDeregisterAfterSeconds(ttlSeconds)) * 1000,
  };
  if (r.url !== undefined) {
    const check = checkPublicUrl(r.url, { local: policy.local });
    if (!check.ok) return { ok: false, issues: [{ path: ["url"], message: check.reason, code: "unsafe_url" }] };
    return { ok: true, registration: { ...base, url: check.url } };
  }
  const binding = r.binding ?? "";
  if (!policy.isServiceBinding(binding)) {
    return {
      ok: false,
      issues: [{ path: ["binding"], message: `the gateway has no service binding named ${binding}`, code: "unknown_binding" }],
    };
  }
  return { ok: true, registration: { ...base, binding } };
}
