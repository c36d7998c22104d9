//! SPL Token / Token-2022 mints and token accounts, decoded from raw account
//! data so that either token program is handled the same way.

use anchor_lang::prelude::Pubkey;
use anchor_spl::{
    associated_token::get_associated_token_address_with_program_id,
    token::spl_token,
    token_2022::spl_token_2022::{
        self,
        extension::StateWithExtensions,
        state::{Account as TokenAccountState, Mint as MintState},
    },
};
use serde::{Deserialize, Serialize};

/// A mint and the token program that owns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenMint {
    #[serde(with = "crate::serde_pubkey")]
    pub mint: Pubkey,
    #[serde(with = "crate::serde_pubkey")]
    pub token_program: Pubkey,
}

impl TokenMint {
    /// `owner`'s associated token account for this mint.
    pub fn ata(&self, owner: &Pubkey) -> Pubkey {
        get_associated_token_address_with_program_id(owner, &self.mint, &self.token_program)
    }
}

/// Whether `program` is one of the two token programs.
pub fn is_token_program(program: &Pubkey) -> bool {
    *program == spl_token::ID || *program == spl_token_2022::ID
}

/// Decimals of a mint account's data (either token program, with or without extensions).
pub fn mint_decimals(data: &[u8]) -> Option<u8> {
    StateWithExtensions::<MintState>::unpack(data)
        .ok()
        .map(|state| state.base.decimals)
}

/// The mint, owner and amount of a token account's data.
pub fn token_account(data: &[u8]) -> Option<(Pubkey, Pubkey, u64)> {
    StateWithExtensions::<TokenAccountState>::unpack(data)
        .ok()
        .map(|state| (state.base.mint, state.base.owner, state.base.amount))
}

/// Whether a token account's data says it is frozen.
pub fn token_account_frozen(data: &[u8]) -> bool {
    StateWithExtensions::<TokenAccountState>::unpack(data)
        .map(|state| state.base.is_frozen())
        .unwrap_or(false)
}

/// "SPL Token", "Token-2022", or "unknown" for any other program.
pub fn token_program_name(program: &Pubkey) -> &'static str {
    if *program == spl_token::ID {
        "SPL Token"
    } else if *program == spl_token_2022::ID {
        "Token-2022"
    } else {
        "unknown"
    }
}
