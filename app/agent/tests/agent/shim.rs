//! How the job shim records a job's end, for jobs run through the real
//! runner: the exit code in `exit_code` (128 + N for signal N) and a last
//! "sys" record in the job's log that says it.

use crate::common::{bwrap, log_lines, runner_config, wait_update, StateDir};
use iomesh_agent::{
    jobs::Jobs,
    logs::LogStream,
    runner::{sandbox::Sandbox, state::LeaseDir, RunnerConfig},
};
use iomesh_agent_proto::{v1::JobState, JobSpec};
use std::path::Path;

fn spec(script: &str) -> JobSpec {
    let json = serde_json::json!({ "command": ["sh", "-c", script] });
    JobSpec::parse(json.to_string().as_bytes()).unwrap()
}

/// Runs `script` as `lease` to its end; its update's exit code, the exit
/// code file and the log's last record.
async fn run_to_end(
    runner: RunnerConfig,
    state: &Path,
    lease: &str,
    script: &str,
    ends: JobState,
) -> (i32, Option<i32>, (LogStream, String)) {
    let (tx, mut events) = tokio::sync::mpsc::channel(64);
    let (jobs, _) = Jobs::open(state, 0..1, runner, tx).await.unwrap();
    jobs.start(lease, &spec(script), 1).unwrap();
    let update = wait_update(&mut events, lease, ends).await;
    let dir = jobs.lease_dir(lease);
    let last = log_lines(dir.root()).pop().expect("a log record");
    (update.exit_code, dir.exit_code(), last)
}

#[tokio::test]
async fn the_shim_records_how_a_sandboxed_job_ended() {
    let state = StateDir::new();
    let runner = || runner_config(bwrap(Path::new("/dev"), Vec::new()));
    let sys = |text: &str| (LogStream::Sys, text.to_string());

    let ended = run_to_end(
        runner(),
        state.path(),
        "LeaseZero",
        "exit 0",
        JobState::Exited,
    )
    .await;
    assert_eq!(ended, (0, Some(0), sys("exited with code 0")));

    let ended = run_to_end(
        runner(),
        state.path(),
        "LeaseThree",
        "exit 3",
        JobState::Exited,
    )
    .await;
    assert_eq!(ended, (3, Some(3), sys("exited with code 3")));

    // The sandbox reports a signal as 128 + N, as a shell does.
    for (lease, signal, name) in [
        ("LeaseTerm", libc::SIGTERM, "signal 15 (SIGTERM)"),
        ("LeaseKill", libc::SIGKILL, "signal 9 (SIGKILL)"),
    ] {
        let script = format!("kill -{signal} $$");
        let (code, file, (stream, text)) =
            run_to_end(runner(), state.path(), lease, &script, JobState::Exited).await;
        assert_eq!((code, file), (128 + signal, Some(128 + signal)));
        assert_eq!(stream, LogStream::Sys);
        assert!(
            text.starts_with(&format!(
                "exited with code {}: killed by {name}",
                128 + signal
            )),
            "{text}"
        );
    }
}

#[tokio::test]
async fn without_a_sandbox_the_shim_names_the_signal_that_killed_the_job() {
    let state = StateDir::new();
    let ended = run_to_end(
        runner_config(Sandbox::None),
        state.path(),
        "LeaseTerm",
        "kill -TERM $$",
        JobState::Exited,
    )
    .await;
    assert_eq!(
        ended,
        (
            143,
            Some(143),
            (LogStream::Sys, "killed by signal 15 (SIGTERM)".into())
        )
    );
}

#[test]
fn the_shim_records_a_command_it_cannot_start() {
    let state = tempfile::tempdir().unwrap();
    let lease = LeaseDir::at(&state.path().join("LeaseBroken"));
    std::fs::create_dir_all(lease.work()).unwrap();
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_iomesh-agent"))
        .arg("job-shim")
        .arg("--lease-dir")
        .arg(lease.root())
        .args(["--log-max-bytes", "1048576", "--log-files", "2", "--"])
        .arg("/nonexistent/program")
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(127));
    assert_eq!(lease.exit_code(), Some(127));
    let lines = log_lines(lease.root());
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0].0, LogStream::Sys);
    assert!(
        lines[0]
            .1
            .starts_with("cannot start the job: No such file or directory"),
        "{lines:?}"
    );
}
