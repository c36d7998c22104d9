//! The job sandbox: bubblewrap (`bwrap`) gives a job its own user, PID, IPC
//! and UTS namespaces and a view of the host where everything is read-only
//! except its work directory and a private /tmp, the agent's state directory
//! and operator keypair are hidden, and only its leased GPUs' device files
//! exist. The network stays shared: jobs need it.

use std::{
    ffi::OsString,
    fmt,
    os::unix::{ffi::OsStrExt, fs::PermissionsExt, process::CommandExt},
    path::{Path, PathBuf},
    process::Stdio,
    str::FromStr,
};

/// The uid and gid a job has inside the sandbox: not root.
pub const SANDBOX_ID: u32 = 1000;

/// Device files CUDA needs besides the GPUs' own, bound when they exist.
const GPU_CONTROL_DEVICES: [&str; 5] = [
    "nvidiactl",
    "nvidia-uvm",
    "nvidia-uvm-tools",
    "nvidia-modeset",
    "nvidia-caps",
];

/// PATH for the probe, which runs `true`.
const PROBE_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// How jobs without a container image are isolated.
#[derive(Clone, Debug)]
pub enum Sandbox {
    /// No isolation: jobs run as the agent's user and see what it sees.
    None,
    Bwrap(Bwrap),
}

#[derive(Clone, Debug)]
pub struct Bwrap {
    /// The bwrap program (a name is looked up on the agent's PATH).
    pub program: PathBuf,
    /// Where the GPUs' device files are (`/dev`).
    pub device_root: PathBuf,
    /// Host files a job must not read (the operator keypair): shown to it
    /// as an empty file nobody may open.
    pub hidden_files: Vec<PathBuf>,
    /// The host user jobs run as, when the agent runs as root (see
    /// `JobUser::for_this_agent`); `None`: the agent's own user.
    pub job_user: Option<JobUser>,
}

/// A host uid:gid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JobUser {
    pub uid: u32,
    pub gid: u32,
}

impl JobUser {
    /// `nobody:nogroup`.
    pub const NOBODY: JobUser = JobUser {
        uid: 65534,
        gid: 65534,
    };

    /// The user jobs run as under an agent with this effective uid: an
    /// agent running as root hands jobs `configured` (a job whose host uid
    /// is root could read every root-only file the read-only view shows and
    /// connect to root-only sockets such as Docker's); any other agent
    /// cannot switch users, so its jobs keep its own.
    pub fn for_this_agent(configured: JobUser) -> Option<JobUser> {
        // SAFETY: geteuid(2) has no preconditions.
        (unsafe { libc::geteuid() } == 0).then_some(configured)
    }
}

impl fmt::Display for JobUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.uid, self.gid)
    }
}

impl FromStr for JobUser {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (uid, gid) = s
            .split_once(':')
            .ok_or_else(|| format!("`{s}`: expected UID:GID, e.g. 65534:65534"))?;
        let id = |v: &str| {
            v.parse::<u32>()
                .map_err(|_| format!("`{s}`: expected numeric UID:GID, e.g. 65534:65534"))
        };
        let user = JobUser {
            uid: id(uid)?,
            gid: id(gid)?,
        };
        if user.uid == 0 || user.gid == 0 {
            return Err(format!("`{s}`: jobs must not run as root"));
        }
        Ok(user)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(
        "the job sandbox needs bubblewrap, and `{0}` is not installed: install the `bubblewrap` \
         package (e.g. `apt-get install bubblewrap`) or point --bwrap at it; or pass \
         --sandbox none to run jobs unprotected (they can then read the operator keypair)"
    )]
    Missing(String),
    #[error(
        "bubblewrap (`{program}`) cannot build the job sandbox on this machine: {detail}. \
         It needs unprivileged user namespaces (sysctl user.max_user_namespaces > 0; on \
         Debian/Ubuntu kernel.unprivileged_userns_clone=1, and on Ubuntu 24.04+ \
         kernel.apparmor_restrict_unprivileged_userns=0 or an AppArmor profile for bwrap), \
         and a state directory the job user {job_user} can search; or pass --sandbox none to \
         run jobs unprotected (they can then read the operator keypair)"
    )]
    Broken {
        program: String,
        job_user: String,
        detail: String,
    },
    #[error("preparing the job sandbox in {dir}: {source}")]
    Io {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A checked sandbox, ready to wrap jobs.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// Absolute path of bwrap: a renter's PATH must not choose it.
    pub program: PathBuf,
    pub job_user: Option<JobUser>,
    device_root: PathBuf,
    state_dir: PathBuf,
    /// The empty, unreadable file bound over hidden files.
    blank: PathBuf,
    hidden: Vec<PathBuf>,
    /// bwrap ≥ 0.8 can forbid the job new user namespaces.
    disable_userns: bool,
    /// Size of /tmp and /dev/shm (bwrap ≥ 0.7), when memory is limited.
    tmpfs_bytes: Option<u64>,
}

