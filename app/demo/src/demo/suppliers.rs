//! GPU suppliers: each registers a node on-chain (owner wallet + operator hot
//! key) and runs the real node agent with simulated GPUs, dialing the
//! scheduler exactly as `iomesh-agent run` does.

use anchor_lang::prelude::Pubkey;
use anyhow::{anyhow, Context as _, Result};
use iomesh_agent::{
    agent::Agent,
    config::{AgentConfig, OnShutdown, PortRange},
    gpu,
    ray::RayInstall,
    runner::{
        proc,
        sandbox::{Bwrap, JobUser, Sandbox},
        RunnerConfig,
    },
    session::{self, SessionConfig},
};
use iomesh_client::{
    bootstrap, instructions,
    iomesh::{state::Market, NodeSpec},
    pda, Client,
};
use solana_keypair::Keypair;
use solana_signer::Signer;
use std::{path::Path, sync::Arc, time::Duration};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// SOL for a wallet's fees and rent.
pub const WALLET_LAMPORTS: u64 = 10_000_000_000;

/// A listing: what a supplier's machine has and asks for it.
pub struct Listing {
    pub name: &'static str,
    pub gpus: u16,
    pub model: &'static str,
    pub vram_mib: u32,
    pub region: &'static str,
    /// Micro-USD per GPU-hour.
    pub price: u64,
}

/// The demo's machines: a data centre, a cloud region, a former mining farm,
/// a gamer's PC, and a machine whose power will fail.
pub fn listings() -> Vec<Listing> {
    vec![
        Listing {
            name: "dc-frankfurt",
            gpus: 8,
            model: "H100 80GB",
            vram_mib: 81_559,
            region: "eu-central",
            price: 2_490_000,
        },
        Listing {
            name: "cloud-virginia",
            gpus: 4,
            model: "A100 80GB",
            vram_mib: 81_920,
            region: "us-east",
            price: 1_290_000,
        },
        Listing {
            name: "farm-quebec",
            gpus: 6,
            model: "RTX 3090",
            vram_mib: 24_576,
            region: "ca-east",
            price: 220_000,
        },
        Listing {
            name: "gamer-lisbon",
            gpus: 1,
            model: "RTX 4090",
            vram_mib: 24_564,
            region: "eu-west",
            price: 390_000,
        },
        Listing {
            name: "flaky-mumbai",
            gpus: 2,
            model: "RTX 4090",
            vram_mib: 24_564,
            region: "ap-south",
            price: 310_000,
        },
    ]
}

pub struct Supplier {
    pub name: &'static str,
    pub owner: Keypair,
    pub node: Pubkey,
    pub agent: Arc<Agent>,
    session: JoinHandle<()>,
    shutdown: CancellationToken,
}

/// The demo's agents share one machine: each gets its own job ports.
fn next_job_ports() -> PortRange {
    static NEXT: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
    // Below the kernel's ephemeral ports (32768 and up, usually).
    let index = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 5;
    let first = 27_000 + index * 1_000;
    PortRange {
        first,
        last: first + 999,
    }
}

