/**
 * Typed readers of the raw replies Redis gives for stream commands (through Upstash's REST API, with
 * automatic deserialisation off): every reply is checked for its shape here once, so callers never cast.
 */

/** One stream entry: its id and its fields as Redis lists them. */
export interface StreamEntry {
  id: string;
  fields: Record<string, string>;
}

/** One entry of an XPENDING extended reply. */
export interface PendingReply {
  streamId: string;
  consumer: string;
  idleMs: number;
  deliveries: number;
}

/** One group of an XINFO GROUPS reply (the fields a consumer reads). */
export interface GroupInfo {
  name: string;
  pending: number;
  /** Entries not yet read by the group; `null` when Redis cannot tell (after XDEL or XTRIM). */
  lag: number | null;
  lastDeliveredId: string;
}

const isArray = Array.isArray as (v: unknown) => v is unknown[];

/**
 * Reads a flat `[field, value, field, value, ...]` array (a stream entry's fields, an XINFO reply) into an
 * object; a trailing field without a value is dropped.
 * @example fieldMap(["type", "created", "n", "2"]) // { type: "created", n: "2" }
 */
export function fieldMap(flat: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isArray(flat)) return out;
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = String(flat[i + 1]);
  return out;
}

/**
 * Reads an XRANGE, XREVRANGE or XCLAIM reply (`[[id, [field, value, ...]], ...]`); anything not shaped like an
 * entry (a deleted entry XCLAIM answers as nil) is skipped.
 * @example streamEntries(await redis.xrange("orders", "-", "+", 10))
 */
export function streamEntries(raw: unknown): StreamEntry[] {
  if (!isArray(raw)) return [];
  const out: StreamEntry[] = [];
  for (const entry of raw) {
    if (isArray(entry) && typeof entry[0] === "string" && isArray(entry[1])) out.push({ id: entry[0], fields: fieldMap(entry[1]) });
  }
  return out;
}

/**
 * The value of one field of each entry, without building the field maps: what an event consumer needs from
 * every entry it reads (the `event` field), on its hot path. Entries without the field are skipped.
 * @example entryField(await redis.xrange("orders", "-", "+"), "event") // [{ id: "1-0", value: "{...}" }]
 */
export function entryField(raw: unknown, field: string): Array<{ id: string; value: string }> {
  if (!isArray(raw)) return [];
  const out: Array<{ id: string; value: string }> = [];
  for (const entry of raw) {
    if (!isArray(entry) || typeof entry[0] !== "string" || !isArray(entry[1])) continue;
    const fields = entry[1];
    const i = fields.indexOf(field);
    const value = i >= 0 && i % 2 === 0 ? fields[i + 1] : undefined;
    if (typeof value === "string") out.push({ id: entry[0], value });
  }
  return out;
}

/**
 * The raw entry list of the one stream an XREADGROUP of a single stream answered (`[[stream, entries]]`, or null
 * when there was nothing new), for a reader such as {@link entryField}.
 * @example entryField(readGroupEntries(await redis.xreadgroup("g", "c", "orders", ">", { count: 10 })), "event")
 */
export function readGroupEntries(raw: unknown): unknown[] {
  if (!isArray(raw) || !isArray(raw[0]) || !isArray(raw[0][1])) return [];
  return raw[0][1];
}

/**
 * Reads an extended XPENDING reply (`[[id, consumer, idleMs, deliveries], ...]`).
 * @example pendingEntries(await redis.xpending("orders", "billing", "-", "+", 100))
 */
export function pendingEntries(raw: unknown): PendingReply[] {
  if (!isArray(raw)) return [];
  const out: PendingReply[] = [];
  for (const p of raw) {
    if (!isArray(p) || typeof p[0] !== "string") continue;
    out.push({ streamId: p[0], consumer: String(p[1]), idleMs: Number(p[2]), deliveries: Number(p[3]) });
  }
  return out;
}

/**
 * Reads an XINFO GROUPS reply (a list of flat field arrays).
 * @example groupInfos(await redis.xinfo("orders", { type: "GROUPS" })).find((g) => g.name === "billing")
 */
export function groupInfos(raw: unknown): GroupInfo[] {
  if (!isArray(raw)) return [];
  return raw.map((flat) => {
    const raw: Record<string, unknown> = {};
    if (isArray(flat)) for (let i = 0; i + 1 < flat.length; i += 2) raw[String(flat[i])] = flat[i + 1];
    const lag = raw.lag === null || raw.lag === undefined ? null : Number(raw.lag);
    return {
      name: typeof raw.name === "string" ? raw.name : "",
      pending: Number(raw.pending ?? 0),
      lag: lag === null || Number.isNaN(lag) ? null : lag,
      lastDeliveredId: typeof raw["last-delivered-id"] === "string" ? raw["last-delivered-id"] : "",
    };
  });
}