impl Bwrap {
    /// Finds bwrap, prepares the state directory for sandboxed jobs and
    /// runs `bwrap … true` once, as a job would be run.
    pub fn prepare(&self, state_dir: &Path, memory_bytes: u64) -> Result<Prepared, SandboxError> {
        let shown = self.program.display().to_string();
        let program = find_program(&self.program).ok_or(SandboxError::Missing(shown.clone()))?;
        let help = std::process::Command::new(&program)
            .arg("--help")
            .stdin(Stdio::null())
            .output()
            .map_err(|_| SandboxError::Missing(shown.clone()))?;
        let help = String::from_utf8_lossy(&help.stdout);
        let io_error = |dir: &Path| {
            let dir = dir.to_path_buf();
            move |source| SandboxError::Io { dir, source }
        };
        let state_dir = state_dir.canonicalize().map_err(io_error(state_dir))?;
        if self.job_user.is_some() {
            // The job's user must reach its work directory through the state
            // directory (search only: it cannot list it).
            let mode = std::fs::metadata(&state_dir)
                .map_err(io_error(&state_dir))?
                .permissions()
                .mode();
            std::fs::set_permissions(&state_dir, PermissionsExt::from_mode(mode | 0o011))
                .map_err(io_error(&state_dir))?;
        }
        let blank = state_dir.join("hidden-file");
        // Left by an earlier start it is unopenable, even by its owner.
        if !blank.exists() {
            std::fs::write(&blank, b"").map_err(io_error(&blank))?;
        }
        std::fs::set_permissions(&blank, PermissionsExt::from_mode(0o000))
            .map_err(io_error(&blank))?;
        let hidden = self
            .hidden_files
            .iter()
            .filter_map(|f| f.canonicalize().ok())
            .filter(|f| reachable_by(f, self.job_user))
            .collect();
        let prepared = Prepared {
            program,
            job_user: self.job_user,
            device_root: self.device_root.clone(),
            state_dir,
            blank,
            hidden,
            disable_userns: help.contains("--disable-userns"),
            tmpfs_bytes: (memory_bytes > 0 && help.contains("--size")).then_some(memory_bytes),
        };
        prepared.probe(&shown)?;
        Ok(prepared)
    }
}

