//! The indexer's connection to Postgres; the schema and its migrations are
//! `iomesh-db`'s.

use crate::error::{Error, Result};
use sqlx::postgres::PgPool;

pub use iomesh_db::{migrate, MIGRATOR};

/// Connects and brings the schema up to date. The pool covers the sharded
/// writers (at most 8), the reconcile and the health of the rest.
pub async fn connect(database_url: &str) -> Result<PgPool> {
    iomesh_db::connect(database_url, 12)
        .await
        .map_err(|err| match err {
            sqlx::Error::Migrate(err) => Error::Migrate(*err),
            other => Error::Postgres(other),
        })
}
