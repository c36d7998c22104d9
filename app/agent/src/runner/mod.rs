//! Starting a job and waiting for it. Every job runs under the agent's job
//! shim (`crate::shim`), which leads the job's own process group, writes its
//! output to the lease's log and records its exit code in the lease
//! directory, so an agent that restarts can still learn how a job it no
//! longer parents ended. Host jobs run in the bubblewrap sandbox
//! (`sandbox`), within the limits of a per-job cgroup (`cgroup`).

pub mod cgroup;
pub mod container;
pub mod proc;
pub mod sandbox;
pub mod state;

use crate::{
    logs::LogLimits,
    ray::{self, RayInstall},
    shim,
};
use cgroup::Cgroups;
use iomesh_agent_proto::{v1::ClusterPlacement, JobSpec, Runtime, RAY_DASHBOARD_PORT};
use sandbox::{Prepared, Sandbox, SandboxError};
use state::{JobRecord, LeaseDir};
use std::{
    collections::BTreeMap,
    os::unix::process::ExitStatusExt,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

/// PATH for jobs when the agent itself has none.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What one job may use of the machine; 0 means unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobLimits {
    /// Memory (RAM, page cache, /tmp and /dev/shm) in bytes.
    pub memory_bytes: u64,
    /// Processes and threads.
    pub max_procs: u64,
}

impl JobLimits {
    /// Default process limit: far above what training needs (threads
    /// count), far below what a fork bomb wants.
    pub const DEFAULT_MAX_PROCS: u64 = 16_384;

    /// The node default: 90% of the machine's memory, so one job cannot
    /// starve the agent and the system, and `DEFAULT_MAX_PROCS`.
    pub fn node_default() -> Self {
        JobLimits {
            memory_bytes: total_memory_bytes().map_or(0, |total| total / 10 * 9),
            max_procs: Self::DEFAULT_MAX_PROCS,
        }
    }
}

/// MemTotal from /proc/meminfo.
pub fn total_memory_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[derive(Clone, Debug)]
pub struct RunnerConfig {
    /// Whether Docker is present; jobs with an image run in a container then.
    pub docker: bool,
    /// How long a job has between SIGTERM and SIGKILL.
    pub stop_grace: Duration,
    /// The program run as `<shim_program> job-shim …` to supervise each job
    /// (`crate::shim::locate` finds one).
    pub shim_program: PathBuf,
    /// How host jobs (those without a container image) are isolated.
    pub sandbox: Sandbox,
    pub limits: JobLimits,
    /// How much log each lease keeps.
    pub logs: LogLimits,
    /// How long a lease's directory (logs included) is kept after its job ended.
    pub log_retention: Duration,
    /// The Ray `ray` jobs run with, or why this node has none.
    pub ray: Result<RayInstall, String>,
}

/// Where a job sits: this node's address for its cluster's peers, the
/// lease's own ports on this node, and its rank in the lease's cluster.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Placement {
    /// The agent's --advertise-address.
    pub address: String,
    /// The lease's port block on this node: `port_base..port_base + port_count`
    /// (none when `port_count` is 0).
    pub port_base: u16,
    pub port_count: u16,
    /// Set for a lease of a cluster.
    pub cluster: Option<ClusterPlacement>,
}

impl Placement {
    /// The torchrun-style variables of a cluster member (or of a one-node
    /// Ray cluster): MASTER_ADDR/PORT (rank 0's address and first port),
    /// WORLD_SIZE (nodes), NODE_RANK, NPROC_PER_NODE (leased GPUs) and
    /// IOMESH_PEERS (JSON: rank, address, gpus of every member).
    fn cluster_env(&self, gpus: usize, single_node: bool) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        let (rank, world, master_addr, master_port, peers) = match &self.cluster {
            Some(cluster) => (
                cluster.rank,
                cluster.peers.len(),
                cluster.master_addr.clone(),
                cluster.master_port,
                cluster
                    .peers
                    .iter()
                    .map(|p| serde_json::json!({"rank": p.rank, "address": p.address, "gpus": p.gpus}))
                    .collect::<Vec<_>>(),
            ),
            None if single_node => (
                0,
                1,
                self.address.clone(),
                u32::from(self.port_base),
                vec![serde_json::json!({"rank": 0, "address": self.address, "gpus": gpus})],
            ),
            None => return env,
        };
        env.insert("MASTER_ADDR".into(), master_addr);
        env.insert("MASTER_PORT".into(), master_port.to_string());
        env.insert("WORLD_SIZE".into(), world.to_string());
        env.insert("NODE_RANK".into(), rank.to_string());
        env.insert("NPROC_PER_NODE".into(), gpus.to_string());
        env.insert(
            "IOMESH_PEERS".into(),
            serde_json::Value::Array(peers).to_string(),
        );
        env
    }

    /// The ports the renter may name, each with the job port it leads to.
    pub fn renter_ports(&self, spec: &JobSpec) -> Vec<(u16, u16)> {
        let mut ports: Vec<(u16, u16)> = spec.ports.iter().map(|&p| (p, p)).collect();
        if spec.runtime() == Runtime::Ray && self.port_count > 0 {
            ports.retain(|(renter, _)| *renter != RAY_DASHBOARD_PORT);
            ports.push((RAY_DASHBOARD_PORT, self.port_base + ray::port::DASHBOARD));
        }
        ports
    }
}

