use anyhow::{Context, Result};
use clap::Parser;
use iomesh_agent::{
    config::{Cli, Command, OnShutdown},
    gpu, session,
};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Gpus { json } => {
            let gpus = gpu::detect(&cli.gpus.source())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&gpus)?);
            } else if gpus.is_empty() {
                println!("no GPUs detected (no NVIDIA driver: neither NVML nor nvidia-smi is installed, or they list none)");
            } else {
                for g in &gpus {
                    println!("{}  {}  {} MiB  {}", g.index, g.model, g.vram_mib, g.uuid);
                }
            }
            Ok(())
        }
        Command::Run(args) => {
            let config = args.validate(&cli.gpus)?;
            let (agent, events) = iomesh_agent::start(&config)
                .await
                .context("opening the job state directory")?;
            tracing::info!(
                node = %agent.chain.node(),
                gpus = agent.gpus.len(),
                reattached = agent.jobs.running().len(),
                scheduler = config.scheduler_url,
                "agent started"
            );
            let shutdown = CancellationToken::new();
            let sessions = tokio::spawn(session::run(
                agent.clone(),
                events,
                session::SessionConfig::new(config.scheduler_url.clone()),
                shutdown.clone(),
            ));
            wait_for_signal().await?;
            tracing::info!("shutting down");
            match config.on_shutdown {
                // Jobs keep running in their own process groups; their state
                // files let the next agent reattach to them.
                OnShutdown::Leave => tracing::info!(
                    jobs = agent.jobs.running().len(),
                    "leaving jobs running for the next agent to reattach"
                ),
                // Stopped while the session still runs, so the scheduler
                // hears how each job ended.
                OnShutdown::Stop => agent.jobs.stop_all("the agent is shutting down").await,
            }
            shutdown.cancel();
            let _ = sessions.await;
            Ok(())
        }
    }
}

async fn wait_for_signal() -> Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}
