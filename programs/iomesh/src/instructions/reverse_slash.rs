use crate::{error::IomeshError, events::SlashReversed, math::SafeMath, seeds, state::*};
use anchor_lang::prelude::*;

#[derive(Accounts)]
pub struct ReverseSlash<'info> {
    #[account(
        seeds = [seeds::MARKET],
        bump = market.bump,
        has_one = slash_authority @ IomeshError::NotSlashAuthority
    )]
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
    /// CHECK: receives the pending slash's rent; checked against it by `has_one`.
    #[account(mut)]
    pub rent_payer: UncheckedAccount<'info>,
    pub slash_authority: Signer<'info>,
}

/// Within the appeal window, the slashing authority gives the stake back.
pub fn handler(ctx: Context<ReverseSlash>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let slash = &ctx.accounts.pending_slash;
    require!(now < slash.appeal_ends_at, IomeshError::AppealWindowClosed);
    let node = &mut ctx.accounts.node;
    node.staked = node.staked.safe_add(slash.amount)?;
    node.slashes_pending = node.slashes_pending.safe_sub(1)?;
    node.invariant()?;
    log_event!(SlashReversed {
        pending_slash: slash.key(),
        node: node.key(),
        amount: slash.amount,
    });
    Ok(())
}
