//! iomesh localnet: the iomesh program hosted natively in a real Solana bank
//! (next to the real SPL Token, Token-2022, ATA and Memo programs), advanced
//! by a slot clock and served over Solana JSON-RPC, Solana PubSub (WebSocket)
//! and Yellowstone gRPC (Dragon's Mouth) on localhost.
//!
//! ```no_run
//! # async fn run() -> Result<(), iomesh_localnet::Error> {
//! let localnet = iomesh_localnet::Localnet::start(Default::default()).await?;
//! println!("JSON-RPC at {}", localnet.rpc_url());
//! println!("PubSub at {}", localnet.pubsub_url());
//! println!("Yellowstone gRPC at {}", localnet.grpc_url());
//! localnet.shutdown().await;
//! # Ok(()) }
//! ```

pub mod bank;
pub mod clock;
pub mod config;
pub mod error;
pub mod geyser;
pub mod ledger;
pub mod market;
pub mod pubsub;
pub mod rpc;

pub use bank::Slots;
pub use config::Config;
pub use error::Error;

use bank::Chain;
use solana_pubkey::Pubkey;
use std::{net::SocketAddr, sync::Arc};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

/// A running localnet. Dropping it stops the clock and the server; prefer
/// `shutdown` to wait for them.
pub struct Localnet {
    chain: Arc<Chain>,
    rpc_addr: SocketAddr,
    pubsub_addr: SocketAddr,
    grpc_addr: SocketAddr,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Localnet {
    /// Builds the bank, starts the slot clock and binds the JSON-RPC, PubSub
    /// and gRPC servers.
    pub async fn start(config: Config) -> Result<Self, Error> {
        config.validate()?;
        bank::install_syscall_stubs().await;
        let feed = Arc::new(geyser::Feed::new(
            config.grpc_replay_slots,
            config.grpc_broadcast_capacity,
        ));
        let chain_config = config.clone();
        let chain_feed = feed.clone();
        let chain = Arc::new(
            tokio::task::spawn_blocking(move || Chain::new(&chain_config, chain_feed)).await??,
        );
        let listener = bind("JSON-RPC", config.rpc_addr).await?;
        let rpc_addr = listener.local_addr()?;
        let pubsub_listener = bind("PubSub", config.pubsub_bind_addr()?).await?;
        let pubsub_addr = pubsub_listener.local_addr()?;
        let grpc_listener = bind("gRPC", config.grpc_addr).await?;
        let grpc_addr = grpc_listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let pubsub = Arc::new(pubsub::PubsubState {
            chain: chain.clone(),
            feed: feed.clone(),
            connection_queue: config.pubsub_connection_queue,
        });
        let geyser = geyser::GeyserService::new(
            chain.clone(),
            feed,
            config.grpc_subscriber_queue,
            shutdown.clone(),
        );
        let state = Arc::new(rpc::RpcState {
            chain: chain.clone(),
            max_request_bytes: config.max_request_bytes,
            rpc_addr,
            pubsub_addr,
        });
        let tasks = vec![
            clock::spawn(chain.clone(), config.slot_duration, shutdown.clone()),
            rpc::spawn(listener, state, shutdown.clone()),
            pubsub::spawn(pubsub_listener, pubsub, shutdown.clone()),
            geyser::spawn(grpc_listener, geyser, shutdown.clone()).await,
        ];
        tracing::info!(%rpc_addr, %pubsub_addr, %grpc_addr, slot_ms = config.slot_duration.as_millis() as u64,
            finalization_depth = config.finalization_depth, "localnet started");
        Ok(Self {
            chain,
            rpc_addr,
            pubsub_addr,
            grpc_addr,
            shutdown,
            tasks,
        })
    }

    /// The address the JSON-RPC server is bound to.
    pub fn rpc_addr(&self) -> SocketAddr {
        self.rpc_addr
    }

    pub fn rpc_url(&self) -> String {
        format!("http://{}", self.rpc_addr)
    }

    /// The address the PubSub WebSocket server is bound to.
    pub fn pubsub_addr(&self) -> SocketAddr {
        self.pubsub_addr
    }

    /// The PubSub endpoint, `ws://127.0.0.1:PORT`.
    pub fn pubsub_url(&self) -> String {
        format!("ws://{}", self.pubsub_addr)
    }

    /// The address the Yellowstone gRPC server is bound to.
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// The gRPC endpoint for a Yellowstone client, `http://127.0.0.1:PORT`.
    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    /// The genesis faucet that funds `requestAirdrop`.
    pub fn faucet(&self) -> Pubkey {
        self.chain.faucet()
    }

    /// Current processed / confirmed / finalized slots.
    pub fn slots(&self) -> Slots {
        self.chain.slots()
    }

    /// Test/dev hook: writes `account` at `pubkey` into the working bank, as
    /// no transaction could (e.g. a Pyth `PriceUpdateV2` account owned by the
    /// Pyth receiver program, which a localnet does not run). Visible at once
    /// at processed commitment, at confirmed after the next slot.
    pub fn set_account(&self, pubkey: &Pubkey, account: solana_account::Account) {
        self.chain.set_account(pubkey, &account.into());
    }

    /// Stops the clock and the server, letting in-flight requests finish.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        for task in self.tasks.drain(..) {
            if let Err(err) = task.await {
                tracing::warn!(%err, "localnet task ended abnormally");
            }
        }
        tracing::info!("localnet stopped");
    }
}

async fn bind(server: &'static str, addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr).await.map_err(|source| Error::Bind {
        server,
        addr,
        source,
    })
}

impl Drop for Localnet {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Waits for Ctrl-C or SIGTERM: how the localnet and the programs that run
/// one (the demo) are stopped.
pub async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await
}
