//! Two replicas racing over hundreds of leases while agents hop between them
//! and one replica crashes: every lease is assigned exactly once.

use crate::common::*;
use iomesh_agent_proto::v1::scheduler_message::Msg as SchedMsg;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use sqlx::{postgres::PgPoolOptions, PgPool};
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

const NODES: usize = 40;
const LEASES_PER_NODE: u64 = 10;

/// A replica on its own runtime, so that it can crash: dropping the runtime
/// ends every task and socket at once, with no cleanup.
struct Crashable {
    runtime: tokio::runtime::Runtime,
    running: iomesh_scheduler::Running,
    pool: PgPool,
    grpc_url: String,
}

impl Crashable {
    fn start(options: sqlx::postgres::PgConnectOptions, id: &'static str) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (running, pool) = std::thread::scope(|s| {
            s.spawn(|| {
                runtime.block_on(async {
                    let pool = PgPoolOptions::new()
                        .max_connections(8)
                        .connect_with(options)
                        .await
                        .unwrap();
                    (replica(&pool, id).await, pool)
                })
            })
            .join()
            .unwrap()
        });
        let grpc_url = running.grpc_url();
        Self {
            runtime,
            running,
            pool,
            grpc_url,
        }
    }

    /// Every task stops at once; nothing is cleaned up in Postgres.
    async fn crash(self) {
        self.runtime.shutdown_background();
        drop(self.running);
        // Only so that the test database can be dropped at the end.
        self.pool.close().await;
    }
}

#[sqlx::test(migrator = "iomesh_scheduler::db::MIGRATOR")]
async fn two_replicas_racing_while_agents_hop_and_one_crashes_assign_every_lease_once(
    pool: PgPool,
) {
    let chain = Chain::new(&pool).await;
    let a = Crashable::start((*pool.connect_options()).clone(), "replica-a");
    let b = replica(&pool, "replica-b").await;
    let urls = [a.grpc_url.clone(), b.grpc_url()];

    let operators: Vec<Keypair> = (0..NODES).map(|_| Keypair::new()).collect();
    let mut nodes = Vec::new();
    for operator in &operators {
        nodes.push(chain.node(&operator.pubkey(), 16).await);
    }

    // Every agent hops to the other replica after every third assignment, and
    // when its replica goes away; it reconnects listing the jobs it runs.
    let received: Arc<Mutex<Vec<Pubkey>>> = Arc::default();
    let mut agents = Vec::new();
    for (i, operator) in operators.iter().enumerate() {
        let operator = operator.insecure_clone();
        let urls = urls.clone();
        let received = received.clone();
        agents.push(tokio::spawn(async move {
            let mut running: Vec<Pubkey> = Vec::new();
            let mut at = i % 2;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
            while running.len() < LEASES_PER_NODE as usize {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "agent {i} starved: {} of {LEASES_PER_NODE}",
                    running.len()
                );
                let Ok(mut agent) =
                    TestAgent::connect(&urls[at], &operator.pubkey(), &operator, &running).await
                else {
                    at = 1 - at;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let mut this_session = 0;
                loop {
                    match tokio::time::timeout(Duration::from_millis(500), agent.recv()).await {
                        Ok(Ok(SchedMsg::Assignment(assignment))) => {
                            let lease: Pubkey = assignment.lease.parse().unwrap();
                            received.lock().unwrap().push(lease);
                            // Accepted even if the ack is lost with the stream:
                            // the reconnect's Hello lists it as running.
                            let acked = agent.ack(&assignment).await;
                            running.push(lease);
                            if !acked {
                                break;
                            }
                            this_session += 1;
                            if this_session == 3 {
                                break;
                            }
                        }
                        Ok(Ok(_)) => {}
                        Ok(Err(_)) => break,
                        Err(_) if running.len() == LEASES_PER_NODE as usize => break,
                        Err(_) => {
                            if !agent.heartbeat(&running).await {
                                break;
                            }
                        }
                    }
                }
                at = 1 - at;
            }
            // A last ack may have been lost with the stream it travelled on:
            // the agent reconnects once more and its Hello says what it runs.
            loop {
                if TestAgent::connect(&urls[at], &operator.pubkey(), &operator, &running)
                    .await
                    .is_ok()
                {
                    break;
                }
                at = 1 - at;
            }
            running
        }));
    }

    // Leases and their specs arrive while the agents hop; replica A crashes midway.
    let renter = Keypair::new();
    let mut leases = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        let first = n as u64 * LEASES_PER_NODE;
        leases.extend(
            chain
                .leases(&renter.pubkey(), node, first..first + LEASES_PER_NODE, SPEC)
                .await,
        );
    }
    let http = b.http_url();
    for (i, lease) in leases.iter().enumerate() {
        let (status, _) = submit_spec(&http, lease, SPEC, &renter).await;
        assert_eq!(status, 201);
        if i == leases.len() / 3 {
            a.crash().await;
            // `a` is consumed: crash only once.
            break_after_crash(&http, &leases[i + 1..], &renter).await;
            break;
        }
    }

    let mut ran = HashMap::new();
    for (i, agent) in agents.into_iter().enumerate() {
        for lease in agent.await.expect("agent task") {
            assert!(ran.insert(lease, i).is_none(), "lease {lease} ran twice");
        }
    }
    assert_eq!(ran.len(), leases.len());
    let received = received.lock().unwrap().clone();
    let distinct: HashSet<_> = received.iter().collect();
    assert_eq!(distinct.len(), leases.len());
    assert_eq!(
        received.len(),
        leases.len(),
        "some lease was delivered twice"
    );

    // In Postgres: one acknowledged (or running) assignment per lease, nothing else open.
    let rows: Vec<(Vec<u8>, i64, i64)> = sqlx::query_as(
        "SELECT lease, count(*) FILTER (WHERE state IN ('acked', 'running')), count(*) FILTER (WHERE ended_at IS NULL) \
         FROM assignments GROUP BY lease",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), leases.len());
    for (lease, acked, open) in rows {
        assert_eq!(
            (acked, open),
            (1, 1),
            "lease {}",
            bs58::encode(lease).into_string()
        );
    }
    // Both replicas dispatched, and the hops and the crash forced re-dispatches.
    let by_state: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT replica, state, count(*) FROM assignments GROUP BY replica, state ORDER BY 1, 2",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    eprintln!("assignments by replica and state: {by_state:?}");
    let created_by = |r: &str| {
        by_state
            .iter()
            .filter(|(id, _, _)| id == r)
            .map(|(_, _, n)| n)
            .sum::<i64>()
    };
    assert!(
        created_by("replica-a") > 0 && created_by("replica-b") > 0,
        "{by_state:?}"
    );
    // The crashed replica was reaped, and its sessions with it.
    eventually("replica A reaped", || async {
        let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM scheduler_replicas")
            .fetch_all(&pool)
            .await
            .unwrap();
        (ids == vec!["replica-b".to_string()]).then_some(())
    })
    .await;
    b.stop().await.unwrap();
}

async fn break_after_crash(http: &str, rest: &[Pubkey], renter: &Keypair) {
    for lease in rest {
        let (status, _) = submit_spec(http, lease, SPEC, renter).await;
        assert_eq!(status, 201);
    }
}
