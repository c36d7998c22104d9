//! Flags and environment, validated at startup into an `AgentConfig`.

use crate::{
    gpu::{self, Gpu, GpuSource},
    logs::{LogLimits, LogLimitsError},
    runner::{
        container,
        sandbox::{Bwrap, JobUser, Sandbox},
        JobLimits, RunnerConfig,
    },
    shim::{self, ShimArgs, ShimNotFound},
};
use clap::{Args, Parser, Subcommand, ValueEnum};
use solana_keypair::{read_keypair_file, Keypair};
use std::{path::PathBuf, sync::Arc, time::Duration};

#[derive(Debug, Parser)]
#[command(name = "iomesh-agent", version, about = "iomesh GPU node agent")]
pub struct Cli {
    #[command(flatten)]
    pub gpus: GpuArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Connect to the scheduler and run the jobs it assigns.
    Run(RunArgs),
    /// Print the GPUs this agent detects (what `iomesh node register` needs).
    Gpus {
        /// Print JSON (an array of {index, uuid, model, vram_mib}).
        #[arg(long)]
        json: bool,
    },
    /// Supervise one job (started by the agent itself, see `shim`).
    #[command(name = "job-shim", hide = true)]
    JobShim(ShimArgs),
}

#[derive(Debug, Args)]
pub struct GpuArgs {
    /// Use these GPUs instead of detecting them: COUNTxMODEL:VRAM_MIB, e.g.
    /// `4xRTX 4090:24576` (simulated GPUs for demos and tests).
    #[arg(long = "gpus", env = "IOMESH_AGENT_GPUS", global = true)]
    pub inline: Option<String>,
    /// Use the GPUs listed in this JSON file (the output of `gpus --json`).
    #[arg(long = "gpus-file", env = "IOMESH_AGENT_GPUS_FILE", global = true)]
    pub file: Option<PathBuf>,
}

