use super::update_payment_mint::PaymentMintAdmin;
use crate::{events::PaymentMintOracleSet, state::*};
use anchor_lang::prelude::*;

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct MintOracle {
    /// Pyth feed id of the mint's USD price (e.g. IO/USD, SOL/USD).
    pub price_feed_id: [u8; 32],
    /// Largest accepted `conf / price`, in basis points (at most 1000).
    pub max_confidence_bps: u16,
    /// Seconds an oracle update stays usable.
    pub max_price_age_secs: u32,
}

/// Prices a payment mint from a Pyth pull oracle instead of the price authority (market authority).
pub fn handler(ctx: Context<PaymentMintAdmin>, oracle: MintOracle) -> Result<()> {
    let payment_mint = &mut ctx.accounts.payment_mint;
    payment_mint.price_source = PriceSource::Oracle;
    payment_mint.price_feed_id = oracle.price_feed_id;
    payment_mint.max_confidence_bps = oracle.max_confidence_bps;
    payment_mint.max_price_age_secs = oracle.max_price_age_secs;
    payment_mint.invariant()?;
    log_event!(PaymentMintOracleSet {
        mint: payment_mint.mint,
        oracle,
    });
    Ok(())
}
