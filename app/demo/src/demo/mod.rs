//! The whole marketplace on this machine for a few minutes.
//!
//! Everything runs in this process over real sockets: the localnet (the
//! program in a real bank, JSON-RPC and Yellowstone gRPC), the indexer into
//! Postgres, a scheduler replica (gRPC for agents, HTTP for job specs), five
//! node agents with simulated GPUs that run a small real job, and three
//! renters. Progress is printed as Postgres records it; the summary's numbers
//! are checked against the balances moved on-chain.

mod books;
mod database;
mod progress;
mod ray_env;
mod renters;
mod scenario;
mod stack;
mod summary;
mod suppliers;
pub mod web;

use crate::DemoArgs;
use anyhow::{bail, Context as _, Result};
use database::DemoDatabase;
use iomesh_cli::output::OutputFormat;
use progress::Log;
use stack::Stack;
use std::{
    fs::File,
    io::Write,
    path::{Path, PathBuf},
    time::Duration,
};
use suppliers::Supplier;

/// Log filter of the services while the demo runs (their lines go to demo.log).
const LOG_FILTER: &str =
    "info,sqlx=warn,solana=warn,agave=warn,tarpc=error,h2=warn,tower=warn,hyper=warn";
const LOG_FILE: &str = "demo.log";

pub async fn run(output_format: OutputFormat, args: DemoArgs) -> Result<()> {
    let min_secs = iomesh_client::bootstrap::MIN_LEASE_SECS;
    if !(min_secs..=3_600).contains(&args.lease_secs) {
        bail!(
            "--lease-secs {}: leases run {min_secs} to 3600 s in the demo (the market minimum is {min_secs} s)",
            args.lease_secs
        );
    }
    if !(1..=600).contains(&args.failure_grace_secs) {
        bail!(
            "--failure-grace-secs {}: must be 1 to 600",
            args.failure_grace_secs
        );
    }
    let work = WorkDir::new(args.dir.clone())?;

    // Service logs and the program's msg! lines go to demo.log; progress and
    // the summary to the real stdout (progress to stderr when printing JSON).
    let log_path = work.path().join(LOG_FILE);
    let log_file =
        File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
    init_tracing(log_file.try_clone()?);
    let mut stdout = iomesh_cli::stdio::reserve_stdout(&log_file)
        .context("redirecting the program's logs to the demo log")?;
    let progress_out: Box<dyn Write + Send> = match output_format {
        OutputFormat::Display => Box::new(stdout.try_clone()?),
        OutputFormat::Json | OutputFormat::JsonCompact => Box::new(std::io::stderr()),
    };
    let log = Log::new(progress_out);
    log.raw(format!(
        "iomesh demo: the GPU marketplace on this machine (leases of {} s; service logs in {})",
        args.lease_secs,
        log_path.display()
    ));

    let database = DemoDatabase::create(args.database_url.as_deref(), work.path()).await?;
    log.say(format!(
        "Postgres: database {} in {}",
        database.name(),
        database.origin
    ));
    let result = marketplace(&log, work.path(), &database.url, &args).await;
    let database_line = format!("{} in {}", database.name(), database.origin);
    // A private server is stopped even when the demo failed; its data stays
    // in the kept work directory.
    let cleanup = database.finish(args.keep).await;
    let kept_dir = work.finish(args.keep || result.is_err());

    match result {
        Ok(report) => {
            cleanup?;
            let output = summary::output(
                &report,
                &database_line,
                kept_dir.as_deref().and_then(Path::to_str),
            )?;
            log.raw("");
            stdout.write_all(output.render(output_format).as_bytes())?;
            stdout.flush()?;
            if report.checks.iter().any(|c| !c.ok) {
                bail!("the demo's books do not reconcile (see Checks above)");
            }
            Ok(())
        }
        Err(err) => {
            if let Some(dir) = kept_dir {
                log.raw(format!(
                    "the demo failed; its work directory is kept: {} (service logs: {})",
                    dir.display(),
                    dir.join(LOG_FILE).display()
                ));
            }
            Err(err)
        }
    }
}

/// Starts the services and the suppliers, runs the scenario, stops everything.
async fn marketplace(
    log: &Log,
    dir: &Path,
    database_url: &str,
    args: &DemoArgs,
) -> Result<scenario::Report> {
    let stack = Stack::start(dir, database_url, args.failure_grace_secs).await?;
    log.say(format!(
        "localnet: program {} at JSON-RPC {}, Yellowstone gRPC {}; market bootstrapped (IO, IOSD, USDC)",
        iomesh_client::iomesh::ID,
        stack.localnet.rpc_url(),
        stack.localnet.grpc_url()
    ));
    log.say("indexer: streaming the program's accounts over gRPC into Postgres");
    log.say(format!(
        "marketplace: pages at {url}/ (search, node and GPU model pages), JSON search at {url}/api/v1/nodes (try ?sort=reliability), Solana Actions listed at {url}/actions.json",
        url = stack.market_api.url()
    ));
    log.say(format!(
        "scheduler: agents' gRPC over TLS at {} (a self-signed certificate the agents pin), HTTP API at {} (try {}/v1/leases); silent nodes reported after {} s",
        stack.scheduler.grpc_url(),
        stack.scheduler.http_url(),
        stack.scheduler.http_url(),
        args.failure_grace_secs
    ));
    let (sandbox, sandbox_line) = suppliers::choose_sandbox(dir);
    log.say(sandbox_line);
    let mut suppliers: Vec<Supplier> = Vec::new();
    let started = async {
        // carol's cluster runs a Ray program unless --no-ray.
        let ray = match args.no_ray {
            true => None,
            false => Some(ray_env::ensure(log).await?),
        };
        start_suppliers(&stack, dir, log, &sandbox, ray.as_ref(), &mut suppliers).await?;
        Ok::<_, anyhow::Error>(ray)
    }
    .await;
    let outcome = match started {
        Ok(ray) => {
            tokio::select! {
                report = scenario::run(&stack, &suppliers, args.lease_secs, ray.as_ref(), log) => report,
                _ = iomesh_localnet::shutdown_signal() => {
                    Err(anyhow::anyhow!("interrupted"))
                }
            }
        }
        Err(err) => Err(err),
    };
    if args.keep && outcome.is_ok() {
        keep_running(&stack, log).await?;
    }
    log.say("stopping the agents, the scheduler, the indexer and the localnet");
    for supplier in suppliers {
        supplier.stop().await;
    }
    let stopped = stack.stop().await;
    let report = outcome?;
    stopped?;
    Ok(report)
}

