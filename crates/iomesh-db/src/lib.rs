//! The database contract of the indexer and the scheduler, owned in one
//! place: the schema's migrations and how they are applied, the NOTIFY
//! channels one service wakes the other with, and the throwaway databases
//! of tests and benchmarks. Who applies migrations: each service, at start
//! (see docs/database.md).

use sqlx::{
    migrate::Migrator,
    postgres::{PgConnectOptions, PgPool, PgPoolOptions},
    ConnectOptions, Connection,
};
use std::{str::FromStr, time::Duration};

/// The schema of `migrations/`, shared by the indexer and the scheduler.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// The NOTIFY channels of the shared database.
pub mod channels {
    /// The indexer committed a batch; the payload is its highest slot.
    pub const INDEXER: &str = "iomesh_indexer";
    /// A replica changed what the dispatcher should look at (a job spec
    /// arrived, an assignment ended).
    pub const SCHEDULER: &str = "iomesh_scheduler";
}

/// Applies the migrations this release knows and has not applied yet.
///
/// Both services apply them at start (sqlx serializes them with an
/// advisory lock). During a rolling upgrade a newer release of one may have
/// applied migrations the other does not know: those are tolerated, so an
/// older service still restarts (migrations are additive for that reason).
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut migrator = sqlx::migrate!("../../migrations");
    migrator.set_ignore_missing(true);
    migrator.run(pool).await?;
    Ok(())
}

/// Connects with up to `connections` connections and brings the schema up
/// to date.
pub async fn connect(database_url: &str, connections: u32) -> Result<PgPool, sqlx::Error> {
    let pool = PgPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect(database_url)
        .await?;
    migrate(&pool).await?;
    Ok(pool)
}

/// A new database `name` on the server of `server_url` (any database of
/// it), migrated, with up to `connections` connections; one left by an
/// earlier run is dropped first. Drop it with [`drop_database`].
pub async fn create_database(
    server_url: &str,
    name: &str,
    connections: u32,
) -> Result<PgPool, sqlx::Error> {
    check_name(name)?;
    let options = PgConnectOptions::from_str(server_url)?;
    let mut admin = options.connect().await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    let pool = PgPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options.database(name))
        .await?;
    migrate(&pool).await?;
    Ok(pool)
}

/// Drops database `name` of the server of `server_url`, closing whatever
/// is still connected to it.
pub async fn drop_database(server_url: &str, name: &str) -> Result<(), sqlx::Error> {
    check_name(name)?;
    let mut admin = PgConnectOptions::from_str(server_url)?.connect().await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    Ok(())
}

/// Database names go into SQL unquoted: letters, digits and `_` only.
fn check_name(name: &str) -> Result<(), sqlx::Error> {
    let valid = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(sqlx::Error::Configuration(
            format!("database name {name:?}: use letters, digits and _ only").into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_database_names_reach_sql() {
        assert!(check_name("iomesh_bench_1a2b").is_ok());
        for bad in ["", "1abc", "a-b", "a;DROP DATABASE x", "a b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_migrations_are_numbered_and_additive() {
        let versions: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
        assert!(!versions.is_empty());
        assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
        // Older services tolerate newer migrations only if none removes what
        // they read (docs/database.md).
        for migration in MIGRATOR.iter() {
            let sql = migration.sql.to_ascii_uppercase();
            for destructive in ["DROP TABLE", "DROP COLUMN", "RENAME "] {
                assert!(
                    !sql.contains(destructive),
                    "migration {} {}: {destructive}",
                    migration.version,
                    migration.description
                );
            }
        }
    }
}
