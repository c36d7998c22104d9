//! How long a renter waits for its Ray cluster: from the last member's job
//! start (its activation) to the cluster ready (every member alive, the
//! entrypoint submitted) and the entrypoint running, for a two-member
//! cluster of two agents' sandboxed jobs on this machine; against a bare
//! `ray start --head` and one `ray start --address` worker here, timed to
//! both nodes alive, in the same run. Run by `scripts/bench-ray`; without
//! `--bench` (as `cargo test --all-targets` runs it) it only says so.

use iomesh_agent::{
    jobs::{Jobs, StopCause},
    logs::LogReader,
    ray::{self, RayInstall},
    runner::{
        sandbox::{Bwrap, JobUser, Sandbox},
        Placement, RunnerConfig,
    },
    shim,
};
use iomesh_agent_proto::{
    v1::{agent_message, AgentMessage, ClusterPeer, ClusterPlacement, JobState},
    JobSpec, PORT_BLOCK,
};
use std::{
    os::unix::process::CommandExt,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use tokio::sync::mpsc;

const RUNS: u16 = 5;
/// Ports below the kernel's ephemeral range, apart from the tests' (24000-26999).
const FIRST_PORT: u16 = 28_000;

fn ray_install() -> RayInstall {
    let program = std::env::var("IOMESH_TEST_RAY")
        .expect("IOMESH_TEST_RAY names the `ray` to measure (scripts/bench-ray sets it)");
    ray::detect(Path::new(&program)).expect("Ray runs")
}

fn runner(ray: &RayInstall) -> RunnerConfig {
    let sandbox = Sandbox::Bwrap(Bwrap {
        program: "bwrap".into(),
        device_root: "/dev".into(),
        hidden_files: Vec::new(),
        job_user: JobUser::for_this_agent(JobUser::NOBODY),
    });
    RunnerConfig {
        stop_grace: Duration::from_secs(5),
        ray: Ok(ray.clone()),
        ..RunnerConfig::new(shim::locate().expect("the iomesh-agent binary"), sandbox)
    }
}

fn lines(dir: &Path) -> Vec<String> {
    LogReader::open(dir)
        .ok()
        .and_then(|r| r.read(None, None).ok())
        .map(|records| records.into_iter().map(|r| r.line).collect())
        .unwrap_or_default()
}

/// Polls the lease's log until a line contains `needle` (2 minutes at most).
async fn until_line(dir: &Path, needle: &str) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if lines(dir).iter().any(|l| l.contains(needle)) {
            return Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "no {needle:?} in {}:\n{}",
        dir.display(),
        lines(dir).join("\n")
    );
}

async fn until_stopped(events: &mut mpsc::Receiver<AgentMessage>) {
    while let Some(message) = events.recv().await {
        if let Some(agent_message::Msg::JobUpdate(update)) = message.msg {
            if update.state == JobState::Stopped as i32 {
                return;
            }
        }
    }
}

