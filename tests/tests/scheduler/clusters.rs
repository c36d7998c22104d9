//! A cluster lease acts as one: two real agents (with the tests' pinned
//! Ray, `IOMESH_TEST_RAY`) serve two-lease clusters paid on the localnet. A
//! process job's members get the torchrun variables (their rank, the
//! other's address, rank 0's port). The Ray program sees both nodes and runs a task on each; its
//! output reaches the renter through the logs API; the head's dashboard is
//! reached through the tunnel; a cancel stops Ray on both members, and a
//! worker whose agent dies gets its lease reported failed, the head stopped
//! and Ray gone there.

use iomesh_agent_proto::{job_spec_hash, RAY_DASHBOARD_PORT};
use iomesh_client::{client::Client, instructions, tokens::TokenMint};
use iomesh_tests::{
    agent::{no_processes_left, processes_of, ray_spec, test_ray, StateDir},
    chain::{scheduler_authority, Chain, TestNode},
    indexer::Indexer,
    scheduler as common,
    stack::{get, lease_on_chain, reporting_replica, start_agent_with, token, RunningAgent},
};
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use sqlx::PgPool;

/// A real agent offering the tests' Ray, with job ports from `first_port`.
async fn ray_agent(
    chain: &Chain,
    node: &TestNode,
    scheduler: &str,
    state: &StateDir,
    first_port: u16,
) -> RunningAgent {
    start_agent_with(chain, node, scheduler, state, |config| {
        config.runner.ray = Ok(test_ray());
        config.job_ports = iomesh_agent::config::PortRange {
            first: first_port,
            last: first_port + 999,
        };
    })
    .await
}

/// A complete cluster of `renter` with one one-GPU lease per node, funded
/// on-chain, committing to `spec`; the leases in node order.
async fn cluster(
    chain: &Chain,
    renter: &Keypair,
    cluster_nonce: u64,
    nodes: &[&TestNode],
    first_nonce: u64,
    spec: &[u8],
) -> Vec<Pubkey> {
    let address = iomesh_client::pda::cluster(&renter.pubkey(), cluster_nonce);
    chain
        .send(
            &[instructions::create_cluster(
                &renter.pubkey(),
                iomesh::CreateClusterArgs {
                    nonce: cluster_nonce,
                    leases_expected: nodes.len() as u16,
                    funding_deadline: common::now() + 600,
                },
            )],
            &[renter],
        )
        .await;
    let mint = TokenMint {
        mint: chain.mint,
        token_program: chain.token_program,
    };
    let mut leases = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let nonce = first_nonce + i as u64;
        chain
            .send(
                &[instructions::create_cluster_lease(
                    &renter.pubkey(),
                    &renter.pubkey(),
                    &node.address,
                    &mint,
                    iomesh::CreateLeaseArgs {
                        nonce,
                        gpus: 1,
                        duration_secs: 3_600,
                        max_price_per_gpu_hour: u64::MAX,
                        job_spec_hash: job_spec_hash(spec),
                    },
                    Some(address),
                )],
                &[renter],
            )
            .await;
        leases.push(iomesh_client::pda::lease(&renter.pubkey(), nonce));
    }
    leases
}

/// The lines of `lease`'s log as its renter reads them through the API.
async fn renter_log(http: &str, renter: &Keypair, lease: &Pubkey) -> Vec<String> {
    let response = reqwest::Client::new()
        .get(format!("{http}/v1/leases/{lease}/logs?tail=10000"))
        .bearer_auth(token(renter, lease, 60))
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await;
    let Ok(response) = response.and_then(|r| r.error_for_status()) else {
        return Vec::new();
    };
    let Ok(text) = response.text().await else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|record| record["line"].as_str().map(str::to_string))
        .collect()
}

