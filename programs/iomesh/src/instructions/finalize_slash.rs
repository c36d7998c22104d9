use crate::{
    error::IomeshError,
    events::SlashFinalized,
    math::SafeMath,
    payouts::{payout_address, Payee, RentSource, VaultAccounts},
    seeds,
    state::*,
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
    /// CHECK: the harmed wallet's IO associated token account, which may not
    /// exist or be unable to receive (`payouts`).
    #[account(
        mut,
        address = payout_address(&pending_slash.harmed, &io_mint.key(), &token_program.key()) @ IomeshError::PayoutAccountMismatch
    )]
    pub harmed_token_account: UncheckedAccount<'info>,
    /// CHECK: keeps the harmed wallet's share when its token account cannot take it; created if needed.
    #[account(mut, seeds = [seeds::CREDIT, stake_vault.key().as_ref(), pending_slash.harmed.as_ref()], bump)]
    pub harmed_credit: UncheckedAccount<'info>,
    /// CHECK: receives the pending slash's rent; checked against it by `has_one`.
    #[account(mut)]
    pub rent_payer: UncheckedAccount<'info>,
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

/// After the appeal window, anyone pays the harmed wallet its share of the
/// slash and burns the rest.
pub fn handler(ctx: Context<FinalizeSlash>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let a = ctx.accounts;
    let slash = &a.pending_slash;
    require!(now >= slash.appeal_ends_at, IomeshError::AppealWindowOpen);
    let burned = slash.burned_amount()?;
    let stake_vault = VaultAccounts {
        market: &a.market,
        mint: &a.io_mint,
        vault: &a.stake_vault,
        token_program: &a.token_program,
    };
    let harmed = Payee {
        wallet: slash.harmed,
        token_account: &a.harmed_token_account,
        credit: &a.harmed_credit,
    };
    // The pending slash is closed by this instruction: its rent (the slashing
    // authority's) funds the harmed wallet's credit account if one is needed.
    let rent = RentSource {
        account: slash.to_account_info(),
        rent_payer: slash.rent_payer,
        system_program: &a.system_program,
    };
    stake_vault.pay(&harmed, slash.harmed_amount, Some(&rent))?;
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
    log_event!(SlashFinalized {
        pending_slash: slash.key(),
        node: a.node.key(),
        harmed: slash.harmed,
        harmed_amount: slash.harmed_amount,
        burned,
    });
    Ok(())
}
