use crate::{
    error::IomeshError, events::PaymentMintAdded, math::ONE_USD_MICROS, mint_policy, seeds,
    state::*,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct AddPaymentMintArgs {
    /// Network fee on payouts in this mint, in basis points.
    pub fee_bps: u16,
    pub price_source: PriceSource,
    /// Micro-USD per whole token; ignored (1 USD) for stable mints.
    pub usd_price_micros: u64,
    /// Seconds an authority-set price stays usable.
    pub max_price_age_secs: u32,
    /// Display symbol, e.g. "IO" or "USDC".
    pub symbol: String,
}

#[derive(Accounts)]
pub struct AddPaymentMint<'info> {
    #[account(seeds = [seeds::MARKET], bump = market.bump, has_one = authority @ IomeshError::NotMarketAuthority)]
    pub market: Box<Account<'info, Market>>,
    #[account(
        init,
        payer = authority,
        space = PaymentMint::SPACE,
        seeds = [seeds::PAYMENT_MINT, mint.key().as_ref()],
        bump
    )]
    pub payment_mint: Box<Account<'info, PaymentMint>>,
    #[account(mint::token_program = token_program)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(
        init,
        payer = authority,
        seeds = [seeds::VAULT, mint.key().as_ref()],
        bump,
        token::mint = mint,
        token::authority = market,
        token::token_program = token_program
    )]
    pub vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut)]
    pub authority: Signer<'info>,
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

pub fn handler(ctx: Context<AddPaymentMint>, args: AddPaymentMintArgs) -> Result<()> {
    mint_policy::check_escrow_safe(&ctx.accounts.mint.to_account_info())?;
    let now = Clock::get()?.unix_timestamp;
    let payment_mint = &mut ctx.accounts.payment_mint;
    payment_mint.version = ACCOUNT_VERSION;
    payment_mint.bump = ctx.bumps.payment_mint;
    payment_mint.vault_bump = ctx.bumps.vault;
    payment_mint.enabled = true;
    payment_mint.decimals = ctx.accounts.mint.decimals;
    payment_mint.price_source = args.price_source;
    payment_mint.fee_bps = args.fee_bps;
    payment_mint.max_price_age_secs = args.max_price_age_secs;
    payment_mint.mint = ctx.accounts.mint.key();
    payment_mint.token_program = ctx.accounts.token_program.key();
    payment_mint.vault = ctx.accounts.vault.key();
    payment_mint.usd_price_micros = match args.price_source {
        PriceSource::Stable => ONE_USD_MICROS,
        PriceSource::Authority => args.usd_price_micros,
    };
    payment_mint.price_updated_at = now;
    payment_mint.symbol = encode_text(&args.symbol)?;
    payment_mint.invariant()?;
    emit!(PaymentMintAdded {
        mint: payment_mint.mint,
        token_program: payment_mint.token_program,
        vault: payment_mint.vault,
        fee_bps: payment_mint.fee_bps,
        price_source: payment_mint.price_source,
        usd_price_micros: payment_mint.usd_price_micros,
    });
    Ok(())
}
