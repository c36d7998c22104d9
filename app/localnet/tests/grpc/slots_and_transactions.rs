use crate::common::{
    confirmed_slot, funded, grpc, is_slot_status, localnet, read_until, rpc, send, subscribed,
    watching, SOL,
};
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signature::Signature;
use solana_signer::Signer;
use std::collections::HashMap;
use yellowstone_grpc_proto::prelude::{
    subscribe_update::UpdateOneof, CommitmentLevel, SlotStatus, SubscribeRequest,
    SubscribeRequestFilterBlocksMeta, SubscribeRequestFilterSlots,
    SubscribeRequestFilterTransactions, SubscribeUpdate,
};

fn slot_of(update: &SubscribeUpdate) -> Option<(u64, i32)> {
    match &update.update_oneof {
        Some(UpdateOneof::Slot(s)) => Some((s.slot, s.status)),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn slot_statuses_progress_processed_confirmed_finalized_with_block_meta() {
    let localnet = localnet().await;
    let mut client = grpc(&localnet).await;
    let (_sink, mut stream) = subscribed(
        &mut client,
        SubscribeRequest {
            slots: [(
                "slots".to_owned(),
                SubscribeRequestFilterSlots {
                    filter_by_commitment: Some(false),
                    interslot_updates: Some(false),
                },
            )]
            .into(),
            blocks_meta: [("meta".to_owned(), SubscribeRequestFilterBlocksMeta {})].into(),
            ..Default::default()
        },
    )
    .await;
    // The first slot processed after subscribing, followed to finalized.
    let first = read_until(
        &mut stream,
        |u| matches!(slot_of(u), Some((_, s)) if s == SlotStatus::SlotProcessed as i32),
    )
    .await;
    let target = slot_of(first.last().unwrap()).unwrap().0;
    let updates = read_until(&mut stream, |u| {
        is_slot_status(u, target, SlotStatus::SlotFinalized)
    })
    .await;
    let statuses: Vec<i32> = first
        .iter()
        .chain(&updates)
        .filter_map(slot_of)
        .filter(|(slot, _)| *slot == target)
        .map(|(_, status)| status)
        .collect();
    assert_eq!(
        statuses,
        vec![
            SlotStatus::SlotProcessed as i32,
            SlotStatus::SlotConfirmed as i32,
            SlotStatus::SlotFinalized as i32
        ]
    );
    let all: Vec<&SubscribeUpdate> = first.iter().chain(&updates).collect();
    // Its block meta came right before its processed status.
    let processed_at = all
        .iter()
        .position(|u| is_slot_status(u, target, SlotStatus::SlotProcessed))
        .unwrap();
    let Some(UpdateOneof::BlockMeta(meta)) = &all[processed_at - 1].update_oneof else {
        panic!(
            "block meta before the processed status: {:?}",
            all[processed_at - 1]
        );
    };
    assert_eq!(meta.slot, target);
    assert_eq!(meta.parent_slot, target - 1);
    assert_eq!(all[processed_at - 1].filters, vec!["meta".to_owned()]);
    let Some(UpdateOneof::Slot(processed)) = &all[processed_at].update_oneof else {
        unreachable!()
    };
    assert_eq!(processed.parent, Some(target - 1));
    assert_eq!(processed.bank_id, Some(meta.bank_id));
    // Slot statuses carry the bank and its parent at every level.
    for update in &updates {
        if let Some(UpdateOneof::Slot(s)) = &update.update_oneof {
            assert_eq!(s.parent, Some(s.slot - 1));
            assert!(s.bank_id.is_some());
        }
    }
    // The block meta agrees with the JSON-RPC's view of the block.
    let rpc = rpc(&localnet);
    let height = meta.block_height.as_ref().unwrap().block_height;
    assert!(height > 0 && height <= rpc.get_block_height().await.unwrap());
    localnet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn confirmed_subscription_gets_a_slots_content_when_it_confirms() {
    let localnet = localnet().await;
    let rpc = rpc(&localnet);
    let alice = funded(&rpc, 2 * SOL).await;
    let bob = Keypair::new();
    let mut client = grpc(&localnet).await;
    let (_sink, mut stream) = subscribed(
        &mut client,
        SubscribeRequest {
            accounts: watching("bob", &bob.pubkey()),
            slots: [("slots".to_owned(), SubscribeRequestFilterSlots::default())].into(),
            blocks_meta: [("meta".to_owned(), SubscribeRequestFilterBlocksMeta {})].into(),
            commitment: Some(CommitmentLevel::Confirmed as i32),
            ..Default::default()
        },
    )
    .await;
    let transfer =
        solana_system_interface::instruction::transfer(&alice.pubkey(), &bob.pubkey(), SOL);
    let signature = send(&rpc, &[transfer], &[&alice]).await;
    let slot = confirmed_slot(&rpc, &signature).await;
    let updates = read_until(&mut stream, |u| {
        is_slot_status(u, slot, SlotStatus::SlotConfirmed)
    })
    .await;
    let position = |pred: &dyn Fn(&SubscribeUpdate) -> bool| updates.iter().position(pred);
    let processed = position(&|u| is_slot_status(u, slot, SlotStatus::SlotProcessed))
        .expect("the processed status reaches a confirmed subscriber");
    let account =
        position(&|u| matches!(&u.update_oneof, Some(UpdateOneof::Account(a)) if a.slot == slot))
            .expect("bob's update");
    let meta =
        position(&|u| matches!(&u.update_oneof, Some(UpdateOneof::BlockMeta(m)) if m.slot == slot))
            .expect("the block meta");
    let confirmed = updates.len() - 1;
    // Content is held back until the slot confirms, then meta, then status.
    assert!(processed < account && account < meta && meta < confirmed);
    assert_eq!(meta + 1, confirmed);
    let Some(UpdateOneof::Account(a)) = &updates[account].update_oneof else {
        unreachable!()
    };
    assert_eq!(a.account.as_ref().unwrap().lamports, SOL);
    localnet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn transaction_updates_carry_signature_logs_and_meta_by_filter() {
    let localnet = localnet().await;
    let rpc = rpc(&localnet);
    let alice = funded(&rpc, 2 * SOL).await;
    let bob = Keypair::new();
    let tx_filter = |failed: bool| SubscribeRequestFilterTransactions {
        vote: Some(false),
        failed: Some(failed),
        account_include: vec![bob.pubkey().to_string()],
        account_required: vec![alice.pubkey().to_string()],
        ..Default::default()
    };
    let mut client = grpc(&localnet).await;
    let (_sink, mut stream) = subscribed(
        &mut client,
        SubscribeRequest {
            transactions: [
                ("ok".to_owned(), tx_filter(false)),
                ("failed".to_owned(), tx_filter(true)),
                (
                    "excluded".to_owned(),
                    SubscribeRequestFilterTransactions {
                        account_exclude: vec![bob.pubkey().to_string()],
                        account_required: vec![alice.pubkey().to_string()],
                        ..Default::default()
                    },
                ),
            ]
            .into(),
            ..Default::default()
        },
    )
    .await;
    let good = send(
        &rpc,
        &[solana_system_interface::instruction::transfer(
            &alice.pubkey(),
            &bob.pubkey(),
            SOL / 2,
        )],
        &[&alice],
    )
    .await;
    // More than alice holds: it lands (the fee is charged) and fails.
    let blockhash = rpc.get_latest_blockhash().await.unwrap();
    let bad_tx = solana_transaction::Transaction::new_signed_with_payer(
        &[solana_system_interface::instruction::transfer(
            &alice.pubkey(),
            &bob.pubkey(),
            100 * SOL,
        )],
        Some(&alice.pubkey()),
        &[&alice],
        blockhash,
    );
    let bad = rpc
        .send_transaction_with_config(
            &bad_tx,
            solana_client::rpc_config::RpcSendTransactionConfig {
                skip_preflight: true,
                ..Default::default()
            },
        )
        .await
        .expect("sent without preflight");
    let mut got: HashMap<Signature, (Vec<String>, _)> = HashMap::new();
    while got.len() < 2 {
        let update = crate::common::next_update(&mut stream).await;
        if let Some(UpdateOneof::Transaction(t)) = update.update_oneof {
            let info = t.transaction.unwrap();
            let signature = Signature::try_from(info.signature.as_slice()).unwrap();
            got.insert(signature, (update.filters, (t.slot, info)));
        }
    }
    let (filters, (slot, info)) = &got[&good];
    assert_eq!(filters, &vec!["ok".to_owned()]);
    assert_eq!(*slot, confirmed_slot(&rpc, &good).await);
    assert!(!info.is_vote);
    let meta = info.meta.as_ref().unwrap();
    assert_eq!(meta.err, None);
    assert_eq!(meta.fee, 5_000);
    let system = solana_system_interface::program::ID;
    assert_eq!(
        meta.log_messages,
        vec![
            format!("Program {system} invoke [1]"),
            format!("Program {system} success"),
        ]
    );
    let message = info.transaction.as_ref().unwrap().message.as_ref().unwrap();
    let keys: Vec<Pubkey> = message
        .account_keys
        .iter()
        .map(|k| Pubkey::try_from(k.as_slice()).unwrap())
        .collect();
    assert_eq!(keys, vec![alice.pubkey(), bob.pubkey(), system]);
    assert_eq!(
        info.transaction.as_ref().unwrap().signatures,
        vec![good.as_ref().to_vec()]
    );
    let fetched = crate::common::get_transaction(
        &rpc,
        &good,
        solana_commitment_config::CommitmentConfig::confirmed(),
    )
    .await
    .unwrap();
    let rpc_meta = fetched.transaction.meta.unwrap();
    assert_eq!(meta.pre_balances, rpc_meta.pre_balances);
    assert_eq!(meta.post_balances, rpc_meta.post_balances);

    let (filters, (_, info)) = &got[&bad];
    assert_eq!(filters, &vec!["failed".to_owned()]);
    let meta = info.meta.as_ref().unwrap();
    let err: solana_transaction_error::TransactionError =
        bincode::deserialize(&meta.err.as_ref().expect("an error").err).unwrap();
    assert_eq!(
        err,
        solana_transaction_error::TransactionError::InstructionError(
            0,
            solana_instruction::error::InstructionError::Custom(1)
        )
    );
    assert!(meta
        .log_messages
        .iter()
        .any(|l| l.contains("insufficient lamports")));
    localnet.shutdown().await;
}
