//! `iomesh localnet [--bootstrap]`: the localnet in this process until Ctrl-C.

use crate::{
    args::LocalnetArgs,
    config::load_keypair,
    context::Context,
    output::{fields, Human, Output, OutputFormat, Table},
};
use anyhow::{Context as _, Result};
use iomesh_client::{
    bootstrap::{self, Bootstrap},
    Client,
};
use iomesh_localnet::{Config, Localnet};
use solana_commitment_config::CommitmentConfig;
use solana_keypair::{write_keypair_file, Keypair};
use std::{
    io::Write,
    net::{Ipv4Addr, SocketAddr},
    time::Duration,
};

pub async fn run(ctx: &Context, args: LocalnetArgs) -> Result<()> {
    let dir = args.dir.clone().unwrap_or_else(|| ctx.localnet_dir.clone());
    // Check the keypair before starting anything.
    let authority = if args.bootstrap {
        Some(authority_keypair(ctx, args.new_keypair)?)
    } else {
        None
    };
    let mut stdout = reserve_stdout().context("redirecting program logs to stderr")?;
    let localnet = Localnet::start(Config {
        rpc_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, args.rpc_port)),
        grpc_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, args.grpc_port)),
        pubsub_addr: args
            .pubsub_port
            .map(|port| SocketAddr::from((Ipv4Addr::LOCALHOST, port))),
        slot_duration: Duration::from_millis(args.slot_ms),
        ..Config::default()
    })
    .await
    .context("starting the localnet")?;
    eprintln!(
        "localnet JSON-RPC at {}, PubSub at {}, Yellowstone gRPC at {}",
        localnet.rpc_url(),
        localnet.pubsub_url(),
        localnet.grpc_url()
    );
    if let Some(authority) = authority {
        let client = Client::new(localnet.rpc_url(), CommitmentConfig::confirmed());
        let result = bootstrap::run(&client, &dir, &authority, Some(localnet.grpc_url()))
            .await
            .context("bootstrapping the localnet");
        let bootstrap = match result {
            Ok(bootstrap) => bootstrap,
            Err(err) => {
                localnet.shutdown().await;
                return Err(err);
            }
        };
        stdout
            .write_all(output(&bootstrap, &dir).render(ctx.output).as_bytes())
            .and_then(|()| stdout.flush())
            .context("writing the bootstrap to stdout")?;
    }
    if ctx.output == OutputFormat::Display {
        eprintln!("running; Ctrl-C to stop");
    }
    shutdown_signal().await.context("waiting for Ctrl-C")?;
    localnet.shutdown().await;
    Ok(())
}

/// The market authority: `--keypair`, created only when `--new-keypair` asks.
fn authority_keypair(ctx: &Context, create: bool) -> Result<Keypair> {
    let path = &ctx.keypair.path;
    if !path.exists() && create {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let keypair = Keypair::new();
        write_keypair_file(&keypair, path)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("writing the new keypair {}", path.display()))?;
        eprintln!("created keypair {}", path.display());
        return Ok(keypair);
    }
    load_keypair(path, ctx.keypair.origin).map_err(|err| {
        err.context("the bootstrap makes this keypair the market authority (add --new-keypair to create it)")
    })
}

fn output(b: &Bootstrap, dir: &std::path::Path) -> Output {
    let summary = fields(&[
        ("RPC URL", b.rpc_url.clone()),
        ("Program", b.program_id.to_string()),
        ("Market", b.market.to_string()),
        ("Authority", b.authority.to_string()),
        ("Treasury", b.treasury.to_string()),
        ("Faucet keypair", b.faucet_keypair.display().to_string()),
        (
            "Bootstrap file",
            dir.join(bootstrap::BOOTSTRAP_FILE).display().to_string(),
        ),
    ]);
    let mut table = Table::new(
        vec![
            "SYMBOL",
            "MINT",
            "DECIMALS",
            "TOKEN PROGRAM",
            "PRICE",
            "FEE (bps)",
            "VAULT",
        ],
        "no mints",
    );
    for (symbol, m) in &b.mints {
        table.row(vec![
            symbol.clone(),
            m.mint.to_string(),
            m.decimals.to_string(),
            iomesh_client::tokens::token_program_name(&m.token_program).into(),
            format!(
                "{} ({})",
                iomesh_client::units::format_usd(m.usd_price_micros),
                m.price_source
            ),
            m.fee_bps.to_string(),
            m.vault.to_string(),
        ]);
    }
    Output {
        json: serde_json::to_value(b).expect("bootstrap serialises"),
        human: Human::Sections(vec![
            ("iomesh localnet bootstrapped".into(), summary),
            ("Payment mints".into(), Human::Table(table)),
        ]),
    }
}

#[cfg(unix)]
fn reserve_stdout() -> std::io::Result<std::fs::File> {
    crate::stdio::reserve_stdout(&std::io::stderr())
}

#[cfg(not(unix))]
fn reserve_stdout() -> std::io::Result<std::io::Stdout> {
    Ok(std::io::stdout())
}

pub async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await
}
