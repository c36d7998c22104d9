//! The job runner with real child processes under the real shim and
//! sandbox: devices, environment, logs, stopping a whole process tree, exit
//! codes, and reattaching after an agent restart (a second `Jobs` on a fresh
//! runtime, from the same state dir).

use crate::common::{bwrap, log_lines, runner_config, wait_log, wait_update};
use iomesh_agent::{
    jobs::{JobError, Jobs, StopCause},
    logs::LogStream,
    runner::{proc, sandbox::Sandbox, RunnerConfig},
};
use iomesh_agent_proto::{
    v1::{AgentMessage, JobState},
    JobSpec,
};
use std::{path::Path, time::Duration};
use tokio::sync::mpsc;

fn runner() -> RunnerConfig {
    runner_config(bwrap(Path::new("/dev"), Vec::new()))
}

fn spec(script: &str) -> JobSpec {
    let json = serde_json::json!({
        "command": ["sh", "-c", script],
        "env": {"RENTER_VAR": "from-the-spec"},
    });
    JobSpec::parse(json.to_string().as_bytes()).unwrap()
}

async fn open(dir: &Path, gpus: u32) -> (Jobs, Vec<String>, mpsc::Receiver<AgentMessage>) {
    open_with(dir, gpus, runner()).await
}

async fn open_with(
    dir: &Path,
    gpus: u32,
    runner: RunnerConfig,
) -> (Jobs, Vec<String>, mpsc::Receiver<AgentMessage>) {
    let (tx, rx) = mpsc::channel(64);
    let (jobs, reattached) = Jobs::open(dir, 0..gpus, runner, tx).await.unwrap();
    (jobs, reattached.into_iter().map(|r| r.lease).collect(), rx)
}

/// Waits for `path` to exist (a job writing it), within 10 s.
async fn wait_file(path: &Path) -> String {
    for _ in 0..200 {
        if let Ok(text) = std::fs::read_to_string(path) {
            if text.ends_with('\n') {
                return text;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} was not written", path.display());
}

fn stopped() -> StopCause {
    StopCause {
        state: JobState::Stopped,
        detail: "test stop".into(),
    }
}

#[tokio::test]
async fn job_sees_exactly_its_gpus_and_writes_its_logs() {
    let dir = crate::common::StateDir::new();
    let (jobs, _, mut events) = open(dir.path(), 4).await;
    // The agent's own environment must not leak into jobs.
    std::env::set_var("IOMESH_AGENT_TEST_SECRET", "agent-only");
    let script = r#"echo "devices=$CUDA_VISIBLE_DEVICES"; echo "oops" >&2; env > env.txt; pwd > pwd.txt; while [ ! -f go ]; do sleep 0.05; done"#;
    let first = jobs.start("LeaseA", &spec(script), 2).unwrap();
    let second = jobs.start("LeaseB", &spec(script), 2).unwrap();
    assert_eq!(first.gpus, vec![0, 1]);
    assert_eq!(second.gpus, vec![2, 3]);
    // Every GPU is taken now.
    assert!(matches!(
        jobs.start("LeaseC", &spec("true"), 1),
        Err(JobError::NoFreeGpus {
            wanted: 1,
            free: 0,
            total: 4
        })
    ));
    assert!(matches!(
        jobs.start("LeaseA", &spec("true"), 1),
        Err(JobError::AlreadyRunning(_))
    ));

    for (lease, devices) in [("LeaseA", "0,1"), ("LeaseB", "2,3")] {
        let lease_dir = jobs.lease_dir(lease);
        let env = wait_file(&lease_dir.work().join("env.txt")).await;
        assert!(
            env.lines()
                .any(|l| l == format!("CUDA_VISIBLE_DEVICES={devices}")),
            "{env}"
        );
        assert!(
            env.lines().any(|l| l == "RENTER_VAR=from-the-spec"),
            "{env}"
        );
        assert!(
            env.lines().any(|l| l == format!("IOMESH_LEASE={lease}")),
            "{env}"
        );
        assert!(!env.contains("IOMESH_AGENT_TEST_SECRET"), "{env}");
        let pwd = wait_file(&lease_dir.work().join("pwd.txt")).await;
        assert_eq!(
            Path::new(pwd.trim()),
            lease_dir.work().canonicalize().unwrap()
        );
        std::fs::write(lease_dir.work().join("go"), "").unwrap();
        let update = wait_update(&mut events, lease, JobState::Exited).await;
        assert_eq!(update.exit_code, 0);
        let mut lines = log_lines(lease_dir.root());
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert_eq!(lines[0], (LogStream::Sys, "job started".to_string()));
        assert_eq!(lines[3], (LogStream::Sys, "exited with code 0".to_string()));
        // stdout and stderr are separate pipes: their lines interleave as
        // they arrive.
        lines[1..3].sort_by_key(|(stream, _)| *stream == LogStream::Err);
        assert_eq!(
            lines[1..3],
            [
                (LogStream::Out, format!("devices={devices}")),
                (LogStream::Err, "oops".to_string()),
            ]
        );
        // Finished jobs are forgotten, their logs kept.
        assert!(!lease_dir.state_file().exists());
    }
    assert!(jobs.running().is_empty());
    // Their GPUs are free again.
    assert_eq!(
        jobs.start("LeaseC", &spec("exit 3"), 4).unwrap().gpus,
        vec![0, 1, 2, 3]
    );
    let exited = wait_update(&mut events, "LeaseC", JobState::Exited).await;
    assert_eq!(exited.exit_code, 3);
    assert_eq!(exited.gpu_indices, vec![0, 1, 2, 3]);
}

/// Host pids of the processes running `sleep <marker>`.
fn sleeping(marker: &str) -> Vec<u32> {
    let wanted = format!("sleep\0{marker}\0");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == wanted.as_bytes())
        })
        .collect()
}

