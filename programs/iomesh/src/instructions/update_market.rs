use crate::{error::IomeshError, events::MarketUpdated, seeds, state::*};
use anchor_lang::prelude::*;

/// The accounts of the instructions that change the market alone, signed by
/// its authority: `update_market`, `propose_authority`, `set_paused` and
/// `set_staking_policy`.
#[derive(Accounts)]
pub struct MarketAdmin<'info> {
    #[account(mut, seeds = [seeds::MARKET], bump = market.bump, has_one = authority @ IomeshError::NotMarketAuthority)]
    pub market: Box<Account<'info, Market>>,
    pub authority: Signer<'info>,
}

pub fn handler(ctx: Context<MarketAdmin>, params: MarketParams) -> Result<()> {
    let market = &mut ctx.accounts.market;
    market.apply(&params);
    market.invariant()?;
    log_event!(MarketUpdated { params });
    Ok(())
}
