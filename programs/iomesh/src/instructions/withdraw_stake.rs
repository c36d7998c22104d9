use super::stake::StakeAccounts;
use crate::{error::IomeshError, events::StakeWithdrawn, transfers};
use anchor_lang::prelude::*;

/// After the cooldown, the node owner takes back everything unstaking.
pub fn handler(ctx: Context<StakeAccounts>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let a = ctx.accounts;
    let amount = a.node.unstaking;
    require!(amount > 0, IomeshError::NothingToWithdraw);
    require!(
        now >= a.node.unstake_ready_at,
        IomeshError::UnstakeCooldownActive
    );
    transfers::pay_out(
        &a.token_program,
        &a.stake_vault,
        &a.owner_token_account.to_account_info(),
        &a.io_mint,
        &a.market.to_account_info(),
        a.market.bump,
        amount,
    )?;
    a.node.unstaking = 0;
    a.node.unstake_ready_at = 0;
    a.node.invariant()?;
    log_event!(StakeWithdrawn {
        node: a.node.key(),
        owner: a.owner.key(),
        amount,
    });
    Ok(())
}
