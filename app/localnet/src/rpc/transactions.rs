//! Sending, simulating and looking up transactions, and airdrops.

use super::{accounts::encode, params, RpcResult};
use crate::bank::{token_balances, Chain, SendError};
use base64::{prelude::BASE64_STANDARD, Engine};
use bincode::Options;
use jsonrpc_core::Error;
use serde_json::Value;
use solana_account_decoder_client_types::UiAccountEncoding;
use solana_clock::Slot;
use solana_commitment_config::CommitmentLevel;
use solana_rpc_client_api::{
    config::{
        RpcAccountInfoConfig, RpcBlockConfig, RpcEncodingConfigWrapper, RpcRequestAirdropConfig,
        RpcSendTransactionConfig, RpcSignatureStatusConfig, RpcSignaturesForAddressConfig,
        RpcSimulateTransactionConfig, RpcTransactionConfig,
    },
    custom_error::RpcCustomError,
    response::{
        RpcBlockhash, RpcConfirmedTransactionStatusWithSignature, RpcPrioritizationFee,
        RpcSimulateTransactionResult,
    },
};
use solana_runtime::bank::{Bank, TransactionSimulationResult};
use solana_signature::Signature;
use solana_transaction::versioned::VersionedTransaction;
use solana_transaction_error::TransactionError;
use solana_transaction_status::{
    BlockEncodingOptions, ConfirmedBlock, ConfirmedTransactionWithStatusMeta, EncodeError,
    TransactionConfirmationStatus, TransactionStatus, TransactionWithStatusMeta,
    UiTransactionEncoding, VersionedTransactionWithStatusMeta,
};
use std::str::FromStr;

/// Largest serialized transaction (a packet).
const PACKET_DATA_SIZE: u64 = 1232;
/// Agave's cap on getSignatureStatuses.
const MAX_SIGNATURE_STATUSES: usize = 256;
/// Agave's cap on the accounts of getRecentPrioritizationFees, and how many
/// recent blocks it reports.
const MAX_PRIORITIZATION_FEE_ACCOUNTS: usize = 128;
const PRIORITIZATION_FEE_BLOCKS: u64 = 150;
/// Agave's cap (and default) on getSignaturesForAddress.
const MAX_SIGNATURES_FOR_ADDRESS: usize = 1_000;

pub fn send_transaction(chain: &Chain, p: Value) -> RpcResult {
    let (wire, config): (String, Option<RpcSendTransactionConfig>) = params::parse(p, 2)?;
    let config = config.unwrap_or_default();
    let tx = decode_transaction(&wire, config.encoding)?;
    match chain.send(tx, !config.skip_preflight) {
        Ok(signature) => params::value(signature.to_string()),
        Err(SendError::Verify(TransactionError::SignatureFailure)) => {
            Err(RpcCustomError::TransactionSignatureVerificationFailure.into())
        }
        Err(SendError::Verify(err)) => {
            Err(Error::invalid_params(format!("invalid transaction: {err}")))
        }
        Err(SendError::Preflight(sim)) => {
            let err = sim.result.clone().err();
            let message = match &err {
                Some(err) => format!("Transaction simulation failed: {err}"),
                None => "Transaction simulation failed".to_string(),
            };
            Err(RpcCustomError::SendTransactionPreflightFailure {
                message,
                result: simulation_result(None, *sim, None, None)?,
            }
            .into())
        }
        Err(SendError::NotCommitted(err)) => Err(RpcCustomError::SendTransactionPreflightFailure {
            message: format!("Transaction was not committed: {err}"),
            result: RpcSimulateTransactionResult {
                err: Some(err.into()),
                logs: None,
                accounts: None,
                units_consumed: None,
                loaded_accounts_data_size: None,
                return_data: None,
                inner_instructions: None,
                replacement_blockhash: None,
                fee: None,
                pre_balances: None,
                post_balances: None,
                pre_token_balances: None,
                post_token_balances: None,
                loaded_addresses: None,
            },
        }
        .into()),
    }
}

