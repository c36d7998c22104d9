//! The dispatch benchmark (`scripts/bench-scheduler`): dispatch latency (lease row committed by the
//! indexer's writer → the agent receives the assignment) and dispatch
//! throughput, with real replicas, real gRPC agents and a throwaway database.

use clap::Parser;
use iomesh_agent_proto::{
    auth_message, job_spec_hash,
    v1::{
        agent_message::Msg as AgentMsg, scheduler_client::SchedulerClient,
        scheduler_message::Msg as SchedMsg, AgentMessage, AssignmentAck, ChallengeResponse, Hello,
    },
};
use iomesh_scheduler::{Config, Running};
// Chain state committed through the indexer's own writer, as the tests do.
use iomesh_tests::scheduler::{encode, lease, node, Chain};
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use sqlx::PgPool;
use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

/// Dispatch latency and throughput against Postgres with simulated agents.
#[derive(Parser, Debug)]
#[command(name = "dispatch")]
pub struct BenchArgs {
    /// Postgres server; the benchmark creates (and drops) its own database there.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Connected agents (one node each).
    #[arg(long, default_value_t = 200)]
    pub agents: usize,
    /// Leases of the latency run.
    #[arg(long, default_value_t = 1_000)]
    pub latency_leases: usize,
    /// Leases committed per indexer batch in the latency run...
    #[arg(long, default_value_t = 10)]
    pub batch: usize,
    /// ...one batch every this many milliseconds.
    #[arg(long, default_value_t = 10)]
    pub batch_every_ms: u64,
    /// Leases of each throughput run.
    #[arg(long, default_value_t = 20_000)]
    pub throughput_leases: usize,
}

const SPEC: &[u8] = br#"{"command":["sleep","3600"]}"#;

/// When each lease reached an agent.
type Received = Arc<Mutex<HashMap<Pubkey, Instant>>>;

