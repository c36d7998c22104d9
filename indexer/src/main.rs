//! `iomesh-indexer`: streams every account change of the iomesh program into
//! Postgres. `iomesh-indexer --help` lists the settings (each also an env var).

use anyhow::Context;
use clap::{Parser, Subcommand};
use iomesh_indexer::{
    config::Config,
    db, http,
    metrics::Metrics,
    pipeline::{Pipeline, PipelineConfig},
    reconcile::Reconciler,
    source,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use yellowstone_grpc_proto::prelude::CommitmentLevel;

#[derive(Parser)]
#[command(name = "iomesh-indexer", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand)]
enum Command {
    /// Index (the default).
    Run,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Run) {
        Command::Run => run(cli.config).await,
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    config.validate()?;
    let pool = db::connect(&config.database_url)
        .await
        .context("connecting to Postgres and applying migrations")?;
    let metrics = Metrics::new();
    let shutdown = CancellationToken::new();
    let listener = TcpListener::bind(config.http_addr)
        .await
        .with_context(|| format!("binding {}", config.http_addr))?;
    let http = tokio::spawn(http::serve(
        listener,
        http::router(metrics.clone(), config.health_max_slot_lag),
        shutdown.clone(),
    ));

    let source = source::SourceConfig {
        endpoint: config.grpc_endpoint.clone(),
        x_token: config.grpc_x_token.clone(),
        program_id: config.program_id,
        commitment: match config.commitment {
            iomesh_indexer::config::Commitment::Processed => CommitmentLevel::Processed,
            iomesh_indexer::config::Commitment::Confirmed => CommitmentLevel::Confirmed,
            iomesh_indexer::config::Commitment::Finalized => CommitmentLevel::Finalized,
        },
        watchdog: config.watchdog(),
        reconcile_chunk: config.batch_max_updates,
    };
    let reconciler = Reconciler::new(
        config.rpc_url.clone(),
        config.program_id,
        config.commitment.rpc(),
    );
    let pipeline = Pipeline::spawn(
        pool,
        PipelineConfig {
            source,
            batch: config.batch(),
            channel_capacity: config.channel_capacity,
            cursor_id: config.cursor_id.clone(),
        },
        reconciler,
        metrics,
    );
    tracing::info!(program = %config.program_id, grpc = %config.grpc_endpoint,
        rpc = %config.rpc_url, http = %config.http_addr, "indexer started");

    shutdown_signal().await?;
    tracing::info!("shutting down: flushing the pending batch");
    let batcher_abort = pipeline.batcher_abort();
    let abort_on_second_signal = tokio::spawn(async move {
        if shutdown_signal().await.is_ok() {
            batcher_abort.cancel();
        }
    });
    let stopped = pipeline.stop().await;
    shutdown.cancel();
    abort_on_second_signal.abort();
    stopped?;
    http.await.context("http task")??;
    tracing::info!("indexer stopped");
    Ok(())
}

async fn shutdown_signal() -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = term.recv() => {}
    }
    Ok(())
}
