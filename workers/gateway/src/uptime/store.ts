import { createDb, healthChecks, type DbEnv } from "@foundation/db";
import { and, gt, inArray, lte, sql } from "drizzle-orm";
import {
  HEALTH_CHECK_PRUNE_BATCH,
  LONGEST_WINDOW_MS,
  probeTarget,
  windowStart,
  type ProbeResult,
  type TargetCounts,
  type UptimeWindow,
} from "./uptime.ts";

/**
 * Appends probe results to `health_checks` (one row per probe; a hypertable where TimescaleDB exists).
 * @example await recordProbes(env, results);
 */
export async function recordProbes(env: DbEnv, results: readonly ProbeResult[]): Promise<void> {
  if (results.length === 0) return;
  await createDb(env)
    .insert(healthChecks)
    .values(
      results.map((r) => ({
        checkedAt: new Date(r.checkedAt),
        target: probeTarget(r.service, r.instanceId),
        ok: r.ok,
        latencyMs: r.latencyMs,
        detail: r.detail,
      })),
    );
}

/**
 * Deletes up to `limit` probe rows checked before `before` (epoch ms) and answers how many went. The rows are
 * picked by their physical address (`tableoid`, `ctid`: the table has no key, and a hypertable's chunks are
 * tables of their own), so one statement stays bounded however much history is due; the next run takes the rest.
 * @example await pruneProbes(env, retentionCutoff(Date.now(), 30));
 */
export async function pruneProbes(env: DbEnv, before: number, limit = HEALTH_CHECK_PRUNE_BATCH): Promise<number> {
  const cutoff = new Date(before).toISOString();
  const result = await createDb(env).execute(sql`
    delete from ${healthChecks}
    where ${healthChecks.checkedAt} < ${cutoff}::timestamptz
      and (tableoid, ctid) in (
        select tableoid, ctid from ${healthChecks} where ${healthChecks.checkedAt} < ${cutoff}::timestamptz limit ${limit}
      )`);
  return result.rowCount ?? 0;
}

const countIn = (window: UptimeWindow, now: number, onlyOk: boolean) => {
  const since = new Date(windowStart(window, now)).toISOString();
  const okFilter = onlyOk ? sql` and ${healthChecks.ok}` : sql``;
  return sql<number>`count(*) filter (where ${healthChecks.checkedAt} > ${since}::timestamptz${okFilter})`.mapWith(Number);
};

/**
 * Probe counts per window and the last probe of each target, as of `now`, counted by Postgres over the
 * last 30 days (one indexed range scan per target).
 * @example const counts = await probeCounts(env, ["billing/4f1c…"], Date.now());
 */
export async function probeCounts(env: DbEnv, targets: readonly string[], now: number): Promise<Map<string, TargetCounts>> {
  if (targets.length === 0) return new Map();
  const rows = await createDb(env)
    .select({
      target: healthChecks.target,
      total24h: countIn("uptime24h", now, false),
      ok24h: countIn("uptime24h", now, true),
      total7d: countIn("uptime7d", now, false),
      ok7d: countIn("uptime7d", now, true),
      total30d: countIn("uptime30d", now, false),
      ok30d: countIn("uptime30d", now, true),
      lastCheckAt: sql<string>`max(${healthChecks.checkedAt})`,
      lastOk: sql<boolean>`(array_agg(${healthChecks.ok} order by ${healthChecks.checkedAt} desc))[1]`,
    })
    .from(healthChecks)
    .where(
      and(
        inArray(healthChecks.target, [...targets]),
        gt(healthChecks.checkedAt, new Date(now - LONGEST_WINDOW_MS)),
        lte(healthChecks.checkedAt, new Date(now)),
      ),
    )
    .groupBy(healthChecks.target);
  return new Map(
    rows.map((r) => [
      r.target,
      {
        windows: {
          uptime24h: { total: r.total24h, ok: r.ok24h },
          uptime7d: { total: r.total7d, ok: r.ok7d },
          uptime30d: { total: r.total30d, ok: r.ok30d },
        },
        lastCheckAt: Date.parse(r.lastCheckAt),
        lastOk: r.lastOk,
      },
    ]),
  );
}