pub fn simulate_transaction(chain: &Chain, p: Value) -> RpcResult {
    let (wire, config): (String, Option<RpcSimulateTransactionConfig>) = params::parse(p, 2)?;
    let config = config.unwrap_or_default();
    let mut tx = decode_transaction(&wire, config.encoding)?;
    if config.sig_verify && config.replace_recent_blockhash {
        return Err(Error::invalid_params(
            "sigVerify may not be used with replaceRecentBlockhash",
        ));
    }
    let bank = params::bank(chain, config.commitment, config.min_context_slot)?;
    let replacement = config.replace_recent_blockhash.then(|| {
        let (blockhash, last_valid_block_height) = Chain::blockhash(&bank);
        tx.message.set_recent_blockhash(blockhash);
        RpcBlockhash {
            blockhash: blockhash.to_string(),
            last_valid_block_height,
        }
    });
    let sim = match chain.simulate(&bank, tx, config.sig_verify, config.inner_instructions) {
        Ok(sim) => sim,
        Err(TransactionError::SignatureFailure) => {
            return Err(RpcCustomError::TransactionSignatureVerificationFailure.into())
        }
        Err(err) => return Err(Error::invalid_params(format!("invalid transaction: {err}"))),
    };
    let result = simulation_result(Some(&bank), sim, config.accounts, replacement)?;
    params::with_context(&bank, result)
}

/// Converts a bank simulation into the RPC shape; `accounts` (addresses and
/// encoding) selects post-simulation accounts to return.
fn simulation_result(
    bank: Option<&Bank>,
    sim: TransactionSimulationResult,
    accounts: Option<solana_rpc_client_api::config::RpcSimulateTransactionAccountsConfig>,
    replacement_blockhash: Option<RpcBlockhash>,
) -> Result<RpcSimulateTransactionResult, Error> {
    let accounts = match (accounts, bank) {
        (Some(wanted), Some(bank)) => {
            let config = RpcAccountInfoConfig {
                encoding: Some(wanted.encoding.unwrap_or(UiAccountEncoding::Base64)),
                ..RpcAccountInfoConfig::default()
            };
            let mut out = Vec::with_capacity(wanted.addresses.len());
            for address in &wanted.addresses {
                let key = params::pubkey(address)?;
                let account = sim
                    .post_simulation_accounts
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, a)| a.clone())
                    .or_else(|| bank.get_account(&key));
                out.push(
                    account
                        .map(|a| encode(bank, &key, &a, &config))
                        .transpose()?,
                );
            }
            Some(out)
        }
        _ => None,
    };
    let inner_instructions = sim.inner_instructions.map(|inner| {
        solana_transaction_status::map_inner_instructions(inner)
            .map(solana_transaction_status::UiInnerInstructions::from)
            .collect()
    });
    Ok(RpcSimulateTransactionResult {
        err: sim.result.err().map(Into::into),
        logs: Some(sim.logs),
        accounts,
        units_consumed: Some(sim.units_consumed),
        loaded_accounts_data_size: Some(sim.loaded_accounts_data_size),
        return_data: sim.return_data.map(Into::into),
        inner_instructions,
        replacement_blockhash,
        fee: sim.fee,
        pre_balances: sim.pre_balances,
        post_balances: sim.post_balances,
        pre_token_balances: sim.pre_token_balances.map(ui_token_balances),
        post_token_balances: sim.post_token_balances.map(ui_token_balances),
        loaded_addresses: None,
    })
}

fn ui_token_balances(
    balances: Vec<solana_svm::transaction_balances::SvmTokenInfo>,
) -> Vec<solana_transaction_status::UiTransactionTokenBalance> {
    token_balances(balances)
        .into_iter()
        .map(Into::into)
        .collect()
}

pub fn get_signature_statuses(chain: &Chain, p: Value) -> RpcResult {
    let (signatures, _config): (Vec<String>, Option<RpcSignatureStatusConfig>) =
        params::parse(p, 2)?;
    if signatures.len() > MAX_SIGNATURE_STATUSES {
        return Err(Error::invalid_params(format!(
            "Too many inputs provided; max {MAX_SIGNATURE_STATUSES}"
        )));
    }
    let signatures = signatures
        .iter()
        .map(|s| signature(s))
        .collect::<Result<Vec<_>, _>>()?;
    let bank = chain.bank(CommitmentLevel::Processed);
    let slots = chain.slots();
    let statuses: Vec<Option<TransactionStatus>> = signatures
        .iter()
        .map(|sig| {
            let record = chain.ledger().get(sig)?;
            let (confirmations, level) = if record.slot <= slots.finalized {
                (None, TransactionConfirmationStatus::Finalized)
            } else if record.slot <= slots.confirmed {
                (
                    Some((slots.processed - record.slot) as usize),
                    TransactionConfirmationStatus::Confirmed,
                )
            } else {
                (Some(0), TransactionConfirmationStatus::Processed)
            };
            Some(TransactionStatus {
                slot: record.slot,
                confirmations,
                status: record.meta.status.clone(),
                err: record.meta.status.clone().err(),
                confirmation_status: Some(level),
            })
        })
        .collect();
    params::with_context(&bank, statuses)
}

