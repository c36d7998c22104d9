//! Compute units for natively hosted programs.
//!
//! Native code is not metered instruction by instruction as SBF code is, and
//! program-test's adapter charges a flat 1 unit. The host charges instead:
//! - the program's own work, as the estimate the host was given says (a
//!   program's cost model; none means 0);
//! - what the SBF runtime charges for the calls that pass through the host:
//!   `sol_log_` (the base syscall cost or the message's length),
//!   `sol_log_data` (the base cost, once more per field, plus the bytes) and
//!   `sol_invoke_signed` (the invoke cost plus the instruction and the
//!   accounts' data per `cpi_bytes_per_unit`); the callee's own compute is
//!   metered by the runtime as ever.
//!
//! It then logs `Program X consumed N of M compute units` as the SBF loader
//! does, so `unitsConsumed`, the log and a `SetComputeUnitLimit` agree.

use solana_account_info::AccountInfo;
use solana_instruction::Instruction;
use solana_instruction_error::InstructionError;
use solana_program_runtime::execution_budget::SVMTransactionExecutionCost;
use solana_program_test::InvokeContext;
use std::cell::Cell;

thread_local! {
    /// The address of the running hosted instruction's `InvokeContext`.
    static CONTEXT: Cell<usize> = const { Cell::new(0) };
}

/// Makes `invoke_context` the one host charges go to until dropped (then the
/// enclosing one again: hosted programs nest through CPIs).
pub(crate) struct Metering(usize);

impl Metering {
    pub(crate) fn enter(invoke_context: &InvokeContext) -> Self {
        let address = invoke_context as *const InvokeContext as usize;
        Metering(CONTEXT.with(|c| c.replace(address)))
    }
}

impl Drop for Metering {
    fn drop(&mut self) {
        CONTEXT.with(|c| c.set(self.0));
    }
}

/// Calls `f` with the running hosted instruction's `InvokeContext`, if any.
fn with_running<T>(f: impl FnOnce(&InvokeContext) -> T) -> Option<T> {
    let address = CONTEXT.with(Cell::get);
    if address == 0 {
        return None;
    }
    // SAFETY: the address is that of the `InvokeContext` whose hosted
    // instruction is running on this thread (`Metering` is dropped before it
    // returns), and callers only read it or borrow its meter's `RefCell`.
    Some(f(unsafe { &*(address as *const InvokeContext) }))
}

/// Charges what `units` computes from the runtime's cost table to the
/// running hosted instruction. Outside a hosted program nothing is charged.
pub(crate) fn charge(
    units: impl FnOnce(&SVMTransactionExecutionCost) -> u64,
) -> Result<(), InstructionError> {
    with_running(|invoke_context| {
        invoke_context
            .consume_checked(units(invoke_context.get_execution_cost()))
            .map_err(|_| InstructionError::ComputationalBudgetExceeded)
    })
    .unwrap_or(Ok(()))
}

/// Why a callee failed in a way program-test cannot report: out of compute
/// units when the meter is empty, else the runtime's catch-all.
pub(crate) fn callee_failure() -> InstructionError {
    use solana_program_runtime::solana_sbpf::vm::ContextObject;
    match with_running(|invoke_context| invoke_context.get_remaining()) {
        Some(0) => InstructionError::ComputationalBudgetExceeded,
        _ => InstructionError::ProgramFailedToComplete,
    }
}

/// `sol_log_`'s charge for `message`.
pub(crate) fn log_units(message: &str) -> impl FnOnce(&SVMTransactionExecutionCost) -> u64 {
    let length = message.len() as u64;
    move |cost| cost.syscall_base_cost.max(length)
}

/// `sol_log_data`'s charge for `fields`.
pub(crate) fn log_data_units(fields: &[&[u8]]) -> impl FnOnce(&SVMTransactionExecutionCost) -> u64 {
    let count = fields.len() as u64;
    let bytes: u64 = fields.iter().map(|f| f.len() as u64).sum();
    move |cost| {
        cost.syscall_base_cost
            .saturating_mul(count.saturating_add(1))
            .saturating_add(bytes)
    }
}

/// `sol_invoke_signed`'s own charge (the callee's compute comes on top).
pub(crate) fn invoke_units(
    instruction: &Instruction,
    account_infos: &[AccountInfo],
) -> impl FnOnce(&SVMTransactionExecutionCost) -> u64 {
    // An account meta is its key and two flags.
    let instruction_bytes = (instruction.data.len() + instruction.accounts.len() * 34) as u64;
    let account_bytes = account_infos
        .iter()
        .map(|a| a.data_len() as u64)
        .sum::<u64>();
    move |cost| {
        let per_unit = cost.cpi_bytes_per_unit.max(1);
        cost.invoke_units
            .saturating_add(instruction_bytes / per_unit)
            .saturating_add(account_bytes / per_unit)
    }
}
