//! Checked arithmetic and the pricing formulas. Every rounding here favours
//! the escrow: what the renter pays rounds up, what leaves the vault rounds down.

use crate::error::IomeshError;
use anchor_lang::prelude::*;

/// Seconds in one hour: prices are quoted per GPU-hour.
pub const SECONDS_PER_HOUR: u128 = 3_600;
/// One US dollar in micro-USD.
pub const ONE_USD_MICROS: u64 = 1_000_000;
/// Basis points in 100 %.
pub const BPS_DENOMINATOR: u128 = 10_000;

/// Checked arithmetic that logs where it overflowed before failing.
pub trait SafeMath: Sized {
    fn safe_add(self, rhs: Self) -> Result<Self>;
    fn safe_sub(self, rhs: Self) -> Result<Self>;
    fn safe_mul(self, rhs: Self) -> Result<Self>;
}

macro_rules! impl_safe_math {
    ($($t:ty),*) => {$(
        impl SafeMath for $t {
            #[track_caller]
            fn safe_add(self, rhs: Self) -> Result<Self> {
                self.checked_add(rhs).ok_or_else(|| overflow_at(std::panic::Location::caller()))
            }
            #[track_caller]
            fn safe_sub(self, rhs: Self) -> Result<Self> {
                self.checked_sub(rhs).ok_or_else(|| overflow_at(std::panic::Location::caller()))
            }
            #[track_caller]
            fn safe_mul(self, rhs: Self) -> Result<Self> {
                self.checked_mul(rhs).ok_or_else(|| overflow_at(std::panic::Location::caller()))
            }
        }
    )*};
}
impl_safe_math!(u16, u32, u64, u128, i64);

fn overflow_at(location: &std::panic::Location) -> Error {
    msg!("math overflow at {}:{}", location.file(), location.line());
    IomeshError::MathOverflow.into()
}

#[track_caller]
fn to_u64(value: u128) -> Result<u64> {
    u64::try_from(value).map_err(|_| overflow_at(std::panic::Location::caller()))
}

fn ceil_div(numerator: u128, denominator: u128) -> u128 {
    // denominator is always a non-zero constant or a validated price.
    numerator.div_ceil(denominator)
}

/// Price of one GPU-hour in the mint's base units, rounded up:
/// `usd_micros_per_gpu_hour × 10^decimals / usd_micros_per_token`.
pub fn rate_per_gpu_hour(
    usd_micros_per_gpu_hour: u64,
    usd_micros_per_token: u64,
    decimals: u8,
) -> Result<u64> {
    require!(usd_micros_per_token > 0, IomeshError::ZeroPrice);
    let scale = 10u128
        .checked_pow(u32::from(decimals))
        .ok_or(IomeshError::UnsupportedDecimals)?;
    let numerator = u128::from(usd_micros_per_gpu_hour).safe_mul(scale)?;
    to_u64(ceil_div(numerator, u128::from(usd_micros_per_token)))
}

/// What `secs` seconds on `gpus` GPUs cost the renter, rounded up.
pub fn escrow_cost(rate_per_gpu_hour: u64, gpus: u16, secs: u64) -> Result<u64> {
    let numerator = u128::from(rate_per_gpu_hour)
        .safe_mul(u128::from(gpus))?
        .safe_mul(u128::from(secs))?;
    to_u64(ceil_div(numerator, SECONDS_PER_HOUR))
}

/// What the supplier has earned after `secs` seconds of service, rounded down.
/// Monotone in `secs`, so paying the difference of two calls never pays a second twice.
pub fn accrued_payout(rate_per_gpu_hour: u64, gpus: u16, secs: u64) -> Result<u64> {
    let numerator = u128::from(rate_per_gpu_hour)
        .safe_mul(u128::from(gpus))?
        .safe_mul(u128::from(secs))?;
    to_u64(numerator / SECONDS_PER_HOUR)
}

/// The network's share of a payout, rounded down (the supplier keeps the dust).
pub fn network_fee(payout: u64, fee_bps: u16) -> Result<u64> {
    let numerator = u128::from(payout).safe_mul(u128::from(fee_bps))?;
    to_u64(numerator / BPS_DENOMINATOR)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_rounds_up_in_favour_of_the_escrow() {
        // $2.00 per GPU-hour in a 6-decimal token priced at $3.00: 666_666.66… → 666_667.
        assert_eq!(rate_per_gpu_hour(2_000_000, 3_000_000, 6).unwrap(), 666_667);
        // A stable 6-decimal mint: $1.50 → 1_500_000 base units exactly.
        assert_eq!(
            rate_per_gpu_hour(1_500_000, ONE_USD_MICROS, 6).unwrap(),
            1_500_000
        );
    }

    #[test]
    fn cost_rounds_up_and_payout_rounds_down() {
        // 1_000 base units per GPU-hour for one second on one GPU is 0.277…
        assert_eq!(escrow_cost(1_000, 1, 1).unwrap(), 1);
        assert_eq!(accrued_payout(1_000, 1, 1).unwrap(), 0);
        assert_eq!(escrow_cost(1_000, 2, 3_600).unwrap(), 2_000);
        assert_eq!(accrued_payout(1_000, 2, 3_600).unwrap(), 2_000);
    }

    #[test]
    fn payout_never_exceeds_cost_for_any_elapsed_time() {
        for secs in 0..5_000u64 {
            assert!(
                accrued_payout(7_919, 3, secs).unwrap() <= escrow_cost(7_919, 3, 5_000).unwrap()
            );
        }
    }

    #[test]
    fn extreme_values_overflow_with_an_error_not_a_panic() {
        assert!(rate_per_gpu_hour(u64::MAX, 1, 18).is_err());
        assert!(escrow_cost(u64::MAX, u16::MAX, u64::MAX).is_err());
        assert!(rate_per_gpu_hour(1, 0, 6).is_err());
        assert_eq!(network_fee(u64::MAX, 10_000).unwrap(), u64::MAX);
    }

    #[test]
    fn fee_rounds_down() {
        assert_eq!(network_fee(999, 25).unwrap(), 2); // 2.4975
        assert_eq!(network_fee(10_000, 200).unwrap(), 200);
    }
}
