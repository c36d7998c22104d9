use iomesh_indexer::source::CLOSURE_WRITE_VERSION;
use iomesh_tests::{chain::*, indexer::*};
use solana_pubkey::Pubkey;
use solana_signer::Signer;
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

    // The program's events came with the transactions, decoded by the IDL.
    let events = |key: Pubkey, field: &'static str| {
        let pool = pool.clone();
        async move {
            sqlx::query_as::<_, (String, String)>(
                "SELECT name, fields::text FROM program_events WHERE fields ->> $2 = $1 \
                 ORDER BY slot, name",
            )
            .bind(key.to_string())
            .bind(field)
            .fetch_all(&pool)
            .await
            .unwrap()
            .into_iter()
            .map(|(name, fields)| (name, serde_json::from_str(&fields).unwrap()))
            .collect::<Vec<(String, serde_json::Value)>>()
        }
    };
    let registered = events(node.address, "node").await;
    let (name, fields) = &registered[0];
    assert_eq!(name, "NodeRegistered");
    assert_eq!(fields["gpu_count"], 4);
    assert_eq!(fields["operator"], node.operator.pubkey().to_string());
    let names = |rows: &[(String, serde_json::Value)]| -> Vec<String> {
        let mut names: Vec<String> = rows.iter().map(|(name, _)| name.clone()).collect();
        names.sort();
        names
    };
    let active_events = events(active, "lease").await;
    assert_eq!(names(&active_events), ["LeaseActivated", "LeaseCreated"]);
    let cancelled_events = events(cancelled, "lease").await;
    assert_eq!(names(&cancelled_events), ["LeaseCreated", "LeaseEnded"]);
    let field = |name: &str, field: &str| {
        let (_, fields) = cancelled_events.iter().find(|(n, _)| n == name).unwrap();
        fields[field].clone()
    };
    assert_eq!(field("LeaseCreated", "gpus"), 2);
    assert_eq!(field("LeaseCreated", "renter"), renter.pubkey().to_string());
    assert_eq!(field("LeaseEnded", "reason"), "Cancelled");
    // Not activated: the whole deposit went back.
    assert_eq!(field("LeaseEnded", "paid_out"), 0);
    assert_eq!(
        field("LeaseEnded", "refunded"),
        field("LeaseCreated", "deposited")
    );

    assert_eq!(indexer.metrics.stream_connected.get(), 1);
    assert_eq!(indexer.metrics.reconcile_runs.get(), 1);
    assert_eq!(indexer.metrics.gaps.get(), 0);
    assert!(indexer.metrics.updates_written.get() > 0);
    // The cursor follows the chain.
    assert!(indexer.metrics.committed_slot.get() > started_at);
    indexer.stop().await;
    chain.localnet.shutdown().await;
}

