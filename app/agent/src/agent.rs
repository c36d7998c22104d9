//! What the agent does with the scheduler's messages: an assignment is
//! checked against the chain, started on free GPUs, then activated on-chain;
//! a stop stops the job; each running lease is watched on-chain so the job
//! stops when the lease ends or is closed, even without the scheduler.

use crate::{
    chain::Chain,
    gpu::Gpu,
    jobs::{job_update, JobError, Jobs, StopCause},
    ports::JobPorts,
    runner::{state::JobRecord, Placement},
};
use anchor_lang::prelude::Pubkey;
use iomesh_agent_proto::v1::{
    agent_message, scheduler_client::SchedulerClient, AgentMessage, Assignment, AssignmentAck,
    Capabilities, JobState, JobUpdate, Stop, StopReason,
};
use solana_keypair::Keypair;
use std::{collections::HashMap, sync::Arc, time::Duration};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tracing::Instrument;

pub struct Agent {
    pub operator: Arc<Keypair>,
    /// What Hello tells the scheduler this node can run, and where its
    /// cluster peers reach it.
    pub capabilities: Capabilities,
    pub gpus: Vec<Gpu>,
    pub chain: Chain,
    pub jobs: Jobs,
    /// The ports each running job's spec lists (what tunnels may reach).
    pub ports: JobPorts,
    /// Tunnels being opened or carrying bytes now, by id; cancelling one
    /// drops it (the scheduler's `CloseTunnel`).
    tunnels: std::sync::Mutex<HashMap<String, CancellationToken>>,
    events: mpsc::Sender<AgentMessage>,
    /// How often a running lease is re-read on-chain to notice a close the
    /// scheduler did not tell us about.
    lease_check_interval: Duration,
}

