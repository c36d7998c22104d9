//! Replica liveness: this replica's row is refreshed on a timer; rows of
//! replicas silent past the timeout are reaped, which deletes their sessions
//! (the agents reconnect to a live replica, whose handshake adopts the jobs
//! they run and releases the rest).

use crate::{error::Result, Shared};
use std::{sync::Arc, time::Duration};
use tracing::{info, warn};

pub async fn register(shared: &Shared) -> Result<()> {
    sqlx::query(
        "INSERT INTO scheduler_replicas (id, http_url) VALUES ($1, $2) \
         ON CONFLICT (id) DO UPDATE SET started_at = now(), last_seen_at = now(), http_url = EXCLUDED.http_url",
    )
    .bind(&shared.replica_id)
    .bind(shared.http_url.get())
    .execute(&shared.pool)
    .await?;
    Ok(())
}

/// Refreshes this replica's row and reaps dead ones, until shutdown.
pub async fn run(shared: Arc<Shared>) -> Result<()> {
    let every = Duration::from_millis(shared.config.replica_heartbeat_ms);
    loop {
        tokio::select! {
            _ = shared.shutdown.cancelled() => return Ok(()),
            _ = tokio::time::sleep(every) => {}
        }
        if let Err(err) = beat(&shared).await {
            warn!(%err, "replica heartbeat failed");
        }
    }
}

async fn beat(shared: &Shared) -> Result<()> {
    let alive = sqlx::query("UPDATE scheduler_replicas SET last_seen_at = now() WHERE id = $1")
        .bind(&shared.replica_id)
        .execute(&shared.pool)
        .await?
        .rows_affected()
        == 1;
    if !alive {
        // Reaped while stalled: our sessions rows are gone. Come back and make
        // the agents reconnect, so that Postgres and this replica agree again.
        warn!("this replica was reaped by another; dropping its agents");
        register(shared).await?;
        for (_, session) in shared.sessions.all() {
            session.closed.cancel();
        }
    }
    reap(
        shared,
        Duration::from_millis(shared.config.replica_timeout_ms),
    )
    .await?;
    Ok(())
}

/// Deletes replicas silent for longer than `timeout`; returns their ids.
pub async fn reap(shared: &Shared, timeout: Duration) -> Result<Vec<String>> {
    let mut tx = shared.pool.begin().await?;
    let dead: Vec<String> = sqlx::query_scalar(
        "DELETE FROM scheduler_replicas \
         WHERE id <> $1 AND last_seen_at < now() - make_interval(secs => $2) RETURNING id",
    )
    .bind(&shared.replica_id)
    .bind(timeout.as_secs_f64())
    .fetch_all(&mut *tx)
    .await?;
    if !dead.is_empty() {
        // Their sessions rows went with them (ON DELETE CASCADE); their open
        // assignments wait for the agents, which reconnect to a live replica.
        info!(replicas = ?dead, "reaped dead scheduler replicas");
    }
    tx.commit().await?;
    Ok(dead)
}

/// Graceful stop: the row goes, and with it the sessions.
pub async fn deregister(shared: &Shared) -> Result<()> {
    sqlx::query("DELETE FROM scheduler_replicas WHERE id = $1")
        .bind(&shared.replica_id)
        .execute(&shared.pool)
        .await?;
    Ok(())
}
