use super::AccountSpace;
use crate::{error::IomeshError, math};
use anchor_lang::prelude::*;

#[derive(AnchorSerialize, AnchorDeserialize, InitSpace, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseStatus {
    /// Funded, GPUs reserved, waiting for the operator to activate it.
    Pending,
    /// Running and billing since `activated_at`.
    Active,
}
// A lease that ends (cancel, failure, expiry, close) is paid out, refunded and
// closed in the same instruction, so no terminal status is ever stored.

/// One lease (`["lease", renter, nonce]`): escrowed payment for GPUs on one node.
#[account]
#[derive(InitSpace, Debug)]
pub struct Lease {
    pub version: u8,
    pub bump: u8,
    pub status: LeaseStatus,
    /// Network fee locked at creation, in basis points.
    pub fee_bps: u16,
    /// GPUs reserved on the node.
    pub gpus: u16,
    /// Who uses the GPUs and may cancel.
    pub renter: Pubkey,
    /// Who funded the lease: receives refunds and the account rent.
    pub payer: Pubkey,
    pub node: Pubkey,
    pub mint: Pubkey,
    /// Renter-chosen number making the address unique.
    pub nonce: u64,
    /// Price locked at creation: mint base units per GPU-hour.
    pub rate_per_gpu_hour: u64,
    /// Base units escrowed so far (= escrow_cost(duration_secs)).
    pub deposited: u64,
    /// Base units paid out of escrow to the supplier and treasury so far.
    pub paid_out: u64,
    /// Unix time (seconds) of creation.
    pub created_at: i64,
    /// Unix time (seconds) of activation; 0 while pending.
    pub activated_at: i64,
    /// Unix time (seconds) up to which service has been paid for; 0 while pending.
    pub settled_until: i64,
    /// Seconds of service purchased (grows with extensions).
    pub duration_secs: u32,
    /// sha256 of the job spec the renter submits off-chain.
    pub job_spec_hash: [u8; 32],
    /// Whether the lease belongs to a cluster (`["cluster", renter, cluster_nonce]`).
    pub in_cluster: bool,
    /// Nonce of the lease's cluster; 0 when not in a cluster.
    pub cluster_nonce: u64,
    /// The cluster's funding deadline (Unix seconds), copied at creation; 0 when not in a cluster.
    pub cluster_funding_deadline: i64,
    pub reserved: [u8; 132],
}

impl Lease {
    /// Unix time at which an active lease stops billing.
    pub fn ends_at(&self) -> Result<i64> {
        use math::SafeMath;
        self.activated_at.safe_add(i64::from(self.duration_secs))
    }

    /// Unix time after which a pending lease can no longer be activated and may
    /// be expired. A cluster lease's window opens at the cluster's funding
    /// deadline at the latest, so that waiting for the rest of the cluster
    /// never runs a lease out of time.
    pub fn activation_deadline(&self, activation_timeout_secs: u32) -> Result<i64> {
        use math::SafeMath;
        let window_opens = if self.in_cluster {
            self.created_at.max(self.cluster_funding_deadline)
        } else {
            self.created_at
        };
        window_opens.safe_add(i64::from(activation_timeout_secs))
    }

    /// Billable seconds from activation up to `until` (capped at the end).
    fn billable_secs(&self, until: i64) -> Result<u64> {
        let end = until.min(self.ends_at()?);
        Ok(u64::try_from(end.saturating_sub(self.activated_at)).unwrap_or(0))
    }

    /// Pays for service up to `until` (capped at the end). Returns the amount
    /// now owed out of escrow and the GPU-seconds it covers. Never pays a second twice:
    /// the payout is the difference of a monotone cumulative amount.
    pub fn accrue_until(&mut self, until: i64) -> Result<(u64, u64)> {
        use math::SafeMath;
        require!(
            self.status == LeaseStatus::Active,
            IomeshError::LeaseNotActive
        );
        let until = until.min(self.ends_at()?).max(self.settled_until);
        let previous_secs = self.billable_secs(self.settled_until)?;
        let secs = self.billable_secs(until)?;
        let total = math::accrued_payout(self.rate_per_gpu_hour, self.gpus, secs)?;
        let payout = total.safe_sub(self.paid_out)?;
        self.paid_out = total;
        self.settled_until = until;
        let gpu_seconds = secs
            .safe_sub(previous_secs)?
            .safe_mul(u64::from(self.gpus))?;
        Ok((payout, gpu_seconds))
    }

    /// Escrow not yet paid out: what a refund returns when the lease ends.
    pub fn unspent(&self) -> Result<u64> {
        use math::SafeMath;
        self.deposited.safe_sub(self.paid_out)
    }

    pub fn invariant(&self) -> Result<()> {
        require_current_version!(self.version);
        require!(
            self.gpus > 0 && self.duration_secs > 0,
            IomeshError::LeaseWithoutGpusOrDuration
        );
        let cost = math::escrow_cost(
            self.rate_per_gpu_hour,
            self.gpus,
            u64::from(self.duration_secs),
        )?;
        require_eq!(self.deposited, cost, IomeshError::LeaseDepositNotCost);
        require!(
            self.paid_out <= self.deposited,
            IomeshError::LeasePaidOutExceedsDeposit
        );
        require!(
            self.in_cluster || (self.cluster_nonce == 0 && self.cluster_funding_deadline == 0),
            IomeshError::LeaseClusterFieldsOutsideCluster
        );
        match self.status {
            LeaseStatus::Pending => require!(
                self.activated_at == 0 && self.settled_until == 0 && self.paid_out == 0,
                IomeshError::PendingLeaseHasActivity
            ),
            LeaseStatus::Active => {
                require!(
                    self.activated_at >= self.created_at
                        && self.settled_until >= self.activated_at
                        && self.settled_until <= self.ends_at()?,
                    IomeshError::ActiveLeaseTimesOutOfOrder
                );
                let paid_secs = self.billable_secs(self.settled_until)?;
                let expected = math::accrued_payout(self.rate_per_gpu_hour, self.gpus, paid_secs)?;
                require_eq!(
                    self.paid_out,
                    expected,
                    IomeshError::ActiveLeasePaidOutNotAccrued
                );
            }
        }
        Ok(())
    }
}

/// The lease's rent pays for what its ending may have to create: the payer's
/// and the supplier's credit accounts when neither can receive (see
/// `payouts`). Rent grows linearly with `size + 128` bytes, so this holds at
/// any rent rate.
const _: () = assert!(Lease::SPACE + 128 >= 2 * (super::Credit::SPACE + 128));
/// And no bigger than that needs, with room for later fields.
const _: () = assert!(Lease::SPACE <= 384);
