//! The agent's session against a small scheduler stand-in serving the
//! proto's `Scheduler` service over a real socket: the challenge signature
//! verifies (ed25519, operator pubkey), heartbeats arrive, an assignment runs
//! and activates on the localnet, and after the server drops the stream the
//! agent reconnects and reports the running job in its Hello.

use crate::common::{agent_config, start_agent, Market};
use ed25519_dalek::{Signature, VerifyingKey};
use iomesh_agent::session::{self, SessionConfig};
use iomesh_agent_proto::{
    auth_message,
    v1::{
        agent_message::Msg as AgentMsg,
        scheduler_message::Msg as SchedMsg,
        scheduler_server::{Scheduler, SchedulerServer},
        AgentMessage, Assignment, Challenge, Hello, JobState, LogBatch, LogsDone, SchedulerMessage,
        Stop, StopReason, TunnelFrame, Welcome,
    },
};
use solana_signer::Signer;
use std::{
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{transport::server::TcpIncoming, Request, Response, Status, Streaming};

/// One authenticated session as the stand-in saw it.
struct Session {
    hello: Hello,
    signature_verified: bool,
    to_agent: mpsc::Sender<Result<SchedulerMessage, Status>>,
    from_agent: mpsc::Receiver<AgentMessage>,
}

struct StandIn {
    sessions: mpsc::Sender<Session>,
    count: AtomicU32,
}

#[tonic::async_trait]
impl Scheduler for StandIn {
    type AgentSessionStream = ReceiverStream<Result<SchedulerMessage, Status>>;

    async fn agent_session(
        &self,
        request: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<Self::AgentSessionStream>, Status> {
        let mut inbound = request.into_inner();
        let (to_agent, rx) = mpsc::channel(16);
        let sessions = self.sessions.clone();
        let n = self.count.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            let Some(AgentMessage {
                msg: Some(AgentMsg::Hello(hello)),
            }) = inbound.message().await.unwrap()
            else {
                panic!("the first message is not Hello");
            };
            let nonce: Vec<u8> = (0..32)
                .map(|i| (i as u8).wrapping_mul(7).wrapping_add(n as u8))
                .collect();
            let scheduler_id = format!("stand-in-{n}");
            let send = |msg| SchedulerMessage { msg: Some(msg) };
            to_agent
                .send(Ok(send(SchedMsg::Challenge(Challenge {
                    nonce: nonce.clone(),
                    scheduler_id: scheduler_id.clone(),
                    expires_at_ms: iomesh_agent::now_ms() + 30_000,
                }))))
                .await
                .unwrap();
            let Some(AgentMessage {
                msg: Some(AgentMsg::ChallengeResponse(response)),
            }) = inbound.message().await.unwrap()
            else {
                panic!("no ChallengeResponse");
            };
            // Verified as the scheduler would: ed25519 over auth_message,
            // against the operator key the agent claims in Hello.
            let operator: [u8; 32] = bs58_decode(&hello.operator);
            let key = VerifyingKey::from_bytes(&operator).unwrap();
            let signature = Signature::from_slice(&response.signature).unwrap();
            let signature_verified = key
                .verify_strict(&auth_message(&operator, &scheduler_id, &nonce), &signature)
                .is_ok();
            to_agent
                .send(Ok(send(SchedMsg::Welcome(Welcome {
                    session_id: format!("session-{n}"),
                    node: String::new(),
                    heartbeat_interval_ms: 100,
                }))))
                .await
                .unwrap();
            let (from_tx, from_agent) = mpsc::channel(64);
            sessions
                .send(Session {
                    hello,
                    signature_verified,
                    to_agent,
                    from_agent,
                })
                .await
                .unwrap();
            while let Ok(Some(message)) = inbound.message().await {
                if from_tx.send(message).await.is_err() {
                    break;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    type TunnelStream = ReceiverStream<Result<TunnelFrame, Status>>;

    // The stand-in asks for no tunnels or logs (the scheduler's tests do).
    async fn tunnel(
        &self,
        _: Request<Streaming<TunnelFrame>>,
    ) -> Result<Response<Self::TunnelStream>, Status> {
        Err(Status::unimplemented("the stand-in opens no tunnels"))
    }

    async fn logs(&self, _: Request<Streaming<LogBatch>>) -> Result<Response<LogsDone>, Status> {
        Err(Status::unimplemented("the stand-in reads no logs"))
    }
}

fn bs58_decode(text: &str) -> [u8; 32] {
    text.parse::<anchor_lang::prelude::Pubkey>()
        .unwrap()
        .to_bytes()
}

async fn next(session: &mut Session) -> AgentMsg {
    tokio::time::timeout(Duration::from_secs(30), session.from_agent.recv())
        .await
        .expect("an agent message within 30 s")
        .expect("the agent's stream is open")
        .msg
        .expect("message body")
}

async fn next_session(sessions: &mut mpsc::Receiver<Session>) -> Session {
    tokio::time::timeout(Duration::from_secs(30), sessions.recv())
        .await
        .expect("the agent connects within 30 s")
        .expect("server running")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_authenticates_heartbeats_and_reports_its_job_after_reconnecting() {
    let market = Market::start().await;
    let node = market.register_node(2).await;
    let renter = market.renter().await;
    let spec = br#"{"command":["sleep","1000"]}"#;
    let lease = market
        .create_lease(&node, &renter, 7, 1, spec)
        .await
        .to_string();

    let incoming = TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let url = format!("http://{}", incoming.local_addr().unwrap());
    let (sessions_tx, mut sessions) = mpsc::channel(4);
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(SchedulerServer::new(StandIn {
                sessions: sessions_tx,
                count: AtomicU32::new(0),
            }))
            .serve_with_incoming(incoming),
    );

    let state = crate::common::StateDir::new();
    let config = agent_config(
        &market.localnet.rpc_url(),
        &url,
        node.operator.clone(),
        state.path(),
        2,
    );
    let (agent, events) = start_agent(&config).await;
    let shutdown = CancellationToken::new();
    let mut session_config = SessionConfig::new(url);
    session_config.backoff_min = Duration::from_millis(50);
    let sessions_task = tokio::spawn(session::run(
        agent.clone(),
        events,
        session_config,
        shutdown.clone(),
    ));

    // First session: authenticated, GPUs reported, nothing running yet.
    let mut first = next_session(&mut sessions).await;
    assert!(
        first.signature_verified,
        "the challenge signature does not verify"
    );
    assert_eq!(first.hello.operator, node.operator.pubkey().to_string());
    assert_eq!(first.hello.gpus.len(), 2);
    assert!(first.hello.running.is_empty());
    for _ in 0..2 {
        assert!(
            matches!(next(&mut first).await, AgentMsg::Heartbeat(h) if h.running_leases.is_empty())
        );
    }

    first
        .to_agent
        .send(Ok(SchedulerMessage {
            msg: Some(SchedMsg::Assignment(Assignment {
                assignment_id: "a-1".into(),
                lease: lease.clone(),
                attempt: 1,
                gpu_count: 1,
                job_spec: spec.to_vec(),
                duration_secs: 3_600,
                ..Assignment::default()
            })),
        }))
        .await
        .unwrap();
    let mut acked = false;
    let mut activate_signature = String::new();
    let mut beat_with_job = false;
    while !(acked && beat_with_job) {
        match next(&mut first).await {
            AgentMsg::AssignmentAck(ack) => {
                assert!(ack.accepted, "{ack:?}");
                assert_eq!(ack.assignment_id, "a-1");
                acked = true;
            }
            AgentMsg::JobUpdate(u) if u.state == JobState::Running as i32 => {
                activate_signature = u.activate_signature;
            }
            AgentMsg::Heartbeat(h) => {
                beat_with_job =
                    !activate_signature.is_empty() && h.running_leases == [lease.clone()]
            }
            _ => {}
        }
    }

    // The scheduler replica goes away: the stream ends.
    drop(first);
    let mut second = next_session(&mut sessions).await;
    assert!(
        second.signature_verified,
        "the second challenge signature does not verify"
    );
    assert_eq!(
        second.hello.running.len(),
        1,
        "the running job is reported on reconnect"
    );
    let reported = &second.hello.running[0];
    assert_eq!(reported.lease, lease);
    assert_eq!(reported.state, JobState::Running as i32);
    assert_eq!(reported.activate_signature, activate_signature);
    assert_eq!(reported.gpu_indices, vec![0]);
    // It was reattached, not restarted: still the same process.
    assert_eq!(agent.jobs.running().len(), 1);

    second
        .to_agent
        .send(Ok(SchedulerMessage {
            msg: Some(SchedMsg::Stop(Stop {
                lease: lease.clone(),
                reason: StopReason::Cancelled as i32,
            })),
        }))
        .await
        .unwrap();
    loop {
        if let AgentMsg::JobUpdate(u) = next(&mut second).await {
            if u.state == JobState::Stopped as i32 {
                assert_eq!(u.lease, lease);
                assert!(u.detail.contains("CANCELLED"), "{}", u.detail);
                break;
            }
        }
    }
    assert!(agent.jobs.running().is_empty());
    shutdown.cancel();
    sessions_task.await.unwrap();
    server.abort();
}

fn start_binary(args: &[&str]) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_iomesh-agent"))
        .args(args)
        .env("RUST_LOG", "info")
        .kill_on_drop(true)
        .spawn()
        .expect("iomesh-agent starts")
}

async fn terminate(agent: &mut tokio::process::Child) {
    let pid = agent.id().expect("agent runs") as i32;
    // SAFETY: kill(2) on the agent process we started.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let status = tokio::time::timeout(Duration::from_secs(30), agent.wait())
        .await
        .expect("the agent exits on SIGTERM")
        .unwrap();
    assert!(status.success(), "agent exited with {status}");
}

/// The binary as a supplier runs it: on SIGTERM it leaves the job running,
/// and the next agent process reattaches and reports it in Hello.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_leaves_jobs_running_on_sigterm_and_the_next_one_reattaches() {
    let market = Market::start().await;
    let node = market.register_node(1).await;
    let renter = market.renter().await;
    let spec = br#"{"command":["sleep","1000"]}"#;
    let lease = market
        .create_lease(&node, &renter, 3, 1, spec)
        .await
        .to_string();

    let incoming = TcpIncoming::bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let url = format!("http://{}", incoming.local_addr().unwrap());
    let (sessions_tx, mut sessions) = mpsc::channel(4);
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(SchedulerServer::new(StandIn {
                sessions: sessions_tx,
                count: AtomicU32::new(0),
            }))
            .serve_with_incoming(incoming),
    );
    let dir = crate::common::StateDir::new();
    let keypair = dir.path().join("operator.json");
    solana_keypair::write_keypair_file(&node.operator, &keypair).unwrap();
    let state = dir.path().to_path_buf();
    let rpc = market.localnet.rpc_url();
    let args = [
        "run",
        "--keypair",
        keypair.to_str().unwrap(),
        "--scheduler",
        &url,
        "--url",
        &rpc,
        "--state-dir",
        state.to_str().unwrap(),
        "--gpus",
        "1xRTX 4090:24576",
        "--stop-grace-secs",
        "1",
    ];

    let mut agent = start_binary(&args);
    let mut first = next_session(&mut sessions).await;
    assert!(first.signature_verified);
    first
        .to_agent
        .send(Ok(SchedulerMessage {
            msg: Some(SchedMsg::Assignment(Assignment {
                assignment_id: "a-bin".into(),
                lease: lease.clone(),
                attempt: 1,
                gpu_count: 1,
                job_spec: spec.to_vec(),
                duration_secs: 3_600,
                ..Assignment::default()
            })),
        }))
        .await
        .unwrap();
    loop {
        if let AgentMsg::JobUpdate(u) = next(&mut first).await {
            if u.state == JobState::Running as i32 {
                break;
            }
        }
    }
    let saved: serde_json::Value = serde_json::from_slice(
        &std::fs::read(state.join("jobs").join(&lease).join("state.json")).unwrap(),
    )
    .unwrap();
    let job_pid = saved["pid"].as_u64().unwrap() as u32;
    let job_ticks = saved["start_ticks"].as_u64().unwrap();

    terminate(&mut agent).await;
    assert!(
        iomesh_agent::runner::proc::is_alive(job_pid, job_ticks),
        "the job must survive the agent's shutdown"
    );

    let mut agent = start_binary(&args);
    let mut second = next_session(&mut sessions).await;
    assert_eq!(second.hello.running.len(), 1);
    assert_eq!(second.hello.running[0].lease, lease);
    assert_eq!(second.hello.running[0].state, JobState::Running as i32);
    second
        .to_agent
        .send(Ok(SchedulerMessage {
            msg: Some(SchedMsg::Stop(Stop {
                lease: lease.clone(),
                reason: StopReason::Ended as i32,
            })),
        }))
        .await
        .unwrap();
    loop {
        if let AgentMsg::JobUpdate(u) = next(&mut second).await {
            if u.state == JobState::Stopped as i32 {
                break;
            }
        }
    }
    assert!(!iomesh_agent::runner::proc::is_alive(job_pid, job_ticks));
    terminate(&mut agent).await;
    server.abort();
}

#[tokio::test]
async fn gpus_json_lists_the_override_for_node_registration() {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_iomesh-agent"))
        .args(["gpus", "--json", "--gpus", "2xRTX 4090:24576"])
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let gpus: Vec<iomesh_agent::gpu::Gpu> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(gpus.len(), 2);
    assert_eq!(gpus[1].index, 1);
    assert_eq!(gpus[1].model, "RTX 4090");
    assert_eq!(gpus[1].vram_mib, 24576);
    let bad = tokio::process::Command::new(env!("CARGO_BIN_EXE_iomesh-agent"))
        .args(["gpus", "--gpus", "lots of GPUs"])
        .output()
        .await
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("expected COUNTxMODEL:VRAM_MIB"));
}

/// `run` arguments for an agent that needs no scheduler or chain to start.
fn offline_args(state: &std::path::Path, keypair: &std::path::Path) -> Vec<String> {
    solana_keypair::write_keypair_file(&solana_keypair::Keypair::new(), keypair).unwrap();
    [
        "run",
        "--keypair",
        keypair.to_str().unwrap(),
        "--scheduler",
        "http://127.0.0.1:1",
        "--url",
        "http://127.0.0.1:1",
        "--state-dir",
        state.to_str().unwrap(),
        "--gpus",
        "1xRTX 4090:24576",
    ]
    .map(String::from)
    .to_vec()
}

/// Runs the agent binary with `args`, expecting it to refuse to start: its
/// standard error.
async fn refused_start(args: &[String]) -> String {
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_iomesh-agent"))
            .args(args)
            .output(),
    )
    .await
    .expect("the agent exits")
    .unwrap();
    assert!(!out.status.success(), "the agent started");
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[tokio::test]
async fn the_agent_refuses_to_start_without_a_working_bwrap() {
    let dir = crate::common::StateDir::new();
    let mut args = offline_args(&dir.path().join("state"), &dir.path().join("operator.json"));
    args.extend(["--bwrap".into(), "/nonexistent/bwrap".into()]);
    let stderr = refused_start(&args).await;
    for fix in [
        "/nonexistent/bwrap",
        "apt-get install bubblewrap",
        "--sandbox none",
    ] {
        assert!(
            stderr.contains(fix),
            "the error does not say `{fix}`: {stderr}"
        );
    }
}

#[tokio::test]
async fn with_sandbox_none_the_agent_starts_and_warns_loudly() {
    use tokio::io::AsyncBufReadExt;
    let dir = crate::common::StateDir::new();
    let mut args = offline_args(&dir.path().join("state"), &dir.path().join("operator.json"));
    args.extend(["--sandbox".into(), "none".into()]);
    let mut agent = tokio::process::Command::new(env!("CARGO_BIN_EXE_iomesh-agent"))
        .args(&args)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(agent.stderr.take().unwrap()).lines();
    let mut warned = false;
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            warned |= line.contains("WARN") && line.contains("JOBS RUN UNPROTECTED");
            if line.contains("agent started") {
                break;
            }
        }
    })
    .await
    .expect("the agent starts");
    assert!(warned, "no warning that jobs are unprotected");
    terminate(&mut agent).await;
}

#[tokio::test]
async fn the_agent_refuses_a_scheduler_ca_it_cannot_use() {
    let dir = crate::common::StateDir::new();
    let run = |scheduler: &str, extra: Vec<String>| {
        let mut args = offline_args(&dir.path().join("state"), &dir.path().join("operator.json"));
        let at = args.iter().position(|a| a == "--scheduler").unwrap() + 1;
        args[at] = scheduler.to_string();
        args.extend(extra);
        async move { refused_start(&args).await }
    };
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "no certificate here").unwrap();
    // A trusted certificate with a plaintext scheduler URL means nothing.
    let stderr = run(
        "http://127.0.0.1:1",
        vec!["--scheduler-ca".into(), not_pem.display().to_string()],
    )
    .await;
    assert!(
        stderr.contains("--scheduler-ca") && stderr.contains("use an https:// --scheduler URL"),
        "{stderr}"
    );
    // With https://, the file must hold a PEM certificate.
    let stderr = run(
        "https://127.0.0.1:1",
        vec!["--scheduler-ca".into(), not_pem.display().to_string()],
    )
    .await;
    assert!(stderr.contains("it holds no PEM certificate"), "{stderr}");
}
