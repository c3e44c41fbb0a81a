import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  check,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from "drizzle-orm/pg-core";

/**
 * One row per health probe of a target (a service instance or a dependency such as redis).
 * Time-series data: migrations turn it into a TimescaleDB hypertable where the extension exists.
 */
export const healthChecks = pgTable(
  "health_checks",
  {
    checkedAt: timestamp("checked_at", { withTimezone: true, mode: "date" })
      .notNull()
      .default(sql`now()`),
    target: text("target").notNull(),
    ok: boolean("ok").notNull(),
    latencyMs: doublePrecision("latency_ms").notNull(),
    detail: text("detail"),
  },
  (t) => [index("health_checks_target_time_idx").on(t.target, t.checkedAt.desc())],
);

/** The health of a service instance, as Consul names it: `passing` and `warning` take traffic, `critical` takes none. */
export const instanceStatuses = ["passing", "warning", "critical"] as const;

/**
 * Write-through copy of every service instance the registry's Durable Objects hold, one row per instance.
 * A deregistered instance keeps its row with `deregistered_at` set, for audit; the live registry is the
 * rows where it is null. `revision` only grows, so a late retry never overwrites a newer write.
 */
export const serviceInstances = pgTable(
  "service_instances",
  {
    instanceId: text("instance_id").primaryKey(),
    service: text("service").notNull(),
    url: text("url"),
    binding: text("binding"),
    version: text("version").notNull(),
    metadata: jsonb("metadata").$type<Record<string, string>>().notNull().default({}),
    status: text("status", { enum: instanceStatuses }).notNull(),
    output: text("output"),
    ttlSeconds: integer("ttl_seconds").notNull(),
    deregisterAfterSeconds: integer("deregister_after_seconds").notNull(),
    registeredAt: timestamp("registered_at", { withTimezone: true, mode: "date" }).notNull(),
    lastHeartbeatAt: timestamp("last_heartbeat_at", { withTimezone: true, mode: "date" }).notNull(),
    criticalSince: timestamp("critical_since", { withTimezone: true, mode: "date" }),
    deregisteredAt: timestamp("deregistered_at", { withTimezone: true, mode: "date" }),
    revision: bigint("revision", { mode: "number" }).notNull(),
    writtenAt: timestamp("written_at", { withTimezone: true, mode: "date" })
      .notNull()
      .default(sql`now()`),
  },
  (t) => [
    index("service_instances_service_idx").on(t.service, t.deregisteredAt),
    check("service_instances_status_check", sql`${t.status} in ('passing', 'warning', 'critical')`),
    check("service_instances_address_check", sql`(${t.url} is null) <> (${t.binding} is null)`),
  ],
);

/**
 * History of instance status changes (registration, `passing`/`warning`/`critical` transitions and
 * deregistration), written through from the registry. `change_id` is deterministic, so a retried write
 * inserts nothing twice. Time-series data: a hypertable where TimescaleDB exists.
 */
export const instanceStatusChanges = pgTable(
  "instance_status_changes",
  {
    changeId: text("change_id").notNull(),
    changedAt: timestamp("changed_at", { withTimezone: true, mode: "date" }).notNull(),
    instanceId: text("instance_id").notNull(),
    service: text("service").notNull(),
    fromStatus: text("from_status", { enum: instanceStatuses }),
    toStatus: text("to_status", { enum: [...instanceStatuses, "deregistered"] }).notNull(),
    reason: text("reason").notNull(),
    output: text("output"),
  },
  (t) => [
    primaryKey({ columns: [t.changeId, t.changedAt] }),
    index("instance_status_changes_service_time_idx").on(t.service, t.changedAt.desc()),
    index("instance_status_changes_instance_time_idx").on(t.instanceId, t.changedAt.desc()),
  ],
);

/**
 * Event-bus subscriptions: which consumer group of which stream delivers where, with its retry policy.
 * The consumer Durable Object of each (stream, group) holds a copy; this table lists and audits them.
 */
export const subscriptions = pgTable(
  "subscriptions",
  {
    id: text("id").primaryKey(),
    stream: text("stream").notNull(),
    groupName: text("group_name").notNull(),
    config: jsonb("config").notNull(),
    createdBy: text("created_by").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" })
      .notNull()
      .default(sql`now()`),
  },
  (t) => [uniqueIndex("subscriptions_stream_group_idx").on(t.stream, t.groupName)],
);
