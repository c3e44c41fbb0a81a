/** What the rate-limit tests share: a limiter object per key, keys no other test uses, and a day-long window. */
import { env } from "cloudflare:test";

/** The `RateLimiter` object of `key`. */
export const stubFor = (key: string) => env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(key));

/** A key of its own for one test, so no two tests (or runs) share a count. */
export const uniqueKey = (name: string) => `${name}:${crypto.randomUUID()}`;

/** Fixed windows of a day: a test that spends a quota is never split by a window boundary (a minute could be). */
export const DAY = 86_400_000;
