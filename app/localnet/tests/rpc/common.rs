//! Fixture: an in-process localnet on an ephemeral port, clients, funding
//! and bounded polling (never sleeps that race the slot clock).

use iomesh_localnet::{Config, Localnet};
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_signature::Signature;
use solana_signer::Signer;
use std::{future::Future, time::Duration};

/// Bound on any wait for the chain to move.
pub const TIMEOUT: Duration = Duration::from_secs(30);

pub async fn localnet() -> Localnet {
    localnet_with_slot(Duration::from_millis(100)).await
}

pub async fn localnet_with_slot(slot_duration: Duration) -> Localnet {
    Localnet::start(Config {
        slot_duration,
        ..Config::ephemeral()
    })
    .await
    .expect("localnet starts")
}

pub fn client(localnet: &Localnet, commitment: CommitmentConfig) -> RpcClient {
    RpcClient::new_with_commitment(localnet.rpc_url(), commitment)
}

/// Polls `check` until it yields `Some`, failing after `TIMEOUT`.
pub async fn poll<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `signature` reaches `commitment`; returns its status.
pub async fn confirm(
    client: &RpcClient,
    signature: &Signature,
    commitment: CommitmentConfig,
) -> solana_transaction_status_client_types::TransactionStatus {
    poll("signature confirmation", || async {
        let statuses = client.get_signature_statuses(&[*signature]).await.ok()?;
        statuses.value[0]
            .clone()
            .filter(|s| s.satisfies_commitment(commitment))
    })
    .await
}

/// A new keypair holding `lamports`, airdropped and confirmed.
pub async fn funded(client: &RpcClient, lamports: u64) -> Keypair {
    let keypair = Keypair::new();
    let signature = client
        .request_airdrop(&keypair.pubkey(), lamports)
        .await
        .expect("airdrop");
    confirm(client, &signature, CommitmentConfig::confirmed()).await;
    keypair
}
