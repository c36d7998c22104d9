use crate::{error::IomeshError, events::NodeRetired, seeds, state::*};
use anchor_lang::prelude::*;

#[derive(Accounts)]
pub struct RetireNode<'info> {
    #[account(
        mut,
        seeds = [seeds::NODE, node.operator.as_ref()],
        bump = node.bump,
        has_one = owner @ IomeshError::NotNodeOwner,
        close = owner
    )]
    pub node: Box<Account<'info, Node>>,
    #[account(mut)]
    pub owner: Signer<'info>,
}

/// Closes a node with no pending or active lease; its rent goes back to the owner.
pub fn handler(ctx: Context<RetireNode>) -> Result<()> {
    let node = &ctx.accounts.node;
    require!(
        node.open_leases == 0 && node.gpus_in_use == 0,
        IomeshError::NodeHasOpenLeases
    );
    // Stake would be stranded: it is withdrawn (or slashed) first.
    require!(
        node.staked == 0 && node.unstaking == 0 && node.slashes_pending == 0,
        IomeshError::NodeHasStake
    );
    log_event!(NodeRetired {
        node: node.key(),
        owner: node.owner
    });
    Ok(())
}
