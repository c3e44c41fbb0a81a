import { rawEntries } from "../replay.ts";
import { sseFrame, wsFrame } from "./frames.ts";

/** An entry of the stream, parsed once per read and framed once for every listener. */
export interface Item {
  streamId: string;
  type: unknown;
  subject: unknown;
  sse: string;
  ws: string;
}

/** A 429 the gateway turns into a problem: this object serves as many connections as it may. */
export function refused(limit: number, per: "stream" | "subject"): Response {
  return Response.json({ refused: "too-many-connections", limit, per }, { status: 429 });
}

/** The id of the last entry of a raw XRANGE/XREVRANGE reply (the first one for XREVRANGE). */
export function rawLastId(reply: unknown, last = false): string | undefined {
  if (!Array.isArray(reply) || reply.length === 0) return undefined;
  const entry: unknown = last ? reply[reply.length - 1] : reply[0];
  return Array.isArray(entry) && typeof entry[0] === "string" ? entry[0] : undefined;
}

/** The bus's events of a raw XRANGE reply, each parsed and framed once; entries a redrive wrote for one group are not events of the stream. */
export function parseItems(reply: unknown): Item[] {
  const items: Item[] = [];
  for (const entry of rawEntries(reply)) {
    if (entry.group !== undefined) continue;
    let event: { type?: unknown; subject?: unknown } | undefined;
    try {
      const v = JSON.parse(entry.json) as { type?: unknown; subject?: unknown } | null;
      event = v !== null && typeof v === "object" ? v : undefined;
    } catch {
      event = undefined;
    }
    if (!event) continue;
    items.push({
      streamId: entry.streamId,
      type: event.type,
      subject: event.subject,
      sse: sseFrame(entry.streamId, entry.json),
      ws: wsFrame(entry.streamId, entry.json),
    });
  }
  return items;
}
