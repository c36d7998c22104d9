//! The sandbox against a hostile job, run through the agent's real runner
//! in real bubblewrap: what it must not reach (the operator keypair, another
//! lease's files, the agent, other processes, GPUs it did not lease, the
//! host's files) it cannot, what it leased it can, and its memory and
//! process limits hold.

use crate::common::{bwrap, log_lines, runner_config, wait_update, StateDir};
use iomesh_agent::{
    jobs::Jobs,
    logs::LogStream,
    runner::{JobLimits, RunnerConfig},
};
use iomesh_agent_proto::{v1::JobState, JobSpec};
use std::{os::unix::fs::PermissionsExt, path::Path, time::Duration};

fn spec(script: &str) -> JobSpec {
    let json = serde_json::json!({ "command": ["sh", "-c", script] });
    JobSpec::parse(json.to_string().as_bytes()).unwrap()
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, PermissionsExt::from_mode(mode)).unwrap();
}

/// Stand-ins for the GPU device files: regular files anyone may read, as
/// the real ones are character devices anyone may open.
fn device_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    chmod(root.path(), 0o755);
    for name in [
        "nvidia0",
        "nvidia1",
        "nvidia2",
        "nvidia3",
        "nvidiactl",
        "nvidia-uvm",
    ] {
        let file = root.path().join(name);
        std::fs::write(&file, format!("stand-in for {name}\n")).unwrap();
        chmod(&file, 0o666);
    }
    root
}

fn limited(runner: RunnerConfig, limits: JobLimits) -> RunnerConfig {
    RunnerConfig { limits, ..runner }
}

#[tokio::test]
async fn a_hostile_job_reaches_only_its_work_dir_and_its_leased_gpu() {
    let state = StateDir::new();
    let devices = device_root();
    // The operator keypair, readable by anyone in a directory anyone may
    // enter: the worst case, hidden only by the sandbox.
    let keys = tempfile::tempdir().unwrap();
    chmod(keys.path(), 0o755);
    let keypair = keys.path().join("operator.json");
    std::fs::write(&keypair, "[1,2,3,\"OPERATOR-SECRET\"]").unwrap();
    chmod(&keypair, 0o644);
    let limits = JobLimits {
        memory_bytes: 512 << 20,
        max_procs: 256,
    };
    let runner = limited(
        runner_config(bwrap(devices.path(), vec![keypair.clone()])),
        limits,
    );
    let (tx, mut events) = tokio::sync::mpsc::channel(64);
    let (jobs, _) = Jobs::open(state.path(), 0..4, runner, tx).await.unwrap();

    // Another renter's job, on GPU 0, with a file in its work directory.
    let other = jobs
        .start(
            "LeaseOther",
            &spec("echo other-secret > secret.txt; sleep 1000"),
            1,
        )
        .unwrap();
    assert_eq!(other.gpus, [0]);
    let other_work = jobs.lease_dir("LeaseOther").work();
    wait_for(&other_work.join("secret.txt")).await;

    let agent_pid = std::process::id();
    let script = format!(
        r#"
try() {{ label=$1; shift; if "$@" > /dev/null 2>&1; then echo "$label: allowed"; else echo "$label: denied"; fi; }}
try keypair cat '{keypair}'
try other-lease ls '{other_work}'
try other-secret cat '{other_work}/secret.txt'
try signal-agent kill -0 {agent_pid}
try gpu0 cat /dev/nvidia0
try gpu1 grep -q 'stand-in for nvidia1' /dev/nvidia1
try gpu2 cat /dev/nvidia2
try nvidiactl cat /dev/nvidiactl
try write-host touch /usr/iomesh-hostile
try write-work touch ./mine
try write-tmp touch /tmp/mine
echo "leases: $(ls '{jobs_dir}')"
echo "processes: $(ls /proc | grep -c '^[0-9]')"
echo "uid: $(id -u)"
cat '{keypair}'
"#,
        keypair = keypair.display(),
        other_work = other_work.display(),
        jobs_dir = jobs.jobs_dir().display(),
    );
    let hostile = jobs.start("LeaseHostile", &spec(&script), 1).unwrap();
    assert_eq!(hostile.gpus, [1]);
    // Its cgroups exist, with the node's limits, while it runs.
    assert!(!hostile.cgroups.is_empty(), "no cgroup on this machine");
    for cgroup in &hostile.cgroups {
        for (file, value) in [
            ("memory.limit_in_bytes", limits.memory_bytes.to_string()),
            ("memory.max", limits.memory_bytes.to_string()),
            ("pids.max", limits.max_procs.to_string()),
        ] {
            if let Ok(set) = std::fs::read_to_string(cgroup.join(file)) {
                assert_eq!(set.trim(), value, "{}", cgroup.join(file).display());
            }
        }
    }
    let ended = wait_update(&mut events, "LeaseHostile", JobState::Exited).await;
    assert_eq!(ended.exit_code, 1, "the last command (cat keypair) fails");

    let lines = log_lines(jobs.lease_dir("LeaseHostile").root());
    let out: Vec<&str> = lines
        .iter()
        .filter(|(s, _)| *s == LogStream::Out)
        .map(|(_, l)| l.as_str())
        .collect();
    let checks: Vec<&str> = out
        .iter()
        .copied()
        .filter(|l| !l.starts_with("processes: "))
        .collect();
    assert_eq!(
        checks,
        [
            "keypair: denied",
            "other-lease: denied",
            "other-secret: denied",
            "signal-agent: denied",
            "gpu0: denied",
            "gpu1: allowed",
            "gpu2: denied",
            "nvidiactl: allowed",
            "write-host: denied",
            "write-work: allowed",
            "write-tmp: allowed",
            "leases: LeaseHostile",
            "uid: 1000",
        ]
    );
    // Only the sandbox's own few processes: bwrap's init, the shell, ls,
    // grep and the command substitution's subshell.
    let processes: usize = out
        .iter()
        .find_map(|l| l.strip_prefix("processes: "))
        .expect("the job counted processes")
        .parse()
        .unwrap();
    assert!(processes <= 6, "the job sees {processes} processes");
    let errors: Vec<&str> = lines
        .iter()
        .filter(|(s, _)| *s == LogStream::Err)
        .map(|(_, l)| l.as_str())
        .collect();
    assert!(
        errors.iter().any(|l| l.contains("Permission denied")),
        "{errors:?}"
    );
    assert!(
        !lines.iter().any(|(_, l)| l.contains("OPERATOR-SECRET")),
        "the keypair leaked: {lines:?}"
    );
    // The job's cgroups went with it.
    for cgroup in &hostile.cgroups {
        assert!(!cgroup.exists(), "{} is left", cgroup.display());
    }
    jobs.stop_all("test over").await;
}

