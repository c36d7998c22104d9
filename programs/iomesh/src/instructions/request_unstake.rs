use crate::{error::IomeshError, events::UnstakeRequested, math::SafeMath, seeds, state::*};
use anchor_lang::prelude::*;

#[derive(Accounts)]
pub struct RequestUnstake<'info> {
    #[account(seeds = [seeds::MARKET], bump = market.bump)]
    pub market: Box<Account<'info, Market>>,
    #[account(
        mut,
        seeds = [seeds::NODE, node.operator.as_ref()],
        bump = node.bump,
        has_one = owner @ IomeshError::NotNodeOwner
    )]
    pub node: Box<Account<'info, Node>>,
    pub owner: Signer<'info>,
}

/// Moves `amount` of the node's stake into cooldown. It stops counting towards
/// the node's requirement at once but stays slashable until withdrawn. A new
/// request restarts the cooldown of everything unstaking.
pub fn handler(ctx: Context<RequestUnstake>, amount: u64) -> Result<()> {
    require!(amount > 0, IomeshError::ZeroAmount);
    let now = Clock::get()?.unix_timestamp;
    let market = &ctx.accounts.market;
    let node = &mut ctx.accounts.node;
    require!(amount <= node.staked, IomeshError::InsufficientStake);
    let remaining = node.staked.safe_sub(amount)?;
    if node.open_leases > 0 {
        require!(
            remaining >= node.required_stake(market.stake_per_gpu)?,
            IomeshError::StakeBelowMinimumWithOpenLeases
        );
    }
    node.staked = remaining;
    node.unstaking = node.unstaking.safe_add(amount)?;
    node.unstake_ready_at = now.safe_add(i64::from(market.unstake_cooldown_secs))?;
    node.invariant()?;
    log_event!(UnstakeRequested {
        node: node.key(),
        amount,
        unstaking: node.unstaking,
        ready_at: node.unstake_ready_at,
    });
    Ok(())
}