/// One iomesh run: (cluster ready, entrypoint running) after the last start.
async fn iomesh_run(ray: &RayInstall, run: u16) -> (Duration, Duration) {
    let spec = JobSpec::parse(
        serde_json::json!({
            "version": 2, "runtime": "ray",
            "ray": {"entrypoint": "python -c \"print('entrypoint running', flush=True)\"", "version": ray.version},
        })
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let base = FIRST_PORT + run * 2 * PORT_BLOCK;
    let peers: Vec<ClusterPeer> = ["BenchHead", "BenchWorker"]
        .iter()
        .enumerate()
        .map(|(rank, lease)| ClusterPeer {
            rank: rank as u32,
            lease: format!("{lease}{run}"),
            address: "127.0.0.1".into(),
            gpus: 1,
        })
        .collect();
    let placed = |rank: u32| Placement {
        address: "127.0.0.1".into(),
        port_base: base + rank as u16 * PORT_BLOCK,
        port_count: PORT_BLOCK,
        cluster: Some(ClusterPlacement {
            rank,
            peers: peers.clone(),
            master_addr: "127.0.0.1".into(),
            master_port: u32::from(base),
        }),
    };
    let (head_state, worker_state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (head_tx, mut head_events) = mpsc::channel(64);
    let (worker_tx, mut worker_events) = mpsc::channel(64);
    let (head, _) = Jobs::open(head_state.path(), 0..1, runner(ray), head_tx)
        .await
        .unwrap();
    let (worker, _) = Jobs::open(worker_state.path(), 0..1, runner(ray), worker_tx)
        .await
        .unwrap();
    worker
        .start_held(&peers[1].lease, &spec, 1, &placed(1))
        .unwrap();
    let started = Instant::now();
    head.start_held(&peers[0].lease, &spec, 1, &placed(0))
        .unwrap();
    let dir = head.lease_dir(&peers[0].lease).root().to_path_buf();
    let ready = until_line(&dir, "cluster ready").await - started;
    let running = until_line(&dir, "entrypoint running").await - started;
    for (jobs, lease) in [(&head, &peers[0].lease), (&worker, &peers[1].lease)] {
        jobs.stop(
            lease,
            StopCause {
                state: JobState::Stopped,
                detail: "benchmark run over".into(),
            },
        );
    }
    until_stopped(&mut head_events).await;
    until_stopped(&mut worker_events).await;
    (ready, running)
}

fn ray_start(ray: &RayInstall, base: u16, head: Option<u16>, temp: &Path) -> Child {
    let mut command = Command::new(&ray.program);
    command
        .args([
            "start",
            "--block",
            "--disable-usage-stats",
            "--node-ip-address=127.0.0.1",
            "--num-gpus=1",
        ])
        .arg(format!("--temp-dir={}", temp.display()))
        .arg(format!("--dashboard-agent-grpc-port={}", base + 2))
        .arg(format!("--dashboard-agent-listen-port={}", base + 3))
        .arg(format!("--metrics-export-port={}", base + 4))
        .arg(format!("--runtime-env-agent-port={}", base + 5))
        .arg(format!("--node-manager-port={}", base + 6))
        .arg(format!("--object-manager-port={}", base + 7))
        .arg(format!("--min-worker-port={}", base + 20))
        .arg(format!("--max-worker-port={}", base + PORT_BLOCK - 1))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    // SAFETY: prctl in the child before exec; a benchmark that dies takes
    // its bare Ray with it (`ray start --block` stops its processes on SIGTERM).
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    match head {
        None => command.args([
            "--head".to_string(),
            format!("--port={base}"),
            "--include-dashboard=true".into(),
            "--dashboard-host=127.0.0.1".into(),
            format!("--dashboard-port={}", base + 1),
            format!("--ray-client-server-port={}", base + 8),
        ]),
        Some(gcs) => command.arg(format!("--address=127.0.0.1:{gcs}")),
    };
    command.spawn().expect("ray start")
}

/// Ray's own count of alive nodes, from its state API on the dashboard.
async fn alive_nodes(dashboard: u16) -> usize {
    let Ok(response) = reqwest::get(format!(
        "http://127.0.0.1:{dashboard}/api/v0/nodes?limit=100"
    ))
    .await
    else {
        return 0;
    };
    let Ok(body) = response.json::<serde_json::Value>().await else {
        return 0;
    };
    body["data"]["result"]["result"]
        .as_array()
        .map(|nodes| nodes.iter().filter(|n| n["state"] == "ALIVE").count())
        .unwrap_or(0)
}

/// One baseline run: both nodes alive after launching a bare head and worker.
async fn baseline_run(ray: &RayInstall, run: u16) -> Duration {
    let base = FIRST_PORT + (RUNS + run) * 2 * PORT_BLOCK;
    let temp = tempfile::Builder::new()
        .prefix("iomesh-ray-")
        .tempdir_in("/tmp")
        .unwrap();
    let started = Instant::now();
    let mut head = ray_start(ray, base, None, &temp.path().join("h"));
    while tokio::net::TcpStream::connect(("127.0.0.1", base))
        .await
        .is_err()
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut worker = ray_start(ray, base + PORT_BLOCK, Some(base), &temp.path().join("w"));
    while alive_nodes(base + 1).await < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the bare cluster never came up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = started.elapsed();
    for child in [&mut worker, &mut head] {
        // SAFETY: signalling the process group this benchmark started.
        unsafe { libc::kill(-(child.id() as i32), libc::SIGTERM) };
        let _ = child.wait();
    }
    elapsed
}

fn p50_max(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let secs = |d: Duration| d.as_secs_f64();
    (
        secs(samples[samples.len() / 2]),
        secs(*samples.last().unwrap()),
    )
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("ray_cluster: a benchmark; run it with scripts/bench-ray");
        return;
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let ray = ray_install();
        println!("iomesh Ray cluster benchmark: Ray {}, 2 members on this machine, {RUNS} runs each", ray.version);
        let mut baseline = Vec::new();
        let (mut ready, mut running) = (Vec::new(), Vec::new());
        for run in 0..RUNS {
            baseline.push(baseline_run(&ray, run).await);
            let (r, e) = iomesh_run(&ray, run).await;
            ready.push(r);
            running.push(e);
        }
        let (base_p50, base_max) = p50_max(baseline);
        println!("\n{:<62} {:>8} {:>8}", "path", "p50 s", "max s");
        println!("{:<62} {base_p50:>8.2} {base_max:>8.2}", "bare ray start --head + 1 worker, both alive (baseline)");
        for (label, samples) in [("iomesh: last member started -> cluster ready, entrypoint submitted", ready), ("iomesh: last member started -> entrypoint running", running)] {
            let (p50, max) = p50_max(samples);
            println!("{label:<62} {p50:>8.2} {max:>8.2}   +{:.2} s p50 over the baseline (target within 2 s)", p50 - base_p50);
        }
    });
}
