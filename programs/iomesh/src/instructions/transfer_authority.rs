//! Two-step authority transfer: the current authority proposes, the new one accepts,
//! so a typo can never hand the market to a key nobody holds.

use super::update_market::MarketAdmin;
use crate::{
    error::IomeshError,
    events::{AuthorityAccepted, AuthorityProposed},
    seeds,
    state::*,
};
use anchor_lang::prelude::*;

/// Proposes `new_authority`; `Pubkey::default()` withdraws a pending proposal.
pub fn propose(ctx: Context<MarketAdmin>, new_authority: Pubkey) -> Result<()> {
    let market = &mut ctx.accounts.market;
    market.pending_authority = new_authority;
    market.invariant()?;
    log_event!(AuthorityProposed {
        current: market.authority,
        proposed: new_authority
    });
    Ok(())
}

#[derive(Accounts)]
pub struct AcceptAuthority<'info> {
    #[account(mut, seeds = [seeds::MARKET], bump = market.bump)]
    pub market: Box<Account<'info, Market>>,
    pub new_authority: Signer<'info>,
}

pub fn accept(ctx: Context<AcceptAuthority>) -> Result<()> {
    let market = &mut ctx.accounts.market;
    require!(
        market.has_pending_authority(),
        IomeshError::NoPendingAuthority
    );
    require_keys_eq!(
        market.pending_authority,
        ctx.accounts.new_authority.key(),
        IomeshError::NotPendingAuthority
    );
    let previous = market.authority;
    market.authority = market.pending_authority;
    market.pending_authority = Pubkey::default();
    market.invariant()?;
    log_event!(AuthorityAccepted {
        previous,
        authority: market.authority
    });
    Ok(())
}
