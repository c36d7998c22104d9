use iomesh_indexer::db::MIGRATOR;
use sqlx::PgPool;

#[sqlx::test(migrations = false)]
async fn migrations_apply_on_an_empty_database_and_are_idempotent(pool: PgPool) {
    MIGRATOR.run(&pool).await.expect("first run");
    MIGRATOR.run(&pool).await.expect("second run is a no-op");
    // Re-running the SQL itself (as an operator might by hand) changes nothing either.
    for migration in MIGRATOR.iter() {
        sqlx::raw_sql(&migration.sql)
            .execute(&pool)
            .await
            .expect("migration SQL is idempotent");
    }
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%' ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    // The indexer's tables (other migrations, e.g. the scheduler's, may add more).
    for table in [
        "accounts",
        "clusters",
        "indexer_cursor",
        "iosd_config",
        "leases",
        "markets",
        "nodes",
        "payment_mints",
        "pending_slashes",
        "reward_epochs",
        "vaults",
    ] {
        assert!(
            tables.iter().any(|t| t == table),
            "{table} missing: {tables:?}"
        );
    }
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(applied, MIGRATOR.iter().count() as i64);
    let u64_max: String = sqlx::query_scalar("SELECT iomesh_u64(-1)::text")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(u64_max, u64::MAX.to_string());
}

/// A migration only a newer release knows, as that release would record it.
async fn record_newer_migration(pool: &PgPool) {
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from a newer release', true, '\\x00'::bytea, 0)",
    )
    .execute(pool)
    .await
    .expect("record a newer migration");
}

#[sqlx::test(migrations = false)]
async fn a_newer_release_s_migrations_do_not_stop_the_indexer_from_starting(pool: PgPool) {
    iomesh_indexer::db::migrate(&pool)
        .await
        .expect("first start");
    record_newer_migration(&pool).await;
    // sqlx's default refuses a database ahead of the binary...
    let strict = MIGRATOR.run(&pool).await.unwrap_err();
    assert!(strict.to_string().contains("99990101000000"), "{strict}");
    // ...which would keep an older indexer from restarting mid-upgrade.
    iomesh_indexer::db::migrate(&pool)
        .await
        .expect("an older indexer restarts on a newer schema");
}
