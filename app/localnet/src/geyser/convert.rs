//! Feed messages (bank types) into Yellowstone proto messages.

use super::message::{AccountWrite, BlockMetaEvent, SlotEvent, SlotStatus, TransactionEvent};
use solana_message::VersionedMessage;
use solana_pubkey::Pubkey;
use solana_transaction::versioned::VersionedTransaction;
use solana_transaction_error::TransactionError;
use solana_transaction_status::{TransactionStatusMeta, TransactionTokenBalance};
use yellowstone_grpc_proto::{
    prelude::{
        BlockHeight, CompiledInstruction, InnerInstruction, InnerInstructions, Message,
        MessageAddressTableLookup, MessageHeader, ReturnData, SlotStatus as ProtoSlotStatus,
        SubscribeUpdateAccount, SubscribeUpdateAccountInfo, SubscribeUpdateBlockMeta,
        SubscribeUpdateSlot, SubscribeUpdateTransaction, SubscribeUpdateTransactionInfo,
        SubscribeUpdateTransactionStatus, TokenBalance, Transaction,
        TransactionError as ProtoTransactionError, TransactionStatusMeta as ProtoMeta,
        UiTokenAmount, UnixTimestamp,
    },
    prost_types::Timestamp,
};

const VOTE_PROGRAM_ID: Pubkey =
    solana_pubkey::pubkey!("Vote111111111111111111111111111111111111111");

/// The wall-clock time an update is created at (`created_at`).
pub fn now() -> Timestamp {
    Timestamp::from(std::time::SystemTime::now())
}

/// An account write, its data cut to `slices` when any are given.
pub fn account(write: &AccountWrite, slices: &[(usize, usize)]) -> SubscribeUpdateAccount {
    let data = if slices.is_empty() {
        write.data.clone()
    } else {
        let mut data = Vec::new();
        for &(offset, length) in slices {
            let start = offset.min(write.data.len());
            let end = offset.saturating_add(length).min(write.data.len());
            data.extend_from_slice(&write.data[start..end]);
        }
        data
    };
    SubscribeUpdateAccount {
        account: Some(SubscribeUpdateAccountInfo {
            pubkey: write.pubkey.to_bytes().to_vec(),
            lamports: write.lamports,
            owner: write.owner.to_bytes().to_vec(),
            executable: write.executable,
            rent_epoch: write.rent_epoch,
            data,
            write_version: write.write_version,
            txn_signature: write.txn_signature.map(|s| s.as_ref().to_vec()),
        }),
        slot: write.slot,
        is_startup: false,
        bank_id: Some(write.bank_id),
    }
}

pub fn slot(event: &SlotEvent) -> SubscribeUpdateSlot {
    let status = match event.status {
        SlotStatus::CreatedBank => ProtoSlotStatus::SlotCreatedBank,
        SlotStatus::Processed => ProtoSlotStatus::SlotProcessed,
        SlotStatus::Confirmed => ProtoSlotStatus::SlotConfirmed,
        SlotStatus::Finalized => ProtoSlotStatus::SlotFinalized,
    };
    SubscribeUpdateSlot {
        slot: event.slot,
        parent: event.parent,
        status: status as i32,
        dead_error: None,
        bank_id: Some(event.bank_id),
    }
}

pub fn block_meta(event: &BlockMetaEvent) -> SubscribeUpdateBlockMeta {
    SubscribeUpdateBlockMeta {
        slot: event.slot,
        blockhash: event.blockhash.to_string(),
        rewards: None,
        block_time: Some(UnixTimestamp {
            timestamp: event.block_time,
        }),
        block_height: Some(BlockHeight {
            block_height: event.block_height,
        }),
        parent_slot: event.parent_slot,
        parent_blockhash: event.parent_blockhash.to_string(),
        executed_transaction_count: event.executed_transaction_count,
        // The localnet's bank is filled with ticks, not recorded entries.
        entries_count: 0,
        bank_id: event.bank_id,
    }
}

/// Whether the transaction calls the Vote program.
pub fn is_vote(tx: &VersionedTransaction) -> bool {
    let keys = tx.message.static_account_keys();
    tx.message
        .instructions()
        .iter()
        .any(|ix| keys.get(usize::from(ix.program_id_index)) == Some(&VOTE_PROGRAM_ID))
}

pub fn transaction(event: &TransactionEvent) -> SubscribeUpdateTransaction {
    let record = &event.record;
    SubscribeUpdateTransaction {
        transaction: Some(SubscribeUpdateTransactionInfo {
            signature: event.signature.as_ref().to_vec(),
            is_vote: is_vote(&record.transaction),
            transaction: Some(versioned_transaction(&record.transaction)),
            meta: Some(meta(&record.meta)),
            index: event.index,
        }),
        slot: event.slot,
        bank_id: event.bank_id,
    }
}

