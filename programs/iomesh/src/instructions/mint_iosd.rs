use crate::{
    error::IomeshError,
    events::IosdMinted,
    math::SafeMath,
    oracle::{self, OraclePolicy},
    seeds,
    state::*,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{self, Burn, Mint, MintTo, TokenAccount, TokenInterface};

#[derive(Accounts)]
pub struct MintIosd<'info> {
    #[account(seeds = [seeds::MARKET], bump = market.bump)]
    pub market: Box<Account<'info, Market>>,
    #[account(mut, seeds = [seeds::IOSD], bump = iosd_config.bump, has_one = iosd_mint @ IomeshError::WrongIosdMint)]
    pub iosd_config: Box<Account<'info, IosdConfig>>,
    #[account(mut, address = market.io_mint @ IomeshError::IoNotConfigured, mint::token_program = io_token_program)]
    pub io_mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(mut, mint::token_program = iosd_token_program)]
    pub iosd_mint: Box<InterfaceAccount<'info, Mint>>,
    /// CHECK: a Pyth `PriceUpdateV2` account; owner, layout, feed, age and confidence checked by `oracle::read_price`.
    pub price_update: UncheckedAccount<'info>,
    #[account(
        mut,
        token::mint = io_mint,
        token::authority = user,
        token::token_program = io_token_program
    )]
    pub user_io: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        mut,
        token::mint = iosd_mint,
        token::token_program = iosd_token_program
    )]
    pub user_iosd: Box<InterfaceAccount<'info, TokenAccount>>,
    /// CHECK: a PDA that only signs the mint; checked by its seeds.
    #[account(seeds = [seeds::IOSD_MINT_AUTHORITY], bump = iosd_config.mint_authority_bump)]
    pub iosd_mint_authority: UncheckedAccount<'info>,
    pub user: Signer<'info>,
    pub io_token_program: Interface<'info, TokenInterface>,
    pub iosd_token_program: Interface<'info, TokenInterface>,
}

/// Burns `io_amount` of the caller's IO and mints IOSD at the oracle's IO/USD
/// price (low end of its confidence interval), at least `min_iosd_out`.
pub fn handler(ctx: Context<MintIosd>, io_amount: u64, min_iosd_out: u64) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let a = ctx.accounts;
    require!(io_amount > 0, IomeshError::ZeroAmount);
    let policy = OraclePolicy {
        feed_id: a.iosd_config.price_feed_id,
        max_age_secs: a.iosd_config.max_price_age_secs,
        max_confidence_bps: a.iosd_config.max_confidence_bps,
    };
    let price = oracle::read_price(&a.price_update.to_account_info(), &policy, now)?;
    let iosd_out =
        oracle::iosd_for_io(io_amount, &price, a.io_mint.decimals, a.iosd_mint.decimals)?;
    require!(iosd_out > 0, IomeshError::ZeroAmount);
    require!(iosd_out >= min_iosd_out, IomeshError::SlippageExceeded);
    let config = &mut a.iosd_config;
    config.take_from_window(iosd_out, now)?;
    config.total_io_burned = config.total_io_burned.safe_add(io_amount)?;
    config.total_iosd_minted = config.total_iosd_minted.safe_add(iosd_out)?;
    config.invariant()?;

    token_interface::burn(
        CpiContext::new(
            a.io_token_program.key(),
            Burn {
                mint: a.io_mint.to_account_info(),
                from: a.user_io.to_account_info(),
                authority: a.user.to_account_info(),
            },
        ),
        io_amount,
    )?;
    let bump = [config.mint_authority_bump];
    let signer_seeds: &[&[&[u8]]] = &[&[seeds::IOSD_MINT_AUTHORITY, &bump]];
    token_interface::mint_to(
        CpiContext::new_with_signer(
            a.iosd_token_program.key(),
            MintTo {
                mint: a.iosd_mint.to_account_info(),
                to: a.user_iosd.to_account_info(),
                authority: a.iosd_mint_authority.to_account_info(),
            },
            signer_seeds,
        ),
        iosd_out,
    )?;
    log_event!(IosdMinted {
        user: a.user.key(),
        io_burned: io_amount,
        iosd_minted: iosd_out,
        price: price.price,
        conf: price.conf,
        exponent: price.exponent,
        publish_time: price.publish_time,
        window_minted: config.window_minted,
    });
    Ok(())
}
