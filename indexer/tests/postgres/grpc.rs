use crate::common::*;
use crate::geyser::{indexer_source, serve, slot_update};
use iomesh_indexer::{
    batcher::{self, BatchConfig},
    metrics::Metrics,
    source::{self, Ended},
    update::Event,
};
use solana_pubkey::Pubkey;
use sqlx::PgPool;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use yellowstone_grpc_proto::prelude::{
    subscribe_update::UpdateOneof, SubscribeUpdate, SubscribeUpdateAccount,
    SubscribeUpdateAccountInfo,
};

fn account(
    pubkey: Pubkey,
    owner: Pubkey,
    slot: u64,
    write_version: u64,
    data: Vec<u8>,
) -> SubscribeUpdate {
    SubscribeUpdate {
        filters: vec!["program".into()],
        created_at: None,
        update_oneof: Some(UpdateOneof::Account(SubscribeUpdateAccount {
            account: Some(SubscribeUpdateAccountInfo {
                pubkey: pubkey.to_bytes().to_vec(),
                lamports: 1_000_000,
                owner: owner.to_bytes().to_vec(),
                executable: false,
                rent_epoch: u64::MAX,
                data,
                write_version,
                txn_signature: None,
            }),
            slot,
            is_startup: false,
            bank_id: None,
        })),
    }
}

/// Garbage reaching the indexer through its real gRPC source: program-owned
/// accounts with an unknown discriminator, a truncated known type, fewer bytes
/// than a discriminator, and a token account that does not parse, between good
/// accounts. Nothing crashes, the garbage is kept raw and counted, the good
/// accounts and the cursor land.
#[sqlx::test(migrator = "iomesh_indexer::db::MIGRATOR")]
async fn garbage_over_grpc_is_kept_raw_counted_and_never_stops_the_stream(pool: PgPool) {
    let mut truncated_node = encode(&node());
    truncated_node.truncate(100);
    let updates = vec![
        account(key(1), iomesh::ID, 10, 1, encode(&lease(1))),
        account(
            key(2),
            iomesh::ID,
            10,
            2,
            [vec![0xee; 8], vec![1; 40]].concat(),
        ),
        account(key(3), iomesh::ID, 10, 3, truncated_node),
        account(key(4), iomesh::ID, 10, 4, vec![7, 7]),
        account(key(5), spl_token_interface::ID, 10, 5, vec![0; 17]),
        account(key(6), iomesh::ID, 10, 6, encode(&cluster())),
        slot_update(10),
    ];
    let (addr, stop) = serve(Arc::new(updates), None).await;
    let metrics = Metrics::new();
    let (events, receiver) = mpsc::channel::<Event>(64);
    let batcher = tokio::spawn(batcher::run(
        receiver,
        writer(&pool),
        BatchConfig::default(),
        metrics.clone(),
        CancellationToken::new(),
    ));
    let (config, reconciler) = indexer_source(addr);
    let ended = source::stream(
        &config,
        9,
        &reconciler,
        &events,
        &metrics,
        &CancellationToken::new(),
    )
    .await;
    // The server ends its stream after the last update; the source would reconnect.
    assert!(matches!(ended, Ended::Reconnect(_)), "{ended:?}");
    drop(events);
    batcher.await.unwrap().unwrap();
    stop.cancel();

    let rows: Vec<(String, Option<Vec<u8>>, Option<String>)> =
        sqlx::query_as("SELECT kind, data, decode_error FROM accounts ORDER BY pubkey")
            .fetch_all(&pool)
            .await
            .unwrap();
    let kinds: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "lease",
            "unknown",
            "undecodable",
            "undecodable",
            "undecodable",
            "cluster"
        ]
    );
    assert_eq!(rows[1].1.as_deref().map(<[u8]>::len), Some(48));
    assert!(
        rows[2].2.as_deref().unwrap().starts_with("Node: "),
        "{:?}",
        rows[2].2
    );
    assert_eq!(
        rows[3].2.as_deref(),
        Some("2 bytes is shorter than a discriminator")
    );
    assert!(
        rows[4].2.as_deref().unwrap().starts_with("token account: "),
        "{:?}",
        rows[4].2
    );
    assert_eq!(lease_row(&pool, &key(1)).await.map(|r| r.0), Some(10));
    assert_eq!(writer(&pool).cursor().await.unwrap(), Some(10));
    let raw = |reason: &str| metrics.raw_accounts.with_label_values(&[reason]).get();
    assert_eq!((raw("unknown"), raw("undecodable")), (1, 3));
    assert_eq!(metrics.updates_written.get(), 6);
}
