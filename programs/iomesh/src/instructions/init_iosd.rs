use crate::{account_creation, error::IomeshError, events::IosdInitialized, seeds, state::*};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenInterface};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct IosdPolicy {
    /// Pyth feed id of IO/USD.
    pub price_feed_id: [u8; 32],
    /// Seconds an oracle update stays usable.
    pub max_price_age_secs: u32,
    /// Largest accepted `conf / price`, in basis points (at most 1000).
    pub max_confidence_bps: u16,
    /// Circuit-breaker window, in seconds.
    pub window_secs: u32,
    /// Most IOSD base units minted per window.
    pub window_cap: u64,
}

#[derive(Accounts)]
pub struct InitIosd<'info> {
    #[account(seeds = [seeds::MARKET], bump = market.bump, has_one = authority @ IomeshError::NotMarketAuthority)]
    pub market: Box<Account<'info, Market>>,
    /// CHECK: the config's address, checked by its seeds; created by the handler.
    #[account(mut, seeds = [seeds::IOSD], bump)]
    pub iosd_config: UncheckedAccount<'info>,
    /// Its mint authority must already be the `["iosd_mint_authority"]` PDA and it must have no freeze authority.
    #[account(
        mint::authority = iosd_mint_authority,
        mint::token_program = token_program
    )]
    pub iosd_mint: Box<InterfaceAccount<'info, Mint>>,
    /// CHECK: a PDA that only signs; checked by its seeds.
    #[account(seeds = [seeds::IOSD_MINT_AUTHORITY], bump)]
    pub iosd_mint_authority: UncheckedAccount<'info>,
    #[account(mut)]
    pub authority: Signer<'info>,
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

/// Sets up IOSD burn-and-mint with its oracle policy and circuit breaker (market authority).
pub fn handler(ctx: Context<InitIosd>, policy: IosdPolicy) -> Result<()> {
    let a = &ctx.accounts;
    require!(
        a.market.io_mint != Pubkey::default(),
        IomeshError::IoNotConfigured
    );
    require!(
        a.iosd_mint.freeze_authority.is_none(),
        IomeshError::IosdMintHasFreezeAuthority
    );
    let config = IosdConfig {
        version: ACCOUNT_VERSION,
        bump: ctx.bumps.iosd_config,
        mint_authority_bump: ctx.bumps.iosd_mint_authority,
        max_confidence_bps: policy.max_confidence_bps,
        max_price_age_secs: policy.max_price_age_secs,
        window_secs: policy.window_secs,
        iosd_mint: a.iosd_mint.key(),
        price_feed_id: policy.price_feed_id,
        window_cap: policy.window_cap,
        window_start: Clock::get()?.unix_timestamp,
        window_minted: 0,
        total_io_burned: 0,
        total_iosd_minted: 0,
        reserved: [0; 64],
    };
    config.invariant()?;
    account_creation::create_program_account(
        &a.authority.to_account_info(),
        &a.iosd_config.to_account_info(),
        &a.system_program,
        IosdConfig::SPACE,
        &[seeds::IOSD, &[ctx.bumps.iosd_config]],
        &config,
    )?;
    log_event!(IosdInitialized {
        iosd_mint: config.iosd_mint,
        policy,
    });
    Ok(())
}
