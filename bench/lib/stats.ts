/** Pure statistics over repeated measurements. */

/**
 * The median of `values`: the middle value, or the mean of the two middle values for an even count.
 * @example median([3, 1, 2]) // 2
 */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error("median of an empty list");
  if (values.some((v) => !Number.isFinite(v))) throw new Error(`median of non-finite values: ${values.join(", ")}`);
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const upper = sorted[mid] as number;
  return sorted.length % 2 === 1 ? upper : ((sorted[mid - 1] as number) + upper) / 2;
}

/**
 * `value / baseline`, or undefined when the baseline cannot be divided by (zero, negative, not finite).
 * @example ratio(1000, 4000) // 0.25
 */
export function ratio(value: number, baseline: number): number | undefined {
  if (!Number.isFinite(value) || !Number.isFinite(baseline) || baseline <= 0) return undefined;
  return value / baseline;
}

/**
 * Rounds to a fixed number of decimals without binary noise in the output.
 * @example roundTo(1.23456, 2) // 1.23
 */
export function roundTo(value: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(value * f) / f;
}
