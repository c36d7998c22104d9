//! Reading a Pyth pull-oracle price (`PriceUpdateV2`, posted by the Pyth
//! Solana receiver program). The layout is parsed here rather than through
//! the Pyth SDK, whose dependencies clash with Anchor 1.2:
//!
//! | bytes    | field                                              |
//! |----------|----------------------------------------------------|
//! | 0..8     | discriminator `sha256("account:PriceUpdateV2")[..8]` |
//! | 8..40    | write authority                                    |
//! | 40       | verification level: 0 = Partial (+1 byte), 1 = Full |
//! | then     | feed id [32], price i64, conf u64, exponent i32, publish time i64, ... |

use crate::error::IomeshError;
use anchor_lang::prelude::*;

/// The Pyth Solana receiver program, owner of every `PriceUpdateV2` account.
pub const PYTH_RECEIVER_ID: Pubkey = pubkey!("rec5EKMGg6MxZYaMdyBfgwp4d5rB9T1VQH5pJv5LtFJ");
/// `sha256("account:PriceUpdateV2")[..8]`.
pub const PRICE_UPDATE_V2_DISCRIMINATOR: [u8; 8] = [34, 241, 35, 99, 157, 126, 244, 205];

/// One price read from an oracle account: `price × 10^exponent` USD per whole token, ± `conf`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OraclePrice {
    pub price: i64,
    pub conf: u64,
    pub exponent: i32,
    pub publish_time: i64,
}

/// What a price must satisfy to be used.
pub struct OraclePolicy {
    pub feed_id: [u8; 32],
    pub max_age_secs: u32,
    /// Largest `conf / price` accepted, in basis points.
    pub max_confidence_bps: u16,
}

fn read<const N: usize>(data: &[u8], at: usize) -> Result<[u8; N]> {
    data.get(at..at + N)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| IomeshError::InvalidOracleAccount.into())
}

/// Reads and checks a fully verified `PriceUpdateV2` account against `policy` at `now`.
pub fn read_price(account: &AccountInfo, policy: &OraclePolicy, now: i64) -> Result<OraclePrice> {
    require_keys_eq!(
        *account.owner,
        PYTH_RECEIVER_ID,
        IomeshError::WrongOracleOwner
    );
    let data = account.try_borrow_data()?;
    require!(
        read::<8>(&data, 0)? == PRICE_UPDATE_V2_DISCRIMINATOR,
        IomeshError::InvalidOracleAccount
    );
    // Only updates whose Wormhole signatures were fully verified are trusted.
    require!(
        read::<1>(&data, 40)?[0] == 1,
        IomeshError::OracleNotFullyVerified
    );
    let message = 41;
    let feed_id = read::<32>(&data, message)?;
    require!(feed_id == policy.feed_id, IomeshError::WrongPriceFeed);
    let price = OraclePrice {
        price: i64::from_le_bytes(read(&data, message + 32)?),
        conf: u64::from_le_bytes(read(&data, message + 40)?),
        exponent: i32::from_le_bytes(read(&data, message + 48)?),
        publish_time: i64::from_le_bytes(read(&data, message + 52)?),
    };
    require!(price.price > 0, IomeshError::ZeroPrice);
    require!(
        now.saturating_sub(price.publish_time) <= i64::from(policy.max_age_secs),
        IomeshError::StaleOraclePrice
    );
    // conf / price <= max_confidence_bps / 10_000, in integers.
    require!(
        u128::from(price.conf) * 10_000
            <= u128::from(price.price.unsigned_abs()) * u128::from(policy.max_confidence_bps),
        IomeshError::PriceConfidenceTooWide
    );
    Ok(price)
}

/// IOSD (1 USD per whole token) for `io_amount` IO base units at the lower end
/// of the oracle's confidence interval, `price − conf`, rounded down: every
/// rounding and the uncertainty fall in the protocol's favour.
pub fn iosd_for_io(
    io_amount: u64,
    price: &OraclePrice,
    io_decimals: u8,
    iosd_decimals: u8,
) -> Result<u64> {
    let low = u128::from(price.price.unsigned_abs()).saturating_sub(u128::from(price.conf));
    let overflow = || error!(IomeshError::MathOverflow);
    let pow = |e: u32| 10u128.checked_pow(e).ok_or_else(overflow);
    let mut numerator = u128::from(io_amount)
        .checked_mul(low)
        .and_then(|n| n.checked_mul(pow(u32::from(iosd_decimals)).ok()?))
        .ok_or_else(overflow)?;
    let mut denominator = pow(u32::from(io_decimals))?;
    if price.exponent >= 0 {
        numerator = numerator
            .checked_mul(pow(price.exponent.unsigned_abs())?)
            .ok_or_else(overflow)?;
    } else {
        denominator = denominator
            .checked_mul(pow(price.exponent.unsigned_abs())?)
            .ok_or_else(overflow)?;
    }
    u64::try_from(numerator / denominator).map_err(|_| overflow())
}

/// The oracle price in micro-USD per whole token at the low end of its
/// confidence interval, rounded down.
pub fn usd_micros_per_token(price: &OraclePrice) -> Result<u64> {
    // Micro-USD for 1 whole token, i.e. the same computation with 6-decimal "IOSD".
    iosd_for_io(1, price, 0, 6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discriminator_is_the_anchor_account_hash() {
        let hash = solana_sha256_hasher::hashv(&[b"account:PriceUpdateV2"]).to_bytes();
        assert_eq!(hash[..8], PRICE_UPDATE_V2_DISCRIMINATOR);
    }

    #[test]
    fn iosd_rounds_down_at_the_low_end_of_the_interval() {
        // IO at $0.50 ± $0.001 (exponent -8), both mints 6 decimals.
        let price = OraclePrice {
            price: 50_000_000,
            conf: 100_000,
            exponent: -8,
            publish_time: 0,
        };
        // 10 IO × $0.499 = 4.99 IOSD.
        assert_eq!(iosd_for_io(10_000_000, &price, 6, 6).unwrap(), 4_990_000);
        // 1 base unit of IO is worth less than 1 base unit of IOSD: nothing.
        assert_eq!(iosd_for_io(1, &price, 6, 6).unwrap(), 0);
    }
}
