//! The agent's one stream to the scheduler: dial out, Hello (GPUs and the
//! jobs still running, so the scheduler reattaches rather than dispatches
//! again), answer the challenge with the operator key, then carry
//! assignments in and acks, job updates and heartbeats out. When the stream
//! ends the agent dials again with exponential backoff and jitter.

use crate::{agent::Agent, tls};
use iomesh_agent_proto::{
    auth_message,
    v1::{
        agent_message, scheduler_client::SchedulerClient, scheduler_message, AgentMessage,
        ChallengeResponse, Heartbeat, Hello, SchedulerMessage, Welcome,
    },
};
use solana_signer::Signer;
use std::{collections::VecDeque, sync::Arc, time::Duration};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{
    transport::{Channel, Endpoint},
    Streaming,
};

#[derive(Clone, Debug)]
pub struct SessionConfig {
    pub scheduler_url: String,
    /// PEM certificates trusted for an https:// scheduler (none: the
    /// system's roots).
    pub scheduler_ca: Option<Vec<u8>>,
    /// How long the scheduler has to send Challenge and Welcome.
    pub handshake_timeout: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl SessionConfig {
    pub fn new(scheduler_url: impl Into<String>) -> Self {
        Self {
            scheduler_url: scheduler_url.into(),
            scheduler_ca: None,
            handshake_timeout: Duration::from_secs(10),
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
        }
    }
}

/// Heartbeat interval when the scheduler sends none (or a silly one).
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(5);
const MIN_HEARTBEAT: Duration = Duration::from_millis(50);

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("invalid scheduler URL {url}: {detail}")]
    Url { url: String, detail: String },
    #[error("cannot connect to the scheduler at {url}: {detail}")]
    Connect { url: String, detail: String },
    #[error("the scheduler refused the session: {0}")]
    Status(#[from] tonic::Status),
    #[error("the scheduler ended the stream")]
    Ended,
    #[error("the scheduler sent {got} where {expected} was expected")]
    Unexpected { expected: &'static str, got: String },
    #[error("the scheduler sent no {0} in time")]
    Timeout(&'static str),
}

/// Exponential backoff with jitter: each delay is drawn from [d/2, d], d
/// doubling from `min` to `max`, so agents that lost the same scheduler do
/// not all dial back at once.
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
    seed: u64,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max,
            next: min,
            seed: random_seed(),
        }
    }

    pub fn reset(&mut self) {
        self.next = self.min;
    }

    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.next;
        self.next = (self.next * 2).min(self.max);
        // xorshift64: plenty for jitter, no extra dependency.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let half = ceiling / 2;
        let spread = (ceiling - half).as_millis() as u64;
        half + Duration::from_millis(if spread == 0 {
            0
        } else {
            self.seed % (spread + 1)
        })
    }
}

fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    hasher.finish() | 1
}

