//! `iomesh-demo`: the whole marketplace on this machine for a few minutes
//! (the README's first command). A binary of its own, so that the wallet
//! CLI links none of the services the demo runs in its process.

mod demo;

use clap::{Args, Parser, Subcommand};
use iomesh_cli::output::OutputFormat;
use std::{path::PathBuf, process::ExitCode};

/// Runs the whole marketplace on this machine for a few minutes: localnet,
/// indexer into Postgres, scheduler, GPU node agents with simulated GPUs,
/// renters leasing GPUs and a cluster; live progress, then a summary.
#[derive(Debug, Parser)]
#[command(name = "iomesh-demo", version)]
struct Cli {
    #[command(flatten)]
    args: DemoArgs,
    /// Output format of the summary (progress goes to stderr with JSON).
    #[arg(long, value_enum, default_value = "display")]
    output: OutputFormat,
    #[command(subcommand)]
    internal: Option<Internal>,
}

/// What the demo's jobs run of this binary.
#[derive(Debug, Subcommand)]
enum Internal {
    /// The demo's first job: serves a small page on PORT (run inside the job sandbox).
    #[command(name = "demo-job-web", hide = true)]
    DemoJobWeb { port: u16 },
    /// Supervises one job when the demo's agents run it (see iomesh-agent job-shim).
    #[command(name = "job-shim", hide = true)]
    JobShim(iomesh_agent::shim::ShimArgs),
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Postgres server to use; the demo creates its own database in it and
    /// drops it at the end. Without one, a private throwaway server is started
    /// from the installed PostgreSQL binaries (initdb, pg_ctl).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// How long the renters' leases run, in seconds (the market minimum is 60).
    #[arg(long, default_value_t = 60)]
    pub lease_secs: u32,
    /// Seconds of silence after which a node's lease is reported failed
    /// (long enough that a busy machine does not make a healthy node look dead).
    #[arg(long, default_value_t = 10)]
    pub failure_grace_secs: u32,
    /// Keep everything running once the scenario is done, for a person to
    /// open the marketplace in a browser, until Ctrl-C; then keep the work
    /// directory (log, keys, job outputs) and the demo database.
    #[arg(long)]
    pub keep: bool,
    /// Work directory (default: a new temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Run carol's cluster as two plain processes instead of a Ray cluster
    /// (and install no Ray).
    #[arg(long)]
    pub no_ray: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The job shim runs alone: no runtime, no threads but its own.
    if let Some(Internal::JobShim(args)) = cli.internal {
        return iomesh_agent::shim::main(args);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: starting the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.internal {
            Some(Internal::DemoJobWeb { port }) => demo::web::serve(port).await,
            _ => demo::run(cli.output, cli.args).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
