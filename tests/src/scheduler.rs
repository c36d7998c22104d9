//! Chain state written into Postgres through the indexer's own writer (real
//! encoded accounts), scheduler replicas started in-process, and a test agent
//! speaking the protocol with the proto crate's generated client.

use anchor_lang::AccountSerialize;
use iomesh::state::{encode_text, Cluster, Lease, LeaseStatus, Market, Node};
use iomesh_agent_proto::{
    auth_message, job_spec_hash, spec_submission_message,
    v1::{
        agent_message::Msg as AgentMsg, scheduler_client::SchedulerClient,
        scheduler_message::Msg as SchedMsg, AgentMessage, Assignment, AssignmentAck, Capabilities,
        ChallengeResponse, Gpu, Heartbeat, Hello, JobState, JobUpdate, SchedulerMessage, Welcome,
    },
};
pub use iomesh_client::clock::unix_now as now;
use iomesh_indexer::{
    update::AccountUpdate,
    writer::{Batch, Writer},
};
use iomesh_scheduler::{Config, Running};
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use sqlx::PgPool;
use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, Streaming};

pub const TIMEOUT: Duration = Duration::from_secs(30);

pub fn encode<T: AccountSerialize>(account: &T) -> Vec<u8> {
    let mut data = Vec::new();
    account.try_serialize(&mut data).expect("serialize");
    data
}

/// The chain as the indexer would write it: every write goes through its Writer.
pub struct Chain {
    pub writer: Writer,
    slot: AtomicU64,
}

impl Chain {
    pub async fn new(pool: &PgPool) -> Self {
        let chain = Self {
            writer: Writer::new(pool.clone(), iomesh::ID, "test"),
            slot: AtomicU64::new(10),
        };
        chain
            .write(vec![(iomesh_client::pda::market(), encode(&market()))])
            .await;
        chain
    }

    pub async fn write(&self, accounts: Vec<(Pubkey, Vec<u8>)>) {
        let slot = self.slot.fetch_add(1, Ordering::SeqCst);
        let updates = accounts
            .into_iter()
            .enumerate()
            .map(|(i, (pubkey, data))| AccountUpdate {
                pubkey,
                slot,
                write_version: i as u64,
                lamports: 1_000_000,
                owner: iomesh::ID,
                data,
                created_at: None,
            })
            .collect();
        self.writer
            .write(&Batch {
                updates,
                cursor: Some(slot),
                ..Batch::default()
            })
            .await
            .expect("indexer writes");
    }

    /// Closes `pubkey` (zero lamports), as a cancel or a report_failure does.
    pub async fn close(&self, pubkey: &Pubkey) {
        let slot = self.slot.fetch_add(1, Ordering::SeqCst);
        self.writer
            .write(&Batch {
                updates: vec![AccountUpdate {
                    pubkey: *pubkey,
                    slot,
                    write_version: 0,
                    lamports: 0,
                    owner: solana_pubkey::Pubkey::default(),
                    data: Vec::new(),
                    created_at: None,
                }],
                cursor: Some(slot),
                ..Batch::default()
            })
            .await
            .expect("indexer writes");
    }

    /// A node operated by `operator`, indexed; returns its address.
    pub async fn node(&self, operator: &Pubkey, gpus: u16) -> Pubkey {
        let address = iomesh_client::pda::node(operator);
        self.write(vec![(address, encode(&node(operator, gpus)))])
            .await;
        address
    }

    /// A complete cluster of `renter` (every lease funded) with one pending
    /// lease per node in `nodes`, each committing to `spec`; returns the
    /// leases' addresses.
    pub async fn cluster(
        &self,
        renter: &Pubkey,
        cluster_nonce: u64,
        nodes: &[Pubkey],
        first_lease_nonce: u64,
        spec: &[u8],
    ) -> Vec<Pubkey> {
        let cluster = Cluster {
            version: 1,
            bump: 251,
            renter: *renter,
            nonce: cluster_nonce,
            leases_expected: nodes.len() as u16,
            leases_funded: nodes.len() as u16,
            leases_unwound: 0,
            funding_deadline: now() + 600,
            created_at: now() - 10,
            completed_at: now(),
            reserved: [0; 32],
        };
        let mut accounts = vec![(
            iomesh_client::pda::cluster(renter, cluster_nonce),
            encode(&cluster),
        )];
        let mut leases = Vec::new();
        for (i, node) in nodes.iter().enumerate() {
            let nonce = first_lease_nonce + i as u64;
            let address = iomesh_client::pda::lease(renter, nonce);
            let member = Lease {
                in_cluster: true,
                cluster_nonce,
                cluster_funding_deadline: cluster.funding_deadline,
                ..lease(renter, node, nonce, job_spec_hash(spec))
            };
            accounts.push((address, encode(&member)));
            leases.push(address);
        }
        self.write(accounts).await;
        leases
    }

