//! iomesh GPU node agent: detects the node's GPUs, keeps one stream open to
//! the scheduler, checks each assignment against the lease on-chain, runs the
//! job on exactly the leased GPUs in a sandbox, activates the lease with the
//! operator key and stops the job when the lease ends or is cancelled.

pub mod agent;
pub mod chain;
pub mod config;
pub mod gpu;
pub mod jobs;
pub mod log_stream;
pub mod logs;
pub mod ports;
pub mod ray;
pub mod retention;
pub mod runner;
pub mod session;
pub mod shim;
pub mod tls;
pub mod tunnel;

use agent::Agent;
use iomesh_agent_proto::v1::{AgentMessage, Capabilities};
pub use iomesh_client::clock::{unix_now as now_secs, unix_now_ms as now_ms};
use iomesh_client::Client;
use solana_commitment_config::CommitmentConfig;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Messages the agent produces before the session sends them; bounded, so a
/// long disconnection slows the producers instead of growing without end.
pub const EVENT_QUEUE: usize = 1024;

/// Builds the agent from `config`: checks the job sandbox, opens the job
/// state directory and reattaches to the jobs still running. The receiver
/// feeds `session::run`.
pub async fn start(
    config: &config::AgentConfig,
) -> Result<(Arc<Agent>, mpsc::Receiver<AgentMessage>), jobs::JobError> {
    let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
    let (jobs, reattached) = jobs::Jobs::open(
        &config.state_dir,
        config.gpus.iter().map(|g| g.index),
        config.runner.clone(),
        events_tx.clone(),
    )
    .await?;
    let chain = chain::Chain::new(
        Client::new(config.rpc_url.clone(), CommitmentConfig::confirmed()),
        config.operator.clone(),
    );
    let running: Vec<String> = reattached.iter().map(|r| r.lease.clone()).collect();
    let ports = ports::JobPorts::open(&config.state_dir, &running).map_err(|source| {
        jobs::JobError::State {
            dir: config.state_dir.join("ports"),
            source,
        }
    })?;
    let capabilities = Capabilities {
        ray_version: config
            .runner
            .ray
            .as_ref()
            .map(|r| r.version.clone())
            .unwrap_or_default(),
        ray_missing: config
            .runner
            .ray
            .as_ref()
            .err()
            .cloned()
            .unwrap_or_default(),
        advertised_address: config.advertise_address.to_string(),
        job_ports_first: config.job_ports.first.into(),
        job_ports_last: config.job_ports.last.into(),
    };
    let agent = Agent::new(
        config.operator.clone(),
        capabilities,
        config.gpus.clone(),
        chain,
        jobs,
        ports,
        events_tx,
        config.lease_check_interval,
    );
    agent.resume(&reattached);
    Ok((agent, events_rx))
}
