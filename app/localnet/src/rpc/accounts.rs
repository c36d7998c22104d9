//! Account reads: balances, single and multiple accounts, program scans.

use super::{params, RpcResult};
use crate::bank::Chain;
use jsonrpc_core::Error;
use serde_json::Value;
use solana_account::{AccountSharedData, ReadableAccount};
use solana_account_decoder::{
    encode_ui_account,
    parse_account_data::{AccountAdditionalDataV3, SplTokenAdditionalDataV2},
    parse_token::{is_known_spl_token_id, parse_token_v3},
};
use solana_account_decoder_client_types::{
    token::TokenAccountType, UiAccount, UiAccountEncoding, UiDataSliceConfig,
};
use solana_accounts_db::accounts_index::ScanConfig;
use solana_pubkey::Pubkey;
use solana_rpc_client_api::{
    config::{RpcAccountInfoConfig, RpcContextConfig, RpcProgramAccountsConfig},
    custom_error::RpcCustomError,
    filter::RpcFilterType,
    response::{OptionalContext, Response, RpcKeyedAccount, RpcResponseContext},
};
use solana_runtime::bank::Bank;

/// Agave refuses base58 for larger accounts, as base58 is quadratic.
const MAX_BASE58_BYTES: usize = 128;
/// Agave's cap on getMultipleAccounts.
const MAX_MULTIPLE_ACCOUNTS: usize = 100;

pub fn get_balance(chain: &Chain, p: Value) -> RpcResult {
    let (key, config): (String, Option<RpcContextConfig>) = params::parse(p, 2)?;
    let key = params::pubkey(&key)?;
    let config = config.unwrap_or_default();
    let bank = params::bank(chain, config.commitment, config.min_context_slot)?;
    params::with_context(&bank, bank.get_balance(&key))
}

pub fn get_account_info(chain: &Chain, p: Value) -> RpcResult {
    let (key, config): (String, Option<RpcAccountInfoConfig>) = params::parse(p, 2)?;
    let key = params::pubkey(&key)?;
    let config = config.unwrap_or_default();
    let bank = params::bank(chain, config.commitment, config.min_context_slot)?;
    let account = bank
        .get_account(&key)
        .map(|account| encode(&bank, &key, &account, &config))
        .transpose()?;
    params::with_context(&bank, account)
}

pub fn get_multiple_accounts(chain: &Chain, p: Value) -> RpcResult {
    let (keys, config): (Vec<String>, Option<RpcAccountInfoConfig>) = params::parse(p, 2)?;
    if keys.len() > MAX_MULTIPLE_ACCOUNTS {
        return Err(Error::invalid_params(format!(
            "Too many inputs provided; max {MAX_MULTIPLE_ACCOUNTS}"
        )));
    }
    let keys = keys
        .iter()
        .map(|k| params::pubkey(k))
        .collect::<Result<Vec<_>, _>>()?;
    let config = config.unwrap_or_default();
    let bank = params::bank(chain, config.commitment, config.min_context_slot)?;
    let accounts = keys
        .iter()
        .map(|key| {
            bank.get_account(key)
                .map(|account| encode(&bank, key, &account, &config))
                .transpose()
        })
        .collect::<Result<Vec<_>, _>>()?;
    params::with_context(&bank, accounts)
}