/// An agent: handshake, then acknowledges every assignment and records when it arrived.
async fn agent(url: String, operator: Keypair, received: Received) -> anyhow::Result<()> {
    let mut client = SchedulerClient::connect(url).await?;
    let (tx, rx) = mpsc::channel(4_096);
    let msg = |m| AgentMessage { msg: Some(m) };
    tx.send(msg(AgentMsg::Hello(Hello {
        operator: operator.pubkey().to_string(),
        agent_version: "bench".into(),
        ..Hello::default()
    })))
    .await?;
    let mut inbound = client
        .agent_session(ReceiverStream::new(rx))
        .await?
        .into_inner();
    while let Some(m) = inbound.message().await? {
        match m.msg {
            Some(SchedMsg::Challenge(c)) => {
                let message =
                    auth_message(&operator.pubkey().to_bytes(), &c.scheduler_id, &c.nonce);
                tx.send(msg(AgentMsg::ChallengeResponse(ChallengeResponse {
                    signature: operator.sign_message(&message).as_ref().to_vec(),
                })))
                .await?;
            }
            Some(SchedMsg::Assignment(a)) => {
                let at = Instant::now();
                received
                    .lock()
                    .expect("lock")
                    .insert(a.lease.parse().expect("lease"), at);
                let _ = tx
                    .send(msg(AgentMsg::AssignmentAck(AssignmentAck {
                        assignment_id: a.assignment_id,
                        lease: a.lease,
                        accepted: true,
                        reason: String::new(),
                    })))
                    .await;
            }
            _ => {}
        }
    }
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

struct Setup {
    pool: PgPool,
    chain: Chain,
    replicas: Vec<Running>,
    nodes: Vec<Pubkey>,
    received: Received,
    renter: Pubkey,
    next_nonce: AtomicU64,
}

async fn setup(pool: PgPool, replicas: usize, agents: usize) -> anyhow::Result<Setup> {
    let chain = Chain::new(&pool).await;
    let operators: Vec<Keypair> = (0..agents).map(|_| Keypair::new()).collect();
    let nodes: Vec<Pubkey> = operators
        .iter()
        .map(|o| iomesh_client::pda::node(&o.pubkey()))
        .collect();
    chain
        .write(
            operators
                .iter()
                .zip(&nodes)
                .map(|(o, n)| (*n, encode(&node(&o.pubkey(), 1_000))))
                .collect(),
        )
        .await;
    let mut running = Vec::new();
    for r in 0..replicas {
        let mut config = Config::new("bench");
        config.replica_id = Some(format!("bench-{r}"));
        config.dispatch_batch = 1_000;
        running.push(iomesh_scheduler::start(config, pool.clone()).await?);
    }
    let received: Received = Arc::default();
    for (i, operator) in operators.into_iter().enumerate() {
        tokio::spawn(agent(
            running[i % replicas].grpc_url(),
            operator,
            received.clone(),
        ));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM agent_sessions")
            .fetch_one(&pool)
            .await?;
        if n as usize == agents {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {n} of {agents} agents connected"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(Setup {
        pool,
        chain,
        replicas: running,
        nodes,
        received,
        renter: Pubkey::new_unique(),
        next_nonce: AtomicU64::new(0),
    })
}

impl Setup {
    /// `n` lease accounts round-robin over the nodes, with their specs already submitted.
    async fn leases(&self, n: usize) -> anyhow::Result<Vec<(Pubkey, Vec<u8>)>> {
        let accounts = self.lease_accounts(n);
        let keys: Vec<Pubkey> = accounts.iter().map(|(k, _)| *k).collect();
        self.submit_specs(&keys).await?;
        Ok(accounts)
    }

    fn lease_accounts(&self, n: usize) -> Vec<(Pubkey, Vec<u8>)> {
        let mut accounts = Vec::with_capacity(n);
        for i in 0..n {
            let nonce = self.next_nonce.fetch_add(1, Ordering::SeqCst);
            let node = self.nodes[i % self.nodes.len()];
            let address = iomesh_client::pda::lease(&self.renter, nonce);
            accounts.push((
                address,
                encode(&lease(&self.renter, &node, nonce, job_spec_hash(SPEC))),
            ));
        }
        accounts
    }

    /// The renters' job specs for `keys`, stored in one transaction, then the
    /// replicas are woken (as the HTTP API does per request).
    async fn submit_specs(&self, keys: &[Pubkey]) -> anyhow::Result<()> {
        let keys: Vec<Vec<u8>> = keys.iter().map(|k| k.to_bytes().to_vec()).collect();
        let mut tx = self.pool.begin().await?;
        for chunk in keys.chunks(5_000) {
            sqlx::query(
                "INSERT INTO job_specs (lease, spec, sha256, renter_signature) \
                 SELECT l, $2, $3, $4 FROM UNNEST($1::bytea[]) AS l",
            )
            .bind(chunk)
            .bind(SPEC)
            .bind(job_spec_hash(SPEC).as_slice())
            .bind(vec![0u8; 64])
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("SELECT pg_notify($1, 'bench')")
            .bind(iomesh_scheduler::dispatch::SCHEDULER_CHANNEL)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn wait_received(&self, keys: &[Pubkey], timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = {
                let received = self.received.lock().expect("lock");
                keys.iter().filter(|k| received.contains_key(k)).count()
            };
            if got == keys.len() {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "only {got} of {} assignments received",
                keys.len()
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    async fn stop(self) -> anyhow::Result<()> {
        for r in self.replicas {
            r.stop().await?;
        }
        self.pool.close().await;
        Ok(())
    }
}

async fn latency(args: &BenchArgs, pool: PgPool) -> anyhow::Result<()> {
    let setup = setup(pool, 1, args.agents).await?;
    let accounts = setup.leases(args.latency_leases).await?;
    let mut committed = Vec::with_capacity(accounts.len());
    let mut tick = tokio::time::interval(Duration::from_millis(args.batch_every_ms));
    for batch in accounts.chunks(args.batch.max(1)) {
        tick.tick().await;
        setup.chain.write(batch.to_vec()).await;
        let at = Instant::now();
        committed.extend(batch.iter().map(|(k, _)| (*k, at)));
    }
    let keys: Vec<Pubkey> = committed.iter().map(|(k, _)| *k).collect();
    setup.wait_received(&keys, Duration::from_secs(60)).await?;
    let mut latencies: Vec<Duration> = {
        let received = setup.received.lock().expect("lock");
        committed
            .iter()
            .map(|(k, at)| received[k].saturating_duration_since(*at))
            .collect()
    };
    latencies.sort();
    println!(
        "dispatch latency (lease row commit → agent receives), {} leases in batches of {} every {} ms, {} agents, 1 replica:\n  p50 {:.2} ms   p99 {:.2} ms   max {:.2} ms",
        latencies.len(),
        args.batch,
        args.batch_every_ms,
        args.agents,
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    setup.stop().await
}

async fn throughput(args: &BenchArgs, pool: PgPool, replicas: usize) -> anyhow::Result<()> {
    let setup = setup(pool, replicas, args.agents).await?;
    // The backlog: every lease indexed, statistics up to date as autovacuum
    // keeps them in a running system; then every job spec arrives at once.
    let accounts = setup.lease_accounts(args.throughput_leases);
    let keys: Vec<Pubkey> = accounts.iter().map(|(k, _)| *k).collect();
    for chunk in accounts.chunks(5_000) {
        setup.chain.write(chunk.to_vec()).await;
    }
    sqlx::query("ANALYZE").execute(&setup.pool).await?;
    let start = Instant::now();
    setup.submit_specs(&keys).await?;
    setup.wait_received(&keys, Duration::from_secs(300)).await?;
    let elapsed = start.elapsed();
    println!(
        "dispatch throughput, {} indexed leases whose specs arrive at once, {} agents, {replicas} replica(s):\n  {:.0} assignments/s ({:.0} per replica), all received in {:.2} s",
        keys.len(),
        args.agents,
        keys.len() as f64 / elapsed.as_secs_f64(),
        keys.len() as f64 / elapsed.as_secs_f64() / replicas as f64,
        elapsed.as_secs_f64()
    );
    setup.stop().await
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let runs: [(&str, Option<usize>); 3] = [("latency", None), ("one", Some(1)), ("two", Some(2))];
    for (label, replicas) in runs {
        let name = format!(
            "iomesh_scheduler_bench_{}",
            hex::encode(rand::random::<[u8; 4]>())
        );
        let pool = iomesh_db::create_database(&args.database_url, &name, 32).await?;
        let result = match replicas {
            None => latency(&args, pool).await,
            Some(r) => throughput(&args, pool, r).await,
        };
        iomesh_db::drop_database(&args.database_url, &name).await?;
        result.map_err(|e| e.context(format!("{label} run")))?;
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    // `cargo test --all-targets` runs bench targets without `--bench`.
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        println!("dispatch: a benchmark; run it with scripts/bench-scheduler");
        return Ok(());
    }
    let args = BenchArgs::parse_from(args.into_iter().filter(|a| a != "--bench"));
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}
