//! The whole stack on one machine, for the end-to-end tests and the renter
//! access benchmark: the chain and its indexer, a scheduler replica that
//! reports silent agents on-chain, the real agent run in-process exactly as
//! its binary runs it, and a renter reaching its job (access tokens, `iomesh
//! lease forward` run as a process, the job's ports on loopback).

use crate::{
    agent::{agent_config, StateDir},
    chain::{scheduler_authority, Chain, TestNode},
    indexer::Indexer,
    scheduler::eventually,
    workspace_binary,
};
use iomesh::state::{Lease, LeaseStatus};
use iomesh_agent::{
    agent::Agent,
    runner::state::JobRecord,
    session::{self, SessionConfig},
};
use iomesh_agent_proto::access::{access_message, encode_token, AccessClaims};
use iomesh_client::client::Client;
use iomesh_client::clock::unix_now as now;
use iomesh_scheduler::{watchdog::Reporter, Config, Running};
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use sqlx::PgPool;
use std::{
    io::{BufRead, BufReader},
    net::{SocketAddr, TcpListener},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::Duration,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The agent as `iomesh-agent run` builds it, its session a task of this test.
pub struct RunningAgent {
    pub agent: Arc<Agent>,
    pub session: JoinHandle<()>,
    pub shutdown: CancellationToken,
}

pub async fn start_agent(
    chain: &Chain,
    node: &TestNode,
    scheduler_url: &str,
    state: &StateDir,
) -> RunningAgent {
    start_agent_with(chain, node, scheduler_url, state, |_| {}).await
}

/// `start_agent` with `adjust` applied to the agent's configuration.
pub async fn start_agent_with(
    chain: &Chain,
    node: &TestNode,
    scheduler_url: &str,
    state: &StateDir,
    adjust: impl FnOnce(&mut iomesh_agent::config::AgentConfig),
) -> RunningAgent {
    let mut config = agent_config(
        &chain.localnet.rpc_url(),
        scheduler_url,
        Arc::new(node.operator.insecure_clone()),
        state.path(),
        4,
    );
    // The agent's own on-chain re-read of a running lease is far off, so a
    // job stopped within the test was stopped by the scheduler's Stop.
    config.lease_check_interval = Duration::from_secs(600);
    adjust(&mut config);
    let (agent, events) = iomesh_agent::start(&config).await.expect("agent starts");
    let shutdown = CancellationToken::new();
    let session = tokio::spawn(session::run(
        agent.clone(),
        events,
        SessionConfig {
            // It dials before the node is indexed; retry quickly.
            backoff_max: Duration::from_secs(1),
            ..SessionConfig::new(config.scheduler_url.clone())
        },
        shutdown.clone(),
    ));
    RunningAgent {
        agent,
        session,
        shutdown,
    }
}

/// A replica with short timers that reports silent agents on-chain as `scheduler`.
pub async fn reporting_replica(
    pool: &PgPool,
    chain: &Chain,
    scheduler: &Keypair,
    id: &str,
) -> Running {
    reporting_replica_with(pool, chain, scheduler, id, |_| {}).await
}

/// `reporting_replica` with `adjust` applied to its configuration.
pub async fn reporting_replica_with(
    pool: &PgPool,
    chain: &Chain,
    scheduler: &Keypair,
    id: &str,
    adjust: impl FnOnce(&mut Config),
) -> Running {
    let mut config = Config::new("unused: the pool is given");
    config.replica_id = Some(id.into());
    config.rpc_url = chain.localnet.rpc_url();
    config.watchdog_ms = 200;
    config.poll_ms = 200;
    config.agent_heartbeat_ms = 500;
    adjust(&mut config);
    iomesh_scheduler::start_with_reporter(
        config,
        pool.clone(),
        Some(Reporter {
            client: Client::new(chain.localnet.rpc_url(), CommitmentConfig::confirmed()),
            authority: scheduler.insecure_clone(),
        }),
    )
    .await
    .unwrap()
}

pub async fn lease_on_chain(client: &Client, lease: &Pubkey) -> Option<Lease> {
    client.fetch::<Lease>(lease).await.unwrap()
}

/// The lease's latest assignment: (state, activate_signature, last_error, ended).
pub async fn assignment(
    pool: &PgPool,
    lease: &Pubkey,
) -> Option<(String, Option<String>, Option<String>, bool)> {
    sqlx::query_as(
        "SELECT state, activate_signature, last_error, ended_at IS NOT NULL \
         FROM assignments WHERE lease = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(lease.as_ref())
    .fetch_optional(pool)
    .await
    .unwrap()
}

/// Submits `spec` for `lease` (once the lease is indexed), then waits for the
/// agent to run it and activate the lease; returns the job's record.
pub async fn run_lease(
    pool: &PgPool,
    http: &str,
    client: &Client,
    agent: &RunningAgent,
    lease: &Pubkey,
    spec: &[u8],
    renter: &Keypair,
) -> JobRecord {
    eventually("the lease indexed and its spec accepted", || async {
        let (status, _) = crate::scheduler::submit_spec(http, lease, spec, renter).await;
        (status == 201).then_some(())
    })
    .await;
    let record = eventually("the agent to start the job", || async {
        agent.agent.jobs.get(&lease.to_string())
    })
    .await;
    eventually("the lease active on-chain", || async {
        lease_on_chain(client, lease)
            .await
            .filter(|l| l.status == LeaseStatus::Active)
    })
    .await;
    eventually("the assignment running with its activation", || async {
        assignment(pool, lease)
            .await
            .filter(|(state, signature, _, _)| state == "running" && signature.is_some())
    })
    .await;
    record
}

/// A workspace binary a sandboxed job can run: jobs run as `nobody`, who
/// may not enter the build directory (often under a private home), so it is
/// copied to a world-readable place the sandbox keeps (it hides /tmp), and
/// atomically: tests run in parallel.
pub fn job_binary(name: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = PathBuf::from("/var/tmp/iomesh-test-jobs");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let staged = dir.join(name);
    let partial = dir.join(format!(".{name}.{}", std::process::id()));
    std::fs::copy(workspace_binary(name), &partial).unwrap();
    std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&partial, &staged).unwrap();
    staged
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A token of `signer` for `lease`, valid `ttl` seconds.
pub fn token(signer: &Keypair, lease: &Pubkey, ttl: i64) -> String {
    let claims = AccessClaims::for_lease(
        &signer.pubkey().to_string(),
        &lease.to_string(),
        now(),
        ttl,
        rand::random(),
    );
    let json = claims.to_json();
    let signature: [u8; 64] = signer.sign_message(&access_message(&json)).into();
    encode_token(&json, &signature)
}

pub async fn get(url: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

pub struct Stack {
    pub chain: Chain,
    pub client: Client,
    pub indexer: Indexer,
    pub node: TestNode,
    pub renter: Keypair,
    pub state: StateDir,
    pub scheduler: Keypair,
}

/// A replica of `stack` that also takes over a dead peer's agents quickly;
/// its agents' gRPC on `grpc` when given.
pub async fn replica(pool: &PgPool, stack: &Stack, id: &str, grpc: Option<SocketAddr>) -> Running {
    reporting_replica_with(pool, &stack.chain, &stack.scheduler, id, |config| {
        config.replica_heartbeat_ms = 200;
        config.replica_timeout_ms = 1_500;
        if let Some(grpc) = grpc {
            config.grpc_addr = grpc;
        }
    })
    .await
}

pub async fn stack(pool: &PgPool) -> Stack {
    let chain = Chain::start().await;
    let scheduler = scheduler_authority(&chain, 30).await;
    let indexer = Indexer::spawn(pool, chain.localnet.grpc_url(), chain.localnet.rpc_url());
    let client = Client::new(chain.localnet.rpc_url(), CommitmentConfig::confirmed());
    let node = chain.register_node(4).await;
    let renter = chain.renter(1_000).await;
    Stack {
        chain,
        client,
        indexer,
        node,
        renter,
        state: StateDir::new(),
        scheduler,
    }
}

pub async fn connected(pool: &PgPool, node: &Pubkey, replica: &str) {
    eventually("the agent's session on the replica", || async {
        sqlx::query_scalar::<_, String>("SELECT replica FROM agent_sessions WHERE node = $1")
            .bind(node.as_ref())
            .fetch_optional(pool)
            .await
            .unwrap()
            .filter(|r| r == replica)
    })
    .await;
}

pub fn spec(command: &[&str], ports: &[u16]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "command": command, "ports": ports })).unwrap()
}

