//! The host's rules on small native programs in a real bank (program-test):
//! a change to an account passed read-only fails with the runtime's error,
//! and compute is charged (the program's estimate, its logs) and limited as
//! on SBF, with the loader's `consumed` line.

use solana_account::Account;
use solana_account_info::AccountInfo;
use solana_compute_budget_interface::ComputeBudgetInstruction;
use solana_instruction::{AccountMeta, Instruction};
use solana_instruction_error::InstructionError;
use solana_program_error::ProgramResult;
use solana_program_test::{ProgramTest, ProgramTestContext};
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use solana_transaction::Transaction;
use solana_transaction_error::TransactionError;

const PROGRAM: Pubkey = Pubkey::new_from_array([7; 32]);

/// What the toy program does, by the first byte of its data.
const WRITE_DATA: u8 = 0;
const MOVE_LAMPORTS: u8 = 1;
const LOG: u8 = 2;
const CPI_TRANSFER: u8 = 3;

fn toy(_program_id: &Pubkey, accounts: &[AccountInfo], data: &[u8]) -> ProgramResult {
    match data.first() {
        Some(&WRITE_DATA) => accounts[0].try_borrow_mut_data()?[0] ^= 0xff,
        Some(&MOVE_LAMPORTS) => {
            **accounts[0].try_borrow_mut_lamports()? -= 1;
            **accounts[1].try_borrow_mut_lamports()? += 1;
        }
        Some(&LOG) => solana_msg::msg!("one line"),
        Some(&CPI_TRANSFER) => {
            let transfer =
                solana_system_interface::instruction::transfer(accounts[0].key, accounts[1].key, 1);
            solana_invoke::invoke(&transfer, &accounts[..3])?;
        }
        _ => {}
    }
    Ok(())
}

/// The toy program's estimate of its own work: bytes 1..9 of its data.
fn toy_estimate(data: &[u8], _accounts: usize) -> u64 {
    data.get(1..9)
        .map(|bytes| u64::from_le_bytes(bytes.try_into().unwrap()))
        .unwrap_or(0)
}

async fn start() -> (ProgramTestContext, Pubkey, Pubkey) {
    let mut test = ProgramTest::new(
        "toy",
        PROGRAM,
        iomesh_native_host::checked_processor!(toy, toy_estimate),
    );
    test.prefer_bpf(false);
    let (owned, other) = (Pubkey::new_unique(), Pubkey::new_unique());
    for address in [owned, other] {
        test.add_account(
            address,
            Account {
                lamports: 10_000_000,
                data: vec![7; 16],
                owner: PROGRAM,
                ..Account::default()
            },
        );
    }
    let context = test.start_with_context().await;
    iomesh_native_host::install_cpi_checks();
    (context, owned, other)
}

struct Outcome {
    result: Result<(), TransactionError>,
    logs: Vec<String>,
    units: u64,
}

async fn send(context: &mut ProgramTestContext, instructions: &[Instruction]) -> Outcome {
    let blockhash = context.banks_client.get_latest_blockhash().await.unwrap();
    let tx = Transaction::new_signed_with_payer(
        instructions,
        Some(&context.payer.pubkey()),
        &[&context.payer],
        blockhash,
    );
    let outcome = context
        .banks_client
        .process_transaction_with_metadata(tx)
        .await
        .unwrap();
    let metadata = outcome.metadata.expect("metadata");
    Outcome {
        result: outcome.result,
        logs: metadata.log_messages,
        units: metadata.compute_units_consumed,
    }
}

fn toy_ix(action: u8, estimate: u64, accounts: Vec<AccountMeta>) -> Instruction {
    let mut data = vec![action];
    data.extend_from_slice(&estimate.to_le_bytes());
    Instruction::new_with_bytes(PROGRAM, &data, accounts)
}

#[tokio::test]
async fn changing_a_read_only_account_fails_with_the_runtime_error() {
    let (mut context, owned, other) = start().await;

    let write = |writable: bool| {
        let meta = if writable {
            AccountMeta::new(owned, false)
        } else {
            AccountMeta::new_readonly(owned, false)
        };
        toy_ix(WRITE_DATA, 0, vec![meta])
    };
    let refused = send(&mut context, &[write(false)]).await;
    assert_eq!(
        refused.result,
        Err(TransactionError::InstructionError(
            0,
            InstructionError::ReadonlyDataModified
        )),
        "{:#?}",
        refused.logs
    );
    let unchanged = context
        .banks_client
        .get_account(owned)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(unchanged.data, vec![7; 16], "nothing of the write is kept");

    let moved = toy_ix(
        MOVE_LAMPORTS,
        0,
        vec![
            AccountMeta::new_readonly(owned, false),
            AccountMeta::new(other, false),
        ],
    );
    let refused = send(&mut context, &[moved]).await;
    assert_eq!(
        refused.result,
        Err(TransactionError::InstructionError(
            0,
            InstructionError::ReadonlyLamportChange
        ))
    );

    // Passed writable, the same write lands.
    let landed = send(&mut context, &[write(true)]).await;
    assert_eq!(landed.result, Ok(()), "{:#?}", landed.logs);
    let changed = context
        .banks_client
        .get_account(owned)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed.data[0], 7 ^ 0xff);
}

