//! The program's compute units: the cost model (`iomesh::compute`) covers
//! every instruction of the IDL with its derived accounts, the documented
//! table (`docs/compute-units.md`) is the model's, and a hosted instruction is
//! charged its estimate on top of what the runtime meters (its CPIs' callees,
//! its logs), within the transaction's limit.

mod common;

use common::*;
use iomesh::compute::{estimated_units, PDA_ACCOUNTS};
use serde_json::Value;
use solana_compute_budget_interface::ComputeBudgetInstruction;
use solana_instruction_error::InstructionError;
use solana_signer::Signer;
use solana_transaction_error::TransactionError;
use std::collections::BTreeMap;

fn idl() -> Value {
    serde_json::from_str(include_str!("../../../idl/iomesh.json")).expect("IDL")
}

/// An IDL instruction's accounts, nested groups flattened.
fn flat_accounts(accounts: &Value) -> Vec<&Value> {
    let mut flat = Vec::new();
    for account in accounts.as_array().expect("accounts") {
        match account.get("accounts") {
            Some(nested) => flat.extend(flat_accounts(nested)),
            None => flat.push(account),
        }
    }
    flat
}

/// Per IDL instruction: its discriminator, its named accounts and how many of
/// them are derived.
fn idl_instructions() -> BTreeMap<String, (Vec<u8>, usize, u64)> {
    idl()["instructions"]
        .as_array()
        .expect("instructions")
        .iter()
        .map(|ix| {
            let accounts = flat_accounts(&ix["accounts"]);
            let pdas = accounts.iter().filter(|a| a.get("pda").is_some()).count() as u64;
            let discriminator = ix["discriminator"]
                .as_array()
                .expect("discriminator")
                .iter()
                .map(|b| b.as_u64().unwrap() as u8)
                .collect();
            (
                ix["name"].as_str().unwrap().to_string(),
                (discriminator, accounts.len(), pdas),
            )
        })
        .collect()
}

#[test]
fn the_cost_model_covers_every_instruction_with_the_idls_derived_accounts() {
    let idl = idl_instructions();
    let model: BTreeMap<String, (Vec<u8>, u64)> = PDA_ACCOUNTS
        .iter()
        .map(|(name, discriminator, pdas)| (name.to_string(), (discriminator.to_vec(), *pdas)))
        .collect();
    assert_eq!(
        model.keys().collect::<Vec<_>>(),
        idl.keys().collect::<Vec<_>>(),
        "iomesh::compute::PDA_ACCOUNTS must list every instruction of the IDL"
    );
    for (name, (discriminator, _, pdas)) in &idl {
        assert_eq!(
            model[name],
            (discriminator.clone(), *pdas),
            "{name}: discriminator and derived accounts as in the IDL"
        );
    }
}

/// The table `docs/compute-units.md` holds: every instruction's estimate with
/// its named accounts (remaining accounts add their share on top).
fn rendered_table() -> String {
    let mut table = String::from(
        "| instruction | accounts | derived | estimated units |\n|---|---:|---:|---:|\n",
    );
    for (name, (discriminator, accounts, pdas)) in idl_instructions() {
        let units = estimated_units(&discriminator, accounts);
        table.push_str(&format!("| `{name}` | {accounts} | {pdas} | {units} |\n"));
    }
    table
}

#[test]
fn the_documented_table_is_the_models() {
    let doc = include_str!("../../../docs/compute-units.md");
    let table = rendered_table();
    assert!(
        doc.contains(&table),
        "docs/compute-units.md is out of date; its table must read:\n\n{table}"
    );
}

/// Every `Program <program> consumed N of M compute units` line: N.
fn consumed_by(logs: &[String], program: &str) -> Vec<u64> {
    let prefix = format!("Program {program} consumed ");
    logs.iter()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|rest| rest.split(' ').next().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test]
async fn an_instruction_is_charged_its_estimate_and_what_the_runtime_meters() {
    let mut env = TestEnv::new().await;
    let node = env.register_node(4).await;
    let renter = env.wallet().await;
    let usdc = env.usdc;
    env.fund(&renter.pubkey(), usdc, 1_000 * TOKEN).await;
    let request = |nonce| LeaseRequest::new(&renter, &node, usdc, nonce);

    // create_lease: the program, then CPIs into the System and Token programs.
    let create = env.create_lease_ix(&request(1));
    let estimate = estimated_units(&create.data, create.accounts.len());
    let sent = env
        .send_as(&renter, std::slice::from_ref(&create), &[])
        .await;
    sent.result.clone().expect("create_lease");
    let program = iomesh::ID.to_string();
    let own = consumed_by(&sent.logs, &program);
    assert_eq!(own.len(), 1, "one consumed line: {:#?}", sent.logs);
    let token: u64 = consumed_by(&sent.logs, &anchor_spl::token::spl_token::ID.to_string())
        .iter()
        .sum();
    assert!(token > 0, "the token program metered: {:#?}", sent.logs);
    let cpis = sent
        .logs
        .iter()
        .filter(|l| l.ends_with(" invoke [2]"))
        .count() as u64;
    assert!(cpis >= 2, "{:#?}", sent.logs);
    // Each CPI costs the runtime's invoke units (946 or 1,000) plus bytes.
    let lower = estimate + token + cpis * 946;
    let upper = estimate + token + cpis * (1_000 + 150 + 100) + 10_000;
    assert!(
        (lower..=upper).contains(&own[0]),
        "create_lease consumed {} (estimate {estimate}, token program {token}, {cpis} CPIs): {:#?}",
        own[0],
        sent.logs
    );
    assert_eq!(sent.units, own[0], "the bank's units are the program's");
    println!(
        "create_lease: {} units = estimate {estimate} + token program {token} + {cpis} CPIs, logs and events",
        own[0]
    );

    // A limit below the estimate stops the instruction, as on SBF.
    let create = env.create_lease_ix(&request(2));
    let tight = ComputeBudgetInstruction::set_compute_unit_limit((estimate / 2) as u32);
    let sent = env.send_as(&renter, &[create, tight], &[]).await;
    assert_eq!(
        sent.result,
        Err(TransactionError::InstructionError(
            0,
            InstructionError::ComputationalBudgetExceeded
        )),
        "{:#?}",
        sent.logs
    );
    assert_eq!(consumed_by(&sent.logs, &program), vec![estimate / 2]);
}