    /// Pending leases of `renter` on `node`, committing to `spec`; returns their addresses.
    pub async fn leases(
        &self,
        renter: &Pubkey,
        node: &Pubkey,
        nonces: std::ops::Range<u64>,
        spec: &[u8],
    ) -> Vec<Pubkey> {
        let mut out = Vec::new();
        let mut accounts = Vec::new();
        for nonce in nonces {
            let address = iomesh_client::pda::lease(renter, nonce);
            accounts.push((
                address,
                encode(&lease(renter, node, nonce, job_spec_hash(spec))),
            ));
            out.push(address);
        }
        for chunk in accounts.chunks(500) {
            self.write(chunk.to_vec()).await;
        }
        out
    }
}

pub fn market() -> Market {
    Market {
        version: 1,
        bump: 254,
        paused: false,
        authority: Pubkey::new_unique(),
        pending_authority: Pubkey::default(),
        treasury: Pubkey::new_unique(),
        scheduler_authority: Pubkey::new_unique(),
        price_authority: Pubkey::new_unique(),
        reward_authority: Pubkey::new_unique(),
        activation_timeout_secs: 600,
        min_lease_secs: 60,
        max_lease_secs: 30 * 86_400,
        failure_grace_secs: 120,
        io_mint: Pubkey::default(),
        slash_authority: Pubkey::default(),
        stake_per_gpu: 0,
        unstake_cooldown_secs: 0,
        slash_appeal_secs: 0,
        reserved: [0; 48],
    }
}

pub fn node(operator: &Pubkey, gpus: u16) -> Node {
    Node {
        gpu_model: encode_text::<32>("RTX 4090").unwrap(),
        region: encode_text::<16>("eu-west").unwrap(),
        gpu_count: gpus,
        vram_mib: 24_576,
        price_usd_micros_per_gpu_hour: 2_000_000,
        min_lease_secs: 60,
        max_lease_secs: 7 * 86_400,
        ..Node::new(Pubkey::new_unique(), *operator, 253, now())
    }
}

pub fn lease(renter: &Pubkey, node: &Pubkey, nonce: u64, job_spec_hash: [u8; 32]) -> Lease {
    Lease {
        version: 1,
        bump: 252,
        status: LeaseStatus::Pending,
        fee_bps: 200,
        gpus: 1,
        renter: *renter,
        payer: *renter,
        node: *node,
        mint: Pubkey::new_unique(),
        nonce,
        rate_per_gpu_hour: 2_000_000,
        deposited: 2_000_000,
        paid_out: 0,
        created_at: now(),
        activated_at: 0,
        settled_until: 0,
        duration_secs: 3_600,
        job_spec_hash,
        in_cluster: false,
        cluster_nonce: 0,
        cluster_funding_deadline: 0,
        reserved: [0; 132],
    }
}

pub const SPEC: &[u8] = br#"{"command":["python","train.py"],"env":{"EPOCHS":"3"}}"#;

