//! Pruning of the uptime history: one row per node and minute grows by 14
//! million rows a day at 10,000 nodes; rows older than the retention (longer
//! than any reward window still to be computed) are deleted in batches, so
//! no statement holds locks for long. Every replica may prune; the deletes
//! are idempotent.

use crate::{error::Result, Shared};
use std::{sync::Arc, time::Duration};
use tracing::{info, warn};

/// Rows deleted per statement.
const BATCH: i64 = 50_000;
/// How often a replica prunes.
const EVERY: Duration = Duration::from_secs(3_600);

pub async fn run(shared: Arc<Shared>) -> Result<()> {
    loop {
        match prune_uptime(&shared.pool, shared.config.uptime_retention_days).await {
            Ok(0) => {}
            Ok(deleted) => info!(deleted, "pruned uptime minutes past the retention"),
            Err(err) => warn!(%err, "pruning the uptime history failed; retried later"),
        }
        // Used access-token nonces and port sessions past their expiry.
        if let Err(err) = crate::access::prune(&shared.pool).await {
            warn!(%err, "pruning expired access nonces and sessions failed; retried later");
        }
        tokio::select! {
            _ = shared.shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}

/// Deletes uptime minutes that started more than `retention_days` ago
/// (Postgres clock); returns how many.
pub async fn prune_uptime(pool: &sqlx::PgPool, retention_days: u32) -> Result<u64> {
    let mut deleted = 0;
    loop {
        let n = sqlx::query(
            "DELETE FROM node_uptime_minutes WHERE ctid IN ( \
               SELECT ctid FROM node_uptime_minutes \
               WHERE minute < extract(epoch from now())::int8 - $1::int8 * 86400 LIMIT $2)",
        )
        .bind(i64::from(retention_days))
        .bind(BATCH)
        .execute(pool)
        .await?
        .rows_affected();
        deleted += n;
        if n < BATCH as u64 {
            return Ok(deleted);
        }
    }
}
