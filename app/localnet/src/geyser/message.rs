//! What the bank reports, in the shape the feed stores and fans out: one
//! immutable message per event, shared by every subscriber and the replay
//! window.

use crate::ledger::TxRecord;
use solana_clock::{Slot, UnixTimestamp};
use solana_commitment_config::CommitmentLevel;
use solana_hash::Hash;
use solana_pubkey::Pubkey;
use solana_signature::Signature;
use std::sync::Arc;

/// One account write, as the accounts-update notifier reported it.
#[derive(Debug)]
pub struct AccountWrite {
    pub slot: Slot,
    pub bank_id: u64,
    pub pubkey: Pubkey,
    pub lamports: u64,
    pub owner: Pubkey,
    pub executable: bool,
    pub rent_epoch: u64,
    pub data: Vec<u8>,
    /// Global and increasing: orders writes to one account.
    pub write_version: u64,
    /// The transaction that made the write; `None` for bank-internal writes
    /// (sysvars, fee distribution, genesis).
    pub txn_signature: Option<Signature>,
}

/// One committed transaction with its status meta.
#[derive(Debug)]
pub struct TransactionEvent {
    pub slot: Slot,
    pub bank_id: u64,
    pub signature: Signature,
    /// Position in its slot, from 0.
    pub index: u64,
    pub record: Arc<TxRecord>,
}

/// A slot reached a status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotStatus {
    /// The bank was created (an inter-slot update).
    CreatedBank,
    /// The bank froze: its content is complete.
    Processed,
    Confirmed,
    Finalized,
}

#[derive(Debug)]
pub struct SlotEvent {
    pub slot: Slot,
    pub parent: Option<Slot>,
    pub bank_id: u64,
    pub status: SlotStatus,
}

/// Sent once per bank after all of its content.
#[derive(Debug)]
pub struct BlockMetaEvent {
    pub slot: Slot,
    pub bank_id: u64,
    pub blockhash: Hash,
    pub parent_slot: Slot,
    pub parent_blockhash: Hash,
    pub block_time: UnixTimestamp,
    pub block_height: u64,
    pub executed_transaction_count: u64,
}

#[derive(Debug)]
pub enum Message {
    Account(AccountWrite),
    Transaction(TransactionEvent),
    Slot(SlotEvent),
    BlockMeta(BlockMetaEvent),
}

/// Who receives a batch: subscribers at one commitment level, or all of them
/// (slot statuses are not commitment-gated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    All,
    Level(CommitmentLevel),
}

impl Audience {
    pub fn includes(self, level: CommitmentLevel) -> bool {
        match self {
            Audience::All => true,
            Audience::Level(own) => own == level,
        }
    }
}

/// Messages published together, in order. `slot` is the slot they belong
/// to, which decides how long the replay window keeps them.
#[derive(Debug)]
pub struct Batch {
    pub audience: Audience,
    pub slot: Slot,
    pub messages: Vec<Arc<Message>>,
}