/// Submits `spec` for `lease`, signed by `renter`, through the HTTP API.
pub async fn submit_spec(
    http: &str,
    lease: &Pubkey,
    spec: &[u8],
    signer: &Keypair,
) -> (u16, serde_json::Value) {
    let message = spec_submission_message(&lease.to_bytes(), &job_spec_hash(spec));
    let signature = signer.sign_message(&message);
    let response = reqwest::Client::new()
        .post(format!("{http}/v1/leases/{lease}/job-spec"))
        .header("x-iomesh-signature", signature.to_string())
        .body(spec.to_vec())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

pub async fn get_json(url: &str) -> (u16, serde_json::Value) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// A replica with short timers on `pool`.
pub async fn replica(pool: &PgPool, id: &str) -> Running {
    let mut config = Config::new("unused: the pool is given");
    config.replica_id = Some(id.into());
    config.poll_ms = 200;
    config.replica_heartbeat_ms = 100;
    config.replica_timeout_ms = 600;
    config.watchdog_ms = 200;
    config.agent_heartbeat_ms = 200;
    iomesh_scheduler::start(config, pool.clone())
        .await
        .expect("replica starts")
}

/// The agent side of a session, driven by the test.
pub struct TestAgent {
    pub welcome: Welcome,
    outbound: mpsc::Sender<AgentMessage>,
    inbound: Streaming<SchedulerMessage>,
}

impl TestAgent {
    /// Dials `url` as `operator`, answering the challenge with `signer`'s
    /// key; the agent offers no Ray, and ports 30000-30999 on 127.0.0.1.
    pub async fn connect(
        url: &str,
        operator: &Pubkey,
        signer: &Keypair,
        running: &[Pubkey],
    ) -> Result<Self, Status> {
        let capabilities = Capabilities {
            ray_missing: "Ray is not installed on this node".into(),
            advertised_address: "127.0.0.1".into(),
            job_ports_first: 30_000,
            job_ports_last: 30_999,
            ..Capabilities::default()
        };
        Self::connect_offering(url, operator, signer, running, capabilities).await
    }

    /// `connect`, saying `capabilities` in Hello.
    pub async fn connect_offering(
        url: &str,
        operator: &Pubkey,
        signer: &Keypair,
        running: &[Pubkey],
        capabilities: Capabilities,
    ) -> Result<Self, Status> {
        let mut client = SchedulerClient::connect(url.to_string())
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let (outbound, receiver) = mpsc::channel(1_024);
        outbound
            .send(msg(AgentMsg::Hello(Hello {
                operator: operator.to_string(),
                agent_version: "test".into(),
                gpus: vec![Gpu {
                    index: 0,
                    model: "RTX 4090".into(),
                    vram_mib: 24_576,
                    uuid: "GPU-test".into(),
                }],
                running: running
                    .iter()
                    .map(|lease| JobUpdate {
                        lease: lease.to_string(),
                        state: JobState::Running as i32,
                        ..JobUpdate::default()
                    })
                    .collect(),
                capabilities: Some(capabilities),
            })))
            .await
            .unwrap();
        let mut inbound = client
            .agent_session(ReceiverStream::new(receiver))
            .await?
            .into_inner();
        let challenge = match next(&mut inbound).await? {
            SchedMsg::Challenge(c) => c,
            other => panic!("expected Challenge, got {other:?}"),
        };
        let message = auth_message(
            &operator.to_bytes(),
            &challenge.scheduler_id,
            &challenge.nonce,
        );
        outbound
            .send(msg(AgentMsg::ChallengeResponse(ChallengeResponse {
                signature: signer.sign_message(&message).as_ref().to_vec(),
            })))
            .await
            .map_err(|_| Status::unavailable("stream closed during the handshake"))?;
        let welcome = match next(&mut inbound).await? {
            SchedMsg::Welcome(w) => w,
            other => panic!("expected Welcome, got {other:?}"),
        };
        Ok(Self {
            welcome,
            outbound,
            inbound,
        })
    }

    /// The next message from the scheduler (an error status ends the stream).
    pub async fn recv(&mut self) -> Result<SchedMsg, Status> {
        tokio::time::timeout(TIMEOUT, next(&mut self.inbound))
            .await
            .map_err(|_| Status::deadline_exceeded("test agent: nothing received in time"))?
    }

    pub async fn assignment(&mut self) -> Assignment {
        loop {
            match self.recv().await.expect("stream open") {
                SchedMsg::Assignment(a) => return a,
                SchedMsg::Stop(_) => continue,
                other => panic!("expected Assignment, got {other:?}"),
            }
        }
    }

    /// Sends `m`; `false` when the stream has ended.
    pub async fn send(&self, m: AgentMsg) -> bool {
        self.outbound.send(msg(m)).await.is_ok()
    }

    pub async fn ack(&self, assignment: &Assignment) -> bool {
        self.send(AgentMsg::AssignmentAck(AssignmentAck {
            assignment_id: assignment.assignment_id.clone(),
            lease: assignment.lease.clone(),
            accepted: true,
            reason: String::new(),
        }))
        .await
    }

    pub async fn heartbeat(&self, running: &[Pubkey]) -> bool {
        self.send(AgentMsg::Heartbeat(Heartbeat {
            sent_at_ms: now() * 1000,
            running_leases: running.iter().map(|l| l.to_string()).collect(),
        }))
        .await
    }
}

fn msg(m: AgentMsg) -> AgentMessage {
    AgentMessage { msg: Some(m) }
}

async fn next(inbound: &mut Streaming<SchedulerMessage>) -> Result<SchedMsg, Status> {
    match inbound.message().await? {
        Some(SchedulerMessage { msg: Some(m) }) => Ok(m),
        Some(_) => Err(Status::internal("empty SchedulerMessage")),
        None => Err(Status::cancelled("stream ended without a status")),
    }
}

/// Polls `check` until it returns Some, or panics after TIMEOUT.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Heartbeat minutes as the scheduler records them.
pub async fn uptime(pool: &PgPool, node: &Pubkey, minutes: impl IntoIterator<Item = i64>) {
    for minute in minutes {
        sqlx::query("INSERT INTO node_uptime_minutes (node, minute) VALUES ($1, $2)")
            .bind(node.to_bytes().as_slice())
            .bind(minute)
            .execute(pool)
            .await
            .unwrap();
    }
}
