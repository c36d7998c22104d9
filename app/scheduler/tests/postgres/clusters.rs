//! Cluster leases that act as one and nodes that say what they can run:
//! the placement barrier, rank 0 first with the torchrun placement, port
//! blocks per lease, `ray` jobs only where the named Ray is, and the other
//! members stopped when one ends.

use crate::common::*;
use iomesh_agent_proto::{
    v1::{scheduler_message::Msg as SchedMsg, Assignment, Capabilities, StopReason},
    PORT_BLOCK,
};
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use sqlx::PgPool;
use std::time::Duration;

const RAY_SPEC: &[u8] =
    br#"{"version":2,"runtime":"ray","ray":{"entrypoint":"python main.py","version":"2.60.0"}}"#;

fn offering(address: &str, first_port: u32, ray: Option<&str>) -> Capabilities {
    Capabilities {
        ray_version: ray.unwrap_or_default().into(),
        ray_missing: if ray.is_none() {
            "Ray is not installed on this node (no `ray` on PATH; pass --ray)".into()
        } else {
            String::new()
        },
        advertised_address: address.into(),
        job_ports_first: first_port,
        job_ports_last: first_port + 999,
    }
}

async fn open_assignments(pool: &PgPool, leases: &[Pubkey]) -> i64 {
    let keys: Vec<Vec<u8>> = leases.iter().map(|l| l.to_bytes().to_vec()).collect();
    sqlx::query_scalar(
        "SELECT count(*) FROM assignments WHERE lease = ANY($1) AND ended_at IS NULL",
    )
    .bind(&keys)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn dispatch_state(http: &str, lease: &Pubkey) -> (String, String) {
    let (_, view) = get_json(&format!("{http}/v1/leases/{lease}")).await;
    (
        view["dispatch"]["state"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        view["dispatch"]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}

#[sqlx::test(migrator = "iomesh_scheduler::db::MIGRATOR")]
async fn no_member_of_a_cluster_starts_before_all_are_placed_and_rank_zero_leads(pool: PgPool) {
    let chain = Chain::new(&pool).await;
    let (op_a, op_b) = (Keypair::new(), Keypair::new());
    let node_a = chain.node(&op_a.pubkey(), 2).await;
    let node_b = chain.node(&op_b.pubkey(), 2).await;
    let renter = Keypair::new();
    let leases = chain
        .cluster(&renter.pubkey(), 7, &[node_a, node_b], 1, SPEC)
        .await;
    let replica = replica(&pool, "replica-a").await;
    let (url, http) = (replica.grpc_url(), replica.http_url());
    for lease in &leases {
        assert_eq!(submit_spec(&http, lease, SPEC, &renter).await.0, 201);
    }
    let mut agent_a = TestAgent::connect_offering(
        &url,
        &op_a.pubkey(),
        &op_a,
        &[],
        offering("10.0.0.1", 31_000, None),
    )
    .await
    .unwrap();

    // Only node A's agent is connected: its lease waits for the other member.
    eventually("node A's lease to wait for its cluster", || async {
        let (state, reason) = dispatch_state(&http, &leases[0]).await;
        (state == "awaiting_cluster").then_some(reason)
    })
    .await;
    let (state, _) = dispatch_state(&http, &leases[1]).await;
    assert_eq!(state, "awaiting_agent");
    // Several dispatcher rounds (200 ms polls) pass without an assignment.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(open_assignments(&pool, &leases).await, 0);

    let mut agent_b = TestAgent::connect_offering(
        &url,
        &op_b.pubkey(),
        &op_b,
        &[],
        offering("10.0.0.2", 32_000, None),
    )
    .await
    .unwrap();
    let got_a = agent_a.assignment().await;
    let got_b = agent_b.assignment().await;

    // Ranks follow the leases' addresses; rank 0's address and first port
    // are every member's MASTER_ADDR / MASTER_PORT.
    let mut ordered = leases.clone();
    ordered.sort_by_key(|l| l.to_bytes());
    let rank_of = |a: &Assignment| a.cluster.as_ref().unwrap().rank;
    let (head, head_address) = if ordered[0] == leases[0] {
        (&got_a, "10.0.0.1")
    } else {
        (&got_b, "10.0.0.2")
    };
    assert_eq!(rank_of(head), 0);
    for got in [&got_a, &got_b] {
        let cluster = got.cluster.as_ref().unwrap();
        assert_eq!(cluster.peers.len(), 2);
        assert_eq!(cluster.master_addr, head_address);
        assert_eq!(cluster.master_port, head.port_base);
        assert_eq!(cluster.peers[cluster.rank as usize].lease, got.lease);
        assert_eq!(got.port_count, u32::from(PORT_BLOCK));
    }
    assert_eq!(rank_of(&got_a) + rank_of(&got_b), 1);
    assert_eq!(got_a.port_base, 31_000, "node A's first block");
    assert_eq!(got_b.port_base, 32_000, "node B's first block");
    let peers = &got_a.cluster.as_ref().unwrap().peers;
    let address_of = |lease: &Pubkey| {
        peers
            .iter()
            .find(|p| p.lease == lease.to_string())
            .map(|p| p.address.clone())
    };
    assert_eq!(address_of(&leases[0]).as_deref(), Some("10.0.0.1"));
    assert_eq!(address_of(&leases[1]).as_deref(), Some("10.0.0.2"));
}

#[sqlx::test(migrator = "iomesh_scheduler::db::MIGRATOR")]
async fn ray_jobs_go_only_to_a_node_offering_the_named_ray_and_say_why_not(pool: PgPool) {
    let chain = Chain::new(&pool).await;
    let operator = Keypair::new();
    let node = chain.node(&operator.pubkey(), 2).await;
    let renter = Keypair::new();
    let lease = chain.leases(&renter.pubkey(), &node, 1..2, RAY_SPEC).await[0];
    let replica = replica(&pool, "replica-a").await;
    let (url, http) = (replica.grpc_url(), replica.http_url());
    assert_eq!(submit_spec(&http, &lease, RAY_SPEC, &renter).await.0, 201);

    // No Ray on the node: the lease says so, with the agent's reason.
    let agent = TestAgent::connect(&url, &operator.pubkey(), &operator, &[])
        .await
        .unwrap();
    let reason = eventually("the lease to name the missing Ray", || async {
        let (state, reason) = dispatch_state(&http, &lease).await;
        (state == "no_matching_ray").then_some(reason)
    })
    .await;
    assert!(
        reason.contains("needs Ray 2.60.0") && reason.contains("Ray is not installed"),
        "{reason}"
    );
    let (_, view) = get_json(&format!("{http}/v1/nodes/{node}")).await;
    let ray_jobs = view["capabilities"]["ray_jobs"].as_str().unwrap();
    assert!(
        ray_jobs.starts_with("takes no `ray` jobs: Ray is not installed"),
        "{ray_jobs}"
    );
    drop(agent);
    // Another Ray version: refused likewise.
    let agent = TestAgent::connect_offering(
        &url,
        &operator.pubkey(),
        &operator,
        &[],
        offering("127.0.0.1", 30_000, Some("2.59.0")),
    )
    .await
    .unwrap();
    eventually("the lease to name the other version", || async {
        let (_, reason) = dispatch_state(&http, &lease).await;
        reason.contains("offers Ray 2.59.0").then_some(())
    })
    .await;
    assert_eq!(open_assignments(&pool, &[lease]).await, 0);
    drop(agent);
    // The named version: sent, with a port block.
    let mut agent = TestAgent::connect_offering(
        &url,
        &operator.pubkey(),
        &operator,
        &[],
        offering("127.0.0.1", 30_000, Some("2.60.0")),
    )
    .await
    .unwrap();
    let got = agent.assignment().await;
    assert_eq!(got.lease, lease.to_string());
    assert_eq!(
        (got.port_base, got.port_count),
        (30_000, u32::from(PORT_BLOCK))
    );
    assert!(got.cluster.is_none(), "a single lease is no cluster");
    let (_, view) = get_json(&format!("{http}/v1/nodes/{node}")).await;
    assert_eq!(view["capabilities"]["ray_version"], "2.60.0");
    assert_eq!(
        view["capabilities"]["job_ports"],
        serde_json::json!([30_000, 30_999])
    );
}

#[sqlx::test(migrator = "iomesh_scheduler::db::MIGRATOR")]
async fn leases_on_one_node_hold_distinct_port_blocks_until_they_end(pool: PgPool) {
    let chain = Chain::new(&pool).await;
    let operator = Keypair::new();
    let node = chain.node(&operator.pubkey(), 4).await;
    let renter = Keypair::new();
    let leases = chain.leases(&renter.pubkey(), &node, 1..4, SPEC).await;
    let replica = replica(&pool, "replica-a").await;
    let (url, http) = (replica.grpc_url(), replica.http_url());
    for lease in &leases {
        submit_spec(&http, lease, SPEC, &renter).await;
    }
    let mut agent = TestAgent::connect(&url, &operator.pubkey(), &operator, &[])
        .await
        .unwrap();
    let mut bases = Vec::new();
    for _ in 0..3 {
        bases.push(agent.assignment().await.port_base);
    }
    bases.sort();
    assert_eq!(bases, vec![30_000, 30_100, 30_200]);
    // An ended assignment gives its block back to the next lease.
    chain.close(&leases[0]).await;
    eventually("the closed lease's assignment to end", || async {
        (open_assignments(&pool, &leases).await == 2).then_some(())
    })
    .await;
    let next = chain.leases(&renter.pubkey(), &node, 4..5, SPEC).await[0];
    submit_spec(&http, &next, SPEC, &renter).await;
    let got = loop {
        let got = agent.assignment().await;
        if got.lease == next.to_string() {
            break got;
        }
    };
    let freed: i32 = sqlx::query_scalar(
        "SELECT port_base FROM assignments WHERE lease = $1 AND ended_at IS NOT NULL",
    )
    .bind(leases[0].as_ref())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(got.port_base, freed as u32);
}

#[sqlx::test(migrator = "iomesh_scheduler::db::MIGRATOR")]
async fn a_member_that_ends_stops_every_other_member_of_its_cluster(pool: PgPool) {
    let chain = Chain::new(&pool).await;
    let (op_a, op_b) = (Keypair::new(), Keypair::new());
    let node_a = chain.node(&op_a.pubkey(), 1).await;
    let node_b = chain.node(&op_b.pubkey(), 1).await;
    let renter = Keypair::new();
    let leases = chain
        .cluster(&renter.pubkey(), 9, &[node_a, node_b], 1, SPEC)
        .await;
    let replica = replica(&pool, "replica-a").await;
    let (url, http) = (replica.grpc_url(), replica.http_url());
    for lease in &leases {
        submit_spec(&http, lease, SPEC, &renter).await;
    }
    let mut agent_a = TestAgent::connect(&url, &op_a.pubkey(), &op_a, &[])
        .await
        .unwrap();
    let mut agent_b = TestAgent::connect(&url, &op_b.pubkey(), &op_b, &[])
        .await
        .unwrap();
    let got_a = agent_a.assignment().await;
    let got_b = agent_b.assignment().await;
    assert!(agent_a.ack(&got_a).await && agent_b.ack(&got_b).await);

    // Member B is reported failed and closed on-chain: A is told to stop too.
    chain.close(&leases[1]).await;
    let stop = loop {
        match agent_a.recv().await.unwrap() {
            SchedMsg::Stop(stop) => break stop,
            _ => continue,
        }
    };
    assert_eq!(stop.lease, leases[0].to_string());
    assert_eq!(stop.reason, StopReason::ClusterMemberEnded as i32);
    let detail: String =
        sqlx::query_scalar("SELECT detail FROM job_phases WHERE lease = $1 AND phase = 'stopped'")
            .bind(leases[0].as_ref())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(
        detail.contains("another lease of its cluster ended"),
        "{detail}"
    );
    assert_eq!(open_assignments(&pool, &leases).await, 0);
}
