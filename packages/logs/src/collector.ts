import { createLogger, errorFields, flushPolicyFrom, type MetricsEnv, pusherOf, sinkFromEnv, workerMetrics } from "@foundation/core";
import type { DbEnv } from "@foundation/db";
import { DEFAULT_BUFFER_POLICY, LogBuffer, type BufferPolicy } from "./buffer.ts";
import type { LogEntry } from "./entry.ts";
import { pushToLoki } from "./loki.ts";
import { logMetrics } from "./metrics.ts";
import { insertLogs, pruneLogs } from "./store.ts";
import { entriesOfItems, type TailItem } from "./tail-items.ts";

/** The collector's bindings: Postgres, the optional Loki endpoint, retention, and where its metrics go. */
export type CollectorEnv = Partial<DbEnv> &
  MetricsEnv & {
    /** Loki's push endpoint (`https://loki.example.com/loki/api/v1/push`); unset: lines go to Postgres only. */
    LOKI_PUSH_URL?: string;
    /** The `Authorization` header value for Loki (`Basic …` or `Bearer …`), a secret. */
    LOKI_AUTHORIZATION?: string;
    /** Days a line is kept in Postgres (default 7). */
    LOG_RETENTION_DAYS?: string;
  };

/** The part of an `ExecutionContext` the collector uses. */
export interface WaitUntil {
  waitUntil(promise: Promise<unknown>): void;
}

/** Days a line is kept when `LOG_RETENTION_DAYS` is unset or not a positive integer. */
export const DEFAULT_RETENTION_DAYS = 7;
/** How often one isolate deletes lines past their retention. */
export const PRUNE_INTERVAL_MS = 10 * 60_000;

/** `LOG_RETENTION_DAYS` when it is a positive integer, else the default. */
export function retentionDays(env: Pick<CollectorEnv, "LOG_RETENTION_DAYS">): number {
  const days = Number(env.LOG_RETENTION_DAYS);
  return Number.isInteger(days) && days > 0 ? days : DEFAULT_RETENTION_DAYS;
}

/** The collector's own lines go to the console only: a Tail Worker has no tail of its own. */
const log = createLogger({ service: "log-tail" });

/**
 * The lines one isolate of the Tail Worker collects: each `tail()` call's items become bounded entries in a buffer,
 * written to Postgres (and pushed to Loki when configured) in batches of up to 200 within a second, one write at a
 * time, through `waitUntil`. Lines that do not fit the buffer, or whose write fails, are dropped and counted: the
 * producers never wait for their logs. Every ten minutes the isolate also deletes lines past their retention.
 * @example export default { tail: (events, env, ctx) => collector.collect(env, events, ctx) };
 */
export class LogCollector {
  private readonly buffer: LogBuffer;
  private draining: Promise<void> | undefined;
  private lastPruneAt = 0;

  constructor(
    policy: BufferPolicy = DEFAULT_BUFFER_POLICY,
    private readonly now: () => number = Date.now,
  ) {
    this.buffer = new LogBuffer(policy);
  }

  /** Takes one `tail()` call's items; the writing goes on through `ctx.waitUntil`. */
  collect(env: CollectorEnv, items: readonly TailItem[], ctx: WaitUntil): void {
    const { entries, dropped } = entriesOfItems(items);
    if (dropped > 0) logMetrics.dropped.inc({ reason: "invocation-limit" }, dropped);
    if (!env.DATABASE_URL) {
      if (entries.length > 0) logMetrics.dropped.inc({ reason: "no-database" }, entries.length);
      return;
    }
    const full = this.buffer.add(entries, this.now());
    if (full > 0) logMetrics.dropped.inc({ reason: "buffer-full" }, full);
    this.draining ??= this.drain(env as CollectorEnv & DbEnv).finally(() => (this.draining = undefined));
    ctx.waitUntil(this.draining);
    const sink = sinkFromEnv(env);
    const push = sink && pusherOf(workerMetrics, "log-tail").afterRequest(sink, flushPolicyFrom(env));
    if (push) ctx.waitUntil(push.catch((err: unknown) => log.warn("metrics push failed", errorFields(err))));
  }

  /** Lines waiting in this isolate. */
  get waiting(): number {
    return this.buffer.size;
  }

  private async drain(env: CollectorEnv & DbEnv): Promise<void> {
    for (let wait = this.buffer.dueIn(this.now()); wait !== undefined; wait = this.buffer.dueIn(this.now())) {
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await this.write(env, this.buffer.take());
    }
    if (this.now() - this.lastPruneAt >= PRUNE_INTERVAL_MS) {
      this.lastPruneAt = this.now();
      try {
        const pruned = await pruneLogs(env, this.now() - retentionDays(env) * 86_400_000);
        if (pruned > 0) logMetrics.pruned.inc({}, pruned);
      } catch (err) {
        log.warn("log retention failed", errorFields(err));
      }
    }
  }

  private async write(env: CollectorEnv & DbEnv, batch: LogEntry[]): Promise<void> {
    if (batch.length === 0) return;
    const loki = env.LOKI_PUSH_URL
      ? pushToLoki({ url: env.LOKI_PUSH_URL, authorization: env.LOKI_AUTHORIZATION }, batch).catch((err: unknown) => {
          logMetrics.lokiFailures.inc({});
          log.warn("loki push failed", { lines: batch.length, ...errorFields(err) });
        })
      : undefined;
    try {
      await insertLogs(env, batch);
      const byLevel = new Map<string, number>();
      for (const e of batch) byLevel.set(e.level, (byLevel.get(e.level) ?? 0) + 1);
      for (const [level, n] of byLevel) logMetrics.ingested.inc({ level }, n);
    } catch (err) {
      logMetrics.dropped.inc({ reason: "write-failed" }, batch.length);
      log.error("log write failed", { lines: batch.length, ...errorFields(err) });
    }
    await loki;
  }
}
