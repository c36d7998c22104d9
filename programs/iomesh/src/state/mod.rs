//! Accounts owned by the program. Each has explicit space, reserved bytes for
//! later fields, and an `invariant()` checked by every instruction that changes it.

/// An invariant's first clause: the account has the layout this program
/// reads (`UnsupportedAccountVersion`, logged at the account's own line).
macro_rules! require_current_version {
    ($version:expr) => {
        require_eq!(
            $version,
            crate::state::ACCOUNT_VERSION,
            crate::error::IomeshError::UnsupportedAccountVersion
        )
    };
}

pub mod cluster;
pub mod credit;
pub mod iosd_config;
pub mod lease;
pub mod market;
pub mod node;
pub mod payment_mint;
pub mod pending_slash;
pub mod reward_epoch;

pub use cluster::*;
pub use credit::*;
pub use iosd_config::*;
pub use lease::*;
pub use market::*;
pub use node::*;
pub use payment_mint::*;
pub use pending_slash::*;
pub use reward_epoch::*;

use crate::error::IomeshError;
use anchor_lang::prelude::*;

/// Current layout version of every account; bumped only with an explicit migration.
pub const ACCOUNT_VERSION: u8 = 1;

/// Bytes an account takes on-chain: its discriminator, then its fields.
/// One definition for every account, so a longer discriminator cannot be
/// forgotten in one of them.
pub trait AccountSpace {
    const SPACE: usize;
}

impl<T: Space + Discriminator> AccountSpace for T {
    const SPACE: usize = T::DISCRIMINATOR.len() + T::INIT_SPACE;
}

/// Fixed-width text (GPU model, region, symbol): printable ASCII, zero padded.
pub fn encode_text<const N: usize>(text: &str) -> Result<[u8; N]> {
    let bytes = text.as_bytes();
    require!(
        !bytes.is_empty() && bytes.len() <= N && bytes.iter().all(|b| (0x20..0x7f).contains(b)),
        IomeshError::InvalidText
    );
    let mut out = [0u8; N];
    out[..bytes.len()].copy_from_slice(bytes);
    Ok(out)
}

/// The text of a fixed-width field, without its zero padding.
pub fn decode_text(bytes: &[u8]) -> &str {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    core::str::from_utf8(&bytes[..end]).unwrap_or("")
}