impl Agent {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        operator: Arc<Keypair>,
        capabilities: Capabilities,
        gpus: Vec<Gpu>,
        chain: Chain,
        jobs: Jobs,
        ports: JobPorts,
        events: mpsc::Sender<AgentMessage>,
        lease_check_interval: Duration,
    ) -> Arc<Self> {
        Arc::new(Self {
            operator,
            capabilities,
            gpus,
            chain,
            jobs,
            ports,
            tunnels: Default::default(),
            events,
            lease_check_interval,
        })
    }

    /// Watches the end of every job reattached after a restart. A job the
    /// previous agent started but had not seen activated is looked up
    /// on-chain: active means the activation landed (watch it); anything
    /// else means nobody pays for it, so it stops and a new assignment
    /// starts it afresh.
    pub fn resume(self: &Arc<Self>, reattached: &[JobRecord]) {
        for record in reattached {
            if let Some(ends_at) = record.ends_at {
                self.watch_lease_end(record.lease.clone(), ends_at);
                continue;
            }
            let agent = self.clone();
            let lease = record.lease.clone();
            tokio::spawn(async move {
                let end = match lease.parse::<Pubkey>() {
                    Ok(address) => agent.chain.lease_end(&address).await,
                    Err(_) => Ok(None),
                };
                match end {
                    Ok(Some(ends_at)) => {
                        agent.jobs.set_activation(&lease, None, Some(ends_at));
                        agent.watch_lease_end(lease, ends_at);
                    }
                    Ok(None) => {
                        agent.jobs.stop(
                            &lease,
                            StopCause {
                                state: JobState::Failed,
                                detail: "the agent restarted before the lease was activated".into(),
                            },
                        );
                    }
                    // The chain is unreachable: keep the job; the scheduler
                    // or a later restart settles it.
                    Err(err) => {
                        tracing::warn!(lease, %err, "cannot check an unactivated job's lease")
                    }
                }
            });
        }
    }

    /// Jobs to report in Hello: running (activated) or still starting.
    pub fn running_updates(&self) -> Vec<JobUpdate> {
        self.jobs
            .running()
            .iter()
            .map(|r| {
                let state = if r.activate_signature.is_some() {
                    JobState::Running
                } else {
                    JobState::Starting
                };
                job_update(r, state)
            })
            .collect()
    }

    /// Tunnels to jobs' ports being opened or carrying bytes now.
    pub fn open_tunnels(&self) -> usize {
        self.tunnels.lock().expect("tunnels lock").len()
    }

    /// Counts tunnel `id` as open until the guard drops; the token is
    /// cancelled when the scheduler closes the tunnel.
    pub fn tunnel_guard(self: &Arc<Self>, id: &str) -> (impl Drop, CancellationToken) {
        struct Open(Arc<Agent>, String);
        impl Drop for Open {
            fn drop(&mut self) {
                self.0.tunnels.lock().expect("tunnels lock").remove(&self.1);
            }
        }
        let closed = CancellationToken::new();
        self.tunnels
            .lock()
            .expect("tunnels lock")
            .insert(id.to_string(), closed.clone());
        (Open(self.clone(), id.to_string()), closed)
    }

    /// Acts on one scheduler message; `client` (the session's connection)
    /// carries the streams a renter's request asks for.
    pub fn handle(
        self: &Arc<Self>,
        message: iomesh_agent_proto::v1::scheduler_message::Msg,
        client: &SchedulerClient<Channel>,
    ) {
        use iomesh_agent_proto::v1::scheduler_message::Msg;
        match message {
            Msg::OpenTunnel(open) => {
                let span = tracing::info_span!("tunnel", lease = %open.lease, port = open.port);
                let agent = self.clone();
                let client = client.clone();
                tokio::spawn(crate::tunnel::serve(agent, client, open).instrument(span));
            }
            Msg::CloseTunnel(close) => {
                // Its task unregisters it once the job's socket is dropped.
                let tunnel = self
                    .tunnels
                    .lock()
                    .expect("tunnels lock")
                    .get(&close.tunnel_id)
                    .cloned();
                if let Some(closed) = tunnel {
                    tracing::info!(
                        tunnel = close.tunnel_id,
                        reason = close.reason,
                        "tunnel closed by the scheduler"
                    );
                    closed.cancel();
                }
            }
            Msg::ReadLogs(read) => {
                let span = tracing::info_span!("logs", lease = %read.lease);
                let agent = self.clone();
                let client = client.clone();
                tokio::spawn(crate::log_stream::serve(agent, client, read).instrument(span));
            }
            Msg::Assignment(assignment) => {
                let span = tracing::info_span!("assignment", lease = %assignment.lease, id = %assignment.assignment_id);
                let agent = self.clone();
                tokio::spawn(async move { agent.assign(assignment).await }.instrument(span));
            }
            Msg::Stop(stop) => self.stop(stop),
            Msg::Challenge(_) | Msg::Welcome(_) => {
                tracing::warn!("unexpected handshake message after Welcome; ignored")
            }
        }
    }

    /// Checks, starts and activates one assignment.
    pub async fn assign(self: Arc<Self>, assignment: Assignment) {
        let lease = assignment.lease.clone();
        if let Some(record) = self.jobs.get(&lease) {
            // Sent again (e.g. after a reconnect): the job already runs here.
            self.ack(&assignment, true, "the job already runs on this node")
                .await;
            let state = if record.activate_signature.is_some() {
                JobState::Running
            } else {
                JobState::Starting
            };
            self.send(update(job_update(&record, state))).await;
            return;
        }
        let checked = match self.chain.check(&assignment).await {
            Ok(checked) => checked,
            Err(refusal) => {
                tracing::warn!(%refusal, "assignment refused");
                return self.ack(&assignment, false, &refusal.to_string()).await;
            }
        };
        let placement = Placement {
            address: self.capabilities.advertised_address.clone(),
            port_base: u16::try_from(assignment.port_base).unwrap_or(0),
            port_count: u16::try_from(assignment.port_count).unwrap_or(0),
            cluster: assignment.cluster.clone(),
        };
        let started = self
            .jobs
            .start_held(&lease, &checked.spec, assignment.gpu_count, &placement);
        let (record, hold) = match started {
            Ok(started) => started,
            Err(err @ JobError::AlreadyRunning(_)) => {
                return self.ack(&assignment, true, &err.to_string()).await;
            }
            Err(err) => {
                tracing::warn!(%err, "cannot start the job");
                return self.ack(&assignment, false, &err.to_string()).await;
            }
        };
        if let Err(err) = self
            .ports
            .set(&lease, &placement.renter_ports(&checked.spec))
        {
            tracing::warn!(%err, "cannot record the job's ports; tunnels to them will be refused");
        }
        self.report_start(&assignment, &lease, &checked, record)
            .await;
        drop(hold);
    }

    /// Acknowledges a started job, activates its lease and reports it
    /// running, or stops it when activation fails.
    async fn report_start(
        self: &Arc<Self>,
        assignment: &Assignment,
        lease: &str,
        checked: &crate::chain::CheckedLease,
        record: JobRecord,
    ) {
        self.ack(assignment, true, "").await;
        self.send(update(job_update(&record, JobState::Starting)))
            .await;
        match self.chain.activate(checked).await {
            Ok((signature, ends_at)) => {
                tracing::info!(%signature, ends_at, "lease activated");
                self.jobs
                    .set_activation(lease, Some(signature.to_string()), Some(ends_at));
                let record = self.jobs.get(lease).unwrap_or(JobRecord {
                    activate_signature: Some(signature.to_string()),
                    ends_at: Some(ends_at),
                    ..record
                });
                self.send(update(job_update(&record, JobState::Running)))
                    .await;
                self.watch_lease_end(lease.to_string(), ends_at);
            }
            Err(err) => {
                // Not activated: nobody pays for this job, so it must not run.
                tracing::error!(%err, "activation failed; stopping the job");
                self.jobs.stop(
                    lease,
                    StopCause {
                        state: JobState::Failed,
                        detail: format!("activate_lease failed: {err}"),
                    },
                );
            }
        }
    }

    fn stop(&self, stop: Stop) {
        let reason = StopReason::try_from(stop.reason).unwrap_or(StopReason::Unspecified);
        let cause = StopCause {
            state: JobState::Stopped,
            detail: format!("stopped by the scheduler: {}", reason.as_str_name()),
        };
        if !self.jobs.stop(&stop.lease, cause) {
            tracing::info!(lease = stop.lease, "stop for a lease with no job here");
            let events = self.events.clone();
            tokio::spawn(async move {
                let _ = events
                    .send(update(JobUpdate {
                        lease: stop.lease,
                        state: JobState::Stopped as i32,
                        detail: "no job for this lease runs on this node".into(),
                        at_ms: crate::now_ms(),
                        ..JobUpdate::default()
                    }))
                    .await;
            });
        }
    }

    /// Stops the lease's job when the chain says its paid time is over (an
    /// extension moves the end) or the lease is closed.
    fn watch_lease_end(self: &Arc<Self>, lease: String, mut ends_at: i64) {
        let agent = self.clone();
        let span = tracing::info_span!("lease_end", %lease);
        tokio::spawn(
            async move {
                let Ok(address) = lease.parse::<Pubkey>() else {
                    return;
                };
                loop {
                    let until_end =
                        u64::try_from(ends_at.saturating_sub(crate::now_secs())).unwrap_or(0);
                    tokio::time::sleep(
                        agent
                            .lease_check_interval
                            .min(Duration::from_secs(until_end)),
                    )
                    .await;
                    if agent.jobs.get(&lease).is_none() {
                        return;
                    }
                    let detail = match agent.chain.lease_end(&address).await {
                        Ok(Some(end)) if end > crate::now_secs() => {
                            if end != ends_at {
                                tracing::info!(end, "lease end moved");
                                ends_at = end;
                                agent.jobs.set_activation(&lease, None, Some(end));
                            }
                            continue;
                        }
                        Ok(Some(_)) => "the lease's paid time is over".to_string(),
                        Ok(None) => "the lease is closed on-chain".to_string(),
                        Err(err) if crate::now_secs() >= ends_at => {
                            format!("the lease's paid time is over (chain unreadable: {err})")
                        }
                        Err(err) => {
                            tracing::warn!(%err, "cannot re-read the lease; retrying");
                            continue;
                        }
                    };
                    agent.jobs.stop(
                        &lease,
                        StopCause {
                            state: JobState::Stopped,
                            detail,
                        },
                    );
                    return;
                }
            }
            .instrument(span),
        );
    }

    async fn ack(&self, assignment: &Assignment, accepted: bool, reason: &str) {
        self.send(AgentMessage {
            msg: Some(agent_message::Msg::AssignmentAck(AssignmentAck {
                assignment_id: assignment.assignment_id.clone(),
                lease: assignment.lease.clone(),
                accepted,
                reason: reason.to_string(),
            })),
        })
        .await;
    }

    async fn send(&self, message: AgentMessage) {
        if self.events.send(message).await.is_err() {
            tracing::warn!("agent event channel closed; message dropped");
        }
    }
}

fn update(update: JobUpdate) -> AgentMessage {
    AgentMessage {
        msg: Some(agent_message::Msg::JobUpdate(update)),
    }
}
