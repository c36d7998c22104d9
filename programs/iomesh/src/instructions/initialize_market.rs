use crate::{account_creation, events::MarketInitialized, seeds, state::*};
use anchor_lang::prelude::*;

#[derive(Accounts)]
pub struct InitializeMarket<'info> {
    /// CHECK: the market's address, checked by its seeds; created by the handler
    /// (`account_creation`), which refuses an address already in use.
    #[account(mut, seeds = [seeds::MARKET], bump)]
    pub market: UncheckedAccount<'info>,
    #[account(mut)]
    pub authority: Signer<'info>,
    pub system_program: Program<'info, System>,
}

pub fn handler(ctx: Context<InitializeMarket>, params: MarketParams) -> Result<()> {
    let mut market = Market {
        version: ACCOUNT_VERSION,
        bump: ctx.bumps.market,
        paused: false,
        authority: ctx.accounts.authority.key(),
        pending_authority: Pubkey::default(),
        treasury: Pubkey::default(),
        scheduler_authority: Pubkey::default(),
        price_authority: Pubkey::default(),
        reward_authority: Pubkey::default(),
        activation_timeout_secs: 0,
        min_lease_secs: 0,
        max_lease_secs: 0,
        failure_grace_secs: 0,
        io_mint: Pubkey::default(),
        slash_authority: Pubkey::default(),
        stake_per_gpu: 0,
        unstake_cooldown_secs: 0,
        slash_appeal_secs: 0,
        reserved: [0; 48],
    };
    market.apply(&params);
    market.invariant()?;
    account_creation::create_program_account(
        &ctx.accounts.authority.to_account_info(),
        &ctx.accounts.market.to_account_info(),
        &ctx.accounts.system_program,
        Market::SPACE,
        &[seeds::MARKET, &[ctx.bumps.market]],
        &market,
    )?;
    log_event!(MarketInitialized {
        authority: market.authority,
        params
    });
    Ok(())
}
