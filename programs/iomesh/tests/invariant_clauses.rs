//! One named error per invariant clause. Each account type's `invariant`,
//! given a state that holds and then the same state with one clause broken,
//! passes and then fails with that clause's own error (Anchor's log adds the
//! file and line); `Node::release` names the underflow it refuses.

use anchor_lang::AnchorDeserialize;
use iomesh::{
    error::IomeshError,
    math,
    state::{
        Cluster, Credit, IosdConfig, Lease, LeaseStatus, Market, Node, PaymentMint, PendingSlash,
        RewardEpoch, ACCOUNT_VERSION,
    },
};

/// An account of type `T` with every field zero (an enum's first variant).
fn zeroed<T: AnchorDeserialize>() -> T {
    T::deserialize(&mut &[0u8; 4096][..]).expect("zeroed account")
}

/// The error number `result` failed with, or `None` if it held.
fn failure(result: anchor_lang::Result<()>) -> Option<u32> {
    match result {
        Ok(()) => None,
        Err(anchor_lang::error::Error::AnchorError(error)) => Some(error.error_code_number),
        Err(other) => panic!("not an Anchor error: {other:?}"),
    }
}

fn breaks(what: &str, result: anchor_lang::Result<()>, expected: IomeshError) {
    assert_eq!(
        failure(result),
        Some(u32::from(expected)),
        "{what}: expected {expected:?}"
    );
}

#[test]
fn every_account_refuses_an_unknown_layout_version() {
    let mut credit: Credit = zeroed();
    breaks(
        "credit",
        credit.invariant(),
        IomeshError::UnsupportedAccountVersion,
    );
    credit.version = ACCOUNT_VERSION;
    assert_eq!(failure(credit.invariant()), None);
    let market: Market = zeroed();
    breaks(
        "market",
        market.invariant(),
        IomeshError::UnsupportedAccountVersion,
    );
    let mint: PaymentMint = zeroed();
    breaks(
        "payment mint",
        mint.invariant(),
        IomeshError::UnsupportedAccountVersion,
    );
    let node: Node = zeroed();
    breaks(
        "node",
        node.invariant(),
        IomeshError::UnsupportedAccountVersion,
    );
    let lease: Lease = zeroed();
    breaks(
        "lease",
        lease.invariant(),
        IomeshError::UnsupportedAccountVersion,
    );
    let cluster: Cluster = zeroed();
    breaks(
        "cluster",
        cluster.invariant(),
        IomeshError::UnsupportedAccountVersion,
    );
    let epoch: RewardEpoch = zeroed();
    breaks(
        "epoch",
        epoch.invariant(),
        IomeshError::UnsupportedAccountVersion,
    );
    let config: IosdConfig = zeroed();
    breaks(
        "iosd",
        config.invariant(),
        IomeshError::UnsupportedAccountVersion,
    );
    let slash: PendingSlash = zeroed();
    breaks(
        "slash",
        slash.invariant(),
        IomeshError::UnsupportedAccountVersion,
    );
}

fn pending_lease() -> Lease {
    let mut lease: Lease = zeroed();
    lease.version = ACCOUNT_VERSION;
    lease.status = LeaseStatus::Pending;
    lease.gpus = 2;
    lease.duration_secs = 3_600;
    lease.rate_per_gpu_hour = 4_000_000;
    lease.deposited = math::escrow_cost(4_000_000, 2, 3_600).unwrap();
    lease.created_at = 1_000;
    lease
}

fn active_lease() -> Lease {
    let mut lease = pending_lease();
    lease.status = LeaseStatus::Active;
    lease.activated_at = 1_010;
    lease.settled_until = 1_070;
    lease.paid_out = math::accrued_payout(4_000_000, 2, 60).unwrap();
    lease
}

#[test]
fn each_lease_clause_has_its_error() {
    assert_eq!(failure(pending_lease().invariant()), None);
    assert_eq!(failure(active_lease().invariant()), None);

    let mut lease = pending_lease();
    lease.gpus = 0;
    breaks(
        "no GPUs",
        lease.invariant(),
        IomeshError::LeaseWithoutGpusOrDuration,
    );
    let mut lease = pending_lease();
    lease.duration_secs = 0;
    breaks(
        "no duration",
        lease.invariant(),
        IomeshError::LeaseWithoutGpusOrDuration,
    );
    let mut lease = pending_lease();
    lease.deposited -= 1;
    breaks(
        "short deposit",
        lease.invariant(),
        IomeshError::LeaseDepositNotCost,
    );
    let mut lease = active_lease();
    lease.paid_out = lease.deposited + 1;
    breaks(
        "overpaid",
        lease.invariant(),
        IomeshError::LeasePaidOutExceedsDeposit,
    );
    let mut lease = pending_lease();
    lease.cluster_nonce = 7;
    breaks(
        "cluster nonce outside a cluster",
        lease.invariant(),
        IomeshError::LeaseClusterFieldsOutsideCluster,
    );
    lease.in_cluster = true;
    assert_eq!(failure(lease.invariant()), None, "inside a cluster it may");
    let mut lease = pending_lease();
    lease.activated_at = 1_010;
    breaks(
        "pending but activated",
        lease.invariant(),
        IomeshError::PendingLeaseHasActivity,
    );
    let mut lease = active_lease();
    lease.settled_until = lease.activated_at - 1;
    breaks(
        "settled before activation",
        lease.invariant(),
        IomeshError::ActiveLeaseTimesOutOfOrder,
    );
    let mut lease = active_lease();
    lease.activated_at = lease.created_at - 1;
    breaks(
        "activated before creation",
        lease.invariant(),
        IomeshError::ActiveLeaseTimesOutOfOrder,
    );
    let mut lease = active_lease();
    lease.paid_out -= 1;
    breaks(
        "payout not accrued",
        lease.invariant(),
        IomeshError::ActiveLeasePaidOutNotAccrued,
    );
}

