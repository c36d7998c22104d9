use super::lease_settlement::{self, VaultAccounts};
use crate::{error::IomeshError, events::LeaseEndReason, seeds, state::*};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[derive(Accounts)]
pub struct ReportFailure<'info> {
    #[account(
        seeds = [seeds::MARKET],
        bump = market.bump,
        has_one = scheduler_authority @ IomeshError::NotSchedulerAuthority
    )]
    pub market: Box<Account<'info, Market>>,
    #[account(
        mut,
        seeds = [seeds::LEASE, lease.renter.as_ref(), &lease.nonce.to_le_bytes()],
        bump = lease.bump,
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
    #[account(
        mut,
        dup,
        associated_token::mint = mint,
        associated_token::authority = node.owner,
        associated_token::token_program = token_program
    )]
    pub supplier_token_account: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        mut,
        dup,
        associated_token::mint = mint,
        associated_token::authority = market.treasury,
        associated_token::token_program = token_program
    )]
    pub treasury_token_account: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        mut,
        dup,
        associated_token::mint = mint,
        associated_token::authority = payer,
        associated_token::token_program = token_program
    )]
    pub payer_token_account: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut)]
    pub payer: SystemAccount<'info>,
    pub scheduler_authority: Signer<'info>,
    pub token_program: Interface<'info, TokenInterface>,
}

/// The scheduler reports that the node stopped serving at `failed_at` (Unix
/// seconds): the node is paid up to then, the rest is refunded.
pub fn handler(ctx: Context<ReportFailure>, failed_at: i64) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let a = ctx.accounts;
    require!(
        a.lease.status == LeaseStatus::Active,
        IomeshError::LeaseNotActive
    );
    // A failure after the end is no failure: the lease was served in full and is closed instead.
    require!(
        failed_at >= a.lease.activated_at && failed_at <= now && failed_at < a.lease.ends_at()?,
        IomeshError::InvalidFailureTime
    );
    let vault = VaultAccounts {
        market: &a.market,
        mint: &a.mint,
        vault: &a.vault,
        token_program: &a.token_program,
    };
    // Seconds already settled stay paid: settlement never claws back.
    lease_settlement::settle_until(
        &vault,
        &mut a.lease,
        &mut a.node,
        Some(&a.supplier_token_account),
        Some(&a.treasury_token_account),
        failed_at,
    )?;
    lease_settlement::finish(
        &vault,
        &mut a.lease,
        &mut a.node,
        &a.payer_token_account,
        &a.payer.to_account_info(),
        LeaseEndReason::Failed,
    )
}
