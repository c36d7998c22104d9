//! iomesh-web: the marketplace in a browser, over the indexed Postgres
//! tables: the search ("Kayak for GPUs") as pages and as JSON, node and GPU
//! model pages with their charts, the reliability scores anyone can
//! recompute, and "rent this node" as a Solana Action any wallet can sign.

pub mod actions;
pub mod charts;
pub mod http;
pub mod jobs;
pub mod market;
pub mod pages;
pub mod rewards;
pub mod scores;
pub mod search;

use sqlx::PgPool;
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How `iomesh-web` runs.
#[derive(Clone, Debug, clap::Args)]
pub struct Config {
    /// Postgres with the indexer's and the scheduler's tables.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Address of the pages and the API.
    #[arg(long, env = "IOMESH_WEB_LISTEN", default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// Seconds between recomputations of the reliability scores.
    #[arg(long, env = "IOMESH_WEB_SCORES_REFRESH_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub scores_refresh_secs: u64,
    /// Solana JSON-RPC endpoint the Actions build transactions against.
    #[arg(
        long = "url",
        env = "IOMESH_RPC_URL",
        default_value = "http://127.0.0.1:8899"
    )]
    pub rpc_url: String,
    /// Where people reach this service (the Actions' icon and links are
    /// absolute); default: `http://<listen>`.
    #[arg(long, env = "IOMESH_WEB_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The chain a page asks the wallet to sign for, as the Wallet Standard
    /// names it: solana:mainnet, solana:devnet, solana:testnet, solana:localnet.
    #[arg(
        long,
        env = "IOMESH_WEB_WALLET_CHAIN",
        default_value = "solana:mainnet"
    )]
    pub wallet_chain: String,
    /// A scheduler's HTTP API (any replica): the renter's page shows each
    /// lease's job state, hands the job spec over and reads the job's logs
    /// through it, with the wallet's signatures.
    #[arg(long, env = "IOMESH_SCHEDULER_URL")]
    pub scheduler: Option<String>,
    /// Where browsers reach that scheduler, for a job's ports opened from
    /// the renter page (default: --scheduler).
    #[arg(long, env = "IOMESH_WEB_SCHEDULER_PUBLIC_URL")]
    pub scheduler_public_url: Option<String>,
    /// The directory of reward epoch files (what `iomesh-scheduler rewards
    /// --out` writes): suppliers' pages list their nodes' rewards and claim
    /// them through the claim Action.
    #[arg(long, env = "IOMESH_WEB_REWARD_EPOCHS")]
    pub reward_epochs: Option<std::path::PathBuf>,
}

impl Config {
    pub fn options(&self) -> Options {
        Options {
            listen: self.listen,
            scores_refresh: Duration::from_secs(self.scores_refresh_secs),
            rpc_url: self.rpc_url.clone(),
            public_url: self.public_url.clone(),
            wallet_chain: self.wallet_chain.clone(),
            scheduler_url: self.scheduler.clone(),
            scheduler_public_url: self.scheduler_public_url.clone(),
            reward_epochs: self.reward_epochs.clone(),
        }
    }
}

/// How a `Server` serves.
#[derive(Clone, Debug)]
pub struct Options {
    /// Port 0: any free one.
    pub listen: SocketAddr,
    pub scores_refresh: Duration,
    pub rpc_url: String,
    /// None: `http://` and the bound address.
    pub public_url: Option<String>,
    pub wallet_chain: String,
    /// The scheduler's HTTP API; None: the pages do without job state and logs.
    pub scheduler_url: Option<String>,
    /// Where browsers reach the scheduler; None: `scheduler_url`.
    pub scheduler_public_url: Option<String>,
    /// The reward epoch files' directory; None: no rewards on the pages.
    pub reward_epochs: Option<std::path::PathBuf>,
}

impl Options {
    /// Loopback on any free port, the chain at `rpc_url`.
    pub fn local(rpc_url: impl Into<String>, scores_refresh: Duration) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            scores_refresh,
            rpc_url: rpc_url.into(),
            public_url: None,
            wallet_chain: "solana:localnet".into(),
            scheduler_url: None,
            scheduler_public_url: None,
            reward_epochs: None,
        }
    }
}

/// Every route: the pages, the JSON API, the Actions and the job relay.
pub fn app(
    pool: PgPool,
    actions: Arc<actions::Actions>,
    jobs: Arc<jobs::Jobs>,
    wallet_chain: String,
) -> axum::Router {
    http::router(pool.clone())
        .merge(pages::router(pages::Pages {
            pool,
            wallet_chain,
            jobs: jobs.clone(),
            actions: actions.clone(),
        }))
        .merge(actions::router(actions))
        .merge(jobs::router(jobs))
}

/// The API serving on its address, with its scores kept fresh.
pub struct Server {
    addr: SocketAddr,
    shutdown: CancellationToken,
    serve: JoinHandle<std::io::Result<()>>,
    refresher: JoinHandle<()>,
}

impl Server {
    /// Computes the scores, then serves everything on `options.listen` and
    /// recomputes the scores every `options.scores_refresh`.
    pub async fn start(pool: PgPool, options: Options) -> anyhow::Result<Self> {
        use anyhow::Context;
        scores::refresh(&pool, scores::now())
            .await
            .context("computing the reliability scores")?;
        let listen = options.listen;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let addr = listener.local_addr()?;
        let public_url = options
            .public_url
            .unwrap_or_else(|| format!("http://{addr}"));
        let actions = Arc::new(actions::Actions::new(
            &options.rpc_url,
            &public_url,
            rewards::Epochs::new(options.reward_epochs),
        ));
        let jobs = Arc::new(jobs::Jobs::new(
            options.scheduler_url.as_deref(),
            options.scheduler_public_url.as_deref(),
        ));
        let wallet_chain = options.wallet_chain;
        let shutdown = CancellationToken::new();
        let refresher = tokio::spawn(scores::keep_fresh(
            pool.clone(),
            options.scores_refresh,
            shutdown.clone(),
        ));
        let stopped = shutdown.clone();
        let serve = tokio::spawn(async move {
            axum::serve(listener, app(pool, actions, jobs, wallet_chain))
                .with_graceful_shutdown(stopped.cancelled_owned())
                .await
        });
        Ok(Self {
            addr,
            shutdown,
            serve,
            refresher,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Finishes the requests in flight and stops.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.refresher.await?;
        self.serve.await??;
        Ok(())
    }

    /// Runs until `stop` resolves, then stops.
    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        tokio::select! {
            _ = stop => {}
            _ = self.shutdown.cancelled() => {}
        }
        self.stop().await
    }
}
