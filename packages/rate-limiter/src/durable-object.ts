import { DurableObject } from "cloudflare:workers";
import { decide, type Decided, type Decision, type LimiterState } from "./algorithms/index.ts";
import { coveredUnits, headroomFor, storeAhead } from "./headroom.ts";
import { leaseEnd, type Lease } from "./leases.ts";
import type { Policy } from "./policy.ts";

/** Extra time an idle key's state is kept after it has fully reset, before the alarm deletes it. */
const IDLE_GRACE_MS = 60_000;
/** A decision within this long of the last write waits one timer turn to share the next commit; later ones write at once. */
const BATCH_WINDOW_MS = 2;
/** A key that has taken no decision for this long writes its exact state in place of the headroom it stored. */
const SETTLE_AFTER_MS = 500;

/**
 * One rate-limit key. Decisions are computed synchronously on the key's exact state in memory, so concurrent
 * requests to one key are serialised and exact, and no answer leaves before storage counts what it admitted.
 *
 * Writes are few under load, in two ways:
 * - Write-ahead headroom (`headroom.ts`): a key with a large limit stores its state with a few units more spent
 *   than it admitted (about 100 ms of its traffic, at most 0.1 % of the limit), and answers admissions those
 *   units cover without writing. A crash may make the key refuse up to that headroom early, in that window;
 *   it never admits more than the limit. When the key goes quiet for {@link SETTLE_AFTER_MS}, it writes its
 *   exact state. Keys under 10,000 per window write every admission.
 * - Group commit: a write due within {@link BATCH_WINDOW_MS} of the last one waits one timer turn, so the
 *   requests already queued for the object are decided too, and one storage transaction writes them all; the
 *   output gate holds every answer until that commit is durable. One commit (one fsync locally, one
 *   replicated write in production) then covers many decisions, while a key that is not busy writes at once.
 *
 * A crash before a commit loses only decisions nobody was told. An alarm deletes the key's state once it has
 * been idle long enough to be back at full quota.
 */
export class RateLimiter extends DurableObject {
  /** The exact state per algorithm; storage holds it or a state that counts more (see the class comment). */
  readonly #truth = new Map<string, LimiterState>();
  /** Rows changed since the last flush (storage key → value); they are what storage holds once written. */
  readonly #unwritten = new Map<string, unknown>();
  /** Rows as this object last wrote or read them, so a decision reads no SQLite. */
  readonly #stored = new Map<string, unknown>();
  /** The next flush, shared by every decision taken since the last one. */
  #flush: Promise<void> | undefined;
  /** When rows were last written (real clock). */
  #writtenAt = 0;
  /** Units admitted since the last write that stored headroom, and when it was (real clock): its rate sizes the next. */
  #sinceHeadroom = { units: 0, at: 0 };
  /** When the last decision was taken (real clock), and the timer that writes the exact state once the key is quiet. */
  #decidedAt = 0;
  #settleTimer: ReturnType<typeof setTimeout> | undefined;

  /** Applies `policy` to this key; `now` is injectable for tests and defaults to the clock. */
  async check(policy: Policy, cost = 1, now: number = Date.now()): Promise<Decision> {
    const truth = this.#truthOf(policy.algorithm);
    const result = decide(truth, now, policy, cost);
    await this.#record(policy, truth, result, result.decision.allowed ? cost : 0, now);
    return result.decision;
  }

  /**
   * Grants an isolate's lease (see `leases.ts`): `want` units when the quota has room for them, else all that is
   * left if that covers the request's `cost`, else nothing (`granted` 0) and the refusal of `cost`. The units are
   * counted as spent now; the isolate may spend them for `leaseMs` from when it asked (a duration, not a time:
   * the isolate's clock need not agree with this object's).
   */
  async reserve(policy: Policy, want: number, cost = 1, now: number = Date.now()): Promise<Lease> {
    const truth = this.#truthOf(policy.algorithm);
    let granted = Math.min(policy.limit, Math.max(want, cost));
    let result = decide(truth, now, policy, granted);
    if (!result.decision.allowed) {
      granted = result.decision.remaining;
      if (granted >= cost) result = decide(truth, now, policy, granted);
      if (granted < cost || !result.decision.allowed) {
        granted = 0;
        result = decide(truth, now, policy, cost);
      }
    }
    await this.#record(policy, truth, result, granted, now);
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
    this.#truth.clear();
    this.#stored.clear();
  }

  /**
   * Makes a decision's new state the truth and returns once storage counts the `admitted` units: at once when
   * stored headroom already covers them, else after writing the state (with new headroom when the decision
   * admitted something).
   */
  async #record(
    policy: Policy,
    before: LimiterState | undefined,
    { decision, state }: Decided,
    admitted: number,
    now: number,
  ): Promise<void> {
    this.#truth.set(policy.algorithm, state);
    this.#decidedAt = Date.now();
    this.#sinceHeadroom.units += admitted;
    if (admitted > 0 && coveredUnits(this.#read<LimiterState>(policy.algorithm), before, now, policy) >= admitted) {
      this.#settleWhenQuiet();
      // The write that stored this headroom may still be waiting for its flush; once it is issued, the output
      // gate holds this answer until it is durable.
      await this.#flush;
      return;
    }
    const stored = admitted > 0 ? this.#withHeadroom(policy, { decision, state }, now) : { decision, state };
    await this.#store(policy, stored.decision, stored.state);
  }

  /** The result to store for an admission: `result` with the next headroom (see `headroom.ts`). */
  #withHeadroom(policy: Policy, result: Decided, now: number): Decided {
    const clock = Date.now();
    const headroom = headroomFor(policy, this.#sinceHeadroom.units, clock - this.#sinceHeadroom.at);
    if (headroom > 0) this.#sinceHeadroom = { units: 0, at: clock };
    return storeAhead(result, now, policy, headroom);
  }

  /** Writes the exact state once no decision has come for {@link SETTLE_AFTER_MS}, so an idle key stores no headroom. */
  #settleWhenQuiet(): void {
    if (this.#settleTimer !== undefined) return;
    const settle = () => {
      const quietFor = Date.now() - this.#decidedAt;
      if (quietFor < SETTLE_AFTER_MS) {
        this.#settleTimer = setTimeout(settle, SETTLE_AFTER_MS - quietFor);
        return;
      }
      this.#settleTimer = undefined;
      for (const [algorithm, state] of this.#truth) {
        if (this.#read<LimiterState>(algorithm) !== state) this.#unwritten.set(algorithm, state);
      }
      if (this.#unwritten.size > 0 && this.#flush === undefined) this.#write();
    };
    this.#settleTimer = setTimeout(settle, SETTLE_AFTER_MS);
  }

  /** Records a state to store and returns once it is written (see the class comment for when). */
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

  /** The exact state of `algorithm`: in memory, or what storage holds after the object (re)started. */
  #truthOf(algorithm: string): LimiterState | undefined {
    return this.#truth.get(algorithm) ?? this.#read<LimiterState>(algorithm);
  }

  /** What storage holds, or will once the pending flush writes it. */
  #read<T>(key: string): T | undefined {
    if (this.#unwritten.has(key)) return this.#unwritten.get(key) as T;
    if (!this.#stored.has(key)) this.#stored.set(key, this.ctx.storage.kv.get(key));
    return this.#stored.get(key) as T | undefined;
  }

  /** Writes the unwritten rows (synchronous SQLite statements in the runtime's implicit transaction). */
  #write(): void {
    const kv = this.ctx.storage.kv;
    for (const [key, value] of this.#unwritten) {
      kv.put(key, value);
      this.#stored.set(key, value);
    }
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
