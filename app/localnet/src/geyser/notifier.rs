//! The bank's accounts-update hook (the one a validator's Geyser plugin
//! gets). It runs synchronously inside commit on the executing thread, so it
//! only copies the write into the feed, which never waits for subscribers.

use super::{buffer::Feed, message::AccountWrite};
use solana_account::{AccountSharedData, ReadableAccount};
use solana_accounts_db::accounts_update_notifier_interface::{
    AccountForGeyser, AccountsUpdateNotifierInterface,
};
use solana_clock::Slot;
use solana_pubkey::Pubkey;
use solana_transaction::sanitized::SanitizedTransaction;
use std::sync::Arc;

#[derive(Debug)]
pub struct Notifier {
    feed: Arc<Feed>,
}

impl Notifier {
    pub fn new(feed: Arc<Feed>) -> Self {
        Self { feed }
    }
}

impl AccountsUpdateNotifierInterface for Notifier {
    fn snapshot_notifications_enabled(&self) -> bool {
        false
    }

    fn notify_account_update(
        &self,
        slot: Slot,
        account: &AccountSharedData,
        txn: &Option<&SanitizedTransaction>,
        pubkey: &Pubkey,
        write_version: u64,
    ) {
        // A closed account arrives as the default account (0 lamports, no
        // data, System owner), which is what subscribers must see.
        self.feed.account_write(AccountWrite {
            slot,
            bank_id: 0,
            pubkey: *pubkey,
            lamports: account.lamports(),
            owner: *account.owner(),
            executable: account.executable(),
            rent_epoch: account.rent_epoch(),
            data: account.data().to_vec(),
            write_version,
            txn_signature: txn.map(|tx| *tx.signature()),
        });
    }

    // The localnet never restores from a snapshot.
    fn notify_account_restore_from_snapshot(
        &self,
        _slot: Slot,
        _write_version: u64,
        _account: &AccountForGeyser<'_>,
    ) {
    }

    fn notify_end_of_restore_from_snapshot(&self) {}
}
