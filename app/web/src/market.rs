//! What the node and GPU model pages show, read from the indexed tables: a
//! node's listing and prices per payment mint, its daily uptime and recent
//! lease outcomes; per GPU model, the daily range of prices paid and the
//! share of its GPU time that was leased.

use iomesh_client::iomesh::math;
use serde::Serialize;
use sqlx::PgPool;

pub const DAY_SECS: i64 = 86_400;
/// Days the charts cover.
pub const CHART_DAYS: i64 = 30;

/// A listed node as its page shows it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct NodeListing {
    pub owner: Vec<u8>,
    pub operator: Vec<u8>,
    /// `available` or `paused`.
    pub status: String,
    pub gpu_model: String,
    pub region: String,
    pub gpu_count: i32,
    pub gpus_in_use: i32,
    pub vram_mib: i64,
    pub price_usd_micros_per_gpu_hour: i64,
    pub min_lease_secs: i64,
    pub max_lease_secs: i64,
    pub registered_at: i64,
    pub staked: Option<i64>,
    pub leases_served: i64,
    pub failures: i64,
    /// Retired: the account is closed.
    pub retired: bool,
    /// An agent holds a session with the scheduler now.
    pub connected: bool,
}

pub async fn node_listing(pool: &PgPool, node: &[u8]) -> Result<Option<NodeListing>, sqlx::Error> {
    sqlx::query_as(
        "SELECT n.owner, n.operator, n.status, n.gpu_model, n.region, n.gpu_count, n.gpus_in_use, \
                n.vram_mib, n.price_usd_micros_per_gpu_hour::BIGINT AS price_usd_micros_per_gpu_hour, \
                n.min_lease_secs, n.max_lease_secs, n.registered_at, n.staked::BIGINT AS staked, \
                n.leases_served::BIGINT AS leases_served, n.failures::BIGINT AS failures, \
                (n.closed_slot IS NOT NULL) AS retired, \
                EXISTS (SELECT 1 FROM agent_sessions a WHERE a.node = n.pubkey) AS connected \
         FROM nodes n WHERE n.pubkey = $1",
    )
    .bind(node)
    .fetch_optional(pool)
    .await
}

/// A payment mint open to new leases.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct MintPrice {
    pub mint: Vec<u8>,
    pub symbol: String,
    pub decimals: i32,
    pub usd_price_micros: i64,
    /// stable | authority | oracle
    pub price_source: String,
}

pub async fn open_mints(pool: &PgPool) -> Result<Vec<MintPrice>, sqlx::Error> {
    sqlx::query_as(
        "SELECT mint, symbol, decimals, usd_price_micros::BIGINT AS usd_price_micros, price_source \
         FROM payment_mints WHERE closed_slot IS NULL AND enabled ORDER BY symbol",
    )
    .fetch_all(pool)
    .await
}

impl MintPrice {
    /// A GPU-hour at `usd_micros` in this mint's base units, with the
    /// program's own rounding (up, for the escrow); None if it overflows.
    pub fn rate_per_gpu_hour(&self, usd_micros: i64) -> Option<u64> {
        math::rate_per_gpu_hour(
            u64::try_from(usd_micros).ok()?,
            u64::try_from(self.usd_price_micros).ok()?,
            u8::try_from(self.decimals).ok()?,
        )
        .ok()
    }
}

/// Heartbeat minutes of `node` on each of the `CHART_DAYS` days before
/// `as_of`'s day, oldest first (day start, minutes).
pub async fn daily_uptime(
    pool: &PgPool,
    node: &[u8],
    as_of: i64,
) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    let today = as_of - as_of.rem_euclid(DAY_SECS);
    sqlx::query_as(
        "SELECT d.day, count(u.minute) AS minutes \
         FROM generate_series($2::BIGINT, $3::BIGINT, $4::BIGINT) AS d(day) \
         LEFT JOIN node_uptime_minutes u \
           ON u.node = $1 AND u.minute >= d.day AND u.minute < d.day + $4 \
         GROUP BY d.day ORDER BY d.day",
    )
    .bind(node)
    .bind(today - (CHART_DAYS - 1) * DAY_SECS)
    .bind(today)
    .bind(DAY_SECS)
    .fetch_all(pool)
    .await
}

