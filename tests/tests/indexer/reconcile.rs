use anchor_lang::AccountSerialize;
use iomesh::state::AccountSpace;
use iomesh_indexer::{
    metrics::Metrics,
    reconcile::Reconciler,
    update::AccountUpdate,
    writer::{Batch, Writer},
};
use iomesh_tests::{chain::*, indexer::postgres_matches_chain};
use solana_commitment_config::CommitmentConfig;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use sqlx::{PgPool, Row};

async fn assert_postgres_equals_chain(pool: &PgPool, chain: &Chain) {
    if let Err(difference) = postgres_matches_chain(pool, chain).await {
        panic!("{difference}");
    }
}

#[sqlx::test(migrator = "iomesh_indexer::db::MIGRATOR")]
async fn reconcile_brings_postgres_to_the_chain_and_tombstones_what_it_no_longer_has(pool: PgPool) {
    let chain = Chain::start().await;
    let node = chain.register_node(4).await;
    let renter = chain.renter(1_000).await;
    let active = chain.create_lease(&node, &renter, 1, 1).await;
    chain.activate(&node, active).await;
    let cancelled = chain.create_lease(&node, &renter, 2, 2).await;

    // An indexer that saw the second lease alive, an older state of the first,
    // and an account of the program that has since gone.
    let writer = Writer::new(pool.clone(), iomesh::ID, "test");
    let stale = |pubkey: Pubkey, data: Vec<u8>| AccountUpdate {
        pubkey,
        slot: 1,
        write_version: 1,
        lamports: 1,
        owner: iomesh::ID,
        data,
        created_at: None,
    };
    let lease_data = chain.rpc.get_account_data(&cancelled).await.unwrap();
    let mut older = chain.rpc.get_account_data(&active).await.unwrap();
    older[20] ^= 0xff;
    let gone = Pubkey::new_unique();
    writer
        .write(&Batch {
            updates: vec![
                stale(cancelled, lease_data),
                stale(active, older),
                stale(gone, vec![7; 12]),
            ],
            cursor: Some(1),
            ..Batch::default()
        })
        .await
        .unwrap();
    chain.cancel(&node, &renter, cancelled).await;
    assert!(
        chain.rpc.get_account(&cancelled).await.is_err(),
        "closed on chain"
    );

    let reconciler = Reconciler::new(
        chain.localnet.rpc_url(),
        iomesh::ID,
        CommitmentConfig::confirmed(),
    );
    // Small chunks: several transactions, the cursor moving with the last.
    let slot = reconciler
        .reconcile(&writer, 2, &Metrics::new())
        .await
        .unwrap();
    assert!(slot > 1);
    assert_eq!(writer.cursor().await.unwrap(), Some(slot));
    assert_postgres_equals_chain(&pool, &chain).await;

    let guard = |pubkey: Pubkey| {
        sqlx::query_as::<_, (Option<i64>, i64)>(
            "SELECT closed_slot, write_version FROM accounts WHERE pubkey = $1",
        )
        .bind(pubkey.to_bytes().to_vec())
        .fetch_one(&pool)
    };
    // Gone without a trace in the history: a tombstone at the snapshot.
    assert_eq!(guard(gone).await.unwrap(), (Some(slot as i64), i64::MAX));
    // Closed by a transaction since the cursor: the backfill closed it at
    // that transaction's slot, after every write of the slot.
    let (cancelled_at, write_version) = guard(cancelled).await.unwrap();
    let cancelled_at = cancelled_at.expect("a tombstone");
    assert!(
        cancelled_at > 1 && cancelled_at <= slot as i64,
        "closed at {cancelled_at}"
    );
    assert_eq!(write_version, i64::MAX - 1);
    let ending: String =
        sqlx::query_scalar("SELECT reason FROM lease_endings WHERE lease = $1 AND slot = $2")
            .bind(cancelled.to_bytes().to_vec())
            .bind(cancelled_at)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(ending, "cancelled");
    let (status, closed_slot, data): (String, Option<i64>, Vec<u8>) =
        sqlx::query_as("SELECT status, closed_slot, data FROM leases WHERE pubkey = $1")
            .bind(cancelled.as_ref())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (status.as_str(), closed_slot, data),
        ("pending", Some(cancelled_at), vec![])
    );

    // The typed columns are the chain's, decoded by the program's own types.
    let lease: iomesh::state::Lease = {
        let data = chain.rpc.get_account_data(&active).await.unwrap();
        anchor_lang::AccountDeserialize::try_deserialize(&mut &data[..]).unwrap()
    };
    let row = sqlx::query(
        "SELECT status, renter, node, gpus, deposited::text, activated_at FROM leases WHERE pubkey = $1",
    )
    .bind(active.as_ref())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(row.get::<String, _>(0), "active");
    assert_eq!(
        row.get::<Vec<u8>, _>(1),
        renter.pubkey().to_bytes().to_vec()
    );
    assert_eq!(row.get::<Vec<u8>, _>(2), node.address.to_bytes().to_vec());
    assert_eq!(row.get::<i32, _>(3), 1);
    assert_eq!(row.get::<String, _>(4), lease.deposited.to_string());
    assert_eq!(row.get::<i64, _>(5), lease.activated_at);
    let mut reencoded = Vec::new();
    lease.try_serialize(&mut reencoded).unwrap();
    assert_eq!(reencoded.len(), iomesh::state::Lease::SPACE);

    // Reconciling again changes nothing but the cursor.
    let again = reconciler
        .reconcile(&writer, 1_000, &Metrics::new())
        .await
        .unwrap();
    assert!(again >= slot);
    assert_postgres_equals_chain(&pool, &chain).await;
    chain.localnet.shutdown().await;
}
