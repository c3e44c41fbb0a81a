/**
 * Entry of the rate-limit bench worker (bundled by bench/ratelimit.bench.ts): ratelimit.ts with the limiter's
 * client wired in. The RateLimiter class the worker talks to is the gateway bundle's, bound by name.
 */
import { checkRateLimit } from "@foundation/rate-limiter";
import { createRatelimitBench } from "./ratelimit.ts";

export default createRatelimitBench({ checkRateLimit });
