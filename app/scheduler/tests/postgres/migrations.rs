//! Migration skew: a database a newer release already migrated further (say,
//! a newer indexer) must not keep this scheduler from restarting.

use crate::common::*;
use sqlx::PgPool;

#[sqlx::test(migrator = "iomesh_scheduler::db::MIGRATOR")]
async fn a_scheduler_restarts_on_a_schema_a_newer_release_migrated(pool: PgPool) {
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from a newer indexer', true, '\\x00'::bytea, 0)",
    )
    .execute(&pool)
    .await
    .expect("record a newer migration");
    let strict = iomesh_scheduler::db::MIGRATOR.run(&pool).await.unwrap_err();
    assert!(strict.to_string().contains("99990101000000"), "{strict}");

    iomesh_scheduler::db::migrate(&pool)
        .await
        .expect("the scheduler's migrations tolerate a newer one");
    let replica = replica(&pool, "after-upgrade").await;
    let (status, health) = get_json(&format!("{}/health", replica.http_url())).await;
    assert_eq!(status, 200, "{health}");
    replica.stop().await.unwrap();
}
