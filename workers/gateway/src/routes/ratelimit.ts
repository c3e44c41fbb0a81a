import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { DenyCache, checkRateLimit, LeaseCache, maxCost, Policy } from "@foundation/rate-limiter";
import { HttpProblem, jsonBodiesOnly, requireAuth } from "@foundation/service-kit";
import type { GatewayEnv } from "../env.ts";

/** Body of `POST /api/foundation/ratelimit/check`. */
export const CheckRequest = z
  .object({
    key: z.string().min(1).max(512),
    policy: Policy,
    cost: z.number().int().min(1).max(1_000_000).default(1),
  })
  .strict()
  .refine((b) => b.cost <= maxCost(b.policy), {
    message: "cost must not exceed the policy's limit, nor one shard's share of it",
    path: ["cost"],
  })
  .openapi("RateLimitCheckRequest");

/** Answer of a rate-limit check. */
export const CheckResponse = z
  .object({ allowed: z.boolean(), limit: z.number(), remaining: z.number(), resetMs: z.number(), retryAfterMs: z.number() })
  .openapi("RateLimitCheckResponse");

const checkRoute = createRoute({
  method: "post",
  path: "/check",
  summary: "Take `cost` units from a key's quota (service token)",
  description:
    "Keys are namespaced by the caller's token subject, so one service can never spend another's quota. The answer is 200 whether or not the request is allowed. " +
    "A policy with `shards` > 1 splits a hot key (above about 1,000 requests/s) over that many limiter objects: it never admits more than `limit`, " +
    "but may refuse early when traffic is uneven across shards (a refusal means two shards are spent), and `remaining` is an estimate. " +
    "A policy with `reserve` lets the gateway isolate that answers take that many units at once and answer from them locally: never more than `limit`, " +
    "but units an isolate holds when its lease ends (at the window's end, at most 1 s) count as spent. " +
    "A quota of 10,000 or more per window is exact while its limiter object runs, and its object stores up to 0.1 % of the limit ahead of what it admitted, " +
    "so a restart of the object may refuse up to that many units early in the current window, never admit more.",
  security: [{ bearer: [] }],
  request: { body: { content: { "application/json": { schema: CheckRequest } }, required: true } },
  responses: {
    200: { description: "The decision", content: { "application/json": { schema: CheckResponse } } },
    503: { description: "The limiter could not answer in time" },
  },
});

const denyCache = new DenyCache();
const leases = new LeaseCache();

/** `/api/foundation/ratelimit`: rate-limit decisions for services that enforce their own quotas. */
export const ratelimitRoutes = new OpenAPIHono<GatewayEnv>();
ratelimitRoutes.use(jsonBodiesOnly());
ratelimitRoutes.use(requireAuth({ anyOf: ["service"] }));
ratelimitRoutes.openapi(checkRoute, async (c) => {
  const { key, policy, cost } = c.req.valid("json");
  // The subject is encoded so that no (subject, key) pair can name another pair's quota.
  const result = await checkRateLimit(c.env.RATE_LIMITER, `svc:${encodeURIComponent(c.var.auth.subject)}:${key}`, policy, {
    cost,
    denyCache,
    leases,
    waitUntil: c.var.defer,
  });
  if (result.source === "degraded") {
    c.var.log.warn("rate limiter unavailable", { reason: result.reason });
    throw new HttpProblem(503, {
      slug: "rate-limiter-unavailable",
      detail: "The rate limiter could not answer; try again shortly.",
      headers: { "Retry-After": "1" },
    });
  }
  const { allowed, limit, remaining, resetMs, retryAfterMs } = result;
  return c.json({ allowed, limit, remaining, resetMs, retryAfterMs }, 200);
});
