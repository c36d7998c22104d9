//! The agents' gRPC service: the handshake (the agent proves it holds the
//! node's operator key by signing a fresh challenge), the session row claimed
//! by this replica, and the messages of an authenticated agent.

use crate::rendezvous::OpenError;
use crate::{
    error::{Error, Result},
    sessions::{Outbound, Session},
    Shared,
};
use iomesh_agent_proto::{
    auth_message,
    v1::{
        agent_message::Msg as AgentMsg, scheduler_message::Msg as SchedMsg,
        scheduler_server::Scheduler, AgentMessage, AssignmentAck, Challenge, Heartbeat, Hello,
        JobState, JobUpdate, LogBatch, LogsDone, LogsUnavailable, SchedulerMessage, TunnelFrame,
        Welcome,
    },
};
pub use iomesh_client::clock::unix_now_ms as now_ms;
use solana_pubkey::Pubkey;
use solana_signature::Signature;
use std::{sync::Arc, time::Duration};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};
use tracing::{info, warn, Instrument};

/// Messages queued towards one agent before sending waits.
const OUTBOUND_CAPACITY: usize = 1_024;

pub struct AgentService {
    shared: Arc<Shared>,
}

impl AgentService {
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

#[tonic::async_trait]
impl Scheduler for AgentService {
    type AgentSessionStream = ReceiverStream<Result<SchedulerMessage, Status>>;

