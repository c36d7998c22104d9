-- The marketplace's reliability scores, which anyone can recompute from the
-- indexed chain (nodes, leases and their tombstones, lease endings) and the
-- scheduler's heartbeat minutes. Formulas: docs/web.md.
--
-- node_reliability(as_of) scores every node as of unix time `as_of`; the web
-- search reads node_scores, a snapshot of it that iomesh-web refreshes.

CREATE OR REPLACE FUNCTION node_reliability(as_of BIGINT)
RETURNS TABLE (
    node                   BYTEA,
    age_secs               BIGINT,
    -- Heartbeat minutes in the last 30 days (or since registration) and
    -- how many minutes that window holds.
    uptime_minutes         BIGINT,
    window_minutes         BIGINT,
    uptime_bps             INTEGER,
    -- Paid GPU-seconds of ended leases by how they ended.
    completed_gpu_secs     NUMERIC,
    failed_gpu_secs        NUMERIC,
    cancelled_gpu_secs     NUMERIC,
    -- Leases that were never activated before their activation deadline.
    expired_leases         BIGINT,
    -- Completed share of completed + failed paid GPU-seconds.
    success_bps            INTEGER,
    -- Median seconds from payment (creation) to activation.
    median_activation_secs BIGINT,
    staked                 NUMERIC,
    slash_count            BIGINT,
    -- Under 7 days old or under 10 ended paid GPU-hours: not ranked on no data.
    is_new                 BOOLEAN,
    -- uptime × success, in basis points; NULL for a new node.
    score_bps              INTEGER
)
LANGUAGE sql STABLE AS $$
WITH window_start AS (
    SELECT n.pubkey AS node,
           GREATEST(n.registered_at, as_of - 30 * 86400) AS since,
           n.registered_at,
           n.staked,
           n.slash_count
    FROM nodes n
),
uptime AS (
    SELECT w.node,
           (SELECT count(*) FROM node_uptime_minutes u
             WHERE u.node = w.node AND u.minute >= w.since AND u.minute < as_of) AS minutes,
           GREATEST((as_of - w.since) / 60, 1) AS window_minutes
    FROM window_start w
),
endings AS (
    SELECT e.node,
           e.reason,
           -- Paid GPU-seconds: the lease's GPUs over the time it was billed.
           CASE WHEN l.activated_at > 0 AND e.billed_until > l.activated_at
                THEN l.gpus::NUMERIC * (e.billed_until - l.activated_at)
                ELSE 0 END AS gpu_secs
    FROM lease_endings e
    JOIN leases l ON l.pubkey = e.lease
),
outcomes AS (
    SELECT node,
           COALESCE(sum(gpu_secs) FILTER (WHERE reason = 'completed'), 0) AS completed,
           COALESCE(sum(gpu_secs) FILTER (WHERE reason = 'failed'), 0) AS failed,
           COALESCE(sum(gpu_secs) FILTER (WHERE reason = 'cancelled'), 0) AS cancelled,
           count(*) FILTER (WHERE reason = 'expired') AS expired
    FROM endings
    GROUP BY node
),
activation AS (
    SELECT node,
           percentile_disc(0.5) WITHIN GROUP (ORDER BY activated_at - created_at) AS median_secs
    FROM leases
    WHERE activated_at > 0
    GROUP BY node
),
scored AS (
    SELECT w.node,
           as_of - w.registered_at AS age_secs,
           u.minutes AS uptime_minutes,
           u.window_minutes,
           LEAST(10000, u.minutes * 10000 / u.window_minutes)::INTEGER AS uptime_bps,
           COALESCE(o.completed, 0) AS completed,
           COALESCE(o.failed, 0) AS failed,
           COALESCE(o.cancelled, 0) AS cancelled,
           COALESCE(o.expired, 0) AS expired,
           a.median_secs,
           w.staked,
           w.slash_count
    FROM window_start w
    JOIN uptime u ON u.node = w.node
    LEFT JOIN outcomes o ON o.node = w.node
    LEFT JOIN activation a ON a.node = w.node
)
SELECT node,
       age_secs,
       uptime_minutes,
       window_minutes,
       uptime_bps,
       completed,
       failed,
       cancelled,
       expired,
       CASE WHEN completed + failed > 0
            THEN floor(completed * 10000 / (completed + failed))::INTEGER END,
       median_secs,
       staked,
       slash_count,
       age_secs < 7 * 86400 OR completed + failed < 10 * 3600,
       CASE WHEN age_secs < 7 * 86400 OR completed + failed < 10 * 3600 THEN NULL
            ELSE (uptime_bps::BIGINT * floor(completed * 10000 / (completed + failed))::BIGINT
                  / 10000)::INTEGER END
FROM scored
$$;

-- The snapshot the search reads: node_reliability at computed_at, replaced
-- whole in one transaction by iomesh-web (every minute by default).
CREATE TABLE IF NOT EXISTS node_scores (
    node                   BYTEA   PRIMARY KEY,
    age_secs               BIGINT  NOT NULL,
    uptime_minutes         BIGINT  NOT NULL,
    window_minutes         BIGINT  NOT NULL,
    uptime_bps             INTEGER NOT NULL,
    completed_gpu_secs     NUMERIC NOT NULL,
    failed_gpu_secs        NUMERIC NOT NULL,
    cancelled_gpu_secs     NUMERIC NOT NULL,
    expired_leases         BIGINT  NOT NULL,
    success_bps            INTEGER,
    median_activation_secs BIGINT,
    staked                 NUMERIC,
    slash_count            BIGINT,
    is_new                 BOOLEAN NOT NULL,
    score_bps              INTEGER,
    computed_at            BIGINT  NOT NULL
);
-- The reliability order, walked until a page is full.
CREATE INDEX IF NOT EXISTS node_scores_score ON node_scores (score_bps DESC NULLS LAST, node);

-- Search by price among live nodes (the common sort).
CREATE INDEX IF NOT EXISTS nodes_live_price ON nodes (price_usd_micros_per_gpu_hour)
    WHERE closed_slot IS NULL;
-- Search by model (case-insensitive), cheapest first.
CREATE INDEX IF NOT EXISTS nodes_live_model_price
    ON nodes (lower(gpu_model), price_usd_micros_per_gpu_hour) WHERE closed_slot IS NULL;
-- Search by region (case-insensitive), cheapest first.
CREATE INDEX IF NOT EXISTS nodes_live_region_price
    ON nodes (lower(region), price_usd_micros_per_gpu_hour) WHERE closed_slot IS NULL;
-- The all-in cost: the (few) nodes whose minimum lease is longer than the
-- hours asked.
CREATE INDEX IF NOT EXISTS nodes_live_min_lease
    ON nodes (min_lease_secs) WHERE closed_slot IS NULL;
