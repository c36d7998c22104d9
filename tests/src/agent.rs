//! The agent's fixtures: a market on an in-process localnet (bootstrapped as
//! `iomesh-localnet --bootstrap` does), a registered node whose operator key the agent holds,
//! leases created through the real program, and the agent built as `main`
//! builds it.

use anchor_lang::prelude::Pubkey;
use iomesh_agent::{
    agent::Agent,
    config::{AgentConfig, OnShutdown, PortRange},
    gpu::parse_override,
    logs::{LogReader, LogRecord, LogStream},
    runner::{
        sandbox::{Bwrap, JobUser, Sandbox},
        RunnerConfig,
    },
};
use iomesh_agent_proto::{
    job_spec_hash,
    v1::{agent_message, AgentMessage, JobUpdate},
};
use iomesh_client::{
    bootstrap::{self, Bootstrap},
    instructions,
    iomesh::CreateLeaseArgs,
    pda, Client,
};
use iomesh_localnet::{Config, Localnet};
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_signer::Signer;
use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};
use tokio::sync::mpsc;

pub struct Market {
    pub localnet: Localnet,
    pub client: Client,
    pub dir: tempfile::TempDir,
    pub bootstrap: Bootstrap,
    pub faucet: Keypair,
    pub authority: Keypair,
}

pub struct TestNode {
    pub owner: Keypair,
    pub operator: Arc<Keypair>,
    pub address: Pubkey,
}

impl Market {
    pub async fn start() -> Self {
        let localnet = Localnet::start(Config {
            slot_duration: Duration::from_millis(50),
            ..Config::ephemeral()
        })
        .await
        .expect("localnet starts");
        let client = Client::new(localnet.rpc_url(), CommitmentConfig::confirmed());
        let dir = tempfile::tempdir().expect("temp dir");
        let authority = Keypair::new();
        let bootstrap = iomesh_localnet::market::bootstrap(
            &client,
            dir.path(),
            &authority,
            Some(localnet.grpc_url()),
        )
        .await
        .expect("bootstrap");
        let faucet = bootstrap::load_or_create_keypair(&bootstrap.faucet_keypair).expect("faucet");
        Market {
            localnet,
            client,
            dir,
            bootstrap,
            faucet,
            authority,
        }
    }

    pub async fn funded(&self) -> Keypair {
        let keypair = Keypair::new();
        bootstrap::airdrop(&self.client, &keypair.pubkey(), 10_000_000_000)
            .await
            .expect("airdrop");
        keypair
    }

    pub async fn register_node(&self, gpus: u16) -> TestNode {
        let owner = self.funded().await;
        let operator = self.funded().await;
        let spec = crate::chain::node_spec(gpus);
        self.client
            .send(
                &[instructions::register_node(
                    &owner.pubkey(),
                    &operator.pubkey(),
                    spec,
                )],
                &owner,
                &[&operator],
            )
            .await
            .expect("register node");
        TestNode {
            address: pda::node(&operator.pubkey()),
            owner,
            operator: Arc::new(operator),
        }
    }

    /// A renter holding 1,000 USDC.
    pub async fn renter(&self) -> Keypair {
        let renter = self.funded().await;
        let usdc = self.bootstrap.mint("USDC").expect("USDC").token_mint();
        bootstrap::faucet_mint_to(
            &self.client,
            &self.faucet,
            &usdc,
            &renter.pubkey(),
            1_000_000_000,
            &renter,
        )
        .await
        .expect("faucet");
        renter
    }

    /// A pending one-hour lease of `gpus` GPUs committing to `spec`.
    pub async fn create_lease(
        &self,
        node: &TestNode,
        renter: &Keypair,
        nonce: u64,
        gpus: u16,
        spec: &[u8],
    ) -> Pubkey {
        self.create_lease_for(node, renter, nonce, gpus, spec, 3_600)
            .await
    }

    /// A pending lease of `gpus` GPUs for `duration_secs`, committing to `spec`.
    pub async fn create_lease_for(
        &self,
        node: &TestNode,
        renter: &Keypair,
        nonce: u64,
        gpus: u16,
        spec: &[u8],
        duration_secs: u32,
    ) -> Pubkey {
        let usdc = self.bootstrap.mint("USDC").expect("USDC").token_mint();
        let args = CreateLeaseArgs {
            nonce,
            gpus,
            duration_secs,
            max_price_per_gpu_hour: u64::MAX,
            job_spec_hash: job_spec_hash(spec),
        };
        self.client
            .send(
                &[instructions::create_lease(
                    &renter.pubkey(),
                    &renter.pubkey(),
                    &node.address,
                    &usdc,
                    args,
                )],
                renter,
                &[],
            )
            .await
            .expect("create lease");
        pda::lease(&renter.pubkey(), nonce)
    }
}

/// The agent's configuration for `operator` with `gpus` simulated GPUs.
pub fn agent_config(
    rpc_url: &str,
    scheduler_url: &str,
    operator: Arc<Keypair>,
    state_dir: &Path,
    gpus: u32,
) -> AgentConfig {
    AgentConfig {
        scheduler_url: scheduler_url.to_string(),
        scheduler_ca: None,
        rpc_url: rpc_url.to_string(),
        operator,
        state_dir: state_dir.to_path_buf(),
        gpus: parse_override(&format!("{gpus}xRTX 4090:24576")).unwrap(),
        runner: runner_config(bwrap(Path::new("/dev"), Vec::new())),
        lease_check_interval: Duration::from_secs(30),
        on_shutdown: OnShutdown::Leave,
        advertise_address: std::net::Ipv4Addr::LOCALHOST.into(),
        job_ports: PortRange {
            first: 20_000,
            last: 29_999,
        },
    }
}

