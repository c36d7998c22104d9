use super::register_node::NodeSpec;
use crate::{error::IomeshError, events::NodeUpdated, seeds, state::*};
use anchor_lang::prelude::*;

#[derive(Accounts)]
pub struct UpdateNode<'info> {
    #[account(seeds = [seeds::MARKET], bump = market.bump)]
    pub market: Box<Account<'info, Market>>,
    #[account(mut, seeds = [seeds::NODE, node.operator.as_ref()], bump = node.bump, has_one = owner @ IomeshError::NotNodeOwner)]
    pub node: Box<Account<'info, Node>>,
    pub owner: Signer<'info>,
}

/// Changes the node's listing. Running leases keep the price they locked.
pub fn handler(ctx: Context<UpdateNode>, spec: NodeSpec) -> Result<()> {
    let node = &mut ctx.accounts.node;
    spec.apply(node, &ctx.accounts.market)?;
    node.invariant()?;
    log_event!(NodeUpdated {
        node: node.key(),
        gpu_count: node.gpu_count,
        price_usd_micros_per_gpu_hour: node.price_usd_micros_per_gpu_hour,
        min_lease_secs: node.min_lease_secs,
        max_lease_secs: node.max_lease_secs,
    });
    Ok(())
}