/// How a lease on the node ended.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct Outcome {
    pub lease: Vec<u8>,
    /// completed | cancelled | failed | expired | unwound
    pub reason: String,
    pub gpus: Option<i32>,
    /// Seconds of service paid (0 if never activated).
    pub billed_secs: i64,
    pub block_time: Option<i64>,
}

pub async fn recent_outcomes(
    pool: &PgPool,
    node: &[u8],
    limit: i64,
) -> Result<Vec<Outcome>, sqlx::Error> {
    sqlx::query_as(
        "SELECT e.lease, e.reason, l.gpus, \
                CASE WHEN l.activated_at > 0 AND e.billed_until > l.activated_at \
                     THEN e.billed_until - l.activated_at ELSE 0 END AS billed_secs, \
                e.block_time \
         FROM lease_endings e LEFT JOIN leases l ON l.pubkey = e.lease \
         WHERE e.node = $1 ORDER BY e.slot DESC LIMIT $2",
    )
    .bind(node)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// One day of a GPU model's market.
#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct ModelDay {
    /// Unix seconds of the day's start (UTC).
    pub day: i64,
    /// USD micros per GPU-hour paid by the leases created that day (none: no lease).
    pub min_price: Option<i64>,
    pub median_price: Option<i64>,
    pub max_price: Option<i64>,
    pub leases: i64,
    /// Leased share of the model's GPU-seconds that day, in basis points.
    pub utilisation_bps: i32,
}

/// The `CHART_DAYS` days before `as_of`'s day for nodes of `model`
/// (case-insensitive), oldest first.
///
/// A lease's price in USD is its locked rate at its mint's current USD price:
/// exact for the stable mints, today's value for the others. A lease counts
/// as leased from activation to the end of its billing (now, while it runs);
/// the GPUs offered are those of nodes listed at the day's end (no GPUs
/// offered: 0 %; LEAST ignores NULLs, hence the COALESCE inside it).
pub async fn model_days(
    pool: &PgPool,
    model: &str,
    as_of: i64,
) -> Result<Vec<ModelDay>, sqlx::Error> {
    let today = as_of - as_of.rem_euclid(DAY_SECS);
    sqlx::query_as(
        "WITH days AS ( \
             SELECT day FROM generate_series($2::BIGINT, $3::BIGINT, $4::BIGINT) AS d(day) \
         ), model_nodes AS ( \
             SELECT pubkey, gpu_count, registered_at FROM nodes \
             WHERE lower(gpu_model) = lower($1) AND closed_slot IS NULL \
         ), model_leases AS ( \
             SELECT l.gpus, l.created_at, l.activated_at, \
                    COALESCE(e.billed_until, CASE WHEN l.closed_slot IS NULL THEN $5 ELSE l.settled_until END) AS leased_until, \
                    (l.rate_per_gpu_hour * m.usd_price_micros / power(10::NUMERIC, m.decimals))::BIGINT AS usd_micros \
             FROM leases l \
             JOIN nodes n ON n.pubkey = l.node AND lower(n.gpu_model) = lower($1) \
             JOIN payment_mints m ON m.mint = l.mint \
             LEFT JOIN LATERAL (SELECT billed_until FROM lease_endings e WHERE e.lease = l.pubkey \
                                ORDER BY e.slot DESC LIMIT 1) e ON true \
             WHERE l.closed_slot IS NULL OR GREATEST(l.created_at, e.billed_until) >= $2 \
         ) \
         SELECT d.day, \
                (SELECT min(usd_micros) FROM model_leases WHERE created_at >= d.day AND created_at < d.day + $4) AS min_price, \
                (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY usd_micros) FROM model_leases \
                  WHERE created_at >= d.day AND created_at < d.day + $4) AS median_price, \
                (SELECT max(usd_micros) FROM model_leases WHERE created_at >= d.day AND created_at < d.day + $4) AS max_price, \
                (SELECT count(*) FROM model_leases WHERE created_at >= d.day AND created_at < d.day + $4) AS leases, \
                LEAST(10000, COALESCE(( \
                    SELECT (10000 * sum(l.gpus::NUMERIC * GREATEST(0, \
                              LEAST(l.leased_until, d.day + $4) - GREATEST(l.activated_at, d.day))) \
                           / NULLIF((SELECT sum(gpu_count) FROM model_nodes WHERE registered_at < d.day + $4), 0) \
                           / $4)::INT \
                    FROM model_leases l WHERE l.activated_at > 0 \
                ), 0)) AS utilisation_bps \
         FROM days d ORDER BY d.day",
    )
    .bind(model)
    .bind(today - (CHART_DAYS - 1) * DAY_SECS)
    .bind(today)
    .bind(DAY_SECS)
    .bind(as_of)
    .fetch_all(pool)
    .await
}

