//! Per-lease logs written by the real shim for real sandboxed jobs: a log
//! far over its bound is rotated within it without a cut line while the
//! shim stays small, followers see every line in order and resume where
//! they left off, and finished leases' files go after the retention period.

use crate::common::{bwrap, runner_config, wait_log, wait_update, StateDir};
use iomesh_agent::{
    jobs::Jobs,
    logs::{LogError, LogLimits, LogReader, LogRecord, LogStream},
    runner::{proc, RunnerConfig},
};
use iomesh_agent_proto::{
    v1::{AgentMessage, JobState},
    JobSpec,
};
use std::{path::Path, time::Duration};
use tokio::sync::mpsc;
use tokio_stream::{Stream, StreamExt};

/// What each numbered line carries after its number: 88 bytes, 100 with
/// `line NNNNNN ` and the newline.
const PAD: &str =
    "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567";

fn spec(script: &str) -> JobSpec {
    let json = serde_json::json!({ "command": ["sh", "-c", script] });
    JobSpec::parse(json.to_string().as_bytes()).unwrap()
}

async fn open(state: &Path, runner: RunnerConfig) -> (Jobs, mpsc::Receiver<AgentMessage>) {
    let (tx, rx) = mpsc::channel(64);
    let (jobs, _) = Jobs::open(state, 0..2, runner, tx).await.unwrap();
    (jobs, rx)
}

/// Everything a follower yields until it ends (within 60 s).
async fn collect(stream: impl Stream<Item = std::io::Result<LogRecord>>) -> Vec<LogRecord> {
    tokio::time::timeout(Duration::from_secs(60), async {
        let mut stream = std::pin::pin!(stream);
        let mut records = Vec::new();
        while let Some(record) = stream.next().await {
            records.push(record.expect("the log reads"));
        }
        records
    })
    .await
    .expect("the follower ends after the job")
}

