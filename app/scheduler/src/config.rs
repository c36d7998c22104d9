//! Typed configuration: flags, each overridable by environment, validated at start.

use crate::error::Error;
use clap::Args;
use std::{net::SocketAddr, path::PathBuf, time::Duration};

#[derive(Args, Clone, Debug)]
pub struct Config {
    /// Postgres connection string (the indexer's database); migrations are applied at start.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Solana JSON-RPC endpoint, for report_failure.
    #[arg(
        long = "url",
        env = "IOMESH_RPC_URL",
        default_value = "http://127.0.0.1:8899"
    )]
    pub rpc_url: String,
    /// Address agents dial (gRPC).
    #[arg(
        long,
        env = "IOMESH_SCHEDULER_GRPC_ADDR",
        default_value = "127.0.0.1:7443"
    )]
    pub grpc_addr: SocketAddr,
    /// Address of the HTTP API, /metrics and /health.
    #[arg(
        long,
        env = "IOMESH_SCHEDULER_HTTP_ADDR",
        default_value = "127.0.0.1:7080"
    )]
    pub http_addr: SocketAddr,
    /// How the other replicas reach this one's HTTP API (a renter's request
    /// for logs or ports is forwarded to the replica holding the agent);
    /// default: `http://<http-addr>`.
    #[arg(long, env = "IOMESH_SCHEDULER_ADVERTISE_HTTP")]
    pub advertise_http: Option<String>,
    /// PEM certificate chain the gRPC server presents to agents (TLS, with
    /// --tls-key). Without both, agents connect in plaintext: use TLS
    /// wherever agents reach the scheduler over a network you do not own.
    #[arg(long, env = "IOMESH_SCHEDULER_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "IOMESH_SCHEDULER_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Keypair file (Solana JSON) of the market's scheduler authority; signs
    /// report_failure. Without it, silent agents are only logged.
    #[arg(long, env = "IOMESH_SCHEDULER_KEYPAIR")]
    pub keypair: Option<PathBuf>,
    /// This replica's id (unique among running replicas); random when not given.
    #[arg(long, env = "IOMESH_SCHEDULER_REPLICA_ID")]
    pub replica_id: Option<String>,
    /// The dispatcher polls Postgres this often even without a NOTIFY.
    #[arg(long, env = "IOMESH_SCHEDULER_POLL_MS", default_value_t = 1_000)]
    pub poll_ms: u64,
    /// Leases claimed per dispatch transaction.
    #[arg(long, env = "IOMESH_SCHEDULER_DISPATCH_BATCH", default_value_t = 512)]
    pub dispatch_batch: i64,
    /// Heartbeat interval asked of agents.
    #[arg(
        long,
        env = "IOMESH_SCHEDULER_AGENT_HEARTBEAT_MS",
        default_value_t = 2_000
    )]
    pub agent_heartbeat_ms: u32,
    /// An agent must answer the challenge within this many seconds.
    #[arg(long, env = "IOMESH_SCHEDULER_CHALLENGE_SECS", default_value_t = 30)]
    pub challenge_secs: u64,
    /// This replica refreshes its row this often...
    #[arg(
        long,
        env = "IOMESH_SCHEDULER_REPLICA_HEARTBEAT_MS",
        default_value_t = 1_000
    )]
    pub replica_heartbeat_ms: u64,
    /// ...and a replica silent for this long is reaped by the others.
    #[arg(
        long,
        env = "IOMESH_SCHEDULER_REPLICA_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub replica_timeout_ms: u64,
    /// The heartbeat watchdog and the closed-lease sweep run this often.
    #[arg(long, env = "IOMESH_SCHEDULER_WATCHDOG_MS", default_value_t = 1_000)]
    pub watchdog_ms: u64,
    /// Postgres connections of this replica.
    #[arg(long, env = "IOMESH_SCHEDULER_DB_CONNECTIONS", default_value_t = 16)]
    pub db_connections: u32,
    /// Uptime minutes (the reward job's uptime input) are kept this many days;
    /// must exceed the longest reward window not yet computed.
    #[arg(
        long,
        env = "IOMESH_SCHEDULER_UPTIME_RETENTION_DAYS",
        default_value_t = 90
    )]
    pub uptime_retention_days: u32,
}

impl Config {
    /// Defaults for everything but the database (tests and benchmarks).
    pub fn new(database_url: impl Into<String>) -> Self {
        Self {
            database_url: database_url.into(),
            rpc_url: "http://127.0.0.1:8899".into(),
            grpc_addr: "127.0.0.1:0".parse().expect("address"),
            http_addr: "127.0.0.1:0".parse().expect("address"),
            advertise_http: None,
            tls_cert: None,
            tls_key: None,
            keypair: None,
            replica_id: None,
            poll_ms: 1_000,
            dispatch_batch: 512,
            agent_heartbeat_ms: 2_000,
            challenge_secs: 30,
            replica_heartbeat_ms: 1_000,
            replica_timeout_ms: 10_000,
            watchdog_ms: 1_000,
            db_connections: 16,
            uptime_retention_days: 90,
        }
    }

    pub fn validate(&self) -> Result<(), Error> {
        let positive = [
            ("--poll-ms", self.poll_ms),
            ("--agent-heartbeat-ms", u64::from(self.agent_heartbeat_ms)),
            ("--challenge-secs", self.challenge_secs),
            ("--replica-heartbeat-ms", self.replica_heartbeat_ms),
            ("--watchdog-ms", self.watchdog_ms),
            ("--db-connections", u64::from(self.db_connections)),
            (
                "--uptime-retention-days",
                u64::from(self.uptime_retention_days),
            ),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(Error::Config(format!("{name} must be greater than 0")));
            }
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(Error::Config(
                "--tls-cert and --tls-key go together: give both for TLS, or neither".into(),
            ));
        }
        if !(1..=10_000).contains(&self.dispatch_batch) {
            return Err(Error::Config(format!(
                "--dispatch-batch must be between 1 and 10000, got {}",
                self.dispatch_batch
            )));
        }
        if self.replica_timeout_ms < 3 * self.replica_heartbeat_ms {
            return Err(Error::Config(format!(
                "--replica-timeout-ms ({}) must be at least 3 × --replica-heartbeat-ms ({})",
                self.replica_timeout_ms, self.replica_heartbeat_ms
            )));
        }
        if let Some(id) = &self.replica_id {
            if id.is_empty() || id.len() > 128 {
                return Err(Error::Config(
                    "--replica-id must be 1 to 128 characters".into(),
                ));
            }
        }
        Ok(())
    }

    pub fn replica_id(&self) -> String {
        self.replica_id
            .clone()
            .unwrap_or_else(|| format!("replica-{}", hex::encode(rand::random::<[u8; 6]>())))
    }

    pub fn poll(&self) -> Duration {
        Duration::from_millis(self.poll_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_names_the_wrong_setting() {
        assert!(Config::new("postgres://x").validate().is_ok());
        let mut config = Config::new("postgres://x");
        config.poll_ms = 0;
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--poll-ms"));
        let mut config = Config::new("postgres://x");
        config.replica_timeout_ms = config.replica_heartbeat_ms;
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--replica-timeout-ms"));
        let mut config = Config::new("postgres://x");
        config.dispatch_batch = 0;
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--dispatch-batch"));
        let mut config = Config::new("postgres://x");
        config.replica_id = Some(String::new());
        assert!(config
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--replica-id"));
    }
}
