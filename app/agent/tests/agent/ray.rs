//! `ray` jobs with real Ray (the pinned `ray[default]` that `scripts/ray-env`
//! installs; `IOMESH_TEST_RAY` names its `ray`), in the real sandbox: two
//! agents' jobs form one Ray cluster on loopback, the renter's entrypoint
//! runs on both members and its output is in the lease's log, the
//! dashboard answers on the lease's own port, and stopping the members
//! leaves no Ray process of the lease anywhere.

use crate::common::{
    bwrap, next_message, no_processes_left, processes_of, ray_spec, runner_config, test_ray,
    wait_update, StateDir,
};
use iomesh_agent::{
    jobs::{Jobs, StopCause},
    logs::LogReader,
    runner::{Placement, RunnerConfig},
};
use iomesh_agent_proto::{
    v1::{agent_message, ClusterPeer, ClusterPlacement, JobState},
    JobSpec,
};
use std::{path::Path, time::Duration};

fn ray_runner() -> RunnerConfig {
    RunnerConfig {
        ray: Ok(test_ray()),
        ..runner_config(bwrap(Path::new("/dev"), Vec::new()))
    }
}

/// Rank 0's first port: the members get consecutive blocks from here
/// (below the kernel's ephemeral range).
const HEAD_PORT_BASE: u16 = 24_000;

fn member(rank: u32, port_base: u16, peers: &[ClusterPeer]) -> Placement {
    Placement {
        address: "127.0.0.1".into(),
        port_base,
        port_count: iomesh_agent_proto::PORT_BLOCK,
        cluster: Some(ClusterPlacement {
            rank,
            peers: peers.to_vec(),
            master_addr: "127.0.0.1".into(),
            master_port: u32::from(HEAD_PORT_BASE),
        }),
    }
}

/// The lease's log lines so far (none before the job wrote any).
fn lines_of(dir: &Path) -> Vec<String> {
    LogReader::open(dir)
        .ok()
        .and_then(|reader| reader.read(None, None).ok())
        .map(|records| records.into_iter().map(|r| r.line).collect())
        .unwrap_or_default()
}

