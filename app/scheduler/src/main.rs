use anyhow::Context;
use clap::{Parser, Subcommand};
use iomesh_scheduler::{db, rewards, Config};
use tracing_subscriber::EnvFilter;

/// iomesh scheduler: dispatches paid leases to the agents on GPU nodes.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scheduler replica.
    Run(Config),
    /// Compute an epoch's rewards from Postgres, write the epoch file, optionally publish it.
    Rewards(rewards::RewardArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Run(config) => run(config).await,
        Command::Rewards(args) => rewards::run(args).await,
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    config.validate()?;
    let pool = db::connect(&config.database_url, config.db_connections)
        .await
        .context("connecting to Postgres and applying migrations")?;
    let running = iomesh_scheduler::start(config, pool)
        .await
        .context("starting the scheduler")?;
    shutdown_signal().await;
    tracing::info!("shutting down: releasing agents and unacknowledged assignments");
    running.stop().await.context("stopping the scheduler")?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
