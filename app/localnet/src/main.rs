//! `iomesh-localnet`: runs the localnet until Ctrl-C or SIGTERM; with
//! `--bootstrap`, first creates the market and its mints and prints
//! bootstrap.json (as `solana-test-validator` stands apart from `solana`,
//! the wallet CLI does not run a localnet).

mod bootstrap;

use anyhow::Context;
use clap::Parser;
use iomesh_localnet::{
    config::{DEFAULT_GRPC_PORT, DEFAULT_RPC_PORT},
    Config, Localnet,
};
use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};

/// The iomesh program in a local Solana bank, served over JSON-RPC, PubSub
/// (WebSocket) and Yellowstone gRPC.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// JSON-RPC port (0 picks a free one).
    #[arg(long, env = "IOMESH_LOCALNET_RPC_PORT", default_value_t = DEFAULT_RPC_PORT)]
    rpc_port: u16,
    /// JSON-RPC bind address.
    #[arg(long, env = "IOMESH_LOCALNET_RPC_HOST", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    rpc_host: IpAddr,
    /// PubSub WebSocket port (default: the JSON-RPC port + 1, or a free one
    /// when that is 0; 0 picks a free one).
    #[arg(long, env = "IOMESH_LOCALNET_PUBSUB_PORT")]
    pubsub_port: Option<u16>,
    /// PubSub bind address (default: the JSON-RPC bind address).
    #[arg(long, env = "IOMESH_LOCALNET_PUBSUB_HOST")]
    pubsub_host: Option<IpAddr>,
    /// Messages queued per PubSub connection before a slow one is disconnected.
    #[arg(
        long,
        env = "IOMESH_LOCALNET_PUBSUB_CONNECTION_QUEUE",
        default_value_t = 10_000
    )]
    pubsub_connection_queue: usize,
    /// Slot length in milliseconds.
    #[arg(long, env = "IOMESH_LOCALNET_SLOT_MS", default_value_t = 400)]
    slot_ms: u64,
    /// Slots between the working bank and the finalized (root) bank.
    #[arg(long, env = "IOMESH_LOCALNET_FINALIZATION_DEPTH", default_value_t = 2)]
    finalization_depth: u64,
    /// Transactions remembered for getTransaction / getSignatureStatuses.
    #[arg(
        long,
        env = "IOMESH_LOCALNET_LEDGER_CAPACITY",
        default_value_t = 100_000
    )]
    ledger_capacity: usize,
    /// Yellowstone gRPC port (0 picks a free one).
    #[arg(long, env = "IOMESH_LOCALNET_GRPC_PORT", default_value_t = DEFAULT_GRPC_PORT)]
    grpc_port: u16,
    /// Yellowstone gRPC bind address.
    #[arg(long, env = "IOMESH_LOCALNET_GRPC_HOST", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    grpc_host: IpAddr,
    /// Slots a gRPC subscription can replay with `from_slot`.
    #[arg(long, env = "IOMESH_LOCALNET_GRPC_REPLAY_SLOTS", default_value_t = 150)]
    grpc_replay_slots: u64,
    /// Updates queued per gRPC subscriber before a slow one is disconnected.
    #[arg(
        long,
        env = "IOMESH_LOCALNET_GRPC_SUBSCRIBER_QUEUE",
        default_value_t = 100_000
    )]
    grpc_subscriber_queue: usize,
    #[command(flatten)]
    bootstrap: bootstrap::BootstrapArgs,
}

/// Bank internals log every slot at info (metrics datapoints); keep them quiet
/// unless RUST_LOG asks for them.
const DEFAULT_LOG_FILTER: &str = "info,solana=warn,agave=warn,tarpc=error";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // With --bootstrap, stdout carries bootstrap.json alone.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| DEFAULT_LOG_FILTER.into()),
        )
        .init();
    // Checked before anything starts.
    let authority = args.bootstrap.authority()?;
    let rpc_addr = SocketAddr::new(args.rpc_host, args.rpc_port);
    let pubsub_addr = match (args.pubsub_host, args.pubsub_port) {
        (None, None) => None,
        (host, port) => {
            let default = Config {
                rpc_addr,
                ..Config::default()
            }
            .pubsub_bind_addr()
            .context("choosing the PubSub port")?;
            Some(SocketAddr::new(
                host.unwrap_or(args.rpc_host),
                port.unwrap_or(default.port()),
            ))
        }
    };
    let config = Config {
        rpc_addr,
        pubsub_addr,
        pubsub_connection_queue: args.pubsub_connection_queue,
        slot_duration: Duration::from_millis(args.slot_ms),
        finalization_depth: args.finalization_depth,
        ledger_capacity: args.ledger_capacity,
        grpc_addr: SocketAddr::new(args.grpc_host, args.grpc_port),
        grpc_replay_slots: args.grpc_replay_slots,
        grpc_subscriber_queue: args.grpc_subscriber_queue,
        ..Config::default()
    };
    let localnet = Localnet::start(config)
        .await
        .context("starting the localnet")?;
    let urls = format!(
        "JSON-RPC URL: {}\nPubSub URL: {}\ngRPC URL: {}\nfaucet: {}",
        localnet.rpc_url(),
        localnet.pubsub_url(),
        localnet.grpc_url(),
        localnet.faucet()
    );
    match authority {
        None => println!("{urls}"),
        Some(authority) => {
            eprintln!("{urls}");
            if let Err(err) = args.bootstrap.run(&localnet, &authority).await {
                localnet.shutdown().await;
                return Err(err);
            }
        }
    }
    iomesh_localnet::shutdown_signal()
        .await
        .context("waiting for a shutdown signal")?;
    tracing::info!("shutting down");
    localnet.shutdown().await;
    Ok(())
}
