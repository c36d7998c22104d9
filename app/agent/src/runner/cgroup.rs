//! Per-job cgroups, which enforce a job's memory and process limits. They
//! are created under the agent's own cgroup, in the unified (v2) hierarchy
//! or in the v1 `memory` and `pids` hierarchies, when those are writable;
//! the job's shim moves the job into them and removes them when it ends.

use super::{proc, JobLimits};
use std::{
    fs::{File, OpenOptions},
    io::{self, Write},
    os::fd::{AsRawFd, RawFd},
    path::{Path, PathBuf},
    time::Duration,
};

/// The leaf a v2 agent moves its own processes into, so that its cgroup
/// may hand controllers to job cgroups (v2 lets only leaves hold processes
/// once it does). `DelegateSubgroup=agent` under systemd does the same.
const AGENT_LEAF: &str = "agent";

/// Name of the cgroup of `lease`'s job, whose files are in `lease_dir`:
/// agents sharing a machine (and a v1 hierarchy) never share one.
pub fn job_cgroup_name(lease: &str, lease_dir: &Path) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    lease_dir.hash(&mut hasher);
    format!("iomesh-job-{lease}-{:08x}", hasher.finish() as u32)
}

/// Where job cgroups go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cgroups {
    /// Children of `parent`, which delegates memory and pids to them.
    V2 { parent: PathBuf },
    /// Children of the agent's cgroup in each v1 hierarchy that is usable.
    V1 {
        memory: Option<PathBuf>,
        pids: Option<PathBuf>,
    },
}

impl Cgroups {
    /// Finds writable cgroups for the limits that are set, or `None`.
    pub fn detect(limits: &JobLimits) -> Option<Cgroups> {
        if limits.memory_bytes == 0 && limits.max_procs == 0 {
            return None;
        }
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        let mounts = parse_mountinfo(&mounts);
        let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let own = parse_proc_cgroup(&own);
        let mut needed = Vec::new();
        if limits.memory_bytes > 0 {
            needed.push("memory");
        }
        if limits.max_procs > 0 {
            needed.push("pids");
        }
        if let Some(v2) = detect_v2(&mounts, &own, &needed) {
            return Some(v2);
        }
        let v1 = |controller| {
            needed
                .contains(&controller)
                .then(|| detect_v1(&mounts, &own, controller))
                .flatten()
        };
        let (memory, pids) = (v1("memory"), v1("pids"));
        (memory.is_some() || pids.is_some()).then_some(Cgroups::V1 { memory, pids })
    }

    pub fn limits_memory(&self) -> bool {
        matches!(
            self,
            Cgroups::V2 { .. }
                | Cgroups::V1 {
                    memory: Some(_),
                    ..
                }
        )
    }

    pub fn limits_procs(&self) -> bool {
        matches!(self, Cgroups::V2 { .. } | Cgroups::V1 { pids: Some(_), .. })
    }

    /// Creates the cgroup(s) of `lease`'s job (files in `lease_dir`) with
    /// `limits`.
    pub fn create(
        &self,
        lease: &str,
        lease_dir: &Path,
        limits: &JobLimits,
    ) -> io::Result<Vec<PathBuf>> {
        let name = job_cgroup_name(lease, lease_dir);
        let make = |parent: &Path, files: &[(&str, String)]| -> io::Result<PathBuf> {
            let dir = parent.join(&name);
            match std::fs::create_dir(&dir) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                _ => {}
            }
            for (file, value) in files {
                std::fs::write(dir.join(file), value)?;
            }
            Ok(dir)
        };
        let or_max = |n: u64, max: &str| {
            if n == 0 {
                max.to_string()
            } else {
                n.to_string()
            }
        };
        match self {
            Cgroups::V2 { parent } => Ok(vec![make(
                parent,
                &[
                    ("memory.max", or_max(limits.memory_bytes, "max")),
                    ("pids.max", or_max(limits.max_procs, "max")),
                ],
            )?]),
            Cgroups::V1 { memory, pids } => {
                let mut dirs = Vec::new();
                if let Some(parent) = memory {
                    dirs.push(make(
                        parent,
                        &[("memory.limit_in_bytes", or_max(limits.memory_bytes, "-1"))],
                    )?);
                }
                if let Some(parent) = pids {
                    dirs.push(make(
                        parent,
                        &[("pids.max", or_max(limits.max_procs, "max"))],
                    )?);
                }
                Ok(dirs)
            }
        }
    }
}

