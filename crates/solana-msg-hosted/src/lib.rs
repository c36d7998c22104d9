//! `msg!` and `sol_log`, as the crates.io `solana-msg` 3.1 defines them, with
//! one addition for programs run natively (not as SBF): a host can install a
//! logger ([`set_host_logger`]) that receives every message, so a natively
//! hosted program's `msg!` lines (Anchor's `Instruction: …` and
//! `AnchorError thrown in …` among them) land in the transaction's log as
//! `Program log:` lines, as the SBF runtime's `sol_log_` syscall writes them.
//! Without a logger, messages are printed to stdout, as upstream does.
//!
//! On the Solana target nothing differs: `sol_log` is the `sol_log_` syscall.

#![no_std]
#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

/// `format!`, re-exported for `msg!`.
#[cfg(feature = "alloc")]
#[doc(hidden)]
pub use alloc::format;

/// Writes a message to the program's log: one expression of type `&str`
/// as it is, or format arguments through `format!`.
///
/// ```
/// use solana_msg::msg;
/// msg!("verifying multisig");
/// msg!("multisig failed: {}", "not enough signers");
/// ```
#[cfg(feature = "alloc")]
#[macro_export]
macro_rules! msg {
    ($msg:expr) => {
        $crate::sol_log($msg)
    };
    ($($arg:tt)*) => ($crate::sol_log(&$crate::format!($($arg)*)));
}

/// The syscalls behind `solana_msg`.
#[cfg(target_os = "solana")]
pub mod syscalls {
    pub use solana_define_syscall::definitions::{
        sol_log_, sol_log_64_, sol_log_compute_units_, sol_log_data,
    };
}

/// Where messages go off-chain once a host installed a logger.
#[cfg(all(not(target_os = "solana"), feature = "std"))]
static HOST_LOGGER: std::sync::OnceLock<fn(&str)> = std::sync::OnceLock::new();

/// Sends every later message of this process to `logger` instead of stdout.
/// The first logger installed stays; returns whether this one was installed.
#[cfg(all(not(target_os = "solana"), feature = "std"))]
pub fn set_host_logger(logger: fn(&str)) -> bool {
    HOST_LOGGER.set(logger).is_ok()
}

/// Writes a string to the log.
#[inline]
pub fn sol_log(message: &str) {
    #[cfg(target_os = "solana")]
    // SAFETY: the pointer and length describe `message`, which outlives the call.
    unsafe {
        syscalls::sol_log_(message.as_ptr(), message.len() as u64);
    }

    #[cfg(all(not(target_os = "solana"), feature = "std"))]
    match HOST_LOGGER.get() {
        Some(logger) => logger(message),
        None => std::println!("{message}"),
    }

    #[cfg(all(not(target_os = "solana"), not(feature = "std")))]
    core::hint::black_box(message);
}

#[cfg(all(test, not(target_os = "solana")))]
mod tests {
    use super::*;
    use std::{string::String, sync::Mutex, vec::Vec};

    static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

    fn record(message: &str) {
        SEEN.lock().unwrap().push(message.into());
    }

    #[test]
    fn messages_reach_the_host_logger_once_installed() {
        assert!(set_host_logger(record));
        assert!(!set_host_logger(record), "the first logger stays");
        msg!("plain");
        msg!("formatted {} {}", 1, "two");
        assert_eq!(*SEEN.lock().unwrap(), ["plain", "formatted 1 two"]);
    }
}