/// Waits for `needle` in the log of `head` (Ray's start on a loaded 2-core
/// machine takes a while: up to 3 minutes); panics with both members' logs.
async fn wait_head_log(http: &str, renter: &Keypair, head: &Pubkey, worker: &Pubkey, needle: &str) {
    for _ in 0..360 {
        if renter_log(http, renter, head)
            .await
            .iter()
            .any(|l| l.contains(needle))
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    panic!(
        "no {needle:?} in the renter's log of the head {head} within 3 minutes; its log:\n{}\nthe worker's:\n{}",
        renter_log(http, renter, head).await.join("\n"),
        renter_log(http, renter, worker).await.join("\n")
    );
}

/// Submits both specs and waits until Ray ran a task on each member;
/// returns the leases as (head, worker).
async fn run_cluster(
    http: &str,
    renter: &Keypair,
    leases: &[Pubkey],
    spec: &[u8],
) -> (Pubkey, Pubkey) {
    for lease in leases {
        common::eventually("the lease indexed and its spec accepted", || async {
            let (status, _) = common::submit_spec(http, lease, spec, renter).await;
            (status == 201).then_some(())
        })
        .await;
    }
    let mut ranked = leases.to_vec();
    ranked.sort_by_key(|l| l.to_bytes());
    let (head, worker) = (ranked[0], ranked[1]);
    wait_head_log(http, renter, &head, &worker, "alive nodes: 2").await;
    for member in [head, worker] {
        let needle = format!("task ran on lease {member}");
        wait_head_log(http, renter, &head, &worker, &needle).await;
    }
    // The output arrives while the program may still be exiting: the
    // launcher says when Ray has the job finished.
    let finished = format!("Ray job {head} SUCCEEDED");
    wait_head_log(http, renter, &head, &worker, &finished).await;
    (head, worker)
}

#[sqlx::test(migrator = "iomesh_scheduler::db::MIGRATOR")]
async fn a_cluster_lease_acts_as_one_torchrun_variables_a_ray_cluster_through_the_tunnel_and_its_endings(
    pool: PgPool,
) {
    let chain = Chain::start().await;
    let scheduler = scheduler_authority(&chain, 2).await;
    let indexer = Indexer::spawn(&pool, chain.localnet.grpc_url(), chain.localnet.rpc_url());
    let client = Client::new(chain.localnet.rpc_url(), CommitmentConfig::confirmed());
    let replica = reporting_replica(&pool, &chain, &scheduler, "replica-ray").await;
    let http = replica.http_url();
    let nodes = [chain.register_node(1).await, chain.register_node(1).await];
    let states = [StateDir::new(), StateDir::new()];
    let agents = [
        ray_agent(&chain, &nodes[0], &replica.grpc_url(), &states[0], 25_000).await,
        ray_agent(&chain, &nodes[1], &replica.grpc_url(), &states[1], 26_000).await,
    ];
    let renter = chain.renter(100).await;
    let spec = ray_spec();

    // 0. A process job on a cluster: each member gets the torchrun
    // variables, its own rank and the other's address.
    let torchrun = serde_json::to_vec(&serde_json::json!({
        "command": ["sh", "-c", "echo rank=$NODE_RANK world=$WORLD_SIZE nproc=$NPROC_PER_NODE \
            master=$MASTER_ADDR:$MASTER_PORT; echo peers=$IOMESH_PEERS; sleep 600"],
    }))
    .unwrap();
    let leases = cluster(&chain, &renter, 3, &[&nodes[0], &nodes[1]], 5, &torchrun).await;
    for lease in &leases {
        common::eventually("the lease indexed and its spec accepted", || async {
            let (status, _) = common::submit_spec(&http, lease, &torchrun, &renter).await;
            (status == 201).then_some(())
        })
        .await;
    }
    let mut ranked = leases.clone();
    ranked.sort_by_key(|l| l.to_bytes());
    let master_port: i32 = common::eventually("rank 0's port block", || async {
        sqlx::query_scalar(
            "SELECT port_base FROM assignments WHERE lease = $1 AND ended_at IS NULL",
        )
        .bind(ranked[0].as_ref())
        .fetch_optional(&pool)
        .await
        .unwrap()
        .flatten()
    })
    .await;
    for (rank, lease) in ranked.iter().enumerate() {
        let expected = format!("rank={rank} world=2 nproc=1 master=127.0.0.1:{master_port}");
        wait_head_log(&http, &renter, lease, &ranked[1 - rank], &expected).await;
        let peers = renter_log(&http, &renter, lease).await;
        let peers = peers.iter().find_map(|l| l.strip_prefix("peers=")).unwrap();
        let peers: serde_json::Value = serde_json::from_str(peers).unwrap();
        assert_eq!(peers.as_array().unwrap().len(), 2, "{peers}");
        assert_eq!(peers[1 - rank]["address"], "127.0.0.1");
        assert_eq!(peers[1 - rank]["rank"], 1 - rank);
    }
    for lease in &leases {
        let (keys, _) = client.lease_keys(lease).await.unwrap();
        chain.send(&[keys.cancel()], &[&renter]).await;
    }
    for lease in &leases {
        no_processes_left(&lease.to_string()).await;
    }

    // 1. One Ray cluster over both leases; the renter reads its output and
    // reaches the head's dashboard through the tunnel.
    let leases = cluster(&chain, &renter, 1, &[&nodes[0], &nodes[1]], 1, &spec).await;
    let (head, worker) = run_cluster(&http, &renter, &leases, &spec).await;
    let (status, jobs) = get(
        &format!("{http}/v1/leases/{head}/ports/{RAY_DASHBOARD_PORT}/api/jobs/"),
        Some(&token(&renter, &head, 60)),
    )
    .await;
    assert_eq!(status, 200, "{jobs}");
    assert_eq!(jobs[0]["submission_id"], head.to_string());
    assert_eq!(jobs[0]["status"], "SUCCEEDED", "{jobs}");
    for lease in [head, worker] {
        assert!(
            !processes_of(&lease.to_string()).is_empty(),
            "Ray of {lease} runs"
        );
    }

    // 2. The renter cancels one member: Ray stops on both, nothing is left.
    let (keys, _) = client.lease_keys(&worker).await.unwrap();
    chain.send(&[keys.cancel()], &[&renter]).await;
    no_processes_left(&worker.to_string()).await;
    no_processes_left(&head.to_string()).await;
    let (_, view) = get(
        &format!("{http}/v1/leases/{head}"),
        Some(&token(&renter, &head, 60)),
    )
    .await;
    assert!(
        view.to_string()
            .contains("another lease of its cluster ended"),
        "{view}"
    );

    // The head's lease is still active on-chain: the renter cancels it for
    // the refund of its unused time (and frees the node's GPU).
    let (keys, _) = client.lease_keys(&head).await.unwrap();
    chain.send(&[keys.cancel()], &[&renter]).await;

    // 3. A second cluster; the worker's agent dies mid-job: its lease is
    // reported failed on-chain, the head is stopped and its Ray is gone.
    let leases = cluster(&chain, &renter, 2, &[&nodes[0], &nodes[1]], 3, &spec).await;
    let (head, worker) = run_cluster(&http, &renter, &leases, &spec).await;
    let worker_index = if leases[0] == worker { 0 } else { 1 };
    agents[worker_index].session.abort();
    common::eventually("report_failure to close the worker's lease", || async {
        lease_on_chain(&client, &worker)
            .await
            .is_none()
            .then_some(())
    })
    .await;
    no_processes_left(&head.to_string()).await;

    for agent in &agents {
        agent.shutdown.cancel();
    }
    replica.stop().await.unwrap();
    indexer.stop().await;
    // The dead agent's job (its Ray worker) is killed with its state directory.
    drop(states);
}