impl Prepared {
    /// bwrap's options for a job working in `work` on `gpus`; the command
    /// follows after `--`.
    pub fn args(&self, work: &Path, gpus: &[u32]) -> Vec<OsString> {
        let mut args = Args::default();
        args.add(&[
            "--unshare-user",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
        ]);
        if self.disable_userns {
            args.add(&["--disable-userns"]);
        }
        let id = SANDBOX_ID.to_string();
        args.add(&["--uid", &id, "--gid", &id]);
        // bwrap always sets no_new_privs: nothing in the sandbox gains
        // privileges through setuid programs or file capabilities.
        args.add(&["--die-with-parent", "--new-session", "--cap-drop", "ALL"]);
        args.add(&["--ro-bind", "/", "/", "--dev", "/dev"]);
        let size = self.tmpfs_bytes.map(|b| b.to_string());
        let tmpfs = |args: &mut Args, dest: &str| {
            if let Some(size) = &size {
                args.add(&["--size", size]);
            }
            args.add(&["--tmpfs", dest]);
        };
        tmpfs(&mut args, "/dev/shm");
        args.add(&["--proc", "/proc"]);
        tmpfs(&mut args, "/tmp");
        // The state directory (other leases, the agent's files) becomes an
        // empty read-only tmpfs holding only this job's work directory.
        args.add(&["--tmpfs"]).path(&self.state_dir);
        for file in &self.hidden {
            args.add(&["--ro-bind"]).path(&self.blank).path(file);
        }
        args.add(&["--bind"]).path(work).path(work);
        args.add(&["--remount-ro"]).path(&self.state_dir);
        for gpu in gpus {
            let name = format!("nvidia{gpu}");
            args.add(&["--dev-bind-try"])
                .path(&self.device_root.join(&name))
                .path(&Path::new("/dev").join(&name));
        }
        for name in GPU_CONTROL_DEVICES {
            let host = self.device_root.join(name);
            if host.exists() {
                args.add(&["--dev-bind"])
                    .path(&host)
                    .path(&Path::new("/dev").join(name));
            }
        }
        args.add(&["--chdir"]).path(work);
        args.0
    }

    /// Prepares a job's work directory for its user.
    pub fn prepare_work(&self, lease_root: &Path, work: &Path) -> std::io::Result<()> {
        if let Some(user) = self.job_user {
            std::os::unix::fs::chown(work, Some(user.uid), Some(user.gid))?;
            std::fs::set_permissions(work, PermissionsExt::from_mode(0o700))?;
            // Search only: other host users cannot list the lease's files.
            std::fs::set_permissions(lease_root, PermissionsExt::from_mode(0o711))?;
            if let Some(jobs) = lease_root.parent() {
                std::fs::set_permissions(jobs, PermissionsExt::from_mode(0o711))?;
            }
        }
        Ok(())
    }

    fn probe(&self, shown: &str) -> Result<(), SandboxError> {
        let dir = self.state_dir.join("sandbox-probe");
        let work = dir.join("work");
        let io_error = |source| SandboxError::Io {
            dir: dir.clone(),
            source,
        };
        std::fs::create_dir_all(&work).map_err(io_error)?;
        self.prepare_work(&dir, &work).map_err(io_error)?;
        let mut command = std::process::Command::new(&self.program);
        command
            .args(self.args(&work, &[]))
            .args(["--", "true"])
            .env_clear()
            .env("PATH", PROBE_PATH)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(user) = self.job_user {
            // SAFETY: drop_privileges only makes async-signal-safe calls.
            unsafe { command.pre_exec(move || drop_privileges(user)) };
        }
        let output = command.output();
        let _ = std::fs::remove_dir_all(&dir);
        let output = output.map_err(|e| SandboxError::Broken {
            program: shown.to_string(),
            job_user: self.job_user_text(),
            detail: e.to_string(),
        })?;
        if !output.status.success() {
            return Err(SandboxError::Broken {
                program: shown.to_string(),
                job_user: self.job_user_text(),
                detail: format!(
                    "`bwrap … true` failed ({}): {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
            });
        }
        Ok(())
    }

    fn job_user_text(&self) -> String {
        match self.job_user {
            Some(user) => user.to_string(),
            None => "(the agent's user)".into(),
        }
    }
}

/// An argument list under construction.
#[derive(Default)]
struct Args(Vec<OsString>);

impl Args {
    fn add(&mut self, items: &[&str]) -> &mut Self {
        self.0.extend(items.iter().map(OsString::from));
        self
    }

