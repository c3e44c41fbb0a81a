import {
  acquire,
  admitsAt,
  closedBreaker,
  record,
  settleBreaker,
  type BreakerPolicy,
  type BreakerState,
  type BreakerStateName,
  type BreakerTicket,
} from "./circuit-breaker.ts";
import { ejectionBudget, HEALTHY, isEjected, recordOutcome, type OutlierPolicy, type OutlierState } from "./outlier-detection.ts";
import { roundRobin } from "./round-robin.ts";

/** The policies a pool applies to each of its instances. */
export interface PoolPolicy {
  breaker: BreakerPolicy;
  outlier: OutlierPolicy;
}

/** Something a pool routes to, named by a key that stays the same while it is registered (its address). */
export interface Upstream {
  key: string;
}

/** A call on its way to an instance; its outcome is reported with it. */
export interface Lease {
  key: string;
  ticket: BreakerTicket;
}

/** A change of an instance's breaker or ejection, for metrics and logs. */
export type PoolEvent =
  | { kind: "breaker"; key: string; from: BreakerStateName; to: BreakerStateName }
  | { kind: "ejected"; key: string; until: number; ejections: number };

/** The outcome of {@link UpstreamPool.pick}: an instance and its lease, or when one may be available again. */
export type PickResult<T> = { target: T; lease: Lease; events: PoolEvent[] } | { target: null; retryAt: number; events: PoolEvent[] };

interface InstanceState {
  breaker: BreakerState;
  outlier: OutlierState;
}

const NONE: ReadonlySet<string> = new Set();

/**
 * The routing state of one service's instances: round-robin over those not ejected and whose breaker
 * admits a call. Time is passed to every call; the state is plain data the caller keeps (the gateway keeps
 * one pool per service per isolate, as Envoy keeps one per host per worker thread).
 * @example
 * const pool = new UpstreamPool({ breaker: DEFAULT_BREAKER_POLICY, outlier: DEFAULT_OUTLIER_POLICY });
 * const pick = pool.pick(instances, Date.now());
 * if (pick.target) pool.report(pick.lease, res.status >= 500, Date.now());
 */
export class UpstreamPool {
  private cursor = 0;
  private size = 0;
  private readonly instances = new Map<string, InstanceState>();

  constructor(readonly policy: PoolPolicy) {}

  /**
   * The next instance of `targets` in round-robin order that is not in `exclude`, not ejected and whose
   * breaker admits a call at `now`; else, when the earliest of them may take a call again.
   */
  pick<T extends Upstream>(targets: readonly T[], now: number, exclude: ReadonlySet<string> = NONE): PickResult<T> {
    this.forgetAllBut(targets);
    const events: PoolEvent[] = [];
    const admitted: { ticket: BreakerTicket | null } = { ticket: null };
    const slot = roundRobin(this.cursor, targets.length, (i) => {
      const key = (targets[i] as T).key;
      if (exclude.has(key)) return false;
      const state = this.stateOf(key);
      if (isEjected(state.outlier, now)) return false;
      const { state: breaker, ticket } = acquire(state.breaker, now, this.policy.breaker);
      this.setBreaker(key, state, breaker, events);
      admitted.ticket = ticket;
      return ticket !== null;
    });
    const target = targets[slot];
    const ticket = admitted.ticket;
    if (target && ticket) {
      this.cursor = slot + 1;
      return { target, lease: { key: target.key, ticket }, events };
    }
    return { target: null, retryAt: this.availableAt(targets, now, exclude), events };
  }

  /** Records the outcome of the call under `lease` at `now`: `failed` for a 5xx, a connection failure or a timeout. */
  report(lease: Lease, failed: boolean, now: number): PoolEvent[] {
    const state = this.instances.get(lease.key);
    if (!state) return [];
    const events: PoolEvent[] = [];
    this.setBreaker(lease.key, state, record(state.breaker, lease.ticket, failed, now, this.policy.breaker), events);
    const mayEject = this.ejectedCount(now) < ejectionBudget(this.size, this.policy.outlier);
    const outlier = recordOutcome(state.outlier, failed, now, this.policy.outlier, mayEject);
    if (outlier.ejectedUntil !== state.outlier.ejectedUntil && outlier.ejectedUntil !== null) {
      events.push({ kind: "ejected", key: lease.key, until: outlier.ejectedUntil, ejections: outlier.ejections });
    }
    state.outlier = outlier;
    return events;
  }

  /** The breaker state and ejection of one instance at `now` (closed and not ejected when never seen). */
  inspect(key: string, now: number): { breaker: BreakerStateName; ejected: boolean } {
    const state = this.instances.get(key);
    if (!state) return { breaker: "closed", ejected: false };
    return { breaker: settleBreaker(state.breaker, now, this.policy.breaker).kind, ejected: isEjected(state.outlier, now) };
  }

  private stateOf(key: string): InstanceState {
    let state = this.instances.get(key);
    if (!state) {
      state = { breaker: closedBreaker(), outlier: HEALTHY };
      this.instances.set(key, state);
    }
    return state;
  }

  private setBreaker(key: string, state: InstanceState, next: BreakerState, events: PoolEvent[]): void {
    if (next.kind !== state.breaker.kind) events.push({ kind: "breaker", key, from: state.breaker.kind, to: next.kind });
    state.breaker = next;
  }

  /** Drops the state of instances that left the service (deregistered, or no longer passing). */
  private forgetAllBut(targets: readonly Upstream[]): void {
    this.size = targets.length;
    if (this.instances.size <= targets.length) return;
    const keep = new Set(targets.map((t) => t.key));
    for (const key of this.instances.keys()) if (!keep.has(key)) this.instances.delete(key);
  }

  private ejectedCount(now: number): number {
    let n = 0;
    for (const s of this.instances.values()) if (isEjected(s.outlier, now)) n++;
    return n;
  }

  private availableAt(targets: readonly Upstream[], now: number, exclude: ReadonlySet<string>): number {
    let at = Number.POSITIVE_INFINITY;
    for (const { key } of targets) {
      if (exclude.has(key)) continue;
      const state = this.stateOf(key);
      const back = isEjected(state.outlier, now) ? (state.outlier.ejectedUntil ?? now) : now;
      at = Math.min(at, Math.max(back, admitsAt(state.breaker, now, this.policy.breaker)));
    }
    return Number.isFinite(at) ? at : now;
  }
}
