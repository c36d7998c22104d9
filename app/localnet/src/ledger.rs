//! Executed transactions with their status and logs, for `getTransaction`,
//! `getSignatureStatuses` and `getSignaturesForAddress`, and the time of
//! each sealed block, for `getBlockTime`. The bank keeps none of it;
//! retention is bounded.

use solana_clock::{Slot, UnixTimestamp};
use solana_hash::Hash;
use solana_pubkey::Pubkey;
use solana_signature::Signature;
use solana_transaction::versioned::VersionedTransaction;
use solana_transaction_status::TransactionStatusMeta;
use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, PoisonError},
};

/// The Compute Budget program.
const COMPUTE_BUDGET: Pubkey =
    solana_pubkey::pubkey!("ComputeBudget111111111111111111111111111111");

/// One sealed block, as `getBlock` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockRecord {
    pub slot: Slot,
    pub parent_slot: Slot,
    pub blockhash: Hash,
    pub previous_blockhash: Hash,
    pub block_height: u64,
    /// The Clock time the block was sealed with.
    pub time: UnixTimestamp,
}

/// One committed transaction.
#[derive(Debug)]
pub struct TxRecord {
    pub slot: Slot,
    pub block_time: UnixTimestamp,
    pub transaction: VersionedTransaction,
    pub meta: TransactionStatusMeta,
}

/// Remembers the newest `capacity` transactions; the oldest are dropped first.
#[derive(Debug)]
pub struct Ledger {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    by_signature: HashMap<Signature, Arc<TxRecord>>,
    order: VecDeque<Signature>,
    /// The newest sealed blocks, in slot order.
    blocks: VecDeque<BlockRecord>,
    /// The slot of the newest transaction dropped: blocks up to it may miss
    /// transactions and are no longer served whole.
    dropped_through: Option<Slot>,
}

impl Inner {
    /// The kept transactions, oldest (first executed) first.
    fn records(&self) -> impl Iterator<Item = &Arc<TxRecord>> {
        self.order.iter().filter_map(|s| self.by_signature.get(s))
    }
}

