import { setBounded } from "@foundation/core";

/**
 * Per-isolate memory of keys the limiter refused, until when. A refused key is refused locally until
 * then, without a Durable Object round trip, so abusive traffic costs nothing (like @upstash/ratelimit's
 * ephemeral cache). Bounded: the oldest entries are dropped past `maxEntries`.
 */
export class DenyCache {
  private readonly until = new Map<string, number>();

  constructor(
    private readonly maxEntries = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Remembers that `key` is refused until `untilMs`. */
  deny(key: string, untilMs: number): void {
    setBounded(this.until, key, untilMs, this.maxEntries);
  }

  /** Milliseconds `key` stays refused, or 0 when it may ask the limiter. */
  retryAfterMs(key: string): number {
    const until = this.until.get(key);
    if (until === undefined) return 0;
    const left = until - this.now();
    if (left <= 0) {
      this.until.delete(key);
      return 0;
    }
    return left;
  }

  /** Number of remembered keys. */
  get size(): number {
    return this.until.size;
  }
}