#[tokio::test]
async fn a_job_cannot_exceed_its_memory_and_process_limits() {
    let state = StateDir::new();
    let runner = limited(
        runner_config(bwrap(Path::new("/dev"), Vec::new())),
        JobLimits {
            memory_bytes: 64 << 20,
            max_procs: 32,
        },
    );
    let (tx, mut events) = tokio::sync::mpsc::channel(64);
    let (jobs, _) = Jobs::open(state.path(), 0..1, runner, tx).await.unwrap();
    // `tail` keeps a line that never ends in memory: 300 MB of it.
    let script = r#"head -c 300000000 /dev/zero | tail > /dev/null; echo "tail: $?"
i=0; while [ $i -lt 100 ]; do sleep 30 & i=$((i+1)); done; echo "forked them all""#;
    let record = jobs.start("LeaseGreedy", &spec(script), 1).unwrap();
    assert!(!record.cgroups.is_empty(), "no cgroup on this machine");
    wait_update(&mut events, "LeaseGreedy", JobState::Exited).await;
    let lines = log_lines(jobs.lease_dir("LeaseGreedy").root());
    assert!(
        lines.contains(&(LogStream::Out, "tail: 137".into())),
        "tail was not killed at the memory limit: {lines:?}"
    );
    assert!(
        !lines.contains(&(LogStream::Out, "forked them all".into())),
        "100 processes under a limit of 32: {lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|(s, l)| *s == LogStream::Err && l.to_lowercase().contains("fork")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn a_renters_environment_reaches_the_job_and_nothing_outside_the_sandbox() {
    let state = StateDir::new();
    let runner = runner_config(bwrap(Path::new("/dev"), Vec::new()));
    let (tx, mut events) = tokio::sync::mpsc::channel(64);
    let (jobs, _) = Jobs::open(state.path(), 0..1, runner, tx).await.unwrap();
    // A preloaded library would run in the shim (root) and in bwrap outside
    // the namespaces; a secret on bwrap's command line would show to every
    // user of the machine.
    let json = serde_json::json!({
        "command": ["sh", "-c", "echo \"token=$SECRET_TOKEN preload=$LD_PRELOAD\"; while [ ! -f go ]; do sleep 0.05; done"],
        "env": {"LD_PRELOAD": "/nonexistent/iomesh-preload.so", "SECRET_TOKEN": "hunter2"},
    });
    let spec = JobSpec::parse(json.to_string().as_bytes()).unwrap();
    let record = jobs.start("LeaseEnv", &spec, 1).unwrap();
    let lease_dir = jobs.lease_dir("LeaseEnv");
    crate::common::wait_log(lease_dir.root(), |r| r.line.starts_with("token=")).await;
    let read = |pid: u32, file: &str| std::fs::read(format!("/proc/{pid}/{file}")).unwrap();
    // The shim (owner-only /proc/<pid>/environ) holds the job's variables
    // under carrier names no loader reads.
    let shim_env = String::from_utf8_lossy(&read(record.pid, "environ")).into_owned();
    let shim_env: Vec<&str> = shim_env.split('\0').collect();
    assert!(
        !shim_env.iter().any(|v| v.starts_with("LD_PRELOAD=")),
        "{shim_env:?}"
    );
    let carrier = format!(
        "{}=/nonexistent/iomesh-preload.so",
        iomesh_agent::shim::env::carrier("LD_PRELOAD")
    );
    assert!(shim_env.contains(&carrier.as_str()), "{shim_env:?}");
    let bwrap_pid = iomesh_agent::runner::proc::descendants(record.pid)
        .into_iter()
        .find(|p| iomesh_agent::runner::proc::stat(*p).unwrap().ppid == record.pid as i32)
        .expect("bwrap runs under the shim");
    assert!(
        read(bwrap_pid, "environ").is_empty(),
        "bwrap has an environment"
    );
    let cmdline = String::from_utf8_lossy(&read(bwrap_pid, "cmdline")).into_owned();
    assert!(
        cmdline.starts_with("/") && cmdline.contains("bwrap"),
        "{cmdline}"
    );
    assert!(!cmdline.contains("hunter2"), "{cmdline}");
    std::fs::write(lease_dir.work().join("go"), "").unwrap();
    wait_update(&mut events, "LeaseEnv", JobState::Exited).await;
    assert!(log_lines(lease_dir.root()).contains(&(
        LogStream::Out,
        "token=hunter2 preload=/nonexistent/iomesh-preload.so".into()
    )));
}

/// Waits (up to 10 s) for `path` to exist.
async fn wait_for(path: &Path) {
    for _ in 0..200 {
        if path.exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} was not written", path.display());
}
