//! The feed between the bank and the subscribers: it keeps each slot's
//! content until the slot is finalized, emits it again at confirmed and
//! finalized, keeps every published batch of the last `replay_slots` slots
//! for `from_slot`, and broadcasts each batch once. Publishing never waits for
//! a subscriber: a subscriber that falls behind the broadcast is cut off.

use super::message::{
    AccountWrite, Audience, Batch, BlockMetaEvent, Message, SlotEvent, SlotStatus, TransactionEvent,
};
use crate::ledger::TxRecord;
use solana_clock::{Slot, UnixTimestamp};
use solana_commitment_config::CommitmentLevel;
use solana_hash::Hash;
use solana_signature::Signature;
use std::{
    collections::{BTreeMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};
use tokio::sync::broadcast;

/// The working bank, to which account writes belong.
#[derive(Clone, Copy, Debug)]
struct OpenBank {
    slot: Slot,
    bank_id: u64,
}

/// A slot not finalized yet: what confirmed and finalized subscribers get
/// when it reaches their level.
#[derive(Debug, Default)]
struct SlotContent {
    bank_id: u64,
    parent: Option<Slot>,
    messages: Vec<Arc<Message>>,
    transactions: u64,
    block_meta: Option<Arc<Message>>,
}

#[derive(Debug, Default)]
struct State {
    open: Option<OpenBank>,
    /// Writes made while a bank is being created, before its id is known.
    pending: Vec<AccountWrite>,
    unfinalized: BTreeMap<Slot, SlotContent>,
    /// Every published batch of the replay window, in publishing order.
    log: VecDeque<Arc<Batch>>,
    oldest: Slot,
    confirmed: Slot,
    finalized: Slot,
    last_frozen: Option<(Slot, Hash)>,
}

/// The batches to replay, then the receiver of what is published next.
pub type Subscription = (Vec<Arc<Batch>>, broadcast::Receiver<Arc<Batch>>);

/// Subscribers' view of where replay can start.
#[derive(Debug)]
pub struct Unavailable {
    /// The oldest slot still replayable.
    pub oldest: Slot,
}

pub struct Feed {
    replay_slots: u64,
    sender: broadcast::Sender<Arc<Batch>>,
    state: Mutex<State>,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed")
            .field("replay_slots", &self.replay_slots)
            .finish_non_exhaustive()
    }
}

