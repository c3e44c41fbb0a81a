import type { Logger, MetricsEnv, RedisEnv } from "@foundation/core";
import type { DeliveryEnv } from "./consumer/deliver.ts";
import type { StreamConsumer } from "./consumer/stream-consumer.ts";
import type { PartitionConfig } from "./partitions.ts";
import type { RetentionConfig } from "./retention.ts";

/** The bindings of a worker that runs the event bus (the gateway): Redis, Postgres, the signing secret and the consumers. */
export interface EventBusEnv extends RedisEnv, DeliveryEnv, MetricsEnv {
  /** `local` allows loopback subscriber URLs (see `checkPublicUrl`). */
  ENVIRONMENT?: string;
  /** One `StreamConsumer` object per (stream, group). */
  STREAM_CONSUMER: DurableObjectNamespace<StreamConsumer>;
}

/** The streams' settings, parsed once from the worker's configuration (see `StreamVars`). */
export interface StreamSettings {
  retention: RetentionConfig;
  partitions: PartitionConfig;
  /** Streams that do not exist yet one publisher may create per hour (admins are not counted). */
  newStreamsPerHour: number;
}

/** What the bus's operations need from the worker that runs them, per request. */
export interface BusContext {
  env: EventBusEnv;
  settings: StreamSettings;
  log: Logger;
  /** Runs work after the answer (`waitUntil`); failures are logged by the caller's `defer`. */
  defer: (task: Promise<unknown>) => void;
}
