//! Typed configuration: flags, each overridable by environment, validated at start.

use crate::{batcher::BatchConfig, error::Error};
use clap::{Args, ValueEnum};
use solana_commitment_config::CommitmentConfig;
use solana_pubkey::Pubkey;
use std::{net::SocketAddr, time::Duration};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Commitment {
    Processed,
    Confirmed,
    Finalized,
}

impl Commitment {
    pub fn rpc(self) -> CommitmentConfig {
        match self {
            Commitment::Processed => CommitmentConfig::processed(),
            Commitment::Confirmed => CommitmentConfig::confirmed(),
            Commitment::Finalized => CommitmentConfig::finalized(),
        }
    }
}

#[derive(Args, Clone)]
pub struct Config {
    /// Postgres connection string; the migrations in migrations/ are applied at start.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Yellowstone gRPC endpoint.
    #[arg(
        long,
        env = "IOMESH_INDEXER_GRPC_ENDPOINT",
        default_value = "http://127.0.0.1:10000"
    )]
    pub grpc_endpoint: String,
    /// x-token sent to the gRPC endpoint, if it requires one.
    #[arg(long, env = "IOMESH_INDEXER_GRPC_X_TOKEN", hide_env_values = true)]
    pub grpc_x_token: Option<String>,
    /// Solana JSON-RPC endpoint used to reconcile (getProgramAccounts).
    #[arg(
        long = "url",
        env = "IOMESH_RPC_URL",
        default_value = "http://127.0.0.1:8899"
    )]
    pub rpc_url: String,
    /// The iomesh program to index.
    #[arg(long, env = "IOMESH_PROGRAM_ID", default_value_t = iomesh::ID)]
    pub program_id: Pubkey,
    /// Commitment of the stream and the reconciliation.
    #[arg(
        long,
        env = "IOMESH_INDEXER_COMMITMENT",
        value_enum,
        default_value = "confirmed"
    )]
    pub commitment: Commitment,
    /// A batch commits as soon as the previous one has committed, or once it
    /// holds this many distinct accounts (then the stream waits for the writer).
    #[arg(long, env = "IOMESH_INDEXER_BATCH_MAX_UPDATES", default_value_t = 8192)]
    pub batch_max_updates: usize,
    /// Longest a batch waits for more updates once the writer is free, in
    /// milliseconds (0: commit at once; more: fewer, larger batches at low load).
    #[arg(long, env = "IOMESH_INDEXER_BATCH_MAX_DELAY_MS", default_value_t = 1)]
    pub batch_max_delay_ms: u64,
    /// Connections a large batch is written over at once (1..=8); the cursor
    /// commits with the range that commits last.
    #[arg(long, env = "IOMESH_INDEXER_WRITERS", default_value_t = 4)]
    pub writers: usize,
    /// Updates buffered between the stream and the writer; when full, the stream waits.
    #[arg(
        long,
        env = "IOMESH_INDEXER_CHANNEL_CAPACITY",
        default_value_t = 65_536
    )]
    pub channel_capacity: usize,
    /// Reconnect when nothing (pings included) arrives for this many seconds.
    #[arg(long, env = "IOMESH_INDEXER_WATCHDOG_SECS", default_value_t = 30)]
    pub watchdog_secs: u64,
    /// Address of /metrics and /health.
    #[arg(
        long,
        env = "IOMESH_INDEXER_HTTP_ADDR",
        default_value = "127.0.0.1:9464"
    )]
    pub http_addr: SocketAddr,
    /// /health reports unhealthy when the committed cursor is more slots behind than this.
    #[arg(
        long,
        env = "IOMESH_INDEXER_HEALTH_MAX_SLOT_LAG",
        default_value_t = 150
    )]
    pub health_max_slot_lag: u64,
    /// Name of the resume cursor in Postgres (one per indexed program).
    #[arg(long, env = "IOMESH_INDEXER_CURSOR_ID", default_value = "iomesh")]
    pub cursor_id: String,
}

impl Config {
    pub fn validate(&self) -> Result<(), Error> {
        if self.batch_max_updates == 0 {
            return Err(Error::Config("batch max updates must be positive".into()));
        }
        if !(1..=8).contains(&self.writers) {
            return Err(Error::Config(format!(
                "writers must be 1..=8, got {}",
                self.writers
            )));
        }
        if self.batch_max_delay_ms > 10_000 {
            return Err(Error::Config(format!(
                "batch max delay must be 0..=10000 ms, got {}",
                self.batch_max_delay_ms
            )));
        }
        if self.channel_capacity < self.batch_max_updates {
            return Err(Error::Config(format!(
                "channel capacity ({}) must hold at least one batch ({})",
                self.channel_capacity, self.batch_max_updates
            )));
        }
        if self.watchdog_secs == 0 {
            return Err(Error::Config("watchdog must be at least 1 s".into()));
        }
        for (what, url) in [
            ("gRPC endpoint", &self.grpc_endpoint),
            ("RPC URL", &self.rpc_url),
        ] {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(Error::Config(format!(
                    "{what} must be an http:// or https:// URL, got {url:?}"
                )));
            }
        }
        Ok(())
    }

    pub fn batch(&self) -> BatchConfig {
        BatchConfig {
            max_updates: self.batch_max_updates,
            max_delay: Duration::from_millis(self.batch_max_delay_ms),
            writers: self.writers,
            ..BatchConfig::default()
        }
    }

    pub fn watchdog(&self) -> Duration {
        Duration::from_secs(self.watchdog_secs)
    }
}
