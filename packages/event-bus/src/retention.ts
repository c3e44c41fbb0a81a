import { z } from "zod";

/**
 * How long a stream keeps its entries in Redis, and whether an archiver group copies every event into the
 * Postgres event store. `maxLen` keeps about the newest N entries (approximate MAXLEN), `maxAgeSeconds`
 * keeps about the entries younger than that (approximate MINID); neither keeps everything. Trimming never
 * removes an entry that a consumer group has not read or not acknowledged yet.
 */
export const StreamRetention = z
  .object({
    maxLen: z.number().int().min(1).max(1_000_000_000).optional(),
    maxAgeSeconds: z
      .number()
      .int()
      .min(1)
      .max(100 * 365 * 86_400)
      .optional(),
    archive: z.boolean().default(false),
  })
  .strict()
  .refine((r) => r.maxLen === undefined || r.maxAgeSeconds === undefined, "set maxLen or maxAgeSeconds, not both");
/** The retention of one stream. */
export type StreamRetention = z.infer<typeof StreamRetention>;

/** Keys are stream names or prefixes ending in `*` (`"ai.*"`, `"*"`); values are {@link StreamRetention}. */
export const StreamPattern = z.string().regex(/^[a-z0-9._-]{0,128}\*?$/, "keys are stream names, or prefixes ending in '*'");

/**
 * The `STREAM_RETENTION` setting: retention per stream name or name prefix. `archive: true` only on a stream named
 * exactly: each archived stream runs an archiver that polls Redis, so no publisher may add one by naming a new
 * stream under a prefix.
 */
export const RetentionConfig = z.record(StreamPattern, StreamRetention).superRefine((config, ctx) => {
  for (const [pattern, retention] of Object.entries(config)) {
    if (!pattern.endsWith("*") || !retention.archive) continue;
    ctx.addIssue({
      code: "custom",
      path: [pattern],
      message: `archive: true needs a stream named exactly; "${pattern}" is a prefix (list each archived stream by name)`,
    });
  }
});
/** The `STREAM_RETENTION` setting. */
export type RetentionConfig = z.infer<typeof RetentionConfig>;

/** Retention of a stream that no entry of the setting matches: the newest million entries, no archive. */
export const DEFAULT_RETENTION: StreamRetention = { maxLen: 1_000_000, archive: false };

/**
 * Parses the `STREAM_RETENTION` JSON; an unset or empty value is an empty setting (every stream gets
 * {@link DEFAULT_RETENTION}). Throws a readable error for invalid JSON or entries.
 * @example parseRetentionConfig('{"*": {"maxLen": 100000}, "orders": {"maxAgeSeconds": 86400, "archive": true}}')
 */
export function parseRetentionConfig(json: string | undefined): RetentionConfig {
  return parseStreamSetting("STREAM_RETENTION", RetentionConfig, json);
}

/**
 * Parses a per-stream JSON setting (`STREAM_RETENTION`, `STREAM_PARTITIONS`) with its schema; unset or
 * empty is `{}`. Throws an error naming the setting for invalid JSON or entries.
 */
export function parseStreamSetting<T extends object>(name: string, schema: z.ZodType<T>, json: string | undefined): T {
  if (json === undefined || json.trim() === "") return schema.parse({});
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new Error(`${name} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new Error(`${name} is invalid: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/**
 * The retention of `stream`: its exact entry, else the longest matching `prefix*` entry, else
 * {@link DEFAULT_RETENTION}.
 * @example retentionFor("ai.responses.raw", { "*": { maxLen: 10, archive: false }, "ai.*": { maxAgeSeconds: 60, archive: false } })
 */
export function retentionFor(stream: string, config: RetentionConfig): StreamRetention {
  return lookupByStream(stream, config) ?? DEFAULT_RETENTION;
}

/**
 * The entry of a per-stream setting that applies to `stream`: its exact entry, else the longest matching
 * `prefix*` entry, else undefined. Shared by `STREAM_RETENTION` and `STREAM_PARTITIONS`.
 * @example lookupByStream("ai.raw", { "*": 1, "ai.*": 4 }) // 4
 */
export function lookupByStream<T>(stream: string, config: Readonly<Record<string, T>>): T | undefined {
  const exact = config[stream];
  if (exact !== undefined) return exact;
  let best: { length: number; value: T } | undefined;
  for (const [pattern, value] of Object.entries(config)) {
    if (!pattern.endsWith("*")) continue;
    const prefix = pattern.slice(0, -1);
    if (stream.startsWith(prefix) && (!best || prefix.length > best.length)) best = { length: prefix.length, value };
  }
  return best?.value;
}

/** The trimming the publish script applies: by count, by oldest id kept, or none. */
export type TrimRule = { kind: "maxlen"; maxLen: number } | { kind: "minid"; minId: string } | { kind: "none" };

/**
 * Turns a retention into the publish script's trim rule at time `nowMs`: `maxAgeSeconds` becomes the
 * oldest stream id to keep (stream ids start with the millisecond Redis accepted the entry).
 * @example trimRule({ maxAgeSeconds: 60, archive: false }, 120_000) // { kind: "minid", minId: "60000-0" }
 */
export function trimRule(retention: StreamRetention, nowMs: number): TrimRule {
  if (retention.maxLen !== undefined) return { kind: "maxlen", maxLen: retention.maxLen };
  if (retention.maxAgeSeconds !== undefined) {
    return { kind: "minid", minId: `${Math.max(0, Math.floor(nowMs) - retention.maxAgeSeconds * 1000)}-0` };
  }
  return { kind: "none" };
}
