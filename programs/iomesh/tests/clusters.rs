//! Clusters: leases that start together. create_cluster, create_lease into a
//! cluster, activation gated on full funding, unwind past the deadline, close.

mod common;

use common::*;
use iomesh::{error::IomeshError, state::LeaseStatus};
use solana_keypair::Keypair;
use solana_signer::Signer;

const WINDOW: i64 = 3_600;

fn req<'a>(renter: &'a Keypair, node: &TestNode, mint: TestMint, nonce: u64) -> LeaseRequest<'a> {
    LeaseRequest::new(renter, node, mint, nonce).gpus(2)
}

/// A renter holding 1,000 USDC, two 4-GPU nodes and a cluster of `expected` leases.
async fn setup(
    expected: u16,
) -> (
    TestEnv,
    Keypair,
    [TestNode; 2],
    anchor_lang::prelude::Pubkey,
) {
    let mut env = TestEnv::new().await;
    let nodes = [env.register_node(4).await, env.register_node(4).await];
    let renter = env.wallet().await;
    let usdc = env.usdc;
    env.fund(&renter.pubkey(), usdc, 1_000 * TOKEN).await;
    let cluster = env
        .create_cluster(&renter, 7, expected, WINDOW)
        .await
        .unwrap();
    (env, renter, nodes, cluster)
}

#[tokio::test]
async fn cluster_leases_start_only_once_every_lease_is_funded() {
    let (mut env, renter, nodes, cluster) = setup(2).await;
    let usdc = env.usdc;
    let first = env
        .create_cluster_lease(req(&renter, &nodes[0], usdc, 1), cluster)
        .await
        .unwrap();
    let state = env.lease(first).await.unwrap();
    assert!(state.in_cluster);
    assert_eq!(state.cluster_nonce, 7);
    assert_eq!(env.cluster(cluster).await.unwrap().leases_funded, 1);

    // Half funded: the operator cannot start it, with or without the cluster account.
    let result = env.activate_in_cluster(first, &nodes[0], cluster).await;
    assert_error(result, code(IomeshError::ClusterNotFunded));
    let ix = env.activate_in_cluster_ix(first, &nodes[0], None);
    let operator = nodes[0].operator.insecure_clone();
    let result = env.send(&[ix], &[&operator]).await;
    assert_error(result, code(IomeshError::ClusterAccountRequired));
    assert_eq!(env.lease(first).await.unwrap().status, LeaseStatus::Pending);

    // Past the plain activation timeout, but the cluster's window is still open.
    env.warp(i64::from(ACTIVATION_TIMEOUT) + 60).await;
    let second = env
        .create_cluster_lease(req(&renter, &nodes[1], usdc, 2), cluster)
        .await
        .unwrap();
    let state = env.cluster(cluster).await.unwrap();
    assert_eq!(state.leases_funded, 2);
    assert_eq!(state.completed_at, env.now().await);
    env.activate_in_cluster(first, &nodes[0], cluster)
        .await
        .unwrap();
    env.activate_in_cluster(second, &nodes[1], cluster)
        .await
        .unwrap();
    assert_eq!(env.lease(first).await.unwrap().status, LeaseStatus::Active);
    assert_eq!(env.lease(second).await.unwrap().status, LeaseStatus::Active);

    // A full cluster takes no more leases; a complete cluster cannot be unwound.
    let result = env
        .create_cluster_lease(req(&renter, &nodes[1], usdc, 3), cluster)
        .await
        .map(|_| ());
    assert_error(result, code(IomeshError::ClusterFull));
    env.warp(WINDOW).await;
    let a = env.lease_accounts(first).await;
    let ix = env.unwind_cluster_ix(cluster, renter.pubkey(), usdc, &[a]);
    assert_error(
        env.send(&[ix], &[]).await,
        code(IomeshError::ClusterComplete),
    );

    // The renter takes the rent back; the running leases are unaffected.
    let before = env.lamports(renter.pubkey()).await;
    let ix = env.close_cluster_ix(cluster, renter.pubkey());
    env.send(&[ix], &[&renter]).await.unwrap();
    assert!(env.cluster(cluster).await.is_none());
    assert!(env.lamports(renter.pubkey()).await > before);
    env.settle(first).await.unwrap();
}

