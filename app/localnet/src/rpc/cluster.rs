//! Cluster and blockhash methods: version, health, slots, epoch, blockhash,
//! fees and rent.

use super::{params, RpcResult};
use crate::bank::Chain;
use base64::{prelude::BASE64_STANDARD, Engine};
use jsonrpc_core::Error;
use serde_json::Value;
use solana_clock::Slot;
use solana_commitment_config::CommitmentConfig;
use solana_hash::Hash;
use solana_message::{SanitizedMessage, SanitizedVersionedMessage, VersionedMessage};
use solana_rpc_client_api::{
    config::RpcContextConfig,
    custom_error::RpcCustomError,
    response::{RpcBlockhash, RpcVersionInfo},
};

/// Agave's cap on the range of getBlocks.
const MAX_BLOCKS_RANGE: u64 = 500_000;
use std::str::FromStr;

pub fn get_version(p: Value) -> RpcResult {
    params::none(p)?;
    let version = solana_version::Version::default();
    params::value(RpcVersionInfo {
        solana_core: version.to_string(),
        feature_set: Some(version.feature_set),
    })
}

pub fn get_health(p: Value) -> RpcResult {
    params::none(p)?;
    params::value("ok")
}

pub fn get_slot(chain: &Chain, p: Value) -> RpcResult {
    let (config,): (Option<RpcContextConfig>,) = params::parse(p, 1)?;
    let config = config.unwrap_or_default();
    let bank = params::bank(chain, config.commitment, config.min_context_slot)?;
    params::value(bank.slot())
}

pub fn get_block_height(chain: &Chain, p: Value) -> RpcResult {
    let (config,): (Option<RpcContextConfig>,) = params::parse(p, 1)?;
    let config = config.unwrap_or_default();
    let bank = params::bank(chain, config.commitment, config.min_context_slot)?;
    params::value(bank.block_height())
}

pub fn get_epoch_info(chain: &Chain, p: Value) -> RpcResult {
    let (config,): (Option<RpcContextConfig>,) = params::parse(p, 1)?;
    let config = config.unwrap_or_default();
    let bank = params::bank(chain, config.commitment, config.min_context_slot)?;
    params::value(bank.get_epoch_info())
}

pub fn get_genesis_hash(chain: &Chain, p: Value) -> RpcResult {
    params::none(p)?;
    params::value(chain.genesis_hash().to_string())
}

pub fn get_latest_blockhash(chain: &Chain, p: Value) -> RpcResult {
    let (config,): (Option<RpcContextConfig>,) = params::parse(p, 1)?;
    let config = config.unwrap_or_default();
    let bank = params::bank(chain, config.commitment, config.min_context_slot)?;
    let (blockhash, last_valid_block_height) = Chain::blockhash(&bank);
    params::with_context(
        &bank,
        RpcBlockhash {
            blockhash: blockhash.to_string(),
            last_valid_block_height,
        },
    )
}

pub fn is_blockhash_valid(chain: &Chain, p: Value) -> RpcResult {
    let (hash, config): (String, Option<RpcContextConfig>) = params::parse(p, 2)?;
    let hash = Hash::from_str(&hash)
        .map_err(|err| Error::invalid_params(format!("Invalid param: {err}")))?;
    let config = config.unwrap_or_default();
    let bank = params::bank(chain, config.commitment, config.min_context_slot)?;
    params::with_context(&bank, bank.is_blockhash_valid(&hash))
}

pub fn get_fee_for_message(chain: &Chain, p: Value) -> RpcResult {
    let (message, config): (String, Option<RpcContextConfig>) = params::parse(p, 2)?;
    let bytes = BASE64_STANDARD
        .decode(message)
        .map_err(|err| Error::invalid_params(format!("invalid base64 message: {err}")))?;
    let message: VersionedMessage = bincode::deserialize(&bytes)
        .map_err(|err| Error::invalid_params(format!("invalid message: {err}")))?;
    let config = config.unwrap_or_default();
    let bank = params::bank(chain, config.commitment, config.min_context_slot)?;
    let message = SanitizedVersionedMessage::try_from(message)
        .map_err(|err| Error::invalid_params(format!("invalid message: {err}")))?;
    let message = SanitizedMessage::try_new(message, &*bank, bank.get_reserved_account_keys())
        .map_err(|err| Error::invalid_params(format!("invalid message: {err}")))?;
    params::with_context(&bank, bank.get_fee_for_message(&message))
}

