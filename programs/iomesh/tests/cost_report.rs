//! Cost report: bytes and rent of every account type, the wire size of each
//! lease transaction, the signed transactions in a lease's whole life, and the
//! accounts two unrelated leases both write. Prints a report and asserts the
//! targets: Lease ≤ 384 bytes, its rent enough for the two credit accounts its
//! ending may have to create (so that no payer or supplier can block it); a
//! whole life in 3 signed transactions with all rent returned; unrelated
//! leases share no written account except their mint's vault, its payment
//! mint (unswept fees) and the treasury's token account: all per mint, so
//! payouts in one mint already meet at the vault.
//!
//! Run: `cargo test -p iomesh --test cost_report -- --nocapture`

mod common;

use anchor_lang::prelude::{Pubkey, Rent};
use common::*;
use iomesh::state::{AccountSpace, Credit, Lease, Market, Node, PaymentMint};
use solana_keypair::Keypair;
use solana_signer::Signer;
use solana_transaction::Transaction;
use std::collections::BTreeSet;

/// Wire size of a transaction signed by `signers`, the first paying the fee.
fn tx_size(instructions: &[Instruction], signers: &[&Keypair]) -> usize {
    let tx = Transaction::new_signed_with_payer(
        instructions,
        Some(&signers[0].pubkey()),
        signers,
        Default::default(),
    );
    bincode::serialize(&tx).unwrap().len()
}

fn writable(instruction: &Instruction) -> BTreeSet<Pubkey> {
    instruction
        .accounts
        .iter()
        .filter(|m| m.is_writable)
        .map(|m| m.pubkey)
        .collect()
}