#[tokio::test]
async fn cluster_lease_is_not_expired_while_its_cluster_may_still_fill() {
    let (mut env, renter, nodes, cluster) = setup(2).await;
    let usdc = env.usdc;
    let first = env
        .create_cluster_lease(req(&renter, &nodes[0], usdc, 1), cluster)
        .await
        .unwrap();
    env.warp(i64::from(ACTIVATION_TIMEOUT) + 1).await;
    assert_error(
        env.expire(first).await,
        code(IomeshError::ActivationWindowOpen),
    );
    // Its window closes activation_timeout after the funding deadline.
    env.warp(WINDOW).await;
    env.expire(first).await.unwrap();
    assert!(env.lease(first).await.is_none());
    assert_eq!(env.balance(usdc.ata(&renter.pubkey())).await, 1_000 * TOKEN);
}

#[tokio::test]
async fn unwind_before_the_deadline_is_refused() {
    let (mut env, renter, nodes, cluster) = setup(3).await;
    let usdc = env.usdc;
    let lease = env
        .create_cluster_lease(req(&renter, &nodes[0], usdc, 1), cluster)
        .await
        .unwrap();
    let a = env.lease_accounts(lease).await;
    let ix = env.unwind_cluster_ix(cluster, renter.pubkey(), usdc, &[a]);
    assert_error(
        env.send(&[ix], &[]).await,
        code(IomeshError::ClusterDeadlineNotPassed),
    );
    let ix = env.close_cluster_ix(cluster, renter.pubkey());
    assert_error(
        env.send(&[ix], &[&renter]).await,
        code(IomeshError::ClusterDeadlineNotPassed),
    );
    assert!(env.lease(lease).await.is_some());
}

#[tokio::test]
async fn unwind_past_the_deadline_refunds_every_lease_and_closes_the_accounts() {
    let (mut env, renter, nodes, cluster) = setup(4).await;
    let usdc = env.usdc;
    let sponsor = env.wallet().await;
    env.fund(&sponsor.pubkey(), usdc, 100 * TOKEN).await;
    let mut sponsored = req(&renter, &nodes[1], usdc, 2);
    sponsored.payer = Some(&sponsor);
    let first = env
        .create_cluster_lease(req(&renter, &nodes[0], usdc, 1), cluster)
        .await
        .unwrap();
    let second = env.create_cluster_lease(sponsored, cluster).await.unwrap();
    // Two leases of the cluster on the same node.
    let third = env
        .create_cluster_lease(req(&renter, &nodes[0], usdc, 3), cluster)
        .await
        .unwrap();
    // 2 GPUs × 1 h × $2.00 = 4 USDC per lease.
    assert_eq!(env.balance(usdc.vault()).await, 12 * TOKEN);
    // Another renter's plain lease on the second node must not be touched.
    let (_, outsider) = env.simple_lease(&nodes[1], usdc, 1, HOUR).await;
    let outsider_accounts = env.lease_accounts(outsider).await;

    env.warp(WINDOW + 1).await;
    let late = env
        .create_cluster_lease(req(&renter, &nodes[1], usdc, 4), cluster)
        .await
        .map(|_| ());
    assert_error(late, code(IomeshError::ClusterFundingClosed));

    // A lease outside the cluster is refused, and nothing moves.
    let ix = env.unwind_cluster_ix(cluster, renter.pubkey(), usdc, &[outsider_accounts]);
    assert_error(
        env.send(&[ix], &[]).await,
        code(IomeshError::LeaseAccountMismatch),
    );

    // Anyone unwinds: first one lease, then the other two in one call.
    let caller = env.wallet().await;
    let a = env.lease_accounts(first).await;
    let ix = env.unwind_cluster_ix(cluster, renter.pubkey(), usdc, &[a]);
    env.send_as(&caller, &[ix], &[]).await.result.unwrap();
    assert!(env.lease(first).await.is_none());
    assert_eq!(env.cluster(cluster).await.unwrap().leases_unwound, 1);
    assert_eq!(env.node(nodes[0].address).await.gpus_in_use, 2);

    let rent_before = env.lamports(renter.pubkey()).await;
    let b = env.lease_accounts(second).await;
    let c = env.lease_accounts(third).await;
    let ix = env.unwind_cluster_ix(cluster, renter.pubkey(), usdc, &[b, c]);
    env.send_as(&caller, &[ix], &[]).await.result.unwrap();

    for lease in [first, second, third] {
        assert!(env.lease(lease).await.is_none(), "lease {lease} closed");
    }
    assert!(env.cluster(cluster).await.is_none(), "cluster closed");
    assert!(env.lamports(renter.pubkey()).await > rent_before);
    assert_eq!(env.balance(usdc.ata(&renter.pubkey())).await, 1_000 * TOKEN);
    assert_eq!(env.balance(usdc.ata(&sponsor.pubkey())).await, 100 * TOKEN);
    // Only the outsider's escrow remains.
    assert_eq!(env.balance(usdc.vault()).await, 2 * TOKEN);
    let node0 = env.node(nodes[0].address).await;
    assert_eq!((node0.gpus_in_use, node0.open_leases), (0, 0));
    let node1 = env.node(nodes[1].address).await;
    assert_eq!((node1.gpus_in_use, node1.open_leases), (1, 1));
    assert!(env.lease(outsider).await.is_some());
}

