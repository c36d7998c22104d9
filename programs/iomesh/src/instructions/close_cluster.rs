use crate::{error::IomeshError, events::ClusterClosed, seeds, state::*};
use anchor_lang::prelude::*;

#[derive(Accounts)]
pub struct CloseCluster<'info> {
    #[account(
        mut,
        seeds = [seeds::CLUSTER, renter.key().as_ref(), &cluster.nonce.to_le_bytes()],
        bump = cluster.bump,
        has_one = renter @ IomeshError::NotRenter,
        close = renter
    )]
    pub cluster: Box<Account<'info, Cluster>>,
    #[account(mut)]
    pub renter: Signer<'info>,
}

/// The renter takes back the cluster's rent once it is complete or past its
/// deadline. Its leases keep their escrow: a pending one whose cluster is gone
/// can no longer start, and is refunded in full by cancel or expiry.
pub fn handler(ctx: Context<CloseCluster>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let cluster = &ctx.accounts.cluster;
    require!(
        cluster.is_complete() || now > cluster.funding_deadline,
        IomeshError::ClusterDeadlineNotPassed
    );
    log_event!(ClusterClosed {
        cluster: cluster.key(),
        renter: cluster.renter,
        completed: cluster.is_complete(),
    });
    Ok(())
}
