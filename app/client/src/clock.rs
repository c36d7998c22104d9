//! Wall-clock time as the chain and the services count it. The localnet's and
//! a real cluster's clocks follow wall-clock time, so "now" for a lease's time
//! left, a token's expiry or a heartbeat is this.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix time in seconds, as the Clock sysvar counts it.
pub fn unix_now() -> i64 {
    unix_now_ms() / 1_000
}

/// Unix time in milliseconds, as the agent protocol counts it. A clock set
/// before 1970 reads as 0 rather than failing.
pub fn unix_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}