#[tokio::test]
async fn create_cluster_rejects_bad_sizes_and_deadlines() {
    let mut env = TestEnv::new().await;
    let renter = env.wallet().await;
    let now = env.now().await;
    for (expected, deadline, error) in [
        (0, now + 60, IomeshError::InvalidClusterSize),
        (65, now + 60, IomeshError::InvalidClusterSize),
        (2, now, IomeshError::InvalidClusterDeadline),
        (2, now + 24 * 3_600 + 1, IomeshError::InvalidClusterDeadline),
    ] {
        let ix = env.create_cluster_ix(renter.pubkey(), 1, expected, deadline);
        assert_error(env.send(&[ix], &[&renter]).await, code(error));
    }
    assert!(env
        .cluster(cluster_pda(&renter.pubkey(), 1))
        .await
        .is_none());
}

#[tokio::test]
async fn another_renter_cannot_join_a_cluster() {
    let (mut env, _renter, nodes, cluster) = setup(2).await;
    let usdc = env.usdc;
    let other = env.wallet().await;
    env.fund(&other.pubkey(), usdc, 100 * TOKEN).await;
    let result = env
        .create_cluster_lease(req(&other, &nodes[0], usdc, 1), cluster)
        .await
        .map(|_| ());
    assert_error(result, code(anchor_lang::error::ErrorCode::ConstraintSeeds));
}

// ---------------------------------------------------------------- members that end while pending

#[tokio::test]
async fn cancelled_pending_member_no_longer_counts_so_the_cluster_cannot_start_short() {
    let (mut env, renter, nodes, cluster) = setup(2).await;
    let usdc = env.usdc;
    let first = env
        .create_cluster_lease(req(&renter, &nodes[0], usdc, 1), cluster)
        .await
        .unwrap();
    env.cancel(first, &renter).await.unwrap();
    let state = env.cluster(cluster).await.unwrap();
    assert_eq!((state.leases_funded, state.completed_at), (0, 0));

    // One live member of two: it cannot start alone.
    let second = env
        .create_cluster_lease(req(&renter, &nodes[1], usdc, 2), cluster)
        .await
        .unwrap();
    assert_eq!(env.cluster(cluster).await.unwrap().leases_funded, 1);
    assert_error(
        env.activate_in_cluster(second, &nodes[1], cluster).await,
        code(IomeshError::ClusterNotFunded),
    );

    // The freed slot is filled by a replacement; then both start.
    let third = env
        .create_cluster_lease(req(&renter, &nodes[0], usdc, 3), cluster)
        .await
        .unwrap();
    assert!(env.cluster(cluster).await.unwrap().is_complete());
    env.activate_in_cluster(second, &nodes[1], cluster)
        .await
        .unwrap();
    env.activate_in_cluster(third, &nodes[0], cluster)
        .await
        .unwrap();
    // 4 USDC for the cancelled lease came back; two leases hold 8.
    assert_eq!(env.balance(usdc.ata(&renter.pubkey())).await, 992 * TOKEN);
}

