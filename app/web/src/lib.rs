//! iomesh-web: the marketplace in a browser, over the indexed Postgres
//! tables. So far the JSON API of the search ("Kayak for GPUs") and the
//! reliability scores anyone can recompute; pages, wallets and Solana
//! Actions build on it.

pub mod http;
pub mod scores;
pub mod search;

use std::{net::SocketAddr, time::Duration};

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