/// Waits until the job's server answers on its port (the job runs on this machine's loopback).
pub async fn listening(port: u16) {
    eventually("the job's server listening", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(drop)
    })
    .await;
}

/// A process a test started, killed when the test ends, even by a panic: a
/// stray one would hold the suite's output open and hang whoever reads it.
pub struct Spawned(Child);

impl std::ops::Deref for Spawned {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Spawned {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `iomesh lease forward`, run as a renter runs it; returns the process and its local address.
pub fn lease_forward(
    scheduler_http: &str,
    keypair: &std::path::Path,
    lease: &Pubkey,
    port: u16,
) -> (Spawned, SocketAddr) {
    let child = Command::new(workspace_binary("iomesh"))
        .args([
            "--scheduler",
            scheduler_http,
            "--keypair",
            &keypair.display().to_string(),
            "lease",
            "forward",
            &lease.to_string(),
            &port.to_string(),
            "--local",
            "127.0.0.1:0",
        ])
        .env("HOME", std::env::temp_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run iomesh lease forward");
    let mut child = Spawned(child);
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    // "Forwarding 127.0.0.1:N -> lease L port P (Ctrl-C to stop)"
    let local: SocketAddr = line
        .split_whitespace()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    (child, local)
}

/// Peak resident memory of a process, in KiB (VmHWM).
pub fn peak_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}