impl GpuArgs {
    pub fn source(&self) -> GpuSource {
        GpuSource {
            file: self.file.clone(),
            inline: self.inline.clone(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DockerMode {
    /// Use Docker for specs with an image when a working `docker` is found.
    Auto,
    Never,
}

/// How host jobs are isolated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SandboxMode {
    /// bubblewrap: own namespaces, read-only host, hidden state and keys,
    /// only the leased GPUs.
    Bwrap,
    /// No sandbox: jobs run as the agent's user, unprotected.
    None,
}

/// What happens to running jobs when the agent itself stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnShutdown {
    /// Leave them running: an agent restart (upgrade, crash, config change)
    /// must not kill jobs renters are paying for; the next agent reattaches.
    Leave,
    /// Stop every job first (decommissioning the machine).
    Stop,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scheduler gRPC endpoint: https:// for TLS (see --scheduler-ca).
    #[arg(
        long,
        env = "IOMESH_AGENT_SCHEDULER_URL",
        default_value = "http://127.0.0.1:7443"
    )]
    pub scheduler: String,
    /// PEM certificate(s) to trust for an https:// scheduler: its own
    /// self-signed certificate (pinning it) or the CA that signed it. Without
    /// it, the system's root certificates are trusted.
    #[arg(long, env = "IOMESH_AGENT_SCHEDULER_CA")]
    pub scheduler_ca: Option<PathBuf>,
    /// Solana JSON-RPC endpoint.
    #[arg(
        long = "url",
        env = "IOMESH_RPC_URL",
        default_value = "http://127.0.0.1:8899"
    )]
    pub rpc_url: String,
    /// The node's operator keypair (Solana keypair JSON file); it signs the
    /// scheduler's challenge and the activations, and pays their fees.
    #[arg(long, env = "IOMESH_AGENT_KEYPAIR")]
    pub keypair: PathBuf,
    /// Where job state, logs and working directories live.
    #[arg(
        long,
        env = "IOMESH_AGENT_STATE_DIR",
        default_value = "/var/lib/iomesh-agent"
    )]
    pub state_dir: PathBuf,
    /// Seconds a job has between SIGTERM and SIGKILL when stopped.
    #[arg(long, env = "IOMESH_AGENT_STOP_GRACE_SECS", default_value_t = 10)]
    pub stop_grace_secs: u64,
    /// Seconds between on-chain re-reads of each running lease.
    #[arg(long, env = "IOMESH_AGENT_LEASE_CHECK_SECS", default_value_t = 30)]
    pub lease_check_secs: u64,
    #[arg(long, env = "IOMESH_AGENT_DOCKER", value_enum, default_value_t = DockerMode::Auto)]
    pub docker: DockerMode,
    /// What to do with running jobs on SIGTERM / Ctrl-C.
    #[arg(long, env = "IOMESH_AGENT_ON_SHUTDOWN", value_enum, default_value_t = OnShutdown::Leave)]
    pub on_shutdown: OnShutdown,
    /// How host jobs are isolated; `none` lets them read the operator key.
    #[arg(long, env = "IOMESH_AGENT_SANDBOX", value_enum, default_value_t = SandboxMode::Bwrap)]
    pub sandbox: SandboxMode,
    /// The bubblewrap program (looked up on PATH).
    #[arg(long, env = "IOMESH_AGENT_BWRAP", default_value = "bwrap")]
    pub bwrap: PathBuf,
    /// Where the GPU device files (nvidia0, nvidiactl, …) are.
    #[arg(long, env = "IOMESH_AGENT_DEVICE_ROOT", default_value = "/dev")]
    pub device_root: PathBuf,
    /// Host UID:GID sandboxed jobs run as when the agent runs as root.
    #[arg(long, env = "IOMESH_AGENT_JOB_USER", default_value = "65534:65534")]
    pub job_user: JobUser,
    /// Memory limit of each job in MiB; 0 = unlimited [default: 90% of RAM].
    #[arg(long, env = "IOMESH_AGENT_JOB_MEMORY_MIB")]
    pub job_memory_mib: Option<u64>,
    /// Limit on each job's processes and threads; 0 = unlimited.
    #[arg(long, env = "IOMESH_AGENT_JOB_MAX_PROCS", default_value_t = JobLimits::DEFAULT_MAX_PROCS)]
    pub job_max_procs: u64,
    /// Bound on each lease's log files together, in bytes.
    #[arg(long, env = "IOMESH_AGENT_LOG_MAX_BYTES", default_value_t = LogLimits::DEFAULT.max_bytes)]
    pub log_max_bytes: u64,
    /// How many files (rotated, the oldest deleted) share that bound.
    #[arg(long, env = "IOMESH_AGENT_LOG_FILES", default_value_t = LogLimits::DEFAULT.files)]
    pub log_files: u32,
    /// Hours a lease's logs and work directory are kept after its job ended.
    #[arg(long, env = "IOMESH_AGENT_LOG_RETENTION_HOURS", default_value_t = 24)]
    pub log_retention_hours: u64,
    /// The `ray` program `ray` jobs run with (a path, or a name on PATH).
    /// Without one the node takes no `ray` jobs, and says why.
    #[arg(long, env = "IOMESH_AGENT_RAY", default_value = "ray")]
    pub ray: PathBuf,
    /// Where the other members of a cluster lease reach this node: Ray's
    /// node IP and torchrun's MASTER_ADDR. Must be reachable from them.
    #[arg(
        long,
        env = "IOMESH_AGENT_ADVERTISE_ADDRESS",
        default_value = "127.0.0.1"
    )]
    pub advertise_address: std::net::IpAddr,
    /// Ports the scheduler may hand to this node's jobs (blocks of 100 per
    /// lease: Ray's services, torchrun's MASTER_PORT, the job's own);
    /// nothing else on the machine may use them. Keep them out of the
    /// kernel's ephemeral range (net.ipv4.ip_local_port_range, usually
    /// 32768-60999), where any outgoing connection may take one.
    #[arg(long, env = "IOMESH_AGENT_JOB_PORTS", default_value = "20000-29999", value_parser = parse_port_range)]
    pub job_ports: PortRange,
}

/// `FIRST-LAST`, inclusive, holding at least one block of job ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

fn parse_port_range(text: &str) -> Result<PortRange, String> {
    let (first, last) = text
        .split_once('-')
        .ok_or_else(|| format!("{text:?} is not FIRST-LAST, e.g. 20000-29999"))?;
    let port = |p: &str| {
        p.trim()
            .parse::<u16>()
            .map_err(|_| format!("{p:?} is not a port number"))
    };
    let range = PortRange {
        first: port(first)?,
        last: port(last)?,
    };
    let block = u32::from(iomesh_agent_proto::PORT_BLOCK);
    if range.first < 1024 || u32::from(range.last) + 1 < u32::from(range.first) + block {
        return Err(format!(
            "{text}: job ports must lie above 1023 and hold at least one block of {block}"
        ));
    }
    Ok(range)
}

