use crate::{
    error::IomeshError,
    events::FeesSwept,
    payouts::{payout_address, VaultAccounts},
    seeds,
    state::*,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[derive(Accounts)]
pub struct SweepFees<'info> {
    #[account(seeds = [seeds::MARKET], bump = market.bump)]
    pub market: Box<Account<'info, Market>>,
    #[account(mint::token_program = token_program)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(
        mut,
        seeds = [seeds::PAYMENT_MINT, mint.key().as_ref()],
        bump = payment_mint.bump,
        has_one = mint @ IomeshError::LeaseAccountMismatch
    )]
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
    /// CHECK: the treasury's associated token account; it must be able to receive.
    #[account(
        mut,
        address = payout_address(&market.treasury, &mint.key(), &token_program.key()) @ IomeshError::PayoutAccountMismatch
    )]
    pub treasury_token_account: UncheckedAccount<'info>,
    pub token_program: Interface<'info, TokenInterface>,
}

/// Anyone may pay the treasury the fees its token account could not take
/// when they were due, once it can take them again.
pub fn handler(ctx: Context<SweepFees>) -> Result<()> {
    let a = ctx.accounts;
    let amount = a.payment_mint.unswept_fees;
    require!(amount > 0, IomeshError::NoUnsweptFees);
    let vault = VaultAccounts {
        market: &a.market,
        mint: &a.mint,
        vault: &a.vault,
        token_program: &a.token_program,
    };
    require!(
        vault.can_pay_into(&a.treasury_token_account, &a.market.treasury)?,
        IomeshError::TreasuryCannotReceive
    );
    vault.transfer(&a.treasury_token_account, amount)?;
    a.payment_mint.unswept_fees = 0;
    a.payment_mint.invariant()?;
    log_event!(FeesSwept {
        mint: a.mint.key(),
        treasury_token_account: a.treasury_token_account.key(),
        amount,
    });
    Ok(())
}
