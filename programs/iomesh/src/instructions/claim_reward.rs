use crate::{
    error::IomeshError,
    events::RewardClaimed,
    math::SafeMath,
    merkle::{self, MAX_PROOF_LEN},
    seeds,
    state::*,
    transfers,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct ClaimRewardArgs {
    /// The leaf's position in the epoch's tree.
    pub index: u32,
    /// IO base units the leaf allocates.
    pub amount: u64,
    /// Siblings from the leaf up to the root.
    pub proof: Vec<[u8; 32]>,
}

#[derive(Accounts)]
pub struct ClaimReward<'info> {
    #[account(seeds = [seeds::MARKET], bump = market.bump)]
    pub market: Box<Account<'info, Market>>,
    #[account(mut, seeds = [seeds::EPOCH, &epoch.epoch.to_le_bytes()], bump = epoch.bump)]
    pub epoch: Box<Account<'info, RewardEpoch>>,
    #[account(
        seeds = [seeds::NODE, node.operator.as_ref()],
        bump = node.bump,
        has_one = owner @ IomeshError::NotNodeOwner
    )]
    pub node: Box<Account<'info, Node>>,
    #[account(address = market.io_mint @ IomeshError::IoNotConfigured, mint::token_program = token_program)]
    pub io_mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(
        mut,
        seeds = [seeds::REWARDS_ESCROW],
        bump,
        token::mint = io_mint,
        token::authority = market,
        token::token_program = token_program
    )]
    pub rewards_escrow: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        mut,
        token::mint = io_mint,
        token::authority = owner,
        token::token_program = token_program
    )]
    pub owner_token_account: Box<InterfaceAccount<'info, TokenAccount>>,
    pub owner: Signer<'info>,
    pub token_program: Interface<'info, TokenInterface>,
}

/// A node owner claims its leaf of an epoch, once, with the leaf's merkle proof.
pub fn handler(ctx: Context<ClaimReward>, args: ClaimRewardArgs) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let a = ctx.accounts;
    let epoch = &a.epoch;
    require!(!epoch.clawed_back, IomeshError::EpochClawedBack);
    require!(now <= epoch.claim_deadline, IomeshError::ClaimWindowClosed);
    let epoch_info = epoch.to_account_info();
    require!(
        epoch_info.data_len() == RewardEpoch::account_len(epoch.num_leaves),
        IomeshError::EpochNotFullyAllocated
    );
    require!(
        args.index < epoch.num_leaves && args.proof.len() <= MAX_PROOF_LEN,
        IomeshError::InvalidProof
    );
    {
        let data = epoch_info.try_borrow_data()?;
        require!(
            !is_claimed(&data[RewardEpoch::SPACE..], args.index),
            IomeshError::AlreadyClaimed
        );
    }
    let leaf = merkle::leaf_hash(
        epoch.epoch,
        args.index,
        &a.node.key(),
        &a.owner.key(),
        args.amount,
    );
    let root = merkle::root_from_proof(leaf, args.index, epoch.num_leaves, &args.proof);
    require!(root == Some(epoch.merkle_root), IomeshError::InvalidProof);
    require!(
        a.node.meets_stake(a.market.stake_per_gpu)?,
        IomeshError::InsufficientStake
    );
    let claimed_amount = epoch.claimed_amount.safe_add(args.amount)?;
    require!(
        claimed_amount <= epoch.total_amount,
        IomeshError::ClaimExceedsEpoch
    );

    transfers::pay_out(
        &a.token_program,
        &a.rewards_escrow,
        &a.owner_token_account.to_account_info(),
        &a.io_mint,
        &a.market.to_account_info(),
        a.market.bump,
        args.amount,
    )?;
    {
        let mut data = epoch_info.try_borrow_mut_data()?;
        set_claimed(&mut data[RewardEpoch::SPACE..], args.index);
    }
    let epoch = &mut a.epoch;
    epoch.claimed_amount = claimed_amount;
    epoch.claims = epoch.claims.safe_add(1)?;
    epoch.invariant()?;
    log_event!(RewardClaimed {
        epoch: epoch.epoch,
        index: args.index,
        node: a.node.key(),
        owner: a.owner.key(),
        amount: args.amount,
    });
    Ok(())
}
