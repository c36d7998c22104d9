use super::lease_settlement;
use crate::{
    error::IomeshError,
    payouts::{payout_address, Payee, Treasury, VaultAccounts},
    seeds,
    state::*,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[derive(Accounts)]
pub struct SettleLease<'info> {
    #[account(seeds = [seeds::MARKET], bump = market.bump)]
    pub market: Box<Account<'info, Market>>,
    #[account(
        mut,
        seeds = [seeds::LEASE, lease.renter.as_ref(), &lease.nonce.to_le_bytes()],
        bump = lease.bump,
        has_one = node @ IomeshError::LeaseAccountMismatch,
        has_one = mint @ IomeshError::LeaseAccountMismatch
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
    /// CHECK: keeps the supplier's payout when its token account cannot take it; created if needed.
    #[account(mut, dup, seeds = [seeds::CREDIT, vault.key().as_ref(), node.owner.as_ref()], bump)]
    pub supplier_credit: UncheckedAccount<'info>,
    pub token_program: Interface<'info, TokenInterface>,
}

/// Anyone may pay a node for the service its lease has accrued so far. The
/// lease stays open, so nothing can fund a new credit account: when the node
/// owner's token account cannot receive, its existing credit takes the
/// payout, or the settlement is refused (`PayeeCannotReceive`) and the lease's
/// ending pays it.
pub fn handler(ctx: Context<SettleLease>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let a = ctx.accounts;
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
    let paid = lease_settlement::settle_until(
        &vault,
        &mut a.lease,
        &mut a.node,
        Some(&supplier),
        Some(&mut treasury),
        None,
        now,
    )?;
    require!(paid > 0, IomeshError::NothingToSettle);
    a.lease.invariant()?;
    a.node.invariant()?;
    Ok(())
}
