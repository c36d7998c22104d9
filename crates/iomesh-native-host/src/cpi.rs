//! Cross-program invocations checked for privilege before program-test runs
//! them (program-test panics on an escalation instead of failing).

use crate::break_rule;
use solana_account_info::AccountInfo;
use solana_instruction::Instruction;
use solana_instruction_error::InstructionError;
use solana_program_error::ProgramResult;
use solana_pubkey::Pubkey;
use solana_sysvar::program_stubs::{set_syscall_stubs, SyscallStubs};
use std::sync::Once;

/// Wraps the syscall stubs program-test installed, once per process, and
/// routes `msg!` into the transaction's log. Call it after the first
/// `ProgramTest` has started (that is when program-test installs its
/// stubs); later calls do nothing.
pub fn install_cpi_checks() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        // Swap in a placeholder to take program-test's stubs, then wrap them.
        let inner = set_syscall_stubs(Box::new(Placeholder));
        set_syscall_stubs(Box::new(CheckedStubs { inner }));
        // msg! does not go through the stubs: solana-msg calls its hook.
        solana_msg::set_host_logger(crate::logs::log_message);
    });
}

struct Placeholder;
impl SyscallStubs for Placeholder {}

struct CheckedStubs {
    inner: Box<dyn SyscallStubs>,
}

/// The privilege the caller holds over `meta`'s account, or the rule the
/// invocation breaks.
fn check_privilege(
    instruction: &Instruction,
    account_infos: &[AccountInfo],
    signers: &[Pubkey],
) -> Result<(), InstructionError> {
    for meta in &instruction.accounts {
        let Some(info) = account_infos.iter().find(|info| *info.key == meta.pubkey) else {
            return Err(InstructionError::MissingAccount);
        };
        if meta.is_writable && !info.is_writable {
            return Err(InstructionError::PrivilegeEscalation);
        }
        if meta.is_signer && !info.is_signer && !signers.contains(&meta.pubkey) {
            return Err(InstructionError::PrivilegeEscalation);
        }
    }
    Ok(())
}

impl SyscallStubs for CheckedStubs {
    fn sol_invoke_signed(
        &self,
        instruction: &Instruction,
        account_infos: &[AccountInfo],
        signers_seeds: &[&[&[u8]]],
    ) -> ProgramResult {
        // The PDAs the caller signs for. A program hosted without the
        // checked adapter has no known id, so its invocations are not checked.
        let Some(caller) = crate::readonly::current_program() else {
            return self
                .inner
                .sol_invoke_signed(instruction, account_infos, signers_seeds);
        };
        let signers: Vec<Pubkey> = signers_seeds
            .iter()
            .filter_map(|seeds| Pubkey::create_program_address(seeds, &caller).ok())
            .collect();
        if let Err(error) = check_privilege(instruction, account_infos, &signers) {
            return Err(break_rule(error));
        }
        if let Err(error) =
            crate::meter::charge(crate::meter::invoke_units(instruction, account_infos))
        {
            return Err(break_rule(error));
        }
        let logged = crate::logs::position();
        // program-test panics when the callee fails with an error a program
        // cannot be handed (out of compute units, say); a validator fails the
        // transaction with it, so the host does too.
        let invoked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.inner
                .sol_invoke_signed(instruction, account_infos, signers_seeds)
        }));
        let Ok(result) = invoked else {
            crate::logs::drop_duplicates(logged, &instruction.program_id, false);
            return Err(break_rule(crate::meter::callee_failure()));
        };
        // The stub adds its own `success` line only when the callee succeeded.
        crate::logs::drop_duplicates(logged, &instruction.program_id, result.is_ok());
        result
    }

    fn sol_log(&self, message: &str) {
        self.inner.sol_log(message)
    }
    fn sol_log_compute_units(&self) {
        self.inner.sol_log_compute_units()
    }
    fn sol_remaining_compute_units(&self) -> u64 {
        self.inner.sol_remaining_compute_units()
    }
    fn sol_get_sysvar(
        &self,
        sysvar_id_addr: *const u8,
        var_addr: *mut u8,
        offset: u64,
        length: u64,
    ) -> u64 {
        self.inner
            .sol_get_sysvar(sysvar_id_addr, var_addr, offset, length)
    }
    fn sol_get_clock_sysvar(&self, var_addr: *mut u8) -> u64 {
        self.inner.sol_get_clock_sysvar(var_addr)
    }
    fn sol_get_epoch_schedule_sysvar(&self, var_addr: *mut u8) -> u64 {
        self.inner.sol_get_epoch_schedule_sysvar(var_addr)
    }
    fn sol_get_fees_sysvar(&self, var_addr: *mut u8) -> u64 {
        self.inner.sol_get_fees_sysvar(var_addr)
    }
    fn sol_get_rent_sysvar(&self, var_addr: *mut u8) -> u64 {
        self.inner.sol_get_rent_sysvar(var_addr)
    }
    fn sol_get_epoch_rewards_sysvar(&self, var_addr: *mut u8) -> u64 {
        self.inner.sol_get_epoch_rewards_sysvar(var_addr)
    }
    fn sol_get_last_restart_slot(&self, var_addr: *mut u8) -> u64 {
        self.inner.sol_get_last_restart_slot(var_addr)
    }
    fn sol_get_epoch_stake(&self, vote_address: *const u8) -> u64 {
        self.inner.sol_get_epoch_stake(vote_address)
    }
    unsafe fn sol_memcpy(&self, dst: *mut u8, src: *const u8, n: usize) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { self.inner.sol_memcpy(dst, src, n) }
    }
    unsafe fn sol_memmove(&self, dst: *mut u8, src: *const u8, n: usize) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { self.inner.sol_memmove(dst, src, n) }
    }
    unsafe fn sol_memcmp(&self, s1: *const u8, s2: *const u8, n: usize, result: *mut i32) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { self.inner.sol_memcmp(s1, s2, n, result) }
    }
    unsafe fn sol_memset(&self, s: *mut u8, c: u8, n: usize) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { self.inner.sol_memset(s, c, n) }
    }
    fn sol_get_return_data(&self) -> Option<(Pubkey, Vec<u8>)> {
        self.inner.sol_get_return_data()
    }
    fn sol_set_return_data(&self, data: &[u8]) {
        self.inner.sol_set_return_data(data)
    }
    fn sol_log_data(&self, fields: &[&[u8]]) {
        if !crate::logs::log_data(fields) {
            self.inner.sol_log_data(fields)
        }
    }
    fn sol_get_processed_sibling_instruction(&self, index: usize) -> Option<Instruction> {
        self.inner.sol_get_processed_sibling_instruction(index)
    }
    fn sol_get_stack_height(&self) -> u64 {
        self.inner.sol_get_stack_height()
    }
}