#[sqlx::test(migrator = "iomesh_indexer::db::MIGRATOR")]
async fn economics_accounts_stream_into_their_typed_tables(pool: PgPool) {
    use anchor_lang::AccountDeserialize;
    use iomesh::state::{AccountSpace, Cluster, IosdConfig, Node, PendingSlash, RewardEpoch};
    use sqlx::Row;

    let chain = Chain::start().await;
    let indexer = Indexer::spawn(&pool, chain.localnet.grpc_url(), chain.localnet.rpc_url());
    wait_until_postgres_matches_chain(&pool, &chain).await;

    // Everything below arrives over the stream: IO vaults, staking, a cluster,
    // slashes (one reversed, so closed), a reward epoch, the IOSD config.
    let e = chain.economics().await;
    wait_until_postgres_matches_chain(&pool, &chain).await;

    async fn chain_account<T: AccountDeserialize>(chain: &Chain, pubkey: &Pubkey) -> (T, Vec<u8>) {
        let data = chain.rpc.get_account_data(pubkey).await.unwrap();
        (T::try_deserialize(&mut &data[..]).unwrap(), data)
    }
    async fn row(pool: &PgPool, sql: &str, pubkey: &Pubkey) -> sqlx::postgres::PgRow {
        sqlx::query(sql)
            .bind(pubkey.as_ref())
            .fetch_one(pool)
            .await
            .unwrap()
    }

    let (node, _) = chain_account::<Node>(&chain, &e.node.address).await;
    let r = row(
        &pool,
        "SELECT staked::text, unstaking::text, unstake_ready_at, slashes_pending, slash_count, \
         gpus_in_use FROM nodes WHERE pubkey = $1",
        &e.node.address,
    )
    .await;
    assert_eq!(r.get::<String, _>(0), node.staked.to_string());
    assert_eq!(node.staked, 58 * TOKEN, "60 staked, 3 slashed, 1 reversed");
    assert_eq!(r.get::<String, _>(1), node.unstaking.to_string());
    assert_eq!(r.get::<i64, _>(2), node.unstake_ready_at);
    assert_eq!(r.get::<i32, _>(3), i32::from(node.slashes_pending));
    assert_eq!(r.get::<i64, _>(4), i64::from(node.slash_count));
    assert_eq!((node.slashes_pending, node.slash_count), (1, 2));
    assert_eq!(r.get::<i32, _>(5), 2);

    let r = row(
        &pool,
        "SELECT io_mint, slash_authority, stake_per_gpu::text, unstake_cooldown_secs, \
         slash_appeal_secs FROM markets WHERE pubkey = $1",
        &market_pda(),
    )
    .await;
    assert_eq!(r.get::<Vec<u8>, _>(0), e.io_mint.to_bytes().to_vec());
    assert_eq!(
        r.get::<Vec<u8>, _>(1),
        chain.authority.pubkey().to_bytes().to_vec()
    );
    assert_eq!(r.get::<String, _>(2), (10 * TOKEN).to_string());
    assert_eq!((r.get::<i64, _>(3), r.get::<i64, _>(4)), (3_600, 3_600));

    let (cluster, _) = chain_account::<Cluster>(&chain, &e.cluster).await;
    let r = row(
        &pool,
        "SELECT renter, nonce::text, leases_expected, leases_funded, leases_unwound, \
         funding_deadline, created_at, completed_at FROM clusters WHERE pubkey = $1",
        &e.cluster,
    )
    .await;
    assert_eq!(r.get::<Vec<u8>, _>(0), cluster.renter.to_bytes().to_vec());
    assert_eq!(r.get::<String, _>(1), "5");
    assert_eq!(
        (r.get::<i32, _>(2), r.get::<i32, _>(3), r.get::<i32, _>(4)),
        (1, 1, 0)
    );
    assert_eq!(r.get::<i64, _>(5), cluster.funding_deadline);
    assert_eq!(r.get::<i64, _>(6), cluster.created_at);
    assert_eq!(r.get::<i64, _>(7), cluster.completed_at);
    assert!(cluster.completed_at > 0);
    let r = row(
        &pool,
        "SELECT in_cluster, cluster_nonce::text, cluster_funding_deadline FROM leases WHERE pubkey = $1",
        &e.cluster_lease,
    )
    .await;
    assert!(r.get::<bool, _>(0));
    assert_eq!(r.get::<String, _>(1), "5");
    assert_eq!(r.get::<i64, _>(2), cluster.funding_deadline);

    let (slash, _) = chain_account::<PendingSlash>(&chain, &e.pending_slash).await;
    let r = row(
        &pool,
        "SELECT reason, slash_index, node, harmed, evidence, rent_payer, amount::text, \
         harmed_amount::text, slashed_at, appeal_ends_at, closed_slot FROM pending_slashes \
         WHERE pubkey = $1",
        &e.pending_slash,
    )
    .await;
    assert_eq!((r.get::<i32, _>(0), r.get::<i64, _>(1)), (1, 1));
    assert_eq!(r.get::<Vec<u8>, _>(2), e.node.address.to_bytes().to_vec());
    assert_eq!(r.get::<Vec<u8>, _>(3), slash.harmed.to_bytes().to_vec());
    assert_eq!(r.get::<Vec<u8>, _>(4), e.cluster_lease.to_bytes().to_vec());
    assert_eq!(
        r.get::<Vec<u8>, _>(5),
        chain.authority.pubkey().to_bytes().to_vec()
    );
    assert_eq!(r.get::<String, _>(6), (2 * TOKEN).to_string());
    assert_eq!(r.get::<String, _>(7), (TOKEN / 2).to_string());
    assert_eq!(r.get::<i64, _>(8), slash.slashed_at);
    assert_eq!(r.get::<i64, _>(9), slash.appeal_ends_at);
    assert_eq!(r.get::<Option<i64>, _>(10), None);
    // The reversed slash was closed by the program's transaction: a tombstone.
    let (closed, data): (Option<i64>, Vec<u8>) =
        sqlx::query_as("SELECT closed_slot, data FROM pending_slashes WHERE pubkey = $1")
            .bind(e.reversed_slash.as_ref())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(closed.is_some());
    assert!(data.is_empty());

    let (epoch, data) = chain_account::<RewardEpoch>(&chain, &e.epoch).await;
    let r = row(
        &pool,
        "SELECT epoch::text, merkle_root, total_amount::text, claimed_amount::text, num_leaves, \
         claims, published_at, claim_deadline, clawed_back, claimed_bitmap FROM reward_epochs \
         WHERE pubkey = $1",
        &e.epoch,
    )
    .await;
    assert_eq!(r.get::<String, _>(0), "1");
    assert_eq!(r.get::<Vec<u8>, _>(1), vec![3; 32]);
    assert_eq!(r.get::<String, _>(2), (10 * TOKEN).to_string());
    assert_eq!(r.get::<String, _>(3), "0");
    assert_eq!((r.get::<i64, _>(4), r.get::<i64, _>(5)), (11, 0));
    assert_eq!(r.get::<i64, _>(6), epoch.published_at);
    assert_eq!(r.get::<i64, _>(7), epoch.claim_deadline);
    assert!(!r.get::<bool, _>(8));
    // 11 leaves: a 2-byte bitmap after the struct, nothing claimed.
    assert_eq!(r.get::<Vec<u8>, _>(9), data[RewardEpoch::SPACE..].to_vec());
    assert_eq!(r.get::<Vec<u8>, _>(9), vec![0, 0]);

    let (iosd, _) = chain_account::<IosdConfig>(&chain, &e.iosd_config).await;
    let r = row(
        &pool,
        "SELECT iosd_mint, price_feed_id, max_price_age_secs, max_confidence_bps, window_secs, \
         window_cap::text, window_start, window_minted::text, total_io_burned::text, \
         total_iosd_minted::text FROM iosd_config WHERE pubkey = $1",
        &e.iosd_config,
    )
    .await;
    assert_eq!(r.get::<Vec<u8>, _>(0), iosd.iosd_mint.to_bytes().to_vec());
    assert_eq!(r.get::<Vec<u8>, _>(1), vec![4; 32]);
    assert_eq!((r.get::<i64, _>(2), r.get::<i32, _>(3)), (60, 100));
    assert_eq!(r.get::<i64, _>(4), 3_600);
    assert_eq!(r.get::<String, _>(5), (1_000 * TOKEN).to_string());
    assert_eq!(r.get::<i64, _>(6), iosd.window_start);
    assert_eq!(
        (
            r.get::<String, _>(7),
            r.get::<String, _>(8),
            r.get::<String, _>(9)
        ),
        ("0".into(), "0".into(), "0".into())
    );

    // The IO token accounts are indexed as vaults (their authority is the market).
    let io_vaults: i64 =
        sqlx::query_scalar("SELECT count(*) FROM vaults WHERE mint = $1 AND closed_slot IS NULL")
            .bind(e.io_mint.as_ref())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(io_vaults, 3);
    assert_eq!(indexer.metrics.gaps.get(), 0);
    // A restart reconciles everything again and still matches, field by field.
    indexer.stop().await;
    let indexer = Indexer::spawn(&pool, chain.localnet.grpc_url(), chain.localnet.rpc_url());
    wait_until_postgres_matches_chain(&pool, &chain).await;
    let unknown: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM accounts WHERE kind IN ('unknown', 'undecodable')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(unknown, 0);
    indexer.stop().await;
    chain.localnet.shutdown().await;
}
