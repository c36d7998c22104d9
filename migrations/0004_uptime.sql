-- Uptime history for the epoch reward job: one row per node and minute in
-- which the scheduler received at least one heartbeat from the node's agent.
-- Written with INSERT ... ON CONFLICT DO NOTHING on each heartbeat, so a row
-- costs one index probe after its first heartbeat of the minute.
CREATE TABLE IF NOT EXISTS node_uptime_minutes (
    node   BYTEA  NOT NULL CHECK (octet_length(node) = 32),
    -- Unix seconds of the minute's start (a multiple of 60), Postgres clock.
    minute BIGINT NOT NULL CHECK (minute % 60 = 0),
    PRIMARY KEY (node, minute)
);
