use crate::common::*;
use iomesh_agent_proto::v1::{
    agent_message::Msg as AgentMsg, scheduler_message::Msg as SchedMsg, JobState, JobUpdate,
    StopReason,
};
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use sqlx::PgPool;

async fn assignment_state(pool: &PgPool, lease: &Pubkey) -> Vec<(i32, String)> {
    sqlx::query_as("SELECT attempt, state FROM assignments WHERE lease = $1 ORDER BY attempt")
        .bind(lease.as_ref())
        .fetch_all(pool)
        .await
        .unwrap()
}

async fn session_gone(pool: &PgPool, node: &Pubkey) {
    eventually("the dropped session's row to go", || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM agent_sessions WHERE node = $1")
            .bind(node.as_ref())
            .fetch_one(pool)
            .await
            .unwrap();
        (n == 0).then_some(())
    })
    .await
}

#[sqlx::test(migrator = "iomesh_scheduler::db::MIGRATOR")]
async fn a_submitted_lease_reaches_its_agent_is_adopted_on_reconnect_and_stopped_when_closed(
    pool: PgPool,
) {
    let chain = Chain::new(&pool).await;
    let operator = Keypair::new();
    let node = chain.node(&operator.pubkey(), 2).await;
    let renter = Keypair::new();
    let replica = replica(&pool, "replica-a").await;
    let url = replica.grpc_url();
    let mut agent = TestAgent::connect(&url, &operator.pubkey(), &operator, &[])
        .await
        .unwrap();

    // Indexed, then its spec submitted: dispatched.
    let leases = chain.leases(&renter.pubkey(), &node, 1..3, SPEC).await;
    let (status, _) = submit_spec(&replica.http_url(), &leases[0], SPEC, &renter).await;
    assert_eq!(status, 201);
    let assignment = agent.assignment().await;
    assert_eq!(assignment.lease, leases[0].to_string());
    assert_eq!(
        (
            assignment.attempt,
            assignment.gpu_count,
            assignment.duration_secs
        ),
        (1, 1, 3_600)
    );
    assert_eq!(assignment.job_spec, SPEC);
    assert!(agent.ack(&assignment).await);
    agent
        .send(AgentMsg::JobUpdate(JobUpdate {
            lease: assignment.lease.clone(),
            state: JobState::Running as i32,
            gpu_indices: vec![0],
            activate_signature: "5sig".into(),
            ..JobUpdate::default()
        }))
        .await;
    assert!(agent.send(AgentMsg::Heartbeat(Default::default())).await);
    eventually("the assignment running", || async {
        (assignment_state(&pool, &leases[0]).await == vec![(1, "running".to_string())])
            .then_some(())
    })
    .await;
    // The other lease has no spec: not sent.
    let (_, view) = get_json(&format!("{}/v1/leases/{}", replica.http_url(), leases[1])).await;
    assert_eq!(view["dispatch"]["state"], "awaiting_job_spec");
    assert!(assignment_state(&pool, &leases[1]).await.is_empty());

    // Its spec arrives while the agent is away; the agent comes back running
    // the first job: that one is adopted (not sent again), the second is sent.
    drop(agent);
    session_gone(&pool, &node).await;
    submit_spec(&replica.http_url(), &leases[1], SPEC, &renter).await;
    let mut agent = TestAgent::connect(&url, &operator.pubkey(), &operator, &[leases[0]])
        .await
        .unwrap();
    let second = agent.assignment().await;
    assert_eq!(second.lease, leases[1].to_string());
    assert_eq!(
        assignment_state(&pool, &leases[0]).await,
        vec![(1, "running".to_string())]
    );

    // The agent reconnects without the second job (it never started): it is sent again.
    drop(agent);
    session_gone(&pool, &node).await;
    let mut agent = TestAgent::connect(&url, &operator.pubkey(), &operator, &[leases[0]])
        .await
        .unwrap();
    let again = agent.assignment().await;
    assert_eq!(
        (again.lease.as_str(), again.attempt),
        (leases[1].to_string().as_str(), 2)
    );
    // The dispatcher marks an assignment sent after handing it to the
    // session: the agent may read it before that commits.
    let sent = vec![(1, "released".to_string()), (2, "sent".to_string())];
    eventually("the second attempt marked sent", || async {
        (assignment_state(&pool, &leases[1]).await == sent).then_some(())
    })
    .await;
    assert!(agent.ack(&again).await);

    // The renter cancels the first lease on-chain: the agent is told to stop.
    chain.close(&leases[0]).await;
    let stop = match agent.recv().await.unwrap() {
        SchedMsg::Stop(stop) => stop,
        other => panic!("expected Stop, got {other:?}"),
    };
    assert_eq!(stop.lease, leases[0].to_string());
    assert_eq!(stop.reason(), StopReason::Cancelled);
    assert_eq!(
        assignment_state(&pool, &leases[0]).await,
        vec![(1, "ended".to_string())]
    );
    let (_, view) = get_json(&format!("{}/v1/nodes/{node}", replica.http_url())).await;
    assert_eq!(view["online"], true, "{view}");
    assert_eq!(view["gets_work"], true, "{view}");
    assert_eq!(view["open_assignments"], 1, "{view}");

    // A database fact, not a convention: a second open assignment is refused.
    let duplicate = sqlx::query(
        "INSERT INTO assignments (lease, node, attempt, replica, session_id, state) VALUES ($1, $2, 9, 'x', 'y', 'created')",
    )
    .bind(leases[1].as_ref())
    .bind(node.as_ref())
    .execute(&pool)
    .await
    .expect_err("a second open assignment violates the unique index");
    assert!(
        duplicate
            .to_string()
            .contains("assignments_one_open_per_lease"),
        "{duplicate}"
    );
    replica.stop().await.unwrap();
}