/// Waits (up to 10 s) for `n` processes running `sleep <marker>`.
async fn wait_sleeping(marker: &str, n: usize) -> Vec<u32> {
    for _ in 0..200 {
        let found = sleeping(marker);
        if found.len() >= n {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {n} processes running sleep {marker}");
}

#[tokio::test]
async fn stop_reaches_into_the_sandbox_and_kills_what_ignores_sigterm() {
    let dir = crate::common::StateDir::new();
    let (jobs, _, mut events) = open(dir.path(), 2).await;
    // The processes are found by their `sleep` arguments, unique to this
    // run: another run's leftovers must not count.
    let run = std::process::id();
    let (ignorer, child, stubborn_sleep) = (
        format!("1001.{run}"),
        format!("1003.{run}"),
        format!("1002.{run}"),
    );
    // Ends on SIGTERM, leaving a child that ignores it: the sandbox and
    // everything in it end with the job.
    let polite = format!("(trap '' TERM; exec sleep {ignorer}) & sleep {child} & wait");
    // Ignores SIGTERM altogether: SIGKILL after the grace.
    let stubborn = format!("trap '' TERM; sleep {stubborn_sleep} & wait");
    let polite_record = jobs.start("LeasePolite", &spec(&polite), 1).unwrap();
    let stubborn_record = jobs.start("LeaseStubborn", &spec(&stubborn), 1).unwrap();
    let polite_pids = [
        wait_sleeping(&ignorer, 1).await,
        wait_sleeping(&child, 1).await,
    ];
    wait_sleeping(&stubborn_sleep, 1).await;
    // --new-session took the job out of the group the agent signals: the
    // shim passes the signal on.
    for pid in polite_pids.iter().flatten() {
        assert_ne!(proc::stat(*pid).unwrap().pgrp, polite_record.pid as i32);
    }

    assert!(jobs.stop("LeasePolite", stopped()));
    let update = wait_update(&mut events, "LeasePolite", JobState::Stopped).await;
    assert_eq!(update.exit_code, 128 + libc::SIGTERM);
    let lines = log_lines(jobs.lease_dir("LeasePolite").root());
    assert_eq!(
        lines[lines.len() - 2],
        (LogStream::Sys, "received SIGTERM: stopping the job".into())
    );
    let (stream, last) = lines.last().unwrap();
    assert_eq!(*stream, LogStream::Sys);
    assert!(last.contains("signal 15 (SIGTERM)"), "{last}");
    assert!(
        sleeping(&ignorer).is_empty(),
        "the SIGTERM-ignoring child survived"
    );
    assert!(sleeping(&child).is_empty(), "the child survived");
    assert!(proc::group_members(polite_record.pid).is_empty());

    assert!(jobs.stop("LeaseStubborn", stopped()));
    let update = wait_update(&mut events, "LeaseStubborn", JobState::Stopped).await;
    // The shim itself was killed with the group: the agent saw SIGKILL.
    assert_eq!(update.exit_code, 128 + libc::SIGKILL);
    assert!(
        sleeping(&stubborn_sleep).is_empty(),
        "the job survived SIGKILL"
    );
    assert!(proc::group_members(stubborn_record.pid).is_empty());
    assert!(
        !jobs.stop("LeaseStubborn", stopped()),
        "nothing left to stop"
    );
}

#[tokio::test]
async fn without_a_sandbox_stop_kills_the_whole_process_group_even_what_ignores_sigterm() {
    let dir = crate::common::StateDir::new();
    let (jobs, _, mut events) = open_with(dir.path(), 1, runner_config(Sandbox::None)).await;
    // A child that ignores SIGTERM (only SIGKILL after the grace ends it)
    // and one that does not, both under the job's shell.
    let script = r#"(trap '' TERM; exec sleep 1000) & echo $! > stubborn.pid; sleep 1000 & echo $! > plain.pid; wait"#;
    let record = jobs.start("LeaseStop", &spec(script), 1).unwrap();
    let work = jobs.lease_dir("LeaseStop").work();
    let stubborn: u32 = wait_file(&work.join("stubborn.pid"))
        .await
        .trim()
        .parse()
        .unwrap();
    let plain: u32 = wait_file(&work.join("plain.pid"))
        .await
        .trim()
        .parse()
        .unwrap();
    let ticks = |pid| proc::stat(pid).expect("child runs").start_ticks;
    let (stubborn_ticks, plain_ticks) = (ticks(stubborn), ticks(plain));
    assert_eq!(proc::stat(stubborn).unwrap().pgrp, record.pid as i32);

    assert!(jobs.stop("LeaseStop", stopped()));
    let update = wait_update(&mut events, "LeaseStop", JobState::Stopped).await;
    assert_eq!(update.detail, "test stop");
    assert!(
        update.exit_code >= 128,
        "killed by a signal: {}",
        update.exit_code
    );
    assert!(
        !proc::is_alive(stubborn, stubborn_ticks),
        "the SIGTERM-ignoring child survived"
    );
    assert!(!proc::is_alive(plain, plain_ticks), "the child survived");
    assert!(proc::group_members(record.pid).is_empty());
    assert!(!jobs.stop("LeaseStop", stopped()), "nothing left to stop");
}

#[test]
fn job_state_survives_an_agent_restart_and_is_reattached() {
    let dir = crate::common::StateDir::new();
    let wait_for_go =
        r#"echo started; while [ ! -f go ]; do sleep 0.05; done; echo "go seen"; exit 7"#;
    let started = |r: &iomesh_agent::logs::LogRecord| r.line == "started";

    // Agent #1 starts three jobs, then goes away without stopping them.
    let first = tokio::runtime::Runtime::new().unwrap();
    let (records, quick_pid) = first.block_on(async {
        let (jobs, _, _events) = open(dir.path(), 3).await;
        let a = jobs.start("LeaseKeep", &spec(wait_for_go), 1).unwrap();
        let b = jobs
            .start("LeaseStopLater", &spec("sleep 1000"), 1)
            .unwrap();
        let c = jobs.start("LeaseQuick", &spec(wait_for_go), 1).unwrap();
        jobs.set_activation("LeaseKeep", Some("Sig111".into()), Some(4_000_000_000));
        wait_log(jobs.lease_dir("LeaseKeep").root(), started).await;
        wait_log(jobs.lease_dir("LeaseQuick").root(), started).await;
        (vec![a, b], c.pid)
    });
    first.shutdown_background();
    // One job ends while no agent runs.
    std::fs::write(dir.path().join("jobs/LeaseQuick/work/go"), "").unwrap();
    let quick_ticks = proc::stat(quick_pid).map(|s| s.start_ticks);
    for _ in 0..200 {
        if quick_ticks.is_none_or(|t| !proc::is_alive(quick_pid, t)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    // Agent #2 reattaches from the state files.
    let second = tokio::runtime::Runtime::new().unwrap();
    second.block_on(async {
        let (jobs, mut reattached, mut events) = open(dir.path(), 3).await;
        reattached.sort();
        assert_eq!(reattached, vec!["LeaseKeep", "LeaseStopLater"]);
        // The job that ended meanwhile is reported with its exit code, its
        // log complete.
        let quick = wait_update(&mut events, "LeaseQuick", JobState::Exited).await;
        assert_eq!(quick.exit_code, 7);
        let quick_log = log_lines(jobs.lease_dir("LeaseQuick").root());
        assert_eq!(
            quick_log[quick_log.len() - 2..],
            [
                (LogStream::Out, "go seen".to_string()),
                (LogStream::Sys, "exited with code 7".to_string())
            ]
        );
        let keep = jobs.get("LeaseKeep").expect("reattached");
        assert_eq!(keep, records[0].clone().with_activation());
        assert_eq!(keep.activate_signature.as_deref(), Some("Sig111"));
        // Their GPUs stay taken: only the third is free.
        assert_eq!(
            jobs.start("LeaseNew", &spec("sleep 1000"), 1).unwrap().gpus,
            vec![2]
        );
        assert!(matches!(
            jobs.start("LeaseMore", &spec("true"), 1),
            Err(JobError::NoFreeGpus { .. })
        ));

        // An adopted job's shim still logs what it prints, and its exit
        // code reaches the new agent.
        std::fs::write(jobs.lease_dir("LeaseKeep").work().join("go"), "").unwrap();
        let kept = wait_update(&mut events, "LeaseKeep", JobState::Exited).await;
        assert_eq!(kept.exit_code, 7);
        assert_eq!(kept.activate_signature, "Sig111");
        assert_eq!(
            log_lines(jobs.lease_dir("LeaseKeep").root()),
            [
                (LogStream::Sys, "job started".to_string()),
                (LogStream::Out, "started".to_string()),
                (LogStream::Out, "go seen".to_string()),
                (LogStream::Sys, "exited with code 7".to_string())
            ]
        );

        // An adopted job is stopped with its whole group.
        let later = &records[1];
        assert!(jobs.stop("LeaseStopLater", stopped()));
        wait_update(&mut events, "LeaseStopLater", JobState::Stopped).await;
        assert!(!proc::is_alive(later.pid, later.start_ticks));
        assert!(proc::group_members(later.pid).is_empty());
        jobs.stop_all("test over").await;
    });
}

trait WithActivation {
    fn with_activation(self) -> Self;
}

impl WithActivation for iomesh_agent::runner::state::JobRecord {
    fn with_activation(mut self) -> Self {
        self.activate_signature = Some("Sig111".into());
        self.ends_at = Some(4_000_000_000);
        self
    }
}
