import { underPrefix } from "@foundation/core";
import { z } from "zod";
import { Policy } from "./policy.ts";
import { maxCost } from "./sharding.ts";

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;

/**
 * A quota bound to requests by path prefix and method, counted per client: the verified token subject
 * when the caller proved one, else the client IP (an unverified identity would let a caller pick a
 * fresh quota per request).
 */
export const RoutePolicy = z
  .object({
    name: z.string().regex(/^[a-z0-9-]{1,64}$/),
    path: z.string().startsWith("/").max(256),
    methods: z.array(z.enum(METHODS)).min(1).optional(),
    policy: Policy,
    failMode: z.enum(["open", "closed"]),
    cost: z.number().int().positive().default(1),
    /** How long to wait for the limiter before the fail mode applies (default 1,000 ms). */
    timeoutMs: z.number().int().min(0).max(10_000).default(1000),
  })
  .strict()
  .refine((r) => r.cost <= maxCost(r.policy), {
    message: "cost must not exceed the policy's limit, nor one shard's share of it",
    path: ["cost"],
  });
/** A route policy. */
export type RoutePolicy = z.infer<typeof RoutePolicy>;

/** A list of route policies; every matching one applies. */
export const RoutePolicies = z.array(RoutePolicy).max(32);

/** The route policies that apply to a request. */
export function matchingPolicies(policies: readonly RoutePolicy[], method: string, path: string): RoutePolicy[] {
  return policies.filter((p) => underPrefix(path, p.path) && (!p.methods || (p.methods as readonly string[]).includes(method)));
}

/** The client a quota is counted for: `sub:<subject>` when verified, else `ip:<address>`. */
export function clientIdentity(subject: string | undefined, ip: string | undefined): string {
  return subject ? `sub:${subject}` : `ip:${ip ?? "unknown"}`;
}

/**
 * Parses policies from a JSON config string (a wrangler var), throwing a readable error on bad config so
 * a deploy with a broken policy fails loudly instead of silently unlimiting.
 */
export function parseRoutePolicies(json: string): RoutePolicy[] {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new Error(`RATE_LIMIT_POLICIES is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const parsed = RoutePolicies.safeParse(raw);
  if (!parsed.success) throw new Error(`RATE_LIMIT_POLICIES is invalid: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}
