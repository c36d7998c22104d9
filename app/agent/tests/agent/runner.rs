//! The job runner with real child processes: devices, environment, logs,
//! stopping a whole process tree, exit codes, and reattaching after an agent
//! restart (a second `Jobs` on a fresh runtime, from the same state dir).

use crate::common::wait_update;
use iomesh_agent::{
    jobs::{JobError, Jobs, StopCause},
    runner::{proc, RunnerConfig},
};
use iomesh_agent_proto::{
    v1::{AgentMessage, JobState},
    JobSpec,
};
use std::{path::Path, time::Duration};
use tokio::sync::mpsc;

fn runner() -> RunnerConfig {
    RunnerConfig {
        docker: false,
        stop_grace: Duration::from_millis(300),
    }
}

fn spec(script: &str) -> JobSpec {
    let json = serde_json::json!({
        "command": ["sh", "-c", script],
        "env": {"RENTER_VAR": "from-the-spec"},
    });
    JobSpec::parse(json.to_string().as_bytes()).unwrap()
}

async fn open(dir: &Path, gpus: u32) -> (Jobs, Vec<String>, mpsc::Receiver<AgentMessage>) {
    let (tx, rx) = mpsc::channel(64);
    let (jobs, reattached) = Jobs::open(dir, 0..gpus, runner(), tx).await.unwrap();
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
        let devices_line = format!("devices={devices}\n");
        assert_eq!(
            std::fs::read_to_string(lease_dir.stdout()).unwrap(),
            devices_line
        );
        assert_eq!(
            std::fs::read_to_string(lease_dir.stderr()).unwrap(),
            "oops\n"
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
    let failed = wait_update(&mut events, "LeaseC", JobState::Failed).await;
    assert_eq!(failed.exit_code, 3);
    assert_eq!(failed.gpu_indices, vec![0, 1, 2, 3]);
}

#[tokio::test]
async fn stop_kills_the_whole_process_tree_even_what_ignores_sigterm() {
    let dir = crate::common::StateDir::new();
    let (jobs, _, mut events) = open(dir.path(), 1).await;
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
    let wait_for_go = r#"echo started; while [ ! -f go ]; do sleep 0.05; done; exit 7"#;

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
        wait_file(&jobs.lease_dir("LeaseKeep").stdout()).await;
        wait_file(&jobs.lease_dir("LeaseQuick").stdout()).await;
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
        // The job that ended meanwhile is reported with its exit code.
        let quick = wait_update(&mut events, "LeaseQuick", JobState::Failed).await;
        assert_eq!(quick.exit_code, 7);
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

        // An adopted job's exit code comes from its shim.
        std::fs::write(jobs.lease_dir("LeaseKeep").work().join("go"), "").unwrap();
        let kept = wait_update(&mut events, "LeaseKeep", JobState::Failed).await;
        assert_eq!(kept.exit_code, 7);
        assert_eq!(kept.activate_signature, "Sig111");

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
