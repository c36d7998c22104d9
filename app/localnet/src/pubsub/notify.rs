//! From the feed's batches to a connection's notifications, in agave's
//! shapes: `{"jsonrpc":"2.0","method":"…Notification","params":{"result":…,
//! "subscription":ID}}`, with `{"context":{"slot"},"value"}` results for
//! accounts, programs, logs and signatures.

use super::subscriptions::{AccountFormat, Kind, LogsFilter, SubscriptionId, Subscriptions};
use crate::{
    bank::Chain,
    geyser::message::{AccountWrite, Audience, Batch, Message, SlotStatus, TransactionEvent},
    ledger::TxRecord,
    rpc::accounts::{is_token_account, matches_filter, mint_decimals},
};
use serde::Serialize;
use serde_json::json;
use solana_account::{Account, AccountSharedData};
use solana_account_decoder::{
    encode_ui_account,
    parse_account_data::{AccountAdditionalDataV3, SplTokenAdditionalDataV2},
    UiAccount, UiAccountEncoding,
};
use solana_clock::Slot;
use solana_commitment_config::CommitmentLevel;
use solana_pubkey::Pubkey;
use solana_rpc_client_api::response::{
    ProcessedSignatureResult, ReceivedSignatureResult, Response, RpcKeyedAccount, RpcLogsResponse,
    RpcResponseContext, RpcSignatureResult, SlotInfo,
};
use std::collections::HashSet;

/// One notification ready to send; `last` ends its subscription (signatures
/// are notified once).
#[derive(Debug)]
pub struct Notice {
    pub id: SubscriptionId,
    pub json: String,
    pub last: bool,
}

/// A connection's view of the chain that notifications need besides the
/// batch itself.
#[derive(Debug)]
pub struct View {
    /// The newest root seen, reported in slot notifications.
    pub root: Slot,
}

/// The notifications `batch` gives the connection's subscriptions, in order.
pub fn batch(chain: &Chain, subs: &Subscriptions, view: &mut View, batch: &Batch) -> Vec<Notice> {
    let mut notices = Vec::new();
    match batch.audience {
        Audience::All => {
            for message in &batch.messages {
                if let Message::Slot(event) = message.as_ref() {
                    slot_status(subs, view, event, &mut notices);
                }
            }
        }
        Audience::Level(level) if !subs.is_empty() => {
            content(chain, subs, level, batch, &mut notices);
        }
        Audience::Level(_) => {}
    }
    notices
}

fn slot_status(
    subs: &Subscriptions,
    view: &mut View,
    event: &crate::geyser::message::SlotEvent,
    notices: &mut Vec<Notice>,
) {
    match event.status {
        // A validator notifies slot subscribers when a bank is created.
        SlotStatus::CreatedBank => {
            let info = SlotInfo {
                slot: event.slot,
                parent: event.parent.unwrap_or_default(),
                root: view.root,
            };
            for (id, sub) in subs.iter().filter(|(_, s)| s.kind == Kind::Slot) {
                notices.push(notice(id, sub.notification(), info, false));
            }
        }
        SlotStatus::Finalized => {
            view.root = view.root.max(event.slot);
            for (id, sub) in subs.iter().filter(|(_, s)| s.kind == Kind::Root) {
                notices.push(notice(id, sub.notification(), event.slot, false));
            }
        }
        SlotStatus::Processed | SlotStatus::Confirmed => {}
    }
}

/// A slot's content at `level`: account writes (the last one per account in
/// the batch, as a validator notifies the account's state once per bank)
/// and transactions.
fn content(
    chain: &Chain,
    subs: &Subscriptions,
    level: CommitmentLevel,
    batch: &Batch,
    notices: &mut Vec<Notice>,
) {
    let writes = latest_writes(batch);
    let transactions: Vec<&TransactionEvent> = batch
        .messages
        .iter()
        .filter_map(|m| match m.as_ref() {
            Message::Transaction(tx) => Some(tx),
            _ => None,
        })
        .collect();
    for (id, sub) in subs.iter() {
        let at_level = sub.commitment == level;
        let method = sub.notification();
        match &sub.kind {
            Kind::Account { pubkey, format } if at_level => {
                for write in writes.iter().filter(|w| w.pubkey == *pubkey) {
                    let value = ui_account(chain, level, write, format);
                    notices.push(notice(id, method, context(batch.slot, value), false));
                }
            }
            Kind::Program {
                program,
                filters,
                format,
            } if at_level => {
                for write in writes.iter().filter(|w| w.owner == *program) {
                    let account = shared(write);
                    if !filters.iter().all(|f| matches_filter(f, &account)) {
                        continue;
                    }
                    let value = RpcKeyedAccount {
                        pubkey: write.pubkey.to_string(),
                        account: ui_account(chain, level, write, format),
                    };
                    notices.push(notice(id, method, context(batch.slot, value), false));
                }
            }
            Kind::Logs(filter) if at_level => {
                for tx in transactions
                    .iter()
                    .filter(|tx| mentions(filter, &tx.record))
                {
                    let value = RpcLogsResponse {
                        signature: tx.signature.to_string(),
                        err: tx.record.meta.status.clone().err().map(Into::into),
                        logs: tx.record.meta.log_messages.clone().unwrap_or_default(),
                    };
                    notices.push(notice(id, method, context(batch.slot, value), false));
                }
            }
            Kind::Signature {
                signature,
                received,
            } => {
                let Some(tx) = transactions.iter().find(|tx| tx.signature == *signature) else {
                    continue;
                };
                // The localnet receives and executes a transaction in one
                // step: "received" goes out with its processed content.
                if *received && level == CommitmentLevel::Processed {
                    notices.push(received_notice(id, tx.slot));
                }
                if at_level {
                    notices.push(signature_notice(id, &tx.record));
                }
            }
            _ => {}
        }
    }
}

