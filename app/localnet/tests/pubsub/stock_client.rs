use crate::common::{localnet_and_wallet, send, signed, transfer, SOL};
use futures::StreamExt;
use solana_account_decoder_client_types::UiAccountEncoding;
use solana_client::{
    nonblocking::pubsub_client::PubsubClient,
    rpc_config::{
        RpcAccountInfoConfig, RpcSignatureSubscribeConfig, RpcTransactionLogsConfig,
        RpcTransactionLogsFilter,
    },
    rpc_response::{ProcessedSignatureResult, RpcSignatureResult},
};
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_signer::Signer;
use std::time::Duration;

const TIMEOUT: Duration = crate::common::TIMEOUT;

/// The stock `PubsubClient`: signature, account and logs subscriptions of
/// one transfer decode into the client's own types.
#[tokio::test(flavor = "multi_thread")]
async fn the_stock_pubsub_client_follows_a_transfer() {
    let (localnet, rpc, payer) = localnet_and_wallet(SOL, CommitmentConfig::finalized()).await;
    let target = Keypair::new().pubkey();
    let client = PubsubClient::new(&localnet.pubsub_url())
        .await
        .expect("PubsubClient connects");
    let tx = signed(&rpc, &[transfer(&payer, &target, 7_000_000)], &[&payer]).await;
    let (mut signature_stream, unsub_sig) = client
        .signature_subscribe(
            &tx.signatures[0],
            Some(RpcSignatureSubscribeConfig {
                commitment: Some(CommitmentConfig::confirmed()),
                enable_received_notification: None,
            }),
        )
        .await
        .expect("signatureSubscribe");
    let (mut account_stream, unsub_acc) = client
        .account_subscribe(
            &target,
            Some(RpcAccountInfoConfig {
                encoding: Some(UiAccountEncoding::Base64),
                commitment: Some(CommitmentConfig::confirmed()),
                ..Default::default()
            }),
        )
        .await
        .expect("accountSubscribe");
    let (mut logs_stream, logs_unsubscribe) = client
        .logs_subscribe(
            RpcTransactionLogsFilter::Mentions(vec![target.to_string()]),
            RpcTransactionLogsConfig {
                commitment: Some(CommitmentConfig::confirmed()),
            },
        )
        .await
        .expect("logsSubscribe");
    let signature = send(&rpc, &tx).await;

    let landed = tokio::time::timeout(TIMEOUT, signature_stream.next())
        .await
        .expect("signature notified")
        .expect("stream open");
    assert_eq!(
        landed.value,
        RpcSignatureResult::ProcessedSignature(ProcessedSignatureResult { err: None })
    );
    let account = tokio::time::timeout(TIMEOUT, account_stream.next())
        .await
        .expect("account notified")
        .expect("stream open");
    assert_eq!(account.value.lamports, 7_000_000);
    assert_eq!(account.context.slot, landed.context.slot);
    let logs = tokio::time::timeout(TIMEOUT, logs_stream.next())
        .await
        .expect("logs notified")
        .expect("stream open");
    assert_eq!(logs.value.signature, signature.to_string());
    assert_eq!(logs.value.err, None);
    assert_eq!(logs.value.logs.len(), 2);
    drop(logs_stream);
    logs_unsubscribe().await;
    drop((signature_stream, unsub_sig, account_stream, unsub_acc));
    client.shutdown().await.expect("clean shutdown");
    localnet.shutdown().await;
}
