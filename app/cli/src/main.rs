//! `iomesh`: the wallet CLI of the iomesh GPU marketplace.

mod agent_gpus;
mod args;
mod commands;
mod config;
mod context;
mod views;

use iomesh_cli::{output, renter_api};

use args::{Cli, Command};
use clap::Parser;
use context::Context;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
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
    };
    output.print(ctx.output);
    Ok(())
}
