//! Token amounts, USD prices and durations: exact parsing from what people
//! type and formatting for what they read. No floating point anywhere: an
//! amount is split at the decimal point and scaled with checked integer math.

use std::fmt;

/// Why a typed amount or duration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("`{0}` is not an amount: expected digits with an optional decimal point, e.g. 12.5")]
    NotANumber(String),
    #[error("`{input}` has more than {decimals} decimal places, the precision of this token")]
    TooPrecise { input: String, decimals: u8 },
    #[error("`{0}` is too large")]
    TooLarge(String),
    #[error("`{0}` must be greater than zero")]
    Zero(String),
    #[error("`{0}` is not a duration: expected e.g. 90s, 45m, 2h, 1h30m or 3d")]
    NotADuration(String),
}

/// Parses `input` (e.g. "12.5") as a whole-token amount into base units of a
/// mint with `decimals` decimals, refusing anything that would lose precision.
pub fn parse_amount(input: &str, decimals: u8) -> Result<u64, ParseError> {
    let text = input.trim().replace('_', "");
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (text.as_str(), ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
        return Err(ParseError::NotANumber(input.to_string()));
    }
    let fraction = fraction.trim_end_matches('0');
    if fraction.len() > usize::from(decimals) {
        return Err(ParseError::TooPrecise {
            input: input.to_string(),
            decimals,
        });
    }
    let too_large = || ParseError::TooLarge(input.to_string());
    let scale = 10u64
        .checked_pow(u32::from(decimals))
        .ok_or_else(too_large)?;
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_large())?
    };
    let fraction_units: u64 = if fraction.is_empty() {
        0
    } else {
        let padded = format!("{fraction:0<width$}", width = usize::from(decimals));
        padded.parse().map_err(|_| too_large())?
    };
    whole
        .checked_mul(scale)
        .and_then(|units| units.checked_add(fraction_units))
        .ok_or_else(too_large)
}

/// Like `parse_amount`, refusing zero.
pub fn parse_positive_amount(input: &str, decimals: u8) -> Result<u64, ParseError> {
    match parse_amount(input, decimals)? {
        0 => Err(ParseError::Zero(input.to_string())),
        units => Ok(units),
    }
}

/// Base units of a mint with `decimals` decimals as whole tokens, without
/// trailing zeros: 1_500_000 with 6 decimals is "1.5".
pub fn format_amount(units: u64, decimals: u8) -> String {
    let Some(scale) = 10u128.checked_pow(u32::from(decimals)) else {
        return units.to_string();
    };
    let units = u128::from(units);
    let whole = units / scale;
    let fraction = units % scale;
    if fraction == 0 {
        return whole.to_string();
    }
    let digits = format!("{fraction:0>width$}", width = usize::from(decimals));
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// Micro-USD (the program's price unit) from a dollar amount like "2.5".
pub fn parse_usd(input: &str) -> Result<u64, ParseError> {
    parse_amount(input.trim().trim_start_matches('$'), 6)
}

/// Micro-USD as dollars, with at least cents: 2_500_000 is "$2.50".
pub fn format_usd(micros: u64) -> String {
    let text = format_amount(micros, 6);
    match text.split_once('.') {
        Some((whole, fraction)) if fraction.len() < 2 => format!("${whole}.{fraction:0<2}"),
        Some(_) => format!("${text}"),
        None => format!("${text}.00"),
    }
}

/// Parses a duration: a bare number of seconds, or units combined in
/// descending order, e.g. "90s", "45m", "2h", "1h30m", "3d".
pub fn parse_duration(input: &str) -> Result<u64, ParseError> {
    let bad = || ParseError::NotADuration(input.to_string());
    let text = input.trim();
    if text.is_empty() {
        return Err(bad());
    }
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .map_err(|_| ParseError::TooLarge(input.to_string()));
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    let mut last_unit = u64::MAX;
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            ' ' if number.is_empty() => continue,
            _ => return Err(bad()),
        };
        // Each unit once, largest first: "1h30m" is fine, "30m1h" or "1h1h" is a typo.
        if number.is_empty() || unit >= last_unit {
            return Err(bad());
        }
        let value: u64 = number.parse().map_err(|_| bad())?;
        total = value
            .checked_mul(unit)
            .and_then(|secs| total.checked_add(secs))
            .ok_or_else(|| ParseError::TooLarge(input.to_string()))?;
        number.clear();
        last_unit = unit;
    }
    if !number.is_empty() {
        return Err(bad());
    }
    Ok(total)
}

