use crate::{
    account_creation, error::IomeshError, events::NodeSlashed, math::SafeMath, seeds, state::*,
};
use anchor_lang::prelude::*;

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct SlashArgs {
    /// IO base units taken from the node's stake (active stake first, then unstaking).
    pub amount: u64,
    /// Of `amount`, what the harmed wallet receives on finalization; the rest is burned.
    pub harmed_amount: u64,
    /// A `slash_reason` code.
    pub reason: u16,
    /// The evidence, e.g. the failed lease's address.
    pub evidence: Pubkey,
    /// The wallet (usually the renter) compensated on finalization.
    pub harmed: Pubkey,
}

#[derive(Accounts)]
pub struct SlashNode<'info> {
    #[account(
        seeds = [seeds::MARKET],
        bump = market.bump,
        has_one = slash_authority @ IomeshError::NotSlashAuthority
    )]
    pub market: Box<Account<'info, Market>>,
    #[account(mut, seeds = [seeds::NODE, node.operator.as_ref()], bump = node.bump)]
    pub node: Box<Account<'info, Node>>,
    /// CHECK: the new pending slash's address, checked by its seeds; created by the handler.
    #[account(
        mut,
        seeds = [seeds::SLASH, node.key().as_ref(), &node.slash_count.to_le_bytes()],
        bump
    )]
    pub pending_slash: UncheckedAccount<'info>,
    /// Signs and pays the pending slash's rent (returned when it is settled).
    #[account(mut)]
    pub slash_authority: Signer<'info>,
    pub system_program: Program<'info, System>,
}

/// Takes stake from a node into a pending slash, open to appeal.
pub fn handler(ctx: Context<SlashNode>, args: SlashArgs) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let a = ctx.accounts;
    require!(
        args.amount > 0 && args.harmed_amount <= args.amount,
        IomeshError::InvalidSlashAmount
    );
    require!(
        args.harmed != Pubkey::default(),
        IomeshError::InvalidSlashAmount
    );
    let node = &mut a.node;
    let slashable = node.staked.safe_add(node.unstaking)?;
    require!(args.amount <= slashable, IomeshError::SlashExceedsStake);
    let from_staked = args.amount.min(node.staked);
    node.staked = node.staked.safe_sub(from_staked)?;
    node.unstaking = node
        .unstaking
        .safe_sub(args.amount.safe_sub(from_staked)?)?;
    if node.unstaking == 0 {
        node.unstake_ready_at = 0;
    }
    let index = node.slash_count;
    node.slash_count = index.safe_add(1)?;
    node.slashes_pending = node.slashes_pending.safe_add(1)?;
    node.invariant()?;

    let slash = PendingSlash {
        version: ACCOUNT_VERSION,
        bump: ctx.bumps.pending_slash,
        reason: args.reason,
        index,
        node: node.key(),
        harmed: args.harmed,
        evidence: args.evidence,
        rent_payer: a.slash_authority.key(),
        amount: args.amount,
        harmed_amount: args.harmed_amount,
        slashed_at: now,
        appeal_ends_at: now.safe_add(i64::from(a.market.slash_appeal_secs))?,
        reserved: [0; 32],
    };
    slash.invariant()?;
    let node_key = node.key();
    let index_bytes = index.to_le_bytes();
    account_creation::create_program_account(
        &a.slash_authority.to_account_info(),
        &a.pending_slash.to_account_info(),
        &a.system_program,
        PendingSlash::SPACE,
        &[
            seeds::SLASH,
            node_key.as_ref(),
            &index_bytes,
            &[ctx.bumps.pending_slash],
        ],
        &slash,
    )?;
    log_event!(NodeSlashed {
        pending_slash: a.pending_slash.key(),
        node: node_key,
        amount: slash.amount,
        harmed: slash.harmed,
        harmed_amount: slash.harmed_amount,
        reason: slash.reason,
        evidence: slash.evidence,
        appeal_ends_at: slash.appeal_ends_at,
    });
    Ok(())
}
