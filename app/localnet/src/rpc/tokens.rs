//! SPL Token / Token-2022 reads.

use super::{
    accounts::{encode, is_token_account, mint_decimals},
    params, RpcResult,
};
use crate::bank::Chain;
use jsonrpc_core::Error;
use serde_json::Value;
use solana_account::ReadableAccount;
use solana_account_decoder::{
    parse_account_data::SplTokenAdditionalDataV2,
    parse_token::{is_known_spl_token_id, parse_token_v3, token_amount_to_ui_amount_v3},
};
use solana_account_decoder_client_types::{token::TokenAccountType, UiAccountEncoding};
use solana_accounts_db::accounts_index::ScanConfig;
use solana_commitment_config::CommitmentConfig;
use solana_pubkey::Pubkey;
use solana_rpc_client_api::{
    config::{RpcAccountInfoConfig, RpcTokenAccountsFilter},
    response::{RpcKeyedAccount, RpcTokenAccountBalance},
};

/// Byte ranges of the base token-account layout (same in both programs).
const MINT_RANGE: std::ops::Range<usize> = 0..32;
const OWNER_RANGE: std::ops::Range<usize> = 32..64;
const AMOUNT_RANGE: std::ops::Range<usize> = 64..72;
const DELEGATE_TAG_RANGE: std::ops::Range<usize> = 72..76;
const DELEGATE_RANGE: std::ops::Range<usize> = 76..108;
/// How many accounts getTokenLargestAccounts lists, as agave.
const LARGEST_ACCOUNTS: usize = 20;

pub fn get_token_account_balance(chain: &Chain, p: Value) -> RpcResult {
    let (key, commitment): (String, Option<CommitmentConfig>) = params::parse(p, 2)?;
    let key = params::pubkey(&key)?;
    let bank = params::bank(chain, commitment, None)?;
    let not_token = || Error::invalid_params("Invalid param: not a Token account");
    let account = bank
        .get_account(&key)
        .filter(is_token_account)
        .ok_or_else(|| Error::invalid_params("Invalid param: could not find account"))?;
    let mint =
        solana_pubkey::Pubkey::try_from(&account.data()[MINT_RANGE]).map_err(|_| not_token())?;
    let decimals = mint_decimals(&bank, &mint)
        .ok_or_else(|| Error::invalid_params("Invalid param: could not find mint"))?;
    let additional = SplTokenAdditionalDataV2 {
        decimals,
        ..Default::default()
    };
    match parse_token_v3(account.data(), Some(&additional)) {
        Ok(TokenAccountType::Account(token)) => params::with_context(&bank, token.token_amount),
        _ => Err(not_token()),
    }
}

/// The supply of a token mint, as a validator answers `getTokenSupply`.
pub fn get_token_supply(chain: &Chain, p: Value) -> RpcResult {
    let (key, commitment): (String, Option<CommitmentConfig>) = params::parse(p, 2)?;
    let key = params::pubkey(&key)?;
    let bank = params::bank(chain, commitment, None)?;
    let not_mint = || Error::invalid_params("Invalid param: not a Token mint");
    let account = bank
        .get_account(&key)
        .filter(|account| is_known_spl_token_id(account.owner()))
        .ok_or_else(not_mint)?;
    let Ok(TokenAccountType::Mint(mint)) = parse_token_v3(account.data(), None) else {
        return Err(not_mint());
    };
    let supply: u64 = mint.supply.parse().map_err(|_| not_mint())?;
    let additional = SplTokenAdditionalDataV2 {
        decimals: mint.decimals,
        ..Default::default()
    };
    params::with_context(&bank, token_amount_to_ui_amount_v3(supply, &additional))
}

/// Whose token accounts a query lists.
#[derive(Clone, Copy)]
enum Holder {
    Owner,
    Delegate,
}

impl Holder {
    /// Whether a token account's data names `key` in this role.
    fn is(self, data: &[u8], key: &Pubkey) -> bool {
        match self {
            Holder::Owner => data.len() >= OWNER_RANGE.end && data[OWNER_RANGE] == key.to_bytes(),
            // COption<Pubkey>: a 4-byte tag (1 = Some), then the key.
            Holder::Delegate => {
                data.len() >= DELEGATE_RANGE.end
                    && data[DELEGATE_TAG_RANGE] == [1, 0, 0, 0]
                    && data[DELEGATE_RANGE] == key.to_bytes()
            }
        }
    }
}

