use crate::common::{localnet_and_wallet, send, signed, transfer, Ws, SOL};
use serde_json::{json, Value};
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_signer::Signer;

/// A transfer's signature, subscribed at each level before it is sent, is
/// notified once per subscription: "received" first, then processed, then
/// confirmed, then finalized, each with the transaction's slot and no error.
#[tokio::test(flavor = "multi_thread")]
async fn a_signature_is_notified_once_at_each_level_in_commitment_order() {
    let (localnet, rpc, payer) = localnet_and_wallet(SOL, CommitmentConfig::finalized()).await;
    let tx = signed(
        &rpc,
        &[transfer(&payer, &Keypair::new().pubkey(), 1_000_000)],
        &[&payer],
    )
    .await;
    let signature = tx.signatures[0].to_string();
    let mut ws = Ws::connect(&localnet).await;
    let received = ws
        .subscribe(
            "signatureSubscribe",
            json!([signature, {"commitment": "processed", "enableReceivedNotification": true}]),
        )
        .await;
    let mut by_level = Vec::new();
    for level in ["processed", "confirmed", "finalized"] {
        let id = ws
            .subscribe(
                "signatureSubscribe",
                json!([signature, {"commitment": level}]),
            )
            .await;
        by_level.push(id);
    }
    let landed = send(&rpc, &tx).await;
    assert_eq!(landed.to_string(), signature);
    // Five notifications: received + processed for the first subscription,
    // one for each of the others.
    let mut seen: Vec<Value> = Vec::new();
    while seen.len() < 5 {
        seen.push(ws.notification().await);
    }
    let order: Vec<(u64, Value)> = seen
        .iter()
        .map(|n| {
            assert_eq!(n["jsonrpc"], "2.0");
            assert_eq!(n["method"], "signatureNotification");
            (
                n["params"]["subscription"].as_u64().unwrap(),
                n["params"]["result"]["value"].clone(),
            )
        })
        .collect();
    let done = json!({"err": null});
    assert_eq!(
        order,
        vec![
            (received, json!("receivedSignature")),
            (received, done.clone()),
            (by_level[0], done.clone()),
            (by_level[1], done.clone()),
            (by_level[2], done.clone()),
        ]
    );
    // Every notification names the slot the transfer landed in.
    let tx_slot = rpc.get_signature_statuses(&[landed]).await.unwrap().value[0]
        .as_ref()
        .expect("status")
        .slot;
    for n in &seen {
        assert_eq!(
            n["params"]["result"]["context"],
            json!({"slot": tx_slot}),
            "{n}"
        );
    }
    // Signature subscriptions end with their notification.
    for id in [received, by_level[0], by_level[1], by_level[2]] {
        let reply = ws.reply("signatureUnsubscribe", json!([id])).await;
        assert_eq!(
            reply["error"],
            json!({"code": -32602, "message": "Invalid subscription id."})
        );
    }
    localnet.shutdown().await;
}

/// A transaction that lands with an error is notified with that error.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_transaction_is_notified_with_its_error() {
    let (localnet, rpc, payer) = localnet_and_wallet(SOL, CommitmentConfig::finalized()).await;
    // More than the payer holds: the System program fails with Custom(1).
    let tx = signed(
        &rpc,
        &[transfer(&payer, &Keypair::new().pubkey(), 2 * SOL)],
        &[&payer],
    )
    .await;
    let mut ws = Ws::connect(&localnet).await;
    let id = ws
        .subscribe(
            "signatureSubscribe",
            json!([tx.signatures[0].to_string(), {"commitment": "confirmed"}]),
        )
        .await;
    send(&rpc, &tx).await;
    let n = ws.notification().await;
    assert_eq!(n["params"]["subscription"], id);
    assert_eq!(
        n["params"]["result"]["value"],
        json!({"err": {"InstructionError": [0, {"Custom": 1}]}})
    );
    localnet.shutdown().await;
}

/// A subscription to a signature that already reached the asked level is
/// answered at once, right after its id (a deliberate difference: a
/// validator only notifies signatures processed after the subscription).
#[tokio::test(flavor = "multi_thread")]
async fn a_signature_already_finalized_is_notified_at_once() {
    let (localnet, rpc, payer) = localnet_and_wallet(SOL, CommitmentConfig::finalized()).await;
    let tx = signed(
        &rpc,
        &[transfer(&payer, &Keypair::new().pubkey(), 1_000_000)],
        &[&payer],
    )
    .await;
    let signature = send(&rpc, &tx).await;
    let slot = crate::common::poll("finalized", || async {
        let status = rpc.get_signature_statuses(&[signature]).await.ok()?.value[0].clone()?;
        status
            .satisfies_commitment(solana_commitment_config::CommitmentConfig::finalized())
            .then_some(status.slot)
    })
    .await;
    let mut ws = Ws::connect(&localnet).await;
    let reply = ws
        .reply("signatureSubscribe", json!([signature.to_string()]))
        .await;
    let id = reply["result"].as_u64().expect("subscription id");
    let n = ws.notification().await;
    assert_eq!(
        n,
        json!({
            "jsonrpc": "2.0",
            "method": "signatureNotification",
            "params": {"result": {"context": {"slot": slot}, "value": {"err": null}}, "subscription": id},
        })
    );
    localnet.shutdown().await;
}