/// The `consumed` line the host logged for the toy program: (N, M).
fn consumed(logs: &[String]) -> (u64, u64) {
    let prefix = format!("Program {PROGRAM} consumed ");
    let lines: Vec<&String> = logs.iter().filter(|l| l.starts_with(&prefix)).collect();
    assert_eq!(lines.len(), 1, "one consumed line: {logs:#?}");
    let words: Vec<&str> = lines[0][prefix.len()..].split(' ').collect();
    assert_eq!(
        words[1..],
        ["of", words[2], "compute", "units"],
        "{logs:#?}"
    );
    (words[0].parse().unwrap(), words[2].parse().unwrap())
}

#[tokio::test]
async fn compute_is_the_estimate_plus_the_logs_and_the_limit_holds() {
    let (mut context, owned, _) = start().await;
    let estimate = 50_000;

    // 1 (the adapter's own charge) + the estimate + 100 for one msg! line.
    let limit = ComputeBudgetInstruction::set_compute_unit_limit(200_000);
    let logged = toy_ix(LOG, estimate, vec![AccountMeta::new_readonly(owned, false)]);
    let sent = send(&mut context, &[logged.clone(), limit]).await;
    assert_eq!(sent.result, Ok(()), "{:#?}", sent.logs);
    assert_eq!(consumed(&sent.logs), (1 + estimate + 100, 200_000));
    let program = PROGRAM.to_string();
    let order: Vec<&str> = sent
        .logs
        .iter()
        .filter(|l| l.contains(&program))
        .map(|l| l.split(' ').nth(2).unwrap())
        .collect();
    assert_eq!(order, ["invoke", "consumed", "success"], "{:#?}", sent.logs);
    // The transaction's units: the toy's plus the compute-budget program's.
    assert!(
        sent.units >= 1 + estimate + 100 && sent.units <= 1 + estimate + 100 + 150,
        "{} units: {:#?}",
        sent.units,
        sent.logs
    );

    // A limit below the estimate stops the instruction, as on SBF.
    let tight = ComputeBudgetInstruction::set_compute_unit_limit(40_000);
    let stopped = send(&mut context, &[logged, tight]).await;
    assert_eq!(
        stopped.result,
        Err(TransactionError::InstructionError(
            0,
            InstructionError::ComputationalBudgetExceeded
        )),
        "{:#?}",
        stopped.logs
    );
    assert_eq!(consumed(&stopped.logs), (40_000, 40_000));
    assert!(
        !stopped.logs.iter().any(|l| l == "Program log: one line"),
        "the program did not run: {:#?}",
        stopped.logs
    );
}

#[tokio::test]
async fn a_callee_out_of_compute_fails_the_transaction_as_on_a_validator() {
    let (mut context, _, to) = start().await;
    let payer = context.payer.pubkey();
    let transfer = toy_ix(
        CPI_TRANSFER,
        1_000,
        vec![
            AccountMeta::new(payer, true),
            AccountMeta::new(to, false),
            AccountMeta::new_readonly(solana_system_interface::program::ID, false),
        ],
    );
    let roomy = ComputeBudgetInstruction::set_compute_unit_limit(200_000);
    let sent = send(&mut context, &[transfer.clone(), roomy]).await;
    assert_eq!(sent.result, Ok(()), "{:#?}", sent.logs);
    let (needed, _) = consumed(&sent.logs);
    // The adapter, the estimate, the invoke (946 or 1,000) and System's 150.
    assert!(
        (1 + 1_000 + 946 + 150..=1 + 1_000 + 1_000 + 150 + 10).contains(&needed),
        "{needed}: {:#?}",
        sent.logs
    );

    // 100 units short: the System program (150 units) runs out inside the
    // CPI. program-test would panic; the host fails the transaction.
    let short = ComputeBudgetInstruction::set_compute_unit_limit(needed as u32 - 100);
    let sent = send(&mut context, &[transfer, short]).await;
    assert_eq!(
        sent.result,
        Err(TransactionError::InstructionError(
            0,
            InstructionError::ComputationalBudgetExceeded
        )),
        "{:#?}",
        sent.logs
    );
    let system = solana_system_interface::program::ID.to_string();
    let invokes = sent
        .logs
        .iter()
        .filter(|l| l.starts_with(&format!("Program {system} invoke")))
        .count();
    assert_eq!(invokes, 1, "the CPI logged once: {:#?}", sent.logs);
}
