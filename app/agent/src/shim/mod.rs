//! The job shim: the process that supervises one job. The agent starts it as
//! `<agent binary> job-shim …` leading the job's own process group, so it
//! outlives an agent restart. It starts the job (usually `bwrap … -- cmd`)
//! with its output piped, writes each line to the lease's log, survives the
//! stop signal the agent sends the group (passing it into the sandbox) so it
//! can read the job's last words, and records the exit code in the lease
//! directory.
//!
//! Programs that embed the agent expose the same subcommand: parse
//! `ShimArgs` under a (hidden) `job-shim` subcommand and call `shim::main`
//! before starting any thread or runtime.

pub mod env;
mod lines;

use crate::{
    logs::{LogLimits, LogStream, LogWriter, MAX_LINE_BYTES},
    runner::{cgroup, proc, sandbox, state::LeaseDir},
};
use lines::LineReader;
use std::{
    ffi::OsString,
    io::Read,
    os::{
        fd::AsRawFd,
        unix::process::{CommandExt, ExitStatusExt},
    },
    path::PathBuf,
    process::{Command, ExitCode, ExitStatus, Stdio},
    sync::{
        mpsc::{self, RecvTimeoutError, SyncSender, TryRecvError},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

/// The subcommand the agent runs its shim as.
pub const SUBCOMMAND: &str = "job-shim";

/// Environment variable naming the shim program, for programs that embed
/// the agent but are not `iomesh-agent` themselves.
pub const SHIM_ENV: &str = "IOMESH_AGENT_SHIM";

/// Lines waiting to be written; a job that outpaces the disk blocks on its
/// pipe instead of growing the shim.
const QUEUE: usize = 64;

/// How long output is still read after the job exited: processes it left
/// running (outside a sandbox) may hold its pipes open for ever.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

/// Exit code recorded when the job could not be started (as a shell says
/// for a command it cannot run).
const CANNOT_START: i32 = 127;

/// Exit code when the shim cannot even open the job's log.
const NO_LOG: i32 = 125;

#[derive(Debug, clap::Args)]
pub struct ShimArgs {
    /// The lease directory: the log goes to logs/, the exit code to exit_code.
    #[arg(long)]
    pub lease_dir: PathBuf,
    /// Bound on the lease's log files together, in bytes.
    #[arg(long)]
    pub log_max_bytes: u64,
    /// How many files share the bound.
    #[arg(long)]
    pub log_files: u32,
    /// A cgroup directory the job joins (its limits); removed when it ends.
    #[arg(long = "cgroup")]
    pub cgroups: Vec<PathBuf>,
    /// RLIMIT_NPROC for the job (when no cgroup limits its processes).
    #[arg(long)]
    pub max_procs: Option<u64>,
    /// The command is a bubblewrap sandbox: start it in its own process
    /// group (a group signal would kill bwrap and, with it, the job at once)
    /// and pass stop signals to the processes inside it.
    #[arg(long)]
    pub sandboxed: bool,
    /// Host uid:gid to start the command as (the agent runs as root).
    #[arg(long)]
    pub run_as: Option<sandbox::JobUser>,
    /// The job's command.
    #[arg(last = true, required = true)]
    pub command: Vec<OsString>,
}

enum Event {
    Line(LogStream, String),
    ReadError(LogStream, std::io::Error),
    Closed,
    Signal(i32),
    Exited(std::io::Result<ExitStatus>),
}

/// Runs the job described by `args` to its end; the process exit code is
/// the job's.
pub fn main(args: ShimArgs) -> ExitCode {
    // Stop signals are taken by a thread of ours (sigwait), from here on
    // and in every thread started later: the job decides when the shim ends.
    let stop_signals = block_stop_signals();
    let lease = LeaseDir::at(&args.lease_dir);
    let limits = LogLimits {
        max_bytes: args.log_max_bytes,
        files: args.log_files.max(1),
    };
    let code = match LogWriter::open(&lease.logs(), limits) {
        Ok(mut log) => {
            let code = run(&args, &mut log, stop_signals);
            if let Err(err) = cgroup::remove(&args.cgroups) {
                note(&mut log, &format!("cannot remove the job's cgroup: {err}"));
            }
            let _ = log.flush();
            code
        }
        Err(_) => NO_LOG,
    };
    // Last: whoever sees the exit code finds the log complete.
    let _ = lease.write_exit_code(code);
    ExitCode::from(u8::try_from(code).unwrap_or(u8::MAX))
}

/// Starts the job, logs its output until it ended, and returns its exit code.
fn run(args: &ShimArgs, log: &mut LogWriter, stop_signals: libc::sigset_t) -> i32 {
    let mut child = match start(args) {
        Ok(child) => child,
        Err(err) => {
            note(log, &format!("cannot start the job: {err}"));
            return CANNOT_START;
        }
    };
    note(log, "job started");
    let (tx, rx) = mpsc::sync_channel(QUEUE);
    if let Some(out) = child.stdout.take() {
        read_lines(out, LogStream::Out, tx.clone());
    }
    if let Some(err) = child.stderr.take() {
        read_lines(err, LogStream::Err, tx.clone());
    }
    let reaped = Arc::new(Mutex::new(false));
    let pid = child.id();
    {
        let (tx, reaped) = (tx.clone(), reaped.clone());
        std::thread::spawn(move || {
            // Waits without reaping first: until reaped, the pid cannot be
            // reused, so the signal thread cannot signal a stranger.
            wait_exited(pid);
            let mut reaped = reaped.lock().unwrap_or_else(|e| e.into_inner());
            let status = child.wait();
            *reaped = true;
            drop(reaped);
            let _ = tx.send(Event::Exited(status));
        });
    }
    {
        let (tx, sandboxed) = (tx.clone(), args.sandboxed);
        std::thread::spawn(move || loop {
            let signal = wait_signal(&stop_signals);
            let _ = tx.send(Event::Signal(signal));
            if sandboxed {
                forward_into_sandbox(pid, signal, &reaped);
            }
        });
    }
    drop(tx);
    pump(rx, log, args.sandboxed)
}

/// The job's process: its output piped to us, in its cgroups, with its
/// limits, user and environment.
fn start(args: &ShimArgs) -> std::io::Result<std::process::Child> {
    let procs = cgroup::open_procs(&args.cgroups)?;
    let fds = cgroup::raw_fds(&procs);
    let max_procs = args.max_procs;
    let own_group = args.sandboxed;
    let run_as = args.run_as;
    let job_env = env::carried(std::env::vars_os());
    let mut command = Command::new(&args.command[0]);
    // Read by bwrap (which closes it); ours is closed once it is started.
    let mut env_file = None;
    match &job_env {
        Some(job_env) if args.sandboxed => {
            // bwrap runs with an empty environment and sets the job's inside.
            let file = env::inheritable_memfd(&env::setenv_args(job_env))?;
            command
                .env_clear()
                .arg("--args")
                .arg(file.as_raw_fd().to_string());
            env_file = Some(file);
        }
        Some(job_env) => {
            command.env_clear().envs(job_env.iter().cloned());
        }
        // A container's docker client keeps the agent's environment.
        None => {}
    }
    command
        .args(&args.command[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: only async-signal-safe calls (sigprocmask, write, setrlimit,
    // setpgid, set*id) between fork and exec.
    unsafe {
        command.pre_exec(move || {
            unblock_stop_signals()?;
            // Joined as root, before the job's user is taken on.
            cgroup::join(&fds)?;
            if let Some(n) = max_procs {
                let limit = libc::rlimit {
                    rlim_cur: n,
                    rlim_max: n,
                };
                if libc::setrlimit(libc::RLIMIT_NPROC, &limit) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            if own_group && libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(user) = run_as {
                sandbox::drop_privileges(user)?;
            }
            Ok(())
        });
    }
    let child = command.spawn();
    drop((procs, env_file));
    child
}

fn read_lines(pipe: impl Read + Send + 'static, stream: LogStream, tx: SyncSender<Event>) {
    std::thread::spawn(move || {
        let mut lines = LineReader::new(pipe, MAX_LINE_BYTES);
        loop {
            match lines.next_line() {
                Ok(Some(line)) => {
                    if tx.send(Event::Line(stream, line)).is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(err) => {
                    let _ = tx.send(Event::ReadError(stream, err));
                    break;
                }
            }
        }
        let _ = tx.send(Event::Closed);
    });
}

/// Writes what the job prints until it exited and its output is closed (or
/// `DRAIN_AFTER_EXIT` passed); returns its exit code.
fn pump(rx: mpsc::Receiver<Event>, log: &mut LogWriter, sandboxed: bool) -> i32 {
    let mut open_pipes = 2;
    let mut exited: Option<(i32, String)> = None;
    let mut deadline: Option<Instant> = None;
    loop {
        if exited.is_some() && open_pipes == 0 {
            break;
        }
        let event = match rx.try_recv() {
            Ok(event) => event,
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => {
                // Idle: what was gathered becomes visible to readers now.
                flush(log);
                let next = match deadline {
                    None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                    Some(at) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
                };
                match next {
                    Ok(event) => event,
                    Err(RecvTimeoutError::Timeout) => {
                        note(
                            log,
                            "the job exited but processes it left running still hold its output; \
                             not waiting for them",
                        );
                        break;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
        };
        match event {
            // A log that cannot be written (a full disk) loses lines, but
            // the pipes are still read so the job does not block on them.
            Event::Line(stream, line) => note_as(log, stream, &line),
            Event::ReadError(stream, err) => {
                let name = if stream == LogStream::Out {
                    "stdout"
                } else {
                    "stderr"
                };
                note(log, &format!("reading the job's {name} failed: {err}"))
            }
            Event::Closed => open_pipes -= 1,
            Event::Signal(signal) => note(
                log,
                &format!("received {}: stopping the job", signal_name(signal)),
            ),
            Event::Exited(status) => {
                exited = Some(match status {
                    Ok(status) => describe(status, sandboxed),
                    Err(err) => (CANNOT_START, format!("waiting for the job failed: {err}")),
                });
                deadline = Some(Instant::now() + DRAIN_AFTER_EXIT);
            }
        }
    }
    let (code, how) = exited.unwrap_or((CANNOT_START, "the job's end was not seen".into()));
    note(log, &how);
    flush(log);
    code
}

/// The exit code to record for `status` and how to say it. bwrap reports a
/// job killed by signal N as exit code 128 + N, like a shell; it cannot be
/// told apart from a job that exits with that code.
fn describe(status: ExitStatus, sandboxed: bool) -> (i32, String) {
    if let Some(signal) = status.signal() {
        return (
            128 + signal,
            format!("killed by signal {signal} ({})", signal_name(signal)),
        );
    }
    let code = status.code().unwrap_or(CANNOT_START);
    if sandboxed && (129..=128 + 64).contains(&code) {
        let signal = code - 128;
        return (
            code,
            format!(
                "exited with code {code}: killed by signal {signal} ({}), or exited with that code",
                signal_name(signal)
            ),
        );
    }
    (code, format!("exited with code {code}"))
}

fn signal_name(signal: i32) -> String {
    let name = match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGXCPU => "SIGXCPU",
        _ => return format!("signal {signal}"),
    };
    name.to_string()
}

/// A record from the shim itself. Logging is best effort: a log that cannot
/// be written must not stop the job.
fn note(log: &mut LogWriter, text: &str) {
    note_as(log, LogStream::Sys, text);
}

fn note_as(log: &mut LogWriter, stream: LogStream, text: &str) {
    let _ = log.append(stream, text);
}

fn flush(log: &mut LogWriter) {
    let _ = log.flush();
}

fn stop_signal_set() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data initialised by sigemptyset.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        set
    }
}

fn block_stop_signals() -> libc::sigset_t {
    let set = stop_signal_set();
    // SAFETY: changes this thread's signal mask; threads started later
    // inherit it.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    set
}

/// The job must not inherit the shim's blocked stop signals (exec keeps
/// the mask). Async-signal-safe.
fn unblock_stop_signals() -> std::io::Result<()> {
    let set = stop_signal_set();
    // SAFETY: sigprocmask on the calling (forked) thread.
    match unsafe { libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

fn wait_signal(set: &libc::sigset_t) -> i32 {
    let mut signal = 0;
    // SAFETY: sigwait on signals this thread has blocked.
    while unsafe { libc::sigwait(set, &mut signal) } != 0 {}
    signal
}

/// Blocks until child `pid` has exited, leaving it unreaped.
fn wait_exited(pid: u32) {
    loop {
        // SAFETY: waitid writes only into `info`.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::waitid(libc::P_PID, pid, &mut info, libc::WEXITED | libc::WNOWAIT) };
        if r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}

/// Passes `signal` to every process in the sandbox led by `bwrap_pid`:
/// `--new-session` took them out of the group the agent signals. Right
/// after the start the sandbox may not hold the job yet: tried again until
/// it does or bwrap is gone.
fn forward_into_sandbox(bwrap_pid: u32, signal: i32, reaped: &Mutex<bool>) {
    loop {
        {
            let reaped = reaped.lock().unwrap_or_else(|e| e.into_inner());
            if *reaped {
                return;
            }
            // bwrap's pid 1 in the sandbox and at least the job.
            let inside = proc::descendants(bwrap_pid);
            if inside.len() >= 2 {
                proc::signal_each(&inside, signal);
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The shim program the agent starts jobs under: `$IOMESH_AGENT_SHIM`, else
/// this program when it is `iomesh-agent`, else an `iomesh-agent` next to it
/// or in its parent directory (where cargo puts binaries for test binaries
/// in `deps/`).
pub fn locate() -> Result<PathBuf, ShimNotFound> {
    if let Some(path) = std::env::var_os(SHIM_ENV) {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(ShimNotFound(format!(
                "${SHIM_ENV} = {} is not a file",
                path.display()
            )))
        };
    }
    let exe = current_exe().map_err(|e| ShimNotFound(format!("this program's path: {e}")))?;
    let name = format!("iomesh-agent{}", std::env::consts::EXE_SUFFIX);
    if exe.file_name() == Some(std::ffi::OsStr::new(&name)) {
        return Ok(exe);
    }
    let dir = exe.parent();
    let candidates = [
        dir.map(|d| d.join(&name)),
        dir.and_then(|d| d.parent()).map(|d| d.join(&name)),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|c| c.is_file())
        .ok_or_else(|| {
            ShimNotFound(format!(
                "no {name} next to {} or in its parent directory; set ${SHIM_ENV}",
                exe.display()
            ))
        })
}

/// This program's path. When its file was replaced (an upgrade) Linux
/// reports "<path> (deleted)": the new file at that path serves as well.
fn current_exe() -> std::io::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let text = exe.to_string_lossy();
    Ok(match text.strip_suffix(" (deleted)") {
        Some(path) => PathBuf::from(path),
        None => exe,
    })
}

#[derive(Debug, thiserror::Error)]
#[error("cannot find the job shim program (`iomesh-agent job-shim`): {0}")]
pub struct ShimNotFound(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_how_a_job_ended() {
        let exited = |code: i32| ExitStatus::from_raw(code << 8);
        assert_eq!(describe(exited(3), true), (3, "exited with code 3".into()));
        let (code, text) = describe(ExitStatus::from_raw(libc::SIGTERM), false);
        assert_eq!(
            (code, text.as_str()),
            (143, "killed by signal 15 (SIGTERM)")
        );
        // Through bwrap a signal arrives as 128 + N.
        let (code, text) = describe(exited(137), true);
        assert_eq!(code, 137);
        assert!(text.contains("signal 9 (SIGKILL)"), "{text}");
        assert_eq!(describe(exited(137), false).1, "exited with code 137");
    }
}
