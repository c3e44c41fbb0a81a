/**
 * Redis commands a piece of bench work costs: counted on the real redis-server (INFO commandstats, the commands
 * inside Lua scripts included) and at the stack's local Upstash endpoint (what Upstash bills).
 */
import type { Redis } from "ioredis";
import type { BenchContext } from "./context.ts";

/** Calls per command from `INFO commandstats` (lower-case names, `info` itself left out). */
export async function commandCalls(redis: Redis): Promise<Map<string, number>> {
  const calls = new Map<string, number>();
  for (const m of (await redis.info("commandstats")).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (m[1] !== "info") calls.set(m[1] ?? "", Number(m[2]));
  }
  return calls;
}

/** Redis commands executed between two `commandCalls` snapshots, in total and by command. */
export function commandDelta(
  before: Map<string, number>,
  after: Map<string, number>,
): { total: number; byCommand: Record<string, number> } {
  const byCommand: Record<string, number> = {};
  let total = 0;
  for (const [name, n] of after) {
    const d = n - (before.get(name) ?? 0);
    if (d > 0) {
      byCommand[name] = d;
      total += d;
    }
  }
  return { total, byCommand };
}

/** Commands counted at the local Upstash endpoint since its last reset. */
export function upstashCommands(ctx: BenchContext): number {
  return Object.values(ctx.stack.stats().upstashCommands).reduce((a, b) => a + b, 0);
}

/** Measures what `run` costs in Redis commands, on the server and at the Upstash endpoint. */
export async function countingCommands<T>(ctx: BenchContext, redis: Redis, run: () => Promise<T>) {
  ctx.stack.resetStats();
  const before = await commandCalls(redis);
  const result = await run();
  const server = commandDelta(before, await commandCalls(redis));
  return { result, server, upstash: upstashCommands(ctx) };
}
