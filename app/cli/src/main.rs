//! `iomesh`: the wallet CLI of the iomesh GPU marketplace.

mod agent_gpus;
mod args;
mod commands;
mod config;
mod context;
mod demo;
mod output;
#[cfg(unix)]
mod stdio;
mod views;

use args::{Cli, Command};
use clap::Parser;
use context::Context;
use std::process::ExitCode;

/// Bank internals log every slot at info; keep them quiet unless RUST_LOG asks.
const LOCALNET_LOG_FILTER: &str = "warn,iomesh_localnet=info,solana=warn,agave=warn,tarpc=error";

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
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
