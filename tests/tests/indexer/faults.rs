use iomesh_tests::{chain::*, indexer::*};
use solana_keypair::Keypair;
use sqlx::PgPool;
use std::{process::Stdio, sync::Arc, time::Duration};
use tokio::process::{Child, Command};

#[sqlx::test(migrator = "iomesh_indexer::db::MIGRATOR")]
async fn dropped_streams_and_an_exceeded_replay_window_end_equal_to_the_chain(pool: PgPool) {
    // A replay window of 10 slots (0.5 s).
    let chain = Chain::start_with(|c| c.grpc_replay_slots = 10).await;
    let proxy = Proxy::start(chain.localnet.grpc_addr()).await;
    let indexer = Indexer::spawn(&pool, proxy.url(), chain.localnet.rpc_url());
    wait_until_postgres_matches_chain(&pool, &chain).await;

    let node = chain.register_node(16).await;
    let renter = chain.renter(10_000).await;
    // Streams cut mid-flight: each reconnect resumes from the committed cursor
    // and the overlap is absorbed by the guard.
    for nonce in 0..3 {
        let lease = chain.create_lease(&node, &renter, nonce, 1).await;
        proxy.cut();
        if nonce == 1 {
            chain.cancel(&node, &renter, lease).await;
        }
    }
    wait_until_postgres_matches_chain(&pool, &chain).await;
    assert!(indexer.metrics.reconnects.get() >= 1);
    assert_eq!(indexer.metrics.gaps.get(), 0);

    // A lease Postgres has seen alive...
    let seen = chain.create_lease(&node, &renter, 9, 1).await;
    wait_until_postgres_matches_chain(&pool, &chain).await;
    // ...closed while the indexer is cut off for longer than the replay window,
    // while other leases come and go.
    proxy.refuse(true);
    let cursor = indexer.metrics.committed_slot.get() as u64;
    chain.cancel(&node, &renter, seen).await;
    for nonce in 10..14 {
        let lease = chain.create_lease(&node, &renter, nonce, 1).await;
        if nonce % 2 == 0 {
            chain.cancel(&node, &renter, lease).await;
        }
    }
    while chain.localnet.slots().confirmed < cursor + 30 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    proxy.refuse(false);
    wait_until_postgres_matches_chain(&pool, &chain).await;
    assert!(indexer.metrics.gaps.get() >= 1, "the gap was counted");
    assert!(indexer.metrics.reconcile_runs.get() >= 2, "and reconciled");
    // Seen alive, closed during the gap: a tombstone from the reconcile.
    assert!(closed_slot(&pool, &seen).await.unwrap() as u64 > cursor);
    indexer.stop().await;
    chain.localnet.shutdown().await;
}

/// The database URL of the test's own database.
pub async fn database_url(pool: &PgPool) -> String {
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await
        .unwrap();
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let (server, _) = base.rsplit_once('/').expect("a database URL");
    format!("{server}/{name}")
}

/// Creates `leases` one-GPU leases in the background, cancelling those whose
/// nonce `cancelled` picks.
fn churn(
    chain: &Arc<Chain>,
    node: TestNode,
    renter: &Keypair,
    leases: u64,
    cancelled: fn(u64) -> bool,
) -> tokio::task::JoinHandle<()> {
    let chain = chain.clone();
    let renter = renter.insecure_clone();
    tokio::spawn(async move {
        for nonce in 0..leases {
            let lease = chain.create_lease(&node, &renter, nonce, 1).await;
            if cancelled(nonce) {
                chain.cancel(&node, &renter, lease).await;
            }
        }
    })
}

pub fn spawn_binary(database_url: &str, chain: &Chain) -> Child {
    Command::new(iomesh_tests::workspace_binary("iomesh-indexer"))
        .env("DATABASE_URL", database_url)
        .env("IOMESH_INDEXER_GRPC_ENDPOINT", chain.localnet.grpc_url())
        .env("IOMESH_RPC_URL", chain.localnet.rpc_url())
        .env("IOMESH_INDEXER_HTTP_ADDR", "127.0.0.1:0")
        .env("IOMESH_INDEXER_CURSOR_ID", "test")
        .env("IOMESH_INDEXER_BATCH_MAX_UPDATES", "64")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the indexer binary starts")
}

#[sqlx::test(migrator = "iomesh_indexer::db::MIGRATOR")]
async fn sigkill_mid_batch_and_restart_repeatedly_ends_equal_to_the_chain(pool: PgPool) {
    let chain = Arc::new(Chain::start().await);
    let url = database_url(&pool).await;
    let node = chain.register_node(64).await;
    let renter = chain.renter(100_000).await;

    // Leases come and go the whole time.
    let load = churn(&chain, node, &renter, 24, |nonce| nonce % 3 != 0);
    for round in 0..4u64 {
        let mut child = spawn_binary(&url, &chain);
        tokio::time::sleep(Duration::from_millis(400 + 150 * round)).await;
        child.kill().await.expect("SIGKILL");
    }
    load.await.unwrap();
    let mut child = spawn_binary(&url, &chain);
    wait_until_postgres_matches_chain(&pool, &chain).await;

    // SIGTERM: a graceful stop that exits cleanly.
    let pid = child.id().expect("running") as i32;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("stops after SIGTERM")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    postgres_matches_chain(&pool, &chain).await.unwrap();
}

#[sqlx::test(migrator = "iomesh_indexer::db::MIGRATOR")]
async fn postgres_lost_and_restored_under_the_binary_ends_equal_to_the_chain(pool: PgPool) {
    let chain = Arc::new(Chain::start().await);
    let url = database_url(&pool).await;
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    // Outages are driven from the server's maintenance database, not the test's.
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let (server, _) = base.rsplit_once('/').expect("a database URL");
    let admin = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&format!("{server}/postgres"))
        .await
        .unwrap();
    let mut child = spawn_binary(&url, &chain);
    wait_until_postgres_matches_chain(&pool, &chain).await;

    let node = chain.register_node(64).await;
    let renter = chain.renter(100_000).await;
    let load = churn(&chain, node, &renter, 16, |nonce| nonce % 2 == 0);
    for outage in 0..3 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        // Connections refused, then every open one killed: the indexer's
        // commits and reconnects fail for a while.
        sqlx::query(&format!(
            "ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false"
        ))
        .execute(&admin)
        .await
        .unwrap();
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
        )
        .bind(&name)
        .fetch_all(&admin)
        .await
        .unwrap();
        assert!(
            !killed.is_empty(),
            "outage {outage}: the indexer was connected"
        );
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        sqlx::query(&format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"))
            .execute(&admin)
            .await
            .unwrap();
    }
    load.await.unwrap();
    wait_until_postgres_matches_chain(&pool, &chain).await;
    // It rode the outages out: still running, nothing lost.
    assert!(
        child.try_wait().unwrap().is_none(),
        "the indexer exited during an outage"
    );
    child.kill().await.unwrap();
}
