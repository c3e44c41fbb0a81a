import type { Paused } from "./types.ts";

/** Days a subscription stays paused after its target answered 410 Gone; then it is deleted. */
export const SUBSCRIPTION_GONE_RETENTION_DAYS = 30;

const GONE_RETENTION_MS = SUBSCRIPTION_GONE_RETENTION_DAYS * 24 * 60 * 60 * 1000;

/**
 * When the subscription of a paused consumer is deleted: {@link SUBSCRIPTION_GONE_RETENTION_DAYS} after its target
 * answered 410 Gone; never (null) when an operator paused it.
 * @example goneExpiresAt({ reason: "the subscriber answered 410 Gone", at: 0, gone: true }) // 2592000000
 */
export function goneExpiresAt(paused: Paused): number | null {
  return paused.gone ? paused.at + GONE_RETENTION_MS : null;
}

/**
 * Whether a paused consumer's subscription is due for deletion at `now`.
 * @example goneExpired(paused, Date.now())
 */
export function goneExpired(paused: Paused, now: number): boolean {
  const expiresAt = goneExpiresAt(paused);
  return expiresAt !== null && now >= expiresAt;
}