/// A cluster lease waits for its whole cluster: the program refuses to
/// activate it earlier, so dispatching it would only start a job that fails.
#[sqlx::test(migrator = "iomesh_scheduler::db::MIGRATOR")]
async fn a_cluster_lease_is_dispatched_only_once_its_cluster_is_funded(pool: PgPool) {
    let chain = Chain::new(&pool).await;
    let operator = Keypair::new();
    let node = chain.node(&operator.pubkey(), 2).await;
    let renter = Keypair::new();
    let replica = replica(&pool, "replica-a").await;
    let mut agent = TestAgent::connect(&replica.grpc_url(), &operator.pubkey(), &operator, &[])
        .await
        .unwrap();

    let cluster_nonce = 7;
    let cluster_address = iomesh_client::pda::cluster(&renter.pubkey(), cluster_nonce);
    let cluster = |funded: u16, completed_at: i64| iomesh::state::Cluster {
        version: 1,
        bump: 250,
        renter: renter.pubkey(),
        nonce: cluster_nonce,
        leases_expected: 2,
        leases_funded: funded,
        leases_unwound: 0,
        funding_deadline: now() + 600,
        created_at: now(),
        completed_at,
        reserved: [0; 32],
    };
    let member = iomesh_client::pda::lease(&renter.pubkey(), 1);
    let mut account = lease(
        &renter.pubkey(),
        &node,
        1,
        iomesh_agent_proto::job_spec_hash(SPEC),
    );
    account.in_cluster = true;
    account.cluster_nonce = cluster_nonce;
    account.cluster_funding_deadline = now() + 600;
    chain
        .write(vec![
            (cluster_address, encode(&cluster(1, 0))),
            (member, encode(&account)),
        ])
        .await;
    let (status, _) = submit_spec(&replica.http_url(), &member, SPEC, &renter).await;
    assert_eq!(status, 201);

    // Several dispatch rounds (the spec's NOTIFY and the 1 s poll) pass: nothing is sent.
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    assert!(assignment_state(&pool, &member).await.is_empty());

    // The second member is funded: the cluster completes and the lease goes out.
    chain
        .write(vec![(cluster_address, encode(&cluster(2, now())))])
        .await;
    let assignment = agent.assignment().await;
    assert_eq!(assignment.lease, member.to_string());
}
