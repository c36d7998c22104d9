//! Transaction logs as a validator writes them.
//!
//! The runtime logs `Program X invoke [N]` and `Program X success` (or
//! `failed`) around every instruction it runs, builtins included. program-
//! test's builtin adapter and its CPI stub log the same lines again (the
//! stub's `invoke` at the caller's depth), so every hosted instruction
//! appeared twice and every CPI at two depths: Anchor's log parser rejects
//! such a log. The adapter's and the stub's copies are removed here. Events
//! (`sol_log_data`) go into the log as `Program data:` lines, where the
//! stub printed them to stdout, and `msg!` lines as `Program log:` lines
//! (through the hook of the workspace's `solana-msg`), where they were
//! printed too.

use solana_program_test::InvokeContext;
use solana_pubkey::Pubkey;
use solana_svm_log_collector::LogCollector;
use std::{cell::RefCell, rc::Rc};

thread_local! {
    /// The running transaction's log, while a hosted program runs.
    static COLLECTOR: RefCell<Option<Rc<RefCell<LogCollector>>>> = const { RefCell::new(None) };
}

/// Makes `invoke_context`'s log the one hosted code writes to until dropped
/// (then the enclosing one again: hosted programs nest through CPIs).
pub(crate) struct Collecting(Option<Rc<RefCell<LogCollector>>>);

impl Collecting {
    pub(crate) fn enter(invoke_context: &InvokeContext) -> Self {
        let log = invoke_context.get_log_collector();
        Collecting(COLLECTOR.with(|c| c.replace(log)))
    }
}

impl Drop for Collecting {
    fn drop(&mut self) {
        COLLECTOR.with(|c| *c.borrow_mut() = self.0.take());
    }
}

/// Lines in the running transaction's log so far.
pub(crate) fn position() -> Option<usize> {
    COLLECTOR.with(|c| c.borrow().as_ref().map(|log| log.borrow().messages.len()))
}

/// Removes the duplicate `invoke` line written at `from` and, if
/// `closing_too`, the duplicate closing line at the end, around a call of
/// `program`. A line that is not the expected duplicate (a truncated log,
/// say) is left alone.
pub(crate) fn drop_duplicates(from: Option<usize>, program: &Pubkey, closing_too: bool) {
    let Some(from) = from else { return };
    COLLECTOR.with(|c| {
        let Some(log) = c.borrow().clone() else {
            return;
        };
        let mut log = log.borrow_mut();
        let closing_ok = format!("Program {program} success");
        let closing_failed = format!("Program {program} failed: ");
        let closes = |line: &String| *line == closing_ok || line.starts_with(&closing_failed);
        if closing_too && log.messages.len() > from + 1 && log.messages.last().is_some_and(closes) {
            let last = log.messages.len() - 1;
            remove(&mut log, last);
        }
        let invoke = format!("Program {program} invoke [");
        if log
            .messages
            .get(from)
            .is_some_and(|l| l.starts_with(&invoke))
        {
            remove(&mut log, from);
        }
    });
}

/// Appends `line` to the running transaction's log, if there is one.
pub(crate) fn log_line(line: &str) {
    COLLECTOR.with(|c| {
        if let Some(log) = c.borrow().as_ref() {
            log.borrow_mut().log(line);
        }
    });
}

fn remove(log: &mut LogCollector, index: usize) {
    let line = log.messages.remove(index);
    log.bytes_written = log.bytes_written.saturating_sub(line.len());
}

/// A hosted program's `msg!`, as the SBF runtime logs it: `Program log:`
/// in the running transaction's log. Outside a hosted program (no log to
/// write to), it is printed as before.
pub(crate) fn log_message(message: &str) {
    if let Err(error) = crate::meter::charge(crate::meter::log_units(message)) {
        crate::break_rule(error);
    }
    let logged = COLLECTOR.with(|c| {
        let Some(log) = c.borrow().clone() else {
            return false;
        };
        log.borrow_mut().log(&format!("Program log: {message}"));
        true
    });
    if !logged {
        println!("{message}");
    }
}

/// `sol_log_data` as the runtime logs it: `Program data: <base64> …`.
/// Returns false outside a hosted program (the caller falls back).
pub(crate) fn log_data(fields: &[&[u8]]) -> bool {
    use base64::{engine::general_purpose::STANDARD, Engine};
    if let Err(error) = crate::meter::charge(crate::meter::log_data_units(fields)) {
        crate::break_rule(error);
    }
    COLLECTOR.with(|c| {
        let Some(log) = c.borrow().clone() else {
            return false;
        };
        let encoded: Vec<String> = fields.iter().map(|f| STANDARD.encode(f)).collect();
        log.borrow_mut()
            .log(&format!("Program data: {}", encoded.join(" ")));
        true
    })
}
