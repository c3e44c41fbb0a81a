-- TimescaleDB is optional: Neon offers it, Debian's PostgreSQL does not. Where the extension can be
-- installed, time-series tables become hypertables; elsewhere they stay plain tables with the same
-- columns, so every query works on both.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
    CREATE EXTENSION IF NOT EXISTS timescaledb;
    PERFORM create_hypertable('health_checks', 'checked_at', if_not_exists => TRUE, migrate_data => TRUE);
  END IF;
END
$$;
