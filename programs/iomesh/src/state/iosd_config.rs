use crate::{error::IomeshError, math::SafeMath};
use anchor_lang::prelude::*;

/// Most an oracle price's confidence may be, relative to the price: 10 %.
pub const MAX_CONFIDENCE_BPS_LIMIT: u16 = 1_000;

/// IOSD burn-and-mint (`["iosd"]`): the IOSD mint (authority: the
/// `["iosd_mint_authority"]` PDA), the oracle policy, and the circuit breaker.
#[account]
#[derive(InitSpace, Debug)]
pub struct IosdConfig {
    pub version: u8,
    pub bump: u8,
    pub mint_authority_bump: u8,
    /// Oracle updates are refused when `conf / price` exceeds this, in basis points.
    pub max_confidence_bps: u16,
    /// Oracle updates older than this are refused, in seconds.
    pub max_price_age_secs: u32,
    /// Length of a circuit-breaker window, in seconds.
    pub window_secs: u32,
    pub iosd_mint: Pubkey,
    /// Pyth feed id of IO/USD.
    pub price_feed_id: [u8; 32],
    /// Most IOSD base units minted per window.
    pub window_cap: u64,
    /// Unix seconds at which the current window started.
    pub window_start: i64,
    /// IOSD base units minted in the current window.
    pub window_minted: u64,
    /// IO base units burned by `mint_iosd`, ever.
    pub total_io_burned: u64,
    /// IOSD base units minted by `mint_iosd`, ever.
    pub total_iosd_minted: u64,
    pub reserved: [u8; 64],
}

impl IosdConfig {
    /// Counts `amount` IOSD against the window, opening a new window when the
    /// current one has passed; refuses what would exceed the cap.
    pub fn take_from_window(&mut self, amount: u64, now: i64) -> Result<()> {
        if now >= self.window_start.safe_add(i64::from(self.window_secs))? {
            self.window_start = now;
            self.window_minted = 0;
        }
        let minted = self.window_minted.safe_add(amount)?;
        require!(
            minted <= self.window_cap,
            IomeshError::CircuitBreakerTripped
        );
        self.window_minted = minted;
        Ok(())
    }

    pub fn invariant(&self) -> Result<()> {
        require_current_version!(self.version);
        require!(
            self.max_price_age_secs > 0
                && self.window_secs > 0
                && self.window_cap > 0
                && self.max_confidence_bps > 0
                && self.max_confidence_bps <= MAX_CONFIDENCE_BPS_LIMIT
                && self.price_feed_id != [0; 32],
            IomeshError::InvalidIosdPolicy
        );
        require!(
            self.window_minted <= self.window_cap,
            IomeshError::IosdWindowOverCap
        );
        Ok(())
    }
}
