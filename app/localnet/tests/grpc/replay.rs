use crate::common::{
    confirmed_slot, final_error, funded, grpc, is_slot_status, localnet_with, next, poll,
    read_until, rpc, send, test_config, watching, SOL,
};
use iomesh_localnet::Config;
use solana_keypair::Keypair;
use solana_signer::Signer;
use yellowstone_grpc_proto::{
    prelude::{
        subscribe_update::UpdateOneof, SlotStatus, SubscribeRequest, SubscribeRequestFilterSlots,
    },
    tonic::Code,
};

const WINDOW: u64 = 20;

#[tokio::test(flavor = "multi_thread")]
async fn from_slot_replays_missed_updates_and_refuses_slots_outside_the_window() {
    let localnet = localnet_with(Config {
        grpc_replay_slots: WINDOW,
        ..test_config()
    })
    .await;
    let rpc = rpc(&localnet);
    let alice = funded(&rpc, 2 * SOL).await;
    let bob = Keypair::new();
    // Sent while nobody is subscribed.
    let signature = send(
        &rpc,
        &[solana_system_interface::instruction::transfer(
            &alice.pubkey(),
            &bob.pubkey(),
            SOL,
        )],
        &[&alice],
    )
    .await;
    let slot = confirmed_slot(&rpc, &signature).await;

    let request = |from_slot| SubscribeRequest {
        accounts: watching("bob", &bob.pubkey()),
        slots: [("slots".to_owned(), SubscribeRequestFilterSlots::default())].into(),
        from_slot: Some(from_slot),
        ..Default::default()
    };
    let mut client = grpc(&localnet).await;
    let (_sink, mut stream) = client
        .subscribe_with_request(Some(request(slot - 1)))
        .await
        .expect("subscribe");
    let replayed = read_until(&mut stream, |u| {
        is_slot_status(u, slot, SlotStatus::SlotProcessed)
    })
    .await;
    let accounts: Vec<_> = replayed
        .iter()
        .filter_map(|u| match &u.update_oneof {
            Some(UpdateOneof::Account(a)) => Some(a.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(accounts.len(), 1, "{accounts:?}");
    let account = accounts[0].account.as_ref().unwrap();
    assert_eq!(accounts[0].slot, slot);
    assert_eq!(account.lamports, SOL);
    assert_eq!(account.txn_signature.as_deref(), Some(signature.as_ref()));
    // The replay starts at from_slot: the first slot status is for slot - 1.
    let first_slot = replayed
        .iter()
        .find_map(|u| match &u.update_oneof {
            Some(UpdateOneof::Slot(s)) => Some(s.slot),
            _ => None,
        })
        .unwrap();
    assert_eq!(first_slot, slot - 1);

    // Once the window has moved past the transfer, its slot is refused.
    let first_available = poll("the window to move past the transfer", || async {
        let info = grpc(&localnet)
            .await
            .subscribe_replay_info()
            .await
            .expect("replay info");
        info.first_available.filter(|first| *first > slot)
    })
    .await;
    let (_sink, mut stream) = client
        .subscribe_with_request(Some(request(slot)))
        .await
        .expect("subscribe");
    let status = final_error(&mut stream).await;
    assert_eq!(status.code(), Code::OutOfRange);
    let oldest: u64 = status
        .message()
        .rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("the message ends with the oldest slot");
    assert!(oldest >= first_available);
    assert_eq!(
        status.message(),
        format!("broadcast from {slot} is not available, last available: {oldest}")
    );
    // And the stream ends there.
    assert!(next(&mut stream).await.is_none());
    localnet.shutdown().await;
}
