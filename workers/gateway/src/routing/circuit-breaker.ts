/**
 * A circuit breaker per upstream instance as a pure state machine (resilience4j's model, time injected):
 *
 *   closed ──failure rate ≥ threshold over ≥ minimumCalls in the rolling window──▶ open
 *   open ──openMs elapsed──▶ half-open, which lets exactly `halfOpenProbes` calls through
 *   half-open ──every probe succeeded──▶ closed
 *   half-open ──a probe failed, or one got no answer within probeTimeoutMs──▶ open
 *
 * Written here rather than taken from npm: opossum and cockatiel keep their state behind timers and
 * `Date.now()`, and let one probe through; the gateway needs state it can hold per isolate between
 * requests, an injected clock, N probes and a deadline on a hung probe.
 */

/** How a breaker judges an instance. */
export interface BreakerPolicy {
  /** Share of failed calls (0–1) in the rolling window that opens the breaker. */
  failureRateThreshold: number;
  /** Calls the rolling window must hold before the failure rate counts. */
  minimumCalls: number;
  /** Length of the rolling window, in ms. */
  windowMs: number;
  /** How long an open breaker refuses every call before it lets probes through, in ms. */
  openMs: number;
  /** Calls let through while half-open; all must succeed to close. */
  halfOpenProbes: number;
  /** A probe with no outcome after this long counts as hung and reopens the breaker, in ms. */
  probeTimeoutMs: number;
}

/** Defaults: open at 50% failures over at least 10 calls in 10 s; probe 3 calls after 5 s. */
export const DEFAULT_BREAKER_POLICY: BreakerPolicy = {
  failureRateThreshold: 0.5,
  minimumCalls: 10,
  windowMs: 10_000,
  openMs: 5_000,
  halfOpenProbes: 3,
  probeTimeoutMs: 10_000,
};

/** The rolling window is kept as this many buckets (resilience4j's partial aggregations), not one entry per call. */
const BUCKETS = 10;

/** Calls and failures of one slice of the rolling window. */
export interface WindowBucket {
  start: number;
  calls: number;
  failures: number;
}

/** The name of a breaker's state. */
export type BreakerStateName = "closed" | "open" | "half-open";

/** A breaker's state. `generation` changes on every transition, so late outcomes of older calls are told apart. */
export type BreakerState =
  | { kind: "closed"; generation: number; window: readonly WindowBucket[] }
  | { kind: "open"; generation: number; until: number }
  | { kind: "half-open"; generation: number; probes: readonly ProbeSlot[]; succeeded: number };

/** A probe let through while half-open: when it started, and whether its outcome is in. */
export interface ProbeSlot {
  startedAt: number;
  done: boolean;
}

/** Handed out with each admitted call; its outcome is reported with it. */
export interface BreakerTicket {
  generation: number;
  /** Index of the probe while half-open, else null. */
  probe: number | null;
}

/** A new breaker: closed, nothing counted. */
export function closedBreaker(generation = 0): BreakerState {
  return { kind: "closed", generation, window: [] };
}

function openBreaker(generation: number, since: number, policy: BreakerPolicy): BreakerState {
  return { kind: "open", generation: generation + 1, until: since + policy.openMs };
}

/**
 * The breaker as time alone leaves it at `now`: an open breaker whose wait is over turns half-open; a
 * half-open one whose probe got no answer within `probeTimeoutMs` reopens, from the moment the probe timed out.
 * @example settleBreaker({ kind: "open", generation: 1, until: 5000 }, 5000, policy).kind // "half-open"
 */
export function settleBreaker(state: BreakerState, now: number, policy: BreakerPolicy): BreakerState {
  if (state.kind === "open") {
    return now >= state.until ? { kind: "half-open", generation: state.generation + 1, probes: [], succeeded: 0 } : state;
  }
  if (state.kind === "half-open") {
    const hung = state.probes.find((p) => !p.done && now >= p.startedAt + policy.probeTimeoutMs);
    if (hung) return settleBreaker(openBreaker(state.generation, hung.startedAt + policy.probeTimeoutMs, policy), now, policy);
  }
  return state;
}

/**
 * Asks to send one call at `now`: closed admits it; open refuses it; half-open admits it as a probe while
 * fewer than `halfOpenProbes` were let through. Returns the state afterwards and a ticket, or null when refused.
 * @example const { state, ticket } = acquire(closedBreaker(), Date.now(), DEFAULT_BREAKER_POLICY);
 */
export function acquire(state: BreakerState, now: number, policy: BreakerPolicy): { state: BreakerState; ticket: BreakerTicket | null } {
  const current = settleBreaker(state, now, policy);
  if (current.kind === "closed") return { state: current, ticket: { generation: current.generation, probe: null } };
  if (current.kind === "open" || current.probes.length >= policy.halfOpenProbes) return { state: current, ticket: null };
  const probes = [...current.probes, { startedAt: now, done: false }];
  return { state: { ...current, probes }, ticket: { generation: current.generation, probe: probes.length - 1 } };
}

/** The window with one more call at `now`, buckets older than `windowMs` dropped. */
function countCall(window: readonly WindowBucket[], now: number, failed: boolean, policy: BreakerPolicy): WindowBucket[] {
  const width = Math.max(1, Math.ceil(policy.windowMs / BUCKETS));
  const start = now - (now % width);
  const kept = window.filter((b) => b.start > now - policy.windowMs && b.start !== start);
  const same = window.find((b) => b.start === start);
  const bucket = { start, calls: (same?.calls ?? 0) + 1, failures: (same?.failures ?? 0) + (failed ? 1 : 0) };
  return [...kept, bucket];
}

/**
 * Records the outcome of the call that got `ticket`, at `now`. An outcome from an earlier generation
 * (a call admitted before the last transition) changes nothing.
 * @example record(state, ticket, true, Date.now(), DEFAULT_BREAKER_POLICY)
 */
export function record(state: BreakerState, ticket: BreakerTicket, failed: boolean, now: number, policy: BreakerPolicy): BreakerState {
  const current = settleBreaker(state, now, policy);
  if (ticket.generation !== current.generation) return current;
  if (current.kind === "closed") {
    const window = countCall(current.window, now, failed, policy);
    const calls = window.reduce((n, b) => n + b.calls, 0);
    const failures = window.reduce((n, b) => n + b.failures, 0);
    if (failed && calls >= policy.minimumCalls && failures / calls >= policy.failureRateThreshold) {
      return openBreaker(current.generation, now, policy);
    }
    return { ...current, window };
  }
  if (current.kind === "open" || ticket.probe === null || current.probes[ticket.probe]?.done !== false) return current;
  if (failed) return openBreaker(current.generation, now, policy);
  const succeeded = current.succeeded + 1;
  if (succeeded >= policy.halfOpenProbes) return closedBreaker(current.generation + 1);
  const probes = current.probes.map((p, i) => (i === ticket.probe ? { ...p, done: true } : p));
  return { ...current, probes, succeeded };
}

/**
 * When the breaker may next admit a call, as of `now`: now while closed or with probes to spare, the end of
 * the wait while open, and while every probe is out, the earliest moment one of them could time out.
 */
export function admitsAt(state: BreakerState, now: number, policy: BreakerPolicy): number {
  const current = settleBreaker(state, now, policy);
  if (current.kind === "closed") return now;
  if (current.kind === "open") return current.until;
  if (current.probes.length < policy.halfOpenProbes) return now;
  const pending = current.probes.filter((p) => !p.done).map((p) => p.startedAt + policy.probeTimeoutMs);
  return pending.length > 0 ? Math.min(...pending) : now;
}
