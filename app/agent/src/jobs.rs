//! The jobs this node runs: which GPUs each holds, a supervisor per job that
//! reports how it ended, stop on request, reattachment after an agent
//! restart from the per-lease state files, and the deletion of finished
//! leases' files after the retention period.

use crate::{
    logs::{LogError, LogReader},
    retention,
    runner::{
        self, container, proc,
        state::{self, JobRecord, LeaseDir},
        Placement, RunError, Runner, RunnerConfig, Watcher,
    },
};
use iomesh_agent_proto::{
    v1::{agent_message, AgentMessage, JobState, JobUpdate},
    JobSpec,
};
use std::{
    collections::{BTreeSet, HashMap, HashSet},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};
use tokio::sync::{mpsc, oneshot};

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("lease {0} already has a job on this node")]
    AlreadyRunning(String),
    #[error("{wanted} GPUs requested, {free} of this node's {total} are free")]
    NoFreeGpus {
        wanted: u32,
        free: usize,
        total: usize,
    },
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("job state directory {dir}: {source}")]
    State {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Why a job is being stopped, as reported in its final `JobUpdate`.
#[derive(Clone, Debug)]
pub struct StopCause {
    /// STOPPED when the lease ended or was stopped; FAILED when the agent
    /// gave up on the job (e.g. the activation was refused).
    pub state: JobState,
    pub detail: String,
}

struct Entry {
    record: JobRecord,
    stop: Option<oneshot::Sender<StopCause>>,
}

#[derive(Clone)]
pub struct Jobs {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    gpus: BTreeSet<u32>,
    runner: Runner,
    jobs: Mutex<HashMap<String, Entry>>,
    events: mpsc::Sender<AgentMessage>,
}

/// Held while the agent reports a job's start (acknowledgement, activation):
/// the job's final update waits until it is dropped, so a job that ends at
/// once is never reported ended before it was reported running.
pub struct ReportHold {
    _release: oneshot::Sender<()>,
}

/// How long a job's final update waits for its start to be reported: an
/// activation cannot take longer than a transaction's lifetime.
const REPORT_HOLD_MAX: std::time::Duration = std::time::Duration::from_secs(120);

impl Jobs {
    /// Opens the job directory under `state_dir`, reattaching to jobs that
    /// still run and reporting (on `events`) those that ended meanwhile.
    /// Fails when the configured sandbox does not work here.
    pub async fn open(
        state_dir: &Path,
        gpus: impl IntoIterator<Item = u32>,
        runner: RunnerConfig,
        events: mpsc::Sender<AgentMessage>,
    ) -> Result<(Jobs, Vec<JobRecord>), JobError> {
        let dir = state_dir.join("jobs");
        let state_error = |source| JobError::State {
            dir: dir.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(state_error)?;
        let runner = Runner::new(runner, state_dir)?;
        let jobs = Jobs {
            inner: Arc::new(Inner {
                dir: dir.clone(),
                gpus: gpus.into_iter().collect(),
                runner,
                jobs: Mutex::new(HashMap::new()),
                events,
            }),
        };
        let mut reattached = Vec::new();
        for lease_dir in state::saved_jobs(&dir).map_err(state_error)? {
            let record = match lease_dir.load() {
                Ok(record) => record,
                Err(err) => {
                    tracing::error!(dir = %lease_dir.root().display(), %err, "unreadable job state; leaving it alone");
                    continue;
                }
            };
            if proc::is_alive(record.pid, record.start_ticks) {
                tracing::info!(lease = %record.lease, pid = record.pid, "reattached to a running job");
                jobs.supervise(
                    record.clone(),
                    Watcher::Adopted {
                        pid: record.pid,
                        start_ticks: record.start_ticks,
                    },
                );
                reattached.push(record);
            } else {
                // It ended while no agent watched it: report how, then forget
                // it. Its group is not signalled: the pid may be reused by now.
                let exit_code = lease_dir.exit_code();
                runner::clean_up(&record);
                let _ = lease_dir.finish();
                jobs.emit(ended_update(&record, exit_code, None)).await;
            }
        }
        jobs.sweep_periodically();
        Ok((jobs, reattached))
    }

    /// Deletes the files of leases whose job ended more than the retention
    /// period ago (see `retention`); returns those leases.
    pub fn sweep_expired(&self) -> std::io::Result<Vec<String>> {
        let running: HashSet<String> = self.running().into_iter().map(|r| r.lease).collect();
        let deleted = retention::sweep(
            &self.inner.dir,
            self.inner.runner.config().log_retention,
            &running,
            crate::now_ms(),
        )?;
        if !deleted.is_empty() {
            tracing::info!(
                ?deleted,
                "deleted the files of leases past their retention period"
            );
        }
        Ok(deleted)
    }

    /// Sweeps now and every `retention::SWEEP_EVERY` while these jobs exist.
    fn sweep_periodically(&self) {
        if let Err(err) = self.sweep_expired() {
            tracing::warn!(%err, "sweeping finished leases failed");
        }
        let jobs = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(retention::SWEEP_EVERY).await;
                let Some(inner) = jobs.upgrade() else { return };
                let jobs = Jobs { inner };
                let swept = tokio::task::spawn_blocking(move || jobs.sweep_expired()).await;
                if let Ok(Err(err)) = swept {
                    tracing::warn!(%err, "sweeping finished leases failed");
                }
            }
        });
    }

    /// The log of `lease`'s job on this node.
    pub fn logs(&self, lease: &str) -> Result<LogReader, LogError> {
        let dir = self.lease_dir(lease);
        // A lease name is one directory: nothing else is reachable by it.
        if lease.is_empty() || lease.contains('/') || lease.starts_with('.') {
            return Err(LogError::NotFound(dir.root().to_path_buf()));
        }
        LogReader::open(dir.root())
    }

    /// How jobs are run here.
    pub fn runner_config(&self) -> &RunnerConfig {
        self.inner.runner.config()
    }

    pub fn jobs_dir(&self) -> &Path {
        &self.inner.dir
    }

    pub fn lease_dir(&self, lease: &str) -> LeaseDir {
        LeaseDir::new(&self.inner.dir, lease)
    }

    /// Picks the lowest free GPU indices and starts `spec` on them.
    pub fn start(
        &self,
        lease: &str,
        spec: &JobSpec,
        gpu_count: u32,
    ) -> Result<JobRecord, JobError> {
        self.start_held(lease, spec, gpu_count, &Placement::default())
            .map(|(record, _)| record)
    }

    /// `start` as `placement` says, holding the job's final update back
    /// until the returned hold is dropped.
    pub fn start_held(
        &self,
        lease: &str,
        spec: &JobSpec,
        gpu_count: u32,
        placement: &Placement,
    ) -> Result<(JobRecord, ReportHold), JobError> {
        let mut jobs = self.inner.jobs.lock().expect("jobs lock");
        if jobs.contains_key(lease) {
            return Err(JobError::AlreadyRunning(lease.to_string()));
        }
        let used: BTreeSet<u32> = jobs
            .values()
            .flat_map(|e| e.record.gpus.iter().copied())
            .collect();
        let free: Vec<u32> = self.inner.gpus.difference(&used).copied().collect();
        if gpu_count == 0 || free.len() < gpu_count as usize {
            return Err(JobError::NoFreeGpus {
                wanted: gpu_count,
                free: free.len(),
                total: self.inner.gpus.len(),
            });
        }
        let gpus = &free[..gpu_count as usize];
        let (child, record) =
            self.inner
                .runner
                .spawn(lease, spec, gpus, &self.lease_dir(lease), placement)?;
        tracing::info!(lease, pid = record.pid, ?gpus, "job started");
        let (release, held) = oneshot::channel();
        let stop = self.spawn_supervisor(record.clone(), Watcher::Child(child), Some(held));
        jobs.insert(
            lease.to_string(),
            Entry {
                record: record.clone(),
                stop: Some(stop),
            },
        );
        Ok((record, ReportHold { _release: release }))
    }

    /// Records the confirmed activation and the lease end in the job's state.
    pub fn set_activation(&self, lease: &str, signature: Option<String>, ends_at: Option<i64>) {
        let mut jobs = self.inner.jobs.lock().expect("jobs lock");
        if let Some(entry) = jobs.get_mut(lease) {
            if signature.is_some() {
                entry.record.activate_signature = signature;
            }
            if ends_at.is_some() {
                entry.record.ends_at = ends_at;
            }
            if let Err(err) = self.lease_dir(lease).save(&entry.record) {
                tracing::error!(lease, %err, "cannot save job state");
            }
        }
    }

    /// Asks the job of `lease` to stop; false if there is none (or it is
    /// already stopping). Its final `JobUpdate` follows on the events channel.
    pub fn stop(&self, lease: &str, cause: StopCause) -> bool {
        let mut jobs = self.inner.jobs.lock().expect("jobs lock");
        match jobs.get_mut(lease).and_then(|e| e.stop.take()) {
            Some(stop) => stop.send(cause).is_ok(),
            None => false,
        }
    }

    pub fn get(&self, lease: &str) -> Option<JobRecord> {
        let jobs = self.inner.jobs.lock().expect("jobs lock");
        jobs.get(lease).map(|e| e.record.clone())
    }

    /// Every job still running, oldest first.
    pub fn running(&self) -> Vec<JobRecord> {
        let jobs = self.inner.jobs.lock().expect("jobs lock");
        let mut records: Vec<JobRecord> = jobs.values().map(|e| e.record.clone()).collect();
        records.sort_by_key(|r| r.started_at_ms);
        records
    }

    /// Stops every job and waits until all have ended.
    pub async fn stop_all(&self, detail: &str) {
        for record in self.running() {
            self.stop(
                &record.lease,
                StopCause {
                    state: JobState::Stopped,
                    detail: detail.to_string(),
                },
            );
        }
        while !self.running().is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    fn supervise(&self, record: JobRecord, watcher: Watcher) {
        // Locked before the supervisor exists, so it cannot finish first.
        let mut jobs = self.inner.jobs.lock().expect("jobs lock");
        let stop = self.spawn_supervisor(record.clone(), watcher, None);
        jobs.insert(
            record.lease.clone(),
            Entry {
                record,
                stop: Some(stop),
            },
        );
    }

    /// One task per job: waits for it to exit or for a stop request, cleans
    /// up its process group, frees its GPUs and reports how it ended.
    fn spawn_supervisor(
        &self,
        record: JobRecord,
        mut watcher: Watcher,
        held: Option<oneshot::Receiver<()>>,
    ) -> oneshot::Sender<StopCause> {
        let (stop_tx, mut stop_rx) = oneshot::channel::<StopCause>();
        let jobs = self.clone();
        tokio::spawn(async move {
            let lease = record.lease.clone();
            let dir = jobs.lease_dir(&lease);
            let grace = jobs.inner.runner.config().stop_grace;
            let (exit_code, cause) = tokio::select! {
                code = watcher.wait(&dir) => (code, None),
                Ok(cause) = &mut stop_rx => {
                    tracing::info!(lease, detail = cause.detail, "stopping job");
                    proc::stop_group(record.pid, grace).await;
                    if let Some(name) = &record.container {
                        container::remove_container(name).await;
                    }
                    (watcher.wait(&dir).await, Some(cause))
                }
            };
            // Whatever the job left behind in its group goes with it.
            proc::stop_group(record.pid, grace).await;
            let record = jobs.get(&lease).unwrap_or(record);
            let cleaned = record.clone();
            let _ = tokio::task::spawn_blocking(move || runner::clean_up(&cleaned)).await;
            if let Err(err) = dir.finish() {
                tracing::error!(lease, %err, "cannot remove job state");
            }
            jobs.inner.jobs.lock().expect("jobs lock").remove(&lease);
            tracing::info!(lease, ?exit_code, "job ended");
            if let Some(held) = held {
                // Resolves when the hold is dropped.
                let _ = tokio::time::timeout(REPORT_HOLD_MAX, held).await;
            }
            jobs.emit(ended_update(&record, exit_code, cause)).await;
        });
        stop_tx
    }

    async fn emit(&self, update: JobUpdate) {
        let message = AgentMessage {
            msg: Some(agent_message::Msg::JobUpdate(update)),
        };
        if self.inner.events.send(message).await.is_err() {
            tracing::warn!("agent event channel closed; job update dropped");
        }
    }
}