/// A renter's open lease, with its mint's symbol and decimals.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RenterLease {
    pub lease: Vec<u8>,
    pub node: Vec<u8>,
    pub gpu_model: Option<String>,
    /// pending | active
    pub status: String,
    pub gpus: i32,
    pub rate_per_gpu_hour: i64,
    pub deposited: i64,
    pub created_at: i64,
    pub activated_at: i64,
    pub duration_secs: i64,
    pub symbol: Option<String>,
    pub decimals: Option<i32>,
}

pub async fn renter_leases(pool: &PgPool, renter: &[u8]) -> Result<Vec<RenterLease>, sqlx::Error> {
    sqlx::query_as(
        "SELECT l.pubkey AS lease, l.node, n.gpu_model, l.status, l.gpus, \
                l.rate_per_gpu_hour::BIGINT AS rate_per_gpu_hour, l.deposited::BIGINT AS deposited, \
                l.created_at, l.activated_at, l.duration_secs, m.symbol, m.decimals \
         FROM leases l \
         LEFT JOIN nodes n ON n.pubkey = l.node \
         LEFT JOIN payment_mints m ON m.mint = l.mint AND m.closed_slot IS NULL \
         WHERE l.renter = $1 AND l.closed_slot IS NULL \
         ORDER BY l.created_at DESC, l.pubkey",
    )
    .bind(renter)
    .fetch_all(pool)
    .await
}

/// How one of a renter's leases ended, in its mint's units.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RenterEnding {
    pub lease: Vec<u8>,
    pub reason: String,
    pub paid_out: i64,
    pub refunded: i64,
    pub block_time: Option<i64>,
    pub symbol: Option<String>,
    pub decimals: Option<i32>,
}

pub async fn renter_endings(
    pool: &PgPool,
    renter: &[u8],
    limit: i64,
) -> Result<Vec<RenterEnding>, sqlx::Error> {
    sqlx::query_as(
        "SELECT e.lease, e.reason, e.paid_out::BIGINT AS paid_out, e.refunded::BIGINT AS refunded, \
                e.block_time, m.symbol, m.decimals \
         FROM lease_endings e \
         JOIN leases l ON l.pubkey = e.lease \
         LEFT JOIN payment_mints m ON m.mint = l.mint AND m.closed_slot IS NULL \
         WHERE l.renter = $1 ORDER BY e.slot DESC LIMIT $2",
    )
    .bind(renter)
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// One of a supplier's nodes, with what its page needs to say why it gets
/// work or not.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct SupplierNode {
    pub node: Vec<u8>,
    /// available | paused
    pub status: String,
    pub gpu_model: String,
    pub region: String,
    pub gpu_count: i32,
    pub gpus_in_use: i32,
    pub price_usd_micros_per_gpu_hour: i64,
    pub open_leases: i64,
    pub leases_served: i64,
    pub failures: i64,
    pub retired: bool,
    pub connected: bool,
    /// The cheapest price per GPU-hour of the same model among the nodes
    /// on offer now (listed, available, agent connected).
    pub cheapest_of_model: Option<i64>,
    /// Leased share of the node's GPU-seconds over the last `CHART_DAYS`
    /// days (or since it registered), in basis points.
    pub utilisation_bps: i32,
}

