use crate::{error::IomeshError, events::CreditWithdrawn, payouts::VaultAccounts, seeds, state::*};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[derive(Accounts)]
pub struct WithdrawCredit<'info> {
    #[account(seeds = [seeds::MARKET], bump = market.bump)]
    pub market: Box<Account<'info, Market>>,
    #[account(
        mut,
        seeds = [seeds::CREDIT, vault.key().as_ref(), owner.key().as_ref()],
        bump = credit.bump,
        has_one = owner @ IomeshError::NotCreditOwner,
        has_one = vault @ IomeshError::PayoutAccountMismatch
    )]
    pub credit: Box<Account<'info, Credit>>,
    /// The program's token account holding the credit (`credit.vault`).
    #[account(
        mut,
        token::mint = mint,
        token::authority = market,
        token::token_program = token_program
    )]
    pub vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mint::token_program = token_program)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    /// Any token account of the mint, chosen by the owner.
    #[account(mut, token::mint = mint, token::token_program = token_program)]
    pub destination: Box<InterfaceAccount<'info, TokenAccount>>,
    /// Also receives the lamports its wallet could not take when a lease ended.
    #[account(mut)]
    pub owner: Signer<'info>,
    pub token_program: Interface<'info, TokenInterface>,
}

/// The owner takes what the program kept for them: the tokens to a token
/// account of their choice, and any lamports above the credit's rent to
/// their wallet. The emptied credit stays open until `close_credit`.
pub fn handler(ctx: Context<WithdrawCredit>) -> Result<()> {
    let a = ctx.accounts;
    let amount = a.credit.amount;
    let credit_info = a.credit.to_account_info();
    let rent = Rent::get()?.minimum_balance(credit_info.data_len());
    let lamports = credit_info.lamports().saturating_sub(rent);
    require!(amount > 0 || lamports > 0, IomeshError::CreditEmpty);
    let vault = VaultAccounts {
        market: &a.market,
        mint: &a.mint,
        vault: &a.vault,
        token_program: &a.token_program,
    };
    vault.transfer(&a.destination.to_account_info(), amount)?;
    a.credit.amount = 0;
    a.credit.invariant()?;
    if lamports > 0 {
        credit_info.sub_lamports(lamports)?;
        a.owner.add_lamports(lamports)?;
    }
    log_event!(CreditWithdrawn {
        credit: a.credit.key(),
        owner: a.owner.key(),
        vault: a.vault.key(),
        mint: a.mint.key(),
        destination: a.destination.key(),
        amount,
        lamports,
    });
    Ok(())
}