/// The shim's peak resident memory in KiB (VmHWM).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/<pid>/status");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_over_its_bound_is_rotated_whole_and_the_shim_stays_small() {
    let state = StateDir::new();
    let limits = LogLimits::new(1 << 20, 4).unwrap();
    let runner = RunnerConfig {
        logs: limits,
        ..runner_config(bwrap(Path::new("/dev"), Vec::new()))
    };
    let (jobs, mut events) = open(state.path(), runner).await;
    // 200,000 numbered lines of 100 bytes: 20 MB, twenty times the bound.
    let script = format!(
        r#"awk 'BEGIN {{ for (i = 1; i <= 200000; i++) printf "line %06d %s\n", i, "{PAD}" }}'
echo done-printing; while [ ! -f go ]; do sleep 0.05; done"#
    );
    let record = jobs.start("LeaseChatty", &spec(&script), 1).unwrap();
    let lease_dir = jobs.lease_dir("LeaseChatty");
    // A follower from the start, reading while rotation deletes files.
    let follower = tokio::spawn(collect(
        LogReader::open(lease_dir.root()).unwrap().follow(0),
    ));
    wait_log(lease_dir.root(), |r| r.line == "done-printing").await;
    let peak_kib = peak_rss_kib(record.pid);
    assert!(peak_kib < 32 * 1024, "the shim peaked at {peak_kib} KiB");
    std::fs::write(lease_dir.work().join("go"), "").unwrap();
    wait_update(&mut events, "LeaseChatty", JobState::Exited).await;

    let mut on_disk = 0;
    let mut kept: Vec<LogRecord> = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(lease_dir.logs())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(files.len() <= 4, "{files:?}");
    files.sort_by_key(|p| {
        // current.jsonl last, rotated files by number.
        let stem = p.file_stem().unwrap().to_str().unwrap().to_string();
        stem.parse::<u64>().unwrap_or(u64::MAX)
    });
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        on_disk += text.len() as u64;
        assert!(text.ends_with('\n'), "{} ends mid-line", file.display());
        for line in text.lines() {
            let record: LogRecord = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{}: `{line}` is not a record: {e}", file.display()));
            kept.push(record);
        }
    }
    assert!(
        on_disk <= limits.max_bytes + 1024,
        "{on_disk} bytes on disk for a bound of {}",
        limits.max_bytes
    );
    for pair in kept.windows(2) {
        assert_eq!(
            pair[1].seq,
            pair[0].seq + 1,
            "records lost within what is kept"
        );
    }
    assert!(kept[0].seq > 0, "nothing was rotated away");
    let printed = kept
        .iter()
        .filter(|r| r.stream == LogStream::Out && r.line.starts_with("line "))
        .collect::<Vec<_>>();
    assert_eq!(printed.last().unwrap().line, format!("line 200000 {PAD}"));
    assert_eq!(kept.last().unwrap().line, "exited with code 0");
    // The reader sees what is on disk.
    assert_eq!(
        LogReader::open(lease_dir.root())
            .unwrap()
            .read(None, None)
            .unwrap(),
        kept
    );

    // The follower survived the rotations: in order, possibly with a gap
    // where it fell behind, ending with the job.
    let followed = follower.await.unwrap();
    for pair in followed.windows(2) {
        assert!(pair[1].seq > pair[0].seq, "out of order: {pair:?}");
    }
    assert_eq!(followed.last(), kept.last());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn followers_see_every_line_in_order_and_resume_after_a_reconnect() {
    let state = StateDir::new();
    let (jobs, mut events) = open(
        state.path(),
        runner_config(bwrap(Path::new("/dev"), Vec::new())),
    )
    .await;
    let script = r#"i=0; while [ $i -lt 40 ]; do echo "tick $i"; i=$((i+1)); sleep 0.05; done"#;
    jobs.start("LeaseTicks", &spec(script), 1).unwrap();
    let log = jobs.logs("LeaseTicks").unwrap();
    let whole = tokio::spawn(collect(log.follow(0)));

    // A renter reads ten records, loses the connection, and comes back
    // asking for what follows the last one seen.
    let mut first = log.follow(0);
    let mut seen = Vec::new();
    while seen.len() < 10 {
        seen.push(first.next().await.unwrap().unwrap());
    }
    drop(first);
    assert!(!log.job_ended(), "the job prints for 2 s");
    let resumed = collect(log.follow(seen.last().unwrap().seq + 1)).await;
    seen.extend(resumed);

    let whole = whole.await.unwrap();
    let lines: Vec<(LogStream, String)> =
        whole.iter().map(|r| (r.stream, r.line.clone())).collect();
    let mut expected = vec![(LogStream::Sys, "job started".to_string())];
    expected.extend((0..40).map(|i| (LogStream::Out, format!("tick {i}"))));
    expected.push((LogStream::Sys, "exited with code 0".to_string()));
    assert_eq!(lines, expected);
    assert_eq!(
        whole.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (0..42).collect::<Vec<u64>>()
    );
    assert_eq!(seen, whole, "the resumed follower lost or repeated records");
    wait_update(&mut events, "LeaseTicks", JobState::Exited).await;
    // After the end, following from a point replays the rest and ends.
    let tail = collect(log.follow(40)).await;
    assert_eq!(tail, whole[40..]);
}

#[tokio::test]
async fn finished_leases_files_are_deleted_after_the_retention_period() {
    let state = StateDir::new();
    let runner = RunnerConfig {
        log_retention: Duration::ZERO,
        ..runner_config(bwrap(Path::new("/dev"), Vec::new()))
    };
    let (jobs, mut events) = open(state.path(), runner).await;
    jobs.start("LeaseDone", &spec("echo bye"), 1).unwrap();
    let running = jobs.start("LeaseRunning", &spec("sleep 1000"), 1).unwrap();
    wait_update(&mut events, "LeaseDone", JobState::Exited).await;
    let done = jobs.lease_dir("LeaseDone");
    assert!(jobs
        .logs("LeaseDone")
        .unwrap()
        .read(None, None)
        .unwrap()
        .iter()
        .any(|r| r.line == "bye"));

    assert_eq!(jobs.sweep_expired().unwrap(), ["LeaseDone"]);
    assert!(!done.work().exists() && !done.logs().exists());
    let err = jobs.logs("LeaseDone").unwrap_err();
    assert!(matches!(err, LogError::Deleted { .. }), "{err}");
    assert!(err.to_string().contains("retention"), "{err}");
    // A running job's files stay, however old.
    assert!(jobs.lease_dir("LeaseRunning").work().exists());
    assert!(proc::is_alive(running.pid, running.start_ticks));
    assert!(matches!(
        jobs.logs("LeaseNever"),
        Err(LogError::NotFound(_))
    ));
    jobs.stop_all("test over").await;
}