    async fn agent_session(
        &self,
        request: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<Self::AgentSessionStream>, Status> {
        let peer = request
            .remote_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        let inbound = request.into_inner();
        let (outbound, receiver) = mpsc::channel(OUTBOUND_CAPACITY);
        let shared = self.shared.clone();
        // The handshake needs the response stream open (the challenge travels on
        // it), so it runs after the response is returned.
        tokio::spawn(
            async move {
                if let Err(status) = run_session(&shared, inbound, outbound.clone()).await {
                    if matches!(
                        status.code(),
                        tonic::Code::Unauthenticated | tonic::Code::PermissionDenied
                    ) {
                        shared.metrics.handshakes_refused_total.inc();
                    }
                    info!(code = ?status.code(), message = status.message(), "agent session ends");
                    let _ = outbound.send(Err(status)).await;
                }
            }
            .instrument(tracing::info_span!("agent", %peer)),
        );
        Ok(Response::new(ReceiverStream::new(receiver)))
    }

    type TunnelStream = ReceiverStream<Result<TunnelFrame, Status>>;

    /// An agent opens the tunnel a renter's request asked for (`OpenTunnel`).
    /// The tunnel id, sent only to the authenticated agent, is the capability.
    async fn tunnel(
        &self,
        request: Request<Streaming<TunnelFrame>>,
    ) -> Result<Response<Self::TunnelStream>, Status> {
        let mut inbound = request.into_inner();
        let first = inbound
            .message()
            .await?
            .ok_or_else(|| Status::invalid_argument("a tunnel stream must start with its id"))?;
        let (outbound, receiver) = mpsc::channel(crate::tunnel::FRAMES_QUEUED);
        let side = if first.error.is_empty() {
            Ok(crate::tunnel::AgentSide { inbound, outbound })
        } else {
            Err(first.error)
        };
        if self.shared.tunnels.arrive(&first.tunnel_id, side).is_err() {
            return Err(Status::not_found(format!(
                "no request waits for tunnel {:?} (timed out or unknown)",
                first.tunnel_id
            )));
        }
        Ok(Response::new(ReceiverStream::new(receiver)))
    }

    /// An agent sends the log records a renter's request asked for (`ReadLogs`).
    async fn logs(
        &self,
        request: Request<Streaming<LogBatch>>,
    ) -> Result<Response<LogsDone>, Status> {
        let mut rest = request.into_inner();
        let first = rest.message().await?.ok_or_else(|| {
            Status::invalid_argument("a logs stream must start with its request id")
        })?;
        let (done, finished) = tokio::sync::oneshot::channel::<()>();
        let side = match (first.error.is_empty(), first.unavailable()) {
            (true, _) => Ok(Ok(crate::logs::AgentSide {
                first: first.records,
                rest,
                done,
            })),
            (false, LogsUnavailable::NoJob) => Ok(Err(OpenError::NoLogs(first.error))),
            (false, LogsUnavailable::Deleted) => Ok(Err(OpenError::LogsDeleted(first.error))),
            (false, LogsUnavailable::Unspecified) => Err(first.error),
        };
        if self.shared.logs.arrive(&first.request_id, side).is_err() {
            return Err(Status::not_found(format!(
                "no request waits for logs {:?} (timed out or unknown)",
                first.request_id
            )));
        }
        // The call lasts as long as the renter reads: ending it early would
        // cancel the agent's stream.
        let _ = finished.await;
        Ok(Response::new(LogsDone {}))
    }
}

fn internal(err: impl std::fmt::Display) -> Status {
    Status::internal(format!("scheduler error: {err}"))
}

async fn next(inbound: &mut Streaming<AgentMessage>) -> Result<Option<AgentMsg>, Status> {
    match inbound.message().await? {
        Some(AgentMessage { msg: Some(msg) }) => Ok(Some(msg)),
        Some(AgentMessage { msg: None }) => Err(Status::invalid_argument(
            "empty AgentMessage (no message set)",
        )),
        None => Ok(None),
    }
}

/// What the handshake established.
struct Authenticated {
    node: Pubkey,
    operator: Pubkey,
    hello: Hello,
}

/// The leases an agent names, as the bytes the tables key them by; a name
/// that is no pubkey matches no row, so it is left out.
fn lease_keys<'a>(names: impl Iterator<Item = &'a str>) -> Vec<Vec<u8>> {
    names
        .filter_map(|name| name.parse::<Pubkey>().ok())
        .map(|lease| lease.to_bytes().to_vec())
        .collect()
}

async fn handshake(
    shared: &Shared,
    inbound: &mut Streaming<AgentMessage>,
    outbound: &Outbound,
) -> Result<Authenticated, Status> {
    let timeout = Duration::from_secs(shared.config.challenge_secs);
    let hello = match tokio::time::timeout(timeout, next(inbound)).await {
        Err(_) => {
            return Err(Status::deadline_exceeded(
                "no Hello within the handshake timeout",
            ))
        }
        Ok(Ok(Some(AgentMsg::Hello(hello)))) => hello,
        Ok(Ok(Some(_))) => {
            return Err(Status::failed_precondition(
                "the first message of a session must be Hello",
            ))
        }
        Ok(Ok(None)) => return Err(Status::cancelled("agent closed the stream before Hello")),
        Ok(Err(status)) => return Err(status),
    };
    let operator: Pubkey = hello.operator.parse().map_err(|_| {
        Status::invalid_argument(format!(
            "Hello.operator {:?} is not a base58 pubkey",
            hello.operator
        ))
    })?;
    let node = iomesh_client::pda::node(&operator);
    // The node as indexed: it must exist and be open; its operator is the key.
    let row: Option<(Vec<u8>, Option<i64>)> =
        sqlx::query_as("SELECT operator, closed_slot FROM nodes WHERE pubkey = $1")
            .bind(node.as_ref())
            .fetch_optional(&shared.pool)
            .await
            .map_err(internal)?;
    match row {
        None => {
            return Err(Status::permission_denied(format!(
                "no node is registered for operator {operator} (node {node} is not indexed)"
            )))
        }
        Some((_, Some(_))) => {
            return Err(Status::permission_denied(format!(
                "node {node} of operator {operator} is retired (closed on-chain)"
            )))
        }
        Some((indexed, None)) if indexed != operator.as_ref() => {
            return Err(Status::permission_denied(format!(
                "node {node}'s operator on-chain is not {operator}"
            )))
        }
        Some(_) => {}
    }

    let nonce: [u8; 32] = rand::random();
    let expires_at_ms = now_ms() + timeout.as_millis() as i64;
    send(
        outbound,
        SchedMsg::Challenge(Challenge {
            nonce: nonce.to_vec(),
            scheduler_id: shared.replica_id.clone(),
            expires_at_ms,
        }),
    )
    .await?;
    let response = match tokio::time::timeout(timeout, next(inbound)).await {
        Err(_) => return Err(Status::deadline_exceeded("challenge not answered in time")),
        Ok(Ok(Some(AgentMsg::ChallengeResponse(r)))) => r,
        Ok(Ok(Some(_))) => {
            return Err(Status::failed_precondition(
                "after Challenge the agent must send ChallengeResponse",
            ))
        }
        Ok(Ok(None)) => {
            return Err(Status::cancelled(
                "agent closed the stream before answering the challenge",
            ))
        }
        Ok(Err(status)) => return Err(status),
    };
    let signature = <[u8; 64]>::try_from(response.signature.as_slice())
        .map(Signature::from)
        .map_err(|_| {
            Status::invalid_argument(format!(
                "ChallengeResponse.signature is {} bytes; an ed25519 signature is 64",
                response.signature.len()
            ))
        })?;
    let message = auth_message(&operator.to_bytes(), &shared.replica_id, &nonce);
    if !signature.verify(operator.as_ref(), &message) {
        return Err(Status::unauthenticated(format!(
            "challenge signature does not verify against node {node}'s operator key {operator}"
        )));
    }
    Ok(Authenticated {
        node,
        operator,
        hello,
    })
}

async fn send(outbound: &Outbound, msg: SchedMsg) -> Result<(), Status> {
    outbound
        .send(Ok(SchedulerMessage { msg: Some(msg) }))
        .await
        .map_err(|_| Status::cancelled("agent stream closed"))
}

async fn run_session(
    shared: &Arc<Shared>,
    mut inbound: Streaming<AgentMessage>,
    outbound: Outbound,
) -> Result<(), Status> {
    let auth = handshake(shared, &mut inbound, &outbound).await?;
    let session_id = hex::encode(rand::random::<[u8; 16]>());
    let span = tracing::info_span!("session", node = %auth.node, session = %session_id);
    let closed = CancellationToken::new();
    claim_session(shared, &auth, &session_id)
        .await
        .map_err(internal)?;
    let replaced = shared.sessions.insert(
        auth.node,
        Session {
            session_id: session_id.clone(),
            outbound: outbound.clone(),
            closed: closed.clone(),
        },
    );
    if let Some(old) = replaced {
        old.closed.cancel();
    }
    shared.metrics.sessions.set(shared.sessions.len() as i64);
    let result = async {
        info!(operator = %auth.operator, gpus = auth.hello.gpus.len(), "agent authenticated");
        send(
            &outbound,
            SchedMsg::Welcome(Welcome {
                session_id: session_id.clone(),
                node: auth.node.to_string(),
                heartbeat_interval_ms: shared.config.agent_heartbeat_ms,
            }),
        )
        .await?;
        stop_orphans(shared, &auth, &outbound).await?;
        shared.wake.notify_one();
        serve(shared, &auth, &session_id, &mut inbound, &closed).await
    }
    .instrument(span)
    .await;
    // Only the session that still owns the node cleans up after itself.
    shared.sessions.remove(&auth.node, &session_id);
    shared.metrics.sessions.set(shared.sessions.len() as i64);
    if let Err(err) = release_session(shared, &session_id).await {
        warn!(%err, "releasing a session failed");
    }
    result
}

/// Upserts the node's session row for this replica (taking it over from any
/// other), adopts the jobs the agent still runs and releases the node's
/// assignments that never started.
async fn claim_session(shared: &Shared, auth: &Authenticated, session_id: &str) -> Result<()> {
    let gpus = serde_json::to_string(
        &auth
            .hello
            .gpus
            .iter()
            .map(|g| {
                serde_json::json!({
                    "index": g.index, "model": g.model, "vram_mib": g.vram_mib, "uuid": g.uuid
                })
            })
            .collect::<Vec<_>>(),
    )
    .expect("json");
    let running = lease_keys(auth.hello.running.iter().map(|job| job.lease.as_str()));
    let capabilities = auth.hello.capabilities.clone().unwrap_or_default();
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    // A port range is usable only whole and above the privileged ports.
    let (ports_first, ports_last) = match (
        i32::try_from(capabilities.job_ports_first),
        i32::try_from(capabilities.job_ports_last),
    ) {
        (Ok(first), Ok(last)) if first >= 1024 && last <= 65535 && first <= last => {
            (Some(first), Some(last))
        }
        _ => (None, None),
    };
    let mut tx = shared.pool.begin().await?;
    sqlx::query(
        "INSERT INTO agent_sessions (node, operator, replica, session_id, agent_version, gpus, \
           ray_version, ray_missing, advertised_address, job_ports_first, job_ports_last) \
         VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11) \
         ON CONFLICT (node) DO UPDATE SET operator = EXCLUDED.operator, replica = EXCLUDED.replica, \
           session_id = EXCLUDED.session_id, agent_version = EXCLUDED.agent_version, gpus = EXCLUDED.gpus, \
           ray_version = EXCLUDED.ray_version, ray_missing = EXCLUDED.ray_missing, \
           advertised_address = EXCLUDED.advertised_address, \
           job_ports_first = EXCLUDED.job_ports_first, job_ports_last = EXCLUDED.job_ports_last, \
           connected_at = now(), last_heartbeat_at = now()",
    )
    .bind(auth.node.as_ref())
    .bind(auth.operator.as_ref())
    .bind(&shared.replica_id)
    .bind(session_id)
    .bind(&auth.hello.agent_version)
    .bind(gpus)
    .bind(non_empty(&capabilities.ray_version))
    .bind(non_empty(&capabilities.ray_missing))
    .bind(non_empty(&capabilities.advertised_address))
    .bind(ports_first)
    .bind(ports_last)
    .execute(&mut *tx)
    .await?;
    // Jobs still running on the agent stay assigned, now through this session.
    sqlx::query(
        "UPDATE assignments SET replica = $1, session_id = $2, last_seen_at = now(), \
           state = CASE WHEN state IN ('created', 'sent') THEN 'acked' ELSE state END, \
           acked_at = COALESCE(acked_at, now()) \
         WHERE node = $3 AND ended_at IS NULL AND lease = ANY($4)",
    )
    .bind(&shared.replica_id)
    .bind(session_id)
    .bind(auth.node.as_ref())
    .bind(&running)
    .execute(&mut *tx)
    .await?;
    // Anything else open on this node never reached a running job: dispatch again.
    let released = sqlx::query(
        "UPDATE assignments SET state = 'released', ended_at = now(), \
           last_error = 'the agent reconnected without this job' \
         WHERE node = $1 AND ended_at IS NULL AND state IN ('created', 'sent', 'acked') \
           AND NOT (lease = ANY($2))",
    )
    .bind(auth.node.as_ref())
    .bind(&running)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    shared
        .metrics
        .assignments_released_total
        .inc_by(released.rows_affected());
    Ok(())
}

/// The session's row goes. Its open assignments stay: the lease can only run
/// on this node, and when the agent reconnects its Hello says which jobs it
/// runs (adopted) and the rest is released and dispatched again.
async fn release_session(shared: &Shared, session_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM agent_sessions WHERE session_id = $1")
        .bind(session_id)
        .execute(&shared.pool)
        .await?;
    Ok(())
}

/// Jobs the agent runs for which no assignment is open (the lease closed, or
/// was never ours) are stopped.
async fn stop_orphans(
    shared: &Shared,
    auth: &Authenticated,
    outbound: &Outbound,
) -> Result<(), Status> {
    let running = lease_keys(auth.hello.running.iter().map(|job| job.lease.as_str()));
    if running.is_empty() {
        return Ok(());
    }
    let orphans: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT r.lease FROM UNNEST($1::bytea[]) AS r(lease) \
         WHERE NOT EXISTS (SELECT 1 FROM assignments a WHERE a.lease = r.lease AND a.node = $2 AND a.ended_at IS NULL)",
    )
    .bind(&running)
    .bind(auth.node.as_ref())
    .fetch_all(&shared.pool)
    .await
    .map_err(internal)?;
    for lease in orphans {
        let lease = crate::error::pubkey("lease", &lease).map_err(internal)?;
        info!(%lease, "the agent runs a job with no open assignment; stopping it");
        send(
            outbound,
            SchedMsg::Stop(iomesh_agent_proto::v1::Stop {
                lease: lease.to_string(),
                reason: iomesh_agent_proto::v1::StopReason::UnknownLease as i32,
            }),
        )
        .await?;
        shared.metrics.stops_sent_total.inc();
    }
    Ok(())
}

