use super::{cluster_slot, lease_settlement};
use crate::{
    error::IomeshError,
    events::LeaseEndReason,
    payouts::{payout_address, Payee, VaultAccounts},
    seeds,
    state::*,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[derive(Accounts)]
pub struct ExpireLease<'info> {
    #[account(seeds = [seeds::MARKET], bump = market.bump)]
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
    /// CHECK: the payer's associated token account (as above).
    #[account(
        mut,
        dup,
        address = payout_address(&payer.key(), &mint.key(), &token_program.key()) @ IomeshError::PayoutAccountMismatch
    )]
    pub payer_token_account: UncheckedAccount<'info>,
    /// CHECK: keeps the payer's refund (and rent) when its accounts cannot take them; created if needed.
    #[account(mut, dup, seeds = [seeds::CREDIT, vault.key().as_ref(), payer.key().as_ref()], bump)]
    pub payer_credit: UncheckedAccount<'info>,
    /// CHECK: the lease's payer (`has_one`): gets the rent back, credited
    /// whichever program owns it.
    #[account(mut)]
    pub payer: UncheckedAccount<'info>,
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

/// Anyone may end a lease whose operator never activated it in time: full
/// refund. A cluster lease passes its cluster after the named accounts, which
/// stops counting it (`cluster_slot`).
pub fn handler<'info>(ctx: Context<'info, ExpireLease<'info>>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let a = ctx.accounts;
    require!(
        a.lease.status == LeaseStatus::Pending,
        IomeshError::LeaseNotPending
    );
    let deadline = a
        .lease
        .activation_deadline(a.market.activation_timeout_secs)?;
    require!(now > deadline, IomeshError::ActivationWindowOpen);
    cluster_slot::release(&a.lease, ctx.remaining_accounts)?;
    let vault = VaultAccounts {
        market: &a.market,
        mint: &a.mint,
        vault: &a.vault,
        token_program: &a.token_program,
    };
    let payer = Payee {
        wallet: a.payer.key(),
        token_account: &a.payer_token_account,
        credit: &a.payer_credit,
    };
    lease_settlement::finish(
        &vault,
        &mut a.lease,
        &mut a.node,
        &payer,
        &a.payer,
        &a.system_program,
        LeaseEndReason::Expired,
    )
}