pub fn get_token_accounts_by_owner(chain: &Chain, p: Value) -> RpcResult {
    token_accounts_of(chain, p, Holder::Owner)
}

pub fn get_token_accounts_by_delegate(chain: &Chain, p: Value) -> RpcResult {
    token_accounts_of(chain, p, Holder::Delegate)
}

/// The 20 largest token accounts of a mint, largest first, as a validator
/// answers `getTokenLargestAccounts`.
pub fn get_token_largest_accounts(chain: &Chain, p: Value) -> RpcResult {
    let (mint, commitment): (String, Option<CommitmentConfig>) = params::parse(p, 2)?;
    let mint = params::pubkey(&mint)?;
    let bank = params::bank(chain, commitment, None)?;
    let program = bank
        .get_account(&mint)
        .map(|a| *a.owner())
        .filter(is_known_spl_token_id)
        .ok_or_else(|| Error::invalid_params("Invalid param: could not find mint"))?;
    let decimals = mint_decimals(&bank, &mint)
        .ok_or_else(|| Error::invalid_params("Invalid param: not a Token mint"))?;
    let found = bank
        .get_filtered_program_accounts(
            &program,
            |account| {
                let data = account.data();
                data.len() >= AMOUNT_RANGE.end
                    && data[MINT_RANGE] == mint.to_bytes()
                    && is_token_account(account)
            },
            &ScanConfig::default(),
        )
        .map_err(|err| Error::invalid_params(err.to_string()))?;
    let mut balances: Vec<(Pubkey, u64)> = found
        .iter()
        .filter_map(|(key, account)| {
            let amount = account.data().get(AMOUNT_RANGE)?.try_into().ok()?;
            Some((*key, u64::from_le_bytes(amount)))
        })
        .collect();
    balances.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let additional = SplTokenAdditionalDataV2 {
        decimals,
        ..Default::default()
    };
    let largest: Vec<RpcTokenAccountBalance> = balances
        .into_iter()
        .take(LARGEST_ACCOUNTS)
        .map(|(address, amount)| RpcTokenAccountBalance {
            address: address.to_string(),
            amount: token_amount_to_ui_amount_v3(amount, &additional),
        })
        .collect();
    params::with_context(&bank, largest)
}

fn token_accounts_of(chain: &Chain, p: Value, holder: Holder) -> RpcResult {
    let (owner, filter, config): (String, RpcTokenAccountsFilter, Option<RpcAccountInfoConfig>) =
        params::parse(p, 3)?;
    let owner = params::pubkey(&owner)?;
    let config = config.unwrap_or(RpcAccountInfoConfig {
        encoding: Some(UiAccountEncoding::Binary),
        ..RpcAccountInfoConfig::default()
    });
    let bank = params::bank(chain, config.commitment, config.min_context_slot)?;
    let (program, mint) = match filter {
        RpcTokenAccountsFilter::Mint(mint) => {
            let mint = params::pubkey(&mint)?;
            let program = bank
                .get_account(&mint)
                .map(|a| *a.owner())
                .filter(is_known_spl_token_id)
                .ok_or_else(|| Error::invalid_params("Invalid param: could not find mint"))?;
            (program, Some(mint))
        }
        RpcTokenAccountsFilter::ProgramId(program) => {
            let program = params::pubkey(&program)?;
            if !is_known_spl_token_id(&program) {
                return Err(Error::invalid_params(
                    "Invalid param: unrecognized Token program id",
                ));
            }
            (program, None)
        }
    };
    let found = bank
        .get_filtered_program_accounts(
            &program,
            |account| {
                let data = account.data();
                holder.is(data, &owner)
                    && mint.is_none_or(|m| data[MINT_RANGE] == m.to_bytes())
                    && is_token_account(account)
            },
            &ScanConfig::default(),
        )
        .map_err(|err| Error::invalid_params(err.to_string()))?;
    let keyed = found
        .iter()
        .map(|(key, account)| {
            Ok(RpcKeyedAccount {
                pubkey: key.to_string(),
                account: encode(&bank, key, account, &config)?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    params::with_context(&bank, keyed)
}