/// The `cgroup.procs` files of `dirs`, opened for `join`.
pub fn open_procs(dirs: &[PathBuf]) -> io::Result<Vec<File>> {
    dirs.iter()
        .map(|dir| {
            OpenOptions::new()
                .write(true)
                .open(dir.join("cgroup.procs"))
        })
        .collect()
}

/// Moves the calling process into the cgroups whose `cgroup.procs` are
/// open as `files` (writing 0 means "me"). Async-signal-safe: for
/// `pre_exec`.
pub fn join(files: &[RawFd]) -> io::Result<()> {
    for &fd in files {
        // SAFETY: write(2) of one byte from a static buffer to an open fd.
        if unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) } != 1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The raw fds of `files`, for `join`.
pub fn raw_fds(files: &[File]) -> Vec<RawFd> {
    files.iter().map(AsRawFd::as_raw_fd).collect()
}

/// Kills whatever is left in `dirs` and removes them. A cgroup whose last
/// processes are still exiting cannot be removed yet: retried for a while.
pub fn remove(dirs: &[PathBuf]) -> io::Result<()> {
    for dir in dirs {
        let mut attempts = 0;
        loop {
            let left: Vec<u32> = std::fs::read_to_string(dir.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect();
            proc::signal_each(&left, libc::SIGKILL);
            match std::fs::remove_dir(dir) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) if attempts < 100 && e.raw_os_error() == Some(libc::EBUSY) => {
                    attempts += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// A line of /proc/self/mountinfo that matters here.
#[derive(Debug, PartialEq, Eq)]
struct Mount {
    /// The path in the file system that is mounted (a cgroup path).
    root: String,
    point: PathBuf,
    fstype: String,
    options: Vec<String>,
}

fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let fields: Vec<&str> = before.split(' ').collect();
            let mut after = after.split(' ');
            let fstype = after.next()?.to_string();
            let _source = after.next()?;
            let options = after.next()?.split(',').map(str::to_string).collect();
            Some(Mount {
                root: unescape(fields.get(3)?),
                point: PathBuf::from(unescape(fields.get(4)?)),
                fstype,
                options,
            })
        })
        .filter(|m| m.fstype == "cgroup" || m.fstype == "cgroup2")
        .collect()
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|d| u8::from_str_radix(d, 8).ok())
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// /proc/self/cgroup: (controllers, path) per hierarchy; v2 has none listed.
fn parse_proc_cgroup(text: &str) -> Vec<(Vec<String>, String)> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ':');
            let _id = parts.next()?;
            let controllers = parts.next()?;
            let path = parts.next()?.to_string();
            let controllers = controllers
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect();
            Some((controllers, path))
        })
        .collect()
}

/// The directory of cgroup `path` under `mount`, when the mount shows it.
fn cgroup_dir(mount: &Mount, path: &str) -> Option<PathBuf> {
    let relative = if mount.root == "/" {
        path
    } else {
        path.strip_prefix(mount.root.as_str())
            .filter(|rest| rest.is_empty() || rest.starts_with('/'))?
    };
    Some(mount.point.join(relative.trim_start_matches('/')))
}

fn has_all(list: &str, needed: &[&str]) -> bool {
    let present: Vec<&str> = list.split_whitespace().collect();
    needed.iter().all(|n| present.contains(n))
}

