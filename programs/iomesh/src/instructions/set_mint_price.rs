use crate::{error::IomeshError, events::MintPriceSet, seeds, state::*};
use anchor_lang::prelude::*;

#[derive(Accounts)]
pub struct SetMintPrice<'info> {
    #[account(seeds = [seeds::MARKET], bump = market.bump, has_one = price_authority @ IomeshError::NotPriceAuthority)]
    pub market: Box<Account<'info, Market>>,
    #[account(mut, seeds = [seeds::PAYMENT_MINT, payment_mint.mint.as_ref()], bump = payment_mint.bump)]
    pub payment_mint: Box<Account<'info, PaymentMint>>,
    pub price_authority: Signer<'info>,
}

/// Sets the USD price (micro-USD per whole token) of an authority-priced mint.
pub fn handler(ctx: Context<SetMintPrice>, usd_price_micros: u64) -> Result<()> {
    let payment_mint = &mut ctx.accounts.payment_mint;
    require!(
        payment_mint.price_source == PriceSource::Authority,
        IomeshError::StablePriceMustBeOneUsd
    );
    require!(usd_price_micros > 0, IomeshError::ZeroPrice);
    let now = Clock::get()?.unix_timestamp;
    payment_mint.usd_price_micros = usd_price_micros;
    payment_mint.price_updated_at = now;
    payment_mint.invariant()?;
    log_event!(MintPriceSet {
        mint: payment_mint.mint,
        usd_price_micros,
        updated_at: now
    });
    Ok(())
}
