/**
 * W3C Trace Context (`traceparent`): one trace id across the gateway, the services, publishes and deliveries.
 * Each hop keeps the trace id and names itself with a span id of its own.
 */

/** A parsed `traceparent`: version 00, trace id, parent (span) id, flags. */
export interface TraceParent {
  traceId: string;
  spanId: string;
  flags: string;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZEROS = /^0+$/;

/**
 * Reads a `traceparent` header, or undefined when it is absent or invalid (an all-zero id is invalid).
 * @example parseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")?.traceId
 */
export function parseTraceparent(header: string | null | undefined): TraceParent | undefined {
  const m = TRACEPARENT.exec(header?.trim().toLowerCase() ?? "");
  if (!m?.[1] || !m[2] || !m[3] || ZEROS.test(m[1]) || ZEROS.test(m[2])) return undefined;
  return { traceId: m[1], spanId: m[2], flags: m[3] };
}

/** A `traceparent` header's text. */
export function formatTraceparent(t: TraceParent): string {
  return `00-${t.traceId}-${t.spanId}-${t.flags}`;
}

/** Two hex digits of every byte value, so an id costs one lookup per byte instead of a string conversion and padding. */
const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

function randomHex(bytes: number): string {
  let hex = "";
  for (const b of crypto.getRandomValues(new Uint8Array(bytes))) hex += HEX[b] as string;
  return hex;
}

/**
 * This hop's span in the caller's trace: the trace id and flags continued from `incoming` with a new span id, or a
 * new sampled trace when there is none to continue.
 * @example const span = childSpan(parseTraceparent(req.headers.get("traceparent")));
 */
export function childSpan(incoming: TraceParent | undefined): TraceParent {
  return { traceId: incoming?.traceId ?? randomHex(16), spanId: randomHex(8), flags: incoming?.flags ?? "01" };
}
