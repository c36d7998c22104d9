use super::lease_settlement;
use crate::{
    error::IomeshError,
    events::LeaseEndReason,
    payouts::{payout_address, Payee, Treasury, VaultAccounts},
    seeds,
    state::*,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[derive(Accounts)]
pub struct CloseLease<'info> {
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
    /// Keeps the fees the treasury cannot take.
    #[account(mut, seeds = [seeds::PAYMENT_MINT, mint.key().as_ref()], bump = payment_mint.bump)]
    pub payment_mint: Box<Account<'info, PaymentMint>>,
    #[account(
        mut,
        seeds = [seeds::VAULT, mint.key().as_ref()],
        bump,
        token::mint = mint,
        token::authority = market,
        token::token_program = token_program
    )]
    pub vault: Box<InterfaceAccount<'info, TokenAccount>>,
    /// CHECK: the node owner's associated token account, which may not exist
    /// or be unable to receive (`payouts`).
    #[account(
        mut,
        dup,
        address = payout_address(&node.owner, &mint.key(), &token_program.key()) @ IomeshError::PayoutAccountMismatch
    )]
    pub supplier_token_account: UncheckedAccount<'info>,
    /// CHECK: the treasury's associated token account (as above).
    #[account(
        mut,
        dup,
        address = payout_address(&market.treasury, &mint.key(), &token_program.key()) @ IomeshError::PayoutAccountMismatch
    )]
    pub treasury_token_account: UncheckedAccount<'info>,
    /// CHECK: the payer's associated token account (as above).
    #[account(
        mut,
        dup,
        address = payout_address(&payer.key(), &mint.key(), &token_program.key()) @ IomeshError::PayoutAccountMismatch
    )]
    pub payer_token_account: UncheckedAccount<'info>,
    /// CHECK: keeps the supplier's payout when its token account cannot take it; created if needed.
    #[account(mut, dup, seeds = [seeds::CREDIT, vault.key().as_ref(), node.owner.as_ref()], bump)]
    pub supplier_credit: UncheckedAccount<'info>,
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

/// Anyone may close a lease that has run to its end: the last seconds are
/// paid, rounding dust refunded, GPUs released and the rent returned to the payer.
pub fn handler(ctx: Context<CloseLease>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let a = ctx.accounts;
    require!(
        a.lease.status == LeaseStatus::Active,
        IomeshError::LeaseNotActive
    );
    let ends_at = a.lease.ends_at()?;
    require!(now >= ends_at, IomeshError::LeaseNotEnded);
    let vault = VaultAccounts {
        market: &a.market,
        mint: &a.mint,
        vault: &a.vault,
        token_program: &a.token_program,
    };
    let supplier = Payee {
        wallet: a.node.owner,
        token_account: &a.supplier_token_account,
        credit: &a.supplier_credit,
    };
    let mut treasury = Treasury {
        token_account: &a.treasury_token_account,
        payment_mint: &mut a.payment_mint,
    };
    let payer = Payee {
        wallet: a.payer.key(),
        token_account: &a.payer_token_account,
        credit: &a.payer_credit,
    };
    let rent = lease_settlement::lease_rent(&a.lease, &a.system_program);
    lease_settlement::settle_until(
        &vault,
        &mut a.lease,
        &mut a.node,
        Some(&supplier),
        Some(&mut treasury),
        Some(&rent),
        ends_at,
    )?;
    lease_settlement::finish(
        &vault,
        &mut a.lease,
        &mut a.node,
        &payer,
        &a.payer,
        &a.system_program,
        LeaseEndReason::Completed,
    )
}
