//! Ray on this node: which Ray the agent offers (reported to the scheduler,
//! which sends `ray` jobs only to a node with the version they name), and
//! how a `ray` job's member of the lease's Ray cluster is started.
//!
//! A `ray` job runs, inside the job sandbox like any host job, the member
//! launcher (`ray_member.py`, run by the Python of the node's Ray). Rank 0
//! starts the Ray head and, once Ray itself reports every member alive,
//! submits the renter's entrypoint through Ray's job submission API and
//! prints its logs; the other ranks join the head as workers. Every Ray
//! process of the lease lives in the job's sandbox (its own PID namespace,
//! /tmp and /dev/shm), so stopping the job leaves none behind, and every
//! port comes from the lease's own port block, so two leases' clusters on
//! one machine never meet.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// The member launcher, written into each Ray job's work directory.
pub const LAUNCHER: &str = include_str!("ray_member.py");
/// Its file name there.
pub const LAUNCHER_FILE: &str = ".iomesh-ray-member.py";

/// Offsets in a lease's port block (see `iomesh_agent_proto::PORT_BLOCK`).
pub mod port {
    /// The head's GCS (`ray start --port`); torchrun's MASTER_PORT too.
    pub const GCS: u16 = 0;
    /// The head's dashboard and job submission API (the renter's 8265).
    pub const DASHBOARD: u16 = 1;
    /// First of the ports the launcher hands to Ray's other services.
    pub const SERVICES: u16 = 2;
    /// Ray's worker processes take ports from here to the block's end.
    pub const WORKERS: u16 = 20;
}

/// The Ray a node offers to `ray` jobs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RayInstall {
    /// The `ray` program.
    pub program: PathBuf,
    /// The Python interpreter its script runs with (its `#!` line).
    pub python: PathBuf,
    /// As `ray --version` prints it, e.g. `2.60.0`.
    pub version: String,
}

/// Finds the Ray at `program` (a path, or a name looked up on PATH) and
/// asks it its version; `Err` says why there is none, for the scheduler to
/// show renters and operators.
pub fn detect(program: &Path) -> Result<RayInstall, String> {
    let resolved = if program.components().count() > 1 {
        program.to_path_buf()
    } else {
        let path = std::env::var("PATH").unwrap_or_default();
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
            .ok_or_else(|| {
                format!(
                    "Ray is not installed on this node (no `{}` on PATH; pass --ray)",
                    program.display()
                )
            })?
    };
    let output = Command::new(&resolved)
        .arg("--version")
        .output()
        .map_err(|err| format!("cannot run {} --version: {err}", resolved.display()))?;
    let printed = String::from_utf8_lossy(&output.stdout);
    let version = parse_version(&printed).ok_or_else(|| {
        format!(
            "{} --version printed {:?}, not `ray, version X.Y.Z`",
            resolved.display(),
            printed.trim()
        )
    })?;
    let python = interpreter(&resolved).ok_or_else(|| {
        format!(
            "{} is not a Python console script (no #! line naming its interpreter)",
            resolved.display()
        )
    })?;
    Ok(RayInstall {
        program: resolved,
        python,
        version,
    })
}

/// `ray, version 2.60.0` → `2.60.0`.
fn parse_version(printed: &str) -> Option<String> {
    let version = printed.lines().find_map(|line| {
        line.trim()
            .strip_prefix("ray, version ")
            .map(|v| v.trim().to_string())
    })?;
    (!version.is_empty()).then_some(version)
}

/// The interpreter on a script's `#!` line.
fn interpreter(script: &Path) -> Option<PathBuf> {
    let bytes = std::fs::read(script).ok()?;
    let first = bytes.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(first).ok()?.strip_prefix("#!")?;
    let program = line.split_whitespace().next()?;
    Some(PathBuf::from(program))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn reads_the_version_and_the_interpreter_of_a_ray_script() {
        assert_eq!(
            parse_version("ray, version 2.60.0\n"),
            Some("2.60.0".into())
        );
        assert_eq!(parse_version("something else"), None);
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("ray");
        std::fs::write(&fake, "#!/bin/sh\necho 'ray, version 9.8.7'\n").unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let found = detect(&fake).unwrap();
        assert_eq!(found.version, "9.8.7");
        assert_eq!(found.python, PathBuf::from("/bin/sh"));
        let missing = detect(Path::new("surely-no-ray-here-xyz")).unwrap_err();
        assert!(missing.contains("not installed"), "{missing}");
        std::fs::write(&fake, "#!/bin/sh\necho 'ray 1'\n").unwrap();
        assert!(detect(&fake).unwrap_err().contains("not `ray, version"));
    }
}
