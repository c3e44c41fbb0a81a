import {
  parsePartitionConfig,
  parseRetentionConfig,
  partitionCount,
  retentionFor,
  type PartitionConfig,
  type RetentionConfig,
  type StreamRetention,
} from "@foundation/event-bus";

/** Parses a JSON setting once per isolate, again only when its text changes. */
function memoised<T>(parse: (json: string | undefined) => T): (json: string | undefined) => T {
  let last: { json: string | undefined; value: T } | undefined;
  return (json) => {
    if (!last || last.json !== json) last = { json, value: parse(json) };
    return last.value;
  };
}

const retentionSetting = memoised<RetentionConfig>(parseRetentionConfig);
const partitionSetting = memoised<PartitionConfig>(parsePartitionConfig);

/** The retention of a topic (and of each of its partitions) under this env's `STREAM_RETENTION`. */
export function streamRetention(env: { STREAM_RETENTION?: string }, topic: string): StreamRetention {
  return retentionFor(topic, retentionSetting(env.STREAM_RETENTION));
}

/** The number of partitions of a topic under this env's `STREAM_PARTITIONS` (1 when unset). */
export function topicPartitions(env: { STREAM_PARTITIONS?: string }, topic: string): number {
  return partitionCount(topic, partitionSetting(env.STREAM_PARTITIONS));
}
