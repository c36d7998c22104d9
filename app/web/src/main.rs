use anyhow::Context;
use clap::Parser;
use iomesh_web::{http, scores, Config};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// iomesh-web: the marketplace's search API and reliability scores.
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
    scores::refresh(&pool, scores::now())
        .await
        .context("computing the reliability scores")?;
    let shutdown = CancellationToken::new();
    let refresher = tokio::spawn(scores::keep_fresh(
        pool.clone(),
        config.scores_refresh(),
        shutdown.clone(),
    ));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    tracing::info!(addr = %listener.local_addr()?, "serving the market API");
    axum::serve(listener, http::router(pool))
        .with_graceful_shutdown(async {
            let _ = shutdown_signal().await;
        })
        .await?;
    shutdown.cancel();
    refresher.await?;
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() -> std::io::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result,
        _ = term.recv() => Ok(()),
    }
}