/// The kept transactions naming an address, newest first, as a validator
/// answers `getSignaturesForAddress` (confirmed or finalized only).
pub fn get_signatures_for_address(chain: &Chain, p: Value) -> RpcResult {
    let (address, config): (String, Option<RpcSignaturesForAddressConfig>) = params::parse(p, 2)?;
    let address = params::pubkey(&address)?;
    let config = config.unwrap_or_default();
    let limit = config.limit.unwrap_or(MAX_SIGNATURES_FOR_ADDRESS);
    if limit == 0 || limit > MAX_SIGNATURES_FOR_ADDRESS {
        return Err(Error::invalid_params(format!(
            "Invalid limit; max {MAX_SIGNATURES_FOR_ADDRESS}"
        )));
    }
    let parse = |s: Option<String>| s.as_deref().map(signature).transpose();
    let (before, until) = (parse(config.before)?, parse(config.until)?);
    let max_slot = params::ledger_slot(chain, config.commitment)?;
    let slots = chain.slots();
    let found =
        chain
            .ledger()
            .signatures_for(&address, before.as_ref(), until.as_ref(), limit, max_slot);
    let statuses: Vec<RpcConfirmedTransactionStatusWithSignature> = found
        .into_iter()
        .map(
            |(signature, record)| RpcConfirmedTransactionStatusWithSignature {
                signature: signature.to_string(),
                slot: record.slot,
                err: record.meta.status.clone().err().map(Into::into),
                memo: None,
                block_time: Some(record.block_time),
                confirmation_status: Some(if record.slot <= slots.finalized {
                    TransactionConfirmationStatus::Finalized
                } else {
                    TransactionConfirmationStatus::Confirmed
                }),
            },
        )
        .collect();
    params::value(statuses)
}

pub fn get_transaction(chain: &Chain, p: Value) -> RpcResult {
    let (sig, config): (
        String,
        Option<RpcEncodingConfigWrapper<RpcTransactionConfig>>,
    ) = params::parse(p, 2)?;
    let sig = signature(&sig)?;
    let config = config.map(|c| c.convert_to_current()).unwrap_or_default();
    let visible = params::ledger_slot(chain, config.commitment)?;
    let Some(record) = chain.ledger().get(&sig) else {
        return params::value(Value::Null);
    };
    if record.slot > visible {
        return params::value(Value::Null);
    }
    let confirmed = ConfirmedTransactionWithStatusMeta {
        slot: record.slot,
        tx_with_meta: TransactionWithStatusMeta::Complete(VersionedTransactionWithStatusMeta {
            transaction: record.transaction.clone(),
            meta: record.meta.clone(),
        }),
        block_time: Some(record.block_time),
    };
    let encoding = config.encoding.unwrap_or(UiTransactionEncoding::Json);
    match confirmed.encode(encoding, config.max_supported_transaction_version) {
        Ok(encoded) => params::value(encoded),
        Err(EncodeError::UnsupportedTransactionVersion(version)) => {
            Err(RpcCustomError::UnsupportedTransactionVersion(version).into())
        }
    }
}

