use crate::{
    error::IomeshError, events::EpochClawedBack, math::SafeMath, seeds, state::*, transfers,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[derive(Accounts)]
pub struct ClawbackEpoch<'info> {
    #[account(seeds = [seeds::MARKET], bump = market.bump)]
    pub market: Box<Account<'info, Market>>,
    #[account(mut, seeds = [seeds::EPOCH, &epoch.epoch.to_le_bytes()], bump = epoch.bump)]
    pub epoch: Box<Account<'info, RewardEpoch>>,
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
    pub token_program: Interface<'info, TokenInterface>,
}

/// After the claim deadline, anyone returns an epoch's unclaimed IO to the
/// reserve. The epoch account stays, so its number can never be published
/// (and claimed) again.
pub fn handler(ctx: Context<ClawbackEpoch>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let a = ctx.accounts;
    require!(!a.epoch.clawed_back, IomeshError::EpochClawedBack);
    require!(now > a.epoch.claim_deadline, IomeshError::ClaimWindowOpen);
    let unclaimed = a.epoch.total_amount.safe_sub(a.epoch.claimed_amount)?;
    transfers::pay_out(
        &a.token_program,
        &a.rewards_escrow,
        &a.rewards_reserve.to_account_info(),
        &a.io_mint,
        &a.market.to_account_info(),
        a.market.bump,
        unclaimed,
    )?;
    a.epoch.clawed_back = true;
    a.epoch.invariant()?;
    log_event!(EpochClawedBack {
        epoch: a.epoch.epoch,
        unclaimed,
    });
    Ok(())
}
