//! What flows from a source (gRPC stream, RPC reconcile) to the writer.

use solana_pubkey::Pubkey;
use std::time::SystemTime;

/// `write_version` of a row taken from an RPC snapshot: the snapshot holds every
/// write of its context slot, so it orders after any streamed write of that slot.
pub const SNAPSHOT_WRITE_VERSION: u64 = i64::MAX as u64;

/// One account's state at (slot, write_version). Zero lamports means the
/// account was closed (the runtime deletes it); owner and data are then meaningless.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountUpdate {
    pub pubkey: Pubkey,
    pub slot: u64,
    pub write_version: u64,
    pub lamports: u64,
    pub owner: Pubkey,
    pub data: Vec<u8>,
    /// When the update left the server, for the commit latency metric.
    pub created_at: Option<SystemTime>,
}

impl AccountUpdate {
    pub fn is_closed(&self) -> bool {
        self.lamports == 0
    }

    /// The version this update holds; a newer one replaces an older one.
    pub fn version(&self) -> (u64, u64) {
        (self.slot, self.write_version)
    }

    /// A closure of `pubkey` at (slot, write_version).
    pub fn closed(pubkey: Pubkey, slot: u64, write_version: u64) -> Self {
        Self {
            pubkey,
            slot,
            write_version,
            lamports: 0,
            owner: Pubkey::default(),
            data: Vec::new(),
            created_at: None,
        }
    }
}

/// What a source sends down the channel to the batcher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Account(AccountUpdate),
    /// A lease ended (its `LeaseEnded` event), committed with its slot's updates.
    Ending(crate::writer::LeaseEnding),
    /// An event the program logged, committed with its slot's updates.
    Logged(crate::writer::LoggedEvent),
    /// Every update of slots up to and including this one has been sent:
    /// the resume cursor may move here once they are committed.
    SlotComplete(u64),
}
