//! Native hosting of the program (no SBF toolchain needed): solana-program-test
//! and the localnet call the program through this function.

use anchor_lang::prelude::*;
use anchor_lang::solana_program::entrypoint::ProgramResult;

/// The program's entrypoint with the lifetimes a native host passes.
///
/// Anchor's `entry` wants the program id, the accounts and the data to share one
/// lifetime; a native host hands them out with independent ones. All three live
/// for the whole call, which is all `entry` relies on.
pub fn process_instruction<'a, 'b, 'c, 'd>(
    program_id: &'a Pubkey,
    accounts: &'b [AccountInfo<'c>],
    data: &'d [u8],
) -> ProgramResult {
    // SAFETY: only lifetimes change; every reference outlives this call and
    // `entry` does not keep any of them beyond it.
    let (program_id, accounts, data): (&'c Pubkey, &'c [AccountInfo<'c>], &'c [u8]) = unsafe {
        (
            std::mem::transmute::<&'a Pubkey, &'c Pubkey>(program_id),
            std::mem::transmute::<&'b [AccountInfo<'c>], &'c [AccountInfo<'c>]>(accounts),
            std::mem::transmute::<&'d [u8], &'c [u8]>(data),
        )
    };
    crate::entry(program_id, accounts, data)
}