/// Runs sessions until `shutdown`. `events` carries what the agent sends
/// (acks, job updates) and outlives each session, so what is produced while
/// disconnected is sent after the next Welcome.
pub async fn run(
    agent: Arc<Agent>,
    mut events: mpsc::Receiver<AgentMessage>,
    config: SessionConfig,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::new(config.backoff_min, config.backoff_max);
    let mut unsent = VecDeque::new();
    loop {
        let mut welcomed = false;
        let result = session(
            &agent,
            &mut events,
            &mut unsent,
            &config,
            &shutdown,
            &mut welcomed,
        )
        .await;
        if shutdown.is_cancelled() {
            return;
        }
        if welcomed {
            backoff.reset();
        }
        let delay = backoff.next_delay();
        match result {
            Ok(()) => return,
            Err(err) => tracing::warn!(%err, ?delay, "scheduler session ended; reconnecting"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// Dials the scheduler (over TLS for an https:// URL) and opens the session
/// stream carrying `outbound`; nothing is read from it yet.
pub async fn open(
    config: &SessionConfig,
    outbound: mpsc::Receiver<AgentMessage>,
) -> Result<(SchedulerClient<Channel>, Streaming<SchedulerMessage>), SessionError> {
    let url = &config.scheduler_url;
    let connect_error = |error: &dyn std::error::Error| SessionError::Connect {
        url: url.clone(),
        detail: tls::explain(url, error),
    };
    let mut endpoint = Endpoint::from_shared(url.clone())
        .map_err(|e| SessionError::Url {
            url: url.clone(),
            detail: e.to_string(),
        })?
        .connect_timeout(Duration::from_secs(5))
        .http2_keep_alive_interval(Duration::from_secs(20))
        .keep_alive_while_idle(true)
        .tcp_nodelay(true)
        .initial_stream_window_size(iomesh_agent_proto::STREAM_WINDOW_BYTES)
        .initial_connection_window_size(iomesh_agent_proto::CONNECTION_WINDOW_BYTES);
    if let Some(tls) = tls::client_config(url, config.scheduler_ca.as_deref()) {
        endpoint = endpoint.tls_config(tls).map_err(|e| connect_error(&e))?;
    }
    let channel = endpoint.connect().await.map_err(|e| connect_error(&e))?;
    let mut client = SchedulerClient::new(channel);
    // A TLS mismatch often shows only here, on the first request.
    let inbound = client
        .agent_session(ReceiverStream::new(outbound))
        .await
        .map_err(|status| match tls::mismatch(url, &status) {
            Some(detail) => SessionError::Connect {
                url: url.clone(),
                detail,
            },
            None => SessionError::Status(status),
        })?
        .into_inner();
    Ok((client, inbound))
}

async fn session(
    agent: &Arc<Agent>,
    events: &mut mpsc::Receiver<AgentMessage>,
    unsent: &mut VecDeque<AgentMessage>,
    config: &SessionConfig,
    shutdown: &CancellationToken,
    welcomed: &mut bool,
) -> Result<(), SessionError> {
    let (tx, rx) = mpsc::channel::<AgentMessage>(256);
    let operator = agent.operator.pubkey();
    let hello = Hello {
        operator: operator.to_string(),
        agent_version: env!("CARGO_PKG_VERSION").to_string(),
        gpus: agent.gpus.iter().map(|g| g.to_proto()).collect(),
        running: agent.running_updates(),
        capabilities: Some(agent.capabilities.clone()),
    };
    let _ = tx.send(msg(agent_message::Msg::Hello(hello))).await;
    let (client, mut inbound) = open(config, rx).await?;

    let challenge = match next(&mut inbound, config, "Challenge").await? {
        scheduler_message::Msg::Challenge(c) => c,
        other => return Err(unexpected("Challenge", other)),
    };
    let signature = agent.operator.sign_message(&auth_message(
        &operator.to_bytes(),
        &challenge.scheduler_id,
        &challenge.nonce,
    ));
    let response = ChallengeResponse {
        signature: signature.as_ref().to_vec(),
    };
    if tx
        .send(msg(agent_message::Msg::ChallengeResponse(response)))
        .await
        .is_err()
    {
        return Err(SessionError::Ended);
    }
    let welcome: Welcome = match next(&mut inbound, config, "Welcome").await? {
        scheduler_message::Msg::Welcome(w) => w,
        other => return Err(unexpected("Welcome", other)),
    };
    *welcomed = true;
    tracing::info!(
        session = welcome.session_id,
        node = welcome.node,
        scheduler = challenge.scheduler_id,
        "connected to the scheduler"
    );

    let every = match Duration::from_millis(welcome.heartbeat_interval_ms.into()) {
        d if d.is_zero() => DEFAULT_HEARTBEAT,
        d => d.max(MIN_HEARTBEAT),
    };
    let mut heartbeat = tokio::time::interval(every);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // What an earlier session could not send goes first.
    while let Some(message) = unsent.pop_front() {
        if let Err(failed) = tx.send(message).await {
            unsent.push_front(failed.0);
            return Err(SessionError::Ended);
        }
    }
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            received = inbound.message() => match received? {
                Some(SchedulerMessage { msg: Some(message) }) => agent.handle(message, &client),
                Some(SchedulerMessage { msg: None }) => tracing::warn!("empty scheduler message ignored"),
                None => return Err(SessionError::Ended),
            },
            Some(event) = events.recv() => {
                if let Err(failed) = tx.send(event).await {
                    unsent.push_back(failed.0);
                    return Err(SessionError::Ended);
                }
            }
            _ = heartbeat.tick() => {
                let beat = Heartbeat {
                    sent_at_ms: crate::now_ms(),
                    running_leases: agent.jobs.running().into_iter().map(|r| r.lease).collect(),
                };
                if tx.send(msg(agent_message::Msg::Heartbeat(beat))).await.is_err() {
                    return Err(SessionError::Ended);
                }
            }
        }
    }
}

fn msg(message: agent_message::Msg) -> AgentMessage {
    AgentMessage { msg: Some(message) }
}

async fn next(
    inbound: &mut Streaming<SchedulerMessage>,
    config: &SessionConfig,
    expected: &'static str,
) -> Result<scheduler_message::Msg, SessionError> {
    match tokio::time::timeout(config.handshake_timeout, inbound.message()).await {
        Err(_) => Err(SessionError::Timeout(expected)),
        Ok(received) => match received? {
            Some(SchedulerMessage { msg: Some(message) }) => Ok(message),
            Some(SchedulerMessage { msg: None }) => Err(SessionError::Unexpected {
                expected,
                got: "an empty message".into(),
            }),
            None => Err(SessionError::Ended),
        },
    }
}

fn unexpected(expected: &'static str, got: scheduler_message::Msg) -> SessionError {
    let got = match got {
        scheduler_message::Msg::Challenge(_) => "Challenge",
        scheduler_message::Msg::Welcome(_) => "Welcome",
        scheduler_message::Msg::Assignment(_) => "Assignment",
        scheduler_message::Msg::Stop(_) => "Stop",
        scheduler_message::Msg::OpenTunnel(_) => "OpenTunnel",
        scheduler_message::Msg::ReadLogs(_) => "ReadLogs",
        scheduler_message::Msg::CloseTunnel(_) => "CloseTunnel",
    };
    SessionError::Unexpected {
        expected,
        got: got.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_up_to_the_cap_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let delays: Vec<Duration> = (0..8).map(|_| backoff.next_delay()).collect();
        let ceilings = [100, 200, 400, 800, 1000, 1000, 1000, 1000];
        for (delay, ceiling) in delays.iter().zip(ceilings) {
            let ceiling = Duration::from_millis(ceiling);
            assert!(
                *delay >= ceiling / 2 && *delay <= ceiling,
                "{delay:?} vs {ceiling:?}"
            );
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }
}
