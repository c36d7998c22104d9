//! Positional params, commitment and response helpers shared by the methods.

use super::RpcResult;
use crate::bank::Chain;
use jsonrpc_core::Error;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;
use solana_clock::Slot;
use solana_commitment_config::{CommitmentConfig, CommitmentLevel};
use solana_pubkey::Pubkey;
use solana_rpc_client_api::{
    custom_error::RpcCustomError,
    response::{Response, RpcResponseContext},
};
use solana_runtime::bank::Bank;
use std::{str::FromStr, sync::Arc};

/// Deserializes positional params into a tuple of `max` elements; missing
/// trailing params become `null` (so `Option`s are `None`).
pub fn parse<T: DeserializeOwned>(params: Value, max: usize) -> Result<T, Error> {
    let mut items = match params {
        Value::Null => Vec::new(),
        Value::Array(items) => items,
        _ => return Err(Error::invalid_params("params must be an array")),
    };
    if items.len() > max {
        return Err(Error::invalid_params(format!(
            "expected at most {max} params, got {}",
            items.len()
        )));
    }
    items.resize(max, Value::Null);
    serde_json::from_value(Value::Array(items))
        .map_err(|err| Error::invalid_params(format!("Invalid params: {err}")))
}

/// For methods that take no params: `null`, missing or `[]`.
pub fn none(params: Value) -> Result<(), Error> {
    match params {
        Value::Null => Ok(()),
        Value::Array(items) if items.is_empty() => Ok(()),
        _ => Err(Error::invalid_params("this method takes no params")),
    }
}

pub fn pubkey(text: &str) -> Result<Pubkey, Error> {
    Pubkey::from_str(text).map_err(|err| Error::invalid_params(format!("Invalid param: {err}")))
}

/// Agave's default commitment for reads is finalized.
pub fn level(commitment: Option<CommitmentConfig>) -> CommitmentLevel {
    commitment.map_or(CommitmentLevel::Finalized, |c| c.commitment)
}

/// The newest slot a ledger read (transactions, blocks, signatures) sees at
/// `commitment`: these serve confirmed or finalized data only, as agave's do.
pub fn ledger_slot(chain: &Chain, commitment: Option<CommitmentConfig>) -> Result<Slot, Error> {
    let slots = chain.slots();
    match level(commitment) {
        CommitmentLevel::Processed => Err(Error::invalid_params(
            "Method does not support commitment below `confirmed`",
        )),
        CommitmentLevel::Confirmed => Ok(slots.confirmed),
        CommitmentLevel::Finalized => Ok(slots.finalized),
    }
}

/// A leading optional slot param, which agave also lets callers leave out
/// with the config in its place: `[slot, config]`, `[config]` or `[]`.
pub fn slot_or_config<C: DeserializeOwned>(
    slot: Option<Value>,
    config: Option<C>,
) -> Result<(Option<Slot>, Option<C>), Error> {
    match slot {
        Some(Value::Number(n)) => Ok((n.as_u64(), config)),
        Some(config @ Value::Object(_)) => serde_json::from_value(config)
            .map(|config| (None, Some(config)))
            .map_err(|err| Error::invalid_params(format!("Invalid params: {err}"))),
        Some(Value::Null) | None => Ok((None, config)),
        Some(other) => Err(Error::invalid_params(format!(
            "Invalid params: slot {other} is not a number"
        ))),
    }
}

/// The bank at `commitment`, refusing one older than `min_context_slot`.
pub fn bank(
    chain: &Chain,
    commitment: Option<CommitmentConfig>,
    min_context_slot: Option<Slot>,
) -> Result<Arc<Bank>, Error> {
    let bank = chain.bank(level(commitment));
    match min_context_slot {
        Some(min) if bank.slot() < min => Err(RpcCustomError::MinContextSlotNotReached {
            context_slot: bank.slot(),
        }
        .into()),
        _ => Ok(bank),
    }
}

pub fn value<T: Serialize>(value: T) -> RpcResult {
    serde_json::to_value(value).map_err(|err| Error {
        code: jsonrpc_core::ErrorCode::InternalError,
        message: format!("cannot serialize the result: {err}"),
        data: None,
    })
}

/// `{"context":{"slot","apiVersion"},"value":…}` at `bank`'s slot.
pub fn with_context<T: Serialize>(bank: &Bank, inner: T) -> RpcResult {
    value(Response {
        context: RpcResponseContext::new(bank.slot()),
        value: inner,
    })
}