pub fn transaction_status(event: &TransactionEvent) -> SubscribeUpdateTransactionStatus {
    let record = &event.record;
    SubscribeUpdateTransactionStatus {
        slot: event.slot,
        signature: event.signature.as_ref().to_vec(),
        is_vote: is_vote(&record.transaction),
        index: event.index,
        err: record
            .meta
            .status
            .clone()
            .err()
            .map(|e| transaction_error(&e)),
        bank_id: event.bank_id,
    }
}

fn transaction_error(err: &TransactionError) -> ProtoTransactionError {
    ProtoTransactionError {
        // The proto carries the bincode encoding, as agave's storage does.
        err: bincode::serialize(err).unwrap_or_default(),
    }
}

fn keys(keys: &[Pubkey]) -> Vec<Vec<u8>> {
    keys.iter().map(|k| k.to_bytes().to_vec()).collect()
}

fn versioned_transaction(tx: &VersionedTransaction) -> Transaction {
    let message = &tx.message;
    let header = message.header();
    let (versioned, address_table_lookups) = match message {
        VersionedMessage::Legacy(_) => (false, Vec::new()),
        VersionedMessage::V0(m) => (
            true,
            m.address_table_lookups
                .iter()
                .map(|l| MessageAddressTableLookup {
                    account_key: l.account_key.to_bytes().to_vec(),
                    writable_indexes: l.writable_indexes.clone(),
                    readonly_indexes: l.readonly_indexes.clone(),
                })
                .collect(),
        ),
    };
    Transaction {
        signatures: tx.signatures.iter().map(|s| s.as_ref().to_vec()).collect(),
        message: Some(Message {
            header: Some(MessageHeader {
                num_required_signatures: header.num_required_signatures.into(),
                num_readonly_signed_accounts: header.num_readonly_signed_accounts.into(),
                num_readonly_unsigned_accounts: header.num_readonly_unsigned_accounts.into(),
            }),
            account_keys: keys(message.static_account_keys()),
            recent_blockhash: message.recent_blockhash().to_bytes().to_vec(),
            instructions: message
                .instructions()
                .iter()
                .map(|ix| CompiledInstruction {
                    program_id_index: ix.program_id_index.into(),
                    accounts: ix.accounts.clone(),
                    data: ix.data.clone(),
                })
                .collect(),
            versioned,
            address_table_lookups,
            config: None,
        }),
    }
}

fn token_balances(balances: &Option<Vec<TransactionTokenBalance>>) -> Vec<TokenBalance> {
    balances
        .iter()
        .flatten()
        .map(|b| TokenBalance {
            account_index: b.account_index.into(),
            mint: b.mint.clone(),
            ui_token_amount: Some(UiTokenAmount {
                ui_amount: b.ui_token_amount.ui_amount.unwrap_or_default(),
                decimals: b.ui_token_amount.decimals.into(),
                amount: b.ui_token_amount.amount.clone(),
                ui_amount_string: b.ui_token_amount.ui_amount_string.clone(),
            }),
            owner: b.owner.clone(),
            program_id: b.program_id.clone(),
        })
        .collect()
}

fn meta(meta: &TransactionStatusMeta) -> ProtoMeta {
    ProtoMeta {
        err: meta.status.clone().err().map(|e| transaction_error(&e)),
        fee: meta.fee,
        pre_balances: meta.pre_balances.clone(),
        post_balances: meta.post_balances.clone(),
        inner_instructions: meta
            .inner_instructions
            .iter()
            .flatten()
            .map(|inner| InnerInstructions {
                index: inner.index.into(),
                instructions: inner
                    .instructions
                    .iter()
                    .map(|ix| InnerInstruction {
                        program_id_index: ix.instruction.program_id_index.into(),
                        accounts: ix.instruction.accounts.clone(),
                        data: ix.instruction.data.clone(),
                        stack_height: ix.stack_height,
                    })
                    .collect(),
            })
            .collect(),
        inner_instructions_none: meta.inner_instructions.is_none(),
        log_messages: meta.log_messages.clone().unwrap_or_default(),
        log_messages_none: meta.log_messages.is_none(),
        pre_token_balances: token_balances(&meta.pre_token_balances),
        post_token_balances: token_balances(&meta.post_token_balances),
        rewards: Vec::new(),
        loaded_writable_addresses: keys(&meta.loaded_addresses.writable),
        loaded_readonly_addresses: keys(&meta.loaded_addresses.readonly),
        return_data: meta.return_data.as_ref().map(|r| ReturnData {
            program_id: r.program_id.to_bytes().to_vec(),
            data: r.data.clone(),
        }),
        return_data_none: meta.return_data.is_none(),
        compute_units_consumed: meta.compute_units_consumed,
        cost_units: meta.cost_units,
    }
}