/// A lease length in hours as people type it: hours with up to two decimals
/// ("1.5"; a hundredth is 36 s, so nothing is rounded) or a duration ("90m",
/// "1h30m"); in seconds, more than zero and within the program's u32.
pub fn parse_hours(input: &str) -> Result<u32, ParseError> {
    let trimmed = input.trim();
    let secs = if trimmed.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let hundredths = parse_positive_amount(trimmed, 2)?;
        hundredths
            .checked_mul(36)
            .ok_or_else(|| ParseError::TooLarge(input.to_string()))?
    } else {
        parse_duration(trimmed)?
    };
    if secs == 0 {
        return Err(ParseError::Zero(input.to_string()));
    }
    u32::try_from(secs).map_err(|_| ParseError::TooLarge(input.to_string()))
}

/// Seconds as a short human duration: 5400 is "1h 30m", 59 is "59s".
pub fn format_duration(secs: u64) -> String {
    Duration(secs).to_string()
}

struct Duration(u64);

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0;
        if secs == 0 {
            return write!(f, "0s");
        }
        let parts = [
            (secs / 86_400, "d"),
            (secs % 86_400 / 3_600, "h"),
            (secs % 3_600 / 60, "m"),
            (secs % 60, "s"),
        ];
        let mut first = true;
        for (value, unit) in parts {
            if value > 0 {
                if !first {
                    write!(f, " ")?;
                }
                write!(f, "{value}{unit}")?;
                first = false;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_exactly_in_base_units() {
        assert_eq!(parse_amount("1", 6), Ok(1_000_000));
        assert_eq!(parse_amount("1.5", 6), Ok(1_500_000));
        assert_eq!(parse_amount("0.000001", 6), Ok(1));
        assert_eq!(parse_amount(".25", 2), Ok(25));
        assert_eq!(parse_amount("1_000", 0), Ok(1_000));
        assert_eq!(parse_amount("2.500000", 6), Ok(2_500_000));
        assert_eq!(parse_amount("18446744073709.551615", 6), Ok(u64::MAX));
    }

    #[test]
    fn amounts_that_lose_precision_or_overflow_are_refused() {
        assert!(matches!(
            parse_amount("0.0000001", 6),
            Err(ParseError::TooPrecise { decimals: 6, .. })
        ));
        assert!(matches!(
            parse_amount("18446744073709.551616", 6),
            Err(ParseError::TooLarge(_))
        ));
        for bad in ["", ".", "-1", "1e6", "1.2.3", "abc", "1,5"] {
            assert!(
                matches!(parse_amount(bad, 6), Err(ParseError::NotANumber(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            parse_positive_amount("0.0", 6),
            Err(ParseError::Zero(_))
        ));
    }

    #[test]
    fn amounts_format_without_trailing_zeros() {
        assert_eq!(format_amount(1_500_000, 6), "1.5");
        assert_eq!(format_amount(1, 6), "0.000001");
        assert_eq!(format_amount(2_000_000, 6), "2");
        assert_eq!(format_amount(42, 0), "42");
        assert_eq!(format_amount(u64::MAX, 6), "18446744073709.551615");
    }

    #[test]
    fn usd_prices_round_trip() {
        assert_eq!(parse_usd("$2.5"), Ok(2_500_000));
        assert_eq!(parse_usd("0.50"), Ok(500_000));
        assert_eq!(format_usd(2_500_000), "$2.50");
        assert_eq!(format_usd(2_000_000), "$2.00");
        assert_eq!(format_usd(1_234_567), "$1.234567");
    }

    #[test]
    fn durations_parse_units_largest_first() {
        assert_eq!(parse_duration("90"), Ok(90));
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("45m"), Ok(2_700));
        assert_eq!(parse_duration("1h30m"), Ok(5_400));
        assert_eq!(parse_duration("1h 30m"), Ok(5_400));
        assert_eq!(parse_duration("3d"), Ok(259_200));
        for bad in ["", "h", "1x", "30m1h", "1h1h", "1h30", "-5m"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_format_compactly() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(59), "59s");
        assert_eq!(format_duration(5_400), "1h 30m");
        assert_eq!(format_duration(90_061), "1d 1h 1m 1s");
    }
}