    fn path(&mut self, path: &Path) -> &mut Self {
        self.0.push(path.as_os_str().to_os_string());
        self
    }
}

/// Switches the calling process to `user` with no supplementary groups.
/// Async-signal-safe: for `pre_exec`.
pub fn drop_privileges(user: JobUser) -> std::io::Result<()> {
    // SAFETY: plain credential syscalls; setgroups with a null list of 0.
    unsafe {
        if libc::setgroups(0, std::ptr::null()) != 0
            || libc::setgid(user.gid) != 0
            || libc::setuid(user.uid) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// `program` itself when it names a path, else its first match on PATH;
/// absolute either way.
pub fn find_program(program: &Path) -> Option<PathBuf> {
    let found = if program.as_os_str().as_bytes().contains(&b'/') {
        program.is_file().then(|| program.to_path_buf())
    } else {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    }?;
    found.canonicalize().ok()
}

/// Whether `user` (or the agent's own user) can reach `path`, so that bwrap,
/// which runs as that user, can bind over it: what it cannot reach, neither
/// can the job.
fn reachable_by(path: &Path, user: Option<JobUser>) -> bool {
    let Some(user) = user else {
        return path.exists();
    };
    std::process::Command::new("/bin/sh")
        .args(["-c", r#"test -e "$1""#, "sh"])
        .arg(path)
        .uid(user.uid)
        .gid(user.gid)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared(hidden: Vec<PathBuf>) -> Prepared {
        Prepared {
            program: "/usr/bin/bwrap".into(),
            job_user: None,
            device_root: "/nonexistent-devices".into(),
            state_dir: "/var/lib/iomesh-agent".into(),
            blank: "/var/lib/iomesh-agent/hidden-file".into(),
            hidden,
            disable_userns: true,
            tmpfs_bytes: Some(1 << 30),
        }
    }

    fn position(args: &[OsString], window: &[&str]) -> usize {
        args.windows(window.len())
            .position(|w| w.iter().zip(window).all(|(a, b)| a == b))
            .unwrap_or_else(|| panic!("{window:?} not in {args:?}"))
    }

    #[test]
    fn hides_the_state_dir_before_binding_the_work_dir_under_it() {
        let args = prepared(vec!["/etc/iomesh/operator.json".into()])
            .args(Path::new("/var/lib/iomesh-agent/jobs/L/work"), &[1, 3]);
        let tmpfs = position(&args, &["--tmpfs", "/var/lib/iomesh-agent"]);
        let hide = position(
            &args,
            &[
                "--ro-bind",
                "/var/lib/iomesh-agent/hidden-file",
                "/etc/iomesh/operator.json",
            ],
        );
        let work = position(
            &args,
            &[
                "--bind",
                "/var/lib/iomesh-agent/jobs/L/work",
                "/var/lib/iomesh-agent/jobs/L/work",
            ],
        );
        let read_only = position(&args, &["--remount-ro", "/var/lib/iomesh-agent"]);
        assert!(position(&args, &["--ro-bind", "/", "/"]) < tmpfs);
        assert!(tmpfs < hide && hide < work && work < read_only);
        position(&args, &["--uid", "1000", "--gid", "1000"]);
        position(&args, &["--cap-drop", "ALL"]);
        position(&args, &["--size", "1073741824", "--tmpfs", "/tmp"]);
        position(
            &args,
            &[
                "--dev-bind-try",
                "/nonexistent-devices/nvidia3",
                "/dev/nvidia3",
            ],
        );
        assert!(!args.iter().any(|a| a == "/dev/nvidia0"));
        position(&args, &["--chdir", "/var/lib/iomesh-agent/jobs/L/work"]);
    }

    #[test]
    fn job_users_are_numeric_and_never_root() {
        assert_eq!("65534:65534".parse::<JobUser>(), Ok(JobUser::NOBODY));
        assert!("nobody".parse::<JobUser>().is_err());
        assert!("0:0".parse::<JobUser>().unwrap_err().contains("root"));
        assert_eq!(JobUser::NOBODY.to_string(), "65534:65534");
    }

    #[test]
    fn finds_programs_as_absolute_paths() {
        let sh = find_program(Path::new("sh")).unwrap();
        assert!(sh.is_absolute());
        assert_eq!(find_program(Path::new("/no/such/bwrap")), None);
        assert_eq!(find_program(Path::new("no-such-program-iomesh")), None);
    }
}
