use crate::{
    account_creation, error::IomeshError, events::PaymentMintAdded, math::ONE_USD_MICROS,
    mint_policy, seeds, state::*,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenInterface};

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
    /// CHECK: the payment mint's address, checked by its seeds; created by the handler
    /// (`account_creation`), which refuses an address already in use.
    #[account(mut, seeds = [seeds::PAYMENT_MINT, mint.key().as_ref()], bump)]
    pub payment_mint: UncheckedAccount<'info>,
    #[account(mint::token_program = token_program)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    /// CHECK: the vault's address, checked by its seeds; created by the handler as a
    /// token account of `mint` whose authority is the market PDA.
    #[account(mut, seeds = [seeds::VAULT, mint.key().as_ref()], bump)]
    pub vault: UncheckedAccount<'info>,
    #[account(mut)]
    pub authority: Signer<'info>,
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

pub fn handler(ctx: Context<AddPaymentMint>, args: AddPaymentMintArgs) -> Result<()> {
    let accounts = &ctx.accounts;
    let mint_info = accounts.mint.to_account_info();
    mint_policy::check_escrow_safe(&mint_info)?;
    let payment_mint = PaymentMint {
        version: ACCOUNT_VERSION,
        bump: ctx.bumps.payment_mint,
        vault_bump: ctx.bumps.vault,
        enabled: true,
        decimals: accounts.mint.decimals,
        price_source: args.price_source,
        fee_bps: args.fee_bps,
        max_price_age_secs: args.max_price_age_secs,
        mint: accounts.mint.key(),
        token_program: accounts.token_program.key(),
        vault: accounts.vault.key(),
        usd_price_micros: match args.price_source {
            PriceSource::Stable => ONE_USD_MICROS,
            PriceSource::Authority | PriceSource::Oracle => args.usd_price_micros,
        },
        price_updated_at: Clock::get()?.unix_timestamp,
        symbol: encode_text(&args.symbol)?,
        price_feed_id: [0; 32],
        max_confidence_bps: 0,
        unswept_fees: 0,
        reserved: [0; 54],
    };
    payment_mint.invariant()?;

    let mint_key = accounts.mint.key();
    let payer = accounts.authority.to_account_info();
    account_creation::create_program_account(
        &payer,
        &accounts.payment_mint.to_account_info(),
        &accounts.system_program,
        PaymentMint::SPACE,
        &[
            seeds::PAYMENT_MINT,
            mint_key.as_ref(),
            &[ctx.bumps.payment_mint],
        ],
        &payment_mint,
    )?;
    account_creation::create_vault(
        &payer,
        &accounts.vault.to_account_info(),
        &mint_info,
        &accounts.market.to_account_info(),
        &accounts.token_program.to_account_info(),
        &accounts.system_program,
        &[seeds::VAULT, mint_key.as_ref(), &[ctx.bumps.vault]],
    )?;
    log_event!(PaymentMintAdded {
        mint: payment_mint.mint,
        token_program: payment_mint.token_program,
        vault: payment_mint.vault,
        fee_bps: payment_mint.fee_bps,
        price_source: payment_mint.price_source,
        usd_price_micros: payment_mint.usd_price_micros,
    });
    Ok(())
}
