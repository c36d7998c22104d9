use crate::common::{final_error, grpc, localnet, next, read_until, rpc, subscribed};
use futures::{SinkExt, StreamExt};
use solana_commitment_config::CommitmentConfig;
use solana_hash::Hash;
use std::{collections::HashMap, str::FromStr, time::Duration};
use yellowstone_grpc_client::GeyserGrpcClientError;
use yellowstone_grpc_proto::{
    prelude::{
        subscribe_request_filter_accounts_filter::Filter as AccountsFilterKind,
        subscribe_request_filter_accounts_filter_memcmp::Data as MemcmpData,
        subscribe_update::UpdateOneof, CommitmentLevel, SubscribeRequest,
        SubscribeRequestFilterAccounts, SubscribeRequestFilterAccountsFilter,
        SubscribeRequestFilterAccountsFilterMemcmp, SubscribeRequestFilterBlocksMeta,
        SubscribeRequestFilterSlots, SubscribeRequestPing,
    },
    tonic::Code,
};

fn slots_request() -> SubscribeRequest {
    SubscribeRequest {
        slots: [("slots".to_owned(), SubscribeRequestFilterSlots::default())].into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn keepalive_ping_pong_and_filter_replacement() {
    let localnet = localnet().await;
    let mut client = grpc(&localnet).await;
    let (mut sink, mut stream) = client
        .subscribe_with_request(Some(slots_request()))
        .await
        .expect("subscribe");
    // The server's keep-alive ping comes first, like the reference server's.
    let first = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(matches!(first.update_oneof, Some(UpdateOneof::Ping(_))));

    sink.send(SubscribeRequest {
        ping: Some(SubscribeRequestPing { id: 42 }),
        ..Default::default()
    })
    .await
    .unwrap();
    let updates = read_until(&mut stream, |u| {
        matches!(u.update_oneof, Some(UpdateOneof::Pong(_)))
    })
    .await;
    let Some(UpdateOneof::Pong(pong)) = &updates.last().unwrap().update_oneof else {
        unreachable!()
    };
    assert_eq!(pong.id, 42);
    // The ping did not replace the slot filter.
    for _ in 0..3 {
        let update = crate::common::next_update(&mut stream).await;
        assert!(matches!(update.update_oneof, Some(UpdateOneof::Slot(_))));
        assert_eq!(update.filters, vec!["slots".to_owned()]);
    }

    // A full request replaces the filters: block metas only from then on.
    sink.send(SubscribeRequest {
        blocks_meta: [("meta".to_owned(), SubscribeRequestFilterBlocksMeta {})].into(),
        ping: None,
        ..Default::default()
    })
    .await
    .unwrap();
    read_until(&mut stream, |u| {
        matches!(u.update_oneof, Some(UpdateOneof::BlockMeta(_)))
    })
    .await;
    for _ in 0..3 {
        let update = crate::common::next_update(&mut stream).await;
        assert!(
            matches!(update.update_oneof, Some(UpdateOneof::BlockMeta(_))),
            "{update:?}"
        );
        assert_eq!(update.filters, vec!["meta".to_owned()]);
    }
    localnet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_unary_methods_agree_with_json_rpc() {
    let localnet = localnet().await;
    let rpc = rpc(&localnet);
    let mut client = grpc(&localnet).await;
    let health = client.health_check().await.expect("health");
    assert_eq!(
        health.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    for (level, commitment) in [
        (CommitmentLevel::Processed, CommitmentConfig::processed()),
        (CommitmentLevel::Confirmed, CommitmentConfig::confirmed()),
        (CommitmentLevel::Finalized, CommitmentConfig::finalized()),
    ] {
        let before = client.get_slot(Some(level)).await.unwrap().slot;
        let from_rpc = rpc.get_slot_with_commitment(commitment).await.unwrap();
        let after = client.get_slot(Some(level)).await.unwrap().slot;
        assert!(
            before <= from_rpc && from_rpc <= after,
            "{before} {from_rpc} {after}"
        );

        let before = client
            .get_block_height(Some(level))
            .await
            .unwrap()
            .block_height;
        let from_rpc = rpc
            .get_block_height_with_commitment(commitment)
            .await
            .unwrap();
        let after = client
            .get_block_height(Some(level))
            .await
            .unwrap()
            .block_height;
        assert!(
            before <= from_rpc && from_rpc <= after,
            "{before} {from_rpc} {after}"
        );
    }

    let latest = client
        .get_latest_blockhash(Some(CommitmentLevel::Finalized))
        .await
        .unwrap();
    let hash = Hash::from_str(&latest.blockhash).unwrap();
    assert!(rpc
        .is_blockhash_valid(&hash, CommitmentConfig::finalized())
        .await
        .unwrap());
    let (rpc_hash, rpc_last_valid) = rpc
        .get_latest_blockhash_with_commitment(CommitmentConfig::finalized())
        .await
        .unwrap();
    assert!(latest.last_valid_block_height <= rpc_last_valid);
    let valid = client
        .is_blockhash_valid(rpc_hash.to_string(), None)
        .await
        .unwrap();
    assert!(valid.valid);
    let unknown = client
        .is_blockhash_valid(Hash::new_unique().to_string(), None)
        .await
        .unwrap();
    assert!(!unknown.valid);

    let version = client.get_version().await.unwrap().version;
    let version: serde_json::Value = serde_json::from_str(&version).expect("JSON");
    assert_eq!(
        version["solana"],
        serde_json::json!(rpc.get_version().await.unwrap().solana_core)
    );
    assert_eq!(version["proto"], "14.0.1");
    assert_eq!(client.ping(7).await.unwrap().count, 7);

    let first = client
        .subscribe_replay_info()
        .await
        .unwrap()
        .first_available
        .expect("a first available slot");
    let processed = client.get_slot(None).await.unwrap().slot;
    // The default window is 150 slots back from the working slot.
    assert!(
        first <= processed && processed < first + 150 + 5,
        "{first} {processed}"
    );
    let gossip = client.subscribe_gossip().await;
    assert!(
        matches!(&gossip, Err(GeyserGrpcClientError::TonicStatus(s)) if s.code() == Code::Unimplemented)
    );
    localnet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_filters_are_invalid_arguments_and_the_server_keeps_serving() {
    let localnet = localnet().await;
    let mut client = grpc(&localnet).await;
    let accounts = |filter: SubscribeRequestFilterAccounts| SubscribeRequest {
        accounts: [("a".to_owned(), filter)].into(),
        ..Default::default()
    };
    let memcmp = |data| SubscribeRequestFilterAccountsFilter {
        filter: Some(AccountsFilterKind::Memcmp(
            SubscribeRequestFilterAccountsFilterMemcmp { offset: 0, data },
        )),
    };
    let cases = [
        (
            accounts(SubscribeRequestFilterAccounts {
                account: vec!["0OIl-not-base58".into()],
                ..Default::default()
            }),
            "failed to create filter: accounts filter `a`: account has an invalid pubkey \
             `0OIl-not-base58` (expected base58, 32 bytes)",
        ),
        (
            accounts(SubscribeRequestFilterAccounts {
                filters: vec![memcmp(None)],
                ..Default::default()
            }),
            "failed to create filter: accounts filter `a`: memcmp has no data",
        ),
        (
            accounts(SubscribeRequestFilterAccounts {
                filters: vec![memcmp(Some(MemcmpData::Bytes(vec![1]))); 5],
                ..Default::default()
            }),
            "failed to create filter: accounts filter `a`: 5 data filters, the limit is 4",
        ),
        (
            SubscribeRequest {
                commitment: Some(9),
                ..Default::default()
            },
            "failed to create filter: failed to create CommitmentLevel from 9",
        ),
        (
            SubscribeRequest {
                slots: (0..65)
                    .map(|i| (format!("s{i}"), SubscribeRequestFilterSlots::default()))
                    .collect::<HashMap<_, _>>(),
                ..Default::default()
            },
            "failed to create filter: too many slots filters: 65, the limit is 64",
        ),
    ];
    for (request, message) in cases {
        let (_sink, mut stream) = client
            .subscribe_with_request(Some(request))
            .await
            .expect("the stream opens");
        let status = final_error(&mut stream).await;
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), message);
        assert!(next(&mut stream).await.is_none());
    }
    // The same client and server still serve a good subscription.
    let (_sink, mut stream) = subscribed(&mut client, slots_request()).await;
    let update = crate::common::next_update(&mut stream).await;
    assert!(matches!(update.update_oneof, Some(UpdateOneof::Slot(_))));
    localnet.shutdown().await;
}
