//! Connecting to Postgres and applying the migrations in `migrations/`.

use crate::error::Result;
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::time::Duration;

/// The migrations shared by the indexer and the scheduler.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Connects and brings the schema up to date. The pool covers the sharded
/// writers (at most 8), the reconcile and the health of the rest.
pub async fn connect(database_url: &str) -> Result<PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(12)
        .acquire_timeout(Duration::from_secs(10))
        .connect(database_url)
        .await?;
    migrate(&pool).await?;
    Ok(pool)
}

/// Applies the migrations this release knows and has not applied yet.
///
/// The indexer and the scheduler share one schema and each applies it at
/// start (sqlx serializes them with an advisory lock). During a rolling
/// upgrade a newer release of one may have applied migrations the other does
/// not know: those are tolerated, so an older service still restarts
/// (migrations are additive for that reason: see docs/database.md).
pub async fn migrate(pool: &PgPool) -> Result<()> {
    let mut migrator = sqlx::migrate!("../migrations");
    migrator.set_ignore_missing(true);
    migrator.run(pool).await?;
    Ok(())
}