fn detect_v2(mounts: &[Mount], own: &[(Vec<String>, String)], needed: &[&str]) -> Option<Cgroups> {
    let mount = mounts.iter().find(|m| m.fstype == "cgroup2")?;
    let (_, path) = own.iter().find(|(c, _)| c.is_empty())?;
    let own_dir = cgroup_dir(mount, path)?;
    let controllers = std::fs::read_to_string(own_dir.join("cgroup.controllers")).ok()?;
    if !has_all(&controllers, needed) {
        // A hybrid setup: the controllers live in the v1 hierarchies.
        return None;
    }
    let parent = if own_dir.file_name().is_some_and(|n| n == AGENT_LEAF) {
        own_dir.parent()?.to_path_buf()
    } else {
        own_dir.clone()
    };
    let enabled = std::fs::read_to_string(parent.join("cgroup.subtree_control")).ok()?;
    if !has_all(&enabled, needed) {
        if parent == own_dir && own_dir != mount.point {
            move_into_leaf(&own_dir).ok()?;
        }
        let enable: Vec<String> = needed.iter().map(|c| format!("+{c}")).collect();
        std::fs::write(parent.join("cgroup.subtree_control"), enable.join(" ")).ok()?;
    }
    probe(&parent, needed.iter().map(|c| format!("{c}.max"))).then_some(Cgroups::V2 { parent })
}

/// Moves every process of cgroup `dir` (this agent, shims a previous agent
/// left running) into its `AGENT_LEAF` child.
fn move_into_leaf(dir: &Path) -> io::Result<()> {
    let leaf = dir.join(AGENT_LEAF);
    match std::fs::create_dir(&leaf) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    let procs = std::fs::read_to_string(dir.join("cgroup.procs"))?;
    let mut target = OpenOptions::new()
        .write(true)
        .open(leaf.join("cgroup.procs"))?;
    for pid in procs.lines() {
        // A process may exit meanwhile (ESRCH): nothing to move then.
        let _ = target.write_all(pid.trim().as_bytes());
    }
    Ok(())
}

fn detect_v1(mounts: &[Mount], own: &[(Vec<String>, String)], controller: &str) -> Option<PathBuf> {
    let mount = mounts
        .iter()
        .find(|m| m.fstype == "cgroup" && m.options.iter().any(|o| o == controller))?;
    let (_, path) = own
        .iter()
        .find(|(c, _)| c.iter().any(|c| c == controller))?;
    let dir = cgroup_dir(mount, path)?;
    let file = if controller == "memory" {
        "memory.limit_in_bytes"
    } else {
        "pids.max"
    };
    probe(&dir, [file.to_string()]).then_some(dir)
}

/// Whether a child cgroup can be created under `parent` with `files`.
fn probe(parent: &Path, files: impl IntoIterator<Item = String>) -> bool {
    let dir = parent.join(format!("iomesh-probe-{}", std::process::id()));
    if std::fs::create_dir(&dir).is_err() {
        return false;
    }
    let usable = files.into_iter().all(|f| dir.join(f).exists());
    let _ = std::fs::remove_dir(&dir);
    usable
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mountinfo_and_proc_cgroup() {
        let mountinfo = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime shared:5 - cgroup cgroup rw,pids
41 31 0:38 /a\\040b /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
        let mounts = parse_mountinfo(mountinfo);
        assert_eq!(mounts.len(), 3);
        assert_eq!(mounts[1].point, PathBuf::from("/sys/fs/cgroup/pids"));
        assert_eq!(mounts[1].options, ["rw", "pids"]);
        assert_eq!(mounts[2].root, "/a b");
        let own = parse_proc_cgroup("8:pids:/\n4:memory:/process_api/abc\n0::/a b/agent\n");
        assert_eq!(
            own[1],
            (vec!["memory".to_string()], "/process_api/abc".into())
        );
        assert_eq!(own[2].0, Vec::<String>::new());
        assert_eq!(
            cgroup_dir(&mounts[0], &own[1].1),
            Some(PathBuf::from("/sys/fs/cgroup/memory/process_api/abc"))
        );
        // A cgroup namespace mount shows only its own subtree.
        assert_eq!(
            cgroup_dir(&mounts[2], &own[2].1),
            Some(PathBuf::from("/sys/fs/cgroup/unified/agent"))
        );
        assert_eq!(cgroup_dir(&mounts[2], "/elsewhere"), None);
        assert_eq!(cgroup_dir(&mounts[2], "/a bc"), None);
    }
}
