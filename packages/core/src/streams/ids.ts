/** Stream ids as Redis writes them: milliseconds, a dash, a sequence number. */
export const STREAM_ID = /^\d{1,20}-\d{1,20}$/;

/**
 * Splits a stream id (`<ms>-<seq>`) into its two numbers.
 * @example splitStreamId("1700000000000-3") // { ms: 1700000000000, seq: 3 }
 */
export function splitStreamId(streamId: string): { ms: number; seq: number } {
  const [ms = "0", seq = "0"] = streamId.split("-");
  return { ms: Number(ms), seq: Number(seq) };
}

/**
 * The time part of a stream id, without splitting it (a consumer reads it for every event it delivers).
 * @example streamIdMs("1700000000000-3") // 1700000000000
 */
export function streamIdMs(streamId: string): number {
  const dash = streamId.indexOf("-");
  return Number(dash === -1 ? streamId : streamId.slice(0, dash));
}

/**
 * Orders two stream ids as Redis does: negative when `a` comes first, positive when `b` does, 0 when equal.
 * @example ["2-0", "1-5"].sort(compareStreamIds) // ["1-5", "2-0"]
 */
export function compareStreamIds(a: string, b: string): number {
  const x = splitStreamId(a);
  const y = splitStreamId(b);
  return x.ms - y.ms || x.seq - y.seq;
}

/**
 * Whether stream id `a` comes before `b`.
 * @example isBefore("1-5", "2-0") // true
 */
export function isBefore(a: string, b: string): boolean {
  return compareStreamIds(a, b) < 0;
}