/// `--keep`: waits for Ctrl-C (or SIGTERM) with everything running. The
/// handlers are in place before the line that invites the signal.
async fn keep_running(stack: &Stack, log: &Log) -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    log.say(format!(
        "--keep: everything keeps running for you to look at; open {}/ in a browser (Ctrl-C stops it all)",
        stack.market_api.url()
    ));
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
    Ok(())
}

async fn start_suppliers(
    stack: &Stack,
    dir: &Path,
    log: &Log,
    sandbox: &iomesh_agent::runner::sandbox::Sandbox,
    ray: Option<&iomesh_agent::ray::RayInstall>,
    suppliers: &mut Vec<Supplier>,
) -> Result<()> {
    let market = stack.client.market().await?;
    for listing in suppliers::listings() {
        let supplier = Supplier::start(
            sandbox,
            &stack.client,
            &market,
            &listing,
            &stack.scheduler.grpc_url(),
            &stack.scheduler_certificate,
            dir,
            ray,
        )
        .await?;
        log.say(format!(
            "{}: lists {} x {} ({} MiB) in {} at {}/GPU-h; its agent dials the scheduler",
            listing.name,
            listing.gpus,
            listing.model,
            listing.vram_mib,
            listing.region,
            iomesh_client::units::format_usd(listing.price)
        ));
        suppliers.push(supplier);
    }
    // Each agent is welcomed once its node is indexed and its key checked.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let connected: i64 = sqlx::query_scalar("SELECT count(*) FROM agent_sessions")
            .fetch_one(&stack.pool)
            .await?;
        if connected as usize == suppliers.len() {
            log.say(format!(
                "all {connected} agents authenticated with their operator keys and connected"
            ));
            return market_search_lists(stack, suppliers.len(), log).await;
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "only {connected} of {} agents connected to the scheduler within 60 s",
                suppliers.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Asks the market API, as a renter's browser would, for every node on
/// offer, and checks that it lists each supplier's node, cheapest first.
async fn market_search_lists(stack: &Stack, suppliers: usize, log: &Log) -> Result<()> {
    let url = format!("{}/api/v1/nodes?per_page=200", stack.market_api.url());
    let page: iomesh_web::search::Page = reqwest::get(&url)
        .await
        .and_then(|response| response.error_for_status())
        .with_context(|| format!("asking the market API {url}"))?
        .json()
        .await
        .context("reading the market API's answer")?;
    if page.nodes.len() != suppliers {
        bail!(
            "the market API lists {} nodes, not the {suppliers} suppliers' ({url})",
            page.nodes.len()
        );
    }
    let cheapest = &page.nodes[0];
    log.say(format!(
        "market search lists all {suppliers} nodes; cheapest: {} x {} in {} at {}/GPU-h",
        cheapest.gpu_count,
        cheapest.gpu_model,
        cheapest.region,
        iomesh_client::units::format_usd(cheapest.price_usd_micros_per_gpu_hour as u64)
    ));
    Ok(())
}

/// The demo's directory: the one given, or a temporary one removed at the end
/// unless kept.
enum WorkDir {
    Given(PathBuf),
    Temporary(tempfile::TempDir),
}

impl WorkDir {
    fn new(given: Option<PathBuf>) -> Result<Self> {
        Ok(match given {
            Some(dir) => {
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                Self::Given(dir)
            }
            None => Self::Temporary(
                tempfile::Builder::new()
                    .prefix("iomesh-demo.")
                    .tempdir()
                    .context("creating a temporary work directory")?,
            ),
        })
    }

    fn path(&self) -> &Path {
        match self {
            Self::Given(dir) => dir,
            Self::Temporary(dir) => dir.path(),
        }
    }

    /// The directory, if it stays after the demo.
    fn finish(self, keep: bool) -> Option<PathBuf> {
        match self {
            Self::Given(dir) => Some(dir),
            Self::Temporary(dir) if keep => Some(dir.keep()),
            Self::Temporary(_) => None,
        }
    }
}

fn init_tracing(file: File) {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| LOG_FILTER.into()),
        )
        .try_init();
}