/// A confirmed block with its transactions, as a validator answers
/// `getBlock` (no rewards: the localnet pays none).
pub fn get_block(chain: &Chain, p: Value) -> RpcResult {
    let (slot, config): (Slot, Option<RpcEncodingConfigWrapper<RpcBlockConfig>>) =
        params::parse(p, 2)?;
    let config = config.map(|c| c.convert_to_current()).unwrap_or_default();
    if slot > params::ledger_slot(chain, config.commitment)? {
        return Err(RpcCustomError::BlockNotAvailable { slot }.into());
    }
    let Some((block, transactions)) = chain.ledger().block_with_transactions(slot) else {
        return Err(RpcCustomError::LongTermStorageSlotSkipped { slot }.into());
    };
    let confirmed = ConfirmedBlock {
        previous_blockhash: block.previous_blockhash.to_string(),
        blockhash: block.blockhash.to_string(),
        parent_slot: block.parent_slot,
        transactions: transactions
            .iter()
            .map(|record| {
                TransactionWithStatusMeta::Complete(VersionedTransactionWithStatusMeta {
                    transaction: record.transaction.clone(),
                    meta: record.meta.clone(),
                })
            })
            .collect(),
        rewards: Vec::new(),
        num_partitions: None,
        block_time: Some(block.time),
        block_height: Some(block.block_height),
    };
    let options = BlockEncodingOptions {
        transaction_details: config.transaction_details.unwrap_or_default(),
        show_rewards: config.rewards.unwrap_or(true),
        max_supported_transaction_version: config.max_supported_transaction_version,
    };
    let encoding = config.encoding.unwrap_or(UiTransactionEncoding::Json);
    match confirmed.encode_with_options(encoding, options) {
        Ok(encoded) => params::value(encoded),
        Err(EncodeError::UnsupportedTransactionVersion(version)) => {
            Err(RpcCustomError::UnsupportedTransactionVersion(version).into())
        }
    }
}

/// Recent blocks' prioritization fees, as a validator answers
/// `getRecentPrioritizationFees` (its last 150 blocks).
pub fn get_recent_prioritization_fees(chain: &Chain, p: Value) -> RpcResult {
    let (accounts,): (Option<Vec<String>>,) = params::parse(p, 1)?;
    let accounts = accounts
        .unwrap_or_default()
        .iter()
        .map(|a| params::pubkey(a))
        .collect::<Result<Vec<_>, _>>()?;
    if accounts.len() > MAX_PRIORITIZATION_FEE_ACCOUNTS {
        return Err(Error::invalid_params(format!(
            "Too many inputs provided; max {MAX_PRIORITIZATION_FEE_ACCOUNTS}"
        )));
    }
    let last = chain.slots().confirmed;
    let first = last.saturating_sub(PRIORITIZATION_FEE_BLOCKS - 1);
    let fees: Vec<RpcPrioritizationFee> = chain
        .ledger()
        .prioritization_fees(&accounts, first, last)
        .into_iter()
        .map(|(slot, prioritization_fee)| RpcPrioritizationFee {
            slot,
            prioritization_fee,
        })
        .collect();
    params::value(fees)
}

pub fn request_airdrop(chain: &Chain, p: Value) -> RpcResult {
    let (to, lamports, _config): (String, u64, Option<RpcRequestAirdropConfig>) =
        params::parse(p, 3)?;
    let to = params::pubkey(&to)?;
    match chain.airdrop(&to, lamports) {
        Ok(signature) => params::value(signature.to_string()),
        Err(err) => Err(Error {
            code: jsonrpc_core::ErrorCode::InternalError,
            message: format!("airdrop of {lamports} lamports to {to} failed: {err}"),
            data: None,
        }),
    }
}

fn signature(text: &str) -> Result<Signature, Error> {
    Signature::from_str(text).map_err(|err| Error::invalid_params(format!("Invalid param: {err}")))
}

/// Decodes a wire transaction (base58 by default, or base64) as agave does.
fn decode_transaction(
    wire: &str,
    encoding: Option<UiTransactionEncoding>,
) -> Result<VersionedTransaction, Error> {
    let bytes = match encoding.unwrap_or(UiTransactionEncoding::Base58) {
        UiTransactionEncoding::Base58 => bs58::decode(wire)
            .into_vec()
            .map_err(|err| Error::invalid_params(format!("invalid base58 encoding: {err}")))?,
        UiTransactionEncoding::Base64 => BASE64_STANDARD
            .decode(wire)
            .map_err(|err| Error::invalid_params(format!("invalid base64 encoding: {err}")))?,
        other => {
            return Err(Error::invalid_params(format!(
                "unsupported encoding: {other}. Supported encodings: base58, base64"
            )))
        }
    };
    bincode::options()
        .with_limit(PACKET_DATA_SIZE)
        .with_fixint_encoding()
        .allow_trailing_bytes()
        .deserialize(&bytes)
        .map_err(|err| Error::invalid_params(format!("failed to deserialize transaction: {err}")))
}
