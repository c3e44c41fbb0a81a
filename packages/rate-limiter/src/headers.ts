import type { Decision } from "./algorithms/index.ts";
import type { Policy } from "./policy.ts";
import { policyWindowMs } from "./policy.ts";

/**
 * The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers): `RateLimit-Policy` names the
 * quota and its window, `RateLimit` the remaining units and seconds until reset; `Retry-After` on refusal.
 * @example rateLimitHeaders("api", policy, decision) // { "RateLimit-Policy": '"api";q=100;w=60', ... }
 */
export function rateLimitHeaders(name: string, policy: Policy, decision: Decision): Record<string, string> {
  const w = Math.max(1, Math.ceil(policyWindowMs(policy) / 1000));
  const t = Math.ceil(decision.resetMs / 1000);
  const headers: Record<string, string> = {
    "RateLimit-Policy": `"${name}";q=${policy.limit};w=${w}`,
    RateLimit: `"${name}";r=${decision.remaining};t=${t}`,
  };
  if (!decision.allowed) headers["Retry-After"] = String(Math.max(1, Math.ceil(decision.retryAfterMs / 1000)));
  return headers;
}
