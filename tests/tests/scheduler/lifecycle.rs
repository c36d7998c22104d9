use iomesh_agent_proto::v1::{agent_message::Msg as AgentMsg, JobState, JobUpdate};
use iomesh_scheduler::Config;
use iomesh_tests::{
    chain::{create_lease, scheduler_authority, token_balance, Chain},
    indexer::Indexer,
    scheduler::{self as common, TestAgent, SPEC},
    stack::reporting_replica_with,
};
use solana_commitment_config::CommitmentConfig;
use solana_keypair::Keypair;
use solana_signer::Signer;
use sqlx::PgPool;
use std::time::{Duration, Instant};

/// The market's failure grace in this test.
const GRACE_SECS: u32 = 2;

#[sqlx::test(migrator = "iomesh_scheduler::db::MIGRATOR")]
async fn a_replica_refuses_a_keypair_that_is_not_the_scheduler_authority(pool: PgPool) {
    let chain = Chain::start().await;
    let scheduler = scheduler_authority(&chain, GRACE_SECS).await;
    let dir = tempfile::tempdir().unwrap();
    let config_with = |key: &Keypair, name: &str| {
        let path = dir.path().join(name);
        solana_keypair::write_keypair_file(key, &path).unwrap();
        let mut config = Config::new("unused: the pool is given");
        config.rpc_url = chain.localnet.rpc_url();
        config.keypair = Some(path);
        config
    };

    let stranger = Keypair::new();
    let refused = iomesh_scheduler::start(config_with(&stranger, "stranger.json"), pool.clone())
        .await
        .err()
        .expect("a stranger's key is refused at start");
    let message = refused.to_string();
    assert!(
        message.contains("is not the market's scheduler authority")
            && message.contains(&stranger.pubkey().to_string())
            && message.contains(&scheduler.pubkey().to_string()),
        "{message}"
    );

    let replica = iomesh_scheduler::start(config_with(&scheduler, "scheduler.json"), pool)
        .await
        .expect("the authority's key starts a replica");
    replica.stop().await.unwrap();
}

#[sqlx::test(migrator = "iomesh_scheduler::db::MIGRATOR")]
async fn lease_on_chain_is_dispatched_activated_and_reported_failed_when_its_agent_goes_silent(
    pool: PgPool,
) {
    let chain = Chain::start().await;
    // This scheduler is the market's scheduler authority; failures are reported after 2 s.
    let scheduler = scheduler_authority(&chain, GRACE_SECS).await;
    let indexer = Indexer::spawn(&pool, chain.localnet.grpc_url(), chain.localnet.rpc_url());

    let replica = reporting_replica_with(&pool, &chain, &scheduler, "replica-a", |config| {
        config.poll_ms = 1_000;
        // The test agent heartbeats at the scheduler's default rate.
        config.agent_heartbeat_ms = Config::new("defaults").agent_heartbeat_ms;
    })
    .await;

    // The node registers on-chain; once indexed, its agent is welcomed.
    let node = chain.register_node(4).await;
    let operator = node.operator.insecure_clone();
    let url = replica.grpc_url();
    let mut agent = common::eventually("the node indexed and its agent welcomed", || async {
        TestAgent::connect(&url, &operator.pubkey(), &operator, &[])
            .await
            .ok()
    })
    .await;
    assert_eq!(agent.welcome.node, node.address.to_string());

    // The renter pays for a lease and submits the spec it committed to.
    let renter = chain.renter(100).await;
    let before_lease = token_balance(&chain, &renter.pubkey()).await;
    let lease = create_lease(&chain, &node, &renter, 1, 1, SPEC).await;
    let after_lease = token_balance(&chain, &renter.pubkey()).await;
    assert!(after_lease < before_lease);
    let http = replica.http_url();
    common::eventually("the lease indexed and its spec accepted", || async {
        let (status, _) = common::submit_spec(&http, &lease, SPEC, &renter).await;
        (status == 201).then_some(())
    })
    .await;
    let submitted = Instant::now();
    let assignment = agent.assignment().await;
    println!(
        "job spec accepted → assignment received: {:?}",
        submitted.elapsed()
    );
    assert_eq!(assignment.lease, lease.to_string());
    assert_eq!(assignment.job_spec, SPEC);
    assert!(agent.ack(&assignment).await);

    // The agent starts the job and activates the lease with the operator key.
    chain.activate(&node, lease).await;
    assert!(
        agent
            .send(AgentMsg::JobUpdate(JobUpdate {
                lease: lease.to_string(),
                state: JobState::Running as i32,
                gpu_indices: vec![0],
                activate_signature: "activated".into(),
                ..JobUpdate::default()
            }))
            .await
    );
    // Heartbeats until the wall clock is two whole seconds past activation:
    // the failure is reported at the last second seen, so at least two
    // seconds are served and paid whatever the second boundaries (three
    // heartbeats inside one second would leave nothing served).
    let activated_at = {
        let data = chain.rpc.get_account_data(&lease).await.unwrap();
        let mut bytes = data.as_slice();
        <iomesh::state::Lease as anchor_lang::AccountDeserialize>::try_deserialize(&mut bytes)
            .unwrap()
            .activated_at
    };
    assert!(activated_at > 0, "the lease is active");
    let mut beats = 0;
    loop {
        assert!(agent.heartbeat(&[lease]).await);
        beats += 1;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        if beats >= 3 && now >= activated_at + 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let (_, view) = common::get_json(&format!("{http}/v1/leases/{lease}")).await;
    assert_eq!(view["dispatch"]["state"], "running", "{view}");

    // The agent dies. After the grace, the scheduler reports the failure: the
    // lease is settled up to the last heartbeat and the rest refunded.
    drop(agent);
    let silent = Instant::now();
    common::eventually("report_failure to close the lease on-chain", || async {
        chain
            .rpc
            .get_account_with_commitment(&lease, CommitmentConfig::confirmed())
            .await
            .unwrap()
            .value
            .is_none()
            .then_some(())
    })
    .await;
    assert!(silent.elapsed() >= Duration::from_secs(u64::from(GRACE_SECS) - 1));
    let refunded = token_balance(&chain, &renter.pubkey()).await;
    assert!(
        refunded > after_lease && refunded < before_lease,
        "renter paid {before_lease} → {after_lease}, now {refunded}: refunded all but the seconds served"
    );
    let error = common::eventually("the assignment recorded as failed", || async {
        let (state, error): (String, Option<String>) =
            sqlx::query_as("SELECT state, last_error FROM assignments WHERE lease = $1")
                .bind(lease.as_ref())
                .fetch_one(&pool)
                .await
                .unwrap();
        (state == "failed").then_some(error)
    })
    .await;
    assert!(
        error.as_deref().unwrap_or("").contains("report_failure"),
        "{error:?}"
    );
    // The indexer sees the closure; the API shows it.
    common::eventually("the closure indexed", || async {
        let (_, view) = common::get_json(&format!("{http}/v1/leases/{lease}")).await;
        (view["status"] == "closed").then_some(())
    })
    .await;

    replica.stop().await.unwrap();
    indexer.stop().await;
}
