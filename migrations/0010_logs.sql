CREATE TABLE "logs" (
	"ts" timestamp with time zone NOT NULL,
	"id" bigint GENERATED ALWAYS AS IDENTITY (sequence name "logs_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"service" text NOT NULL,
	"level" text NOT NULL,
	"msg" text NOT NULL,
	"correlation_ids" text[] DEFAULT '{}'::text[] NOT NULL,
	"trace_id" text,
	"fields" jsonb DEFAULT '{}'::jsonb NOT NULL,
	CONSTRAINT "logs_ts_id_pk" PRIMARY KEY("ts","id"),
	CONSTRAINT "logs_level_check" CHECK ("logs"."level" in ('debug', 'info', 'warn', 'error'))
);
--> statement-breakpoint
CREATE INDEX "logs_service_ts_idx" ON "logs" USING btree ("service","ts" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "logs_correlation_ids_idx" ON "logs" USING gin ("correlation_ids");--> statement-breakpoint
CREATE INDEX "logs_trace_id_idx" ON "logs" USING btree ("trace_id");--> statement-breakpoint
-- Logs are time-series data: a hypertable with a chunk per day where TimescaleDB can be installed (Neon), a plain
-- table elsewhere (Debian's PostgreSQL). The collector deletes lines past their retention on both.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
    CREATE EXTENSION IF NOT EXISTS timescaledb;
    PERFORM create_hypertable('logs', 'ts', chunk_time_interval => INTERVAL '1 day', if_not_exists => TRUE, migrate_data => TRUE);
  END IF;
END
$$;