/// The Ray the tests run jobs with; `scripts/test` installs it (`scripts/ray-env`).
pub fn test_ray() -> iomesh_agent::ray::RayInstall {
    let program = std::env::var("IOMESH_TEST_RAY").expect(
        "IOMESH_TEST_RAY names the `ray` of the tests' Ray (./scripts/test sets it up with scripts/ray-env)",
    );
    iomesh_agent::ray::detect(Path::new(&program)).expect("the tests' Ray runs")
}

/// A Ray program for a two-member cluster: one task pinned to each alive
/// node, each printing the lease whose member ran it (Ray's workers inherit
/// their raylet's environment, and each raylet is a different lease's job).
pub const RAY_ENTRYPOINT: &str = r#"python -c "
import os, ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy as On
ray.init()
@ray.remote(num_cpus=0)
def where():
    return os.environ['IOMESH_LEASE']
nodes = [n['NodeID'] for n in ray.nodes() if n['Alive']]
print('alive nodes:', len(nodes))
for lease in sorted(ray.get([where.options(scheduling_strategy=On(n, soft=False)).remote() for n in nodes])):
    print('task ran on lease', lease)
""#;

/// The job spec (JSON) running `RAY_ENTRYPOINT` with the tests' Ray.
pub fn ray_spec() -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "version": 2,
        "runtime": "ray",
        "ray": {"entrypoint": RAY_ENTRYPOINT, "version": test_ray().version},
    }))
    .unwrap()
}

/// Processes whose environment names `lease`: every process of its job,
/// Ray's included (lease names must be unique to the run).
pub fn processes_of(lease: &str) -> Vec<u32> {
    let marker = format!("IOMESH_LEASE={lease}");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .map(|env| env.split(|&b| b == 0).any(|var| var == marker.as_bytes()))
                .unwrap_or(false)
        })
        .collect()
}

/// Waits (10 s at most) until no process of `lease` is left: the kernel
/// reaps a PID namespace's processes just after its init ends.
pub async fn no_processes_left(lease: &str) {
    for _ in 0..100 {
        if processes_of(lease).is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("processes of {lease} left: {:?}", processes_of(lease));
}

/// The job shim: the agent binary of this workspace's build.
pub fn shim_program() -> PathBuf {
    crate::workspace_binary("iomesh-agent")
}

/// The real sandbox with GPU device files from `device_root`, hiding
/// `hidden_files`, jobs run as nobody when the tests run as root.
pub fn bwrap(device_root: &Path, hidden_files: Vec<PathBuf>) -> Sandbox {
    Sandbox::Bwrap(Bwrap {
        program: "bwrap".into(),
        device_root: device_root.to_path_buf(),
        hidden_files,
        job_user: JobUser::for_this_agent(JobUser::NOBODY),
    })
}

/// How the tests run jobs: the real shim in `sandbox`, no Docker, the node
/// default limits, a short stop grace.
pub fn runner_config(sandbox: Sandbox) -> RunnerConfig {
    RunnerConfig {
        stop_grace: Duration::from_millis(500),
        ..RunnerConfig::new(shim_program(), sandbox)
    }
}

/// The job's log lines (stdout, stderr and the shim's), in order.
pub fn log_lines(lease_dir: &Path) -> Vec<(LogStream, String)> {
    LogReader::open(lease_dir)
        .expect("the lease has a log")
        .read(None, None)
        .expect("the log reads")
        .into_iter()
        .map(|r| (r.stream, r.line))
        .collect()
}

/// Waits (up to 30 s) for a record of the job's log that `matches`.
pub async fn wait_log(lease_dir: &Path, matches: impl Fn(&LogRecord) -> bool) -> LogRecord {
    for _ in 0..600 {
        if let Ok(reader) = LogReader::open(lease_dir) {
            if let Some(found) = reader.read(None, None).unwrap().into_iter().find(&matches) {
                return found;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{}: no such log record within 30 s", lease_dir.display());
}

pub async fn start_agent(config: &AgentConfig) -> (Arc<Agent>, mpsc::Receiver<AgentMessage>) {
    iomesh_agent::start(config).await.expect("agent starts")
}

/// The next message the agent produced, within 2 minutes (a lease end can be a minute away).
pub async fn next_message(events: &mut mpsc::Receiver<AgentMessage>) -> agent_message::Msg {
    tokio::time::timeout(Duration::from_secs(120), events.recv())
        .await
        .expect("an agent message within 2 minutes")
        .expect("event channel open")
        .msg
        .expect("message body")
}

/// Skips messages until a JobUpdate for `lease` in `state` arrives.
pub async fn wait_update(
    events: &mut mpsc::Receiver<AgentMessage>,
    lease: &str,
    state: iomesh_agent_proto::v1::JobState,
) -> JobUpdate {
    loop {
        if let agent_message::Msg::JobUpdate(update) = next_message(events).await {
            if update.lease == lease && update.state == state as i32 {
                return update;
            }
        }
    }
}

/// An agent state directory that, when dropped (also when a test fails),
/// kills the process group of every job still recorded in it and removes
/// its cgroups, so a failing test leaves no jobs behind.
pub struct StateDir(tempfile::TempDir);

impl StateDir {
    pub fn new() -> Self {
        Self(tempfile::tempdir().expect("temp dir"))
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let Ok(dirs) = iomesh_agent::runner::state::saved_jobs(&self.0.path().join("jobs")) else {
            return;
        };
        for dir in dirs {
            if let Ok(record) = dir.load() {
                if iomesh_agent::runner::proc::is_alive(record.pid, record.start_ticks) {
                    iomesh_agent::runner::proc::signal_group(record.pid, libc::SIGKILL);
                }
                iomesh_agent::runner::clean_up(&record);
            }
        }
    }
}
