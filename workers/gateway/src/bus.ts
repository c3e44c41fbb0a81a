import { parsePartitionConfig, parseRetentionConfig, type BusContext, type StreamSettings } from "@foundation/event-bus";
import type { Context } from "hono";
import type { GatewayEnv } from "./env.ts";

let last: { retention: string | undefined; partitions: string | undefined; settings: StreamSettings } | undefined;

/** The streams' settings under this env (`STREAM_RETENTION`, `STREAM_PARTITIONS`), parsed once per isolate. */
export function streamSettings(env: { STREAM_RETENTION?: string; STREAM_PARTITIONS?: string }): StreamSettings {
  if (!last || last.retention !== env.STREAM_RETENTION || last.partitions !== env.STREAM_PARTITIONS) {
    const settings = { retention: parseRetentionConfig(env.STREAM_RETENTION), partitions: parsePartitionConfig(env.STREAM_PARTITIONS) };
    last = { retention: env.STREAM_RETENTION, partitions: env.STREAM_PARTITIONS, settings };
  }
  return last.settings;
}

/**
 * The event bus as a request of the gateway uses it: its bindings, the streams' settings, and the request's logger
 * and `waitUntil`.
 * @example await publishToTopic(busOf(c), "orders", events, { publisher });
 */
export function busOf(c: Context<GatewayEnv>): BusContext {
  return { env: c.env, settings: streamSettings(c.env), log: c.var.log, defer: c.var.defer };
}
