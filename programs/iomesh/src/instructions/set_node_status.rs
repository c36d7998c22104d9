use crate::{error::IomeshError, events::NodeStatusSet, seeds, state::*};
use anchor_lang::prelude::*;

#[derive(Accounts)]
pub struct SetNodeStatus<'info> {
    #[account(mut, seeds = [seeds::NODE, node.operator.as_ref()], bump = node.bump, has_one = owner @ IomeshError::NotNodeOwner)]
    pub node: Box<Account<'info, Node>>,
    pub owner: Signer<'info>,
}

/// Pauses or resumes new leases on the node; running leases are unaffected.
pub fn handler(ctx: Context<SetNodeStatus>, status: NodeStatus) -> Result<()> {
    let node = &mut ctx.accounts.node;
    node.status = status;
    node.invariant()?;
    log_event!(NodeStatusSet {
        node: node.key(),
        status
    });
    Ok(())
}
