use crate::{error::IomeshError, events::LeaseActivated, seeds, state::*};
use anchor_lang::prelude::*;

#[derive(Accounts)]
pub struct ActivateLease<'info> {
    #[account(seeds = [seeds::MARKET], bump = market.bump)]
    pub market: Box<Account<'info, Market>>,
    #[account(
        mut,
        seeds = [seeds::LEASE, lease.renter.as_ref(), &lease.nonce.to_le_bytes()],
        bump = lease.bump,
        has_one = node @ IomeshError::LeaseAccountMismatch
    )]
    pub lease: Box<Account<'info, Lease>>,
    #[account(
        seeds = [seeds::NODE, operator.key().as_ref()],
        bump = node.bump,
        has_one = operator @ IomeshError::NotNodeOperator
    )]
    pub node: Box<Account<'info, Node>>,
    /// The lease's cluster; required when the lease belongs to one.
    #[account(
        seeds = [seeds::CLUSTER, lease.renter.as_ref(), &lease.cluster_nonce.to_le_bytes()],
        bump = cluster.bump
    )]
    pub cluster: Option<Box<Account<'info, Cluster>>>,
    pub operator: Signer<'info>,
}

/// The node's operator confirms the job is running: billing starts now.
pub fn handler(ctx: Context<ActivateLease>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let lease = &mut ctx.accounts.lease;
    require!(
        lease.status == LeaseStatus::Pending,
        IomeshError::LeaseNotPending
    );
    if lease.in_cluster {
        let cluster = ctx
            .accounts
            .cluster
            .as_ref()
            .ok_or(IomeshError::ClusterAccountRequired)?;
        // A cluster re-created under the same nonce is not the one the lease joined.
        require!(
            cluster.created_at <= lease.created_at,
            IomeshError::LeaseAccountMismatch
        );
        require!(cluster.is_complete(), IomeshError::ClusterNotFunded);
    }
    let deadline = lease.activation_deadline(ctx.accounts.market.activation_timeout_secs)?;
    require!(now <= deadline, IomeshError::ActivationTimedOut);
    lease.status = LeaseStatus::Active;
    lease.activated_at = now;
    lease.settled_until = now;
    lease.invariant()?;
    log_event!(LeaseActivated {
        lease: lease.key(),
        node: lease.node,
        activated_at: now,
        ends_at: lease.ends_at()?,
    });
    Ok(())
}