pub fn get_epoch_schedule(chain: &Chain, p: Value) -> RpcResult {
    params::none(p)?;
    let bank = params::bank(chain, None, None)?;
    params::value(bank.epoch_schedule().clone())
}

pub fn get_minimum_balance_for_rent_exemption(chain: &Chain, p: Value) -> RpcResult {
    let (len, commitment): (usize, Option<CommitmentConfig>) = params::parse(p, 2)?;
    let bank = params::bank(chain, commitment, None)?;
    params::value(bank.get_minimum_balance_for_rent_exemption(len))
}

/// When the block of a confirmed slot was sealed (its Clock time).
pub fn get_block_time(chain: &Chain, p: Value) -> RpcResult {
    let (slot,): (Slot,) = params::parse(p, 1)?;
    if slot > chain.slots().confirmed {
        return Err(RpcCustomError::BlockNotAvailable { slot }.into());
    }
    match chain.ledger().block_time(slot) {
        Some(time) => params::value(time),
        None => Err(RpcCustomError::LongTermStorageSlotSkipped { slot }.into()),
    }
}

/// The confirmed blocks from `start` to `end` (inclusive; default: the
/// newest at the commitment). The localnet seals a block every slot and
/// skips none.
pub fn get_blocks(chain: &Chain, p: Value) -> RpcResult {
    let (start, end, config): (Slot, Option<Value>, Option<RpcContextConfig>) =
        params::parse(p, 3)?;
    let (end, config) = params::slot_or_config(end, config)?;
    let newest = params::ledger_slot(chain, config.and_then(|c| c.commitment))?;
    let end = end.unwrap_or(newest).min(newest);
    if end.saturating_sub(start) > MAX_BLOCKS_RANGE {
        return Err(Error::invalid_params(format!(
            "Slot range too large; max {MAX_BLOCKS_RANGE}"
        )));
    }
    let first = chain.ledger().first_block().unwrap_or(end + 1).max(start);
    params::value((first..=end).collect::<Vec<Slot>>())
}

/// Up to `limit` confirmed blocks from `start`, oldest first.
pub fn get_blocks_with_limit(chain: &Chain, p: Value) -> RpcResult {
    let (start, limit, config): (Slot, u64, Option<RpcContextConfig>) = params::parse(p, 3)?;
    if limit > MAX_BLOCKS_RANGE {
        return Err(Error::invalid_params(format!(
            "Limit too large; max {MAX_BLOCKS_RANGE}"
        )));
    }
    let newest = params::ledger_slot(chain, config.and_then(|c| c.commitment))?;
    let first = chain
        .ledger()
        .first_block()
        .unwrap_or(newest + 1)
        .max(start);
    params::value((first..=newest).take(limit as usize).collect::<Vec<Slot>>())
}

/// Transactions the bank has processed since genesis.
pub fn get_transaction_count(chain: &Chain, p: Value) -> RpcResult {
    let (config,): (Option<RpcContextConfig>,) = params::parse(p, 1)?;
    let config = config.unwrap_or_default();
    let bank = params::bank(chain, config.commitment, config.min_context_slot)?;
    params::value(bank.transaction_count())
}

/// `minimumLedgerSlot` and `getFirstAvailableBlock`: the oldest slot whose
/// transactions are all still kept (`--ledger-capacity` bounds them), so a
/// client paging history knows where it stops being complete.
pub fn get_first_complete_slot(chain: &Chain, p: Value) -> RpcResult {
    params::none(p)?;
    params::value(chain.ledger().first_complete_slot())
}

/// No snapshots are taken: a validator without one answers this way.
pub fn get_highest_snapshot_slot(p: Value) -> RpcResult {
    params::none(p)?;
    Err(RpcCustomError::NoSnapshot.into())
}