async fn serve(
    shared: &Shared,
    auth: &Authenticated,
    session_id: &str,
    inbound: &mut Streaming<AgentMessage>,
    closed: &CancellationToken,
) -> Result<(), Status> {
    loop {
        let msg = tokio::select! {
            _ = closed.cancelled() => {
                return Err(Status::aborted("replaced by a newer session of this node"));
            }
            _ = shared.shutdown.cancelled() => {
                return Err(Status::unavailable("scheduler replica shutting down; reconnect"));
            }
            msg = next(inbound) => msg?,
        };
        let Some(msg) = msg else {
            return Ok(());
        };
        let handled = match msg {
            AgentMsg::AssignmentAck(ack) => on_ack(shared, auth, session_id, ack).await,
            AgentMsg::JobUpdate(update) => on_job_update(shared, auth, update).await,
            AgentMsg::Heartbeat(beat) => match on_heartbeat(shared, auth, session_id, beat).await {
                Ok(true) => Ok(()),
                Ok(false) => {
                    return Err(Status::aborted(
                        "this session was taken over by another connection of the node",
                    ))
                }
                Err(err) => Err(err),
            },
            AgentMsg::Hello(_) | AgentMsg::ChallengeResponse(_) => {
                return Err(Status::failed_precondition(
                    "Hello and ChallengeResponse are only valid during the handshake",
                ))
            }
        };
        if let Err(err) = handled {
            warn!(%err, "handling an agent message failed");
            return Err(internal(err));
        }
    }
}

