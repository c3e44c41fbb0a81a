import type { BusContext } from "@foundation/event-bus";
import type { Context } from "hono";
import { configFrom } from "./config.ts";
import type { GatewayEnv } from "./env.ts";

/**
 * The event bus as a request of the gateway uses it: its bindings, the streams' settings, and the request's logger
 * and `waitUntil`.
 * @example await publishToTopic(busOf(c), "orders", events, { publisher });
 */
export function busOf(c: Context<GatewayEnv>): BusContext {
  // `c.get` rather than `c.var`, which Hono builds afresh from every variable on each read.
  return { env: c.env, settings: configFrom(c.env).streams, log: c.get("log"), defer: c.get("defer") };
}
