//! Hosting a native (non-SBF) Solana program in a real bank, with the rules
//! the SBF runtime enforces on accounts.
//!
//! `solana-program-test`'s builtin adapter runs a program compiled for the
//! host, but it is lenient where a validator is strict: a change to an
//! account the transaction passed read-only is silently dropped (a validator
//! fails the transaction), and a cross-program invocation that asks for more
//! privilege than the caller has (a read-only account as writable, a signer
//! the caller does not hold) panics inside program-test instead of failing.
//! A program bug of either kind would pass every native test and break on
//! mainnet, so this crate puts the checks back:
//!
//! - [`checked_processor!`] is `processor!` plus a comparison of every
//!   read-only account before and after the call; a change fails the
//!   instruction with the runtime's own error (`ReadonlyLamportChange`,
//!   `ReadonlyDataModified`, `ModifiedProgramId`);
//! - [`install_cpi_checks`] wraps program-test's syscall stubs so that a CPI
//!   escalating privileges fails with `PrivilegeEscalation`, and one naming an
//!   account the caller did not pass fails with `MissingAccount`.
//!
//! - compute units are charged as `meter` describes: the program's own work
//!   by the estimate given to [`checked_processor!`], logs, events and CPIs
//!   as the SBF runtime charges them, with the loader's `consumed` line;
//! - its logs are a validator's: one `invoke [N]` and one closing line per
//!   invocation, at its depth, events as `Program data:` lines and `msg!`
//!   as `Program log:` lines (see `logs`).
//!
//! A rule broken deep inside the program must fail the whole transaction,
//! whatever the program does with the error, as on a validator. The broken
//! rule is therefore recorded per thread and the adapter reports it in place
//! of whatever the program returned.

mod cpi;
mod logs;
mod meter;
mod readonly;

pub use cpi::install_cpi_checks;
pub use readonly::run_checked;

#[doc(hidden)]
pub use solana_program_test as program_test;
#[doc(hidden)]
pub use {
    solana_account_info::AccountInfo, solana_program_error::ProgramResult, solana_pubkey::Pubkey,
};

use solana_instruction_error::InstructionError;
use solana_program_entrypoint::ProcessInstruction;
use solana_program_error::ProgramError;
use solana_program_test::InvokeContext;
use std::cell::Cell;

/// The error code a broken runtime rule travels under inside the program
/// (replaced by the runtime's error before the bank sees it).
const RULE_BROKEN: u32 = 0x1d1e_5b0f;

thread_local! {
    static BROKEN_RULE: Cell<Option<InstructionError>> = const { Cell::new(None) };
}

/// Records that the running instruction broke a runtime rule and returns the
/// error that carries it out of the program.
fn break_rule(error: InstructionError) -> ProgramError {
    BROKEN_RULE.with(|rule| {
        // The first broken rule is the one a validator would have stopped at.
        let first = rule.take().unwrap_or(error);
        rule.set(Some(first));
    });
    ProgramError::Custom(RULE_BROKEN)
}

/// A program's estimate of its own compute for an instruction: its data and
/// how many accounts it was given.
pub type EstimateUnits = fn(&[u8], usize) -> u64;

/// No estimate: the program's own work is charged nothing.
pub fn no_estimate(_data: &[u8], _accounts: usize) -> u64 {
    0
}

/// Runs `process_instruction` through program-test's builtin adapter,
/// charges its compute (see `meter`) and reports a broken runtime rule as the
/// runtime's error. Used by [`checked_processor!`]; not meant to be called
/// directly.
#[doc(hidden)]
pub fn invoke(
    process_instruction: ProcessInstruction,
    estimate: EstimateUnits,
    invoke_context: &mut InvokeContext,
) -> Result<u64, Box<dyn std::error::Error>> {
    use solana_program_runtime::solana_sbpf::vm::ContextObject;

    let outermost = invoke_context.get_stack_height() <= 1;
    if outermost {
        BROKEN_RULE.with(|rule| rule.set(None));
    }
    let instruction_context = invoke_context
        .transaction_context
        .get_current_instruction_context()?;
    let program_id = instruction_context.get_program_key().copied().ok();
    let own_units = estimate(
        instruction_context.get_instruction_data(),
        instruction_context.get_number_of_instruction_accounts() as usize,
    );
    let remaining_before = invoke_context.get_remaining();
    let _collecting = logs::Collecting::enter(invoke_context);
    let logged = logs::position();
    // Out of units before it starts: the SBF runtime stops it there too.
    let result = invoke_context.consume_checked(own_units).and_then(|()| {
        let _metering = meter::Metering::enter(invoke_context);
        solana_program_test::invoke_builtin_function(process_instruction, invoke_context)
    });
    if let Some(program_id) = program_id {
        // The adapter closes with its own `success` or `failed` line.
        logs::drop_duplicates(logged, &program_id, true);
        let consumed = remaining_before.saturating_sub(invoke_context.get_remaining());
        logs::log_line(&format!(
            "Program {program_id} consumed {consumed} of {remaining_before} compute units"
        ));
    }
    let broken = BROKEN_RULE.with(|rule| {
        let broken = rule.take();
        if !outermost {
            // A nested native call leaves the rule for its caller to report too.
            rule.set(broken.clone());
        }
        broken
    });
    match broken {
        Some(error) => Err(Box::new(error)),
        None => result,
    }
}

/// `solana_program_test::processor!` with the runtime's account rules: pass
/// the program's native entrypoint (`fn(&Pubkey, &[AccountInfo], &[u8]) ->
/// ProgramResult`) to `ProgramTest::new` or `Bank::add_builtin`, and
/// optionally the program's estimate of its own compute ([`EstimateUnits`]).
#[macro_export]
macro_rules! checked_processor {
    ($process_instruction:path) => {
        $crate::checked_processor!($process_instruction, $crate::no_estimate)
    };
    ($process_instruction:path, $estimate:path) => {{
        fn checked(
            program_id: &$crate::Pubkey,
            accounts: &[$crate::AccountInfo],
            data: &[u8],
        ) -> $crate::ProgramResult {
            $crate::run_checked($process_instruction, program_id, accounts, data)
        }
        Some(|vm, _arg0, _arg1, _arg2, _arg3, _arg4| {
            // SAFETY: as in program-test's `processor!`: the builtin is called
            // with a pointer just past the VM's runtime environment key.
            let vm = unsafe {
                &mut *((vm as *mut u64)
                    .offset(-($crate::program_test::get_runtime_environment_key() as isize))
                    as *mut $crate::program_test::EbpfVm<$crate::program_test::InvokeContext>)
            };
            vm.program_result = $crate::invoke(checked, $estimate, vm.context_object_pointer)
                .map_err(|err| $crate::program_test::EbpfError::SyscallError(err))
                .into();
        })
    }};
}
