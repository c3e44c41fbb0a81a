import { DurableObject } from "cloudflare:workers";
import { decide, type Decision, type LimiterState } from "./algorithms/index.ts";
import type { Policy } from "./policy.ts";

/** Extra time an idle key's state is kept after it has fully reset, before the alarm deletes it. */
const IDLE_GRACE_MS = 60_000;

/**
 * One rate-limit key. Every decision is a synchronous read-compute-write on the object's SQLite-backed
 * storage, so concurrent requests to one key are serialised and exact; the write is durable before the
 * answer leaves (output gate), so eviction or a restart never loses a count. An alarm deletes the key's
 * state once it has been idle long enough to be back at full quota.
 */
export class RateLimiter extends DurableObject {
  /** Applies `policy` to this key; `now` is injectable for tests and defaults to the clock. */
  check(policy: Policy, cost = 1, now: number = Date.now()): Decision {
    const kv = this.ctx.storage.kv;
    const stored = kv.get<LimiterState>(policy.algorithm);
    const { decision, state } = decide(stored, now, policy, cost);
    kv.put(policy.algorithm, state);
    // Expiry runs on the real clock (the alarm does), even when `now` is injected. It is moved only once it
    // falls half the grace behind, so a busy key writes one row per decision, not two: its state is still kept
    // at least half the grace past its full reset.
    const expiresAt = Date.now() + decision.resetMs + IDLE_GRACE_MS;
    const current = kv.get<number>("expiresAt") ?? 0;
    if (expiresAt > current + IDLE_GRACE_MS / 2) {
      kv.put("expiresAt", expiresAt);
      if (current === 0) void this.ctx.storage.setAlarm(expiresAt);
    }
    return decision;
  }

  /** Deletes the key's state once every algorithm is back at full quota; otherwise re-arms itself. */
  override async alarm(): Promise<void> {
    const expiresAt = this.ctx.storage.kv.get<number>("expiresAt") ?? 0;
    if (expiresAt > Date.now()) {
      await this.ctx.storage.setAlarm(expiresAt);
      return;
    }
    await this.ctx.storage.deleteAll();
  }
}
