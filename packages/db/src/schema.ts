import { sql } from "drizzle-orm";
import { boolean, doublePrecision, index, pgTable, text, timestamp } from "drizzle-orm/pg-core";

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