#[tokio::test]
async fn cancel_of_a_pending_cluster_lease_requires_its_writable_cluster() {
    let (mut env, renter, nodes, cluster) = setup(2).await;
    let usdc = env.usdc;
    let lease = env
        .create_cluster_lease(req(&renter, &nodes[0], usdc, 1), cluster)
        .await
        .unwrap();
    let mut a = env.lease_accounts(lease).await;

    let without = env.cancel_ix(&LeaseAccounts { cluster: None, ..a }, renter.pubkey(), true);
    assert_error(
        env.send(&[without], &[&renter]).await,
        code(IomeshError::ClusterAccountRequired),
    );
    // Another cluster of the same renter is not the lease's.
    let other = env.create_cluster(&renter, 8, 2, WINDOW).await.unwrap();
    a.cluster = Some(other);
    let wrong = env.cancel_ix(&a, renter.pubkey(), true);
    assert_error(
        env.send(&[wrong], &[&renter]).await,
        code(IomeshError::LeaseAccountMismatch),
    );
    a.cluster = Some(cluster);
    let mut read_only = env.cancel_ix(&a, renter.pubkey(), true);
    read_only.accounts.last_mut().unwrap().is_writable = false;
    assert_error(
        env.send(&[read_only], &[&renter]).await,
        code(IomeshError::ClusterAccountRequired),
    );
    assert_eq!(env.cluster(cluster).await.unwrap().leases_funded, 1);
    assert!(env.lease(lease).await.is_some());

    env.cancel(lease, &renter).await.unwrap();
    assert_eq!(env.cluster(cluster).await.unwrap().leases_funded, 0);
}

#[tokio::test]
async fn cancelling_a_member_of_a_complete_cluster_stops_the_rest_and_lets_it_unwind() {
    let (mut env, renter, nodes, cluster) = setup(2).await;
    let usdc = env.usdc;
    let first = env
        .create_cluster_lease(req(&renter, &nodes[0], usdc, 1), cluster)
        .await
        .unwrap();
    let second = env
        .create_cluster_lease(req(&renter, &nodes[1], usdc, 2), cluster)
        .await
        .unwrap();
    assert!(env.cluster(cluster).await.unwrap().is_complete());

    env.cancel(second, &renter).await.unwrap();
    let state = env.cluster(cluster).await.unwrap();
    assert_eq!((state.leases_funded, state.completed_at), (1, 0));
    assert_error(
        env.activate_in_cluster(first, &nodes[0], cluster).await,
        code(IomeshError::ClusterNotFunded),
    );

    // Past the deadline the remaining member is refunded and the cluster closed.
    env.warp(WINDOW + 1).await;
    let a = env.lease_accounts(first).await;
    let ix = env.unwind_cluster_ix(cluster, renter.pubkey(), usdc, &[a]);
    env.send(&[ix], &[]).await.unwrap();
    assert!(env.lease(first).await.is_none());
    assert!(env.cluster(cluster).await.is_none(), "cluster closed");
    assert_eq!(env.balance(usdc.ata(&renter.pubkey())).await, 1_000 * TOKEN);
}

#[tokio::test]
async fn expired_member_frees_its_slot_so_unwinding_the_rest_closes_the_cluster() {
    let (mut env, renter, nodes, cluster) = setup(3).await;
    let usdc = env.usdc;
    let first = env
        .create_cluster_lease(req(&renter, &nodes[0], usdc, 1), cluster)
        .await
        .unwrap();
    let second = env
        .create_cluster_lease(req(&renter, &nodes[1], usdc, 2), cluster)
        .await
        .unwrap();
    env.warp(WINDOW + i64::from(ACTIVATION_TIMEOUT) + 1).await;
    env.expire(first).await.unwrap();
    assert_eq!(env.cluster(cluster).await.unwrap().leases_funded, 1);

    let b = env.lease_accounts(second).await;
    let ix = env.unwind_cluster_ix(cluster, renter.pubkey(), usdc, &[b]);
    env.send(&[ix], &[]).await.unwrap();
    assert!(env.cluster(cluster).await.is_none(), "cluster closed");
    assert_eq!(env.balance(usdc.ata(&renter.pubkey())).await, 1_000 * TOKEN);
}

#[tokio::test]
async fn pending_member_of_a_closed_cluster_is_still_cancelled_in_full() {
    let (mut env, renter, nodes, cluster) = setup(1).await;
    let usdc = env.usdc;
    let lease = env
        .create_cluster_lease(req(&renter, &nodes[0], usdc, 1), cluster)
        .await
        .unwrap();
    let ix = env.close_cluster_ix(cluster, renter.pubkey());
    env.send(&[ix], &[&renter]).await.unwrap();
    assert!(env.cluster(cluster).await.is_none());
    // The closed cluster's address is still passed; nothing counts the lease any more.
    env.cancel(lease, &renter).await.unwrap();
    assert!(env.lease(lease).await.is_none());
    assert_eq!(env.balance(usdc.ata(&renter.pubkey())).await, 1_000 * TOKEN);
}
