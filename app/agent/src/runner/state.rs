//! Per-lease files under the agent's state directory:
//! `jobs/<lease>/state.json` (what an agent restart needs to reattach),
//! `logs/` (the job's output, see `crate::logs`), `exit_code` (written by the
//! job's shim when its command returns), `work/` (the job's working
//! directory) and, once the retention period deleted the rest, `deleted`.

use serde::{Deserialize, Serialize};
use std::{
    io,
    path::{Path, PathBuf},
};

/// What the agent knows about a running job; saved on every change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Base58 lease address.
    pub lease: String,
    /// Pid of the job's shim, which leads the job's process group.
    pub pid: u32,
    /// Start time of `pid` in clock ticks after boot (tells a reused pid apart).
    pub start_ticks: u64,
    /// Unix milliseconds.
    pub started_at_ms: i64,
    /// Device indices the job was given.
    pub gpus: Vec<u32>,
    /// Container name, when the job runs under Docker.
    #[serde(default)]
    pub container: Option<String>,
    /// Signature of the `activate_lease` transaction, once confirmed.
    #[serde(default)]
    pub activate_signature: Option<String>,
    /// Unix seconds at which the lease stops billing (activated_at + duration).
    #[serde(default)]
    pub ends_at: Option<i64>,
    /// The job's cgroup directories (its memory and process limits), removed
    /// when it ends.
    #[serde(default)]
    pub cgroups: Vec<PathBuf>,
}

/// The directories and files of one lease.
#[derive(Clone, Debug)]
pub struct LeaseDir {
    root: PathBuf,
}

impl LeaseDir {
    pub fn new(jobs_dir: &Path, lease: &str) -> Self {
        Self {
            root: jobs_dir.join(lease),
        }
    }

    /// The lease directory at `root` (`<jobs dir>/<lease>`).
    pub fn at(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn state_file(&self) -> PathBuf {
        self.root.join("state.json")
    }
    /// The job's log files (`crate::logs`).
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
    pub fn exit_code_file(&self) -> PathBuf {
        self.root.join("exit_code")
    }
    pub fn work(&self) -> PathBuf {
        self.root.join("work")
    }

    /// The marker left when the retention period deleted the lease's files.
    pub fn deleted_file(&self) -> PathBuf {
        self.root.join("deleted")
    }

    /// Creates the directories and clears a previous attempt's exit code.
    pub fn prepare(&self) -> io::Result<()> {
        std::fs::create_dir_all(self.work())?;
        for file in [self.exit_code_file(), self.deleted_file()] {
            match std::fs::remove_file(file) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Saves `record` atomically (write, then rename), so a crash never
    /// leaves a half-written state file.
    pub fn save(&self, record: &JobRecord) -> io::Result<()> {
        let tmp = self.root.join("state.json.tmp");
        let bytes = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, self.state_file())
    }

    pub fn load(&self) -> io::Result<JobRecord> {
        let bytes = std::fs::read(self.state_file())?;
        serde_json::from_slice(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Forgets the job (the logs stay for the supplier and the renter).
    pub fn finish(&self) -> io::Result<()> {
        match std::fs::remove_file(self.state_file()) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// When the retention period deleted the lease's files (unix ms), if it did.
    pub fn deleted_at_ms(&self) -> Option<i64> {
        std::fs::read_to_string(self.deleted_file())
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Leaves the marker that says the lease's files were deleted at `at_ms`.
    pub fn mark_deleted(&self, at_ms: i64) -> io::Result<()> {
        std::fs::write(self.deleted_file(), format!("{at_ms}\n"))
    }

    /// Records the job's exit code (write, then rename: a reader never sees
    /// half of it).
    pub fn write_exit_code(&self, code: i32) -> io::Result<()> {
        let tmp = self.root.join("exit_code.tmp");
        std::fs::write(&tmp, format!("{code}\n"))?;
        std::fs::rename(&tmp, self.exit_code_file())
    }

    /// The command's exit code as the shim recorded it, if it returned.
    pub fn exit_code(&self) -> Option<i32> {
        std::fs::read_to_string(self.exit_code_file())
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

/// Every lease directory that still has a state file.
pub fn saved_jobs(jobs_dir: &Path) -> io::Result<Vec<LeaseDir>> {
    let entries = match std::fs::read_dir(jobs_dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        other => other?,
    };
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry?;
        let dir = LeaseDir { root: entry.path() };
        if dir.state_file().is_file() {
            dirs.push(dir);
        }
    }
    Ok(dirs)
}
