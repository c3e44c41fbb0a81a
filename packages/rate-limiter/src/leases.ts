/**
 * Leases: an isolate takes `policy.reserve` units of a key's quota from its limiter object in one round trip and
 * spends them locally, so a busy key costs one Durable Object call per `reserve` requests instead of one each.
 *
 * Accuracy trade-off (declared per policy; without `reserve` every request asks the object and is exact):
 * - Never more than the limit: the object counts a lease's units as spent when it grants them, and an isolate
 *   admits only units it was granted, so the object's count bounds every isolate's admissions together.
 * - May refuse early: units leased but not spent before the lease ends stay counted, so up to 1.5 × `reserve`
 *   units per isolate holding a lease can go unused in a window (a lease is refilled when half of it is left).
 *   Leases are short (the end of the current window, at most {@link MAX_LEASE_MS}), and a lease ends with its
 *   window, so a window's units are never spent in the next one: a fixed or sliding window counts them where it
 *   granted them.
 * - `remaining` is the object's count at the grant plus what is left of this isolate's lease: it does not see
 *   the other isolates' leases.
 * Sliding log (an exact log of timestamps, for small limits) takes no leases.
 */
import { setBounded } from "@foundation/core";
import type { Decision } from "./algorithms/index.ts";
import type { Policy } from "./policy.ts";

/** The longest a lease lasts, so unspent units of an isolate that went quiet come back to the quota soon. */
export const MAX_LEASE_MS = 1000;

/**
 * When a lease granted at `now` under `policy` ends: the end of the current aligned window (fixed and sliding
 * windows count units in the window that granted them), and never more than {@link MAX_LEASE_MS} away.
 * @example leaseEnd({ algorithm: "fixed-window", limit: 100, windowMs: 60_000, reserve: 10 }, 59_500) // 60_000
 */
export function leaseEnd(policy: Policy, now: number): number {
  const cap = now + MAX_LEASE_MS;
  if (policy.algorithm === "token-bucket") return cap;
  return Math.min(cap, (Math.floor(now / policy.windowMs) + 1) * policy.windowMs);
}

/** A limiter object's answer to a lease request: its decision, the units granted (0: refused) and for how long. */
export interface Lease extends Decision {
  granted: number;
  leaseMs: number;
}

/** What an isolate knows of one key: units it may spend until `until`, or a refusal until `refusedUntil`. */
interface Held {
  units: number;
  until: number;
  refusedUntil: number;
  /** The object's decision when it last answered. */
  answer: Decision;
}

/**
 * The leases one isolate holds, by key (a shard's object and policy), and the lease request in flight per key
 * (the client asks for at most one lease per key at a time; see `leasedDecision` in `client.ts`). Bounded: the
 * oldest keys are dropped past `maxEntries` (their units count as spent, as when a lease runs out).
 */
export class LeaseCache {
  private readonly held = new Map<string, Held>();
  private readonly asking = new Map<string, Promise<unknown>>();

  constructor(
    private readonly maxEntries = 10_000,
    /** The isolate's clock (injectable for tests); lease ends are on it. */
    readonly now: () => number = Date.now,
  ) {}

  /**
   * Spends `cost` units of the lease on `key` and returns the decision to report; or the refusal the object gave
   * while it lasts; or undefined when the isolate must ask the object.
   */
  take(key: string, cost: number): Decision | undefined {
    const h = this.held.get(key);
    if (h === undefined) return undefined;
    const now = this.now();
    if (now < h.until && h.units >= cost) {
      h.units -= cost;
      const { limit, remaining, resetMs } = h.answer;
      return { allowed: true, limit, remaining: remaining + h.units, resetMs, retryAfterMs: 0 };
    }
    if (h.refusedUntil > now) {
      const { limit, resetMs } = h.answer;
      return { allowed: false, limit, remaining: 0, resetMs, retryAfterMs: h.refusedUntil - now };
    }
    return undefined;
  }

  /**
   * Records the object's answer to a lease request sent at `askedAt` for a request of `cost` (0 for a refill
   * no request waits on), and returns that request's decision. Granted units beyond `cost` are held (added to
   * what is left of a lease still running, which then ends when the earlier of the two does, so no unit
   * outlives its own lease); a refusal is remembered until its retry time, and applies once the units still
   * held are spent.
   */
  settle(key: string, lease: Lease, cost: number, askedAt: number): Decision {
    const { granted, leaseMs, ...answer } = lease;
    const now = this.now();
    const previous = this.held.get(key);
    const running = previous !== undefined && previous.until > now && previous.units > 0 ? previous : undefined;
    this.held.delete(key);
    if (granted === 0) {
      const refusedUntil = answer.retryAfterMs > 0 ? askedAt + answer.retryAfterMs : 0;
      const { units = 0, until = 0 } = running ?? {};
      if (units > 0 || refusedUntil > now) setBounded(this.held, key, { units, until, refusedUntil, answer }, this.maxEntries);
      return answer;
    }
    const units = granted - cost + (running?.units ?? 0);
    const until = Math.min(askedAt + leaseMs, running?.until ?? Number.POSITIVE_INFINITY);
    if (units > 0 && until > now) setBounded(this.held, key, { units, until, refusedUntil: 0, answer }, this.maxEntries);
    return { ...answer, remaining: answer.remaining + units };
  }

  /** The lease request in flight for `key`, if any. */
  inFlight(key: string): Promise<unknown> | undefined {
    return this.asking.get(key);
  }

  /** Registers `request` as the lease request in flight for `key` until it settles. */
  track<T>(key: string, request: Promise<T>): Promise<T> {
    const settled = request.finally(() => {
      if (this.asking.get(key) === settled) this.asking.delete(key);
    });
    this.asking.set(key, settled);
    return settled;
  }

  /** Units the isolate may still spend on `key` now (0 when it has no running lease). */
  units(key: string): number {
    const h = this.held.get(key);
    return h !== undefined && h.until > this.now() ? h.units : 0;
  }

  /** Number of keys with a lease or a remembered refusal. */
  get size(): number {
    return this.held.size;
  }
}
