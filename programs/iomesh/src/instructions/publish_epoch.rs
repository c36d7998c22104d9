use crate::{
    account_creation, error::IomeshError, events::EpochPublished, merkle::MAX_EPOCH_LEAVES, seeds,
    state::*, transfers,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct PublishEpochArgs {
    pub epoch: u64,
    pub merkle_root: [u8; 32],
    /// IO base units allocated by the tree: moved from the reserve now.
    pub total_amount: u64,
    pub num_leaves: u32,
    /// Unix seconds: the last second a claim is accepted.
    pub claim_deadline: i64,
}

#[derive(Accounts)]
#[instruction(args: PublishEpochArgs)]
pub struct PublishEpoch<'info> {
    #[account(
        seeds = [seeds::MARKET],
        bump = market.bump,
        has_one = reward_authority @ IomeshError::NotRewardAuthority
    )]
    pub market: Box<Account<'info, Market>>,
    /// CHECK: the new epoch's address, checked by its seeds; created by the handler.
    #[account(mut, seeds = [seeds::EPOCH, &args.epoch.to_le_bytes()], bump)]
    pub epoch: UncheckedAccount<'info>,
    #[account(address = market.io_mint @ IomeshError::IoNotConfigured, mint::token_program = token_program)]
    pub io_mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(
        mut,
        seeds = [seeds::REWARDS_RESERVE],
        bump,
        token::mint = io_mint,
        token::authority = market,
        token::token_program = token_program
    )]
    pub rewards_reserve: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        mut,
        seeds = [seeds::REWARDS_ESCROW],
        bump,
        token::mint = io_mint,
        token::authority = market,
        token::token_program = token_program
    )]
    pub rewards_escrow: Box<InterfaceAccount<'info, TokenAccount>>,
    /// Publishes and pays the epoch account's rent.
    #[account(mut)]
    pub reward_authority: Signer<'info>,
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

/// Publishes an epoch's merkle root and funds it from the rewards reserve.
/// An epoch whose account exceeds one instruction's growth limit is created
/// partly and completed by `grow_epoch` before claims open.
pub fn handler(ctx: Context<PublishEpoch>, args: PublishEpochArgs) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let a = ctx.accounts;
    require!(
        args.num_leaves > 0
            && args.num_leaves <= MAX_EPOCH_LEAVES
            && args.total_amount > 0
            && args.merkle_root != [0; 32]
            && args.claim_deadline > now,
        IomeshError::InvalidEpoch
    );
    require!(
        a.rewards_reserve.amount >= args.total_amount,
        IomeshError::RewardsReserveTooSmall
    );
    let epoch = RewardEpoch {
        version: ACCOUNT_VERSION,
        bump: ctx.bumps.epoch,
        clawed_back: false,
        epoch: args.epoch,
        merkle_root: args.merkle_root,
        total_amount: args.total_amount,
        claimed_amount: 0,
        num_leaves: args.num_leaves,
        claims: 0,
        published_at: now,
        claim_deadline: args.claim_deadline,
        reserved: [0; 32],
    };
    epoch.invariant()?;
    let space = RewardEpoch::account_len(args.num_leaves).min(MAX_ACCOUNT_GROWTH);
    let epoch_bytes = args.epoch.to_le_bytes();
    account_creation::create_program_account(
        &a.reward_authority.to_account_info(),
        &a.epoch.to_account_info(),
        &a.system_program,
        space,
        &[seeds::EPOCH, &epoch_bytes, &[ctx.bumps.epoch]],
        &epoch,
    )?;
    transfers::pay_out(
        &a.token_program,
        &a.rewards_reserve,
        &a.rewards_escrow.to_account_info(),
        &a.io_mint,
        &a.market.to_account_info(),
        a.market.bump,
        args.total_amount,
    )?;
    log_event!(EpochPublished {
        epoch: args.epoch,
        merkle_root: args.merkle_root,
        total_amount: args.total_amount,
        num_leaves: args.num_leaves,
        claim_deadline: args.claim_deadline,
        account_len: RewardEpoch::account_len(args.num_leaves) as u32,
    });
    Ok(())
}
