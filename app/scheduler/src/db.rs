//! Connecting to Postgres and applying the shared migrations.

use crate::error::Result;
use sqlx::postgres::{PgPool, PgPoolOptions};
use std::time::Duration;

/// The migrations shared by the indexer and the scheduler.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

/// Connects and brings the schema up to date.
pub async fn connect(database_url: &str, connections: u32) -> Result<PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(connections)
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
    let mut migrator = sqlx::migrate!("../../migrations");
    migrator.set_ignore_missing(true);
    migrator.run(pool).await?;
    Ok(())
}

/// Milliseconds since the Unix epoch of a TIMESTAMPTZ column, as SQL.
macro_rules! epoch_ms {
    ($col:literal) => {
        concat!("(extract(epoch from ", $col, ") * 1000)::int8")
    };
}
pub(crate) use epoch_ms;
