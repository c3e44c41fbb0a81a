/**
 * Entry of the rate-limit bench worker (bundled by bench/ratelimit.bench.ts). JavaScript on purpose: bench/ is
 * type-checked with Node's types, and `checkRateLimit`'s module needs workerd's (`DurableObjectNamespace`), so it
 * is wired in here and ratelimit.ts types the slice it calls. client.ts is imported directly rather than the
 * package index, which would also pull in the Durable Object class (`cloudflare:workers`); the class the worker
 * talks to is the gateway bundle's, bound by name.
 */
import { checkRateLimit } from "@foundation/rate-limiter/src/client.ts";
import { createRatelimitBench } from "./ratelimit.ts";

export default createRatelimitBench({ checkRateLimit });
