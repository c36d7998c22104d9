use super::{
    cluster_slot,
    lease_settlement::{self, VaultAccounts},
};
use crate::{error::IomeshError, events::LeaseEndReason, seeds, state::*};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[derive(Accounts)]
pub struct CancelLease<'info> {
    #[account(seeds = [seeds::MARKET], bump = market.bump)]
    pub market: Box<Account<'info, Market>>,
    #[account(
        mut,
        seeds = [seeds::LEASE, renter.key().as_ref(), &lease.nonce.to_le_bytes()],
        bump = lease.bump,
        has_one = renter @ IomeshError::NotRenter,
        has_one = node @ IomeshError::LeaseAccountMismatch,
        has_one = mint @ IomeshError::LeaseAccountMismatch,
        has_one = payer @ IomeshError::LeaseAccountMismatch
    )]
    pub lease: Box<Account<'info, Lease>>,
    #[account(mut, seeds = [seeds::NODE, node.operator.as_ref()], bump = node.bump)]
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
    /// Needed only when service has accrued (an active lease).
    #[account(
        mut,
        dup,
        associated_token::mint = mint,
        associated_token::authority = node.owner,
        associated_token::token_program = token_program
    )]
    pub supplier_token_account: Option<Box<InterfaceAccount<'info, TokenAccount>>>,
    /// Needed only when service has accrued (an active lease).
    #[account(
        mut,
        dup,
        associated_token::mint = mint,
        associated_token::authority = market.treasury,
        associated_token::token_program = token_program
    )]
    pub treasury_token_account: Option<Box<InterfaceAccount<'info, TokenAccount>>>,
    #[account(
        mut,
        dup,
        associated_token::mint = mint,
        associated_token::authority = payer,
        associated_token::token_program = token_program
    )]
    pub payer_token_account: Box<InterfaceAccount<'info, TokenAccount>>,
    /// Receives the refund (its associated token account) and the lease rent.
    #[account(mut)]
    pub payer: SystemAccount<'info>,
    pub renter: Signer<'info>,
    pub token_program: Interface<'info, TokenInterface>,
}

/// The renter ends the lease: a pending one is fully refunded; an active one
/// pays the node for the seconds served and refunds the rest. A pending
/// cluster lease passes its cluster after the named accounts, which stops
/// counting it (`cluster_slot`).
pub fn handler<'info>(ctx: Context<'info, CancelLease<'info>>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let a = ctx.accounts;
    let vault = VaultAccounts {
        market: &a.market,
        mint: &a.mint,
        vault: &a.vault,
        token_program: &a.token_program,
    };
    // Before anything changes the lease: only a pending member frees a slot.
    cluster_slot::release(&a.lease, ctx.remaining_accounts)?;
    let mut reason = LeaseEndReason::Cancelled;
    if a.lease.status == LeaseStatus::Active {
        if now >= a.lease.ends_at()? {
            // Cancelling a lease that already ran its course is closing it.
            reason = LeaseEndReason::Completed;
        }
        lease_settlement::settle_until(
            &vault,
            &mut a.lease,
            &mut a.node,
            a.supplier_token_account.as_deref(),
            a.treasury_token_account.as_deref(),
            now,
        )?;
    }
    lease_settlement::finish(
        &vault,
        &mut a.lease,
        &mut a.node,
        &a.payer_token_account,
        &a.payer.to_account_info(),
        reason,
    )
}
