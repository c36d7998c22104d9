use crate::{account_creation, error::IomeshError, events::NodeRegistered, seeds, state::*};
use anchor_lang::prelude::*;

/// What a supplier says about a node; also used by `update_node`.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct NodeSpec {
    /// e.g. "RTX 4090" (at most 32 ASCII bytes).
    pub gpu_model: String,
    pub gpu_count: u16,
    /// VRAM per GPU in MiB.
    pub vram_mib: u32,
    /// e.g. "eu-west" (at most 16 ASCII bytes).
    pub region: String,
    /// Micro-USD per GPU-hour.
    pub price_usd_micros_per_gpu_hour: u64,
    /// Seconds.
    pub min_lease_secs: u32,
    /// Seconds.
    pub max_lease_secs: u32,
}

impl NodeSpec {
    /// Writes the spec into `node`, checking it against the market's lease bounds.
    pub fn apply(&self, node: &mut Node, market: &Market) -> Result<()> {
        require!(
            self.gpu_count > 0 && self.gpu_count <= MAX_GPUS_PER_NODE,
            IomeshError::InvalidGpuCount
        );
        require!(
            self.gpu_count >= node.gpus_in_use,
            IomeshError::GpuCountBelowInUse
        );
        require!(self.vram_mib > 0, IomeshError::InvalidVram);
        require!(
            self.price_usd_micros_per_gpu_hour > 0,
            IomeshError::ZeroPrice
        );
        require!(
            market.min_lease_secs <= self.min_lease_secs
                && self.min_lease_secs <= self.max_lease_secs
                && self.max_lease_secs <= market.max_lease_secs,
            IomeshError::InvalidNodeLeaseBounds
        );
        node.gpu_model = encode_text(&self.gpu_model)?;
        node.region = encode_text(&self.region)?;
        node.gpu_count = self.gpu_count;
        node.vram_mib = self.vram_mib;
        node.price_usd_micros_per_gpu_hour = self.price_usd_micros_per_gpu_hour;
        node.min_lease_secs = self.min_lease_secs;
        node.max_lease_secs = self.max_lease_secs;
        Ok(())
    }
}

#[derive(Accounts)]
pub struct RegisterNode<'info> {
    #[account(seeds = [seeds::MARKET], bump = market.bump)]
    pub market: Box<Account<'info, Market>>,
    /// CHECK: the node's address, checked by its seeds; created by the handler
    /// (`account_creation`), which refuses an address already in use.
    #[account(mut, seeds = [seeds::NODE, operator.key().as_ref()], bump)]
    pub node: UncheckedAccount<'info>,
    #[account(mut)]
    pub owner: Signer<'info>,
    /// The operator signs too, proving the owner holds the hot key it names.
    pub operator: Signer<'info>,
    pub system_program: Program<'info, System>,
}

pub fn handler(ctx: Context<RegisterNode>, spec: NodeSpec) -> Result<()> {
    let accounts = &ctx.accounts;
    let mut node = Node::new(
        accounts.owner.key(),
        accounts.operator.key(),
        ctx.bumps.node,
        Clock::get()?.unix_timestamp,
    );
    spec.apply(&mut node, &accounts.market)?;
    node.invariant()?;
    let operator = accounts.operator.key();
    account_creation::create_program_account(
        &accounts.owner.to_account_info(),
        &accounts.node.to_account_info(),
        &accounts.system_program,
        Node::SPACE,
        &[seeds::NODE, operator.as_ref(), &[ctx.bumps.node]],
        &node,
    )?;
    log_event!(NodeRegistered {
        node: accounts.node.key(),
        owner: node.owner,
        operator: node.operator,
        gpu_count: node.gpu_count,
        price_usd_micros_per_gpu_hour: node.price_usd_micros_per_gpu_hour,
    });
    Ok(())
}
