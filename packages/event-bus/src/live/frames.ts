import { HttpProblem, STREAM_ID } from "@foundation/core";

/** What a live listener receives: events of these types (exact, or a prefix ending in `*`) and this subject. */
export interface LiveFilter {
  types?: readonly string[];
  subject?: string;
}

/** Most type patterns one listener may give. */
export const MAX_TYPE_FILTERS = 20;

/**
 * Parses the `type` query (comma-separated types, each exact or a prefix ending in `*`) and `subject`.
 * @example parseFilter("ai.response.*,ai.error", undefined) // { types: ["ai.response.*", "ai.error"] }
 */
export function parseFilter(type: string | undefined, subject: string | undefined): LiveFilter {
  const types = (type ?? "")
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t !== "");
  if (types.length > MAX_TYPE_FILTERS) {
    throw new HttpProblem(400, { slug: "invalid-filter", detail: `At most ${MAX_TYPE_FILTERS} types may be given; got ${types.length}.` });
  }
  for (const t of types) {
    if (t.length > 256 || /[\s*]/.test(t.slice(0, -1))) {
      throw new HttpProblem(400, { slug: "invalid-filter", detail: `"${t.slice(0, 64)}" is not a type or a type prefix ending in "*".` });
    }
  }
  return { ...(types.length > 0 ? { types } : {}), ...(subject ? { subject } : {}) };
}

/** Whether an event with this `type` and `subject` passes the filter. */
export function matchesFilter(filter: LiveFilter, type: unknown, subject: unknown): boolean {
  if (filter.subject !== undefined && subject !== filter.subject) return false;
  if (!filter.types) return true;
  if (typeof type !== "string") return false;
  return filter.types.some((t) => (t.endsWith("*") ? type.startsWith(t.slice(0, -1)) : type === t));
}

/**
 * Where a listener resumes: the `Last-Event-ID` header an `EventSource` sends on reconnecting, else the
 * `lastEventId` query (a new `EventSource` or a WebSocket cannot set headers). A malformed id is a 400, never a
 * silent restart from "now".
 * @example resumeAfter("1700000000000-0", undefined) // "1700000000000-0"
 */
export function resumeAfter(header: string | undefined, query: string | undefined): string | undefined {
  const id = header?.trim() || query?.trim() || undefined;
  if (id !== undefined && !STREAM_ID.test(id)) {
    throw new HttpProblem(400, {
      slug: "invalid-last-event-id",
      detail: "Last-Event-ID must be a stream id (`<ms>-<seq>`) this endpoint sent as an event's `id`.",
    });
  }
  return id;
}

/**
 * One event as a Server-Sent Events frame: `id:` is the stream id (what `Last-Event-ID` resumes from), `data:` the
 * CloudEvent as JSON on one line (the JSON the bus stored has no raw newlines).
 */
export function sseFrame(streamId: string, json: string): string {
  return `id: ${streamId}\ndata: ${json}\n\n`;
}

/** An SSE comment line: keeps proxies from closing an idle connection, and is ignored by `EventSource`. */
export function sseHeartbeat(now: number): string {
  return `: heartbeat ${now}\n\n`;
}

/** The SSE frame sent before the server closes a connection: an `event: close` whose data says why. */
export function sseClose(reason: CloseReason): string {
  return `event: close\ndata: ${JSON.stringify({ code: CLOSE_CODES[reason], reason })}\n\n`;
}

/** One event as a WebSocket text message: `{"id": <stream id>, "event": <CloudEvent>}`. */
export function wsFrame(streamId: string, json: string): string {
  return `{"id":${JSON.stringify(streamId)},"event":${json}}`;
}

/** The batched message of each frame list: every batched listener of one read shares the list, and so the string. */
const batched = new WeakMap<readonly string[], string>();

/**
 * Several events as one WebSocket message: a JSON array of `{"id", "event"}` in stream order (for a listener that
 * asked for `batch`). A list sent to many listeners is joined once.
 * @example batchMessage([wsFrame("1-0", "{}"), wsFrame("1-1", "{}")]) // '[{"id":"1-0","event":{}},{"id":"1-1","event":{}}]'
 */
export function batchMessage(frames: readonly string[]): string {
  let message = batched.get(frames);
  if (message === undefined) {
    message = `[${frames.join(",")}]`;
    batched.set(frames, message);
  }
  return message;
}

/** Why the server ends a live connection. */
export type CloseReason = "slow-consumer" | "server-restart";

/** WebSocket close codes (4000–4999 are the application's own) for each reason; SSE sends the same in `event: close`. */
export const CLOSE_CODES: Record<CloseReason, number> = {
  "slow-consumer": 4008,
  "server-restart": 1012,
};

/** Bytes every listener of one object has outstanding together: the object's memory, whatever each one's share. */
export class SendPool {
  outstanding = 0;
  constructor(readonly limit: number) {}

  /** Past the limit: the object sheds its worst listeners until it is not. */
  get over(): boolean {
    return this.outstanding > this.limit;
  }
}

/**
 * Which listeners to drop when the pool is over its limit: those holding the most unread bytes, until the rest fit,
 * but none holding less than `floor`. Below it a listener is only as far behind as one fan-out of a busy stream to
 * many listeners puts everyone (1,000 listeners at 1,000 events/s hold about 20 MB between two reads), which is the
 * cost of the fan-out, not a slow consumer.
 * @example shedding([{ budget: a }, { budget: b }], pool, 512 * 1024) // [{ budget: a }] when a holds the most
 */
export function shedding<T extends { budget: SendBudget }>(listeners: Iterable<T>, pool: SendPool, floor: number): T[] {
  if (!pool.over) return [];
  const heavy = [...listeners].filter((l) => l.budget.outstanding >= floor).sort((a, b) => b.budget.outstanding - a.budget.outstanding);
  const drop: T[] = [];
  let outstanding = pool.outstanding;
  for (const l of heavy) {
    if (outstanding <= pool.limit) break;
    drop.push(l);
    outstanding -= l.budget.outstanding;
  }
  return drop;
}

/**
 * Bytes sent to a listener that it has not taken yet. For SSE these are the writes the response stream has not
 * consumed; for a WebSocket (workerd has no `bufferedAmount`) the bytes sent since the client last sent anything.
 * Past the limit the listener is dropped with `slow-consumer` instead of growing the object's memory. A budget in a
 * {@link SendPool} counts its bytes there too, so that many listeners each under their limit cannot together hold
 * more than the pool's.
 */
export class SendBudget {
  #outstanding = 0;
  constructor(
    readonly limit: number,
    readonly pool?: SendPool,
  ) {}

  get outstanding(): number {
    return this.#outstanding;
  }
  /** Counts `bytes` more as sent; false when they take the listener past its limit. */
  spend(bytes: number): boolean {
    this.#outstanding += bytes;
    if (this.pool) this.pool.outstanding += bytes;
    return this.#outstanding <= this.limit;
  }
  /** The listener took `bytes` (an SSE write completed). */
  settle(bytes: number): void {
    const taken = Math.min(bytes, this.#outstanding);
    this.#outstanding -= taken;
    if (this.pool) this.pool.outstanding -= taken;
  }
  /** The listener proved it keeps up (a WebSocket client sent something), or is gone: nothing is outstanding. */
  reset(): void {
    this.settle(this.#outstanding);
  }
}
