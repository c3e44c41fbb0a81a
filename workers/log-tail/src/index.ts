import { LogCollector } from "@foundation/logs";

/** One collector per isolate: its buffer batches the lines of many invocations into one write. */
const collector = new LogCollector();

/**
 * The Tail Worker: the runtime calls `tail` with the trace items of the workers that name this one in
 * `tail_consumers` (one per invocation, after it ends); the collector buffers their lines and writes them in batches.
 */
export default {
  tail(events, env, ctx) {
    collector.collect(env, events, ctx);
  },
} satisfies ExportedHandler<Env>;
