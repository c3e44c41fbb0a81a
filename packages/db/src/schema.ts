import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  check,
  customType,
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
  // By time alone for the retention's deletes (a hypertable has this index already, under the same name).
  (t) => [
    index("health_checks_target_time_idx").on(t.target, t.checkedAt.desc()),
    index("health_checks_checked_at_idx").on(t.checkedAt.desc()),
  ],
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

/**
 * The event store: every event of an archived stream, written by the stream's archiver consumer group so
 * it outlives trimming in Redis. The key is CloudEvents' identity (source and id) per stream, with the
 * event's time because a hypertable's unique keys must hold its time column; archiving the same event
 * again (a retried batch, a redriven dead letter) inserts nothing. Time-series data: a hypertable on
 * `occurred_at` where TimescaleDB exists.
 */
export const events = pgTable(
  "events",
  {
    stream: text("stream").notNull(),
    source: text("source").notNull(),
    eventId: text("event_id").notNull(),
    /** The event's `time`, or when Redis accepted it when the event has none. */
    occurredAt: timestamp("occurred_at", { withTimezone: true, mode: "date" }).notNull(),
    type: text("type").notNull(),
    subject: text("subject"),
    correlationId: text("correlation_id"),
    /** Position in the stream when first archived: `<ms>-<seq>`, also split into the two columns below for ordering. */
    streamId: text("stream_id").notNull(),
    streamMs: bigint("stream_ms", { mode: "number" }).notNull(),
    streamSeq: bigint("stream_seq", { mode: "number" }).notNull(),
    /** The whole CloudEvent as published. */
    event: jsonb("event").notNull(),
    archivedAt: timestamp("archived_at", { withTimezone: true, mode: "date" })
      .notNull()
      .default(sql`now()`),
  },
  (t) => [
    primaryKey({ columns: [t.stream, t.source, t.eventId, t.occurredAt] }),
    index("events_stream_position_idx").on(t.stream, t.streamMs, t.streamSeq),
    index("events_stream_subject_position_idx").on(t.stream, t.subject, t.streamMs, t.streamSeq),
  ],
);

/**
 * API keys for service-to-service calls. Only the SHA-256 of a key is stored (keys carry 256 bits of
 * randomness, so a fast hash is enough); `prefix` identifies a key in lists and logs without revealing it.
 * A revoked key keeps its row for audit.
 */
export const apiKeys = pgTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    /** The identity the key acts as, like a token's `sub`. */
    subject: text("subject").notNull(),
    scopes: text("scopes").array().notNull(),
    prefix: text("prefix").notNull(),
    hash: text("hash").notNull(),
    createdBy: text("created_by").notNull(),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" })
      .notNull()
      .default(sql`now()`),
    expiresAt: timestamp("expires_at", { withTimezone: true, mode: "date" }),
    revokedAt: timestamp("revoked_at", { withTimezone: true, mode: "date" }),
  },
  (t) => [uniqueIndex("api_keys_hash_idx").on(t.hash)],
);

/**
 * The job queues that exist, for listing them (the dashboard's board, `GET /api/foundation/queues`): each queue's
 * settings and jobs live in its `JobQueue` Durable Object; this row only names it and where its jobs go.
 */
export const jobQueues = pgTable("job_queues", {
  name: text("name").primaryKey(),
  /** `{service}` or `{url}`: where the queue's jobs run. */
  target: jsonb("target").notNull(),
  createdAt: timestamp("created_at", { withTimezone: true, mode: "date" })
    .notNull()
    .default(sql`now()`),
  updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" })
    .notNull()
    .default(sql`now()`),
});

/** Severities of a log line, lowest first. */
export const logLevels = ["debug", "info", "warn", "error"] as const;

/**
 * Every worker's log lines, collected by the `log-tail` Tail Worker: the kit's JSON lines, uncaught exceptions and
 * invocation outcomes. `correlation_ids` holds the line's correlation ID, or the several of a delivery round, so one
 * index lookup finds a request's lines in every worker. Time-series data: a hypertable on `ts` where TimescaleDB
 * exists; its key holds `ts`, as a hypertable's unique keys must, and `(ts, id)` orders pages newest first.
 */
export const logs = pgTable(
  "logs",
  {
    ts: timestamp("ts", { withTimezone: true, mode: "date" }).notNull(),
    id: bigint("id", { mode: "number" }).generatedAlwaysAsIdentity(),
    service: text("service").notNull(),
    level: text("level", { enum: logLevels }).notNull(),
    msg: text("msg").notNull(),
    correlationIds: text("correlation_ids")
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    traceId: text("trace_id"),
    /** The line's other fields, bounded by the collector. */
    fields: jsonb("fields").$type<Record<string, unknown>>().notNull().default({}),
  },
  (t) => [
    primaryKey({ columns: [t.ts, t.id] }),
    index("logs_service_ts_idx").on(t.service, t.ts.desc()),
    index("logs_correlation_ids_idx").using("gin", t.correlationIds),
    index("logs_trace_id_idx").on(t.traceId),
    check("logs_level_check", sql`${t.level} in ('debug', 'info', 'warn', 'error')`),
  ],
);

/** Distance metrics of a vector collection: cosine distance, Euclidean (L2) distance, negative inner product. */
export const vectorMetrics = ["cosine", "l2", "ip"] as const;
/** Most dimensions a collection may have: pgvector's HNSW index stops at 2,000 for `vector`. */
export const MAX_VECTOR_DIMENSION = 2000;

/**
 * pgvector's `vector` without a fixed dimension: one table holds every collection, and each collection's HNSW
 * index casts to its own dimension. Values travel as pgvector's text form, `[1,2,3]`.
 */
export const vectorColumn = customType<{ data: number[]; driverData: string }>({
  dataType: () => "vector",
  toDriver: (value) => `[${value.join(",")}]`,
  fromDriver: (value) => JSON.parse(value) as number[],
});

/**
 * Vector collections: a name, a fixed dimension and metric, and the HNSW build parameters of the collection's
 * partial index on `vector_records`. The tables exist only where the pgvector extension is available (Neon;
 * PGlite locally); see docs/vectors.md.
 */
export const vectorCollections = pgTable(
  "vector_collections",
  {
    id: integer("id").primaryKey().generatedAlwaysAsIdentity(),
    name: text("name").notNull(),
    dimension: integer("dimension").notNull(),
    metric: text("metric", { enum: vectorMetrics }).notNull(),
    hnswM: integer("hnsw_m").notNull().default(16),
    hnswEfConstruction: integer("hnsw_ef_construction").notNull().default(64),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" })
      .notNull()
      .default(sql`now()`),
  },
  (t) => [
    uniqueIndex("vector_collections_name_idx").on(t.name),
    check("vector_collections_dimension_check", sql`${t.dimension} between 1 and 2000`),
    check("vector_collections_metric_check", sql`${t.metric} in ('cosine', 'l2', 'ip')`),
  ],
);

/** One record of a collection: its caller-chosen id, embedding, optional document and metadata. */
export const vectorRecords = pgTable(
  "vector_records",
  {
    collectionId: integer("collection_id")
      .notNull()
      .references(() => vectorCollections.id, { onDelete: "cascade" }),
    id: text("id").notNull(),
    embedding: vectorColumn("embedding").notNull(),
    document: text("document"),
    metadata: jsonb("metadata").$type<Record<string, unknown>>().notNull().default({}),
    updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" })
      .notNull()
      .default(sql`now()`),
  },
  (t) => [primaryKey({ columns: [t.collectionId, t.id] })],
);
