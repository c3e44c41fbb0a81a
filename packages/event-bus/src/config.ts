/**
 * `@foundation/event-bus/config`: the stream settings a worker running the bus reads from its `[vars]`, as zod
 * fields a worker's config schema includes (pure: importable by `npm run check` in Node).
 */
import { intVar, optionalVar, parsedVar } from "@foundation/core";
import { z } from "zod";
import type { StreamSettings } from "./env.ts";
import { parsePartitionConfig } from "./partitions.ts";
import { parseRetentionConfig } from "./retention.ts";

/** New streams one publisher may create per hour when `NEW_STREAMS_PER_HOUR` is unset. */
export const DEFAULT_NEW_STREAMS_PER_HOUR = 100;

/**
 * `STREAM_RETENTION` and `STREAM_PARTITIONS`, each a JSON object keyed by stream name or `prefix*`, and
 * `NEW_STREAMS_PER_HOUR`, how many streams that do not exist yet one publisher may create per hour.
 */
export const StreamVars = z.object({
  STREAM_RETENTION: parsedVar(parseRetentionConfig),
  STREAM_PARTITIONS: parsedVar(parsePartitionConfig),
  NEW_STREAMS_PER_HOUR: optionalVar(intVar(0, 1_000_000)),
});

/** The stream settings of parsed vars. */
export function streamSettingsOf(vars: z.output<typeof StreamVars>): StreamSettings {
  return {
    retention: vars.STREAM_RETENTION,
    partitions: vars.STREAM_PARTITIONS,
    newStreamsPerHour: vars.NEW_STREAMS_PER_HOUR ?? DEFAULT_NEW_STREAMS_PER_HOUR,
  };
}
