//! iomesh-web: the marketplace in a browser, over the indexed Postgres
//! tables. So far the JSON API of the search ("Kayak for GPUs") and the
//! reliability scores anyone can recompute; pages, wallets and Solana
//! Actions build on it.

pub mod http;
pub mod scores;
pub mod search;

use sqlx::PgPool;
use std::{net::SocketAddr, time::Duration};
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
}

impl Config {
    pub fn scores_refresh(&self) -> Duration {
        Duration::from_secs(self.scores_refresh_secs)
    }
}

/// The API serving on its address, with its scores kept fresh.
pub struct Server {
    addr: SocketAddr,
    shutdown: CancellationToken,
    serve: JoinHandle<std::io::Result<()>>,
    refresher: JoinHandle<()>,
}

impl Server {
    /// Computes the scores, then serves the API on `listen` (port 0: any
    /// free one) and recomputes the scores every `refresh`.
    pub async fn start(
        pool: PgPool,
        listen: SocketAddr,
        refresh: Duration,
    ) -> anyhow::Result<Self> {
        use anyhow::Context;
        scores::refresh(&pool, scores::now())
            .await
            .context("computing the reliability scores")?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let refresher = tokio::spawn(scores::keep_fresh(pool.clone(), refresh, shutdown.clone()));
        let stopped = shutdown.clone();
        let serve = tokio::spawn(async move {
            axum::serve(listener, http::router(pool))
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
