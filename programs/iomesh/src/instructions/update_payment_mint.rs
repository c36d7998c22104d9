use crate::{
    error::IomeshError, events::PaymentMintUpdated, math::ONE_USD_MICROS, seeds, state::*,
};
use anchor_lang::prelude::*;

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct UpdatePaymentMintArgs {
    pub enabled: bool,
    /// Network fee on payouts of leases created from now on, in basis points.
    pub fee_bps: u16,
    pub price_source: PriceSource,
    /// Seconds an authority-set price stays usable.
    pub max_price_age_secs: u32,
}

/// The accounts of the instructions that change one payment mint's terms,
/// signed by the market authority: `update_payment_mint` and `set_mint_oracle`.
#[derive(Accounts)]
pub struct PaymentMintAdmin<'info> {
    #[account(seeds = [seeds::MARKET], bump = market.bump, has_one = authority @ IomeshError::NotMarketAuthority)]
    pub market: Box<Account<'info, Market>>,
    #[account(mut, seeds = [seeds::PAYMENT_MINT, payment_mint.mint.as_ref()], bump = payment_mint.bump)]
    pub payment_mint: Box<Account<'info, PaymentMint>>,
    pub authority: Signer<'info>,
}

pub fn handler(ctx: Context<PaymentMintAdmin>, args: UpdatePaymentMintArgs) -> Result<()> {
    let payment_mint = &mut ctx.accounts.payment_mint;
    payment_mint.enabled = args.enabled;
    payment_mint.fee_bps = args.fee_bps;
    payment_mint.max_price_age_secs = args.max_price_age_secs;
    if args.price_source != payment_mint.price_source {
        payment_mint.price_source = args.price_source;
        if args.price_source == PriceSource::Stable {
            payment_mint.usd_price_micros = ONE_USD_MICROS;
        } else {
            // A mint that just stopped being stable has no trusted price yet:
            // leases wait until the price authority sets one.
            payment_mint.price_updated_at = 0;
        }
    }
    payment_mint.invariant()?;
    log_event!(PaymentMintUpdated {
        mint: payment_mint.mint,
        enabled: payment_mint.enabled,
        fee_bps: payment_mint.fee_bps,
        price_source: payment_mint.price_source,
        max_price_age_secs: payment_mint.max_price_age_secs,
    });
    Ok(())
}