/// An owner's nodes as of `as_of` (unix seconds).
///
/// Utilisation counts a lease as leased from activation to the end of its
/// billing (its `LeaseEnded`; an open one until now or its end), as the
/// model page does, over the node's GPUs in the window.
pub async fn supplier_nodes(
    pool: &PgPool,
    owner: &[u8],
    as_of: i64,
) -> Result<Vec<SupplierNode>, sqlx::Error> {
    sqlx::query_as(
        "SELECT n.pubkey AS node, n.status, n.gpu_model, n.region, n.gpu_count, n.gpus_in_use, \
                n.price_usd_micros_per_gpu_hour::BIGINT AS price_usd_micros_per_gpu_hour, \
                n.open_leases, n.leases_served::BIGINT AS leases_served, \
                n.failures::BIGINT AS failures, (n.closed_slot IS NOT NULL) AS retired, \
                EXISTS (SELECT 1 FROM agent_sessions a WHERE a.node = n.pubkey) AS connected, \
                (SELECT min(o.price_usd_micros_per_gpu_hour)::BIGINT FROM nodes o \
                  JOIN agent_sessions a ON a.node = o.pubkey \
                  WHERE o.closed_slot IS NULL AND o.status = 'available' \
                    AND lower(o.gpu_model) = lower(n.gpu_model)) AS cheapest_of_model, \
                LEAST(10000, COALESCE(( \
                    SELECT (10000 * sum(l.gpus::NUMERIC * GREATEST(0, \
                              LEAST(COALESCE(e.billed_until, CASE WHEN l.closed_slot IS NULL \
                                       THEN LEAST($3, l.activated_at + l.duration_secs) \
                                       ELSE l.settled_until END), $3) \
                              - GREATEST(l.activated_at, $2, n.registered_at))) \
                           / NULLIF(n.gpu_count::NUMERIC * ($3 - GREATEST($2, n.registered_at)), 0))::INT \
                    FROM leases l \
                    LEFT JOIN LATERAL (SELECT billed_until FROM lease_endings e WHERE e.lease = l.pubkey \
                                       ORDER BY e.slot DESC LIMIT 1) e ON true \
                    WHERE l.node = n.pubkey AND l.activated_at > 0 \
                ), 0)) AS utilisation_bps \
         FROM nodes n WHERE n.owner = $1 \
         ORDER BY (n.closed_slot IS NOT NULL), n.registered_at, n.pubkey",
    )
    .bind(owner)
    .bind(as_of - CHART_DAYS * DAY_SECS)
    .bind(as_of)
    .fetch_all(pool)
    .await
}

/// What a supplier's nodes were paid, per payment mint, over the leases that
/// ended (the program's LeaseEnded amounts: supplier share and network fee).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Earnings {
    pub symbol: Option<String>,
    pub decimals: Option<i32>,
    pub leases: i64,
    pub paid_out: i64,
}

pub async fn supplier_earnings(pool: &PgPool, owner: &[u8]) -> Result<Vec<Earnings>, sqlx::Error> {
    sqlx::query_as(
        "SELECT m.symbol, m.decimals, count(*) AS leases, sum(e.paid_out)::BIGINT AS paid_out \
         FROM lease_endings e \
         JOIN nodes n ON n.pubkey = e.node \
         JOIN leases l ON l.pubkey = e.lease \
         LEFT JOIN payment_mints m ON m.mint = l.mint AND m.closed_slot IS NULL \
         WHERE n.owner = $1 \
         GROUP BY m.symbol, m.decimals ORDER BY m.symbol",
    )
    .bind(owner)
    .fetch_all(pool)
    .await
}
