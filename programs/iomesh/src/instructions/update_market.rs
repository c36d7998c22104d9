use crate::{error::IomeshError, events::MarketUpdated, seeds, state::*};
use anchor_lang::prelude::*;

#[derive(Accounts)]
pub struct UpdateMarket<'info> {
    #[account(mut, seeds = [seeds::MARKET], bump = market.bump, has_one = authority @ IomeshError::NotMarketAuthority)]
    pub market: Box<Account<'info, Market>>,
    pub authority: Signer<'info>,
}

pub fn handler(ctx: Context<UpdateMarket>, params: MarketParams) -> Result<()> {
    let market = &mut ctx.accounts.market;
    market.apply(&params);
    market.invariant()?;
    log_event!(MarketUpdated { params });
    Ok(())
}