#[tokio::test]
async fn cost_report_meets_the_targets() {
    let mut env = TestEnv::new().await;
    let rent: Rent = env.ctx.banks_client.get_rent().await.unwrap();
    let usdc = env.usdc;

    println!("\n== iomesh cost report ==");
    println!(
        "{:<14} {:>7} {:>16} {:>10}",
        "account", "bytes", "rent (lamports)", "rent (SOL)"
    );
    let vault_len = env.account_data(usdc.vault()).await.unwrap().len();
    for (name, len) in [
        ("Market", Market::SPACE),
        ("PaymentMint", PaymentMint::SPACE),
        ("Node", Node::SPACE),
        ("Lease", Lease::SPACE),
        ("Credit", Credit::SPACE),
        ("vault (token)", vault_len),
    ] {
        let lamports = rent.minimum_balance(len);
        println!(
            "{name:<14} {len:>7} {lamports:>16} {:>10.6}",
            lamports as f64 / 1e9
        );
    }
    assert!(
        Lease::SPACE <= 384,
        "Lease is {} bytes, target is at most 384",
        Lease::SPACE
    );
    assert!(
        rent.minimum_balance(Lease::SPACE) >= 2 * rent.minimum_balance(Credit::SPACE),
        "a lease's rent must fund the payer's and the supplier's credit accounts"
    );

    // A lease's whole life, counting every signed transaction.
    let node = env.register_node(8).await;
    let renter = env.wallet().await;
    env.fund(&renter.pubkey(), usdc, 1_000 * TOKEN).await;
    let closer = env.wallet().await;
    let renter_lamports_before = env.lamports(renter.pubkey()).await;
    let request = LeaseRequest {
        max_price_per_gpu_hour: 2 * TOKEN,
        ..LeaseRequest::new(&renter, &node, usdc, 7).gpus(2)
    };
    let create = env.create_lease_ix(&request);
    let lease = lease_pda(&renter.pubkey(), 7);
    let create_size = tx_size(std::slice::from_ref(&create), &[&renter]);
    let mut signed = 0;

    let blockhash = env.latest_blockhash().await;
    let tx = Transaction::new_signed_with_payer(
        &[create.clone()],
        Some(&renter.pubkey()),
        &[&renter],
        blockhash,
    );
    env.ctx.banks_client.process_transaction(tx).await.unwrap();
    signed += 1;
    let lease_rent = env.lamports(lease).await;

    let activate = env.activate_ix(lease, node.address, node.operator.pubkey());
    let activate_size = tx_size(std::slice::from_ref(&activate), &[&node.operator]);
    env.airdrop(&node.operator.pubkey(), 1_000_000_000).await;
    let tx = Transaction::new_signed_with_payer(
        &[activate],
        Some(&node.operator.pubkey()),
        &[&node.operator],
        env.latest_blockhash().await,
    );
    env.ctx.banks_client.process_transaction(tx).await.unwrap();
    signed += 1;

    env.warp(i64::from(HOUR)).await;
    let accounts = env.lease_accounts(lease).await;
    let close = env.close_ix(&accounts);
    let close_size = tx_size(std::slice::from_ref(&close), &[&closer]);
    let blockhash = env.latest_blockhash().await;
    let tx =
        Transaction::new_signed_with_payer(&[close], Some(&closer.pubkey()), &[&closer], blockhash);
    env.ctx.banks_client.process_transaction(tx).await.unwrap();
    signed += 1;

    assert!(
        env.lease(lease).await.is_none(),
        "lease closed at the end of its life"
    );
    let fee_per_signature = 5_000;
    let renter_lamports_after = env.lamports(renter.pubkey()).await;
    assert_eq!(
        renter_lamports_after,
        renter_lamports_before - fee_per_signature,
        "all of the lease rent ({lease_rent} lamports) is back with the payer; only the create fee is spent"
    );
    assert_eq!(signed, 3);

    println!("\n{:<34} {:>6}", "transaction", "bytes");
    println!("{:<34} {:>6}", "create_lease (renter signs)", create_size);
    println!(
        "{:<34} {:>6}",
        "activate_lease (operator signs)", activate_size
    );
    println!("{:<34} {:>6}", "close_lease (anyone signs)", close_size);
    assert!(create_size <= 1232, "create_lease must fit in one packet");
    println!(
        "\nsigned transactions in a lease's whole life: {signed} (create, activate, close); \
         lease rent {lease_rent} lamports returned to the payer at close"
    );

    // Two renters leasing two different nodes: which written accounts do they share?
    let other_node = env.register_node(8).await;
    let (a, b) = (env.wallet().await, env.wallet().await);
    let first = LeaseRequest::new(&a, &node, usdc, 1);
    let second = LeaseRequest::new(&b, &other_node, usdc, 1);
    let mut shared: BTreeSet<Pubkey> = writable(&env.create_lease_ix(&first))
        .intersection(&writable(&env.create_lease_ix(&second)))
        .copied()
        .collect();
    for (renter, node_address) in [(&a, node.address), (&b, other_node.address)] {
        env.fund(&renter.pubkey(), usdc, 10 * TOKEN).await;
        let request = LeaseRequest {
            renter,
            payer: None,
            node: node_address,
            mint: usdc,
            nonce: 1,
            gpus: 1,
            duration_secs: HOUR,
            max_price_per_gpu_hour: u64::MAX,
        };
        env.create_lease(request).await.unwrap();
    }
    let accounts_settle_a = env.lease_accounts(lease_pda(&a.pubkey(), 1)).await;
    let settle_a = env.settle_ix(&accounts_settle_a);
    let accounts_settle_b = env.lease_accounts(lease_pda(&b.pubkey(), 1)).await;
    let settle_b = env.settle_ix(&accounts_settle_b);
    shared.extend(writable(&settle_a).intersection(&writable(&settle_b)));
    let accounts_close_a = env.lease_accounts(lease_pda(&a.pubkey(), 1)).await;
    let close_a = env.close_ix(&accounts_close_a);
    let accounts_close_b = env.lease_accounts(lease_pda(&b.pubkey(), 1)).await;
    let close_b = env.close_ix(&accounts_close_b);
    shared.extend(writable(&close_a).intersection(&writable(&close_b)));
    let allowed: BTreeSet<Pubkey> = [
        usdc.vault(),
        usdc.ata(&env.keys.treasury.pubkey()),
        payment_mint_pda(&usdc.mint),
    ]
    .into();
    let name = |key: &Pubkey| {
        if *key == usdc.vault() {
            "mint vault"
        } else if *key == payment_mint_pda(&usdc.mint) {
            "payment mint"
        } else if allowed.contains(key) {
            "treasury token account"
        } else {
            "UNEXPECTED"
        }
    };
    println!(
        "\naccounts written by both of two unrelated leases (create, settle, close): {:?}",
        shared.iter().map(name).collect::<Vec<_>>()
    );
    assert!(
        shared.is_subset(&allowed),
        "unrelated leases contend on {shared:?}"
    );
    assert!(
        !writable(&create).contains(&market_pda()),
        "create_lease never writes the market"
    );
}
