use crate::common::{
    confirmed_slot, funded, grpc, initialize_market, read_until, rpc, send, subscribed, watching,
    SOL,
};
use anchor_lang::Discriminator;
use futures::StreamExt;
use iomesh::state::{AccountSpace, Market};
use solana_keypair::Keypair;
use solana_signer::Signer;
use yellowstone_grpc_client::ReconnectEvent;
use yellowstone_grpc_proto::prelude::{
    subscribe_request_filter_accounts_filter::Filter as AccountsFilterKind,
    subscribe_request_filter_accounts_filter_memcmp::Data as MemcmpData,
    subscribe_update::UpdateOneof, CommitmentLevel, SubscribeRequest,
    SubscribeRequestFilterAccounts, SubscribeRequestFilterAccountsFilter,
    SubscribeRequestFilterAccountsFilterMemcmp,
};

/// What the indexer subscribes to: program accounts of one type, by
/// owner + discriminator + size, at confirmed.
#[tokio::test(flavor = "multi_thread")]
async fn iomesh_program_accounts_stream_by_discriminator() {
    let localnet = crate::common::localnet().await;
    let rpc = rpc(&localnet);
    let authority = funded(&rpc, 10 * SOL).await;
    let mut client = grpc(&localnet).await;
    let (_sink, mut stream) = subscribed(
        &mut client,
        SubscribeRequest {
            accounts: [(
                "markets".to_owned(),
                SubscribeRequestFilterAccounts {
                    owner: vec![iomesh::ID.to_string()],
                    filters: vec![
                        SubscribeRequestFilterAccountsFilter {
                            filter: Some(AccountsFilterKind::Memcmp(
                                SubscribeRequestFilterAccountsFilterMemcmp {
                                    offset: 0,
                                    data: Some(MemcmpData::Base58(
                                        bs58::encode(Market::DISCRIMINATOR).into_string(),
                                    )),
                                },
                            )),
                        },
                        SubscribeRequestFilterAccountsFilter {
                            filter: Some(AccountsFilterKind::Datasize(Market::SPACE as u64)),
                        },
                    ],
                    ..Default::default()
                },
            )]
            .into(),
            commitment: Some(CommitmentLevel::Confirmed as i32),
            ..Default::default()
        },
    )
    .await;
    let (market, ix) = initialize_market(&authority.pubkey());
    let signature = send(&rpc, &[ix], &[&authority]).await;
    let slot = confirmed_slot(&rpc, &signature).await;
    let updates = read_until(&mut stream, |u| {
        matches!(u.update_oneof, Some(UpdateOneof::Account(_)))
    })
    .await;
    let Some(UpdateOneof::Account(update)) = &updates.last().unwrap().update_oneof else {
        unreachable!()
    };
    let account = update.account.as_ref().unwrap();
    assert_eq!(update.slot, slot);
    assert_eq!(account.pubkey, market.to_bytes().to_vec());
    assert_eq!(account.owner, iomesh::ID.to_bytes().to_vec());
    assert_eq!(account.txn_signature.as_deref(), Some(signature.as_ref()));
    let on_chain = rpc.get_account(&market).await.unwrap();
    assert_eq!(account.data, on_chain.data);
    assert_eq!(account.lamports, on_chain.lamports);
    localnet.shutdown().await;
}

/// The stock client's reconnecting stream tracks banks by block meta and
/// bank id; it must pass the localnet's updates through.
#[tokio::test(flavor = "multi_thread")]
async fn reconnecting_client_streams_account_updates() {
    let localnet = crate::common::localnet().await;
    let rpc = rpc(&localnet);
    let alice = funded(&rpc, 2 * SOL).await;
    let bob = Keypair::new();
    let mut client = grpc(&localnet).await;
    let (_sink, mut stream) = client
        .subscribe_with_reconnect(Some(SubscribeRequest {
            accounts: watching("bob", &bob.pubkey()),
            commitment: Some(CommitmentLevel::Confirmed as i32),
            ..Default::default()
        }))
        .await
        .expect("subscribe");
    let mut payments = Vec::new();
    for lamports in [SOL / 4, SOL / 2] {
        let transfer = solana_system_interface::instruction::transfer(
            &alice.pubkey(),
            &bob.pubkey(),
            lamports,
        );
        payments.push(send(&rpc, &[transfer], &[&alice]).await);
        confirmed_slot(&rpc, payments.last().unwrap()).await;
    }
    let mut seen: Vec<yellowstone_grpc_proto::prelude::SubscribeUpdateAccountInfo> = Vec::new();
    while seen.last().and_then(|a| a.txn_signature.as_deref()) != Some(payments[1].as_ref()) {
        let event = tokio::time::timeout(crate::common::TIMEOUT, stream.next())
            .await
            .expect("an event in time")
            .expect("the stream goes on")
            .expect("no error");
        match event {
            ReconnectEvent::Update(update) => {
                if let Some(UpdateOneof::Account(a)) = update.update_oneof {
                    assert_eq!(
                        update.filters,
                        vec!["bob".to_owned()],
                        "internal filters hidden"
                    );
                    seen.push(a.account.unwrap());
                }
            }
            ReconnectEvent::Disconnected(d) => panic!("unexpected disconnect: {d:?}"),
        }
    }
    // The first transfer may land before the filter is installed; the last is always seen.
    let last = seen.last().unwrap();
    assert_eq!(last.lamports, SOL / 4 + SOL / 2);
    assert_eq!(last.txn_signature.as_deref(), Some(payments[1].as_ref()));
    localnet.shutdown().await;
}