impl RunnerConfig {
    /// The agent's defaults with `shim_program` and `sandbox`: no Docker,
    /// 10 s stop grace, node default limits, 64 MiB of logs in 4 files kept
    /// 24 hours.
    pub fn new(shim_program: PathBuf, sandbox: Sandbox) -> Self {
        RunnerConfig {
            docker: false,
            stop_grace: Duration::from_secs(10),
            shim_program,
            sandbox,
            limits: JobLimits::node_default(),
            logs: LogLimits::DEFAULT,
            log_retention: Duration::from_secs(24 * 3600),
            ray: Err("no Ray configured".into()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the job's command `{command}` is not found on this node (searched PATH {path})")]
    CommandNotFound { command: String, path: String },
    #[error("the job needs Docker to run image `{0}` and names no host command; this node has no Docker")]
    NoDocker(String),
    #[error("cannot start the job in {dir}: {source}")]
    Io {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the job shim `{program}` (the agent's `job-shim` subcommand): {source}")]
    Shim {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    #[error("the job needs Ray {wanted}; {found}")]
    Ray { wanted: String, found: String },
    #[error(
        "the scheduler gave this {0} job no ports of its own on this node (an older scheduler?)"
    )]
    NoPorts(&'static str),
}

/// How a job's process is started.
#[derive(Debug)]
struct Plan {
    program: String,
    args: Vec<String>,
    container: Option<String>,
    /// Variables a host job gets besides the renter's (cluster, Ray).
    env: BTreeMap<String, String>,
}

fn plan(
    lease: &str,
    spec: &JobSpec,
    gpus: &[u32],
    dir: &LeaseDir,
    config: &RunnerConfig,
    placement: &Placement,
) -> Result<Plan, RunError> {
    let cluster_env = placement.cluster_env(gpus.len(), spec.runtime() == Runtime::Ray);
    if spec.runtime() == Runtime::Ray {
        return ray_plan(lease, spec, dir, config, placement, cluster_env);
    }
    if let Some(image) = &spec.image {
        if config.docker {
            return Ok(Plan {
                program: "docker".into(),
                args: container::docker_run_args(
                    lease,
                    spec,
                    image,
                    gpus,
                    &dir.work(),
                    &config.limits,
                    &cluster_env,
                ),
                container: Some(container::container_name(lease)),
                env: BTreeMap::new(),
            });
        }
        if spec.command.is_empty() {
            return Err(RunError::NoDocker(image.clone()));
        }
        tracing::warn!(
            lease,
            image,
            "no Docker on this node: running the spec's command on the host"
        );
    }
    let path = job_path(spec);
    let command = &spec.command[0];
    if resolve(command, &path).is_none() {
        return Err(RunError::CommandNotFound {
            command: command.clone(),
            path,
        });
    }
    let mut env = cluster_env;
    if placement.port_count > 0 {
        env.insert("IOMESH_PORT_BASE".into(), placement.port_base.to_string());
        env.insert("IOMESH_PORT_COUNT".into(), placement.port_count.to_string());
    }
    Ok(Plan {
        program: command.clone(),
        args: spec.command[1..].to_vec(),
        container: None,
        env,
    })
}

/// A `ray` job: the member launcher (see `crate::ray`) with the node's Ray.
fn ray_plan(
    lease: &str,
    spec: &JobSpec,
    dir: &LeaseDir,
    config: &RunnerConfig,
    placement: &Placement,
    mut env: BTreeMap<String, String>,
) -> Result<Plan, RunError> {
    let wanted = spec.ray_version().unwrap_or_default().to_string();
    let install = match &config.ray {
        Ok(install) if install.version == wanted => install,
        Ok(install) => {
            return Err(RunError::Ray {
                wanted,
                found: format!("this node has Ray {}", install.version),
            })
        }
        Err(missing) => {
            return Err(RunError::Ray {
                wanted,
                found: missing.clone(),
            })
        }
    };
    if placement.port_count <= ray::port::WORKERS {
        return Err(RunError::NoPorts("ray"));
    }
    let ray_spec = spec.ray.as_ref().expect("a ray spec has its ray section");
    let base = placement.port_base;
    let temp_dir = match config.sandbox {
        // The sandbox's /tmp is the job's own.
        Sandbox::Bwrap(_) => "/tmp/ray".to_string(),
        // Short: Ray's socket paths must fit in 107 bytes.
        Sandbox::None => format!("/tmp/iomesh-ray-{}", &lease[..lease.len().min(16)]),
    };
    let bin = install.program.parent().unwrap_or(Path::new("/"));
    let path = format!("{}:{}", bin.display(), job_path(spec));
    env.insert("PATH".into(), path);
    env.insert(
        "IOMESH_RAY_PROGRAM".into(),
        install.program.display().to_string(),
    );
    env.insert("IOMESH_RAY_NODE_IP".into(), placement.address.clone());
    env.insert(
        "IOMESH_RAY_PORT_BASE".into(),
        (base + ray::port::GCS).to_string(),
    );
    env.insert(
        "IOMESH_RAY_DASHBOARD_PORT".into(),
        (base + ray::port::DASHBOARD).to_string(),
    );
    env.insert(
        "IOMESH_RAY_SERVICE_PORT".into(),
        (base + ray::port::SERVICES).to_string(),
    );
    env.insert(
        "IOMESH_RAY_WORKER_PORT_MIN".into(),
        (base + ray::port::WORKERS).to_string(),
    );
    env.insert(
        "IOMESH_RAY_WORKER_PORT_MAX".into(),
        (base + placement.port_count - 1).to_string(),
    );
    env.insert("IOMESH_RAY_TEMP_DIR".into(), temp_dir);
    env.insert(
        "IOMESH_RAY_JOB".into(),
        serde_json::json!({
            "entrypoint": ray_spec.entrypoint,
            "runtime_env": ray_spec.runtime_env,
        })
        .to_string(),
    );
    Ok(Plan {
        program: install.python.display().to_string(),
        args: vec![dir.work().join(ray::LAUNCHER_FILE).display().to_string()],
        container: None,
        env,
    })
}

/// A host job's environment: what the renter asked for, not the agent's,
/// what the plan adds, and exactly the leased devices.
fn job_env(
    lease: &str,
    spec: &JobSpec,
    gpus: &[u32],
    dir: &LeaseDir,
    planned: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    env.insert("PATH".to_string(), job_path(spec));
    env.insert("HOME".to_string(), dir.work().display().to_string());
    env.extend(spec.env.clone());
    env.extend(planned.clone());
    env.insert("CUDA_DEVICE_ORDER".into(), "PCI_BUS_ID".into());
    env.insert("CUDA_VISIBLE_DEVICES".into(), cuda_visible_devices(gpus));
    env.insert("IOMESH_LEASE".into(), lease.to_string());
    env
}

fn job_path(spec: &JobSpec) -> String {
    spec.env
        .get("PATH")
        .cloned()
        .or_else(|| std::env::var("PATH").ok())
        .unwrap_or_else(|| DEFAULT_PATH.into())
}

/// Where `command` would be executed from, as execvp looks it up.
fn resolve(command: &str, path: &str) -> Option<PathBuf> {
    if command.contains('/') {
        return Path::new(command).is_file().then(|| PathBuf::from(command));
    }
    path.split(':')
        .map(|dir| Path::new(if dir.is_empty() { "." } else { dir }).join(command))
        .find(|candidate| candidate.is_file())
}

/// `CUDA_VISIBLE_DEVICES` for `gpus`: exactly these devices, in this order.
pub fn cuda_visible_devices(gpus: &[u32]) -> String {
    gpus.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Starts jobs as configured, with what was found at startup: a working
/// sandbox and the cgroups jobs can be limited by.
pub struct Runner {
    config: RunnerConfig,
    sandbox: Option<Prepared>,
    cgroups: Option<Cgroups>,
}

impl Runner {
    /// Checks the sandbox (a missing or broken bwrap is an error) and finds
    /// the cgroups for the limits, saying what goes unprotected.
    pub fn new(config: RunnerConfig, state_dir: &Path) -> Result<Runner, RunError> {
        let sandbox = match &config.sandbox {
            Sandbox::None => {
                tracing::warn!(
                    "--sandbox none: JOBS RUN UNPROTECTED, as the agent's user and with its view \
                     of the machine: they can read the operator keypair and other leases' files, \
                     see and signal the agent, and use every GPU"
                );
                None
            }
            Sandbox::Bwrap(bwrap) => {
                let prepared = bwrap.prepare(state_dir, config.limits.memory_bytes)?;
                tracing::info!(
                    bwrap = %prepared.program.display(),
                    job_user = ?prepared.job_user,
                    "jobs run in the bubblewrap sandbox"
                );
                Some(prepared)
            }
        };
        let cgroups = Cgroups::detect(&config.limits);
        let limits = config.limits;
        if limits.memory_bytes > 0 && !cgroups.as_ref().is_some_and(Cgroups::limits_memory) {
            tracing::warn!(
                memory_bytes = limits.memory_bytes,
                "job memory is NOT limited: no writable cgroup (v2, or v1 memory) for the agent"
            );
        }
        if limits.max_procs > 0 && !cgroups.as_ref().is_some_and(Cgroups::limits_procs) {
            tracing::info!(
                max_procs = limits.max_procs,
                "no writable pids cgroup: job processes are limited by RLIMIT_NPROC instead"
            );
        }
        if let Some(cgroups) = &cgroups {
            tracing::info!(?cgroups, ?limits, "job limits enforced by per-job cgroups");
        }
        Ok(Runner {
            config,
            sandbox,
            cgroups,
        })
    }

    pub fn config(&self) -> &RunnerConfig {
        &self.config
    }

    /// Starts `spec` for `lease` on `gpus` under its shim, in its own
    /// process group, with its log and working directory under `dir`.
    pub fn spawn(
        &self,
        lease: &str,
        spec: &JobSpec,
        gpus: &[u32],
        dir: &LeaseDir,
        placement: &Placement,
    ) -> Result<(tokio::process::Child, JobRecord), RunError> {
        let config = &self.config;
        let io_error = |source| RunError::Io {
            dir: dir.root().to_path_buf(),
            source,
        };
        let plan = plan(lease, spec, gpus, dir, config, placement)?;
        dir.prepare().map_err(io_error)?;
        let host_job = plan.container.is_none();
        let sandbox = self.sandbox.as_ref().filter(|_| host_job);
        if let Some(sandbox) = sandbox {
            sandbox
                .prepare_work(dir.root(), &dir.work())
                .map_err(io_error)?;
        }
        if spec.runtime() == Runtime::Ray {
            std::fs::write(dir.work().join(ray::LAUNCHER_FILE), ray::LAUNCHER).map_err(io_error)?;
        }
        // A container's limits are Docker's (docker run --memory …).
        let cgroups = match (&self.cgroups, host_job) {
            (Some(cgroups), true) => cgroups
                .create(lease, dir.root(), &config.limits)
                .unwrap_or_else(|err| {
                    tracing::warn!(lease, %err, "cannot create the job's cgroup; its memory is not limited");
                    Vec::new()
                }),
            _ => Vec::new(),
        };
        let procs_limited =
            !cgroups.is_empty() && self.cgroups.as_ref().is_some_and(Cgroups::limits_procs);

        let mut command = tokio::process::Command::new(&config.shim_program);
        command
            .arg(shim::SUBCOMMAND)
            .arg("--lease-dir")
            .arg(dir.root())
            .arg("--log-max-bytes")
            .arg(config.logs.max_bytes.to_string())
            .arg("--log-files")
            .arg(config.logs.files.to_string());
        for cgroup in &cgroups {
            command.arg("--cgroup").arg(cgroup);
        }
        if host_job && !procs_limited && config.limits.max_procs > 0 {
            command
                .arg("--max-procs")
                .arg(config.limits.max_procs.to_string());
        }
        if let Some(sandbox) = sandbox {
            command.arg("--sandboxed");
            if let Some(user) = sandbox.job_user {
                command.arg("--run-as").arg(user.to_string());
            }
        }
        command.arg("--");
        if let Some(sandbox) = sandbox {
            command
                .arg(&sandbox.program)
                .args(sandbox.args(&dir.work(), gpus))
                .arg("--");
        }
        command
            .arg(&plan.program)
            .args(&plan.args)
            .current_dir(dir.work())
            .stdin(Stdio::null())
            // The shim reports through the job's log; it must not hold the
            // agent's output open after the agent exits.
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own group, so a stop reaches the shim and every process
            // of the job that stays in the group.
            .process_group(0);
        if host_job {
            // Carried past the shim and bwrap to the job alone (see
            // `shim::env`).
            command.env_clear();
            for (name, value) in job_env(lease, spec, gpus, dir, &plan.env) {
                command.env(shim::env::carrier(&name), value);
            }
        }
        let child = command.spawn().map_err(|source| {
            let _ = cgroup::remove(&cgroups);
            RunError::Shim {
                program: config.shim_program.clone(),
                source,
            }
        })?;
        let pid = child.id().ok_or_else(|| {
            io_error(std::io::Error::other(
                "the job exited before its pid was read",
            ))
        })?;
        let start_ticks = proc::stat(pid).map(|s| s.start_ticks).unwrap_or_default();
        let record = JobRecord {
            lease: lease.to_string(),
            pid,
            start_ticks,
            started_at_ms: crate::now_ms(),
            gpus: gpus.to_vec(),
            container: plan.container,
            activate_signature: None,
            ends_at: None,
            cgroups,
        };
        dir.save(&record).map_err(io_error)?;
        Ok((child, record))
    }
}

/// Removes what a job that ended left behind: its cgroups (and any process
/// still in them). Blocking.
pub fn clean_up(record: &JobRecord) {
    if let Err(err) = cgroup::remove(&record.cgroups) {
        tracing::warn!(lease = record.lease, %err, "cannot remove the job's cgroup");
    }
}

/// Waits for a job's shim to exit: directly when the agent started it,
/// by polling /proc when the agent reattached to it after a restart.
pub enum Watcher {
    Child(tokio::process::Child),
    Adopted { pid: u32, start_ticks: u64 },
}

impl Watcher {
    /// The command's exit code (128 + signal when a signal ended it), or
    /// `None` when it cannot be known.
    pub async fn wait(&mut self, dir: &LeaseDir) -> Option<i32> {
        match self {
            Watcher::Child(child) => match child.wait().await {
                Ok(status) => status.code().or_else(|| status.signal().map(|s| 128 + s)),
                Err(err) => {
                    tracing::warn!(%err, "waiting for the job failed");
                    None
                }
            },
            Watcher::Adopted { pid, start_ticks } => {
                while proc::is_alive(*pid, *start_ticks) {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                dir.exit_code()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> RunnerConfig {
        RunnerConfig::new("/nonexistent/shim".into(), Sandbox::None)
    }

    #[test]
    fn resolves_commands_like_execvp() {
        assert!(resolve("sh", "/nonexistent:/bin:/usr/bin").is_some());
        assert!(resolve("/bin/sh", "").is_some());
        assert!(resolve("no-such-program-iomesh", "/bin:/usr/bin").is_none());
        assert_eq!(cuda_visible_devices(&[3, 1]), "3,1");
    }

    #[test]
    fn refuses_an_image_only_spec_without_docker() {
        let dir = tempfile::tempdir().unwrap();
        let lease_dir = LeaseDir::new(dir.path(), "L");
        let spec = JobSpec::parse(br#"{"image":"x"}"#).unwrap();
        assert!(matches!(
            plan(
                "L",
                &spec,
                &[0],
                &lease_dir,
                &config(),
                &Placement::default()
            ),
            Err(RunError::NoDocker(_))
        ));
        let spec = JobSpec::parse(br#"{"command":["surely-not-installed-xyz"]}"#).unwrap();
        let err = plan(
            "L",
            &spec,
            &[0],
            &lease_dir,
            &config(),
            &Placement::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("surely-not-installed-xyz"),
            "{err}"
        );
    }

    fn ray_spec(version: &str) -> JobSpec {
        JobSpec::parse(
            format!(r#"{{"version":2,"runtime":"ray","ray":{{"entrypoint":"python main.py","version":"{version}"}}}}"#)
                .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn a_ray_job_needs_the_version_it_names_and_a_port_block() {
        let dir = tempfile::tempdir().unwrap();
        let lease_dir = LeaseDir::new(dir.path(), "LeaseR");
        let placed = Placement {
            address: "127.0.0.1".into(),
            port_base: 30100,
            port_count: 100,
            cluster: None,
        };
        let mut config = config();
        let missing = plan(
            "LeaseR",
            &ray_spec("2.60.0"),
            &[0],
            &lease_dir,
            &config,
            &placed,
        );
        assert!(
            matches!(&missing, Err(RunError::Ray { found, .. }) if found == "no Ray configured")
        );
        config.ray = Ok(RayInstall {
            program: "/opt/ray/bin/ray".into(),
            python: "/opt/ray/bin/python3".into(),
            version: "2.60.0".into(),
        });
        let other = plan(
            "LeaseR",
            &ray_spec("2.59.0"),
            &[0],
            &lease_dir,
            &config,
            &placed,
        )
        .unwrap_err();
        assert_eq!(
            other.to_string(),
            "the job needs Ray 2.59.0; this node has Ray 2.60.0"
        );
        let unported = Placement {
            port_count: 0,
            ..placed.clone()
        };
        assert!(matches!(
            plan(
                "LeaseR",
                &ray_spec("2.60.0"),
                &[0],
                &lease_dir,
                &config,
                &unported
            ),
            Err(RunError::NoPorts("ray"))
        ));
        let plan = plan(
            "LeaseR",
            &ray_spec("2.60.0"),
            &[0, 1],
            &lease_dir,
            &config,
            &placed,
        )
        .unwrap();
        assert_eq!(plan.program, "/opt/ray/bin/python3");
        assert!(plan.args[0].ends_with(ray::LAUNCHER_FILE));
        // A one-node cluster: rank 0 of 1 on this node's ports.
        assert_eq!(plan.env["NODE_RANK"], "0");
        assert_eq!(plan.env["WORLD_SIZE"], "1");
        assert_eq!(plan.env["NPROC_PER_NODE"], "2");
        assert_eq!(plan.env["MASTER_PORT"], "30100");
        assert_eq!(plan.env["IOMESH_RAY_DASHBOARD_PORT"], "30101");
        assert_eq!(plan.env["IOMESH_RAY_WORKER_PORT_MAX"], "30199");
        assert!(plan.env["PATH"].starts_with("/opt/ray/bin:"));
        assert_eq!(
            placed.renter_ports(&ray_spec("2.60.0")),
            vec![(RAY_DASHBOARD_PORT, 30101)]
        );
    }

    #[test]
    fn cluster_members_get_the_torchrun_variables() {
        use iomesh_agent_proto::v1::ClusterPeer;
        let dir = tempfile::tempdir().unwrap();
        let lease_dir = LeaseDir::new(dir.path(), "LeaseB");
        let peer = |rank: u32, address: &str| ClusterPeer {
            rank,
            lease: format!("Lease{rank}"),
            address: address.into(),
            gpus: 2,
        };
        let placed = Placement {
            address: "10.0.0.2".into(),
            port_base: 30200,
            port_count: 100,
            cluster: Some(ClusterPlacement {
                rank: 1,
                peers: vec![peer(0, "10.0.0.1"), peer(1, "10.0.0.2")],
                master_addr: "10.0.0.1".into(),
                master_port: 30000,
            }),
        };
        let spec = JobSpec::parse(br#"{"command":["sh","-c","env"]}"#).unwrap();
        let plan = plan("LeaseB", &spec, &[0, 1], &lease_dir, &config(), &placed).unwrap();
        assert_eq!(plan.env["MASTER_ADDR"], "10.0.0.1");
        assert_eq!(plan.env["MASTER_PORT"], "30000");
        assert_eq!(plan.env["WORLD_SIZE"], "2");
        assert_eq!(plan.env["NODE_RANK"], "1");
        assert_eq!(plan.env["NPROC_PER_NODE"], "2");
        assert_eq!(plan.env["IOMESH_PORT_BASE"], "30200");
        let peers: serde_json::Value = serde_json::from_str(&plan.env["IOMESH_PEERS"]).unwrap();
        assert_eq!(peers[0]["address"], "10.0.0.1");
        assert_eq!(peers[1]["rank"], 1);
        // A single lease running a process gets no cluster variables.
        let alone = Placement {
            cluster: None,
            ..placed
        };
        let plan = plan_for(&spec, &lease_dir, &alone);
        assert!(!plan.env.contains_key("WORLD_SIZE"));
    }

    fn plan_for(spec: &JobSpec, dir: &LeaseDir, placement: &Placement) -> Plan {
        plan("LeaseB", spec, &[0], dir, &config(), placement).unwrap()
    }
}
