//! Fixture: the shared localnet fixture (the stock RpcClient, funding,
//! bounded polling that never races the slot clock) with 100 ms slots.

pub use iomesh_tests::localnet::*;

use iomesh_localnet::{Config, Localnet};
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use std::time::Duration;

pub async fn localnet() -> Localnet {
    localnet_with_slot(Duration::from_millis(100)).await
}

pub async fn localnet_with_slot(slot_duration: Duration) -> Localnet {
    localnet_with(Config {
        slot_duration,
        ..Config::ephemeral()
    })
    .await
}

pub fn client(localnet: &Localnet, commitment: CommitmentConfig) -> RpcClient {
    RpcClient::new_with_commitment(localnet.rpc_url(), commitment)
}

/// A new keypair holding `lamports`, airdropped and confirmed.
pub async fn funded(client: &RpcClient, lamports: u64) -> Keypair {
    funded_at(client, lamports, CommitmentConfig::confirmed()).await
}
