use super::MAX_CONFIDENCE_BPS_LIMIT;
use crate::{error::IomeshError, math::ONE_USD_MICROS};
use anchor_lang::prelude::*;

/// Highest network fee the market may set on a mint: 10 %.
pub const MAX_FEE_BPS: u16 = 1_000;
/// Highest decimals supported (keeps `10^decimals` in range of the price math).
pub const MAX_DECIMALS: u8 = 18;

/// How a mint's USD price is known.
#[derive(AnchorSerialize, AnchorDeserialize, InitSpace, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PriceSource {
    /// A USD stablecoin (USDC, IOSD): always exactly 1 USD per token.
    Stable,
    /// Set by the market's price authority, refused once older than `max_price_age_secs`.
    Authority,
    /// Read from a Pyth `PriceUpdateV2` account at lease creation (feed, age and confidence checked).
    Oracle,
}

/// One accepted payment mint (`["payment_mint", mint]`) and its escrow vault.
#[account]
#[derive(InitSpace, Debug)]
pub struct PaymentMint {
    pub version: u8,
    pub bump: u8,
    pub vault_bump: u8,
    /// New leases in this mint are refused while false; running leases are unaffected.
    pub enabled: bool,
    pub decimals: u8,
    pub price_source: PriceSource,
    /// Network fee charged on supplier payouts, in basis points.
    pub fee_bps: u16,
    /// Seconds after `price_updated_at` past which new leases are refused (authority-priced only).
    pub max_price_age_secs: u32,
    pub mint: Pubkey,
    /// SPL Token or Token-2022: the program that owns the mint.
    pub token_program: Pubkey,
    /// The escrow token account `["vault", mint]`, authority the market PDA.
    pub vault: Pubkey,
    /// USD price of one whole token (10^decimals base units), in micro-USD.
    pub usd_price_micros: u64,
    /// Unix time (seconds) the price was last set.
    pub price_updated_at: i64,
    /// Display symbol (e.g. "IO", "USDC"), ASCII, zero padded.
    pub symbol: [u8; 8],
    /// Pyth feed id of the mint's USD price (oracle-priced mints only).
    pub price_feed_id: [u8; 32],
    /// Largest accepted oracle `conf / price`, in basis points (oracle-priced mints only).
    pub max_confidence_bps: u16,
    /// Network fees the treasury's token account could not take (frozen,
    /// closed, given away): held in the vault until `sweep_fees` pays them.
    pub unswept_fees: u64,
    pub reserved: [u8; 54],
}

impl PaymentMint {
    /// The USD price to quote a new lease with, refusing a disabled mint or a
    /// stale price. An oracle-priced mint reads `price_update`, and is quoted at
    /// the low end of the confidence interval so that the renter escrows enough.
    pub fn quote_price(&self, now: i64, price_update: Option<&AccountInfo>) -> Result<u64> {
        require!(self.enabled, IomeshError::PaymentMintDisabled);
        if self.price_source == PriceSource::Oracle {
            let account = price_update.ok_or(IomeshError::OracleAccountRequired)?;
            let policy = crate::oracle::OraclePolicy {
                feed_id: self.price_feed_id,
                max_age_secs: self.max_price_age_secs,
                max_confidence_bps: self.max_confidence_bps,
            };
            let price = crate::oracle::read_price(account, &policy, now)?;
            let micros = crate::oracle::usd_micros_per_token(&price)?;
            require!(micros > 0, IomeshError::ZeroPrice);
            return Ok(micros);
        }
        if self.price_source == PriceSource::Authority {
            let age = now.saturating_sub(self.price_updated_at);
            require!(
                age <= i64::from(self.max_price_age_secs),
                IomeshError::StalePrice
            );
        }
        Ok(self.usd_price_micros)
    }

    pub fn invariant(&self) -> Result<()> {
        require_current_version!(self.version);
        require!(self.fee_bps <= MAX_FEE_BPS, IomeshError::FeeTooHigh);
        require!(
            self.decimals <= MAX_DECIMALS,
            IomeshError::UnsupportedDecimals
        );
        match self.price_source {
            PriceSource::Stable => require_eq!(
                self.usd_price_micros,
                ONE_USD_MICROS,
                IomeshError::StablePriceMustBeOneUsd
            ),
            PriceSource::Authority => {
                require!(self.usd_price_micros > 0, IomeshError::ZeroPrice);
                require!(self.max_price_age_secs > 0, IomeshError::InvalidMaxPriceAge);
            }
            PriceSource::Oracle => {
                require!(self.max_price_age_secs > 0, IomeshError::InvalidMaxPriceAge);
                require!(
                    self.price_feed_id != [0; 32]
                        && self.max_confidence_bps > 0
                        && self.max_confidence_bps <= MAX_CONFIDENCE_BPS_LIMIT,
                    IomeshError::InvalidOracleConfig
                );
            }
        }
        Ok(())
    }
}
