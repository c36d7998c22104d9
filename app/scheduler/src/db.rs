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
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// Milliseconds since the Unix epoch of a TIMESTAMPTZ column, as SQL.
macro_rules! epoch_ms {
    ($col:literal) => {
        concat!("(extract(epoch from ", $col, ") * 1000)::int8")
    };
}
pub(crate) use epoch_ms;
