//! Reliability scores. The formulas live in SQL (`node_reliability(as_of)`,
//! migration 0012, explained in docs/web.md) so that anyone with the indexed
//! tables gets the same numbers; the search reads `node_scores`, a snapshot
//! of them this module refreshes.

pub use iomesh_client::clock::unix_now as now;
use sqlx::PgPool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A node's scores as of a time, as `node_reliability` computes them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct NodeScore {
    pub age_secs: i64,
    pub uptime_minutes: i64,
    pub window_minutes: i64,
    pub uptime_bps: i32,
    pub completed_gpu_secs: i64,
    pub failed_gpu_secs: i64,
    pub cancelled_gpu_secs: i64,
    pub expired_leases: i64,
    pub success_bps: Option<i32>,
    pub median_activation_secs: Option<i64>,
    pub slash_count: Option<i64>,
    pub is_new: bool,
    pub score_bps: Option<i32>,
}

/// The columns of a `NodeScore`, from `node_reliability` or `node_scores`.
const SCORE_COLUMNS: &str = "age_secs, uptime_minutes, window_minutes, uptime_bps, \
     completed_gpu_secs::BIGINT AS completed_gpu_secs, \
     failed_gpu_secs::BIGINT AS failed_gpu_secs, \
     cancelled_gpu_secs::BIGINT AS cancelled_gpu_secs, \
     expired_leases, success_bps, median_activation_secs, slash_count, is_new, score_bps";

/// The scores of `node` recomputed as of unix time `as_of`; None for an
/// unknown node. This scores every node to answer one: for recomputation
/// and checks, not for requests.
pub async fn of_node(
    pool: &PgPool,
    node: &[u8],
    as_of: i64,
) -> Result<Option<NodeScore>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {SCORE_COLUMNS} FROM node_reliability($2) WHERE node = $1"
    ))
    .bind(node)
    .bind(as_of)
    .fetch_optional(pool)
    .await
}

/// The scores of `node` in the snapshot the search reads (as of the last
/// refresh); None for a node the snapshot does not hold.
pub async fn latest(pool: &PgPool, node: &[u8]) -> Result<Option<NodeScore>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {SCORE_COLUMNS} FROM node_scores WHERE node = $1"
    ))
    .bind(node)
    .fetch_optional(pool)
    .await
}

/// Replaces the snapshot the search reads with the scores as of `as_of`,
/// in one transaction: a search sees the old scores or the new, never half.
pub async fn refresh(pool: &PgPool, as_of: i64) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM node_scores")
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO node_scores SELECT *, $1 FROM node_reliability($1)")
        .bind(as_of)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Refreshes the snapshot every `every` until `shutdown`; a failed refresh
/// is logged and retried at the next tick (the old snapshot stays).
pub async fn keep_fresh(pool: PgPool, every: Duration, shutdown: CancellationToken) {
    // The first refresh is the caller's (Server::start): the next is due in `every`.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {
                if let Err(err) = refresh(&pool, now()).await {
                    tracing::warn!(%err, "refreshing node_scores failed");
                }
            }
        }
    }
}
