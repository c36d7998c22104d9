//! `iomesh`: the wallet CLI of the iomesh GPU marketplace.

mod agent_gpus;
mod args;
mod commands;
mod config;
mod context;
mod demo;
mod output;
mod renter_api;
#[cfg(unix)]
mod stdio;
mod views;

use args::{Cli, Command};
use clap::Parser;
use context::Context;
use std::process::ExitCode;

/// Bank internals log every slot at info; keep them quiet unless RUST_LOG asks.
const LOCALNET_LOG_FILTER: &str = "warn,iomesh_localnet=info,solana=warn,agave=warn,tarpc=error";

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The job shim runs alone: no runtime, no threads but its own.
    if let Command::JobShim(args) = cli.command {
        return iomesh_agent::shim::main(args);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: starting the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let ctx = Context::new(&cli.global)?;
    let output = match cli.command {
        Command::Market(command) => commands::market::run(&ctx, command).await?,
        Command::Node(command) => commands::node::run(&ctx, command).await?,
        // These print as the job runs, not once at the end.
        Command::Lease(args::LeaseCommand::Logs {
            lease,
            follow,
            tail,
            since,
        }) => return commands::renter::logs(&ctx, &lease, follow, tail, since).await,
        Command::Lease(args::LeaseCommand::Forward { lease, port, local }) => {
            let local = local.unwrap_or_else(|| ([127, 0, 0, 1], port).into());
            return commands::renter::forward(&ctx, &lease, port, local).await;
        }
        Command::Lease(command) => commands::lease::run(&ctx, command).await?,
        Command::Gpus(command) => commands::gpus::run(&ctx, command).await?,
        Command::Cluster(command) => commands::cluster::run(&ctx, command).await?,
        Command::Rewards(command) => commands::rewards::run(&ctx, command).await?,
        Command::Iosd(command) => commands::iosd::run(&ctx, command).await?,
        Command::Credit(command) => commands::credit::run(&ctx, command).await?,
        Command::Balance { address } => commands::wallet::balance(&ctx, address).await?,
        Command::Airdrop { amount, to } => commands::wallet::airdrop(&ctx, amount, to).await?,
        Command::Faucet { symbol, amount, to } => {
            commands::wallet::faucet(&ctx, symbol, amount, to).await?
        }
        Command::Keygen { outfile, force } => commands::wallet::keygen(&outfile, force)?,
        Command::Demo(args) => return demo::run(&ctx, args).await,
        Command::DemoJobWeb { port } => return demo::web::serve(port).await,
        Command::JobShim(_) => unreachable!("main runs the job shim before the runtime"),
        Command::Localnet(args) => {
            tracing_subscriber::fmt()
                .with_writer(std::io::stderr)
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| LOCALNET_LOG_FILTER.into()),
                )
                .init();
            return commands::localnet::run(&ctx, args).await;
        }
    };
    output.print(ctx.output);
    Ok(())
}
