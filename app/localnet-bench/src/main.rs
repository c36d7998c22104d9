//! `iomesh-localnet-bench`: throughput and latency of the localnet's JSON-RPC
//! under concurrent stock clients, beside the ceiling of the same work done
//! on the bank directly, in one run.
//!
//!   cargo run -p iomesh-localnet-bench -- --clients 32 --seconds 10
//!
//! The dev profile (dependencies at opt-level 1) gives a lower bound; the
//! figures in docs/localnet.md come from it.

mod ceiling;
mod grpc_latency;
mod rpc_load;
mod stats;

use anyhow::Context;
use clap::Parser;
use iomesh_localnet::{Config, Localnet};
use stats::{print_table, Figures};
use std::{
    net::{Ipv4Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

#[derive(Debug, Parser)]
#[command(about)]
struct Args {
    /// Concurrent JSON-RPC clients (each with its own connection and payer).
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Seconds each workload runs.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Slot length of the localnet under test, in milliseconds.
    #[arg(long, default_value_t = 400)]
    slot_ms: u64,
    /// Account changes timed from the transaction to the gRPC subscriber.
    #[arg(long, default_value_t = 200)]
    grpc_samples: usize,
}

const GET_ACCOUNT_INFO_TARGET: f64 = 5_000.0;
const SEND_TRANSACTION_TARGET: f64 = 500.0;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Also takes the bank's `log` records, which would otherwise print every
    // instruction at debug level through program-test's logger.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,tarpc=error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    anyhow::ensure!(args.clients > 0, "--clients must be at least 1");
    let duration = Duration::from_secs(args.seconds.max(1));
    let config = Config {
        rpc_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        grpc_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        slot_duration: Duration::from_millis(args.slot_ms),
        ..Config::default()
    };
    let localnet = Localnet::start(config)
        .await
        .context("starting the localnet")?;
    let url = localnet.rpc_url();
    eprintln!(
        "localnet at {url}; {} clients, {} s per workload, on {} cores",
        args.clients,
        duration.as_secs(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    let population = rpc_load::fund(&url, args.clients).await?;
    let accounts = Arc::new(population.pubkeys());
    let reads = rpc_load::get_account_info(&url, accounts.clone(), args.clients, duration).await;
    let sends = rpc_load::send_transaction(&url, &population, duration).await?;
    let [grpc_processed, grpc_confirmed] = grpc_latency::measure(
        &url,
        &localnet.grpc_url(),
        &population.payers[0],
        args.grpc_samples.max(1),
    )
    .await?;
    localnet.shutdown().await;

    let (chain, payers) = ceiling::chain_with_payers(args.clients).await?;
    let ceiling_accounts = Arc::new(payers.iter().map(solana_signer::Signer::pubkey).collect());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let read_ceiling = {
        let chain = chain.clone();
        tokio::task::spawn_blocking(move || {
            ceiling::get_account(&chain, &ceiling_accounts, threads, duration)
        })
        .await?
    };
    let send_ceiling =
        tokio::task::spawn_blocking(move || ceiling::send(&chain, &payers, duration)).await?;

    let verdict = |f: &Figures, target: f64| {
        let met = if f.per_second() >= target {
            "met"
        } else {
            "NOT met"
        };
        format!(">= {target:.0}/s: {met}")
    };
    let slot = Duration::from_millis(args.slot_ms);
    let within_slot = |f: &Figures| {
        let met = if f.errors == 0 && f.percentile(0.99) <= slot {
            "met"
        } else {
            "NOT met"
        };
        format!("p99 <= 1 slot ({} ms): {met}", slot.as_millis())
    };
    let processed_verdict = within_slot(&grpc_processed);
    // A change lands in the working slot and is confirmed when the next slot
    // opens, so even confirmed delivery stays within one slot.
    let confirmed_verdict = within_slot(&grpc_confirmed);
    let read_verdict = verdict(&reads, GET_ACCOUNT_INFO_TARGET);
    let send_verdict = verdict(&sends, SEND_TRANSACTION_TARGET);
    print_table(&[
        (reads, read_verdict),
        (read_ceiling, "ceiling for getAccountInfo".into()),
        (sends, send_verdict),
        (send_ceiling, "ceiling for sendTransaction".into()),
        (grpc_processed, processed_verdict),
        (grpc_confirmed, confirmed_verdict),
    ]);
    Ok(())
}
