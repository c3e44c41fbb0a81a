import { createDb, instanceStatusChanges, serviceInstances, type DbEnv } from "@foundation/db";
import { sql } from "drizzle-orm";
import type { Instance, StatusChange } from "./instance.ts";

/** An instance as it is written through: deregistered instances keep their row, with the time they left. */
export interface InstanceSnapshot extends Instance {
  deregisteredAt: number | null;
}

/** Postgres must answer a write-through within this long, or the attempt counts as failed. */
export const WRITE_TIMEOUT_MS = 10_000;

const excluded = (column: string) => sql.raw(`excluded."${column}"`);
const date = (ms: number | null) => (ms === null ? null : new Date(ms));

function instanceRow(s: InstanceSnapshot): typeof serviceInstances.$inferInsert {
  return {
    instanceId: s.id,
    service: s.service,
    url: s.url ?? null,
    binding: s.binding ?? null,
    version: s.version,
    metadata: s.metadata,
    status: s.status,
    output: s.output,
    ttlSeconds: Math.round(s.ttlMs / 1000),
    deregisterAfterSeconds: Math.round(s.deregisterAfterMs / 1000),
    registeredAt: new Date(s.registeredAt),
    lastHeartbeatAt: new Date(s.lastHeartbeatAt),
    criticalSince: date(s.criticalSince),
    deregisteredAt: date(s.deregisteredAt),
    revision: s.revision,
  };
}

function changeRow(c: StatusChange): typeof instanceStatusChanges.$inferInsert {
  return {
    changeId: c.changeId,
    changedAt: new Date(c.at),
    instanceId: c.instanceId,
    service: c.service,
    fromStatus: c.from,
    toStatus: c.to,
    reason: c.reason,
    output: c.output,
  };
}

/**
 * Writes instance snapshots (upserts that never replace a higher revision) and status changes (inserted
 * once by their deterministic ID) in one Postgres transaction over Neon's HTTP protocol. Safe to repeat:
 * a retry after a lost answer writes nothing twice and never goes back in time.
 * @example await writeThrough(env, snapshots, changes);
 */
export async function writeThrough(env: DbEnv, snapshots: readonly InstanceSnapshot[], changes: readonly StatusChange[]): Promise<void> {
  const db = createDb(env);
  const queries = [];
  if (snapshots.length > 0) {
    queries.push(
      db
        .insert(serviceInstances)
        .values(snapshots.map(instanceRow))
        .onConflictDoUpdate({
          target: serviceInstances.instanceId,
          set: {
            service: excluded("service"),
            url: excluded("url"),
            binding: excluded("binding"),
            version: excluded("version"),
            metadata: excluded("metadata"),
            status: excluded("status"),
            output: excluded("output"),
            ttlSeconds: excluded("ttl_seconds"),
            deregisterAfterSeconds: excluded("deregister_after_seconds"),
            registeredAt: excluded("registered_at"),
            lastHeartbeatAt: excluded("last_heartbeat_at"),
            criticalSince: excluded("critical_since"),
            deregisteredAt: excluded("deregistered_at"),
            revision: excluded("revision"),
            writtenAt: sql`now()`,
          },
          setWhere: sql`${serviceInstances.revision} < excluded."revision"`,
        }),
    );
  }
  if (changes.length > 0) queries.push(db.insert(instanceStatusChanges).values(changes.map(changeRow)).onConflictDoNothing());
  const [first, ...rest] = queries;
  if (!first) return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Postgres did not answer within ${WRITE_TIMEOUT_MS} ms`)), WRITE_TIMEOUT_MS);
  });
  try {
    await Promise.race([db.batch([first, ...rest]), timeout]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}
