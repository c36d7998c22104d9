//! Creating the program's PDA accounts.
//!
//! Anyone can send lamports to an address before it is created. A plain
//! `CreateAccount` then fails, and Anchor's `init` falls back to a system
//! instruction that not every runtime has, so a prefunded address could never
//! be created: a cheap way to block a market, a payment mint or a lease. Here
//! a prefunded address is topped up to rent exemption, allocated and assigned,
//! which every runtime supports.

use crate::error::IomeshError;
use anchor_lang::{
    prelude::*,
    system_program::{self, Allocate, Assign, CreateAccount, Transfer},
};

/// Creates the PDA `account` with `space` bytes owned by `owner`, paid by `payer`.
/// Refuses an address that already holds data or belongs to a program.
pub fn create_pda<'info>(
    payer: &AccountInfo<'info>,
    account: &AccountInfo<'info>,
    system: &Program<'info, System>,
    owner: &Pubkey,
    space: usize,
    signer_seeds: &[&[u8]],
) -> Result<()> {
    require!(
        account.owner == &system_program::ID && account.data_is_empty(),
        IomeshError::AccountAlreadyInUse
    );
    let rent = Rent::get()?.minimum_balance(space);
    let signer: &[&[&[u8]]] = &[signer_seeds];
    let current = account.lamports();
    if current == 0 {
        let accounts = CreateAccount {
            from: payer.clone(),
            to: account.clone(),
        };
        return system_program::create_account(
            CpiContext::new_with_signer(system.key(), accounts, signer),
            rent,
            space as u64,
            owner,
        );
    }
    let shortfall = rent.saturating_sub(current);
    if shortfall > 0 {
        let accounts = Transfer {
            from: payer.clone(),
            to: account.clone(),
        };
        system_program::transfer(CpiContext::new(system.key(), accounts), shortfall)?;
    }
    allocate_and_assign(account, system.key(), owner, space, signer_seeds)
}

/// Allocates `space` bytes at the funded PDA `account` and gives it to `owner`.
fn allocate_and_assign<'info>(
    account: &AccountInfo<'info>,
    system: Pubkey,
    owner: &Pubkey,
    space: usize,
    signer_seeds: &[&[u8]],
) -> Result<()> {
    let signer: &[&[&[u8]]] = &[signer_seeds];
    let accounts = Allocate {
        account_to_allocate: account.clone(),
    };
    system_program::allocate(
        CpiContext::new_with_signer(system, accounts, signer),
        space as u64,
    )?;
    let accounts = Assign {
        account_to_assign: account.clone(),
    };
    system_program::assign(CpiContext::new_with_signer(system, accounts, signer), owner)
}

/// Creates this program's PDA `account` with `space` bytes and writes `value`
/// into it, its rent taken from `source`: an account of this program whose
/// lamports it may spend (one being closed in the same instruction).
///
/// The lamports move after the system program's calls: a cross-program call
/// sees only the accounts it is given, and one that saw `account` richer
/// without seeing `source` poorer would refuse the caller as unbalanced.
pub fn create_program_account_from<'info, T: AccountSerialize>(
    source: &AccountInfo<'info>,
    account: &AccountInfo<'info>,
    system: &Program<'info, System>,
    space: usize,
    signer_seeds: &[&[u8]],
    value: &T,
) -> Result<()> {
    require!(
        account.owner == &system_program::ID && account.data_is_empty(),
        IomeshError::AccountAlreadyInUse
    );
    allocate_and_assign(account, system.key(), &crate::ID, space, signer_seeds)?;
    let rent = Rent::get()?.minimum_balance(space);
    let shortfall = rent.saturating_sub(account.lamports());
    source.sub_lamports(shortfall)?;
    account.add_lamports(shortfall)?;
    let mut data = account.try_borrow_mut_data()?;
    let mut writer: &mut [u8] = &mut data;
    value.try_serialize(&mut writer)
}

/// Creates a program account and writes `value` (discriminator and fields) into it.
pub fn create_program_account<'info, T: AccountSerialize>(
    payer: &AccountInfo<'info>,
    account: &AccountInfo<'info>,
    system: &Program<'info, System>,
    space: usize,
    signer_seeds: &[&[u8]],
    value: &T,
) -> Result<()> {
    create_pda(payer, account, system, &crate::ID, space, signer_seeds)?;
    let mut data = account.try_borrow_mut_data()?;
    let mut writer: &mut [u8] = &mut data;
    value.try_serialize(&mut writer)
}

/// Creates the escrow vault of `mint` at its PDA: a token account whose
/// authority is the market PDA, sized for the extensions the mint requires.
pub fn create_vault<'info>(
    payer: &AccountInfo<'info>,
    vault: &AccountInfo<'info>,
    mint: &AccountInfo<'info>,
    market: &AccountInfo<'info>,
    token_program: &AccountInfo<'info>,
    system: &Program<'info, System>,
    signer_seeds: &[&[u8]],
) -> Result<()> {
    use anchor_spl::token_2022::spl_token_2022::{
        extension::{BaseStateWithExtensions, ExtensionType, StateWithExtensions},
        state::{Account, Mint},
    };
    let space = if *token_program.key == anchor_spl::token_2022::ID {
        let data = mint.try_borrow_data()?;
        let mint_state = StateWithExtensions::<Mint>::unpack(&data)?;
        let required =
            ExtensionType::get_required_init_account_extensions(&mint_state.get_extension_types()?);
        ExtensionType::try_calculate_account_len::<Account>(&required)?
    } else {
        anchor_spl::token::TokenAccount::LEN
    };
    create_pda(payer, vault, system, token_program.key, space, signer_seeds)?;
    let accounts = anchor_spl::token_interface::InitializeAccount3 {
        account: vault.clone(),
        mint: mint.clone(),
        authority: market.clone(),
    };
    anchor_spl::token_interface::initialize_account3(CpiContext::new(*token_program.key, accounts))
}
