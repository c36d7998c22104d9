//! JSON-RPC load: concurrent stock `RpcClient`s, each on its own connection,
//! calling the localnet over a real socket for a fixed time.

use crate::stats::Figures;
use anyhow::{bail, Context};
use solana_client::nonblocking::rpc_client::RpcClient;
use solana_commitment_config::CommitmentConfig;
use solana_hash::Hash;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use solana_transaction::Transaction;
use std::{
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::task::JoinSet;

/// Lamports each sending client's payer starts with: enough for every fee
/// and transfer of a long run.
const PAYER_LAMPORTS: u64 = 1_000 * 1_000_000_000;

/// Funded accounts the workloads read and send from.
pub struct Population {
    pub payers: Vec<Arc<Keypair>>,
}

impl Population {
    pub fn pubkeys(&self) -> Vec<Pubkey> {
        self.payers.iter().map(|k| k.pubkey()).collect()
    }
}

fn client(url: &str) -> RpcClient {
    RpcClient::new_with_commitment(url.to_string(), CommitmentConfig::confirmed())
}

/// Airdrops to `count` new payers through JSON-RPC and waits until the
/// airdrops are visible at `confirmed`.
pub async fn fund(url: &str, count: usize) -> anyhow::Result<Population> {
    let rpc = client(url);
    let payers: Vec<Arc<Keypair>> = (0..count).map(|_| Arc::new(Keypair::new())).collect();
    for payer in &payers {
        rpc.request_airdrop(&payer.pubkey(), PAYER_LAMPORTS)
            .await
            .context("airdrop to a benchmark payer")?;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let last = payers.last().map(|k| k.pubkey()).unwrap_or_default();
    while rpc.get_balance(&last).await? < PAYER_LAMPORTS {
        if Instant::now() > deadline {
            bail!("airdrops not confirmed within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(Population { payers })
}

/// `clients` concurrent clients calling getAccountInfo round-robin over
/// `accounts` for `duration`.
pub async fn get_account_info(
    url: &str,
    accounts: Arc<Vec<Pubkey>>,
    clients: usize,
    duration: Duration,
) -> Figures {
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = JoinSet::new();
    for c in 0..clients {
        let rpc = client(url);
        let accounts = accounts.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut i = c;
            while Instant::now() < deadline {
                let pubkey = accounts[i % accounts.len()];
                i += clients;
                let t0 = Instant::now();
                match rpc
                    .get_account_with_commitment(&pubkey, CommitmentConfig::confirmed())
                    .await
                {
                    Ok(response) if response.value.is_some() => latencies.push(t0.elapsed()),
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        });
    }
    collect("JSON-RPC getAccountInfo", clients, start, tasks).await
}

/// `clients` concurrent clients, each sending system transfers from its own
/// payer (preflight on, as `RpcClient::send_transaction` does) for `duration`.
/// Every transfer amount is distinct so every signature is.
pub async fn send_transaction(
    url: &str,
    population: &Population,
    duration: Duration,
) -> anyhow::Result<Figures> {
    let blockhash: Hash = client(url).get_latest_blockhash().await?;
    let recipients = Arc::new(population.pubkeys());
    let clients = population.payers.len();
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = JoinSet::new();
    for (c, payer) in population.payers.iter().cloned().enumerate() {
        let rpc = client(url);
        let recipients = recipients.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut n = 0u64;
            while Instant::now() < deadline {
                n += 1;
                let to = recipients[(c + 1 + n as usize) % recipients.len()];
                let ix = solana_system_interface::instruction::transfer(&payer.pubkey(), &to, n);
                let tx = Transaction::new_signed_with_payer(
                    &[ix],
                    Some(&payer.pubkey()),
                    &[&payer],
                    blockhash,
                );
                let t0 = Instant::now();
                match rpc.send_transaction(&tx).await {
                    Ok(_) => latencies.push(t0.elapsed()),
                    Err(_) => errors += 1,
                }
            }
            (latencies, errors)
        });
    }
    Ok(collect(
        "JSON-RPC sendTransaction (transfers)",
        clients,
        start,
        tasks,
    )
    .await)
}

async fn collect(
    name: &str,
    clients: usize,
    start: Instant,
    mut tasks: JoinSet<(Vec<Duration>, u64)>,
) -> Figures {
    let mut latencies = Vec::new();
    let mut errors = 0;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((l, e)) => {
                latencies.extend(l);
                errors += e;
            }
            Err(_) => errors += 1,
        }
    }
    let mut figures = Figures::new(name, clients, start.elapsed());
    figures.latencies = latencies;
    figures.errors = errors;
    figures
}