/// `{"err": …}` for a landed transaction; ends the subscription.
pub fn signature_notice(id: SubscriptionId, record: &TxRecord) -> Notice {
    let value = RpcSignatureResult::ProcessedSignature(ProcessedSignatureResult {
        err: record.meta.status.clone().err().map(Into::into),
    });
    notice(
        id,
        "signatureNotification",
        context(record.slot, value),
        true,
    )
}

fn received_notice(id: SubscriptionId, slot: Slot) -> Notice {
    let value = RpcSignatureResult::ReceivedSignature(ReceivedSignatureResult::ReceivedSignature);
    notice(id, "signatureNotification", context(slot, value), false)
}

/// The account writes of the batch, the last one per account, in order.
fn latest_writes(batch: &Batch) -> Vec<&AccountWrite> {
    let mut seen = HashSet::new();
    let mut writes: Vec<&AccountWrite> = batch
        .messages
        .iter()
        .rev()
        .filter_map(|m| match m.as_ref() {
            Message::Account(write) if seen.insert(write.pubkey) => Some(write),
            _ => None,
        })
        .collect();
    writes.reverse();
    writes
}

/// Whether a logs filter takes the transaction; the localnet has no votes,
/// so `all` and `allWithVotes` agree.
fn mentions(filter: &LogsFilter, record: &TxRecord) -> bool {
    match filter {
        LogsFilter::All | LogsFilter::AllWithVotes => true,
        LogsFilter::Mentions(key) => {
            let loaded = &record.meta.loaded_addresses;
            record
                .transaction
                .message
                .static_account_keys()
                .iter()
                .chain(&loaded.writable)
                .chain(&loaded.readonly)
                .any(|k| k == key)
        }
    }
}

fn shared(write: &AccountWrite) -> AccountSharedData {
    AccountSharedData::from(Account {
        lamports: write.lamports,
        data: write.data.clone(),
        owner: write.owner,
        executable: write.executable,
        rent_epoch: write.rent_epoch,
    })
}

/// The account as the subscription asked; jsonParsed token accounts get
/// their mint's decimals from the bank at the subscription's level. Unlike
/// getAccountInfo, base58 has no size limit here (nor in a validator's
/// PubSub).
fn ui_account(
    chain: &Chain,
    level: CommitmentLevel,
    write: &AccountWrite,
    format: &AccountFormat,
) -> UiAccount {
    let account = shared(write);
    let additional = (format.encoding == UiAccountEncoding::JsonParsed
        && is_token_account(&account))
    .then(|| {
        let mint = Pubkey::try_from(write.data.get(..32)?).ok()?;
        let decimals = mint_decimals(&chain.bank(level), &mint)?;
        Some(AccountAdditionalDataV3 {
            spl_token_additional_data: Some(SplTokenAdditionalDataV2 {
                decimals,
                ..Default::default()
            }),
        })
    })
    .flatten();
    encode_ui_account(
        &write.pubkey,
        &account,
        format.encoding,
        additional,
        format.data_slice,
    )
}

/// `{"context":{"slot":N},"value":…}`, without the apiVersion a validator's
/// PubSub leaves out too.
pub fn context<T>(slot: Slot, value: T) -> Response<T> {
    Response {
        context: RpcResponseContext {
            slot,
            api_version: None,
        },
        value,
    }
}

fn notice<T: Serialize>(id: SubscriptionId, method: &str, result: T, last: bool) -> Notice {
    let json = json!({
        "jsonrpc": "2.0",
        "method": method,
        "params": { "result": result, "subscription": id },
    })
    .to_string();
    Notice { id, json, last }
}
