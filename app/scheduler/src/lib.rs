//! iomesh scheduler: paid leases, as indexed in Postgres, dispatched to the
//! agents on GPU nodes over gRPC; job specs and status over HTTP; failures of
//! silent agents reported on-chain.
//!
//! Every replica is a peer: Postgres holds which replica holds which agent
//! (`agent_sessions`) and every assignment, so several can run at once.

pub mod access;
pub mod agent;
pub mod config;
pub mod db;
pub mod dispatch;
pub mod error;
pub mod http;
pub mod logs;
pub mod metrics;
pub mod phases;
pub mod rendezvous;
pub mod renter;
pub mod replica;
pub mod retention;
pub mod rewards;
pub mod route;
pub mod sessions;
pub mod tls;
pub mod tunnel;
pub mod views;
pub mod watchdog;

pub use config::Config;
pub use error::{Error, Result};

use axum::serve::ListenerExt;
use iomesh_agent_proto::v1::scheduler_server::SchedulerServer;
use iomesh_client::client::Client;
use solana_commitment_config::CommitmentConfig;
use sqlx::PgPool;
use std::{net::SocketAddr, sync::Arc};
use tokio::{net::TcpListener, sync::Notify, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tracing::info;

/// What every part of a replica shares.
pub struct Shared {
    pub pool: PgPool,
    pub replica_id: String,
    pub config: Config,
    pub sessions: sessions::Sessions,
    /// Wakes the dispatcher.
    pub wake: Notify,
    pub metrics: metrics::Metrics,
    pub shutdown: CancellationToken,
    /// Renters' requests waiting for the tunnel or log stream their agent opens.
    pub tunnels: rendezvous::Rendezvous<tunnel::AgentSide>,
    pub logs: rendezvous::Rendezvous<logs::Arrival>,
    /// Where the other replicas reach this one's HTTP API.
    pub http_url: std::sync::OnceLock<String>,
}

/// A running replica.
pub struct Running {
    pub shared: Arc<Shared>,
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    /// Whether agents reach the gRPC server over TLS.
    pub grpc_tls: bool,
    tasks: Vec<JoinHandle<Result<()>>>,
}

impl Running {
    pub fn replica_id(&self) -> &str {
        &self.shared.replica_id
    }

    pub fn grpc_url(&self) -> String {
        let scheme = if self.grpc_tls { "https" } else { "http" };
        format!("{scheme}://{}", self.grpc_addr)
    }

    pub fn http_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// Graceful stop: agents are told to reconnect elsewhere, unacknowledged
    /// assignments are released, this replica's row and sessions are deleted.
    pub async fn stop(self) -> Result<()> {
        self.shared.shutdown.cancel();
        let mut first_error = None;
        // The servers drain their connections; a peer that keeps one open
        // (an agent that hung without closing its socket) must not keep
        // the replica from stopping.
        let deadline = tokio::time::Instant::now() + DRAIN;
        for mut task in self.tasks {
            let finished = match tokio::time::timeout_at(deadline, &mut task).await {
                Ok(finished) => finished,
                Err(_) => {
                    tracing::warn!(
                        drain_secs = DRAIN.as_secs(),
                        "a server still had open connections after the drain period; closing them"
                    );
                    task.abort();
                    continue;
                }
            };
            match finished {
                Ok(Ok(())) => {}
                Ok(Err(err)) => {
                    first_error.get_or_insert(err);
                }
                Err(join) => {
                    first_error.get_or_insert(Error::Config(format!("task panicked: {join}")));
                }
            }
        }
        replica::deregister(&self.shared).await?;
        match first_error {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    /// Simulates a crash: every task stops at once and nothing is cleaned up
    /// (the row stays until another replica reaps it). Returns once the
    /// tasks are gone, their listening sockets closed.
    pub async fn abort(self) {
        for task in &self.tasks {
            task.abort();
        }
        for (_, session) in self.shared.sessions.all() {
            session.closed.cancel();
        }
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// How long a stopping replica waits for its servers' open connections.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// Starts a replica on `pool` (migrated) with `config`.
pub async fn start(config: Config, pool: PgPool) -> Result<Running> {
    config.validate()?;
    let reporter = match &config.keypair {
        None => None,
        Some(path) => {
            let authority = solana_keypair::read_keypair_file(path).map_err(|err| {
                Error::Config(format!(
                    "cannot read the scheduler keypair {}: {err}",
                    path.display()
                ))
            })?;
            let client = Client::new(config.rpc_url.clone(), CommitmentConfig::confirmed());
            Some(watchdog::Reporter::for_market(client, authority).await?)
        }
    };
    start_with_reporter(config, pool, reporter).await
}

/// As `start`, with the on-chain reporter given (tests pass a keypair in memory).
pub async fn start_with_reporter(
    config: Config,
    pool: PgPool,
    reporter: Option<watchdog::Reporter>,
) -> Result<Running> {
    config.validate()?;
    let grpc_tls = tls::server_config(&config)?;
    let tls_enabled = grpc_tls.is_some();
    let shared = Arc::new(Shared {
        pool,
        replica_id: config.replica_id(),
        config: config.clone(),
        sessions: sessions::Sessions::default(),
        wake: Notify::new(),
        metrics: metrics::Metrics::new(),
        shutdown: CancellationToken::new(),
        tunnels: Default::default(),
        logs: Default::default(),
        http_url: std::sync::OnceLock::new(),
    });

    let grpc = TcpListener::bind(config.grpc_addr)
        .await
        .map_err(|source| Error::Bind {
            what: "gRPC",
            addr: config.grpc_addr,
            source,
        })?;
    let http = TcpListener::bind(config.http_addr)
        .await
        .map_err(|source| Error::Bind {
            what: "HTTP",
            addr: config.http_addr,
            source,
        })?;
    let grpc_addr = grpc.local_addr().map_err(Error::Http)?;
    let http_addr = http.local_addr().map_err(Error::Http)?;
    let _ = shared.http_url.set(
        config
            .advertise_http
            .clone()
            .unwrap_or_else(|| format!("http://{http_addr}")),
    );
    replica::register(&shared).await?;
    info!(replica = %shared.replica_id, %grpc_addr, %http_addr, "scheduler replica starting");

    let mut tasks = Vec::new();
    let service = SchedulerServer::new(agent::AgentService::new(shared.clone()));
    let shutdown = shared.shutdown.clone();
    tasks.push(tokio::spawn(async move {
        // Small frames (a tunnel's request, a Stop) must not wait for the
        // peer's delayed ACK: TCP_NODELAY on every accepted connection.
        let incoming = tonic::transport::server::TcpIncoming::from(grpc).with_nodelay(Some(true));
        let mut server = tonic::transport::Server::builder();
        if let Some(tls) = grpc_tls {
            server = server.tls_config(tls)?;
        }
        server
            .initial_stream_window_size(iomesh_agent_proto::STREAM_WINDOW_BYTES)
            .initial_connection_window_size(iomesh_agent_proto::CONNECTION_WINDOW_BYTES)
            .max_frame_size(iomesh_agent_proto::TUNNEL_FRAME_BYTES as u32 + 1024)
            .add_service(service)
            .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
            .await?;
        Ok(())
    }));
    let router = http::router(shared.clone());
    let shutdown = shared.shutdown.clone();
    tasks.push(tokio::spawn(async move {
        let http = http.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(http, router)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await
            .map_err(Error::Http)
    }));
    tasks.push(tokio::spawn(dispatch::run(shared.clone())));
    tasks.push(tokio::spawn(replica::run(shared.clone())));
    tasks.push(tokio::spawn(watchdog::run(shared.clone(), reporter)));
    tasks.push(tokio::spawn(retention::run(shared.clone())));
    Ok(Running {
        shared,
        grpc_addr,
        http_addr,
        grpc_tls: tls_enabled,
        tasks,
    })
}
