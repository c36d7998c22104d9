use crate::{error::IomeshError, events::LeaseActivated, math::SafeMath, seeds, state::*};
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
    let deadline = lease
        .created_at
        .safe_add(i64::from(ctx.accounts.market.activation_timeout_secs))?;
    require!(now <= deadline, IomeshError::ActivationTimedOut);
    lease.status = LeaseStatus::Active;
    lease.activated_at = now;
    lease.settled_until = now;
    lease.invariant()?;
    emit!(LeaseActivated {
        lease: lease.key(),
        node: lease.node,
        activated_at: now,
        ends_at: lease.ends_at()?,
    });
    Ok(())
}
