use crate::error::IomeshError;
use anchor_lang::prelude::*;

/// Most leases one cluster may group.
pub const MAX_CLUSTER_LEASES: u16 = 64;
/// Longest a cluster may wait to be fully funded, in seconds: its pending
/// leases hold GPUs on their nodes meanwhile.
pub const MAX_CLUSTER_FUNDING_SECS: i64 = 24 * 3_600;

/// A group of leases that start together (`["cluster", renter, nonce]`): none
/// of them can be activated until all `leases_expected` are funded; past the
/// funding deadline an incomplete cluster can be unwound with full refunds.
#[account]
#[derive(InitSpace, Debug)]
pub struct Cluster {
    pub version: u8,
    pub bump: u8,
    /// Who groups the leases; every lease of the cluster has this renter.
    pub renter: Pubkey,
    /// Renter-chosen number making the address unique.
    pub nonce: u64,
    /// Leases the cluster needs before any of them may start.
    pub leases_expected: u16,
    /// Leases funded into the cluster and still counted: a pending lease that
    /// is cancelled or expires gives its slot back.
    pub leases_funded: u16,
    /// Leases refunded and closed by `unwind_cluster`.
    pub leases_unwound: u16,
    /// Unix time (seconds) after which no lease may join, and an incomplete cluster may be unwound.
    pub funding_deadline: i64,
    /// Unix time (seconds) of creation.
    pub created_at: i64,
    /// Unix time (seconds) the last expected lease was funded; 0 while incomplete.
    pub completed_at: i64,
    pub reserved: [u8; 32],
}

impl Cluster {
    pub fn is_complete(&self) -> bool {
        self.leases_funded == self.leases_expected
    }

    /// Counts one more funded lease, refusing a full cluster or one past its deadline.
    pub fn add_lease(&mut self, now: i64) -> Result<()> {
        require!(
            now <= self.funding_deadline,
            IomeshError::ClusterFundingClosed
        );
        require!(!self.is_complete(), IomeshError::ClusterFull);
        self.leases_funded += 1;
        if self.is_complete() {
            self.completed_at = now;
        }
        Ok(())
    }

    /// Gives back the slot of a pending lease that ended (cancelled or
    /// expired): the cluster is incomplete again until a lease fills it.
    pub fn remove_lease(&mut self) -> Result<()> {
        self.leases_funded = self
            .leases_funded
            .checked_sub(1)
            .ok_or(IomeshError::MathOverflow)?;
        self.completed_at = 0;
        Ok(())
    }

    pub fn invariant(&self) -> Result<()> {
        require_current_version!(self.version);
        require!(
            self.leases_expected > 0 && self.leases_expected <= MAX_CLUSTER_LEASES,
            IomeshError::InvalidClusterSize
        );
        require!(
            self.leases_funded <= self.leases_expected && self.leases_unwound <= self.leases_funded,
            IomeshError::ClusterCountsInconsistent
        );
        require!(
            self.funding_deadline > self.created_at
                && (self.completed_at == 0) != self.is_complete(),
            IomeshError::ClusterTimesInconsistent
        );
        Ok(())
    }
}
