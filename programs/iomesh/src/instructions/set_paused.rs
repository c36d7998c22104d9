use super::update_market::MarketAdmin;
use crate::events::MarketPausedSet;
use anchor_lang::prelude::*;

pub fn handler(ctx: Context<MarketAdmin>, paused: bool) -> Result<()> {
    let market = &mut ctx.accounts.market;
    market.paused = paused;
    market.invariant()?;
    log_event!(MarketPausedSet { paused });
    Ok(())
}
