import { setBounded } from "@foundation/core";

/** How long a verified token is answered from memory at most, so a rotated key set or secret takes effect within it. */
export const TOKEN_CACHE_TTL_MS = 60_000;

interface Entry<T> {
  value: T;
  /** Until when (ms) the entry may answer: the token's expiry or the TTL, whichever comes first. */
  until: number;
}

/**
 * Per-isolate memory of tokens that passed verification, so a client that sends the same token on every
 * request pays the signature check once a minute instead of on every call (the gateway's hot path). Only
 * successes are kept, each until the token's own `exp` or {@link TOKEN_CACHE_TTL_MS}, whichever is first; a
 * token past either is verified again and refused with the verifier's own reason. Entries are keyed by the
 * verification settings too (secret or key set, issuer, audience, algorithms), so changing them never
 * answers from an entry made under the old ones. Bounded: the oldest entries are dropped past `maxEntries`.
 */
export class VerifiedTokenCache<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(
    private readonly maxEntries = 10_000,
    private readonly ttlMs = TOKEN_CACHE_TTL_MS,
  ) {}

  /** The verified value of `token` under `settings`, if it is still good at `nowMs`. */
  get(settings: string, token: string, nowMs: number): T | undefined {
    const key = `${settings}\u0000${token}`;
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (nowMs >= entry.until) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value;
  }

  /** Remembers that `token` verified to `value` at `nowMs`, good until `expSeconds` (its `exp` claim). */
  set(settings: string, token: string, value: T, expSeconds: number, nowMs: number): void {
    const until = Math.min(expSeconds * 1000, nowMs + this.ttlMs);
    if (until <= nowMs) return;
    setBounded(this.entries, `${settings}\u0000${token}`, { value, until }, this.maxEntries);
  }

  /** Number of remembered tokens. */
  get size(): number {
    return this.entries.size;
  }
}
