//! The marketplace's services, in this process and over real sockets: the
//! localnet with the program (JSON-RPC + Yellowstone gRPC), a bootstrapped
//! market, the indexer streaming it into Postgres and one scheduler replica.

use anyhow::{Context as _, Result};
use iomesh_client::{
    bootstrap::{self, Bootstrap},
    instructions,
    iomesh::{self, MarketParams},
    Client,
};
use iomesh_indexer::{
    batcher::BatchConfig,
    metrics::Metrics,
    pipeline::{Pipeline, PipelineConfig},
    reconcile::Reconciler,
    source::SourceConfig,
};
use iomesh_localnet::{Config as LocalnetConfig, Localnet};
use iomesh_scheduler::{watchdog::Reporter, Config as SchedulerConfig, Running};
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_signer::Signer;
use sqlx::PgPool;
use std::{path::Path, time::Duration};
use yellowstone_grpc_proto::prelude::CommitmentLevel;

/// Slot length of the demo's localnet: short, so confirmations are quick.
const SLOT: Duration = Duration::from_millis(100);
/// SOL for the scheduler authority's report_failure fees.
const SCHEDULER_LAMPORTS: u64 = 1_000_000_000;

pub struct Stack {
    pub localnet: Localnet,
    pub client: Client,
    pub bootstrap: Bootstrap,
    /// The mints' faucet (mint authority of IO and USDC).
    pub faucet: Keypair,
    pub pool: PgPool,
    pub scheduler: Running,
    /// The scheduler's self-signed certificate (PEM), which agents pin.
    pub scheduler_certificate: Vec<u8>,
    /// The market's search API (iomesh-web) over the same database.
    pub market_api: iomesh_web::Server,
    indexer: Pipeline,
}

impl Stack {
    /// Starts everything; `database_url` is the demo's own (empty) database.
    pub async fn start(dir: &Path, database_url: &str, failure_grace_secs: u32) -> Result<Self> {
        let localnet = Localnet::start(LocalnetConfig {
            slot_duration: SLOT,
            ..LocalnetConfig::ephemeral()
        })
        .await
        .context("starting the localnet")?;
        let client = Client::new(localnet.rpc_url(), CommitmentConfig::confirmed());
        let authority = Keypair::new();
        let bootstrap = iomesh_localnet::market::bootstrap(
            &client,
            &dir.join("localnet"),
            &authority,
            Some(localnet.grpc_url()),
        )
        .await
        .context("bootstrapping the market")?;
        let faucet = bootstrap::load_or_create_keypair(&bootstrap.faucet_keypair)?;

        // The scheduler is the market's scheduler authority (it reports
        // silent nodes), with a failure grace short enough to watch.
        let scheduler_key = Keypair::new();
        bootstrap::airdrop(&client, &scheduler_key.pubkey(), SCHEDULER_LAMPORTS).await?;
        let market = client.market().await?;
        let params = MarketParams {
            treasury: market.treasury,
            scheduler_authority: scheduler_key.pubkey(),
            price_authority: market.price_authority,
            reward_authority: market.reward_authority,
            activation_timeout_secs: market.activation_timeout_secs,
            min_lease_secs: market.min_lease_secs,
            max_lease_secs: market.max_lease_secs,
            failure_grace_secs,
        };
        client
            .send(
                &[instructions::update_market(&authority.pubkey(), params)],
                &authority,
                &[],
            )
            .await
            .context("making the demo scheduler the market's scheduler authority")?;

        let pool = iomesh_scheduler::db::connect(database_url, 24)
            .await
            .context("connecting to the demo database and applying the migrations")?;
        let indexer = spawn_indexer(&pool, localnet.grpc_url(), localnet.rpc_url());

        // Agents reach the scheduler over TLS, as they would over the
        // internet: a self-signed certificate for the loopback address,
        // pinned by every agent.
        let tls = tls_files(&dir.join("tls"))?;
        let mut config = SchedulerConfig::new(database_url);
        config.tls_cert = Some(tls.certificate.clone());
        config.tls_key = Some(tls.key);
        config.replica_id = Some("demo-replica".into());
        config.rpc_url = localnet.rpc_url();
        config.poll_ms = 500;
        config.watchdog_ms = 250;
        config.agent_heartbeat_ms = 1_000;
        let scheduler = iomesh_scheduler::start_with_reporter(
            config,
            pool.clone(),
            Some(Reporter {
                client: Client::new(localnet.rpc_url(), CommitmentConfig::confirmed()),
                authority: scheduler_key,
            }),
        )
        .await
        .context("starting the scheduler")?;
        let scheduler_certificate = std::fs::read(&tls.certificate)?;
        // Scores recomputed every few seconds: the demo's market is minutes old.
        // Its renter pages reach jobs through the scheduler's HTTP API.
        let market_api = iomesh_web::Server::start(
            pool.clone(),
            iomesh_web::Options {
                scheduler_url: Some(scheduler.http_url()),
                ..iomesh_web::Options::local(localnet.rpc_url(), Duration::from_secs(5))
            },
        )
        .await
        .context("starting the market API")?;
        Ok(Self {
            localnet,
            client,
            bootstrap,
            faucet,
            pool,
            scheduler,
            scheduler_certificate,
            market_api,
            indexer,
        })
    }

    /// Stops the market API, the scheduler, the indexer (flushing), the pool
    /// and the localnet.
    pub async fn stop(self) -> Result<()> {
        let market_api = self.market_api.stop().await;
        let scheduler = self.scheduler.stop().await;
        let indexer = self.indexer.stop().await;
        self.pool.close().await;
        self.localnet.shutdown().await;
        market_api.context("stopping the market API")?;
        scheduler.context("stopping the scheduler")?;
        indexer.context("stopping the indexer")
    }
}

/// Where the scheduler's certificate and key were written.
struct TlsFiles {
    certificate: std::path::PathBuf,
    key: std::path::PathBuf,
}

/// A self-signed certificate for 127.0.0.1 and localhost, written as PEM
/// under `dir` (the key readable by its owner only).
fn tls_files(dir: &Path) -> Result<TlsFiles> {
    let generated =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .context("generating the scheduler's self-signed certificate")?;
    std::fs::create_dir_all(dir)?;
    let files = TlsFiles {
        certificate: dir.join("scheduler.crt"),
        key: dir.join("scheduler.key"),
    };
    std::fs::write(&files.certificate, generated.cert.pem())?;
    let mut key = std::fs::OpenOptions::new();
    key.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut key, 0o600);
    std::io::Write::write_all(
        &mut key.open(&files.key)?,
        generated.key_pair.serialize_pem().as_bytes(),
    )?;
    Ok(files)
}

/// The indexer pipeline (gRPC source → batcher → Postgres), as its binary runs it.
fn spawn_indexer(pool: &PgPool, grpc_url: String, rpc_url: String) -> Pipeline {
    let source = SourceConfig {
        endpoint: grpc_url,
        x_token: None,
        program_id: iomesh::ID,
        commitment: CommitmentLevel::Confirmed,
        watchdog: Duration::from_secs(10),
        reconcile_chunk: 1_024,
    };
    Pipeline::spawn(
        pool.clone(),
        PipelineConfig {
            source,
            batch: BatchConfig::default(),
            channel_capacity: 4_096,
            cursor_id: "demo".into(),
        },
        Reconciler::new(rpc_url, iomesh::ID, CommitmentConfig::confirmed()),
        Metrics::new(),
    )
}
