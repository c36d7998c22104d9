//! Starting a job and waiting for it. A job runs under a tiny `sh` shim that
//! leads the job's own process group and records the command's exit code in
//! the lease directory, so an agent that restarts can still learn how a job
//! it no longer parents ended.

pub mod cgroup;
pub mod container;
pub mod proc;
pub mod sandbox;
pub mod state;

use iomesh_agent_proto::JobSpec;
use state::{JobRecord, LeaseDir};
use std::{
    os::unix::process::ExitStatusExt,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

/// Runs `"$@"`, writes its exit code to `$0`, exits with it.
const SHIM: &str = r#""$@"; code=$?; printf '%s\n' "$code" > "$0"; exit "$code""#;

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
}

/// How a job's process is started.
#[derive(Debug)]
struct Plan {
    program: String,
    args: Vec<String>,
    container: Option<String>,
}

fn plan(
    lease: &str,
    spec: &JobSpec,
    gpus: &[u32],
    dir: &LeaseDir,
    docker: bool,
) -> Result<Plan, RunError> {
    if let Some(image) = &spec.image {
        if docker {
            return Ok(Plan {
                program: "docker".into(),
                args: container::docker_run_args(lease, spec, image, gpus, &dir.work()),
                container: Some(container::container_name(lease)),
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
    Ok(Plan {
        program: command.clone(),
        args: spec.command[1..].to_vec(),
        container: None,
    })
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

/// Starts `spec` for `lease` on `gpus` in its own process group, with its
/// logs and working directory under `dir`.
pub fn spawn(
    lease: &str,
    spec: &JobSpec,
    gpus: &[u32],
    dir: &LeaseDir,
    config: &RunnerConfig,
) -> Result<(tokio::process::Child, JobRecord), RunError> {
    let io_error = |source| RunError::Io {
        dir: dir.root().to_path_buf(),
        source,
    };
    let plan = plan(lease, spec, gpus, dir, config.docker)?;
    dir.prepare().map_err(io_error)?;
    let log = |path: PathBuf| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
    };
    let mut command = tokio::process::Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(SHIM)
        .arg(dir.exit_code_file())
        .arg(&plan.program)
        .args(&plan.args)
        .current_dir(dir.work())
        .stdin(Stdio::null())
        .stdout(log(dir.stdout()).map_err(io_error)?)
        .stderr(log(dir.stderr()).map_err(io_error)?)
        // Its own group, so a stop reaches every process of the job.
        .process_group(0);
    if plan.container.is_none() {
        // A host job sees only what the renter asked for, not the agent's
        // environment, and exactly the leased devices.
        command
            .env_clear()
            .env("PATH", job_path(spec))
            .env("HOME", dir.work())
            .envs(&spec.env)
            .env("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
            .env("CUDA_VISIBLE_DEVICES", cuda_visible_devices(gpus))
            .env("IOMESH_LEASE", lease);
    }
    let child = command.spawn().map_err(io_error)?;
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
    };
    dir.save(&record).map_err(io_error)?;
    Ok((child, record))
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
            plan("L", &spec, &[0], &lease_dir, false),
            Err(RunError::NoDocker(_))
        ));
        let spec = JobSpec::parse(br#"{"command":["surely-not-installed-xyz"]}"#).unwrap();
        let err = plan("L", &spec, &[0], &lease_dir, false).unwrap_err();
        assert!(
            err.to_string().contains("surely-not-installed-xyz"),
            "{err}"
        );
    }
}
