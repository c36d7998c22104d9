//! The indexer, in process or as its binary; a TCP proxy in front of the gRPC
//! server to drop or refuse streams; and the comparison of Postgres with the chain.

use crate::chain::Chain;
use iomesh_indexer::{
    batcher::BatchConfig,
    metrics::Metrics,
    pipeline::{Pipeline, PipelineConfig},
    reconcile::Reconciler,
    source::SourceConfig,
};
use solana_commitment_config::CommitmentConfig;
use sqlx::{PgPool, Row};
use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use yellowstone_grpc_proto::prelude::CommitmentLevel;

pub const TIMEOUT: Duration = Duration::from_secs(90);

/// The indexer pipeline running in this process.
pub struct Indexer {
    pub metrics: Metrics,
    pipeline: Pipeline,
}

impl Indexer {
    pub fn spawn(pool: &PgPool, grpc_url: String, rpc_url: String) -> Self {
        let source = SourceConfig {
            endpoint: grpc_url,
            x_token: None,
            program_id: iomesh::ID,
            commitment: CommitmentLevel::Confirmed,
            watchdog: Duration::from_secs(3),
            reconcile_chunk: 512,
        };
        let metrics = Metrics::new();
        let pipeline = Pipeline::spawn(
            pool.clone(),
            PipelineConfig {
                source,
                batch: BatchConfig {
                    max_updates: 512,
                    max_delay: Duration::from_millis(10),
                    ..BatchConfig::default()
                },
                channel_capacity: 4_096,
                cursor_id: "test".into(),
            },
            Reconciler::new(rpc_url, iomesh::ID, CommitmentConfig::confirmed()),
            metrics.clone(),
        );
        Self { metrics, pipeline }
    }

    /// Graceful stop: the source ends, the batcher flushes what is pending.
    pub async fn stop(self) {
        self.pipeline.stop().await.unwrap();
    }
}

/// A TCP proxy that can cut every connection, or refuse new ones.
pub struct Proxy {
    pub addr: SocketAddr,
    refusing: Arc<AtomicBool>,
    cut: Arc<Mutex<CancellationToken>>,
}

impl Proxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let refusing = Arc::new(AtomicBool::new(false));
        let cut = Arc::new(Mutex::new(CancellationToken::new()));
        let (refusing2, cut2) = (refusing.clone(), cut.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                if refusing2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let token = cut2.lock().unwrap().clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = token.cancelled() => {}
                    }
                });
            }
        });
        Self {
            addr,
            refusing,
            cut,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Drops every open connection mid-flight.
    pub fn cut(&self) {
        let mut token = self.cut.lock().unwrap();
        token.cancel();
        *token = CancellationToken::new();
    }

    /// Refuses (or accepts again) new connections; `true` also cuts open ones.
    pub fn refuse(&self, refusing: bool) {
        self.refusing.store(refusing, Ordering::SeqCst);
        if refusing {
            self.cut();
        }
    }
}

/// Whether Postgres holds exactly the chain's accounts: the same bytes and
/// lamports in the table of their kind, alive, and nothing else alive.
pub async fn postgres_matches_chain(pool: &PgPool, chain: &Chain) -> Result<(), String> {
    let accounts = chain.accounts().await;
    for (pubkey, account) in &accounts {
        let kind: Option<Option<String>> =
            sqlx::query_scalar("SELECT kind FROM accounts WHERE pubkey = $1")
                .bind(pubkey.as_ref())
                .fetch_optional(pool)
                .await
                .map_err(|e| e.to_string())?;
        let kind = kind
            .flatten()
            .ok_or(format!("{pubkey} missing from accounts"))?;
        let table = match kind.as_str() {
            "market" => "markets",
            "payment_mint" => "payment_mints",
            "node" => "nodes",
            "lease" => "leases",
            "cluster" => "clusters",
            "pending_slash" => "pending_slashes",
            "reward_epoch" => "reward_epochs",
            "iosd_config" => "iosd_config",
            "vault" => "vaults",
            other => return Err(format!("{pubkey} has kind {other}")),
        };
        let row = sqlx::query(&format!(
            "SELECT data, lamports, closed_slot FROM {table} WHERE pubkey = $1"
        ))
        .bind(pubkey.as_ref())
        .fetch_optional(pool)
        .await
        .map_err(|e| e.to_string())?
        .ok_or(format!("{kind} {pubkey} missing from {table}"))?;
        if row.get::<Vec<u8>, _>(0) != account.data {
            return Err(format!("{kind} {pubkey}: data differs"));
        }
        if row.get::<i64, _>(1) != account.lamports as i64 {
            return Err(format!("{kind} {pubkey}: lamports differ"));
        }
        if row.get::<Option<i64>, _>(2).is_some() {
            return Err(format!("{kind} {pubkey}: a tombstone but alive on chain"));
        }
    }
    let alive: i64 = sqlx::query_scalar("SELECT count(*) FROM accounts WHERE closed_slot IS NULL")
        .fetch_one(pool)
        .await
        .map_err(|e| e.to_string())?;
    if alive as usize != accounts.len() {
        return Err(format!(
            "{alive} accounts alive in Postgres, {} on chain",
            accounts.len()
        ));
    }
    Ok(())
}

/// Waits until Postgres matches the chain; panics with the last difference.
pub async fn wait_until_postgres_matches_chain(pool: &PgPool, chain: &Chain) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        match postgres_matches_chain(pool, chain).await {
            Ok(()) => return,
            Err(difference) if tokio::time::Instant::now() > deadline => {
                panic!("Postgres never matched the chain: {difference}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// `closed_slot` of a pubkey in the guard table.
pub async fn closed_slot(pool: &PgPool, pubkey: &solana_pubkey::Pubkey) -> Option<i64> {
    sqlx::query_scalar("SELECT closed_slot FROM accounts WHERE pubkey = $1")
        .bind(pubkey.as_ref())
        .fetch_optional(pool)
        .await
        .unwrap()
        .flatten()
}
