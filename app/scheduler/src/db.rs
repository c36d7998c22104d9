//! The scheduler's connection to Postgres; the schema and its migrations
//! are `iomesh-db`'s.

use crate::error::{Error, Result};
use sqlx::postgres::PgPool;

pub use iomesh_db::{migrate, MIGRATOR};

/// Connects and brings the schema up to date.
pub async fn connect(database_url: &str, connections: u32) -> Result<PgPool> {
    iomesh_db::connect(database_url, connections)
        .await
        .map_err(|err| match err {
            sqlx::Error::Migrate(err) => Error::Migrate(*err),
            other => Error::Db(other),
        })
}

/// Milliseconds since the Unix epoch of a TIMESTAMPTZ column, as SQL.
macro_rules! epoch_ms {
    ($col:literal) => {
        concat!("(extract(epoch from ", $col, ") * 1000)::int8")
    };
}
pub(crate) use epoch_ms;
