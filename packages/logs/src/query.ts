import { z } from "zod";
import { LEVELS, type Level } from "./entry.ts";

/** Most lines one page of `GET /api/foundation/logs` answers. */
export const MAX_PAGE = 500;
/** Lines one page answers when `limit` is not given. */
export const DEFAULT_PAGE = 100;

/** A position in the newest-first order: the last line of a page. */
export interface Cursor {
  ts: number;
  id: number;
}

/** The cursor as the API shows it: opaque, URL-safe. */
export function encodeCursor(cursor: Cursor): string {
  return btoa(`${cursor.ts}.${cursor.id}`).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

/** The cursor `encodeCursor` made, or undefined for anything else. */
export function decodeCursor(text: string): Cursor | undefined {
  let plain: string;
  try {
    plain = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  } catch {
    return undefined;
  }
  const m = /^(\d{1,15})\.(\d{1,18})$/.exec(plain);
  if (!m) return undefined;
  const ts = Number(m[1]);
  const id = Number(m[2]);
  return Number.isSafeInteger(ts) && Number.isSafeInteger(id) ? { ts, id } : undefined;
}

const time = z.iso
  .datetime({ offset: true })
  .transform((s) => Date.parse(s))
  .describe("ISO 8601 date-time, e.g. 2026-12-01T10:00:00Z");

/** The query of `GET /api/foundation/logs`, parsed: filters, time range and page. */
export const LogQuery = z
  .object({
    service: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/)
      .optional()
      .describe("Only lines of this service"),
    level: z
      .enum(LEVELS as [Level, ...Level[]])
      .optional()
      .describe("Only lines of this severity or above"),
    correlationId: z.string().min(1).max(128).optional().describe("Only lines of this request (a delivery round's line names several)"),
    traceId: z
      .string()
      .regex(/^[0-9a-f]{32}$/)
      .optional()
      .describe("Only lines of this W3C trace"),
    q: z.string().min(1).max(200).optional().describe("Text the message or any field value contains, case-insensitive"),
    since: time.optional().describe("Lines at or after this time"),
    until: time.optional().describe("Lines before this time"),
    limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(DEFAULT_PAGE).describe(`Lines per page, 1 to ${MAX_PAGE}`),
    cursor: z
      .string()
      .max(64)
      .optional()
      .transform((c, ctx) => {
        if (c === undefined) return undefined;
        const decoded = decodeCursor(c);
        if (!decoded) ctx.addIssue({ code: "custom", message: "not a cursor this API gave" });
        return decoded;
      })
      .describe("The `next` of the previous page"),
  })
  .strict()
  .refine((q) => q.since === undefined || q.until === undefined || q.since <= q.until, {
    message: "since must not be after until",
    path: ["since"],
  });
/** A parsed log query. */
export type LogQuery = z.output<typeof LogQuery>;
