use crate::{error::IomeshError, events::MarketPausedSet, seeds, state::*};
use anchor_lang::prelude::*;

#[derive(Accounts)]
pub struct SetPaused<'info> {
    #[account(mut, seeds = [seeds::MARKET], bump = market.bump, has_one = authority @ IomeshError::NotMarketAuthority)]
    pub market: Box<Account<'info, Market>>,
    pub authority: Signer<'info>,
}

pub fn handler(ctx: Context<SetPaused>, paused: bool) -> Result<()> {
    let market = &mut ctx.accounts.market;
    market.paused = paused;
    market.invariant()?;
    log_event!(MarketPausedSet { paused });
    Ok(())
}
