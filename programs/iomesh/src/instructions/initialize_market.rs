use crate::{events::MarketInitialized, seeds, state::*};
use anchor_lang::prelude::*;

#[derive(Accounts)]
pub struct InitializeMarket<'info> {
    #[account(init, payer = authority, space = Market::SPACE, seeds = [seeds::MARKET], bump)]
    pub market: Box<Account<'info, Market>>,
    #[account(mut)]
    pub authority: Signer<'info>,
    pub system_program: Program<'info, System>,
}

pub fn handler(ctx: Context<InitializeMarket>, params: MarketParams) -> Result<()> {
    let market = &mut ctx.accounts.market;
    market.version = ACCOUNT_VERSION;
    market.bump = ctx.bumps.market;
    market.paused = false;
    market.authority = ctx.accounts.authority.key();
    market.pending_authority = Pubkey::default();
    market.apply(&params);
    market.invariant()?;
    emit!(MarketInitialized {
        authority: market.authority,
        params
    });
    Ok(())
}