/// Waits up to `secs` for a log line of the lease containing `needle`.
async fn wait_line(dir: &Path, needle: &str, secs: u64) -> String {
    for _ in 0..secs * 5 {
        if let Some(line) = lines_of(dir).into_iter().find(|l| l.contains(needle)) {
            return line;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "no log line with {needle:?} within {secs} s; the log:\n{}",
        lines_of(dir).join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_form_one_ray_cluster_run_the_entrypoint_on_both_and_leave_nothing() {
    // Unique per run: the leftover check reads every process's environment.
    let (head, worker) = (
        format!("LeaseRayHead{}", std::process::id()),
        format!("LeaseRayWorker{}", std::process::id()),
    );
    let (head_lease, worker_lease) = (head.as_str(), worker.as_str());
    let peers = [
        ClusterPeer {
            rank: 0,
            lease: head_lease.into(),
            address: "127.0.0.1".into(),
            gpus: 1,
        },
        ClusterPeer {
            rank: 1,
            lease: worker_lease.into(),
            address: "127.0.0.1".into(),
            gpus: 1,
        },
    ];
    // Two agents' state: as on two machines, each job in its own sandbox.
    let (head_state, worker_state) = (StateDir::new(), StateDir::new());
    let (head_tx, mut head_events) = tokio::sync::mpsc::channel(64);
    let (worker_tx, mut worker_events) = tokio::sync::mpsc::channel(64);
    let (head_jobs, _) = Jobs::open(head_state.path(), 0..1, ray_runner(), head_tx)
        .await
        .unwrap();
    let (worker_jobs, _) = Jobs::open(worker_state.path(), 0..1, ray_runner(), worker_tx)
        .await
        .unwrap();

    // The worker may start first: it waits for the head.
    worker_jobs
        .start_held(
            worker_lease,
            &JobSpec::parse(&ray_spec()).unwrap(),
            1,
            &member(1, 24_100, &peers),
        )
        .unwrap();
    head_jobs
        .start_held(
            head_lease,
            &JobSpec::parse(&ray_spec()).unwrap(),
            1,
            &member(0, HEAD_PORT_BASE, &peers),
        )
        .unwrap();
    let head_dir = head_jobs.lease_dir(head_lease).root().to_path_buf();
    let worker_dir = worker_jobs.lease_dir(worker_lease).root().to_path_buf();

    wait_line(&head_dir, "2 of 2 Ray node(s) alive", 180).await;
    wait_line(&head_dir, "alive nodes: 2", 180).await;
    let head_line = wait_line(&head_dir, &format!("task ran on lease {head_lease}"), 60).await;
    let worker_line = wait_line(&head_dir, &format!("task ran on lease {worker_lease}"), 60).await;
    assert!(head_line.ends_with(head_lease) && worker_line.ends_with(worker_lease));
    wait_line(&head_dir, "SUCCEEDED", 60).await;
    wait_line(
        &worker_dir,
        "joining the Ray head at 127.0.0.1:24000 as rank 1",
        5,
    )
    .await;

    // The dashboard and job API answer on the lease's own port (the renter's 8265).
    let jobs: serde_json::Value = reqwest::get("http://127.0.0.1:24001/api/jobs/")
        .await
        .expect("the head's dashboard answers on port base + 1")
        .json()
        .await
        .unwrap();
    assert_eq!(jobs[0]["submission_id"], head_lease);
    assert!(
        !processes_of(head_lease).is_empty() && !processes_of(worker_lease).is_empty(),
        "Ray runs while the leases do"
    );

    // The lease ends: both members stop and no Ray process of either is left.
    for (jobs, lease) in [(&head_jobs, head_lease), (&worker_jobs, worker_lease)] {
        assert!(jobs.stop(
            lease,
            StopCause {
                state: JobState::Stopped,
                detail: "the lease ended".into(),
            },
        ));
    }
    wait_update(&mut head_events, head_lease, JobState::Stopped).await;
    wait_update(&mut worker_events, worker_lease, JobState::Stopped).await;
    no_processes_left(head_lease).await;
    no_processes_left(worker_lease).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ray_leases_on_one_node_share_no_ports_temp_dirs_or_nodes() {
    // Each lease sees only its own Ray node and its own Ray temp directory.
    let entrypoint = r#"python -c "
import os, ray
ray.init()
print('nodes:', len(ray.nodes()))
print('sessions:', len([d for d in os.listdir('/tmp/ray') if d.startswith('session_2')]))
""#;
    let spec = JobSpec::parse(
        serde_json::json!({
            "version": 2,
            "runtime": "ray",
            "ray": {"entrypoint": entrypoint, "version": test_ray().version},
        })
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let state = StateDir::new();
    let (tx, mut events) = tokio::sync::mpsc::channel(64);
    let (jobs, _) = Jobs::open(state.path(), 0..2, ray_runner(), tx)
        .await
        .unwrap();
    let alone = |port_base| Placement {
        address: "127.0.0.1".into(),
        port_base,
        port_count: iomesh_agent_proto::PORT_BLOCK,
        cluster: None,
    };
    let (one, two) = (
        format!("LeaseRayOne{}", std::process::id()),
        format!("LeaseRayTwo{}", std::process::id()),
    );
    let leases = [(one.as_str(), 24_200u16), (two.as_str(), 24_300u16)];
    for (lease, base) in leases {
        jobs.start_held(lease, &spec, 1, &alone(base)).unwrap();
    }
    for (lease, base) in leases {
        let dir = jobs.lease_dir(lease).root().to_path_buf();
        wait_line(&dir, "1 of 1 Ray node(s) alive", 180).await;
        wait_line(&dir, "nodes: 1", 120).await;
        wait_line(&dir, "sessions: 1", 30).await;
        wait_line(&dir, "SUCCEEDED", 60).await;
        let started = wait_line(&dir, "starting the Ray head", 5).await;
        assert!(started.contains(&format!("127.0.0.1:{base} ")), "{started}");
        // Each dashboard holds its own lease's job only.
        let listed: serde_json::Value =
            reqwest::get(format!("http://127.0.0.1:{}/api/jobs/", base + 1))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
        assert_eq!(listed[0]["submission_id"], lease);
    }
    for (lease, _) in leases {
        jobs.stop(
            lease,
            StopCause {
                state: JobState::Stopped,
                detail: "the lease ended".into(),
            },
        );
    }
    // Both stop in either order.
    let mut stopped = Vec::new();
    while stopped.len() < leases.len() {
        if let agent_message::Msg::JobUpdate(update) = next_message(&mut events).await {
            if update.state == JobState::Stopped as i32 && !stopped.contains(&update.lease) {
                stopped.push(update.lease);
            }
        }
    }
    for (lease, _) in leases {
        no_processes_left(lease).await;
    }
}
