-- The uptime retention deletes by time alone. Where health_checks is a hypertable, TimescaleDB created this
-- index (same name) with the table, so it is created only where it is missing.
CREATE INDEX IF NOT EXISTS "health_checks_checked_at_idx" ON "health_checks" USING btree ("checked_at" DESC NULLS LAST);
