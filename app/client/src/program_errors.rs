//! Names and messages of the custom error codes a failed iomesh transaction
//! carries. The program runs natively on the localnet, so its `msg!` lines
//! never reach the transaction logs: the code is all a client gets.
//!
//! Codes: iomesh's own errors from 6000 (read from the checked-in IDL, which a
//! test keeps identical to the program), Anchor's framework errors 100..6000,
//! and below 100 the errors of the program that failed (SPL Token, Token-2022
//! or the Associated Token Account program).

use anchor_lang::{error::ErrorCode as AnchorErrorCode, prelude::Pubkey};
use anchor_spl::{
    associated_token::spl_associated_token_account, token::spl_token, token_2022::spl_token_2022,
};
use serde::Deserialize;
use std::sync::OnceLock;

/// A decoded custom error: which program refused, its name and its message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramError {
    pub code: u32,
    pub name: String,
    pub message: String,
}

/// Decodes a custom error `code` raised by an instruction of `program`.
pub fn decode(program: &Pubkey, code: u32) -> Option<ProgramError> {
    if *program == spl_associated_token_account::program::ID {
        // Its only custom error.
        return (code == 0).then(|| ProgramError {
            code,
            name: "InvalidOwner".into(),
            message: "associated token account owner does not match address derivation".into(),
        });
    }
    if *program == spl_token::ID || *program == spl_token_2022::ID || code < 100 {
        // The token programs' errors, also surfaced through iomesh's CPIs into them.
        let error = spl_token_2022::error::TokenError::try_from(code).ok()?;
        return Some(ProgramError {
            code,
            name: format!("{error:?}"),
            message: error.to_string(),
        });
    }
    if code >= anchor_lang::error::ERROR_CODE_OFFSET {
        return iomesh_errors()
            .iter()
            .find(|e| e.code == code)
            .map(|e| ProgramError {
                code,
                name: e.name.clone(),
                message: e.msg.clone(),
            });
    }
    ANCHOR_ERRORS
        .iter()
        .find(|e| u32::from(**e) == code)
        .map(|e| ProgramError {
            code,
            name: e.name(),
            message: e.to_string(),
        })
}

/// The code of a named iomesh error, e.g. `"NotRenter"` (for tests and tools).
pub fn iomesh_error_code(name: &str) -> Option<u32> {
    iomesh_errors()
        .iter()
        .find(|e| e.name == name)
        .map(|e| e.code)
}

#[derive(Deserialize)]
struct IdlError {
    code: u32,
    name: String,
    msg: String,
}

fn iomesh_errors() -> &'static [IdlError] {
    static ERRORS: OnceLock<Vec<IdlError>> = OnceLock::new();
    ERRORS.get_or_init(|| {
        #[derive(Deserialize)]
        struct Idl {
            errors: Vec<IdlError>,
        }
        let idl: Idl = serde_json::from_str(include_str!("../../../idl/iomesh.json"))
            .expect("the checked-in IDL is valid JSON with an errors list");
        idl.errors
    })
}

