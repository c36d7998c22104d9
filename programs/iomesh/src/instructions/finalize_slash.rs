use crate::{
    error::IomeshError, events::SlashFinalized, math::SafeMath, seeds, state::*, transfers,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{self, Burn, Mint, TokenAccount, TokenInterface};

#[derive(Accounts)]
pub struct FinalizeSlash<'info> {
    #[account(seeds = [seeds::MARKET], bump = market.bump)]
    pub market: Box<Account<'info, Market>>,
    #[account(
        mut,
        seeds = [seeds::SLASH, node.key().as_ref(), &pending_slash.index.to_le_bytes()],
        bump = pending_slash.bump,
        has_one = node @ IomeshError::LeaseAccountMismatch,
        has_one = rent_payer @ IomeshError::LeaseAccountMismatch,
        close = rent_payer
    )]
    pub pending_slash: Box<Account<'info, PendingSlash>>,
    #[account(mut, seeds = [seeds::NODE, node.operator.as_ref()], bump = node.bump)]
    pub node: Box<Account<'info, Node>>,
    #[account(mut, address = market.io_mint @ IomeshError::IoNotConfigured, mint::token_program = token_program)]
    pub io_mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(
        mut,
        seeds = [seeds::STAKE_VAULT],
        bump,
        token::mint = io_mint,
        token::authority = market,
        token::token_program = token_program
    )]
    pub stake_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        mut,
        associated_token::mint = io_mint,
        associated_token::authority = pending_slash.harmed,
        associated_token::token_program = token_program
    )]
    pub harmed_token_account: Box<InterfaceAccount<'info, TokenAccount>>,
    /// CHECK: receives the pending slash's rent; checked against it by `has_one`.
    #[account(mut)]
    pub rent_payer: UncheckedAccount<'info>,
    pub token_program: Interface<'info, TokenInterface>,
}

/// After the appeal window, anyone pays the harmed wallet its share of the
/// slash and burns the rest.
pub fn handler(ctx: Context<FinalizeSlash>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let a = ctx.accounts;
    let slash = &a.pending_slash;
    require!(now >= slash.appeal_ends_at, IomeshError::AppealWindowOpen);
    let burned = slash.burned_amount()?;
    transfers::pay_out(
        &a.token_program,
        &a.stake_vault,
        &a.harmed_token_account,
        &a.io_mint,
        &a.market.to_account_info(),
        a.market.bump,
        slash.harmed_amount,
    )?;
    if burned > 0 {
        let bump = [a.market.bump];
        let signer_seeds: &[&[&[u8]]] = &[&[seeds::MARKET, &bump]];
        let accounts = Burn {
            mint: a.io_mint.to_account_info(),
            from: a.stake_vault.to_account_info(),
            authority: a.market.to_account_info(),
        };
        token_interface::burn(
            CpiContext::new_with_signer(a.token_program.key(), accounts, signer_seeds),
            burned,
        )?;
    }
    a.node.slashes_pending = a.node.slashes_pending.safe_sub(1)?;
    a.node.invariant()?;
    emit!(SlashFinalized {
        pending_slash: slash.key(),
        node: a.node.key(),
        harmed: slash.harmed,
        harmed_amount: slash.harmed_amount,
        burned,
    });
    Ok(())
}
