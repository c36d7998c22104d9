-- Uptime minutes older than the retention are deleted by the scheduler
-- (`--uptime-retention-days`); this index makes that a range scan.
CREATE INDEX IF NOT EXISTS node_uptime_minutes_by_minute ON node_uptime_minutes (minute);
