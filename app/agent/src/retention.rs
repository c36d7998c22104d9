//! Deleting what finished leases left on disk once the retention period
//! after their job ended is over: the work directory, the logs and the exit
//! code go; a small `deleted` marker stays, so that a log reader says the
//! logs were deleted rather than never existed, and goes after
//! `MARKER_KEEP`.

use crate::runner::state::LeaseDir;
use std::{
    collections::HashSet,
    io,
    os::unix::fs::PermissionsExt,
    path::Path,
    time::{Duration, UNIX_EPOCH},
};

/// How long the `deleted` marker of a lease is kept.
pub const MARKER_KEEP: Duration = Duration::from_secs(30 * 24 * 3600);

/// How often the agent sweeps its jobs directory.
pub const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// Deletes the files of every lease under `jobs_dir` whose job ended at
/// least `retention` before `now_ms`, except the leases in `running` and
/// those with a state file (a job the agent tracks). Returns the leases
/// whose files were deleted.
pub fn sweep(
    jobs_dir: &Path,
    retention: Duration,
    running: &HashSet<String>,
    now_ms: i64,
) -> io::Result<Vec<String>> {
    let entries = match std::fs::read_dir(jobs_dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        other => other?,
    };
    let age = |since_ms: i64| Duration::from_millis(u64::try_from(now_ms - since_ms).unwrap_or(0));
    let mut deleted = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Some(lease) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if !entry.file_type()?.is_dir() || running.contains(&lease) {
            continue;
        }
        let dir = LeaseDir::at(&entry.path());
        if dir.state_file().exists() {
            continue;
        }
        if let Some(at) = dir.deleted_at_ms() {
            if age(at) >= MARKER_KEEP {
                remove_tree(dir.root())?;
            }
            continue;
        }
        if age(ended_at_ms(&dir)) < retention {
            continue;
        }
        for child in std::fs::read_dir(dir.root())? {
            let child = child?;
            if child.file_type()?.is_dir() {
                remove_tree(&child.path())?;
            } else {
                std::fs::remove_file(child.path())?;
            }
        }
        dir.mark_deleted(now_ms)?;
        deleted.push(lease);
    }
    Ok(deleted)
}

/// When the lease's job was last heard of: the newest of its exit code,
/// its live log file and the lease directory itself.
fn ended_at_ms(dir: &LeaseDir) -> i64 {
    [
        dir.root().to_path_buf(),
        dir.exit_code_file(),
        dir.logs().join(crate::logs::CURRENT),
    ]
    .iter()
    .filter_map(|p| std::fs::metadata(p).ok()?.modified().ok())
    .filter_map(|t| t.duration_since(UNIX_EPOCH).ok())
    .map(|d| d.as_millis() as i64)
    .max()
    .unwrap_or(0)
}

/// Removes `path` and everything under it, also what a job made
/// unwritable (a job may chmod its own directories).
fn remove_tree(path: &Path) -> io::Result<()> {
    match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            make_writable(path);
            std::fs::remove_dir_all(path)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

fn make_writable(dir: &Path) {
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return;
    };
    if !meta.is_dir() {
        return;
    }
    let mode = meta.permissions().mode();
    let _ = std::fs::set_permissions(dir, PermissionsExt::from_mode(mode | 0o700));
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            make_writable(&entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletes_ended_leases_after_retention_and_keeps_a_marker() {
        let jobs = tempfile::tempdir().unwrap();
        let ended = LeaseDir::at(&jobs.path().join("Ended"));
        let tracked = LeaseDir::at(&jobs.path().join("Tracked"));
        for dir in [&ended, &tracked] {
            std::fs::create_dir_all(dir.work().join("deep")).unwrap();
            std::fs::create_dir_all(dir.logs()).unwrap();
            std::fs::write(dir.logs().join(crate::logs::CURRENT), "{}\n").unwrap();
        }
        ended.write_exit_code(0).unwrap();
        // A job that locked its own directory does not keep it for ever.
        std::fs::set_permissions(ended.work().join("deep"), PermissionsExt::from_mode(0o500))
            .unwrap();
        std::fs::write(tracked.state_file(), "{}").unwrap();
        let now = crate::now_ms();
        let none = HashSet::new();

        let hour = Duration::from_secs(3600);
        assert!(sweep(jobs.path(), hour, &none, now).unwrap().is_empty());
        let running = HashSet::from(["Ended".to_string()]);
        assert!(sweep(jobs.path(), Duration::ZERO, &running, now)
            .unwrap()
            .is_empty());

        assert_eq!(
            sweep(jobs.path(), Duration::ZERO, &none, now).unwrap(),
            ["Ended"]
        );
        assert!(!ended.work().exists() && !ended.logs().exists());
        assert_eq!(ended.deleted_at_ms(), Some(now));
        assert!(tracked.work().exists());
        // The marker itself goes after MARKER_KEEP.
        let later = now + MARKER_KEEP.as_millis() as i64;
        assert!(sweep(jobs.path(), Duration::ZERO, &none, later)
            .unwrap()
            .is_empty());
        assert!(!ended.root().exists());
    }
}
