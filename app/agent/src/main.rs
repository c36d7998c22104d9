use anyhow::{Context, Result};
use clap::Parser;
use iomesh_agent::{
    config::{AgentConfig, Cli, Command, GpuArgs, OnShutdown},
    gpu, session, shim,
};
use std::process::ExitCode;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

fn main() -> Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        // The job shim runs alone: no runtime, no threads but its own.
        Command::JobShim(args) => Ok(shim::main(args)),
        Command::Gpus { json } => {
            init_tracing();
            print_gpus(&cli.gpus, json)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => {
            init_tracing();
            let config = args.validate(&cli.gpus)?;
            tokio::runtime::Runtime::new()
                .context("starting the async runtime")?
                .block_on(run(config))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

fn print_gpus(gpu_args: &GpuArgs, json: bool) -> Result<()> {
    let gpus = gpu::detect(&gpu_args.source())?;
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

async fn run(config: AgentConfig) -> Result<()> {
    // Listening before "agent started" is logged: a SIGTERM sent as soon as
    // it is must be handled, not kill the agent.
    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    let (agent, events) = iomesh_agent::start(&config)
        .await
        .context("starting the agent")?;
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
        session::SessionConfig {
            scheduler_ca: config.scheduler_ca.clone(),
            ..session::SessionConfig::new(config.scheduler_url.clone())
        },
        shutdown.clone(),
    ));
    tokio::select! {
        _ = term.recv() => {}
        _ = interrupt.recv() => {}
    }
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