impl Feed {
    pub fn new(replay_slots: u64, broadcast_capacity: usize) -> Self {
        Self {
            replay_slots: replay_slots.max(1),
            sender: broadcast::channel(broadcast_capacity).0,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn publish(
        &self,
        state: &mut State,
        audience: Audience,
        slot: Slot,
        messages: Vec<Arc<Message>>,
    ) {
        let batch = Arc::new(Batch {
            audience,
            slot,
            messages,
        });
        state.log.push_back(batch.clone());
        // An error only means nobody is subscribed right now.
        let _ = self.sender.send(batch);
    }

    /// An account write from the bank's notifier. Writes of a bank still
    /// being created wait until `bank_opened` gives its id.
    pub fn account_write(&self, mut write: AccountWrite) {
        let mut state = self.state();
        match state.open {
            Some(open) if open.slot == write.slot => {
                write.bank_id = open.bank_id;
                let message = Arc::new(Message::Account(write));
                if let Some(content) = state.unfinalized.get_mut(&open.slot) {
                    content.messages.push(message.clone());
                }
                self.publish(
                    &mut state,
                    Audience::Level(CommitmentLevel::Processed),
                    open.slot,
                    vec![message],
                );
            }
            _ => state.pending.push(write),
        }
    }

    /// A new working bank: announce it and release the writes its creation made.
    pub fn bank_opened(&self, slot: Slot, bank_id: u64, parent: Option<Slot>) {
        let mut state = self.state();
        state.open = Some(OpenBank { slot, bank_id });
        let created = Arc::new(Message::Slot(SlotEvent {
            slot,
            parent,
            bank_id,
            status: SlotStatus::CreatedBank,
        }));
        self.publish(&mut state, Audience::All, slot, vec![created]);
        let pending = std::mem::take(&mut state.pending);
        let messages: Vec<Arc<Message>> = pending
            .into_iter()
            .filter(|write| write.slot == slot)
            .map(|mut write| {
                write.bank_id = bank_id;
                Arc::new(Message::Account(write))
            })
            .collect();
        state.unfinalized.insert(
            slot,
            SlotContent {
                bank_id,
                parent,
                messages: messages.clone(),
                ..SlotContent::default()
            },
        );
        if !messages.is_empty() {
            self.publish(
                &mut state,
                Audience::Level(CommitmentLevel::Processed),
                slot,
                messages,
            );
        }
        // The window is counted back from the working slot.
        let oldest = slot.saturating_sub(self.replay_slots - 1);
        if oldest > state.oldest {
            state.oldest = oldest;
            state.log.retain(|batch| batch.slot >= oldest);
        }
    }

    /// A transaction committed in the working bank at `slot`.
    pub fn transaction(&self, slot: Slot, signature: Signature, record: Arc<TxRecord>) {
        let mut state = self.state();
        let Some(open) = state.open.filter(|open| open.slot == slot) else {
            tracing::warn!(slot, %signature, "transaction for a bank that is not open; not streamed");
            return;
        };
        let Some(content) = state.unfinalized.get_mut(&slot) else {
            return;
        };
        let index = content.transactions;
        content.transactions += 1;
        let message = Arc::new(Message::Transaction(TransactionEvent {
            slot,
            bank_id: open.bank_id,
            signature,
            index,
            record,
        }));
        content.messages.push(message.clone());
        self.publish(
            &mut state,
            Audience::Level(CommitmentLevel::Processed),
            slot,
            vec![message],
        );
    }

    /// The bank at `slot` froze: its block meta, then its processed status.
    pub fn bank_frozen(
        &self,
        slot: Slot,
        blockhash: Hash,
        block_time: UnixTimestamp,
        block_height: u64,
    ) {
        let mut state = self.state();
        let parent_blockhash = state.last_frozen.map(|(_, hash)| hash).unwrap_or_default();
        state.last_frozen = Some((slot, blockhash));
        let Some(content) = state.unfinalized.get_mut(&slot) else {
            return;
        };
        let bank_id = content.bank_id;
        let parent = content.parent;
        let meta = Arc::new(Message::BlockMeta(BlockMetaEvent {
            slot,
            bank_id,
            blockhash,
            parent_slot: parent.unwrap_or_default(),
            parent_blockhash,
            block_time,
            block_height,
            executed_transaction_count: content.transactions,
        }));
        content.block_meta = Some(meta.clone());
        self.publish(
            &mut state,
            Audience::Level(CommitmentLevel::Processed),
            slot,
            vec![meta],
        );
        self.publish_status(&mut state, slot, parent, bank_id, SlotStatus::Processed);
    }

    fn publish_status(
        &self,
        state: &mut State,
        slot: Slot,
        parent: Option<Slot>,
        bank_id: u64,
        status: SlotStatus,
    ) {
        let message = Arc::new(Message::Slot(SlotEvent {
            slot,
            parent,
            bank_id,
            status,
        }));
        self.publish(state, Audience::All, slot, vec![message]);
    }

    /// The chain's confirmed and finalized slots moved: each newly reached
    /// slot's content goes to that level, then the status goes to everyone.
    pub fn commitment(&self, confirmed: Slot, finalized: Slot) {
        let mut state = self.state();
        for (level, status, upto) in [
            (CommitmentLevel::Confirmed, SlotStatus::Confirmed, confirmed),
            (CommitmentLevel::Finalized, SlotStatus::Finalized, finalized),
        ] {
            let from = match level {
                CommitmentLevel::Confirmed => state.confirmed,
                _ => state.finalized,
            };
            for slot in from.saturating_add(1)..=upto {
                let Some(content) = state.unfinalized.get(&slot) else {
                    continue;
                };
                let (bank_id, parent) = (content.bank_id, content.parent);
                let mut messages = content.messages.clone();
                messages.extend(content.block_meta.clone());
                self.publish(&mut state, Audience::Level(level), slot, messages);
                self.publish_status(&mut state, slot, parent, bank_id, status);
            }
            match level {
                CommitmentLevel::Confirmed => state.confirmed = state.confirmed.max(upto),
                _ => state.finalized = state.finalized.max(upto),
            }
        }
        let finalized = state.finalized;
        state.unfinalized.retain(|slot, _| *slot > finalized);
    }

    /// The oldest slot `from_slot` can ask for.
    pub fn first_available(&self) -> Slot {
        self.state().oldest
    }

    /// A receiver of everything published from now on, and, for `from_slot`,
    /// the batches of slots `>= from_slot` published before: taken together
    /// so nothing is missed or repeated.
    pub fn subscribe(&self, from_slot: Option<Slot>) -> Result<Subscription, Unavailable> {
        let state = self.state();
        let replay = match from_slot {
            None => Vec::new(),
            Some(from) if from < state.oldest => {
                return Err(Unavailable {
                    oldest: state.oldest,
                })
            }
            Some(from) => state
                .log
                .iter()
                .filter(|batch| batch.slot >= from)
                .cloned()
                .collect(),
        };
        Ok((replay, self.sender.subscribe()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use solana_pubkey::Pubkey;

    fn write(slot: Slot, write_version: u64) -> AccountWrite {
        AccountWrite {
            slot,
            bank_id: 0,
            pubkey: Pubkey::new_unique(),
            lamports: 1,
            owner: Pubkey::new_unique(),
            executable: false,
            rent_epoch: 0,
            data: vec![],
            write_version,
            txn_signature: None,
        }
    }

    /// A batch as (audience, kinds of its messages).
    fn shape(batch: &Batch) -> (Audience, Vec<&'static str>) {
        let kinds = batch
            .messages
            .iter()
            .map(|m| match m.as_ref() {
                Message::Account(_) => "account",
                Message::Transaction(_) => "transaction",
                Message::Slot(s) => match s.status {
                    SlotStatus::CreatedBank => "created",
                    SlotStatus::Processed => "processed",
                    SlotStatus::Confirmed => "confirmed",
                    SlotStatus::Finalized => "finalized",
                },
                Message::BlockMeta(_) => "meta",
            })
            .collect();
        (batch.audience, kinds)
    }

    #[test]
    fn content_goes_live_then_again_when_the_slot_confirms() {
        let feed = Feed::new(3, 100);
        let (_, mut rx) = feed.subscribe(None).unwrap();
        // A write during bank creation waits for the bank's id.
        feed.account_write(write(1, 1));
        feed.bank_opened(1, 11, Some(0));
        feed.account_write(write(1, 2));
        feed.bank_frozen(1, Hash::new_unique(), 0, 1);
        feed.bank_opened(2, 12, Some(1));
        feed.commitment(1, 0);
        let processed = Audience::Level(CommitmentLevel::Processed);
        let confirmed = Audience::Level(CommitmentLevel::Confirmed);
        let mut seen = Vec::new();
        while let Ok(batch) = rx.try_recv() {
            seen.push(shape(&batch));
        }
        assert_eq!(
            seen,
            vec![
                (Audience::All, vec!["created"]),
                (processed, vec!["account"]),
                (processed, vec!["account"]),
                (processed, vec!["meta"]),
                (Audience::All, vec!["processed"]),
                (Audience::All, vec!["created"]),
                (confirmed, vec!["account", "account", "meta"]),
                (Audience::All, vec!["confirmed"]),
            ]
        );
    }

    #[test]
    fn replay_is_refused_before_the_window() {
        let feed = Feed::new(3, 100);
        for slot in 0..=5 {
            feed.bank_opened(slot, slot, slot.checked_sub(1));
        }
        // Working slot 5 with a 3-slot window: 3, 4, 5.
        assert_eq!(feed.first_available(), 3);
        assert_eq!(feed.subscribe(Some(2)).unwrap_err().oldest, 3);
        let (replay, _) = feed.subscribe(Some(4)).unwrap();
        let slots: Vec<Slot> = replay.iter().map(|b| b.slot).collect();
        assert_eq!(slots, vec![4, 5]);
    }
}
