/**
 * When the registry writes its outbox through to Postgres. Registrations, status changes and
 * deregistrations are written within {@link URGENT_FLUSH_MS} (a group-commit window: a burst of them
 * becomes one transaction, and the object's alarm is not re-armed on every change); a heartbeat that
 * changes nothing but the time is coalesced for {@link LAZY_FLUSH_MS}, so a busy service costs one write
 * per instance per few seconds, not one per heartbeat. After a failed write the next attempt waits
 * {@link retryDelayMs}; nothing is ever dropped.
 */

/** How long a registration, status change or deregistration may wait in the outbox before it is written. */
export const URGENT_FLUSH_MS = 100;

/** How long a heartbeat-only change may wait in the outbox before it is written. */
export const LAZY_FLUSH_MS = 5_000;
/** Longest wait between two write attempts while Postgres is unreachable. */
export const MAX_RETRY_DELAY_MS = 60_000;

/** What the outbox holds, as far as scheduling is concerned. */
export interface OutboxState {
  /** When the oldest entry that must be written at once was queued, or null. */
  oldestUrgentAt: number | null;
  /** When the oldest coalescible entry was queued, or null. */
  oldestLazyAt: number | null;
  /** Consecutive failed writes. */
  failures: number;
  /** When the next attempt is due after a failure, or null. */
  retryAt: number | null;
}

/**
 * Delay before the next write attempt after `failures` consecutive failures: 1 s, 2 s, 4 s… up to 60 s.
 * @example retryDelayMs(3) // 4000
 */
export function retryDelayMs(failures: number): number {
  if (failures <= 0) return 0;
  return Math.min(MAX_RETRY_DELAY_MS, 1000 * 2 ** Math.min(failures - 1, 16));
}

/**
 * When the outbox wants the next write attempt, or null when it is empty: after a failure, at the retry
 * time; otherwise {@link URGENT_FLUSH_MS} after the oldest urgent entry and {@link LAZY_FLUSH_MS} after
 * the oldest coalescible one, whichever comes first.
 * @example outboxWakeAt({ oldestUrgentAt: null, oldestLazyAt: 1000, failures: 0, retryAt: null }) // 6000
 */
export function outboxWakeAt(s: OutboxState): number | null {
  if (s.oldestUrgentAt === null && s.oldestLazyAt === null) return null;
  if (s.failures > 0 && s.retryAt !== null) return s.retryAt;
  const urgent = s.oldestUrgentAt === null ? Number.POSITIVE_INFINITY : s.oldestUrgentAt + URGENT_FLUSH_MS;
  const lazy = s.oldestLazyAt === null ? Number.POSITIVE_INFINITY : s.oldestLazyAt + LAZY_FLUSH_MS;
  return Math.min(urgent, lazy);
}

/** The earliest of several wake-up times, ignoring the ones that are not wanted (null). */
export function earliest(...times: (number | null)[]): number | null {
  let min: number | null = null;
  for (const t of times) if (t !== null && (min === null || t < min)) min = t;
  return min;
}
