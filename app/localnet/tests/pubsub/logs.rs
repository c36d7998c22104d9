use crate::common::{localnet_and_wallet, send, signed, transfer, Ws, SOL};
use serde_json::json;
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_signer::Signer;

/// logsSubscribe with `mentions` and `all`: the transfer's signature, no
/// error and the System program's invoke / success lines; a transaction
/// not mentioning the address is left out.
#[tokio::test(flavor = "multi_thread")]
async fn logs_of_transactions_mentioning_an_address() {
    let (localnet, rpc, payer) = localnet_and_wallet(SOL, CommitmentConfig::finalized()).await;
    let target = Keypair::new().pubkey();
    let mut ws = Ws::connect(&localnet).await;
    let mentions = ws
        .subscribe(
            "logsSubscribe",
            json!([{"mentions": [target.to_string()]}, {"commitment": "processed"}]),
        )
        .await;
    // Another address first: not mentioned.
    let other = signed(
        &rpc,
        &[transfer(&payer, &Keypair::new().pubkey(), 1_000_000)],
        &[&payer],
    )
    .await;
    send(&rpc, &other).await;
    let tx = signed(&rpc, &[transfer(&payer, &target, 1_000_000)], &[&payer]).await;
    let signature = send(&rpc, &tx).await;
    let n = ws.notification().await;
    assert_eq!(n["method"], "logsNotification");
    assert_eq!(n["params"]["subscription"], mentions);
    let value = &n["params"]["result"]["value"];
    assert_eq!(value["signature"], signature.to_string());
    assert_eq!(value["err"], json!(null));
    assert_eq!(
        value["logs"],
        json!([
            "Program 11111111111111111111111111111111 invoke [1]",
            "Program 11111111111111111111111111111111 success",
        ])
    );
    assert!(n["params"]["result"]["context"]["slot"].as_u64().unwrap() > 0);
    localnet.shutdown().await;
}

/// `all` at confirmed carries a failed transaction's error and its logs.
#[tokio::test(flavor = "multi_thread")]
async fn logs_of_a_failed_transaction_carry_its_error() {
    let (localnet, rpc, payer) = localnet_and_wallet(SOL, CommitmentConfig::finalized()).await;
    let mut ws = Ws::connect(&localnet).await;
    let all = ws
        .subscribe("logsSubscribe", json!(["all", {"commitment": "confirmed"}]))
        .await;
    let tx = signed(
        &rpc,
        &[transfer(&payer, &Keypair::new().pubkey(), 2 * SOL)],
        &[&payer],
    )
    .await;
    let signature = send(&rpc, &tx).await;
    // Other transactions of the chain (none here but the localnet's own)
    // may come first: find this one.
    let value = loop {
        let n = ws.notification().await;
        assert_eq!(n["params"]["subscription"], all);
        if n["params"]["result"]["value"]["signature"] == signature.to_string() {
            break n["params"]["result"]["value"].clone();
        }
    };
    assert_eq!(
        value["err"],
        json!({"InstructionError": [0, {"Custom": 1}]})
    );
    let logs: Vec<&str> = value["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(
        logs[0],
        "Program 11111111111111111111111111111111 invoke [1]"
    );
    assert!(
        logs.last()
            .unwrap()
            .starts_with("Program 11111111111111111111111111111111 failed"),
        "{logs:?}"
    );
    localnet.shutdown().await;
}
