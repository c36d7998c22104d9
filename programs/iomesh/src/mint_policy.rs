//! Which mints may be escrowed. A Token-2022 extension that lets tokens move,
//! shrink, freeze or hide outside this program's control breaks the rule that
//! the vault holds at least what open leases are owed, so such mints are refused.

use crate::{error::IomeshError, state::MAX_DECIMALS};
use anchor_lang::prelude::*;
use anchor_spl::token_2022::spl_token_2022::{
    extension::{
        default_account_state::DefaultAccountState, BaseStateWithExtensions, ExtensionType,
        StateWithExtensions,
    },
    state::{AccountState, Mint},
};

/// Refuses a mint whose extensions would break escrow accounting, naming the extension.
pub fn check_escrow_safe(mint: &AccountInfo) -> Result<()> {
    let data = mint.try_borrow_data()?;
    let state = StateWithExtensions::<Mint>::unpack(&data)?;
    require!(
        state.base.decimals <= MAX_DECIMALS,
        IomeshError::UnsupportedDecimals
    );
    if *mint.owner != anchor_spl::token_2022::ID {
        return Ok(());
    }
    for extension in state.get_extension_types()? {
        let refusal = match extension {
            ExtensionType::TransferFeeConfig => Some(IomeshError::MintHasTransferFee),
            ExtensionType::TransferHook => Some(IomeshError::MintHasTransferHook),
            ExtensionType::PermanentDelegate => Some(IomeshError::MintHasPermanentDelegate),
            ExtensionType::NonTransferable => Some(IomeshError::MintIsNonTransferable),
            ExtensionType::ConfidentialTransferMint => {
                Some(IomeshError::MintHasConfidentialTransfers)
            }
            ExtensionType::ConfidentialTransferFeeConfig => {
                Some(IomeshError::MintHasConfidentialTransferFee)
            }
            ExtensionType::ConfidentialMintBurn => Some(IomeshError::MintHasConfidentialMintBurn),
            ExtensionType::Pausable => Some(IomeshError::MintIsPausable),
            ExtensionType::DefaultAccountState => {
                let default_state = state.get_extension::<DefaultAccountState>()?;
                (default_state.state == AccountState::Frozen as u8)
                    .then_some(IomeshError::MintIsDefaultFrozen)
            }
            _ => None,
        };
        if let Some(error) = refusal {
            msg!("mint {} refused: extension {:?}", mint.key, extension);
            return Err(error.into());
        }
    }
    Ok(())
}
