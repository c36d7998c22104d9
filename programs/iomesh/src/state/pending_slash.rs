use super::AccountSpace;
use crate::error::IomeshError;
use anchor_lang::prelude::*;

/// Reasons the slashing authority gives for a slash (`reason` codes).
pub mod slash_reason {
    /// The node stopped serving a lease (evidence: the failed lease).
    pub const LEASE_FAILURE: u16 = 1;
    /// The node served a different job or hardware than leased.
    pub const MISREPRESENTATION: u16 = 2;
    /// Anything else the market's policy names; the evidence account says more.
    pub const OTHER: u16 = 0xffff;
}

/// Stake taken from a node, held in the stake vault during the appeal window
/// (`["slash", node, index]`). The authority may reverse it within the window;
/// after it, anyone finalizes it: the harmed renter is paid `harmed_amount`
/// and the rest is burned.
#[account]
#[derive(InitSpace, Debug)]
pub struct PendingSlash {
    pub version: u8,
    pub bump: u8,
    /// Why, as a `slash_reason` code.
    pub reason: u16,
    /// The node's `slash_count` when slashed: part of the address.
    pub index: u32,
    pub node: Pubkey,
    /// Wallet whose IO associated token account receives `harmed_amount`.
    pub harmed: Pubkey,
    /// The evidence, e.g. the failed lease's address.
    pub evidence: Pubkey,
    /// Paid this account's rent; receives it back when the slash is reversed or finalized.
    pub rent_payer: Pubkey,
    /// IO base units taken from the node's stake.
    pub amount: u64,
    /// IO base units paid to the harmed wallet on finalization; the rest is burned.
    pub harmed_amount: u64,
    /// Unix seconds.
    pub slashed_at: i64,
    /// Unix seconds: reversible before, finalizable from.
    pub appeal_ends_at: i64,
    pub reserved: [u8; 32],
}

impl PendingSlash {
    pub fn burned_amount(&self) -> Result<u64> {
        use crate::math::SafeMath;
        self.amount.safe_sub(self.harmed_amount)
    }

    pub fn invariant(&self) -> Result<()> {
        require_current_version!(self.version);
        require!(
            self.amount > 0 && self.harmed_amount <= self.amount,
            IomeshError::InvalidSlashAmount
        );
        require!(
            self.appeal_ends_at > self.slashed_at,
            IomeshError::SlashAppealWindowInvalid
        );
        Ok(())
    }
}

/// A pending slash's rent can fund the harmed wallet's credit account.
const _: () = assert!(PendingSlash::SPACE >= super::Credit::SPACE);