/// A job's update in `state`, with its GPUs and activation.
pub fn job_update(record: &JobRecord, state: JobState) -> JobUpdate {
    JobUpdate {
        lease: record.lease.clone(),
        state: state as i32,
        gpu_indices: record.gpus.clone(),
        activate_signature: record.activate_signature.clone().unwrap_or_default(),
        exit_code: 0,
        detail: String::new(),
        at_ms: crate::now_ms(),
    }
}

/// The final update of a job: its stop cause's state (STOPPED, or FAILED when
/// the agent gave up on it) when stopped; EXITED with its exit code when it
/// ended by itself; FAILED when its exit code is unknown.
fn ended_update(record: &JobRecord, exit_code: Option<i32>, cause: Option<StopCause>) -> JobUpdate {
    let (state, detail) = match (cause, exit_code) {
        (Some(cause), _) => (cause.state, cause.detail),
        // It ended by itself: the renter reads the code, whatever it is.
        (None, Some(code)) => (JobState::Exited, format!("exited with code {code}")),
        (None, None) => (
            JobState::Failed,
            "ended while the agent was not watching; its exit code is unknown".to_string(),
        ),
    };
    JobUpdate {
        exit_code: exit_code.unwrap_or(-1),
        detail,
        ..job_update(record, state)
    }
}
