//! The ceiling: the same reads and sends made directly on a `Chain` in this
//! process, without HTTP, JSON or base64 in between.

use crate::stats::Figures;
use anyhow::Context;
use iomesh_localnet::{bank::Chain, geyser::Feed, Config};
use solana_commitment_config::CommitmentLevel;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use solana_transaction::Transaction;
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// A chain with no server and no clock, its payers funded from the faucet.
pub async fn chain_with_payers(payers: usize) -> anyhow::Result<(Arc<Chain>, Vec<Keypair>)> {
    iomesh_localnet::bank::install_syscall_stubs().await;
    let config = Config::default();
    // The same account-update feed as the server's bank, with no subscriber.
    let feed = Arc::new(Feed::new(
        config.grpc_replay_slots,
        config.grpc_broadcast_capacity,
    ));
    let chain = Arc::new(Chain::new(&config, feed).context("building the ceiling bank")?);
    let keys: Vec<Keypair> = (0..payers).map(|_| Keypair::new()).collect();
    for key in &keys {
        chain
            .airdrop(&key.pubkey(), 1_000 * 1_000_000_000)
            .context("funding a ceiling payer")?;
    }
    Ok((chain, keys))
}

/// `threads` OS threads reading accounts from the confirmed bank.
pub fn get_account(
    chain: &Arc<Chain>,
    accounts: &Arc<Vec<Pubkey>>,
    threads: usize,
    duration: Duration,
) -> Figures {
    let start = Instant::now();
    let deadline = start + duration;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let chain = chain.clone();
            let accounts = accounts.clone();
            std::thread::spawn(move || {
                let mut latencies = Vec::new();
                let mut i = t;
                while Instant::now() < deadline {
                    let t0 = Instant::now();
                    let found = chain
                        .bank(CommitmentLevel::Confirmed)
                        .get_account(&accounts[i % accounts.len()]);
                    std::hint::black_box(found);
                    latencies.push(t0.elapsed());
                    i += threads;
                }
                latencies
            })
        })
        .collect();
    let mut figures = Figures::new(
        "ceiling: Bank::get_account, no HTTP",
        threads,
        Duration::ZERO,
    );
    for handle in handles {
        match handle.join() {
            Ok(l) => figures.latencies.extend(l),
            Err(_) => figures.errors += 1,
        }
    }
    figures.elapsed = start.elapsed();
    figures
}

/// One thread sending signed transfers straight into `Chain::send` with
/// preflight (the chain commits one transaction at a time, like the server).
pub fn send(chain: &Chain, payers: &[Keypair], duration: Duration) -> Figures {
    let blockhash = chain.bank(CommitmentLevel::Processed).last_blockhash();
    let start = Instant::now();
    let deadline = start + duration;
    let mut figures = Figures::new("ceiling: Chain::send, no HTTP", 1, Duration::ZERO);
    let mut n = 0u64;
    while Instant::now() < deadline {
        n += 1;
        let payer = &payers[n as usize % payers.len()];
        let to = payers[(n as usize + 1) % payers.len()].pubkey();
        let ix = solana_system_interface::instruction::transfer(&payer.pubkey(), &to, n);
        let tx =
            Transaction::new_signed_with_payer(&[ix], Some(&payer.pubkey()), &[payer], blockhash);
        let t0 = Instant::now();
        match chain.send(tx.into(), true) {
            Ok(_) => figures.latencies.push(t0.elapsed()),
            Err(_) => figures.errors += 1,
        }
    }
    figures.elapsed = start.elapsed();
    figures
}
