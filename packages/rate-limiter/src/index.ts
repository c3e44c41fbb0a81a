export * from "./algorithms/index.ts";
export { checkRateLimit, type CheckOptions, type CheckResult, type DegradedReason } from "./client.ts";
export { DenyCache } from "./deny-cache.ts";
export { RateLimiter } from "./durable-object.ts";
export { rateLimitHeaders } from "./headers.ts";
export { enforceLimit, prepareLimit, rateLimit, type FailMode, type PreparedLimit, type RateLimitOptions } from "./middleware.ts";
export * from "./policy.ts";
export { combineDecisions, maxCost, probeOrder, shardCount, shardKey, shardLimit, shardPolicy } from "./sharding.ts";
export { clientIdentity, matchingPolicies, parseRoutePolicies, RoutePolicies, RoutePolicy } from "./route-policies.ts";
