//! An account change reaches a processed subscriber inside the slot it landed
//! in: before that slot's own processed status. (The latency figures come
//! from `cargo run -p iomesh-localnet-bench`, not from a test.)

use crate::common::{funded, grpc, localnet, read_until, rpc, send, subscribed, watching, SOL};
use iomesh_localnet::Localnet;
use solana_keypair::Keypair;
use solana_signer::Signer;
use yellowstone_grpc_proto::prelude::{
    subscribe_update::UpdateOneof, SlotStatus, SubscribeRequest, SubscribeRequestFilterSlots,
};

async fn assert_delivered_within_its_slot(localnet: &Localnet, samples: u64) {
    let rpc = rpc(localnet);
    let payer = funded(&rpc, 10 * SOL).await;
    let recipient = Keypair::new();
    let mut client = grpc(localnet).await;
    let (_sink, mut stream) = subscribed(
        &mut client,
        SubscribeRequest {
            accounts: watching("recipient", &recipient.pubkey()),
            slots: [("slots".to_owned(), SubscribeRequestFilterSlots::default())].into(),
            ..Default::default()
        },
    )
    .await;
    for i in 0..samples {
        let transfer = solana_system_interface::instruction::transfer(
            &payer.pubkey(),
            &recipient.pubkey(),
            SOL / 1000 + i,
        );
        let signature = send(&rpc, &[transfer], &[&payer]).await;
        let seen = read_until(&mut stream, |u| {
            matches!(&u.update_oneof, Some(UpdateOneof::Account(a))
                if a.account.as_ref().and_then(|a| a.txn_signature.as_deref()) == Some(signature.as_ref()))
        })
        .await;
        let Some(UpdateOneof::Account(update)) = &seen.last().unwrap().update_oneof else {
            unreachable!("read_until stops at the account update");
        };
        let closed_before = seen.iter().any(|u| {
            matches!(&u.update_oneof, Some(UpdateOneof::Slot(s))
                if s.slot == update.slot && s.status == SlotStatus::SlotProcessed as i32)
        });
        assert!(
            !closed_before,
            "update {i} of slot {} arrived after the slot was sealed",
            update.slot
        );
        let landed = rpc
            .get_signature_statuses(&[signature])
            .await
            .unwrap()
            .value[0]
            .clone()
            .expect("status of a sent transaction")
            .slot;
        assert_eq!(
            update.slot, landed,
            "update {i} carries its transaction's slot"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_sent_change_reaches_a_subscriber_before_its_slot_ends() {
    let localnet = localnet().await;
    assert_delivered_within_its_slot(&localnet, 5).await;
    localnet.shutdown().await;
}