fn parse_lease(lease: &str) -> Result<Pubkey, Status> {
    lease
        .parse()
        .map_err(|_| Status::invalid_argument(format!("lease {lease:?} is not a base58 pubkey")))
}

async fn on_ack(
    shared: &Shared,
    auth: &Authenticated,
    session_id: &str,
    ack: AssignmentAck,
) -> Result<()> {
    let Ok(id) = ack.assignment_id.parse::<i64>() else {
        warn!(id = ack.assignment_id, "ack of an unknown assignment id");
        return Ok(());
    };
    if ack.accepted {
        sqlx::query(
            "UPDATE assignments SET state = 'acked', acked_at = now(), sent_at = COALESCE(sent_at, now()) \
             WHERE id = $1 AND node = $2 AND ended_at IS NULL AND state IN ('created', 'sent')",
        )
        .bind(id)
        .bind(auth.node.as_ref())
        .execute(&shared.pool)
        .await?;
    } else {
        info!(
            lease = ack.lease,
            reason = ack.reason,
            "agent refused an assignment"
        );
        sqlx::query(
            "WITH refused AS ( \
               UPDATE assignments SET state = 'refused', ended_at = now(), last_error = $3 \
               WHERE id = $1 AND node = $2 AND ended_at IS NULL RETURNING lease, attempt) \
             INSERT INTO job_phases (lease, attempt, phase, at, detail) \
             SELECT lease, attempt, 'refused', now(), $4 FROM refused ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(auth.node.as_ref())
        .bind(format!("agent refused: {}", ack.reason))
        .bind(&ack.reason)
        .execute(&shared.pool)
        .await?;
    }
    let _ = session_id;
    Ok(())
}

async fn on_job_update(shared: &Shared, auth: &Authenticated, update: JobUpdate) -> Result<()> {
    let Ok(lease) = parse_lease(&update.lease) else {
        warn!(lease = update.lease, "job update for an invalid lease");
        return Ok(());
    };
    let job_state = update.state();
    let signature = (!update.activate_signature.is_empty()).then_some(update.activate_signature);
    let (state, ended) = match job_state {
        JobState::Unspecified | JobState::Starting => ("acked", false),
        JobState::Running => ("running", false),
        JobState::Exited | JobState::Stopped => ("ended", true),
        JobState::Failed => ("failed", true),
    };
    let detail = (!update.detail.is_empty()).then_some(update.detail);
    // What the renter sees: a job that ended by itself exited (with its exit
    // code); one ended by a stop or a failure was stopped (with the reason).
    let (phase, exit_code) = match job_state {
        JobState::Unspecified | JobState::Starting => ("starting", None),
        JobState::Running => ("running", None),
        JobState::Exited => ("exited", Some(update.exit_code)),
        JobState::Stopped | JobState::Failed => (
            "stopped",
            (update.exit_code >= 0).then_some(update.exit_code),
        ),
    };
    sqlx::query(
        "UPDATE assignments SET \
           state = $3, \
           acked_at = COALESCE(acked_at, now()), \
           running_at = CASE WHEN $3 = 'running' THEN COALESCE(running_at, now()) ELSE running_at END, \
           last_seen_at = CASE WHEN $3 = 'running' THEN now() ELSE last_seen_at END, \
           activate_signature = COALESCE($4, activate_signature), \
           activated_at = CASE WHEN $4 IS NOT NULL THEN COALESCE(activated_at, now()) ELSE activated_at END, \
           ended_at = CASE WHEN $5 THEN now() ELSE NULL END, \
           last_error = COALESCE($6, last_error) \
         WHERE lease = $1 AND node = $2 AND ended_at IS NULL",
    )
    .bind(lease.as_ref())
    .bind(auth.node.as_ref())
    .bind(state)
    .bind(signature)
    .bind(ended)
    .bind(&detail)
    .execute(&shared.pool)
    .await?;
    let at_ms = if update.at_ms > 0 {
        update.at_ms
    } else {
        now_ms()
    };
    crate::phases::record_reported(
        &shared.pool,
        lease.as_ref(),
        auth.node.as_ref(),
        phase,
        at_ms,
        exit_code,
        detail.as_deref(),
    )
    .await?;
    Ok(())
}

/// Refreshes the session and the service times of the running leases;
/// `false` when the session row is no longer this one (taken over).
async fn on_heartbeat(
    shared: &Shared,
    auth: &Authenticated,
    session_id: &str,
    beat: Heartbeat,
) -> Result<bool> {
    let running = lease_keys(beat.running_leases.iter().map(String::as_str));
    let owned = sqlx::query(
        "UPDATE agent_sessions SET last_heartbeat_at = now() WHERE session_id = $1 AND replica = $2",
    )
    .bind(session_id)
    .bind(&shared.replica_id)
    .execute(&shared.pool)
    .await?
    .rows_affected()
        == 1;
    if owned {
        // Uptime history for the reward job: one row per node and minute.
        sqlx::query(
            "INSERT INTO node_uptime_minutes (node, minute) \
             VALUES ($1, (floor(extract(epoch from now()) / 60) * 60)::int8) \
             ON CONFLICT DO NOTHING",
        )
        .bind(auth.node.as_ref())
        .execute(&shared.pool)
        .await?;
    }
    if owned && !running.is_empty() {
        sqlx::query(
            "UPDATE assignments SET last_seen_at = now(), \
               state = CASE WHEN state IN ('created', 'sent', 'acked') THEN 'running' ELSE state END, \
               running_at = COALESCE(running_at, now()) \
             WHERE node = $1 AND ended_at IS NULL AND lease = ANY($2)",
        )
        .bind(auth.node.as_ref())
        .bind(&running)
        .execute(&shared.pool)
        .await?;
    }
    Ok(owned)
}

impl From<Error> for Status {
    fn from(err: Error) -> Self {
        internal(err)
    }
}