impl Supplier {
    /// Registers `listing` on-chain and starts its agent.
    pub async fn start(
        sandbox: &Sandbox,
        client: &Client,
        market: &Market,
        listing: &Listing,
        scheduler_url: &str,
        scheduler_certificate: &[u8],
        dir: &Path,
        ray: Option<&RayInstall>,
    ) -> Result<Self> {
        let owner = Keypair::new();
        let operator = Arc::new(Keypair::new());
        for key in [&owner, &*operator] {
            bootstrap::airdrop(client, &key.pubkey(), WALLET_LAMPORTS).await?;
        }
        let spec = NodeSpec {
            gpu_model: listing.model.into(),
            gpu_count: listing.gpus,
            vram_mib: listing.vram_mib,
            region: listing.region.into(),
            price_usd_micros_per_gpu_hour: listing.price,
            min_lease_secs: market.min_lease_secs,
            max_lease_secs: market.max_lease_secs,
        };
        client
            .send(
                &[instructions::register_node(
                    &owner.pubkey(),
                    &operator.pubkey(),
                    spec,
                )],
                &owner,
                &[&*operator],
            )
            .await
            .with_context(|| format!("registering node {}", listing.name))?;

        // The agent detects "its" GPUs from the override, as `--gpus` gives it.
        let gpus = gpu::parse_override(&format!(
            "{}x{}:{}",
            listing.gpus, listing.model, listing.vram_mib
        ))
        .map_err(|err| anyhow!("simulated GPUs of {}: {err}", listing.name))?;
        let config = AgentConfig {
            scheduler_url: scheduler_url.to_string(),
            scheduler_ca: Some(scheduler_certificate.to_vec()),
            rpc_url: client.url().to_string(),
            operator: operator.clone(),
            state_dir: dir.join("agents").join(listing.name),
            gpus,
            runner: RunnerConfig {
                stop_grace: Duration::from_secs(2),
                ray: ray
                    .cloned()
                    .ok_or_else(|| "the demo runs without Ray (--no-ray)".to_string()),
                ..RunnerConfig::new(shim_program()?, sandbox.clone())
            },
            // Leases end by their own timer; this re-read catches what the
            // scheduler could not tell the agent.
            lease_check_interval: Duration::from_secs(5),
            on_shutdown: OnShutdown::Stop,
            advertise_address: std::net::Ipv4Addr::LOCALHOST.into(),
            job_ports: next_job_ports(),
        };
        std::fs::create_dir_all(&config.state_dir)
            .with_context(|| format!("creating {}", config.state_dir.display()))?;
        let (agent, events) = iomesh_agent::start(&config)
            .await
            .with_context(|| format!("starting the agent of {}", listing.name))?;
        let shutdown = CancellationToken::new();
        let session = tokio::spawn(session::run(
            agent.clone(),
            events,
            SessionConfig {
                backoff_max: Duration::from_secs(1),
                scheduler_ca: Some(scheduler_certificate.to_vec()),
                ..SessionConfig::new(scheduler_url)
            },
            shutdown.clone(),
        ));
        Ok(Self {
            name: listing.name,
            owner,
            node: pda::node(&operator.pubkey()),
            agent,
            session,
            shutdown,
        })
    }

    /// The machine loses power: the agent goes silent without a word and its
    /// jobs die with it.
    pub fn power_failure(&self) {
        self.session.abort();
        for job in self.agent.jobs.running() {
            proc::signal_group(job.pid, libc::SIGKILL);
        }
    }

    /// Stops the agent and every job it still runs.
    pub async fn stop(self) {
        self.agent.jobs.stop_all("the demo is over").await;
        self.shutdown.cancel();
        let _ = self.session.await;
    }
}

/// The job shim the demo's agents start jobs under: this very program (the
/// `iomesh-demo` binary answers `job-shim` like `iomesh-agent` does).
fn shim_program() -> Result<std::path::PathBuf> {
    std::env::current_exe().context("this program's path (the job shim)")
}

/// How the demo's agents isolate jobs: in bubblewrap where it works on this
/// machine (tried once in `dir`), else unsandboxed, and the line to say which.
pub fn choose_sandbox(dir: &Path) -> (Sandbox, String) {
    let bwrap = Bwrap {
        program: "bwrap".into(),
        device_root: "/dev".into(),
        hidden_files: Vec::new(),
        job_user: JobUser::for_this_agent(JobUser::NOBODY),
    };
    let probe_dir = dir.join("sandbox-probe");
    let works = std::fs::create_dir_all(&probe_dir)
        .map_err(|e| e.to_string())
        .and_then(|()| {
            bwrap
                .prepare(&probe_dir, 0)
                .map(drop)
                .map_err(|e| e.to_string())
        });
    match works {
        Ok(()) => (
            Sandbox::Bwrap(bwrap),
            "jobs run sandboxed (bubblewrap): they see only their work directory and leased GPUs".into(),
        ),
        Err(why) => (
            Sandbox::None,
            format!("bubblewrap is not usable here ({why}): the demo runs jobs unsandboxed (install the bubblewrap package)"),
        ),
    }
}
