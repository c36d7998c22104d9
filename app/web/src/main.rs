use anyhow::Context;
use clap::Parser;
use iomesh_web::{Config, Server};
use tracing_subscriber::EnvFilter;

/// iomesh-web: the marketplace's pages, search API, reliability scores and Solana Actions.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    config: Config,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let config = Cli::parse().config;
    let pool = iomesh_db::connect(&config.database_url, 8)
        .await
        .context("connecting to Postgres and applying migrations")?;
    let server = Server::start(pool, config.options()).await?;
    tracing::info!(addr = %server.addr(), "serving the marketplace");
    server
        .run_until(async {
            let _ = shutdown_signal().await;
        })
        .await
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result,
        _ = term.recv() => Ok(()),
    }
}
