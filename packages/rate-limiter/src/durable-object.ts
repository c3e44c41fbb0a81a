import { DurableObject } from "cloudflare:workers";
import { decide, type Decision, type LimiterState } from "./algorithms/index.ts";
import { leaseEnd, type Lease } from "./leases.ts";
import type { Policy } from "./policy.ts";

/** Extra time an idle key's state is kept after it has fully reset, before the alarm deletes it. */
const IDLE_GRACE_MS = 60_000;
/** A decision within this long of the last write waits one timer turn to share the next commit; later ones write at once. */
const BATCH_WINDOW_MS = 2;

/**
 * One rate-limit key. Decisions are computed synchronously on the key's state, so concurrent requests to one
 * key are serialised and exact, and no answer leaves before the state it counted is durable.
 *
 * Writes are group-committed under load: a decision that comes within {@link BATCH_WINDOW_MS} of the last write
 * updates the state in memory and waits one timer turn for the next flush, so the requests already queued for
 * the object are decided too, and the flush writes every changed row in one storage transaction; the output
 * gate then holds all their answers until that one commit is durable. One commit (one fsync locally, one
 * replicated write in production) then covers many decisions instead of one each, while a key that is not busy
 * writes at once and pays no wait. A crash before the commit loses only decisions nobody was told.
 * An alarm deletes the key's state once it has been idle long enough to be back at full quota.
 */
export class RateLimiter extends DurableObject {
  /** Rows changed since the last flush (storage key → value); they are the truth until written. */
  readonly #unwritten = new Map<string, unknown>();
  /** The next flush, shared by every decision taken since the last one. */
  #flush: Promise<void> | undefined;
  /** When rows were last written (real clock). */
  #writtenAt = 0;

  /** Applies `policy` to this key; `now` is injectable for tests and defaults to the clock. */
  async check(policy: Policy, cost = 1, now: number = Date.now()): Promise<Decision> {
    const { decision, state } = decide(this.#read<LimiterState>(policy.algorithm), now, policy, cost);
    await this.#store(policy, decision, state);
    return decision;
  }

  /**
   * Grants an isolate's lease (see `leases.ts`): `want` units when the quota has room for them, else all that is
   * left if that covers the request's `cost`, else nothing (`granted` 0) and the refusal of `cost`. The units are
   * counted as spent now; the isolate may spend them for `leaseMs` from when it asked (a duration, not a time:
   * the isolate's clock need not agree with this object's).
   */
  async reserve(policy: Policy, want: number, cost = 1, now: number = Date.now()): Promise<Lease> {
    const stored = this.#read<LimiterState>(policy.algorithm);
    let granted = Math.min(policy.limit, Math.max(want, cost));
    let result = decide(stored, now, policy, granted);
    if (!result.decision.allowed) {
      granted = result.decision.remaining;
      if (granted >= cost) result = decide(stored, now, policy, granted);
      if (granted < cost || !result.decision.allowed) {
        granted = 0;
        result = decide(stored, now, policy, cost);
      }
    }
    await this.#store(policy, result.decision, result.state);
    return { ...result.decision, granted, leaseMs: leaseEnd(policy, now) - now };
  }

  /** Deletes the key's state once every algorithm is back at full quota; otherwise re-arms itself. */
  override async alarm(): Promise<void> {
    await this.#flush;
    const expiresAt = this.ctx.storage.kv.get<number>("expiresAt") ?? 0;
    if (expiresAt > Date.now()) {
      await this.ctx.storage.setAlarm(expiresAt);
      return;
    }
    await this.ctx.storage.deleteAll();
  }

  /** Records a decision's state and returns once it is written (see the class comment for when). */
  async #store(policy: Policy, decision: Decision, state: LimiterState): Promise<void> {
    this.#unwritten.set(policy.algorithm, state);
    // Expiry runs on the real clock (the alarm does), even when `now` is injected. It is moved only once it
    // falls half the grace behind, so a busy key writes one row per flush, not two: its state is still kept
    // at least half the grace past its full reset.
    const expiresAt = Date.now() + decision.resetMs + IDLE_GRACE_MS;
    const current = this.#read<number>("expiresAt") ?? 0;
    if (expiresAt > current + IDLE_GRACE_MS / 2) {
      this.#unwritten.set("expiresAt", expiresAt);
      if (current === 0) void this.ctx.storage.setAlarm(expiresAt);
    }
    if (this.#flush === undefined && Date.now() - this.#writtenAt >= BATCH_WINDOW_MS) this.#write();
    else await (this.#flush ??= this.#scheduleFlush());
  }

  #read<T>(key: string): T | undefined {
    return this.#unwritten.has(key) ? (this.#unwritten.get(key) as T) : this.ctx.storage.kv.get<T>(key);
  }

  /** Writes the unwritten rows (synchronous SQLite statements in the runtime's implicit transaction). */
  #write(): void {
    const kv = this.ctx.storage.kv;
    for (const [key, value] of this.#unwritten) kv.put(key, value);
    this.#unwritten.clear();
    this.#writtenAt = Date.now();
  }

  /**
   * Writes the unwritten rows after one timer turn, so the decisions of requests already waiting for the
   * object join this commit. The writes are synchronous SQLite statements in one implicit transaction; the
   * runtime commits it right after and holds every answer given meanwhile until the commit is durable.
   */
  #scheduleFlush(): Promise<void> {
    return new Promise<void>((resolve, reject) =>
      setTimeout(() => {
        this.#flush = undefined;
        try {
          this.#write();
          resolve();
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      }, 0),
    );
  }
}