/// Everything the agent runs with, validated.
pub struct AgentConfig {
    pub scheduler_url: String,
    /// PEM certificates trusted for an https:// scheduler (none: system roots).
    pub scheduler_ca: Option<Vec<u8>>,
    pub rpc_url: String,
    pub operator: Arc<Keypair>,
    pub state_dir: PathBuf,
    pub gpus: Vec<Gpu>,
    pub runner: RunnerConfig,
    pub lease_check_interval: Duration,
    pub on_shutdown: OnShutdown,
    pub advertise_address: std::net::IpAddr,
    pub job_ports: PortRange,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--keypair {path}: cannot read a Solana keypair JSON file: {detail}")]
    Keypair { path: String, detail: String },
    #[error("--{flag} `{url}` must be an http:// or https:// URL")]
    Url { flag: &'static str, url: String },
    #[error("--scheduler-ca {path}: {detail}")]
    SchedulerCa { path: String, detail: String },
    #[error(transparent)]
    Gpu(#[from] gpu::GpuError),
    #[error("no GPUs detected (no NVIDIA driver: neither NVML nor nvidia-smi is installed, or they list none); pass --gpus or --gpus-file")]
    NoGpus,
    #[error("--{flag} must be at least 1 second")]
    Zero { flag: &'static str },
    #[error("--state-dir {path}: {detail}")]
    StateDir { path: String, detail: String },
    #[error(transparent)]
    Logs(#[from] LogLimitsError),
    #[error(transparent)]
    Shim(#[from] ShimNotFound),
}

/// The PEM certificates of `--scheduler-ca`, which only an https:// scheduler
/// URL uses.
fn read_scheduler_ca(path: &std::path::Path, scheduler: &str) -> Result<Vec<u8>, ConfigError> {
    let error = |detail: String| ConfigError::SchedulerCa {
        path: path.display().to_string(),
        detail,
    };
    if !scheduler.starts_with("https://") {
        return Err(error(format!(
            "a trusted certificate only applies to TLS: use an https:// --scheduler URL, not `{scheduler}`"
        )));
    }
    let pem = std::fs::read(path).map_err(|e| error(format!("cannot read it: {e}")))?;
    if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
        return Err(error("it holds no PEM certificate".into()));
    }
    Ok(pem)
}

impl RunArgs {
    pub fn validate(self, gpus: &GpuArgs) -> Result<AgentConfig, ConfigError> {
        for (flag, url) in [("scheduler", &self.scheduler), ("url", &self.rpc_url)] {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::Url {
                    flag,
                    url: url.clone(),
                });
            }
        }
        let scheduler_ca = match &self.scheduler_ca {
            None => None,
            Some(path) => Some(read_scheduler_ca(path, &self.scheduler)?),
        };
        if self.lease_check_secs == 0 {
            return Err(ConfigError::Zero {
                flag: "lease-check-secs",
            });
        }
        let operator = read_keypair_file(&self.keypair).map_err(|e| ConfigError::Keypair {
            path: self.keypair.display().to_string(),
            detail: e.to_string(),
        })?;
        let gpus = gpu::detect(&gpus.source())?;
        if gpus.is_empty() {
            return Err(ConfigError::NoGpus);
        }
        std::fs::create_dir_all(&self.state_dir).map_err(|e| ConfigError::StateDir {
            path: self.state_dir.display().to_string(),
            detail: e.to_string(),
        })?;
        let sandbox = match self.sandbox {
            SandboxMode::None => Sandbox::None,
            SandboxMode::Bwrap => Sandbox::Bwrap(Bwrap {
                program: self.bwrap,
                device_root: self.device_root,
                hidden_files: vec![self.keypair.clone()],
                job_user: JobUser::for_this_agent(self.job_user),
            }),
        };
        let limits = JobLimits {
            memory_bytes: match self.job_memory_mib {
                Some(mib) => mib.saturating_mul(1024 * 1024),
                None => JobLimits::node_default().memory_bytes,
            },
            max_procs: self.job_max_procs,
        };
        let runner = RunnerConfig {
            docker: self.docker == DockerMode::Auto && container::docker_available(),
            stop_grace: Duration::from_secs(self.stop_grace_secs),
            shim_program: shim::locate()?,
            sandbox,
            limits,
            logs: LogLimits::new(self.log_max_bytes, self.log_files)?,
            log_retention: Duration::from_secs(self.log_retention_hours.saturating_mul(3600)),
            ray: crate::ray::detect(&self.ray),
        };
        match &runner.ray {
            Ok(ray) => {
                tracing::info!(version = ray.version, program = %ray.program.display(), "Ray found: this node takes `ray` jobs")
            }
            Err(missing) => tracing::info!(%missing, "this node takes no `ray` jobs"),
        }
        Ok(AgentConfig {
            scheduler_url: self.scheduler,
            scheduler_ca,
            rpc_url: self.rpc_url,
            operator: Arc::new(operator),
            state_dir: self.state_dir,
            gpus,
            runner,
            lease_check_interval: Duration::from_secs(self.lease_check_secs),
            on_shutdown: self.on_shutdown,
            advertise_address: self.advertise_address,
            job_ports: self.job_ports,
        })
    }
}
