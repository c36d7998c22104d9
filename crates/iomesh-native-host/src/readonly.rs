//! Read-only accounts stay read-only: what the program changed in an account
//! the transaction passed read-only fails the instruction.

use crate::break_rule;
use solana_account_info::AccountInfo;
use solana_instruction_error::InstructionError;
use solana_program_entrypoint::ProcessInstruction;
use solana_program_error::ProgramResult;
use solana_pubkey::Pubkey;
use std::cell::RefCell;

thread_local! {
    /// The natively hosted programs running on this thread, innermost last.
    static RUNNING: RefCell<Vec<Pubkey>> = const { RefCell::new(Vec::new()) };
}

/// The innermost natively hosted program running on this thread.
pub(crate) fn current_program() -> Option<Pubkey> {
    RUNNING.with(|running| running.borrow().last().copied())
}

/// Pops the running program when the call returns, even by a panic.
struct Running;
impl Running {
    fn enter(program_id: &Pubkey) -> Self {
        RUNNING.with(|running| running.borrow_mut().push(*program_id));
        Running
    }
}
impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.with(|running| running.borrow_mut().pop());
    }
}

/// What the runtime would compare of one read-only account.
struct Before {
    index: usize,
    lamports: u64,
    owner: Pubkey,
    data: Vec<u8>,
}

/// Calls `process_instruction` and fails it, as the SBF runtime does, when it
/// changed the lamports, data or owner of an account passed read-only.
pub fn run_checked(
    process_instruction: ProcessInstruction,
    program_id: &Pubkey,
    accounts: &[AccountInfo],
    data: &[u8],
) -> ProgramResult {
    let before: Vec<Before> = accounts
        .iter()
        .enumerate()
        .filter(|(index, account)| {
            // A duplicate is compared once, at its first position.
            !account.is_writable && accounts[..*index].iter().all(|a| a.key != account.key)
        })
        .map(|(index, account)| Before {
            index,
            lamports: account.lamports(),
            owner: *account.owner,
            data: account.data.borrow().to_vec(),
        })
        .collect();
    {
        let _running = Running::enter(program_id);
        process_instruction(program_id, accounts, data)?;
    }
    for was in &before {
        let now = &accounts[was.index];
        let broken = if now.lamports() != was.lamports {
            Some(InstructionError::ReadonlyLamportChange)
        } else if *now.owner != was.owner {
            Some(InstructionError::ModifiedProgramId)
        } else if **now.data.borrow() != was.data[..] {
            Some(InstructionError::ReadonlyDataModified)
        } else {
            None
        };
        if let Some(error) = broken {
            return Err(break_rule(error));
        }
    }
    Ok(())
}
