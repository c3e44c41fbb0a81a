/** Longest wait a `Retry-After` may ask for; a longer one is capped (an hour). */
export const MAX_RETRY_AFTER_MS = 3_600_000;

/**
 * A `Retry-After` value in milliseconds: delay-seconds or an HTTP date, capped at {@link MAX_RETRY_AFTER_MS};
 * undefined when absent or unreadable.
 * @example retryAfterMs("2", Date.now()) // 2000
 */
export function retryAfterMs(header: string | null | undefined, nowMs: number): number | undefined {
  if (!header) return undefined;
  const value = header.trim();
  let ms: number;
  if (/^\d+$/.test(value)) ms = Number(value) * 1000;
  else {
    const at = Date.parse(value);
    if (Number.isNaN(at)) return undefined;
    ms = at - nowMs;
  }
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
}
