use crate::{fixture::*, harness::*};
use iomesh_indexer::source::CLOSURE_WRITE_VERSION;
use sqlx::PgPool;

#[sqlx::test(migrator = "iomesh_indexer::db::MIGRATOR")]
async fn program_transactions_stream_into_postgres_equal_to_the_chain(pool: PgPool) {
    let chain = Chain::start().await;
    let indexer = Indexer::spawn(&pool, chain.localnet.grpc_url(), chain.localnet.rpc_url());
    // The start reconciles (market, payment mint, vault exist already).
    wait_until_postgres_matches_chain(&pool, &chain).await;
    let started_at = indexer.metrics.committed_slot.get();
    assert!(started_at > 0);

    // Everything from here arrives over the stream.
    let node = chain.register_node(4).await;
    let renter = chain.renter(1_000).await;
    let active = chain.create_lease(&node, &renter, 1, 1).await;
    chain.activate(&node, active).await;
    let cancelled = chain.create_lease(&node, &renter, 2, 2).await;
    let _pending = chain.create_lease(&node, &renter, 3, 1).await;
    chain.cancel(&node, &renter, cancelled).await;
    wait_until_postgres_matches_chain(&pool, &chain).await;

    // The closure was seen in the program's transaction and is a tombstone.
    let (closed_slot, write_version): (Option<i64>, i64) =
        sqlx::query_as("SELECT closed_slot, write_version FROM leases WHERE pubkey = $1")
            .bind(cancelled.as_ref())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(closed_slot.unwrap() > started_at);
    assert_eq!(write_version, CLOSURE_WRITE_VERSION as i64);
    let node_row: (String, i32, String) =
        sqlx::query_as("SELECT gpu_model, gpus_in_use, region FROM nodes WHERE pubkey = $1")
            .bind(node.address.as_ref())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(node_row, ("RTX 4090".into(), 2, "eu-west".into()));

    assert_eq!(indexer.metrics.stream_connected.get(), 1);
    assert_eq!(indexer.metrics.reconcile_runs.get(), 1);
    assert_eq!(indexer.metrics.gaps.get(), 0);
    assert!(indexer.metrics.updates_written.get() > 0);
    // The cursor follows the chain.
    assert!(indexer.metrics.committed_slot.get() > started_at);
    indexer.stop().await;
    chain.localnet.shutdown().await;
}
