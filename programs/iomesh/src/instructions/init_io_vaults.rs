use crate::{
    account_creation, error::IomeshError, events::IoVaultsInitialized, mint_policy, seeds, state::*,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenInterface};

#[derive(Accounts)]
pub struct InitIoVaults<'info> {
    #[account(mut, seeds = [seeds::MARKET], bump = market.bump, has_one = authority @ IomeshError::NotMarketAuthority)]
    pub market: Box<Account<'info, Market>>,
    /// The IO mint: staked, slashed and paid as rewards.
    #[account(mint::token_program = token_program)]
    pub io_mint: Box<InterfaceAccount<'info, Mint>>,
    /// CHECK: created by the handler as an IO token account owned by the market PDA.
    #[account(mut, seeds = [seeds::STAKE_VAULT], bump)]
    pub stake_vault: UncheckedAccount<'info>,
    /// CHECK: created by the handler as an IO token account owned by the market PDA.
    #[account(mut, seeds = [seeds::REWARDS_RESERVE], bump)]
    pub rewards_reserve: UncheckedAccount<'info>,
    /// CHECK: created by the handler as an IO token account owned by the market PDA.
    #[account(mut, seeds = [seeds::REWARDS_ESCROW], bump)]
    pub rewards_escrow: UncheckedAccount<'info>,
    #[account(mut)]
    pub authority: Signer<'info>,
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

/// Names the IO mint (once) and creates the stake vault, the rewards reserve
/// and the rewards escrow, all owned by the market PDA.
pub fn handler(ctx: Context<InitIoVaults>) -> Result<()> {
    let a = &ctx.accounts;
    require!(
        a.market.io_mint == Pubkey::default(),
        IomeshError::IoVaultsExist
    );
    let mint = a.io_mint.to_account_info();
    mint_policy::check_escrow_safe(&mint)?;
    let payer = a.authority.to_account_info();
    let market = a.market.to_account_info();
    let token_program = a.token_program.to_account_info();
    for (account, seed, bump) in [
        (&a.stake_vault, seeds::STAKE_VAULT, ctx.bumps.stake_vault),
        (
            &a.rewards_reserve,
            seeds::REWARDS_RESERVE,
            ctx.bumps.rewards_reserve,
        ),
        (
            &a.rewards_escrow,
            seeds::REWARDS_ESCROW,
            ctx.bumps.rewards_escrow,
        ),
    ] {
        account_creation::create_vault(
            &payer,
            &account.to_account_info(),
            &mint,
            &market,
            &token_program,
            &a.system_program,
            &[seed, &[bump]],
        )?;
    }
    let market = &mut ctx.accounts.market;
    market.io_mint = ctx.accounts.io_mint.key();
    market.invariant()?;
    log_event!(IoVaultsInitialized {
        io_mint: market.io_mint,
        stake_vault: ctx.accounts.stake_vault.key(),
        rewards_reserve: ctx.accounts.rewards_reserve.key(),
        rewards_escrow: ctx.accounts.rewards_escrow.key(),
    });
    Ok(())
}