impl Ledger {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::default(),
        }
    }

    /// Stores `record` and hands back the shared copy (the gRPC feed sends it).
    pub fn insert(&self, signature: Signature, record: TxRecord) -> Arc<TxRecord> {
        let record = Arc::new(record);
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner
            .by_signature
            .insert(signature, record.clone())
            .is_none()
        {
            inner.order.push_back(signature);
        }
        while inner.order.len() > self.capacity {
            if let Some(old) = inner.order.pop_front() {
                if let Some(dropped) = inner.by_signature.remove(&old) {
                    inner.dropped_through = Some(dropped.slot);
                }
            }
        }
        record
    }

    pub fn get(&self, signature: &Signature) -> Option<Arc<TxRecord>> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.by_signature.get(signature).cloned()
    }

    /// The kept transactions that name `address` (static keys or loaded
    /// from lookup tables), newest first: after `before` (exclusive), down to
    /// `until` (exclusive), at most `limit`, none above `max_slot`. A scan:
    /// the ledger is a localnet's, bounded by its capacity.
    pub fn signatures_for(
        &self,
        address: &Pubkey,
        before: Option<&Signature>,
        until: Option<&Signature>,
        limit: usize,
        max_slot: Slot,
    ) -> Vec<(Signature, Arc<TxRecord>)> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut newest_first = inner.order.iter().rev();
        if let Some(before) = before {
            // A `before` the ledger no longer holds lists nothing, as on a
            // validator whose ledger no longer has it.
            newest_first.by_ref().find(|s| *s == before);
        }
        newest_first
            .take_while(|s| Some(*s) != until)
            .filter_map(|s| Some((*s, inner.by_signature.get(s)?.clone())))
            .filter(|(_, record)| record.slot <= max_slot && names(record, address))
            .take(limit)
            .collect()
    }

    /// Remembers a sealed block (in slot order).
    pub fn record_block(&self, block: BlockRecord) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.blocks.push_back(block);
        while inner.blocks.len() > self.capacity {
            inner.blocks.pop_front();
        }
    }

    /// The sealed block of `slot`, if it is still kept.
    pub fn block(&self, slot: Slot) -> Option<BlockRecord> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let index = inner
            .blocks
            .binary_search_by_key(&slot, |block| block.slot)
            .ok()?;
        Some(inner.blocks[index].clone())
    }

    /// The time of the sealed block of `slot`, if it is still kept.
    pub fn block_time(&self, slot: Slot) -> Option<UnixTimestamp> {
        self.block(slot).map(|block| block.time)
    }

    /// The block of `slot` with its transactions in execution order, if the
    /// ledger still holds all of them.
    pub fn block_with_transactions(&self, slot: Slot) -> Option<(BlockRecord, Vec<Arc<TxRecord>>)> {
        let block = self.block(slot)?;
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.dropped_through.is_some_and(|dropped| dropped >= slot) {
            return None;
        }
        let transactions = inner
            .records()
            .filter(|record| record.slot == slot)
            .cloned()
            .collect();
        Some((block, transactions))
    }

    /// The prioritization fee (micro-lamports per compute unit) of each kept
    /// block from `first_slot` to `last_slot` that has transactions, as
    /// agave's fee cache reports it: the lowest price that landed in the
    /// block, raised to the lowest price paid by a transaction writing each
    /// of `accounts` there.
    pub fn prioritization_fees(
        &self,
        accounts: &[Pubkey],
        first_slot: Slot,
        last_slot: Slot,
    ) -> Vec<(Slot, u64)> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut by_slot: std::collections::BTreeMap<Slot, Vec<&TxRecord>> = Default::default();
        for record in inner.records() {
            if (first_slot..=last_slot).contains(&record.slot) {
                by_slot.entry(record.slot).or_default().push(record);
            }
        }
        by_slot
            .into_iter()
            .map(|(slot, records)| {
                let block_min = records.iter().map(|r| unit_price(r)).min().unwrap_or(0);
                let fee = accounts
                    .iter()
                    .filter_map(|account| {
                        records
                            .iter()
                            .filter(|r| writes(r, account))
                            .map(|r| unit_price(r))
                            .min()
                    })
                    .fold(block_min, u64::max);
                (slot, fee)
            })
            .collect()
    }

    /// The oldest sealed block still kept.
    pub fn first_block(&self) -> Option<Slot> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.blocks.front().map(|block| block.slot)
    }

    /// The oldest slot whose transactions are all still kept (what a
    /// validator calls its minimum ledger slot): after the newest slot a
    /// dropped transaction belonged to, and not before the oldest kept block.
    pub fn first_complete_slot(&self) -> Slot {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let after_dropped = inner.dropped_through.map_or(0, |slot| slot + 1);
        let first_block = inner.blocks.front().map_or(0, |block| block.slot);
        after_dropped.max(first_block)
    }

    pub fn len(&self) -> usize {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The compute-unit price a transaction set (ComputeBudget's
/// SetComputeUnitPrice: tag 3, then a little-endian u64), or 0.
fn unit_price(record: &TxRecord) -> u64 {
    let message = &record.transaction.message;
    let keys = message.static_account_keys();
    message
        .instructions()
        .iter()
        .filter(|ix| keys.get(usize::from(ix.program_id_index)) == Some(&COMPUTE_BUDGET))
        .filter_map(|ix| match ix.data.split_first() {
            Some((3, price)) => Some(u64::from_le_bytes(price.try_into().ok()?)),
            _ => None,
        })
        .next_back()
        .unwrap_or(0)
}

/// Whether the transaction write-locks `account`.
fn writes(record: &TxRecord, account: &Pubkey) -> bool {
    let message = &record.transaction.message;
    let static_keys = message.static_account_keys();
    match static_keys.iter().position(|k| k == account) {
        Some(index) => message.is_maybe_writable(index, None),
        None => record.meta.loaded_addresses.writable.contains(account),
    }
}

fn names(record: &TxRecord, address: &Pubkey) -> bool {
    record
        .transaction
        .message
        .static_account_keys()
        .contains(address)
        || record.meta.loaded_addresses.writable.contains(address)
        || record.meta.loaded_addresses.readonly.contains(address)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(slot: Slot) -> TxRecord {
        TxRecord {
            slot,
            block_time: 0,
            transaction: VersionedTransaction::default(),
            meta: TransactionStatusMeta::default(),
        }
    }

    fn block(slot: Slot, time: UnixTimestamp) -> BlockRecord {
        BlockRecord {
            slot,
            parent_slot: slot - 1,
            blockhash: Hash::new_unique(),
            previous_blockhash: Hash::new_unique(),
            block_height: slot,
            time,
        }
    }

    #[test]
    fn block_times_are_kept_for_the_newest_blocks() {
        let ledger = Ledger::new(2);
        for slot in 1..=3 {
            ledger.record_block(block(slot, 1_000 + slot as i64));
        }
        assert_eq!(ledger.block_time(1), None);
        assert_eq!(ledger.block_time(3), Some(1_003));
        assert_eq!(ledger.first_block(), Some(2));
    }

    #[test]
    fn a_block_whose_transactions_were_dropped_is_not_served() {
        let ledger = Ledger::new(2);
        for slot in 1..=2 {
            ledger.record_block(block(slot, 0));
        }
        for (i, slot) in [1, 1, 2].into_iter().enumerate() {
            ledger.insert(Signature::from([i as u8; 64]), record(slot));
        }
        assert!(
            ledger.block_with_transactions(1).is_none(),
            "one of its two is gone"
        );
        let (block, transactions) = ledger.block_with_transactions(2).unwrap();
        assert_eq!((block.slot, transactions.len()), (2, 1));
    }

    #[test]
    fn the_first_complete_slot_follows_the_dropped_transactions() {
        let ledger = Ledger::new(2);
        assert_eq!(ledger.first_complete_slot(), 0);
        ledger.record_block(block(3, 100));
        assert_eq!(ledger.first_complete_slot(), 3);
        for slot in [3, 4, 5] {
            ledger.insert(Signature::from([slot as u8; 64]), record(slot));
        }
        // The transaction of slot 3 was dropped: slot 4 is the first whole one.
        assert_eq!(ledger.first_complete_slot(), 4);
    }

    #[test]
    fn ledger_drops_oldest_beyond_capacity() {
        let ledger = Ledger::new(2);
        let sigs: Vec<Signature> = (0..3u8).map(|i| Signature::from([i; 64])).collect();
        for (i, s) in sigs.iter().enumerate() {
            ledger.insert(*s, record(i as Slot));
        }
        assert_eq!(ledger.len(), 2);
        assert!(ledger.get(&sigs[0]).is_none());
        assert_eq!(ledger.get(&sigs[2]).map(|r| r.slot), Some(2));
    }
}
