-- The event store is time-series data: a hypertable on the event's time where TimescaleDB can be installed
-- (Neon), a plain table elsewhere (Debian's PostgreSQL). Its primary key includes `occurred_at`, as a
-- hypertable's unique indexes must.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
    CREATE EXTENSION IF NOT EXISTS timescaledb;
    PERFORM create_hypertable('events', 'occurred_at', if_not_exists => TRUE, migrate_data => TRUE);
  END IF;
END
$$;