fn node() -> Node {
    let mut node: Node = zeroed();
    node.version = ACCOUNT_VERSION;
    node.gpu_count = 4;
    node.gpus_in_use = 3;
    node.open_leases = 2;
    node.price_usd_micros_per_gpu_hour = 2_000_000;
    node.min_lease_secs = 60;
    node.max_lease_secs = 86_400;
    node
}

#[test]
fn each_node_clause_has_its_error() {
    assert_eq!(failure(node().invariant()), None);
    let mut over = node();
    over.gpus_in_use = 5;
    breaks(
        "GPUs over capacity",
        over.invariant(),
        IomeshError::NodeGpusOverCapacity,
    );
    let mut idle = node();
    idle.open_leases = 0;
    breaks(
        "GPUs held without leases",
        idle.invariant(),
        IomeshError::NodeOpenLeasesInconsistent,
    );
    let mut thin = node();
    thin.open_leases = 4;
    breaks(
        "more leases than GPUs",
        thin.invariant(),
        IomeshError::NodeOpenLeasesInconsistent,
    );
    let mut unstaking = node();
    unstaking.unstaking = 10;
    breaks(
        "unstaking without a date",
        unstaking.invariant(),
        IomeshError::NodeStakeStateInconsistent,
    );
    let mut slashes = node();
    slashes.slashes_pending = 1;
    breaks(
        "pending slash never counted",
        slashes.invariant(),
        IomeshError::NodeStakeStateInconsistent,
    );

    let mut releasing = node();
    breaks(
        "release more GPUs than held",
        releasing.release(4),
        IomeshError::NodeReleasesMoreThanHeld,
    );
    let mut releasing = node();
    releasing.open_leases = 0;
    breaks(
        "release with no open lease",
        releasing.release(1),
        IomeshError::NodeReleasesMoreThanHeld,
    );
    let mut releasing = node();
    assert_eq!(failure(releasing.release(2)), None);
    assert_eq!((releasing.gpus_in_use, releasing.open_leases), (1, 1));
}

#[test]
fn each_cluster_epoch_iosd_and_slash_clause_has_its_error() {
    let mut cluster: Cluster = zeroed();
    cluster.version = ACCOUNT_VERSION;
    cluster.leases_expected = 3;
    cluster.leases_funded = 2;
    cluster.leases_unwound = 1;
    cluster.created_at = 1_000;
    cluster.funding_deadline = 1_600;
    assert_eq!(failure(cluster.invariant()), None);
    cluster.leases_unwound = 3;
    breaks(
        "unwound more than funded",
        cluster.invariant(),
        IomeshError::ClusterCountsInconsistent,
    );
    cluster.leases_unwound = 0;
    cluster.completed_at = 1_100;
    breaks(
        "complete before funded",
        cluster.invariant(),
        IomeshError::ClusterTimesInconsistent,
    );
    cluster.completed_at = 0;
    cluster.funding_deadline = cluster.created_at;
    breaks(
        "deadline not after creation",
        cluster.invariant(),
        IomeshError::ClusterTimesInconsistent,
    );

    let mut epoch: RewardEpoch = zeroed();
    epoch.version = ACCOUNT_VERSION;
    epoch.num_leaves = 2;
    epoch.total_amount = 100;
    epoch.claimed_amount = 100;
    epoch.claims = 2;
    assert_eq!(failure(epoch.invariant()), None);
    epoch.claimed_amount = 101;
    breaks(
        "claimed over total",
        epoch.invariant(),
        IomeshError::EpochOverclaimed,
    );
    epoch.claimed_amount = 100;
    epoch.claims = 3;
    breaks(
        "more claims than leaves",
        epoch.invariant(),
        IomeshError::EpochOverclaimed,
    );

    let mut config: IosdConfig = zeroed();
    config.version = ACCOUNT_VERSION;
    config.max_price_age_secs = 60;
    config.window_secs = 3_600;
    config.window_cap = 1_000;
    config.max_confidence_bps = 100;
    config.price_feed_id = [1; 32];
    config.window_minted = 1_000;
    assert_eq!(failure(config.invariant()), None);
    config.window_minted = 1_001;
    breaks(
        "minted over the window cap",
        config.invariant(),
        IomeshError::IosdWindowOverCap,
    );

    let mut slash: PendingSlash = zeroed();
    slash.version = ACCOUNT_VERSION;
    slash.amount = 10;
    slash.slashed_at = 1_000;
    slash.appeal_ends_at = 2_000;
    assert_eq!(failure(slash.invariant()), None);
    slash.appeal_ends_at = 1_000;
    breaks(
        "appeal ends at the slash",
        slash.invariant(),
        IomeshError::SlashAppealWindowInvalid,
    );
}
