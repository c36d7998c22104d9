use crate::common::{client, confirm, funded, localnet, localnet_with_slot};
use solana_account_decoder_client_types::UiAccountEncoding;
use solana_client::rpc_config::{
    RpcSendTransactionConfig, RpcSimulateTransactionAccountsConfig, RpcSimulateTransactionConfig,
    RpcTransactionConfig,
};
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_message::Message;
use solana_signer::Signer;
use solana_transaction::Transaction;
use solana_transaction_status_client_types::{
    option_serializer::OptionSerializer, TransactionConfirmationStatus, UiTransactionEncoding,
};
use std::time::Duration;

const SOL: u64 = 1_000_000_000;

#[tokio::test(flavor = "multi_thread")]
async fn airdrop_transfer_balance_status_and_transaction_logs() {
    let localnet = localnet().await;
    // Stock client defaults: finalized commitment.
    let rpc = client(&localnet, CommitmentConfig::finalized());
    let alice = funded(&rpc, 10 * SOL).await;
    let bob = Keypair::new();

    let blockhash = rpc.get_latest_blockhash().await.expect("blockhash");
    let transfer =
        solana_system_interface::instruction::transfer(&alice.pubkey(), &bob.pubkey(), 2 * SOL);
    let message = Message::new_with_blockhash(&[transfer], Some(&alice.pubkey()), &blockhash);
    let fee = rpc
        .get_fee_for_message(&message)
        .await
        .expect("getFeeForMessage");
    assert_eq!(fee, 5_000);
    let tx = Transaction::new(&[&alice], message, blockhash);
    let signature = rpc
        .send_and_confirm_transaction(&tx)
        .await
        .expect("transfer lands and finalizes");

    assert_eq!(rpc.get_balance(&bob.pubkey()).await.unwrap(), 2 * SOL);
    assert_eq!(
        rpc.get_balance(&alice.pubkey()).await.unwrap(),
        10 * SOL - 2 * SOL - fee
    );
    let status = confirm(&rpc, &signature, CommitmentConfig::finalized()).await;
    assert_eq!(status.err, None);
    assert!(status.confirmations.is_none(), "finalized means rooted");

    let fetched = crate::common::get_transaction(&rpc, &signature, CommitmentConfig::confirmed())
        .await
        .expect("getTransaction");
    assert_eq!(fetched.slot, status.slot);
    let meta = fetched.transaction.meta.expect("meta");
    assert_eq!(meta.fee, fee);
    let OptionSerializer::Some(logs) = meta.log_messages else {
        panic!("no logs")
    };
    assert!(
        logs.iter()
            .any(|l| l == "Program 11111111111111111111111111111111 success"),
        "{logs:?}"
    );
    assert!(fetched.block_time.is_some());
    localnet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_transaction_is_refused_by_preflight_with_simulation_data() {
    let localnet = localnet().await;
    let rpc = client(&localnet, CommitmentConfig::confirmed());
    let alice = funded(&rpc, SOL).await;
    let blockhash = rpc.get_latest_blockhash().await.unwrap();
    let tx = Transaction::new_signed_with_payer(
        &[solana_system_interface::instruction::transfer(
            &alice.pubkey(),
            &Keypair::new().pubkey(),
            5 * SOL,
        )],
        Some(&alice.pubkey()),
        &[&alice],
        blockhash,
    );

    let sim = rpc.simulate_transaction(&tx).await.expect("simulate");
    assert!(sim.value.err.is_some());
    assert!(sim
        .value
        .logs
        .unwrap()
        .iter()
        .any(|l| l.contains("insufficient lamports")));

    let err = rpc
        .send_transaction(&tx)
        .await
        .expect_err("preflight fails");
    match err.kind() {
        solana_client::client_error::ClientErrorKind::RpcError(
            solana_client::rpc_request::RpcError::RpcResponseError {
                code,
                data:
                    solana_client::rpc_request::RpcResponseErrorData::SendTransactionPreflightFailure(
                        result,
                    ),
                ..
            },
        ) => {
            assert_eq!(*code, -32002);
            assert!(result.err.is_some());
            assert!(result.logs.as_ref().is_some_and(|l| !l.is_empty()));
        }
        other => panic!("unexpected error {other:?}"),
    }
    localnet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn base58_send_moves_through_processed_confirmed_finalized() {
    let localnet = localnet().await;
    let rpc = client(&localnet, CommitmentConfig::processed());
    let alice = funded(&rpc, SOL).await;
    let bob = Keypair::new();
    let blockhash = rpc.get_latest_blockhash().await.unwrap();
    let tx = Transaction::new_signed_with_payer(
        &[solana_system_interface::instruction::transfer(
            &alice.pubkey(),
            &bob.pubkey(),
            SOL / 2,
        )],
        Some(&alice.pubkey()),
        &[&alice],
        blockhash,
    );
    let signature = rpc
        .send_transaction_with_config(
            &tx,
            RpcSendTransactionConfig {
                encoding: Some(UiTransactionEncoding::Base58),
                ..RpcSendTransactionConfig::default()
            },
        )
        .await
        .expect("base58 send");
    assert_eq!(signature, tx.signatures[0]);
    // Landed in the working bank at once: visible at processed.
    let status = rpc
        .get_signature_statuses(&[signature])
        .await
        .unwrap()
        .value[0]
        .clone()
        .expect("status right after send");
    assert_eq!(status.err, None);
    assert_eq!(
        rpc.get_balance_with_commitment(&bob.pubkey(), CommitmentConfig::processed())
            .await
            .unwrap()
            .value,
        SOL / 2
    );
    // getTransaction refuses processed, as agave does.
    let err = rpc
        .get_transaction_with_config(
            &signature,
            RpcTransactionConfig {
                encoding: Some(UiTransactionEncoding::Base64),
                commitment: Some(CommitmentConfig::processed()),
                max_supported_transaction_version: Some(0),
            },
        )
        .await
        .expect_err("processed is below confirmed");
    assert!(err.to_string().contains("confirmed"), "{err}");

    let confirmed = confirm(&rpc, &signature, CommitmentConfig::confirmed()).await;
    assert_eq!(confirmed.slot, status.slot);
    let finalized = confirm(&rpc, &signature, CommitmentConfig::finalized()).await;
    assert_eq!(
        finalized.confirmation_status,
        Some(TransactionConfirmationStatus::Finalized)
    );
    assert_eq!(
        rpc.get_balance_with_commitment(&bob.pubkey(), CommitmentConfig::finalized())
            .await
            .unwrap()
            .value,
        SOL / 2
    );
    let fetched = rpc
        .get_transaction_with_config(
            &signature,
            RpcTransactionConfig {
                encoding: Some(UiTransactionEncoding::Base64),
                commitment: Some(CommitmentConfig::finalized()),
                max_supported_transaction_version: Some(0),
            },
        )
        .await
        .expect("finalized transaction");
    assert_eq!(
        fetched
            .transaction
            .transaction
            .decode()
            .expect("base64 decodes"),
        tx.into()
    );
    localnet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transaction_stays_processed_until_the_slot_ends() {
    // The clock never ticks during this test: commitment cannot move.
    let localnet = localnet_with_slot(Duration::from_secs(3600)).await;
    let rpc = client(&localnet, CommitmentConfig::processed());
    let bob = Keypair::new();
    let signature = rpc
        .request_airdrop(&bob.pubkey(), SOL)
        .await
        .expect("airdrop");
    let status = rpc
        .get_signature_statuses(&[signature])
        .await
        .unwrap()
        .value[0]
        .clone()
        .expect("status");
    assert_eq!(
        status.confirmation_status,
        Some(TransactionConfirmationStatus::Processed)
    );
    assert_eq!(status.confirmations, Some(0));
    let balance = |commitment| {
        let rpc = &rpc;
        let bob = bob.pubkey();
        async move {
            rpc.get_balance_with_commitment(&bob, commitment)
                .await
                .unwrap()
                .value
        }
    };
    assert_eq!(balance(CommitmentConfig::processed()).await, SOL);
    assert_eq!(balance(CommitmentConfig::confirmed()).await, 0);
    assert_eq!(balance(CommitmentConfig::finalized()).await, 0);
    let unconfirmed =
        crate::common::get_transaction(&rpc, &signature, CommitmentConfig::confirmed()).await;
    assert!(unconfirmed.is_err(), "not visible before confirmation");
    let slots = localnet.slots();
    assert_eq!(
        (slots.processed, slots.confirmed, slots.finalized),
        (1, 0, 0)
    );
    localnet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn simulation_replaces_the_blockhash_and_returns_post_accounts() {
    let localnet = localnet().await;
    let rpc = client(&localnet, CommitmentConfig::confirmed());
    let alice = funded(&rpc, SOL).await;
    let bob = Keypair::new();
    // Signed over a blockhash the bank never produced.
    let tx = Transaction::new_signed_with_payer(
        &[solana_system_interface::instruction::transfer(
            &alice.pubkey(),
            &bob.pubkey(),
            SOL / 4,
        )],
        Some(&alice.pubkey()),
        &[&alice],
        solana_hash::Hash::new_unique(),
    );
    let plain = rpc.simulate_transaction(&tx).await.unwrap().value;
    assert!(plain.err.is_some(), "unknown blockhash must fail");

    let sim = rpc
        .simulate_transaction_with_config(
            &tx,
            RpcSimulateTransactionConfig {
                replace_recent_blockhash: true,
                // The client defaults an unset commitment to finalized.
                commitment: Some(CommitmentConfig::confirmed()),
                accounts: Some(RpcSimulateTransactionAccountsConfig {
                    encoding: Some(UiAccountEncoding::Base64),
                    addresses: vec![bob.pubkey().to_string()],
                }),
                ..RpcSimulateTransactionConfig::default()
            },
        )
        .await
        .expect("simulate with replacement")
        .value;
    assert_eq!(sim.err, None, "{:?}", sim.logs);
    assert!(sim.replacement_blockhash.is_some());
    assert_eq!(sim.fee, Some(5_000));
    let accounts = sim.accounts.expect("accounts");
    assert_eq!(accounts[0].as_ref().expect("bob after").lamports, SOL / 4);
    // Nothing was committed.
    assert_eq!(
        rpc.get_balance_with_commitment(&bob.pubkey(), CommitmentConfig::processed())
            .await
            .unwrap()
            .value,
        0
    );
    localnet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn signatures_for_an_address_page_newest_first() {
    let localnet = localnet().await;
    let rpc = client(&localnet, CommitmentConfig::confirmed());
    let alice = funded(&rpc, 10 * SOL).await;
    let mut sent = Vec::new();
    for _ in 0..3 {
        let transfer = solana_system_interface::instruction::transfer(
            &alice.pubkey(),
            &Keypair::new().pubkey(),
            SOL,
        );
        let blockhash = rpc.get_latest_blockhash().await.unwrap();
        let tx = Transaction::new_signed_with_payer(
            &[transfer],
            Some(&alice.pubkey()),
            &[&alice],
            blockhash,
        );
        sent.push(
            rpc.send_and_confirm_transaction(&tx)
                .await
                .expect("transfer"),
        );
    }
    let page = |before, until, limit| {
        let rpc = &rpc;
        let address = alice.pubkey();
        async move {
            rpc.get_signatures_for_address_with_config(
                &address,
                solana_client::rpc_client::GetConfirmedSignaturesForAddress2Config {
                    before,
                    until,
                    limit: Some(limit),
                    commitment: Some(CommitmentConfig::confirmed()),
                },
            )
            .await
        }
    };

    // Paged by two, newest first: the three transfers, then the airdrop.
    let mut listed = Vec::new();
    let mut before = None;
    loop {
        let got = page(before, None, 2)
            .await
            .expect("getSignaturesForAddress");
        let Some(last) = got.last() else { break };
        before = Some(last.signature.parse().unwrap());
        listed.extend(got);
    }
    let signatures: Vec<String> = listed.iter().map(|s| s.signature.clone()).collect();
    let newest_first: Vec<String> = sent.iter().rev().map(|s| s.to_string()).collect();
    assert_eq!(signatures.len(), 4, "{signatures:?}");
    assert_eq!(signatures[..3], newest_first[..]);
    assert!(listed
        .iter()
        .all(|s| s.err.is_none() && s.block_time.is_some()));
    assert!(listed.windows(2).all(|w| w[0].slot >= w[1].slot));

    // The block of the newest transfer holds it, and chains to its parent.
    let slot = listed[0].slot;
    let block_config = |details| solana_client::rpc_config::RpcBlockConfig {
        encoding: Some(UiTransactionEncoding::Json),
        transaction_details: Some(details),
        rewards: Some(false),
        commitment: Some(CommitmentConfig::confirmed()),
        max_supported_transaction_version: Some(0),
    };
    let block = rpc
        .get_block_with_config(
            slot,
            block_config(solana_transaction_status_client_types::TransactionDetails::Signatures),
        )
        .await
        .expect("getBlock");
    assert!(
        block.signatures.unwrap().contains(&listed[0].signature),
        "the block lists its transaction"
    );
    assert_eq!(block.parent_slot, slot - 1);
    assert_eq!(block.block_time, listed[0].block_time);
    let parent = rpc
        .get_block_with_config(
            slot - 1,
            block_config(solana_transaction_status_client_types::TransactionDetails::Full),
        )
        .await
        .expect("the parent block");
    assert_eq!(block.previous_blockhash, parent.blockhash);
    assert_eq!(block.block_height, parent.block_height.map(|h| h + 1));
    let full = rpc
        .get_block_with_config(
            slot,
            block_config(solana_transaction_status_client_types::TransactionDetails::Full),
        )
        .await
        .unwrap();
    let transactions = full.transactions.unwrap();
    assert!(transactions.iter().all(|t| t.meta.is_some()));
    let future = rpc
        .get_block_with_config(
            slot + 10_000,
            block_config(solana_transaction_status_client_types::TransactionDetails::None),
        )
        .await
        .unwrap_err();
    assert!(
        future.to_string().contains("Block not available for slot"),
        "{future}"
    );

    // `until` stops before the given signature.
    let got = page(None, Some(sent[0]), 10).await.unwrap();
    let got: Vec<String> = got.into_iter().map(|s| s.signature).collect();
    assert_eq!(got, newest_first[..2]);

    // Out of range limits and commitments are refused as a validator words it.
    let err = page(None, None, 1_001).await.unwrap_err();
    assert!(err.to_string().contains("Invalid limit; max 1000"), "{err}");
    let err = rpc
        .get_signatures_for_address_with_config(
            &alice.pubkey(),
            solana_client::rpc_client::GetConfirmedSignaturesForAddress2Config {
                commitment: Some(CommitmentConfig::processed()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("does not support commitment below `confirmed`"),
        "{err}"
    );
    localnet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn recent_prioritization_fees_report_the_price_that_landed() {
    let localnet = localnet().await;
    let rpc = client(&localnet, CommitmentConfig::confirmed());
    let alice = funded(&rpc, 10 * SOL).await;
    // ComputeBudget's SetComputeUnitPrice: tag 3, then micro-lamports.
    let mut price = vec![3u8];
    price.extend_from_slice(&1_234u64.to_le_bytes());
    let set_price = solana_instruction::Instruction::new_with_bytes(
        solana_pubkey::pubkey!("ComputeBudget111111111111111111111111111111"),
        &price,
        vec![],
    );
    let transfer = solana_system_interface::instruction::transfer(
        &alice.pubkey(),
        &Keypair::new().pubkey(),
        SOL,
    );
    let blockhash = rpc.get_latest_blockhash().await.unwrap();
    let tx = Transaction::new_signed_with_payer(
        &[set_price, transfer],
        Some(&alice.pubkey()),
        &[&alice],
        blockhash,
    );
    let signature = rpc
        .send_and_confirm_transaction(&tx)
        .await
        .expect("priced transfer");
    let slot = rpc
        .get_signature_statuses(&[signature])
        .await
        .unwrap()
        .value[0]
        .as_ref()
        .unwrap()
        .slot;
    let fees = rpc
        .get_recent_prioritization_fees(&[alice.pubkey()])
        .await
        .expect("getRecentPrioritizationFees");
    let of_slot: Vec<u64> = fees
        .iter()
        .filter(|f| f.slot == slot)
        .map(|f| f.prioritization_fee)
        .collect();
    assert_eq!(of_slot, vec![1_234], "{fees:?}");
    // The airdrop's block (no price) reports 0.
    assert!(
        fees.iter()
            .any(|f| f.slot < slot && f.prioritization_fee == 0),
        "{fees:?}"
    );
    let too_many = vec![alice.pubkey(); 129];
    let err = rpc
        .get_recent_prioritization_fees(&too_many)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("Too many inputs provided; max 128"),
        "{err}"
    );
    localnet.shutdown().await;
}
