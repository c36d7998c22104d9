use crate::{
    error::IomeshError,
    events::LeaseExtended,
    math::{self, SafeMath},
    seeds,
    state::*,
    transfers,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[derive(Accounts)]
pub struct ExtendLease<'info> {
    #[account(seeds = [seeds::MARKET], bump = market.bump)]
    pub market: Box<Account<'info, Market>>,
    #[account(
        mut,
        seeds = [seeds::LEASE, lease.renter.as_ref(), &lease.nonce.to_le_bytes()],
        bump = lease.bump,
        has_one = node @ IomeshError::LeaseAccountMismatch,
        has_one = mint @ IomeshError::LeaseAccountMismatch,
        constraint = funder.key() == lease.renter || funder.key() == lease.payer @ IomeshError::NotRenterOrPayer
    )]
    pub lease: Box<Account<'info, Lease>>,
    #[account(seeds = [seeds::NODE, node.operator.as_ref()], bump = node.bump)]
    pub node: Box<Account<'info, Node>>,
    #[account(mint::token_program = token_program)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(
        mut,
        seeds = [seeds::VAULT, mint.key().as_ref()],
        bump,
        token::mint = mint,
        token::authority = market,
        token::token_program = token_program
    )]
    pub vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        mut,
        token::mint = mint,
        token::authority = funder,
        token::token_program = token_program
    )]
    pub funder_token_account: Box<InterfaceAccount<'info, TokenAccount>>,
    /// The renter or the payer. Unused escrow is always refunded to the payer.
    pub funder: Signer<'info>,
    pub token_program: Interface<'info, TokenInterface>,
}

/// Buys `added_secs` more seconds at the price locked at creation.
pub fn handler(ctx: Context<ExtendLease>, added_secs: u32) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let a = ctx.accounts;
    require!(!a.market.paused, IomeshError::MarketPaused);
    require!(added_secs > 0, IomeshError::ZeroExtension);
    let lease = &mut a.lease;
    // The prepaid horizon (time still to run) may not exceed the node's or market's maximum.
    let remaining_secs = match lease.status {
        LeaseStatus::Pending => {
            // Money put into a lease its operator can no longer activate would only wait for a refund.
            let deadline = lease.activation_deadline(a.market.activation_timeout_secs)?;
            require!(now <= deadline, IomeshError::ActivationTimedOut);
            i64::from(lease.duration_secs)
        }
        LeaseStatus::Active => {
            let ends_at = lease.ends_at()?;
            require!(now < ends_at, IomeshError::LeaseEnded);
            ends_at.safe_sub(now)?
        }
    };
    let max_horizon = a.market.max_lease_secs.min(a.node.max_lease_secs);
    require!(
        remaining_secs.safe_add(i64::from(added_secs))? <= i64::from(max_horizon),
        IomeshError::LeaseTooLong
    );
    let duration_secs = lease.duration_secs.safe_add(added_secs)?;
    // The deposit is always the rounded-up cost of the whole duration, so
    // extending in many small steps costs the same as buying it at once.
    let deposited = math::escrow_cost(
        lease.rate_per_gpu_hour,
        lease.gpus,
        u64::from(duration_secs),
    )?;
    let added_deposit = deposited.safe_sub(lease.deposited)?;
    lease.duration_secs = duration_secs;
    lease.deposited = deposited;
    lease.invariant()?;
    transfers::deposit(
        &a.token_program,
        &a.funder_token_account,
        &a.vault,
        &a.mint,
        &a.funder,
        added_deposit,
    )?;
    log_event!(LeaseExtended {
        lease: lease.key(),
        added_secs,
        added_deposit,
        duration_secs
    });
    Ok(())
}
