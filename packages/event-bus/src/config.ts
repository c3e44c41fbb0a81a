/**
 * `@foundation/event-bus/config`: the stream settings a worker running the bus reads from its `[vars]`, as zod
 * fields a worker's config schema includes (pure: importable by `npm run check` in Node).
 */
import { parsedVar } from "@foundation/core";
import { z } from "zod";
import type { StreamSettings } from "./env.ts";
import { parsePartitionConfig } from "./partitions.ts";
import { parseRetentionConfig } from "./retention.ts";

/** `STREAM_RETENTION` and `STREAM_PARTITIONS`, each a JSON object keyed by stream name or `prefix*`. */
export const StreamVars = z.object({
  STREAM_RETENTION: parsedVar(parseRetentionConfig),
  STREAM_PARTITIONS: parsedVar(parsePartitionConfig),
});

/** The stream settings of parsed vars. */
export function streamSettingsOf(vars: z.output<typeof StreamVars>): StreamSettings {
  return { retention: vars.STREAM_RETENTION, partitions: vars.STREAM_PARTITIONS };
}