pub fn get_program_accounts(chain: &Chain, p: Value) -> RpcResult {
    let (program, config): (String, Option<RpcProgramAccountsConfig>) = params::parse(p, 2)?;
    let program = params::pubkey(&program)?;
    let config = config.unwrap_or_default();
    let filters = config.filters.unwrap_or_default();
    for filter in &filters {
        filter
            .verify()
            .map_err(|err| Error::invalid_params(format!("Invalid param: {err}")))?;
    }
    let account_config = config.account_config;
    let bank = params::bank(
        chain,
        account_config.commitment,
        account_config.min_context_slot,
    )?;
    let mut found = bank
        .get_filtered_program_accounts(
            &program,
            |account| filters.iter().all(|f| matches_filter(f, account)),
            &ScanConfig::default(),
        )
        .map_err(|err| {
            Error::from(RpcCustomError::ScanError {
                message: err.to_string(),
            })
        })?;
    if config.sort_results.unwrap_or(true) {
        found.sort_unstable_by_key(|(key, _)| *key);
    }
    let keyed = found
        .iter()
        .map(|(key, account)| {
            Ok(RpcKeyedAccount {
                pubkey: key.to_string(),
                account: encode(&bank, key, account, &account_config)?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let result = if config.with_context.unwrap_or(false) {
        OptionalContext::Context(Response {
            context: RpcResponseContext::new(bank.slot()),
            value: keyed,
        })
    } else {
        OptionalContext::NoContext(keyed)
    };
    params::value(result)
}

/// Whether `account` passes a getProgramAccounts / programSubscribe filter.
pub fn matches_filter(filter: &RpcFilterType, account: &AccountSharedData) -> bool {
    match filter {
        RpcFilterType::DataSize(size) => account.data().len() as u64 == *size,
        RpcFilterType::Memcmp(memcmp) => memcmp.bytes_match(account.data()),
        RpcFilterType::TokenAccountState => is_token_account(account),
    }
}

/// A token account (not a mint or multisig) of SPL Token or Token-2022.
pub fn is_token_account(account: &AccountSharedData) -> bool {
    is_known_spl_token_id(account.owner())
        && matches!(
            parse_token_v3(account.data(), Some(&SplTokenAdditionalDataV2::default())),
            Ok(TokenAccountType::Account(_))
        )
}

/// The decimals of `mint`, when it is a token mint.
pub fn mint_decimals(bank: &Bank, mint: &Pubkey) -> Option<u8> {
    let account = bank.get_account(mint)?;
    if !is_known_spl_token_id(account.owner()) {
        return None;
    }
    match parse_token_v3(account.data(), None) {
        Ok(TokenAccountType::Mint(mint)) => Some(mint.decimals),
        _ => None,
    }
}

/// Encodes an account as `config` asks; jsonParsed token accounts get their
/// mint's decimals, as agave does.
pub fn encode(
    bank: &Bank,
    key: &Pubkey,
    account: &AccountSharedData,
    config: &RpcAccountInfoConfig,
) -> Result<UiAccount, Error> {
    let encoding = config.encoding.unwrap_or(UiAccountEncoding::Binary);
    let slice: Option<UiDataSliceConfig> = config.data_slice;
    if matches!(
        encoding,
        UiAccountEncoding::Binary | UiAccountEncoding::Base58
    ) {
        let len = slice.map_or(account.data().len(), |s| {
            s.length.min(account.data().len().saturating_sub(s.offset))
        });
        if len > MAX_BASE58_BYTES {
            return Err(Error::invalid_request_with(format!(
                "Encoded binary (base 58) data should be less than {MAX_BASE58_BYTES} bytes, \
                 please use Base64 encoding."
            )));
        }
    }
    let additional = (encoding == UiAccountEncoding::JsonParsed && is_token_account(account))
        .then(|| {
            let mint = Pubkey::try_from(&account.data()[..32]).ok()?;
            let decimals = mint_decimals(bank, &mint)?;
            Some(AccountAdditionalDataV3 {
                spl_token_additional_data: Some(SplTokenAdditionalDataV2 {
                    decimals,
                    ..Default::default()
                }),
            })
        })
        .flatten();
    Ok(encode_ui_account(key, account, encoding, additional, slice))
}

trait InvalidRequestWith {
    fn invalid_request_with(message: String) -> Self;
}

impl InvalidRequestWith for Error {
    fn invalid_request_with(message: String) -> Self {
        Error {
            code: jsonrpc_core::ErrorCode::InvalidRequest,
            message,
            data: None,
        }
    }
}