use AnchorErrorCode as E;
/// Every Anchor framework error (the enum offers no lookup by code).
const ANCHOR_ERRORS: &[AnchorErrorCode] = &[
    E::InstructionMissing,
    E::InstructionFallbackNotFound,
    E::InstructionDidNotDeserialize,
    E::InstructionDidNotSerialize,
    E::IdlInstructionStub,
    E::IdlInstructionInvalidProgram,
    E::IdlAccountNotEmpty,
    E::EventInstructionStub,
    E::ConstraintMut,
    E::ConstraintHasOne,
    E::ConstraintSigner,
    E::ConstraintRaw,
    E::ConstraintOwner,
    E::ConstraintRentExempt,
    E::ConstraintSeeds,
    E::ConstraintExecutable,
    E::ConstraintState,
    E::ConstraintAssociated,
    E::ConstraintAssociatedInit,
    E::ConstraintClose,
    E::ConstraintAddress,
    E::ConstraintZero,
    E::ConstraintTokenMint,
    E::ConstraintTokenOwner,
    E::ConstraintMintMintAuthority,
    E::ConstraintMintFreezeAuthority,
    E::ConstraintMintDecimals,
    E::ConstraintSpace,
    E::ConstraintAccountIsNone,
    E::ConstraintTokenTokenProgram,
    E::ConstraintMintTokenProgram,
    E::ConstraintAssociatedTokenTokenProgram,
    E::ConstraintMintGroupPointerExtension,
    E::ConstraintMintGroupPointerExtensionAuthority,
    E::ConstraintMintGroupPointerExtensionGroupAddress,
    E::ConstraintMintGroupMemberPointerExtension,
    E::ConstraintMintGroupMemberPointerExtensionAuthority,
    E::ConstraintMintGroupMemberPointerExtensionMemberAddress,
    E::ConstraintMintMetadataPointerExtension,
    E::ConstraintMintMetadataPointerExtensionAuthority,
    E::ConstraintMintMetadataPointerExtensionMetadataAddress,
    E::ConstraintMintCloseAuthorityExtension,
    E::ConstraintMintCloseAuthorityExtensionAuthority,
    E::ConstraintMintPermanentDelegateExtension,
    E::ConstraintMintPermanentDelegateExtensionDelegate,
    E::ConstraintMintTransferHookExtension,
    E::ConstraintMintTransferHookExtensionAuthority,
    E::ConstraintMintTransferHookExtensionProgramId,
    E::ConstraintDuplicateMutableAccount,
    E::AccountAlreadyMigrated,
    E::AccountNotMigrated,
    E::ConstraintMintPausableExtension,
    E::ConstraintMintPausableAuthority,
    E::RequireViolated,
    E::RequireEqViolated,
    E::RequireKeysEqViolated,
    E::RequireNeqViolated,
    E::RequireKeysNeqViolated,
    E::RequireGtViolated,
    E::RequireGteViolated,
    E::AccountDiscriminatorAlreadySet,
    E::AccountDiscriminatorNotFound,
    E::AccountDiscriminatorMismatch,
    E::AccountDidNotDeserialize,
    E::AccountDidNotSerialize,
    E::AccountNotEnoughKeys,
    E::AccountNotMutable,
    E::AccountOwnedByWrongProgram,
    E::InvalidProgramId,
    E::InvalidProgramExecutable,
    E::AccountNotSigner,
    E::AccountNotSystemOwned,
    E::AccountNotInitialized,
    E::AccountNotProgramData,
    E::AccountNotAssociatedTokenAccount,
    E::AccountSysvarMismatch,
    E::AccountReallocExceedsLimit,
    E::AccountDuplicateReallocs,
    E::DeclaredProgramIdMismatch,
    E::TryingToInitPayerAsProgramAccount,
    E::InvalidNumericConversion,
];

#[cfg(test)]
mod tests {
    use super::*;
    use iomesh::error::IomeshError;

    #[test]
    fn iomesh_errors_decode_by_name_and_message() {
        let code = u32::from(IomeshError::NotRenter);
        let error = decode(&iomesh::ID, code).unwrap();
        assert_eq!(error.name, "NotRenter");
        assert_eq!(error.message, IomeshError::NotRenter.to_string());
        let code = u32::from(IomeshError::LeaseNotPending);
        assert_eq!(decode(&iomesh::ID, code).unwrap().name, "LeaseNotPending");
        assert_eq!(iomesh_error_code("LeaseNotPending"), Some(code));
    }

    #[test]
    fn idl_errors_match_the_program() {
        // The first and the last variant pin both ends of the table.
        let first = decode(&iomesh::ID, u32::from(IomeshError::MathOverflow)).unwrap();
        assert_eq!(first.message, IomeshError::MathOverflow.to_string());
        let last = decode(
            &iomesh::ID,
            u32::from(IomeshError::ActiveLeasePaidOutNotAccrued),
        )
        .unwrap();
        assert_eq!(last.name, "ActiveLeasePaidOutNotAccrued");
    }

    #[test]
    fn anchor_errors_decode() {
        let error = decode(&iomesh::ID, u32::from(E::ConstraintSeeds)).unwrap();
        assert_eq!(error.name, "ConstraintSeeds");
        assert_eq!(error.code, 2006);
        let error = decode(&iomesh::ID, 3012).unwrap();
        assert_eq!(error.name, "AccountNotInitialized");
        let codes: std::collections::HashSet<u32> =
            ANCHOR_ERRORS.iter().map(|e| u32::from(*e)).collect();
        assert_eq!(codes.len(), ANCHOR_ERRORS.len(), "codes are unique");
    }

    #[test]
    fn token_errors_decode_for_the_token_programs_and_cpis() {
        let error = decode(&spl_token::ID, 1).unwrap();
        assert_eq!(error.name, "InsufficientFunds");
        assert_eq!(decode(&iomesh::ID, 1).unwrap().name, "InsufficientFunds");
        assert_eq!(
            decode(&spl_associated_token_account::program::ID, 0)
                .unwrap()
                .name,
            "InvalidOwner"
        );
        assert_eq!(decode(&iomesh::ID, 5999), None);
    }
}
